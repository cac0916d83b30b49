"""JSON-RPC endpoints for the conformance and toolchain tests: our sequencer and
anvil (the reference node), each started as a subprocess on a free loopback
port, plus a raw JSON-RPC client that returns the whole response object so that
tests can compare results and errors exactly as they go over the wire.

Both processes are asked for port 0 and print the port they bound, so there is
no race between picking a free port and binding it.
"""

from __future__ import annotations

import json
import platform
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openledger_node.execution.genesis import dev_private_keys
from tests.processes import stop_process_group

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / "node_modules" / ".bin"
ANVIL = BIN / "anvil"
CAST = BIN / "cast"
_PLATFORMS = {("linux", "x86_64"): "linux-amd64", ("linux", "aarch64"): "linux-arm64",
              ("darwin", "x86_64"): "darwin-amd64", ("darwin", "arm64"): "darwin-arm64",
              ("win32", "AMD64"): "win32-amd64"}


def foundry_binary(tool: str) -> Path:
    """The native Foundry binary that npm installed from @foundry-rs/<tool>-<platform>.

    node_modules/.bin/<tool> is a Node.js launcher that exits 0 even when the tool
    fails (1.7.1 does not pass the child's exit status on), so tests run the binary
    itself and fall back to the launcher only where the layout is unknown."""
    suffix = _PLATFORMS.get((sys.platform, platform.machine()))
    if suffix is not None:
        exe = tool + (".exe" if sys.platform == "win32" else "")
        native = REPO / "node_modules" / "@foundry-rs" / f"{tool}-{suffix}" / "bin" / exe
        if native.exists():
            return native
    return BIN / tool
CHAIN_ID = 161299
BLOCK_TIME = 1
START_TIMEOUT = 60.0

# anvil's default accounts are our devnet's funded accounts (the public test mnemonic).
DEV_KEYS = ["0x" + bytes(key).hex() for key in dev_private_keys()]

ANVIL_MISSING = (
    "node_modules/.bin/anvil is missing: run `npm ci` in the repository root "
    "(make test does) to install the pinned Foundry and ethers devDependencies"
)


class RpcClient:
    """A minimal JSON-RPC 2.0 client over HTTP that keeps errors as data."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._ids = iter(range(1, 1 << 62))
        self._lock = threading.Lock()

    def post(self, payload: Any, timeout: float = 30.0) -> Any:
        return self.post_raw(json.dumps(payload).encode(), timeout)[1]

    def post_raw(self, body: bytes, timeout: float = 30.0) -> tuple[int, Any]:
        """(HTTP status, decoded body or None when the body is empty)."""
        request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, text = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read()
        return status, (json.loads(text) if text.strip() else None)

    def request(self, method: str, *params: Any) -> dict[str, Any]:
        """The full response object: {"result": ...} or {"error": {...}}."""
        with self._lock:
            request_id = next(self._ids)
        reply = self.post({"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)})
        assert isinstance(reply, dict) and reply.get("id") == request_id, reply
        return reply

    def call(self, method: str, *params: Any) -> Any:
        """The result; raises RpcFailure on an error response."""
        reply = self.request(method, *params)
        if "error" in reply:
            raise RpcFailure(method, reply["error"])
        return reply["result"]

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
        payload = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        replies = self.post(payload)
        by_id = {r["id"]: r for r in replies}
        return [by_id[i] for i in range(len(calls))]

    def wait_for_receipt(self, tx_hash: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            receipt = self.call("eth_getTransactionReceipt", tx_hash)
            if receipt is not None:
                return receipt  # type: ignore[no-any-return]
            time.sleep(0.1)
        raise TimeoutError(f"{self.url}: no receipt for {tx_hash} after {timeout}s")

    def wait_for_next_block(self, timeout: float = 10.0) -> int:
        """Block until the head advances; returns the new head number. Sending
        right after a block gives a whole block time for a batch to land together."""
        start = int(self.call("eth_blockNumber"), 16)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            number = int(self.call("eth_blockNumber"), 16)
            if number > start:
                return number
            time.sleep(0.02)
        raise TimeoutError(f"{self.url}: head stuck at {start}")


class RpcFailure(Exception):
    def __init__(self, method: str, error: dict[str, Any]) -> None:
        super().__init__(f"{method}: {error}")
        self.error = error


@dataclass
class Endpoint:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    rpc: RpcClient = field(init=False)

    def __post_init__(self) -> None:
        self.rpc = RpcClient(self.url)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _start(name: str, argv: list[str], log_path: Path, pattern: str, cwd: Path) -> Endpoint:
    log = log_path.open("wb")
    process = subprocess.Popen(
        argv, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
    )
    log.close()
    deadline = time.monotonic() + START_TIMEOUT
    regex = re.compile(pattern)
    while time.monotonic() < deadline:
        match = regex.search(log_path.read_text(errors="replace"))
        if match:
            endpoint = Endpoint(name, f"http://127.0.0.1:{match.group(1)}", process, log_path)
            endpoint.rpc.call("eth_chainId")
            return endpoint
        if process.poll() is not None:
            break
        time.sleep(0.05)
    _stop(process)
    raise RuntimeError(f"{name} did not start; its output:\n{log_path.read_text(errors='replace')[-4000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    # The anvil/cast launchers are Node.js wrappers around the native binary; the
    # process group (our own, from start_new_session) takes both down.
    stop_process_group(process)


@contextmanager
def anvil(tmp: Path, block_time: int | None = BLOCK_TIME, *options: str) -> Iterator[Endpoint]:
    """anvil on a free port: a block every `block_time` seconds, or one per
    transaction (automine, as our `instant` mode) when it is None."""
    argv = [str(foundry_binary("anvil")), "--chain-id", str(CHAIN_ID), "--port", "0", "--host", "127.0.0.1",
            *(["--block-time", str(block_time)] if block_time is not None else []), *options]
    endpoint = _start("anvil", argv, tmp / "anvil.log", r"Listening on 127\.0\.0\.1:(\d+)", tmp)
    try:
        yield endpoint
    finally:
        _stop(endpoint.process)


@contextmanager
def openledger(tmp: Path, block_time: int = BLOCK_TIME, mode: str = "interval") -> Iterator[Endpoint]:
    argv = [sys.executable, "-m", "node.cli", "sequencer", "--config", "configs/devnet.toml",
            "--data-dir", str(tmp / "data"), "--rpc-port", "0", "--block-time", str(block_time), "--mode", mode]
    endpoint = _start("openledger", argv, tmp / "openledger.log", r"JSON-RPC: http://127\.0\.0\.1:(\d+)", REPO)
    try:
        yield endpoint
    finally:
        _stop(endpoint.process)
