"""Index artifacts: round trip, sharding, streaming scores, top-k and
per-contribution sums, and the checks that refuse a mismatched model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from attribution import (
    AttributionError,
    IndexArguments,
    IndexMismatchError,
    IndexNotFoundError,
    PreconditionerArguments,
    ProjectionArguments,
    ScoreArguments,
    Scorer,
    build_index,
    index_exists,
    load_index,
    load_preconditioner,
    preconditioner_exists,
    save_index,
    save_preconditioner,
    score,
    score_rows,
)
from attribution.scoring import plan_queries, query_gradients
from attribution.split import reward_weights

from .conftest import ClassificationTask, Digits, make_mlp

PROJ = ProjectionArguments(rank_in=8, rank_out=4, seed=3)
N = 150


def _contributions(n: int) -> list[int]:
    # Non-contiguous, repeated ids, not in sorted order.
    return [(7 * i) % 13 * 1000 + 5 for i in range(n)]


def _build(path: Path, d: Digits, model: nn.Module, shard_size: int, batch_size: int = 32) -> None:
    data = TensorDataset(d.x_train[:N], d.y_train[:N])
    build_index(model, ClassificationTask(), data, _contributions(N), path, projection_args=PROJ,
                index_args=IndexArguments(shard_size=shard_size, batch_size=batch_size), progress=False)


def _queries(d: Digits) -> tuple[torch.Tensor, torch.Tensor]:
    return d.x_query[:12], d.y_query[:12]


def test_index_round_trip(tmp_path: Path, digits: Digits, digits_model: nn.Module) -> None:
    assert not index_exists(tmp_path) and not preconditioner_exists(tmp_path)
    with pytest.raises(IndexNotFoundError):
        load_index(tmp_path)
    _build(tmp_path, digits, digits_model, shard_size=64)
    assert index_exists(tmp_path) and preconditioner_exists(tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["index.json", "preconditioner.safetensors", "shard-00000.safetensors",
                     "shard-00001.safetensors", "shard-00002.safetensors"]
    index = load_index(tmp_path)
    m = index.manifest
    assert m.total_examples == N and [s["rows"] for s in m.shards] == [64, 64, 22]
    assert m.projection_arguments == PROJ
    assert torch.equal(index.contribution_ids(), torch.tensor(_contributions(N)))
    g = index.gradients()
    assert g.dtype == torch.float32 and g.shape == (N, m.dim)
    # save_index writes the same rows back with the same manifest fields.
    other = tmp_path / "copy"
    m2 = save_index(other, g, index.contribution_ids(), specs=m.layer_specs, projection_args=PROJ,
                    model_fingerprint=m.model_fingerprint, shard_size=100)
    assert m2.total_examples == N and m2.layers == m.layers and [s["rows"] for s in m2.shards] == [100, 50]
    assert torch.equal(load_index(other).gradients(), g)
    pre = load_preconditioner(tmp_path)
    save_preconditioner(other, pre)
    pre2 = load_preconditioner(other)
    assert pre2.kind == "ekfac" and pre2.dampings == pre.dampings and pre2.count == N
    for name in ("q_in", "q_out", "eigenvalues"):
        assert all(torch.equal(a, b) for a, b in zip(getattr(pre, name), getattr(pre2, name)))
    # A missing shard makes the index incomplete.
    (tmp_path / "shard-00001.safetensors").unlink()
    assert not index_exists(tmp_path)


def test_full_fisher_preconditioner_round_trip(tmp_path: Path, digits: Digits, digits_model: nn.Module) -> None:
    data = TensorDataset(digits.x_train[:N], digits.y_train[:N])
    build_index(digits_model, ClassificationTask(), data, _contributions(N), tmp_path, projection_args=PROJ,
                preconditioner_args=PreconditionerArguments(kind="fisher", damping=0.1), progress=False)
    pre = load_preconditioner(tmp_path)
    save_preconditioner(tmp_path / "copy", pre)
    pre2 = load_preconditioner(tmp_path / "copy")
    assert pre2.kind == "fisher" and pre2.dampings == pre.dampings and pre2.count == N
    assert len(pre2.inverses) == 2 and all(torch.equal(a, b) for a, b in zip(pre.inverses, pre2.inverses))
    assert not pre2.q_in and not pre2.eigenvalues


def test_sharding_does_not_change_scores(tmp_path: Path, digits: Digits, digits_model: nn.Module) -> None:
    results = []
    for shard_size in (7, 64, N):
        path = tmp_path / str(shard_size)
        _build(path, digits, digits_model, shard_size)
        assert len(load_index(path).manifest.shards) == -(-N // shard_size)
        results.append(score(digits_model, ClassificationTask(), path, _queries(digits),
                             ScoreArguments(top_k=9, return_example_scores=True)))
    for r in results[1:]:
        assert torch.equal(r.top_k_indices, results[0].top_k_indices)
        torch.testing.assert_close(r.example_scores, results[0].example_scores, rtol=1e-12, atol=0)
        torch.testing.assert_close(r.contribution_scores, results[0].contribution_scores, rtol=1e-12, atol=1e-15)


def test_streaming_equals_in_memory_and_top_k(tmp_path: Path, digits: Digits, digits_model: nn.Module) -> None:
    _build(tmp_path, digits, digits_model, shard_size=7)
    task = ClassificationTask()
    args = ScoreArguments(top_k=10, query_batch_size=5, return_example_scores=True)
    result = score(digits_model, task, tmp_path, _queries(digits), args)
    index = load_index(tmp_path)
    q = load_preconditioner(tmp_path).apply(query_gradients(digits_model, task, _queries(digits), index))
    # The pass multiplies the queries rounded to their grids (plan_queries) exactly;
    # each score is then one rounding to the query's unit, far below 1e-9 of its scale.
    plan = plan_queries(index.manifest, q, args)
    in_memory = plan.queries @ index.gradients().double().T
    assert result.example_scores is not None
    scale = in_memory.abs().amax(dim=1, keepdim=True)
    assert bool(((result.example_scores - in_memory).abs() <= 1e-9 * scale).all())
    # ... and the rounded queries are the preconditioned ones to ~1e-5 of the largest score.
    assert bool(((q @ index.gradients().double().T - in_memory).abs() <= 1e-4 * scale).all())
    # top-k: the k best rows, best first (ties to the lower row), with their values and contribution ids
    values, order = torch.sort(result.example_scores, dim=1, descending=True, stable=True)
    assert torch.equal(result.top_k_indices, order[:, :10])
    assert torch.equal(result.top_k_values, values[:, :10])
    ids = torch.tensor(_contributions(N))
    assert torch.equal(result.top_k_contribution_ids, ids[order[:, :10]])
    # per contribution: sum of its examples' scores, per query and over the batch, exactly
    assert torch.equal(result.contribution_ids, torch.unique(ids))
    units = torch.round(result.example_scores * 2.0 ** -result.score_exponents.double().unsqueeze(1)).long()
    for j, cid in enumerate(result.contribution_ids.tolist()):
        assert torch.equal(result.contribution_units[:, j], units[:, ids == cid].sum(dim=1))
        # the reward split's input: the same sum over the positive scores only
        assert torch.equal(result.positive_units[:, j], units[:, ids == cid].clamp_min(0).sum(dim=1))
        expected = in_memory[:, ids == cid].sum(dim=1)
        torch.testing.assert_close(result.contribution_scores[:, j], expected, rtol=1e-8, atol=1e-9 * float(scale.max()))
    totals = result.per_contribution
    assert set(totals) == set(ids.tolist())
    assert sum(totals.values()) == pytest.approx(in_memory.sum().item(), rel=1e-9, abs=1e-9)
    assert result.per_contribution_of(0) == pytest.approx({c: in_memory[0, ids == c].sum().item() for c in totals}, rel=1e-9, abs=1e-12)


def test_top_k_ties_go_to_lower_row(tmp_path: Path) -> None:
    rows = torch.tensor([[1.0, 0.0], [2.0, 0.0], [1.0, 0.0], [2.0, 0.0], [0.5, 0.0]])
    from attribution.projection import LayerSpec

    spec = LayerSpec("l", "linear", 2, 1, False, 0, 2)
    save_index(tmp_path, rows, [1, 1, 2, 2, 3], specs=[spec], projection_args=PROJ, model_fingerprint="x", shard_size=2)
    result = score_rows(load_index(tmp_path), torch.tensor([[1.0, 0.0]], dtype=torch.float64), ScoreArguments(top_k=4))
    assert result.top_k_indices.tolist() == [[1, 3, 0, 2]]
    assert result.per_contribution == {1: 3.0, 2: 3.0, 3: 0.5}
    # top_k larger than the index returns every row
    assert score_rows(load_index(tmp_path), torch.ones(1, 2, dtype=torch.float64), ScoreArguments(top_k=50)).top_k_indices.shape == (1, 5)


def test_split_input_is_the_positive_part(tmp_path: Path) -> None:
    """Contributions whose examples oppose the query as much as (or more than)
    they support it net out at zero or below, yet are credited with their
    supporting examples: the split's input is the sum of the positive scores."""
    from attribution.projection import LayerSpec

    spec = LayerSpec("l", "linear", 2, 1, False, 0, 2)
    rows = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [2.0, 0.0], [-3.0, 0.0], [-0.5, 0.0]])
    save_index(tmp_path, rows, [1, 1, 2, 2, 3], specs=[spec], projection_args=PROJ, model_fingerprint="x", shard_size=2)
    result = score_rows(load_index(tmp_path), torch.tensor([[1.0, 0.0]], dtype=torch.float64), ScoreArguments(top_k=0))
    assert result.per_contribution == {1: 0.0, 2: -1.0, 3: -0.5}
    assert result.exact_positive_of(0) == {1: 1, 2: 2, 3: 0}
    assert reward_weights(result.exact_positive_of(0)) == [(1, 333_333), (2, 666_667)]


