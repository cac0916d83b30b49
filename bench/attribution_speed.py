"""Attribution speed: index-build throughput and query latency, each beside a
reference measured in the same run.

Index build, on an MLP 784-512-512-10 (ReLU, synthetic seeded inputs, default
`ProjectionArguments`: r_in = r_out = 16 per layer):
- ours: `build_index` end to end (forward and backward per batch, LoGra
  projection, shard writes, and the preconditioner with the default
  `PreconditionerArguments`) into a temporary directory;
- reference: a dense random projection of the same output size (TRAK-style):
  exact per-example gradients (float32, from the same hooks with projection
  off) times one dense D x k Gaussian matrix (`DenseRandomProjection`); no
  preconditioner and no writes, so the ratio understates ours.
Both print examples/s (ours: median of repeated builds after a warm-up build;
the reference: one pass after a warm-up batch) and the memory of their
projection matrices.

Query latency: a synthetic index of the same row width written with
`save_index` (float32 rows, contribution ids drawn from 10,000 contributors),
at each size in --sizes, scored with `score_rows` for 1 and for 64
already-preconditioned queries (median of repeats after a warm-up), once
streamed from the shard files (in the page cache) and once from a resident
index (`Index.resident`, what a `Scorer` holds). Scoring is one pass over the
index, so it is memory-bound: the floor is index bytes / memory bandwidth, and
the reference is the bandwidth of a plain streaming pass (a sum) over an
in-memory float32 tensor of the same rows, measured in the same run. On CUDA
the same scoring runs with device="cuda" (resident: the index in device
memory), beside the device's copy bandwidth.

Usage: python bench/attribution_speed.py [--quick] [--sizes 100000,1000000] [--write-docs]
"""

from __future__ import annotations

import argparse
import datetime
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from attribution import (
    DenseRandomProjection,
    GradientCollector,
    Index,
    IndexArguments,
    PreconditionerArguments,
    ProjectionArguments,
    ScoreArguments,
    Task,
    build_index,
    load_index,
    load_preconditioner,
    query_gradients,
    save_index,
    score_rows,
)
from bench.docs import machine_line, replace_section

SECTION = "## Attribution speed (`bench/attribution_speed.py`)"
WIDTHS = (784, 512, 512, 10)
CONTRIBUTORS = 10_000
QUERY_COUNTS = (1, 64)


class ClassificationTask(Task):
    def compute_train_loss(self, batch: Any, model: nn.Module) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(model(x), y, reduction="sum")

    def compute_measurement(self, batch: Any, model: nn.Module) -> torch.Tensor:
        x, y = batch
        return -F.cross_entropy(model(x), y, reduction="sum")


def make_model() -> nn.Module:
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for d_in, d_out in pairwise(WIDTHS):
        layers += [nn.Linear(d_in, d_out), nn.ReLU()]
    return nn.Sequential(*layers[:-1]).eval()


def synthetic_data(n: int, seed: int) -> TensorDataset:
    gen = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(n, WIDTHS[0], generator=gen), torch.randint(0, WIDTHS[-1], (n,), generator=gen))


def median_seconds(fn: Callable[[], object], repeats: int, sync: Callable[[], None] = lambda: None) -> float:
    """Median wall time of `repeats` calls after one warm-up call."""
    fn()
    sync()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


@dataclass(frozen=True)
class BuildRun:
    examples_per_s: float
    projection_bytes: int


# Every layer projected: the bench measures the sketch itself, and a dense projection
# as wide as an index holding small layers whole would not fit in memory.
PROJECTION = ProjectionArguments(full_layer_size=0)


def build_ours(model: nn.Module, data: TensorDataset, index_dir: Path, batch_size: int, repeats: int) -> BuildRun:
    """Median of `repeats` builds (each one is short), after a warm-up build."""
    task = ClassificationTask()
    index_args = IndexArguments(batch_size=batch_size)
    ids = torch.arange(len(data)) % CONTRIBUTORS
    seconds = median_seconds(
        lambda: build_index(model, task, data, ids, index_dir, projection_args=PROJECTION, index_args=index_args,
                            progress=False), repeats
    )
    with GradientCollector(model, task.tracked_modules(model), PROJECTION) as collector:
        factors = [t for p in collector.projectors for t in (p.p_in, p.p_out) if t is not None]
    return BuildRun(len(data) / seconds, sum(t.numel() * t.element_size() for t in factors))


