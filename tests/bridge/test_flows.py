"""Deposits and withdrawals end to end (`bridge.flows` and `openledger-node
bridge`), with real processes: an L1 node (the project's own and anvil) with the
rollup's contracts, and `openledger-node sequencer` pointed at it, whose batcher
posts the outputs the withdrawals are proven against.

The batcher here posts only when a batch is half of `max_batch_bytes` (its age
limit is longer than the test), so a test decides when an output reaches L1: it
checks a withdrawal waiting for its output, then sends one L2 transaction with
incompressible calldata that fills the batch (`post_output`). The deployment's
rollup has a 3,600 s challenge window and the portal a 7-day proof maturity
delay; the tests move L1's clock past them with `evm_mine` at a later timestamp.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_account import Account

from bridge.bindings import OPEN_TOKEN, PORTAL
from bridge.flows import (
    Bridge,
    InitiatedWithdrawal,
    InsufficientAllowance,
    InsufficientOpen,
    OutputNotPosted,
    Stage,
    UnknownWithdrawal,
    WithdrawalAlreadyFinalized,
    WithdrawalNotProven,
    WithdrawalNotReady,
)
from bridge.l1 import L1Client
from bridge.txmgr import TxCandidate, TxManager
from openledger_node.primitives import OPEN, Address, addr
from tests.e2e.actions.l1 import BACKENDS, FAST, AnvilL1
from tests.rpc.helpers import REPO, NodeProcess, node_env, start_node, wait_until

# py-evm warns on every SELFDESTRUCT; L2ToL1MessagePasser burns withdrawn OPEN that way.
pytestmark = pytest.mark.filterwarnings("ignore:SELFDESTRUCT opcode present:DeprecationWarning")

USER = 1  # dev key: OPEN on L1 (funded by the deployer), deposits and proves
FILLER = 2  # dev key: sends the L2 transaction that fills a batch
MAX_BATCH_BYTES = 20_000  # a batch is due at half of it
FILL_BYTES = 12_000


@dataclass
class Rollup:
    backend: str
    l1: AnvilL1
    node: NodeProcess
    bridge: Bridge

    @property
    def l2(self) -> L1Client:
        return self.bridge.l2

    def txmgr(self, client: L1Client, key: bytes) -> TxManager:
        return TxManager(client, key, FAST)

    def open_balance(self, account: Address) -> int:
        return int(OPEN_TOKEN.decode_result(
            "balanceOf", self.l1.client.call(self.bridge.token, OPEN_TOKEN.encode("balanceOf", account))))

    def post_output(self, l2_block: int) -> None:
        """Make the batcher post a batch now (one L2 transaction fills it), and wait
        until an output on L1 covers `l2_block`."""
        txmgr = self.txmgr(self.l2, self.l1.keys[FILLER])
        try:
            txmgr.send(TxCandidate(addr("0x" + "f1" * 20), os.urandom(FILL_BYTES), gas_limit=1_000_000))
        finally:
            txmgr.close()
        wait_until(lambda: self.bridge.output_covering(l2_block), 30, f"an output covering L2 block {l2_block}")

    def advance_l1_time(self, to: int) -> None:
        self.l1.rpc("evm_mine", to)


@pytest.fixture(scope="module", params=BACKENDS)
def rollup(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rollup]:
    tmp = tmp_path_factory.mktemp(request.param)
    l1 = AnvilL1(tmp, request.param)
    node = None
    try:
        l1.fund(Account.from_key(l1.keys[USER]).address, 1_000 * OPEN)
        genesis = l1.write_l2_genesis(tmp / "genesis.json")
        node = start_node(tmp / "l2", block_time=0.25, env={
            "OPENLEDGER__L1__RPC_URL": l1.url,
            "OPENLEDGER__L1__DEPLOYMENT": str(l1.deployment_path),
            "OPENLEDGER__L1__POLL_INTERVAL": "0.2",
            "OPENLEDGER__CHAIN__GENESIS": str(genesis),
            "OPENLEDGER__BATCHER__MAX_AGE": "3600",
            "OPENLEDGER__BATCHER__MAX_BATCH_BYTES": str(MAX_BATCH_BYTES),
            "OPENLEDGER__BATCHER__CONFIRMATIONS": "1",
        })
        yield Rollup(request.param, l1, node, Bridge.of(l1.client, L1Client(node.http), l1.deployment))
    finally:
        if node is not None:
            code = node.stop()
            assert code == 0, node.log_text()[-3000:]
        l1.close()


def test_withdrawal_end_to_end(rollup: Rollup) -> None:
    bridge, l1 = rollup.bridge, rollup.l1
    user = l1.keys[USER]
    alice = Account.create()  # a fresh L2 account: its OPEN comes through the portal
    target = addr(Account.create().address)
    l1_txmgr = rollup.txmgr(l1.client, user)
    l2_txmgr = rollup.txmgr(rollup.l2, alice.key)
    try:
        # Deposit on L1; L2 derives the deposit transaction whose hash the deposit returns.
        deposit = bridge.deposit(l1_txmgr, addr(alice.address), 10 * OPEN)
        assert deposit.approved and deposit.receipt.succeeded
        receipt = wait_until(lambda: rollup.l2.receipt(deposit.l2_transaction), 30, "the deposit on L2")
        assert receipt is not None and receipt.succeeded
        assert rollup.l2.balance(addr(alice.address)) == 10 * OPEN

        # Withdraw on L2: 4 OPEN burned there, to be paid to `target` on L1.
        initiated = bridge.withdraw(l2_txmgr, target, 4 * OPEN)
        withdrawal = initiated.withdrawal
        assert (withdrawal.sender, withdrawal.target, withdrawal.value) == (addr(alice.address), target, 4 * OPEN)
        assert rollup.l2.balance(addr(alice.address)) < 6 * OPEN
        status = bridge.status(initiated.hash)
        assert status.stage is Stage.WAITING_FOR_OUTPUT
        assert f"no output on L1 covers L2 block {initiated.l2_block} yet (latest: none posted)" in status.detail
        # The L2 transaction's hash names the same withdrawal.
        assert bridge.find_withdrawal(initiated.l2_transaction) == initiated
        with pytest.raises(OutputNotPosted, match=f"no output on L1 covers L2 block {initiated.l2_block} yet"):
            bridge.prove(l1_txmgr, initiated.hash)
        with pytest.raises(WithdrawalNotProven, match="is not proven on L1"):
            bridge.finalize(l1_txmgr, initiated.hash)

        # The batcher posts; the withdrawal is proven against the first output covering it.
        rollup.post_output(initiated.l2_block)
        assert bridge.status(initiated.hash).stage is Stage.READY_TO_PROVE
        proved = bridge.prove(l1_txmgr, initiated.hash)
        assert proved.output.l2_block >= initiated.l2_block
        assert PORTAL.decode_logs(proved.receipt.logs, "WithdrawalProven")[0].args["withdrawalHash"] == initiated.hash
        status = bridge.status(initiated.hash)
        assert status.stage is Stage.PROVEN and status.ready_at == proved.ready_at
        assert "waiting for the output to be final" in status.detail and "the proof to mature" in status.detail
        with pytest.raises(WithdrawalNotReady, match="cannot be finalized yet"):
            bridge.finalize(l1_txmgr, initiated.hash)

        # Past the challenge window and the proof maturity delay.
        rollup.advance_l1_time(proved.ready_at + 1)
        assert bridge.status(initiated.hash).stage is Stage.READY_TO_FINALIZE
        finalized = bridge.finalize(l1_txmgr, initiated.hash)
        assert finalized.call_succeeded
        assert rollup.open_balance(target) == 4 * OPEN
        assert bridge.status(initiated.hash).stage is Stage.FINALIZED

        # Each withdrawal is paid once.
        with pytest.raises(WithdrawalAlreadyFinalized, match="already finalized"):
            bridge.finalize(l1_txmgr, initiated.hash)
        with pytest.raises(WithdrawalAlreadyFinalized):
            bridge.prove(l1_txmgr, initiated.hash)
        assert rollup.open_balance(target) == 4 * OPEN
    finally:
        l1_txmgr.close()
        l2_txmgr.close()


def test_unknown_withdrawal_is_refused(rollup: Rollup) -> None:
    unknown = b"\x5e" * 32
    txmgr = rollup.txmgr(rollup.l1.client, rollup.l1.keys[USER])
    try:
        for step in (rollup.bridge.status, lambda h: rollup.bridge.prove(txmgr, h),
                     lambda h: rollup.bridge.finalize(txmgr, h)):
            with pytest.raises(UnknownWithdrawal, match="unknown withdrawal 0x5e5e.*no MessagePassed event"):
                step(unknown)
    finally:
        txmgr.close()


def test_deposit_without_open_or_allowance_is_refused(rollup: Rollup) -> None:
    bridge, l1 = rollup.bridge, rollup.l1
    to = addr(Account.create().address)
    poor = rollup.txmgr(l1.client, l1.keys[5])  # ETH on L1, no OPEN
    user = rollup.txmgr(l1.client, l1.keys[USER])
    try:
        with pytest.raises(InsufficientOpen, match=r"holds 0 OPEN on L1, the deposit needs 1 OPEN"):
            bridge.deposit(poor, to, OPEN)
        with pytest.raises(InsufficientOpen, match=r"the deposit needs 1000000 OPEN"):
            bridge.deposit(user, to, 1_000_000 * OPEN)
        # The user's earlier approval was used up by its deposit.
        with pytest.raises(InsufficientAllowance, match=r"allows the portal 0x[0-9a-f]{40} 0 OPEN, the deposit needs 2 OPEN"):
            bridge.deposit(user, to, 2 * OPEN, approve=False)
    finally:
        poor.close()
        user.close()


# --- the command line ----------------------------------------------------------------


def cli(rollup: Rollup, *args: str, dev: int | None = USER) -> subprocess.CompletedProcess[str]:
    command, *rest = args
    endpoints = ["--l1-rpc", rollup.l1.url, "--l2-rpc", rollup.node.http,
                 "--deployment", str(rollup.l1.deployment_path)]
    signer = ["--dev", str(dev)] if dev is not None else []
    return subprocess.run(
        [sys.executable, "-m", "node.cli", "bridge", command, *endpoints, *signer, *rest],
        check=False, cwd=REPO, env={k: v for k, v in node_env().items() if k != "OPENLEDGER_BRIDGE_KEY"},
        capture_output=True, text=True, timeout=120,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_withdrawal_through_the_cli(rollup: Rollup) -> None:
    if rollup.backend != BACKENDS[0]:
        pytest.skip("the command line runs once, on the project's own L1")
    l1 = rollup.l1
    target = Account.create().address
    locked_before = int(PORTAL.decode_result("lockedBalance", l1.client.call(
        rollup.bridge.portal, PORTAL.encode("lockedBalance"))))

    out = ok(cli(rollup, "deposit", "--to", Account.create().address, "--amount", "3"))
    assert re.search(r"deposited 3 OPEN from 0x[0-9a-f]{40} for 0x[0-9a-f]{40} on L2 in L1 transaction", out)
    assert int(PORTAL.decode_result("lockedBalance", l1.client.call(
        rollup.bridge.portal, PORTAL.encode("lockedBalance")))) == locked_before + 3 * OPEN

    out = ok(cli(rollup, "withdraw", "--to", target, "--amount", "2.5"))
    match = re.search(r"withdrawal (0x[0-9a-f]{64}) initiated on L2 in block (\d+)", out)
    assert match, out
    withdrawal, l2_block = match.group(1), int(match.group(2))
    assert ok(cli(rollup, "status", withdrawal, dev=None)).splitlines()[0] == f"withdrawal {withdrawal}: waiting-for-output"

    failed = cli(rollup, "prove", withdrawal)
    assert failed.returncode == 2
    assert f"openledger-node bridge: error: withdrawal {withdrawal}: no output on L1 covers L2 block {l2_block}" \
        in failed.stderr

    rollup.post_output(l2_block)
    out = ok(cli(rollup, "prove", withdrawal))
    assert f"proved withdrawal {withdrawal} against output" in out
    status = ok(cli(rollup, "status", withdrawal, dev=None))
    assert f"withdrawal {withdrawal}: proven\n" in status and "finalizable from" in status

    initiated = rollup.bridge.find_withdrawal(bytes.fromhex(withdrawal[2:]))
    assert isinstance(initiated, InitiatedWithdrawal)
    status_of = rollup.bridge.status(initiated.hash)
    assert status_of.ready_at is not None
    rollup.advance_l1_time(status_of.ready_at + 1)
    out = ok(cli(rollup, "finalize", withdrawal))
    assert f"finalized withdrawal {withdrawal}: 2.5 OPEN paid to {target.lower()}" in out
    assert rollup.open_balance(addr(target)) == 5 * OPEN // 2
    assert ok(cli(rollup, "status", withdrawal, dev=None)).splitlines()[0] == f"withdrawal {withdrawal}: finalized"

    failed = cli(rollup, "finalize", withdrawal)
    assert failed.returncode == 2 and "is already finalized" in failed.stderr
    unknown = cli(rollup, "status", "0x" + "77" * 32, dev=None)
    assert unknown.returncode == 2 and "unknown withdrawal 0x7777" in unknown.stderr
    # No key, no signing.
    keyless = cli(rollup, "finalize", withdrawal, dev=None)
    assert keyless.returncode == 2 and "set OPENLEDGER_BRIDGE_KEY" in keyless.stderr


def test_amounts_are_read_and_written_in_open() -> None:
    from bridge.flows import BridgeError, format_delay, format_open, parse_open

    assert parse_open("2.5") == 5 * OPEN // 2
    assert parse_open("0.000000000000000001") == 1
    assert parse_open("123456789012.123456789012345678") == 123456789012123456789012345678
    assert format_open(5 * OPEN // 2) == "2.5 OPEN" and format_open(0) == "0 OPEN" and format_open(1) == "0.000000000000000001 OPEN"
    for bad, why in (("1e-19", "more than 18 decimals"), ("-1", "negative"), ("ten", "not a number"), ("inf", "not a number"),
                     ("nan", "not a number")):
        with pytest.raises(BridgeError, match=why):
            parse_open(bad)
    assert [format_delay(s) for s in (5, 65, 3_700, 7 * 86_400 + 3_600)] == ["5s", "1m 5s", "1h 1m", "7d 1h"]
