"""Scoring: queries against the stored index, one matrix product per shard.

Last stage of the data flow (task -> projection -> index -> **scoring** -> reward
split). The query's measurement gradient is projected exactly as the training
rows were, preconditioned (float64), and multiplied against each shard in turn,

    scores = Q_preconditioned @ G_shard^T,

so only one shard (memory-mapped by safetensors) is in memory at a time and the
index may exceed memory. Scoring is one pass over the index: each shard's rows
are widened to float64 a cache-sized chunk at a time, so the pass reads the
stored bytes once, and each block keeps only its own top-k candidates before
the merge. A running top-k is kept per query, and scores are summed
per contribution id. Everything is float64 from the stored float32 rows on, and
ties in the top-k go to the lower row, so the ranking handed to the reward split
is reproducible. The same code runs on CPU and CUDA (the model's device).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from attribution.arguments import ScoreArguments
from attribution.errors import IndexMismatchError
from attribution.index import (
    Index,
    load_index,
    load_preconditioner,
    model_fingerprint,
    move_to_device,
    preconditioner_exists,
    require_finite,
)
from attribution.preconditioner import Preconditioner
from attribution.projection import GradientCollector
from attribution.task import Task, tracked_modules_of

# Rows widened to float64 at a time: about 2 MiB, which stays in cache while the
# matrix product reads it (the fastest of 1-8 MiB on the development machine,
# bench/attribution_speed.py). Part of the scores' rounding (it sets the shape
# of each matrix product), so changing it changes their last bits.
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

    @property
    def per_contribution(self) -> dict[int, float]:
        """Summed over all queries of the batch: contribution id -> score."""
        totals = self.contribution_scores.sum(dim=0)
        return {int(c): float(v) for c, v in zip(self.contribution_ids.tolist(), totals.tolist())}

    def per_contribution_of(self, query: int) -> dict[int, float]:
        row = self.contribution_scores[query]
        return {int(c): float(v) for c, v in zip(self.contribution_ids.tolist(), row.tolist())}


def query_gradients(model: nn.Module, task: Task, query_batch: Any, index: Index) -> torch.Tensor:
    """Projected gradients of MINUS the task's measurement, one row per query,
    with the projection the index was built with.

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
        with torch.enable_grad():
            measurement = task.compute_measurement(move_to_device(query_batch, device), model)
            return collector.gradients(-measurement)


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


def _merge_top_k(
    values: torch.Tensor, indices: torch.Tensor, new_values: torch.Tensor, first_row: int, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    columns = _block_top_k(new_values, k)
    if columns is None:
        columns = torch.arange(new_values.shape[1], device=new_values.device).expand(new_values.shape[0], -1)
    else:
        # A row outside its query's block top-k has k better rows in the same
        # block, so dropping it first leaves the merge below unchanged.
        new_values = new_values.gather(1, columns)
    all_values = torch.cat([values, new_values], dim=1)
    all_indices = torch.cat([indices, columns + first_row], dim=1)
    # Candidates are in ascending row order among equal values (earlier shards
    # first, kept in that order by the stable sort), so ties go to the lower row.
    order = torch.sort(all_values, dim=1, descending=True, stable=True).indices[:, :k]
    return all_values.gather(1, order), all_indices.gather(1, order)


def _shard_scores(q: torch.Tensor, grads: torch.Tensor, query_batch_size: int, buffer: torch.Tensor) -> torch.Tensor:
    """(queries, rows) float64 scores of one shard. The float32 rows are widened
    a chunk at a time into `buffer`, small enough to stay in cache, so the pass
    reads the shard once instead of writing and re-reading a float64 copy."""
    out = torch.empty(q.shape[0], grads.shape[0], dtype=torch.float64, device=q.device)
    for r in range(0, grads.shape[0], buffer.shape[0]):
        rows = buffer[: min(buffer.shape[0], grads.shape[0] - r)]
        rows.copy_(grads[r : r + rows.shape[0]])
        for s in range(0, q.shape[0], query_batch_size):
            out[s : s + query_batch_size, r : r + rows.shape[0]] = q[s : s + query_batch_size] @ rows.T
    return out


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

    def score(self, query_batch: Any, args: ScoreArguments = ScoreArguments()) -> ScoreResult:
        """Influence of every indexed training example on each query of `query_batch`."""
        queries = query_gradients(self.model, self.task, query_batch, self.index)
        require_finite(queries, 0, "query")
        pre = self.preconditioner
        q_pre = pre.apply(queries) if pre is not None else queries.to(torch.float64)
        return score_rows(self.index, q_pre, args, device=queries.device, preconditioner=pre)


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


def score_rows(
    index: Index,
    preconditioned_queries: torch.Tensor,
    args: ScoreArguments,
    *,
    device: torch.device | str = "cpu",
    preconditioner: Preconditioner | None = None,
) -> ScoreResult:
    """Stream the shards against already-preconditioned query rows (float64);
    `preconditioner` is only needed for `args.normalize`."""
    q = preconditioned_queries.to(device, torch.float64)
    nq = q.shape[0]
    k = min(args.top_k, index.manifest.total_examples)
    # id_column[i]: the column of contribution_scores that row i adds into.
    contribution_ids, id_column = index.contribution_columns()
    # Aggregated on the CPU: index_add_ is sequential (deterministic) there.
    contribution_scores = torch.zeros(nq, contribution_ids.numel(), dtype=torch.float64)
    top_values = torch.empty(nq, 0, dtype=torch.float64, device=device)
    top_indices = torch.empty(nq, 0, dtype=torch.int64, device=device)
    example_blocks: list[torch.Tensor] = []
    dim = index.manifest.dim
    chunk_bytes = _CHUNK_BYTES_CUDA if torch.device(device).type == "cuda" else _CHUNK_BYTES
    buffer = torch.empty(max(1, chunk_bytes // (8 * max(dim, 1))), dim, dtype=torch.float64, device=device)
    for first_row, grads, _ in index.iter_shards(device):
        g = grads
        if args.normalize:
            g = g.to(torch.float64)
            pg = preconditioner.apply(g) if preconditioner is not None else g
            norms = (pg * g).sum(dim=1).clamp_min(0.0).sqrt()
            # A zero-gradient row scores 0 either way; avoid 0/0.
            g = g / torch.where(norms > 0, norms, torch.ones_like(norms)).unsqueeze(1)
        block = _shard_scores(q, g, args.query_batch_size, buffer)
        if k:
            top_values, top_indices = _merge_top_k(top_values, top_indices, block, first_row, k)
        block_cpu = block.cpu()
        contribution_scores.index_add_(1, id_column[first_row : first_row + block_cpu.shape[1]], block_cpu)
        if args.return_example_scores:
            example_blocks.append(block_cpu)
    example_scores = None
    if args.return_example_scores:
        example_scores = torch.cat(example_blocks, dim=1) if example_blocks else torch.zeros(nq, 0, dtype=torch.float64)
    top_indices_cpu = top_indices.cpu()
    return ScoreResult(
        top_k_indices=top_indices_cpu,
        top_k_values=top_values.cpu(),
        top_k_contribution_ids=contribution_ids[id_column[top_indices_cpu]],
        contribution_ids=contribution_ids,
        contribution_scores=contribution_scores,
        example_scores=example_scores,
    )
