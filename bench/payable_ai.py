"""Payable AI end to end: paid inferences requested on chain, answered over HTTP
by `openledger-attribution serve`, settled and finalized on chain by its settler.

For each digits index size it starts a real node (instant mode), makes the
contributions (synthetic: the bundled training digits tiled with +-1 pixel
noise, so the index holds exactly the requested number of examples), trains,
indexes and registers the model, starts the service as its own process and
drives N paid requests with C in flight. It reports inferences served and
settled per second, p50/p99 of the HTTP answer (from the request transaction)
and of settlement (request to the settle receipt seen on chain), the L2 gas of
settle and finalize per inference (a batched transaction's gas divided among
the inferences it carries), and the service process's CPU time per inference
(psutil, user + system) beside wall clock: min/median/max over the repeats.
The reference in the same run is the bare model (`infer`) and the full
`attribute_query` in this process. `--ray` adds bench/attribution_ray.py's
measurement (single-process scorer beside the Ray scorer with 1 and 2 workers).

    python -m bench.payable_ai --quick --write-docs
    python -m bench.payable_ai --sizes 1000,100000 --requests 64 --in-flight 8 --repeats 3 --ray
    python -m bench.payable_ai --streamed-1m      # adds a 1,000,000-example index built in shards
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psutil
import requests
import torch
from eth_account import Account

from attribution.examples import digits
from attribution.payable.chain import Economy
from attribution.payable.models import ServedModel, attribute_query, load_served_model
from attribution.payable.record import input_hash
from bench.docs import machine_line, replace_section
from openledger_node.execution.genesis import dev_private_keys
from tests.attribution.payable.test_service import ServiceProcess
from tests.rpc.helpers import NodeProcess, start_node, wait_until

OPEN = 10**18
FEE = OPEN
OWNER_SHARE_BPS = 2_000
HEADING = "## Payable AI end to end (`bench/payable_ai.py`)"
READING = """\
Reading the rows. The HTTP answer costs the scoring pass over the whole index
(`attribute_query` in process is the reference): about the same at 1k and
100k examples, where the service's own overhead (request checks on chain, the
record store, the journal) dominates, and the whole cost at 1M, where one exact
pass over 1M rows takes over a second and the service's single model worker
serves one query at a time (so with 8 in flight the answer waits behind the
others). Settlement is bounded by the node: each `settle` is one transaction of
about 240k gas (the split pays every contribution with a positive sum, here all
20), mined one block per transaction in instant mode on the same 2 cores, beside
the finalizations of earlier rounds. The index build is three single-example
passes per example (the row, the sampled-Fisher draw, the EK-FAC eigenvalue
draw), written to shards of 4,096 rows as it goes (the rows are never all in
memory; the service then holds the index resident: 1M rows x 650 float32, 2.6
GB). The Ray rows: a synthetic index of the attribution-speed MLP's
width; one worker scores like the single process on one thread, two workers
split the shards between the two cores."""


def synthetic_contributions(examples: int, per_contribution: int, seed: int = 0) -> list[bytes]:
    """Contribution blobs holding `examples` digits in all: the training digits
    tiled, each pixel moved by -1, 0 or +1 (clamped to 0..16), seeded."""
    x_train, y_train, _, _ = digits.load_digits_split()
    pixels = torch.round(x_train * digits.MAX_INTENSITY).to(torch.int64)
    gen = torch.Generator().manual_seed(seed)
    blobs = []
    for start in range(0, examples, per_contribution):
        n = min(per_contribution, examples - start)
        rows = torch.arange(start, start + n) % len(y_train)
        noisy = (pixels[rows] + torch.randint(-1, 2, (n, 64), generator=gen)).clamp(0, digits.MAX_INTENSITY)
        blobs.append(digits.contribution_blob(noisy, y_train[rows]))
    return blobs


@dataclass
class Setup:
    node: NodeProcess
    model_dir: Path
    model_id: int
    user: Economy
    provider_key: bytes
    served: ServedModel
    inputs: list[bytes]
    dispute_window: int
    contributions: int
    build_s: float


def set_up(root: Path, examples: int, per_contribution: int, shard_size: int) -> Setup:
    node = start_node(root / "node", mode="instant")
    try:
        return _economy(node, root, examples, per_contribution, shard_size)
    except BaseException:
        node.stop()
        raise


def _economy(node: NodeProcess, root: Path, examples: int, per_contribution: int, shard_size: int) -> Setup:
    keys = dev_private_keys()
    curator, alice, owner, provider, user = (Economy(node.http, Account.from_key(k)) for k in keys[4:9])
    datanet = curator.create_datanet("ipfs://digits-bench", "open")
    blobs = synthetic_contributions(examples, per_contribution)
    ids = [alice.contribute(datanet, input_hash(blob), f"bench-{i}") for i, blob in enumerate(blobs)]
    model_dir = root / "model"
    started = time.perf_counter()
    digits.train(list(zip(ids, blobs)), model_dir)
    digits.build_index(model_dir, shard_size=shard_size)
    build_s = time.perf_counter() - started
    served = load_served_model(model_dir)
    model_id = owner.register_model(served.index_version, [datanet], FEE, OWNER_SHARE_BPS, "ipfs://digits-bench")
    provider.stake(1_000 * OPEN)
    _, _, x_test, _ = digits.load_digits_split()
    inputs = [digits.input_bytes(x_test[i % len(x_test)]) for i in range(len(x_test))]
    window = int(user.call("PayableAI", "disputeWindow"))
    return Setup(node, model_dir, model_id, user, keys[7], served, inputs, window, len(ids), build_s)


@dataclass
class Round:
    served_per_s: float
    settled_per_s: float
    answer_s: list[float]
    settle_s: list[float]
    cpu_per_inference_s: float
    wall_per_inference_s: float
    settle_gas: list[float] = field(default_factory=list)
    finalize_gas: list[float] = field(default_factory=list)


def gas_per_inference(setup: Setup, tx_hashes: dict[int, str]) -> list[float]:
    """Each inference's share of the gas of the transaction that carried it."""
    share: dict[str, int] = {}
    for tx in tx_hashes.values():
        share[tx] = share.get(tx, 0) + 1
    w3 = setup.user.w3
    gas = {tx: int(w3.eth.get_transaction_receipt(tx)["gasUsed"]) for tx in share}
    return [gas[tx] / share[tx] for tx in tx_hashes.values()]


