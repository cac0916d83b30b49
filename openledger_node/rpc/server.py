"""The JSON-RPC server: HTTP and WebSocket on one port (aiohttp).

Requests are JSON-RPC 2.0 objects or batches. Each is checked for shape, its
method looked up, its parameters parsed, and its handler called; handlers marked
`blocking` run in a worker pool of their kind ("evm" for execution, "scan" for
log scans and filters) or, for transaction admission ("tx"), in one serial
lane (`lane.py`), so that slow or numerous calls neither stall the event loop
nor starve each other. Every exception becomes an error object through the one table
in `errors.py`; an unexpected one is logged with its traceback and answered
-32603. WebSocket connections also carry subscriptions (`eth_subscribe`).

Defences, each with its limit in `ServerLimits` (docs/rpc.md lists them): a
connection limit and a deadline for a request's headers and body to arrive
(`_Guard`, which closes slow clients), an idle timeout for keep-alive
connections, the Host allowlist (DNS rebinding), JSON-only content types (so a
web page cannot post a "simple" cross-origin request), WebSocket origin checks,
body, batch and response size caps, a linear nesting-depth check, and a bounded
notification backlog per WebSocket connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import json
import logging
import re
import resource
import socket
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any, cast
from urllib.parse import urlsplit

import orjson
from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp.web_protocol import RequestHandler

from openledger_node.exceptions import OpenLedgerError
from openledger_node.rpc.errors import (
    InvalidRequest,
    LimitExceeded,
    ParseError,
    ResponseTooLarge,
    RpcError,
    to_error_object,
)
from openledger_node.rpc.lane import SerialLane
from openledger_node.rpc.registry import Registry

log = logging.getLogger("openledger.rpc")


@dataclass(frozen=True)
class ServerLimits:
    max_body_bytes: int = 5 * 1024 * 1024
    max_batch: int = 1000
    max_ws_message_bytes: int = 5 * 1024 * 1024
    max_subscriptions_per_connection: int = 128
    cors_origins: tuple[str, ...] = ()
    # geth's batch response limit, applied to single responses too.
    max_response_bytes: int = 25 * 1024 * 1024
    max_connections: int = 1000
    read_timeout: float = 30.0  # a request's headers and body must arrive within this
    idle_timeout: float = 120.0  # a keep-alive connection with no request is closed
    vhosts: tuple[str, ...] = ("localhost",)  # Host names allowed; IP literals always are
    ws_origins: tuple[str, ...] = ()  # browser origins allowed on WebSocket; () = localhost only
    max_ws_backlog_bytes: int = 4 * 1024 * 1024  # notifications queued for one slow reader
    max_ws_backlog_total_bytes: int = 64 * 1024 * 1024  # ... and for all of them together
    evm_workers: int = 2  # eth_call, eth_estimateGas, eth_createAccessList
    scan_workers: int = 2  # eth_getLogs, filters, proofs


# Content types geth accepts for a JSON-RPC POST.
JSON_CONTENT_TYPES = ("application/json", "application/json-rpc", "application/jsonrequest")
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
_JSON_CONTENT_TYPES = tuple(t.encode() for t in JSON_CONTENT_TYPES)
# The plain path hands a request to aiohttp when its head is longer than
# aiohttp's line limit, or it carries a header whose handling is aiohttp's.
MAX_HEAD_BYTES = 8190
_NOT_PLAIN_HEADERS = frozenset({
    b"transfer-encoding", b"content-encoding", b"origin", b"upgrade", b"expect",
    b"access-control-request-method", b"access-control-request-headers",
})
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
HAND_OVER = object()  # a request the plain path leaves to aiohttp
HEADS_KEPT = 256  # request heads whose parse is kept (at most 2 MiB)
# File descriptors kept for LevelDB, the journal and logs beyond the connections.
RESERVED_FDS = 128


_connection_ids = itertools.count(1)

# JSON nested deeper than this is refused before it is parsed: py-evm raises the
# interpreter's recursion limit to 100,000, so a body of a few hundred thousand
# brackets would overflow the C stack in the JSON parser and kill the process.
MAX_JSON_DEPTH = 100
# A JSON string, or an unterminated one up to the end of the body: the closing
# quote is optional so that a match never fails after scanning far ahead, which
# keeps the scan linear (a body of escaped quotes with no end made the strict
# pattern restart at every quote: quadratic).
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether `body` nests arrays and objects deeper than `limit` (strings
    skipped). Linear, and only the bracket count is looked at when that is small."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    return max(itertools.accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0) > limit


def notification(subscription: str, result_json: str) -> str:
    """An `eth_subscription` message around an already encoded result, so that a
    result sent to many subscribers is encoded once."""
    return (
        '{"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":'
        + json.dumps(subscription) + ',"result":' + result_json + "}}"
    )


class NotificationBudget:
    """Bytes of notifications queued for all WebSocket connections together:
    past `limit`, the connection that would go over it is dropped, so that
    many slow readers cannot add up to unbounded memory."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def take(self, size: int) -> bool:
        with self._lock:
            if self.used + size > self.limit:
                return False
            self.used += size
            return True

    def give_back(self, size: int) -> None:
        with self._lock:
            self.used -= size


