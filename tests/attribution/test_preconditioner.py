"""Preconditioners: EK-FAC against the full Fisher it approximates, the sampled
(true) Fisher against the analytic one, the draws' independence from batching,
artifacts round trips, and the errors that name the problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from attribution import (
    AttributionError,
    EkfacAccumulator,
    FisherAccumulator,
    GradientCollector,
    IndexArguments,
    PreconditionerArguments,
    ProjectionArguments,
    ScoreArguments,
    build_index,
    index_exists,
    load_index,
    load_preconditioner,
    score,
)
from attribution.task import example_uniforms, expected_train_loss, sampled_train_loss

from .conftest import ClassificationTask, Digits

PROJ = ProjectionArguments(rank_in=8, rank_out=4, seed=1, full_layer_size=0)  # project every layer
N = 200


class LogitsTask(ClassificationTask):
    def compute_train_logits(self, batch: Any, model: nn.Module) -> torch.Tensor:
        x, _ = batch
        return model(x)


def _data(d: Digits, n: int = N) -> TensorDataset:
    return TensorDataset(d.x_train[:n], d.y_train[:n])


def _build(path: Path, d: Digits, model: nn.Module, pre: PreconditionerArguments, batch_size: int = 32,
           proj: ProjectionArguments = PROJ) -> None:
    build_index(model, LogitsTask(), _data(d), list(range(N)), path, projection_args=proj,
                index_args=IndexArguments(shard_size=64, batch_size=batch_size), preconditioner_args=pre, progress=False)


def test_ekfac_eigenvalues_are_the_fisher_in_the_kronecker_basis(tmp_path: Path, digits: Digits,
                                                                  digits_model: nn.Module) -> None:
    """Lambda[o, i] = E[(Q_S^T G Q_A)[o, i]^2] is the diagonal of the full
    Fisher in the basis kron(Q_S, Q_A); apply() inverts that damped diagonal."""
    args = PreconditionerArguments(kind="ekfac", fisher="empirical", damping=0.05)
    _build(tmp_path, digits, digits_model, args)
    pre = load_preconditioner(tmp_path)
    rows = load_index(tmp_path).gradients().to(torch.float64)
    assert pre.kind == "ekfac" and pre.count == N and len(pre.q_in) == 2
    queries = torch.randn(5, rows.shape[1], dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    applied = pre.apply(queries)
    for s, qa, qs, lam, damp in zip(pre.specs, pre.q_in, pre.q_out, pre.eigenvalues, pre.dampings):
        # The bases are stored on 22-bit grids (attribution/exact.py): orthogonal to ~1e-6.
        assert torch.allclose(qa.T @ qa, torch.eye(qa.shape[0], dtype=torch.float64), atol=1e-5)
        assert torch.allclose(qs.T @ qs, torch.eye(qs.shape[0], dtype=torch.float64), atol=1e-5)
        block = rows[:, s.offset : s.offset + s.dim]
        fisher = block.T @ block / N
        basis = torch.kron(qs, qa)
        diagonal = torch.diagonal(basis.T @ fisher @ basis)
        assert torch.allclose(lam.reshape(-1), diagonal, rtol=1e-4, atol=1e-5 * float(diagonal.max()))
        assert damp == pytest.approx(0.05 * float(lam.mean()))
        inverse = basis @ torch.diag(1 / (lam.reshape(-1) + damp)) @ basis.T
        expected = queries[:, s.offset : s.offset + s.dim] @ inverse
        assert torch.allclose(applied[:, s.offset : s.offset + s.dim], expected, rtol=1e-4,
                              atol=1e-5 * float(expected.abs().max()))


def test_ekfac_factors_are_the_projected_layer_statistics(digits: Digits, digits_model: nn.Module) -> None:
    """Q_A and Q_S diagonalise the projected input and output-gradient second moments."""
    modules = [m for m in digits_model.modules() if isinstance(m, nn.Linear)]
    x, y = digits.x_train[:N], digits.y_train[:N]
    with GradientCollector(digits_model, modules, PROJ) as collector:
        acc = EkfacAccumulator(collector.specs, collector.factor_shapes)
        seen: dict[int, list[torch.Tensor]] = {0: [], 1: []}

        def observe(layer: int, pa: torch.Tensor, pg: torch.Tensor) -> None:
            acc.update_factors(layer, pa, pg)
            seen[layer] = [pa, pg]

        with torch.enable_grad():
            collector.gradients(F.cross_entropy(digits_model(x), y, reduction="sum"), observe=observe)
    acc.eigenbases()
    for layer, (pa, pg) in seen.items():
        a = pa.reshape(-1, pa.shape[-1]).double()
        g = pg.reshape(-1, pg.shape[-1]).double()
        for q, m in ((acc.q_in[layer], a.T @ a), (acc.q_out[layer], g.T @ g)):
            rotated = q.T @ m @ q
            off = rotated - torch.diag(torch.diagonal(rotated))
            assert off.abs().max() <= 1e-5 * m.abs().max()  # bases on 22-bit grids


def test_ekfac_is_an_inner_product_a_duplicate_ranks_itself_first(tmp_path: Path, digits: Digits,
                                                                 digits_model: nn.Module) -> None:
    """The measurement is the log-probability of the label, so a training
    example used as a query has its own training row as query row; with
    normalised scores, Cauchy-Schwarz in the EK-FAC inner product puts it first."""
    _build(tmp_path, digits, digits_model, PreconditionerArguments(kind="ekfac", damping=0.03))
    queries = (digits.x_train[:20], digits.y_train[:20])
    result = score(digits_model, LogitsTask(), tmp_path, queries, ScoreArguments(top_k=1, normalize=True))
    assert result.top_k_indices[:, 0].tolist() == list(range(20))


def test_ekfac_round_trip_and_conv2d(tmp_path: Path, digits: Digits) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 10))
    model.eval()
    _build(tmp_path, digits, model, PreconditionerArguments(kind="ekfac", fisher="sampled", samples=2, damping=0.1))
    pre = load_preconditioner(tmp_path)
    assert [q.shape[0] for q in pre.q_in] == [8, 8] and [q.shape[0] for q in pre.q_out] == [4, 4]
    queries = (digits.x_query[:6], digits.y_query[:6])
    args = ScoreArguments(top_k=3, return_example_scores=True)
    stored = score(model, LogitsTask(), tmp_path, queries, args)
    passed = score(model, LogitsTask(), tmp_path, queries, args, preconditioner=pre)
    assert torch.equal(stored.example_scores, passed.example_scores)
    assert torch.isfinite(stored.example_scores).all()


def _analytic_fisher(model: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """(1/n) sum_i sum_c p_ic g_ic g_ic^T: every class as the target, weighted
    by the model's probability of it."""
    with torch.no_grad():
        p = torch.softmax(model(x), dim=1)
    total = torch.zeros(650, 650, dtype=torch.float64)
    exact = ProjectionArguments(rank_in=65, rank_out=10)
    for c in range(10):
        y = torch.full((len(x),), c, dtype=torch.int64)
        with GradientCollector(model, [model], exact) as collector, torch.enable_grad():
            g = collector.gradients(F.cross_entropy(model(x), y, reduction="sum")).double()
        total += (g * p[:, c : c + 1]).T @ g
    return total / len(x)


