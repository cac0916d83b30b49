"""The sequencer's driver loop: when to build a block.

`interval` mode builds one block every `block_time` seconds (empty or not), on a
fixed schedule that skips missed ticks instead of bursting to catch up. `instant`
mode builds a block as soon as a transaction becomes pending, for development.
Errors while building are logged and retried at the next tick; a storage error is
critical and stops the loop, since every later block would depend on it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from openledger_node.exceptions import StorageError
from sequencer.builder import BlockBuilder

log = logging.getLogger("openledger.sequencer")


class SequencerDriver:
    def __init__(
        self,
        builder: BlockBuilder,
        mode: str,
        block_time: float,
        subscribe_pending: Callable[[Callable[[bytes], None]], Callable[[], None]] | None = None,
    ) -> None:
        if mode not in ("interval", "instant"):
            raise ValueError(f"unknown sequencer mode {mode!r}")
        self.builder = builder
        self.mode = mode
        self.block_time = block_time
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._subscribe = subscribe_pending
        self.failure: BaseException | None = None

    def start(self) -> None:
        if self.mode == "instant" and self._subscribe is not None:
            self._unsubscribe = self._subscribe(lambda _hash: self._wake.set())
        self._thread = threading.Thread(target=self._run, name="sequencer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the block in progress, if any, is stored."""
        self._stop.set()
        self._wake.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        try:
            if self.mode == "interval":
                self._run_interval()
            else:
                self._run_instant()
        except StorageError as exc:
            self.failure = exc
            log.critical("sequencer stopped: %s", exc)

    def _build(self) -> None:
        try:
            self.builder.build_block()
        except StorageError:
            raise
        except Exception:  # a bad block attempt must not end the loop
            log.exception("block building failed; retrying at the next tick")

    def _run_interval(self) -> None:
        next_tick = time.monotonic() + self.block_time
        while not self._stop.is_set():
            delay = next_tick - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                return
            self._build()
            next_tick += self.block_time
            now = time.monotonic()
            if next_tick < now:
                next_tick = now + self.block_time

    def _run_instant(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.block_time)
            if self._stop.is_set():
                return
            if self._wake.is_set():
                self._wake.clear()
                self._build()
