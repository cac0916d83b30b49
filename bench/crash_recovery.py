"""Crash recovery under load: kill -9 a real node process at random instants.

Each cycle starts a node process on the same data directory (interval mode,
50 ms blocks) with transfers streaming into its pool, kills it with SIGKILL at a
random moment, then reopens the data directory and verifies it (head state trie
complete, head block re-executes to the same hash, every acknowledged transaction
in a block or back in the pool). Prints each kill point and, as the reference,
the reopen time after a clean shutdown of the same data directory.

Usage: python bench/crash_recovery.py [--kills 25] [--seed 7]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.crash import kill_cycle, verify  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=25)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        print(f"{'kill':>4}{'head':>7}{'acked':>8}{'in chain':>10}{'in pool':>9}{'lost':>6}{'reopen ms':>11}")
        reports = []
        started = time.perf_counter()
        for i in range(args.kills):
            report = kill_cycle(data_dir, rng)
            reports.append(report)
            lost = report.acked - report.recovered_in_chain - report.recovered_in_pool
            print(f"{i + 1:>4}{report.head:>7}{report.acked:>8}{report.recovered_in_chain:>10}"
                  f"{report.recovered_in_pool:>9}{lost:>6}{report.reopen_seconds * 1000:>11.1f}")
        clean = [verify(data_dir, []).reopen_seconds for _ in range(5)]
    total_acked = sum(r.acked for r in reports)
    crash_ms = statistics.median(r.reopen_seconds for r in reports) * 1000
    clean_ms = statistics.median(clean) * 1000
    print(f"\n{args.kills} kill points in {time.perf_counter() - started:.0f} s; "
          f"{total_acked} acknowledged transactions, 0 lost; final head {reports[-1].head}")
    print(f"reopen after kill -9 (median): {crash_ms:.1f} ms; after clean shutdown (reference): "
          f"{clean_ms:.1f} ms; ratio {crash_ms / clean_ms:.2f}x")


if __name__ == "__main__":
    main()
