"""The JSON-RPC server: HTTP and WebSocket on one port (aiohttp).

Requests are JSON-RPC 2.0 objects or batches. Each is checked for shape, its
method looked up, its parameters parsed, and its handler called; handlers marked
`blocking` (execution, log scans) run in a worker thread so that the event loop
keeps serving. Every exception becomes an error object through the one table in
`errors.py`; an unexpected one is logged with its traceback and answered -32603.
WebSocket connections also carry subscriptions (`eth_subscribe`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from openledger_node.exceptions import OpenLedgerError
from openledger_node.rpc.errors import (
    InvalidRequest,
    LimitExceeded,
    ParseError,
    RpcError,
    to_error_object,
)
from openledger_node.rpc.registry import Registry

log = logging.getLogger("openledger.rpc")


@dataclass(frozen=True)
class ServerLimits:
    max_body_bytes: int = 5 * 1024 * 1024
    max_batch: int = 1000
    max_ws_message_bytes: int = 5 * 1024 * 1024
    max_subscriptions_per_connection: int = 128
    cors_origins: tuple[str, ...] = ()


_connection_ids = itertools.count(1)

# Notifications queued for one connection that does not read them: past this the
# connection is closed rather than buffered without bound (geth's
# maxClientSubscriptionBuffer).
MAX_PENDING_NOTIFICATIONS = 20_000

# JSON nested deeper than this is refused before it is parsed: py-evm raises the
# interpreter's recursion limit to 100,000, so a body of a few hundred thousand
# brackets would overflow the C stack in the JSON parser and kill the process.
MAX_JSON_DEPTH = 100
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether `body` nests arrays and objects deeper than `limit` (strings
    skipped). Linear, and only the bracket count is looked at when that is small."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    return max(itertools.accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0) > limit


@dataclass(eq=False)
class Connection:
    """One WebSocket connection (or None for HTTP): where notifications go."""

    ws: web.WebSocketResponse | None
    loop: asyncio.AbstractEventLoop
    id: int = field(default_factory=lambda: next(_connection_ids))
    subscriptions: dict[str, Callable[[], None]] = field(default_factory=dict)
    backlog: int = 0  # notifications handed to the socket and not yet written
    dropped: bool = False  # closed for not reading its notifications

    def notify(self, subscription: str, result: Any) -> None:
        """Send a subscription notification; safe to call from any thread."""
        message = json.dumps(
            {"jsonrpc": "2.0", "method": "eth_subscription",
             "params": {"subscription": subscription, "result": result}}
        )
        try:
            self.loop.call_soon_threadsafe(self._send, message)
        except RuntimeError:  # the loop is closed: the server has stopped
            pass

    def _send(self, message: str) -> None:
        if self.ws is None or self.ws.closed or self.dropped:
            return
        if self.backlog >= MAX_PENDING_NOTIFICATIONS:
            self.dropped = True
            log.warning("closing websocket %d: %d notifications not read", self.id, self.backlog)
            self.close()
            asyncio.ensure_future(self.ws.close(
                code=WSCloseCode.POLICY_VIOLATION,
                message=f"subscription backlog over {MAX_PENDING_NOTIFICATIONS} notifications".encode()))
            return
        self.backlog += 1
        asyncio.ensure_future(self._send_async(message))

    async def _send_async(self, message: str) -> None:
        try:
            assert self.ws is not None
            await self.ws.send_str(message)
        except (ConnectionError, RuntimeError):
            pass
        finally:
            self.backlog -= 1

    def close(self) -> None:
        for unsubscribe in self.subscriptions.values():
            unsubscribe()
        self.subscriptions.clear()


class _WebSocket(web.WebSocketResponse):
    """aiohttp closes a connection whose message is over `max_msg_size` with code
    1009 and no reason; this one says which limit the client hit."""

    def __init__(self, max_msg_size: int, **kwargs: Any) -> None:
        super().__init__(max_msg_size=max_msg_size, **kwargs)
        self._limit = max_msg_size

    async def close(self, *, code: int = WSCloseCode.OK, message: bytes = b"", drain: bool = True) -> bool:
        if code == WSCloseCode.MESSAGE_TOO_BIG and not message:
            message = f"message too large: limit is {self._limit} bytes".encode()
        return await super().close(code=code, message=message, drain=drain)


def _reject_constant(name: str) -> Any:
    """NaN and Infinity are not JSON, though Python's parser takes them."""
    raise ValueError(f"invalid JSON constant {name}")


def _error_response(request_id: Any, exc: BaseException) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": to_error_object(exc)}