def _fisher_of(rows: torch.Tensor) -> torch.Tensor:
    return rows.T @ rows / rows.shape[0]


def _softmax_regression(digits: Digits) -> tuple[nn.Linear, torch.Tensor, torch.Tensor]:
    """A Linear(64, 10) partly trained on the first N digits, and those digits."""
    torch.manual_seed(0)
    model = nn.Linear(64, 10).double()
    x, y = digits.x_train[:N].double(), digits.y_train[:N]
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(60):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return model, x, y


def test_sampled_fisher_converges_to_the_true_fisher(digits: Digits) -> None:
    model, x, y = _softmax_regression(digits)
    true = _analytic_fisher(model, x)
    exact = ProjectionArguments(rank_in=65, rank_out=10)
    draws = []
    with GradientCollector(model, [model], exact) as collector, torch.enable_grad():
        for s in range(64):
            draws.append(collector.gradients(sampled_train_loss(LogitsTask(), (x, y), model, range(N), seed=0, sample=s)))
        empirical = collector.gradients(F.cross_entropy(model(x), y, reduction="sum"))

    def error(rows: torch.Tensor) -> float:
        return float((_fisher_of(rows.double()) - true).norm() / true.norm())

    # A Monte-Carlo estimate: the error shrinks like 1/sqrt(draws) (0.26 at 16
    # draws, 0.11 at 64 here), while the empirical Fisher stays far off (0.82).
    err_16, err_64 = error(torch.cat(draws[:16])), error(torch.cat(draws))
    assert err_64 < 0.15
    assert err_16 > 1.6 * err_64
    assert error(empirical) > 4 * err_64


