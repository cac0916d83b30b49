"""Assembles every node kind from its config: the one place that imports
everything (reth's `ComponentsBuilder`).

A node is a chain store, a transaction pool that follows the store's head, the
JSON-RPC server over both, and the services of its kind: `sequencer` today
(block builder and driver); `validator`, `l1` and `devnet` plug in beside it.
`init_datadir` writes the genesis block (and refuses a data directory that
holds another chain's genesis).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from eth.vm.forks.prague.blocks import PragueBlockHeader

from bridge.deploy import L1Deployment, load_deployment
from bridge.l1 import L1Client
from bridge.rollup import RollupClient
from bridge.txmgr import TxManager, TxManagerConfig
from node.keys import load_key
from openledger_node.derivation.pipeline import Derivation
from validator import Disputes, ForwardingPool, Validator
from openledger_node.config import ChainConfig, NodeConfig
from openledger_node.derivation.deposits import L1Deposits
from openledger_node.derivation.l1_traversal import L1Traversal
from openledger_node.exceptions import ConfigError, GenesisMismatch, TemporaryError
from openledger_node.execution import console
from openledger_node.execution.env import ChainRules, base_fee_after, next_block_env
from openledger_node.execution.genesis import (
    GenesisSpec,
    build_genesis,
    check_dev_accounts,
    dev_private_keys,
    load_genesis,
)
from openledger_node.execution.state import StateView
from openledger_node.execution.types import BlockEnv
from openledger_node.primitives import Wei, addr
from openledger_node.rpc import Backend, DevAccounts, RpcServer, build_rpc
from openledger_node.storage import BlockAdded, ChainEvent, ChainRewound, ChainStore, OverlayDB
from openledger_node.txpool import TxPool
from sequencer import (
    BlockBuilder,
    DepositSource,
    FollowL1,
    L1OriginSource,
    QueuedDeposits,
    SequencerDriver,
    StaticL1Origin,
)
from sequencer.batcher import Batcher, BatcherConfig

if TYPE_CHECKING:
    from node.l1 import L1Node, L1Options

log = logging.getLogger("openledger.node")

JOURNAL_NAME = "txpool.journal"


def chain_rules(chain: ChainConfig, fee_recipient: str) -> ChainRules:
    return ChainRules(
        chain_id=chain.chain_id,
        gas_limit=chain.gas_limit,
        elasticity_multiplier=chain.elasticity_multiplier,
        base_fee_max_change_denominator=chain.base_fee_max_change_denominator,
        min_base_fee=chain.min_base_fee,
        fee_recipient=addr(fee_recipient),
    )


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
        store.write_genesis(header, overlay, spec.l1_origin)
        return header, True
    finally:
        store.close()


def pool_follows_head(store: ChainStore, pool: TxPool, rules: ChainRules) -> Callable[[], None]:
    """Re-validate the pool against every new unsafe head, whoever wrote it."""

    def on_event(event: ChainEvent) -> None:
        if isinstance(event, (BlockAdded, ChainRewound)) and "unsafe" in event.heads:
            head = store.head("unsafe")
            pool.on_new_head(
                StateView(store.state_db, bytes(head.state_root)), base_fee_after(rules, head), rules.gas_limit
            )

    return store.subscribe(on_event)


def dev_accounts(
    config: NodeConfig, pool: TxPool | ForwardingPool, *, posts_batches: bool = False, refuse: str | None = None
) -> DevAccounts:
    """A dev network's node signs with the dev accounts' keys and its pool takes
    impersonated transactions, unless it posts batches to L1 (where an unsigned
    transaction must never go) or `refuse` says why not; any other network's
    holds no key."""
    if config.chain.network != "dev":
        return DevAccounts()
    if refuse is None and posts_batches:
        refuse = "it posts batches to L1, where an unsigned transaction must never go"
    if refuse is None and not isinstance(pool, TxPool):
        refuse = "it builds no blocks (its pool forwards to the sequencer)"
    if refuse is None and isinstance(pool, TxPool):
        pool.enable_impersonation()
    return DevAccounts(tuple(dev_private_keys()), refuse)


def follower_pending_env(store: ChainStore, rules: ChainRules) -> Callable[[], BlockEnv]:
    """The pending block of a node that does not build blocks: the next block on
    its head, now, on the head's L1 origin."""

    def pending_env() -> BlockEnv:
        parent = store.parent_block(store.head("unsafe"))
        timestamp = max(int(time.time()), int(parent.header.timestamp) + 1)
        return next_block_env(rules, parent, timestamp=timestamp, l1_origin=parent.l1_origin)

    return pending_env


