"""OpenLedgerVM and the block executor: fees, deposits, the L1-info deposit, tx types."""

from __future__ import annotations

import pytest
from eth_abi.abi import decode as abi_decode
from eth_hash.auto import keccak

from openledger_node.exceptions import (
    FeeCapTooLow,
    GasLimitExceeded,
    InsufficientFunds,
    IntrinsicGasTooLow,
    NonceTooHigh,
    NonceTooLow,
    TipAboveFeeCap,
    UnsupportedTxType,
)
from openledger_node.execution.block import BlockExecutor, begin_block
from openledger_node.execution.env import next_base_fee
from openledger_node.execution.l1_info import decode_l1_info
from openledger_node.execution.genesis import DEV_ACCOUNTS
from openledger_node.execution.state import StateView
from openledger_node.execution.transactions import (
    DepositTransaction,
    decode_transaction,
    user_deposit_source_hash,
)
from openledger_node.execution.types import L1Origin
from openledger_node.primitives import (
    BASE_FEE_VAULT_ADDRESS,
    DEPOSIT_TX_TYPE,
    L1_BLOCK_ADDRESS,
    SEQUENCER_FEE_VAULT_ADDRESS,
)
from openledger_node.storage import OverlayDB
from tests.conftest import head_state, next_env, seal_and_store

RECIPIENT = b"\x22" * 20
# A contract whose code always reverts: PUSH1 0 PUSH1 0 REVERT
REVERTING_CODE = bytes.fromhex("60006000fd")


def total_balance(state: StateView, extra: list[bytes]) -> int:
    accounts = set(DEV_ACCOUNTS) | {BASE_FEE_VAULT_ADDRESS, SEQUENCER_FEE_VAULT_ADDRESS} | set(extra)
    return sum(state.get_balance(a) for a in accounts)


def deposit(to: bytes | None, mint: int, *, sender: bytes = b"\x33" * 20, value: int = 0,
            gas: int = 100_000, data: bytes = b"", log_index: int = 0) -> DepositTransaction:
    return DepositTransaction(
        source_hash=user_deposit_source_hash(b"\xaa" * 32, log_index),
        sender=sender,
        to=to or b"",
        mint=mint,
        value=value,
        gas=gas,
        is_system_tx=False,
        data=data,
    )


def test_fees_base_to_vault_tip_to_coinbase_supply_conserved(store, genesis_spec, signers) -> None:
    before = head_state(store)
    supply = total_balance(before, [RECIPIENT])
    env = next_env(store, genesis_spec)
    overlay = OverlayDB(store.state_db)
    executor = begin_block(env, overlay)
    tip = 2 * 10**8
    receipts = [executor.apply(signers[i].tx(maxPriorityFeePerGas=tip, value=10**18)) for i in range(3)]
    block = seal_and_store(store, executor, overlay)
    after = head_state(store)
    gas = sum(r.gas_used for r in receipts)
    assert gas == 3 * 21_000
    assert after.get_balance(BASE_FEE_VAULT_ADDRESS) == gas * env.base_fee
    assert after.get_balance(SEQUENCER_FEE_VAULT_ADDRESS) == gas * tip
    assert after.get_balance(RECIPIENT) == 3 * 10**18
    assert total_balance(after, [RECIPIENT]) == supply
    assert block.header.coinbase == SEQUENCER_FEE_VAULT_ADDRESS
    assert all(r.effective_gas_price == env.base_fee + tip for r in receipts)


def test_legacy_access_list_and_dynamic_fee_transactions_succeed(store, genesis_spec, signers) -> None:
    env = next_env(store, genesis_spec)
    executor = begin_block(env, OverlayDB(store.state_db))
    legacy = signers[0].tx(type=0, gasPrice=2 * 10**9)
    access_list = signers[1].tx(type=1, gasPrice=2 * 10**9, gas=30_000,
                                accessList=[{"address": "0x" + "22" * 20, "storageKeys": []}])
    dynamic = signers[2].tx()
    for tx in (legacy, access_list, dynamic):
        assert executor.apply(tx).status == 1
    assert [r.tx_type for r in executor.receipts] == [DEPOSIT_TX_TYPE, 0, 1, 2]
    legacy_receipt = executor.receipts[1]
    # legacy pays its gas price; the base fee part still goes to the vault
    assert legacy_receipt.effective_gas_price == 2 * 10**9


def test_blob_transaction_is_rejected() -> None:
    raw = bytes([0x03]) + bytes.fromhex("c0")
    with pytest.raises(UnsupportedTxType, match="blob"):
        decode_transaction(raw)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"nonce": 5}, NonceTooHigh),
        ({"gas": 20_000}, IntrinsicGasTooLow),
        ({"maxFeePerGas": 10, "maxPriorityFeePerGas": 1}, FeeCapTooLow),
        ({"maxFeePerGas": 10**9, "maxPriorityFeePerGas": 2 * 10**9}, TipAboveFeeCap),
        ({"value": 10**30}, InsufficientFunds),
    ],
)
def test_invalid_transaction_raises_typed_error_and_leaves_state(store, genesis_spec, signers, fields, error) -> None:
    executor = begin_block(next_env(store, genesis_spec), OverlayDB(store.state_db))
    root_before = executor.state.make_state_root()
    with pytest.raises(error):
        executor.apply(signers[0].tx(**fields))
    assert executor.state.make_state_root() == root_before
    assert len(executor.transactions) == 1  # only the L1-info deposit


