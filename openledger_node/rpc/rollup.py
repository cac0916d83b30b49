"""The `openledger_` namespace: the rollup's view of the chain (op-node's
`optimism_*`): the sync status of the three heads and output roots."""

from __future__ import annotations

from typing import Any

from eth.vm.forks.prague.blocks import PragueBlockHeader

from openledger_node.execution.output import OUTPUT_VERSION_V0, output_root
from openledger_node.primitives import L2_TO_L1_MESSAGE_PASSER_ADDRESS
from openledger_node.rpc import params as p
from openledger_node.rpc.backend import Backend
from openledger_node.rpc.format import d
from openledger_node.rpc.params import BlockId
from openledger_node.rpc.registry import Param, rpc


class RollupApi:
    def __init__(self, backend: Backend) -> None:
        self.b = backend

    def _block_ref(self, header: PragueBlockHeader) -> dict[str, Any]:
        origin, sequence_number = self.b.chain.l1_origin(header)
        return {
            "hash": d(header.hash),
            "number": int(header.block_number),
            "parentHash": d(header.parent_hash),
            "timestamp": int(header.timestamp),
            "l1origin": {"hash": d(origin.hash), "number": origin.number},
            "sequenceNumber": sequence_number,
        }

    @rpc("openledger_syncStatus")
    def sync_status(self) -> dict[str, Any]:
        heads = self.b.chain.heads()
        return {
            "unsafe_l2": self._block_ref(heads.unsafe),
            "safe_l2": self._block_ref(heads.safe),
            "finalized_l2": self._block_ref(heads.finalized),
        }

    @rpc("openledger_outputAtBlock", Param("block", p.block_number_or_tag))
    def output_at_block(self, block: BlockId) -> dict[str, Any]:
        header = self.b.header_or_error(block)
        passer_root = bytes(self.b.state_at(header).storage_root(L2_TO_L1_MESSAGE_PASSER_ADDRESS))
        return {
            "version": d(OUTPUT_VERSION_V0),
            "outputRoot": d(output_root(bytes(header.state_root), passer_root, bytes(header.hash))),
            "blockRef": self._block_ref(header),
            "withdrawalStorageRoot": d(passer_root),
            "stateRoot": d(header.state_root),
        }
