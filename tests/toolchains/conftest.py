"""The two nodes every toolchain check runs against, and how the client tools run.

`chain` is module-scoped and parametrised: each test module runs once against
anvil in automine mode (the reference) and once against our sequencer in
`instant` mode (a block as soon as a transaction arrives, anvil's automine), so
every assertion is made the same way on both.

The Node.js tools run on the Node 24 the pinned `node` devDependency installs
(node_modules/.bin/node): Hardhat 3 needs Node >= 22.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from eth_utils import to_checksum_address

from openledger_node.execution.preinstalls import l2_preinstalls
from tests.conformance.endpoints import (
    ANVIL,
    BIN,
    CHAIN_ID,
    REPO,
    Endpoint,
    anvil,
    foundry_binary,
    openledger,
)

NODE = BIN / "node"
HERE = Path(__file__).resolve().parent

NPM_MISSING = (
    "node_modules is not installed (or lacks the pinned Node 24, Hardhat 3, viem or Foundry): "
    "run `make test`, which runs `npm ci`, to install package.json's devDependencies"
)


def node_modules_ready() -> bool:
    needed = [NODE, ANVIL, BIN / "hardhat", REPO / "node_modules" / "viem", foundry_binary("forge"),
              foundry_binary("cast")]
    return all(path.exists() for path in needed)


requires_node_modules = pytest.mark.skipif(not node_modules_ready(), reason=NPM_MISSING)


@contextmanager
def anvil_automine(tmp: Path) -> Iterator[Endpoint]:
    """anvil without --block-time (a block for each transaction, as our `instant`
    mode), with the OP Stack preinstalls our genesis has (Multicall3 among them)
    placed where anvil lacks them, so that it is the reference for an OP chain."""
    with anvil(tmp, None) as endpoint:
        for preinstall in l2_preinstalls(CHAIN_ID):
            address = to_checksum_address(preinstall.address)
            if endpoint.rpc.call("eth_getCode", address, "latest") == "0x":
                endpoint.rpc.call("anvil_setCode", address, "0x" + preinstall.code.hex())
                endpoint.rpc.call("anvil_setNonce", address, hex(preinstall.nonce))
        yield endpoint


@pytest.fixture(scope="module", params=["anvil", "openledger"])
def chain(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    tmp = tmp_path_factory.mktemp(request.param)
    if request.param == "anvil":
        with anvil_automine(tmp) as endpoint:
            yield endpoint
    else:
        with openledger(tmp, mode="instant") as endpoint:
            yield endpoint


def tool_env(**extra: str) -> dict[str, str]:
    """The environment the tools run in: node_modules/.bin first (Node 24, hardhat,
    forge), no colours, no telemetry prompts."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "NO_COLOR": "1",
           "FORCE_COLOR": "0", "FOUNDRY_DISABLE_NIGHTLY_WARNING": "1", "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true",
           "DO_NOT_TRACK": "1", "CI": "true"}
    env.update(extra)
    return env


def run_script(chain: Endpoint, script: Path, *args: str, timeout: float = 180) -> dict[str, Any]:
    """Run a client script under Node 24 against `chain`; it prints one JSON object
    of check name -> "ok" or the error the check met."""
    result = subprocess.run([str(NODE), str(script), chain.url, *args], cwd=REPO, check=False,
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, env=tool_env())
    lines = result.stdout.strip().splitlines()
    assert result.returncode == 0 and lines, (f"{script.name} against {chain.name} failed:\n{result.stderr[-4000:]}"
                                              f"\n--- node log ---\n{chain.log_tail()}")
    checks: dict[str, Any] = json.loads(lines[-1])
    return checks
