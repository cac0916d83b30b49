"""Scoring: queries against the stored index, one matrix product per shard.

Last stage of the data flow (task -> projection -> index -> **scoring** -> reward
split). The query's measurement gradient is projected exactly as the training
rows were, preconditioned, and multiplied against each shard in turn,

    scores = Q_preconditioned @ G_shard^T,

so only one shard (memory-mapped by safetensors) is in memory at a time and the
index may exceed memory. Scoring is one pass over the index: each shard's rows
are widened to float64 a cache-sized chunk at a time, so the pass reads the
stored bytes once, and each block keeps only its own top-k candidates before
the merge.

**Exact by construction.** Each (query, layer) block of the preconditioned
queries is rounded to a QUERY_BITS grid and every stored (row, layer) block is
on a ROW_BITS grid (index.py), so each layer's dot product, cut into column
chunks short enough, is computed exactly by any matrix product (exact.py).
Every chunk's product is then rounded once to an int64 count of the query's
score unit 2^E_q, where E_q is fixed before the pass from the query and the
index manifest alone (a bound on any sum over the whole index stays below
2^62 units). From there on everything is integer: the top-k (ties to the lower
row), the per-contribution sums (exact in any order), and the merge of partial
results from shard ranges (`ShardScores.merge`, also used by the Ray scorer).
So scores, rankings, sums and the split do not depend on the shard size, the
query batch size, the thread count, the device, or how shards are spread over
workers. The same code runs on CPU and CUDA (the model's device).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

import torch
from torch import nn

from attribution.arguments import ScoreArguments
from attribution.errors import AttributionError, IndexMismatchError
from attribution.exact import (
    QUERY_BITS,
    ROW_BITS,
    UNIT_BITS,
    chunk_length,
    from_units,
    quantize,
    to_units,
)
from attribution.index import (
    Index,
    IndexManifest,
    load_index,
    load_preconditioner,
    model_fingerprint,
    move_to_device,
    preconditioner_exists,
    require_finite,
)
from attribution.preconditioner import Preconditioner
from attribution.projection import GradientCollector, LayerSpec
from attribution.task import Task, tracked_modules_of

# Rows widened to float64 at a time: about 2 MiB, which stays in cache while the
# matrix product reads it (the fastest of 1-8 MiB on the development machine,
# bench/attribution_speed.py). The products are exact, so this only sets speed.
_CHUNK_BYTES = 2 << 20
# On a GPU there is no such cache to fit, and each chunk costs kernel launches:
# widen 256 MiB at a time (about 2 ms of device bandwidth), so launches stay a
# small part of a pass.
_CHUNK_BYTES_CUDA = 256 << 20


@dataclass(frozen=True)
class ScoreResult:
    top_k_indices: torch.Tensor  # (queries, k) int64: index rows (= dataset positions), best first
    top_k_values: torch.Tensor  # (queries, k) float64
    top_k_contribution_ids: torch.Tensor  # (queries, k) int64
    contribution_ids: torch.Tensor  # (C,) int64, sorted, every id in the index
    contribution_scores: torch.Tensor  # (queries, C) float64: sum of the examples' scores per id
    example_scores: torch.Tensor | None  # (queries, N) float64 when ScoreArguments.return_example_scores
    # The exact values behind the floats: query q's scores are integers times 2^score_exponents[q].
    contribution_units: torch.Tensor = field(default_factory=lambda: torch.zeros(0, 0, dtype=torch.int64))  # (queries, C)
    # Per contribution, the sum of its examples' positive scores only (what reward splits use).
    positive_units: torch.Tensor = field(default_factory=lambda: torch.zeros(0, 0, dtype=torch.int64))  # (queries, C)
    score_exponents: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.int64))  # (queries,)

    @property
    def per_contribution(self) -> dict[int, float]:
        """Summed over all queries of the batch: contribution id -> score
        (the exact sum, rounded once)."""
        totals: dict[int, Fraction] = {}
        for q in range(self.contribution_units.shape[0]):
            for c, v in self.exact_per_contribution_of(q).items():
                totals[c] = totals.get(c, Fraction(0)) + v
        return {c: float(v) for c, v in totals.items()}

    def per_contribution_of(self, query: int) -> dict[int, float]:
        row = self.contribution_scores[query]
        return {int(c): float(v) for c, v in zip(self.contribution_ids.tolist(), row.tolist())}

    def exact_per_contribution_of(self, query: int) -> dict[int, Fraction]:
        """contribution id -> exact score (what the reward split is computed from)."""
        scale = Fraction(2) ** int(self.score_exponents[query])
        units = self.contribution_units[query].tolist()
        return {int(c): u * scale for c, u in zip(self.contribution_ids.tolist(), units)}

    def exact_positive_of(self, query: int) -> dict[int, Fraction]:
        """contribution id -> exact sum of its examples' positive scores: the
        input of the reward split. The signed sums cancel out as contributions
        grow (near the optimum the training gradients sum to about zero, so a
        contribution of thousands of varied examples nets out near zero, often
        below zero for every contribution); the positive part credits each
        contribution with the examples that supported the output."""
        scale = Fraction(2) ** int(self.score_exponents[query])
        units = self.positive_units[query].tolist()
        return {int(c): u * scale for c, u in zip(self.contribution_ids.tolist(), units)}


def _leaf_count(batch: Any) -> int:
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.dim() else -1
    if isinstance(batch, dict):
        counts = {_leaf_count(v) for v in batch.values()}
    elif isinstance(batch, (list, tuple)):
        counts = {_leaf_count(v) for v in batch}
    else:
        return -2  # not a tensor: travels with every query
    counts.discard(-2)
    if len(counts) != 1 or -1 in counts:
        raise AttributionError(f"query tensors must share one leading (batch) dimension, got sizes {sorted(counts)}")
    return counts.pop()


def _select(batch: Any, i: int) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch[i : i + 1]
    if isinstance(batch, dict):
        return {k: _select(v, i) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        picked = [_select(v, i) for v in batch]
        return picked if isinstance(batch, list) else tuple(picked)
    return batch


def single_queries(batch: Any) -> list[Any]:
    """The batch cut into batches of one query (every tensor sliced along its
    first dimension): queries run through the model one at a time, so a query's
    row does not depend on the others it was sent with."""
    n = _leaf_count(batch)
    if n < 0:
        raise AttributionError("the query batch holds no tensor with a batch dimension")
    return [_select(batch, i) for i in range(n)]


def query_gradients(model: nn.Module, task: Task, query_batch: Any, index: Index) -> torch.Tensor:
    """Projected gradients of MINUS the task's measurement, one row per query,
    with the projection the index was built with; one forward and backward pass
    per query.

    Sign convention: up-weighting training example i moves the parameters by
    -(F + lambda I)^{-1} grad L_i, which changes the measurement m by
    -grad m^T (F + lambda I)^{-1} grad L_i. Using -grad m as the query row makes
    that the score, so a positive score means the example raises the measurement
    (supports the output) and a duplicate of a query scores its self-influence."""
    manifest = index.manifest
    device = next(iter(model.parameters())).device
    modules = tracked_modules_of(task, model)
    with GradientCollector(model, modules, manifest.projection_arguments) as collector:
        layers = [asdict(s) for s in collector.specs]
        if layers != manifest.layers:
            raise IndexMismatchError("layers", manifest.layers, layers)
        queries = single_queries(query_batch)
        return collector.example_gradients(
            len(queries), lambda j: -task.compute_measurement(move_to_device(queries[j], device), model))


# ----------------------------------------------------------- the exact pass


def _column_chunks(specs: list[LayerSpec]) -> list[tuple[int, slice]]:
    """(layer, columns): each within one layer and short enough that a
    QUERY_BITS by ROW_BITS dot product over it is exact."""
    size = chunk_length(QUERY_BITS, ROW_BITS)
    return [(li, slice(c, min(c + size, s.offset + s.dim)))
            for li, s in enumerate(specs) for c in range(s.offset, s.offset + s.dim, size)]


def _unit_exponents(bounds: list[float]) -> torch.Tensor:
    """Per query, E with bound < 2^(E + UNIT_BITS - 1): every partial and total
    sum of its units then fits int64 (rounding adds at most a unit a chunk)."""
    out = []
    for b in bounds:
        if not math.isfinite(b):
            raise AttributionError("query scores are not bounded (a preconditioned query or the index holds inf)")
        out.append(math.frexp(b)[1] - (UNIT_BITS - 1) if b > 0 else 0)
    return torch.tensor(out, dtype=torch.int64)


@dataclass(frozen=True)
class ScorePlan:
    """Queries ready for the exact pass, fixed before any shard is read (so
    every worker and every shard counts in the same units)."""

    queries: torch.Tensor  # (nq, dim) float64, each (query, layer) block on its QUERY_BITS grid
    unit_exponents: torch.Tensor  # (nq,) int64: raw scores count units of 2^this
    chunks: list[tuple[int, slice]]
    top_k: int
    query_batch_size: int
    return_example_scores: bool
    # normalize: the scores divided by the rows' preconditioned norms, counted in units of 2^this
    normalized_exponents: torch.Tensor | None = None
    preconditioner: Preconditioner | None = None
    total_examples: int = 0


def plan_queries(manifest: IndexManifest, preconditioned: torch.Tensor, args: ScoreArguments, *,
                 raw: torch.Tensor | None = None, preconditioner: Preconditioner | None = None) -> ScorePlan:
    """Round the preconditioned queries to their grids and fix their units from
    the index's row exponents: |score| <= sum over layers of dim * 2^(e_query +
    e_rows), times the number of rows for a sum over the index. With
    `args.normalize`, `raw` (the unpreconditioned rows) bounds the normalized
    scores by Cauchy-Schwarz, sqrt(raw . preconditioned), with a factor 2 of room."""
    specs = manifest.layer_specs
    q = preconditioned.to(torch.float64).clone()
    n_rows = max(1, manifest.total_examples)
    row_exponents = manifest.row_exponents or [0] * len(specs)
    query_exponents = []
    for s in specs:
        sl = slice(s.offset, s.offset + s.dim)
        q[:, sl], e = quantize(q[:, sl], QUERY_BITS, dims=(1,))
        query_exponents.append(e.reshape(-1).tolist())
    bounds = [
        n_rows * math.fsum(s.dim * math.ldexp(1.0, query_exponents[li][i] + row_exponents[li]) for li, s in enumerate(specs))
        for i in range(q.shape[0])
    ]
    normalized = None
    if args.normalize:
        if raw is None:
            raise AttributionError("normalize needs the unpreconditioned query rows")
        self_scores = _dot_rows(q, raw.to(q.device, torch.float64), specs)
        normalized = _unit_exponents([n_rows * 2.0 * math.sqrt(max(v, 0.0)) for v in self_scores.tolist()])
    return ScorePlan(q, _unit_exponents(bounds), _column_chunks(specs), args.top_k, args.query_batch_size,
                     args.return_example_scores, normalized, preconditioner, manifest.total_examples)


def _dot_rows(a: torch.Tensor, b: torch.Tensor, specs: list[LayerSpec]) -> torch.Tensor:
    """Row-wise a . b, float64, each row's chunks computed exactly (a on
    QUERY_BITS grids, b on ROW_BITS grids) and added in a fixed order."""
    out = torch.zeros(a.shape[0], dtype=torch.float64, device=a.device)
    b = b.clone()
    for s in specs:
        sl = slice(s.offset, s.offset + s.dim)
        b[:, sl] = quantize(b[:, sl], ROW_BITS, dims=(1,))[0]
    for _, cols in _column_chunks(specs):
        out = out + torch.einsum("ij,ij->i", a[:, cols], b[:, cols])
    return out


def _row_norms(plan: ScorePlan, rows: torch.Tensor, specs: list[LayerSpec]) -> torch.Tensor:
    """sqrt(g^T (F + lambda I)^{-1} g) per row, each from that row alone."""
    g = rows.to(torch.float64)
    pg = plan.preconditioner.apply(g) if plan.preconditioner is not None else g.clone()
    for s in specs:
        sl = slice(s.offset, s.offset + s.dim)
        pg[:, sl] = quantize(pg[:, sl], QUERY_BITS, dims=(1,))[0]
    return _dot_rows(pg, g, specs).clamp_min(0.0).sqrt()


def _shard_units(plan: ScorePlan, grads: torch.Tensor, buffer: torch.Tensor, specs: list[LayerSpec]) -> torch.Tensor:
    """(queries, rows) int64 scores of one shard, in each query's units."""
    q = plan.queries
    units = plan.unit_exponents.to(q.device).unsqueeze(1)
    out = torch.empty(q.shape[0], grads.shape[0], dtype=torch.int64, device=q.device)
    for r in range(0, grads.shape[0], buffer.shape[0]):
        rows = buffer[: min(buffer.shape[0], grads.shape[0] - r)]
        rows.copy_(grads[r : r + rows.shape[0]])
        for s in range(0, q.shape[0], plan.query_batch_size):
            qs = slice(s, s + plan.query_batch_size)
            acc = torch.zeros(q[qs].shape[0], rows.shape[0], dtype=torch.int64, device=q.device)
            for _, cols in plan.chunks:
                acc += to_units(q[qs, cols] @ rows[:, cols].T, units[qs])
            out[qs, r : r + rows.shape[0]] = acc
    if plan.normalized_exponents is not None:
        norms = _row_norms(plan, grads, specs)
        scores = from_units(out, units) / torch.where(norms > 0, norms, torch.ones_like(norms)).unsqueeze(0)
        limit = (1 << (UNIT_BITS - 1)) // max(1, plan.total_examples)
        out = to_units(scores, plan.normalized_exponents.to(q.device).unsqueeze(1)).clamp(-limit, limit)
    return out


