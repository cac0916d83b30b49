"""Node processes and clients for the RPC tests: start a real
`openledger-node sequencer` on a free loopback port, wait for it by polling with a
deadline, stop it with SIGTERM (SIGKILL after a timeout); raw JSON-RPC over HTTP;
a web3 WebSocket session in a fresh event loop."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from web3 import AsyncWeb3, WebSocketProvider

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "devnet.toml"
CHAIN_ID = 161299
READY_PREFIX = "JSON-RPC: "
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
POLL = 0.02

T = TypeVar("T")

# The RPC limits of `limited_node`, small so that the tests hit them cheaply.
LIMITS = {
    "max_batch": 5,
    "max_body_bytes": 4096,
    "logs_max_block_range": 3,
    "max_subscriptions": 3,
    "max_ws_message_bytes": 2048,
}


class RpcFailure(Exception):
    """A JSON-RPC error answer, with its error object."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.error = error
        self.code = error.get("code")
        self.message = str(error.get("message"))


def wait_until(predicate: Callable[[], T], timeout: float = 15.0, what: str = "condition") -> T:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(POLL)


def post(url: str, body: bytes | str | Any, timeout: float = 30.0) -> tuple[int, bytes]:
    """POST a raw body (JSON-encoded first unless bytes or str); (HTTP status, body)."""
    if isinstance(body, str):
        data = body.encode()
    elif isinstance(body, bytes):
        data = body
    else:
        data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@dataclass
class NodeProcess:
    proc: subprocess.Popen[bytes]
    data_dir: Path
    log_path: Path
    http: str = ""
    ws: str = ""
    _ids: Iterator[int] = field(default_factory=lambda: iter(range(1, 1 << 62)))

    # --- raw JSON-RPC ------------------------------------------------------------

    def request(self, method: str, params: list[Any] | None = None) -> dict[str, Any]:
        """The whole response object of one call."""
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params or []}
        status, raw = post(self.http, body)
        assert status == 200, (status, raw)
        reply = json.loads(raw)
        assert reply["id"] == body["id"], reply
        return reply  # type: ignore[no-any-return]

    def rpc(self, method: str, *params: Any) -> Any:
        """The result of one call; an error answer raises `RpcFailure`."""
        reply = self.request(method, list(params))
        if "error" in reply:
            raise RpcFailure(reply["error"])
        return reply["result"]

    def advance_time(self, seconds: int) -> None:
        """Mine one block `seconds` after the latest block's timestamp (dev
        networks). Relative to the chain, not to the wall clock: blocks sealed
        faster than one a second run ahead of the clock, so evm_increaseTime
        alone can land short of a deadline counted from such a block."""
        latest = int(self.rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16)
        self.rpc("evm_setNextBlockTimestamp", latest + seconds)
        self.rpc("evm_mine")

    def error(self, method: str, *params: Any) -> RpcFailure:
        """The error of a call that must fail."""
        reply = self.request(method, list(params))
        assert "error" in reply, f"{method}{params} answered {reply}"
        return RpcFailure(reply["error"])

    def block_number(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)

    def wait_for_block(self, number: int, timeout: float = 15.0) -> int:
        return wait_until(lambda: self.block_number() >= number and self.block_number(), timeout, f"block {number}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    # --- lifecycle -----------------------------------------------------------------

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log_text().splitlines():
                if line.startswith(READY_PREFIX):
                    self.http = line[len(READY_PREFIX):].split()[0]
                    self.ws = "ws://" + self.http.removeprefix("http://")
                    return
            if self.proc.poll() is not None:
                raise RuntimeError(f"node exited with {self.proc.returncode} before serving:\n{self.log_text()}")
            time.sleep(POLL)
        self.stop()
        raise RuntimeError(f"node not ready after {timeout}s:\n{self.log_text()}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
        return int(self.proc.returncode)


def node_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a node process: ours without OPENLEDGER__ overrides, plus `env`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("OPENLEDGER__")}
    base["PYTHONUNBUFFERED"] = "1"
    base.update(env or {})
    return base


def start_node(
    data_dir: Path,
    *,
    block_time: float = 0.25,
    mode: str = "interval",
    env: dict[str, str] | None = None,
    init: bool = False,
    command: str = "sequencer",
) -> NodeProcess:
    """Start a node (a sequencer, or `command`) on a free loopback port and wait
    until it serves."""
    data_dir.mkdir(parents=True, exist_ok=True)
    environ = node_env(env)
    common = ["--config", str(CONFIG), "--data-dir", str(data_dir)]
    cli = [sys.executable, "-m", "node.cli"]
    if init:
        subprocess.run([*cli, "init", *common], cwd=REPO, env=environ, check=True, capture_output=True, timeout=60)
    log_path = data_dir.parent / f"{data_dir.name}.log"
    with open(log_path, "wb") as log:
        sequencer_only = ["--block-time", str(block_time), "--mode", mode] if command == "sequencer" else []
        proc = subprocess.Popen(
            [*cli, command, *common, "--rpc-port", "0", "--rpc-host", "127.0.0.1", *sequencer_only],
            cwd=REPO, env=environ, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    node = NodeProcess(proc, data_dir, log_path)
    try:
        node.wait_ready()
    except BaseException:
        node.stop()
        raise
    return node


def run_ws(url: str, body: Callable[[AsyncWeb3[Any]], Awaitable[T]], timeout: float = 30.0) -> T:
    """Run `body(w3)` with a web3 WebSocket client connected to `url`, in a fresh event loop."""

    async def main() -> T:
        async with AsyncWeb3(WebSocketProvider(url)) as aw3:
            return await asyncio.wait_for(body(aw3), timeout)

    return asyncio.run(main())
