"""JSON-RPC reads: server CPU and wall time per request, our node beside anvil.

Both nodes run at once on loopback (1 s blocks, the same chain id), with an
ERC-20 token deployed on each; then each read below is sent N times by 8
concurrent HTTP clients, to one system and then the other, for `--repeat`
rounds. Per request it reports the server's CPU time (its whole process tree)
and the wall time per request (the inverse of requests per second), min /
median / max over the rounds, and the ratio anvil/ours of the medians (1.0x:
as cheap as anvil; higher is better for ours). The machine's load average is
printed at the start and at the end: on a shared machine compare the ratios of
one run, never absolute figures across runs.

Reads: `eth_call` (the token's `balanceOf`), `eth_getBalance`,
`eth_getStorageAt` (the token's total supply slot), `eth_getCode`,
`eth_blockNumber` (almost nothing but the web layer and dispatch) and a batch
of 10 `eth_getBalance` (per call inside the batch).

`--before TREE`: also run our node from another checkout (an earlier commit,
extracted with `git archive`) as a third system, for before/after figures
measured in the same run; the last column is then its CPU over ours.

`--profile DIR`: after the measured rounds, record our node with py-spy
while it answers one more round of each read: collapsed stacks of the thread
holding the GIL (where the Python CPU goes), one file per read in DIR.

Usage: python bench/rpc_reads.py [--requests 2000] [--repeat 3] [--before TREE] [--profile DIR]
Needs anvil from npm (`npm ci` installs it into node_modules/.bin).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_hash.auto import keccak

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.rpc_load import (
    CLIENTS,
    Server,
    deploy_token,
    free_port,
    rpc,
    run_anvil,
    run_ours,
    serving,
    token_address,
    wait_for_code,
)
from openledger_node.execution.genesis import dev_private_keys

BATCH = 10


@dataclass(frozen=True)
class Read:
    name: str
    body: Any  # the JSON request (an object, or a list for a batch)
    calls: int  # calls per request: a batch counts each of its calls


def reads(token: str, holder: str) -> list[Read]:
    data = "0x" + (keccak(b"balanceOf(address)")[:4] + abi_encode(["address"], [holder])).hex()

    def call(method: str, params: list[Any]) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}

    batch = [dict(call("eth_getBalance", [holder, "latest"]), id=i) for i in range(BATCH)]
    return [
        Read("eth_call", call("eth_call", [{"to": token, "data": data}, "latest"]), 1),
        Read("eth_getBalance", call("eth_getBalance", [holder, "latest"]), 1),
        Read("eth_getStorageAt", call("eth_getStorageAt", [token, "0x2", "latest"]), 1),
        Read("eth_getCode", call("eth_getCode", [token, "latest"]), 1),
        Read("eth_blockNumber", call("eth_blockNumber", []), 1),
        Read(f"batch of {BATCH} eth_getBalance", batch, BATCH),
    ]


@contextmanager
def run_tree(tree: Path) -> Iterator[Server]:
    """Our node as another checkout has it, with this one's interpreter and
    packages: the same configuration as `run_ours`."""
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(tree), OPENLEDGER__LOG__LEVEL="warning")
    with tempfile.TemporaryDirectory() as data_dir, serving(
            [sys.executable, "-m", "node.cli", "sequencer", "--config", str(tree / "configs" / "devnet.toml"),
             "--data-dir", data_dir, "--block-time", "1", "--rpc-port", str(port)], port, env, cwd=tree) as server:
        yield server


async def send(session: aiohttp.ClientSession, url: str, body: Any) -> None:
    async with session.post(url, json=body) as response:
        reply = await response.json()
    for item in reply if isinstance(reply, list) else [reply]:
        if "error" in item:
            raise RuntimeError(f"{body}: {item['error']}")


async def load(session: aiohttp.ClientSession, url: str, body: Any, requests: int) -> float:
    """Send `body` `requests` times from CLIENTS concurrent clients; seconds taken."""
    remaining = requests

    async def client() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await send(session, url, body)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return time.perf_counter() - started


@dataclass
class Sample:
    cpu_ms: float  # server CPU per call
    wall_ms: float  # wall time per call (1000 / calls per second)


async def measure(server: Server, session: aiohttp.ClientSession, read: Read, requests: int) -> Sample:
    await load(session, server.url, read.body, max(1, requests // 20))  # warm: caches, connections
    cpu = server.cpu_seconds()
    seconds = await load(session, server.url, read.body, requests)
    calls = requests * read.calls
    return Sample((server.cpu_seconds() - cpu) / calls * 1000, seconds / calls * 1000)


async def deploy(server: Server, session: aiohttp.ClientSession, key: bytes) -> str:
    await rpc(session, server.url, "eth_sendRawTransaction", [deploy_token(key)])
    token = token_address(Account.from_key(key).address)
    await wait_for_code(session, server.url, token)
    return token


def spread(values: list[float]) -> str:
    ordered = sorted(values)
    return f"{ordered[0]:.3f}/{statistics.median(ordered):.3f}/{ordered[-1]:.3f}"


async def bench(args: argparse.Namespace, servers: dict[str, Server]) -> None:
    key = dev_private_keys()[-1]
    holder = Account.from_key(key).address
    samples: dict[tuple[str, str], list[Sample]] = {}
    connector = aiohttp.TCPConnector(limit=CLIENTS * len(servers))
    async with aiohttp.ClientSession(connector=connector) as session:
        tokens = {name: await deploy(server, session, key) for name, server in servers.items()}
        assert len(set(tokens.values())) == 1, tokens  # the same deployer and nonce: the same address
        workload = reads(next(iter(tokens.values())), holder)
        for round_ in range(args.repeat):
            for read in workload:
                # Alternate which system goes first, so that neither always
                # follows the other's load.
                order = list(servers.items()) if round_ % 2 == 0 else list(servers.items())[::-1]
                for name, server in order:
                    samples.setdefault((read.name, name), []).append(
                        await measure(server, session, read, args.requests))
        if args.profile:
            await profile(servers["ours"], session, workload, args)

    names = list(servers)
    width = max(len(read.name) for read in workload) + 2
    cpu_title = f"server CPU ms per call, min/median/max of {args.repeat} rounds of {args.requests} requests"
    for figure, title in (("cpu_ms", cpu_title),
                          ("wall_ms", f"wall ms per call ({CLIENTS} clients), min/median/max")):
        print(f"\n{title}")
        header = f"{'read':<{width}}" + "".join(f"{name:>22}" for name in names) + f"{'anvil/ours':>12}"
        if "before" in servers:
            header += f"{'before/ours':>13}"
        print(header + "\n" + "-" * len(header))
        for read in workload:
            values = {name: [getattr(s, figure) for s in samples[(read.name, name)]] for name in names}
            median = {name: statistics.median(v) for name, v in values.items()}
            line = f"{read.name:<{width}}" + "".join(f"{spread(values[name]):>22}" for name in names)
            line += f"{median['anvil'] / median['ours']:>11.2f}x"
            if "before" in servers:
                line += f"{median['before'] / median['ours']:>12.2f}x"
            print(line)


async def profile(server: Server, session: aiohttp.ClientSession, workload: list[Read],
                  args: argparse.Namespace) -> None:
    """One more round of each read on our node under py-spy (collapsed stacks)."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out = Path(args.profile)
    out.mkdir(parents=True, exist_ok=True)
    for read in workload:
        path = out / (read.name.replace(" ", "_") + ".txt")
        recorder = await asyncio.create_subprocess_exec(
            py_spy, "record", "--pid", str(server.process.pid), "--format", "raw", "--output", str(path),
            "--threads", "--gil", "--rate", "500", "--nonblocking",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        await asyncio.sleep(1)  # py-spy attaches
        await load(session, server.url, read.body, args.requests)
        recorder.send_signal(signal.SIGINT)  # py-spy writes what it has and exits
        await recorder.wait()
        print(f"profile of {read.name}: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per read per round")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (each read on each system once a round)")
    parser.add_argument("--before", metavar="TREE", help="also run our node from this checkout, as 'before'")
    parser.add_argument("--profile", metavar="DIR", help="record our node with py-spy afterwards, into DIR")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{CLIENTS} concurrent clients; {args.requests} requests per read per round, {args.repeat} rounds")
    with ExitStack() as stack:
        servers = {"anvil": stack.enter_context(run_anvil()), "ours": stack.enter_context(run_ours())}
        if args.before:
            servers["before"] = stack.enter_context(run_tree(Path(args.before).resolve()))
        asyncio.run(bench(args, servers))
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
