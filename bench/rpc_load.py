"""JSON-RPC load: our node against anvil, the same load in the same run.

Burst mode (default): both nodes on loopback with 1 s blocks and the same chain
id. (a) N pre-signed EIP-1559 transfers from the dev accounts, sent with 8
concurrent clients: time to send them all (accepted tx/s) and time from the first
send until every one has a receipt; (b) `eth_call` (an ERC-20 `balanceOf`) and
`eth_getBalance` requests per second with 8 concurrent clients, with the server's
CPU time per request; (c) acceptance alone: N more transfers sent with interval
mining off (`evm_setIntervalMining 0`), so that no block is built while they
arrive, with the server's CPU time per transaction.

Sustained mode (`--sustained SECONDS`): both nodes at the same block time
(default 2 s) and the chain's 30M gas limit; 8 clients offer pre-signed transfers
(or ERC-20 transfers, `--workload erc20`) at the gas-limit cap for the given
time. It prints mined tx/s beside the cap, the block interval distribution, p50
/ p99 latency from send to the block that holds the transaction, the server's
CPU time per mined transaction and the RSS over the run, then the ratio lines.
`--repeat N` runs each system N times (alternating) and prints min / median /
max of every figure.

Usage: python bench/rpc_load.py [--txs 5000] [--requests 4000]
       python bench/rpc_load.py --sustained 60 [--block-time 2] [--workload erc20] [--repeat 3]
Needs anvil from npm (`npm ci` installs it into node_modules/.bin).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psutil
import rlp
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_hash.auto import keccak

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from contracts import load_artifact
from openledger_node.execution.genesis import dev_private_keys

CHAIN_ID = 161299
CLIENTS = 8
GAS_LIMIT = 30_000_000  # the devnet genesis's; anvil is started with the same
# Full blocks raise the base fee 12.5% a block (34x in a minute): a fee cap that
# the run never reaches, so no system refuses the load half way.
SUSTAINED_FEE_CAP = 2_000 * 10**9


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}).encode()
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"node exited with code {proc.returncode}")
        try:
            request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=1) as response:
                if json.loads(response.read()).get("result"):
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


@dataclass
class Server:
    """A node process under load: its URL and its process tree, whose CPU time
    (every process the node runs, children included) is the server's cost."""

    url: str
    process: psutil.Process

    def tree(self) -> list[psutil.Process]:
        try:
            return [self.process, *self.process.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in self.tree():
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    def rss_bytes(self) -> int:
        total = 0
        for proc in self.tree():
            try:
                total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return total


@contextmanager
def serving(argv: list[str], port: int, env: dict[str, str] | None = None, cwd: Path = REPO) -> Iterator[Server]:
    """Run a node process on `port` until the block exits; yield it once it answers."""
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc)
        yield Server(url, psutil.Process(proc.pid))
    finally:
        proc.terminate()
        proc.wait(30)


@contextmanager
def run_anvil(block_time: float = 1) -> Iterator[Server]:
    port = free_port()
    binary = REPO / "node_modules" / ".bin" / "anvil"
    with serving([str(binary), "--port", str(port), "--chain-id", str(CHAIN_ID), "--block-time", f"{block_time:g}",
                  "--gas-limit", str(GAS_LIMIT), "--silent"], port) as server:
        yield server


@contextmanager
def run_ours(block_time: float = 1) -> Iterator[Server]:
    port = free_port()
    env = dict(os.environ, OPENLEDGER__TXPOOL__GLOBAL_SLOTS="200000", OPENLEDGER__TXPOOL__ACCOUNT_SLOTS="200000",
               OPENLEDGER__LOG__LEVEL="warning")
    with tempfile.TemporaryDirectory() as data_dir, serving(
        [sys.executable, "-m", "node.cli", "sequencer", "--config", str(REPO / "configs" / "devnet.toml"),
         "--data-dir", data_dir, "--block-time", f"{block_time:g}", "--rpc-port", str(port)],
        port,
        env,
    ) as server:
        yield server


@dataclass
class Result:
    send_seconds: float
    mined_seconds: float
    call_rps: float
    balance_rps: float
    call_cpu_ms: float
    balance_cpu_ms: float
    alone_send_seconds: float  # the same count sent again with interval mining off
    alone_cpu_ms: float  # server CPU per transaction of that send


