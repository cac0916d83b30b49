"""The `txpool_` namespace: what the pool holds, as geth shows it."""

from __future__ import annotations

from typing import Any

from eth_utils.address import to_checksum_address

from openledger_node.execution.transactions import Transaction
from openledger_node.rpc import params as p
from openledger_node.rpc.backend import Backend
from openledger_node.rpc.format import d as q_hash
from openledger_node.rpc.format import format_transaction, q
from openledger_node.rpc.registry import Param, rpc


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
        """geth's answer, and, when the pool let some of the sender's accepted
        transactions go unincluded lately, a `dropped` section saying why."""
        key = to_checksum_address(address)
        out = {name: group.get(key, {}) for name, group in self.content().items()}
        dropped = self.b.pool.dropped_from(address)
        if dropped:
            out["dropped"] = {str(d.nonce): {"hash": q_hash(d.tx_hash), "reason": d.reason} for d in dropped}
        return out

    @rpc("txpool_inspect")
    def inspect(self) -> dict[str, dict[str, dict[str, Any]]]:
        return self._group(_inspect)