def build_dense(model: nn.Module, data: TensorDataset, output_dim: int, batch_size: int,
                sync: Callable[[], None]) -> BuildRun:
    task = ClassificationTask()
    # Exact per-example gradients in float32 (the hooks' batched outer products,
    # the fastest form for Linear layers), then one product with the dense matrix.
    with GradientCollector(model, task.tracked_modules(model), None, dtype=torch.float32) as collector:
        dense = DenseRandomProjection(collector.dim, output_dim, device=data.tensors[0].device)

        def project(start: int, stop: int) -> torch.Tensor:
            with torch.enable_grad():
                full = collector.gradients(task.compute_train_loss(data[start:stop], model))
            return dense.project(full)

        project(0, batch_size)
        sync()
        started = time.perf_counter()
        for start in range(0, len(data), batch_size):
            project(start, min(start + batch_size, len(data)))
        sync()
        seconds = time.perf_counter() - started
    return BuildRun(len(data) / seconds, dense.matrix.numel() * dense.matrix.element_size())


@dataclass(frozen=True)
class QueryRun:
    device: str
    source: str  # "files" (streamed from the shards) or "memory" (a resident index)
    rows: int
    queries: int
    seconds: float
    index_bytes: int
    reference_gbps: float

    @property
    def gbps(self) -> float:
        return self.index_bytes / self.seconds / 1e9


def streaming_gbps(rows: torch.Tensor, repeats: int, sync: Callable[[], None] = lambda: None) -> float:
    """Read bandwidth of a plain pass (a sum) over an in-memory tensor."""
    return rows.numel() * rows.element_size() / median_seconds(rows.sum, repeats, sync) / 1e9


def copy_gbps(rows: torch.Tensor, repeats: int, sync: Callable[[], None]) -> float:
    """Bytes moved (read + written) per second by a device-to-device copy."""
    out = torch.empty_like(rows)
    return 2 * rows.numel() * rows.element_size() / median_seconds(lambda: out.copy_(rows), repeats, sync) / 1e9


def nominal_cuda_gbps() -> float | None:
    """Spec bandwidth from the memory clock and bus width (double data rate), where torch reports them."""
    props = torch.cuda.get_device_properties(0)
    clock_khz = getattr(props, "memory_clock_rate", None)
    bus_bits = getattr(props, "memory_bus_width", None)
    if not clock_khz or not bus_bits:
        return None
    return 2 * float(clock_khz) * 1e3 * float(bus_bits) / 8 / 1e9


def query_runs(index: Index, q: torch.Tensor, rows: torch.Tensor, repeats: int, sync: Callable[[], None],
               extras: dict[str, float]) -> list[QueryRun]:
    """Scoring latency against one index for each query count, on the CPU and
    on CUDA where there is one, each beside the streaming pass over `rows`."""
    n, args = rows.shape[0], ScoreArguments(top_k=10)
    index_bytes = n * (rows.shape[1] * 4 + 8)  # float32 rows and int64 contribution ids
    references = {"cpu": streaming_gbps(rows, repeats)}
    if torch.cuda.is_available():
        on_device = rows.to("cuda")
        references["cuda"] = streaming_gbps(on_device, repeats, sync)
        extras["cuda_copy_gbps"] = copy_gbps(on_device, repeats, sync)
        del on_device
        # score_rows reads the shards from host memory, so the host-to-device copy bounds it too.
        extras["cuda_h2d_gbps"] = rows.numel() * 4 / median_seconds(partial(rows.to, "cuda"), repeats, sync) / 1e9
    runs = []
    for device, reference in references.items():
        resident = index.resident(device)
        for source, source_index in (("files", index), ("memory", resident)):
            for nq in QUERY_COUNTS:
                seconds = median_seconds(partial(score_rows, source_index, q[:nq], args, device=device), repeats, sync)
                runs.append(QueryRun(device, source, n, nq, seconds, index_bytes, reference))
        del resident
    return runs


