"""OpenLedgerPortal accounting under random sequences of deposits, withdrawals
and finalizations (Hypothesis state machine, bounded): the OPEN locked in the
portal always equals what was deposited minus what finalized withdrawals paid,
never goes negative, the portal never pays more than it locked (genesis OPEN
on L2 has no backing here), and no withdrawal is finalized twice.

Every step runs for real: deposits on anvil, derived and applied on the
in-process L2; withdrawals initiated on L2, their output posted to the rollup,
proven with eth_getProof proofs, finalized after the challenge window."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from web3 import Web3

from openledger_node.execution.genesis import (
    GenesisSpec,
    build_genesis,
    dev_private_keys,
)
from openledger_node.storage import ChainStore, OverlayDB
from tests.conftest import Signer

from .conftest import (
    FINALIZATION_PERIOD,
    L1,
    L2,
    L2_GAS_PRICE,
    OPEN,
    Bridge,
    Failure,
    ProvenInputs,
    new_l2_key,
)

# py-evm warns on every SELFDESTRUCT; L2ToL1MessagePasser burns withdrawn OPEN that way.
pytestmark = pytest.mark.filterwarnings("ignore:SELFDESTRUCT opcode present:DeprecationWarning")

TARGET = Web3.to_checksum_address("0x" + "7b" * 20)
L2_ACCOUNTS = 3
WITHDRAWAL_TX_GAS = 300_000  # gas of the L2 initiateWithdrawal transaction

# Whole OPEN most of the time (Hypothesis otherwise favours tiny values), some dust.
amounts = st.one_of(st.integers(1, 6).map(lambda n: n * OPEN), st.integers(0, OPEN))


class PortalAccounting(RuleBasedStateMachine):
    """One example: a fresh L1 snapshot and a fresh L2 chain, then random steps."""

    l1: L1
    genesis_spec: GenesisSpec

    def __init__(self) -> None:
        super().__init__()
        self.snapshot = self.l1.rpc("evm_snapshot")
        self.tmp = tempfile.TemporaryDirectory(prefix="portal-invariants-")
        store = ChainStore(Path(self.tmp.name) / "chain")
        overlay = OverlayDB(store.state_db)
        store.write_genesis(build_genesis(self.genesis_spec, overlay), overlay, self.genesis_spec.l1_origin)
        self.store = store
        self.bridge = Bridge(self.l1, L2(store, self.genesis_spec))
        self.accounts = [new_l2_key(100 + i) for i in range(L2_ACCOUNTS)]
        self.genesis_account = Signer(dev_private_keys()[9])  # funded in the L2 genesis
        self.target_start = self.l1.balance(TARGET)
        self.deposited = 0
        self.paid = 0
        self.pending: list[ProvenInputs] = []  # proven, not finalized
        self.refused: list[ProvenInputs] = []  # finalization refused: more than locked
        self.funded: list[Signer] = []  # L2 accounts that received a deposit
        self.finalized: list[ProvenInputs] = []

    def teardown(self) -> None:
        self.store.close()
        self.tmp.cleanup()
        self.l1.rpc("evm_revert", self.snapshot)

    # ------------------------------------------------------------------ steps

    @rule(user=st.integers(0, L2_ACCOUNTS - 1), amount=amounts)
    def deposit(self, user: int, amount: int) -> None:
        account = self.accounts[user]
        receipt = self.bridge.deposit(self.l1.users[user], account.account.address, amount)
        assert receipt.status == 1
        self.deposited += amount
        if amount > WITHDRAWAL_TX_GAS * L2_GAS_PRICE and account not in self.funded:
            self.funded.append(account)

    @precondition(lambda self: self.funded)
    @rule(pick=st.integers(0, L2_ACCOUNTS - 1), percent=st.integers(1, 100))
    def withdraw(self, pick: int, percent: int) -> None:
        """Withdraw part of a deposit-funded L2 account's OPEN and prove it."""
        signer = self.funded[pick % len(self.funded)]
        spendable = self.bridge.l2.balance(signer.account.address) - WITHDRAWAL_TX_GAS * L2_GAS_PRICE
        if spendable < 0:
            return
        self._withdraw(signer, spendable * percent // 100)

    @rule(amount=amounts)
    def withdraw_unbacked(self, amount: int) -> None:
        """Withdraw genesis OPEN, for which this portal holds no backing."""
        self._withdraw(self.genesis_account, amount)

    def _withdraw(self, signer: Signer, value: int) -> None:
        inputs = self.bridge.withdraw(signer, TARGET, value)
        self.bridge.prove(inputs)
        self.pending.append(inputs)

    @precondition(lambda self: self.pending)
    @rule(pick=st.integers(0, 1_000))
    def finalize(self, pick: int) -> None:
        self._finalize(self.pending, pick)

    @precondition(lambda self: self.refused)
    @rule(pick=st.integers(0, 1_000))
    def finalize_refused_again(self, pick: int) -> None:
        """Retry a refused withdrawal: later deposits may have locked enough."""
        self._finalize(self.refused, pick)

    def _finalize(self, source: list[ProvenInputs], pick: int) -> None:
        inputs = source.pop(pick % len(source))
        self.l1.mine(FINALIZATION_PERIOD + 1)
        locked = self.l1.locked()
        value = inputs.withdrawal.value
        if value > locked:
            failure = self.l1.failure(
                self.l1.portal.functions.finalizeWithdrawalTransaction(inputs.withdrawal.as_tuple), self.l1.users[0]
            )
            assert failure == Failure("InsufficientLockedBalance", (locked, value))
            event("finalize refused: more than locked")
            self.refused.append(inputs)
            return
        self.bridge.finalize(inputs.withdrawal)
        self.finalized.append(inputs)
        self.paid += value
        event("finalize paid")

    @precondition(lambda self: self.finalized)
    @rule(pick=st.integers(0, 1_000))
    def finalize_again(self, pick: int) -> None:
        inputs = self.finalized[pick % len(self.finalized)]
        failure = self.l1.failure(
            self.l1.portal.functions.finalizeWithdrawalTransaction(inputs.withdrawal.as_tuple), self.l1.users[1]
        )
        assert failure == Failure("WithdrawalAlreadyFinalized", (inputs.withdrawal.hash,))
        event("second finalize refused")

    # ------------------------------------------------------------- invariants

    @invariant()
    def locked_is_deposited_minus_paid(self) -> None:
        locked = self.l1.locked()
        assert locked >= 0
        assert locked == self.deposited - self.paid
        assert self.l1.balance(self.l1.portal.address) == locked

    @invariant()
    def target_got_exactly_the_finalized_withdrawals(self) -> None:
        assert self.l1.balance(TARGET) - self.target_start == self.paid
        assert self.paid == sum(i.withdrawal.value for i in self.finalized)
        hashes = [i.withdrawal.hash for i in self.finalized]
        assert len(hashes) == len(set(hashes))
        finalized = self.l1.portal.functions.finalizedWithdrawals
        assert all(finalized(h).call() for h in hashes)
        assert not any(finalized(i.withdrawal.hash).call() for i in self.pending + self.refused)


def test_portal_accounting_random_operations_succeeds(deployed: L1, genesis_spec: GenesisSpec) -> None:
    machine: Any = PortalAccounting
    machine.l1 = deployed
    machine.genesis_spec = genesis_spec
    run_state_machine_as_test(
        PortalAccounting,
        settings=settings(
            max_examples=15,
            stateful_step_count=12,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
