"""A serial lane: one worker thread that runs calls in arrival order and hands
their results back to the event loop in batches.

Transaction admission runs here (decode, sender recovery, pool, journal): off
the event loop, so a flood of submissions does not hold up reads, and in one
order, so transactions sent one after another on a connection are admitted in
that order. A thread pool executor costs the event loop a concurrent future, a
wrapping asyncio future and a wake-up per call; under a burst of submissions
that was a third of the event loop's time. The lane takes every call queued
when it wakes, runs them, and answers them all with one wake-up.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any

_Call = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]


class SerialLane:
    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def submit(self, func: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Queue `func(*args)`; the future (of the running loop) gets its result or exception."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if self._closed:
            future.cancel()
        else:
            self._calls.put((loop, future, func, args))
        return future

    def shutdown(self) -> None:
        """Stop taking calls; the one running finishes, the queued ones are cancelled."""
        self._closed = True
        self._calls.put(None)

    def _work(self) -> None:
        while True:
            batch = [self._calls.get()]
            while True:
                try:
                    batch.append(self._calls.get_nowait())
                except queue.Empty:
                    break
            answers: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
            for call in batch:
                if call is None:
                    continue
                loop, future, func, args = call
                if self._closed:
                    answers.setdefault(loop, []).append((future, False, None))  # never run: cancelled
                    continue
                if future.cancelled():
                    continue
                try:
                    answer = (future, True, func(*args))
                except BaseException as exc:  # handed to the caller, as an executor does
                    answer = (future, False, exc)
                answers.setdefault(loop, []).append(answer)
            for loop, done in answers.items():
                try:
                    loop.call_soon_threadsafe(_settle, done)
                except RuntimeError:  # the loop is closed: nobody waits for these answers
                    pass
            if self._closed:
                return


def _settle(done: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in done:
        if future.done():
            continue
        if ok:
            future.set_result(value)
        elif value is None:
            future.cancel()
        else:
            future.set_exception(value)
