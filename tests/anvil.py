"""anvil (npm @foundry-rs/anvil) as the reference L1 of the contract tests: one
launcher for every suite, in automine mode on a free loopback port."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from tests.conformance.endpoints import foundry_binary
from tests.processes import stop_process_group

ANVIL_MISSING = "node_modules/.bin/anvil is missing: run `npm ci` in the repository root"


def start_anvil(log_path: Path, extra_args: Sequence[str] = ()) -> tuple[subprocess.Popen[bytes], str]:
    """Start anvil (port 0, so the OS picks a free one) and return it with its URL."""
    binary = foundry_binary("anvil")
    if not binary.exists():
        pytest.skip(ANVIL_MISSING)
    log = log_path.open("wb")
    process = subprocess.Popen(
        [str(binary), "--port", "0", "--host", "127.0.0.1", *extra_args],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    log.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        match = re.search(r"Listening on 127\.0\.0\.1:(\d+)", log_path.read_text(errors="replace"))
        if match:
            return process, f"http://127.0.0.1:{match.group(1)}"
        if process.poll() is not None:
            break
        time.sleep(0.05)
    stop_anvil(process)
    raise RuntimeError(f"anvil did not start:\n{log_path.read_text(errors='replace')[-4000:]}")


def stop_anvil(process: subprocess.Popen[bytes]) -> None:
    stop_process_group(process)  # its own group: the npm launcher and anvil


class AnvilControl:
    """anvil's test controls (snapshots and time) for an environment holding `w3`."""

    w3: Web3

    def rpc(self, method: str, *params: Any) -> Any:
        response = self.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
        if "error" in response:
            raise RuntimeError(f"{method}: {response['error']}")
        return response["result"]

    def snapshot(self) -> str:
        return str(self.rpc("evm_snapshot"))

    def revert(self, snapshot: str) -> None:
        assert self.rpc("evm_revert", snapshot) is True

    def now(self) -> int:
        """Timestamp of the latest block (what eth_call sees)."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def at(self, timestamp: int) -> None:
        """The next mined block (and so the next transaction) gets ``timestamp``."""
        self.rpc("evm_setNextBlockTimestamp", timestamp)

    def mine_at(self, timestamp: int) -> None:
        self.at(timestamp)
        self.rpc("evm_mine")

    def advance(self, seconds: int) -> None:
        self.rpc("evm_increaseTime", seconds)
        self.rpc("evm_mine")
