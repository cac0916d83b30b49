"""The `openledger-attribution` command line: index and score the digits example,
span matching, and input errors (one line, exit status 2, never a traceback).

The happy paths run `python -m attribution.cli` in subprocesses; the error
cases call `main()` in-process (each subprocess pays ~1.5 s of imports), except
one, which checks that a real process prints no traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from attribution import load_preconditioner
from attribution.cli import main, query_hash
from attribution.examples.digits import digits_setup, write_digits_queries
from attribution.split import WEIGHT_DENOMINATOR, attribution_hash

REPO = Path(__file__).resolve().parents[2]
SETUP = "attribution.examples.digits:digits_setup"
MODEL_ID = 7
N_QUERIES = 4


def _cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["OMP_NUM_THREADS"] = "1"  # tiny problem; threads only add contention
    return env


def start_cli(*args: str | Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "attribution.cli", *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_cli_env(), cwd=REPO,
    )


def finish(process: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return finish(start_cli(*args))


def run_main(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str]:
    """main() in-process: (exit status, stderr); argparse errors exit via SystemExit."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    return code, err


def assert_input_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines and "error" in lines[-1], err
    for needle in needles:
        assert needle in lines[-1], err


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("cli-digits")
    index_dir, queries = tmp / "index", tmp / "queries.pt"
    write_digits_queries(queries, N_QUERIES)
    built = run_cli("index", "--setup", SETUP, "--out", index_dir, "--shard-size", "500", "--seed", "3")
    assert built.returncode == 0, built.stderr
    score_args = ("score", "--setup", SETUP, "--index", index_dir, "--queries", queries, "--model-id", MODEL_ID, "--top-k", "5")
    # Two independent runs, concurrently (the determinism check compares them).
    first, second = start_cli(*score_args), start_cli(*score_args, "--out", tmp / "again.json")
    scored, again = finish(first), finish(second)
    assert scored.returncode == 0, scored.stderr
    return {"tmp": tmp, "index": index_dir, "queries": queries, "built": built, "scored": scored, "again": again}


def test_index_prints_summary(digits_run: dict[str, Any]) -> None:
    line = digits_run["built"].stdout.strip()
    assert len(line.splitlines()) == 1
    assert line.startswith("indexed 1500 examples in 3 shards, dimension ")
    assert (digits_run["index"] / "index.json").is_file()
    assert (digits_run["index"] / "preconditioner.safetensors").is_file()


def test_score_settles_each_query(digits_run: dict[str, Any]) -> None:
    result = json.loads(digits_run["scored"].stdout)
    setup = digits_setup()
    batch = setup.load_queries(digits_run["queries"])
    assert [q["query"] for q in result] == list(range(N_QUERIES))
    for i, q in enumerate(result):
        weights = [(c, w) for c, w in q["weights"]]
        ids = [c for c, _ in weights]
        assert sum(w for _, w in weights) == WEIGHT_DENOMINATOR
        assert ids == sorted(set(ids)) and all(1 <= c <= 20 for c in ids)
        assert all(w > 0 for _, w in weights)
        assert q["queryHash"] == "0x" + query_hash(batch, i).hex()
        expected = attribution_hash(MODEL_ID, bytes.fromhex(q["queryHash"][2:]), weights)
        assert q["attributionHash"] == "0x" + expected.hex()
        top = q["topContributions"]
        assert len(top) == 5
        assert [s for _, s in top] == sorted((s for _, s in top), reverse=True)
        # The best-scored contribution gets the largest weight.
        assert max(weights, key=lambda cw: cw[1])[0] == top[0][0]
    assert len({q["queryHash"] for q in result}) == N_QUERIES


def test_score_is_deterministic(digits_run: dict[str, Any]) -> None:
    again = digits_run["again"]
    assert again.returncode == 0, again.stderr
    assert again.stdout == ""
    assert (digits_run["tmp"] / "again.json").read_text() == digits_run["scored"].stdout


