"""The driver loop of a block producer (the sequencer's builder, the L1 node's
producer): when to build a block.

`interval` mode builds one block every `block_time` seconds (empty or not), on a
fixed schedule that skips missed ticks instead of bursting to catch up. `instant`
mode builds a block as soon as a transaction becomes pending, for development.
A block takes transactions for at most `build_time_fraction` of the block time,
so that a full pool does not make blocks late: what does not fit waits.
Each build runs through the core's `StepRunner`: a temporary error is retried
(with backoff, at most until the next tick), a reset error re-reads the chain
head, a critical one (storage) stops the loop and is kept in `failure` for the
node to report, since every later block would depend on it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from openledger_node.exceptions import CriticalError
from openledger_node.service import StepRunner

log = logging.getLogger("openledger.sequencer")


class Producer(Protocol):
    def build_block(self, timestamp: int | None = None, deadline: float | None = None) -> object: ...


class SequencerDriver:
    def __init__(
        self,
        builder: Producer,
        mode: str,
        block_time: float,
        subscribe_pending: Callable[[Callable[[bytes], None]], Callable[[], None]] | None = None,
        build_time_fraction: float = 0.5,
        name: str = "sequencer",
    ) -> None:
        if mode not in ("interval", "instant"):
            raise ValueError(f"unknown {name} mode {mode!r}")
        self.builder = builder
        self.name = name
        self.mode = mode
        self.block_time = block_time
        self.build_time = block_time * build_time_fraction
        self.runner = StepRunner(name, logging.getLogger(f"openledger.{name}"))
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._subscribe = subscribe_pending
        self.failure: BaseException | None = None

    def start(self) -> None:
        if self.mode == "instant" and self._subscribe is not None:
            self._unsubscribe = self._subscribe(lambda _hash: self._wake.set())
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
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
        except CriticalError as exc:
            self.failure = exc

    def _build(self) -> float:
        """Build one block, taking transactions for at most its share of the
        block time; the delay before a retry when it failed, else 0."""
        deadline = time.monotonic() + self.build_time
        return self.runner.run(lambda: self.builder.build_block(deadline=deadline))

    def _run_interval(self) -> None:
        next_tick = time.monotonic() + self.block_time
        while not self._stop.is_set():
            delay = next_tick - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                return
            retry = self._build()
            next_tick += self.block_time
            now = time.monotonic()
            if next_tick < now:
                next_tick = now + self.block_time
            if retry:  # retry sooner than the next tick, never later
                next_tick = min(next_tick, now + retry)

    def _run_instant(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.block_time)
            if self._stop.is_set():
                return
            if self._wake.is_set():
                self._wake.clear()
                retry = self._build()
                if retry:
                    self._wake.set()
                    self._stop.wait(retry)
