"""JSON-RPC under attack: an honest client and the sequencer, measured while one
hostile client at a time attacks a real node process on loopback.

One node (`node.cli sequencer`, devnet config, 0.5 s blocks, default RPC limits)
serves every row. For each row an honest client in a process of its own sends
`eth_blockNumber` continuously (one request at a time, on a new keep-alive
session) while the attack runs for `--seconds`; the block interval is read from
the time the honest client first sees each new block number, from the node's
"sealed block" log lines, and from the block timestamps. The first row has no
attack (the baseline). The attacks, one at a time:

  quadratic-json       `[`*101 + `"` + `\\"`*48000 POSTed in a loop (4 clients)
  receipts-feehistory  a batch of 30 eth_getTransactionReceipt from a ~1,000-tx
                       block, eth_feeHistory 1024 blocks, eth_gasPrice (4 clients)
  endless-eth_call     8 concurrent eth_call on an endless loop (state override);
                       the honest client also runs eth_getLogs on the latest block
  connections          1,100 idle TCP connections, then 200 slowloris ones (a
                       header line a second)
  websocket-subs       300 WebSockets x 128 newHeads subscriptions, never read
  tx-flood             20,000 signed transfers, 10 senders, nonces in order
  filters              14,000 eth_newBlockFilter + 300 pending filters, never polled
  host-content-type    text/plain + foreign Origin evm_snapshot; Host evil.example

Goal per row (printed, not asserted): honest p99 < 250 ms with no honest
errors (a failed request counts at the time it took to fail), blocks sealed and
the median interval within 10% of the block time, the node's RSS (at the
window's end, its highest in the window, and once the node is quiet again)
within 256 MiB of its RSS when the window opened.

The WebSocket attack stops early if the node's RSS passes 4 GiB (the machine is
shared); every wait is bounded, and the node is stopped at the end.

Usage: python bench/rpc_abuse.py [--seconds 10] [--quick] [--only NAME,...]
       [--flood-batch 50] [--keep-log PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import math
import multiprocessing
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import rlp
from coincurve import PrivateKey
from eth_account import Account
from eth_hash.auto import keccak

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.docs import machine_line
from bench.rpc_load import CHAIN_ID, rpc
from openledger_node.config import RpcConfig
from openledger_node.execution.genesis import dev_private_keys
from openledger_node.rpc.server import raise_fd_limit
from tests.rpc.helpers import NodeProcess, start_node

BLOCK_TIME = 0.5
GOAL_P99_MS = 250.0
GOAL_INTERVAL = 0.10  # within 10% of the block time
RSS_HEADROOM_MIB = 256.0
HONEST_TIMEOUT = 10.0  # one honest request, at most
SETTLE_LIMIT = 150.0  # after a row: the pool drained, connections closed, the event loop and EVM pool free
RSS_LIMIT_MIB = 4096.0  # the WebSocket attack stops early past this (the machine is shared)
ATTACK_GRACE = 60.0  # an attack's cleanup after its window, at most
MAX_STEPS = 10**6  # every attack loop also stops after this many steps

ENDLESS = "0x5b600056"  # JUMPDEST PUSH1 0 JUMP
LOOPER = "0x" + "ab" * 20
FLOOD_SENDERS = 10
FLOOD_TXS = 20_000
FLOOD_BATCH = 50  # transfers to a request: faster than one a request, as an attacker would send them
BIG_SENDERS = 16
BIG_QUEUED = 63  # per sender, nonces 1..63 (account_queue is 64, global_queue 1024)
FEE_CAP = 50 * 10**9
TIP = 10**9

ROWS = (
    "baseline",
    "quadratic-json",
    "receipts-feehistory",
    "endless-eth_call",
    "connections",
    "websocket-subs",
    "tx-flood",
    "filters",
    "host-content-type",
)


# --- signing (libsecp256k1 directly: eth_account takes ~1.7 ms a transfer) -----------


_private_keys: dict[bytes, PrivateKey] = {}


def sign_transfer(key: bytes, nonce: int, to: bytes, value: int, fee_cap: int = FEE_CAP, tip: int = TIP) -> bytes:
    """A signed EIP-1559 transfer, byte for byte what eth_account signs."""
    private = _private_keys.get(key)
    if private is None:
        private = _private_keys[key] = PrivateKey(key)
    fields: list[Any] = [CHAIN_ID, nonce, tip, fee_cap, 21_000, to, value, b"", []]
    signature = private.sign_recoverable(keccak(b"\x02" + rlp.encode(fields)), hasher=None)
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big")
    return b"\x02" + bytes(rlp.encode([*fields, signature[64], r, s]))


def address_of(key: bytes) -> str:
    return str(Account.from_key(key).address)


def fresh_keys(label: str, count: int) -> list[bytes]:
    return [keccak(f"rpc_abuse:{label}:{i}".encode()) for i in range(count)]


# --- small helpers ---------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def call_body(method: str, params: list[Any], request_id: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}


def parse_metrics(text: str) -> dict[str, float]:
    return {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines() if line and not line.startswith("#") and len(line.split()) == 2
    }


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


async def run_until(deadline: float, steps: list[Callable[[], Awaitable[None]]]) -> None:
    """Run each step in a loop of its own until `deadline` (time.monotonic)."""

    async def loop(step: Callable[[], Awaitable[None]]) -> None:
        for _ in range(MAX_STEPS):
            await step()

    try:
        async with asyncio.timeout_at(deadline):
            await asyncio.gather(*(loop(step) for step in steps))
    except TimeoutError:
        pass


# --- the honest client (a process of its own, so the attacker's event loop does not
# --- delay it) -------------------------------------------------------------------------


def _honest_process(conn: Connection) -> None:
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        url, seconds, with_logs = job
        conn.send(asyncio.run(_honest_run(url, seconds, with_logs, conn)))


async def _honest_run(url: str, seconds: float, with_logs: bool, conn: Connection) -> dict[str, Any]:
    latencies: list[float] = []
    logs_latencies: list[float] = []
    errors: Counter[str] = Counter()
    seen: list[tuple[int, float]] = []
    timeout = aiohttp.ClientTimeout(total=HONEST_TIMEOUT)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1), timeout=timeout) as session:

        async def call(method: str, params: list[Any], request_id: int) -> Any:
            async with session.post(url, json=call_body(method, params, request_id)) as response:
                body = await response.read()
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}")
            reply = json.loads(body)
            if "error" in reply:
                raise RuntimeError(f"rpc {reply['error'].get('code')}")
            return reply["result"]

        ready = False
        for _ in range(100):  # the session's connection opens before the attack starts
            try:
                await call("eth_blockNumber", [], 0)
                ready = True
                break
            except (aiohttp.ClientError, TimeoutError, RuntimeError, ValueError):
                await asyncio.sleep(0.1)
        conn.send("ready" if ready else "not ready")
        started = time.monotonic()
        end = started + seconds
        for i in range(1, MAX_STEPS):
            if time.monotonic() >= end:
                break
            logs = with_logs and i % 2 == 0
            method, params = ("eth_getLogs", [{"fromBlock": "latest", "toBlock": "latest"}]) if logs \
                else ("eth_blockNumber", [])
            t0 = time.perf_counter()
            try:
                result = await call(method, params, i)
                failed = False
            except (aiohttp.ClientError, TimeoutError, RuntimeError, ValueError) as exc:
                errors[str(exc) if isinstance(exc, RuntimeError) else type(exc).__name__] += 1
                failed = True
            # A failed request counts at the time it took to fail (a timeout: HONEST_TIMEOUT).
            (logs_latencies if logs else latencies).append((time.perf_counter() - t0) * 1000)
            if failed:
                await asyncio.sleep(0.05)
            elif not logs:
                number = int(result, 16)
                if not seen or number > seen[-1][0]:
                    seen.append((number, time.monotonic()))
    return {"latencies": latencies, "logs": logs_latencies, "errors": dict(errors), "seen": seen,
            "started": started, "ended": time.monotonic()}


# --- the node's log ------------------------------------------------------------------------

_SEALED = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO\s+openledger\.sequencer: sealed block number=(\d+) .*"
    r"txs=(\d+) .*ms=([\d.]+)")
_LEVEL = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (WARNING|ERROR|CRITICAL)\s+(.*)$")


class LogTail:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def skip(self) -> None:
        self.offset = self.path.stat().st_size

    def read(self) -> list[str]:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        complete = data[: data.rfind(b"\n") + 1]
        self.offset += len(complete)
        return complete.decode(errors="replace").splitlines()


def _log_time(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def summarize_warnings(lines: list[str]) -> list[str]:
    """Warning and error lines, numbers and hashes folded, with counts."""
    kinds: Counter[str] = Counter()
    for line in lines:
        match = _LEVEL.match(line)
        if match:
            text = re.sub(r"0x[0-9a-f]+", "0x…", match.group(2))
            kinds[match.group(1) + " " + re.sub(r"\d+", "N", text)] += 1
    return [f"{count} x {text}" for text, count in kinds.most_common(4)]


# --- one row ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What an attack sent and got back, and whether that is what the docs say."""

    note: str
    documented: bool | None  # None: nothing to check (the baseline)
    after: Callable[[dict[str, float]], str] | None = None  # more, from the metrics once the node is quiet


