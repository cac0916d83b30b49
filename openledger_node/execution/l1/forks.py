"""The fork schedule of a plain Ethereum chain: which py-evm VM runs a block.

A geth-format genesis names when each fork activates (`config.londonBlock`,
`config.shanghaiTime`, ...). This node runs chains that are post-merge from
genesis, as every current devnet and geth's `--dev` chain are: the block-number
forks up to London are at block 0 and the terminal total difficulty is 0, so a
block's rules depend only on its timestamp: Paris (London's rules, proof of
stake), then Shanghai, Cancun and Prague at their activation times.

Each fork is py-evm's VM with one subclass per fork: its state is the fork's
state as `execution/evm.py` corrects it where py-evm diverges from Ethereum,
with the node's batched account-trie commit (`OpenLedgerAccountDB`: the same
trie nodes and roots, a faster seal), as `OpenLedgerVM` does for the rollup.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth.abc import BlockHeaderAPI, StateAPI, TransactionBuilderAPI
from eth.vm.forks.cancun import CancunVM
from eth.vm.forks.cancun.blocks import CancunBlockHeader
from eth.vm.forks.cancun.constants import MAX_BLOB_GAS_PER_BLOCK as CANCUN_MAX_BLOB_GAS_PER_BLOCK
from eth.vm.forks.cancun.headers import calc_excess_blob_gas_cancun
from eth.vm.forks.frontier import FrontierVM
from eth.vm.forks.paris import ParisVM
from eth.vm.forks.paris.blocks import ParisBlockHeader
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.blocks import PragueBlockHeader
from eth.vm.forks.prague.constants import MAX_BLOB_GAS_PER_BLOCK as PRAGUE_MAX_BLOB_GAS_PER_BLOCK
from eth.vm.forks.prague.headers import calc_excess_blob_gas_prague
from eth.vm.forks.shanghai import ShanghaiVM
from eth.vm.forks.shanghai.blocks import ShanghaiBlockHeader

from openledger_node.execution import evm
from openledger_node.execution.accountdb import OpenLedgerAccountDB
from openledger_node.primitives import (
    ACCESS_LIST_TX_TYPE,
    BLOB_TX_TYPE,
    DYNAMIC_FEE_TX_TYPE,
    LEGACY_TX_TYPE,
    SET_CODE_TX_TYPE,
)


class L1ParisState(evm.ParisState):
    account_db_class = OpenLedgerAccountDB


class L1ParisVM(ParisVM):
    _state_class = L1ParisState


class L1ShanghaiState(evm.ShanghaiState):
    account_db_class = OpenLedgerAccountDB


class L1ShanghaiVM(ShanghaiVM):
    _state_class = L1ShanghaiState


class L1CancunState(evm.CancunState):
    account_db_class = OpenLedgerAccountDB


class L1CancunVM(CancunVM):
    _state_class = L1CancunState


class L1PragueState(evm.PragueState):
    account_db_class = OpenLedgerAccountDB


class L1PragueVM(PragueVM):
    _state_class = L1PragueState


@dataclass(frozen=True)
class Fork:
    """One fork's rules as the block code needs them."""

    name: str
    order: int  # position in FORKS: later forks compare greater
    vm_class: type[FrontierVM]  # every fork's VM derives from Frontier's
    header_class: type[Any]  # the fork's py-evm header class (rlp.Serializable, BlockHeaderAPI)
    tx_types: frozenset[int]
    # EIP-4844 excess blob gas of a child of `parent` (Cancun on), else None.
    excess_blob_gas: Callable[[BlockHeaderAPI], int] | None = None
    # EIP-4844 / EIP-7691: the most blob gas one block may use (Cancun on).
    max_blob_gas_per_block: int = 0

    def at_least(self, other: Fork) -> bool:
        return self.order >= other.order

    @property
    def state_class(self) -> type[StateAPI]:
        return self.vm_class.get_state_class()

    @property
    def transaction_builder(self) -> type[TransactionBuilderAPI]:
        return self.vm_class.get_transaction_builder()

    @property
    def header_fields(self) -> tuple[str, ...]:
        return tuple(self.header_class._meta.field_names)


_LONDON_TYPES = frozenset({LEGACY_TX_TYPE, ACCESS_LIST_TX_TYPE, DYNAMIC_FEE_TX_TYPE})

PARIS = Fork("paris", 0, L1ParisVM, ParisBlockHeader, _LONDON_TYPES)
SHANGHAI = Fork("shanghai", 1, L1ShanghaiVM, ShanghaiBlockHeader, _LONDON_TYPES)
CANCUN = Fork(
    "cancun",
    2,
    L1CancunVM,
    CancunBlockHeader,
    _LONDON_TYPES | {BLOB_TX_TYPE},
    calc_excess_blob_gas_cancun,
    CANCUN_MAX_BLOB_GAS_PER_BLOCK,
)
PRAGUE = Fork(
    "prague",
    3,
    L1PragueVM,
    PragueBlockHeader,
    _LONDON_TYPES | {BLOB_TX_TYPE, SET_CODE_TX_TYPE},
    calc_excess_blob_gas_prague,
    PRAGUE_MAX_BLOB_GAS_PER_BLOCK,
)
FORKS = (PARIS, SHANGHAI, CANCUN, PRAGUE)


@dataclass(frozen=True)
class ForkSchedule:
    """When the time-activated forks start (None: never), on chain `chain_id`."""

    chain_id: int
    shanghai_time: int | None = None
    cancun_time: int | None = None
    prague_time: int | None = None

    def fork_at(self, timestamp: int) -> Fork:
        """The fork whose rules a block with this timestamp follows."""
        for fork, start in (
            (PRAGUE, self.prague_time),
            (CANCUN, self.cancun_time),
            (SHANGHAI, self.shanghai_time),
        ):
            if start is not None and timestamp >= start:
                return fork
        return PARIS

    def activations(self) -> list[tuple[str, int]]:
        """(fork, activation time) of the time-activated forks that are scheduled."""
        return [
            (name, start)
            for name, start in (
                ("shanghai", self.shanghai_time),
                ("cancun", self.cancun_time),
                ("prague", self.prague_time),
            )
            if start is not None
        ]
