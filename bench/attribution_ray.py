"""Attribution scoring: the cost of exact (settlement-grade) scoring, and the Ray
scorer's throughput with 1 and 2 workers beside the single-process scorer.

Index: the MLP of bench/attribution_speed.py (784-512-512-10, default
projection, k = 672) and a synthetic index of --rows rows of that width written
with `save_index` (rows rounded to the storage grid, ids from 10,000
contributors, default shard size). Queries: the model's projected measurement
gradients of --queries synthetic inputs, EK-FAC-free (identity preconditioner:
the scoring pass costs the same whatever the preconditioner).

Lines printed (median of --repeats after a warm-up):
- index rows: the projected rows of --build-examples examples in steps of 64,
  from one batched forward and backward pass per step (what the engine did
  before: an example's row then depends on its batch) against one pass per
  example (what it does now), the projection exact in both; and `build_index`
  end to end;
- exact pass: `score_rows`' exact fixed-point pass (per-layer chunk products,
  int64 units, integer top-k and sums), already-prepared queries, resident index;
- float reference: the same pass in plain float64 (one product per block,
  float top-k and float sums: the pre-exact algorithm, whose last bits depend
  on shapes and threads), same index, same queries;
- end to end: `Scorer.score` (query gradients, one forward and backward pass
  per query, plus the exact pass over a resident index) beside
  `RayScorer.score` with 1 and 2 workers (each worker one CPU and one torch
  thread, holding its shard range resident), with the check that all three
  give the same integers.

Usage: python bench/attribution_ray.py [--rows 100000] [--queries 64] [--build-examples 1024] [--repeats 5] [--write-docs]
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from torch.utils.data import TensorDataset

from attribution import (
    GradientCollector,
    IndexArguments,
    ProjectionArguments,
    ScoreArguments,
    Scorer,
    build_index,
    load_index,
    save_index,
)
from attribution.scoring import plan_queries, query_gradients, score_plan
from bench.attribution_speed import (
    CONTRIBUTORS,
    ClassificationTask,
    make_model,
    median_seconds,
    synthetic_data,
)
from bench.docs import BENCHMARKS_MD, machine_line, replace_section

SECTION = "## Attribution determinism and Ray scale-out (`bench/attribution_ray.py`)"
AFTER = "## Attribution speed (`bench/attribution_speed.py`)"


def threads(n: int) -> str:
    return f"{n} torch thread{'s' if n != 1 else ''}"


def float_pass(index: object, q: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The pre-exact scoring pass: float64 products, float top-k and sums."""
    contribution_ids, id_column = index.contribution_columns()  # type: ignore[attr-defined]
    sums = torch.zeros(q.shape[0], contribution_ids.numel(), dtype=torch.float64)
    best = torch.empty(q.shape[0], 0, dtype=torch.float64)
    buffer = torch.empty(max(1, (2 << 20) // (8 * q.shape[1])), q.shape[1], dtype=torch.float64)
    for first, grads, _ in index.iter_shards():  # type: ignore[attr-defined]
        block = torch.empty(q.shape[0], grads.shape[0], dtype=torch.float64)
        for r in range(0, grads.shape[0], buffer.shape[0]):
            rows = buffer[: min(buffer.shape[0], grads.shape[0] - r)]
            rows.copy_(grads[r : r + rows.shape[0]])
            block[:, r : r + rows.shape[0]] = q @ rows.T
        best = torch.cat([best, block], dim=1).topk(k, dim=1).values
        sums.index_add_(1, id_column[first : first + block.shape[1]], block)
    return best, sums


def build_lines(model: torch.nn.Module, task: ClassificationTask, n: int, repeats: int) -> list[str]:
    x, y = synthetic_data(n, seed=1).tensors
    step = 64

    def batched() -> None:
        with GradientCollector(model, task.tracked_modules(model), ProjectionArguments()) as c:
            for s in range(0, n, step):
                with torch.enable_grad():
                    c.gradients(task.compute_train_loss((x[s : s + step], y[s : s + step]), model))

    def per_example() -> None:
        with GradientCollector(model, task.tracked_modules(model), ProjectionArguments()) as c:
            for s in range(0, n, step):
                m = min(step, n - s)
                c.example_gradients(m, lambda j, s=s: task.compute_train_loss((x[s + j : s + j + 1], y[s + j : s + j + 1]), model))

    def build() -> None:
        with tempfile.TemporaryDirectory() as d:
            build_index(model, task, TensorDataset(x, y), torch.arange(n), d, index_args=IndexArguments(batch_size=step),
                        progress=False)

    out = [f"| index rows of {n:,} examples | examples/s | |", "| --- | ---: | ---: |"]
    for name, fn in (("one batched pass per 64 examples (rows depend on the batch)", batched),
                     ("**one pass per example** (what the engine does)", per_example),
                     ("`build_index` end to end (EK-FAC preconditioner, writes)", build)):
        seconds = median_seconds(fn, repeats)
        out.append(f"| {name} | {n / seconds:,.0f} | |")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--queries", type=int, default=64)
    p.add_argument("--build-examples", type=int, default=1024)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads of the single-process scorer (1: one CPU, as each Ray worker has)")
    p.add_argument("--write-docs", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    args.load = os.getloadavg()[0]
    started = time.perf_counter()
    import ray

    from attribution.distributed import RayScorer

    model, task = make_model(), ClassificationTask()
    with GradientCollector(model, task.tracked_modules(model), ProjectionArguments()) as collector:
        specs = collector.specs
    dim = sum(s.dim for s in specs)
    build_table = "\n".join(build_lines(model, task, args.build_examples, args.repeats))
    print(build_table)
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        gen = torch.Generator().manual_seed(0)
        save_index(tmp, torch.randn(args.rows, dim, generator=gen), torch.randint(1, CONTRIBUTORS + 1, (args.rows,), generator=gen),
                   specs=specs, projection_args=ProjectionArguments(), model_fingerprint="synthetic")
        index = load_index(tmp).resident()
        x, y = synthetic_data(args.queries, seed=2).tensors
        batch = (x, y)
        score_args = ScoreArguments(top_k=10)
        q = query_gradients(model, task, batch, index)
        plan = plan_queries(index.manifest, q, score_args)
        exact_s = median_seconds(partial(score_plan, index, plan), args.repeats)
        float_s = median_seconds(partial(float_pass, index, q, 10), args.repeats)
        lines.append(f"| exact pass (`score_rows`), prepared queries, resident index | {args.queries / exact_s:,.1f} | {exact_s * 1e3:,.0f} |")
        lines.append(f"| float reference (plain float64 pass, not reproducible), same index and queries | {args.queries / float_s:,.1f} | {float_s * 1e3:,.0f} |")

        single = Scorer(model, task, tmp, check_model=False)
        expected = single.score(batch, score_args)
        single_s = median_seconds(partial(single.score, batch, score_args), args.repeats)
        lines.append(f"| end to end, single process (`Scorer.score`, {threads(args.threads)}) | {args.queries / single_s:,.1f} | {single_s * 1e3:,.0f} |")
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        equal = True
        try:
            for workers in (1, 2):
                scorer = RayScorer(model, task, tmp, workers=workers, check_model=False)
                got = scorer.score(batch, score_args)
                equal &= torch.equal(got.contribution_units, expected.contribution_units) and torch.equal(
                    got.top_k_indices, expected.top_k_indices)
                seconds = median_seconds(partial(scorer.score, batch, score_args), args.repeats)
                lines.append(f"| end to end, `RayScorer.score`, {workers} worker{'s' if workers > 1 else ''} | {args.queries / seconds:,.1f} | {seconds * 1e3:,.0f} |")
                scorer.shutdown()
        finally:
            ray.shutdown()
    runtime = time.perf_counter() - started
    table = "\n".join([f"| {args.queries} queries against {args.rows:,} rows, k = {dim} | queries/s | ms per batch |",
                       "| --- | ---: | ---: |", *lines])
    verdict = f"Ray results identical to the single-process scorer (integer sums and top-k): {equal}."
    print(table)
    print(verdict)
    if not equal:
        sys.exit(1)
    if args.write_docs:
        write_docs(build_table + "\n\n" + table, verdict, args, runtime)


def write_docs(table: str, verdict: str, args: argparse.Namespace, runtime: float) -> None:
    body = f"""{SECTION}

What settlement-grade determinism costs, and what Ray scale-out gives. Index
rows: one forward and backward pass per example against one per batch of 64
(both with the exact projection), on the attribution-speed MLP. Scoring: a
synthetic index of {args.rows:,} rows of the attribution-speed MLP's width (rows
rounded to the storage grid), {args.queries} queries of that model, top-10.
"exact pass" is the scoring pass every result now comes from (fixed-point
chunk products, int64 units, integer top-k and per-contribution sums);
"float reference" is the same pass in plain float64, the algorithm before it
(its last bits depend on shapes and thread counts, so its splits could differ
between machines). "End to end" adds the queries' gradients (one forward and
backward pass per query). The Ray scorer runs on a local Ray cluster of 2 CPUs,
each worker one torch thread holding its shard range; the single-process scorer
uses {threads(args.threads)}. Median of {args.repeats} after a warm-up. The machine is
shared: the load average when the run started was {args.load:.1f} on its
{os.cpu_count()} cores, so read the rows against each other, not as absolutes
(Ray's gain needs free cores; with 2 busy cores its workers mostly wait).

{machine_line()}; {datetime.date.today().isoformat()}; whole run {runtime:.0f} s.

{table}

{verdict}
"""
    text = BENCHMARKS_MD.read_text()
    if SECTION not in text and AFTER in text:
        # Keep the attribution sections together: insert before the section after AFTER.
        start = text.index(AFTER)
        nxt = text.find("\n## ", start + len(AFTER))
        cut = len(text) if nxt < 0 else nxt + 1
        BENCHMARKS_MD.write_text(text[:cut] + body.rstrip("\n") + "\n\n" + text[cut:])
        print(f"wrote {BENCHMARKS_MD}")
        return
    print(f"wrote {replace_section(SECTION, body)}")


if __name__ == "__main__":
    main()