def run_round(setup: Setup, service: ServiceProcess, n: int, in_flight: int, offset: int) -> Round:
    proc = psutil.Process(service.process.pid)
    cpu0 = sum(proc.cpu_times()[:2])
    first_block = setup.user.block_number()
    requested: dict[int, float] = {}
    answered: dict[int, float] = {}
    settled_at: dict[int, float] = {}
    lock = threading.Lock()

    def one(i: int) -> None:
        data = setup.inputs[(offset + i) % len(setup.inputs)]
        t0 = time.perf_counter()
        inference_id = setup.user.request_inference(setup.model_id, input_hash(data), FEE)
        response = service.post(inference_id, data)
        if response.status_code != 200:
            raise RuntimeError(f"inference {inference_id}: HTTP {response.status_code} {response.text}")
        with lock:
            requested[inference_id] = t0
            answered[inference_id] = time.perf_counter() - t0

    started = time.perf_counter()
    with ThreadPoolExecutor(in_flight) as pool:
        futures = [pool.submit(one, i) for i in range(n)]
        deadline = time.monotonic() + 600
        cursor = first_block
        while time.monotonic() < deadline:
            head = setup.user.block_number()
            if head >= cursor:
                for event in setup.user.settled_events(cursor, head, model_id=setup.model_id):
                    settled_at.setdefault(event.inference_id, time.perf_counter())
                cursor = head + 1
            if all(f.done() for f in futures) and len(requested) == n and set(requested) <= set(settled_at):
                break
            if any(f.done() and f.exception() for f in futures):
                break
            time.sleep(0.05)
        for f in futures:
            f.result()
    if not set(requested) <= set(settled_at):
        raise RuntimeError(f"{len(set(requested) - set(settled_at))} inferences not settled within 600 s")
    served_end = max(requested[i] + answered[i] for i in requested)
    settled_end = max(settled_at[i] for i in requested)
    cpu = sum(proc.cpu_times()[:2]) - cpu0
    wall = settled_end - started
    statuses = {i: service.status(i)["settlement"] for i in requested}
    settle_tx = {i: s["settleTx"] for i, s in statuses.items()}
    result = Round(n / (served_end - started), n / wall, sorted(answered.values()),
                   sorted(settled_at[i] - requested[i] for i in requested), cpu / n, wall / n,
                   settle_gas=gas_per_inference(setup, settle_tx))
    # Past the dispute window the settler finalizes; its gas is measured the same way.
    deadline = max(int(s["disputeDeadline"]) for s in statuses.values())
    for _ in range(10):
        latest = int(setup.user.w3.eth.get_block("latest")["timestamp"])
        if latest > deadline:
            break
        setup.node.rpc("evm_increaseTime", deadline - latest + 2)
        setup.node.rpc("evm_mine")
    finals = wait_until(lambda: (f := {i: service.status(i)["settlement"] for i in requested})
                        and all(s.get("finalizeTx") for s in f.values()) and f, what="finalization", timeout=300)
    result.finalize_gas = gas_per_inference(setup, {i: s["finalizeTx"] for i, s in finals.items()})
    return result


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def spread(values: list[float], fmt: str) -> str:
    return " / ".join(format(v, fmt) for v in (min(values), statistics.median(values), max(values)))


