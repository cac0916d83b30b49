"""The whole upstream BlockchainTests set through the L1 node's import path.

    OPENLEDGER_ETHEREUM_TESTS=/path/to/ethereum-tests pytest -m ethereum_full tests/ethereum

The variable names a checkout of ethereum/tests (its `BlockchainTests/` and
`EIPTests/BlockchainTests/` are run) or an execution-spec-tests fixtures
release (its `blockchain_tests/`); without it the test is skipped. One test per
fixture file: it fails naming every case that failed, and is skipped, with the
reasons, when the node runs none of the file's cases (pre-merge networks, forks
py-evm does not have, Prague devnet fixtures; see runner.skip_reason).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from tests.ethereum.runner import run_file

ENV = "OPENLEDGER_ETHEREUM_TESTS"
ROOT = Path(os.environ[ENV]) if os.environ.get(ENV) else None
SUITES = ("BlockchainTests", "EIPTests/BlockchainTests", "blockchain_tests")

pytestmark = pytest.mark.ethereum_full


def _files() -> list[Path]:
    if ROOT is None or not ROOT.is_dir():
        return []
    return sorted(p for suite in SUITES if (ROOT / suite).is_dir() for p in (ROOT / suite).rglob("*.json"))


FILES = _files()


@pytest.mark.skipif(ROOT is None, reason=f"{ENV} is not set: it names a checkout of ethereum/tests")
@pytest.mark.skipif(ROOT is not None and not FILES, reason=f"{ENV}={ROOT} holds no BlockchainTests fixtures")
@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(ROOT)) for p in FILES] if ROOT else [])
def test_fixture_file(path: Path) -> None:
    outcomes = run_file(path)
    failed = [o for o in outcomes if o.status == "failed"]
    assert not failed, "\n".join(f"{o.name}: {o.reason}" for o in failed)
    if outcomes and all(o.status == "skipped" for o in outcomes):
        reasons = Counter(o.reason for o in outcomes)
        pytest.skip("; ".join(f"{n} cases: {r}" for r, n in reasons.items()))


@pytest.mark.skipif(ROOT is not None, reason="the fixture files are parametrized")
def test_full_set_needs_a_checkout() -> None:
    pytest.skip(f"{ENV} is not set: it names a checkout of ethereum/tests or an execution-spec-tests release")
