"""BaseFeeVault and SequencerFeeVault predeploys: they hold fees and sweep the
whole balance to their recipient once it reaches the minimum."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from eth_abi.abi import decode, encode
from eth_typing import Address
from eth_utils.address import to_canonical_address

if TYPE_CHECKING:
    from conftest import EvmHarness

CTOR_TYPES = ("address", "uint256")
RECIPIENT = Address(bytes.fromhex("22" * 20))
MIN_WITHDRAWAL_AMOUNT = 10 * 10**18

WITHDRAWAL = "Withdrawal(uint256,address,address)"
RECEIVED = "Received(address,uint256)"

VAULTS = ["BaseFeeVault", "SequencerFeeVault"]


def _vault_address(evm: EvmHarness, name: str) -> Address:
    return evm.base_fee_vault_address if name == "BaseFeeVault" else evm.sequencer_fee_vault_address


@pytest.fixture(params=VAULTS)
def vault(request: pytest.FixtureRequest, evm: EvmHarness) -> tuple[EvmHarness, Address]:
    name: str = request.param
    at = _vault_address(evm, name)
    evm.place(at, name, CTOR_TYPES, (RECIPIENT, MIN_WITHDRAWAL_AMOUNT))
    return evm, at


def test_constructor_args_become_immutables_succeeds(vault: tuple[EvmHarness, Address]) -> None:
    evm, at = vault
    (recipient,) = evm.call(at, "RECIPIENT()", returns=["address"])
    assert to_canonical_address(recipient) == RECIPIENT
    assert evm.call(at, "MIN_WITHDRAWAL_AMOUNT()", returns=["uint256"]) == (MIN_WITHDRAWAL_AMOUNT,)
    assert evm.call(at, "totalProcessed()", returns=["uint256"]) == (0,)


@pytest.mark.parametrize("name", VAULTS)
def test_constructor_zero_recipient_reverts(evm: EvmHarness, name: str) -> None:
    at = _vault_address(evm, name)
    computation = evm.place(at, name, CTOR_TYPES, (b"\x00" * 20, MIN_WITHDRAWAL_AMOUNT), check=False)

    assert not computation.is_success
    assert computation.output == evm.revert_data("ZeroRecipient()")
    assert evm.state.get_code(at) == b""


def test_withdraw_below_minimum_reverts(vault: tuple[EvmHarness, Address]) -> None:
    evm, at = vault
    balance = MIN_WITHDRAWAL_AMOUNT - 1
    evm.state.set_balance(at, balance)  # fees are credited by the node, not by a call

    result = evm.transact(evm.bob, at, evm.encode_call("withdraw()"))

    assert not result.success
    assert result.output == evm.revert_data(
        "BelowMinWithdrawalAmount(uint256,uint256)", ["uint256", "uint256"], [balance, MIN_WITHDRAWAL_AMOUNT]
    )
    assert evm.balance(at) == balance
    assert evm.balance(RECIPIENT) == 0
    assert evm.call(at, "totalProcessed()", returns=["uint256"]) == (0,)


def test_withdraw_above_minimum_sends_full_balance_succeeds(vault: tuple[EvmHarness, Address]) -> None:
    evm, at = vault
    balance = MIN_WITHDRAWAL_AMOUNT + 123_456
    evm.state.set_balance(at, balance)
    caller = evm.address_of(evm.bob)

    result = evm.transact(evm.bob, at, evm.encode_call("withdraw()"))

    assert result.success, result.output.hex()
    assert evm.balance(at) == 0
    assert evm.balance(RECIPIENT) == balance
    assert evm.call(at, "totalProcessed()", returns=["uint256"]) == (balance,)
    (log,) = result.logs_with_topic(evm.event_topic(WITHDRAWAL))
    assert log.address == at
    value, to, sender = decode(["uint256", "address", "address"], log.data)
    assert (value, to_canonical_address(to), to_canonical_address(sender)) == (balance, RECIPIENT, caller)


def test_withdraw_at_exact_minimum_succeeds(vault: tuple[EvmHarness, Address]) -> None:
    evm, at = vault
    evm.state.set_balance(at, MIN_WITHDRAWAL_AMOUNT)

    result = evm.transact(evm.alice, at, evm.encode_call("withdraw()"))

    assert result.success
    assert evm.balance(RECIPIENT) == MIN_WITHDRAWAL_AMOUNT


def test_withdraw_twice_accumulates_totalProcessed_succeeds(vault: tuple[EvmHarness, Address]) -> None:
    evm, at = vault
    evm.state.set_balance(at, MIN_WITHDRAWAL_AMOUNT)
    assert evm.transact(evm.alice, at, evm.encode_call("withdraw()")).success
    evm.state.set_balance(at, 2 * MIN_WITHDRAWAL_AMOUNT)
    assert evm.transact(evm.alice, at, evm.encode_call("withdraw()")).success

    assert evm.call(at, "totalProcessed()", returns=["uint256"]) == (3 * MIN_WITHDRAWAL_AMOUNT,)
    assert evm.balance(RECIPIENT) == 3 * MIN_WITHDRAWAL_AMOUNT


def test_withdraw_to_rejecting_recipient_reverts(evm: EvmHarness) -> None:
    # L1Block has neither receive() nor fallback(), so it rejects OPEN.
    evm.place(evm.l1_block_address, "L1Block")
    at = evm.base_fee_vault_address
    evm.place(at, "BaseFeeVault", CTOR_TYPES, (evm.l1_block_address, 0))
    evm.state.set_balance(at, 5)

    result = evm.transact(evm.alice, at, evm.encode_call("withdraw()"))

    assert not result.success
    assert result.output == evm.revert_data("FailedCall()")
    assert evm.balance(at) == 5
    assert evm.call(at, "totalProcessed()", returns=["uint256"]) == (0,)


def test_receive_transfer_emits_Received_succeeds(vault: tuple[EvmHarness, Address]) -> None:
    evm, at = vault
    sender = evm.address_of(evm.alice)

    result = evm.transact(evm.alice, at, b"", value=7)

    assert result.success
    assert evm.balance(at) == 7
    (log,) = result.logs
    assert log.topics == (evm.event_topic(RECEIVED), sender.rjust(32, b"\x00"))
    assert log.data == encode(["uint256"], [7])


def test_receive_within_transfer_stipend_succeeds(vault: tuple[EvmHarness, Address]) -> None:
    """Solidity's transfer()/send() forward 2300 gas; the vault must accept them."""
    evm, at = vault
    # A plain transfer with a 21,000 + 2,300 budget mimics the stipend-bound path.
    result = evm.transact(evm.alice, at, b"", value=1, gas=21_000 + 2_300)

    assert result.success
    assert evm.balance(at) == 1