@dataclass
class Sequencer:
    """The sequencer kind's services."""

    builder: BlockBuilder
    driver: SequencerDriver
    deposits: QueuedDeposits  # deposits handed in directly (dev, without an L1)
    batcher: Batcher | None = None


@dataclass
class Node:
    config: NodeConfig
    genesis: GenesisSpec
    rules: ChainRules
    store: ChainStore
    pool: TxPool | ForwardingPool
    sequencer: Sequencer | None = None
    l1_deployment: L1Deployment | None = None
    _closers: list[Callable[[], None]] = field(default_factory=list)
    validator: Validator | None = None

    @classmethod
    def open(cls, config: NodeConfig, *, auto_init: bool | None = None) -> Node:
        """Open a sequencer node on its data directory. A dev network initialises
        an empty directory itself; other networks need `openledger-node init` first."""
        return NodeBuilder(config, auto_init=auto_init).build("sequencer")

    # The sequencer's parts, by the names the tools and tests use.
    @property
    def builder(self) -> BlockBuilder:
        assert self.sequencer is not None, "not a sequencer node"
        return self.sequencer.builder

    @property
    def driver(self) -> SequencerDriver:
        assert self.sequencer is not None, "not a sequencer node"
        return self.sequencer.driver

    @property
    def deposits(self) -> QueuedDeposits:
        assert self.sequencer is not None, "not a sequencer node"
        return self.sequencer.deposits

    def rpc_backend(self) -> Backend:
        builder = self.sequencer.builder if self.sequencer is not None else None
        return Backend(
            self.store,
            self.pool,
            self.store,
            self.rules,
            builder.pending_env if builder is not None else follower_pending_env(self.store, self.rules),
            dev=builder,
            mining=self.sequencer.driver if self.sequencer is not None else None,
            accounts=dev_accounts(
                self.config, self.pool,
                posts_batches=self.sequencer is not None and self.sequencer.batcher is not None,
            ),
            dev_pool=self.pool if isinstance(self.pool, TxPool) else None,
        )

    def build_rpc(self) -> RpcServer:
        server = build_rpc(self.rpc_backend(), self.config.rpc, dev_network=self.config.chain.network == "dev")
        server.add_metrics(self.metrics)
        return server

    def metrics(self) -> dict[str, float]:
        pending, queued = self.pool.status()
        figures: dict[str, float] = {
            "openledger_chain_head": int(self.store.head("unsafe").block_number),
            "openledger_chain_safe": int(self.store.head("safe").block_number),
            "openledger_txpool_pending": pending,
            "openledger_txpool_queued": queued,
            "openledger_txpool_dropped_total": getattr(self.pool, "dropped_total", 0),
        }
        if self.validator is not None:
            figures["openledger_validator_disagreements_total"] = len(self.validator.disagreements)
        return figures

    def start(self) -> None:
        if self.sequencer is not None and self.config.sequencer.enabled:
            self.sequencer.driver.start()
        if self.sequencer is not None and self.sequencer.batcher is not None:
            self.sequencer.batcher.start()
        if self.validator is not None:
            self.validator.start()

    @property
    def failure(self) -> BaseException | None:
        """The critical error that stopped a service, if one did."""
        if self.validator is not None:
            return self.validator.failure
        if self.sequencer is None:
            return None
        batcher = self.sequencer.batcher
        return self.sequencer.driver.failure or (batcher.failure if batcher is not None else None)

    def stop(self) -> None:
        """Stop the services after their current step, then close pool and store.
        Safe to call more than once."""
        if self.store.closed:
            return
        self.stop_services()
        for close in reversed(self._closers):
            close()
        self.pool.close()
        self.store.close()

    def stop_services(self) -> None:
        """Stop the loops after their current step; the batcher posts what is
        left (a batch closes on shutdown). Safe to call more than once."""
        if self.sequencer is not None:
            self.sequencer.driver.stop()
            if self.sequencer.batcher is not None:
                self.sequencer.batcher.stop()
        if self.validator is not None:
            self.validator.stop()

    @property
    def kind(self) -> str:
        return "validator" if self.validator is not None else "sequencer"

    def state_at_head(self) -> StateView:
        return StateView(self.store.state_db, bytes(self.store.head("unsafe").state_root))


