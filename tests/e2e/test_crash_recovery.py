"""kill -9 at random instants under load: the node restarts at the last complete
block with a consistent state, and no acknowledged transaction is lost."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.e2e.crash import kill_cycle


def run_kills(tmp_path: Path, count: int, seed: int) -> None:
    rng = random.Random(seed)
    data_dir = tmp_path / "data"
    last_head = -1
    for _ in range(count):
        report = kill_cycle(data_dir, rng)
        assert report.acked > 0
        assert report.recovered_in_chain + report.recovered_in_pool == report.acked
        assert report.head >= last_head  # never goes backwards across restarts
        last_head = report.head


def test_kill_minus_nine_a_few_times(tmp_path: Path) -> None:
    run_kills(tmp_path, 3, seed=1)


@pytest.mark.slow
def test_kill_minus_nine_twenty_five_times(tmp_path: Path) -> None:
    run_kills(tmp_path, 25, seed=2)