def run_queries(model: nn.Module, built_dir: Path, tmp: Path, sizes: list[int], repeats: int,
                sync: Callable[[], None]) -> tuple[list[QueryRun], dict[str, float]]:
    """Query latency against synthetic indexes of each size, with the real
    model's preconditioned query rows; also times one query's gradient and
    preconditioner step."""
    task = ClassificationTask()
    built = load_index(built_dir)
    preconditioner = load_preconditioner(built_dir)
    x, y = synthetic_data(max(QUERY_COUNTS), seed=2).tensors
    extras: dict[str, float] = {}
    one_query = partial(query_gradients, model, task, (x[:1], y[:1]), built)
    extras["query_gradient_ms"] = median_seconds(lambda: preconditioner.apply(one_query()), repeats, sync) * 1e3
    q = preconditioner.apply(query_gradients(model, task, (x, y), built))
    manifest = built.manifest
    runs: list[QueryRun] = []
    for n in sizes:
        gen = torch.Generator().manual_seed(n)
        rows = torch.randn(n, manifest.dim, generator=gen)
        ids = torch.randint(0, CONTRIBUTORS, (n,), generator=gen)
        index_dir = tmp / f"synthetic-{n}"
        save_index(index_dir, rows, ids, specs=manifest.layer_specs, projection_args=manifest.projection_arguments,
                   model_fingerprint="synthetic")
        runs += query_runs(load_index(index_dir), q, rows, repeats, sync, extras)
        shutil.rmtree(index_dir)
    if torch.cuda.is_available():
        nominal = nominal_cuda_gbps()
        if nominal is not None:
            extras["cuda_nominal_gbps"] = nominal
    return runs, extras


def mib(n: int) -> str:
    return f"{n / 2**20:,.2f} MiB" if n < 2**20 * 10 else f"{n / 2**20:,.0f} MiB"


def build_table(ours: BuildRun, dense: BuildRun, dim: int, full_dim: int, examples: int, device: str) -> str:
    return "\n".join([
        f"| index build ({device}), {examples:,} examples, k = {dim} | examples/s | projection matrices |",
        "| --- | ---: | ---: |",
        f"| dense random projection (reference): D = {full_dim:,} x k | {dense.examples_per_s:,.0f} | {mib(dense.projection_bytes)} |",
        f"| **ours** (LoGra, per-layer factors, `build_index` end to end) | **{ours.examples_per_s:,.0f}** | {mib(ours.projection_bytes)} |",
        f"| ratio ours/dense | **{ours.examples_per_s / dense.examples_per_s:,.1f}x** | {dense.projection_bytes / ours.projection_bytes:,.0f}x smaller |",
    ])