class NodeBuilder:
    """Builds a node in steps: store, pool, then the services of its kind."""

    KINDS = ("sequencer", "validator")

    def __init__(self, config: NodeConfig, *, auto_init: bool | None = None) -> None:
        self.config = config
        self.auto_init = config.chain.network == "dev" if auto_init is None else auto_init
        self.genesis = load_checked_genesis(config)
        self.rules = chain_rules(config.chain, config.sequencer.fee_recipient)
        console.enable(config.chain.network == "dev")  # Hardhat console.log lines in the node's log

    def open_store(self) -> ChainStore:
        config = self.config
        if self.auto_init:
            init_datadir(config)
        store = ChainStore(
            Path(config.storage.data_dir), sync_writes=config.storage.sync_writes, create=self.auto_init
        )
        try:
            self._check_genesis(store)
            store.ensure_genesis_origin(self.genesis.l1_origin)
        except BaseException:
            store.close()
            raise
        return store

    def _check_genesis(self, store: ChainStore) -> None:
        stored = store.genesis_hash
        if stored is None:
            raise ConfigError(
                f"data directory {store.path} is not initialised; run `openledger-node init`"
            )
        expected = build_genesis(self.genesis, OverlayDB(store.state_db))
        if bytes(expected.hash) != stored:
            raise GenesisMismatch(stored, bytes(expected.hash))

    def open_pool(self, store: ChainStore) -> tuple[TxPool, Callable[[], None]]:
        config = self.config
        head = store.head("unsafe")
        journal = Path(config.storage.data_dir) / JOURNAL_NAME if config.txpool.journal else None
        state = StateView(store.state_db, bytes(head.state_root))
        pool = TxPool(config.txpool, self.rules.chain_id, self.rules.gas_limit, state, 0, journal_path=journal,
                      min_base_fee=self.rules.min_base_fee, base_fee_denominator=self.rules.base_fee_max_change_denominator,
                      every_block_uses_gas=True)
        pool.on_new_head(state, base_fee_after(self.rules, head), self.rules.gas_limit)
        return pool, pool_follows_head(store, pool, self.rules)

    def sequencer(self, store: ChainStore, pool: TxPool, deployment: L1Deployment | None) -> Sequencer:
        config = self.config
        queued = QueuedDeposits()
        origins: L1OriginSource = StaticL1Origin()
        deposits: DepositSource = queued
        batcher = None
        if config.l1.rpc_url is None:
            log.info("no [l1] rpc_url: the sequencer keeps the genesis L1 origin, takes no L1 deposits "
                     "and posts nothing (dev without an L1)")
        else:
            if deployment is None:
                raise ConfigError("l1.deployment: required when l1.rpc_url is set (write it with `openledger-node deploy-l1`)")
            client = L1Client(config.l1.rpc_url, timeout=config.l1.timeout, chain_id=deployment.chain_id)
            traversal = L1Traversal(client, config.l1.confirmations)
            origins = FollowL1(traversal, config.chain.max_sequencer_drift)
            deposits = L1Deposits(client, addr(deployment.portal))
            self._check_genesis_origin(store, traversal)
            if config.batcher.enabled:
                batcher = self.batcher(store, client, deployment)
        builder = BlockBuilder(store, pool, self.rules, origins, deposits)
        if batcher is not None:
            builder.state_edits_refused = (
                "it posts batches to L1, and validators re-execute every block from its parent's state"
            )
        driver = SequencerDriver(
            builder, config.sequencer.mode, config.chain.block_time, pool.subscribe, config.sequencer.build_time_fraction
        )
        return Sequencer(builder, driver, queued, batcher)

    def _check_genesis_origin(self, store: ChainStore, traversal: L1Traversal) -> None:
        origin, _ = store.l1_origin(store.header_by_number(0))
        try:
            canonical = traversal.is_canonical(origin)
        except TemporaryError as exc:
            log.warning("cannot check the genesis L1 origin now (%s); the sequencer will retry", exc)
            return
        if not canonical:
            raise ConfigError(
                f"chain.genesis: its L1 origin (block {origin.number}, 0x{bytes(origin.hash).hex()}) is not on the "
                f"L1 chain at {self.config.l1.rpc_url}; make the genesis from that L1's deployment block"
            )

    def batcher(self, store: ChainStore, client: L1Client, deployment: L1Deployment) -> Batcher:
        section = self.config.batcher
        key = load_key(
            "batcher", section.key_env, section.keystore, section.keystore_password_env,
            dev_network=self.config.chain.network == "dev",
        )
        txmgr = TxManager(client, key, TxManagerConfig(
            confirmations=section.confirmations,
            resubmission_timeout=section.resubmission_timeout,
            fee_cap_limit=Wei(section.fee_cap_gwei * 10**9),
            receipt_poll_interval=min(self.config.l1.poll_interval, 0.5),
        ))
        rollup = RollupClient(client, txmgr, addr(deployment.rollup), addr(deployment.open_token))
        return Batcher(store, rollup, self.rules.chain_id, BatcherConfig(
            max_batch_bytes=section.max_batch_bytes, max_age=section.max_age,
            poll_interval=self.config.l1.poll_interval,
        ))

    def build_validator(self, deployment: L1Deployment | None) -> Node:
        """The `validator` kind: the chain derived from L1 alone, checked against
        every posted output; read-only RPC, transactions forwarded to the sequencer."""
        config = self.config
        if config.l1.rpc_url is None or deployment is None:
            raise ConfigError("l1.rpc_url and l1.deployment: a validator derives the chain from L1 and needs both")
        store = self.open_store()
        try:
            client = L1Client(config.l1.rpc_url, timeout=config.l1.timeout, chain_id=deployment.chain_id)
            traversal = L1Traversal(client, config.l1.confirmations)
            self._check_genesis_origin(store, traversal)
            derivation = Derivation(
                self.rules, store, traversal,
                RollupClient(client, None, addr(deployment.rollup), addr(deployment.open_token)),
                L1Deposits(client, addr(deployment.portal)),
                config.chain.max_sequencer_drift, deployment.deployed_at_block,
            )
            pool = ForwardingPool(config.validator.sequencer_rpc, store)
        except BaseException:
            store.close()
            raise
        head = store.head("unsafe")
        log.info("node open kind=validator chain_id=%d head=%d data_dir=%s", config.chain.chain_id,
                 head.block_number, config.storage.data_dir)
        return Node(config, self.genesis, self.rules, store, pool, None, deployment,
                    validator=Validator(derivation, config.l1.poll_interval, self.disputes(client, deployment)))

    def disputes(self, client: L1Client, deployment: L1Deployment) -> Disputes | None:
        """The validator's dispute role when it has a key; None: it only watches."""
        section = self.config.validator
        if section.keystore is None and not os.environ.get(section.key_env):
            log.warning("validator: no key in %s and no keystore: watching only, no challenges or votes",
                        section.key_env)
            return None
        key = load_key("validator", section.key_env, section.keystore, section.keystore_password_env,
                       dev_network=False)
        txmgr = TxManager(client, key, TxManagerConfig(
            confirmations=section.confirmations, receipt_poll_interval=min(self.config.l1.poll_interval, 0.5)))
        rollup = RollupClient(client, txmgr, addr(deployment.rollup), addr(deployment.open_token))
        return Disputes(rollup, txmgr.address, deployment.deployed_at_block)

    def build(self, kind: str = "sequencer") -> Node:
        if kind not in self.KINDS:
            raise ConfigError(f"unknown node kind {kind!r}; one of {', '.join(self.KINDS)}")
        config = self.config
        deployment = load_deployment(config.l1.deployment) if config.l1.deployment is not None else None
        if kind == "validator":
            return self.build_validator(deployment)
        store = self.open_store()
        try:
            pool, unfollow = self.open_pool(store)
            services = self.sequencer(store, pool, deployment)
        except BaseException:
            store.close()
            raise
        head = store.head("unsafe")
        log.info(
            "node open kind=%s chain_id=%d head=%d hash=0x%s data_dir=%s",
            kind,
            config.chain.chain_id,
            head.block_number,
            bytes(head.hash).hex(),
            config.storage.data_dir,
        )
        return Node(config, self.genesis, self.rules, store, pool, services, deployment, [unfollow])


def build_l1(config: NodeConfig, options: L1Options) -> L1Node:
    """The `l1` kind: the project's own plain Ethereum chain (node/l1.py), from
    the same store, pool and RPC server. Its genesis is a geth-format file, not
    the rollup's, so it is not built by NodeBuilder."""
    from node.l1 import L1Node

    return L1Node.open(config, options)
