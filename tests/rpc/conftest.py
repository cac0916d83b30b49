"""Real node processes for the RPC tests, and the clients that talk to them.

Each node fixture starts `openledger-node sequencer` as a subprocess (see
`helpers.start_node`). The nodes, one of each per test worker at most:

- `node`: the dev network with 0.25 s blocks, for everything that needs a live
  chain (web3 over HTTP and WebSocket, subscriptions).
- `manual_node`: the dev network with the sequencer loop off, so a block is
  sealed only by `evm_mine`: the pool keeps what is sent until the test mines,
  which makes pending nonces, pool contents and pool errors deterministic.
- `limited_node`: the dev network with tiny RPC limits (environment overrides),
  for the bad-input and fuzz tests.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import AsyncWeb3, HTTPProvider, Web3

from openledger_node.execution.genesis import dev_private_keys
from tests.rpc.helpers import LIMITS, REPO, NodeProcess, run_ws, start_node

T = TypeVar("T")

def _stopped_cleanly(running: NodeProcess) -> None:
    code = running.stop()
    assert code == 0, f"node exited with {code}:\n{running.log_text()[-4000:]}"


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    running = start_node(tmp_path_factory.mktemp("node") / "data", block_time=0.25)
    yield running
    _stopped_cleanly(running)


@pytest.fixture(scope="session")
def manual_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    running = start_node(
        tmp_path_factory.mktemp("manual") / "data",
        block_time=1.0,
        env={"OPENLEDGER__SEQUENCER__ENABLED": "false"},
    )
    yield running
    _stopped_cleanly(running)


@pytest.fixture(scope="session")
def limited_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    env = {f"OPENLEDGER__RPC__{name.upper()}": str(value) for name, value in LIMITS.items()}
    running = start_node(tmp_path_factory.mktemp("limited") / "data", block_time=0.5, env=env)
    yield running
    _stopped_cleanly(running)


@pytest.fixture()
def write_genesis(tmp_path: Path) -> Callable[[dict[str, Any]], Path]:
    """Write a copy of the devnet genesis with another alloc; returns its path."""

    def write(alloc: dict[str, Any]) -> Path:
        spec = json.loads((REPO / "configs" / "genesis-devnet.json").read_text())
        spec["alloc"] = alloc
        path = tmp_path / "genesis.json"
        path.write_text(json.dumps(spec))
        return path

    return write


@pytest.fixture(scope="session")
def w3(node: NodeProcess) -> Web3:
    return Web3(HTTPProvider(node.http, request_kwargs={"timeout": 30}))


@pytest.fixture(scope="session")
def manual_w3(manual_node: NodeProcess) -> Web3:
    return Web3(HTTPProvider(manual_node.http, request_kwargs={"timeout": 30}))


@pytest.fixture(scope="session")
def ws_w3(node: NodeProcess) -> Callable[[Callable[[AsyncWeb3[Any]], Awaitable[T]]], T]:
    """`ws_w3(body)`: run `async body(aw3)` with web3's `AsyncWeb3(WebSocketProvider)`
    connected to `node`, in a fresh event loop (the suite has no async plugin)."""
    return functools.partial(run_ws, node.ws)  # type: ignore[return-value]


@pytest.fixture(scope="session")
def accounts() -> list[LocalAccount]:
    """The ten funded dev accounts. Each test module uses its own, so that tests
    sharing a node never race for a nonce."""
    return [Account.from_key(key) for key in dev_private_keys()]
