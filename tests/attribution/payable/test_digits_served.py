"""The digits model kind: contribution blobs, training from contributions,
the index, and a served model whose attribution hash is the same bits whatever
the thread count, index batch size, shard size and query batch size (each
setting in a fresh process that sets its thread count first)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from attribution.arguments import PreconditionerArguments, ProjectionArguments
from attribution.examples import digits
from attribution.payable.models import (
    InputError,
    ModelDirError,
    attribute_query,
    load_served_model,
)
from attribution.payable.record import index_version, read_model_json
from attribution.split import reward_weights

REPO = Path(__file__).resolve().parents[3]
MODEL_ID = 3
N_QUERIES = 24
# (threads, index batch size, shard size)
INDEX_SETTINGS = [(1, 64, 4096), (2, 7, 50), (2, 1, 13)]
# (threads, query batch sizes): the first on every index, the others on the first index
SCORE_SETTINGS = [(1, "1,64"), (2, "5,7")]

_INDEX = """
import shutil, sys, torch
torch.set_num_threads(int(sys.argv[1]))
from attribution.examples import digits
digits.build_index(sys.argv[4], batch_size=int(sys.argv[2]), shard_size=int(sys.argv[3]))
"""

_SCORE = """
import json, sys, torch
torch.set_num_threads(int(sys.argv[1]))
from attribution.examples import digits
from attribution.payable.models import load_served_model
from attribution.payable.record import QueryRecord
from attribution.split import attribution_hash, reward_weights
served = load_served_model(sys.argv[3])
_, _, x_test, _ = digits.load_digits_split()
inputs = [digits.input_bytes(x_test[i]) for i in range(int(sys.argv[4]))]
outputs = [served.infer(served.parse_input(data)) for data in inputs]
runs = []
for size in sys.argv[2].split(","):
    scores = served.attribute_batch(list(zip(inputs, outputs)), query_batch_size=int(size))
    hashes = []
    for data, output, s in zip(inputs, outputs, scores):
        query_hash = QueryRecord(int(sys.argv[5]), served.index_version, data, output).query_hash
        hashes.append(attribution_hash(int(sys.argv[5]), query_hash, reward_weights(s)).hex())
    runs.append(hashes)
