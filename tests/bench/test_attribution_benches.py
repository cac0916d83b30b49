"""The attribution benchmarks still run end to end and print their tables
(smoke runs at small sizes; the figures themselves are not asserted: speed is
read from `docs/benchmarks.md`, never from tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(script: str, *args: str, timeout: int) -> str:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    result = subprocess.run([sys.executable, str(REPO / "bench" / script), *args], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_speed_bench_quick_prints_both_tables() -> None:
    out = _run("attribution_speed.py", "--quick", "--threads", "1", timeout=300)
    assert "ratio ours/dense" in out
    rows = [line for line in out.splitlines() if line.startswith("| cpu |")]
    assert [(r.split("|")[2].strip(), r.split("|")[3].strip(), r.split("|")[5].strip()) for r in rows] == [
        (source, size, queries) for size in ("5,000", "20,000") for source in ("files", "memory") for queries in ("1", "64")
    ]
    assert "query gradient + preconditioner for one query" in out


@pytest.mark.slow
def test_quality_bench_small_run_prints_every_method() -> None:
    out = _run("attribution_quality.py", "--m", "6", "--test-points", "10", "--models", "2", "--lr-l2", "1e-2",
               timeout=900)
    for method in ("**ours**", "EK-FAC", "TracIn-style", "TRAK-style", "exact influence"):
        assert method in out
    assert out.count("| | ") >= 7 + 2 * 5
