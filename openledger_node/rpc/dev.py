"""anvil / Hardhat-style dev helpers (`evm_*`, `anvil_*`): registered as
dev-only, so they answer only on a dev network, and only on a node that
produces blocks (they drive its `DevControls` and its `Mining` loop).

State edits (`anvil_setBalance`, `anvil_setCode`, `anvil_setNonce`,
`anvil_setStorageAt`) are sealed at once in a block of their own; see
openledger_node/devstate.py and the dev-methods section of docs/rpc.md."""

from __future__ import annotations

import threading
from typing import Any

from openledger_node.devstate import AccountPatch
from openledger_node.rpc import params as p
from openledger_node.rpc.backend import Backend, DevControls, DevPool, Mining
from openledger_node.rpc.errors import InvalidParams, Unavailable
from openledger_node.rpc.format import d, q
from openledger_node.rpc.params import ParamError
from openledger_node.rpc.registry import Param, rpc
from openledger_node.rpc.web3_net import CLIENT_VERSION

# Headers hold 64-bit timestamps and every later block adds at least a second:
# dev controls stay within int64 (as anvil's do), which leaves room for all of them.
MAX_TIMESTAMP = 2**63 - 1
MAX_MINE_BLOCKS = 1000
# anvil_mine / hardhat_mine: Hardhat fixtures mine thousands of blocks to pass a
# timelock; each is a real block here, so the count is bounded.
MAX_ANVIL_MINE_BLOCKS = 10_000
MAX_INTERVAL_SECONDS = 3600


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

    @property
    def pool(self) -> DevPool:
        self.dev  # noqa: B018 - refuse on a node without dev controls
        if self.b.dev_pool is None:
            raise Unavailable("this node does not keep a transaction pool of its own")
        return self.b.dev_pool

    @property
    def mining(self) -> Mining:
        if self.b.mining is None:
            raise Unavailable("this node does not produce blocks; dev controls are unavailable")
        return self.b.mining

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

    @rpc("anvil_snapshot", dev_only=True)
    def anvil_snapshot(self) -> str:
        return self.snapshot()

    @rpc("anvil_revert", Param("id", p.quantity), dev_only=True, blocking=True)
    def anvil_revert(self, snapshot_id: int) -> bool:
        return self.revert(snapshot_id)

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


    # --- mining --------------------------------------------------------------------------

    @rpc("anvil_mine", Param("count", p.any_value, None), Param("interval", p.any_value, None),
         dev_only=True, blocking=True)
    def anvil_mine(self, count: Any, interval: Any) -> None:
        """`count` blocks (default 1), each `interval` seconds after the one before
        (default: the clock's time, at least a second after its parent)."""
        dev = self.dev
        blocks = 1 if count is None else _int_or_hex(count, "count")
        if not 1 <= blocks <= MAX_ANVIL_MINE_BLOCKS:
            raise InvalidParams(f"invalid argument 0: count must be between 1 and {MAX_ANVIL_MINE_BLOCKS}")
        step = None if interval is None else _int_or_hex(interval, "interval", index=1)
        if step is not None:
            _check_timestamp(self.b.head().timestamp + 1 + step * blocks)
        for i in range(blocks):
            timestamp = None if step is None or i == 0 else int(self.b.head().timestamp) + step
            dev.mine(timestamp)

    @rpc("hardhat_mine", Param("count", p.any_value, None), Param("interval", p.any_value, None),
         dev_only=True, blocking=True)
    def hardhat_mine(self, count: Any, interval: Any) -> None:
        self.anvil_mine(count, interval)

    @rpc("evm_setAutomine", Param("enabled", p.boolean), dev_only=True)
    def set_automine(self, enabled: bool) -> None:
        self.mining.set_automine(enabled)

    @rpc("anvil_setAutomine", Param("enabled", p.boolean), dev_only=True)
    def anvil_set_automine(self, enabled: bool) -> None:
        self.set_automine(enabled)

    @rpc("anvil_getAutomine", dev_only=True)
    def get_automine(self) -> bool:
        return self.mining.automine

    @rpc("hardhat_getAutomine", dev_only=True)
    def hardhat_get_automine(self) -> bool:
        """Hardhat Ignition asks this to know that a block per transaction comes
        without waiting for confirmations (anvil answers it too)."""
        return self.get_automine()

    @rpc("evm_setIntervalMining", Param("seconds", p.any_value), dev_only=True)
    def set_interval_mining(self, seconds: Any) -> None:
        """A block every `seconds` (anvil's unit); 0 turns interval mining off."""
        value = _int_or_hex(seconds, "interval")
        if value > MAX_INTERVAL_SECONDS:
            raise InvalidParams(f"invalid argument 0: interval must be at most {MAX_INTERVAL_SECONDS} seconds")
        self.mining.set_interval(float(value))

    @rpc("anvil_setIntervalMining", Param("seconds", p.any_value), dev_only=True)
    def anvil_set_interval_mining(self, seconds: Any) -> None:
        self.set_interval_mining(seconds)

    # --- the pool --------------------------------------------------------------------------

    @rpc("anvil_dropTransaction", Param("hash", p.hash32), dev_only=True)
    def drop_transaction(self, tx_hash: bytes) -> str | None:
        """Remove a transaction from the pool; its hash when it was there, else null."""
        pool = self.pool
        if self.b.pool.get(tx_hash) is None:
            return None
        pool.remove([tx_hash], "dropped: anvil_dropTransaction")
        return d(tx_hash)

    @rpc("anvil_dropAllTransactions", dev_only=True)
    def drop_all_transactions(self) -> None:
        pool = self.pool
        pending, queued = self.b.pool.content()
        hashes = [bytes(tx.hash) for txs in (*pending.values(), *queued.values()) for tx in txs.values()]
        pool.remove(hashes, "dropped: anvil_dropAllTransactions")

    # --- state -------------------------------------------------------------------------------

    @rpc("anvil_setBalance", Param("address", p.address), Param("balance", p.quantity),
         dev_only=True, blocking=True)
    def set_balance(self, address: bytes, balance: int) -> None:
        self.dev.patch_state((AccountPatch(bytes(address), balance=balance),))

    @rpc("anvil_setNonce", Param("address", p.address), Param("nonce", p.quantity), dev_only=True, blocking=True)
    def set_nonce(self, address: bytes, nonce: int) -> None:
        if nonce >= 2**64 - 1:  # EIP-2681
            raise InvalidParams(f"invalid argument 1: nonce {nonce} is not below 2^64 - 1")
        self.dev.patch_state((AccountPatch(bytes(address), nonce=nonce),))

    @rpc("anvil_setCode", Param("address", p.address), Param("code", p.data), dev_only=True, blocking=True)
    def set_code(self, address: bytes, code: bytes) -> None:
        self.dev.patch_state((AccountPatch(bytes(address), code=code),))

    @rpc("anvil_setStorageAt", Param("address", p.address), Param("slot", p.storage_slot),
         Param("value", p.fixed(32, "storage value")), dev_only=True, blocking=True)
    def set_storage_at(self, address: bytes, slot: int, value: bytes) -> bool:
        self.dev.patch_state((AccountPatch(bytes(address), storage=((slot, int.from_bytes(value, "big")),)),))
        return True

    # Hardhat's names (viem's test client in hardhat mode), answered as anvil answers them.

    @rpc("hardhat_setBalance", Param("address", p.address), Param("balance", p.quantity),
         dev_only=True, blocking=True)
    def hardhat_set_balance(self, address: bytes, balance: int) -> None:
        self.set_balance(address, balance)

    @rpc("hardhat_setNonce", Param("address", p.address), Param("nonce", p.quantity), dev_only=True, blocking=True)
    def hardhat_set_nonce(self, address: bytes, nonce: int) -> None:
        self.set_nonce(address, nonce)

    @rpc("hardhat_setCode", Param("address", p.address), Param("code", p.data), dev_only=True, blocking=True)
    def hardhat_set_code(self, address: bytes, code: bytes) -> None:
        self.set_code(address, code)

    @rpc("hardhat_setStorageAt", Param("address", p.address), Param("slot", p.storage_slot),
         Param("value", p.fixed(32, "storage value")), dev_only=True, blocking=True)
    def hardhat_set_storage_at(self, address: bytes, slot: int, value: bytes) -> bool:
        return self.set_storage_at(address, slot, value)

    @rpc("hardhat_dropTransaction", Param("hash", p.hash32), dev_only=True)
    def hardhat_drop_transaction(self, tx_hash: bytes) -> str | None:
        return self.drop_transaction(tx_hash)

    # --- identity ----------------------------------------------------------------------------

    @rpc("anvil_nodeInfo", dev_only=True)
    def node_info(self) -> dict[str, Any]:
        """anvil's shape, with this node's identity: client version, fork, mining mode."""
        dev = self.dev
        head = self.b.head()
        base_fee = self.b.next_base_fee(head)
        mining = self.b.mining
        return {
            "clientVersion": CLIENT_VERSION,
            "currentBlockNumber": q(head.block_number),
            "currentBlockTimestamp": int(head.timestamp),
            "currentBlockHash": d(head.hash),
            "hardFork": dev.fork_name(),
            "transactionOrder": "fees",
            "mining": mining.mode if mining is not None else "manual",
            "environment": {
                "baseFee": q(base_fee),
                "chainId": self.b.chain_id,
                "gasLimit": q(head.gas_limit),
                "gasPrice": q(base_fee),
            },
            "forkConfig": {"forkUrl": None, "forkBlockNumber": None, "forkRetryBackoff": None},
        }


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


def _int_or_hex(value: Any, what: str, index: int = 0) -> int:
    """anvil and Hardhat accept these as JSON numbers or hex quantities."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        try:
            return p.quantity(value)
        except ParamError as exc:
            raise InvalidParams(f"invalid argument {index}: {exc}") from None
    raise InvalidParams(f"invalid argument {index}: {what} must be a non-negative number or hex quantity")