def query_table(runs: list[QueryRun]) -> str:
    lines = ["| device | index read from | indexed examples | index MiB | queries | latency ms | achieved GB/s | streaming pass GB/s (reference) | fraction of the floor |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in runs:
        lines.append(f"| {r.device} | {r.source} | {r.rows:,} | {r.index_bytes / 2**20:,.0f} | {r.queries} | {r.seconds * 1e3:,.1f} | "
                     f"{r.gbps:.2f} | {r.reference_gbps:.2f} | {r.gbps / r.reference_gbps:.2f} |")
    return "\n".join(lines)


def extras_line(extras: dict[str, float]) -> str:
    parts = [f"query gradient + preconditioner for one query: {extras['query_gradient_ms']:.2f} ms"]
    if "cuda_copy_gbps" in extras:
        parts.append(f"CUDA device-to-device copy {extras['cuda_copy_gbps']:,.0f} GB/s (read + write)")
    if "cuda_h2d_gbps" in extras:
        parts.append(f"host-to-device copy {extras['cuda_h2d_gbps']:,.1f} GB/s")
    if "cuda_nominal_gbps" in extras:
        parts.append(f"nominal {extras['cuda_nominal_gbps']:,.0f} GB/s")
    return "; ".join(parts)


def write_docs(tables: str, extras: str, args: argparse.Namespace, runtime: float) -> None:
    pre = PreconditionerArguments()
    body = f"""{SECTION}

Index build on an MLP {"-".join(map(str, WIDTHS))} (ReLU, synthetic seeded inputs,
batches of {args.batch_size}, default projection r_in = r_out = 16 per layer): ours is
`build_index` end to end (one forward and backward pass per example, so that an
example's row never depends on its batch; the exact fixed-point LoGra projection
of each batch of {args.batch_size}; shard writes; and the default preconditioner:
{pre.kind}, {pre.fisher} Fisher, damping {pre.damping:g});
the reference is a dense random projection of the same output size k
(TRAK-style): exact per-example gradients in float32 times one dense D x k
Gaussian matrix (the fastest form we have for it: the per-example gradients are
the hooks' batched outer products, then one matrix product), without
preconditioner or writes, so the ratio understates ours. Ours is the median of
{args.repeats} builds after a warm-up build; the reference one pass after a warm-up
batch (drawing its matrix is not timed).

Query latency: `score_rows` (shard by shard, exact: fixed-point products per
layer, int64 units, integer top-10 and per-contribution sums) against synthetic indexes of the same row width
(float32 rows, ids from {CONTRIBUTORS:,} contributors, shards of the default
{IndexArguments().shard_size:,} rows) written with `save_index`, for 1 and 64
already-preconditioned queries; median of {args.repeats} runs after a warm-up. "files":
streamed from the shard files (in the page cache), as one-off `score` calls do;
"memory": a resident index (`Index.resident`, what a `Scorer` for a service
holds), which also works out the per-contribution layout once rather than per
query. Scoring is one pass over the index, so its
floor is index bytes / memory bandwidth; the reference is a plain streaming
pass (a sum) over an in-memory float32 tensor of the same rows, measured in the
same run, and "fraction of the floor" is achieved over reference bandwidth.
Scoring widens each shard's float32 rows to float64 about 2 MiB at a time (in
cache) and keeps only each block's own top-k before the merge, so one query
reads the index once; the rest of the gap to the floor is mostly the float64
products (the widened rows are twice the bytes, read again from cache; one
product per layer) and their rounding to int64 units (a few passes over each
query-by-row block) and, for "files", per-shard overhead (opening and mapping
each file). With 64 queries the
float64 arithmetic (128 flops per stored float32) bounds it, not memory. All
figures come from one run; on a shared or virtual machine the bandwidth
available moves between runs (on the development machine the single-query
latencies moved by up to 3x over six runs of the same code), so read each
figure against its reference from the same run.

{machine_line()}; {datetime.date.today().isoformat()}; whole run {runtime:.0f} s.

{tables}

{extras}.
"""
    print(f"wrote {replace_section(SECTION, body)}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build-examples", type=int, default=4096, help="examples indexed by each build method")
    p.add_argument("--batch-size", type=int, default=64,
                   help="examples per step (ours: one forward/backward pass per example, the projection batched; "
                        "the dense reference: one pass per batch)")
    p.add_argument("--sizes", default="100000,1000000", help="indexed examples of the synthetic indexes")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per figure (median), after one warm-up")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="small sizes, a smoke test")
    p.add_argument("--write-docs", action="store_true")
    args = p.parse_args()
    if args.quick:
        args.build_examples, args.sizes, args.repeats = 512, "5000,20000", 2
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    print(machine_line())
    # The index is built (and queries' gradients taken) on the GPU where there is one.
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    sync = torch.cuda.synchronize if device.type == "cuda" else lambda: None
    model = make_model().to(device)
    data = TensorDataset(*(t.to(device) for t in synthetic_data(args.build_examples, seed=1).tensors))
    tmp = Path(tempfile.mkdtemp(prefix="attribution-speed-"))
    try:
        built_dir = tmp / "built"
        ours = build_ours(model, data, built_dir, args.batch_size, args.repeats)
        manifest = load_index(built_dir).manifest
        full_dim = sum(s.d_in * s.d_out for s in manifest.layer_specs)
        dense = build_dense(model, data, manifest.dim, args.batch_size, sync)
        tables = build_table(ours, dense, manifest.dim, full_dim, args.build_examples, device.type)
        print(tables + "\n", flush=True)
        runs, extras = run_queries(model, built_dir, tmp, [int(s) for s in args.sizes.split(",")], args.repeats, sync)
    finally:
        shutil.rmtree(tmp)
    tables += "\n\n" + query_table(runs)
    runtime = time.perf_counter() - t0
    print(query_table(runs))
    print(extras_line(extras))
    print(f"shard files in the page cache (warm); whole run {runtime:.1f} s")
    if args.write_docs:
        write_docs(tables, extras_line(extras), args, runtime)


if __name__ == "__main__":
    main()
