"""Subscriptions (`eth_subscribe`, WebSocket only): `newHeads` and `logs` fed by
the chain store's head events, `newPendingTransactions` by the pool.

Events arrive on the writer's thread (the sequencer, a validator's import, a
dev-mode `evm_mine`) and on the pool's; the listeners only queue them (a bounded
queue: past it events are dropped and counted, never waited for), and one
fan-out thread formats each result once and hands every subscriber its message
through the connection's thread-safe `send_raw`. So however many subscribers
there are, the sequencer's thread does the same small amount of work, and a
subscriber that does not read is dropped by its connection's backlog bound.
"""

from __future__ import annotations

import json
import logging
import queue
import secrets
import threading
from typing import Any

from openledger_node.rpc import params as p
from openledger_node.rpc.backend import Backend
from openledger_node.rpc.errors import InvalidParams, LimitExceeded, NotificationsUnsupported
from openledger_node.rpc.format import d, format_header, format_log, format_transaction
from openledger_node.rpc.logs import LogCriteria, log_criteria
from openledger_node.rpc.params import ParamError
from openledger_node.rpc.registry import Param, rpc
from openledger_node.rpc.server import Connection, notification
from openledger_node.storage import BlockAdded, ChainEvent

log = logging.getLogger("openledger.rpc")


# Events waiting for the fan-out thread; past this they are dropped (and counted).
EVENT_QUEUE = 65_536


class SubscriptionApi:
    def __init__(self, backend: Backend, max_subscriptions: int) -> None:
        self.b = backend
        self.max_subscriptions = max_subscriptions
        self._subs: dict[str, tuple[Connection, str, Any]] = {}
        self._lock = threading.Lock()
        self._events: queue.Queue[ChainEvent | bytes | None] = queue.Queue(EVENT_QUEUE)
        self.events_dropped = 0
        self._thread = threading.Thread(target=self._fan_out, name="rpc-notify", daemon=True)
        self._thread.start()
        self._unsubscribe = _chain(
            backend.events.subscribe(self._enqueue), backend.pool.subscribe(self._enqueue)
        )

    def close(self) -> None:
        self._unsubscribe()
        try:
            self._events.put(None, timeout=1)
        except queue.Full:
            pass
        self._thread.join(5)

    def _enqueue(self, event: ChainEvent | bytes) -> None:
        """Runs on the writer's or the pool's thread: queue and return."""
        if isinstance(event, bytes) or (isinstance(event, BlockAdded) and "unsafe" in event.heads):
            if not self._subs:
                return
            try:
                self._events.put_nowait(event)
            except queue.Full:
                self.events_dropped += 1
                if self.events_dropped % 1000 == 1:
                    log.warning("subscription events dropped: %d (fan-out behind)", self.events_dropped)

    def _fan_out(self) -> None:
        while True:
            event = self._events.get()
            if event is None:
                return
            try:
                if isinstance(event, bytes):
                    self._on_pending(event)
                else:
                    self._on_chain_event(event)
            except Exception:
                log.exception("fanning out a subscription event failed")

    @rpc("eth_subscribe", Param("kind", p.string), Param("options", p.any_value, None), connection=True)
    def subscribe(self, connection: Connection | None, kind: str, options: Any) -> str:
        if connection is None:
            raise NotificationsUnsupported()
        if kind == "newHeads":
            arg: Any = None
        elif kind == "logs":
            try:
                arg = log_criteria(options or {})
            except ParamError as exc:
                raise InvalidParams(f"invalid argument 1: {exc}") from None
        elif kind == "newPendingTransactions":
            arg = bool(options) if isinstance(options, bool) else False
        else:
            raise InvalidParams(f"no \"{kind}\" subscription in eth namespace")
        if len(connection.subscriptions) >= self.max_subscriptions:
            raise LimitExceeded(
                f"too many subscriptions on this connection: limit is {self.max_subscriptions}"
            )
        sub_id = "0x" + secrets.token_hex(16)
        with self._lock:
            self._subs[sub_id] = (connection, kind, arg)
        connection.subscriptions[sub_id] = lambda: self._drop(sub_id)
        return sub_id

    def _drop(self, sub_id: str) -> None:
        with self._lock:
            self._subs.pop(sub_id, None)

    @rpc("eth_unsubscribe", Param("id", p.string), connection=True)
    def unsubscribe(self, connection: Connection | None, sub_id: str) -> bool:
        if connection is None:
            raise NotificationsUnsupported()
        unsubscribe = connection.subscriptions.pop(sub_id.lower(), None)
        if unsubscribe is None:
            return False
        unsubscribe()
        return True

    def _on_chain_event(self, event: ChainEvent) -> None:
        if not isinstance(event, BlockAdded):
            return
        with self._lock:
            subs = list(self._subs.items())
        header = event.header
        head_json = None
        outgoing: dict[Connection, list[str]] = {}
        for sub_id, (connection, kind, arg) in subs:
            try:
                if kind == "newHeads":
                    if head_json is None:
                        head_json = json.dumps(format_header(header))
                    outgoing.setdefault(connection, []).append(notification(sub_id, head_json))
                elif kind == "logs":
                    outgoing.setdefault(connection, []).extend(_log_notifications(sub_id, arg, event))
            except Exception:
                log.exception("notifying subscription %s of block %d failed", sub_id, header.block_number)
        for connection, messages in outgoing.items():
            if messages:
                connection.send_many(messages)  # one hop to the event loop per connection

    def _on_pending(self, tx_hash: bytes) -> None:
        with self._lock:
            subs = [(s, c, a) for s, (c, k, a) in self._subs.items() if k == "newPendingTransactions"]
        hash_json = full_json = None
        for sub_id, connection, full in subs:
            if full:
                if full_json is None:
                    tx = self.b.pool.get(tx_hash)
                    if tx is None:
                        continue
                    full_json = json.dumps(format_transaction(tx))
                connection.send_raw(notification(sub_id, full_json))
            else:
                if hash_json is None:
                    hash_json = json.dumps(d(tx_hash))
                connection.send_raw(notification(sub_id, hash_json))


def _log_notifications(sub_id: str, criteria: LogCriteria, event: BlockAdded) -> list[str]:
    out = []
    log_index = 0
    for tx_index, (tx_hash, receipt) in enumerate(zip(event.tx_hashes, event.receipts)):
        for entry in receipt.logs:
            if criteria.matches(entry):
                out.append(notification(sub_id, json.dumps(format_log(entry, event.header, tx_hash, tx_index, log_index))))
            log_index += 1
    return out


def _chain(*unsubscribes: Any) -> Any:
    def close() -> None:
        for unsubscribe in unsubscribes:
            unsubscribe()

    return close
