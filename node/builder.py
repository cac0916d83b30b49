"""Assembles a node from its config: chain store, transaction pool, sequencer.

`init_datadir` writes the genesis block (and refuses a data directory that holds
another chain's genesis); `Node.open` opens every component on an initialised
data directory; `Node.start`/`stop` run and stop the sequencer loop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from eth.vm.forks.prague.blocks import PragueBlockHeader

from bridge.deploy import L1Deployment, load_deployment
from openledger_node.config import NodeConfig
from openledger_node.exceptions import ConfigError, GenesisMismatch
from openledger_node.execution.genesis import (
    GenesisSpec,
    build_genesis,
    check_dev_accounts,
    load_genesis,
)
from openledger_node.execution.state import StateView
from openledger_node.primitives import addr
from openledger_node.storage import ChainStore, OverlayDB
from openledger_node.txpool import TxPool
from sequencer import BlockBuilder, QueuedDeposits, SequencerDriver, StaticL1Origin

log = logging.getLogger("openledger.node")

JOURNAL_NAME = "txpool.journal"


def load_checked_genesis(config: NodeConfig) -> GenesisSpec:
    spec = load_genesis(config.chain.genesis)
    if spec.chain_id != config.chain.chain_id:
        raise ConfigError(
            f"chain.chain_id: config says {config.chain.chain_id} but genesis "
            f"{config.chain.genesis} says {spec.chain_id}"
        )
    check_dev_accounts(spec, config.chain.network)
    return spec


def init_datadir(config: NodeConfig) -> tuple[PragueBlockHeader, bool]:
    """Write genesis into the data directory. Returns (genesis header, created).
    Re-running on a directory with the same genesis is a no-op; another genesis is
    an error."""
    spec = load_checked_genesis(config)
    store = ChainStore(config.storage.data_dir, sync_writes=config.storage.sync_writes)
    try:
        overlay = OverlayDB(store.state_db)
        header = build_genesis(spec, overlay)
        stored = store.genesis_hash
        if stored is not None:
            if stored != bytes(header.hash):
                raise GenesisMismatch(stored, bytes(header.hash))
            return header, False
        store.write_genesis(header, overlay)
        return header, True
    finally:
        store.close()


@dataclass
class Node:
    config: NodeConfig
    genesis: GenesisSpec
    store: ChainStore
    pool: TxPool
    builder: BlockBuilder
    driver: SequencerDriver
    deposits: QueuedDeposits
    l1_deployment: L1Deployment | None = None

    @classmethod
    def open(cls, config: NodeConfig, *, auto_init: bool | None = None) -> Node:
        """Open a node on its data directory. A dev network initialises an empty
        directory itself; other networks need `openledger-node init` first."""
        if auto_init is None:
            auto_init = config.chain.network == "dev"
        spec = load_checked_genesis(config)
        deployment = load_deployment(config.l1.deployment) if config.l1.deployment is not None else None
        data_dir = Path(config.storage.data_dir)
        if auto_init:
            init_datadir(config)
        store = ChainStore(data_dir, sync_writes=config.storage.sync_writes, create=auto_init)
        try:
            cls._check_genesis(store, spec)
            head = store.head("unsafe")
            journal = data_dir / JOURNAL_NAME if config.txpool.journal else None
            builder_state = StateView(store.state_db, bytes(head.state_root))
            pool = TxPool(
                config.txpool,
                config.chain.chain_id,
                config.chain.gas_limit,
                builder_state,
                0,
                journal_path=journal,
            )
            deposits = QueuedDeposits()
            builder = BlockBuilder(
                store,
                pool,
                config.chain,
                addr(config.sequencer.fee_recipient),
                spec.l1_origin,
                StaticL1Origin(),
                deposits,
            )
            pool.on_new_head(builder_state, builder.base_fee_after(head), config.chain.gas_limit)
        except BaseException:
            store.close()
            raise
        driver = SequencerDriver(
            builder, config.sequencer.mode, config.chain.block_time, pool.subscribe
        )
        log.info(
            "node open chain_id=%d head=%d hash=0x%s data_dir=%s",
            config.chain.chain_id,
            head.block_number,
            bytes(head.hash).hex(),
            data_dir,
        )
        return cls(config, spec, store, pool, builder, driver, deposits, deployment)

    @staticmethod
    def _check_genesis(store: ChainStore, spec: GenesisSpec) -> None:
        stored = store.genesis_hash
        if stored is None:
            raise ConfigError(
                f"data directory {store.path} is not initialised; run `openledger-node init`"
            )
        expected = build_genesis(spec, OverlayDB(store.state_db))
        if bytes(expected.hash) != stored:
            raise GenesisMismatch(stored, bytes(expected.hash))

    def start(self) -> None:
        if self.config.sequencer.enabled:
            self.driver.start()

    def stop(self) -> None:
        """Stop the sequencer after its current block, then close pool and store.
        Safe to call more than once."""
        if self.store.closed:
            return
        self.driver.stop()
        self.pool.close()
        self.store.close()

    def state_at_head(self) -> StateView:
        return StateView(self.store.state_db, bytes(self.store.head("unsafe").state_root))
