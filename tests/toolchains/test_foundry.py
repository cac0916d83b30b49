"""Foundry 1.x against anvil and our node: `forge create --broadcast`, `forge
script --broadcast` deploying with CREATE2 through the deterministic deployment
proxy, and cast's `send --unlocked`, `run` and `rpc eth_feeHistory`.

No registry ships a native solc, so forge compiles offline with the npm solc
through foundry/solc, which answers solc's command line with solcjs."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from tests.conformance.endpoints import (
    CHAIN_ID,
    DEV_KEYS,
    REPO,
    Endpoint,
    foundry_binary,
)
from tests.toolchains.conftest import HERE, requires_node_modules, tool_env

CREATE2_PROXY = "0x4e59b44847b379578588920cA78FbF26c0B4956C"
SALT = keccak(text="openledger toolchain suite")
FORGE_KEY = DEV_KEYS[5]
UNLOCKED = Account.from_key(DEV_KEYS[0]).address
X_SELECTOR = "0x" + keccak(text="x()")[:4].hex()

pytestmark = [requires_node_modules, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Foundry project and the Hardhat contracts it builds, copied out of the
    source tree (forge writes out/, cache/ and broadcast/ beside foundry.toml)."""
    root = tmp_path_factory.mktemp("foundry")
    shutil.copytree(HERE / "foundry", root / "foundry", ignore=shutil.ignore_patterns("out", "cache", "broadcast"))
    shutil.copytree(HERE / "hardhat" / "contracts", root / "hardhat" / "contracts")
    (root / "node_modules").symlink_to(REPO / "node_modules", target_is_directory=True)  # for foundry/solc
    return root / "foundry"


def foundry(tool: str, project: Path, chain: Endpoint, *args: str, timeout: float = 180) -> str:
    result = subprocess.run([str(foundry_binary(tool)), *args], cwd=project, check=False,
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
                            env=tool_env(DEPLOYER_KEY=FORGE_KEY))
    assert result.returncode == 0, (f"{tool} {' '.join(args)[:300]} against {chain.name} failed:\n"
                                    f"{result.stderr[:1500]}\n...\n{result.stderr[-1000:]}\n{result.stdout[-1500:]}")
    return result.stdout.strip()


def read_x(chain: Endpoint, address: str) -> int:
    return int(chain.rpc.call("eth_call", {"to": address, "data": X_SELECTOR}, "latest"), 16)


@pytest.fixture(scope="module")
def created(project: Path, chain: Endpoint) -> dict[str, Any]:
    out = foundry("forge", project, chain, "create", "--rpc-url", chain.url, "--private-key", FORGE_KEY,
                  "--broadcast", "--json", "../hardhat/contracts/Counter.sol:Counter", "--constructor-args", "3")
    result: dict[str, Any] = json.loads(out[out.index("{"):])
    return result


def test_forge_create_broadcast(chain: Endpoint, created: dict[str, Any]) -> None:
    assert created["deployer"] == Account.from_key(FORGE_KEY).address
    receipt = chain.rpc.call("eth_getTransactionReceipt", created["transactionHash"])
    assert receipt["status"] == "0x1"
    assert to_checksum_address(receipt["contractAddress"]) == created["deployedTo"]
    assert read_x(chain, created["deployedTo"]) == 3


def test_forge_script_broadcast_create2(project: Path, chain: Endpoint) -> None:
    foundry("forge", project, chain, "script", "script/DeployCounter.s.sol", "--rpc-url", chain.url, "--broadcast",
            "--slow")
    run = json.loads((project / "broadcast" / "DeployCounter.s.sol" / str(CHAIN_ID) / "run-latest.json").read_text())
    create, call = run["transactions"]
    assert create["transactionType"] == "CREATE2"
    assert to_checksum_address(create["transaction"]["to"]) == CREATE2_PROXY
    # The proxy's calldata is the salt and the init code; the address follows from them.
    calldata = bytes.fromhex(create["transaction"]["input"][2:])
    assert calldata[:32] == SALT
    proxy = bytes.fromhex(CREATE2_PROXY[2:])
    expected = to_checksum_address(keccak(b"\xff" + proxy + SALT + keccak(calldata[32:]))[12:])
    assert to_checksum_address(create["contractAddress"]) == expected
    assert [r["status"] for r in run["receipts"]] == ["0x1", "0x1"]
    assert call["function"] == "incBy(uint256)"
    assert read_x(chain, expected) == 42
    assert chain.rpc.call("eth_getTransactionReceipt", run["receipts"][0]["transactionHash"])["to"].lower() == \
        CREATE2_PROXY.lower()


def test_cast_send_unlocked(project: Path, chain: Endpoint) -> None:
    to = "0x000000000000000000000000000000000000dEaD"
    before = int(chain.rpc.call("eth_getBalance", to, "latest"), 16)
    receipt = json.loads(foundry("cast", project, chain, "send", "--rpc-url", chain.url, "--unlocked", "--from",
                                 UNLOCKED, "--json", to, "--value", "12345"))
    assert receipt["status"] == "0x1" and receipt["from"].lower() == UNLOCKED.lower()
    assert int(chain.rpc.call("eth_getBalance", to, "latest"), 16) == before + 12345


def test_cast_run_replays_a_transaction(project: Path, chain: Endpoint, created: dict[str, Any]) -> None:
    receipt = json.loads(foundry("cast", project, chain, "send", "--rpc-url", chain.url, "--private-key", FORGE_KEY,
                                 "--json", created["deployedTo"], "incBy(uint256)", "9"))
    assert receipt["status"] == "0x1"
    # Names come from the project's own artifacts, as a developer replays a call
    # of their contract; without them cast asks a signature service, which a
    # machine with no internet cannot reach (its trace then shows the selector).
    out = foundry("cast", project, chain, "run", "--rpc-url", chain.url, "--with-local-artifacts",
                  receipt["transactionHash"])
    assert "Transaction successfully executed" in out, out
    assert "incBy(9)" in out, out


def test_cast_rpc_fee_history(project: Path, chain: Endpoint) -> None:
    sender = Account.from_key(DEV_KEYS[6])
    while int(chain.rpc.call("eth_blockNumber"), 16) < 5:  # a block per transaction: at least 4 to look back on
        nonce = int(chain.rpc.call("eth_getTransactionCount", sender.address, "pending"), 16)
        signed = sender.sign_transaction({"to": sender.address, "value": 1, "gas": 21_000, "nonce": nonce,
                                          "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9,
                                          "chainId": CHAIN_ID})
        chain.rpc.wait_for_receipt(chain.rpc.call("eth_sendRawTransaction", "0x" + signed.raw_transaction.hex()))
    out = json.loads(foundry("cast", project, chain, "rpc", "--rpc-url", chain.url, "eth_feeHistory", "4", "latest",
                             "[]"))
    head = int(chain.rpc.call("eth_blockNumber"), 16)
    assert int(out["oldestBlock"], 16) == head - 3
    assert len(out["baseFeePerGas"]) == 5 and len(out["gasUsedRatio"]) == 4
    assert all(0 <= ratio <= 1 for ratio in out["gasUsedRatio"])
    assert out.get("reward", []) == []  # no percentiles asked: geth leaves `reward` out, anvil sends []
    latest = chain.rpc.call("eth_getBlockByNumber", "latest", False)
    assert int(out["baseFeePerGas"][-2], 16) == int(latest["baseFeePerGas"], 16)
