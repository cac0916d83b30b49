"""Per-example gradients of tracked layers, projected LoGra-style.

Sits between the user's `Task` and the index/scoring stages: one forward and one
backward pass per batch yields one row per example (all tracked layers, in order,
concatenated). For a layer with inputs a_t and output gradients g_t at positions
t, the per-example weight gradient is G = sum_t g_t a_t^T (d_out x d_in). We
project the factors separately, P_out^T g_t and a_t^T P_in, and sum their outer
products, which equals P_out^T G P_in, i.e. `kron(P_out, P_in)^T vec(G)` with
row-major vec, without ever forming G. A bias is handled as an extra input
column of ones, so a row covers [W | b]. For nn.Embedding the input is the
one-hot token (d_in = vocabulary) and d_out the embedding width, so G is the
transpose of `weight.grad`'s (vocabulary x width) layout.

Every step after the model is exact fixed-point arithmetic (exact.py): an
example's inputs and output gradients are rounded to its own grid, the seeded
projection factors to theirs, and the products are exact in float64, so a row
depends only on that example's activations, never on the batch it was computed
in, the thread count or the device. Rows come out on the index's storage grid
(per row and layer, `ROW_BITS` bits: exact in float32).

`DenseRandomProjection` and `projection=None` (exact per-example gradients, in
plain floating point) are the baselines that benchmarks and tests compare against.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from attribution.arguments import ProjectionArguments
from attribution.errors import AttributionError, UnsupportedModuleError
from attribution.exact import (
    ACTIVATION_BITS,
    FACTOR_BITS,
    PROJECTION_BITS,
    ROW_BITS,
    exact_matmul,
    quantize,
)

_DTYPE = {"float32": torch.float32, "float64": torch.float64}


@dataclass(frozen=True)
class LayerSpec:
    """Where one tracked layer sits in an index row."""

    name: str
    kind: str  # "linear" | "embedding" | "conv2d"
    d_in: int  # input width, including the bias column of ones
    d_out: int
    has_bias: bool
    offset: int  # first column of this layer in a row
    dim: int  # columns of this layer: min(r_out, d_out) * min(r_in, d_in) (d_out * d_in unprojected)


def _layer_seed(seed: int, index: int) -> int:
    # Spread (seed, layer) pairs so that seed s, layer i+1 and seed s+1, layer i differ.
    return (seed * 1_000_003 + index) % (2**63 - 1)


def gaussian_matrix(rows: int, cols: int, seed: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """N(0, 1/cols) matrix drawn on the CPU in float64, so that CPU and CUDA runs
    (and float32/float64 runs) use the same numbers."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    m = torch.randn(rows, cols, generator=gen, dtype=torch.float64) / math.sqrt(cols)
    return m.to(dtype)


def _factor(dim: int, rank: int, seed: int, dtype: torch.dtype) -> torch.Tensor:
    """A side whose width is at most the rank is kept exact (identity): a random
    square-or-wider Gaussian would only add noise (its P P^T is far from I) and
    columns."""
    if rank >= dim:
        return torch.eye(dim, dtype=dtype)
    return gaussian_matrix(dim, rank, seed, dtype)


def _describe(module: nn.Module, name: str) -> tuple[str, int, int, bool]:
    if isinstance(module, nn.Linear):
        bias = module.bias is not None
        return "linear", module.in_features + int(bias), module.out_features, bias
    if isinstance(module, nn.Embedding):
        if module.max_norm is not None:
            raise UnsupportedModuleError(name, "Embedding with max_norm rescales rows in place")
        return "embedding", module.num_embeddings, module.embedding_dim, False
    if isinstance(module, nn.Conv2d):
        if module.groups != 1:
            raise UnsupportedModuleError(name, "grouped Conv2d")
        if module.padding_mode != "zeros":
            raise UnsupportedModuleError(name, f"padding_mode={module.padding_mode!r}")
        if isinstance(module.padding, str) and module.padding != "valid":
            raise UnsupportedModuleError(name, f"padding={module.padding!r}")
        bias = module.bias is not None
        kh, kw = module.kernel_size
        return "conv2d", module.in_channels * kh * kw + int(bias), module.out_channels, bias
    raise UnsupportedModuleError(name, f"type {type(module).__name__} (Linear, Embedding and Conv2d are supported)")


