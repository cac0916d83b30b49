"""Signed transactions of every type a batch carries, and blocks of them, for the
codec tests and the golden vectors (`make_vectors.py`). Signing is deterministic
(RFC 6979), so the same keys and fields always give the same bytes."""

from __future__ import annotations

from functools import lru_cache

from eth_account import Account
from eth_utils import to_checksum_address

from openledger_node.codec import BlockEntry
from openledger_node.execution.genesis import dev_private_keys

CHAIN_ID = 161299  # the devnet's
TOKEN = to_checksum_address("0x" + "42" * 20)
GWEI = 10**9


def _sign(key_index: int, fields: dict[str, object]) -> bytes:
    key = dev_private_keys()[key_index]
    return bytes(Account.from_key(key).sign_transaction(fields).raw_transaction)


@lru_cache(maxsize=1)
def sample_txs() -> dict[str, bytes]:
    """One transaction of each shape, by name."""
    keys = dev_private_keys()
    authority = Account.from_key(keys[3])
    authorization = authority.sign_authorization({"chainId": CHAIN_ID, "address": TOKEN, "nonce": 7})
    any_chain = authority.sign_authorization({"chainId": 0, "address": to_checksum_address("0x" + "43" * 20), "nonce": 8})
    transfer = {"to": to_checksum_address("0x" + "a1" * 20), "value": 10**18, "gas": 21_000}
    fees = {"maxFeePerGas": 50 * GWEI, "maxPriorityFeePerGas": GWEI // 10}
    return {
        "legacy": _sign(0, {"chainId": CHAIN_ID, "nonce": 0, "gasPrice": 2 * GWEI, **transfer}),
        "legacy-unprotected": _sign(0, {"nonce": 1, "gasPrice": 2 * GWEI, **transfer}),
        "legacy-create": _sign(0, {"chainId": CHAIN_ID, "nonce": 2, "gasPrice": 2 * GWEI, "gas": 100_000,
                                   "to": b"", "value": 0, "data": "0x6080604052348015600f57600080fd5b50"}),
        "access-list": _sign(1, {"type": 1, "chainId": CHAIN_ID, "nonce": 0, "gasPrice": 3 * GWEI,
                                 "gas": 60_000, "to": TOKEN, "value": 0, "data": "0xa9059cbb" + "00" * 64,
                                 "accessList": [{"address": TOKEN, "storageKeys": ["0x" + "00" * 31 + "01",
                                                                                   "0x" + "ff" * 32]},
                                                {"address": to_checksum_address("0x" + "99" * 20), "storageKeys": []}]}),
        "dynamic-fee": _sign(1, {"type": 2, "chainId": CHAIN_ID, "nonce": 1, **fees, **transfer}),
        "dynamic-fee-create": _sign(2, {"type": 2, "chainId": CHAIN_ID, "nonce": 0, **fees, "gas": 200_000,
                                        "to": b"", "value": 5, "data": "0x600a600c600039600a6000f3"}),
        "dynamic-fee-large-nonce": _sign(2, {"type": 2, "chainId": CHAIN_ID, "nonce": 2**40, **fees,
                                             "gas": 30_000_000, "to": TOKEN, "value": 2**255, "data": "0x00"}),
        "set-code": _sign(3, {"type": 4, "chainId": CHAIN_ID, "nonce": 0, **fees, "gas": 100_000,
                              "to": authority.address, "value": 0, "data": "0x",
                              "accessList": [{"address": TOKEN, "storageKeys": []}],
                              "authorizationList": [authorization, any_chain]}),
    }


def entry(number: int, txs: tuple[bytes, ...] = (), *, timestamp: int | None = None, origin: int = 3,
          origin_hash: bytes | None = None) -> BlockEntry:
    """Block `number` with made-up but consistent links: the parent hash names
    the block number, the L1 origin hash names the origin number."""
    return BlockEntry(
        number=number,
        timestamp=1_700_000_000 + 2 * number if timestamp is None else timestamp,
        l1_origin_number=origin,
        l1_origin_hash=origin_hash or bytes([0xE0 + origin % 16]) * 32,
        parent_hash=max(number - 1, 0).to_bytes(4, "big") * 8,
        transactions=txs,
    )


def mixed_blocks() -> list[BlockEntry]:
    """Four blocks: every transaction type, an empty block, an L1 origin change."""
    txs = sample_txs()
    return [
        entry(10, (txs["legacy"], txs["legacy-unprotected"], txs["legacy-create"]), origin=3),
        entry(11, (), origin=3),
        entry(12, (txs["access-list"], txs["dynamic-fee"], txs["dynamic-fee-create"]), origin=4),
        entry(13, (txs["dynamic-fee-large-nonce"], txs["set-code"]), origin=4),
    ]
