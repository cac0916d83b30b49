"""ethers v6 (JsonRpcSigner, listeners, the error codes ethers derives from the
node's answers) against anvil and our node: ethers_client.mjs runs every check
once per node and reports each one's outcome; every check must pass on both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conformance.endpoints import Endpoint
from tests.toolchains.conftest import requires_node_modules, run_script

SCRIPT = Path(__file__).with_name("ethers_client.mjs")
CHECKS = [
    "getSigner and eth_sendTransaction",
    "deploy and call with a Wallet",
    "contract event listener",
    "block listener",
    "custom error revert: CALL_EXCEPTION with the decoded error",
    "require reason: CALL_EXCEPTION with the reason",
    "nonce too low: NONCE_EXPIRED",
    "insufficient funds: INSUFFICIENT_FUNDS",
    "replacement underpriced: REPLACEMENT_UNDERPRICED",
]

pytestmark = [requires_node_modules, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def ethers_checks(chain: Endpoint) -> dict[str, Any]:
    return run_script(chain, SCRIPT)


def test_ethers_ran_every_check(ethers_checks: dict[str, Any]) -> None:
    assert list(ethers_checks) == CHECKS


@pytest.mark.parametrize("check", CHECKS)
def test_ethers(ethers_checks: dict[str, Any], check: str) -> None:
    assert ethers_checks.get(check) == "ok", f"{check}: {ethers_checks.get(check)}"