async def rpc(session: aiohttp.ClientSession, url: str, method: str, params: list[object]) -> object:
    async with session.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}) as r:
        reply = await r.json()
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply["result"]


async def run_clients(jobs: list[tuple[str, list[object]]], url: str, session: aiohttp.ClientSession) -> float:
    queue: asyncio.Queue[tuple[str, list[object]]] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)

    async def client() -> None:
        while not queue.empty():
            method, params = queue.get_nowait()
            await rpc(session, url, method, params)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return time.perf_counter() - started


async def timed_reads(server: Server, session: aiohttp.ClientSession, job: tuple[str, list[object]],
                      requests: int) -> tuple[float, float]:
    """(requests per second, server CPU milliseconds per request) for one read."""
    cpu = server.cpu_seconds()
    seconds = await run_clients([job] * requests, server.url, session)
    return requests / seconds, (server.cpu_seconds() - cpu) / requests * 1000


def sign_transfers(keys: list[bytes], count: int, first_nonce: int, fee_cap: int = 20 * 10**9) -> list[str]:
    txs = []
    for i in range(count):
        account = Account.from_key(keys[i % len(keys)])
        tx = {"type": 2, "chainId": CHAIN_ID, "nonce": first_nonce + i // len(keys), "gas": 21_000,
              "maxFeePerGas": fee_cap, "maxPriorityFeePerGas": 10**9,
              "to": os.urandom(20), "value": 1}
        txs.append("0x" + bytes(account.sign_transaction(tx).raw_transaction).hex())
    return txs


def token_address(deployer: str, nonce: int = 0) -> str:
    return "0x" + keccak(rlp.encode([bytes.fromhex(deployer[2:]), nonce]))[12:].hex()


def deploy_token(key: bytes) -> str:
    code = load_artifact("TestToken").bytecode + abi_encode(["uint256"], [10**30])
    deploy = Account.from_key(key).sign_transaction({
        "type": 2, "chainId": CHAIN_ID, "nonce": 0, "gas": 2_000_000, "maxFeePerGas": 20 * 10**9,
        "maxPriorityFeePerGas": 10**9, "data": code, "to": b""})
    return "0x" + bytes(deploy.raw_transaction).hex()


def sign_token_transfers(keys: list[bytes], count: int) -> list[str]:
    """ERC-20 transfers to fresh recipients, each sender moving its own token
    (deployed with its nonce 0, so these start at nonce 1)."""
    selector = keccak(b"transfer(address,uint256)")[:4]
    txs = []
    for i in range(count):
        account = Account.from_key(keys[i % len(keys)])
        data = selector + abi_encode(["address", "uint256"], ["0x" + os.urandom(20).hex(), 1 + i])
        tx = {"type": 2, "chainId": CHAIN_ID, "nonce": 1 + i // len(keys), "gas": 60_000,
              "maxFeePerGas": SUSTAINED_FEE_CAP, "maxPriorityFeePerGas": 10**9,
              "to": bytes.fromhex(token_address(account.address)[2:]), "value": 0, "data": data}
        txs.append("0x" + bytes(account.sign_transaction(tx).raw_transaction).hex())
    return txs


async def wait_for_code(session: aiohttp.ClientSession, url: str, address: str) -> None:
    while await rpc(session, url, "eth_getCode", [address, "latest"]) in ("0x", None):
        await asyncio.sleep(0.1)