def reference(setup: Setup, repeats: int) -> tuple[float, float]:
    """Median seconds of the bare model (parse + infer) and of the full attribute_query, in this process."""
    data = setup.inputs[:32]
    infer, attribute = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for d in data:
            setup.served.infer(setup.served.parse_input(d))
        infer.append((time.perf_counter() - t0) / len(data))
        t0 = time.perf_counter()
        for d in data:
            attribute_query(setup.served, setup.model_id, d)
        attribute.append((time.perf_counter() - t0) / len(data))
    return statistics.median(infer), statistics.median(attribute)


def bench_size(examples: int, args: argparse.Namespace) -> list[str]:
    per = max(1, examples // args.contributions)
    with tempfile.TemporaryDirectory(prefix="payable-bench-") as tmp:
        root = Path(tmp)
        setup = set_up(root, examples, per, args.shard_size)
        service = None
        try:
            infer_s, attribute_s = reference(setup, args.repeats)
            shim = SimpleNamespace(provider_key=setup.provider_key, model_dir=setup.model_dir,
                                   model_id=setup.model_id, node=setup.node)
            service = ServiceProcess(shim, root / "journal", "--batch-window", str(args.batch_window),  # type: ignore[arg-type]
                                     "--poll-interval", "0.2")
            service.post(0, b"")  # warm the HTTP path; answered with an error
            rounds = [run_round(setup, service, args.requests, args.in_flight, r * args.requests)
                      for r in range(args.repeats)]
        finally:
            if service is not None:
                service.stop()
            setup.node.stop()
    answers = [v for r in rounds for v in r.answer_s]
    settles = [v for r in rounds for v in r.settle_s]
    label = f"{examples:,} examples ({setup.contributions} contributions, index built in {setup.build_s:,.1f} s)"
    rows = [
        f"| {label}: served / s | {spread([r.served_per_s for r in rounds], ',.2f')} |",
        f"| settled / s (request -> settle receipt) | {spread([r.settled_per_s for r in rounds], ',.2f')} |",
        f"| HTTP answer p50 / p99 (ms, from the request tx) | {percentile(answers, .5) * 1e3:,.0f} / {percentile(answers, .99) * 1e3:,.0f} |",
        f"| settlement p50 / p99 (ms, request -> settle receipt) | {percentile(settles, .5) * 1e3:,.0f} / {percentile(settles, .99) * 1e3:,.0f} |",
        f"| service CPU ms per inference | {spread([r.cpu_per_inference_s * 1e3 for r in rounds], ',.1f')} |",
        f"| wall ms per settled inference | {spread([r.wall_per_inference_s * 1e3 for r in rounds], ',.1f')} |",
        f"| settle gas per inference | {spread([statistics.median(r.settle_gas) for r in rounds], ',.0f')} |",
        f"| finalize gas per inference | {spread([statistics.median(r.finalize_gas) for r in rounds], ',.0f')} |",
        f"| reference: bare model (parse + infer), ms | {infer_s * 1e3:,.3f} |",
        f"| reference: `attribute_query` in process, ms | {attribute_s * 1e3:,.2f} |",
    ]
    for row in rows:
        print(row, flush=True)
    return rows


def ray_table(args: argparse.Namespace) -> str:
    from bench import attribution_ray

    argv = sys.argv
    sys.argv = ["bench.attribution_ray", "--rows", str(args.ray_rows), "--queries", str(args.ray_queries),
                "--repeats", str(args.repeats), "--build-examples", "256", "--threads", "1"]
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            attribution_ray.main()
    finally:
        sys.argv = argv
    print(out.getvalue())
    # Its two tables (index build, scoring) print back to back: a blank line keeps them apart in Markdown.
    queries = f"| {args.ray_queries} queries against"
    return "\n".join(("\n" + line) if line.startswith((queries, "Ray results")) else line
                     for line in out.getvalue().strip().splitlines())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="1000,100000", help="index sizes in examples, comma separated")
    p.add_argument("--streamed-1m", action="store_true", help="add a 1,000,000-example index (built in shards)")
    p.add_argument("--contributions", type=int, default=20, help="contributions the examples are split into")
    p.add_argument("--shard-size", type=int, default=4096, help="index shard size (examples)")
    p.add_argument("--requests", type=int, default=32, help="paid inferences per repeat")
    p.add_argument("--in-flight", type=int, default=8, help="requests in flight")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch-window", type=float, default=0.2, help="the service's settle batch window (s)")
    p.add_argument("--ray", action="store_true", help="add bench/attribution_ray.py's scorer measurement")
    p.add_argument("--ray-rows", type=int, default=100_000)
    p.add_argument("--ray-queries", type=int, default=64)
    p.add_argument("--quick", action="store_true", help="1k index only, 8 requests x 2 repeats, no Ray")
    p.add_argument("--write-docs", action="store_true")
    args = p.parse_args()
    if args.quick:
        args.sizes, args.requests, args.in_flight, args.repeats, args.contributions = "1000", 8, 4, 2, 10
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.streamed_1m:
        sizes.append(1_000_000)
    load = os.getloadavg()
    started = time.perf_counter()
    rows = []
    for size in sizes:
        rows += bench_size(size, args)
    ray = ray_table(args) if args.ray else None
    runtime = time.perf_counter() - started
    if args.write_docs:
        write_docs(rows, ray, args, sizes, load, runtime)


