"""eth_getProof (EIP-1186): every proof is checked by walking its nodes from the
root with keccak checks, independently of the code that built it, and by the trie
package's own proof reader."""

from __future__ import annotations

from typing import Any

import pytest
import rlp
from eth.constants import BLANK_ROOT_HASH
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_hash.auto import keccak
from trie import HexaryTrie

from contracts import load_artifact
from openledger_node.exceptions import StorageError
from openledger_node.execution.block import begin_block
from openledger_node.execution.genesis import DEV_ACCOUNTS
from openledger_node.execution.proof import AccountProof, get_proof
from openledger_node.execution.types import Receipt
from openledger_node.primitives import L2_TO_L1_MESSAGE_PASSER_ADDRESS
from openledger_node.storage import ChainStore, OverlayDB
from tests.conftest import Signer, head_state, next_env, seal_and_store

SUPPLY = 10**24
ABSENT = b"\xab" * 20
TOTAL_SUPPLY_SLOT = 2  # OZ v5 ERC20: _balances, _allowances, _totalSupply
EMPTY_CODE_HASH = keccak(b"")


# --- an independent proof walker ---------------------------------------------------------


def _nibbles(data: bytes) -> list[int]:
    return [n for byte in data for n in (byte >> 4, byte & 0x0F)]


def _hex_prefix(encoded: bytes) -> tuple[list[int], bool]:
    """Decode a leaf/extension path: (nibbles, is_leaf)."""
    flag = encoded[0] >> 4
    nibbles = _nibbles(encoded)[1 if flag & 1 else 2 :]
    return nibbles, bool(flag & 2)


def walk(root: bytes, key: bytes, proof: list[bytes]) -> bytes | None:
    """Follow `proof` from `root` along the path of `key`: the value stored there,
    or None when the proof shows the key is absent. Fails on any node that does
    not hash to its reference, and on a proof that stops early or runs on."""
    if root == BLANK_ROOT_HASH:
        assert proof == []
        return None
    path = _nibbles(key)
    position, used = 0, 0
    reference: Any = root
    while True:
        if isinstance(reference, bytes) and len(reference) == 32:
            assert used < len(proof), "proof ends early"
            encoded = proof[used]
            used += 1
            assert keccak(encoded) == reference, "node does not hash to its reference"
            node = rlp.decode(encoded)
        elif reference == b"":
            assert used == len(proof), "nodes after an empty branch slot"
            return None
        else:  # an embedded node, already decoded as part of its parent
            node = reference
        if len(node) == 17:
            assert position < len(path)
            reference = node[path[position]]
            position += 1
            continue
        segment, is_leaf = _hex_prefix(node[0])
        if path[position : position + len(segment)] != segment:
            assert used == len(proof), "nodes after a diverging path"
            return None
        position += len(segment)
        if is_leaf:
            assert position == len(path) and used == len(proof)
            return bytes(node[1])
        reference = node[1]


def account_rlp(proof: AccountProof) -> bytes:
    return bytes(rlp.encode([proof.nonce, proof.balance, proof.storage_hash, proof.code_hash]))


def slot_key(slot: int) -> bytes:
    return keccak(slot.to_bytes(32, "big"))


def assert_valid(proof: AccountProof, state_root: bytes) -> None:
    """The account proof proves the returned fields (or absence, for the empty
    account) and every storage proof proves its value against storage_hash."""
    leaf = walk(state_root, keccak(proof.address), proof.account_proof)
    trie_leaf = HexaryTrie.get_from_proof(
        state_root, keccak(proof.address), [rlp.decode(n) for n in proof.account_proof]
    )
    assert (leaf or b"") == trie_leaf
    if leaf is None:
        assert (proof.balance, proof.nonce) == (0, 0)
        assert proof.code_hash == EMPTY_CODE_HASH and proof.storage_hash == BLANK_ROOT_HASH
    else:
        assert leaf == account_rlp(proof)
    for item in proof.storage_proofs:
        value = walk(proof.storage_hash, slot_key(item.key), item.proof)
        if item.value == 0:
            assert value is None
        else:
            assert value == rlp.encode(item.value)
        if proof.storage_hash != BLANK_ROOT_HASH:
            from_trie = HexaryTrie.get_from_proof(
                proof.storage_hash, slot_key(item.key), [rlp.decode(n) for n in item.proof]
            )
            assert from_trie == (value or b"")


# --- chain helpers -----------------------------------------------------------------------


def mine(store: ChainStore, genesis_spec: Any, *txs: Any) -> list[Receipt]:
    overlay = OverlayDB(store.state_db)
    executor = begin_block(next_env(store, genesis_spec), overlay)
    receipts = [executor.apply(tx) for tx in txs]
    seal_and_store(store, executor, overlay)
    return receipts


def state_root(store: ChainStore) -> bytes:
    return bytes(store.head().state_root)


def balance_slot(holder: bytes) -> int:
    return int.from_bytes(keccak(holder.rjust(32, b"\x00") + (0).to_bytes(32, "big")), "big")


@pytest.fixture()
def token(store: ChainStore, genesis_spec: Any, signers: list[Signer]) -> bytes:
    init = load_artifact("TestToken").bytecode + abi_encode(["uint256"], [SUPPLY])
    [receipt] = mine(store, genesis_spec, signers[0].tx(to=b"", data=init, gas=2_000_000, value=0))
    assert receipt.status == 1 and receipt.contract_address is not None
    return receipt.contract_address


# --- tests ---------------------------------------------------------------------------------


