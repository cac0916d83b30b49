"""Supply conservation, the rollup's first invariant (DESIGN section 3), under a
seeded random run of deposits, L2 transfers, contract calls and withdrawals on
real processes (an L1, a sequencer pointed at it), ended by proving and
finalizing every withdrawal.

After every step: the OPEN on L2 (every account that can hold any in this run:
the dev accounts, the run's own accounts and targets, WOPEN, the fee vaults and
the message passer) has grown by exactly what was deposited minus what was
withdrawn (burned on L2), and the OPEN the portal holds on L1 is what was
deposited minus what was paid out; at the end every withdrawal is paid once.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from eth_account import Account
from eth_hash.auto import keccak

from bridge.flows import WithdrawalAlreadyFinalized
from bridge.txmgr import TxCandidate
from openledger_node.execution.genesis import DEV_ACCOUNTS
from openledger_node.primitives import (
    BASE_FEE_VAULT_ADDRESS,
    L2_TO_L1_MESSAGE_PASSER_ADDRESS,
    OPEN,
    SEQUENCER_FEE_VAULT_ADDRESS,
    WOPEN_ADDRESS,
    addr,
)
from tests.bridge.test_flows import USER, Rollup, rollup  # noqa: F401  (fixture)
from tests.rpc.helpers import wait_until

STEPS = 12
SEED = 7


class Ledger:
    """What the run has moved across the bridge, and the accounts it touched."""

    def __init__(self, run: Rollup) -> None:
        self.run = run
        self.accounts: set[bytes] = {bytes(a) for a in DEV_ACCOUNTS} | {
            bytes(BASE_FEE_VAULT_ADDRESS), bytes(SEQUENCER_FEE_VAULT_ADDRESS), bytes(WOPEN_ADDRESS),
            bytes(L2_TO_L1_MESSAGE_PASSER_ADDRESS), bytes(addr("0x" + "f1" * 20)),
        }
        self.deposited = 0
        self.withdrawn = 0
        self.paid = 0
        self.l2_start = self.l2_total()
        self.portal_start = self.portal()

    def l2_total(self) -> int:
        return sum(self.run.l2.balance(addr("0x" + a.hex())) for a in self.accounts)

    def portal(self) -> int:
        return self.run.open_balance(self.run.bridge.portal)

    def check(self, step: str) -> None:
        assert self.l2_total() - self.l2_start == self.deposited - self.withdrawn, step
        assert self.portal() - self.portal_start == self.deposited - self.paid, step


def wait_included(run: Rollup, tx_hash: bytes) -> None:
    wait_until(lambda: run.l2.receipt(tx_hash), 30, "an L2 transaction")


def test_supply_is_conserved_through_a_random_run(rollup: Rollup) -> None:  # noqa: F811
    run = rollup
    rng = random.Random(SEED)
    ledger = Ledger(run)
    l1_user = run.txmgr(run.l1.client, run.l1.keys[USER])
    users = [Account.create() for _ in range(3)]
    ledger.accounts |= {bytes(addr(u.address)) for u in users}
    l2_txmgrs = {u.address: run.txmgr(run.l2, u.key) for u in users}
    withdrawals: list[Any] = []
    try:
        for step in range(STEPS):
            user = users[rng.randrange(len(users))]
            balance = run.l2.balance(addr(user.address))
            kind = "deposit" if balance < 2 * OPEN else rng.choice(["deposit", "transfer", "wrap", "withdraw"])
            if kind == "deposit":
                amount = rng.randint(2, 9) * OPEN
                result = run.bridge.deposit(l1_user, addr(user.address), amount)
                wait_included(run, result.l2_transaction)
                ledger.deposited += amount
            elif kind == "transfer":
                other = users[rng.randrange(len(users))]
                receipt = l2_txmgrs[user.address].send(TxCandidate(addr(other.address), b"", OPEN // rng.randint(2, 9)))
                assert receipt.succeeded
            elif kind == "wrap":  # a contract call that moves OPEN into WOPEN
                receipt = l2_txmgrs[user.address].send(
                    TxCandidate(WOPEN_ADDRESS, keccak(b"deposit()")[:4], OPEN // 2))
                assert receipt.succeeded
            else:
                target = Account.create().address
                amount = OPEN // rng.randint(1, 4)
                withdrawals.append(run.bridge.withdraw(l2_txmgrs[user.address], addr(target), amount))
                ledger.withdrawn += amount
            ledger.check(f"step {step}: {kind}")
        assert withdrawals, "the seed drew no withdrawal"

        # Every withdrawal proven against a posted output, then finalized, once.
        run.post_output(max(w.l2_block for w in withdrawals))
        ledger.check("after the batch")
        ready = 0
        for initiated in withdrawals:
            ready = max(ready, run.bridge.prove(l1_user, initiated.hash).ready_at)
        run.advance_l1_time(ready + 1)
        for initiated in withdrawals:
            before = run.open_balance(initiated.withdrawal.target)
            assert run.bridge.finalize(l1_user, initiated.hash).call_succeeded
            paid = run.open_balance(initiated.withdrawal.target) - before
            assert paid == initiated.withdrawal.value
            ledger.paid += paid
            ledger.check(f"finalized 0x{bytes(initiated.hash).hex()}")
            with pytest.raises(WithdrawalAlreadyFinalized):
                run.bridge.finalize(l1_user, initiated.hash)
        assert ledger.paid == ledger.withdrawn
        ledger.check("the end")
    finally:
        l1_user.close()
        for txmgr in l2_txmgrs.values():
            txmgr.close()