class RpcServer:
    def __init__(self, registry: Registry, limits: ServerLimits = ServerLimits(), workers: int = 4) -> None:
        self.registry = registry
        self.limits = limits
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rpc")
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        self._connections: set[Connection] = set()
        self._on_stop: list[Callable[[], None]] = []

    def on_stop(self, callback: Callable[[], None]) -> None:
        """Call `callback` when the server stops (to unsubscribe from the node)."""
        self._on_stop.append(callback)

    # --- lifecycle -----------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.limits.max_body_bytes, middlewares=[self._cors])
        app.router.add_route("POST", "/", self._handle_http)
        app.router.add_route("GET", "/", self._handle_get)
        app.router.add_route("OPTIONS", "/", self._handle_options)
        app.router.add_route("GET", "/health", self._handle_health)
        return app

    async def start(self, host: str, port: int) -> int:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server  # the bound socket tells the real port when 0 was asked
        assert isinstance(server, asyncio.Server)
        self.port = int(server.sockets[0].getsockname()[1])
        log.info("JSON-RPC listening on http://%s:%d (WebSocket on the same port)", host, self.port)
        return self.port

    async def stop(self) -> None:
        for connection in list(self._connections):
            connection.close()
            if connection.ws is not None:
                await connection.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
        self._executor.shutdown(wait=False, cancel_futures=True)
        for callback in self._on_stop:
            callback()

    # --- HTTP ----------------------------------------------------------------

    @web.middleware
    async def _cors(self, request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        response: web.StreamResponse = await handler(request)
        origin = request.headers.get("Origin")
        allowed = self.limits.cors_origins
        if origin and ("*" in allowed or origin in allowed):
            response.headers["Access-Control-Allow-Origin"] = "*" if "*" in allowed else origin
            response.headers["Access-Control-Allow-Headers"] = "Content-Type"
            response.headers["Access-Control-Allow-Methods"] = "POST, GET, OPTIONS"
        return response

    async def _handle_options(self, request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def _handle_health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _handle_http(self, request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > self.limits.max_body_bytes:
            return self._too_large()
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._too_large()
        response = await self.handle_payload(body, None)
        if response is None:
            return web.Response(status=200, content_type="application/json", text="")
        return web.Response(status=200, content_type="application/json", text=response)

    def _too_large(self) -> web.Response:
        error = _error_response(None, LimitExceeded(
            f"request body too large: limit is {self.limits.max_body_bytes} bytes"))
        return web.json_response(error, status=413)

    async def _handle_get(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return web.json_response(
                _error_response(None, InvalidRequest("send JSON-RPC requests with POST, or upgrade to WebSocket")),
                status=405,
            )
        ws = _WebSocket(self.limits.max_ws_message_bytes, heartbeat=30)
        await ws.prepare(request)
        connection = Connection(ws, asyncio.get_running_loop())
        self._connections.add(connection)
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    reply = await self.handle_payload(message.data.encode(), connection)
                    if reply is not None:
                        await ws.send_str(reply)
                elif message.type == WSMsgType.BINARY:
                    reply = await self.handle_payload(message.data, connection)
                    if reply is not None:
                        await ws.send_str(reply)
                elif message.type == WSMsgType.ERROR:
                    log.debug("websocket closed with error: %s", ws.exception())
                    break
        except ConnectionError as exc:  # the client left while its answer was being computed
            log.debug("websocket %d gone: %s", connection.id, exc)
        finally:
            connection.close()
            self._connections.discard(connection)
        if ws.close_code == WSCloseCode.MESSAGE_TOO_BIG:
            log.info("closed websocket: message over %d bytes", self.limits.max_ws_message_bytes)
        return ws

    # --- JSON-RPC ----------------------------------------------------------------

    async def handle_payload(self, body: bytes, connection: Connection | None) -> str | None:
        """Answer a raw request body: one request or a batch. None: nothing to send."""
        if json_too_deep(body):
            return json.dumps(_error_response(None, ParseError(
                f"parse error: JSON nested deeper than {MAX_JSON_DEPTH} levels")))
        try:
            payload = json.loads(body, parse_constant=_reject_constant)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            return json.dumps(_error_response(None, ParseError("parse error")))
        if isinstance(payload, list):
            if not payload:
                return json.dumps(_error_response(None, InvalidRequest("empty batch")))
            if len(payload) > self.limits.max_batch:
                return json.dumps(_error_response(None, LimitExceeded(
                    f"batch too large: {len(payload)} requests, limit is {self.limits.max_batch}")))
            replies = [await self.handle_request(item, connection) for item in payload]
            answered = [r for r in replies if r is not None]
            return json.dumps(answered) if answered else None
        reply = await self.handle_request(payload, connection)
        return None if reply is None else json.dumps(reply)

    async def handle_request(self, request: Any, connection: Connection | None) -> dict[str, Any] | None:
        if not isinstance(request, dict):
            return _error_response(None, InvalidRequest("invalid request: not a JSON object"))
        request_id = request.get("id")
        is_notification = "id" not in request
        if not isinstance(request_id, (str, int, type(None))) or isinstance(request_id, bool):
            return _error_response(None, InvalidRequest("invalid request: id must be a string, number or null"))
        if request.get("jsonrpc") != "2.0":
            return _error_response(request_id, InvalidRequest("invalid request: jsonrpc must be \"2.0\""))
        method_name = request.get("method")
        if not isinstance(method_name, str):
            return _error_response(request_id, InvalidRequest("invalid request: method must be a string"))
        try:
            result = await self.call(method_name, request.get("params"), connection)
        except (RpcError, OpenLedgerError) as exc:
            return None if is_notification else _error_response(request_id, exc)
        except Exception as exc:
            log.exception("unexpected error in %s", method_name)
            return None if is_notification else _error_response(request_id, exc)
        if is_notification:
            return None
        return {"jsonrpc": "2.0", "id": request_id, "result": result}

    async def call(self, name: str, params: Any, connection: Connection | None) -> Any:
        method = self.registry.lookup(name)
        args = self.registry.parse_params(method, params)
        if method.spec.connection:
            args.insert(0, connection)
        if method.spec.blocking:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, lambda: method.func(*args))
        result = method.func(*args)
        if asyncio.iscoroutine(result):
            return await result
        return result