def test_exact_fisher_is_the_true_fisher(tmp_path: Path, digits: Digits) -> None:
    """fisher='exact' (every class, weighted by its probability): the full
    block the index stores is (F + lambda I)^-1 for the analytic Gauss-Newton
    matrix F, with no sampling noise, on any batch size."""
    model, x, y = _softmax_regression(digits)
    args = PreconditionerArguments(kind="fisher", fisher="exact", damping=0.1)
    full = ProjectionArguments(rank_in=65, rank_out=10)
    for batch_size in (7, 64):
        build_index(model, LogitsTask(), TensorDataset(x, y), list(range(N)), tmp_path / str(batch_size),
                    projection_args=full, index_args=IndexArguments(batch_size=batch_size), preconditioner_args=args,
                    progress=False)
    pre = load_preconditioner(tmp_path / "7")
    true = _analytic_fisher(model, x)
    expected = torch.linalg.inv(true + pre.dampings[0] * torch.eye(650, dtype=torch.float64))
    assert pre.dampings[0] == pytest.approx(0.1 * float(torch.linalg.eigvalsh(true).clamp_min(0).mean()), rel=1e-6)
    assert float((pre.inverses[0] - expected).norm() / expected.norm()) < 1e-5
    assert (tmp_path / "7" / "preconditioner.safetensors").read_bytes() == \
        (tmp_path / "64" / "preconditioner.safetensors").read_bytes()


def test_exact_fisher_needs_one_prediction_per_example() -> None:
    logits = torch.zeros(2, 3, 4, dtype=torch.float64, requires_grad=True)
    with pytest.raises(AttributionError, match="one prediction per example, got 3 positions"):
        expected_train_loss(_FixedLogits(logits), None, nn.Identity(), 2, target=0)


def test_draws_do_not_depend_on_batching(tmp_path: Path, digits: Digits, digits_model: nn.Module) -> None:
    args = PreconditionerArguments(kind="fisher", fisher="sampled", samples=3, damping=0.1)
    _build(tmp_path / "a", digits, digits_model, args, batch_size=7)
    _build(tmp_path / "b", digits, digits_model, args, batch_size=64)
    _build(tmp_path / "c", digits, digits_model, args, batch_size=64)
    a, b = load_preconditioner(tmp_path / "a"), load_preconditioner(tmp_path / "b")
    for ia, ib in zip(a.inverses, b.inverses):
        assert torch.allclose(ia, ib, rtol=1e-4, atol=1e-8 * float(ib.abs().max()))
    # Same arguments, same bytes.
    assert (tmp_path / "b" / "preconditioner.safetensors").read_bytes() == (tmp_path / "c" / "preconditioner.safetensors").read_bytes()
    # The sampled Fisher is not the empirical one.
    _build(tmp_path / "e", digits, digits_model, PreconditionerArguments(kind="fisher", damping=0.1), batch_size=64)
    e = load_preconditioner(tmp_path / "e")
    assert not torch.allclose(e.inverses[1], b.inverses[1], rtol=1e-2)


def test_sampled_ekfac_takes_its_eigenvalues_on_draws_of_their_own(tmp_path: Path, digits: Digits,
                                                                    digits_model: nn.Module) -> None:
    """The eigenbases come from draw 0, the eigenvalues from draw 1: on the
    draws that fitted the bases the eigenvalues would come out too small off
    the top directions."""
    _build(tmp_path, digits, digits_model, PreconditionerArguments(kind="ekfac", fisher="sampled", samples=1))
    pre = load_preconditioner(tmp_path)
    x, y = digits.x_train[:N], digits.y_train[:N]
    layers = [m for m in digits_model.modules() if isinstance(m, nn.Linear)]

    def draw(sample: int) -> torch.Tensor:
        with GradientCollector(digits_model, layers, PROJ) as collector, torch.enable_grad():
            loss = sampled_train_loss(LogitsTask(), (x, y), digits_model, range(N), seed=0, sample=sample)
            return collector.gradients(loss).to(torch.float64)

    own, first = draw(1), draw(0)
    for s, qa, qs, lam in zip(pre.specs, pre.q_in, pre.q_out, pre.eigenvalues):
        basis = torch.kron(qs, qa)
        expected, other = ((basis.T @ (b.T @ b / N) @ basis).diagonal()
                           for b in (own[:, s.offset : s.offset + s.dim], first[:, s.offset : s.offset + s.dim]))
        assert torch.allclose(lam.reshape(-1), expected, rtol=1e-3, atol=1e-5 * float(expected.max()))
        assert not torch.allclose(lam.reshape(-1), other, rtol=1e-2, atol=1e-3 * float(other.max()))


