"""L2ToL1MessagePasser predeploy: withdrawals are recorded at the storage slot
the L1 portal proves, hashed as the OP Stack hashes them, and their value is
burned on L2 at once."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from eth._utils.address import generate_contract_address
from eth_abi.abi import decode, encode
from eth_typing import Address
from eth_utils.crypto import keccak

if TYPE_CHECKING:
    from conftest import EvmHarness

INITIATE_WITHDRAWAL = "initiateWithdrawal(address,uint256,bytes)"
MESSAGE_PASSED = "MessagePassed(uint256,address,address,uint256,uint256,bytes,bytes32)"
WITHDRAWER_BALANCE_BURNT = "WithdrawerBalanceBurnt(uint256)"

MESSAGE_VERSION = 1
RECEIVE_DEFAULT_GAS_LIMIT = 100_000
SENT_MESSAGES_SLOT = 0
MSG_NONCE_SLOT = 1

TARGET = Address(bytes.fromhex("11" * 20))
VALUE = 3 * 10**18
GAS_LIMIT = 250_000
DATA = b"\xde\xad\xbe\xef" + b"\x01" * 40


def versioned_nonce(sequence: int) -> int:
    return (MESSAGE_VERSION << 240) | sequence


def withdrawal_hash(
    nonce: int, sender: bytes, target: bytes, value: int, gas_limit: int, data: bytes
) -> bytes:
    """Hashing.hashWithdrawal, recomputed off chain."""
    return keccak(
        encode(
            ["uint256", "address", "address", "uint256", "uint256", "bytes"],
            [nonce, sender, target, value, gas_limit, data],
        )
    )


def sent_messages_slot(whash: bytes) -> int:
    """Storage slot of sentMessages[whash] for a mapping at slot 0."""
    return int.from_bytes(keccak(whash + SENT_MESSAGES_SLOT.to_bytes(32, "big")), "big")


@pytest.fixture
def passer(evm: EvmHarness) -> EvmHarness:
    evm.place(evm.message_passer_address, "L2ToL1MessagePasser")
    return evm


def _next_burner(evm: EvmHarness) -> Address:
    at = evm.message_passer_address
    return generate_contract_address(at, evm.state.get_nonce(at))


def test_initiateWithdrawal_records_hash_at_slot_zero_mapping_succeeds(passer: EvmHarness) -> None:
    sender = passer.address_of(passer.alice)
    result = passer.transact(
        passer.alice,
        passer.message_passer_address,
        passer.encode_call(INITIATE_WITHDRAWAL, TARGET, GAS_LIMIT, DATA),
        value=VALUE,
    )

    assert result.success, result.output.hex()
    whash = withdrawal_hash(versioned_nonce(0), sender, TARGET, VALUE, GAS_LIMIT, DATA)
    assert passer.storage(passer.message_passer_address, sent_messages_slot(whash)) == 1
    assert passer.call(passer.message_passer_address, "sentMessages(bytes32)", whash, returns=["bool"]) == (
        True,
    )
    assert passer.call(
        passer.message_passer_address, "sentMessages(bytes32)", b"\x00" * 32, returns=["bool"]
    ) == (False,)


def test_initiateWithdrawal_emits_MessagePassed_with_hash_succeeds(passer: EvmHarness) -> None:
    sender = passer.address_of(passer.alice)
    result = passer.transact(
        passer.alice,
        passer.message_passer_address,
        passer.encode_call(INITIATE_WITHDRAWAL, TARGET, GAS_LIMIT, DATA),
        value=VALUE,
    )

    (log,) = result.logs_with_topic(passer.event_topic(MESSAGE_PASSED))
    assert log.address == passer.message_passer_address
    assert log.topics[1:] == (
        versioned_nonce(0).to_bytes(32, "big"),
        sender.rjust(32, b"\x00"),
        TARGET.rjust(32, b"\x00"),
    )
    value, gas_limit, data, whash = decode(["uint256", "uint256", "bytes", "bytes32"], log.data)
    assert (value, gas_limit, data) == (VALUE, GAS_LIMIT, DATA)
    assert whash == withdrawal_hash(versioned_nonce(0), sender, TARGET, VALUE, GAS_LIMIT, DATA)


def test_initiateWithdrawal_increments_nonce_succeeds(passer: EvmHarness) -> None:
    at = passer.message_passer_address
    sender = passer.address_of(passer.bob)
    assert passer.call(at, "messageNonce()", returns=["uint256"]) == (versioned_nonce(0),)

    first = passer.transact(passer.bob, at, passer.encode_call(INITIATE_WITHDRAWAL, TARGET, GAS_LIMIT, b""))
    second = passer.transact(passer.bob, at, passer.encode_call(INITIATE_WITHDRAWAL, TARGET, GAS_LIMIT, b""))

    assert first.success and second.success
    assert passer.call(at, "messageNonce()", returns=["uint256"]) == (versioned_nonce(2),)
    assert passer.storage(at, MSG_NONCE_SLOT) == 2
    (log,) = second.logs_with_topic(passer.event_topic(MESSAGE_PASSED))
    assert log.topics[1] == versioned_nonce(1).to_bytes(32, "big")
    second_hash = withdrawal_hash(versioned_nonce(1), sender, TARGET, 0, GAS_LIMIT, b"")
    assert passer.storage(at, sent_messages_slot(second_hash)) == 1


def test_initiateWithdrawal_with_value_burns_it_succeeds(passer: EvmHarness) -> None:
    at = passer.message_passer_address
    sender = passer.address_of(passer.alice)
    burner = _next_burner(passer)
    before = passer.balance(sender) + passer.balance(at) + passer.balance(burner)

    result = passer.transact(
        passer.alice, at, passer.encode_call(INITIATE_WITHDRAWAL, TARGET, GAS_LIMIT, DATA), value=VALUE
    )

    assert result.success, result.output.hex()
    after = passer.balance(sender) + passer.balance(at) + passer.balance(burner)
    # The sender also paid for gas; everything else that left the three accounts was burned.
    assert before - after == VALUE + result.fee
    assert passer.balance(at) == 0
    assert passer.balance(TARGET) == 0
    # EIP-6780: the Burner self-destructed in its creating transaction, so nothing is left.
    assert not passer.state.account_exists(burner)
    assert passer.state.get_code(burner) == b""
    (burnt,) = result.logs_with_topic(passer.event_topic(WITHDRAWER_BALANCE_BURNT))
    assert burnt.topics[1] == VALUE.to_bytes(32, "big")


def test_initiateWithdrawal_twice_burns_both_values_succeeds(passer: EvmHarness) -> None:
    at = passer.message_passer_address
    data = passer.encode_call(INITIATE_WITHDRAWAL, TARGET, GAS_LIMIT, b"")
    first = passer.transact(passer.alice, at, data, value=VALUE)
    second = passer.transact(passer.alice, at, data, value=2 * VALUE)

    assert first.success and second.success
    assert passer.balance(at) == 0
    spent = first.fee + second.fee + 3 * VALUE
    assert passer.balance(passer.address_of(passer.alice)) == 10**24 - spent


def test_initiateWithdrawal_without_value_skips_burn_succeeds(passer: EvmHarness) -> None:
    at = passer.message_passer_address
    nonce_before = passer.state.get_nonce(at)

    result = passer.transact(
        passer.alice, at, passer.encode_call(INITIATE_WITHDRAWAL, TARGET, GAS_LIMIT, DATA)
    )

    assert result.success
    assert passer.state.get_nonce(at) == nonce_before  # no Burner was created
    assert result.logs_with_topic(passer.event_topic(WITHDRAWER_BALANCE_BURNT)) == []
    assert len(result.logs_with_topic(passer.event_topic(MESSAGE_PASSED))) == 1


def test_receive_plain_transfer_withdraws_to_sender_succeeds(passer: EvmHarness) -> None:
    at = passer.message_passer_address
    sender = passer.address_of(passer.bob)

    result = passer.transact(passer.bob, at, b"", value=VALUE)

    assert result.success, result.output.hex()
    (log,) = result.logs_with_topic(passer.event_topic(MESSAGE_PASSED))
    assert log.topics[3] == sender.rjust(32, b"\x00")
    value, gas_limit, data, whash = decode(["uint256", "uint256", "bytes", "bytes32"], log.data)
    assert (value, gas_limit, data) == (VALUE, RECEIVE_DEFAULT_GAS_LIMIT, b"")
    assert whash == withdrawal_hash(versioned_nonce(0), sender, sender, VALUE, RECEIVE_DEFAULT_GAS_LIMIT, b"")
    assert passer.storage(at, sent_messages_slot(whash)) == 1
    assert passer.balance(at) == 0


def test_burn_forced_balance_succeeds(passer: EvmHarness) -> None:
    at = passer.message_passer_address
    # Value can reach the passer without a call (another contract's selfdestruct).
    passer.state.set_balance(at, VALUE)

    result = passer.transact(passer.bob, at, passer.encode_call("burn()"))

    assert result.success
    assert passer.balance(at) == 0
    (burnt,) = result.logs_with_topic(passer.event_topic(WITHDRAWER_BALANCE_BURNT))
    assert burnt.topics[1] == VALUE.to_bytes(32, "big")


def test_burn_zero_balance_succeeds(passer: EvmHarness) -> None:
    at = passer.message_passer_address
    nonce_before = passer.state.get_nonce(at)

    result = passer.transact(passer.bob, at, passer.encode_call("burn()"))

    assert result.success
    assert result.logs == ()
    assert passer.state.get_nonce(at) == nonce_before


def test_MESSAGE_VERSION_is_one_succeeds(passer: EvmHarness) -> None:
    assert passer.call(passer.message_passer_address, "MESSAGE_VERSION()", returns=["uint16"]) == (
        MESSAGE_VERSION,
    )