@dataclass
class Row:
    attack: str
    seconds: float
    honest_answered: int
    honest_errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    blocks_sealed: int
    blocks_expected: float
    interval_p50_s: float  # from when the honest client first saw each block
    interval_max_s: float
    timestamp_p50_s: float  # from the block timestamps (whole seconds)
    timestamp_max_s: float
    seal_max_s: float  # from the node's "sealed block" log lines
    rss_start_mib: float  # when the window opened
    rss_mib: float  # when it closed
    rss_max_mib: float
    documented: bool | None
    note: str
    logs_p50_ms: float | None = None
    logs_p99_ms: float | None = None
    honest_error_kinds: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    settle_s: float = 0.0  # after the window, until the node was quiet again
    rss_after_mib: float = 0.0  # then

    def misses(self, block_time: float = BLOCK_TIME) -> list[str]:
        """The parts of the goal this row misses (empty: PASS)."""
        out = []
        p99s = [self.p99_ms] + ([self.logs_p99_ms] if self.logs_p99_ms is not None else [])
        if not all(p < GOAL_P99_MS for p in p99s):
            out.append(f"p99 {max(p99s):.0f} ms")
        if self.honest_errors:
            out.append(f"{self.honest_errors} honest errors")
        # A window holds one seal more or less depending on where it starts.
        if abs(self.blocks_sealed - self.blocks_expected) > max(1.0, GOAL_INTERVAL * self.blocks_expected):
            out.append(f"{self.blocks_sealed} blocks of {self.blocks_expected:g}")
        if not abs(self.interval_p50_s - block_time) <= GOAL_INTERVAL * block_time:
            out.append(f"interval p50 {self.interval_p50_s:.2f} s")
        rss = max(self.rss_mib, self.rss_max_mib, self.rss_after_mib)
        if rss > self.rss_start_mib + RSS_HEADROOM_MIB:
            out.append(f"RSS +{rss - self.rss_start_mib:.0f} MiB")
        return out


