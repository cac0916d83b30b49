"""The `eth_` namespace: chain, state, fees and transaction submission.

Filters and subscriptions live in `filters.py`; the simulation methods
(`eth_call`, `eth_estimateGas`, `eth_createAccessList`, `eth_getProof`) in
`simulation.py`.
"""

from __future__ import annotations

from typing import Any

from openledger_node.execution.impersonation import stored_tx_hash
from openledger_node.execution.transactions import encode_transaction
from openledger_node.rpc import params as p
from openledger_node.rpc.backend import Backend, FullBlock
from openledger_node.rpc.errors import InvalidParams
from openledger_node.rpc.format import (
    d,
    format_block,
    format_receipt,
    format_transaction,
    q,
)
from openledger_node.rpc.params import LATEST, BlockId
from openledger_node.rpc.registry import Param, rpc

# op-geth's floor for suggested tips (0.001 gwei): an L2 with idle blocks still
# suggests a tip that gets a transaction in quickly.
MIN_SUGGESTED_TIP = 1_000_000
TIP_SAMPLE_BLOCKS = 20
TIP_PERCENTILE = 60
MAX_FEE_HISTORY_BLOCKS = 1024
# No blob transactions on L2, so excess blob gas stays 0 and the blob base fee
# stays at EIP-4844's minimum, as geth computes it for every Cancun+ block.
BLOB_BASE_FEE = 1


