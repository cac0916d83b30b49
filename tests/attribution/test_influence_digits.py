"""Influence sanity on a small MLP trained on scikit-learn's digits: checked
against ground truth (labels, planted duplicates, exact gradients) with rates and
rank correlations rather than exact values."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from scipy.stats import spearmanr
from torch import nn
from torch.utils.data import TensorDataset

from attribution import (
    PreconditionerArguments,
    ProjectionArguments,
    ScoreArguments,
    build_index,
    gradient_dot_product,
    per_example_gradients,
    score,
)

from .conftest import ClassificationTask, Digits

PROJ = ProjectionArguments(rank_in=16, rank_out=8, seed=0, full_layer_size=0)  # project every layer
N_DUP = 20


def _with_duplicates(d: Digits) -> TensorDataset:
    """Training set plus copies of the first N_DUP queries (indexed, not trained on)."""
    return TensorDataset(torch.cat([d.x_train, d.x_query[:N_DUP]]), torch.cat([d.y_train, d.y_query[:N_DUP]]))


@pytest.fixture(scope="module")
def dup_index(tmp_path_factory: pytest.TempPathFactory, digits: Digits, digits_model: nn.Module) -> Path:
    path = tmp_path_factory.mktemp("digits-index")
    data = _with_duplicates(digits)
    build_index(digits_model, ClassificationTask(), data, list(range(len(data))), path, projection_args=PROJ, progress=False)
    return path


def test_duplicate_of_query_ranks_first(dup_index: Path, digits: Digits, digits_model: nn.Module, task: ClassificationTask) -> None:
    result = score(digits_model, task, dup_index, (digits.x_query[:N_DUP], digits.y_query[:N_DUP]), ScoreArguments(top_k=5, normalize=True))
    expected = torch.arange(len(digits.y_train), len(digits.y_train) + N_DUP)
    assert torch.equal(result.top_k_indices[:, 0], expected)
    # Raw (unnormalised) influence is dominated by high-loss examples, so the
    # duplicate need not be first; its self-influence is still positive and
    # above the median training example.
    raw = score(digits_model, task, dup_index, (digits.x_query[:N_DUP], digits.y_query[:N_DUP]), ScoreArguments(top_k=0, return_example_scores=True))
    assert raw.example_scores is not None
    dup_scores = raw.example_scores[torch.arange(N_DUP), expected]
    assert (dup_scores > 0).all()
    assert (dup_scores > raw.example_scores.median(dim=1).values).all()


@pytest.mark.parametrize("normalize,min_rate", [(False, 0.5), (True, 0.8)])
def test_top_examples_share_the_query_class(
    dup_index: Path, digits: Digits, digits_model: nn.Module, task: ClassificationTask, normalize: bool, min_rate: float
) -> None:
    queries = (digits.x_query[N_DUP:], digits.y_query[N_DUP:])  # no duplicates of these are indexed
    result = score(digits_model, task, dup_index, queries, ScoreArguments(top_k=10, normalize=normalize))
    labels = _with_duplicates(digits).tensors[1]
    rate = (labels[result.top_k_indices] == queries[1][:, None]).float().mean().item()
    assert rate >= min_rate  # chance is about 0.1


@pytest.mark.parametrize("ranks,full_layer_size,min_pearson,min_spearman",
                         [((64, 32), 0, 0.98, 0.98), ((32, 10), 0, 0.3, 0.3), ((4, 4), 8192, 0.9999, 0.9999)])
def test_projected_scores_rank_like_exact_gradients(
    tmp_path: Path, digits: Digits, digits_model: nn.Module, task: ClassificationTask,
    ranks: tuple[int, int], full_layer_size: int, min_pearson: float, min_spearman: float,
) -> None:
    """Without a preconditioner, LoGra scores are a sketch of the exact
    (TracIn-style) gradient dot products. At ranks (64, 32) only layer 1's
    inputs (65 wide) are projected and the sketch is near exact; at (32, 10) the
    Kronecker sketch of the output side is noisy (the price of never forming the
    full gradient), yet still clearly correlated. With the default
    full_layer_size both layers (65 x 32 and 33 x 10) are small enough to be
    stored whole, whatever the ranks: the scores are the exact ones up to the
    fixed-point grids."""
    data = TensorDataset(digits.x_train, digits.y_train)
    build_index(
        digits_model, task, data, list(range(len(data))), tmp_path,
        projection_args=ProjectionArguments(rank_in=ranks[0], rank_out=ranks[1], full_layer_size=full_layer_size),
        preconditioner_args=PreconditionerArguments(kind="identity"), progress=False,
    )
    queries = (digits.x_query[:10], digits.y_query[:10])
    approx = score(digits_model, task, tmp_path, queries, ScoreArguments(top_k=0, return_example_scores=True)).example_scores
    assert approx is not None
    layers = [m for m in digits_model.modules() if isinstance(m, nn.Linear)]
    exact_train = per_example_gradients(digits_model, layers, (digits.x_train, digits.y_train), task.compute_train_loss)
    exact_query = per_example_gradients(digits_model, layers, queries, lambda b, m: -task.compute_measurement(b, m))
    exact = gradient_dot_product(exact_train, exact_query)
    pearson = [torch.corrcoef(torch.stack([approx[i], exact[i]]))[0, 1].item() for i in range(10)]
    rhos = [spearmanr(approx[i].numpy(), exact[i].numpy()).statistic for i in range(10)]
    assert min(pearson) > min_pearson, pearson
    assert min(rhos) > min_spearman, rhos
