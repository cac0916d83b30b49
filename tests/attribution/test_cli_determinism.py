"""`openledger-attribution index` / `score` give the same JSON, byte for byte
(weights and attributionHash included), whatever the thread count, index batch
size, shard size and query batch size: what a verifier on another machine
recomputes. Each setting runs in a fresh process that calls
torch.set_num_threads before the command line's main().

The first pair of settings is the one where float rounding used to move
weights by one unit: `--batch-size 7` on 2 threads against `--batch-size 64`
on 1 thread, 200 queries.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from attribution.examples.digits import write_digits_queries

from .test_cli import REPO, SETUP, _cli_env

N_QUERIES = 200
MODEL_ID = 7

# (threads, index --batch-size, --shard-size)
INDEX_SETTINGS = [(1, 64, 4096), (2, 7, 100), (2, 1, 1500)]
# (threads, score --query-batch-size)
SCORE_SETTINGS = [(1, 64), (2, 7), (1, 1)]


def _start(threads: int, *args: str | Path) -> subprocess.Popen[str]:
    code = (
        "import sys, torch; torch.set_num_threads(int(sys.argv[1])); "
        "from attribution.cli import main; sys.exit(main(sys.argv[2:]))"
    )
    return subprocess.Popen([sys.executable, "-c", code, str(threads), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_cli_env(), cwd=REPO)


def _finish(process: subprocess.Popen[str]) -> str:
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    return stdout


@pytest.fixture(scope="module")
def indexes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("cli-determinism")
    queries = root / "queries.pt"
    write_digits_queries(queries, N_QUERIES)
    paths = [root / f"idx-{t}-{b}-{s}" for t, b, s in INDEX_SETTINGS]
    processes = [_start(t, "index", "--setup", SETUP, "--out", path, "--batch-size", b, "--shard-size", s)
                 for (t, b, s), path in zip(INDEX_SETTINGS, paths)]
    for process in processes:
        _finish(process)
    return queries, paths


def test_index_files_are_identical(indexes: tuple[Path, list[Path]]) -> None:
    _, paths = indexes
    first = paths[0]
    for other in paths[1:]:
        assert (other / "preconditioner.safetensors").read_bytes() == (first / "preconditioner.safetensors").read_bytes()
        a, b = json.loads((first / "index.json").read_text()), json.loads((other / "index.json").read_text())
        assert a["row_exponents"] == b["row_exponents"] and a["total_examples"] == b["total_examples"]


def test_scores_weights_and_hashes_are_identical(indexes: tuple[Path, list[Path]]) -> None:
    queries, paths = indexes
    runs = [(path, threads, qbs) for path in paths for threads, qbs in SCORE_SETTINGS[:1]]
    runs += [(paths[1], threads, qbs) for threads, qbs in SCORE_SETTINGS[1:]]
    outputs = []
    for path, threads, qbs in runs:
        outputs.append(_finish(_start(threads, "score", "--setup", SETUP, "--index", path, "--queries", queries,
                                      "--model-id", MODEL_ID, "--query-batch-size", qbs)))
    first = json.loads(outputs[0])
    assert len(first) == N_QUERIES
    settled = [q for q in first if q["attributionHash"] is not None]
    assert len(settled) >= N_QUERIES // 2  # the comparison compares real splits
    assert all(sum(w for _, w in q["weights"]) == 1_000_000 for q in settled)
    for (path, threads, qbs), text in zip(runs[1:], outputs[1:]):
        assert text == outputs[0], f"index {path.name}, {threads} threads, query batch size {qbs}"
