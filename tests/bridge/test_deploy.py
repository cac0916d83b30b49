"""Deployment of the L1 contracts to a real JSON-RPC endpoint (anvil), the
deployment file, and the `deploy-l1` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from web3 import Web3

from bridge.deploy import DeployConfig, L1Deployment, deploy_l1, load_deployment, write_deployment
from contracts import load_artifact
from openledger_node.config import load_config
from openledger_node.exceptions import ConfigError
from openledger_node.execution.genesis import DEV_ACCOUNTS, dev_private_keys
from node import Node
from tests.conftest import GENESIS_PATH, REPO
from tests.conformance.endpoints import anvil

pytestmark = pytest.mark.skipif(
    not (REPO / "node_modules" / ".bin" / "anvil").exists(), reason="anvil not installed: run npm ci"
)


@pytest.fixture(scope="module")
def l1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with anvil(tmp_path_factory.mktemp("anvil")) as endpoint:
        yield endpoint.url


def contract(w3: Web3, name: str, address: str):  # type: ignore[no-untyped-def]
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=list(load_artifact(name).abi))


def test_deploy_l1_deploys_wired_contracts_succeeds(l1: str) -> None:
    w3 = Web3(Web3.HTTPProvider(l1))
    holder = "0x" + DEV_ACCOUNTS[1].hex()
    sequencer = "0x" + DEV_ACCOUNTS[2].hex()
    deployment = deploy_l1(w3, dev_private_keys()[0], DeployConfig(
        sequencer=sequencer, admin="0x" + DEV_ACCOUNTS[0].hex(), treasury="0x" + DEV_ACCOUNTS[3].hex(),
        token_holder=holder,
    ))
    for address in (deployment.open_token, deployment.rollup, deployment.portal):
        assert len(w3.eth.get_code(Web3.to_checksum_address(address))) > 0
    token = contract(w3, "OpenToken", deployment.open_token)
    assert token.functions.totalSupply().call() == 1_000_000_000 * 10**18
    assert token.functions.balanceOf(Web3.to_checksum_address(holder)).call() == 1_000_000_000 * 10**18
    assert token.functions.symbol().call() == "OPEN"
    rollup = contract(w3, "OpenLedgerRollup", deployment.rollup)
    assert rollup.functions.sequencer().call().lower() == sequencer
    portal = contract(w3, "OpenLedgerPortal", deployment.portal)
    assert portal.functions.rollup().call().lower() == deployment.rollup.lower()
    assert deployment.deployed_at_block <= w3.eth.block_number
    assert deployment.chain_id == w3.eth.chain_id


def test_deployment_file_roundtrip_succeeds(tmp_path: Path) -> None:
    deployment = L1Deployment(31337, "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20, 7, "0x" + "44" * 20)
    path = tmp_path / "deployments" / "l1.json"
    write_deployment(path, deployment)
    assert load_deployment(path) == deployment
    assert json.loads(path.read_text())["deployed_at_block"] == 7


@pytest.mark.parametrize(
    ("content", "message"),
    [("{", "not valid JSON"), ('{"chain_id": 1}', "missing"), (
        json.dumps({"chain_id": 1, "open_token": "0x12", "rollup": "0x" + "22" * 20, "portal": "0x" + "33" * 20,
                    "deployed_at_block": 0, "deployer": "0x" + "44" * 20}), "open_token is not an address")],
)
def test_load_deployment_bad_file_reverts(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "l1.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_deployment(path)
    with pytest.raises(ConfigError, match="not found"):
        load_deployment(tmp_path / "absent.json")


def test_node_reads_deployment_from_config_succeeds(tmp_path: Path) -> None:
    deployment = L1Deployment(31337, "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20, 7, "0x" + "44" * 20)
    write_deployment(tmp_path / "l1.json", deployment)
    config = load_config(None, environ={}, overrides={
        "chain": {"genesis": str(GENESIS_PATH)}, "storage": {"data_dir": str(tmp_path / "data")},
        "l1": {"deployment": str(tmp_path / "l1.json")},
    })
    node = Node.open(config)
    try:
        assert node.l1_deployment == deployment
    finally:
        node.stop()


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "node.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=180, env={**os.environ, **(env or {})})


def test_deploy_l1_command_writes_file_succeeds(l1: str, tmp_path: Path) -> None:
    out = tmp_path / "devnet-l1.json"
    result = cli("deploy-l1", "--l1-rpc", l1, "--out", str(out), "--dev")
    assert result.returncode == 0, result.stderr
    assert "OpenLedgerPortal" in result.stdout
    assert Web3.is_address(load_deployment(out).portal)


def test_deploy_l1_command_without_key_reverts(l1: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENLEDGER_DEPLOYER_KEY"}
    result = subprocess.run([sys.executable, "-m", "node.cli", "deploy-l1", "--l1-rpc", l1,
                             "--out", str(tmp_path / "x.json")], cwd=REPO, capture_output=True, text=True,
                            timeout=60, env=env)
    assert result.returncode == 2 and "OPENLEDGER_DEPLOYER_KEY" in result.stderr


def test_deploy_l1_command_unreachable_endpoint_reverts(tmp_path: Path) -> None:
    result = cli("deploy-l1", "--l1-rpc", "http://127.0.0.1:9", "--out", str(tmp_path / "x.json"), "--dev")
    assert result.returncode == 2 and "no Ethereum JSON-RPC endpoint answers" in result.stderr