async def measure(server: Server, keys: list[bytes], transfers: list[str], more: list[str], requests: int) -> Result:
    url = server.url
    connector = aiohttp.TCPConnector(limit=CLIENTS)
    async with aiohttp.ClientSession(connector=connector) as session:
        # Deploy the token used by the eth_call load (nonce 0 of the last key).
        deployer = Account.from_key(keys[-1])
        await rpc(session, url, "eth_sendRawTransaction", [deploy_token(keys[-1])])
        token = token_address(deployer.address)
        await wait_for_code(session, url, token)

        started = time.perf_counter()
        send_seconds = await run_clients([("eth_sendRawTransaction", [raw]) for raw in transfers], url, session)
        senders = [Account.from_key(k).address for k in keys[:-1]]
        per_sender = len(transfers) // len(senders)
        while True:
            counts = [int(str(await rpc(session, url, "eth_getTransactionCount", [a, "latest"])), 16) for a in senders]
            if all(c >= per_sender for c in counts):
                break
            await asyncio.sleep(0.05)
        mined_seconds = time.perf_counter() - started

        data = "0x" + (keccak(b"balanceOf(address)")[:4] + abi_encode(["address"], [deployer.address])).hex()
        call_rps, call_cpu = await timed_reads(server, session, ("eth_call", [{"to": token, "data": data}, "latest"]),
                                               requests)
        balance_rps, balance_cpu = await timed_reads(server, session, ("eth_getBalance", [senders[0], "latest"]),
                                                     requests)

        # Acceptance alone: the next transfers of the same senders with interval
        # mining off (anvil's evm_setIntervalMining 0), so no block is built while
        # they arrive; then mining goes back on.
        await rpc(session, url, "evm_setIntervalMining", [0])
        cpu = server.cpu_seconds()
        alone_seconds = await run_clients([("eth_sendRawTransaction", [raw]) for raw in more], url, session)
        alone_cpu = (server.cpu_seconds() - cpu) / len(more) * 1000
        await rpc(session, url, "evm_setIntervalMining", [1])
    return Result(send_seconds, mined_seconds, call_rps, balance_rps, call_cpu, balance_cpu, alone_seconds, alone_cpu)


