"""Block production as the state grows: the cost of a transfer at 10k and 1M accounts.

For each size N (`--accounts`), a devnet genesis gets N extra funded accounts
(deterministic addresses), the node opens it into a fresh LevelDB (timed: the
genesis build), and the sequencer then builds blocks of `--block-size`
EIP-1559 transfers, the same path as bench/block_production.py: pool admission
(decode, sender recovery, validation, journal) and the block builder sealing
into LevelDB. Each transfer pays an account drawn at random from the N, so its
reads and writes walk a trie of that size (a new recipient would only measure
insertion next to the dev accounts). Each repeat is `--txs` transfers on the
same node (nonces continue); the figures are min / median / max over the
repeats of CPU time per transaction, for the whole process (user + system,
LevelDB's background compaction threads included) and for the node's thread
alone (the Python work), and of wall time. The line the issue's goal names: CPU per transfer at the largest
size over the smallest (goal: at most 1.3x). Every size runs in a process of
its own (fork), so its peak RSS is its own.

Usage: python bench/state_growth.py [--accounts 10000,1000000] [--txs 2000] [--block-size 500] [--repeats 3]
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.docs import machine_line
from bench.workloads import GAS_LIMIT, sign
from node import Node
from openledger_node.config import load_config
from openledger_node.execution.genesis import dev_private_keys

FIRST = 0x1000000  # the extra accounts are 0x...01000000 + i
SENDERS = 8


@dataclass
class Size:
    accounts: int
    genesis_s: float
    cpu_ms: list[float]  # per transfer, per repeat: the whole process (LevelDB's threads too)
    thread_ms: list[float]  # the node's thread alone (the Python work)
    wall_ms: list[float]
    db_mib: float
    peak_mib: float


def extra_account(i: int) -> bytes:
    return (FIRST + i).to_bytes(20, "big")


def genesis_with(accounts: int, path: Path) -> None:
    spec = json.loads((REPO / "openledger_node" / "configs" / "genesis-devnet.json").read_text())
    for i in range(accounts):
        spec["alloc"]["0x" + extra_account(i).hex()] = {"balance": hex(10**12)}
    path.write_text(json.dumps(spec))


def dir_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def measure(accounts: int, txs: int, block_size: int, repeats: int) -> Size:
    keys = dev_private_keys()[:SENDERS]
    rng = random.Random(accounts)
    with tempfile.TemporaryDirectory(prefix="state-growth-") as tmp:
        root = Path(tmp)
        genesis_with(accounts, root / "genesis.json")
        config = load_config(None, environ={}, overrides={
            "chain": {"genesis": str(root / "genesis.json"), "gas_limit": GAS_LIMIT},
            "storage": {"data_dir": str(root / "data")},
            "txpool": {"global_slots": 100_000, "account_slots": 100_000,
                       "global_queue": 100_000, "account_queue": 100_000},
        })
        started = time.perf_counter()
        node = Node.open(config)
        genesis_s = time.perf_counter() - started
        cpu_ms, thread_ms, wall_ms = [], [], []
        nonces = [0] * SENDERS
        try:
            for _ in range(repeats + 1):  # the first round warms the caches and is not counted
                raws = []
                for i in range(txs):
                    sender = i % SENDERS
                    to = extra_account(rng.randrange(accounts))
                    raws.append(sign(keys[sender], nonces[sender], to=to, value=1))
                    nonces[sender] += 1
                gc.collect()
                cpu0, thread0, wall0 = time.process_time(), time.thread_time(), time.perf_counter()
                for start in range(0, txs, block_size):
                    for raw in raws[start : start + block_size]:
                        node.pool.add_raw(raw)
                    block = node.builder.build_block().block
                    assert len(block.transactions) - 1 == min(block_size, txs - start), "not all included"
                cpu_ms.append((time.process_time() - cpu0) / txs * 1e3)
                thread_ms.append((time.thread_time() - thread0) / txs * 1e3)
                wall_ms.append((time.perf_counter() - wall0) / txs * 1e3)
        finally:
            node.stop()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return Size(accounts, genesis_s, cpu_ms[1:], thread_ms[1:], wall_ms[1:], dir_mib(root / "data"), peak)


def in_child(*args: int) -> Size:
    with multiprocessing.get_context("fork").Pool(1) as pool:
        return pool.apply(measure, args)


def spread(values: list[float]) -> str:
    return f"{min(values):.3f} / {statistics.median(values):.3f} / {max(values):.3f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--accounts", default="10000,1000000", help="state sizes, comma separated")
    p.add_argument("--txs", type=int, default=2000, help="transfers per repeat")
    p.add_argument("--block-size", type=int, default=500)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    sizes = [int(s) for s in args.accounts.split(",")]
    print(machine_line())
    print(f"load average at start: {' / '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"{args.txs} transfers x {args.repeats} repeats per size (after one warm-up round), "
          f"{args.block_size} per block, recipients drawn from the extra accounts\n")
    print("| extra accounts | genesis build s | process CPU ms / transfer (min / median / max) | node thread CPU ms "
          "/ transfer | wall ms / transfer | LevelDB MiB | KiB / account | peak MiB |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    results = []
    for n in sizes:
        r = in_child(n, args.txs, args.block_size, args.repeats)
        results.append(r)
        print(f"| {n:,} | {r.genesis_s:,.1f} | {spread(r.cpu_ms)} | {spread(r.thread_ms)} | {spread(r.wall_ms)} | "
              f"{r.db_mib:,.0f} | "
              f"{r.db_mib * 1024 / max(n, 1):.2f} | {r.peak_mib:,.0f} |", flush=True)
    small, large = results[0], results[-1]
    print()
    for what, pick in (("process CPU", lambda r: r.cpu_ms), ("node thread CPU", lambda r: r.thread_ms),
                       ("wall", lambda r: r.wall_ms)):
        ratio = statistics.median(pick(large)) / statistics.median(pick(small))
        print(f"{what} per transfer at {large.accounts:,} accounts / at {small.accounts:,}: {ratio:.2f}x (goal: <= 1.3x)")


if __name__ == "__main__":
    main()
