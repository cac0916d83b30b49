"""Damped Fisher / Gauss-Newton preconditioners in the projected gradient space.

Built while the index is built, applied to query rows before scoring. All of it
is float64 because the reward split downstream needs a stable ranking, and all
of it is block-diagonal across tracked layers (as in TRAK, LoGra and EK-FAC).

**Which gradients estimate F** (`PreconditionerArguments.fisher`):

- ``"empirical"``: the training examples' own gradients (the rows the index
  stores), F = (1/n) sum_i g_i g_i^T. Cheap, but biased: near a minimum the
  labels' gradients are small exactly where the model is confident, so F
  underweights the directions the loss curves most in.
- ``"sampled"``: the true Fisher, which for a softmax cross-entropy loss is the
  Gauss-Newton matrix (for logistic regression: the Hessian). Each example's
  target is drawn from the model's own predictive distribution
  (`Task.compute_train_logits`, see task.py) and its gradient taken with that
  target; `samples` draws per example are averaged. The draw of example i,
  sample s, position t comes from a generator seeded by (seed, s, i) alone, so
  it does not depend on the batch the example lands in. Costs one more forward
  and backward pass per sample while the index is built. EK-FAC takes its
  eigenvalues on draws of their own (samples `samples`..2 `samples`-1), not on
  the draws that fitted its eigenbases, whose noise the bases fit.
- ``"exact"``: the same Gauss-Newton matrix with no sampling noise: for each
  of the C classes c, the gradient with target c weighted by sqrt(C p_c) (p the
  model's softmax), so an example's C rows average to its exact expectation
  sum_c p_c g_c g_c^T. C passes per example instead of `samples`, and one
  prediction per example: for classifiers with few classes, where one draw per
  example leaves the small directions of F to noise (on the digits logistic
  regression, a full block from one draw per example ranks far below EK-FAC,
  and the exact block above it: docs/benchmarks.md).
- ``"auto"`` (the default): ``"sampled"`` when the task defines
  `compute_train_logits`, else ``"empirical"`` (`PreconditionerArguments.for_task`).

**How F is represented and inverted** (`PreconditionerArguments.kind`), per
tracked layer l with projected gradient G (r_out x r_in, the layer's block of a
row, row-major):

- ``"fisher"``: F_l = E[vec G vec G^T], a (dim_l x dim_l) matrix, inverted
  through the Cholesky factor of F_l + lambda_l I with
  lambda_l = damping * trace(F_l) / dim_l (damping times the mean eigenvalue).
  Memory dim_l^2 per layer: right for the default ranks (16 x 16 -> 256).
- ``"ekfac"``: eigenvalue-corrected Kronecker factors (George et al. 2018,
  Grosse et al. 2023). A_l = E[sum_t a_t a_t^T] over the projected layer inputs
  and S_l = E[sum_t s_t s_t^T] over the projected output gradients give the
  eigenbases Q_A, Q_S (a first pass); the eigenvalues are then corrected to the
  actual second moments in that basis, Lambda[o, i] = E[(Q_S^T G Q_A)[o, i]^2]
  (a second pass over the same gradients), and
  q <- Q_S ((Q_S^T q Q_A) / (Lambda + lambda_l)) Q_A^T with lambda_l = damping
  times the mean of Lambda. Memory r_in^2 + r_out^2 + r_in r_out per layer, so
  large projection ranks stay cheap; the price is the Kronecker approximation
  of the eigenbasis.
- ``"identity"``: no preconditioning (plain projected gradient dot products).

Damping relative to the mean eigenvalue keeps one `damping` setting meaningful
across layers whose gradients differ in scale by orders of magnitude; a layer
that never received gradient gets lambda_l = 1e-12 so the inverse exists.

**Determinism.** Every second moment is a sum of per-example terms that are
computed exactly (exact.py: fixed-point operands, exact float64 products) and
added in dataset order (`ordered_sum`), so the statistics, and the files, do
not depend on the batch size, the thread count or the device. The
eigendecompositions run on the CPU on one thread; the stored eigenbases and
inverses are rounded to fixed-point grids, and `apply` multiplies by them
exactly, one query at a time in effect, so a preconditioned query does not
depend on the other queries of its batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from attribution.arguments import PreconditionerArguments
from attribution.errors import AttributionError
from attribution.exact import (
    BASIS_BITS,
    FACTOR_BITS,
    ROW_BITS,
    SQUARE_BITS,
    exact_matmul,
    fsum,
    ordered_sum,
    quantize,
    single_thread,
)
from attribution.projection import LayerSpec

_MIN_DAMPING = 1e-12
# Rows per exact block of the Fisher's g g^T sums: FISHER_BLOCK * 2^(2 FACTOR_BITS) <= 2^53.
FISHER_BLOCK = 1 << (53 - 2 * FACTOR_BITS)


def _damping(args: PreconditionerArguments, eigenvalues: torch.Tensor) -> float:
    values = eigenvalues.clamp_min(0.0).reshape(-1).tolist()
    mean = fsum(values) / len(values) if values else 0.0
    return max(args.damping * mean, _MIN_DAMPING)


def _symmetric_eigh(m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with single_thread():
        evals, evecs = torch.linalg.eigh((m + m.T) / 2)
    return evals, evecs


def _on_grid(m: torch.Tensor) -> torch.Tensor:
    """A preconditioner matrix rounded to one BASIS_BITS grid (what is stored and applied)."""
    return quantize(m.to(torch.float64), BASIS_BITS)[0]


def _rotate(g: torch.Tensor, qs: torch.Tensor, qa: torch.Tensor) -> torch.Tensor:
    """Q_S^T G Q_A for (n, r_out, r_in) blocks on per-example ROW_BITS grids,
    exact at each product; the middle result is rounded per example."""
    left = exact_matmul(qs.T, BASIS_BITS, g, ROW_BITS)
    left = quantize(left, FACTOR_BITS, dims=(1, 2))[0]
    return exact_matmul(left, FACTOR_BITS, qa, BASIS_BITS)


def _unrotate(x: torch.Tensor, qs: torch.Tensor, qa: torch.Tensor) -> torch.Tensor:
    """Q_S X Q_A^T for (n, r_out, r_in) blocks on per-example FACTOR_BITS grids."""
    left = exact_matmul(qs, BASIS_BITS, x, FACTOR_BITS)
    left = quantize(left, FACTOR_BITS, dims=(1, 2))[0]
    return exact_matmul(left, FACTOR_BITS, qa.T, BASIS_BITS)


class FisherAccumulator:
    """Running sum of g g^T per layer, in float64 (kind "fisher").

    Rows are taken in the order they are fed (the dataset's; for sampled
    targets an example's samples together) in fixed blocks of `FISHER_BLOCK`
    rows whatever the batches: a block's rows share one fixed-point grid
    (FACTOR_BITS of the block's largest value), so its g g^T sum is one exact
    matrix product, and the blocks' sums are added in order."""

    def __init__(self, specs: Sequence[LayerSpec], device: torch.device | str = "cpu") -> None:
        # The sums live on the CPU whatever `device` (sequential, see above).
        self.specs = list(specs)
        self.sums = [torch.zeros(s.dim, s.dim, dtype=torch.float64) for s in self.specs]
        self.count = 0
        self.pending: list[torch.Tensor] = []
        self.held = 0

    def update(self, rows: torch.Tensor) -> None:
        self.pending.append(rows.to("cpu", torch.float64))
        self.held += rows.shape[0]
        self.count += rows.shape[0]
        while self.held >= FISHER_BLOCK:
            self._add_block(FISHER_BLOCK)

    def _add_block(self, size: int) -> None:
        held = torch.cat(self.pending)
        block, rest = held[:size], held[size:]
        self.pending, self.held = ([rest] if rest.shape[0] else []), rest.shape[0]
        for li, s in enumerate(self.specs):
            g = quantize(block[:, s.offset : s.offset + s.dim], FACTOR_BITS)[0]
            self.sums[li] = self.sums[li] + g.T @ g  # exact: FISHER_BLOCK x 2^(2 FACTOR_BITS) < 2^53

    def _flush(self) -> None:
        if self.held:
            self._add_block(self.held)

    def finalize(self, args: PreconditionerArguments) -> Preconditioner:
        if args.kind == "identity":
            return Preconditioner(kind="identity", specs=self.specs, count=self.count)
        if args.kind != "fisher":
            raise AttributionError(f"FisherAccumulator builds kind 'fisher' or 'identity', not {args.kind!r}")
        if self.count == 0:
            raise AttributionError("cannot build a Fisher preconditioner from zero examples")
        self._flush()
        inverses, dampings = [], []
        for acc in self.sums:
            fisher = (acc / self.count).cpu()
            fisher = (fisher + fisher.T) / 2
            # The mean eigenvalue is the trace over dim (F is a sum of g g^T, so
            # positive semi-definite), and the damped F is positive definite: a
            # Cholesky inverse, several times cheaper than an eigendecomposition
            # for the large blocks of small unprojected layers.
            lam = _damping(args, torch.diagonal(fisher))
            with single_thread():
                factor = torch.linalg.cholesky(fisher + lam * torch.eye(fisher.shape[0], dtype=torch.float64))
                inv = torch.cholesky_inverse(factor)
            inverses.append(_on_grid((inv + inv.T) / 2))
            dampings.append(lam)
        return Preconditioner(kind="fisher", specs=self.specs, inverses=inverses, dampings=dampings, count=self.count)


class EkfacAccumulator:
    """The two passes of kind "ekfac": `update_factors` (per layer, the
    projected inputs and output gradients of a batch) until `eigenbases()`,
    then `update_eigenvalues` (the gradient rows) until `finalize`."""

    def __init__(self, specs: Sequence[LayerSpec], shapes: Sequence[tuple[int, int]],
                 device: torch.device | str = "cpu") -> None:
        self.specs = list(specs)
        self.shapes = [tuple(s) for s in shapes]  # per layer (r_out, r_in)
        for spec, (ro, ri) in zip(self.specs, self.shapes):
            if ro * ri != spec.dim:
                raise AttributionError(f"layer {spec.name!r}: factor shape {ro} x {ri} does not match dim {spec.dim}")
        # On the CPU whatever `device` (sequential sums, see FisherAccumulator).
        self.a_sums = [torch.zeros(ri, ri, dtype=torch.float64) for _, ri in self.shapes]
        self.s_sums = [torch.zeros(ro, ro, dtype=torch.float64) for ro, _ in self.shapes]
        self.q_in: list[torch.Tensor] = []
        self.q_out: list[torch.Tensor] = []
        self.lambda_sums: list[torch.Tensor] = []
        self.count = 0

    def update_factors(self, layer: int, inputs: torch.Tensor, output_grads: torch.Tensor) -> None:
        """`inputs` (n, T, r_in) and `output_grads` (n, T, r_out) of one layer,
        on per-example FACTOR_BITS grids (GradientCollector passes them so):
        each example's sum over positions is exact, and examples are added in
        order."""
        self.add_factor_terms(layer, *self.factor_terms(inputs, output_grads))

    @staticmethod
    def factor_terms(inputs: torch.Tensor, output_grads: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per example, sum_t a_t a_t^T (n, r_in, r_in) and sum_t s_t s_t^T (n, r_out, r_out), exact."""
        a = quantize(inputs.to(torch.float64), FACTOR_BITS, dims=(1, 2))[0]
        s = quantize(output_grads.to(torch.float64), FACTOR_BITS, dims=(1, 2))[0]
        return (exact_matmul(a.transpose(1, 2), FACTOR_BITS, a, FACTOR_BITS),
                exact_matmul(s.transpose(1, 2), FACTOR_BITS, s, FACTOR_BITS))

    def add_factor_terms(self, layer: int, a_terms: torch.Tensor, s_terms: torch.Tensor) -> None:
        """Add per-example terms in their order."""
        if self.q_in:
            raise AttributionError("EK-FAC factors are already decomposed")
        self.a_sums[layer] = ordered_sum(self.a_sums[layer], a_terms)
        self.s_sums[layer] = ordered_sum(self.s_sums[layer], s_terms)

    def eigenbases(self) -> None:
        """End of the first pass: eigenvectors of A_l and S_l (the scale of the
        sums does not matter for eigenvectors)."""
        if self.q_in:
            return
        self.q_in = [_on_grid(_symmetric_eigh(a.cpu())[1]) for a in self.a_sums]
        self.q_out = [_on_grid(_symmetric_eigh(s.cpu())[1]) for s in self.s_sums]
        self.lambda_sums = [torch.zeros(ro, ri, dtype=torch.float64) for ro, ri in self.shapes]

    def update_eigenvalues(self, rows: torch.Tensor) -> None:
        if not self.q_in:
            raise AttributionError("call eigenbases() before update_eigenvalues()")
        rows = rows.to("cpu", torch.float64)
        for li, (s, (ro, ri), qa, qs) in enumerate(zip(self.specs, self.shapes, self.q_in, self.q_out)):
            g = quantize(rows[:, s.offset : s.offset + s.dim], ROW_BITS, dims=(1,))[0].reshape(rows.shape[0], ro, ri)
            rotated = quantize(_rotate(g, qs, qa), SQUARE_BITS, dims=(1, 2))[0]
            self.lambda_sums[li] = ordered_sum(self.lambda_sums[li], rotated.square())
        self.count += rows.shape[0]

    def finalize(self, args: PreconditionerArguments) -> Preconditioner:
        if self.count == 0:
            raise AttributionError("cannot build an EK-FAC preconditioner from zero examples")
        eigenvalues, dampings = [], []
        for acc in self.lambda_sums:
            lam = acc / self.count
            eigenvalues.append(lam)
            dampings.append(_damping(args, lam))
        return Preconditioner(kind="ekfac", specs=self.specs, dampings=dampings, count=self.count,
                              q_in=self.q_in, q_out=self.q_out, eigenvalues=eigenvalues)


@dataclass(frozen=True)
class Preconditioner:
    kind: str  # "fisher" | "ekfac" | "identity"
    specs: list[LayerSpec]
    inverses: list[torch.Tensor] = field(default_factory=list)  # fisher: per layer (F_l + lambda_l I)^{-1}
    dampings: list[float] = field(default_factory=list)  # per layer lambda_l
    count: int = 0  # gradient rows the estimate came from
    q_in: list[torch.Tensor] = field(default_factory=list)  # ekfac: per layer (r_in x r_in) eigenbasis
    q_out: list[torch.Tensor] = field(default_factory=list)  # ekfac: per layer (r_out x r_out) eigenbasis
    eigenvalues: list[torch.Tensor] = field(default_factory=list)  # ekfac: per layer corrected (r_out x r_in)

    def apply(self, queries: torch.Tensor) -> torch.Tensor:
        """Preconditioned query rows, float64, on the queries' device. Each row's
        result depends on that row alone, bit for bit: its layer blocks are
        rounded to their own grids and multiplied exactly by the stored
        (fixed-point) matrices."""
        q = queries.to(torch.float64)
        if self.kind == "identity":
            return q.clone()
        out = torch.empty_like(q)
        n = q.shape[0]
        if self.kind == "fisher":
            for s, inv in zip(self.specs, self.inverses):
                sl = slice(s.offset, s.offset + s.dim)
                block = quantize(q[:, sl], FACTOR_BITS, dims=(1,))[0]
                out[:, sl] = exact_matmul(block, FACTOR_BITS, _on_grid(inv).to(q.device), BASIS_BITS)
            return out
        for s, qa, qs, lam, damp in zip(self.specs, self.q_in, self.q_out, self.eigenvalues, self.dampings):
            qa, qs = _on_grid(qa).to(q.device), _on_grid(qs).to(q.device)
            g = quantize(q[:, s.offset : s.offset + s.dim], ROW_BITS, dims=(1,))[0].reshape(n, qs.shape[0], qa.shape[0])
            rotated = quantize(_rotate(g, qs, qa), FACTOR_BITS, dims=(1, 2))[0]
            scaled = quantize(rotated / (lam.to(q.device).clamp_min(0.0) + damp), FACTOR_BITS, dims=(1, 2))[0]
            out[:, s.offset : s.offset + s.dim] = _unrotate(scaled, qs, qa).reshape(n, s.dim)
        return out
