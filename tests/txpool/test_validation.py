"""Every way a transaction can be refused at the door, with the typed error."""

from __future__ import annotations

import pytest
import rlp

from openledger_node.exceptions import (
    AlreadyKnown,
    FeeCapTooLow,
    FeeOverflow,
    GasLimitExceeded,
    InitCodeTooLarge,
    InsufficientFunds,
    IntrinsicGasTooLow,
    InvalidSignature,
    InvalidTransaction,
    NonceTooLow,
    OversizedTransaction,
    TipAboveFeeCap,
    TxDecodeError,
    UnsupportedTxType,
    WrongChainId,
)
from openledger_node.execution.transactions import (
    DepositTransaction,
    decode_transaction,
)
from openledger_node.txpool import floor_data_gas, intrinsic_gas

from .helpers import (
    CHAIN_ID,
    GAS_LIMIT,
    OPEN,
    FakeState,
    address,
    hand_signed_1559,
    make_pool,
    signed,
    tx_hash_of,
)


def test_valid_transactions_of_each_type_are_accepted() -> None:
    pool = make_pool()
    for kind, sender in ((0, 1), (1, 2), (2, 3)):
        raw = signed(sender, 0, kind=kind)
        assert pool.add_raw(raw) == tx_hash_of(raw)
    assert pool.status() == (3, 0)


@pytest.mark.parametrize(
    ("position", "value"),
    [(-2, b""), (-1, b""), (-3, b"\x05"), (-2, b"\x01" * 33)],
    ids=["r-zero", "s-zero", "y-parity-5", "r-too-long"],
)
def test_bad_signature_bytes(position: int, value: bytes) -> None:
    fields = rlp.decode(hand_signed_1559(1)[1:])
    fields[position] = value
    with pytest.raises(InvalidSignature):
        make_pool().add_raw(b"\x02" + rlp.encode(fields))


def test_high_s_signature_is_refused() -> None:
    raw = hand_signed_1559(1, malleate=True)
    with pytest.raises(InvalidSignature):
        make_pool().add_raw(raw)


def test_wrong_chain_id() -> None:
    with pytest.raises(WrongChainId) as err:
        make_pool().add_raw(signed(1, 0, chain_id=1))
    assert (err.value.got, err.value.expected) == (1, CHAIN_ID)
    assert "invalid chain id for signer" in str(err.value)


def test_legacy_without_chain_id() -> None:
    with pytest.raises(WrongChainId) as err:
        make_pool().add_raw(signed(1, 0, kind=0, chain_id=None))
    assert err.value.got is None
    assert "replay-protected" in str(err.value)


def test_nonce_too_low() -> None:
    state = FakeState(nonces={address(1): 5})
    with pytest.raises(NonceTooLow) as err:
        make_pool(state).add_raw(signed(1, 4))
    assert (err.value.tx_nonce, err.value.state_nonce) == (4, 5)


def test_insufficient_funds_for_the_transaction_alone() -> None:
    cost = 21_000 * 100 + 7
    state = FakeState(balances={address(1): cost - 1})
    with pytest.raises(InsufficientFunds) as err:
        make_pool(state).add_raw(signed(1, 0, fee_cap=100, value=7))
    assert (err.value.balance, err.value.cost) == (cost - 1, cost)
    assert str(err.value).startswith("insufficient funds for gas * price + value")


def test_insufficient_funds_counts_the_senders_pending_transactions() -> None:
    one = 21_000 * 100
    state = FakeState(balances={address(1): 2 * one + 21_000 * 10})
    pool = make_pool(state)
    pool.add_raw(signed(1, 0))
    pool.add_raw(signed(1, 1))
    with pytest.raises(InsufficientFunds) as err:
        pool.add_raw(signed(1, 2))
    assert err.value.cost == 3 * one
    # A replacement is measured without the transaction it replaces.
    pool.add_raw(signed(1, 1, fee_cap=110, tip=11))


def test_intrinsic_gas_too_low() -> None:
    with pytest.raises(IntrinsicGasTooLow) as err:
        make_pool().add_raw(signed(1, 0, gas=20_999))
    assert (err.value.gas, err.value.intrinsic) == (20_999, 21_000)


def test_eip7623_floor_applies_above_the_intrinsic_gas() -> None:
    data = b"\x01" * 100
    raw = signed(1, 0, gas=23_000, data=data)
    tx = decode_transaction(raw)
    assert int(tx.intrinsic_gas) == 21_000 + 16 * 100 < 23_000
    assert floor_data_gas(data) == 21_000 + 10 * 4 * 100
    with pytest.raises(IntrinsicGasTooLow) as err:
        make_pool().add_raw(raw)
    assert err.value.intrinsic == 25_000
    make_pool().add_raw(signed(1, 0, gas=25_000, data=data))