def test_proof_of_funded_dev_account(store: ChainStore) -> None:
    address = DEV_ACCOUNTS[3]
    root = state_root(store)
    proof = get_proof(store.state_db, root, address, [0])
    assert proof.address == address
    assert proof.balance == head_state(store).get_balance(address) > 0
    assert proof.nonce == 0
    assert proof.code_hash == EMPTY_CODE_HASH
    assert proof.storage_hash == BLANK_ROOT_HASH
    assert len(proof.account_proof) >= 2 and keccak(proof.account_proof[0]) == root
    # an empty storage trie: the value is 0 and there is nothing to prove it with
    assert [(s.key, s.value, s.proof) for s in proof.storage_proofs] == [(0, 0, [])]
    assert_valid(proof, root)


def test_proof_of_contract_storage(store: ChainStore, token: bytes, signers: list[Signer]) -> None:
    deployer = signers[0].address
    root = state_root(store)
    absent_slot = 12345
    proof = get_proof(
        store.state_db, root, token, [balance_slot(deployer), TOTAL_SUPPLY_SLOT, absent_slot]
    )
    assert proof.code_hash == keccak(head_state(store).get_code(token))
    assert proof.nonce == 1  # EIP-161: contracts start at nonce 1
    assert proof.storage_hash != BLANK_ROOT_HASH
    assert [(s.key, s.value) for s in proof.storage_proofs] == [
        (balance_slot(deployer), SUPPLY),
        (TOTAL_SUPPLY_SLOT, SUPPLY),
        (absent_slot, 0),
    ]
    assert all(s.proof for s in proof.storage_proofs)  # absence is proven too
    assert_valid(proof, root)


def test_proof_of_absent_account(store: ChainStore) -> None:
    root = state_root(store)
    proof = get_proof(store.state_db, root, ABSENT, [1])
    assert (proof.balance, proof.nonce) == (0, 0)
    assert proof.code_hash == EMPTY_CODE_HASH and proof.storage_hash == BLANK_ROOT_HASH
    assert proof.account_proof  # a proof of exclusion, not an empty list
    assert walk(root, keccak(ABSENT), proof.account_proof) is None
    assert [(s.key, s.value, s.proof) for s in proof.storage_proofs] == [(1, 0, [])]
    assert_valid(proof, root)


def test_proof_at_older_state_root(store: ChainStore, genesis_spec: Any, signers: list[Signer]) -> None:
    sender = signers[0]
    before = state_root(store)
    balance_before = head_state(store).get_balance(sender.address)
    mine(store, genesis_spec, sender.tx(to=ABSENT, value=5))
    old = get_proof(store.state_db, before, ABSENT, [])
    new = get_proof(store.state_db, state_root(store), ABSENT, [])
    assert old.balance == 0 and new.balance == 5
    assert get_proof(store.state_db, before, sender.address, []).balance == balance_before
    assert_valid(old, before)
    assert_valid(new, state_root(store))


@pytest.mark.filterwarnings("ignore:SELFDESTRUCT opcode present:DeprecationWarning")  # the burn
def test_proof_of_withdrawal_in_message_passer(
    store: ChainStore, genesis_spec: Any, signers: list[Signer]
) -> None:
    sender = signers[2]
    target, value, gas_limit, data = b"\x11" * 20, 3 * 10**18, 250_000, b"\xde\xad\xbe\xef"
    call = keccak(b"initiateWithdrawal(address,uint256,bytes)")[:4] + abi_encode(
        ["address", "uint256", "bytes"], [target, gas_limit, data]
    )
    [receipt] = mine(
        store,
        genesis_spec,
        sender.tx(to=L2_TO_L1_MESSAGE_PASSER_ADDRESS, data=call, value=value, gas=500_000),
    )
    assert receipt.status == 1
    passed = keccak(b"MessagePassed(uint256,address,address,uint256,uint256,bytes,bytes32)")
    [log] = [log for log in receipt.logs if log.topics[0] == passed]
    nonce = int.from_bytes(log.topics[1], "big")
    *_, withdrawal_hash = abi_decode(["uint256", "uint256", "bytes", "bytes32"], log.data)
    # Hashing.hashWithdrawal, recomputed: what the L1 portal will look up
    assert withdrawal_hash == keccak(
        abi_encode(
            ["uint256", "address", "address", "uint256", "uint256", "bytes"],
            [nonce, sender.address, target, value, gas_limit, data],
        )
    )
    slot = int.from_bytes(
        keccak(withdrawal_hash + (0).to_bytes(32, "big")), "big"
    )  # sentMessages, slot 0

    root = state_root(store)
    proof = get_proof(store.state_db, root, L2_TO_L1_MESSAGE_PASSER_ADDRESS, [slot])
    [storage] = proof.storage_proofs
    assert storage.value == 1
    assert_valid(proof, root)
    assert walk(proof.storage_hash, slot_key(slot), storage.proof) == rlp.encode(1)


def test_proof_rejects_bad_input_and_missing_state(store: ChainStore) -> None:
    root = state_root(store)
    with pytest.raises(ValueError):
        get_proof(store.state_db, root, b"\x01" * 19, [])
    with pytest.raises(ValueError):
        get_proof(store.state_db, root, ABSENT, [2**256])
    with pytest.raises(StorageError):
        get_proof(store.state_db, b"\x42" * 32, ABSENT, [])


def test_walker_rejects_tampered_proof(store: ChainStore) -> None:
    root = state_root(store)
    proof = get_proof(store.state_db, root, DEV_ACCOUNTS[0], [])
    tampered = list(proof.account_proof)
    tampered[-1] = tampered[-1][:-1] + bytes([tampered[-1][-1] ^ 1])
    with pytest.raises(AssertionError):
        walk(root, keccak(DEV_ACCOUNTS[0]), tampered)
    with pytest.raises(AssertionError):
        walk(root, keccak(DEV_ACCOUNTS[0]), proof.account_proof[:-1])
