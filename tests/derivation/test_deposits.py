"""Deposit derivation: the portal's TransactionDeposited logs of one L1 block
become deposit transactions byte for byte (golden log built by hand from the
layout in OpenLedgerPortal.sol), and a malformed log is refused naming its index."""

from __future__ import annotations

import pytest
from eth_abi.abi import encode as abi_encode
from eth_hash.auto import keccak

from openledger_node.derivation.deposits import (
    TRANSACTION_DEPOSITED,
    L1Log,
    decode_opaque_data,
    derive_deposits,
    l1_logs_from_web3,
)
from openledger_node.exceptions import InvalidDeposit
from openledger_node.execution.transactions import DepositTransaction
from openledger_node.primitives import Address, Hash32

PORTAL = Address(b"\x50" * 20)
SENDER = b"\xa1" * 20
RECIPIENT = b"\xb2" * 20
BLOCK_HASH = Hash32(b"\xbb" * 32)


def word(value: int) -> Hash32:
    return Hash32(value.to_bytes(32, "big"))


def address_topic(address: bytes) -> Hash32:
    return Hash32(address.rjust(32, b"\x00"))


def opaque(mint: int, value: int, gas_limit: int, is_creation: bool, data: bytes) -> bytes:
    """abi.encodePacked(uint256 mint, uint256 value, uint64 gasLimit, bool isCreation, bytes data)."""
    return word(mint) + word(value) + gas_limit.to_bytes(8, "big") + bytes([is_creation]) + data


def deposited(
    log_index: int,
    opaque_data: bytes,
    version: int = 0,
    address: bytes = PORTAL,
    topics: tuple[Hash32, ...] | None = None,
    data: bytes | None = None,
) -> L1Log:
    """A TransactionDeposited log from SENDER to RECIPIENT."""
    return L1Log(
        address=Address(address),
        topics=topics or (TRANSACTION_DEPOSITED, address_topic(SENDER), address_topic(RECIPIENT), word(version)),
        data=abi_encode(["bytes"], [opaque_data]) if data is None else data,
        block_hash=BLOCK_HASH,
        log_index=log_index,
    )


# --- golden decoding ------------------------------------------------------------------

GOLDEN_DATA = bytes.fromhex(
    "0000000000000000000000000000000000000000000000000000000000000020"  # offset
    "000000000000000000000000000000000000000000000000000000000000004c"  # length: 73 + 3
    "0000000000000000000000000000000000000000000000004563918244f40000"  # mint: 5 OPEN
    "0000000000000000000000000000000000000000000000004563918244f40000"  # value: 5 OPEN
    "00000000000249f0"  # gasLimit: 150000
    "00"  # isCreation: false
    "010203"  # data
    "0000000000000000000000000000000000000000"  # padding to 32 bytes
)


def test_derive_deposits_golden_log() -> None:
    log = deposited(7, b"", data=GOLDEN_DATA)

    (deposit,) = derive_deposits([log], PORTAL)

    # sourceHash = keccak256(bytes32(0) ++ keccak256(l1BlockHash ++ uint256(logIndex)))
    source_hash = keccak(b"\x00" * 32 + keccak(BLOCK_HASH + word(7)))
    assert deposit == DepositTransaction(
        source_hash=source_hash,
        sender=SENDER,
        to=RECIPIENT,
        mint=5 * 10**18,
        value=5 * 10**18,
        gas=150_000,
        is_system_tx=False,
        data=b"\x01\x02\x03",
    )
    assert decode_opaque_data(opaque(5 * 10**18, 5 * 10**18, 150_000, False, b"\x01\x02\x03")) == (
        5 * 10**18, 5 * 10**18, 150_000, False, b"\x01\x02\x03",
    )


def test_derive_deposits_creation_has_no_recipient() -> None:
    initcode = bytes.fromhex("6080604052")
    (deposit,) = derive_deposits([deposited(0, opaque(0, 1, 500_000, True, initcode))], PORTAL)

    assert deposit.to == b""
    assert (deposit.sender, deposit.mint, deposit.value, deposit.gas, deposit.data) == (
        SENDER, 0, 1, 500_000, initcode,
    )


