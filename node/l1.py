"""The `l1` node kind: the project's own plain Ethereum chain, so that the rollup
runs on one machine with nothing else installed (in place of anvil).

It is assembled like the sequencer (`node/builder.py`) from the same parts: the
LevelDB chain store (blocks, receipts, transaction and log indexes), the
transaction pool following the store's head, and the JSON-RPC server with its
dev methods (the `evm_*` and `anvil_*` controls and the dev accounts, docs/rpc.md;
no impersonation). What differs is the rules (plain Ethereum, from
`openledger_node/execution/l1/`, chosen per block by the genesis's fork
schedule) and the block producer, `L1BlockProducer`, which mines blocks on
the head: one per arriving transaction (`instant`, anvil's automine, answering
a submission once its block is sealed) or one every `block_time` seconds
(`interval`). Every block is final at once: the
safe and finalized heads move with the head, as on anvil and geth `--dev`.

`import_chain` and `export_chain` read and write `geth export` chain files,
checking every imported block with `apply_l1_block`.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from eth.abc import BlockHeaderAPI
from eth.vm.forks.london.headers import calculate_expected_base_fee_per_gas
from eth.vm.forks.prague.blocks import PragueBlockHeader
from eth_hash.auto import keccak

from node.builder import JOURNAL_NAME, build_l1, dev_accounts, pool_follows_head
from openledger_node.devclock import DevClock
from openledger_node.devstate import AccountPatch, apply_patches
from openledger_node.config import NodeConfig, load_config, packaged_config
from openledger_node.exceptions import (
    BlockFieldMismatch,
    ConfigError,
    FeeCapTooLow,
    GasLimitExceeded,
    GenesisMismatch,
    InsufficientFunds,
    InvalidBlock,
    InvalidTransaction,
    NonceTooHigh,
    UnsupportedTxType,
)
from openledger_node.execution.env import MAX_TIMESTAMP, ChainRules, base_fee_after
from openledger_node.execution.l1 import (
    SHANGHAI,
    L1BlockExecutor,
    L1BlockOutput,
    L1Genesis,
    apply_l1_block,
    as_fork_transaction,
    build_l1_genesis,
    encode_block,
    load_l1_genesis,
    next_header,
    read_chain_file,
    write_chain_file,
)
from openledger_node.execution.state import StateView
from openledger_node.execution.types import BlockEnv, L1Origin
from openledger_node.primitives import ZERO_ADDRESS, ZERO_HASH, Address, Hash32, addr
from openledger_node.rpc import Backend, RpcServer, build_rpc
from openledger_node.storage import ChainStore, OverlayDB
from openledger_node.storage.chain import HEADS
from openledger_node.txpool import TxPool
from sequencer.builder import DEADLINE_CHECK_EVERY, MIN_TX_GAS, SkippedTx
from sequencer.driver import SequencerDriver

log = logging.getLogger("openledger.l1")

GENESIS_NAME = "l1-genesis-devnet.json"
DEFAULT_DATA_DIR = Path("data/l1")
DEFAULT_INTERVAL = 2.0
# The store records an L1 origin with each genesis (for a rollup); an L1 has none.
NO_ORIGIN = L1Origin(0, 0, 0, ZERO_HASH)


def default_genesis() -> Path:
    """configs/l1-genesis-devnet.json of the working directory, else the packaged one."""
    local = Path("configs") / GENESIS_NAME
    if local.exists():
        return local
    return packaged_config(GENESIS_NAME)


@dataclass(frozen=True)
class L1Options:
    """What the L1 kind adds to the node config: its genesis and how it mines."""

    genesis: Path
    mode: str = "instant"  # or "interval"
    block_time: float = DEFAULT_INTERVAL
    coinbase: Address = ZERO_ADDRESS

    def check(self) -> None:
        if self.mode not in ("instant", "interval"):
            raise ConfigError(f"l1.mode: {self.mode!r} is not one of instant, interval")
        if not 0 < self.block_time <= 3600:
            raise ConfigError(f"l1.block_time: {self.block_time} is not in (0, 3600] seconds")


def l1_rules(genesis: L1Genesis, coinbase: Address) -> ChainRules:
    """The pool's and the RPC's view of the chain parameters: EIP-1559 as on
    Ethereum, the genesis gas limit, the producer's coinbase."""
    return ChainRules(chain_id=genesis.chain_id, gas_limit=genesis.gas_limit, fee_recipient=coinbase)


