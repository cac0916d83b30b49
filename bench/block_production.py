"""Block production throughput: our sequencer path against plain py-evm.

For two workloads, (a) EIP-1559 value transfers and (b) ERC-20 token transfers,
the same pre-signed transactions (raw bytes) go through:

- ours: pool admission (decode, sender recovery, validation, journal) and the
  sequencer's block builder, sealing blocks into LevelDB;
- reference: a plain py-evm loop, `MiningChain.mine_all` on PragueVM with an
  in-memory database, decoding the same raw bytes.

It prints tx/s, Mgas/s and the ratio ours/reference, and the peak memory of each.
Usage: python bench/block_production.py [--txs N] [--block-size B]
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eth.chains.base import MiningChain  # noqa: E402
from eth.db.atomic import AtomicDB  # noqa: E402
from eth.vm.forks.prague import PragueVM  # noqa: E402
from eth.vm.forks.prague.transactions import PragueTransactionBuilder  # noqa: E402
from bench.workloads import CHAIN_ID, GAS_LIMIT, dev_node_config, token_workload, transfer_workload  # noqa: E402
from openledger_node.execution.genesis import DEV_ACCOUNTS, dev_private_keys  # noqa: E402
from node import Node  # noqa: E402


@dataclass
class Run:
    seconds: float
    gas: int
    txs: int
    peak_mib: float

    @property
    def tps(self) -> float:
        return self.txs / self.seconds

    @property
    def mgas(self) -> float:
        return self.gas / self.seconds / 1e6


def measure(fn: Callable[[], int], txs: int) -> Run:
    gc.collect()
    started = time.perf_counter()
    gas = fn()
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return Run(seconds, gas, txs, peak)


def in_child(fn: Callable[..., Run], *args: object) -> Run:
    """Run one measurement in a forked process, so that each peak RSS is its own."""
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        return pool.apply(fn, args)


def run_ours(setup: list[bytes], txs: list[bytes], block_size: int) -> Run:
    with tempfile.TemporaryDirectory() as data_dir:
        node = Node.open(dev_node_config(data_dir))
        try:
            for raw in setup:
                node.pool.add_raw(raw)
            if setup:
                node.builder.build_block()

            def work() -> int:
                gas = 0
                for start in range(0, len(txs), block_size):
                    for raw in txs[start : start + block_size]:
                        node.pool.add_raw(raw)
                    block = node.builder.build_block().block
                    gas += sum(r.gas_used for r in block.receipts[1:])
                    assert len(block.transactions) - 1 == min(block_size, len(txs) - start), "not all included"
                return gas

            return measure(work, len(txs))
        finally:
            node.stop()


def run_reference(setup: list[bytes], txs: list[bytes], block_size: int) -> Run:
    chain_class = MiningChain.configure(vm_configuration=((0, PragueVM),), chain_id=CHAIN_ID)
    genesis_state = {
        a: {"balance": 10_000 * 10**18, "nonce": 0, "code": b"", "storage": {}} for a in DEV_ACCOUNTS
    }
    chain = chain_class.from_genesis(
        AtomicDB(),
        {"difficulty": 0, "gas_limit": GAS_LIMIT, "timestamp": 0, "base_fee_per_gas": 10**9,
         "coinbase": b"\x00" * 20, "extra_data": b"", "nonce": b"\x00" * 8},
        genesis_state,
    )
    decode = PragueTransactionBuilder.decode
    if setup:
        chain.mine_all([decode(raw) for raw in setup])

    def work() -> int:
        gas = 0
        timestamp = int(chain.get_canonical_head().timestamp)
        for start in range(0, len(txs), block_size):
            batch = [decode(raw) for raw in txs[start : start + block_size]]
            timestamp += 2
            result, receipts, _ = chain.mine_all(batch, timestamp=timestamp)
            gas += int(result.imported_block.header.gas_used)
        return gas

    return measure(work, len(txs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--txs", type=int, default=3000)
    parser.add_argument("--block-size", type=int, default=500)
    args = parser.parse_args()
    keys = dev_private_keys()[:8]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, {platform.system()}")
    print(f"{args.txs} transactions per workload, {args.block_size} per block\n")
    header = f"{'workload':<16}{'system':<11}{'tx/s':>9}{'Mgas/s':>9}{'seconds':>9}{'peak MiB':>10}"
    print(header)
    print("-" * len(header))
    for name, workload in (("eth transfer", transfer_workload), ("erc20 transfer", token_workload)):
        setup, txs = workload(keys, args.txs)
        reference = in_child(run_reference, setup, txs, args.block_size)
        ours = in_child(run_ours, setup, txs, args.block_size)
        for system, run in (("reference", reference), ("ours", ours)):
            print(f"{name:<16}{system:<11}{run.tps:>9.0f}{run.mgas:>9.2f}{run.seconds:>9.2f}{run.peak_mib:>10.1f}")
        print(f"{name:<16}{'ratio':<11}{ours.tps / reference.tps:>9.2f}x")
    print("\npeak MiB: peak resident memory of the process that ran the measurement")


if __name__ == "__main__":
    main()
