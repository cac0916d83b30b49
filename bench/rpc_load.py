"""JSON-RPC load: our node against anvil, the same load in the same run.

Both nodes run on loopback with the same block time (1 s) and chain id. The load:
(a) N pre-signed EIP-1559 transfers from the ten dev accounts, sent with 8
concurrent clients: time to send them all (accepted tx/s) and time from the first
send until every one has a receipt; (b) `eth_call` (an ERC-20 `balanceOf`) and
`eth_getBalance` requests per second with 8 concurrent clients.

Usage: python bench/rpc_load.py [--txs 5000] [--requests 4000]
Needs anvil from npm (`npm ci` installs it into node_modules/.bin).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_hash.auto import keccak

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from contracts import load_artifact  # noqa: E402
from openledger_node.execution.genesis import dev_private_keys  # noqa: E402

CHAIN_ID = 161299
CLIENTS = 8


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


@contextmanager
def serving(argv: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run a node process on `port` until the block exits; yield its URL once it answers."""
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


@contextmanager
def run_anvil() -> Iterator[str]:
    port = free_port()
    binary = REPO / "node_modules" / ".bin" / "anvil"
    with serving([str(binary), "--port", str(port), "--chain-id", str(CHAIN_ID), "--block-time", "1", "--silent"],
                 port) as url:
        yield url


@contextmanager
def run_ours() -> Iterator[str]:
    port = free_port()
    env = dict(os.environ, OPENLEDGER__TXPOOL__GLOBAL_SLOTS="50000", OPENLEDGER__TXPOOL__ACCOUNT_SLOTS="50000",
               OPENLEDGER__LOG__LEVEL="warning")
    with tempfile.TemporaryDirectory() as data_dir, serving(
        [sys.executable, "-m", "node.cli", "sequencer", "--config", "configs/devnet.toml",
         "--data-dir", data_dir, "--block-time", "1", "--rpc-port", str(port)],
        port,
        env,
    ) as url:
        yield url


@dataclass
class Result:
    send_seconds: float
    mined_seconds: float
    call_rps: float
    balance_rps: float


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


def sign_transfers(keys: list[bytes], count: int, first_nonce: int) -> list[str]:
    txs = []
    for i in range(count):
        account = Account.from_key(keys[i % len(keys)])
        tx = {"type": 2, "chainId": CHAIN_ID, "nonce": first_nonce + i // len(keys), "gas": 21_000,
              "maxFeePerGas": 20 * 10**9, "maxPriorityFeePerGas": 10**9,
              "to": os.urandom(20), "value": 1}
        txs.append("0x" + bytes(account.sign_transaction(tx).raw_transaction).hex())
    return txs


async def measure(url: str, keys: list[bytes], transfers: list[str], requests: int) -> Result:
    connector = aiohttp.TCPConnector(limit=CLIENTS)
    async with aiohttp.ClientSession(connector=connector) as session:
        # Deploy the token used by the eth_call load (nonce 0 of the last key).
        deployer = Account.from_key(keys[-1])
        code = load_artifact("TestToken").bytecode + abi_encode(["uint256"], [10**30])
        deploy = deployer.sign_transaction({"type": 2, "chainId": CHAIN_ID, "nonce": 0, "gas": 2_000_000,
                                            "maxFeePerGas": 20 * 10**9, "maxPriorityFeePerGas": 10**9,
                                            "data": code, "to": b""})
        await rpc(session, url, "eth_sendRawTransaction", ["0x" + bytes(deploy.raw_transaction).hex()])
        token = "0x" + keccak(b"\xd6\x94" + bytes.fromhex(deployer.address[2:]) + b"\x80")[12:].hex()
        while await rpc(session, url, "eth_getCode", [token, "latest"]) in ("0x", None):
            await asyncio.sleep(0.1)

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
        call_job = ("eth_call", [{"to": token, "data": data}, "latest"])
        call_seconds = await run_clients([call_job] * requests, url, session)
        balance_job = ("eth_getBalance", [senders[0], "latest"])
        balance_seconds = await run_clients([balance_job] * requests, url, session)
    return Result(send_seconds, mined_seconds, requests / call_seconds, requests / balance_seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--txs", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=4000)
    args = parser.parse_args()
    keys = dev_private_keys()
    count = args.txs - args.txs % (len(keys) - 1)
    # The last key deploys the token; transfers come from the other nine.
    transfers = sign_transfers(keys[:-1], count, 0)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{count} pre-signed transfers, {CLIENTS} concurrent clients, 1 s blocks; "
          f"{args.requests} read requests each\n")
    results: dict[str, Result] = {}
    with run_anvil() as url:
        results["anvil"] = asyncio.run(measure(url, keys, transfers, args.requests))
    with run_ours() as url:
        results["ours"] = asyncio.run(measure(url, keys, transfers, args.requests))
    header = f"{'system':<8}{'send s':>9}{'sent tx/s':>11}{'all mined s':>13}{'mined tx/s':>12}{'eth_call/s':>12}{'getBalance/s':>14}"
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        print(f"{name:<8}{r.send_seconds:>9.2f}{count / r.send_seconds:>11.0f}{r.mined_seconds:>13.2f}"
              f"{count / r.mined_seconds:>12.0f}{r.call_rps:>12.0f}{r.balance_rps:>14.0f}")
    ours, anvil = results["ours"], results["anvil"]
    print(f"{'ratio':<8}{anvil.send_seconds / ours.send_seconds:>9.2f}x{'':>10}"
          f"{anvil.mined_seconds / ours.mined_seconds:>12.2f}x{'':>11}"
          f"{ours.call_rps / anvil.call_rps:>11.2f}x{ours.balance_rps / anvil.balance_rps:>13.2f}x")
    print("(ratio: ours relative to anvil, higher is better for ours)")


if __name__ == "__main__":
    main()