# --- the benchmark ----------------------------------------------------------------------------


class Bench:
    def __init__(self, node: NodeProcess, seconds: float, flood_batch: int = FLOOD_BATCH) -> None:
        self.node = node
        self.flood_batch = flood_batch
        self.url = node.http
        host, port = node.http.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.seconds = seconds
        self.log = LogTail(node.log_path)
        self.process = psutil.Process(node.proc.pid)
        self.session: aiohttp.ClientSession | None = None
        self._honest: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self._metrics_before: dict[str, float] = {}
        self.receipt_hashes: list[str] = []
        self.big_block: tuple[int, int] = (0, 0)  # number, transactions
        self.flood: list[list[bytes]] = []
        self.flood_senders: list[str] = []

    # lifecycle

    def start_honest(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._honest = context.Process(target=_honest_process, args=(child,), daemon=True)
        self._honest.start()
        child.close()

    def stop_honest(self) -> None:
        if self._conn is not None:
            try:
                self._conn.send(None)
            except OSError:
                pass
        if self._honest is not None:
            self._honest.join(10)
            if self._honest.is_alive():
                self._honest.terminate()
                self._honest.join(10)

    def _recv(self, timeout: float) -> Any:
        assert self._conn is not None
        if not self._conn.poll(timeout):
            raise RuntimeError(f"the honest client did not answer within {timeout:.0f} s")
        return self._conn.recv()

    async def run(self, names: list[str]) -> list[Row]:
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(timeout=timeout) as self.session:
            await self.setup(names)
            await self.settle()
            rows = []
            for name in names:
                rows.append(await self.row(name))
                print(f"  {name}: {rows[-1].honest_answered} honest answers, p99 {rows[-1].p99_ms:.0f} ms, "
                      f"{rows[-1].blocks_sealed}/{rows[-1].blocks_expected:g} blocks, "
                      f"RSS {rows[-1].rss_mib:.0f} MiB", flush=True)
        return rows

    # JSON-RPC and metrics for the benchmark itself

    async def rpc(self, method: str, *params: Any) -> Any:
        assert self.session is not None
        return await rpc(self.session, self.url, method, list(params))

    async def batch(self, calls: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
        assert self.session is not None
        body = [call_body(method, params, i) for i, (method, params) in enumerate(calls)]
        async with self.session.post(self.url, json=body) as response:
            replies: list[dict[str, Any]] = await response.json()
        return sorted(replies, key=lambda r: r["id"])

    async def metrics(self, timeout: float = 60.0) -> dict[str, float]:
        assert self.session is not None
        async with self.session.get(self.url + "/metrics", timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            return parse_metrics(await response.text())

    def metric_delta(self, after: dict[str, float], name: str) -> int:
        return int(after.get(name, 0) - self._metrics_before.get(name, 0))

    # setup: funded senders, a block of ~1,000 transfers, the flood's transactions

    async def setup(self, names: list[str]) -> None:
        need_big = "receipts-feehistory" in names
        need_flood = "tx-flood" in names
        if not (need_big or need_flood):
            return
        t0 = time.monotonic()
        big = fresh_keys("big", BIG_SENDERS) if need_big else []
        flood = fresh_keys("flood", FLOOD_SENDERS) if need_flood else []
        funder = dev_private_keys()[0]
        nonce = int(await self.rpc("eth_getTransactionCount", address_of(funder), "pending"), 16)
        funding = [sign_transfer(funder, nonce + i, bytes.fromhex(address_of(key)[2:]), 100 * 10**18)
                   for i, key in enumerate(big + flood)]
        for reply in await self.batch([("eth_sendRawTransaction", ["0x" + raw.hex()]) for raw in funding]):
            if "error" in reply:
                raise RuntimeError(f"funding: {reply['error']}")
        await self._wait_nonce(address_of(funder), nonce + len(funding))
        if need_big:
            await self._big_block(big)
        if need_flood:
            self.flood_senders = [address_of(key) for key in flood]
            self.flood = [
                [sign_transfer(key, n, keccak(b"flood" + key)[:20], 1) for n in range(FLOOD_TXS // FLOOD_SENDERS)]
                for key in flood
            ]
        print(f"setup: {time.monotonic() - t0:.1f} s"
              + (f"; block {self.big_block[0]} holds {self.big_block[1]} transactions" if need_big else ""),
              flush=True)

    async def _wait_nonce(self, address: str, nonce: int, limit: float = 30.0) -> None:
        deadline = time.monotonic() + limit
        while int(await self.rpc("eth_getTransactionCount", address, "latest"), 16) < nonce:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{address} did not reach nonce {nonce} within {limit:.0f} s")
            await asyncio.sleep(0.1)

    async def _big_block(self, keys: list[bytes]) -> None:
        """Queue nonces 1..63 of 16 senders (a gap at 0), then send the 16 nonce-0
        transfers in one batch: the pool promotes 1,024 at once, for one block."""
        sink = bytes.fromhex("77" * 20)
        for pair in range(0, len(keys), 2):
            queued = [sign_transfer(key, n, sink, 1) for key in keys[pair:pair + 2] for n in range(1, BIG_QUEUED + 1)]
            for reply in await self.batch([("eth_sendRawTransaction", ["0x" + raw.hex()]) for raw in queued]):
                if "error" in reply:
                    raise RuntimeError(f"queueing the big block: {reply['error']}")
        fillers = [sign_transfer(key, 0, sink, 1) for key in keys]
        replies = await self.batch([("eth_sendRawTransaction", ["0x" + raw.hex()]) for raw in fillers])
        hashes = [reply["result"] for reply in replies]
        for key in keys:
            await self._wait_nonce(address_of(key), BIG_QUEUED + 1)
        numbers = {int((await self.rpc("eth_getTransactionReceipt", h))["blockNumber"], 16) for h in hashes}
        best: tuple[int, list[str]] = (0, [])
        for number in sorted(numbers):
            block = await self.rpc("eth_getBlockByNumber", hex(number), False)
            if len(block["transactions"]) > len(best[1]):
                best = (number, block["transactions"])
        number, txs = best
        self.big_block = (number, len(txs))
        step = max((len(txs) - 1) // 30, 1)
        self.receipt_hashes = txs[1::step][:30]  # user transactions (index 0 is the L1-info deposit)

    # between rows

    async def settle(self) -> float:
        """Wait (bounded) until the pool is empty, the attack's connections are gone,
        eth_blockNumber is answered at once and the execution pool answers a call."""
        started = time.monotonic()
        while time.monotonic() - started < SETTLE_LIMIT:
            try:
                m = await self.metrics(timeout=5.0)
                quiet = (m.get("openledger_txpool_pending", 0) + m.get("openledger_txpool_queued", 0) == 0
                         and m.get("openledger_rpc_open_connections", 0) <= 2
                         and m.get("openledger_rpc_websockets", 0) == 0)
                if quiet:
                    t0 = time.monotonic()
                    await asyncio.wait_for(self.rpc("eth_blockNumber"), 10)
                    t1 = time.monotonic()
                    await asyncio.wait_for(self.rpc("eth_call", {"to": "0x" + "00" * 19 + "01"}, "latest"), 15)
                    if t1 - t0 < 0.1 and time.monotonic() - t1 < 1.0:
                        break
            except (aiohttp.ClientError, TimeoutError, RuntimeError):
                pass
            await asyncio.sleep(0.25)
        return time.monotonic() - started

    # one row

    async def row(self, name: str) -> Row:
        attack = getattr(self, "attack_" + name.replace("-", "_"))
        self._metrics_before = await self.metrics()
        self.log.read()  # everything before this row
        loop = asyncio.get_running_loop()
        assert self._conn is not None
        self._conn.send((self.url, self.seconds, name == "endless-eth_call"))
        ready = await loop.run_in_executor(None, self._recv, 60.0)
        if ready != "ready":
            raise RuntimeError("the honest client could not reach the node")
        wall0 = time.time()
        deadline = time.monotonic() + self.seconds
        samples: list[float] = []
        sampler = asyncio.create_task(self._sample_rss(deadline, samples))
        outcome: Outcome = await asyncio.wait_for(attack(deadline), self.seconds + ATTACK_GRACE)
        honest = await loop.run_in_executor(None, self._recv, self.seconds + HONEST_TIMEOUT + 30)
        await sampler
        settle_s = await self.settle()
        if outcome.after is not None:
            outcome.note += "; " + outcome.after(await self.metrics())
        lines = self.log.read()
        row = await self._row(name, outcome, honest, wall0, samples, lines, settle_s)
        row.rss_after_mib = self.process.memory_info().rss / 2**20
        return row

    async def _sample_rss(self, deadline: float, samples: list[float]) -> None:
        while time.monotonic() < deadline:
            samples.append(self.process.memory_info().rss / 2**20)
            await asyncio.sleep(min(0.2, max(deadline - time.monotonic(), 0)))
        samples.append(self.process.memory_info().rss / 2**20)

    async def _row(self, name: str, outcome: Outcome, honest: dict[str, Any], wall0: float,
                   samples: list[float], lines: list[str], settle_s: float) -> Row:
        seals = []
        for line in lines:
            match = _SEALED.match(line)
            if match and wall0 <= _log_time(match.group(1)) <= wall0 + self.seconds:
                seals.append((int(match.group(2)), _log_time(match.group(1))))
        seal_gaps = [b[1] - a[1] for a, b in itertools.pairwise(seals)]
        seen = [(n, t) for n, t in honest["seen"] if t >= honest["started"]]
        seen_gaps: list[float] = []
        for (n1, t1), (n2, t2) in itertools.pairwise(seen):
            seen_gaps.extend([(t2 - t1) / (n2 - n1)] * (n2 - n1))
        stamp_gaps: list[float] = []
        if seals:
            first, last = seals[0][0], seals[-1][0]
            replies = await self.batch([("eth_getBlockByNumber", [hex(n), False])
                                        for n in range(max(first - 1, 0), last + 1)])
            stamps = [int(r["result"]["timestamp"], 16) for r in replies if r.get("result")]
            stamp_gaps = [float(b - a) for a, b in itertools.pairwise(stamps)]
        latencies = honest["latencies"]
        logs = honest["logs"]
        return Row(
            attack=name,
            seconds=self.seconds,
            honest_answered=len(latencies) + len(logs) - sum(honest["errors"].values()),
            honest_errors=sum(honest["errors"].values()),
            p50_ms=percentile(latencies, 0.50),
            p99_ms=percentile(latencies, 0.99),
            max_ms=max(latencies, default=float("nan")),
            blocks_sealed=len(seals),
            blocks_expected=self.seconds / BLOCK_TIME,
            interval_p50_s=percentile(seen_gaps, 0.50),
            interval_max_s=max(seen_gaps, default=float("nan")),
            timestamp_p50_s=percentile(stamp_gaps, 0.50),
            timestamp_max_s=max(stamp_gaps, default=float("nan")),
            seal_max_s=max(seal_gaps, default=float("nan")),
            rss_start_mib=samples[0],
            rss_mib=samples[-1],
            rss_max_mib=max(samples),
            documented=outcome.documented,
            note=outcome.note,
            logs_p50_ms=percentile(logs, 0.50) if logs else None,
            logs_p99_ms=percentile(logs, 0.99) if logs else None,
            honest_error_kinds=honest["errors"],
            warnings=summarize_warnings(lines),
            settle_s=settle_s,
        )

    # --- the attacks: each runs until `deadline`, cleans up, and says what it got ---------------

    async def attack_baseline(self, deadline: float) -> Outcome:
        await asyncio.sleep(max(deadline - time.monotonic(), 0))
        return Outcome("no attack", None)

    async def _posting(self, deadline: float, clients: int, send: Callable[[aiohttp.ClientSession], Awaitable[str]],
                       ) -> Counter[str]:
        """`clients` loops, each sending one request at a time until `deadline`;
        counts what `send` says each answer was."""
        answers: Counter[str] = Counter()

        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as session:

            async def step() -> None:
                try:
                    answers[await send(session)] += 1
                except (aiohttp.ClientError, ValueError) as exc:
                    answers[type(exc).__name__] += 1
                    await asyncio.sleep(0.01)

            await run_until(deadline, [step] * clients)
        return answers

    async def attack_quadratic_json(self, deadline: float) -> Outcome:
        body = b"[" * 101 + b'"' + b'\\"' * 48_000

        async def send(session: aiohttp.ClientSession) -> str:
            t0 = time.perf_counter()
            async with session.post(self.url, data=body, headers={"Content-Type": "application/json"}) as r:
                reply = await r.read()
            times.append(time.perf_counter() - t0)
            code = json.loads(reply).get("error", {}).get("code") if r.status == 200 else None
            return f"HTTP {r.status} {code}"

        times: list[float] = []
        answers = await self._posting(deadline, 4, send)
        expected = "HTTP 200 -32700"
        return Outcome(
            f"{sum(answers.values())} POSTs of 96 KB: {_counts(answers)}; answer p50 "
            f"{percentile(times, 0.5) * 1000:.1f} ms, max {max(times, default=0) * 1000:.0f} ms",
            set(answers) == {expected})

    async def attack_receipts_feehistory(self, deadline: float) -> Outcome:
        receipts = [call_body("eth_getTransactionReceipt", [h], i) for i, h in enumerate(self.receipt_hashes)]
        requests = [
            ("receipts", receipts),
            ("feeHistory", call_body("eth_feeHistory", ["0x400", "latest", [50]])),
            ("gasPrice", call_body("eth_gasPrice", [])),
        ]
        times: dict[str, list[float]] = {kind: [] for kind, _ in requests}
        turn = iter(range(MAX_STEPS))

        async def send(session: aiohttp.ClientSession) -> str:
            kind, body = requests[next(turn) % len(requests)]
            t0 = time.perf_counter()
            async with session.post(self.url, json=body) as r:
                reply = await r.json()
            times[kind].append(time.perf_counter() - t0)
            if kind == "receipts":
                good = (isinstance(reply, list) and len(reply) == len(receipts)
                        and all(item.get("result") and int(item["result"]["blockNumber"], 16) == self.big_block[0]
                                for item in reply))
            elif kind == "feeHistory":
                good = "result" in reply and len(reply["result"]["reward"]) > 0
            else:
                good = "result" in reply
            return f"{kind} {'ok' if good else 'bad'}"

        answers = await self._posting(deadline, 4, send)
        detail = ", ".join(f"{kind} p50 {percentile(t, 0.5) * 1000:.0f} ms" for kind, t in times.items() if t)
        return Outcome(
            f"block {self.big_block[0]} ({self.big_block[1]} txs), {len(self.receipt_hashes)} receipts a batch: "
            f"{_counts(answers)}; {detail}",
            bool(answers) and all(kind.endswith(" ok") for kind in answers))

    async def attack_endless_eth_call(self, deadline: float) -> Outcome:
        body = call_body("eth_call", [{"to": LOOPER}, "latest", {LOOPER: {"code": ENDLESS}}])
        timeout = RpcConfig().evm_timeout

        async def send(session: aiohttp.ClientSession) -> str:
            async with session.post(self.url, json=body) as r:
                reply = await r.json()
            error = reply.get("error", {})
            return f"{error.get('code')} {error.get('message')}"

        answers = await self._posting(deadline, 8, send)
        expected = f"-32000 execution aborted (timeout = {timeout:g}s)"
        note = (f"8 concurrent calls: {sum(answers.values())} answered in the window "
                f"({_counts(answers) or 'none'}); the rest were cut off at the window's end")
        return Outcome(note, all(kind == expected for kind in answers) if answers else None)

    async def attack_connections(self, deadline: float) -> Outcome:
        return await asyncio.to_thread(self._connections, deadline)

    def _connections(self, deadline: float) -> Outcome:
        """1,100 idle connections for the first half of the window, then 200
        slowloris connections (a header line a second) for the second half."""
        raise_fd_limit(4096)
        start = time.monotonic()
        half = start + (deadline - start) / 2
        idle: list[socket.socket] = []
        failed_connects = 0
        try:
            for _ in range(1100):
                if time.monotonic() >= half:
                    break
                try:
                    sock = socket.create_connection((self.host, self.port), timeout=2)
                    sock.setblocking(False)  # _closed peeks without waiting
                    idle.append(sock)
                except OSError:
                    failed_connects += 1
            time.sleep(min(0.5, max(half - time.monotonic(), 0)))
            refused = sum(1 for sock in idle if _closed(sock))
            time.sleep(max(half - time.monotonic(), 0))
            refused_late = sum(1 for sock in idle if _closed(sock)) - refused
        finally:
            for sock in idle:
                sock.close()
        time.sleep(0.3)  # the server sees the idle ones go
        slow: list[tuple[socket.socket, float]] = []
        closed_ages: list[float] = []
        try:
            for _ in range(200):
                if time.monotonic() >= deadline:
                    break
                try:
                    sock = socket.create_connection((self.host, self.port), timeout=2)
                    sock.sendall(f"POST / HTTP/1.1\r\nHost: {self.host}\r\n".encode())
                    sock.setblocking(False)
                    slow.append((sock, time.monotonic()))
                except OSError:
                    failed_connects += 1
            for line in range(MAX_STEPS):
                if time.monotonic() >= deadline:
                    break
                for sock, opened in slow:
                    if sock.fileno() < 0:
                        continue
                    try:
                        if _closed(sock):
                            raise ConnectionResetError
                        sock.send(f"X-Slow-{line}: {'x' * 16}\r\n".encode())
                    except OSError:
                        closed_ages.append(time.monotonic() - opened)
                        sock.close()
                time.sleep(min(1.0, max(deadline - time.monotonic(), 0)))
        finally:
            still_open = sum(1 for sock, _ in slow if sock.fileno() >= 0)
            for sock, _ in slow:
                sock.close()
        read_timeout = RpcConfig().read_timeout
        early = [age for age in closed_ages if age < read_timeout - 1]
        note = (f"idle: {len(idle)} opened, {refused} closed at once by the server"
                + (f", {refused_late} more later" if refused_late else "")
                + f"; slowloris: {len(slow)} opened, {len(closed_ages)} closed by the server "
                f"({len(early)} before read_timeout {read_timeout:g} s), {still_open} still open at the end"
                + (f"; {failed_connects} connects failed" if failed_connects else ""))
        max_connections = RpcConfig().max_connections
        documented = (refused >= len(idle) - max_connections and refused <= len(idle) - max_connections + 5
                      and not early)
        return Outcome(note, documented)

    async def attack_websocket_subs(self, deadline: float) -> Outcome:
        opened: list[asyncio.StreamWriter] = []
        subscribed: list[int] = []
        failures: Counter[str] = Counter()
        gate = asyncio.Semaphore(32)

        async def one(index: int) -> None:
            async with gate:
                if time.monotonic() >= deadline:
                    return
                sock = socket.socket()
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                sock.setblocking(False)
                try:
                    await asyncio.get_running_loop().sock_connect(sock, (self.host, self.port))
                    reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
                except OSError as exc:
                    sock.close()
                    failures[type(exc).__name__] += 1
                    return
                opened.append(writer)
                key = base64.b64encode(os.urandom(16)).decode()
                writer.write(
                    f"GET / HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
                    f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
                batch = [call_body("eth_subscribe", ["newHeads"], i) for i in range(128)]
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                    if not head.startswith(b"HTTP/1.1 101"):
                        failures[head.split(b"\r\n")[0].decode(errors="replace")] += 1
                        return
                    writer.write(ws_frame(json.dumps(batch).encode()))
                    for _ in range(1000):  # notifications may come before the batch's answer
                        opcode, payload = await read_ws_frame(reader)
                        if opcode == 1 and payload.startswith(b"["):
                            subscribed.append(sum(1 for r in json.loads(payload) if "result" in r))
                            break
                        if opcode == 8:
                            failures["closed"] += 1
                            break
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                    failures[type(exc).__name__] += 1
                    return
                transport = writer.transport
                assert isinstance(transport, asyncio.ReadTransport)
                transport.pause_reading()  # from here on, never read

        tasks = [asyncio.create_task(one(i)) for i in range(300)]
        subscribed_by = deadline
        cut_at: float | None = None
        try:
            for _ in range(MAX_STEPS):  # until the deadline, or the node's memory passes RSS_LIMIT_MIB
                now = time.monotonic()
                if now >= deadline:
                    break
                if self.process.memory_info().rss / 2**20 > RSS_LIMIT_MIB:
                    cut_at = now
                    break
                if subscribed_by == deadline and all(task.done() for task in tasks):
                    subscribed_by = now
                await asyncio.sleep(min(0.2, deadline - now))
            try:  # at the window's end, before closing
                metrics: dict[str, float] | None = await self.metrics(timeout=5.0)
            except (aiohttp.ClientError, TimeoutError):
                metrics = None
        finally:
            for task in tasks:
                task.cancel()
            for writer in opened:
                writer.transport.abort()
        window_start = deadline - self.seconds
        note = (f"{len(opened)} connections, {sum(subscribed)} subscriptions made "
                f"({len(subscribed)} connections answered), "
                + (f"all by {subscribed_by - window_start:.1f} s; " if subscribed_by < deadline
                   else "still subscribing at the window's end; "))
        if cut_at is not None:
            note += (f"attack stopped {cut_at - window_start:.1f} s into the window: the node's RSS passed "
                     f"{RSS_LIMIT_MIB:,} MiB; ")
        if metrics is None:
            note += "at the window's end /metrics did not answer within 5 s"
        else:
            note += (f"at the window's end {int(metrics.get('openledger_rpc_websockets', 0))} websockets open, "
                     f"{self.metric_delta(metrics, 'openledger_rpc_subscribers_dropped_total')} dropped for "
                     f"not reading")
        if failures:
            note += f"; failures {_counts(failures)}"

        def after(settled: dict[str, float]) -> str:
            return (f"once quiet: {self.metric_delta(settled, 'openledger_rpc_subscribers_dropped_total')} "
                    f"websockets dropped for not reading in all, "
                    f"{self.metric_delta(settled, 'openledger_rpc_subscription_events_dropped_total')} "
                    f"subscription events dropped")

        documented = all(count == 128 for count in subscribed) and not failures and cut_at is None
        return Outcome(note, documented, after)

    async def attack_tx_flood(self, deadline: float) -> Outcome:
        answers: Counter[str] = Counter()
        sent = 0

        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=len(self.flood))) as session:

            async def sender(txs: list[bytes]) -> None:
                """One sender's transfers in nonce order, `flood_batch` to a request."""
                nonlocal sent
                for first in range(0, len(txs), self.flood_batch):
                    body = [call_body("eth_sendRawTransaction", ["0x" + raw.hex()], first + i)
                            for i, raw in enumerate(txs[first:first + self.flood_batch])]
                    try:
                        async with session.post(self.url, json=body) as r:
                            replies = await r.json()
                    except (aiohttp.ClientError, ValueError) as exc:
                        answers[type(exc).__name__] += 1
                        continue
                    sent += len(body)
                    for reply in replies:
                        error = reply.get("error")
                        answers["accepted" if error is None else
                                f"{error['code']} {re.sub(r'[0-9]+', 'N', str(error['message']))[:40]}"] += 1

            try:
                async with asyncio.timeout_at(deadline):
                    await asyncio.gather(*(sender(txs) for txs in self.flood))
            except TimeoutError:
                pass
        sending_s = self.seconds
        metrics = await self.metrics()
        evicted = self.metric_delta(metrics, "openledger_txpool_dropped_total")
        mined = 0
        for address in self.flood_senders:
            mined += int(await self.rpc("eth_getTransactionCount", address, "latest"), 16)
        accepted = answers.get("accepted", 0)
        note = (f"{sent} of {sum(map(len, self.flood))} sent in {sending_s:g} s ({sent / sending_s:.0f}/s, "
                f"{len(self.flood)} senders at once, {self.flood_batch} to a request): "
                f"{_counts(answers)}; {evicted} evicted (openledger_txpool_dropped_total); {mined} mined by "
                f"the window's end; pool then {int(metrics.get('openledger_txpool_pending', 0))} pending, "
                f"{int(metrics.get('openledger_txpool_queued', 0))} queued")
        internal = [kind for kind in answers if kind.startswith("-32603") or not (
            kind == "accepted" or kind.startswith("-32000"))]
        return Outcome(note, accepted > 0 and not internal)

    async def attack_filters(self, deadline: float) -> Outcome:
        plan = ["eth_newBlockFilter"] * 14_000 + ["eth_newPendingTransactionFilter"] * 300
        chunks = [plan[i:i + 100] for i in range(0, len(plan), 100)]
        answers: Counter[str] = Counter()
        installed: list[str] = []
        position = iter(range(len(chunks)))

        async def step() -> None:
            index = next(position, None)
            if index is None:
                await asyncio.sleep(max(deadline - time.monotonic(), 0))
                return
            body = [call_body(method, [], i) for i, method in enumerate(chunks[index])]
            try:
                async with session.post(self.url, json=body) as r:
                    replies = sorted(await r.json(), key=lambda reply: reply["id"])
            except (aiohttp.ClientError, ValueError) as exc:
                answers[type(exc).__name__] += 1
                return
            for method, reply in zip(chunks[index], replies):
                kind = "Block" if "Block" in method else "Pending"
                if "result" in reply:
                    installed.append(reply["result"])
                    answers[f"{kind} installed"] += 1
                else:
                    answers[f"{kind} {reply['error']['code']}"] += 1

        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=4)) as session:
            await run_until(deadline, [step] * 4)
        for i in range(0, len(installed), 500):  # cleanup, after the window
            await self.batch([("eth_uninstallFilter", [f]) for f in installed[i:i + 500]])
        refused = answers.get("Block -32005", 0) + answers.get("Pending -32005", 0)
        asked = sum(answers.values())
        limit = RpcConfig().max_filters
        note = (f"{asked} of {len(plan)} asked in the window: {_counts(answers)}; "
                f"{refused} refused with -32005")
        documented = len(installed) <= limit and refused == asked - len(installed) and (
            asked <= limit or len(installed) == limit)
        return Outcome(note, documented)

    async def attack_host_content_type(self, deadline: float) -> Outcome:
        snapshot = json.dumps(call_body("evm_snapshot", [])).encode()
        chain_id = json.dumps(call_body("eth_chainId", [])).encode()
        turn = iter(range(MAX_STEPS))

        async def send(session: aiohttp.ClientSession) -> str:
            if next(turn) % 2:
                headers = {"Content-Type": "text/plain", "Origin": "http://evil.example"}
                kind, body = "text/plain evm_snapshot", snapshot
            else:
                headers = {"Content-Type": "application/json", "Host": "evil.example"}
                kind, body = "Host evil.example", chain_id
            async with session.post(self.url, data=body, headers=headers) as r:
                await r.read()
            return f"{kind}: {r.status}"

        answers = await self._posting(deadline, 4, send)
        return Outcome(f"{_counts(answers)}",
                       set(answers) == {"text/plain evm_snapshot: 415", "Host evil.example: 403"})


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{kind} x{count:,}" for kind, count in counter.most_common())


def _closed(sock: socket.socket) -> bool:
    """Whether the server has closed `sock` (without reading what it sent)."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def ws_frame(payload: bytes) -> bytes:
    """One masked WebSocket text frame (a client's)."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = bytes([0x81, 0x80 | n])
    elif n < 1 << 16:
        head = bytes([0x81, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x81, 0x80 | 127]) + n.to_bytes(8, "big")
    stream = (mask * (n // 4 + 1))[:n]
    return head + mask + (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


async def read_ws_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One unmasked frame from the server: (opcode, payload)."""
    first, second = await reader.readexactly(2)
    n = second & 0x7F
    if n == 126:
        n = int.from_bytes(await reader.readexactly(2), "big")
    elif n == 127:
        n = int.from_bytes(await reader.readexactly(8), "big")
    return first & 0x0F, await reader.readexactly(n)


# --- running and printing ----------------------------------------------------------------------


def run_attacks(node: NodeProcess, names: list[str], seconds: float, flood_batch: int = FLOOD_BATCH) -> list[Row]:
    """Run the named rows against a running node; the honest client's process
    lives for the whole run."""
    unknown = [name for name in names if name not in ROWS]
    if unknown:
        raise ValueError(f"unknown rows {unknown}; known: {', '.join(ROWS)}")
    bench = Bench(node, seconds, flood_batch)
    bench.start_honest()
    try:
        rows = asyncio.run(bench.run(names))
    finally:
        bench.stop_honest()
    return rows


def _f(value: float | None, digits: int = 0) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:,.{digits}f}"


def table(rows: list[Row]) -> str:
    lines = [
        ("| attack | honest answered | p50 ms | p99 ms | honest errors | blocks sealed / expected "
         "| interval p50 / max (s) | timestamp Δ p50 / max (s) | RSS MiB start → end (max), after | attack answered as documented "
         "| goal |"),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in rows:
        misses = r.misses()
        documented = {None: "n/a", True: "yes", False: "**no**"}[r.documented]
        lines.append(
            f"| {r.attack} | {r.honest_answered:,} | {_f(r.p50_ms, 1)} | {_f(r.p99_ms, 1)} | {r.honest_errors} "
            f"| {r.blocks_sealed} / {r.blocks_expected:g} | {_f(r.interval_p50_s, 2)} / {_f(r.interval_max_s, 2)} "
            f"| {_f(r.timestamp_p50_s)} / {_f(r.timestamp_max_s)} "
            f"| {_f(r.rss_start_mib)} → {_f(r.rss_mib)} ({_f(r.rss_max_mib)}), {_f(r.rss_after_mib)} "
            f"| {documented} | {'PASS' if not misses else 'FAIL: ' + '; '.join(misses)} |")
    return "\n".join(lines)


def details(rows: list[Row]) -> str:
    out = []
    for r in rows:
        extra = [r.note]
        if r.logs_p99_ms is not None:
            extra.append(f"honest eth_getLogs p50 {_f(r.logs_p50_ms, 1)} ms, p99 {_f(r.logs_p99_ms, 1)} ms")
        extra.append(f"honest max {_f(r.max_ms)} ms; longest gap between seals (node log) {_f(r.seal_max_s, 2)} s")
        if r.honest_error_kinds:
            extra.append("honest errors: " + ", ".join(f"{k} x{v}" for k, v in r.honest_error_kinds.items()))
        if r.warnings:
            extra.append("node log: " + "; ".join(r.warnings))
        extra.append(f"after the window: quiet again in {r.settle_s:.1f} s, RSS then {_f(r.rss_after_mib)} MiB")
        out.append(f"- {r.attack}: " + "; ".join(extra))
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="each attack's window (default 10)")
    parser.add_argument("--quick", action="store_true", help="3 s windows")
    parser.add_argument("--only", default="", help=f"comma-separated rows of: {', '.join(ROWS)}")
    parser.add_argument("--flood-batch", type=int, default=FLOOD_BATCH,
                        help=f"tx-flood: transfers to a request (default {FLOOD_BATCH})")
    parser.add_argument("--keep-log", type=Path, default=None, help="copy the node's log here at the end")
    args = parser.parse_args()
    seconds = 3.0 if args.quick else args.seconds
    names = [name.strip() for name in args.only.split(",") if name.strip()] or list(ROWS)
    raise_fd_limit(4096)
    print(machine_line())
    print(f"load average before: {load_average()}")
    print(f"node: sequencer, devnet config, block time {BLOCK_TIME} s, default RPC limits; "
          f"{seconds:g} s per row\n", flush=True)
    with tempfile.TemporaryDirectory(prefix="rpc_abuse_") as tmp:
        node = start_node(Path(tmp) / "data", block_time=BLOCK_TIME)
        try:
            rows = run_attacks(node, names, seconds, args.flood_batch)
        finally:
            node.stop()
            if args.keep_log is not None:
                shutil.copyfile(node.log_path, args.keep_log)
    print()
    print(table(rows))
    print()
    print(details(rows))
    print(f"\nload average after: {load_average()}")
    print(f"goal: under every attack honest p99 < {GOAL_P99_MS:g} ms with no honest errors, blocks sealed and "
          f"the interval p50 within {GOAL_INTERVAL:.0%} of {BLOCK_TIME} s, the node's RSS (at the window's end, "
          f"its highest in the window and once quiet again) within {RSS_HEADROOM_MIB:g} MiB of the window's start: "
          f"{sum(1 for r in rows if not r.misses())} of {len(rows)} rows PASS")


if __name__ == "__main__":
    main()
