"""Gradient influence on CUDA runs the same code path as on CPU and agrees with
it within rounding; skipped without a CUDA device."""

from __future__ import annotations

import copy
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
    Scorer,
    build_index,
    load_index,
    load_preconditioner,
    score,
)
from attribution.examples.digits import DigitsTask

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


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


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cpu_and_cuda_scores_agree(tmp_path: Path, dtype: str) -> None:
    x, y = _digits()
    data = TensorDataset(x[:256], y[:256])
    queries = (x[256:], y[256:])
    proj = ProjectionArguments(rank_in=8, rank_out=4, seed=5, dtype=dtype)
    rtol = 1e-6 if dtype == "float64" else 1e-3
    cpu_model, task = _model(), DigitsTask()
    cuda_model = copy.deepcopy(cpu_model).cuda()
    args = ScoreArguments(top_k=10, return_example_scores=True)
    build_index(cpu_model, task, data, [i % 17 for i in range(256)], tmp_path / "cpu", projection_args=proj,
                index_args=IndexArguments(shard_size=100, batch_size=32), progress=False)
    build_index(cuda_model, task, data, [i % 17 for i in range(256)], tmp_path / "cuda", projection_args=proj,
                index_args=IndexArguments(shard_size=100, batch_size=32), progress=False)
    g_cpu, g_cuda = load_index(tmp_path / "cpu").gradients(), load_index(tmp_path / "cuda").gradients()
    torch.testing.assert_close(g_cuda, g_cpu, rtol=rtol, atol=rtol * g_cpu.abs().max().item())
    for a, b in zip(load_preconditioner(tmp_path / "cuda").inverses, load_preconditioner(tmp_path / "cpu").inverses):
        torch.testing.assert_close(a, b, rtol=rtol, atol=rtol * b.abs().max().item())
    on_cpu = score(cpu_model, task, tmp_path / "cpu", queries, args)
    on_cuda = score(cuda_model, task, tmp_path / "cpu", queries, args)  # same index, scored on the GPU
    assert on_cuda.example_scores is not None and on_cpu.example_scores is not None
    scale = on_cpu.example_scores.abs().max().item()
    torch.testing.assert_close(on_cuda.example_scores, on_cpu.example_scores, rtol=rtol, atol=rtol * scale)
    torch.testing.assert_close(on_cuda.contribution_scores, on_cpu.contribution_scores, rtol=rtol, atol=rtol * scale * 20)
    if dtype == "float64":
        assert torch.equal(on_cuda.top_k_indices, on_cpu.top_k_indices)
    cross = score(cuda_model, task, tmp_path / "cuda", queries, args)  # index built on the GPU
    assert cross.example_scores is not None
    torch.testing.assert_close(cross.example_scores, on_cpu.example_scores, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("kind", ["ekfac", "fisher"])
def test_sampled_fisher_preconditioners_agree_on_cpu_and_cuda(tmp_path: Path, kind: str) -> None:
    """The sampled targets are drawn on the CPU per example, so both devices
    build the same preconditioner; EK-FAC's eigenbases are compared through the
    scores (eigenvector signs are arbitrary)."""
    x, y = _digits()
    data = TensorDataset(x[:256], y[:256])
    queries = (x[256:], y[256:])
    proj = ProjectionArguments(rank_in=8, rank_out=4, seed=5, dtype="float64")
    pre = PreconditionerArguments(kind=kind, fisher="sampled", samples=3, damping=0.05)
    cpu_model, task = _model(), DigitsTask()
    cuda_model = copy.deepcopy(cpu_model).cuda()
    args = ScoreArguments(top_k=10, return_example_scores=True)
    for name, model in (("cpu", cpu_model), ("cuda", cuda_model)):
        build_index(model, task, data, [i % 17 for i in range(256)], tmp_path / name, projection_args=proj,
                    index_args=IndexArguments(shard_size=100, batch_size=32), preconditioner_args=pre, progress=False)
    on_cpu = score(cpu_model, task, tmp_path / "cpu", queries, args)
    on_cuda = score(cuda_model, task, tmp_path / "cuda", queries, args)
    assert on_cuda.example_scores is not None and on_cpu.example_scores is not None
    scale = on_cpu.example_scores.abs().max().item()
    torch.testing.assert_close(on_cuda.example_scores, on_cpu.example_scores, rtol=1e-6, atol=1e-6 * scale)


def test_resident_scorer_on_cuda_agrees_with_cpu(tmp_path: Path) -> None:
    x, y = _digits()
    data = TensorDataset(x[:256], y[:256])
    queries = (x[256:], y[256:])
    proj = ProjectionArguments(rank_in=8, rank_out=4, seed=5, dtype="float64")
    cpu_model, task = _model(), DigitsTask()
    build_index(cpu_model, task, data, [i % 17 for i in range(256)], tmp_path, projection_args=proj,
                index_args=IndexArguments(shard_size=100, batch_size=32), progress=False)
    cuda_model = copy.deepcopy(cpu_model).cuda()
    scorer = Scorer(cuda_model, task, tmp_path)
    assert scorer.index.shards_in_memory is not None
    assert all(g.is_cuda for g, _ in scorer.index.shards_in_memory)
    args = ScoreArguments(top_k=10, return_example_scores=True)
    on_cuda = scorer.score(queries, args)
    on_cpu = score(cpu_model, task, tmp_path, queries, args)
    assert on_cuda.example_scores is not None and on_cpu.example_scores is not None
    scale = on_cpu.example_scores.abs().max().item()
    torch.testing.assert_close(on_cuda.example_scores, on_cpu.example_scores, rtol=1e-6, atol=1e-6 * scale)
    assert torch.equal(on_cuda.top_k_indices, on_cpu.top_k_indices)
