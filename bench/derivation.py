"""Derivation speed: a validator re-deriving blocks from L1 beside the
sequencer producing the same blocks, in the same run.

A sequencer in process (following anvil, with the rollup's contracts) seals
full blocks of a workload (EIP-1559 transfers, then ERC-20 transfers) and the
batcher posts them; then a validator with an empty data directory derives the
chain from L1 alone (reading the batches back from their L1 transactions,
decoding, building every block, comparing the output roots). Printed: blocks/s
and tx/s of both, CPU seconds per 1,000 transactions, and the ratio derived /
sealed (aim: at least 1.2x, since derivation knows the transactions and their
order and skips the pool). Also the time a fresh validator takes per 1,000
blocks of the chain, from which the time for 10,000 follows.

Usage: python bench/derivation.py [--txs N] [--repeats R] [--sync-blocks B] [--write-docs]
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.batcher import Rollup, post_all, rollup_on, seal_all, start_l1  # noqa: E402
from bench.docs import machine_line, replace_section  # noqa: E402
from bench.workloads import token_workload, transfer_workload  # noqa: E402
from openledger_node.derivation.deposits import L1Deposits  # noqa: E402
from openledger_node.derivation.l1_traversal import L1Traversal  # noqa: E402
from openledger_node.derivation.pipeline import Derivation  # noqa: E402
from openledger_node.execution.genesis import build_genesis, dev_private_keys, load_genesis  # noqa: E402
from openledger_node.primitives import addr  # noqa: E402
from openledger_node.storage import ChainStore, OverlayDB  # noqa: E402

SECTION = "## Derivation speed"
WORKLOADS = {"EIP-1559 transfers": transfer_workload, "ERC-20 transfers": token_workload}


def derive_all(chain: Rollup, work: Path) -> tuple[int, float, float, bool]:
    """A fresh validator derives everything posted: (blocks, wall s, CPU s, all agree)."""
    spec = load_genesis(chain.genesis)
    store = ChainStore(work / "validator")
    overlay = OverlayDB(store.state_db)
    store.write_genesis(build_genesis(spec, overlay), overlay, spec.l1_origin)
    derivation = Derivation(
        chain.rules, store, L1Traversal(chain.client), chain.rollup,
        L1Deposits(chain.client, addr(chain.deployment.portal)), 600, chain.deployment.deployed_at_block,
    )
    try:
        started, cpu = time.perf_counter(), time.process_time()
        verdicts = []
        while (verdict := derivation.step()) is not None:
            verdicts.append(verdict)
        elapsed, used = time.perf_counter() - started, time.process_time() - cpu
        same = store.head("unsafe").hash == chain.store.head("unsafe").hash
        return int(store.head("unsafe").block_number), elapsed, used, same and all(v.agrees for v in verdicts)
    finally:
        store.close()


def run(name: str, txs: int, work: Path, url: str) -> dict[str, float]:
    chain = rollup_on(url, work)
    try:
        setup, measured = WORKLOADS[name](dev_private_keys(), txs)
        if setup:
            seal_all(chain, setup)
        first = int(chain.store.head("unsafe").block_number)
        blocks, seal_s, seal_cpu = seal_all(chain, measured)
        post_all(chain)
        derived, derive_s, derive_cpu, agree = derive_all(chain, work)
        # The derivation covers the setup blocks too: count its rate over all of them,
        # the sequencer's over the measured ones.
        return {"blocks": blocks, "txs": txs, "seal_s": seal_s, "seal_cpu": seal_cpu,
                "derived": derived, "derive_s": derive_s, "derive_cpu": derive_cpu,
                "setup_blocks": first, "agree": float(agree)}
    finally:
        chain.close()


def sync_time(blocks: int, work: Path, url: str) -> dict[str, float]:
    """A chain of `blocks` blocks, one transfer each (a chain in use but not
    full), posted to L1; the time a fresh validator takes to derive all of it."""
    chain = rollup_on(url, work)
    try:
        keys = dev_private_keys()
        _, txs = transfer_workload(keys, blocks)
        started = time.perf_counter()
        for count, raw in enumerate(txs):
            chain.pool.add_raw(raw)
            chain.clock[0] += 2
            if count % 60 == 0:  # L1 moves on too: a block every 120 s of L2 time
                chain.client.request("evm_mine", [int(chain.clock[0])])
            chain.builder.build_block()
        seal_s = time.perf_counter() - started
        _, post_s, _ = post_all(chain)
        derived, derive_s, derive_cpu, agree = derive_all(chain, work)
        assert agree and derived >= blocks
        return {"blocks": derived, "seal_s": seal_s, "post_s": post_s, "derive_s": derive_s, "derive_cpu": derive_cpu}
    finally:
        chain.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--txs", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--sync-blocks", type=int, default=0,
                        help="also time a fresh validator deriving a chain of this many blocks (one transfer each)")
    args = parser.parse_args()
    from tests.anvil import stop_anvil

    machine = machine_line()
    load_before = os.getloadavg()
    results: dict[str, list[dict[str, float]]] = {name: [] for name in WORKLOADS}
    for _ in range(args.repeats):
        for name in WORKLOADS:
            with tempfile.TemporaryDirectory() as tmp:
                process, url = start_l1(Path(tmp))
                try:
                    results[name].append(run(name, args.txs, Path(tmp), url))
                finally:
                    stop_anvil(process)  # type: ignore[arg-type]
    sync = None
    if args.sync_blocks:
        with tempfile.TemporaryDirectory() as tmp:
            process, url = start_l1(Path(tmp))
            try:
                sync = sync_time(args.sync_blocks, Path(tmp), url)
            finally:
                stop_anvil(process)  # type: ignore[arg-type]
    load_after = os.getloadavg()

    def spread(values: list[float]) -> str:
        return f"{min(values):,.1f} / {statistics.median(values):,.1f} / {max(values):,.1f}"

    lines = [
        f"{machine}; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after",
        f"{args.txs:,} transactions per workload, full blocks; {args.repeats} runs, min / median / max",
        "",
        "| workload | stage | blocks/s | tx/s | CPU s per 1,000 tx |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for name, runs in results.items():
        assert all(r["agree"] for r in runs), f"{name}: a derived chain differs from the sequencer's"
        seal_tps = [r["txs"] / r["seal_s"] for r in runs]
        derive_tps = [r["txs"] / r["derive_s"] for r in runs]
        lines += [
            f"| {name} | sequencer seals | {spread([r['blocks'] / r['seal_s'] for r in runs])} | "
            f"{spread(seal_tps)} | {spread([r['seal_cpu'] / r['txs'] * 1000 for r in runs])} |",
            f"| | validator derives from L1 | {spread([r['derived'] / r['derive_s'] for r in runs])} | "
            f"{spread(derive_tps)} | {spread([r['derive_cpu'] / r['txs'] * 1000 for r in runs])} |",
            f"| | **ratio derived / sealed** | | **{spread([d / s for d, s in zip(derive_tps, seal_tps)])}** | |",
        ]
    per_block = [r["derive_s"] / r["derived"] for runs in results.values() for r in runs]
    lines += [
        "",
        f"A fresh validator spends {statistics.median(per_block) * 1000:,.0f} ms per full block here: "
        f"about {statistics.median(per_block) * 10_000 / 60:,.0f} minutes for 10,000 full blocks "
        "(empty blocks derive far faster).",
    ]
    if sync is not None:
        lines += [
            "",
            f"Measured: a fresh validator derived a chain of {sync['blocks']:,.0f} blocks (one transfer each, "
            f"posted in batches to anvil) in **{sync['derive_s']:,.0f} s** ({sync['blocks'] / sync['derive_s']:,.0f} "
            f"blocks/s, {sync['derive_cpu']:,.0f} s of CPU); the sequencer had sealed them in {sync['seal_s']:,.0f} s "
            f"and the batcher posted them in {sync['post_s']:,.0f} s.",
        ]
    print("\n".join(lines))
    if args.write_docs:
        today = datetime.date.today().isoformat()
        body = "\n".join([
            f"{SECTION} (`bench/derivation.py --txs {args.txs}`)", "",
            f"Measured {today}. A sequencer in process seals full blocks and the batcher posts them to "
            "anvil; then a validator with an empty data directory derives the chain from L1 alone "
            "(every block rebuilt, every output root compared; all agreed).", "",
            *lines,
        ])
        print(f"wrote {replace_section(SECTION, body)}")


if __name__ == "__main__":
    main()
