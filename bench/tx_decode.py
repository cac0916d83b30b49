"""Transaction admission's decoding cost: `decode_transaction` (sender recovered
from the raw bytes' signing hash with libsecp256k1) beside py-evm's own path
(decode, then `sender`, which re-encodes the unsigned transaction, and `hash`),
on the same signed transactions of every type, in the same run.

Usage: python bench/tx_decode.py [--txs 2000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_account import Account

from openledger_node.execution.transactions import decode_transaction

CHAIN_ID = 161299


def signed_mix(count: int) -> list[bytes]:
    """Legacy (EIP-155), EIP-2930 and EIP-1559 transfers and calls, in turn."""
    rng = random.Random(1)
    keys = [rng.randbytes(32) for _ in range(10)]
    raws = []
    for i in range(count):
        base = {"nonce": i, "gas": 100_000, "to": Account.from_key(rng.randbytes(32)).address, "value": 1,
                "data": rng.randbytes(rng.choice([0, 68, 260])), "chainId": CHAIN_ID}
        kind = i % 3
        if kind == 0:
            tx = dict(base, gasPrice=10**9)
        elif kind == 1:
            tx = dict(base, gasPrice=10**9, accessList=[])
        else:
            tx = dict(base, maxFeePerGas=10**10, maxPriorityFeePerGas=10**9, type=2)
        raws.append(bytes(Account.from_key(keys[i % len(keys)]).sign_transaction(tx).raw_transaction))
    return raws


def ours(raw: bytes) -> None:
    decode_transaction(raw)


def py_evm(raw: bytes) -> None:
    tx = PragueTransactionBuilder.decode(raw)
    tx.sender  # noqa: B018 - the recovery is what is measured
    tx.hash  # noqa: B018


def per_tx_us(fn: object, raws: list[bytes]) -> tuple[float, float]:
    """(wall, process CPU) microseconds per transaction."""
    wall, cpu = time.perf_counter(), time.process_time()
    for raw in raws:
        fn(raw)  # type: ignore[operator]
    return ((time.perf_counter() - wall) / len(raws) * 1e6, (time.process_time() - cpu) / len(raws) * 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--txs", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    raws = signed_mix(args.txs)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    runs: dict[str, list[tuple[float, float]]] = {"ours": [], "py-evm": []}
    for _ in range(args.repeat):  # alternate, so that load spikes hit both
        runs["ours"].append(per_tx_us(ours, raws))
        runs["py-evm"].append(per_tx_us(py_evm, raws))
    print(f"{args.txs} transactions (legacy, EIP-2930, EIP-1559), {args.repeat} runs; us per transaction, "
          "min / median / max")
    for name, values in runs.items():
        for label, index in (("wall", 0), ("cpu", 1)):
            xs = sorted(v[index] for v in values)
            print(f"  {name:<7}{label:<5}{xs[0]:8.1f} {statistics.median(xs):8.1f} {xs[-1]:8.1f}")
    ours_cpu = statistics.median(v[1] for v in runs["ours"])
    ref_cpu = statistics.median(v[1] for v in runs["py-evm"])
    print(f"ratio py-evm / ours (CPU, median): {ref_cpu / ours_cpu:.2f}x")


if __name__ == "__main__":
    main()
