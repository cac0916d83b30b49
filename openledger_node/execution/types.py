"""Data that flows out of execution: logs, receipts, the L1 origin, block inputs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import rlp
from eth_bloom import BloomFilter  # type: ignore[attr-defined]

from openledger_node.execution.rlp_codec import encode_rlp
from openledger_node.primitives import DEPOSIT_TX_TYPE, LEGACY_TX_TYPE, Address, Hash32


@dataclass(frozen=True, slots=True)
class Log:
    address: bytes
    topics: tuple[bytes, ...]
    data: bytes

    def to_rlp(self) -> list[Any]:
        return [self.address, list(self.topics), self.data]


def logs_bloom(logs: tuple[Log, ...]) -> int:
    bloom = BloomFilter()
    for log in logs:
        bloom.add(log.address)
        for topic in log.topics:
            bloom.add(topic)
    return int(bloom)


@dataclass(frozen=True, slots=True)
class Receipt:
    """A transaction's receipt: the consensus fields, then what RPC shows besides."""

    tx_type: int
    status: int
    cumulative_gas_used: int
    logs: tuple[Log, ...]
    bloom: int
    # Not in the consensus encoding (except deposit_nonce, as op-geth since Canyon):
    gas_used: int
    effective_gas_price: int
    contract_address: bytes | None
    deposit_nonce: int | None = None

    def encode(self) -> bytes:
        """Consensus encoding, the leaf of the receipts trie."""
        fields: list[object] = [
            self.status,
            self.cumulative_gas_used,
            self.bloom.to_bytes(256, "big"),
            [log.to_rlp() for log in self.logs],
        ]
        if self.tx_type == DEPOSIT_TX_TYPE:
            fields += [self.deposit_nonce or 0, 1]
        body = encode_rlp(fields)  # type: ignore[arg-type]
        return body if self.tx_type == LEGACY_TX_TYPE else bytes([self.tx_type]) + body

    def encode_stored(self) -> bytes:
        """Encoding in the chain store: consensus fields plus the RPC metadata."""
        return encode_rlp(
            [
                self.tx_type,
                self.status,
                self.cumulative_gas_used,
                [log.to_rlp() for log in self.logs],
                self.gas_used,
                self.effective_gas_price,
                self.contract_address or b"",
                b"" if self.deposit_nonce is None else encode_rlp(self.deposit_nonce),
            ]
        )

    @classmethod
    def decode_stored(cls, data: bytes) -> Receipt:
        tx_type, status, cumulative, logs, gas_used, price, contract, deposit_nonce = rlp.decode(data)
        decoded_logs = tuple(
            Log(address, tuple(topics), log_data) for address, topics, log_data in logs
        )
        return cls(
            tx_type=_int(tx_type),
            status=_int(status),
            cumulative_gas_used=_int(cumulative),
            logs=decoded_logs,
            bloom=logs_bloom(decoded_logs),
            gas_used=_int(gas_used),
            effective_gas_price=_int(price),
            contract_address=contract or None,
            deposit_nonce=rlp.decode(deposit_nonce, sedes=rlp.sedes.big_endian_int) if deposit_nonce else None,
        )


def _int(value: bytes) -> int:
    return int.from_bytes(value, "big")


@dataclass(frozen=True, slots=True)
class L1Origin:
    """The L1 block an L2 block is derived against."""

    number: int
    timestamp: int
    base_fee: int
    hash: Hash32


@dataclass(frozen=True, slots=True)
class BlockEnv:
    """Everything a block's execution depends on besides its transactions."""

    chain_id: int
    number: int
    parent_hash: Hash32
    parent_state_root: Hash32
    timestamp: int
    coinbase: Address
    gas_limit: int
    base_fee: int
    l1_origin: L1Origin
    sequence_number: int  # index of this block among those with the same L1 origin
    prev_hashes: Iterable[Hash32] = ()  # parent first, for BLOCKHASH; may be lazy
