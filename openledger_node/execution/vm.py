"""OpenLedgerVM: Ethereum's Prague fork with the rollup's fee and deposit rules.

The base is py-evm's Prague as `execution/evm.py` corrects it where py-evm
diverges from Ethereum (the same state the L1 node runs). What changes from
Prague, and nothing else:
- the base fee is credited to the base-fee vault instead of burned, so the OPEN
  supply is conserved; the priority fee goes to the block's coinbase (the
  sequencer's fee recipient) as on Ethereum;
- deposit transactions (type 0x7E) are executed without signature, nonce check or
  fee: `mint` is credited to the sender before the call and stays even if the call
  reverts;
- transaction validation raises the node's typed errors instead of py-evm's
  generic ValidationError.
"""

from __future__ import annotations

from typing import Any, cast

from eth._utils.address import generate_contract_address
from eth.abc import ComputationAPI, MessageAPI, SignedTransactionAPI
from eth.constants import CREATE_CONTRACT_ADDRESS
from eth.vm.forks.cancun.state import get_total_blob_gas
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.constants import (
    STANDARD_TOKEN_COST,
    TOTAL_COST_FLOOR_PER_TOKEN,
)
from eth.vm.forks.prague.state import PragueTransactionExecutor
from eth.vm.forks.shanghai.constants import MAX_INITCODE_SIZE
from eth.vm.message import Message
from eth_typing import Address

from openledger_node.exceptions import (
    FeeCapTooLow,
    InitCodeTooLarge,
    InsufficientFunds,
    IntrinsicGasTooLow,
    InvalidTransaction,
    NonceTooHigh,
    NonceTooLow,
    TipAboveFeeCap,
)
from openledger_node.execution import evm
from openledger_node.execution.accountdb import OpenLedgerAccountDB
from openledger_node.execution.console import console_logging
from openledger_node.primitives import (
    BASE_FEE_VAULT_ADDRESS,
    BLOB_TX_TYPE,
    DEPOSIT_TX_TYPE,
)

GAS_TX = 21_000


def data_floor_gas(data: bytes) -> int:
    """EIP-7623 minimum gas of a transaction carrying `data`."""
    zeros = data.count(0)
    tokens = zeros + (len(data) - zeros) * STANDARD_TOKEN_COST
    return int(GAS_TX + TOTAL_COST_FLOOR_PER_TOKEN * tokens)


def required_gas(tx: Any) -> int:
    """The least gas a transaction may carry: intrinsic gas or the EIP-7623 floor."""
    return max(int(tx.intrinsic_gas), data_floor_gas(bytes(tx.data)))


class OpenLedgerTransactionExecutor(PragueTransactionExecutor):
    base_fee_vault = BASE_FEE_VAULT_ADDRESS

    def build_evm_message(self, transaction: SignedTransactionAPI) -> MessageAPI:
        """py-evm's Prague message (gas bought, nonce raised, EIP-7702
        delegation followed; no blob fee, blob transactions never get here)
        without its debug line, which hex-encodes the target's whole code on
        every transaction whether or not it is logged. A deposit's mint comes
        first, outside the message's snapshot, so a reverting call keeps it."""
        state = self.vm_state
        sender = transaction.sender
        if transaction.type_id == DEPOSIT_TX_TYPE:
            state.delta_balance(sender, cast(Any, transaction).mint)
        state.delta_balance(sender, -transaction.gas * state.get_gas_price(transaction))
        state.increment_nonce(sender)
        refund = self.calc_message_refund(transaction)  # EIP-7702 authorizations, before the code is read
        if transaction.to == CREATE_CONTRACT_ADDRESS:
            create_address = generate_contract_address(sender, state.get_nonce(sender) - 1)
            data, code, delegation = b"", transaction.data, None
        else:
            create_address = None
            data = transaction.data
            code, delegation = self.get_code_at_address(transaction.to)
        return Message(
            gas=transaction.gas - transaction.intrinsic_gas,
            to=transaction.to,
            sender=sender,
            value=transaction.value,
            data=data,
            code=code,
            create_address=cast(Address, create_address),  # None for a call, as py-evm passes it
            refund=refund,
            is_delegation=delegation is not None,
        )

    def finalize_computation(
        self, transaction: SignedTransactionAPI, computation: ComputationAPI
    ) -> ComputationAPI:
        if transaction.type_id == DEPOSIT_TX_TYPE:
            # No fee was bought, so nothing is refunded or paid; only self-destructs apply.
            for account in computation.get_accounts_for_deletion():
                self.vm_state.delete_account(account)
            return computation
        finalized = super().finalize_computation(transaction, computation)
        base_fee = self.vm_state.execution_context.base_fee_per_gas or 0
        gas_used = transaction_gas_used(transaction, finalized)
        self.vm_state.delta_balance(self.base_fee_vault, gas_used * base_fee)
        return finalized


