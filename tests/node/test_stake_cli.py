"""`openledger-node stake | unstake | withdraw-stake`: a validator's stake on the
L1 rollup contract, from the command line, with its key from the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account

from openledger_node.primitives import OPEN, addr
from tests.conftest import REPO
from tests.e2e.actions.l1 import AnvilL1

KEY_INDEX = 7


@pytest.fixture(scope="module")
def l1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilL1]:
    chain = AnvilL1(tmp_path_factory.mktemp("stake"), "openledger-l1")
    chain.fund(Account.from_key(chain.keys[KEY_INDEX]).address, 2_000 * OPEN)
    yield chain
    chain.close()


def stake_cli(l1: AnvilL1, *args: str, key: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENLEDGER")}
    env.update({"OPENLEDGER__L1__RPC_URL": l1.url, "OPENLEDGER__L1__DEPLOYMENT": str(l1.deployment_path)})
    if key:
        env["OPENLEDGER_VALIDATOR_KEY"] = "0x" + l1.keys[KEY_INDEX].hex()
    return subprocess.run([sys.executable, "-m", "node.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def test_stake_and_unstake_from_the_command_line(l1: AnvilL1, tmp_path: Path) -> None:
    account = addr(Account.from_key(l1.keys[KEY_INDEX]).address)
    run = stake_cli(l1, "stake", "1000")
    assert run.returncode == 0, run.stderr
    assert "active stake 1000 OPEN (minimum to challenge and vote: 1000 OPEN)" in run.stdout
    assert l1.rollup.validator_stake(account)[0] == 1_000 * OPEN
    # Below the minimum is refused by the contract, and the error says which rule.
    run = stake_cli(l1, "unstake", "2.5")
    assert run.returncode == 2
    assert run.stderr.strip().endswith(
        "the rollup contract refused: StakeBelowMinimum(stake=997500000000000000000, minimum=1000000000000000000000)")
    run = stake_cli(l1, "stake", "10")
    assert run.returncode == 0, run.stderr
    run = stake_cli(l1, "unstake", "2.5")
    assert run.returncode == 0, run.stderr
    assert l1.rollup.validator_stake(account)[0] == 1_010 * OPEN - 5 * OPEN // 2


def test_bad_amount_and_missing_key_are_one_line_errors(l1: AnvilL1) -> None:
    run = stake_cli(l1, "stake", "lots")
    assert run.returncode == 2
    assert run.stderr.strip() == "openledger-node stake: error: stake: amount 'lots' is not a number of OPEN"
    run = stake_cli(l1, "stake", "1", key=False)
    assert run.returncode == 2
    assert "validator: set OPENLEDGER_VALIDATOR_KEY" in run.stderr and "Traceback" not in run.stderr
