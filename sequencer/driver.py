"""The driver loop of a block producer (the sequencer's builder, the L1 node's
producer): when to build a block.

`interval` mode builds one block every `block_time` seconds (empty or not), on a
fixed schedule of ticks, each the time a block is due: its build starts early
enough to take transactions for `build_time` and seal by the tick (the block
carries the tick's timestamp), as op-node asks op-geth for a payload ahead of
its slot, so that a full block appears on time rather than a sealing time
late. The sealing time is learned from the builds that filled up to their
deadline. A build that overruns its tick (sealing a full block while the node
serves heavy RPC traffic) is followed at once by the next one, whose tick has
passed; the ticks missed beyond that one are skipped, not built in a burst,
and the schedule continues from there. `instant`
mode (anvil's automine) builds a block as soon as a transaction becomes pending,
and `submit` answers only once that block is sealed, so a client that asks for
the receipt right after sending finds it. `manual` builds nothing on its own
(blocks come from `evm_mine`). On a dev network the mode changes at run time
(`evm_setAutomine`, `evm_setIntervalMining`).
A block takes transactions for at most `build_time_fraction` of the block time,
so that a full pool does not make blocks late: what does not fit waits; a
build that starts late (its tick is close or past) still takes them for at
least `MIN_FILL` of that time.
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

MODES = ("interval", "instant", "manual")
# The longest `submit` waits for the block of a transaction before it answers
# anyway (the transaction stays pooled): a stuck build must not hang clients.
SEAL_WAIT = 30.0
# The least share of `build_time` a build takes transactions for, however late it starts.
MIN_FILL = 0.25
# The sealing time a schedule assumes before it has seen one, as a share of the
# block time; and the head room kept above the sealing times seen.
FIRST_SEAL_SHARE = 0.1
SEAL_HEADROOM = 1.25


class Producer(Protocol):
    """Builds and stores the next block; what it returns may carry `seconds`,
    the build's own time (without waiting for the block's time), which the
    schedule learns the sealing time from."""

    def build_block(
        self, timestamp: int | None = None, deadline: float | None = None, lead: float = 0.0
    ) -> object: ...


class SequencerDriver:
    def __init__(
        self,
        builder: Producer,
        mode: str,
        block_time: float,
        subscribe_pending: Callable[[Callable[[bytes], None]], Callable[[], None]] | None = None,
        build_time_fraction: float = 0.7,
        name: str = "sequencer",
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown {name} mode {mode!r}")
        self.builder = builder
        self.name = name
        self.mode = mode
        self.block_time = block_time
        self.build_time_fraction = build_time_fraction
        self.runner = StepRunner(name, logging.getLogger(f"openledger.{name}"))
        self._stop = threading.Event()
        self._wake = threading.Event()  # a transaction arrived, the mode changed, or stop
        self._arrived = False
        self._next_tick: float | None = None
        self._seal_time: float | None = None  # learned: seconds from the fill deadline to the block stored
        self._thread: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._subscribe = subscribe_pending
        self.failure: BaseException | None = None
        # Builds started and finished by the loop; `submit` waits on them.
        self._sealed = threading.Condition()
        self._started = 0
        self._finished = 0
        self._local = threading.local()

    @property
    def build_time(self) -> float:
        return self.block_time * self.build_time_fraction

    def start(self) -> None:
        if self._thread is not None:
            return
        if self._subscribe is not None:
            self._unsubscribe = self._subscribe(self._on_pending)
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the block in progress, if any, is stored."""
        self._stop.set()
        self._wake.set()
        with self._sealed:
            self._sealed.notify_all()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # --- dev-mode controls ------------------------------------------------------

    @property
    def automine(self) -> bool:
        return self.mode == "instant"

    def set_automine(self, enabled: bool) -> None:
        """anvil's evm_setAutomine: a block per transaction, or no block on its own."""
        self._set_mode("instant" if enabled else "manual")

    def set_interval(self, seconds: float) -> None:
        """anvil's evm_setIntervalMining: a block every `seconds`; 0 mines no block on its own."""
        if seconds > 0:
            self.block_time = seconds
            self._set_mode("interval")
        else:
            self._set_mode("manual")

    def _set_mode(self, mode: str) -> None:
        self.mode = mode
        self._next_tick = None
        with self._sealed:
            self._sealed.notify_all()  # a waiter in `submit` stops waiting when automine is off
        self._wake.set()
        if not self._stop.is_set():
            self.start()  # a node started with its loop off (`sequencer.enabled = false`) gets one

    # --- submission ---------------------------------------------------------------

    def submit(self, add: Callable[[], bytes]) -> bytes:
        """Run `add` (which puts a transaction in the pool and returns its hash);
        in instant mode, answer once the block built for it is sealed. A
        transaction that is not executable yet (a nonce gap) is answered at once."""
        if self.mode != "instant" or not self.running:
            return add()
        self._local.target = None
        tx_hash = add()
        target = self._local.target  # set by `_on_pending` on this thread when it became pending
        self._local.target = None
        if target is not None:
            deadline = time.monotonic() + SEAL_WAIT
            with self._sealed:
                while self._finished < target and self.mode == "instant" and not self._stop.is_set():
                    left = deadline - time.monotonic()
                    if left <= 0 or not self.running:
                        break
                    self._sealed.wait(min(left, 1.0))
        return tx_hash

    def _on_pending(self, _tx_hash: bytes) -> None:
        if self.mode != "instant":
            return
        with self._sealed:
            # The next build to start takes it: the one in progress, if any, chose its transactions already.
            self._local.target = self._started + 1
            self._arrived = True
        self._wake.set()

    # --- the loop -------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if self.mode == "interval":
                    self._interval_step()
                elif self.mode == "instant":
                    self._instant_step()
                else:
                    self._wake.wait()
                    self._wake.clear()
        except CriticalError as exc:
            self.failure = exc
        finally:
            with self._sealed:
                self._sealed.notify_all()

    @property
    def seal_time(self) -> float:
        """The seconds kept between the fill deadline and the tick."""
        if self._seal_time is None:
            return FIRST_SEAL_SHARE * self.block_time
        return min(self._seal_time * SEAL_HEADROOM, self.block_time / 2)

    def _build(self, tick: float | None = None) -> float:
        """Build one block, taking transactions for at most its share of the
        block time; with its `tick` (time.monotonic()), the block due then,
        done taking transactions in time to be sealed by it. The delay before
        a retry when it failed, else 0."""
        now = time.monotonic()
        lead = 0.0
        deadline = now + self.build_time
        if tick is not None:
            lead = max(0.0, tick - now)
            deadline = max(tick - self.seal_time, now + MIN_FILL * self.build_time)
        with self._sealed:
            self._started += 1
        built: list[object] = []
        try:
            return self.runner.run(lambda: built.append(self.builder.build_block(deadline=deadline, lead=lead)))
        finally:
            # The build's own time, without the wait for its tick once it was ready.
            seconds = getattr(built[0], "seconds", None) if built else None
            if tick is not None and seconds is not None:
                self._learn_seal_time(now + seconds - deadline)
            with self._sealed:
                self._finished = self._started
                self._sealed.notify_all()

    def _learn_seal_time(self, after_deadline: float) -> None:
        """A build that ended after its fill deadline took that long to seal
        (one that ended before it filled its gas early, and says nothing):
        longer sealing times are taken at once, shorter ones slowly."""
        if after_deadline <= 0:
            return
        if self._seal_time is None or after_deadline > self._seal_time:
            self._seal_time = after_deadline
        else:
            self._seal_time = 0.8 * self._seal_time + 0.2 * after_deadline

    def _interval_step(self) -> None:
        now = time.monotonic()
        if self._next_tick is None:
            self._next_tick = now + self.block_time
        delay = self._next_tick - self.build_time - self.seal_time - now
        if delay > 0:
            if self._wake.wait(delay):
                self._wake.clear()
                return  # stop or a mode change: look again
            if self._stop.is_set():
                return
        retry = self._build(self._next_tick)
        if self._next_tick is None:  # the mode changed during the build
            return
        next_tick = self._next_tick + self.block_time
        now = time.monotonic()
        if next_tick < now:
            next_tick = now  # overran: the next block is due now, once
        if retry:  # retry sooner than the next tick, never later
            next_tick = min(next_tick, now + retry)
        self._next_tick = next_tick

    def _instant_step(self) -> None:
        self._wake.wait(self.block_time)
        self._wake.clear()
        if self._stop.is_set():
            return
        with self._sealed:
            arrived, self._arrived = self._arrived, False
        if arrived and self.mode == "instant":
            retry = self._build()
            if retry:
                with self._sealed:
                    self._arrived = True
                self._wake.set()
                self._stop.wait(retry)
