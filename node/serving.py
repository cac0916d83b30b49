"""Running a node process: its JSON-RPC server, its services, and a clean stop
on SIGINT / SIGTERM; shared by every node kind the CLI runs."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import Any, Protocol

from openledger_node.config import NodeConfig
from openledger_node.exceptions import ConfigError


class Served(Protocol):
    store: Any

    def build_rpc(self) -> Any: ...

    def start(self) -> None: ...

    def stop_services(self) -> None: ...

    @property
    def failure(self) -> BaseException | None: ...


async def serve(
    node: Served,
    config: NodeConfig,
    stop_after_blocks: int,
    running_line: Callable[[int], str],
    before_start: Callable[[], object] = lambda: None,
) -> int:
    """Serve JSON-RPC and run the node's services until a signal, a critical
    failure of a service, or (tests) `stop_after_blocks`. `running_line(head)`
    is printed once the node runs, then the JSON-RPC endpoint."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    server = node.build_rpc() if config.rpc.enabled else None
    if server is not None:
        try:
            await server.start(config.rpc.host, config.rpc.port)
        except OSError as exc:
            raise ConfigError(
                f"rpc: cannot listen on {config.rpc.host}:{config.rpc.port}: {exc.strerror or exc}"
            ) from exc
    before_start()
    head = int(node.store.head("unsafe").block_number)
    node.start()
    endpoint = f"http://{config.rpc.host}:{server.port}" if server is not None else "disabled"
    print(running_line(head), flush=True)
    print(f"JSON-RPC: {endpoint} (WebSocket on the same port)", flush=True)
    try:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except TimeoutError:
                pass
            if node.failure is not None:
                raise node.failure
            if stop_after_blocks and node.store.head("unsafe").block_number >= stop_after_blocks:
                break
    finally:
        node.stop_services()
        if server is not None:
            await server.stop()
    return 0
