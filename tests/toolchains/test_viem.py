"""viem (public, wallet and test clients, simulateCalls, WebSocket watchers)
against anvil and our node: viem_client.mjs runs every check once per node and
reports each one's outcome; every check must pass on both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conformance.endpoints import Endpoint
from tests.toolchains.conftest import requires_node_modules, run_script

SCRIPT = Path(__file__).with_name("viem_client.mjs")
CHECKS = [
    "chain id and blocks",
    "deployContract",
    "readContract",
    "writeContract and getLogs",
    "custom error from a simulated write",
    "multicall through Multicall3",
    "two transactions in flight from one sender",
    "sendTransaction with explicit EIP-1559 fees",
    "simulateCalls (eth_simulateV1)",
    "test client: setBalance",
    "test client: mine",
    "test client: impersonateAccount",
    "test client: snapshot and revert",
    "WebSocket watchBlocks",
    "WebSocket watchContractEvent",
]

pytestmark = [requires_node_modules, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def viem_checks(chain: Endpoint) -> dict[str, Any]:
    return run_script(chain, SCRIPT)


def test_viem_ran_every_check(viem_checks: dict[str, Any]) -> None:
    assert list(viem_checks) == CHECKS


@pytest.mark.parametrize("check", CHECKS)
def test_viem(viem_checks: dict[str, Any], check: str) -> None:
    assert viem_checks.get(check) == "ok", f"{check}: {viem_checks.get(check)}"
