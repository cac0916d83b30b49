"""Batch size: bytes and L1 gas per L2 transaction of our batch format against
the OP Stack's singular batches of the same blocks.

Three workloads (10,000 transactions each by default) are built into blocks
through the node's own sequencer, in process: EIP-1559 value transfers, ERC-20
transfers (OpenZeppelin), and a mix (transfers of three types, ERC-20 transfers,
`DatanetRegistry.contribute` calls, ERC-20 deployments). The measured blocks are
then encoded

- as ours: `openledger_node.codec.encode_batch`, one batch for the whole range;
- as the OP Stack's singular batches, `rlp([parent_hash, epoch_number,
  epoch_hash, timestamp, transaction_list])` one per block, each framed in the
  channel as op-node does (an RLP string of the version byte 0 and the list),
  concatenated, and compressed with zlib (level 9, the pre-Fjord channel) and
  with brotli (quality 10, Fjord's).

Deposits are in neither. L1 gas counts the calldata bytes only, both ways:
standard (16 per non-zero byte, 4 per zero byte) and the EIP-7623 floor (40 /
10), which is what a data-heavy L1 transaction pays since Pectra. A last table
compares compressors on our uncompressed payload.

Usage: python bench/batch_size.py [--txs N] [--block-size B] [--write-docs]
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import brotli  # noqa: E402
import rlp  # noqa: E402

try:  # only for the table of other compressors (pip install zstandard)
    import zstandard
except ImportError:
    zstandard = None

from bench.docs import machine_line, replace_section  # noqa: E402
from bench.workloads import CHAIN_ID, dev_node_config, mixed_workload, token_workload, transfer_workload  # noqa: E402
from node import Node  # noqa: E402
from openledger_node.codec import BlockEntry, block_entry, decode_batch, encode_batch, encode_payload  # noqa: E402
from openledger_node.execution.genesis import dev_private_keys  # noqa: E402
from openledger_node.execution.transactions import encode_transaction  # noqa: E402

SECTION = "## Batch size"
WORKLOADS: dict[str, Callable[[list[bytes], int], tuple[list[bytes], list[bytes]]]] = {
    "EIP-1559 transfers": transfer_workload,
    "ERC-20 transfers": token_workload,
    "mixed": mixed_workload,
}


def seal_blocks(setup: list[bytes], txs: list[bytes], block_size: int) -> list[BlockEntry]:
    """The blocks the sequencer seals for `txs`, `block_size` per block, after a
    block of `setup` (not returned), as batch entries."""
    entries = []
    with tempfile.TemporaryDirectory() as data_dir:
        node = Node.open(dev_node_config(data_dir))
        try:
            for raw in setup:
                node.pool.add_raw(raw)
            if setup:
                node.builder.build_block()
            for start in range(0, len(txs), block_size):
                chunk = txs[start : start + block_size]
                for raw in chunk:
                    node.pool.add_raw(raw)
                output = node.builder.build_block().block
                header = output.header
                origin, _ = node.store.l1_origin(header)
                entry = block_entry(
                    int(header.block_number), int(header.timestamp), origin.number, bytes(origin.hash),
                    bytes(header.parent_hash), (encode_transaction(tx) for tx in output.transactions),
                )
                assert sorted(entry.transactions) == sorted(chunk), "the block does not hold exactly its chunk"
                entries.append(entry)
        finally:
            node.stop()
    return entries


def op_singular_channel(blocks: list[BlockEntry]) -> bytes:
    """The uncompressed channel of OP singular batches, one per block (the
    epoch is the block's L1 origin)."""
    parts = []
    for block in blocks:
        batch = rlp.encode([block.parent_hash, block.l1_origin_number, block.l1_origin_hash, block.timestamp,
                            list(block.transactions)])
        parts.append(rlp.encode(b"\x00" + batch))
    return b"".join(parts)


@dataclass
class Encoded:
    name: str
    data: bytes

    def gas(self, zero: int, nonzero: int) -> int:
        zeros = self.data.count(0)
        return zero * zeros + nonzero * (len(self.data) - zeros)


def timed(fn: Callable[[], Any], repeats: int) -> tuple[Any, list[float]]:
    times = []
    result = None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return result, times


def spread(times: list[float]) -> str:
    return f"{min(times):,.0f} / {statistics.median(times):,.0f} / {max(times):,.0f}"


def compressor_table(payloads: dict[str, tuple[bytes, int]]) -> list[str]:
    """Bytes per transaction of our payload under each compressor and level,
    and the time to compress the largest payload."""
    codecs: list[tuple[str, Callable[[bytes], bytes], Callable[[bytes], bytes]]] = []
    for quality in (5, 9, 10, 11):
        codecs.append((f"brotli {quality} (window 2^22)",
                       lambda d, q=quality: bytes(brotli.compress(d, quality=q, lgwin=22)), brotli.decompress))
    for level in (3, 9, 15, 19, 22) if zstandard is not None else ():
        codecs.append((f"zstd {level}", lambda d, lv=level: zstandard.ZstdCompressor(level=lv).compress(d),
                       lambda d: zstandard.ZstdDecompressor().decompress(d)))
    codecs.append(("zlib 9", lambda d: zlib.compress(d, 9), zlib.decompress))
    names = list(payloads)
    rows = ["| compressor | " + " | ".join(f"{n} B/tx" for n in names) + " | compress ms | decompress ms |",
            "| --- |" + " ---: |" * (len(names) + 2)]
    largest = max(payloads.values(), key=lambda p: len(p[0]))[0]
    for label, comp, decomp in codecs:
        cells = [f"{len(comp(payloads[n][0])) / payloads[n][1]:.1f}" for n in names]
        compressed, comp_ms = timed(lambda: comp(largest), 1)
        _, decomp_ms = timed(lambda: decomp(compressed), 1)
        rows.append(f"| {label} | " + " | ".join(cells) + f" | {comp_ms[0]:,.0f} | {decomp_ms[0]:,.1f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--txs", type=int, default=10_000)
    parser.add_argument("--block-size", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write-docs", action="store_true", help="rewrite the section of docs/benchmarks.md")
    args = parser.parse_args()
    keys = dev_private_keys()[:8]
    machine = machine_line()
    print(machine)
    print(f"{args.txs} transactions per workload, {args.block_size} per block, one batch per workload\n")

    size_rows = ["| workload | encoding | bytes | bytes / tx | L1 gas / tx, standard (16/4) | "
                 "L1 gas / tx, EIP-7623 floor (40/10) | ratio to OP brotli |",
                 "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    time_rows = ["| workload | blocks | encode ms (min / median / max) | decode ms (min / median / max) | "
                 "decode µs / tx |", "| --- | ---: | --- | --- | ---: |"]
    payloads: dict[str, tuple[bytes, int]] = {}
    for name, workload in WORKLOADS.items():
        setup, txs = workload(keys, args.txs)
        blocks = seal_blocks(setup, txs, args.block_size)
        count = sum(len(b.transactions) for b in blocks)
        ours, encode_ms = timed(lambda: encode_batch(blocks, CHAIN_ID), args.repeats)
        decoded, decode_ms = timed(lambda: decode_batch(ours, CHAIN_ID), args.repeats)
        assert [b.transactions for b in decoded.blocks] == [b.transactions for b in blocks], "round trip"
        payloads[name] = (encode_payload(blocks, CHAIN_ID), count)
        channel = op_singular_channel(blocks)
        encodings = [
            Encoded("OP singular, uncompressed", channel),
            Encoded("OP singular, zlib 9", zlib.compress(channel, 9)),
            Encoded("OP singular, brotli 10", bytes(brotli.compress(channel, quality=10))),
            Encoded("**ours**", ours),
        ]
        reference = len(encodings[2].data)
        for encoded in encodings:
            size_rows.append(
                f"| {name} | {encoded.name} | {len(encoded.data):,} | {len(encoded.data) / count:.1f} | "
                f"{encoded.gas(4, 16) / count:,.0f} | {encoded.gas(10, 40) / count:,.0f} | "
                f"{len(encoded.data) / reference:.2f}x |"
            )
        time_rows.append(f"| {name} | {len(blocks)} | {spread(encode_ms)} | {spread(decode_ms)} | "
                         f"{statistics.median(decode_ms) * 1000 / count:.0f} |")
        print("\n".join(size_rows[-len(encodings):]), flush=True)

    compressors = compressor_table(payloads)
    tables = "\n".join(size_rows) + "\n\n" + "\n".join(time_rows) + "\n\n" + "\n".join(compressors)
    print("\n" + tables)
    if args.write_docs:
        write_docs(tables, machine, args)


def write_docs(tables: str, machine: str, args: argparse.Namespace) -> None:
    body = f"""{SECTION} (`bench/batch_size.py --txs {args.txs} --block-size {args.block_size}`)

The bytes a range of L2 blocks costs on L1 (`docs/protocol.md`): the same
blocks, sealed by our sequencer in process ({args.txs:,} transactions per
workload, {args.block_size} per block, one batch per workload, deposits in
neither), in our batch format and as the OP Stack's singular batches (one
`rlp([parent_hash, epoch_number, epoch_hash, timestamp, transaction_list])` per
block in one channel) compressed with zlib 9 (before Fjord) and brotli 10
(Fjord). L1 gas counts calldata bytes only: standard 16 per non-zero and 4 per
zero byte, and the EIP-7623 floor of 40 / 10 that a data-heavy L1 transaction
pays since Pectra (the floor is the higher for every encoding here). The
workloads are those of `bench/workloads.py`: random recipients, 8 senders
round-robin; the mix is, of every 20 transactions, 4 EIP-1559 and 4 legacy
transfers, 6 ERC-20 transfers, 4 `DatanetRegistry.contribute` calls, 1 ERC-20
deployment and 1 EIP-2930 call with an access list.

{tables}

Where the bytes go: 64 bytes of every transaction are its signature (random),
and a transfer's recipient (in the ERC-20 transfers, the recipient inside the
calldata) is 20 more random bytes, so no encoding that posts signatures and
recipients goes below about 84 bytes per transfer. Of the bytes above that
floor, the singular batches with brotli leave 5.6 per EIP-1559 transfer (RLP
framing, chain ids and fee fields that repeat but cost a back-reference each
time, a 32-byte parent hash per block) and ours 1.4. The 0.8x of the OP brotli
figure that the format aimed for is therefore out of reach on these workloads:
the floor itself is 0.94x for transfers.

The last table is our payload (before compression) under other compressors;
times are for the largest payload (the mixed one), one run. Encoding includes
rebuilding every transaction from its fields to check it (`parse_tx`) and the
brotli pass (about 1.4 s of it); decoding includes decompression.

{machine}; {datetime.date.today().isoformat()}.
"""
    print(f"wrote {replace_section(SECTION, body)}")


if __name__ == "__main__":
    main()
