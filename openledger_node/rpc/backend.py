"""What the RPC handlers read and write, in one object: block resolution, state
at a block, decoded blocks with receipts, the pool, and the sequencer.

Handlers never reach into the chain store or the pool directly, so the rules for
block tags (latest, pending, safe, finalized, earliest, EIP-1898) live here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from eth.vm.forks.prague.blocks import PragueBlockHeader

from openledger_node.exceptions import BlockNotFound
from openledger_node.execution.state import StateView
from openledger_node.execution.transactions import (
    DepositTransaction,
    Transaction,
    decode_transaction,
)
from openledger_node.execution.types import Receipt
from openledger_node.rpc.errors import RpcError
from openledger_node.rpc.params import BlockId

if TYPE_CHECKING:
    from openledger_node.node.builder import Node


class HeaderNotFound(RpcError):
    """geth's answers (-32000) when a state query names a block it does not have."""

    def __init__(self, by_hash: bool = False) -> None:
        super().__init__("header for hash not found" if by_hash else "header not found")


class NotCanonical(RpcError):
    """geth's answer (-32000) for an EIP-1898 `requireCanonical` hash off the chain."""

    def __init__(self) -> None:
        super().__init__("hash is not currently canonical")


@dataclass(frozen=True)
class FullBlock:
    header: PragueBlockHeader
    transactions: tuple[Transaction, ...]
    raw_transactions: tuple[bytes, ...]
    receipts: tuple[Receipt, ...]


def _with_sender(raw: bytes, sender: bytes) -> Transaction:
    """Decode a stored transaction without recovering its sender again."""
    tx = decode_transaction(raw, recover_sender=False)
    if isinstance(tx, DepositTransaction):
        return tx
    # py-evm's `sender` is a cached property: seeding the cache skips the recovery.
    tx.__dict__["sender"] = sender
    inner = getattr(tx, "_inner", None)
    if inner is not None:
        inner.__dict__["sender"] = sender
    return tx


class Backend:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.store = node.store
        self.pool = node.pool
        self.builder = node.builder
        self.config = node.config
        self.chain_id = node.config.chain.chain_id

    # --- blocks ----------------------------------------------------------------

    def head(self) -> PragueBlockHeader:
        return self.store.head("unsafe")

    def header(self, block: BlockId) -> PragueBlockHeader | None:
        """The header a block parameter names, or None when there is no such block."""
        if block.tag is not None:
            if block.tag in ("latest", "pending"):
                return self.store.head("unsafe")
            if block.tag in ("safe", "finalized"):
                return self.store.head(block.tag)
            return self.store.header_by_number(0)
        try:
            if block.number is not None:
                return self.store.header_by_number(block.number)
            assert block.block_hash is not None
            header = self.store.header_by_hash(block.block_hash)
        except BlockNotFound:
            return None
        if block.require_canonical and self.store.canonical_hash(header.block_number) != header.hash:
            raise NotCanonical()
        return header

    def header_or_error(self, block: BlockId) -> PragueBlockHeader:
        header = self.header(block)
        if header is None:
            raise HeaderNotFound(by_hash=block.block_hash is not None)
        return header

    def state(self, block: BlockId) -> StateView:
        header = self.header_or_error(block)
        return StateView(self.store.state_db, bytes(header.state_root))

    def full_block(self, header: PragueBlockHeader) -> FullBlock:
        stored = self.store.block_by_hash(bytes(header.hash))
        txs = tuple(_with_sender(raw, sender) for raw, sender in zip(stored.transactions, stored.senders))
        return FullBlock(header, txs, stored.transactions, self.store.receipts(bytes(header.hash)))

    def transaction(self, tx_hash: bytes) -> tuple[FullBlock, int] | None:
        location = self.store.tx_location(tx_hash)
        if location is None:
            return None
        header = self.store.header_by_hash(location.block_hash)
        return self.full_block(header), location.index
