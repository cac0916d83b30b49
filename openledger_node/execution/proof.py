"""Merkle proofs of accounts and storage slots (EIP-1186, eth_getProof).

An account proof is the list of RLP-encoded trie nodes on the path from a state
root to keccak(address); a storage proof, from the account's storage root to
keccak(slot as 32 bytes). For a key that is absent, the same list proves its
absence (the path ends at an empty branch slot or at a diverging node), as geth
returns it. Embedded nodes (shorter than 32 bytes) are not separate elements:
they are inside their parent's encoding.

The L1 portal verifies withdrawals with the storage proof of the
L2ToL1MessagePasser's `sentMessages` slot against an output root.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import rlp
from eth.constants import BLANK_ROOT_HASH
from eth.rlp.accounts import Account
from eth_hash.auto import keccak
from rlp.sedes import big_endian_int
from trie.exceptions import MissingTrieNode
from trie.hexary import HexaryTrie

from openledger_node.exceptions import StorageError

UINT256_LIMIT = 2**256


@dataclass(frozen=True)
class StorageProof:
    key: int
    value: int
    proof: list[bytes]


@dataclass(frozen=True)
class AccountProof:
    address: bytes
    balance: int
    nonce: int
    code_hash: bytes
    storage_hash: bytes
    account_proof: list[bytes]
    storage_proofs: list[StorageProof]


def get_proof(db: Any, state_root: bytes, address: bytes, slots: Sequence[int]) -> AccountProof:
    """The account at `address` and the `slots` of its storage, with their proofs,
    in the state `state_root` of `db` (py-evm's trie node database).

    Raises ValueError for a malformed address or slot, and StorageError when a
    trie node on the way is missing (the state is not, or no longer, stored)."""
    if len(address) != 20:
        raise ValueError(f"address must be 20 bytes, got {len(address)}")
    for slot in slots:
        if not 0 <= slot < UINT256_LIMIT:
            raise ValueError(f"storage slot {slot} is not a uint256")

    encoded, account_proof = _prove(db, state_root, keccak(address))
    # An absent account reads as the empty one: no balance, no nonce, code hash
    # keccak(""), the empty storage root.
    account = rlp.decode(encoded, sedes=Account) if encoded else Account()
    storage_root = bytes(account.storage_root)
    storage_proofs = []
    for slot in slots:
        raw, proof = _prove(db, storage_root, keccak(slot.to_bytes(32, "big")))
        value = int(rlp.decode(raw, sedes=big_endian_int)) if raw else 0
        storage_proofs.append(StorageProof(slot, value, proof))
    return AccountProof(
        address=bytes(address),
        balance=int(account.balance),
        nonce=int(account.nonce),
        code_hash=bytes(account.code_hash),
        storage_hash=storage_root,
        account_proof=account_proof,
        storage_proofs=storage_proofs,
    )


def _prove(db: Any, root: bytes, key: bytes) -> tuple[bytes, list[bytes]]:
    """The value at `key` (b"" when absent) and the encoded nodes proving it."""
    if root == BLANK_ROOT_HASH:
        return b"", []
    trie = HexaryTrie(db, root)
    try:
        value = bytes(trie.get(key))
        nodes = trie.get_proof(key)  # type: ignore[no-untyped-call]
    except MissingTrieNode as exc:
        raise StorageError(
            f"trie node 0x{bytes(exc.missing_node_hash).hex()} under root 0x{root.hex()} is missing"
        ) from exc
    proof = []
    for index, node in enumerate(nodes):
        encoded = bytes(rlp.encode(node))
        # A child shorter than 32 bytes is embedded in its parent, not referenced by hash.
        if index == 0 or len(encoded) >= 32:
            proof.append(encoded)
    return value, proof


__all__ = ["AccountProof", "StorageProof", "get_proof"]
