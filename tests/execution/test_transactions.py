"""Sender recovery from a transaction's canonical bytes: the signing hash cut from
the raw encoding, recovered with libsecp256k1, must name the same sender and hash
as py-evm's re-encoding path for every transaction type, and refuse what py-evm
refuses."""

from __future__ import annotations

import random

import pytest
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_account import Account

from openledger_node.exceptions import InvalidSignature
from openledger_node.execution.transactions import decode_transaction

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
