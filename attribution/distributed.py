"""Scale-out scoring: index shards held by the workers of a Ray cluster.

Beside `scoring.Scorer` in the data flow (index -> **scoring** -> reward split).
The driver runs the model on the queries and prepares them (`Scorer.prepare`:
projected, preconditioned, rounded to their grids, their score units fixed from
the query and the manifest alone); each worker holds a contiguous range of the
index's shards in memory and runs the same exact pass over it
(`scoring.score_shards`); the driver merges the workers' integer partial results
(`ShardScores.merge`: top-k by value then row, per-contribution sums in int64).
Integer sums and an exact total order do not care how the rows were grouped, so
the result is the single-process scorer's, bit for bit, for any number of
workers: the attribution hash a provider settles does not depend on the
deployment.

Ray is an optional dependency (`pip install openledger-node[ray]`); the workers
read the index from `index_dir`, so on a multi-machine cluster it must be on a
shared filesystem (or copied to the same path on every node). `ray.init` is the
caller's: without it Ray starts a local cluster on first use.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from attribution.arguments import ScoreArguments
from attribution.errors import AttributionError
from attribution.index import load_index
from attribution.preconditioner import Preconditioner
from attribution.scoring import (
    ScorePlan,
    Scorer,
    ScoreResult,
    ShardScores,
    finish,
    score_shards,
)
from attribution.task import Task


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:  # optional dependency
        raise AttributionError("the Ray scorer needs ray: pip install 'openledger-node[ray]'") from exc
    return ray


def shard_ranges(rows_per_shard: list[int], workers: int) -> list[list[int]]:
    """Contiguous shard numbers per worker, balanced by rows (greedy: a worker
    takes shards until it holds its share). Fewer ranges than `workers` when
    there are fewer shards."""
    total = sum(rows_per_shard)
    ranges: list[list[int]] = []
    current: list[int] = []
    held = 0
    for number, rows in enumerate(rows_per_shard):
        current.append(number)
        held += rows
        remaining_workers = workers - len(ranges) - 1
        remaining_shards = len(rows_per_shard) - number - 1
        if remaining_workers > 0 and (held * workers >= total * (len(ranges) + 1) or remaining_shards == remaining_workers):
            ranges.append(current)
            current = []
    if current:
        ranges.append(current)
    return ranges


class ShardWorker:
    """One worker's shards, resident in its memory (a Ray actor)."""

    def __init__(self, index_dir: str, shard_numbers: list[int], id_column: torch.Tensor, contributions: int,
                 threads: int = 1) -> None:
        torch.set_num_threads(threads)
        index = load_index(index_dir)
        self.specs = index.manifest.layer_specs
        self.id_column = id_column
        self.contributions = contributions
        starts = [0]
        for entry in index.manifest.shards:
            starts.append(starts[-1] + entry["rows"])
        wanted = set(shard_numbers)
        self.shards = [(starts[i], grads, ids) for i, (_, grads, ids) in enumerate(index.iter_shards()) if i in wanted]

    def rows(self) -> int:
        return sum(g.shape[0] for _, g, _ in self.shards)

    def score(self, plan: ScorePlan) -> ShardScores:
        return score_shards(plan, self.shards, self.specs, self.id_column, self.contributions)


class RayScorer:
    """`Scorer` with the index spread over `workers` Ray actors (one CPU and
    `threads_per_worker` torch threads each). Same results as `Scorer`, bit for bit."""

    def __init__(
        self,
        model: nn.Module,
        task: Task,
        index_dir: str | os.PathLike[str],
        *,
        workers: int = 2,
        threads_per_worker: int = 1,
        preconditioner: Preconditioner | None = None,
        check_model: bool = True,
    ) -> None:
        if workers < 1:
            raise AttributionError(f"workers must be >= 1, got {workers}")
        ray = _ray()
        self.local = Scorer(model, task, index_dir, resident=False, preconditioner=preconditioner,
                            check_model=check_model)
        index = self.local.index
        self.contribution_ids, self.id_column = index.contribution_columns()
        ranges = shard_ranges([entry["rows"] for entry in index.manifest.shards], workers)
        actor = ray.remote(num_cpus=1)(ShardWorker)
        id_column = ray.put(self.id_column)
        self.workers = [
            actor.remote(str(index_dir), numbers, id_column, self.contribution_ids.numel(), threads_per_worker)
            for numbers in ranges
        ]
        # Wait for the shards to load, so a bad index fails here, not on the first query.
        ray.get([w.rows.remote() for w in self.workers])

    def score(self, query_batch: Any, args: ScoreArguments = ScoreArguments()) -> ScoreResult:
        """Influence of every indexed training example on each query of `query_batch`."""
        ray = _ray()
        plan = self.local.prepare(query_batch, args)
        cpu_plan = ScorePlan(plan.queries.cpu(), plan.unit_exponents, plan.chunks, plan.top_k, plan.query_batch_size,
                             plan.return_example_scores, plan.normalized_exponents, plan.preconditioner,
                             plan.total_examples)
        plan_ref = ray.put(cpu_plan)
        parts = ray.get([w.score.remote(plan_ref) for w in self.workers])
        k = min(plan.top_k, plan.total_examples)
        merged = ShardScores.empty(plan.queries.shape[0], self.contribution_ids.numel())
        for part in parts:
            merged = merged.merge(part, k)
        return finish(cpu_plan, merged, self.contribution_ids, self.id_column)

    def shutdown(self) -> None:
        """Stop the workers (their shards leave memory)."""
        ray = _ray()
        for w in self.workers:
            ray.kill(w)
        self.workers = []
