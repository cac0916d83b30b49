"""eth_getLogs over a whole chain: the log index against a scan of every block.

A devnet data directory of `--blocks` blocks is written straight into the chain
store (tests/storage/synthetic.py: one sealed block, then renumbered copies
carrying chosen logs), so building it takes about 20 s per 10,000 blocks instead of
executing them. Every block has a log from a busy address (as a popular
token logs in nearly every block); one block in `--every` also has a log from a
rare address with a rare topic, and one from the busy address with that topic.

Timed, in process, through the node's RPC backend and log query engine (no
HTTP, so the figures are the query's own):

  address        {"fromBlock": 0, "address": rare}: the index
  busy AND topic {"fromBlock": 0, "address": busy, "topics": [rare topic]}: the
                 leapfrog join skips the busy address's blocks without the topic
  full scan      the same address query answered by reading every block of the
                 range and matching its logs (what a query without the index,
                 or with neither address nor topic, costs)

and the time a node takes at start to index a data directory written before the
index (its entries removed).

Usage: python bench/get_logs.py [--blocks 50000] [--every 1000] [--repeats 5] [--write-docs]
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import plyvel

from bench.docs import machine_line, replace_section
from openledger_node.execution.types import Log
from openledger_node.rpc.logs import LogQuery, log_criteria
from openledger_node.storage import ChainStore, log_index
from tests.storage.synthetic import devnet_config, long_chain

SECTION = "## eth_getLogs over the whole chain"
BUSY = b"\x0b" * 20
RARE = b"\x0a" * 20
RARE_TOPIC = b"\x0c" * 32


def _timed(run: Any, repeats: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=50_000)
    parser.add_argument("--every", type=int, default=1000, help="one block in this many has the rare log")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--write-docs", action="store_true", help="rewrite this bench's section of docs/benchmarks.md")
    args = parser.parse_args()

    from node.builder import Node

    def logs_of(number: int) -> list[Log]:
        logs = [Log(BUSY, (), b"")]
        if number % args.every == 0:
            logs.append(Log(RARE, (RARE_TOPIC,), number.to_bytes(32, "big")))
            logs.append(Log(BUSY, (RARE_TOPIC,), number.to_bytes(32, "big")))
        return logs

    with tempfile.TemporaryDirectory(prefix="get-logs-") as tmp:
        data_dir = Path(tmp) / "data"
        started = time.perf_counter()
        long_chain(data_dir, args.blocks, logs_of)
        write_s = time.perf_counter() - started
        node = Node.open(devnet_config(data_dir))
        try:
            head = int(node.store.head().block_number)
            query = LogQuery(node.rpc_backend(), max_block_range=head + 1, max_results=10**9)
            address = log_criteria({"fromBlock": "0x0", "address": "0x" + RARE.hex()})
            joined = log_criteria({"fromBlock": "0x0", "address": "0x" + BUSY.hex(), "topics": ["0x" + RARE_TOPIC.hex()]})
            indexed_s, found = _timed(lambda: query.run(address), args.repeats)
            joined_s, joined_found = _timed(lambda: query.run(joined), args.repeats)
            assert len(joined_found) == len(found) == head // args.every, (len(found), len(joined_found))

            def scan() -> list[dict[str, Any]]:
                out: list[dict[str, Any]] = []
                for number in range(head + 1):
                    out.extend(query.block_logs(address, node.store.header_by_number(number)))
                return out

            scan_s, scanned = _timed(scan, 1)
            assert scanned == found
        finally:
            node.stop()
        db = plyvel.DB(str(data_dir))
        db.delete(log_index.VERSION_KEY)
        for prefix in (b"a", b"o"):
            with db.write_batch() as batch:
                for key in db.iterator(prefix=prefix, include_value=False):
                    batch.delete(key)
        db.close()
        started = time.perf_counter()
        ChainStore(data_dir).close()
        rebuild_s = time.perf_counter() - started

    rows = [
        ("address (index)", indexed_s),
        ("busy address AND rare topic (index)", joined_s),
        ("full scan of every block", scan_s),
    ]
    lines = [
        (f"chain: {head + 1} blocks (written in {write_s:.1f} s), {len(found)} matching logs "
         f"(one block in {args.every}), a log from the busy address in every block"),
        "",
        "| query, fromBlock 0 to the head | time | vs full scan |",
        "|---|---:|---:|",
    ]
    for name, seconds in rows:
        lines.append(f"| {name} | {seconds * 1000:.1f} ms | {scan_s / seconds:.0f}x faster |"
                     if seconds != scan_s else f"| {name} | {seconds * 1000:.0f} ms | 1x |")
    lines += ["", (f"indexing a data directory written before the index, at start: {rebuild_s:.1f} s "
                   f"({(head + 1) / rebuild_s:,.0f} blocks/s)")]
    report = "\n".join(lines)
    print(report)
    if args.write_docs:
        today = datetime.date.today().isoformat()
        body = (
            f"{SECTION} (`bench/get_logs.py --blocks {args.blocks}`)\n\n"
            f"Measured {today}; {machine_line()}. In process, through the RPC backend and the log "
            f"query engine (no HTTP); the median of {args.repeats} runs, the scan run once.\n\n"
            f"{report}\n\n"
            "An address or topic query reads the log index (posting lists in the chain's LevelDB, "
            "storage/log_index.py) and then only the blocks it names, so its time follows the "
            "matches, not the range; eth_getLogs has no block range limit for it. The full scan is "
            "what a query with neither address nor topic costs per block, which is why only such a "
            "query keeps the `rpc.logs_max_block_range` limit.\n"
        )
        print(f"wrote {replace_section(SECTION, body)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