def burst(args: argparse.Namespace) -> None:
    keys = dev_private_keys()
    count = args.txs - args.txs % (len(keys) - 1)
    # The last key deploys the token; transfers come from the other nine.
    transfers = sign_transfers(keys[:-1], count, 0)
    more = sign_transfers(keys[:-1], count, count // (len(keys) - 1))
    print(f"{count} pre-signed transfers, {CLIENTS} concurrent clients, 1 s blocks; "
          f"{args.requests} read requests each\n")
    results: dict[str, Result] = {}
    with run_anvil() as server:
        results["anvil"] = asyncio.run(measure(server, keys, transfers, more, args.requests))
    with run_ours() as server:
        results["ours"] = asyncio.run(measure(server, keys, transfers, more, args.requests))
    header = (f"{'system':<8}{'send s':>9}{'sent tx/s':>11}{'all mined s':>13}{'mined tx/s':>12}{'eth_call/s':>12}"
              f"{'cpu ms':>8}{'getBalance/s':>14}{'cpu ms':>8}")
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        print(f"{name:<8}{r.send_seconds:>9.2f}{count / r.send_seconds:>11.0f}{r.mined_seconds:>13.2f}"
              f"{count / r.mined_seconds:>12.0f}{r.call_rps:>12.0f}{r.call_cpu_ms:>8.3f}{r.balance_rps:>14.0f}"
              f"{r.balance_cpu_ms:>8.3f}")
    ours, anvil = results["ours"], results["anvil"]
    print(f"{'ratio':<8}{anvil.send_seconds / ours.send_seconds:>9.2f}x{'':>10}"
          f"{anvil.mined_seconds / ours.mined_seconds:>12.2f}x{'':>11}"
          f"{ours.call_rps / anvil.call_rps:>11.2f}x{anvil.call_cpu_ms / ours.call_cpu_ms:>7.2f}x"
          f"{ours.balance_rps / anvil.balance_rps:>13.2f}x{anvil.balance_cpu_ms / ours.balance_cpu_ms:>7.2f}x")
    print("(ratio: ours relative to anvil, higher is better for ours; cpu: server CPU per request)")
    print(f"\nacceptance alone ({count} more transfers, interval mining off while they arrive):")
    for name, r in results.items():
        print(f"  {name:<6} sent in {r.alone_send_seconds:.2f} s = {count / r.alone_send_seconds:.0f} tx/s; "
              f"server CPU {r.alone_cpu_ms:.3f} ms/tx")
    print(f"  ratio ours/anvil: {anvil.alone_send_seconds / ours.alone_send_seconds:.2f}x rate, "
          f"{anvil.alone_cpu_ms / ours.alone_cpu_ms:.2f}x CPU per transaction (anvil's over ours)")


# --- sustained load -------------------------------------------------------------------------


@dataclass
class Sustained:
    """One sustained run: what was mined in the measured window and how."""

    mined_per_second: float
    cap_per_second: float  # the gas-limit cap for the transactions' mean gas
    intervals: list[float]  # seconds between consecutive blocks, as a client saw them arrive
    latencies: list[float]  # send -> the block holding the transaction was seen
    cpu_ms_per_tx: float
    rss_mb: list[float]
    unmined: int  # acknowledged, still not in a block when the run ended


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def sustain(server: Server, setup: list[str], load: list[str], rate: float, duration: float,
                  block_time: float) -> Sustained:
    url = server.url
    connector = aiohttp.TCPConnector(limit=CLIENTS + 2)
    async with aiohttp.ClientSession(connector=connector) as session:
        for raw in setup:
            await rpc(session, url, "eth_sendRawTransaction", [raw])
        head = int(str(await rpc(session, url, "eth_blockNumber", [])), 16)
        while setup and int(str(await rpc(session, url, "eth_blockNumber", [])), 16) < head + 2:
            await asyncio.sleep(0.1)

        sent_at: dict[str, float] = {}
        seen_at: dict[str, float] = {}
        blocks: list[tuple[float, int, int]] = []  # (seen at, transactions, gas used)
        rss: list[float] = []
        started = time.perf_counter()
        warmup = started + 2 * block_time
        end = started + duration
        cursor = 0
        done = asyncio.Event()

        async def client() -> None:
            nonlocal cursor
            while cursor < len(load):
                i = cursor
                cursor += 1
                due = started + i / rate
                if due > end:
                    return
                if due > time.perf_counter():
                    await asyncio.sleep(due - time.perf_counter())
                sent = time.perf_counter()
                tx_hash = await rpc(session, url, "eth_sendRawTransaction", [load[i]])
                sent_at[str(tx_hash)] = sent

        async def watch() -> None:
            number = int(str(await rpc(session, url, "eth_blockNumber", [])), 16)
            while not done.is_set():
                latest = int(str(await rpc(session, url, "eth_blockNumber", [])), 16)
                now = time.perf_counter()
                for n in range(number + 1, latest + 1):
                    block = await rpc(session, url, "eth_getBlockByNumber", [hex(n), False])
                    assert isinstance(block, dict)
                    for tx_hash in block["transactions"]:
                        seen_at[tx_hash] = now
                    blocks.append((now, len(block["transactions"]), int(block["gasUsed"], 16)))
                number = latest
                await asyncio.sleep(0.02)

        async def sample() -> None:
            while not done.is_set():
                rss.append(server.rss_bytes() / 2**20)
                await asyncio.sleep(5)

        watcher = asyncio.create_task(watch())
        sampler = asyncio.create_task(sample())
        await asyncio.sleep(max(0.0, warmup - time.perf_counter()))
        cpu_start = server.cpu_seconds()
        window_start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(CLIENTS)))
        cpu_end = server.cpu_seconds()
        window_end = time.perf_counter()
        drain = time.perf_counter() + 3 * block_time + 5
        while time.perf_counter() < drain and not all(h in seen_at for h in sent_at):
            await asyncio.sleep(0.1)
        done.set()
        await asyncio.gather(watcher, sampler)

    window = [b for b in blocks if window_start <= b[0] <= window_end]
    # The rate over whole block intervals: what the blocks after the window's
    # first one hold, over the time from its arrival to the last one's (a
    # window's edges cut intervals, which counted up to a block too few or too
    # many: +-5% of a 40 s window at 2 s blocks).
    counted = window[1:]
    mined = sum(count for _, count, _ in counted)
    gas = sum(g for _, _, g in counted)
    seconds = window[-1][0] - window[0][0] if len(window) > 1 else window_end - window_start
    mean_gas = gas / mined if mined else 21_000
    intervals = [b[0] - a[0] for a, b in itertools.pairwise(window)]
    latencies = [seen_at[h] - t for h, t in sent_at.items() if h in seen_at and t >= window_start]
    return Sustained(
        mined_per_second=mined / seconds,
        cap_per_second=GAS_LIMIT / mean_gas / block_time,
        intervals=intervals,
        latencies=latencies,
        cpu_ms_per_tx=(cpu_end - cpu_start) / max(1, sum(count for _, count, _ in window)) * 1000,
        rss_mb=rss,
        unmined=sum(1 for h in sent_at if h not in seen_at),
    )


