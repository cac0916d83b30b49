"""An L1 for the rollup's actor tests: a real Ethereum node, either the
project's own (`openledger-node l1`) or anvil, with the rollup's L1 contracts
deployed by the project's own deployment, driven block by block by the test
(`mine`, `evm_snapshot` / `evm_revert`), with users that deposit OPEN through
the portal. One suite runs on both backends."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from eth_account import Account

from bridge.bindings import OPEN_TOKEN, PORTAL
from bridge.deploy import DeployConfig, L1Deployment, RollupParams, deploy_l1, write_deployment
from bridge.l1 import L1Client, Receipt
from bridge.rollup import RollupClient
from bridge.txmgr import TxCandidate, TxManager, TxManagerConfig
from openledger_node.derivation.l1_traversal import origin_of
from openledger_node.execution.genesis import anchor_genesis, dev_private_keys
from openledger_node.execution.types import L1Origin
from openledger_node.primitives import OPEN, Address, addr
from tests.anvil import start_anvil, stop_anvil
from tests.conftest import GENESIS_PATH, REPO
from tests.processes import stop_process_group

L1_CHAIN_ID = 900
CHALLENGE_WINDOW = 3_600
FAST = TxManagerConfig(confirmations=1, receipt_poll_interval=0.02, resubmission_timeout=30, send_timeout=60)


BACKENDS = ("openledger-l1", "anvil")


def start_l1_node(tmp_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`openledger-node l1` (instant mode, chain 900) on a free loopback port."""
    log_path = tmp_path / "l1.log"
    argv = [sys.executable, "-m", "node.cli", "l1", "--data-dir", str(tmp_path / "l1"), "--rpc-port", "0"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        match = re.search(r"JSON-RPC: (http://127\.0\.0\.1:\d+)", log_path.read_text(errors="replace"))
        if match:
            return process, match.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    stop_process_group(process)
    raise RuntimeError(f"openledger-node l1 did not start:\n{log_path.read_text(errors='replace')[-3000:]}")


class AnvilL1:
    """An L1 node (`backend`: our own or anvil) with OpenToken,
    OpenLedgerRollup and OpenLedgerPortal deployed; the deployer (dev key 0) is
    the sequencer, bonded, and holds the OPEN supply."""

    def __init__(self, tmp_path: Path, backend: str = "anvil") -> None:
        self.backend = backend
        if backend == "anvil":
            self.process, self.url = start_anvil(tmp_path / "anvil.log", ["--chain-id", str(L1_CHAIN_ID)])
        else:
            self.process, self.url = start_l1_node(tmp_path)
        self.client = L1Client(self.url, chain_id=L1_CHAIN_ID)
        self.keys = dev_private_keys()
        deployer = Account.from_key(self.keys[0]).address
        self.deployment: L1Deployment = deploy_l1(
            self.client, self.keys[0],
            DeployConfig(sequencer=deployer, admin=deployer, treasury=deployer, token_holder=deployer,
                         rollup=RollupParams(challengeWindow=CHALLENGE_WINDOW)),
            FAST,
        )
        self.deployment_path = tmp_path / "deployment.json"
        write_deployment(self.deployment_path, self.deployment)
        self.sequencer_txmgr = TxManager(self.client, self.keys[0], FAST)
        self.rollup = RollupClient(
            self.client, self.sequencer_txmgr, addr(self.deployment.rollup), addr(self.deployment.open_token)
        )
        bond, minimum = self.rollup.sequencer_bond(addr(deployer))
        self.rollup.deposit_bond(minimum - bond)
        self.genesis_block = self.block(self.deployment.deployed_at_block)

    def close(self) -> None:
        self.sequencer_txmgr.close()
        stop_anvil(self.process) if self.backend == "anvil" else stop_process_group(self.process)

    # --- chain ---------------------------------------------------------------------

    def rpc(self, method: str, *params: Any) -> Any:
        return self.client.request(method, list(params))

    def block(self, at: int | str = "latest") -> L1Origin:
        block = self.client.block(at)  # type: ignore[arg-type]
        assert block is not None, at
        return origin_of(block)

    @property
    def head(self) -> L1Origin:
        return self.block("latest")

    def mine(self, seconds: int = 12) -> L1Origin:
        self.rpc("evm_mine", self.head.timestamp + seconds)
        return self.head

    def reorg_to(self, snapshot: str, new_blocks: int = 3) -> None:
        """Reorganise L1: back to `snapshot` (taken with evm_snapshot), then a
        longer chain of other blocks. What was mined after the snapshot is gone."""
        assert self.rpc("evm_revert", snapshot) is True
        for _ in range(new_blocks):
            self.mine(seconds=13)

    def write_l2_genesis(self, path: Path) -> Path:
        """The devnet genesis anchored on the deployment's L1 block."""
        return anchor_genesis(GENESIS_PATH, self.genesis_block, path)

    # --- users -----------------------------------------------------------------------

    def fund(self, account: str, amount: int) -> None:
        """Send OPEN from the supply holder to `account`."""
        self.sequencer_txmgr.send(TxCandidate(
            addr(self.deployment.open_token), OPEN_TOKEN.encode("transfer", addr(account), amount)))

    def deposit(self, key: bytes, to: Address, amount: int, gas_limit: int = 100_000, data: bytes = b"") -> Receipt:
        """Approve and deposit `amount` OPEN for `to` on L2 (two L1 transactions)."""
        txmgr = TxManager(self.client, key, FAST)
        try:
            txmgr.send(TxCandidate(addr(self.deployment.open_token),
                                   OPEN_TOKEN.encode("approve", addr(self.deployment.portal), amount)))
            return txmgr.send(TxCandidate(addr(self.deployment.portal),
                                          PORTAL.encode("depositOPEN", to, amount, gas_limit, data)))
        finally:
            txmgr.close()


__all__ = ["OPEN", "AnvilL1"]
