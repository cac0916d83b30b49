"""The README's "Connecting wallets and tools" snippets, run as written against
anvil and our node: the Hardhat 3 config, the Foundry config and commands, the
viem chain, the ethers provider and the web3.py setup. Only the RPC URL is
changed, to the node under test, so a snippet that stops working fails here."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from tests.conformance.endpoints import (
    BIN,
    CHAIN_ID,
    DEV_KEYS,
    REPO,
    Endpoint,
    foundry_binary,
)
from tests.toolchains.conftest import HERE, NODE, requires_node_modules, tool_env

README_URL = "http://127.0.0.1:8545"
README_WS_URL = "ws://127.0.0.1:8545"
DEV0 = Account.from_key(DEV_KEYS[0]).address

pytestmark = [requires_node_modules, pytest.mark.timeout(300)]


def tools_section() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index("## Connecting wallets and tools")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def snippet(language: str, containing: str) -> str:
    """The one code block in the tools section of that language holding `containing`."""
    fenced = re.findall(r"^```(\w+)\n(.*?)^```$", tools_section(), re.DOTALL | re.MULTILINE)
    blocks: list[str] = [body for lang, body in fenced if lang == language and containing in body]
    assert len(blocks) == 1, f"expected one ```{language} block with {containing!r} in the README, got {len(blocks)}"
    return blocks[0]


def localise(code: str, chain: Endpoint) -> str:
    assert README_URL in code
    return code.replace(README_WS_URL, chain.url.replace("http", "ws", 1)).replace(README_URL, chain.url)


def workdir(tmp_path: Path) -> Path:
    """A scratch project that resolves packages from the repository's node_modules."""
    (tmp_path / "node_modules").symlink_to(REPO / "node_modules", target_is_directory=True)
    return tmp_path


def run(argv: list[str], cwd: Path, chain: Endpoint, timeout: float = 240) -> str:
    result = subprocess.run(argv, cwd=cwd, check=False, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            timeout=timeout, env=tool_env())
    assert result.returncode == 0, (f"{' '.join(argv)[:300]} against {chain.name} failed:\n{result.stdout[-3000:]}\n"
                                    f"{result.stderr[:2000]}\n--- node log ---\n{chain.log_tail(15)}")
    return result.stdout


def run_node_check(chain: Endpoint, tmp_path: Path, module: str, code: str, driver: str) -> dict[str, Any]:
    root = workdir(tmp_path)
    (root / "package.json").write_text('{"type": "module"}\n')
    (root / module).write_text(localise(code, chain))
    shutil.copy(HERE / "readme" / driver, root / driver)
    out = run([str(NODE), driver], root, chain)
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def test_readme_foundry(chain: Endpoint, tmp_path: Path) -> None:
    root = workdir(tmp_path)
    # The README's foundry.toml, and for this offline machine the npm solc instead
    # of the compiler forge would download.
    toml = localise(snippet("toml", "[rpc_endpoints]"), chain)
    assert "[profile.default]\n" in toml
    shutil.copy(HERE / "foundry" / "solc", root / "solc")
    (root / "foundry.toml").write_text(toml.replace("[profile.default]\n",
                                                    '[profile.default]\noffline = true\nsolc = "./solc"\n'))
    (root / "src").mkdir()
    shutil.copy(HERE / "hardhat" / "contracts" / "Counter.sol", root / "src" / "Counter.sol")
    commands = [shlex.split(line) for line in snippet("sh", "forge create").strip().splitlines()]
    assert [c[:2] for c in commands] == [["forge", "create"], ["cast", "block-number"], ["cast", "send"]]
    outputs = [run([str(foundry_binary(c[0])), *c[1:]], root, chain) for c in commands]
    deployed = re.search(r"Deployed to: (0x[0-9a-fA-F]{40})", outputs[0])
    assert deployed is not None, outputs[0]
    x = chain.rpc.call("eth_call", {"to": deployed.group(1), "data": "0x0c55699c"}, "latest")
    assert int(x, 16) == 1  # --constructor-args 1
    assert int(outputs[1]) <= int(chain.rpc.call("eth_blockNumber"), 16)
    assert "status               1 (success)" in outputs[2]
    assert DEV0.lower() in outputs[2].lower()


def test_readme_hardhat(chain: Endpoint, tmp_path: Path) -> None:
    root = workdir(tmp_path)
    (root / "package.json").write_text('{"type": "module"}\n')
    (root / "hardhat.config.ts").write_text(localise(snippet("ts", "defineConfig"), chain))
    (root / "contracts").mkdir()
    shutil.copy(HERE / "hardhat" / "contracts" / "Counter.sol", root / "contracts" / "Counter.sol")
    (root / "test").mkdir()
    shutil.copy(HERE / "readme" / "Counter.hardhat.ts", root / "test" / "Counter.ts")
    compiled = run([str(BIN / "hardhat"), "compile"], root, chain)
    assert "Compiled 1 Solidity file with solc 0.8.30" in compiled
    tested = run([str(BIN / "hardhat"), "test", "--network", "openledger"], root, chain)
    assert "1 passing" in tested and "failing" not in tested, tested


def test_readme_viem(chain: Endpoint, tmp_path: Path) -> None:
    result = run_node_check(chain, tmp_path, "viem.mjs", snippet("js", 'from "viem"'), "viem_check.mjs")
    assert result["chainId"] == CHAIN_ID
    assert result["from"] == DEV0 and result["receiptFrom"].lower() == DEV0.lower()
    assert result["status"] == "success"
    assert 0 < int(result["multicallBlockNumber"]) <= int(result["head"])


def test_readme_ethers(chain: Endpoint, tmp_path: Path) -> None:
    result = run_node_check(chain, tmp_path, "ethers.mjs", snippet("js", 'from "ethers"'), "ethers_check.mjs")
    assert result["chainId"] == str(CHAIN_ID)
    assert result["wallet"] == DEV0 and result["walletFrom"] == DEV0 and result["walletStatus"] == 1
    assert result["nodeSigner"] == DEV0 and result["nodeFrom"] == DEV0 and result["nodeStatus"] == 1


def test_readme_web3py(chain: Endpoint) -> None:
    namespace: dict[str, Any] = {}
    code = compile(localise(snippet("python", "Web3("), chain), "README.md", "exec")
    exec(code, namespace)  # noqa: S102 (the README's own snippet)
    w3, account = namespace["w3"], namespace["account"]
    assert w3.eth.chain_id == CHAIN_ID and account.address == Account.from_key(DEV_KEYS[1]).address
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"to": DEV0, "value": 1}), timeout=30)
    assert receipt["status"] == 1 and receipt["from"] == account.address
