"""Gradient influence on CUDA runs the same code path as on CPU and, from the
model's activations and output gradients on, gives the same bits
(attribution/exact.py: fixed-point values, exact products, integer sums);
skipped without a CUDA device.

What a GPU may still change is the model's own forward and backward pass (its
kernels round differently from the CPU's): the end-to-end test below checks
that the splits and hashes nevertheless agree on the digits model, where a
difference would need a value within one float64 rounding of a grid boundary.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from attribution import (
    EkfacAccumulator,
    IndexArguments,
    PreconditionerArguments,
    ProjectionArguments,
    ScoreArguments,
    Scorer,
    build_index,
    load_index,
    load_preconditioner,
    query_gradients,
    score,
    score_rows,
)
from attribution.examples.digits import DigitsTask
from attribution.projection import (
    _project,
    exact_combine,
    factors_on_grid,
    gaussian_matrix,
)
from attribution.split import NoPositiveAttribution, attribution_hash, reward_weights

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

FIELDS = ("top_k_indices", "top_k_values", "top_k_contribution_ids", "contribution_ids", "contribution_scores",
          "contribution_units", "score_exponents", "example_scores")


def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float64).reshape(-1, 1, 8, 8) / 16.0
    return x[:300], torch.tensor(data.target[:300], dtype=torch.int64)


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(4 * 64, 10)
    ).double().eval()


def _index(path: Path, model: nn.Module, pre: PreconditionerArguments | None = None) -> None:
    x, y = _digits()
    build_index(model, DigitsTask(), TensorDataset(x[:256], y[:256]), [i % 17 + 1 for i in range(256)], path,
                projection_args=ProjectionArguments(rank_in=8, rank_out=4, seed=5),
                index_args=IndexArguments(shard_size=100, batch_size=32), preconditioner_args=pre or PreconditionerArguments(),
                progress=False)


def _settlements(result: object) -> list[object]:
    out: list[object] = []
    for q in range(result.contribution_units.shape[0]):  # type: ignore[attr-defined]
        try:
            weights = reward_weights(result.exact_positive_of(q))  # type: ignore[attr-defined]
        except NoPositiveAttribution:
            out.append(None)
            continue
        out.append((weights, attribution_hash(1, bytes(32), weights)))
    return out


def test_projection_and_factor_statistics_are_bit_identical_on_cuda() -> None:
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(9, 5, 70, dtype=torch.float64, generator=gen)
    g = torch.randn(9, 5, 30, dtype=torch.float64, generator=gen)
    p_in, p_out = gaussian_matrix(70, 16, 1, torch.float64), gaussian_matrix(30, 8, 2, torch.float64)
    from attribution.exact import PROJECTION_BITS, quantize

    p_in, p_out = quantize(p_in, PROJECTION_BITS)[0], quantize(p_out, PROJECTION_BITS)[0]

    def run(device: str) -> tuple[torch.Tensor, ...]:
        pa, pg = factors_on_grid(_project(a.to(device), p_in.to(device)), _project(g.to(device), p_out.to(device)))
        terms = EkfacAccumulator.factor_terms(pa, pg)
        return tuple(t.cpu() for t in (pa, pg, exact_combine(pa, pg), *terms))

    for on_cpu, on_cuda in zip(run("cpu"), run("cuda")):
        assert torch.equal(on_cpu, on_cuda)


@pytest.mark.parametrize("kind", ["ekfac", "fisher"])
@pytest.mark.parametrize("normalize", [False, True])
def test_scoring_on_cuda_is_bit_identical_to_cpu(tmp_path: Path, kind: str, normalize: bool) -> None:
    model, task = _model(), DigitsTask()
    _index(tmp_path, model, PreconditionerArguments(kind=kind))
    x, y = _digits()
    index, pre = load_index(tmp_path), load_preconditioner(tmp_path)
    raw = query_gradients(model, task, (x[256:], y[256:]), index)
    assert torch.equal(pre.apply(raw.cuda()).cpu(), pre.apply(raw))
    args = ScoreArguments(top_k=10, return_example_scores=True, normalize=normalize, query_batch_size=7)
    on_cpu = score_rows(index, pre.apply(raw), args, preconditioner=pre, raw_queries=raw)
    for source in (index, index.resident("cuda")):
        on_cuda = score_rows(source, pre.apply(raw.cuda()), args, device="cuda", preconditioner=pre, raw_queries=raw.cuda())
        for name in FIELDS:
            assert torch.equal(getattr(on_cuda, name), getattr(on_cpu, name)), name


def test_index_built_and_scored_on_cuda_settles_as_on_cpu(tmp_path: Path) -> None:
    cpu_model, task = _model(), DigitsTask()
    cuda_model = copy.deepcopy(cpu_model).cuda()
    _index(tmp_path / "cpu", cpu_model)
    _index(tmp_path / "cuda", cuda_model)
    x, y = _digits()
    queries = (x[256:], y[256:])
    args = ScoreArguments(top_k=10, return_example_scores=True)
    on_cpu = score(cpu_model, task, tmp_path / "cpu", queries, args)
    on_cuda = Scorer(cuda_model, task, tmp_path / "cuda").score(queries, args)
    assert any(s is not None for s in _settlements(on_cpu))
    assert _settlements(on_cuda) == _settlements(on_cpu)
    assert torch.equal(on_cuda.top_k_indices, on_cpu.top_k_indices)