def _stored(header: BlockHeaderAPI) -> PragueBlockHeader:
    # The store keeps headers of any fork (it decodes them with py-evm's
    # backwards-compatible sedes); its annotations name the rollup's one.
    return cast(PragueBlockHeader, header)


def open_l1_store(config: NodeConfig, genesis: L1Genesis, *, create: bool = True) -> ChainStore:
    """Open the data directory, writing the genesis block into an empty one and
    refusing one that holds another chain."""
    store = ChainStore(Path(config.storage.data_dir), sync_writes=config.storage.sync_writes, create=create)
    try:
        overlay = OverlayDB(store.state_db)
        header = build_l1_genesis(genesis, overlay)
        stored = store.genesis_hash
        if stored is None:
            if not create:
                raise ConfigError(f"data directory {store.path} holds no chain")
            store.write_genesis(_stored(header), overlay, NO_ORIGIN)
        elif stored != bytes(header.hash):
            raise GenesisMismatch(stored, bytes(header.hash))
    except BaseException:
        store.close()
        raise
    return store


def open_l1_pool(config: NodeConfig, store: ChainStore, rules: ChainRules) -> tuple[TxPool, Callable[[], None]]:
    head = store.head("unsafe")
    journal = Path(config.storage.data_dir) / JOURNAL_NAME if config.txpool.journal else None
    state = StateView(store.state_db, bytes(head.state_root))
    pool = TxPool(config.txpool, rules.chain_id, rules.gas_limit, state, 0, journal_path=journal,
                  min_base_fee=rules.min_base_fee, base_fee_denominator=rules.base_fee_max_change_denominator)
    pool.on_new_head(state, base_fee_after(rules, head), rules.gas_limit)
    return pool, pool_follows_head(store, pool, rules)


# --- the block producer --------------------------------------------------------------


@dataclass(frozen=True)
class MinedBlock:
    block: L1BlockOutput
    skipped: tuple[SkippedTx, ...]
    seconds: float


