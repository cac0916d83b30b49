"""apply_block: the one state transition checks a given block.

Blocks sealed the sequencer's way (begin_block, apply, seal) re-execute with
apply_block to identical hashes; a block that breaks a rule is refused with
the field named, the value the rules give and the block's value.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_hash.auto import keccak

from openledger_node.exceptions import BlockFieldMismatch, InvalidBlock
from openledger_node.execution.block import Block, BlockOutput, apply_block, begin_block
from openledger_node.execution.l1_info import l1_info_deposit
from openledger_node.execution.transactions import DepositTransaction, user_deposit_source_hash
from openledger_node.execution.types import L1Origin
from openledger_node.storage import ChainStore, OverlayDB
from tests.conftest import DEV_RULES, Signer, next_env

RECIPIENT = b"\x22" * 20


def deposit(mint: int, log_index: int = 0) -> DepositTransaction:
    return DepositTransaction(
        source_hash=user_deposit_source_hash(b"\xaa" * 32, log_index),
        sender=b"\x33" * 20,
        to=RECIPIENT,
        mint=mint,
        value=0,
        gas=100_000,
        is_system_tx=False,
        data=b"",
    )


def seal(store: ChainStore, genesis_spec: Any, txs: list[Any], **env: Any) -> BlockOutput:
    """A block as the sequencer seals it (not stored)."""
    executor = begin_block(next_env(store, genesis_spec, **env), OverlayDB(store.state_db))
    for tx in txs:
        executor.apply(tx)
    return executor.seal()


def check(store: ChainStore, header: Any, transactions: tuple[Any, ...]) -> BlockOutput:
    parent = store.parent_block(store.head("unsafe"))
    return apply_block(DEV_RULES, OverlayDB(store.state_db), parent, Block(header, transactions))


@pytest.fixture()
def sealed(store: ChainStore, genesis_spec: Any, signers: list[Signer]) -> BlockOutput:
    contract = signers[1].tx(to=None, data=bytes.fromhex("600160005560016000f3"), gas=100_000, value=0)
    return seal(store, genesis_spec, [deposit(10**18), signers[0].tx(), signers[0].tx(), contract])


def test_reexecutes_a_sealed_block_to_the_same_header(store: ChainStore, sealed: BlockOutput) -> None:
    output = check(store, sealed.header, sealed.transactions)
    assert output.header == sealed.header
    assert output.receipts == sealed.receipts


# Each header field, set to a value the rules refuse, and the field named.
TAMPERED = [
    ("parent_hash", b"\x01" * 32),
    ("uncles_hash", b"\x01" * 32),
    ("coinbase", b"\x01" * 20),
    ("state_root", b"\x01" * 32),
    ("transaction_root", b"\x01" * 32),
    ("receipt_root", b"\x01" * 32),
    ("bloom", 1),
    ("difficulty", 1),
    ("block_number", 7),
    ("gas_limit", 29_000_000),
    ("gas_used", 21_000),
    ("extra_data", b"x"),
    ("mix_hash", b"\x01" * 32),
    ("nonce", b"\x00" * 7 + b"\x01"),
    ("base_fee_per_gas", 1),
    ("withdrawals_root", b"\x01" * 32),
    ("blob_gas_used", 131072),
    ("excess_blob_gas", 1),
    ("parent_beacon_block_root", b"\x01" * 32),
    ("requests_hash", b"\x01" * 32),
]


@pytest.mark.parametrize(("field", "value"), TAMPERED, ids=[f for f, _ in TAMPERED])
def test_tampered_header_field_is_refused_by_name(
    store: ChainStore, sealed: BlockOutput, field: str, value: Any
) -> None:
    header = sealed.header.copy(**{field: value})
    with pytest.raises(BlockFieldMismatch) as caught:
        check(store, header, sealed.transactions)
    assert caught.value.field == field
    assert caught.value.actual == value
    assert caught.value.expected == getattr(sealed.header, field) or field in {"nonce"}
    assert field in str(caught.value)


def test_timestamp_not_after_parent_is_refused(store: ChainStore, sealed: BlockOutput) -> None:
    parent_time = int(store.head("unsafe").timestamp)
    with pytest.raises(BlockFieldMismatch) as caught:
        check(store, sealed.header.copy(timestamp=parent_time), sealed.transactions)
    assert caught.value.field == "timestamp"
    assert caught.value.actual == parent_time


def test_dropped_l1_info_deposit_is_refused(store: ChainStore, sealed: BlockOutput) -> None:
    with pytest.raises(BlockFieldMismatch) as caught:
        check(store, sealed.header, sealed.transactions[1:])
    assert caught.value.field == "transactions[0]"
    assert "L1-info deposit" in str(caught.value)


def test_empty_block_is_refused(store: ChainStore, sealed: BlockOutput) -> None:
    with pytest.raises(BlockFieldMismatch, match="transactions\\[0\\]"):
        check(store, sealed.header, ())


def test_deposit_after_user_transaction_is_refused(store: ChainStore, sealed: BlockOutput) -> None:
    info, user_deposit, transfer, *rest = sealed.transactions
    with pytest.raises(BlockFieldMismatch) as caught:
        check(store, sealed.header, (info, transfer, user_deposit, *rest))
    assert caught.value.field == "transactions[2]"


def test_wrong_sequence_number_is_refused(store: ChainStore, genesis_spec: Any, sealed: BlockOutput) -> None:
    parent = store.parent_block(store.head("unsafe"))
    forged = l1_info_deposit(parent.l1_origin, parent.sequence_number + 5)
    with pytest.raises(BlockFieldMismatch) as caught:
        check(store, sealed.header, (forged, *sealed.transactions[1:]))
    assert caught.value.field == "sequence_number"
    assert (caught.value.expected, caught.value.actual) == (parent.sequence_number + 1, parent.sequence_number + 5)


def test_forged_l1_info_values_are_refused(store: ChainStore, sealed: BlockOutput) -> None:
    parent = store.parent_block(store.head("unsafe"))
    origin = parent.l1_origin
    skipped = L1Origin(origin.number + 2, origin.timestamp + 24, origin.base_fee, keccak(b"two ahead"))
    with pytest.raises(BlockFieldMismatch) as caught:
        check(store, sealed.header, (l1_info_deposit(skipped, 0), *sealed.transactions[1:]))
    assert caught.value.field == "l1_origin"
    same_number_other_hash = L1Origin(origin.number, origin.timestamp, origin.base_fee, keccak(b"other"))
    with pytest.raises(BlockFieldMismatch) as caught:
        check(store, sealed.header, (l1_info_deposit(same_number_other_hash, 1), *sealed.transactions[1:]))
    assert caught.value.field == "l1_origin.hash"
    # The same L1 block with another base fee.
    changed = L1Origin(origin.number, origin.timestamp, origin.base_fee + 1, origin.hash)
    with pytest.raises(BlockFieldMismatch) as caught:
        check(store, sealed.header, (l1_info_deposit(changed, 1), *sealed.transactions[1:]))
    assert caught.value.field == "l1_origin"
    assert (caught.value.expected, caught.value.actual) == (origin, changed)
    # The right values in a deposit that is not the L1-info deposit's (more gas, other source).
    honest = sealed.transactions[0]
    for forged in (honest.copy(gas=honest.gas + 1), honest.copy(source_hash=b"\x05" * 32), honest.copy(mint=1)):
        with pytest.raises(BlockFieldMismatch) as caught:
            check(store, sealed.header, (forged, *sealed.transactions[1:]))
        assert caught.value.field == "transactions[0]"


def test_next_epoch_origin_from_the_future_is_refused(store: ChainStore, genesis_spec: Any) -> None:
    parent = store.parent_block(store.head("unsafe"))
    block_time = int(parent.header.timestamp) + 2
    future = L1Origin(parent.l1_origin.number + 1, block_time + 1, 10**9, keccak(b"next"))
    output = seal(store, genesis_spec, [], l1_origin=future, sequence_number=0)
    with pytest.raises(BlockFieldMismatch) as caught:
        check(store, output.header, output.transactions)
    assert caught.value.field == "l1_origin.timestamp"


def test_next_epoch_starts_at_sequence_zero(store: ChainStore, genesis_spec: Any) -> None:
    parent = store.parent_block(store.head("unsafe"))
    block_time = int(parent.header.timestamp) + 2
    following = L1Origin(parent.l1_origin.number + 1, block_time, 10**9, keccak(b"next"))
    output = seal(store, genesis_spec, [], l1_origin=following, sequence_number=0)
    assert check(store, output.header, output.transactions).hash == output.hash


def test_invalid_transaction_makes_the_block_invalid(
    store: ChainStore, sealed: BlockOutput, signers: list[Signer]
) -> None:
    info = sealed.transactions[0]
    with pytest.raises(InvalidBlock, match="transaction 1 .* nonce too high"):
        check(store, sealed.header, (info, signers[0].tx(nonce=3)))