def sustained(args: argparse.Namespace) -> None:
    keys = dev_private_keys()
    gas = 21_000 if args.workload == "transfers" else 51_500  # ERC-20 transfer to a fresh holder
    rate = GAS_LIMIT / gas / args.block_time  # offer the gas-limit cap
    count = int(rate * args.sustained * 1.05) + len(keys)
    print(f"sustained {args.workload}: {args.sustained:g} s at {rate:.0f} tx/s offered (the gas-limit cap), "
          f"{args.block_time:g} s blocks, {GAS_LIMIT:,} gas, {CLIENTS} clients; signing {count:,} transactions")
    if args.workload == "transfers":
        setup, load = [], sign_transfers(keys, count, 0, SUSTAINED_FEE_CAP)
    else:
        setup, load = [deploy_token(k) for k in keys], sign_token_transfers(keys, count)
    runs: dict[str, list[Sustained]] = {"anvil": [], "ours": []}
    for _ in range(args.repeat):
        for name, start in (("anvil", run_anvil), ("ours", run_ours)):
            with start(args.block_time) as server:
                run = asyncio.run(sustain(server, setup, load, rate, args.sustained, args.block_time))
            runs[name].append(run)
            print(f"  {name:<6} mined {run.mined_per_second:7.0f} tx/s of cap {run.cap_per_second:5.0f}; "
                  f"interval p50 {percentile(run.intervals, 0.5):.2f} s max {max(run.intervals, default=0):.2f} s; "
                  f"latency p50 {percentile(run.latencies, 0.5):.2f} s p99 {percentile(run.latencies, 0.99):.2f} s; "
                  f"server CPU {run.cpu_ms_per_tx:.3f} ms/tx; RSS {min(run.rss_mb, default=0):.0f}-"
                  f"{max(run.rss_mb, default=0):.0f} MB; unmined {run.unmined}")

    def spread(values: list[float], fmt: str) -> str:
        ordered = sorted(values)
        return "/".join(format(v, fmt) for v in (ordered[0], statistics.median(ordered), ordered[-1]))

    figures = {
        "mined tx/s": (lambda r: r.mined_per_second, ".0f"),
        "of the cap": (lambda r: r.mined_per_second / r.cap_per_second, ".2f"),
        "interval p50 s": (lambda r: percentile(r.intervals, 0.5), ".2f"),
        "interval p99 s": (lambda r: percentile(r.intervals, 0.99), ".2f"),
        "latency p50 s": (lambda r: percentile(r.latencies, 0.5), ".2f"),
        "latency p99 s": (lambda r: percentile(r.latencies, 0.99), ".2f"),
        "CPU ms/tx": (lambda r: r.cpu_ms_per_tx, ".3f"),
        "RSS max MB": (lambda r: max(r.rss_mb, default=0.0), ".0f"),
    }
    print(f"\n{'figure (min/median/max)':<26}{'anvil':>22}{'ours':>22}")
    for label, (get, fmt) in figures.items():
        print(f"{label:<26}{spread([get(r) for r in runs['anvil']], fmt):>22}"
              f"{spread([get(r) for r in runs['ours']], fmt):>22}")
    med = {name: {label: statistics.median(get(r) for r in rs) for label, (get, _) in figures.items()}
           for name, rs in runs.items()}
    ours, anvil = med["ours"], med["anvil"]
    print(f"\nratio mined/cap: ours {ours['of the cap']:.2f}x (goal >= 0.95), anvil {anvil['of the cap']:.2f}x")
    print(f"ratio block interval p99 / block time: ours {ours['interval p99 s'] / args.block_time:.2f} "
          f"(goal <= 1.10), anvil {anvil['interval p99 s'] / args.block_time:.2f}")
    print(f"ratio latency p99 ours/anvil: {ours['latency p99 s'] / anvil['latency p99 s']:.2f}x (goal <= 1.5)")
    print(f"ratio server CPU per tx anvil/ours: {anvil['CPU ms/tx'] / ours['CPU ms/tx']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--txs", type=int, default=5000, help="burst mode: transfers sent at once")
    parser.add_argument("--requests", type=int, default=4000, help="burst mode: read requests of each kind")
    parser.add_argument("--sustained", type=float, default=None, metavar="SECONDS",
                        help="sustained mode: offer the gas-limit cap for this long")
    parser.add_argument("--block-time", type=float, default=2.0, help="sustained mode: seconds between blocks")
    parser.add_argument("--workload", choices=["transfers", "erc20"], default="transfers")
    parser.add_argument("--repeat", type=int, default=1, help="sustained mode: runs of each system")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.sustained is None:
        burst(args)
    else:
        sustained(args)
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
