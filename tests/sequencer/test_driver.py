"""The driver loop applies error severities: a failing build is retried, a
critical error stops the sequencer and is kept for the node to report."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

from openledger_node.exceptions import StorageError, TemporaryError
from sequencer.driver import SequencerDriver


class ScriptedBuilder:
    """Raises the scripted errors in turn, then builds (counts) blocks."""

    def __init__(self, script: list[BaseException | None]) -> None:
        self.script = script
        self.calls = 0
        self.built = 0
        self.done = threading.Event()

    def build_block(self, deadline: float | None = None, lead: float = 0.0) -> None:
        self.calls += 1
        outcome = self.script.pop(0) if self.script else None
        if outcome is not None:
            raise outcome
        self.built += 1
        if self.built >= 2:
            self.done.set()


def run(builder: ScriptedBuilder, block_time: float) -> SequencerDriver:
    driver = SequencerDriver(builder, "interval", block_time)  # type: ignore[arg-type]
    driver.start()
    return driver


def test_temporary_failures_are_retried_before_the_next_tick() -> None:
    builder = ScriptedBuilder([TemporaryError("L1 not there yet"), TemporaryError("still not")])
    # A long block time: only retries (0.1 s, then 0.2 s) can reach two blocks quickly.
    driver = run(builder, block_time=0.5)
    try:
        assert builder.done.wait(5)
    finally:
        driver.stop()
    assert builder.calls >= 4 and driver.failure is None


def test_critical_error_stops_the_driver_and_is_kept() -> None:
    error = StorageError("LevelDB write failed")
    builder = ScriptedBuilder([error])
    driver = run(builder, block_time=0.05)
    deadline = time.monotonic() + 5
    while driver.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not driver.running
    assert driver.failure is error
    assert builder.calls == 1  # nothing was built on top of a failed write


def test_unexpected_error_does_not_end_the_loop(caplog: Any) -> None:
    builder = ScriptedBuilder([RuntimeError("a bug in one attempt")])
    driver = run(builder, block_time=0.05)
    try:
        assert builder.done.wait(5)
    finally:
        driver.stop()
    assert driver.failure is None
    assert any("a bug in one attempt" in r.getMessage() for r in caplog.records)


class SlowFirstBuilder:
    """The first build takes longer than the block time; the others are instant.
    Records when each build started and ended."""

    def __init__(self, first_build: float) -> None:
        self.first_build = first_build
        self.spans: list[tuple[float, float]] = []
        self.due: list[float] = []  # when each block was due (start + lead)
        self.done = threading.Event()

    def build_block(self, deadline: float | None = None, lead: float = 0.0) -> None:
        started = time.monotonic()
        self.due.append(started + lead)
        if not self.spans:
            time.sleep(self.first_build)
        self.spans.append((started, time.monotonic()))
        if len(self.spans) >= 3:
            self.done.set()


def test_a_build_that_overruns_its_tick_is_followed_at_once() -> None:
    builder = SlowFirstBuilder(first_build=2.5)
    driver = SequencerDriver(builder, "interval", 1.0)  # type: ignore[arg-type]
    driver.start()
    try:
        assert builder.done.wait(10)
    finally:
        driver.stop()
    (_, first_end), (second_start, _), _ = builder.spans[:3]
    # The first build ran past the next block's tick: the build after it
    # starts at once, due at once, not a whole block time after the overrun...
    assert second_start - first_end < 0.5
    assert builder.due[1] - second_start < 0.05
    # ... and the schedule goes on from there, a block time apart: the ticks
    # missed are not built in a burst.
    assert 0.9 < builder.due[2] - builder.due[1] < 1.1


class TimedBuilder:
    """Takes transactions until the deadline (a full pool), then seals for
    `seal` seconds; records when each block was stored and the lead it got."""

    def __init__(self, seal: float, blocks: int) -> None:
        self.seal = seal
        self.blocks = blocks
        self.stored: list[float] = []
        self.leads: list[float] = []
        self.done = threading.Event()

    def build_block(self, deadline: float | None = None, lead: float = 0.0) -> SimpleNamespace:
        assert deadline is not None
        started = time.monotonic()
        due = started + lead
        self.leads.append(lead)
        time.sleep(max(0.0, deadline - time.monotonic()) + self.seal)
        seconds = time.monotonic() - started
        time.sleep(max(0.0, due - time.monotonic()))  # a block ready early is stored at its time
        self.stored.append(time.monotonic())
        if len(self.stored) >= self.blocks:
            self.done.set()
        return SimpleNamespace(seconds=seconds)


def test_full_blocks_are_stored_on_their_ticks_not_a_sealing_time_late() -> None:
    """A full pool: every build fills up to its deadline, then seals. The
    driver starts each build ahead of its tick and learns the sealing time, so
    blocks come a block time apart, each at its tick, with the tick's time."""
    builder = TimedBuilder(seal=0.15, blocks=8)
    driver = SequencerDriver(builder, "interval", 0.5, build_time_fraction=0.6)  # type: ignore[arg-type]
    driver.start()
    try:
        assert builder.done.wait(15)
    finally:
        driver.stop()
    intervals = [b - a for a, b in zip(builder.stored[2:], builder.stored[3:])]
    assert all(abs(i - 0.5) < 0.08 for i in intervals), intervals
    # Each build started ahead of its tick by the fill time and the sealing time.
    assert all(lead > 0.3 + 0.15 * 0.9 for lead in builder.leads[2:]), builder.leads
    assert 0.15 <= driver.seal_time <= 0.15 * 1.5
