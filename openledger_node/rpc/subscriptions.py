"""Subscriptions (`eth_subscribe`, WebSocket only): `newHeads` and `logs` fed by
the chain store's head events, `newPendingTransactions` by the pool.

Events arrive on the writer's thread (the sequencer, a validator's import, a
dev-mode `evm_mine`); each notification goes through the connection's
thread-safe `notify`, and a failing one is logged, never raised to the writer.
"""

from __future__ import annotations

import logging
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
from openledger_node.rpc.server import Connection
from openledger_node.storage import BlockAdded, ChainEvent

log = logging.getLogger("openledger.rpc")


class SubscriptionApi:
    def __init__(self, backend: Backend, max_subscriptions: int) -> None:
        self.b = backend
        self.max_subscriptions = max_subscriptions
        self._subs: dict[str, tuple[Connection, str, Any]] = {}
        self._lock = threading.Lock()
        self.close = _chain(backend.events.subscribe(self._on_chain_event), backend.pool.subscribe(self._on_pending))

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
        if not isinstance(event, BlockAdded) or "unsafe" not in event.heads:
            return
        with self._lock:
            subs = list(self._subs.items())
        if not subs:
            return
        header = event.header
        head_json = None
        for sub_id, (connection, kind, arg) in subs:
            try:
                if kind == "newHeads":
                    if head_json is None:
                        head_json = format_header(header)
                    connection.notify(sub_id, head_json)
                elif kind == "logs":
                    _notify_logs(connection, sub_id, arg, event)
            except Exception:
                log.exception("notifying subscription %s of block %d failed", sub_id, header.block_number)

    def _on_pending(self, tx_hash: bytes) -> None:
        with self._lock:
            subs = [(s, c, a) for s, (c, k, a) in self._subs.items() if k == "newPendingTransactions"]
        for sub_id, connection, full in subs:
            if full:
                tx = self.b.pool.get(tx_hash)
                if tx is not None:
                    connection.notify(sub_id, format_transaction(tx))
            else:
                connection.notify(sub_id, d(tx_hash))


def _notify_logs(connection: Connection, sub_id: str, criteria: LogCriteria, event: BlockAdded) -> None:
    log_index = 0
    for tx_index, (tx_hash, receipt) in enumerate(zip(event.tx_hashes, event.receipts)):
        for entry in receipt.logs:
            if criteria.matches(entry):
                connection.notify(sub_id, format_log(entry, event.header, tx_hash, tx_index, log_index))
            log_index += 1


def _chain(*unsubscribes: Any) -> Any:
    def close() -> None:
        for unsubscribe in unsubscribes:
            unsubscribe()

    return close
