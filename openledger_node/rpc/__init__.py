"""JSON-RPC over HTTP and WebSocket: what wallets, dapps and tools talk to.

`build_rpc` wires every namespace to a `Backend` (the small interfaces a node
kind hands in), so one server serves a sequencer, a validator or an L1 node.
"""

from __future__ import annotations

from openledger_node.config import RpcConfig
from openledger_node.rpc.accounts import AccountsApi
from openledger_node.rpc.backend import (
    Backend,
    ChainReader,
    DevAccounts,
    DevControls,
    HeadEvents,
    Mining,
    Pool,
)
from openledger_node.rpc.debug import DebugApi
from openledger_node.rpc.dev import DevApi
from openledger_node.rpc.eth import EthApi
from openledger_node.rpc.filters import FilterApi
from openledger_node.rpc.logs import LogQuery, LogsApi
from openledger_node.rpc.registry import Registry
from openledger_node.rpc.rollup import RollupApi
from openledger_node.rpc.server import RpcServer, ServerLimits
from openledger_node.rpc.simulate_v1 import SimulateV1Api
from openledger_node.rpc.simulation import SimulationApi
from openledger_node.rpc.subscriptions import SubscriptionApi
from openledger_node.rpc.txpool import TxPoolApi
from openledger_node.rpc.web3_net import Web3NetApi


def build_rpc(backend: Backend, config: RpcConfig, *, dev_network: bool, rollup: bool = True) -> RpcServer:
    """Wire every namespace to `backend`. Dev helpers answer only on a dev
    network; the rollup namespace only on a rollup node."""
    registry = Registry(dev_mode=dev_network and config.dev_methods)
    query = LogQuery(backend, config.logs_max_block_range, config.logs_max_results)
    subscriptions = SubscriptionApi(backend, config.max_subscriptions)
    filters = FilterApi(backend, query, config.max_filters, config.filter_pending_buffer)
    eth = EthApi(backend)
    apis: list[object] = [
        eth,
        AccountsApi(backend, eth, config.gas_cap, config.evm_timeout),
        LogsApi(query),
        filters,
        subscriptions,
        Web3NetApi(backend),
        TxPoolApi(backend),
        DevApi(backend),
        SimulationApi(backend, config.gas_cap, config.evm_timeout),
        SimulateV1Api(backend, config.gas_cap, config.evm_timeout),
    ]
    if rollup:
        # Tracing replays blocks with the rollup's executor; the L1 node's blocks follow other rules.
        apis.extend([RollupApi(backend), DebugApi(backend, config.gas_cap)])
    for api in apis:
        registry.add(api)
    limits = ServerLimits(
        max_body_bytes=config.max_body_bytes,
        max_batch=config.max_batch,
        max_ws_message_bytes=config.max_ws_message_bytes,
        max_subscriptions_per_connection=config.max_subscriptions,
        cors_origins=tuple(config.cors_origins),
        max_response_bytes=config.max_response_bytes,
        max_connections=config.max_connections,
        read_timeout=config.read_timeout,
        idle_timeout=config.idle_timeout,
        vhosts=tuple(config.vhosts),
        ws_origins=tuple(config.ws_origins),
        max_ws_backlog_bytes=config.max_ws_backlog_bytes,
        max_ws_backlog_total_bytes=config.max_ws_backlog_total_bytes,
    )
    server = RpcServer(registry, limits)
    server.add_metrics(lambda: {"openledger_rpc_subscription_events_dropped_total": subscriptions.events_dropped})
    server.on_stop(subscriptions.close)
    server.on_stop(filters.close)
    return server


__all__ = [
    "Backend", "ChainReader", "DevAccounts", "DevControls", "DevPool", "HeadEvents", "Mining", "Pool", "RpcServer",
    "build_rpc",
]
