"""Withdrawals read from L2 receipts: a MessagePassed log that the real
L2ToL1MessagePasser emitted (captured in py-evm, contracts/src/L2) decodes into
the withdrawal whose hash the contract computed and whose sentMessages slot it
set."""

from __future__ import annotations

from eth_abi.abi import encode as abi_encode
from eth_hash.auto import keccak

from openledger_node.execution.types import Log
from openledger_node.execution.withdrawals import (
    MESSAGE_PASSED,
    Withdrawal,
    sent_messages_slot,
    withdrawals_in,
)
from openledger_node.primitives import L2_TO_L1_MESSAGE_PASSER_ADDRESS, Address

# initiateWithdrawal(0x1111..11, 250000, 0xdeadbeef) with 3 OPEN, the passer's
# first withdrawal (nonce version 1, sequence 0), from 0x7e5f...5bdf.
SENDER = Address(bytes.fromhex("7e5f4552091a69125d5dfcb7b8c2659029395bdf"))
TARGET = Address(b"\x11" * 20)
VERSIONED_NONCE = 1 << 240
GOLDEN_LOG = Log(
    address=L2_TO_L1_MESSAGE_PASSER_ADDRESS,
    topics=(
        bytes.fromhex("02a52367d10742d8032712c1bb8e0144ff1ec5ffda1ed7d70bb05a2744955054"),
        bytes.fromhex("0001000000000000000000000000000000000000000000000000000000000000"),
        bytes.fromhex("0000000000000000000000007e5f4552091a69125d5dfcb7b8c2659029395bdf"),
        bytes.fromhex("0000000000000000000000001111111111111111111111111111111111111111"),
    ),
    data=bytes.fromhex(
        "00000000000000000000000000000000000000000000000029a2241af62c0000"
        "000000000000000000000000000000000000000000000000000000000003d090"
        "0000000000000000000000000000000000000000000000000000000000000080"
        "4cfdf9199d854da5fcc216fe3964f2e6e7505eba20acfb615dadfcf531eb2bc7"
        "0000000000000000000000000000000000000000000000000000000000000004"
        "deadbeef00000000000000000000000000000000000000000000000000000000"
    ),
)
GOLDEN_HASH = bytes.fromhex("4cfdf9199d854da5fcc216fe3964f2e6e7505eba20acfb615dadfcf531eb2bc7")
GOLDEN_SLOT = 0x17D5DBCBDB26F8E6320CB40244D62DFDDC3D69DE4CAE6927C6FF45E9A702FE75  # the passer set it to 1


def message_passed(
    nonce: int, value: int, gas_limit: int, data: bytes, address: bytes = L2_TO_L1_MESSAGE_PASSER_ADDRESS
) -> Log:
    """A MessagePassed log from SENDER to TARGET, hash field left zero (it is not read)."""
    return Log(
        address=address,
        topics=(MESSAGE_PASSED, nonce.to_bytes(32, "big"), SENDER.rjust(32, b"\x00"), TARGET.rjust(32, b"\x00")),
        data=abi_encode(["uint256", "uint256", "bytes", "bytes32"], [value, gas_limit, data, b"\x00" * 32]),
    )


def test_withdrawals_in_decodes_the_passer_log_golden() -> None:
    (withdrawal,) = withdrawals_in([GOLDEN_LOG])

    assert withdrawal == Withdrawal(VERSIONED_NONCE, SENDER, TARGET, 3 * 10**18, 250_000, bytes.fromhex("deadbeef"))
    assert withdrawal.hash == GOLDEN_HASH == GOLDEN_LOG.data[96:128]  # the event's withdrawalHash
    assert sent_messages_slot(withdrawal.hash) == GOLDEN_SLOT


def test_withdrawal_hash_is_hashWithdrawal() -> None:
    withdrawal = Withdrawal(VERSIONED_NONCE | 5, SENDER, TARGET, 0, 100_000, b"")
    encoded = abi_encode(
        ["uint256", "address", "address", "uint256", "uint256", "bytes"],
        [VERSIONED_NONCE | 5, SENDER, TARGET, 0, 100_000, b""],
    )

    assert withdrawal.hash == keccak(encoded)
    assert sent_messages_slot(withdrawal.hash) == int.from_bytes(keccak(withdrawal.hash + b"\x00" * 32), "big")


def test_withdrawals_in_keeps_log_order_and_skips_other_logs() -> None:
    burnt = Log(L2_TO_L1_MESSAGE_PASSER_ADDRESS, (keccak(b"WithdrawerBalanceBurnt(uint256)"), b"\x00" * 32), b"")
    impostor = message_passed(VERSIONED_NONCE | 9, 1, 1, b"", address=b"\x42" * 20)
    anonymous = Log(L2_TO_L1_MESSAGE_PASSER_ADDRESS, (), b"")
    second = message_passed(VERSIONED_NONCE | 1, 7, 21_000, b"\x01\x02")

    withdrawals = withdrawals_in([GOLDEN_LOG, burnt, impostor, anonymous, second])

    assert [w.nonce for w in withdrawals] == [VERSIONED_NONCE, VERSIONED_NONCE | 1]
    assert withdrawals[1] == Withdrawal(VERSIONED_NONCE | 1, SENDER, TARGET, 7, 21_000, b"\x01\x02")


def test_withdrawals_in_no_withdrawal_is_empty() -> None:
    assert withdrawals_in([]) == []
