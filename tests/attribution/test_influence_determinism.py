"""Determinism that the reward split relies on: identical inputs give
bit-identical scores; batch sizes and thread counts change scores only within
rounding and never the top-k ranking.

Tolerances are relative to the largest score (atol = rtol * max|score|), since
near-zero scores carry the absolute rounding error of the big ones. With a
float64 model and ProjectionArguments(dtype="float64") — the setting meant for
settlement — scores agree to rtol 1e-6 (measured: ~1e-14). A float32 model
gives ~1e-5 (its forward pass rounds differently per batch shape), checked with
rtol 1e-4.
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
    ProjectionArguments,
    ScoreArguments,
    ScoreResult,
    build_index,
    load_index,
    score,
)

from .conftest import ClassificationTask, Digits

N = 200


@dataclass(frozen=True)
class Setup:
    model: nn.Module
    digits: Digits
    projection: ProjectionArguments
    rtol: float


@pytest.fixture(params=["float64", "float32"])
def setup(request: pytest.FixtureRequest, digits: Digits) -> Setup:
    if request.param == "float64":
        d = Digits(digits.x_train.double(), digits.y_train, digits.x_query.double(), digits.y_query)
        return Setup(request.getfixturevalue("digits_model64"), d, ProjectionArguments(16, 8, 11, "float64"), 1e-6)
    return Setup(request.getfixturevalue("digits_model"), digits, ProjectionArguments(16, 8, 11, "float32"), 1e-4)


def _run(path: Path, s: Setup, batch_size: int = 64, query_batch_size: int = 64) -> tuple[torch.Tensor, ScoreResult]:
    data = TensorDataset(s.digits.x_train[:N], s.digits.y_train[:N])
    build_index(s.model, ClassificationTask(), data, [i // 10 for i in range(N)], path, projection_args=s.projection,
                index_args=IndexArguments(shard_size=64, batch_size=batch_size), progress=False)
    args = ScoreArguments(top_k=10, return_example_scores=True, query_batch_size=query_batch_size)
    return load_index(path).gradients(), score(s.model, ClassificationTask(), path, (s.digits.x_query, s.digits.y_query), args)


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float) -> None:
    torch.testing.assert_close(a, b, rtol=rtol, atol=rtol * b.abs().max().item())


def _assert_same_ranking(a: ScoreResult, b: ScoreResult, rtol: float) -> None:
    assert torch.equal(a.top_k_indices, b.top_k_indices)
    assert a.example_scores is not None and b.example_scores is not None
    _close(a.top_k_values, b.top_k_values, rtol)
    _close(a.example_scores, b.example_scores, rtol)
    _close(a.contribution_scores, b.contribution_scores, rtol)


def test_same_inputs_give_bit_identical_scores(tmp_path: Path, setup: Setup) -> None:
    g1, r1 = _run(tmp_path / "a", setup)
    g2, r2 = _run(tmp_path / "b", setup)
    assert torch.equal(g1, g2)
    assert torch.equal(r1.example_scores, r2.example_scores)
    assert torch.equal(r1.top_k_indices, r2.top_k_indices)
    assert torch.equal(r1.contribution_scores, r2.contribution_scores)
    for name in ("shard-00000.safetensors", "preconditioner.safetensors", "index.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_index_batch_size_does_not_change_ranking(tmp_path: Path, setup: Setup) -> None:
    runs = [_run(tmp_path / str(bs), setup, batch_size=bs) for bs in (1, 8, 64)]
    for g, r in runs[1:]:
        _close(g, runs[0][0], setup.rtol)
        _assert_same_ranking(r, runs[0][1], setup.rtol)


def test_query_batch_size_does_not_change_ranking(tmp_path: Path, setup: Setup) -> None:
    _, together = _run(tmp_path / "a", setup, query_batch_size=64)
    _, chunked = _run(tmp_path / "b", setup, query_batch_size=7)
    _assert_same_ranking(chunked, together, setup.rtol)
    # One query at a time through the model as well.
    d = setup.digits
    for i in (0, 5, 17):
        single = score(setup.model, ClassificationTask(), tmp_path / "a", (d.x_query[i : i + 1], d.y_query[i : i + 1]),
                       ScoreArguments(top_k=10, return_example_scores=True))
        assert torch.equal(single.top_k_indices[0], together.top_k_indices[i])
        _close(single.example_scores[0], together.example_scores[i], setup.rtol)


def test_thread_count_does_not_change_ranking(tmp_path: Path, setup: Setup, torch_threads: None) -> None:
    torch.set_num_threads(1)
    _, one = _run(tmp_path / "one", setup)
    torch.set_num_threads(2)
    _, two = _run(tmp_path / "two", setup)
    _assert_same_ranking(two, one, setup.rtol)