@dataclass(eq=False)
class Connection:
    """One WebSocket connection (or None for HTTP): where notifications go.

    Notifications are counted against the connection's backlog bound and the
    server's budget on the thread that sends them, before anything is queued
    on the event loop; a connection that would go over either is dropped
    (closed with policy violation) rather than buffered (geth's
    maxClientSubscriptionBuffer). Queued messages are written by one writer
    task per connection, in order."""

    ws: web.WebSocketResponse | None
    loop: asyncio.AbstractEventLoop
    max_backlog_bytes: int = ServerLimits.max_ws_backlog_bytes
    budget: NotificationBudget | None = None
    id: int = field(default_factory=lambda: next(_connection_ids))
    subscriptions: dict[str, Callable[[], None]] = field(default_factory=dict)
    backlog: int = 0  # notifications accepted and not yet written
    backlog_bytes: int = 0
    dropped: bool = False  # closed for not reading its notifications
    on_drop: Callable[[Connection], None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _outbox: deque[str] = field(default_factory=deque)
    _writer: asyncio.Task[None] | None = None

    def notify(self, subscription: str, result: Any) -> None:
        """Send a subscription notification; safe to call from any thread."""
        self.send_many([notification(subscription, json.dumps(result))])

    def send_raw(self, message: str) -> None:
        self.send_many([message])

    def send_many(self, messages: list[str]) -> None:
        """Queue encoded messages for this connection, in order; safe from any
        thread. One hop to the event loop however many there are."""
        size = sum(len(m) for m in messages)
        with self._lock:
            if self.dropped:
                return
            over = self.backlog_bytes + size > self.max_backlog_bytes
            if not over and self.budget is not None and not self.budget.take(size):
                over = True
            if over:
                self.dropped = True
            else:
                self.backlog += len(messages)
                self.backlog_bytes += size
        try:
            self.loop.call_soon_threadsafe(self._drop if over else self._enqueue, messages)
        except RuntimeError:  # the loop is closed: the server has stopped; nothing is queued
            if not over:
                for message in messages:
                    self._written(message)

    def _enqueue(self, messages: list[str]) -> None:
        self._outbox.extend(messages)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        while self._outbox:
            message = self._outbox.popleft()
            try:
                if self.ws is not None and not self.ws.closed and not self.dropped:
                    await self.ws.send_str(message)
            except (ConnectionError, RuntimeError):
                pass
            finally:
                self._written(message)

    def _written(self, message: str) -> None:
        with self._lock:
            self.backlog -= 1
            self.backlog_bytes -= len(message)
        if self.budget is not None:
            self.budget.give_back(len(message))

    def _drop(self, _messages: list[str] | None = None) -> None:
        """Close a connection that does not read what it subscribed to."""
        log.warning(
            "closing websocket %d: %d notifications (%d bytes) not read",
            self.id, self.backlog, self.backlog_bytes,
        )
        while self._outbox:
            self._written(self._outbox.popleft())
        self.close()
        if self.on_drop is not None:
            self.on_drop(self)
        if self.ws is not None and not self.ws.closed:
            asyncio.ensure_future(self.ws.close(
                code=WSCloseCode.POLICY_VIOLATION,
                message=f"subscription backlog over {self.max_backlog_bytes} bytes".encode()))

    def close(self) -> None:
        for unsubscribe in list(self.subscriptions.values()):
            unsubscribe()
        self.subscriptions.clear()


class _Guard(asyncio.Protocol):
    """One TCP connection: refuses connections over the limit, closes a client
    whose request (headers and body) does not arrive within the read timeout
    (the slowloris defence aiohttp lacks), and answers plain JSON-RPC POSTs
    itself.

    Most requests are the same few bytes of HTTP: `POST /` over HTTP/1.1 with a
    Content-Length, a JSON content type and an allowed Host. Those are answered
    here, from the bytes, with no request or response objects (aiohttp's cost
    them several times what a state read costs). The first request that is
    anything else (a WebSocket upgrade, a GET, a browser's request with an
    Origin, chunked or compressed bodies, an over-size or malformed head, a
    refused host or content type) hands the connection, from that request on,
    to aiohttp's handler, which answers as before."""

    def __init__(self, server: RpcServer, make_inner: Callable[[], RequestHandler]) -> None:
        self.server = server
        self._make_inner = make_inner
        self.inner: RequestHandler | None = None  # aiohttp's handler, once handed over
        self.transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None  # aiohttp's requests' read deadline
        self._admitted = False
        self.upgraded = False
        # The plain path's state: bytes not yet answered, a request being
        # answered (answers go out in order), the peer not reading.
        self._buffer = bytearray()
        self._busy = False
        self._write_paused = False
        self._read_paused = False
        self._closed = False  # closed or closing: nothing more is answered
        # Its deadlines, kept as times that one watchdog timer looks at, so
        # that a request costs no timer of its own: since when a request has
        # been awaited from the client (None: none is), since when the
        # connection has had nothing to do.
        self._waiting_since: float | None = None
        self._idle_since = 0.0
        self._watch: asyncio.TimerHandle | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (asyncio's, or uvloop's, which does not subclass it).
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        server = self.server
        if len(server.open_connections) >= server.max_connections:
            server.stats["connections_refused"] += 1
            transport.abort()
            return
        self._admitted = True
        server.open_connections[transport] = self  # found again from a request's transport
        sock = transport.get_extra_info("socket")
        if sock is not None:  # dead peers are noticed, as aiohttp's handler sets it
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        loop = asyncio.get_running_loop()
        self._waiting_since = loop.time()  # the first request must arrive in time too
        self._watch = loop.call_at(self._waiting_since + server.limits.read_timeout, self._check)

    def data_received(self, data: bytes) -> None:
        if not self._admitted:
            return
        if self.inner is not None:
            if self._timer is None and not self.upgraded:
                self._arm()
            self.inner.data_received(data)
            return
        if self._waiting_since is None and not self._busy:
            self._waiting_since = asyncio.get_running_loop().time()  # a request begins
        self._buffer += data
        if self._busy:
            if len(self._buffer) > self.server.limits.max_body_bytes + MAX_HEAD_BYTES and not self._read_paused:
                self._read_paused = True
                assert self.transport is not None
                self.transport.pause_reading()
            return
        self._serve()

    def eof_received(self) -> bool | None:
        if self._admitted and self.inner is not None:
            self.inner.eof_received()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        if self._admitted:
            if self.transport is not None:
                self.server.open_connections.pop(self.transport, None)
            if self.inner is not None:
                self.inner.connection_lost(exc)
        self._closed = True  # an answer still being computed is dropped

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()
        else:
            self._write_paused = True

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()
        else:
            self._write_paused = False
            self._serve()

    # the plain path

    def _serve(self) -> None:
        """Answer the complete requests in the buffer, in order, until one must
        be waited for, the peer stops reading, or one is not plain."""
        server = self.server
        while not self._busy and not self._write_paused and self.inner is None and not self._closed:
            request = server.plain_request(self._buffer)
            if request is None:  # more bytes to come
                break
            if request is HAND_OVER:
                self._hand_over()
                return
            assert isinstance(request, tuple)
            size, body, close = request
            del self._buffer[:size]
            self._waiting_since = None  # the request has fully arrived
            answer = server.answer(body, None)
            if answer is None or isinstance(answer, str):
                self._respond(answer, close)
                continue
            self._busy = True
            asyncio.ensure_future(self._respond_later(answer, close))
            return
        if self.inner is None and not self._busy and not self._closed:
            now = asyncio.get_running_loop().time()
            if not self._buffer:
                self._idle_since = now
            elif self._waiting_since is None:
                self._waiting_since = now  # the next request has begun to arrive
            if self._read_paused:
                self._read_paused = False
                assert self.transport is not None
                self.transport.resume_reading()

    async def _respond_later(self, answer: Awaitable[str | None], close: bool) -> None:
        try:
            text = await answer
        finally:
            self._busy = False
        if self._closed:  # the client left meanwhile
            return
        self._respond(text, close)
        self._serve()

    def _respond(self, text: str | None, close: bool) -> None:
        transport = self.transport
        assert transport is not None
        body = text.encode() if text else b""
        transport.write(self.server.response_head(len(body), close) + body)
        if close:
            transport.close()
            self._closed = True

    def _check(self) -> None:
        """The watchdog: close a client whose request does not arrive within
        the read timeout, or a keep-alive connection idle for the idle timeout.
        It never sleeps longer than the read timeout, so a request that
        begins while it sleeps is still timed from its start."""
        self._watch = None
        if self._closed or self.inner is not None or self.transport is None:
            return
        limits = self.server.limits
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._busy:  # an answer being computed is not the client's delay
            due = now + limits.read_timeout
        elif self._waiting_since is not None:
            due = self._waiting_since + limits.read_timeout
            if now >= due:
                self._expired()
                return
        else:
            due = self._idle_since + limits.idle_timeout
            if now >= due:
                self._closed = True
                self.transport.close()
                return
            due = min(due, now + limits.read_timeout)
        self._watch = loop.call_at(due, self._check)

    def _hand_over(self) -> None:
        """From the request at the front of the buffer on, aiohttp answers."""
        transport = self.transport
        assert transport is not None
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        inner = self.inner = self._make_inner()
        inner.connection_made(transport)
        if self._write_paused:
            inner.pause_writing()
        if self._read_paused:
            self._read_paused = False
            transport.resume_reading()
        data = bytes(self._buffer)
        self._buffer.clear()
        self._arm()
        inner.data_received(data)

    # the read deadline of requests aiohttp answers

    def request_read(self) -> None:
        """The request in progress has fully arrived."""
        self._disarm()

    def upgrade(self) -> None:
        """The connection became a WebSocket: its own heartbeat watches it."""
        self.upgraded = True
        self._disarm()

    def _arm(self) -> None:
        self._disarm()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.server.limits.read_timeout, self._expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        self.server.stats["slow_clients_closed"] += 1
        log.debug("closing a connection whose request did not arrive in %ss", self.server.limits.read_timeout)
        if self.transport is not None:
            self.transport.abort()


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


def _loads(body: bytes) -> Any:
    """A request body parsed as the standard library parses it, by orjson
    (ten times faster) wherever the two agree: orjson refuses what json takes
    (UTF-16 bodies, lone surrogates) and reads integers over 64 bits as floats,
    so a body it refuses, or one with a float in it and a run of 19 digits, is
    parsed by json."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body, parse_constant=_reject_constant)
    # Floats themselves come out of both parsers alike; an integer past 64 bits
    # is what orjson turns into a float, and it takes 19 digits in a row.
    if _NINETEEN_DIGITS in body.translate(_DIGITS_AS_NINE) and _has_float(value):
        return json.loads(body, parse_constant=_reject_constant)
    return value


_DIGITS_AS_NINE = bytes.maketrans(b"012345678", b"999999999")
_NINETEEN_DIGITS = b"9" * 19


def _has_float(value: Any) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is str:  # most of a request: skip it first
            continue
        if kind is dict:
            pending.extend(item.values())
        elif kind is list:
            pending.extend(item)
        elif kind is float:
            return True
    return False


def _dumps(value: Any) -> str:
    """orjson's compact encoding; json's where orjson refuses a value
    (integers over 64 bits, keys that are not strings)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


def _error_response(request_id: Any, exc: BaseException) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": to_error_object(exc)}


def _host_allowed(host_header: str | None, vhosts: tuple[str, ...]) -> bool:
    """geth's virtual-host check: IP literals always pass (they cannot be
    rebound), names must be in the allowlist, "*" allows any."""
    if "*" in vhosts:
        return True
    if not host_header:
        return False
    host = urlsplit("//" + host_header).hostname or ""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return host.lower() in {v.lower() for v in vhosts}


def _origin_allowed(origin: str | None, allowed: tuple[str, ...]) -> bool:
    """A WebSocket handshake from a browser must come from an allowed origin;
    clients that send no Origin (libraries, tools) are not browsers."""
    if origin is None:
        return True
    if "*" in allowed:
        return True
    if allowed:
        return origin.lower() in {o.lower().rstrip("/") for o in allowed}
    return (urlsplit(origin).hostname or "") in LOCAL_HOSTS


# What handlers that answer at once return: no need to ask whether it is a coroutine.
_PLAIN_RESULTS = frozenset({str, dict, list, bool, int, type(None)})


def _valid_id(value: Any) -> bool:
    return type(value) in _ID_TYPES or (isinstance(value, (str, int, float)) and not isinstance(value, bool))


_ID_TYPES = frozenset({int, str, type(None), float})


def _is_call(item: Any) -> bool:
    """A request that expects an answer: an object with a valid id and a method."""
    return isinstance(item, dict) and "id" in item and _valid_id(item["id"]) and isinstance(item.get("method"), str)


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft open-files limit towards `wanted` (up to the hard limit)
    and return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


class RpcServer:
    def __init__(self, registry: Registry, limits: ServerLimits = ServerLimits(), workers: int | None = None) -> None:
        self.registry = registry
        self.limits = limits
        evm_workers = workers or limits.evm_workers
        scan_workers = workers or limits.scan_workers
        self._pools = {
            "evm": ThreadPoolExecutor(max_workers=evm_workers, thread_name_prefix="rpc-evm"),
            "scan": ThreadPoolExecutor(max_workers=scan_workers, thread_name_prefix="rpc-scan"),
        }
        # Transaction admission (decode, sender recovery, pool, journal): off the
        # event loop, in arrival order (see lane.py).
        self._tx_lane = SerialLane("rpc-tx")
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None
        self.port: int | None = None
        self._connections: set[Connection] = set()
        self.open_connections: dict[asyncio.Transport, _Guard] = {}
        self.max_connections = limits.max_connections
        self.notification_budget = NotificationBudget(limits.max_ws_backlog_total_bytes)
        self.stats: dict[str, int] = {
            "connections_refused": 0,
            "slow_clients_closed": 0,
            "subscribers_dropped": 0,
            "responses_too_large": 0,
        }
        self._on_stop: list[Callable[[], None]] = []
        self._hosts_seen: dict[bytes, bool] = {}  # Host header -> allowed (the plain path's cache)
        self._heads: dict[bytes, object] = {}  # request head -> what plain_request made of it
        self._date_second = -1
        self._date = b""
        # The CORS middleware's Vary, on every answer where origins are listed.
        self._vary = b"Vary: Origin\r\n" if limits.cors_origins and "*" not in limits.cors_origins else b""
        self._metrics: list[Callable[[], dict[str, float]]] = [self._own_metrics]

    def add_metrics(self, source: Callable[[], dict[str, float]]) -> None:
        """Serve the figures `source` returns at GET /metrics (Prometheus text)."""
        self._metrics.append(source)

    def _own_metrics(self) -> dict[str, float]:
        figures: dict[str, float] = {
            f"openledger_rpc_{name}_total": value for name, value in self.stats.items()
        }
        figures["openledger_rpc_open_connections"] = len(self.open_connections)
        figures["openledger_rpc_websockets"] = len(self._connections)
        return figures

    def on_stop(self, callback: Callable[[], None]) -> None:
        """Call `callback` when the server stops (to unsubscribe from the node)."""
        self._on_stop.append(callback)

    # --- lifecycle -----------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(
            client_max_size=self.limits.max_body_bytes, middlewares=[self._checks, self._cors]
        )
        app.router.add_route("POST", "/", self._handle_http)
        app.router.add_route("GET", "/", self._handle_get)
        app.router.add_route("OPTIONS", "/", self._handle_options)
        app.router.add_route("GET", "/health", self._handle_health)
        app.router.add_route("GET", "/metrics", self._handle_metrics)
        return app

    async def start(self, host: str, port: int) -> int:
        fds = raise_fd_limit(self.limits.max_connections + RESERVED_FDS)
        if self.limits.max_connections + RESERVED_FDS > fds:
            self.max_connections = max(fds - RESERVED_FDS, 1)
            log.warning(
                "rpc.max_connections %d lowered to %d: the open-files limit is %d",
                self.limits.max_connections, self.max_connections, fds,
            )
        self._runner = web.AppRunner(
            self.app(), access_log=None, keepalive_timeout=self.limits.idle_timeout
        )
        await self._runner.setup()
        aiohttp_server = self._runner.server
        assert aiohttp_server is not None
        loop = asyncio.get_running_loop()
        self._listener = await loop.create_server(
            lambda: _Guard(self, aiohttp_server), host, port, reuse_address=True, backlog=1024
        )
        self.port = int(self._listener.sockets[0].getsockname()[1])
        log.info("JSON-RPC listening on http://%s:%d (WebSocket on the same port)", host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
        for connection in list(self._connections):
            connection.close()
            if connection.ws is not None:
                await connection.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
        for transport in list(self.open_connections):
            transport.abort()
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)
        self._tx_lane.shutdown()
        for callback in self._on_stop:
            callback()

    # --- HTTP ----------------------------------------------------------------

    @web.middleware
    async def _checks(self, request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        """Host allowlist on every request; JSON content type on a POST."""
        if not _host_allowed(request.headers.get("Host"), self.limits.vhosts):
            return web.Response(status=403, text="invalid host specified\n")
        if request.method == "POST":
            content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if content_type not in JSON_CONTENT_TYPES:
                return web.Response(
                    status=415, text="invalid content type, only application/json is supported\n"
                )
        result: web.StreamResponse = await handler(request)
        return result

    @web.middleware
    async def _cors(self, request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        """CORS as geth answers it: an allowed origin (or `*`) may read the
        answers; a preflight gets the methods, the headers it asked for and a
        ten-minute max age; any other origin gets no CORS header, so the browser
        keeps the answer from the page."""
        response: web.StreamResponse = await handler(request)
        origin = request.headers.get("Origin")
        allowed = self.limits.cors_origins
        wildcard = "*" in allowed
        if allowed and not wildcard:
            response.headers.add("Vary", "Origin")  # the answer depends on the origin
        if origin and (wildcard or origin in allowed):
            response.headers["Access-Control-Allow-Origin"] = "*" if wildcard else origin
            if request.method == "OPTIONS":
                response.headers["Access-Control-Allow-Methods"] = "POST, GET, OPTIONS"
                response.headers["Access-Control-Allow-Headers"] = request.headers.get(
                    "Access-Control-Request-Headers", "Content-Type"
                )
                response.headers["Access-Control-Max-Age"] = "600"
        return response

    async def _handle_options(self, request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def _handle_health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _handle_metrics(self, request: web.Request) -> web.Response:
        lines = []
        for source in self._metrics:
            for name, value in sorted(source().items()):
                kind = "counter" if name.endswith("_total") else "gauge"
                lines.append(f"# TYPE {name} {kind}\n{name} {value:g}")
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    async def _handle_http(self, request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > self.limits.max_body_bytes:
            return self._too_large()
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._too_large()
        guard = self._guard(request)
        if guard is not None:
            guard.request_read()
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
        if not _origin_allowed(request.headers.get("Origin"), self.limits.ws_origins):
            return web.Response(status=403, text="websocket origin not allowed\n")
        guard = self._guard(request)
        if guard is not None:
            guard.upgrade()
        ws = _WebSocket(self.limits.max_ws_message_bytes, heartbeat=30)
        await ws.prepare(request)
        connection = Connection(
            ws, asyncio.get_running_loop(), self.limits.max_ws_backlog_bytes, self.notification_budget
        )
        connection.on_drop = self._dropped
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

    def _guard(self, request: web.Request) -> _Guard | None:
        transport = request.transport
        return None if transport is None else self.open_connections.get(transport)

    def _dropped(self, connection: Connection) -> None:
        self.stats["subscribers_dropped"] += 1

    # --- the plain HTTP path (see _Guard) ----------------------------------------

    def plain_request(self, buffer: bytearray) -> tuple[int, bytes, bool] | object | None:
        """The request at the front of `buffer` if it is a plain JSON-RPC POST
        that passes the Host and content-type checks: (its size in bytes, its
        body, whether the client asked to close after it). None: its head or
        body has not fully arrived. HAND_OVER: anything else, for aiohttp."""
        end = buffer.find(b"\r\n\r\n", 0, MAX_HEAD_BYTES + 4)
        if end < 0:
            return HAND_OVER if len(buffer) > MAX_HEAD_BYTES else None
        head = bytes(buffer[:end])
        # A client sends the same head for every request of a kind (the body
        # length aside): each is parsed once.
        parsed = self._heads.get(head)
        if parsed is None:
            parsed = self._plain_head(head)
            if len(self._heads) >= HEADS_KEPT:
                self._heads.clear()
            self._heads[head] = parsed
        if parsed is HAND_OVER:
            return HAND_OVER
        length, close = cast(tuple[int, bool], parsed)
        size = end + 4 + length
        if len(buffer) < size:
            return None
        return size, bytes(buffer[end + 4:size]), close

    def _plain_head(self, head: bytes) -> tuple[int, bool] | object:
        """(Content-Length, Connection: close) of a plain request's head, or HAND_OVER."""
        lines = head.split(b"\r\n")
        if lines[0] != b"POST / HTTP/1.1":
            return HAND_OVER
        length = host = content_type = None
        close = False
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not _TOKEN.fullmatch(name):
                return HAND_OVER
            value = value.strip(b" \t")
            if not _FIELD_VALUE.fullmatch(value):
                return HAND_OVER
            name = name.lower()
            if name == b"content-length":
                if length is not None or not value.isdigit():
                    return HAND_OVER
                length = int(value)
            elif name == b"host":
                if host is not None:
                    return HAND_OVER
                host = value
            elif name == b"content-type":
                if content_type is not None:
                    return HAND_OVER
                content_type = value
            elif name == b"connection":
                token = value.lower()
                if token == b"close":
                    close = True
                elif token != b"keep-alive":
                    return HAND_OVER
            elif name in _NOT_PLAIN_HEADERS:
                return HAND_OVER
        if length is None or length > self.limits.max_body_bytes or content_type is None or host is None:
            return HAND_OVER
        if content_type.split(b";")[0].strip().lower() not in _JSON_CONTENT_TYPES or not self._host_ok(host):
            return HAND_OVER
        return length, close

    def _host_ok(self, host: bytes) -> bool:
        allowed = self._hosts_seen.get(host)
        if allowed is None:
            allowed = _host_allowed(host.decode("latin-1"), self.limits.vhosts)
            if len(self._hosts_seen) >= 256:
                self._hosts_seen.clear()
            self._hosts_seen[host] = allowed
        return allowed

    def response_head(self, length: int, close: bool) -> bytes:
        """The head of a 200 answer with a JSON body, as aiohttp writes it for
        `_handle_http` (with the CORS middleware's Vary where it adds one)."""
        now = int(time.time())
        if now != self._date_second:
            self._date_second = now
            self._date = formatdate(now, usegmt=True).encode()
        return b"".join((
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ",
            str(length).encode(), b"\r\nDate: ", self._date, b"\r\n", self._vary,
            b"Connection: close\r\n\r\n" if close else b"\r\n",
        ))

    # --- JSON-RPC ----------------------------------------------------------------

    async def handle_payload(self, body: bytes, connection: Connection | None) -> str | None:
        """Answer a raw request body: one request or a batch. None: nothing to send."""
        answer = self.answer(body, connection)
        if answer is None or isinstance(answer, str):
            return answer
        return await answer

    def answer(self, body: bytes, connection: Connection | None) -> str | None | Awaitable[str | None]:
        """The answer to a raw request body, computed here when every call in it
        runs on the event loop; otherwise something to await for it."""
        if json_too_deep(body):
            return _dumps(_error_response(None, ParseError(
                f"parse error: JSON nested deeper than {MAX_JSON_DEPTH} levels")))
        try:
            payload = _loads(body)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            return _dumps(_error_response(None, ParseError("parse error")))
        if isinstance(payload, list):
            return self._answer_batch(payload, connection)
        reply = self._reply(payload, connection)
        if reply is None or isinstance(reply, dict):
            return self._encode(reply)
        return self._encode_later(reply)

    async def _encode_later(self, reply: Awaitable[dict[str, Any] | None]) -> str | None:
        return self._encode(await reply)

    def _encode(self, reply: dict[str, Any] | None) -> str | None:
        if reply is None:
            return None
        encoded = _dumps(reply)
        if len(encoded) > self.limits.max_response_bytes:
            self.stats["responses_too_large"] += 1
            return _dumps(_error_response(reply.get("id"), ResponseTooLarge()))
        return encoded

    def _answer_batch(self, batch: list[Any], connection: Connection | None) -> str | None | Awaitable[str | None]:
        if not batch:
            return _dumps(_error_response(None, InvalidRequest("empty batch")))
        if len(batch) > self.limits.max_batch:
            # geth's answer: one error, carrying the id of the batch's first call.
            first_id = next((item["id"] for item in batch if _is_call(item)), None)
            return _dumps([_error_response(first_id, InvalidRequest("batch too large"))])
        answer = _BatchAnswer(self, batch, connection)
        pending = answer.run()
        if pending is None:
            return answer.text()
        return self._finish_batch(answer, pending)

    async def _finish_batch(self, answer: _BatchAnswer, pending: Awaitable[dict[str, Any] | None]) -> str | None:
        next_: Awaitable[dict[str, Any] | None] | None = pending
        while next_ is not None:
            answer.add(await next_)
            next_ = answer.run()
        return answer.text()

    async def handle_request(self, request: Any, connection: Connection | None) -> dict[str, Any] | None:
        reply = self._reply(request, connection)
        if reply is None or isinstance(reply, dict):
            return reply
        return await reply

    def _reply(
        self, request: Any, connection: Connection | None
    ) -> dict[str, Any] | None | Awaitable[dict[str, Any] | None]:
        """The reply to one call (None for a notification), or, for a call that
        runs in a worker pool (or a coroutine handler), something to await for it."""
        if not isinstance(request, dict):
            return _error_response(None, InvalidRequest("invalid request: not a JSON object"))
        request_id = request.get("id")
        is_notification = "id" not in request
        if not _valid_id(request_id):
            return _error_response(None, InvalidRequest("invalid request: id must be a string, number or null"))
        if request.get("jsonrpc") != "2.0":
            return _error_response(request_id, InvalidRequest("invalid request: jsonrpc must be \"2.0\""))
        method_name = request.get("method")
        if not isinstance(method_name, str):
            return _error_response(request_id, InvalidRequest("invalid request: method must be a string"))
        try:
            method = self.registry.lookup(method_name)
            args = self.registry.parse_params(method, request.get("params"))
            spec = method.spec
            if spec.connection:
                args.insert(0, connection)
            if spec.blocking == "tx":
                future = self._tx_lane.submit(method.func, *args)
                return self._settle(request_id, is_notification, method_name, future)
            if spec.blocking:
                kind = spec.blocking
                pool = self._pools[kind if isinstance(kind, str) and kind in self._pools else "scan"]
                future = asyncio.get_running_loop().run_in_executor(pool, method.func, *args)
                return self._settle(request_id, is_notification, method_name, future)
            result = method.func(*args)
            if type(result) not in _PLAIN_RESULTS and asyncio.iscoroutine(result):
                return self._settle(request_id, is_notification, method_name, result)
        except (RpcError, OpenLedgerError) as exc:
            return None if is_notification else _error_response(request_id, exc)
        except Exception as exc:
            log.exception("unexpected error in %s", method_name)
            return None if is_notification else _error_response(request_id, exc)
        if is_notification:
            return None
        return {"jsonrpc": "2.0", "id": request_id, "result": result}

    async def _settle(
        self, request_id: Any, is_notification: bool, method_name: str, pending: Awaitable[Any]
    ) -> dict[str, Any] | None:
        try:
            result = await pending
        except (RpcError, OpenLedgerError) as exc:
            return None if is_notification else _error_response(request_id, exc)
        except Exception as exc:
            log.exception("unexpected error in %s", method_name)
            return None if is_notification else _error_response(request_id, exc)
        if is_notification:
            return None
        return {"jsonrpc": "2.0", "id": request_id, "result": result}


class _BatchAnswer:
    """A batch answered in order: each call runs once the one before it has
    answered (a write then a read of it in one batch sees the write). The
    answer is bounded: past `max_response_bytes`, the call that went over
    and every later one get ResponseTooLarge and are not run."""

    def __init__(self, server: RpcServer, batch: list[Any], connection: Connection | None) -> None:
        self.server = server
        self.batch = batch
        self.connection = connection
        self.index = 0  # the next call to answer
        self.parts: list[str] = []
        self.size = 0

    def run(self) -> Awaitable[dict[str, Any] | None] | None:
        """Answer calls until one must be awaited (returned: `add` its reply)
        or the batch is done (None)."""
        while self.index < len(self.batch):
            reply = self.server._reply(self.batch[self.index], self.connection)
            if reply is not None and not isinstance(reply, dict):
                return reply
            self.add(reply)
        return None

    def add(self, reply: dict[str, Any] | None) -> None:
        index = self.index
        self.index += 1
        if reply is None:
            return
        encoded = _dumps(reply)
        self.size += len(encoded)
        if self.size > self.server.limits.max_response_bytes:
            self.server.stats["responses_too_large"] += 1
            self.parts.append(_dumps(_error_response(reply.get("id"), ResponseTooLarge())))
            self.parts.extend(
                _dumps(_error_response(later.get("id"), ResponseTooLarge()))
                for later in self.batch[index + 1:]
                if isinstance(later, dict) and "id" in later
            )
            self.index = len(self.batch)
            return
        self.parts.append(encoded)

    def text(self) -> str | None:
        return "[" + ",".join(self.parts) + "]" if self.parts else None