class EthApi:
    def __init__(self, backend: Backend) -> None:
        self.b = backend
        self._tip_cache: tuple[bytes, int] | None = None

    # --- chain -----------------------------------------------------------------

    @rpc("eth_chainId")
    def chain_id(self) -> str:
        return q(self.b.chain_id)

    @rpc("eth_blockNumber")
    def block_number(self) -> str:
        return q(self.b.head().block_number)

    @rpc("eth_syncing")
    def syncing(self) -> bool:
        return False

    @rpc("eth_getBlockByNumber", Param("block", p.block_number_or_tag), Param("full", p.boolean))
    def get_block_by_number(self, block: BlockId, full: bool) -> dict[str, Any] | None:
        return self._block(block, full)

    @rpc("eth_getBlockByHash", Param("hash", p.hash32), Param("full", p.boolean))
    def get_block_by_hash(self, block_hash: bytes, full: bool) -> dict[str, Any] | None:
        return self._block(BlockId(block_hash=block_hash), full)  # type: ignore[arg-type]

    def _full(self, block: BlockId) -> FullBlock | None:
        header = self.b.header(block)
        return None if header is None else self.b.full_block(header)

    def _block(self, block: BlockId, full: bool) -> dict[str, Any] | None:
        if not full:  # hashes only: nothing to decode, no receipts to read
            header = self.b.header(block)
            if header is None:
                return None
            stored = self.b.stored_block(header)
            hashes = [stored_tx_hash(raw, sender) for raw, sender in zip(stored.transactions, stored.senders)]
            return format_block(header, None, stored.transactions, None, False, hashes)
        fb = self._full(block)
        if fb is None:
            return None
        return format_block(fb.header, fb.transactions, fb.raw_transactions, fb.receipts, full)

    @rpc("eth_getBlockTransactionCountByNumber", Param("block", p.block_number_or_tag))
    def tx_count_by_number(self, block: BlockId) -> str | None:
        header = self.b.header(block)
        return None if header is None else q(len(self.b.stored_block(header).transactions))

    @rpc("eth_getBlockTransactionCountByHash", Param("hash", p.hash32))
    def tx_count_by_hash(self, block_hash: bytes) -> str | None:
        return self.tx_count_by_number(BlockId(block_hash=block_hash))  # type: ignore[arg-type]

    @rpc("eth_getUncleCountByBlockNumber", Param("block", p.block_number_or_tag))
    def uncle_count_by_number(self, block: BlockId) -> str | None:
        return None if self.b.header(block) is None else q(0)

    @rpc("eth_getUncleCountByBlockHash", Param("hash", p.hash32))
    def uncle_count_by_hash(self, block_hash: bytes) -> str | None:
        return self.uncle_count_by_number(BlockId(block_hash=block_hash))  # type: ignore[arg-type]

    @rpc("eth_getTransactionByHash", Param("hash", p.hash32))
    def get_transaction_by_hash(self, tx_hash: bytes) -> dict[str, Any] | None:
        found = self.b.transaction(tx_hash)
        if found is not None:
            return format_transaction(found.tx, found.header, found.index, found.receipt)
        pending = self.b.pool.get(tx_hash)
        return None if pending is None else format_transaction(pending)

    def _tx_at(self, block: BlockId, index: int) -> dict[str, Any] | None:
        fb = self._full(block)
        if fb is None or index >= len(fb.transactions):
            return None
        return format_transaction(fb.transactions[index], fb.header, index, fb.receipts[index])

    @rpc("eth_getTransactionByBlockNumberAndIndex", Param("block", p.block_number_or_tag), Param("index", p.quantity))
    def tx_by_number_and_index(self, block: BlockId, index: int) -> dict[str, Any] | None:
        return self._tx_at(block, index)

    @rpc("eth_getTransactionByBlockHashAndIndex", Param("hash", p.hash32), Param("index", p.quantity))
    def tx_by_hash_and_index(self, block_hash: bytes, index: int) -> dict[str, Any] | None:
        return self._tx_at(BlockId(block_hash=block_hash), index)  # type: ignore[arg-type]

    @rpc("eth_getRawTransactionByHash", Param("hash", p.hash32))
    def get_raw_transaction_by_hash(self, tx_hash: bytes) -> str | None:
        found = self.b.transaction(tx_hash)
        if found is not None:
            return d(found.raw)
        pending = self.b.pool.get(tx_hash)
        return None if pending is None else d(encode_transaction(pending))

    @rpc("eth_getTransactionReceipt", Param("hash", p.hash32))
    def get_receipt(self, tx_hash: bytes) -> dict[str, Any] | None:
        found = self.b.transaction(tx_hash)
        if found is None:
            return None
        return format_receipt(found.tx, found.receipt, found.header, found.index, found.first_log_index)

    @rpc("eth_getBlockReceipts", Param("block", p.block_id))
    def get_block_receipts(self, block: BlockId) -> list[dict[str, Any]] | None:
        fb = self._full(block)
        if fb is None:
            return None
        out = []
        start = 0
        for i, tx in enumerate(fb.transactions):
            out.append(format_receipt(tx, fb.receipts[i], fb.header, i, start))
            start += len(fb.receipts[i].logs)
        return out

    # --- state -------------------------------------------------------------------

    @rpc("eth_getBalance", Param("address", p.address), Param("block", p.block_id, LATEST))
    def get_balance(self, address: bytes, block: BlockId) -> str:
        return q(self.b.state(block).get_balance(address))

    @rpc("eth_getTransactionCount", Param("address", p.address), Param("block", p.block_id, LATEST))
    def get_transaction_count(self, address: bytes, block: BlockId) -> str:
        if block.tag == "pending":
            return q(self.b.pool.pending_nonce(address))
        return q(self.b.state(block).get_nonce(address))

    @rpc("eth_getCode", Param("address", p.address), Param("block", p.block_id, LATEST))
    def get_code(self, address: bytes, block: BlockId) -> str:
        return d(self.b.state(block).get_code(address))

    @rpc("eth_getStorageAt", Param("address", p.address), Param("slot", p.storage_slot),
         Param("block", p.block_id, LATEST))
    def get_storage_at(self, address: bytes, slot: int, block: BlockId) -> str:
        return d(self.b.state(block).get_storage(address, slot).to_bytes(32, "big"))

    # --- fees --------------------------------------------------------------------

    def suggested_tip(self) -> int:
        """The 60th percentile of the tips paid in the last 20 blocks (geth's oracle),
        never below op-geth's floor; worked out once per head, from the tips
        stored with each block."""
        head = self.b.head()
        head_hash = bytes(head.hash)
        cached = self._tip_cache
        if cached is not None and cached[0] == head_hash:
            return cached[1]
        tips: list[int] = []
        number = int(head.block_number)
        for n in range(number, max(number - TIP_SAMPLE_BLOCKS, 0), -1):
            tips.extend(tip for tip, _ in self.b.tips(self.b.chain.header_by_number(n)))
        if tips:
            tips.sort()
            tip = max(tips[(len(tips) - 1) * TIP_PERCENTILE // 100], MIN_SUGGESTED_TIP)
        else:
            tip = MIN_SUGGESTED_TIP
        self._tip_cache = (head_hash, tip)
        return tip

    @rpc("eth_maxPriorityFeePerGas")
    def max_priority_fee(self) -> str:
        return q(self.suggested_tip())

    @rpc("eth_gasPrice")
    def gas_price(self) -> str:
        return q(self.suggested_tip() + self.b.next_base_fee())

    @rpc("eth_blobBaseFee")
    def blob_base_fee(self) -> str:
        return q(BLOB_BASE_FEE)

    @rpc(
        "eth_feeHistory",
        Param("blockCount", p.hex_or_decimal64),
        Param("newestBlock", p.block_number_or_tag),
        Param("rewardPercentiles", p.list_of(p.any_value, 100), None),
    )
    def fee_history(self, count: int, newest: BlockId, percentiles: list[Any] | None) -> dict[str, Any]:
        if percentiles is not None:
            for value in percentiles:
                if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 100:
                    raise InvalidParams(f"invalid reward percentile: {value!r}")
            if any(b < a for a, b in zip(percentiles, percentiles[1:])):
                raise InvalidParams("reward percentiles must be ascending")
        count = min(count, MAX_FEE_HISTORY_BLOCKS)
        last = self.b.header_or_error(newest)
        first_number = max(int(last.block_number) - count + 1, 0)
        if count == 0:
            return {"oldestBlock": q(0), "baseFeePerGas": [], "gasUsedRatio": [], "baseFeePerBlobGas": [],
                    "blobGasUsedRatio": []}
        base_fees: list[str] = []
        ratios: list[float] = []
        rewards: list[list[str]] = []
        for number in range(first_number, int(last.block_number) + 1):
            header = self.b.chain.header_by_number(number)
            base_fees.append(q(int(header.base_fee_per_gas or 0)))
            ratios.append(header.gas_used / header.gas_limit if header.gas_limit else 0.0)
            if percentiles:
                rewards.append([q(r) for r in self._rewards(header, percentiles)])
        base_fees.append(q(self.b.next_base_fee(last)))
        result: dict[str, Any] = {
            "oldestBlock": q(first_number),
            "baseFeePerGas": base_fees,
            "gasUsedRatio": ratios,
            "baseFeePerBlobGas": [q(BLOB_BASE_FEE)] * len(base_fees),
            "blobGasUsedRatio": [0.0] * len(ratios),
        }
        if percentiles:
            result["reward"] = rewards
        return result

    def _rewards(self, header: Any, percentiles: list[float]) -> list[int]:
        """Tips at gas-weighted percentiles of a block, as geth computes them."""
        paid = self.b.tips(header)
        if not paid:
            return [0] * len(percentiles)
        total = sum(gas for _, gas in paid)
        out: list[int] = []
        index, cumulative = 0, paid[0][1]
        for percentile in percentiles:
            threshold = total * percentile / 100
            while cumulative < threshold and index < len(paid) - 1:
                index += 1
                cumulative += paid[index][1]
            out.append(paid[index][0])
        return out

    # --- transactions --------------------------------------------------------------

    @rpc("eth_sendRawTransaction", Param("data", p.data), blocking="tx")
    def send_raw_transaction(self, raw: bytes) -> str:
        return d(self.b.submit(lambda: self.b.pool.add_raw(raw)))
