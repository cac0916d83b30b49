"""Does the batcher keep up with the sequencer at its highest block rate?

A sequencer in process, following an L1 (anvil, with the rollup's contracts
deployed by the project's deployment and the sequencer bonded), seals full
blocks of EIP-1559 transfers as fast as it can: that is the production rate.
The batcher then posts every sealed block to L1 (encode, output root,
submitBatch through the transaction manager, one confirmation): that is the
posting rate. Both are printed as blocks/s and transactions/s with the CPU time
of this process, and the ratio posted / sealed: above 1 the batcher keeps up.

Usage: python bench/batcher.py [--txs N] [--repeats R] [--write-docs]
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.docs import machine_line, replace_section  # noqa: E402
from bench.workloads import dev_node_config, transfer_workload  # noqa: E402
from bridge.deploy import DeployConfig, deploy_l1  # noqa: E402
from bridge.l1 import L1Client  # noqa: E402
from bridge.rollup import RollupClient  # noqa: E402
from bridge.txmgr import TxManager, TxManagerConfig  # noqa: E402
from node.builder import NodeBuilder  # noqa: E402
from openledger_node.derivation.deposits import L1Deposits  # noqa: E402
from openledger_node.derivation.l1_traversal import L1Traversal, origin_of  # noqa: E402
from openledger_node.execution.genesis import anchor_genesis, dev_private_keys  # noqa: E402
from openledger_node.primitives import addr  # noqa: E402
from sequencer import BlockBuilder, FollowL1  # noqa: E402
from sequencer.batcher import Batcher, BatcherConfig  # noqa: E402

SECTION = "## Batcher throughput"
TXMGR = TxManagerConfig(confirmations=1, receipt_poll_interval=0.01)


def start_l1(work: Path) -> tuple[object, str]:
    from tests.anvil import start_anvil

    return start_anvil(work / "anvil.log", ["--chain-id", "900"])


@dataclass
class Rollup:
    """A deployed rollup on an L1 and an in-process sequencer following it."""

    client: L1Client
    txmgr: TxManager
    rollup: RollupClient
    deployment: Any
    genesis: Path
    rules: Any
    store: Any
    pool: Any
    builder: BlockBuilder
    clock: list[float]
    unfollow: Any

    def close(self) -> None:
        self.txmgr.close()
        self.unfollow()
        self.pool.close()
        self.store.close()


def rollup_on(url: str, work: Path) -> Rollup:
    """Deploy the L1 contracts on `url`, bond the sequencer, and open a sequencer
    whose pool takes a whole workload, with a clock the caller moves."""
    key = dev_private_keys()[0]
    client = L1Client(url, timeout=60)
    deployer = "0x" + bytes(TxManager(client, key).address).hex()
    deployment = deploy_l1(client, key, DeployConfig(deployer, deployer, deployer, deployer), TXMGR)
    txmgr = TxManager(client, key, TXMGR)
    rollup = RollupClient(client, txmgr, addr(deployment.rollup), addr(deployment.open_token))
    bond, minimum = rollup.sequencer_bond(txmgr.address)
    rollup.deposit_bond(minimum - bond)
    block = client.block(deployment.deployed_at_block)
    assert block is not None
    genesis = anchor_genesis(Path(__file__).resolve().parent.parent / "configs" / "genesis-devnet.json",
                             origin_of(block), work / "genesis.json")
    config = dev_node_config(str(work / "l2"))
    config = config.model_copy(update={"chain": config.chain.model_copy(update={"genesis": genesis})})
    assembly = NodeBuilder(config)
    store = assembly.open_store()
    pool, unfollow = assembly.open_pool(store)
    clock = [float(store.head("unsafe").timestamp)]
    builder = BlockBuilder(store, pool, assembly.rules, FollowL1(L1Traversal(client)),
                           L1Deposits(client, addr(deployment.portal)), clock=lambda: clock[0])
    return Rollup(client, txmgr, rollup, deployment, genesis, assembly.rules, store, pool, builder, clock, unfollow)


def seal_all(chain: Rollup, txs: list[bytes]) -> tuple[int, float, float]:
    """Put `txs` in the pool (decoding, sender recovery, checks: the sequencer's
    admission work) and seal full blocks until it is empty: (blocks, wall
    seconds, CPU seconds), admission included."""
    started, cpu = time.perf_counter(), time.process_time()
    for raw in txs:
        chain.pool.add_raw(raw)
    blocks = 0
    while chain.pool.status()[0]:
        chain.clock[0] += 2
        chain.builder.build_block()
        blocks += 1
    return blocks, time.perf_counter() - started, time.process_time() - cpu


def post_all(chain: Rollup) -> tuple[Batcher, float, float]:
    """Post every sealed block: (the batcher, wall seconds, CPU seconds)."""
    batcher = Batcher(chain.store, chain.rollup, chain.rules.chain_id, BatcherConfig(max_batch_bytes=100_000),
                      clock=lambda: chain.clock[0])
    started, cpu = time.perf_counter(), time.process_time()
    while batcher.step(flush=True) is not None:
        pass
    return batcher, time.perf_counter() - started, time.process_time() - cpu


def run(txs: int, work: Path, url: str) -> dict[str, float]:
    chain = rollup_on(url, work)
    try:
        _, measured = transfer_workload(dev_private_keys(), txs)
        blocks, seal_s, seal_cpu = seal_all(chain, measured)
        batcher, post_s, post_cpu = post_all(chain)
        return {
            "blocks": blocks, "txs": txs, "batches": len(batcher.posted),
            "seal_s": seal_s, "seal_cpu": seal_cpu, "post_s": post_s, "post_cpu": post_cpu,
            "bytes": sum(p.data_bytes for p in batcher.posted),
        }
    finally:
        chain.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--txs", type=int, default=6000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    from tests.anvil import stop_anvil

    machine = machine_line()
    load_before = os.getloadavg()
    runs = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            process, url = start_l1(Path(tmp))
            try:
                runs.append(run(args.txs, Path(tmp), url))
            finally:
                stop_anvil(process)  # type: ignore[arg-type]
    load_after = os.getloadavg()

    def spread(values: list[float]) -> str:
        return f"{min(values):,.1f} / {statistics.median(values):,.1f} / {max(values):,.1f}"

    seal_bps = [r["blocks"] / r["seal_s"] for r in runs]
    post_bps = [r["blocks"] / r["post_s"] for r in runs]
    ratios = [p / s for p, s in zip(post_bps, seal_bps, strict=True)]
    first = runs[0]
    lines = [
        f"{machine}; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after",
        f"{args.txs:,} transfers in {first['blocks']:.0f} full blocks; {args.repeats} runs, min / median / max",
        "",
        "| stage | blocks/s | tx/s | CPU s per 1,000 tx |",
        "| --- | ---: | ---: | ---: |",
        f"| sequencer seals | {spread(seal_bps)} | {spread([r['txs'] / r['seal_s'] for r in runs])} | "
        f"{spread([r['seal_cpu'] / r['txs'] * 1000 for r in runs])} |",
        f"| batcher posts to L1 | {spread(post_bps)} | {spread([r['txs'] / r['post_s'] for r in runs])} | "
        f"{spread([r['post_cpu'] / r['txs'] * 1000 for r in runs])} |",
        f"| **ratio posted / sealed** | **{spread(ratios)}** | | |",
        "",
        f"Batches per run: {first['batches']:.0f} ({first['bytes'] / first['batches']:,.0f} bytes each on average); "
        "each is one submitBatch with one L1 confirmation on anvil.",
    ]
    print("\n".join(lines))
    if args.write_docs:
        today = datetime.date.today().isoformat()
        body = "\n".join([
            f"{SECTION} (`bench/batcher.py --txs {args.txs}`)", "",
            f"Measured {today}. An in-process sequencer following anvil seals full blocks of "
            "transfers as fast as it can; the batcher then posts them all (encode, output root, "
            "submitBatch, one confirmation). Above 1 the batcher keeps up with the highest block rate.", "",
            *lines,
        ])
        print(f"wrote {replace_section(SECTION, body)}")


if __name__ == "__main__":
    main()
