"""`web3_`, `net_`, `txpool_`, the rollup's `openledger_` namespace, and the
dev-mode helpers (`evm_*`), which are refused unless the node runs in dev mode."""

from __future__ import annotations

import platform
import sys
import threading
from typing import Any

from eth_hash.auto import keccak
from eth_utils.address import to_checksum_address

from openledger_node import __version__
from openledger_node.execution.block import decode_l1_info
from openledger_node.execution.state import StateView
from openledger_node.execution.transactions import DepositTransaction, Transaction
from openledger_node.primitives import L2_TO_L1_MESSAGE_PASSER_ADDRESS
from openledger_node.rpc import params as p
from openledger_node.rpc.backend import Backend
from openledger_node.rpc.errors import InvalidParams
from openledger_node.rpc.format import d, format_transaction, q
from openledger_node.rpc.params import BlockId
from openledger_node.rpc.registry import Param, rpc

CLIENT_VERSION = (
    f"openledger-node/v{__version__}/{sys.platform}-{platform.machine()}/"
    f"python{sys.version_info.major}.{sys.version_info.minor}"
)


def output_root(state_root: bytes, message_passer_storage_root: bytes, block_hash: bytes) -> bytes:
    """OP-compatible output root (version 0)."""
    return bytes(keccak(b"\x00" * 32 + state_root + message_passer_storage_root + block_hash))


class Web3NetApi:
    def __init__(self, backend: Backend) -> None:
        self.b = backend

    @rpc("web3_clientVersion")
    def client_version(self) -> str:
        return CLIENT_VERSION

    @rpc("web3_sha3", Param("data", p.data))
    def sha3(self, data: bytes) -> str:
        return d(keccak(data))

    @rpc("net_version")
    def net_version(self) -> str:
        return str(self.b.chain_id)

    @rpc("net_listening")
    def net_listening(self) -> bool:
        return True

    @rpc("net_peerCount")
    def net_peer_count(self) -> str:
        return q(0)


def _inspect(tx: Transaction) -> str:
    to = to_checksum_address(tx.to) if tx.to else "contract creation"
    return f"{to}: {tx.value} wei + {tx.gas} gas × {tx.max_fee_per_gas} wei"


class TxPoolApi:
    def __init__(self, backend: Backend) -> None:
        self.b = backend

    @rpc("txpool_status")
    def status(self) -> dict[str, str]:
        pending, queued = self.b.pool.status()
        return {"pending": q(pending), "queued": q(queued)}

    def _group(self, fmt: Any) -> dict[str, dict[str, dict[str, Any]]]:
        pending, queued = self.b.pool.content()
        return {
            name: {
                to_checksum_address(sender): {str(nonce): fmt(tx) for nonce, tx in sorted(txs.items())}
                for sender, txs in sorted(group.items())
            }
            for name, group in (("pending", pending), ("queued", queued))
        }

    @rpc("txpool_content")
    def content(self) -> dict[str, dict[str, dict[str, Any]]]:
        return self._group(format_transaction)

    @rpc("txpool_contentFrom", Param("address", p.address))
    def content_from(self, address: bytes) -> dict[str, dict[str, Any]]:
        key = to_checksum_address(address)
        return {name: group.get(key, {}) for name, group in self.content().items()}

    @rpc("txpool_inspect")
    def inspect(self) -> dict[str, dict[str, dict[str, Any]]]:
        return self._group(_inspect)


