"""The server's own defences, in process: the JSON nesting pre-check and the
bound on notifications a WebSocket client leaves unread."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import WSCloseCode

from openledger_node.rpc import server
from openledger_node.rpc.server import MAX_JSON_DEPTH, Connection, json_too_deep


@pytest.mark.parametrize(
    ("body", "too_deep"),
    [
        (b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH, False),
        (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), True),
        (b'{"a":' * (MAX_JSON_DEPTH + 1) + b"1" + b"}" * (MAX_JSON_DEPTH + 1), True),
        (b"[[]]" * 10_000, False),  # many brackets, shallow
        (json.dumps(["[" * 500, '\\"[[[' * 100, {"k[": "{{{"}]).encode(), False),  # brackets in strings
        (b"[" * 500, True),  # unbalanced still counts
        (b"", False),
    ],
    ids=lambda value: repr(value)[:24] if isinstance(value, bytes) else str(value),
)
def test_json_too_deep(body: bytes, too_deep: bool) -> None:
    assert json_too_deep(body) is too_deep


class _StuckSocket:
    """A WebSocket whose client never reads: every send waits forever."""

    def __init__(self) -> None:
        self.closed = False
        self.close_args: dict[str, Any] | None = None
        self._never = asyncio.Event()

    async def send_str(self, message: str) -> None:
        await self._never.wait()

    async def close(self, **kwargs: Any) -> bool:
        self.close_args = kwargs
        self.closed = True
        return True


def test_unread_notifications_close_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "MAX_PENDING_NOTIFICATIONS", 50)

    async def main() -> tuple[_StuckSocket, Connection, list[str]]:
        ws = _StuckSocket()
        connection = Connection(ws, asyncio.get_running_loop())  # type: ignore[arg-type]
        dropped: list[str] = []
        connection.subscriptions["0x1"] = lambda: dropped.append("0x1")
        for i in range(60):
            connection.notify("0x1", {"n": i})
        for _ in range(5):
            await asyncio.sleep(0)
        return ws, connection, dropped

    ws, connection, dropped = asyncio.run(main())
    assert connection.dropped and connection.subscriptions == {} and dropped == ["0x1"]
    assert ws.close_args is not None and ws.close_args["code"] == WSCloseCode.POLICY_VIOLATION
    assert b"backlog over 50" in ws.close_args["message"]


def test_notify_after_the_loop_closed_is_ignored() -> None:
    loop = asyncio.new_event_loop()
    loop.close()
    Connection(None, loop).notify("0x1", {})  # must not raise on the sequencer's thread
