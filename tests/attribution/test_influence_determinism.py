"""Determinism that settlement relies on, through the Python API: the index
files, every score, the integer split and the attribution hash are the same
BITS whatever the index batch size, the shard size, the query batch size and
the thread count (attribution/exact.py: fixed-point values, exact products,
integer sums). Compared with torch.equal and ==, never within a tolerance.

The thread counts are set with torch.set_num_threads in this process; the
command-line tests (test_cli_determinism.py) set them in fresh processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from attribution import (
    IndexArguments,
    PreconditionerArguments,
    ProjectionArguments,
    ScoreArguments,
    ScoreResult,
    build_index,
    load_index,
    score,
)
from attribution.split import NoPositiveAttribution, attribution_hash, reward_weights

from .conftest import ClassificationTask, Digits

N = 200
PROJECTION = ProjectionArguments(16, 8, 11)  # the default float32 projection dtype
QUERY_HASH = bytes(range(32))


@dataclass(frozen=True)
class Run:
    rows: torch.Tensor
    preconditioner: bytes
    result: ScoreResult


def _run(path: Path, model: nn.Module, digits: Digits, pre: PreconditionerArguments, *, batch_size: int = 64,
         shard_size: int = 64, query_batch_size: int = 64, normalize: bool = False) -> Run:
    data = TensorDataset(digits.x_train[:N], digits.y_train[:N])
    build_index(model, ClassificationTask(), data, [i // 10 + 1 for i in range(N)], path, projection_args=PROJECTION,
                index_args=IndexArguments(shard_size=shard_size, batch_size=batch_size), preconditioner_args=pre,
                progress=False)
    args = ScoreArguments(top_k=10, return_example_scores=True, query_batch_size=query_batch_size, normalize=normalize)
    result = score(model, ClassificationTask(), path, (digits.x_query, digits.y_query), args)
    return Run(load_index(path).gradients(), (path / "preconditioner.safetensors").read_bytes(), result)


def settlements(result: ScoreResult) -> list[tuple[list[tuple[int, int]], bytes] | None]:
    """Per query: the integer split and its attribution hash (None: nothing positive, refund)."""
    out: list[tuple[list[tuple[int, int]], bytes] | None] = []
    for q in range(result.contribution_units.shape[0]):
        try:
            weights = reward_weights(result.exact_positive_of(q))
        except NoPositiveAttribution:
            out.append(None)
            continue
        out.append((weights, attribution_hash(1, QUERY_HASH, weights)))
    return out


def assert_identical(a: Run, b: Run) -> None:
    assert torch.equal(a.rows, b.rows)
    assert a.preconditioner == b.preconditioner
    ra, rb = a.result, b.result
    for name in ("top_k_indices", "top_k_values", "top_k_contribution_ids", "contribution_ids", "contribution_scores",
                 "contribution_units", "positive_units", "score_exponents", "example_scores"):
        assert torch.equal(getattr(ra, name), getattr(rb, name)), name
    assert settlements(ra) == settlements(rb)


def _model_and_data(request: pytest.FixtureRequest, digits: Digits, dtype: str) -> tuple[nn.Module, Digits]:
    if dtype == "float64":
        d = Digits(digits.x_train.double(), digits.y_train, digits.x_query.double(), digits.y_query)
        return request.getfixturevalue("digits_model64"), d
    return request.getfixturevalue("digits_model"), digits


@pytest.fixture(params=["float32", "float64"])
def model_and_data(request: pytest.FixtureRequest, digits: Digits) -> tuple[nn.Module, Digits]:
    return _model_and_data(request, digits, request.param)


def test_settlements_are_real_splits(tmp_path: Path, digits: Digits, digits_model: nn.Module) -> None:
    """The comparisons below compare something: most queries get a split of
    several contributions, each summing to the denominator."""
    splits = [s for s in settlements(_run(tmp_path, digits_model, digits, PreconditionerArguments()).result) if s]
    assert len(splits) >= len(digits.y_query) // 2
    assert sum(len(w) > 3 for w, _ in splits) >= len(splits) // 2
    assert all(sum(v for _, v in w) == 1_000_000 for w, _ in splits)


@pytest.mark.parametrize("dtype,kind", [("float32", "ekfac"), ("float64", "ekfac"), ("float32", "fisher"),
                                        ("float32", "identity")])
def test_index_batch_size_changes_no_bit(tmp_path: Path, request: pytest.FixtureRequest, digits: Digits,
                                         dtype: str, kind: str) -> None:
    model, d = _model_and_data(request, digits, dtype)
    pre = PreconditionerArguments(kind=kind)
    runs = [_run(tmp_path / str(bs), model, d, pre, batch_size=bs) for bs in (1, 7, 64)]
    for run in runs[1:]:
        assert_identical(run, runs[0])


@pytest.mark.parametrize("kind", ["ekfac", "fisher"])
def test_shard_size_and_query_batch_size_change_no_bit(tmp_path: Path, digits: Digits, digits_model: nn.Module,
                                                       kind: str) -> None:
    pre = PreconditionerArguments(kind=kind)
    base = _run(tmp_path / "base", digits_model, digits, pre, shard_size=N, query_batch_size=64)
    for shard_size, query_batch_size in ((7, 1), (64, 5), (1, 64)):
        other = _run(tmp_path / f"{shard_size}-{query_batch_size}", digits_model, digits, pre,
                     shard_size=shard_size, query_batch_size=query_batch_size)
        assert_identical(other, base)


def test_scoring_queries_one_at_a_time_changes_no_bit(tmp_path: Path, digits: Digits, digits_model: nn.Module) -> None:
    together = _run(tmp_path, digits_model, digits, PreconditionerArguments()).result
    for i in (0, 5, 17):
        single = score(digits_model, ClassificationTask(), tmp_path, (digits.x_query[i : i + 1], digits.y_query[i : i + 1]),
                       ScoreArguments(top_k=10, return_example_scores=True))
        assert torch.equal(single.example_scores[0], together.example_scores[i])
        assert torch.equal(single.contribution_units[0], together.contribution_units[i])
        assert torch.equal(single.top_k_indices[0], together.top_k_indices[i])
        assert settlements(single)[0] == settlements(together)[i]


def test_thread_count_changes_no_bit(tmp_path: Path, model_and_data: tuple[nn.Module, Digits], torch_threads: None) -> None:
    model, d = model_and_data
    torch.set_num_threads(1)
    one = _run(tmp_path / "one", model, d, PreconditionerArguments(), batch_size=64)
    torch.set_num_threads(2)
    two = _run(tmp_path / "two", model, d, PreconditionerArguments(), batch_size=7, shard_size=7, query_batch_size=3)
    assert_identical(two, one)


def test_normalized_scores_change_no_bit(tmp_path: Path, digits: Digits, digits_model: nn.Module) -> None:
    pre = PreconditionerArguments()
    a = _run(tmp_path / "a", digits_model, digits, pre, batch_size=64, shard_size=N, normalize=True)
    b = _run(tmp_path / "b", digits_model, digits, pre, batch_size=7, shard_size=7, query_batch_size=5, normalize=True)
    assert_identical(b, a)
    # Normalizing changes the scores (so the comparison is of the normalized path).
    plain = _run(tmp_path / "c", digits_model, digits, pre)
    assert not torch.equal(plain.result.example_scores, a.result.example_scores)


def test_sampled_fisher_changes_no_bit(tmp_path: Path, digits: Digits, digits_model: nn.Module) -> None:
    class Sampled(ClassificationTask):
        def compute_train_logits(self, batch: tuple[torch.Tensor, torch.Tensor], model: nn.Module) -> torch.Tensor:
            logits: torch.Tensor = model(batch[0])
            return logits

    pre = PreconditionerArguments(fisher="sampled", samples=2)
    data = TensorDataset(digits.x_train[:N], digits.y_train[:N])
    results = []
    for bs in (5, 64):
        path = tmp_path / str(bs)
        build_index(digits_model, Sampled(), data, [i // 10 + 1 for i in range(N)], path, projection_args=PROJECTION,
                    index_args=IndexArguments(batch_size=bs), preconditioner_args=pre, progress=False)
        results.append(((path / "preconditioner.safetensors").read_bytes(),
                        score(digits_model, Sampled(), path, (digits.x_query, digits.y_query), ScoreArguments())))
    assert results[0][0] == results[1][0]
    assert torch.equal(results[0][1].contribution_units, results[1][1].contribution_units)
    assert settlements(results[0][1]) == settlements(results[1][1])
