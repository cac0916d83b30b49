"""anvil (npm @foundry-rs/anvil) as the reference L1 of the contract tests: one
launcher for every suite, in automine mode on a free loopback port."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.conformance.endpoints import foundry_binary

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
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)  # its own group: the npm launcher and anvil
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)
