"""Signed transactions and a fake state for the pool tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import rlp
from eth.constants import SECPK1_N
from eth_account import Account
from eth_hash.auto import keccak
from eth_keys.datatypes import PrivateKey

from openledger_node.config import TxPoolConfig
from openledger_node.txpool import TxPool

CHAIN_ID = 161299
GAS_LIMIT = 30_000_000
OPEN = 10**18
TO = b"\x11" * 20


@cache
def key(index: int) -> PrivateKey:
    return PrivateKey(keccak(b"txpool-test-key-%d" % index))


def address(index: int) -> bytes:
    return bytes(key(index).public_key.to_canonical_address())


@cache
def _signed(
    index: int,
    nonce: int,
    fee_cap: int,
    tip: int,
    gas: int,
    value: int,
    data: bytes,
    to: bytes,
    chain_id: int | None,
    kind: int,
) -> bytes:
    tx: dict[str, Any] = {
        "nonce": nonce,
        "to": "0x" + to.hex() if to else b"",
        "value": value,
        "gas": gas,
        "data": data,
    }
    if chain_id is not None:
        tx["chainId"] = chain_id
    if kind == 0:
        tx["gasPrice"] = fee_cap
    elif kind == 1:
        tx["gasPrice"] = fee_cap
        tx["accessList"] = []
    else:
        tx["maxFeePerGas"] = fee_cap
        tx["maxPriorityFeePerGas"] = tip
    if not to:
        del tx["to"]
    return bytes(Account.sign_transaction(tx, key(index).to_bytes()).raw_transaction)


def signed(
    index: int,
    nonce: int,
    *,
    fee_cap: int = 100,
    tip: int = 10,
    gas: int = 21_000,
    value: int = 0,
    data: bytes = b"",
    to: bytes = TO,
    chain_id: int | None = CHAIN_ID,
    kind: int = 2,
) -> bytes:
    """A transaction signed by test key `index` with eth_account (kind 0: legacy,
    1: EIP-2930, 2: EIP-1559)."""
    return _signed(index, nonce, fee_cap, tip, gas, value, data, to, chain_id, kind)


def hand_signed_1559(
    index: int,
    nonce: int = 0,
    *,
    fee_cap: int = 100,
    tip: int = 10,
    gas: int = 21_000,
    malleate: bool = False,
) -> bytes:
    """An EIP-1559 transaction signed field by field, for values wallets refuse to
    produce. `malleate` flips s to its high twin, which still recovers the sender."""
    fields: list[Any] = [CHAIN_ID, nonce, tip, fee_cap, gas, TO, 0, b"", []]
    signature = key(index).sign_msg_hash(keccak(b"\x02" + rlp.encode(fields)))
    y, r, s = signature.v, signature.r, signature.s
    if malleate:
        y, s = 1 - y, SECPK1_N - s
    return b"\x02" + bytes(rlp.encode([*fields, y, r, s]))


@dataclass
class FakeState:
    nonces: dict[bytes, int] = field(default_factory=dict)
    balances: dict[bytes, int] = field(default_factory=dict)
    default_balance: int = 1000 * OPEN

    def get_nonce(self, address: bytes) -> int:
        return self.nonces.get(address, 0)

    def get_balance(self, address: bytes) -> int:
        return self.balances.get(address, self.default_balance)


def make_pool(
    state: FakeState | None = None,
    *,
    journal_path: Path | None = None,
    base_fee: int = 0,
    min_base_fee: int = 0,
    every_block_uses_gas: bool = False,
    **config: Any,
) -> TxPool:
    return TxPool(
        TxPoolConfig(**config),
        CHAIN_ID,
        GAS_LIMIT,
        state if state is not None else FakeState(),
        base_fee,
        journal_path=journal_path,
        min_base_fee=min_base_fee,
        every_block_uses_gas=every_block_uses_gas,
    )


def tx_hash_of(raw: bytes) -> bytes:
    return keccak(raw)
