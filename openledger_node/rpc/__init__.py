"""JSON-RPC over HTTP and WebSocket: what wallets, dapps and tools talk to."""

from __future__ import annotations

from typing import TYPE_CHECKING

from openledger_node.rpc.backend import Backend
from openledger_node.rpc.eth import EthApi
from openledger_node.rpc.filters import FilterApi, LogQuery
from openledger_node.rpc.misc import DevApi, RollupApi, TxPoolApi, Web3NetApi
from openledger_node.rpc.registry import Registry
from openledger_node.rpc.server import RpcServer, ServerLimits
from openledger_node.rpc.simulation import SimulationApi

if TYPE_CHECKING:
    from openledger_node.node.builder import Node


def build_rpc(node: Node) -> RpcServer:
    """Wire every namespace to the node. Dev helpers answer only on a dev network."""
    config = node.config.rpc
    backend = Backend(node)
    registry = Registry(dev_mode=node.config.chain.network == "dev" and config.dev_methods)
    query = LogQuery(backend, config.logs_max_block_range, config.logs_max_results)
    apis: list[object] = [
        EthApi(backend),
        FilterApi(backend, query, config.max_subscriptions),
        Web3NetApi(backend),
        TxPoolApi(backend),
        RollupApi(backend),
        DevApi(backend),
        SimulationApi(backend, config.gas_cap),
    ]
    for api in apis:
        registry.add(api)
    limits = ServerLimits(
        max_body_bytes=config.max_body_bytes,
        max_batch=config.max_batch,
        max_ws_message_bytes=config.max_ws_message_bytes,
        max_subscriptions_per_connection=config.max_subscriptions,
        cors_origins=tuple(config.cors_origins),
    )
    return RpcServer(registry, limits)


__all__ = ["Backend", "RpcServer", "build_rpc"]
