"""An anvil L1 per test, with the controls the L1 client and transaction manager
tests need (mining, automine, base fee, reorgs), and an L1 client that records
what it sends and sees."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bridge.l1 import L1Client, Receipt
from openledger_node.primitives import Hash32
from tests.anvil import start_anvil, stop_anvil

ANVIL_CHAIN_ID = 31337


@dataclass
class Anvil:
    url: str
    _ids: Iterator[int] = field(default_factory=lambda: iter(range(1, 1 << 62)))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def rpc(self, method: str, *params: Any) -> Any:
        with self._lock:
            request_id = next(self._ids)
        body = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)}).encode()
        request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            reply = json.loads(response.read())
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def head(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)

    def mine(self, blocks: int = 1) -> None:
        for _ in range(blocks):
            self.rpc("evm_mine")

    def automine(self, on: bool) -> None:
        self.rpc("evm_setAutomine", on)

    def nonce(self, address: bytes, block: str = "latest") -> int:
        return int(self.rpc("eth_getTransactionCount", "0x" + address.hex(), block), 16)

    def transaction(self, tx_hash: bytes) -> dict[str, Any]:
        tx = self.rpc("eth_getTransactionByHash", "0x" + tx_hash.hex())
        assert tx is not None, f"unknown transaction 0x{tx_hash.hex()}"
        return tx  # type: ignore[no-any-return]

    def block_hash(self, number: int) -> str:
        return str(self.rpc("eth_getBlockByNumber", hex(number), False)["hash"])

    @contextmanager
    def mining(self, interval: float = 0.05) -> Iterator[None]:
        """Mine a block every `interval` seconds in a helper thread."""
        stop = threading.Event()

        def run() -> None:
            while not stop.wait(interval):
                self.mine()

        thread = threading.Thread(target=run, name="anvil-miner", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(5)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class RecordingClient(L1Client):
    """An L1 client that keeps every raw transaction it sends and every receipt it
    returns, so tests can see what the manager did on the wire."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.sent: list[bytes] = []
        self.receipts: list[Receipt] = []
        self._record = threading.Lock()

    def send_raw_transaction(self, raw: bytes) -> Hash32:
        with self._record:
            self.sent.append(raw)
        return super().send_raw_transaction(raw)

    def receipt(self, tx_hash: Hash32) -> Receipt | None:
        receipt = super().receipt(tx_hash)
        if receipt is not None:
            with self._record:
                self.receipts.append(receipt)
        return receipt


@pytest.fixture()
def start_l1(tmp_path: Path) -> Iterator[Callable[..., Anvil]]:
    """Start an anvil (automine, chain id 31337) with extra arguments; stopped after the test."""
    processes = []

    def start(*args: str) -> Anvil:
        process, url = start_anvil(tmp_path / f"anvil-{len(processes)}.log", args)
        processes.append(process)
        return Anvil(url)

    yield start
    for process in processes:
        stop_anvil(process)


@pytest.fixture()
def anvil_l1(start_l1: Callable[..., Anvil]) -> Anvil:
    return start_l1()
