"""Actors for deterministic end-to-end tests (op-e2e `actions/` style).

Each actor is a real component driven step by step by the test: no threads, no
sleeps, no subprocesses, so a test reads as the sequence of events it checks.

- `L1Miner`: an in-process plain Ethereum chain (py-evm, Prague) that mines a
  block when told to, 12 s after the previous one by default; it is the L1 the
  sequencer follows.
- `Sequencer`: the node's own store, pool and block builder, assembled by the
  node builder, following the L1 miner by op-node's origin rule, with a clock
  the test moves; `build_block()` seals one block.
- `User`: signs transactions with a key and hands them to the sequencer's pool.
- `Replica`: a second chain store that imports the sequencer's blocks through
  the core's `apply_block`, as a validator will (the validator of the next
  issues derives the same blocks from L1 instead of reading them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from eth import constants
from eth.chains.base import MiningChain
from eth.db.atomic import AtomicDB
from eth.vm.forks.prague import PragueVM
from eth_account import Account

from node.builder import NodeBuilder
from openledger_node.config import NodeConfig, load_config
from openledger_node.execution.block import Block, BlockOutput, apply_block
from openledger_node.execution.env import ChainRules
from openledger_node.execution.genesis import anchor_genesis, build_genesis, load_genesis
from openledger_node.execution.state import StateView
from openledger_node.execution.transactions import decode_transaction
from openledger_node.execution.types import L1Origin
from openledger_node.primitives import Hash32
from openledger_node.storage import ChainStore, OverlayDB
from sequencer import BlockBuilder, BuildResult, DepositSource, FollowL1, L1Blocks, QueuedDeposits
from tests.conftest import GENESIS_PATH

L1_CHAIN_ID = 900
L1_BLOCK_TIME = 12
L2_BLOCK_TIME = 2
L1_GENESIS_TIME = 1_700_000_000


class L1Miner:
    """A plain Ethereum chain in process: mines when told to."""

    def __init__(self, genesis_time: int = L1_GENESIS_TIME) -> None:
        chain_class = MiningChain.configure(
            __name__="ActionsL1",
            vm_configuration=((constants.GENESIS_BLOCK_NUMBER, PragueVM),),
            chain_id=L1_CHAIN_ID,
        )
        genesis = {
            "coinbase": constants.ZERO_ADDRESS,
            "difficulty": 0,
            "gas_limit": 30_000_000,
            "timestamp": genesis_time,
            "extra_data": b"",
            "nonce": b"\x00" * 8,
            "mix_hash": constants.ZERO_HASH32,
        }
        self.chain = chain_class.from_genesis(AtomicDB(), cast(Any, genesis), {})
        self._pending: list[bytes] = []

    @staticmethod
    def _origin(header: Any) -> L1Origin:
        return L1Origin(
            int(header.block_number), int(header.timestamp), int(header.base_fee_per_gas), Hash32(bytes(header.hash))
        )

    @property
    def head(self) -> L1Origin:
        return self._origin(self.chain.get_canonical_head())

    def block(self, number: int) -> L1Origin | None:
        """The canonical block at `number`, or None (the `L1Blocks` interface)."""
        if number > self.chain.get_canonical_head().block_number:
            return None
        return self._origin(self.chain.get_canonical_block_header_by_number(number))

    def is_canonical(self, origin: L1Origin) -> bool:
        return self.block(origin.number) == origin

    def send(self, raw: bytes) -> None:
        """Queue a signed L1 transaction for the next block."""
        self._pending.append(raw)

    def mine(self, seconds: int = L1_BLOCK_TIME) -> L1Origin:
        """Mine the next block `seconds` after the head, with the queued transactions."""
        self.chain.set_header_timestamp(self.head.timestamp + seconds)
        builder = PragueVM.get_transaction_builder()
        for raw in self._pending:
            self.chain.apply_transaction(builder.decode(raw))
        self._pending.clear()
        self.chain.mine_block()
        return self.head


def write_genesis(path: Path, l1: L1Origin) -> Path:
    """The devnet genesis, anchored on the L1 miner's block `l1`."""
    return anchor_genesis(GENESIS_PATH, l1, path)


