"""anvil / Hardhat-style dev helpers (`evm_*`): registered as dev-only, so they
answer only on a dev network, and only on a node that produces blocks (they
drive its `DevControls`)."""

from __future__ import annotations

import threading
from typing import Any

from openledger_node.rpc import params as p
from openledger_node.rpc.backend import Backend, DevControls
from openledger_node.rpc.errors import InvalidParams, Unavailable
from openledger_node.rpc.format import q
from openledger_node.rpc.registry import Param, rpc

# Headers hold 64-bit timestamps and every later block adds at least a second:
# dev controls stay within int64 (as anvil's do), which leaves room for all of them.
MAX_TIMESTAMP = 2**63 - 1
MAX_MINE_BLOCKS = 1000


class DevApi:
    def __init__(self, backend: Backend) -> None:
        self.b = backend
        self._snapshots: dict[int, int] = {}
        self._next_snapshot = 1
        self._lock = threading.Lock()

    @property
    def dev(self) -> DevControls:
        if self.b.dev is None:
            raise Unavailable("this node does not produce blocks; dev controls are unavailable")
        return self.b.dev

    @rpc("evm_mine", Param("options", p.any_value, None), dev_only=True, blocking=True)
    def mine(self, options: Any) -> str:
        """anvil's forms: no argument, a timestamp (number or quantity), or
        {"timestamp": t, "blocks": n}."""
        dev = self.dev
        timestamp, blocks = _mine_options(options)
        if timestamp is not None:
            _check_timestamp(timestamp + blocks - 1)
        for i in range(blocks):
            dev.mine(None if timestamp is None else timestamp + i)
        return q(0)

    @rpc("evm_snapshot", dev_only=True)
    def snapshot(self) -> str:
        self.dev  # noqa: B018 - refuse on a node without dev controls
        with self._lock:
            snapshot_id = self._next_snapshot
            self._next_snapshot += 1
            self._snapshots[snapshot_id] = int(self.b.head().block_number)
        return q(snapshot_id)

    @rpc("evm_revert", Param("id", p.quantity), dev_only=True, blocking=True)
    def revert(self, snapshot_id: int) -> bool:
        dev = self.dev
        with self._lock:
            number = self._snapshots.get(snapshot_id)
            if number is None:
                return False
            # Reverting to a snapshot invalidates it and every later one, as in anvil.
            for later in [s for s in self._snapshots if s >= snapshot_id]:
                del self._snapshots[later]
        dev.rewind(number)
        return True

    @rpc("evm_increaseTime", Param("seconds", p.any_value), dev_only=True)
    def increase_time(self, seconds: Any) -> str:
        dev = self.dev
        amount = _int_or_hex(seconds, "seconds")
        if dev.now() + amount > MAX_TIMESTAMP:
            raise InvalidParams(f"invalid argument 0: increasing the time by {amount} s overflows the timestamp")
        return q(dev.increase_time(amount))

    @rpc("evm_setNextBlockTimestamp", Param("timestamp", p.any_value), dev_only=True)
    def set_next_block_timestamp(self, timestamp: Any) -> None:
        dev = self.dev
        value = _int_or_hex(timestamp, "timestamp")
        _check_timestamp(value)
        head = self.b.head()
        if value <= head.timestamp:
            raise InvalidParams(
                f"timestamp {value} is not after the latest block's timestamp {head.timestamp}"
            )
        dev.set_next_timestamp(value)


def _check_timestamp(timestamp: int) -> None:
    if timestamp > MAX_TIMESTAMP:
        raise InvalidParams(f"invalid argument 0: timestamp {timestamp} is larger than int64")


def _mine_options(options: Any) -> tuple[int | None, int]:
    """(timestamp or None, number of blocks) from evm_mine's argument."""
    if options is None:
        return None, 1
    if isinstance(options, dict):
        unknown = set(options) - {"timestamp", "blocks"}
        if unknown:
            raise InvalidParams(f"invalid argument 0: unknown field {min(unknown)!r} in mine options")
        raw_ts, raw_blocks = options.get("timestamp"), options.get("blocks")
        timestamp = None if raw_ts is None else _int_or_hex(raw_ts, "timestamp")
        blocks = 1 if raw_blocks is None else _int_or_hex(raw_blocks, "blocks")
        if not 1 <= blocks <= MAX_MINE_BLOCKS:
            raise InvalidParams(f"invalid argument 0: blocks must be between 1 and {MAX_MINE_BLOCKS}")
        return timestamp, blocks
    return _int_or_hex(options, "timestamp"), 1


def _int_or_hex(value: Any, what: str) -> int:
    """anvil and Hardhat accept these as JSON numbers or hex quantities."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        try:
            return p.quantity(value)
        except p.ParamError as exc:
            raise InvalidParams(f"invalid argument 0: {exc}") from None
    raise InvalidParams(f"invalid argument 0: {what} must be a non-negative number or hex quantity")
