"""The serial lane that admits transactions: calls run one at a time in arrival
order, each caller gets its own result or exception, and calls queued behind a
shutdown are cancelled, never run."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from openledger_node.rpc.lane import SerialLane


def test_calls_run_in_order_one_at_a_time_and_answer_their_own_caller() -> None:
    lane = SerialLane("test-lane")
    ran: list[int] = []
    running = threading.Semaphore(1)

    def call(i: int) -> int:
        assert running.acquire(blocking=False), "two calls ran at once"
        ran.append(i)
        running.release()
        if i % 7 == 3:
            raise ValueError(f"call {i} refused")
        return i * i

    async def main() -> list[object]:
        futures = [lane.submit(call, i) for i in range(500)]
        return list(await asyncio.gather(*futures, return_exceptions=True))

    results = asyncio.run(main())
    lane.shutdown()
    assert ran == list(range(500))
    for i, result in enumerate(results):
        if i % 7 == 3:
            assert isinstance(result, ValueError) and str(result) == f"call {i} refused"
        else:
            assert result == i * i


def _gated(blocking: str) -> tuple[SerialLane, threading.Event, list[str], Callable[[str], str]]:
    """A lane, a gate, the names of the calls run, and a call that records its
    name; the call named `blocking` waits for the gate first."""
    lane = SerialLane("test-lane")
    gate = threading.Event()
    ran: list[str] = []

    def call(name: str) -> str:
        if name == blocking:
            gate.wait(5)
        ran.append(name)
        return name

    return lane, gate, ran, call


def test_a_cancelled_caller_s_call_is_skipped_and_others_still_answer() -> None:
    lane, gate, ran, call = _gated("first")

    async def main() -> tuple[str, str]:
        first = lane.submit(call, "first")
        dropped = lane.submit(call, "dropped")
        last = lane.submit(call, "last")
        await asyncio.sleep(0.05)
        dropped.cancel()  # the client went away before its turn
        gate.set()
        return await first, await last

    assert asyncio.run(main()) == ("first", "last")
    lane.shutdown()
    assert ran == ["first", "last"]


def test_calls_queued_behind_shutdown_are_cancelled_not_run() -> None:
    lane, gate, ran, call = _gated("running")

    async def main() -> None:
        running = lane.submit(call, "running")
        queued = lane.submit(call, "queued")
        await asyncio.sleep(0.05)
        lane.shutdown()
        gate.set()
        assert await running == "running"  # the one running finishes
        with pytest.raises(asyncio.CancelledError):
            await queued
        late = lane.submit(call, "late")
        assert late.cancelled()

    asyncio.run(main())
    assert ran == ["running"]
