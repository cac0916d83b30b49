"""The rollup as an operator runs it, with real processes: an L1 node, the L1
contracts deployed by `openledger-node deploy-l1`, and `openledger-node
sequencer` pointed at them by configuration. A deposit made on L1 appears on
L2; batches reach L1 and move the `safe` head; a stop posts what is left.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account

from bridge.deploy import load_deployment
from bridge.l1 import L1Client
from bridge.rollup import RollupClient
from bridge.txmgr import TxManager
from openledger_node.execution.genesis import dev_private_keys
from openledger_node.primitives import OPEN, addr
from tests.anvil import start_anvil, stop_anvil
from tests.e2e.actions.l1 import FAST
from tests.rpc.helpers import REPO, NodeProcess, start_node, wait_until

L1_CHAIN_ID = 900


@pytest.fixture()
def l1_url(tmp_path: Path) -> Iterator[str]:
    process, url = start_anvil(tmp_path / "anvil.log", ["--chain-id", str(L1_CHAIN_ID)])
    yield url
    stop_anvil(process)


def deploy(l1_url: str, out: Path) -> tuple[Path, Path]:
    deployment, genesis = out / "deployment.json", out / "genesis.json"
    result = subprocess.run(
        [sys.executable, "-m", "node.cli", "deploy-l1", "--l1-rpc", l1_url, "--dev", "--bond",
         "--out", str(deployment), "--genesis-out", str(genesis)],
        cwd=REPO, capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr
    assert "bonded with" in result.stdout and "wrote the L2 genesis" in result.stdout
    return deployment, genesis


def rollup_node(tmp_path: Path, l1_url: str, deployment: Path, genesis: Path) -> NodeProcess:
    env = {
        "OPENLEDGER__L1__RPC_URL": l1_url,
        "OPENLEDGER__L1__DEPLOYMENT": str(deployment),
        "OPENLEDGER__L1__POLL_INTERVAL": "0.2",
        "OPENLEDGER__CHAIN__GENESIS": str(genesis),
        "OPENLEDGER__BATCHER__MAX_AGE": "2",
        "OPENLEDGER__BATCHER__CONFIRMATIONS": "1",
    }
    return start_node(tmp_path / "l2", block_time=0.25, env=env)


def test_deposit_batches_and_safe_head_with_real_processes(tmp_path: Path, l1_url: str) -> None:
    deployment_path, genesis = deploy(l1_url, tmp_path)
    deployment = load_deployment(deployment_path)
    node = rollup_node(tmp_path, l1_url, deployment_path, genesis)
    try:
        # A user deposits 12 OPEN on L1 for a fresh L2 account.
        client = L1Client(l1_url)
        user_key = dev_private_keys()[0]
        to = Account.create().address
        txmgr = TxManager(client, user_key, FAST)
        try:
            from bridge.bindings import OPEN_TOKEN, PORTAL
            from bridge.txmgr import TxCandidate

            txmgr.send(TxCandidate(addr(deployment.open_token),
                                   OPEN_TOKEN.encode("approve", addr(deployment.portal), 12 * OPEN)))
            txmgr.send(TxCandidate(addr(deployment.portal),
                                   PORTAL.encode("depositOPEN", addr(to), 12 * OPEN, 100_000, b"")))
        finally:
            txmgr.close()
        wait_until(lambda: int(node.rpc("eth_getBalance", to, "latest"), 16) == 12 * OPEN, 60, "the deposit on L2")
        # Batches reach L1 and the safe head follows them.
        status = wait_until(
            lambda: (s := node.rpc("openledger_syncStatus"))["safe_l2"]["number"] > 0 and s, 60, "a safe head"
        )
        safe = node.rpc("eth_getBlockByNumber", "safe", False)
        assert int(safe["number"], 16) == status["safe_l2"]["number"]
        unsafe_origin = status["unsafe_l2"]["l1origin"]["number"]
        assert unsafe_origin >= deployment.deployed_at_block
        deposit_block = wait_until(lambda: _block_with_balance(node, to), 10, "the deposit's block")
        assert deposit_block >= 1
    finally:
        code = node.stop()
    assert code == 0, node.log_text()[-3000:]
    # A clean stop posted what was left: L1's batches cover the whole chain, contiguously.
    rollup = RollupClient(L1Client(l1_url), None, addr(deployment.rollup), addr(deployment.open_token))  # type: ignore[arg-type]
    index, last = rollup.last_posted_block()
    ranges = [rollup.batch(i) for i in range(index)]
    assert [b.first_block for b in ranges] == [1] + [b.last_block + 1 for b in ranges[:-1]]
    sealed = [int(n) for n in re.findall(r"sealed block number=(\d+)", node.log_text())]
    assert last == max(sealed)
    assert "posted batch index=" in node.log_text()


def _block_with_balance(node: NodeProcess, account: str) -> int | None:
    head = node.block_number()
    low, high = 0, head
    if int(node.rpc("eth_getBalance", account, hex(high)), 16) == 0:
        return None
    while low < high:
        middle = (low + high) // 2
        if int(node.rpc("eth_getBalance", account, hex(middle)), 16) > 0:
            high = middle
        else:
            low = middle + 1
    return low