def _block_top_k(block: torch.Tensor, k: int) -> torch.Tensor | None:
    """Columns of each query's k best scores in `block`, ascending, or None when a
    query has ties at its k-th value (then every column must go to the merge)."""
    if block.shape[1] <= k:
        return None
    kth = torch.topk(block, k, dim=1, sorted=False).values.amin(dim=1, keepdim=True)
    keep = block >= kth
    if not bool((keep.sum(dim=1) == k).all()):
        return None
    # nonzero() walks row-major, so each query's columns come out in ascending order.
    return keep.nonzero()[:, 1].view(block.shape[0], k)


def _top_k(values: torch.Tensor, rows: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k largest integer values per query, ties to the lower row: an exact
    total order, so any way of splitting and merging gives the same answer."""
    # Sort by row first, then stably by value: equal values stay in row order.
    by_row = torch.sort(rows, dim=1, stable=True).indices
    values, rows = values.gather(1, by_row), rows.gather(1, by_row)
    order = torch.sort(values, dim=1, descending=True, stable=True).indices[:, :k]
    return values.gather(1, order), rows.gather(1, order)


@dataclass(frozen=True)
class ShardScores:
    """What a range of shards contributes: integers only, so merging ranges in
    any grouping or order gives the same result as one pass."""

    top_units: torch.Tensor  # (nq, <=k) int64, best first
    top_rows: torch.Tensor  # (nq, <=k) int64 index rows
    contribution_units: torch.Tensor  # (nq, C) int64, every contribution of the index
    positive_units: torch.Tensor  # (nq, C) int64, the sums of the positive scores only
    example_blocks: tuple[tuple[int, torch.Tensor], ...] = ()  # (first row, (nq, rows) int64)

    @staticmethod
    def empty(nq: int, contributions: int, device: torch.device | str = "cpu") -> ShardScores:
        return ShardScores(torch.empty(nq, 0, dtype=torch.int64, device=device),
                           torch.empty(nq, 0, dtype=torch.int64, device=device),
                           torch.zeros(nq, contributions, dtype=torch.int64),
                           torch.zeros(nq, contributions, dtype=torch.int64))

    def add_block(self, block: torch.Tensor, first_row: int, id_column: torch.Tensor, k: int,
                  keep_examples: bool) -> ShardScores:
        top_units, top_rows = self.top_units, self.top_rows
        if k:
            columns = _block_top_k(block, k)
            if columns is None:
                columns = torch.arange(block.shape[1], device=block.device).expand(block.shape[0], -1)
                candidates = block
            else:
                # A row outside its query's block top-k has k better rows in the
                # same block, so dropping it first changes nothing.
                candidates = block.gather(1, columns)
            top_units, top_rows = _top_k(torch.cat([top_units, candidates], dim=1),
                                         torch.cat([top_rows, columns + first_row], dim=1), k)
        block_cpu = block.cpu()
        ids = id_column[first_row : first_row + block_cpu.shape[1]]
        sums = self.contribution_units.clone()
        sums.index_add_(1, ids, block_cpu)
        positive = self.positive_units.clone()
        positive.index_add_(1, ids, block_cpu.clamp_min(0))
        examples = self.example_blocks + ((first_row, block_cpu),) if keep_examples else self.example_blocks
        return ShardScores(top_units, top_rows, sums, positive, examples)

    def merge(self, other: ShardScores, k: int) -> ShardScores:
        device = self.top_units.device
        top_units, top_rows = _top_k(torch.cat([self.top_units, other.top_units.to(device)], dim=1),
                                     torch.cat([self.top_rows, other.top_rows.to(device)], dim=1), k)
        return ShardScores(top_units, top_rows, self.contribution_units + other.contribution_units.cpu(),
                           self.positive_units + other.positive_units.cpu(),
                           self.example_blocks + tuple((r, b.cpu()) for r, b in other.example_blocks))


def score_shards(plan: ScorePlan, shards: Iterable[tuple[int, torch.Tensor, torch.Tensor]], specs: list[LayerSpec],
                 id_column: torch.Tensor, contributions: int, device: torch.device | str = "cpu") -> ShardScores:
    """The exact pass over some shards ((first row, rows, ids) each): the part
    a worker computes; `ShardScores.merge` combines parts."""
    plan = _on_device(plan, device)
    nq = plan.queries.shape[0]
    k = min(plan.top_k, plan.total_examples)
    dim = plan.queries.shape[1]
    chunk_bytes = _CHUNK_BYTES_CUDA if torch.device(device).type == "cuda" else _CHUNK_BYTES
    buffer = torch.empty(max(1, chunk_bytes // (8 * max(dim, 1))), dim, dtype=torch.float64, device=device)
    result = ShardScores.empty(nq, contributions, device)
    for first_row, grads, _ in shards:
        block = _shard_units(plan, grads.to(device), buffer, specs)
        result = result.add_block(block, first_row, id_column, k, plan.return_example_scores)
    return result


def _on_device(plan: ScorePlan, device: torch.device | str) -> ScorePlan:
    if plan.queries.device == torch.device(device):
        return plan
    return ScorePlan(plan.queries.to(device), plan.unit_exponents, plan.chunks, plan.top_k, plan.query_batch_size,
                     plan.return_example_scores, plan.normalized_exponents, plan.preconditioner, plan.total_examples)


def finish(plan: ScorePlan, scores: ShardScores, contribution_ids: torch.Tensor, id_column: torch.Tensor) -> ScoreResult:
    """Integers back to float64 scores, one rounding each (the exact integers stay in the result)."""
    units = plan.normalized_exponents if plan.normalized_exponents is not None else plan.unit_exponents
    column = units.unsqueeze(1)
    top_rows = scores.top_rows.cpu()
    example_scores = None
    if plan.return_example_scores:
        blocks = [b for _, b in sorted(scores.example_blocks, key=lambda rb: rb[0])]
        nq = plan.queries.shape[0]
        example_scores = from_units(torch.cat(blocks, dim=1), column) if blocks else torch.zeros(nq, 0, dtype=torch.float64)
    return ScoreResult(
        top_k_indices=top_rows,
        top_k_values=from_units(scores.top_units.cpu(), column),
        top_k_contribution_ids=contribution_ids[id_column[top_rows]],
        contribution_ids=contribution_ids,
        contribution_scores=from_units(scores.contribution_units, column),
        example_scores=example_scores,
        contribution_units=scores.contribution_units,
        positive_units=scores.positive_units,
        score_exponents=units.clone(),
    )


class Scorer:
    """Scores queries against one index for one model: the form for a service
    that answers many queries. The index is loaded (and, with `resident`, held
    in memory on the model's device, so each query reads memory rather than
    files), its preconditioner loaded and the model's fingerprint checked once,
    here; change the model's weights afterwards and the scores no longer match
    the index.

    Uses the preconditioner saved with the index (or `preconditioner`), and none
    (plain projected dot products) when the index has no preconditioner.
    """

    def __init__(
        self,
        model: nn.Module,
        task: Task,
        index_dir: str | os.PathLike[str],
        *,
        resident: bool = True,
        preconditioner: Preconditioner | None = None,
        check_model: bool = True,
    ) -> None:
        index = load_index(index_dir)
        if check_model:
            current = model_fingerprint(model)
            if current != index.manifest.model_fingerprint:
                raise IndexMismatchError("model_fingerprint", index.manifest.model_fingerprint, current)
        if preconditioner is None and preconditioner_exists(index_dir):
            preconditioner = load_preconditioner(index_dir)
        self.model, self.task, self.preconditioner = model, task, preconditioner
        self.device = next(iter(model.parameters())).device
        self.index = index.resident(self.device) if resident else index

    def prepare(self, query_batch: Any, args: ScoreArguments) -> ScorePlan:
        """The queries' rows, preconditioned and rounded, with their units."""
        queries = query_gradients(self.model, self.task, query_batch, self.index)
        require_finite(queries, 0, "query")
        pre = self.preconditioner
        q_pre = pre.apply(queries) if pre is not None else queries.to(torch.float64)
        return plan_queries(self.index.manifest, q_pre, args, raw=queries, preconditioner=pre)

    def score(self, query_batch: Any, args: ScoreArguments = ScoreArguments()) -> ScoreResult:
        """Influence of every indexed training example on each query of `query_batch`."""
        return score_plan(self.index, self.prepare(query_batch, args), device=self.device)


def score(
    model: nn.Module,
    task: Task,
    index_dir: str | os.PathLike[str],
    query_batch: Any,
    args: ScoreArguments = ScoreArguments(),
    *,
    preconditioner: Preconditioner | None = None,
    check_model: bool = True,
) -> ScoreResult:
    """Influence of every indexed training example on each query of `query_batch`,
    streaming the index from its files (one-off queries; a service keeps a
    `Scorer`). `check_model` compares the model's fingerprint with the index's."""
    scorer = Scorer(model, task, index_dir, resident=False, preconditioner=preconditioner, check_model=check_model)
    return scorer.score(query_batch, args)


def score_plan(index: Index, plan: ScorePlan, *, device: torch.device | str = "cpu") -> ScoreResult:
    """One exact pass over every shard of `index` for a prepared plan."""
    contribution_ids, id_column = index.contribution_columns()
    scores = score_shards(plan, index.iter_shards(device), index.manifest.layer_specs, id_column,
                          contribution_ids.numel(), device)
    return finish(plan, scores, contribution_ids, id_column)


def score_rows(
    index: Index,
    preconditioned_queries: torch.Tensor,
    args: ScoreArguments,
    *,
    device: torch.device | str = "cpu",
    preconditioner: Preconditioner | None = None,
    raw_queries: torch.Tensor | None = None,
) -> ScoreResult:
    """Stream the shards against already-preconditioned query rows (float64);
    `preconditioner` and `raw_queries` (the rows before preconditioning) are
    only needed for `args.normalize`."""
    q = preconditioned_queries.to(device, torch.float64)
    raw = raw_queries.to(device) if raw_queries is not None else None
    if args.normalize and raw is None:
        if preconditioner is not None and preconditioner.kind != "identity":
            raise AttributionError("score_rows with normalize needs raw_queries (the rows before preconditioning)")
        raw = q
    plan = plan_queries(index.manifest, q, args, raw=raw, preconditioner=preconditioner)
    return score_plan(index, plan, device=device)