def _positions(shape: Sequence[int]) -> int:
    """Positions per example (tokens, pixels), spelled out so that an empty
    batch reshapes too."""
    return math.prod(shape)


def _inputs_to_rows(module: nn.Module, kind: str, x: torch.Tensor, has_bias: bool, dtype: torch.dtype) -> torch.Tensor:
    """Layer input as (n, T, d_in) rows (not used for Embedding)."""
    n = x.shape[0]
    if kind == "linear":
        rows = x.reshape(n, _positions(x.shape[1:-1]), x.shape[-1])
    else:  # conv2d: patches, one row per output position
        assert isinstance(module, nn.Conv2d)
        padding: int | tuple[int, ...] = 0 if isinstance(module.padding, str) else module.padding  # "valid"
        patches = F.unfold(x, module.kernel_size, dilation=module.dilation, padding=padding, stride=module.stride)
        rows = patches.transpose(1, 2)
    rows = rows.to(dtype)
    if has_bias:
        rows = torch.cat([rows, rows.new_ones(rows.shape[:-1] + (1,))], dim=-1)
    return rows


def _grads_to_rows(kind: str, g: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Output gradient as (n, T, d_out) rows."""
    n = g.shape[0]
    if kind == "conv2d":
        rows = g.reshape(n, g.shape[1], _positions(g.shape[2:])).transpose(1, 2)
    else:
        rows = g.reshape(n, _positions(g.shape[1:-1]), g.shape[-1])
    return rows.to(dtype)


def _project(rows: torch.Tensor, factor: torch.Tensor | None) -> torch.Tensor:
    """(n, T, d) rows times a projection factor, exactly: each example's rows
    rounded to its own ACTIVATION_BITS grid (`dtype` sets the precision they are
    read at), so the product does not depend on the other examples."""
    if factor is None:
        return rows
    grid, _ = quantize(rows, ACTIVATION_BITS, dims=(1, 2))
    return exact_matmul(grid, ACTIVATION_BITS, factor, PROJECTION_BITS)


def exact_combine(pa: torch.Tensor, pg: torch.Tensor) -> torch.Tensor:
    """sum_t pg_t pa_t^T per example, (n, r_out, r_in), exact for factors on
    FACTOR_BITS grids (see `factors_on_grid`)."""
    return exact_matmul(pg.transpose(1, 2), FACTOR_BITS, pa, FACTOR_BITS)


def factors_on_grid(pa: torch.Tensor, pg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Projected inputs and output gradients rounded to per-example FACTOR_BITS grids."""
    return quantize(pa, FACTOR_BITS, dims=(1, 2))[0], quantize(pg, FACTOR_BITS, dims=(1, 2))[0]


def rows_on_grid(rows: torch.Tensor, specs: Sequence[LayerSpec]) -> torch.Tensor:
    """Each (row, layer) block rounded to its ROW_BITS grid: the index's storage
    format (exact in float32; idempotent)."""
    out = rows.to(torch.float64).clone()
    for s in specs:
        sl = slice(s.offset, s.offset + s.dim)
        # + 0.0 turns -0.0 into 0.0: an unprojected layer has exact zeros (a
        # zero input times a negative gradient) whose sign BLAS leaves to the
        # batch shape, and the stored bytes must not depend on it.
        out[:, sl] = quantize(out[:, sl], ROW_BITS, dims=(1,))[0] + 0.0
    return out


class LayerProjector:
    """Projects one layer's inputs (at forward time) and output gradients (at
    backward time); `projection=None` keeps them whole (exact gradients)."""

    def __init__(
        self,
        module: nn.Module,
        name: str,
        index: int,
        offset: int,
        projection: ProjectionArguments | None,
        device: torch.device,
        dtype: torch.dtype,
    ) -> None:
        kind, d_in, d_out, has_bias = _describe(module, name)
        self.module = module
        self.dtype = dtype
        self.p_in: torch.Tensor | None = None
        self.p_out: torch.Tensor | None = None
        if projection is not None:
            # The factors are fixed-point (PROJECTION_BITS on one grid per
            # matrix), so that products with them are exact (exact.py).
            # A small layer is kept whole: identity factors (exact, same code path).
            whole = d_in * d_out <= projection.full_layer_size
            rank_in, rank_out = (d_in, d_out) if whole else (projection.rank_in, projection.rank_out)
            seed = _layer_seed(projection.seed, index)
            self.p_in = quantize(_factor(d_in, rank_in, 2 * seed, torch.float64), PROJECTION_BITS)[0].to(device)
            self.p_out = quantize(_factor(d_out, rank_out, 2 * seed + 1, torch.float64), PROJECTION_BITS)[0].to(device)
            dim = self.p_in.shape[1] * self.p_out.shape[1]
        else:
            dim = d_in * d_out
        self.spec = LayerSpec(name, kind, d_in, d_out, has_bias, offset, dim)

    @property
    def factor_shape(self) -> tuple[int, int]:
        """(r_out, r_in): the layer's block of a row as a row-major matrix."""
        r_in = self.p_in.shape[1] if self.p_in is not None else self.spec.d_in
        r_out = self.p_out.shape[1] if self.p_out is not None else self.spec.d_out
        return r_out, r_in

    def input_rows(self, x: torch.Tensor) -> torch.Tensor:
        """(n, T, d_in) input rows, not yet projected; for an embedding the rows
        of P_in at the token ids (a one-hot row times P_in), already projected."""
        if self.spec.kind == "embedding":
            return self.project_inputs(x)
        return _inputs_to_rows(self.module, self.spec.kind, x, self.spec.has_bias, self.dtype)

    def project_input_rows(self, rows: torch.Tensor) -> torch.Tensor:
        return rows if self.spec.kind == "embedding" else _project(rows, self.p_in)

    def project_inputs(self, x: torch.Tensor) -> torch.Tensor:
        spec = self.spec
        if spec.kind == "embedding":
            assert isinstance(self.module, nn.Embedding)
            ids = x.reshape(x.shape[0], _positions(x.shape[1:]))
            # A one-hot input projected by P_in is the row of P_in at the token id.
            rows = self.p_in[ids] if self.p_in is not None else F.one_hot(ids, spec.d_in).to(self.dtype)
            pad = self.module.padding_idx
            if pad is not None:  # PyTorch never updates the padding row
                rows = rows * (ids != pad).unsqueeze(-1).to(rows.dtype)
            return rows
        rows = _inputs_to_rows(self.module, spec.kind, x, spec.has_bias, self.dtype)
        return _project(rows, self.p_in)

    def project_output_grads(self, g: torch.Tensor) -> torch.Tensor:
        return _project(_grads_to_rows(self.spec.kind, g, self.dtype), self.p_out)

    @staticmethod
    def combine(pa: torch.Tensor, pg: torch.Tensor) -> torch.Tensor:
        """Sum over positions of the outer products: (n, r_out * r_in), row-major."""
        n = pa.shape[0]
        return torch.einsum("nto,nti->noi", pg, pa).reshape(n, pg.shape[-1] * pa.shape[-1])


class GradientCollector:
    """Hooks on the tracked modules that turn one backward pass of a summed loss
    into per-example (projected) gradient rows.

    The forward hook projects the inputs immediately (only r_in numbers per
    position are kept) and remembers the output; `gradients(loss)` asks autograd
    for the gradients of the loss with respect to those outputs only, so no
    parameter `.grad` is written and no weight gradient is formed.
    """

    def __init__(
        self,
        model: nn.Module,
        modules: Sequence[nn.Module],
        projection: ProjectionArguments | None,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        if not modules:
            raise AttributionError("the task tracks no modules")
        names = {id(m): n for n, m in model.named_modules()}
        if device is None:
            device = next(iter(model.parameters())).device
        if dtype is None:
            dtype = _DTYPE[projection.dtype] if projection is not None else torch.float64
        self.projectors: list[LayerProjector] = []
        offset = 0
        for i, module in enumerate(modules):
            name = names.get(id(module))
            if name is None:
                raise AttributionError(f"tracked module #{i} ({type(module).__name__}) is not part of the model")
            proj = LayerProjector(module, name, i, offset, projection, device, dtype)
            offset += proj.spec.dim
            self.projectors.append(proj)
        self.dim = offset
        self._records: list[tuple[int, torch.Tensor, torch.Tensor]] = []
        self._handles: list[Any] = []

    @property
    def specs(self) -> list[LayerSpec]:
        return [p.spec for p in self.projectors]

    def __enter__(self) -> GradientCollector:
        for i, proj in enumerate(self.projectors):
            self._handles.append(proj.module.register_forward_hook(self._hook(i)))
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        self._records.clear()

    def _hook(self, i: int) -> Any:
        def hook(module: nn.Module, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
            if not torch.is_grad_enabled():
                return
            if not output.requires_grad:
                raise AttributionError(
                    f"output of {self.projectors[i].spec.name!r} does not require grad; "
                    "enable requires_grad on the tracked module's parameters"
                )
            with torch.no_grad():
                proj = self.projectors[i]
                # Exact mode keeps the input rows (embeddings: their rows of
                # P_in) and projects a whole group of examples at once later.
                x = inputs[0].detach()
                pa = proj.input_rows(x) if proj.p_in is not None else proj.project_inputs(x)
            self._records.append((i, pa, output))

        return hook

    @property
    def factor_shapes(self) -> list[tuple[int, int]]:
        return [p.factor_shape for p in self.projectors]

    def gradients(self, loss: torch.Tensor, observe: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None) -> torch.Tensor:
        """(n, dim) rows for the batch whose forward pass produced `loss`.

        `observe(layer, inputs, output_grads)`, if given, sees each tracked
        layer's projected inputs (n, T, r_in) and output gradients (n, T, r_out)
        (the EK-FAC factors are built from them). With a projection, a layer
        called several times (weight sharing) is seen once, its calls' positions
        concatenated; the factors are on their FACTOR_BITS grids and the rows
        come back float64 on the storage grid (`rows_on_grid`)."""
        records = self._take_records(loss)
        if self.projectors[0].p_in is not None:
            return self._exact_rows([records], observe)
        n = records[0][1].shape[0]
        rows = torch.zeros(n, self.dim, dtype=self.projectors[0].dtype, device=records[0][1].device)
        with torch.no_grad():
            for i, pa, g in records:
                proj = self.projectors[i]
                s = proj.spec
                # A module called several times (weight sharing) adds up its calls.
                pg = _project(g, proj.p_out)  # `g` is already in rows
                if observe is not None:
                    observe(i, pa, pg)
                rows[:, s.offset : s.offset + s.dim] += LayerProjector.combine(pa, pg)
        return rows

    def example_gradients(self, n: int, loss_of: Callable[[int], torch.Tensor],
                          observe: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None) -> torch.Tensor:
        """Rows of n examples, example j from its own forward and backward pass
        (`loss_of(j)` runs the forward pass of a batch holding example j alone),
        so the model's arithmetic for an example never depends on its
        neighbours. The projection then runs on all n at once, which gives the
        same bits as one at a time (every step is per example and exact)."""
        examples = []
        for j in range(n):
            with torch.enable_grad():
                examples.append(self._take_records(loss_of(j)))
        if self.projectors[0].p_in is None:
            raise AttributionError("example_gradients needs a projection")
        if not examples:
            return torch.empty(0, self.dim, dtype=torch.float64, device=self.projectors[0].p_in.device)
        return self._exact_rows(examples, observe)

    def _take_records(self, loss: torch.Tensor) -> list[tuple[int, torch.Tensor, torch.Tensor]]:
        """(layer, input rows, output gradients) of the forward pass that produced
        `loss`, for the calls whose output the loss depends on."""
        records, self._records = self._records, []
        if not records:
            raise AttributionError("no tracked module ran in the forward pass")
        if loss.dim() != 0:
            raise AttributionError(f"the task's loss must be a scalar sum over the batch, got shape {tuple(loss.shape)}")
        grads = torch.autograd.grad(loss, [out for _, _, out in records], allow_unused=True)
        n = records[0][1].shape[0]
        out = []
        for (i, pa, _), g in zip(records, grads):
            if pa.shape[0] != n:
                raise AttributionError(f"layer {self.projectors[i].spec.name!r} saw {pa.shape[0]} examples, expected {n}")
            if g is not None:
                out.append((i, pa, _grads_to_rows(self.projectors[i].spec.kind, g.detach(), self.projectors[i].dtype)))
        return out

    def _exact_rows(self, examples: list[list[tuple[int, torch.Tensor, torch.Tensor]]],
                    observe: Callable[[int, torch.Tensor, torch.Tensor], None] | None) -> torch.Tensor:
        """Rows from recorded (layer, input rows, output-gradient rows) of
        groups of examples (one group per forward pass): each layer's calls are
        concatenated along positions, groups padded with zero positions (which
        add exact zeros and leave every grid unchanged), then projected and
        combined exactly."""
        counts = [next((a.shape[0] for _, a, _ in group), 0) for group in examples]
        n = sum(counts)
        device = self.projectors[0].p_in.device if self.projectors[0].p_in is not None else torch.device("cpu")
        rows = torch.zeros(n, self.dim, dtype=torch.float64, device=device)
        with torch.no_grad():
            for i, proj in enumerate(self.projectors):
                parts: list[tuple[torch.Tensor, torch.Tensor] | None] = []
                for group in examples:
                    calls = [(a, g) for li, a, g in group if li == i]
                    if not calls:
                        parts.append(None)
                        continue
                    parts.append((torch.cat([a for a, _ in calls], dim=1), torch.cat([g for _, g in calls], dim=1)))
                if all(p is None for p in parts):
                    continue
                width_a = next(p[0].shape[2] for p in parts if p is not None)
                width_g = next(p[1].shape[2] for p in parts if p is not None)
                positions = max(p[0].shape[1] for p in parts if p is not None)
                a_rows, g_rows = [], []
                for p, count in zip(parts, counts):
                    a, g = (p if p is not None else (rows.new_zeros(count, 0, width_a), rows.new_zeros(count, 0, width_g)))
                    pad = positions - a.shape[1]
                    a_rows.append(F.pad(a.to(torch.float64), (0, 0, 0, pad)))
                    g_rows.append(F.pad(g.to(torch.float64), (0, 0, 0, pad)))
                pa = proj.project_input_rows(torch.cat(a_rows))
                pg = _project(torch.cat(g_rows), proj.p_out)
                pa, pg = factors_on_grid(pa, pg)
                if observe is not None:
                    observe(i, pa, pg)
                s = proj.spec
                rows[:, s.offset : s.offset + s.dim] = exact_combine(pa, pg).reshape(n, s.dim)
        return rows_on_grid(rows, self.specs)


def collect_gradients(
    model: nn.Module,
    modules: Sequence[nn.Module],
    batch: Any,
    loss_fn: Any,
    projection: ProjectionArguments | None,
) -> torch.Tensor:
    """Rows for one batch: `loss_fn(batch, model)` is the task's summed loss."""
    with GradientCollector(model, modules, projection) as collector:
        with torch.enable_grad():
            loss = loss_fn(batch, model)
            return collector.gradients(loss)


class DenseRandomProjection:
    """TRAK-style baseline: full per-example gradients times one dense Gaussian
    matrix (D x k). Memory O(D k), which is what LoGra avoids."""

    def __init__(self, input_dim: int, output_dim: int, seed: int = 0, dtype: torch.dtype = torch.float32,
                 device: torch.device | str = "cpu") -> None:
        self.matrix = gaussian_matrix(input_dim, output_dim, seed, dtype).to(device)

    def project(self, full_gradients: torch.Tensor) -> torch.Tensor:
        return full_gradients.to(self.matrix.dtype) @ self.matrix


def per_example_gradients(model: nn.Module, modules: Sequence[nn.Module], batch: Any, loss_fn: Any) -> torch.Tensor:
    """Exact per-example gradients [W | b] of the tracked layers, row-major,
    float64 (for small models: TracIn-style dot products and tests)."""
    return collect_gradients(model, modules, batch, loss_fn, projection=None)


def gradient_dot_product(train_gradients: torch.Tensor, query_gradients: torch.Tensor) -> torch.Tensor:
    """(queries x train) plain gradient dot products, no projection or preconditioner."""
    return query_gradients.to(torch.float64) @ train_gradients.to(torch.float64).T
