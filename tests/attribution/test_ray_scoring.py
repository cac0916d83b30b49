"""The Ray scorer (attribution/distributed.py) on a local two-CPU Ray cluster:
shards spread over one or two workers give the single-process scorer's
results bit for bit, splits and attribution hashes included."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from attribution import (
    IndexArguments,
    ProjectionArguments,
    ScoreArguments,
    Scorer,
    build_index,
)
from attribution.distributed import shard_ranges

from .conftest import ClassificationTask, Digits
from .test_influence_determinism import settlements

ray = pytest.importorskip("ray", reason="the Ray scorer needs ray (pip install 'openledger-node[ray]')")

N = 200


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory, digits: Digits, digits_model: nn.Module) -> Path:
    path = tmp_path_factory.mktemp("ray-index")
    data = TensorDataset(digits.x_train[:N], digits.y_train[:N])
    build_index(digits_model, ClassificationTask(), data, [i // 10 + 1 for i in range(N)], path,
                projection_args=ProjectionArguments(16, 8, 11), index_args=IndexArguments(shard_size=30), progress=False)
    return path


def test_shard_ranges_cover_every_shard_once_in_order() -> None:
    assert shard_ranges([30] * 7, 2) == [[0, 1, 2, 3], [4, 5, 6]]
    assert shard_ranges([1, 1, 100], 2) == [[0, 1], [2]]
    assert shard_ranges([10, 10], 5) == [[0], [1]]
    assert shard_ranges([], 2) == []


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("normalize", [False, True])
def test_ray_scorer_equals_the_single_process_scorer(cluster: None, index_dir: Path, digits: Digits,
                                                     digits_model: nn.Module, workers: int, normalize: bool) -> None:
    from attribution.distributed import RayScorer

    queries = (digits.x_query, digits.y_query)
    args = ScoreArguments(top_k=7, return_example_scores=True, normalize=normalize)
    expected = Scorer(digits_model, ClassificationTask(), index_dir).score(queries, args)
    scorer = RayScorer(digits_model, ClassificationTask(), index_dir, workers=workers)
    try:
        assert len(scorer.workers) == workers
        got = scorer.score(queries, args)
    finally:
        scorer.shutdown()
    for name in ("top_k_indices", "top_k_values", "top_k_contribution_ids", "contribution_ids", "contribution_scores",
                 "contribution_units", "positive_units", "score_exponents", "example_scores"):
        assert torch.equal(getattr(got, name), getattr(expected, name)), name
    assert settlements(got) == settlements(expected)
    assert any(s is not None for s in settlements(got))