def test_nonce_too_low_after_inclusion(store, genesis_spec, signers) -> None:
    executor = begin_block(next_env(store, genesis_spec), OverlayDB(store.state_db))
    executor.apply(signers[0].tx(nonce=0))
    with pytest.raises(NonceTooLow):
        executor.apply(signers[0].tx(nonce=0, value=2))


def test_block_gas_limit_is_enforced(store, genesis_spec, signers) -> None:
    env = next_env(store, genesis_spec, gas_limit=1_100_000)
    executor = begin_block(env, OverlayDB(store.state_db))
    with pytest.raises(GasLimitExceeded):
        executor.apply(signers[0].tx(gas=1_080_000))


def test_deposit_mints_without_signature_or_fee(store, genesis_spec) -> None:
    depositor = b"\x33" * 20
    env = next_env(store, genesis_spec)
    overlay = OverlayDB(store.state_db)
    executor = begin_block(env, overlay)
    receipt = executor.apply(deposit(RECIPIENT, mint=5 * 10**18, sender=depositor, value=10**18))
    seal_and_store(store, executor, overlay)
    state = head_state(store)
    assert receipt.status == 1
    assert receipt.effective_gas_price == 0
    assert receipt.deposit_nonce == 0
    assert state.get_balance(depositor) == 4 * 10**18
    assert state.get_balance(RECIPIENT) == 10**18
    assert state.get_nonce(depositor) == 1
    assert state.get_balance(BASE_FEE_VAULT_ADDRESS) == 0  # no fee from a deposit


def test_deposit_mint_stays_when_call_reverts(store, genesis_spec) -> None:
    depositor = b"\x34" * 20
    target = b"\x55" * 20
    env = next_env(store, genesis_spec)
    overlay = OverlayDB(store.state_db)
    executor = begin_block(env, overlay)
    executor.state.set_code(target, REVERTING_CODE)
    receipt = executor.apply(deposit(target, mint=7 * 10**18, sender=depositor, value=10**18))
    seal_and_store(store, executor, overlay)
    state = head_state(store)
    assert receipt.status == 0
    assert state.get_balance(depositor) == 7 * 10**18  # minted, value not transferred
    assert state.get_balance(target) == 0


def test_deposit_with_too_little_gas_still_mints(store, genesis_spec) -> None:
    depositor = b"\x35" * 20
    env = next_env(store, genesis_spec)
    overlay = OverlayDB(store.state_db)
    executor = begin_block(env, overlay)
    receipt = executor.apply(deposit(RECIPIENT, mint=10**18, sender=depositor, gas=1_000))
    seal_and_store(store, executor, overlay)
    state = head_state(store)
    assert receipt.status == 0
    assert receipt.gas_used == 1_000
    assert state.get_balance(depositor) == 10**18
    assert state.get_nonce(depositor) == 1


def test_l1_info_deposit_writes_l1_block_predeploy(store, genesis_spec) -> None:
    origin = L1Origin(number=1234, timestamp=1_700_000_000, base_fee=7 * 10**9, hash=keccak(b"l1"))
    env = next_env(store, genesis_spec, l1_origin=origin, sequence_number=3)
    overlay = OverlayDB(store.state_db)
    executor = begin_block(env, overlay)
    block = seal_and_store(store, executor, overlay)
    info = block.transactions[0]
    assert info.sender == bytes.fromhex("deaddeaddeaddeaddeaddeaddeaddeaddead0001")
    assert info.to == L1_BLOCK_ADDRESS
    assert block.receipts[0].status == 1
    assert decode_l1_info(info.data) == (origin, 3)
    # Read the values back through the contract's getters.
    executor2 = begin_block(next_env(store, genesis_spec, l1_origin=origin, sequence_number=4), OverlayDB(store.state_db))
    for getter, expected in [("number()", 1234), ("timestamp()", 1_700_000_000), ("basefee()", 7 * 10**9),
                             ("hash()", origin.hash), ("sequenceNumber()", 4)]:
        computation = executor2.state.get_computation  # noqa: F841  (API presence)
        out = _static_call(executor2, L1_BLOCK_ADDRESS, keccak(getter.encode())[:4])
        value = abi_decode(["bytes32" if getter == "hash()" else "uint256"], out)[0]
        assert value == expected, getter


def _static_call(executor: BlockExecutor, to: bytes, data: bytes) -> bytes:
    from eth.vm.message import Message

    state = executor.state
    message = Message(gas=1_000_000, to=to, sender=b"\x00" * 20, value=0, data=data, code=state.get_code(to))
    context = state.get_transaction_context_class()(gas_price=0, origin=b"\x00" * 20)
    computation = state.computation_class.apply_message(state, message, context)
    assert computation.is_success, computation.error
    return bytes(computation.output)


def test_l1_block_rejects_non_depositor(store, genesis_spec, signers) -> None:
    executor = begin_block(next_env(store, genesis_spec), OverlayDB(store.state_db))
    info = executor.transactions[0]
    receipt = executor.apply(signers[0].tx(to="0x" + L1_BLOCK_ADDRESS.hex(), data=info.data, gas=200_000, value=0))
    assert receipt.status == 0


@pytest.mark.parametrize(
    ("used", "expected"),
    [(15_000_000, 10**9), (30_000_000, 1_125_000_000), (0, 875_000_000)],
)
def test_next_base_fee_follows_eip1559(used: int, expected: int) -> None:
    assert next_base_fee(30_000_000, used, 10**9, 2, 8) == expected


def test_next_base_fee_respects_floor() -> None:
    assert next_base_fee(30_000_000, 0, 10**9, 2, 8, minimum=950_000_000) == 950_000_000