def node_config(data_dir: Path, genesis: Path) -> NodeConfig:
    return load_config(
        None,
        environ={},
        overrides={
            "chain": {"genesis": str(genesis), "block_time": L2_BLOCK_TIME},
            "storage": {"data_dir": str(data_dir)},
            "txpool": {"journal": False},
        },
    )


class Sequencer:
    """The sequencer's parts, in process, on a clock the test moves. `deposits`:
    where due deposits come from (default: a queue the test pushes to)."""

    def __init__(
        self,
        data_dir: Path,
        genesis: Path,
        l1: L1Blocks,
        max_sequencer_drift: int = 600,
        deposits: DepositSource | None = None,
    ) -> None:
        assembly = NodeBuilder(node_config(data_dir, genesis))
        self.rules: ChainRules = assembly.rules
        self.store = assembly.open_store()
        self.pool, self._unfollow = assembly.open_pool(self.store)
        self.time = float(self.store.head("unsafe").timestamp)
        self.deposits = QueuedDeposits()
        self.builder = BlockBuilder(
            self.store, self.pool, self.rules, FollowL1(l1, max_sequencer_drift), deposits or self.deposits,
            clock=lambda: self.time,
        )

    def build_block(self) -> BuildResult:
        """Move the clock one block time on and seal a block."""
        self.time += L2_BLOCK_TIME
        return self.builder.build_block()

    @property
    def head(self) -> Any:
        return self.store.head("unsafe")

    def l1_origin(self, number: int | None = None) -> tuple[L1Origin, int]:
        header = self.head if number is None else self.store.header_by_number(number)
        return self.store.l1_origin(header)

    def balance(self, address: bytes) -> int:
        return StateView(self.store.state_db, bytes(self.head.state_root)).get_balance(address)

    def close(self) -> None:
        self._unfollow()
        self.pool.close()
        self.store.close()


class User:
    """An account that signs EIP-1559 transactions and sends them to the sequencer."""

    def __init__(self, key: bytes, sequencer: Sequencer) -> None:
        self.account = Account.from_key(key)
        self.address = bytes.fromhex(self.account.address[2:])
        self.sequencer = sequencer

    def send(self, to: bytes | None, value: int = 0, data: bytes = b"", gas: int = 21_000) -> bytes:
        tx: dict[str, Any] = {
            "type": 2,
            "chainId": self.sequencer.rules.chain_id,
            "nonce": self.sequencer.pool.pending_nonce(self.address),
            "maxFeePerGas": 5 * 10**9,
            "maxPriorityFeePerGas": 10**8,
            "gas": gas,
            "value": value,
            "data": data,
        }
        if to is not None:
            tx["to"] = "0x" + to.hex()
        raw = bytes(self.account.sign_transaction(tx).raw_transaction)
        return self.sequencer.pool.add_raw(raw)

    def receipt(self, tx_hash: bytes) -> Any:
        store = self.sequencer.store
        location = store.tx_location(tx_hash)
        assert location is not None, f"0x{tx_hash.hex()} is not in a block"
        return store.receipts(location.block_hash)[location.index]


class Replica:
    """A second node that imports the sequencer's blocks with `apply_block`."""

    def __init__(self, data_dir: Path, genesis: Path, rules: ChainRules) -> None:
        spec = load_genesis(genesis)
        self.rules = rules
        self.store = ChainStore(data_dir)
        overlay = OverlayDB(self.store.state_db)
        self.store.write_genesis(build_genesis(spec, overlay), overlay, spec.l1_origin)

    def import_block(self, block: Block) -> BlockOutput:
        """Check `block` on the head and, when it is valid, store it."""
        parent = self.store.parent_block(self.store.head("unsafe"))
        overlay = OverlayDB(self.store.state_db)
        output = apply_block(self.rules, overlay, parent, block)
        self.store.write_output(output, overlay)
        return output

    def sync(self, sequencer: Sequencer) -> int:
        """Import every sequencer block above this head; returns how many."""
        imported = 0
        for number in range(int(self.store.head("unsafe").block_number) + 1, int(sequencer.head.block_number) + 1):
            stored = sequencer.store.block_by_number(number)
            self.import_block(Block(stored.header, tuple(decode_transaction(raw) for raw in stored.transactions)))
            imported += 1
        return imported

    def close(self) -> None:
        self.store.close()

