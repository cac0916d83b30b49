"""Deposits: the stage that reads the L1 portal's `TransactionDeposited` logs of
one L1 block and turns them into the L2 deposit transactions that open the L2
blocks of that epoch, in log order.

The event and its payload are the portal's (`contracts/src/L1/OpenLedgerPortal.sol`):

    TransactionDeposited(address indexed from, address indexed to,
                         uint256 indexed version, bytes opaqueData)
    opaqueData (version 0) = mint (32) ++ value (32) ++ gasLimit (8)
                             ++ isCreation (1) ++ data

and a deposit's source hash commits to the L1 block hash and the log's index in
that block (`user_deposit_source_hash`), so every node derives the same bytes.
A log that does not follow this layout is refused with `InvalidDeposit`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_hash.auto import keccak

from openledger_node.exceptions import InvalidDeposit
from openledger_node.execution.transactions import DepositTransaction, user_deposit_source_hash
from openledger_node.primitives import Address, Hash32

TRANSACTION_DEPOSITED = Hash32(keccak(b"TransactionDeposited(address,address,uint256,bytes)"))
DEPOSIT_VERSION = 0
OPAQUE_HEADER_SIZE = 32 + 32 + 8 + 1  # mint, value, gasLimit, isCreation


@dataclass(frozen=True)
class L1Log:
    """A log of an L1 receipt, with where it sits in its block."""

    address: Address
    topics: tuple[Hash32, ...]
    data: bytes
    block_hash: Hash32
    log_index: int  # among all the logs of the block, as the source hash counts


def decode_opaque_data(opaque: bytes) -> tuple[int, int, int, bool, bytes]:
    """(mint, value, gasLimit, isCreation, data) of version-0 `opaqueData`.

    Raises ValueError when it is shorter than the fixed fields."""
    if len(opaque) < OPAQUE_HEADER_SIZE:
        raise ValueError(f"opaque data is {len(opaque)} bytes, shorter than {OPAQUE_HEADER_SIZE}")
    mint = int.from_bytes(opaque[0:32], "big")
    value = int.from_bytes(opaque[32:64], "big")
    gas_limit = int.from_bytes(opaque[64:72], "big")
    is_creation = opaque[72] == 1  # as op-node reads it
    return mint, value, gas_limit, is_creation, opaque[OPAQUE_HEADER_SIZE:]


def derive_deposits(logs: Iterable[L1Log], portal: Address) -> list[DepositTransaction]:
    """The deposit transactions of the `portal`'s TransactionDeposited logs among
    `logs` (one L1 block's, in order); other logs are skipped."""
    return [
        deposit_from_log(log)
        for log in logs
        if log.address == portal and log.topics and log.topics[0] == TRANSACTION_DEPOSITED
    ]


def deposit_from_log(log: L1Log) -> DepositTransaction:
    """The deposit transaction of one TransactionDeposited log."""
    if len(log.topics) != 4:
        raise InvalidDeposit(log.log_index, f"{len(log.topics)} topics, expected 4")
    version = int.from_bytes(log.topics[3], "big")
    if version != DEPOSIT_VERSION:
        raise InvalidDeposit(log.log_index, f"unknown deposit version {version}")
    try:
        (opaque,) = abi_decode(["bytes"], log.data)
    except DecodingError as exc:
        raise InvalidDeposit(log.log_index, f"log data is not an ABI-encoded bytes value: {exc}") from exc
    # Only the portal's own (canonical) encoding is accepted, so that no two
    # encodings of one deposit exist (no other offset, no trailing bytes).
    if abi_encode(["bytes"], [opaque]) != log.data:
        raise InvalidDeposit(log.log_index, "log data is not the canonical ABI encoding of a bytes value")
    try:
        mint, value, gas_limit, is_creation, data = decode_opaque_data(opaque)
    except ValueError as exc:
        raise InvalidDeposit(log.log_index, str(exc)) from exc
    return DepositTransaction(
        source_hash=user_deposit_source_hash(log.block_hash, log.log_index),
        sender=log.topics[1][12:],
        to=b"" if is_creation else log.topics[2][12:],
        mint=mint,
        value=value,
        gas=gas_limit,
        is_system_tx=False,
        data=data,
    )


def l1_logs_from_web3(logs: Iterable[Mapping[str, Any]]) -> list[L1Log]:
    """`L1Log`s of a web3.py receipt's `logs` (checksum address, HexBytes fields)."""
    return [
        L1Log(
            address=Address(bytes.fromhex(str(log["address"])[2:])),
            topics=tuple(Hash32(bytes(topic)) for topic in log["topics"]),
            data=bytes(log["data"]),
            block_hash=Hash32(bytes(log["blockHash"])),
            log_index=int(log["logIndex"]),
        )
        for log in logs
    ]


class L1LogSource(Protocol):
    def logs(
        self,
        *,
        block_hash: Hash32 | None = None,
        address: Address | None = None,
        topics: Sequence[Hash32 | None] = (),
    ) -> Sequence[Any]: ...


class L1Deposits:
    """The deposits an epoch's first L2 block must include: the portal's
    `TransactionDeposited` logs of the epoch's L1 origin (the sequencer's
    `DepositSource`; a validator reads the same). Keyed by the origin's hash, so a
    reorganised L1 block's deposits are never credited: the L2 blocks built on
    it are rebuilt on the new L1 chain, with the new block's deposits."""

    def __init__(self, source: L1LogSource, portal: Address) -> None:
        self.source = source
        self.portal = portal

    def due_deposits(self, origin: Any, epoch_start: bool) -> list[DepositTransaction]:
        if not epoch_start:
            return []
        logs = self.source.logs(block_hash=origin.hash, address=self.portal, topics=[TRANSACTION_DEPOSITED])
        return derive_deposits(
            (L1Log(Address(bytes(log.address)), tuple(Hash32(bytes(t)) for t in log.topics), bytes(log.data),
                   Hash32(bytes(log.block_hash)), int(log.log_index))
             for log in logs),
            self.portal,
        )