def test_derive_deposits_empty_data_and_zero_amount() -> None:
    (deposit,) = derive_deposits([deposited(0, opaque(0, 0, 21_000, False, b""))], PORTAL)

    assert (deposit.to, deposit.mint, deposit.value, deposit.gas, deposit.data) == (RECIPIENT, 0, 0, 21_000, b"")


def test_derive_deposits_keeps_log_order_and_skips_other_logs() -> None:
    logs = [
        deposited(0, opaque(1, 1, 21_000, False, b"")),
        deposited(1, opaque(2, 2, 21_000, False, b""), address=b"\x51" * 20),  # another contract
        L1Log(PORTAL, (Hash32(keccak(b"Paused(address)")),), b"", BLOCK_HASH, 2),  # another portal event
        L1Log(PORTAL, (), b"", BLOCK_HASH, 3),  # anonymous
        deposited(4, opaque(3, 3, 21_000, False, b"")),
    ]

    deposits = derive_deposits(logs, PORTAL)

    assert [d.mint for d in deposits] == [1, 3]
    assert deposits[1].source_hash == keccak(b"\x00" * 32 + keccak(BLOCK_HASH + word(4)))


def test_derive_deposits_no_logs_is_empty() -> None:
    assert derive_deposits([], PORTAL) == []


# --- malformed logs -------------------------------------------------------------------

VALID = opaque(1, 1, 21_000, False, b"")
MALFORMED = {
    "unknown version": deposited(3, VALID, version=1),
    "short opaque data": deposited(3, VALID[:72]),
    "no opaque data": deposited(3, b""),
    "data shorter than one word": deposited(3, b"", data=b"\x00" * 31),
    "length past the end": deposited(3, b"", data=word(32) + word(1_000) + VALID),
    "offset not 32": deposited(3, b"", data=word(64) + word(0) + word(len(VALID)) + VALID + b"\x00" * 23),
    "trailing bytes": deposited(3, b"", data=abi_encode(["bytes"], [VALID]) + b"\x00" * 32),
    "dirty padding": deposited(3, b"", data=abi_encode(["bytes"], [VALID])[:-1] + b"\x01"),
    "missing topic": deposited(
        3, VALID, topics=(TRANSACTION_DEPOSITED, address_topic(SENDER), address_topic(RECIPIENT))
    ),
}


@pytest.mark.parametrize("log", MALFORMED.values(), ids=MALFORMED.keys())
def test_derive_deposits_malformed_log_refused(log: L1Log) -> None:
    good = deposited(1, VALID)

    with pytest.raises(InvalidDeposit) as refused:
        derive_deposits([good, log], PORTAL)

    assert refused.value.log_index == 3
    assert "L1 log 3" in str(refused.value)


def test_derive_deposits_refusal_says_why() -> None:
    with pytest.raises(InvalidDeposit) as version:
        derive_deposits([deposited(3, VALID, version=2)], PORTAL)
    with pytest.raises(InvalidDeposit) as short:
        derive_deposits([deposited(5, VALID[:40])], PORTAL)

    assert version.value.reason == "unknown deposit version 2"
    assert (short.value.log_index, short.value.reason) == (5, "opaque data is 40 bytes, shorter than 73")


def test_decode_opaque_data_short_raises() -> None:
    with pytest.raises(ValueError):
        decode_opaque_data(b"\x00" * 72)


# --- web3.py receipts -----------------------------------------------------------------


def test_l1_logs_from_web3_receipt_logs() -> None:
    # web3.py's receipt log: checksum address, HexBytes (bytes subclasses) for the rest.
    data = abi_encode(["bytes"], [VALID])
    raw = {
        "address": "0x" + PORTAL.hex(),
        "topics": [bytes(t) for t in deposited(0, VALID).topics],
        "data": data,
        "blockHash": BLOCK_HASH,
        "logIndex": 9,
        "blockNumber": 12,
        "removed": False,
    }

    (log,) = l1_logs_from_web3([raw])

    assert log == L1Log(PORTAL, deposited(0, VALID).topics, data, BLOCK_HASH, 9)
    assert derive_deposits([log], PORTAL)[0].source_hash == keccak(b"\x00" * 32 + keccak(BLOCK_HASH + word(9)))
