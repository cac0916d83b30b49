"""Scoring: queries against the stored index, one matrix product per shard.

Last stage of the data flow (task -> projection -> index -> **scoring** -> reward
split). The query's measurement gradient is projected exactly as the training
rows were, preconditioned (float64), and multiplied against each shard in turn,

    scores = Q_preconditioned @ G_shard^T,

so only one shard (memory-mapped by safetensors) is in memory at a time and the
index may exceed memory. A running top-k is kept per query, and scores are summed
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
)
from attribution.preconditioner import Preconditioner
from attribution.projection import GradientCollector
from attribution.task import Task, tracked_modules_of


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


def _merge_top_k(
    values: torch.Tensor, indices: torch.Tensor, new_values: torch.Tensor, first_row: int, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    new_indices = torch.arange(first_row, first_row + new_values.shape[1], device=new_values.device)
    all_values = torch.cat([values, new_values], dim=1)
    all_indices = torch.cat([indices, new_indices.expand(new_values.shape[0], -1)], dim=1)
    # Candidates are in ascending row order among equal values (earlier shards
    # first, kept in that order by the stable sort), so ties go to the lower row.
    order = torch.sort(all_values, dim=1, descending=True, stable=True).indices[:, :k]
    return all_values.gather(1, order), all_indices.gather(1, order)


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
    """Influence of every indexed training example on each query of `query_batch`.

    Uses the preconditioner saved with the index (or `preconditioner`), and none
    (plain projected dot products) when the index has no preconditioner.
    `check_model` compares the model's fingerprint with the index's.
    """
    index = load_index(index_dir)
    if check_model:
        current = model_fingerprint(model)
        if current != index.manifest.model_fingerprint:
            raise IndexMismatchError("model_fingerprint", index.manifest.model_fingerprint, current)
    if preconditioner is None and preconditioner_exists(index_dir):
        preconditioner = load_preconditioner(index_dir)
    queries = query_gradients(model, task, query_batch, index)
    device = queries.device
    q_pre = preconditioner.apply(queries) if preconditioner is not None else queries.to(torch.float64)
    return score_rows(index, q_pre, args, device=device, preconditioner=preconditioner)


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
    all_ids = index.contribution_ids()
    contribution_ids = torch.unique(all_ids, sorted=True)
    # Aggregated on the CPU: index_add_ is sequential (deterministic) there.
    contribution_scores = torch.zeros(nq, contribution_ids.numel(), dtype=torch.float64)
    top_values = torch.empty(nq, 0, dtype=torch.float64, device=device)
    top_indices = torch.empty(nq, 0, dtype=torch.int64, device=device)
    example_blocks: list[torch.Tensor] = []
    for first_row, grads, ids in index.iter_shards():
        g = grads.to(device, torch.float64)
        if args.normalize:
            pg = preconditioner.apply(g) if preconditioner is not None else g
            norms = (pg * g).sum(dim=1).clamp_min(0.0).sqrt()
            # A zero-gradient row scores 0 either way; avoid 0/0.
            g = g / torch.where(norms > 0, norms, torch.ones_like(norms)).unsqueeze(1)
        chunks = [q[s : s + args.query_batch_size] @ g.T for s in range(0, nq, args.query_batch_size)]
        block = torch.cat(chunks) if chunks else torch.empty(0, g.shape[0], dtype=torch.float64, device=device)
        if k:
            top_values, top_indices = _merge_top_k(top_values, top_indices, block, first_row, k)
        block_cpu = block.cpu()
        contribution_scores.index_add_(1, torch.searchsorted(contribution_ids, ids), block_cpu)
        if args.return_example_scores:
            example_blocks.append(block_cpu)
    example_scores = None
    if args.return_example_scores:
        example_scores = torch.cat(example_blocks, dim=1) if example_blocks else torch.zeros(nq, 0, dtype=torch.float64)
    top_indices_cpu = top_indices.cpu()
    return ScoreResult(
        top_k_indices=top_indices_cpu,
        top_k_values=top_values.cpu(),
        top_k_contribution_ids=all_ids[top_indices_cpu],
        contribution_ids=contribution_ids,
        contribution_scores=contribution_scores,
        example_scores=example_scores,
    )