def test_contract_creation_pays_initcode_words() -> None:
    initcode = b"\x60" * 64
    raw = signed(1, 0, gas=100_000, to=b"", data=initcode)
    tx = decode_transaction(raw)
    assert intrinsic_gas(tx) == int(tx.intrinsic_gas) + 2 * 2
    required = max(intrinsic_gas(tx), floor_data_gas(initcode))
    with pytest.raises(IntrinsicGasTooLow) as err:
        make_pool().add_raw(signed(1, 0, gas=required - 1, to=b"", data=initcode))
    assert err.value.intrinsic == required
    make_pool().add_raw(signed(1, 0, gas=required, to=b"", data=initcode))


def test_gas_above_block_gas_limit() -> None:
    with pytest.raises(GasLimitExceeded) as err:
        make_pool().add_raw(signed(1, 0, gas=GAS_LIMIT + 1))
    assert err.value.block_gas_limit == GAS_LIMIT


def test_fee_cap_below_price_limit() -> None:
    pool = make_pool(price_limit=50)
    with pytest.raises(FeeCapTooLow) as err:
        pool.add_raw(signed(1, 0, fee_cap=49, tip=1))
    assert (err.value.fee_cap, err.value.minimum) == (49, 50)
    pool.add_raw(signed(1, 0, fee_cap=50, tip=1))


def test_tip_above_fee_cap() -> None:
    with pytest.raises(TipAboveFeeCap) as err:
        make_pool().add_raw(hand_signed_1559(1, fee_cap=10, tip=11))
    assert (err.value.tip, err.value.fee_cap) == (11, 10)


def test_fee_beyond_256_bits() -> None:
    with pytest.raises(FeeOverflow):
        make_pool().add_raw(hand_signed_1559(1, fee_cap=2**256, tip=1))
    with pytest.raises(FeeOverflow):
        make_pool().add_raw(hand_signed_1559(1, fee_cap=2**256, tip=2**256))


def test_oversized_transaction() -> None:
    data = b"\x01" * (128 * 1024)
    raw = signed(1, 0, gas=GAS_LIMIT, data=data)
    with pytest.raises(OversizedTransaction) as err:
        make_pool().add_raw(raw)
    assert (err.value.size, err.value.limit) == (len(raw), 128 * 1024)


def test_oversized_initcode() -> None:
    initcode = b"\x00" * (2 * 24_576 + 1)
    with pytest.raises(InitCodeTooLarge, match="max initcode size exceeded") as err:
        make_pool().add_raw(signed(1, 0, gas=GAS_LIMIT, to=b"", data=initcode))
    assert err.value.limit == 2 * 24_576


def test_blob_transaction_type() -> None:
    with pytest.raises(UnsupportedTxType) as err:
        make_pool().add_raw(b"\x03" + rlp.encode([CHAIN_ID, 0, 1, 1, 21_000]))
    assert err.value.tx_type == 0x03


def test_unknown_transaction_type() -> None:
    with pytest.raises(UnsupportedTxType) as err:
        make_pool().add_raw(b"\x05" + rlp.encode([1, 2, 3]))
    assert err.value.tx_type == 0x05


def _deposit() -> DepositTransaction:
    return DepositTransaction(
        source_hash=b"\x01" * 32,
        sender=address(1),
        to=address(2),
        mint=OPEN,
        value=0,
        gas=100_000,
        is_system_tx=False,
        data=b"",
    )


def test_deposit_bytes_are_refused() -> None:
    with pytest.raises(UnsupportedTxType) as err:
        make_pool().add_raw(_deposit().encode())
    assert err.value.tx_type == 0x7E
    assert "derived from L1" in str(err.value)


def test_deposit_object_is_refused() -> None:
    with pytest.raises(UnsupportedTxType) as err:
        make_pool().add(_deposit())
    assert err.value.tx_type == 0x7E


@pytest.mark.parametrize(
    "raw",
    [b"\xde\xad\xbe\xef", b"\x02garbage", b"\xc0", b"\x02" + rlp.encode([1, 2, 3])],
    ids=["garbage", "typed-garbage", "empty-list", "short-fields"],
)
def test_garbage_bytes(raw: bytes) -> None:
    with pytest.raises(TxDecodeError):
        make_pool().add_raw(raw)


def test_empty_bytes() -> None:
    with pytest.raises(TxDecodeError):
        make_pool().add_raw(b"")


def test_already_known() -> None:
    pool = make_pool()
    raw = signed(1, 0)
    pool.add_raw(raw)
    with pytest.raises(AlreadyKnown):
        pool.add_raw(raw)
    with pytest.raises(AlreadyKnown):
        pool.add(decode_transaction(raw))


def test_add_takes_decoded_transactions() -> None:
    pool = make_pool()
    raw = signed(1, 0)
    assert pool.add(decode_transaction(raw)) == tx_hash_of(raw)
    assert pool.contains(tx_hash_of(raw))


def test_refused_transactions_leave_no_trace() -> None:
    pool = make_pool(FakeState(nonces={address(1): 3}))
    for raw in (signed(1, 0), signed(1, 3, gas=20_000), signed(2, 0, chain_id=5)):
        with pytest.raises(InvalidTransaction):
            pool.add_raw(raw)
    assert pool.status() == (0, 0)
    assert pool.content() == ({}, {})