def test_default_fisher_is_sampled_when_the_task_has_logits(tmp_path: Path, digits: Digits,
                                                            digits_model: nn.Module) -> None:
    """fisher='auto' (the default): the sampled Fisher for a task that defines
    compute_train_logits, the empirical one otherwise; the build is the same
    bytes as naming that Fisher."""
    default = PreconditionerArguments()
    assert (default.kind, default.fisher, default.samples, default.damping) == ("ekfac", "auto", 1, 0.1)
    assert default.for_task(LogitsTask()).fisher == "sampled"
    assert default.for_task(ClassificationTask()).fisher == "empirical"
    assert PreconditionerArguments(fisher="empirical").for_task(LogitsTask()).fisher == "empirical"

    def build(path: Path, task: ClassificationTask, pre: PreconditionerArguments) -> bytes:
        build_index(digits_model, task, _data(digits), list(range(N)), path, projection_args=PROJ,
                    index_args=IndexArguments(shard_size=64, batch_size=32), preconditioner_args=pre, progress=False)
        return (path / "preconditioner.safetensors").read_bytes()

    auto_logits = build(tmp_path / "a", LogitsTask(), default)
    assert auto_logits == build(tmp_path / "s", LogitsTask(), PreconditionerArguments(fisher="sampled"))
    auto_plain = build(tmp_path / "p", ClassificationTask(), default)
    assert auto_plain == build(tmp_path / "e", ClassificationTask(), PreconditionerArguments(fisher="empirical"))
    assert auto_plain != auto_logits


def test_example_uniforms_are_keyed_by_example() -> None:
    both = example_uniforms([3, 5], 4, seed=1, sample=0)
    assert torch.equal(example_uniforms([5, 3], 4, seed=1, sample=0), both.flip(0))
    assert torch.equal(example_uniforms([5], 4, seed=1, sample=0)[0], both[1])
    assert not torch.equal(example_uniforms([3, 5], 4, seed=2, sample=0), both)
    assert not torch.equal(example_uniforms([3, 5], 4, seed=1, sample=1), both)
    assert ((both >= 0) & (both < 1)).all()


class _FixedLogits:
    def __init__(self, logits: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        self.logits, self.mask = logits, mask

    def compute_train_logits(self, batch: Any, model: nn.Module) -> Any:
        return self.logits if self.mask is None else (self.logits, self.mask)


def test_sampled_targets_follow_the_model_distribution() -> None:
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05], dtype=torch.float64)
    n = 20_000
    logits = probs.log().expand(n, 4).clone().requires_grad_(True)
    loss = sampled_train_loss(_FixedLogits(logits), None, nn.Identity(), range(n), seed=0, sample=0)
    loss.backward()
    # d loss / d logits = softmax - onehot(target): the onehot recovers the targets.
    assert logits.grad is not None
    onehot = probs - logits.grad
    assert torch.allclose(onehot.sum(dim=1), torch.ones(n, dtype=torch.float64))
    freq = onehot.mean(dim=0)
    assert torch.allclose(freq, probs, atol=0.015), freq


def test_sequence_logits_and_mask() -> None:
    logits = torch.randn(3, 5, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    mask = torch.ones(3, 5, dtype=torch.bool)
    mask[1, 3:] = False
    sampled_train_loss(_FixedLogits(logits, mask), None, nn.Identity(), [10, 11, 12], seed=0, sample=0).backward()
    assert logits.grad is not None
    assert (logits.grad[1, 3:] == 0).all()
    assert torch.allclose(logits.grad[mask].sum(dim=-1), torch.zeros(int(mask.sum()), dtype=torch.float64), atol=1e-12)
    assert (logits.grad[mask].abs().sum(dim=-1) > 0).all()


def test_bad_logits_name_the_problem() -> None:
    with pytest.raises(AttributionError, match=r"\(n, C\) or \(n, T, C\) logits for n=2"):
        sampled_train_loss(_FixedLogits(torch.zeros(3, 4)), None, nn.Identity(), [0, 1], seed=0, sample=0)
    with pytest.raises(AttributionError, match="mask must have shape"):
        sampled_train_loss(_FixedLogits(torch.zeros(2, 3, 4), torch.ones(2, 2, dtype=torch.bool)), None, nn.Identity(),
                           [0, 1], seed=0, sample=0)
    with pytest.raises(AttributionError, match="compute_train_logits"):
        sampled_train_loss(ClassificationTask(), None, nn.Identity(), [0], seed=0, sample=0)


def test_sampled_fisher_needs_logits_and_writes_nothing(tmp_path: Path, digits: Digits, digits_model: nn.Module) -> None:
    with pytest.raises(AttributionError, match="compute_train_logits"):
        build_index(digits_model, ClassificationTask(), _data(digits, 10), list(range(10)), tmp_path,
                    preconditioner_args=PreconditionerArguments(fisher="sampled"), progress=False)
    assert not index_exists(tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"kind": "kfac"}, "kind must be"),
        ({"fisher": "true"}, "fisher must be 'auto', 'empirical', 'sampled' or 'exact'"),
        ({"samples": 0}, "samples must be >= 1"),
        ({"damping": float("nan")}, "damping must be >= 0"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(AttributionError, match=needle):
        PreconditionerArguments(**kwargs)


def test_fisher_accumulator_refuses_ekfac() -> None:
    with pytest.raises(AttributionError, match="'fisher' or 'identity'"):
        FisherAccumulator([]).finalize(PreconditionerArguments(kind="ekfac"))