def test_mismatched_model_is_refused(tmp_path: Path, digits: Digits, digits_model: nn.Module) -> None:
    _build(tmp_path, digits, digits_model, shard_size=64)
    other = make_mlp(seed=1)
    with pytest.raises(IndexMismatchError, match="model_fingerprint"):
        score(other, ClassificationTask(), tmp_path, _queries(digits))
    manifest = json.loads((tmp_path / "index.json").read_text())
    manifest["layers"][0]["d_in"] += 1
    (tmp_path / "index.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="layers"):
        score(digits_model, ClassificationTask(), tmp_path, _queries(digits), check_model=False)


def test_identity_preconditioner_and_no_preconditioner(tmp_path: Path, digits: Digits, digits_model: nn.Module) -> None:
    data = TensorDataset(digits.x_train[:N], digits.y_train[:N])
    build_index(digits_model, ClassificationTask(), data, _contributions(N), tmp_path, projection_args=PROJ,
                preconditioner_args=PreconditionerArguments(kind="identity"), progress=False)
    a = score(digits_model, ClassificationTask(), tmp_path, _queries(digits), ScoreArguments(return_example_scores=True))
    (tmp_path / "preconditioner.safetensors").unlink()
    b = score(digits_model, ClassificationTask(), tmp_path, _queries(digits), ScoreArguments(return_example_scores=True))
    assert torch.equal(a.example_scores, b.example_scores)


def test_contribution_ids_must_match_examples(tmp_path: Path, digits: Digits, digits_model: nn.Module) -> None:
    data = TensorDataset(digits.x_train[:10], digits.y_train[:10])
    with pytest.raises(Exception, match="contribution ids"):
        build_index(digits_model, ClassificationTask(), data, list(range(9)), tmp_path, progress=False)


@pytest.mark.parametrize("kind", ["ekfac", "fisher"])
def test_non_finite_training_example_is_named_and_nothing_is_complete(tmp_path: Path, digits: Digits,
                                                                      digits_model: nn.Module, kind: str) -> None:
    x = digits.x_train[:40].clone()
    x[13, 5] = float("nan")
    with pytest.raises(AttributionError, match="training example 13: its gradient is not finite"):
        build_index(digits_model, ClassificationTask(), TensorDataset(x, digits.y_train[:40]), list(range(40)), tmp_path,
                    index_args=IndexArguments(batch_size=8), preconditioner_args=PreconditionerArguments(kind=kind),
                    progress=False)
    assert not index_exists(tmp_path)


def test_non_finite_query_is_named_and_an_empty_batch_scores_nothing(tmp_path: Path, digits: Digits,
                                                                     digits_model: nn.Module) -> None:
    _build(tmp_path, digits, digits_model, shard_size=64)
    x, y = _queries(digits)
    x = x.clone()
    x[2, 0] = float("inf")
    with pytest.raises(AttributionError, match="query 2: its gradient is not finite"):
        score(digits_model, ClassificationTask(), tmp_path, (x, y))
    empty = score(digits_model, ClassificationTask(), tmp_path, (x[:0], y[:0]), ScoreArguments(top_k=5))
    assert empty.top_k_indices.shape == (0, 5) and empty.contribution_scores.shape == (0, 13)


def test_resident_index_scores_exactly_as_the_files(tmp_path: Path, digits: Digits, digits_model: nn.Module) -> None:
    _build(tmp_path, digits, digits_model, shard_size=64)
    args = ScoreArguments(top_k=7, return_example_scores=True)
    from_files = score(digits_model, ClassificationTask(), tmp_path, _queries(digits), args)
    scorer = Scorer(digits_model, ClassificationTask(), tmp_path)
    assert scorer.index.shards_in_memory is not None and len(scorer.index.shards_in_memory) == 3
    for _ in range(2):  # the same scorer answers again and again
        resident = scorer.score(_queries(digits), args)
        for name in ("top_k_indices", "top_k_values", "top_k_contribution_ids", "contribution_ids",
                     "contribution_scores", "example_scores"):
            assert torch.equal(getattr(resident, name), getattr(from_files, name)), name
    assert from_files.top_k_contribution_ids.tolist() == [
        [_contributions(N)[i] for i in row] for row in from_files.top_k_indices.tolist()
    ]
    index = load_index(tmp_path)
    for a, b in zip(index.contribution_columns(), index.resident().contribution_columns()):
        assert torch.equal(a, b)


def test_scorer_checks_the_model_once(tmp_path: Path, digits: Digits, digits_model: nn.Module) -> None:
    _build(tmp_path, digits, digits_model, shard_size=64)
    with pytest.raises(IndexMismatchError, match="model_fingerprint"):
        Scorer(make_mlp(seed=1), ClassificationTask(), tmp_path)
    with pytest.raises(IndexNotFoundError):
        Scorer(digits_model, ClassificationTask(), tmp_path / "missing")
