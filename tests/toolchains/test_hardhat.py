"""A Hardhat 3 project (hardhat/: Counter with events and custom errors, tests
with the viem toolbox and hardhat-ethers, an Ignition module) against anvil and
our node, as a developer runs it: `hardhat test nodejs --network <name>` and
`hardhat ignition deploy`. Hardhat compiles offline with the npm solc that
package.json pins (the `path` in hardhat.config.ts)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conformance.endpoints import BIN, REPO, Endpoint
from tests.toolchains.conftest import requires_node_modules, tool_env

PROJECT = Path(__file__).with_name("hardhat")
# The node:test titles of hardhat/test/*.ts; each must pass on both nodes.
TESTS = [
    "deploys, increments and reads the event",
    "decodes a custom error",
    "deploys with a constructor argument and reads it back",
    "emits Increment with its arguments",
    "reverts with a custom error",
    "reverts with a custom error and its arguments",
    "reverts with a reason string",
    "moves balances",
    "deploys an Ignition module",
]

pytestmark = [requires_node_modules, pytest.mark.timeout(400)]


def network_name(chain: Endpoint) -> str:
    return "anvil" if chain.name == "anvil" else "openledger"


@pytest.fixture(scope="module")
def project(chain: Endpoint, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the Hardhat project (its artifacts, cache and Ignition journal stay
    out of the source tree) that resolves packages from the repository's node_modules."""
    root = tmp_path_factory.mktemp("hardhat") / "project"
    shutil.copytree(PROJECT, root, ignore=shutil.ignore_patterns("artifacts", "cache", "deployments", "types"))
    (root / "node_modules").symlink_to(REPO / "node_modules", target_is_directory=True)
    return root


def hardhat(project: Path, chain: Endpoint, *args: str, answer: str = "",
            timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = tool_env(OPENLEDGER_RPC_URL=chain.url, ANVIL_RPC_URL=chain.url)
    return subprocess.run([str(BIN / "hardhat"), *args, "--network", network_name(chain)], cwd=project, check=False,
                          input=answer, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def test_output(project: Path, chain: Endpoint) -> str:
    result = hardhat(project, chain, "test", "nodejs")
    return result.stdout + result.stderr


def test_hardhat_compiles_offline_with_the_npm_solc(project: Path, chain: Endpoint) -> None:
    result = hardhat(project, chain, "compile", "--force")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Compiled 1 Solidity file with solc 0.8.30" in result.stdout
    assert "Downloading" not in result.stdout + result.stderr
    artifact = json.loads((project / "artifacts" / "contracts" / "Counter.sol" / "Counter.json").read_text())
    assert {item.get("name") for item in artifact["abi"]} >= {"Increment", "ZeroAmount", "NotOwner", "incBy"}


def test_hardhat_ran_every_test(test_output: str) -> None:
    # The reporter lists each test under its suite, four spaces in: "✔ title" or "1) title".
    ran = re.findall(r"^ {4}(?:✔|\d+\)) (.+?)(?: \(\d+ms\))?$", test_output, re.MULTILINE)
    assert sorted(set(ran)) == sorted(TESTS), test_output[-4000:]


@pytest.mark.parametrize("title", TESTS)
def test_hardhat(test_output: str, title: str) -> None:
    passed = re.search(rf"^\s+✔ {re.escape(title)}(?: \(\d+ms\))?$", test_output, re.MULTILINE)
    if passed is None:
        failure = re.search(rf"^\s+\d+\) .*\n\s+{re.escape(title)}:\n(?:.*\n){{0,6}}", test_output, re.MULTILINE)
        pytest.fail(f"{title}: " + (failure.group(0) if failure else test_output[-3000:]))


def test_hardhat_ignition_deploy_cli(project: Path, chain: Endpoint) -> None:
    result = hardhat(project, chain, "ignition", "deploy", "ignition/modules/Counter.ts",
                     "--deployment-id", "cli-deploy", answer="y\n")  # "Confirm deploy to network ...?"
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    deployed = json.loads((project / "ignition" / "deployments" / "cli-deploy" / "deployed_addresses.json")
                          .read_text())
    counter = deployed["CounterModule#Counter"]
    x = chain.rpc.call("eth_call", {"to": counter, "data": "0x0c55699c"}, "latest")  # x()
    assert int(x, 16) == 50  # the module's default start, 42, then incBy(8)