def test_spans_index_and_score(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    docs = [
        {"contribution_id": 1, "tokens": [10, 11, 12, 13, 14, 15]},
        {"contribution_id": 2, "tokens": [20, 21, 22, 23, 24]},
        {"contribution_id": 3, "tokens": [20, 21, 22, 23, 99]},
    ]
    corpus.write_text("".join(json.dumps(d) + "\n" for d in docs))
    built = run_cli("spans-index", "--corpus", corpus, "--out", tmp_path / "spans")
    assert built.returncode == 0, built.stderr
    assert built.stdout.startswith("indexed 3 documents of 3 contributions")
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps([10, 11, 12, 13, 14, 7, 20, 21, 22, 23, 8]))
    qhash = "0x" + "ab" * 32
    scored = run_cli("spans-score", "--index", tmp_path / "spans", "--tokens", tokens, "--model-id", "5", "--query-hash", qhash)
    assert scored.returncode == 0, scored.stderr
    result = json.loads(scored.stdout)
    assert result["spans"] == [
        {"start": 0, "end": 5, "contributionIds": [1]},
        {"start": 6, "end": 10, "contributionIds": [2, 3]},
    ]
    assert result["credit"] == [[1, 5.0], [2, 2.0], [3, 2.0]]
    assert result["weights"] == [[1, 555556], [2, 222222], [3, 222222]]
    weights = [(c, w) for c, w in result["weights"]]
    assert result["attributionHash"] == "0x" + attribution_hash(5, bytes.fromhex("ab" * 32), weights).hex()


def test_spans_score_without_match_settles_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"contribution_id": 1, "tokens": [1, 2, 3, 4, 5]}) + "\n")
    assert run_main(capsys, "spans-index", "--corpus", corpus, "--out", tmp_path / "s")[0] == 0
    tokens = tmp_path / "t.json"
    tokens.write_text("[9, 9, 9]")
    out = tmp_path / "r.json"
    code, _ = run_main(capsys, "spans-score", "--index", tmp_path / "s", "--tokens", tokens, "--model-id", "1", "--query-hash", "00" * 32, "--out", out)
    assert code == 0
    result = json.loads(out.read_text())
    assert result["spans"] == [] and result["weights"] is None and result["attributionHash"] is None


# ------------------------------------------------------------------ bad input


def test_bad_setup_module_in_a_real_process_has_no_traceback(tmp_path: Path) -> None:
    result = run_cli("index", "--setup", "no_such_module_xyz:make", "--out", tmp_path / "i")
    assert_input_error(result.returncode, result.stderr, "no_such_module_xyz")
    assert result.stdout == ""


