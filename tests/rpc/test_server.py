"""The server's own defences, in process: the JSON nesting pre-check, the batch
limits, and the delivery and bound of the notifications a WebSocket client is
sent. Each test reads what the server answers or sends, as a client would."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import WSCloseCode

from openledger_node.rpc import server
from openledger_node.rpc.registry import Param, Registry, rpc
from openledger_node.rpc.server import MAX_JSON_DEPTH, Connection, RpcServer, ServerLimits

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
LIMIT_EXCEEDED = -32005


class _EchoApi:
    @rpc("test_echo", Param("value", lambda value: value))
    def echo(self, value: Any) -> Any:
        return value


def answer(body: bytes, limits: ServerLimits = ServerLimits()) -> Any:
    """The decoded reply of an in-process server that knows only `test_echo`."""
    registry = Registry(dev_mode=False)
    registry.add(_EchoApi())
    reply = asyncio.run(RpcServer(registry, limits, workers=1).handle_payload(body, None))
    return None if reply is None else json.loads(reply)


def error(code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}


def echo_request(value: Any) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": "test_echo", "params": [value]}).encode()


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


# --- JSON nesting -----------------------------------------------------------------------

TOO_DEEP = error(PARSE_ERROR, f"parse error: JSON nested deeper than {MAX_JSON_DEPTH} levels")


@pytest.mark.parametrize(
    "body",
    [
        b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1),
        b'{"a":' * (MAX_JSON_DEPTH + 1) + b"1" + b"}" * (MAX_JSON_DEPTH + 1),
        b"[" * 500,  # unbalanced still counts
        echo_request(nested(MAX_JSON_DEPTH - 1)),  # a valid request, one level too deep in all
    ],
    ids=["arrays", "objects", "unbalanced", "request"],
)
def test_json_nested_too_deep_is_refused_before_parsing(body: bytes) -> None:
    assert answer(body) == TOO_DEEP


def test_json_nested_to_the_limit_is_served() -> None:
    value = nested(MAX_JSON_DEPTH - 2)  # inside the request object and the params array

    assert answer(echo_request(value)) == {"jsonrpc": "2.0", "id": 1, "result": value}


def test_json_brackets_in_strings_do_not_count() -> None:
    value = ["[" * 500, '\\"[[[' * 100, {"k[": "{{{"}]

    assert answer(echo_request(value)) == {"jsonrpc": "2.0", "id": 1, "result": value}


@pytest.mark.parametrize(
    ("body", "reply"),
    [
        (b"[[]]" * 10_000, error(PARSE_ERROR, "parse error")),  # many brackets, shallow, not JSON
        (b"", error(PARSE_ERROR, "parse error")),
        (b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH, [error(INVALID_REQUEST, "invalid request: not a JSON object")]),
    ],
    ids=["shallow", "empty", "at-limit"],
)
def test_json_shallow_body_gets_the_ordinary_answer(body: bytes, reply: Any) -> None:
    assert answer(body) == reply


# --- batches ----------------------------------------------------------------------------


def test_batch_over_the_limit_is_refused_whole() -> None:
    limits = ServerLimits(max_batch=3)
    request = {"jsonrpc": "2.0", "id": 1, "method": "test_echo", "params": [7]}

    assert answer(json.dumps([request] * 3).encode(), limits) == [
        {"jsonrpc": "2.0", "id": 1, "result": 7}
    ] * 3
    # geth's answer: one error in an array, with the id of the batch's first call.
    assert answer(json.dumps([request] * 4).encode(), limits) == [
        {"jsonrpc": "2.0", "id": request["id"], "error": {"code": INVALID_REQUEST, "message": "batch too large"}}
    ]
    assert answer(b"[]", limits) == error(INVALID_REQUEST, "empty batch")


# --- notifications ----------------------------------------------------------------------


class _Socket:
    """A WebSocket that records what is sent; with `stuck` its client never reads,
    so every send waits forever."""

    def __init__(self, stuck: bool = False) -> None:
        self.closed = False
        self.close_args: dict[str, Any] | None = None
        self.sent: list[Any] = []
        self._stuck = stuck
        self._never = asyncio.Event()

    async def send_str(self, message: str) -> None:
        if self._stuck:
            await self._never.wait()
        self.sent.append(json.loads(message))

    async def close(self, **kwargs: Any) -> bool:
        self.close_args = kwargs
        self.closed = True
        return True


def test_notify_sends_an_eth_subscription_message() -> None:
    async def main() -> tuple[_Socket, Connection]:
        ws = _Socket()
        connection = Connection(ws, asyncio.get_running_loop())  # type: ignore[arg-type]
        connection.notify("0x1", {"n": 1})
        connection.notify("0x1", {"n": 2})
        for _ in range(5):
            await asyncio.sleep(0)
        return ws, connection

    ws, connection = asyncio.run(main())

    assert ws.sent == [
        {"jsonrpc": "2.0", "method": "eth_subscription", "params": {"subscription": "0x1", "result": {"n": n}}}
        for n in (1, 2)
    ]
    assert connection.backlog == 0 and not connection.dropped and ws.close_args is None


def test_unread_notifications_close_the_connection() -> None:
    size = len(server.notification("0x1", json.dumps({"n": 0})))
    limit = 50 * size  # room for exactly 50 queued notifications

    async def main() -> tuple[_Socket, Connection, list[str], int]:
        ws = _Socket(stuck=True)
        connection = Connection(ws, asyncio.get_running_loop(), max_backlog_bytes=limit)  # type: ignore[arg-type]
        dropped: list[str] = []
        connection.subscriptions["0x1"] = lambda: dropped.append("0x1")
        for _ in range(60):
            connection.notify("0x1", {"n": 0})
        for _ in range(5):
            await asyncio.sleep(0)
        return ws, connection, dropped, connection.backlog

    ws, connection, dropped, backlog = asyncio.run(main())

    # 50 were taken; the 51st was over the bound: the connection is dropped and
    # everything queued for it released.
    assert backlog == 0 and connection.backlog_bytes == 0
    assert connection.dropped and connection.subscriptions == {} and dropped == ["0x1"]
    assert ws.close_args is not None and ws.close_args["code"] == WSCloseCode.POLICY_VIOLATION
    assert ws.close_args["message"] == f"subscription backlog over {limit} bytes".encode()


def test_all_connections_together_share_one_budget() -> None:
    size = len(server.notification("0x1", json.dumps({"n": 0})))
    budget = server.NotificationBudget(10 * size)

    async def main() -> tuple[Connection, Connection]:
        loop = asyncio.get_running_loop()
        first = Connection(_Socket(stuck=True), loop, max_backlog_bytes=100 * size, budget=budget)  # type: ignore[arg-type]
        second = Connection(_Socket(stuck=True), loop, max_backlog_bytes=100 * size, budget=budget)  # type: ignore[arg-type]
        for _ in range(8):
            first.notify("0x1", {"n": 0})
        for _ in range(3):  # the third goes over the shared budget
            second.notify("0x1", {"n": 0})
        for _ in range(5):
            await asyncio.sleep(0)
        return first, second

    first, second = asyncio.run(main())
    assert not first.dropped and second.dropped
    assert budget.used <= 10 * size


def test_notify_after_the_loop_closed_sends_nothing() -> None:
    """The sequencer's thread may notify after the server stopped: no error, no send."""
    ws = _Socket()
    loop = asyncio.new_event_loop()
    connection = Connection(ws, loop)  # type: ignore[arg-type]
    connection.subscriptions["0x1"] = lambda: None
    loop.close()

    connection.notify("0x1", {})  # raises if the closed loop's error escapes

    assert ws.sent == [] and ws.close_args is None
    assert connection.backlog == 0 and not connection.dropped and list(connection.subscriptions) == ["0x1"]
