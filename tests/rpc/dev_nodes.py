"""The two dev nodes the dev-method tests run against: anvil in automine mode
(no --block-time: a block per transaction), the reference, and our sequencer in
`instant` mode, each a real process on a free loopback port with the same
chain id, so that the same assertions run against both."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conformance.endpoints import (
    ANVIL_MISSING,
    REPO,
    Endpoint,
    _start,
    _stop,
    anvil,
    foundry_binary,
    openledger,
)


def anvil_available() -> bool:
    return foundry_binary("anvil").exists()


@contextmanager
def anvil_automine(tmp: Path) -> Iterator[Endpoint]:
    with anvil(tmp, None) as endpoint:
        yield endpoint


@contextmanager
def dev_node(kind: str, tmp: Path) -> Iterator[Endpoint]:
    """`kind`: "anvil" (skipped without node_modules) or "openledger"."""
    if kind == "anvil":
        if not anvil_available():
            pytest.skip(ANVIL_MISSING)
        with anvil_automine(tmp) as endpoint:
            yield endpoint
    else:
        with openledger(tmp, block_time=30, mode="instant") as endpoint:
            yield endpoint


KINDS = ["anvil", "openledger"]


def each_node(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    """The body of a test module's `chain` fixture, parametrized over KINDS."""
    with dev_node(request.param, tmp_path_factory.mktemp(request.param)) as endpoint:
        yield endpoint


@contextmanager
def l1_node(tmp: Path) -> Iterator[Endpoint]:
    """`openledger-node l1` (the project's own L1, automine by default) as a real process."""
    argv = [sys.executable, "-m", "node.cli", "l1", "--data-dir", str(tmp / "data"), "--rpc-port", "0"]
    endpoint = _start("openledger-l1", argv, tmp / "l1.log", r"JSON-RPC: http://127\.0\.0\.1:(\d+)", REPO)
    try:
        yield endpoint
    finally:
        _stop(endpoint.process)