class RollupApi:
    """`openledger_` methods: the rollup's view of the chain (op-node's optimism_*)."""

    def __init__(self, backend: Backend) -> None:
        self.b = backend

    def _block_ref(self, header: Any) -> dict[str, Any]:
        ref: dict[str, Any] = {
            "hash": d(header.hash),
            "number": int(header.block_number),
            "parentHash": d(header.parent_hash),
            "timestamp": int(header.timestamp),
        }
        if header.block_number == 0:
            origin = self.b.node.genesis.l1_origin
            ref["l1origin"] = {"hash": d(origin.hash), "number": origin.number}
            ref["sequenceNumber"] = 0
            return ref
        first = self.b.store.block_by_hash(bytes(header.hash)).transactions[0]
        from openledger_node.execution.transactions import decode_transaction

        info = decode_transaction(first, recover_sender=False)
        assert isinstance(info, DepositTransaction)
        origin, sequence_number = decode_l1_info(info.data)
        ref["l1origin"] = {"hash": d(origin.hash), "number": origin.number}
        ref["sequenceNumber"] = sequence_number
        return ref

    @rpc("openledger_syncStatus")
    def sync_status(self) -> dict[str, Any]:
        heads = self.b.store.heads()
        return {
            "unsafe_l2": self._block_ref(heads.unsafe),
            "safe_l2": self._block_ref(heads.safe),
            "finalized_l2": self._block_ref(heads.finalized),
        }

    @rpc("openledger_outputAtBlock", Param("block", p.block_number_or_tag))
    def output_at_block(self, block: BlockId) -> dict[str, Any]:
        header = self.b.header_or_error(block)
        state = StateView(self.b.store.state_db, bytes(header.state_root))
        passer_root = bytes(state.storage_root(L2_TO_L1_MESSAGE_PASSER_ADDRESS))
        return {
            "version": d(b"\x00" * 32),
            "outputRoot": d(output_root(bytes(header.state_root), passer_root, bytes(header.hash))),
            "blockRef": self._block_ref(header),
            "withdrawalStorageRoot": d(passer_root),
            "stateRoot": d(header.state_root),
        }


class DevApi:
    """anvil/Hardhat-style helpers; registered as dev-only."""

    def __init__(self, backend: Backend) -> None:
        self.b = backend
        self._snapshots: dict[int, int] = {}
        self._next_snapshot = 1
        self._lock = threading.Lock()

    @rpc("evm_mine", Param("options", p.any_value, None), dev_only=True, blocking=True)
    def mine(self, options: Any) -> str:
        """anvil's forms: no argument, a timestamp (number or quantity), or
        {"timestamp": t, "blocks": n}."""
        timestamp, blocks = _mine_options(options)
        if timestamp is not None:
            self._check_timestamp(timestamp + blocks - 1)
        for i in range(blocks):
            self.b.builder.build_block(None if timestamp is None else timestamp + i)
        return q(0)

    def _check_timestamp(self, timestamp: int) -> None:
        if timestamp > MAX_TIMESTAMP:
            raise InvalidParams(f"invalid argument 0: timestamp {timestamp} is larger than int64")

    @rpc("evm_snapshot", dev_only=True)
    def snapshot(self) -> str:
        with self._lock:
            snapshot_id = self._next_snapshot
            self._next_snapshot += 1
            self._snapshots[snapshot_id] = int(self.b.head().block_number)
        return q(snapshot_id)

    @rpc("evm_revert", Param("id", p.quantity), dev_only=True, blocking=True)
    def revert(self, snapshot_id: int) -> bool:
        with self._lock:
            number = self._snapshots.get(snapshot_id)
            if number is None:
                return False
            # Reverting to a snapshot invalidates it and every later one, as in anvil.
            for later in [s for s in self._snapshots if s >= snapshot_id]:
                del self._snapshots[later]
        self.b.builder.rewind(number)
        return True

    @rpc("evm_increaseTime", Param("seconds", p.any_value), dev_only=True)
    def increase_time(self, seconds: Any) -> str:
        amount = _int_or_hex(seconds, "seconds")
        builder = self.b.builder
        if int(builder.clock()) + builder.time_offset + amount > MAX_TIMESTAMP:
            raise InvalidParams(f"invalid argument 0: increasing the time by {amount} s overflows the timestamp")
        builder.time_offset += amount
        return q(builder.time_offset)

    @rpc("evm_setNextBlockTimestamp", Param("timestamp", p.any_value), dev_only=True)
    def set_next_block_timestamp(self, timestamp: Any) -> None:
        value = _int_or_hex(timestamp, "timestamp")
        self._check_timestamp(value)
        head = self.b.head()
        if value <= head.timestamp:
            raise InvalidParams(
                f"timestamp {value} is not after the latest block's timestamp {head.timestamp}"
            )
        self.b.builder.next_timestamp = value


# Headers hold 64-bit timestamps and every later block adds at least a second:
# dev controls stay within int64 (as anvil's do), which leaves room for all of them.
MAX_TIMESTAMP = 2**63 - 1
MAX_MINE_BLOCKS = 1000


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
