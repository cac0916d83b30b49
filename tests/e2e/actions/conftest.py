"""Fixtures for the actor tests: an L1 miner, a sequencer following it, users
with the funded dev keys, and a replica that re-executes what the sequencer seals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from openledger_node.execution.genesis import dev_private_keys
from tests.e2e.actions.actors import L1Miner, Replica, Sequencer, User, write_genesis


@pytest.fixture()
def l1() -> L1Miner:
    return L1Miner()


@pytest.fixture()
def genesis(tmp_path: Path, l1: L1Miner) -> Path:
    return write_genesis(tmp_path / "genesis.json", l1.head)


@pytest.fixture()
def sequencer(tmp_path: Path, genesis: Path, l1: L1Miner) -> Iterator[Sequencer]:
    actor = Sequencer(tmp_path / "sequencer", genesis, l1)
    yield actor
    actor.close()


@pytest.fixture()
def replica(tmp_path: Path, genesis: Path, sequencer: Sequencer) -> Iterator[Replica]:
    actor = Replica(tmp_path / "replica", genesis, sequencer.rules)
    yield actor
    actor.close()


@pytest.fixture()
def users(sequencer: Sequencer) -> list[User]:
    return [User(key, sequencer) for key in dev_private_keys()[:3]]
