"""Fixtures shared by the whole suite: a genesis, an initialised chain store,
funded dev keys and a transaction signer."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from hypothesis import Phase, settings

from openledger_node.execution.block import BlockExecutor
from openledger_node.execution.env import ChainRules, next_block_env
from openledger_node.execution.genesis import (
    GenesisSpec,
    build_genesis,
    dev_private_keys,
    load_genesis,
)
from openledger_node.execution.state import StateView
from openledger_node.execution.transactions import Transaction, decode_transaction
from openledger_node.execution.types import BlockEnv
from openledger_node.storage import ChainStore, OverlayDB

REPO = Path(__file__).resolve().parent.parent
GENESIS_PATH = REPO / "configs" / "genesis-devnet.json"
CHAIN_ID = 161299
DEV_RULES = ChainRules(chain_id=CHAIN_ID, gas_limit=30_000_000)


@pytest.fixture(scope="session")
def genesis_spec() -> GenesisSpec:
    return load_genesis(GENESIS_PATH)


@pytest.fixture(scope="session")
def dev_keys() -> list[bytes]:
    return dev_private_keys()


@pytest.fixture()
def store(tmp_path: Path, genesis_spec: GenesisSpec) -> Iterator[ChainStore]:
    chain = ChainStore(tmp_path / "chain")
    overlay = OverlayDB(chain.state_db)
    chain.write_genesis(build_genesis(genesis_spec, overlay), overlay, genesis_spec.l1_origin)
    yield chain
    if not chain.closed:
        chain.close()


class Signer:
    """Signs transactions from a dev key with sensible defaults and decodes them."""

    def __init__(self, key: bytes, chain_id: int = CHAIN_ID) -> None:
        self.account = Account.from_key(key)
        self.address = bytes.fromhex(self.account.address[2:])
        self.chain_id = chain_id
        self.nonce = 0

    def raw(self, **fields: Any) -> bytes:
        tx: dict[str, Any] = {
            "type": 2,
            "chainId": self.chain_id,
            "nonce": self.nonce,
            "maxFeePerGas": 3 * 10**9,
            "maxPriorityFeePerGas": 10**8,
            "gas": 21_000,
            "to": "0x" + "22" * 20,
            "value": 1,
        }
        tx.update(fields)
        if tx.get("type") in (0, 1):
            tx.pop("maxFeePerGas", None)
            tx.pop("maxPriorityFeePerGas", None)
            tx.setdefault("gasPrice", 3 * 10**9)
            if tx["type"] == 0:
                del tx["type"]
        if "nonce" not in fields:
            self.nonce += 1
        return bytes(self.account.sign_transaction(tx).raw_transaction)

    def tx(self, **fields: Any) -> Transaction:
        return decode_transaction(self.raw(**fields))


@pytest.fixture()
def signers(dev_keys: list[bytes]) -> list[Signer]:
    return [Signer(k) for k in dev_keys]


def next_env(store: ChainStore, genesis_spec: GenesisSpec, **changes: Any) -> BlockEnv:
    """The environment of the next block on the store's head, by the core's rules
    (2 s later, same L1 origin), with `changes` applied on top."""
    parent = store.parent_block(store.head("unsafe"))
    env = next_block_env(
        DEV_RULES,
        parent,
        timestamp=int(parent.header.timestamp) + 2,
        l1_origin=parent.l1_origin,
    )
    return dataclasses.replace(env, **changes)


def seal_and_store(store: ChainStore, executor: BlockExecutor, overlay: OverlayDB) -> Any:
    block = executor.seal()
    store.write_output(block, overlay)
    return block


def head_state(store: ChainStore) -> StateView:
    return StateView(store.state_db, bytes(store.head("unsafe").state_root))


# Property tests draw the same examples on every run (derandomize), so CI is
# reproducible, and skip the "explain" phase, whose line tracing makes a failing
# example take minutes to report. `--hypothesis-profile=explore` draws fresh ones.
settings.register_profile("default", derandomize=True, phases=[p for p in Phase if p is not Phase.explain])
settings.register_profile("explore", phases=[p for p in Phase if p is not Phase.explain])
settings.load_profile("default")