@pytest.fixture()
def alt_setups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "alt_setups.py").write_text(textwrap.dedent("""
        from attribution.examples.digits import digits_setup
        NOT_CALLABLE = 42
        def seed_one():
            return digits_setup(seed=1)
        def incomplete():
            return object()
        def broken():
            raise RuntimeError("no weights here")
        def without_logits():
            setup = digits_setup()
            class PlainTask:
                compute_train_loss = setup.task.compute_train_loss
                compute_measurement = setup.task.compute_measurement
            setup.task = PlainTask()
            return setup
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    return "alt_setups"


@pytest.mark.parametrize(
    ("setup", "needle"),
    [
        ("alt_setups:NOT_CALLABLE", "not callable"),
        ("alt_setups:missing", "no attribute"),
        ("alt_setups:incomplete", "lacks model"),
        ("alt_setups", "MODULE:FACTORY"),
        ("alt_setups:broken", "raised RuntimeError: no weights here"),
    ],
)
def test_bad_setup(alt_setups: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: str, needle: str) -> None:
    code, err = run_main(capsys, "index", "--setup", setup, "--out", tmp_path / "i")
    assert_input_error(code, err, needle)


def test_missing_index_dir(digits_run: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_main(capsys, "score", "--setup", SETUP, "--index", tmp_path / "nope", "--queries", digits_run["queries"], "--model-id", "1")
    assert_input_error(code, err, "no complete attribution index")
    code, err = run_main(capsys, "spans-score", "--index", tmp_path / "nope", "--tokens", tmp_path / "t.json", "--model-id", "1", "--query-hash", "00" * 32)
    assert_input_error(code, err, "no complete span index")


def test_wrong_query_file_format(digits_run: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    garbage = tmp_path / "queries.pt"
    garbage.write_text("not a torch file")
    code, err = run_main(capsys, "score", "--setup", SETUP, "--index", digits_run["index"], "--queries", garbage, "--model-id", "1")
    assert_input_error(code, err, "not a torch.save file")


def test_index_of_another_model(digits_run: dict[str, Any], alt_setups: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_main(
        capsys, "score", "--setup", "alt_setups:seed_one", "--index", digits_run["index"],
        "--queries", digits_run["queries"], "--model-id", "1",
    )
    assert_input_error(code, err, "built for another model")


def test_ekfac_with_sampled_fisher(digits_run: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    index_dir = tmp_path / "ekfac"
    code, err = run_main(capsys, "index", "--setup", SETUP, "--out", index_dir, "--preconditioner", "ekfac",
                         "--fisher", "sampled", "--samples", "2", "--damping", "0.03")
    assert code == 0, err
    assert load_preconditioner(index_dir).kind == "ekfac"
    out = tmp_path / "scores.json"
    code, err = run_main(capsys, "score", "--setup", SETUP, "--index", index_dir, "--queries", digits_run["queries"],
                         "--model-id", MODEL_ID, "--out", out)
    assert code == 0, err
    result = json.loads(out.read_text())
    assert len(result) == N_QUERIES
    assert all(sum(w for _, w in q["weights"]) == WEIGHT_DENOMINATOR for q in result)


def test_bad_preconditioner_options(alt_setups: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_main(capsys, "index", "--setup", "alt_setups:without_logits", "--out", tmp_path / "i", "--fisher", "sampled")
    assert_input_error(code, err, "compute_train_logits")
    assert not (tmp_path / "i" / "index.json").exists()
    code, err = run_main(capsys, "index", "--setup", SETUP, "--out", tmp_path / "i", "--damping", "-1")
    assert_input_error(code, err, "damping must be >= 0")
    code, err = run_main(capsys, "index", "--setup", SETUP, "--out", tmp_path / "i", "--preconditioner", "kfac")
    assert code == 2 and "invalid choice" in err
    code, err = run_main(capsys, "index", "--setup", SETUP, "--out", tmp_path / "i", "--samples", "0")
    assert_input_error(code, err, "--samples")


def test_bad_span_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"contribution_id": 1, "tokens": [1, 2, 3]}\nnot json\n')
    code, err = run_main(capsys, "spans-index", "--corpus", corpus, "--out", tmp_path / "s")
    assert_input_error(code, err, "line 2")
    corpus.write_text('{"contribution_id": 1, "tokens": [1, 2, 3, 4]}\n')
    assert run_main(capsys, "spans-index", "--corpus", corpus, "--out", tmp_path / "s")[0] == 0
    tokens = tmp_path / "t.json"
    tokens.write_text("[1, 2, 3, 4]")
    base = ["spans-score", "--index", tmp_path / "s", "--tokens", tokens, "--model-id", "1"]
    code, err = run_main(capsys, *base, "--query-hash", "00" * 32, "--min-length", "0")
    assert_input_error(code, err, "--min-length", "must be >= 1")
    code, err = run_main(capsys, *base, "--query-hash", "abc")
    assert_input_error(code, err, "--query-hash")
    tokens.write_text('{"text": "hello"}')
    code, err = run_main(capsys, *base, "--query-hash", "00" * 32)
    assert_input_error(code, err, "list of ints")


def test_bad_query_batch_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["score", "--setup", SETUP, "--index", tmp_path / "i", "--queries", tmp_path / "q.pt",
            "--model-id", MODEL_ID]
    code, err = run_main(capsys, *base, "--query-batch-size", "0")
    assert_input_error(code, err, "--query-batch-size", "must be >= 1")
    code, err = run_main(capsys, *base, "--query-batch-size", "many")
    assert_input_error(code, err, "--query-batch-size", "is not an integer")
