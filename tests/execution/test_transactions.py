"""Sender recovery from a transaction's canonical bytes: the signing hash cut from
the raw encoding, recovered with libsecp256k1, must name the same sender and hash
as py-evm's re-encoding path for every transaction type, and refuse what py-evm
refuses. Decoding gives py-evm's own objects, and refuses what py-evm's decoder
refuses."""

from __future__ import annotations

import os
import random
from typing import Any

import pytest
import rlp
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from openledger_node.exceptions import InvalidSignature, TxDecodeError
from openledger_node.execution.transactions import DepositTransaction, decode_transaction
from tests.codec.samples import sample_txs

CHAIN_ID = 161299


def _signed(rng: random.Random, kind: int, data_size: int) -> tuple[bytes, str]:
    account = Account.from_key(rng.randbytes(32))
    base = dict(nonce=rng.randrange(2**40), gas=21_000 + rng.randrange(10**6),
                to=Account.from_key(rng.randbytes(32)).address, value=rng.randrange(2**80),
                data=rng.randbytes(data_size))
    if kind == 0:  # legacy, before EIP-155
        tx = dict(base, gasPrice=rng.randrange(1, 10**12))
    elif kind == 1:  # legacy, EIP-155
        tx = dict(base, gasPrice=rng.randrange(1, 10**12), chainId=CHAIN_ID)
    elif kind == 2:  # EIP-2930
        tx = dict(base, gasPrice=10**9, chainId=CHAIN_ID, accessList=[
            {"address": Account.from_key(rng.randbytes(32)).address,
             "storageKeys": ["0x" + rng.randbytes(32).hex() for _ in range(rng.randrange(3))]}])
    else:  # EIP-1559, a contract creation now and then
        tx = dict(base, maxFeePerGas=10**10, maxPriorityFeePerGas=10**9, chainId=CHAIN_ID, type=2)
        if rng.random() < 0.3:
            del tx["to"]
    return bytes(account.sign_transaction(tx).raw_transaction), account.address


@pytest.mark.parametrize("kind", [0, 1, 2, 3])
def test_recovered_sender_and_hash_match_py_evm(kind: int) -> None:
    rng = random.Random(kind)
    for data_size in (0, 1, 55, 56, 300, 70_000):  # across the RLP short/long list boundary
        raw, address = _signed(rng, kind, data_size)
        tx = decode_transaction(raw)
        reference = PragueTransactionBuilder.decode(raw)
        assert tx.sender == reference.sender == bytes.fromhex(address[2:])
        assert tx.hash == reference.hash


def test_tampered_signature_recovers_another_sender_or_is_refused() -> None:
    raw, address = _signed(random.Random(7), 3, 10)
    tampered = bytearray(raw)
    tampered[-40] ^= 0x01  # a bit of r
    try:
        tx = decode_transaction(bytes(tampered))
    except InvalidSignature:
        return
    assert tx.sender != bytes.fromhex(address[2:])
    assert tx.sender == PragueTransactionBuilder.decode(bytes(tampered)).sender


# --- decoding: the same objects as py-evm's decoder, and the same refusals --------


def _py_evm_decodes(raw: bytes) -> object:
    try:
        return PragueTransactionBuilder.decode(raw)
    except Exception:  # py-evm raises assorted rlp and validation errors
        return None


def _decodes(raw: bytes) -> object:
    try:
        return decode_transaction(raw, recover_sender=False)
    except TxDecodeError:
        return None


def _same_transaction(ours: Any, reference: Any) -> None:
    assert type(ours) is type(reference)
    inner, reference_inner = getattr(ours, "_inner", ours), getattr(reference, "_inner", reference)
    assert type(inner) is type(reference_inner)
    assert inner.as_dict() == reference_inner.as_dict()
    assert ours.encode() == reference.encode()
    assert ours.hash == reference.hash


@pytest.mark.parametrize("name", sorted(sample_txs()))
def test_every_type_decodes_to_py_evm_s_object(name: str) -> None:
    raw = sample_txs()[name]
    tx = decode_transaction(raw)
    reference = PragueTransactionBuilder.decode(raw)
    _same_transaction(tx, reference)
    assert tx.sender == reference.sender
    tx.validate()  # the object py-evm's checks and executor read works as theirs does


@settings(max_examples=int(os.environ.get("TX_DECODE_FUZZ_EXAMPLES", "300")), deadline=None)
@given(st.sampled_from(sorted(sample_txs())), st.data())
def test_mutated_bytes_get_py_evm_s_verdict(name: str, data: st.DataObject) -> None:
    """A byte changed, inserted or dropped anywhere (the envelope, a length, a
    field): refused exactly when py-evm refuses, and otherwise the same object."""
    raw = bytearray(sample_txs()[name])
    for _ in range(data.draw(st.integers(min_value=1, max_value=2))):
        where = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
        action = data.draw(st.sampled_from(["set", "insert", "drop"]))
        byte = data.draw(st.integers(min_value=0, max_value=255))
        if action == "set":
            raw[where] = byte
        elif action == "insert":
            raw.insert(where, byte)
        elif len(raw) > 1:
            del raw[where]
    if raw[0] in (0x03, 0x7E) or (raw[0] < 0x7F and raw[0] not in (0x01, 0x02, 0x04)):
        return  # types this chain refuses before decoding (blob, deposit from the wire, unknown)
    ours, reference = _decodes(bytes(raw)), _py_evm_decodes(bytes(raw))
    assert (ours is None) == (reference is None)
    if ours is not None:
        _same_transaction(ours, reference)


def test_deposit_round_trips_and_malformed_deposit_is_refused_by_name() -> None:
    deposit = DepositTransaction(source_hash=b"\x11" * 32, sender=b"\x22" * 20, to=b"", mint=10**18,
                                 value=5, gas=100_000, is_system_tx=False, data=b"\x01\x02")
    decoded = decode_transaction(deposit.encode())
    assert isinstance(decoded, DepositTransaction)
    assert decoded == deposit and decoded.hash == deposit.hash
    with pytest.raises(TxDecodeError, match="deposit transaction"):
        decode_transaction(deposit.encode()[:-1])
    with pytest.raises(TxDecodeError, match="deposit transaction"):
        decode_transaction(bytes([0x7E]) + rlp.encode([b"\x11" * 32]))


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (bytes([0x02]) + bytes.fromhex("c3") + b"\x81\x05\x01", "must encode as itself"),
        (bytes([0x02]) + rlp.encode([1, 2]), "length"),
        (bytes([0x02, 0x80]), "sequence"),
    ],
)
def test_malformed_typed_transaction_is_refused_with_the_reason(raw: bytes, problem: str) -> None:
    with pytest.raises(TxDecodeError, match=problem):
        decode_transaction(raw)