def transaction_gas_used(transaction: Any, computation: ComputationAPI) -> int:
    """Gas charged for a transaction, as py-evm's finalize_computation computes it."""
    gas_remaining = computation.get_gas_remaining()
    if transaction.type_id == DEPOSIT_TX_TYPE:
        return int(transaction.gas - gas_remaining)
    gas_refund = OpenLedgerTransactionExecutor.calculate_gas_refund(
        computation, transaction.gas - gas_remaining
    )
    floor = getattr(computation, "data_floor_gas", 0)
    return int(transaction.gas - gas_remaining - gas_refund + floor)


@console_logging  # Hardhat console.log in the node's log, on a dev network
class OpenLedgerState(evm.PragueState):
    account_db_class = OpenLedgerAccountDB
    transaction_executor_class = OpenLedgerTransactionExecutor

    def validate_transaction(self, transaction: SignedTransactionAPI) -> None:
        if transaction.type_id == DEPOSIT_TX_TYPE:
            need = required_gas(transaction)
            if transaction.gas < need:
                raise IntrinsicGasTooLow(transaction.gas, need)
            return
        validate_signed_transaction(self, transaction)


def validate_signed_transaction(state: Any, tx: SignedTransactionAPI) -> None:
    """The checks a block applies to a user transaction against the current state."""
    base_fee = int(state.execution_context.base_fee_per_gas)
    fee_cap = int(tx.max_fee_per_gas)
    tip = int(tx.max_priority_fee_per_gas)
    if tip > fee_cap:
        raise TipAboveFeeCap(tip, fee_cap)
    if fee_cap < base_fee:
        raise FeeCapTooLow(fee_cap, base_fee, "base fee")
    need = required_gas(tx)
    if tx.gas < need:
        raise IntrinsicGasTooLow(tx.gas, need)
    if not tx.to and len(tx.data) > MAX_INITCODE_SIZE:
        raise InitCodeTooLarge(len(tx.data), MAX_INITCODE_SIZE)
    validate_sender(state, tx, fee_cap)


def validate_sender(state: Any, tx: SignedTransactionAPI, fee_cap: int) -> None:
    """The sender's side of a transaction's validity, the same on every chain
    this node runs: its nonce is the state's, its balance covers gas (and blob
    gas) at the fee caps plus the value, and a set-code transaction carries
    authorizations."""
    sender = tx.sender
    state_nonce = state.get_nonce(sender)
    if tx.nonce < state_nonce:
        raise NonceTooLow(sender, tx.nonce, state_nonce)
    if tx.nonce > state_nonce:
        raise NonceTooHigh(sender, tx.nonce, state_nonce)
    balance = state.get_balance(sender)
    cost = tx.gas * fee_cap + tx.value
    if tx.type_id == BLOB_TX_TYPE:
        # EIP-4844: the blob gas at its fee cap is bought up front too.
        cost += get_total_blob_gas(tx) * int(cast(Any, tx).max_fee_per_blob_gas)
    if balance < cost:
        raise InsufficientFunds(sender, balance, cost)
    if tx.type_id == 0x04 and not tx.authorization_list:
        raise InvalidTransaction("EIP-7702 transaction with empty auth list")


class OpenLedgerVM(PragueVM):
    """Prague with the rollup's fee and deposit rules (see module docstring)."""

    fork = "openledger-prague"
    _state_class = OpenLedgerState