def write_docs(rows: list[str], ray: str | None, args: argparse.Namespace, sizes: list[int],
               load: tuple[float, float, float], runtime: float) -> None:
    command = " ".join(["python -m bench.payable_ai", *sys.argv[1:]])
    not_run = [] if 1_000_000 in sizes else ["the 1M-example streamed index (`--streamed-1m`)"]
    if 100_000 not in sizes:
        not_run.insert(0, "the 100k-example index")
    if ray is None:
        not_run.append("the Ray scorer comparison (`--ray`)")
    body = "\n".join([
        HEADING, "",
        f"`{command}` ({time.strftime('%Y-%m-%d', time.gmtime())}, {runtime:,.0f} s). {machine_line()}; "
        f"load average at start {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (the machine is shared: "
        "other processes ran beside this one, so read the figures as ratios to the reference rows of the same run).", "",
        f"One node (instant mode), the digits model trained and indexed on synthetic contributions (the bundled "
        f"training digits tiled with +-1 pixel noise), `openledger-attribution serve` as its own process "
        f"(settle batch window {args.batch_window} s), {args.requests} paid requests x {args.repeats} repeats with "
        f"{args.in_flight} in flight. Each request: `requestInference` receipt -> `POST /v1/inferences` answer -> "
        "settle receipt seen on chain. Rates, CPU, wall and gas as min / median / max over the repeats; "
        "latencies pooled over them. Gas of a batched transaction is divided among the inferences it carries.", "",
        "| measure | value |", "| --- | ---: |", *rows, "",
        READING, "",
        *([ray, ""] if ray else []),
        *([f"Not run here: {', '.join(not_run)}."] if not_run else []),
    ])
    print(f"wrote {replace_section(HEADING, body)}")


if __name__ == "__main__":
    main()