print(json.dumps(runs))
"""


def _python(code: str, *args: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO)


def _finish(process: subprocess.Popen[str]) -> str:
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    return stdout


@pytest.fixture(scope="module")
def contributions() -> list[tuple[int, bytes]]:
    return [(cid, blob) for cid, blob in zip([4, 9, 11, 12, 20, 31], digits.example_contributions(6, 40))]


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory, contributions: list[tuple[int, bytes]]) -> list[Path]:
    root = tmp_path_factory.mktemp("digits-kind")
    trained = root / "trained"
    digits.train(contributions, trained)
    dirs = []
    for threads, batch, shard in INDEX_SETTINGS:
        target = root / f"model-{threads}-{batch}-{shard}"
        shutil.copytree(trained, target)
        dirs.append(target)
    for process in [_python(_INDEX, t, b, s, d) for (t, b, s), d in zip(INDEX_SETTINGS, dirs)]:
        _finish(process)
    return dirs


def test_index_version_is_the_same_for_every_build(model_dirs: list[Path]) -> None:
    versions = {index_version(d) for d in model_dirs}
    assert len(versions) == 1
    meta = read_model_json(model_dirs[0])
    assert meta["kind"] == "digits" and len(meta["index"]["digest"]) == 64
    assert meta["training"]["contributions"] == [4, 9, 11, 12, 20, 31]
    assert meta["training"]["examples"] == 240
    # The shard size changes the files, not the digest.
    assert len(list((model_dirs[1] / "index").glob("shard-*"))) == 5
    assert len(list((model_dirs[0] / "index").glob("shard-*"))) == 1


def test_attribution_hash_is_bit_identical_across_settings(model_dirs: list[Path]) -> None:
    settings = [(d, *SCORE_SETTINGS[0]) for d in model_dirs] + [(model_dirs[0], t, q) for t, q in SCORE_SETTINGS[1:]]
    runs = [_python(_SCORE, t, q, d, N_QUERIES, MODEL_ID) for d, t, q in settings]
    results = [hashes for p in runs for hashes in json.loads(_finish(p))]
    assert len(results) == 2 * len(settings)
    assert len(results[0]) == N_QUERIES and len(set(results[0])) == N_QUERIES
    for other in results[1:]:
        assert other == results[0]


def test_attribute_query_matches_the_served_scores(model_dirs: list[Path]) -> None:
    served = load_served_model(model_dirs[0])
    _, _, x_test, y_test = digits.load_digits_split()
    correct = 0
    for i in range(10):
        data = digits.input_bytes(x_test[i])
        result = attribute_query(served, MODEL_ID, data)
        correct += result.record.output[0] == int(y_test[i])
        assert list(zip(result.ids, result.weights)) == reward_weights(served.attribute(data, result.record.output))
        assert sum(result.weights) == 1_000_000
        assert set(result.ids) <= {4, 9, 11, 12, 20, 31}
        assert [cid for cid, _ in result.top] == sorted(result.ids, key=lambda c: -dict(result.top)[c])
        assert result.query_hash == result.record.query_hash
        assert result.record.index_version == served.index_version
    assert correct >= 7  # a real classifier, even on 240 examples


def test_training_ignores_the_order_contributions_arrive_in(tmp_path: Path, contributions: list[tuple[int, bytes]]) -> None:
    digits.train(contributions[:3], tmp_path / "a")
    digits.train(list(reversed(contributions[:3])), tmp_path / "b")
    assert (tmp_path / "a" / "model.json").read_bytes() == (tmp_path / "b" / "model.json").read_bytes()
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (tmp_path / "b" / "model.safetensors").read_bytes()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (bytes(63), "digits input must be 64 bytes .* got 63"),
        (bytes(65), "got 65"),
        (bytes(10) + b"\x11" + bytes(53), "digits input byte 10 is 17, above the maximum intensity 16"),
    ],
)
def test_parse_input_names_the_problem(model_dirs: list[Path], data: bytes, message: str) -> None:
    served = load_served_model(model_dirs[0])
    with pytest.raises(InputError, match=message):
        served.parse_input(data)


def test_attribute_refuses_an_output_that_is_not_a_class(model_dirs: list[Path]) -> None:
    served = load_served_model(model_dirs[0])
    with pytest.raises(InputError, match="one byte, a class 0..9, got 0x0a"):
        served.attribute(bytes(64), b"\x0a")


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"\xff", "contribution 5 is not UTF-8 JSON"),
        (b"[]", 'exactly the keys "x" and "y"'),
        (b'{"x": [], "y": []}', "holds no examples"),
        (b'{"x": [[0]], "y": [1]}', r"x\[0\] must be a list of 64"),
        (json.dumps({"x": [[0] * 63 + [17]], "y": [1]}).encode(), r"x\[0\]\[63\] = 17 is not an integer in 0..16"),
        (json.dumps({"x": [[0] * 63 + [1.0]], "y": [1]}).encode(), r"x\[0\]\[63\] = 1.0"),
        (json.dumps({"x": [[0] * 64], "y": [10]}).encode(), r"y\[0\] = 10 is not a digit class"),
        (json.dumps({"x": [[0] * 64], "y": [1, 2]}).encode(), "same length"),
    ],
)
def test_contribution_blob_errors_name_the_problem(blob: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        digits.parse_contribution(blob, 5)


def test_model_dir_problems_are_refused(tmp_path: Path, contributions: list[tuple[int, bytes]], model_dirs: list[Path]) -> None:
    digits.train(contributions[:2], tmp_path / "m")
    with pytest.raises(ModelDirError, match="has no attribution index: run `openledger-attribution index"):
        load_served_model(tmp_path / "m")
    tampered = tmp_path / "tampered"
    shutil.copytree(model_dirs[0], tampered)
    weights = tampered / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + bytes([weights.read_bytes()[-1] ^ 1]))
    with pytest.raises(ModelDirError, match="model.safetensors does not match the sha256 in model.json"):
        load_served_model(tampered)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "model.json").write_text('{"kind": "audio"}')
    with pytest.raises(ModelDirError, match="unknown model kind 'audio'"):
        load_served_model(tmp_path / "other")


def test_index_command_builds_the_same_index(tmp_path: Path, model_dirs: list[Path]) -> None:
    """`openledger-attribution index --model-dir` with every option it passes on, at the engine's defaults."""
    target = tmp_path / "model"
    shutil.copytree(model_dirs[0], target)
    shutil.rmtree(target / "index")
    proj, pre = ProjectionArguments(), PreconditionerArguments()
    run = subprocess.run(
        [sys.executable, "-m", "attribution.cli", "index", "--model-dir", str(target), "--batch-size", "5",
         "--shard-size", "100", "--rank-in", str(proj.rank_in), "--rank-out", str(proj.rank_out),
         "--preconditioner", pre.kind, "--samples", str(pre.samples),
         "--damping", str(pre.damping), "--seed", str(proj.seed)],
        check=False, cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert index_version(target) == index_version(model_dirs[0])
    assert f"0x{index_version(target).hex()}" in run.stdout