class L1BlockProducer(DevClock):
    """Mines the next block on the head: the pool's best transactions, at the
    producer's clock (with the dev-mode offset) or the time asked for. Also the
    RPC's dev controls and its view of the pending block."""

    def __init__(
        self,
        store: ChainStore,
        pool: TxPool,
        genesis: L1Genesis,
        coinbase: Address = ZERO_ADDRESS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.pool = pool
        self.schedule = genesis.schedule
        self.coinbase = coinbase
        self.clock = clock
        self.time_offset = 0
        self.next_timestamp: int | None = None
        self._lock = threading.Lock()

    def _timestamp(self, parent: BlockHeaderAPI, timestamp: int | None, lead: float = 0.0) -> int:
        if timestamp is None:
            timestamp = self.next_timestamp
        if timestamp is not None:
            # As anvil: the clock goes on from a time that was asked for.
            self.time_offset = timestamp - int(self.clock())
        else:
            timestamp = self.now(lead)
        timestamp = max(timestamp, int(parent.timestamp) + 1)
        if timestamp > MAX_TIMESTAMP:
            raise InvalidBlock(f"block timestamp {timestamp} exceeds the 64-bit limit {MAX_TIMESTAMP}")
        return timestamp

    @staticmethod
    def prevrandao(parent: BlockHeaderAPI) -> Hash32:
        """The child's PREVRANDAO: with no beacon chain, a hash chain over the parents'."""
        return Hash32(keccak(bytes(parent.mix_hash)))

    def pending_env(self) -> BlockEnv:
        """The block this producer would mine now, for `eth_call` on `pending`
        (PREVRANDAO travels as the L1 origin's hash, which the simulated header reads)."""
        parent = self.store.head("unsafe")
        timestamp = max(self.next_timestamp or self.now(), int(parent.timestamp) + 1)
        return BlockEnv(
            chain_id=self.schedule.chain_id,
            number=int(parent.block_number) + 1,
            parent_hash=Hash32(bytes(parent.hash)),
            parent_state_root=Hash32(bytes(parent.state_root)),
            timestamp=timestamp,
            coinbase=self.coinbase,
            gas_limit=int(parent.gas_limit),
            base_fee=calculate_expected_base_fee_per_gas(parent),
            l1_origin=L1Origin(0, 0, 0, self.prevrandao(parent)),
            sequence_number=0,
            prev_hashes=self.store.ancestor_hashes(parent),
        )


    # --- mining

    def fork_name(self) -> str:
        """The fork the next block runs (the genesis's schedule at the producer's clock)."""
        return str(self.schedule.fork_at(max(self.now(), int(self.store.head("unsafe").timestamp) + 1)).name)

    def build_block(
        self, timestamp: int | None = None, deadline: float | None = None, lead: float = 0.0
    ) -> MinedBlock:
        """Mine, seal and store the next block on the head; past `deadline`
        (time.monotonic()) it takes no more transactions, and it is the block
        of the time `lead` seconds from now, stored then, as the sequencer's."""
        return self._mine(timestamp, deadline, (), lead)

    def patch_state(self, patches: tuple[AccountPatch, ...]) -> MinedBlock:
        """Seal dev state edits at once in a block of their own (openledger_node/devstate.py)."""
        return self._mine(None, None, patches)

    def _mine(
        self, timestamp: int | None, deadline: float | None, patches: tuple[AccountPatch, ...], lead: float = 0.0
    ) -> MinedBlock:
        with self._lock:
            started = time.perf_counter()
            due = self.due(lead)
            store = self.store
            parent = store.head("unsafe")
            header = next_header(
                self.schedule,
                parent,
                timestamp=self._timestamp(parent, timestamp, lead),
                coinbase=self.coinbase,
                gas_limit=int(parent.gas_limit),
                prevrandao=self.prevrandao(parent),
            )
            overlay = OverlayDB(store.state_db)
            executor = L1BlockExecutor(
                self.schedule, header, bytes(parent.state_root), overlay, store.ancestor_hashes(parent)
            )
            if patches:
                apply_patches(executor.state, patches)
                skipped: list[SkippedTx] = []
            else:
                skipped = self._fill(executor, int(header.base_fee_per_gas or 0), deadline)
            block = executor.seal()
            self.next_timestamp = None
            held = self.hold(due)
            store.write_block(
                _stored(block.header), block.raw_transactions, block.senders, block.receipts, overlay,
                heads=HEADS, tips=block.tips(),
            )
            result = MinedBlock(block, tuple(skipped), time.perf_counter() - started - held)
        log.info(
            "mined block number=%d hash=0x%s fork=%s txs=%d gas=%d skipped=%d ms=%.1f",
            block.header.block_number, block.hash.hex(), executor.fork.name, len(block.transactions),
            block.header.gas_used, len(skipped), result.seconds * 1000,
        )
        return result

    def _fill(self, executor: L1BlockExecutor, base_fee: int, deadline: float | None) -> list[SkippedTx]:
        skipped: list[SkippedTx] = []
        stale: list[tuple[bytes, str]] = []
        best = self.pool.best(base_fee)
        for count, tx in enumerate(best):
            if executor.gas_remaining < MIN_TX_GAS:
                break
            if deadline is not None and count % DEADLINE_CHECK_EVERY == 0 and time.monotonic() > deadline:
                break
            try:
                executor.apply(as_fork_transaction(executor.fork, tx))
            except (GasLimitExceeded, NonceTooHigh, InsufficientFunds, FeeCapTooLow, UnsupportedTxType) as exc:
                # Not in this block, maybe in a later one (a later fork allows the type): keep it pooled.
                best.mark_invalid(tx)
                skipped.append(SkippedTx(bytes(tx.hash), bytes(tx.sender), str(exc)))
            except InvalidTransaction as exc:
                best.mark_invalid(tx)
                stale.append((bytes(tx.hash), str(exc)))
                skipped.append(SkippedTx(bytes(tx.hash), bytes(tx.sender), str(exc)))
                log.warning("dropped transaction 0x%s: %s", bytes(tx.hash).hex(), exc)
        for tx_hash, reason in stale:
            self.pool.remove([tx_hash], f"dropped: invalid when mining a block: {reason}")
        return skipped


# --- the node --------------------------------------------------------------------------


@dataclass
class L1Node:
    """The L1 kind's parts, in the shape the RPC and the CLI use (as `Node`)."""

    config: NodeConfig
    options: L1Options
    genesis: L1Genesis
    rules: ChainRules
    store: ChainStore
    pool: TxPool
    producer: L1BlockProducer
    driver: SequencerDriver
    _closers: list[Callable[[], None]] = field(default_factory=list)

    @classmethod
    def open(cls, config: NodeConfig, options: L1Options) -> L1Node:
        options.check()
        genesis = load_l1_genesis(options.genesis)
        rules = l1_rules(genesis, options.coinbase)
        store = open_l1_store(config, genesis)
        try:
            pool, unfollow = open_l1_pool(config, store, rules)
        except BaseException:
            store.close()
            raise
        producer = L1BlockProducer(store, pool, genesis, options.coinbase)
        driver = SequencerDriver(
            producer, options.mode, options.block_time, pool.subscribe, name="l1-producer"
        )
        head = store.head("unsafe")
        log.info(
            "l1 node open chain_id=%d head=%d hash=0x%s forks=%s data_dir=%s",
            genesis.chain_id, head.block_number, bytes(head.hash).hex(),
            genesis.schedule.activations(), config.storage.data_dir,
        )
        return cls(config, options, genesis, rules, store, pool, producer, driver, [unfollow])

    def rpc_backend(self) -> Backend:
        return Backend(
            self.store, self.pool, self.store, self.rules, self.producer.pending_env, dev=self.producer,
            mining=self.driver, dev_pool=self.pool,
            # The L1 forks validate every signature as Ethereum does; impersonation is for the rollup's dev chain.
            accounts=dev_accounts(self.config, self.pool, refuse="the L1 node kind runs signed transactions only"),
        )

    def build_rpc(self) -> RpcServer:
        server = build_rpc(self.rpc_backend(), self.config.rpc, dev_network=True, rollup=False)
        server.add_metrics(self.metrics)
        return server

    def metrics(self) -> dict[str, float]:
        pending, queued = self.pool.status()
        return {
            "openledger_chain_head": int(self.store.head("unsafe").block_number),
            "openledger_txpool_pending": pending,
            "openledger_txpool_queued": queued,
            "openledger_txpool_dropped_total": self.pool.dropped_total,
        }

    def start(self) -> None:
        self.driver.start()

    @property
    def failure(self) -> BaseException | None:
        return self.driver.failure

    def stop_services(self) -> None:
        self.driver.stop()

    def stop(self) -> None:
        """Stop mining after the block in progress, then close pool and store.
        Safe to call more than once."""
        if self.store.closed:
            return
        self.driver.stop()
        for close in reversed(self._closers):
            close()
        self.pool.close()
        self.store.close()


# --- import and export ---------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    imported: int
    known: int
    head: BlockHeaderAPI


def import_chain(config: NodeConfig, genesis: L1Genesis, path: Path) -> ImportResult:
    """Import a chain file into the data directory (initialised from `genesis`
    when empty), checking and executing every block; blocks the store already
    holds are skipped, as `geth import` does."""
    store = open_l1_store(config, genesis)
    imported = known = 0
    try:
        for block in read_chain_file(path):
            head = store.head("unsafe")
            number = block.number
            if number <= int(head.block_number):
                ours = store.canonical_hash(number)
                if ours != bytes(block.header.hash):
                    raise BlockFieldMismatch(number, "hash", ours, bytes(block.header.hash))
                known += 1
                continue
            if number != int(head.block_number) + 1:
                raise InvalidBlock(f"block {number}: the chain file skips from the head {head.block_number}")
            overlay = OverlayDB(store.state_db)
            output = apply_l1_block(genesis.schedule, overlay, head, block, store.ancestor_hashes(head))
            store.write_block(
                _stored(output.header), output.raw_transactions, output.senders, output.receipts, overlay,
                heads=HEADS, tips=output.tips(),
            )
            imported += 1
        return ImportResult(imported, known, store.head("unsafe"))
    finally:
        store.close()


def _encoded_blocks(store: ChainStore, genesis: L1Genesis, first: int, last: int) -> Iterator[bytes]:
    for number in range(first, last + 1):
        block = store.block_by_number(number)
        with_withdrawals = genesis.schedule.fork_at(int(block.header.timestamp)).at_least(SHANGHAI)
        yield encode_block(block.header, block.transactions, with_withdrawals)


def export_chain(
    config: NodeConfig, genesis: L1Genesis, path: Path, first: int = 0, last: int | None = None
) -> tuple[int, int]:
    """Write blocks `first`..`last` (default: genesis to head) to a chain file;
    returns (first, last) as written."""
    if not Path(config.storage.data_dir).exists():
        raise ConfigError(f"export: data directory {config.storage.data_dir} does not exist")
    store = open_l1_store(config, genesis, create=False)
    try:
        head = int(store.head("unsafe").block_number)
        last = head if last is None else last
        if not 0 <= first <= last <= head:
            raise ConfigError(f"export: block range {first}..{last} is not within the chain's 0..{head}")
        write_chain_file(path, _encoded_blocks(store, genesis, first, last))
        return first, last
    finally:
        store.close()


# --- commands ----------------------------------------------------------------------------


def l1_config(args: argparse.Namespace) -> NodeConfig:
    overrides: dict[str, dict[str, Any]] = {
        "chain": {"network": "dev"},
        "storage": {"data_dir": args.data_dir if args.data_dir is not None else DEFAULT_DATA_DIR},
    }
    if getattr(args, "rpc_port", None) is not None:
        overrides.setdefault("rpc", {})["port"] = args.rpc_port
    if getattr(args, "rpc_host", None) is not None:
        overrides.setdefault("rpc", {})["host"] = args.rpc_host
    return load_config(None, overrides=overrides)


def l1_options(args: argparse.Namespace) -> L1Options:
    genesis = args.genesis if args.genesis is not None else default_genesis()
    mode = getattr(args, "mode", None) or ("interval" if getattr(args, "block_time", None) else "instant")
    block_time = getattr(args, "block_time", None) or DEFAULT_INTERVAL
    coinbase = getattr(args, "coinbase", None)
    try:
        address = addr(coinbase) if coinbase else ZERO_ADDRESS
    except ValueError as exc:
        raise ConfigError(f"l1.coinbase: {exc}") from None
    return L1Options(Path(genesis), mode, float(block_time), address)


def cmd_l1(args: argparse.Namespace) -> int:
    from node.cli import cmd_accounts, run_loop, setup_logging

    config = l1_config(args)
    setup_logging(config.log)
    node = build_l1(config, l1_options(args))
    try:
        return run_loop(serve_l1(node, args.stop_after_blocks, lambda: cmd_accounts(argparse.Namespace())))
    finally:
        node.stop()


async def serve_l1(node: L1Node, stop_after_blocks: int, print_accounts: Callable[[], object]) -> int:
    from node.serving import serve

    options = node.options

    def running(head: int) -> str:
        mining = f"a block every {options.block_time}s" if options.mode == "interval" else "a block per transaction"
        forks = ", ".join(f"{name} at {start}" for name, start in node.genesis.schedule.activations()) or "paris"
        return (f"l1 running: chain id {node.genesis.chain_id}, head {head}, {options.mode} mode "
                f"({mining}), forks {forks}, data dir {node.config.storage.data_dir}")

    return await serve(node, node.config, stop_after_blocks, running, print_accounts)


def cmd_import(args: argparse.Namespace) -> int:
    from node.cli import setup_logging

    config = l1_config(args)
    setup_logging(config.log)
    genesis = load_l1_genesis(args.genesis if args.genesis is not None else default_genesis())
    started = time.monotonic()
    result = import_chain(config, genesis, Path(args.file))
    print(
        f"imported {result.imported} blocks ({result.known} already known) from {args.file} in "
        f"{time.monotonic() - started:.1f}s: head {result.head.block_number} "
        f"0x{bytes(result.head.hash).hex()} (state root 0x{bytes(result.head.state_root).hex()})"
    )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from node.cli import setup_logging

    config = l1_config(args)
    setup_logging(config.log)
    genesis = load_l1_genesis(args.genesis if args.genesis is not None else default_genesis())
    first, last = export_chain(config, genesis, Path(args.file), args.first, args.last)
    print(f"exported blocks {first}..{last} to {args.file}")
    return 0
