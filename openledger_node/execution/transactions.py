"""Transaction decoding, the deposit transaction type and its source hash.

Signed transactions are py-evm's Prague transaction objects; the deposit type
(0x7E, as in the OP Stack) is ours. `decode_transaction` is the one entry point
for raw bytes from the wire, the pool journal and the chain store: it checks the
envelope, rejects unsupported types, and recovers the sender once so that later
stages read the cached value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

import coincurve
import rlp
from eth.abc import SignedTransactionAPI
from eth.vm.forks.berlin.transactions import AccessListTransaction, calculate_txn_intrinsic_gas_berlin
from eth.vm.forks.london.transactions import DynamicFeeTransaction
from eth.vm.forks.prague.transactions import PragueTransactionBuilder, PragueTypedTransaction, SetCodeTransaction
from eth_hash.auto import keccak
from rlp.codec import consume_length_prefix
from rlp.sedes import Binary, big_endian_int, binary, boolean
from rlp.sedes.serializable import make_immutable

from openledger_node.execution.rlp_codec import RlpDecodeError, decode_rlp
from openledger_node.exceptions import (
    InvalidSignature,
    TxDecodeError,
    UnsupportedTxType,
)
from openledger_node.primitives import (
    BLOB_TX_TYPE,
    DEPOSIT_TX_TYPE,
    Address,
    Hash32,
)

SECPK1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

_address_or_empty = Binary.fixed_length(20, allow_empty=True)


class DepositTransaction(rlp.Serializable):  # type: ignore[misc]
    """A deposit derived from L1: no signature and no fee; `mint` is credited to
    `sender` before execution and stays credited even when the call fails."""

    fields = [
        ("source_hash", Binary.fixed_length(32)),
        ("sender", Binary.fixed_length(20)),
        ("to", _address_or_empty),
        ("mint", big_endian_int),
        ("value", big_endian_int),
        ("gas", big_endian_int),
        ("is_system_tx", boolean),
        ("data", binary),
    ]

    type_id = DEPOSIT_TX_TYPE
    # The fee fields py-evm's executor reads: a deposit pays nothing.
    gas_price = 0
    max_fee_per_gas = 0
    max_priority_fee_per_gas = 0
    access_list: tuple[Any, ...] = ()
    nonce = 0  # not part of the deposit; the sender's nonce still increments

    source_hash: bytes
    sender: bytes
    to: bytes
    mint: int
    value: int
    gas: int
    is_system_tx: bool
    data: bytes

    def encode(self) -> bytes:
        return bytes([DEPOSIT_TX_TYPE]) + bytes(rlp.encode(self))

    @property
    def hash(self) -> Hash32:
        return Hash32(keccak(self.encode()))

    @property
    def intrinsic_gas(self) -> int:
        return int(calculate_txn_intrinsic_gas_berlin(self))

    def validate(self) -> None:
        """Field checks py-evm's executor runs first; a decoded deposit always passes
        (its gas is checked against the intrinsic gas when it is applied)."""

    def __repr__(self) -> str:
        return (
            f"DepositTransaction(source=0x{self.source_hash.hex()}, from=0x{self.sender.hex()}, "
            f"to=0x{self.to.hex()}, mint={self.mint}, value={self.value}, gas={self.gas})"
        )


Transaction = Union[SignedTransactionAPI, DepositTransaction]


def is_deposit(tx: Transaction) -> bool:
    return tx.type_id == DEPOSIT_TX_TYPE


def user_deposit_source_hash(l1_block_hash: bytes, log_index: int) -> Hash32:
    """sourceHash of a user deposit: keccak256(bytes32(0) ++ keccak256(l1BlockHash ++ uint256(logIndex)))."""
    deposit_id = keccak(l1_block_hash + log_index.to_bytes(32, "big"))
    return Hash32(keccak((0).to_bytes(32, "big") + deposit_id))


def l1_info_source_hash(l1_block_hash: bytes, sequence_number: int) -> Hash32:
    """sourceHash of the L1-info deposit (domain 1, as in the OP Stack)."""
    deposit_id = keccak(l1_block_hash + sequence_number.to_bytes(32, "big"))
    return Hash32(keccak((1).to_bytes(32, "big") + deposit_id))


def tx_type(tx: Transaction) -> int:
    """The EIP-2718 type of any transaction; legacy is 0."""
    type_id = getattr(tx, "type_id", None)
    return 0 if type_id is None else int(type_id)


# Where `recover` keeps the bytes a transaction was decoded from (they passed
# strict decoding, so they are its canonical encoding): sealing a block encodes
# every transaction again for the transactions root and the store.
_ENCODED = "_openledger_encoded"


def encode_transaction(tx: Transaction) -> bytes:
    """Canonical encoding: the typed envelope, or the plain RLP list for legacy."""
    if isinstance(tx, DepositTransaction):
        return tx.encode()
    encoded = vars(tx).get(_ENCODED)
    if encoded is not None:
        return encoded  # type: ignore[no-any-return]
    return bytes(tx.encode())


def tx_hash(tx: Transaction) -> Hash32:
    return Hash32(bytes(tx.hash))


# The payload classes py-evm's Prague builder decodes each envelope into.
_TYPED_PAYLOADS: dict[int, type[rlp.Serializable]] = {
    0x01: AccessListTransaction,
    0x02: DynamicFeeTransaction,
    0x04: SetCodeTransaction,
}
_LEGACY = PragueTransactionBuilder.legacy_signed


def decode_transaction(raw: bytes, *, recover_sender: bool = True) -> Transaction:
    """Decode a transaction in its canonical encoding.

    Raises `TxDecodeError` on malformed bytes, `UnsupportedTxType` for blob and
    unknown types, `InvalidSignature` when the sender cannot be recovered.
    """
    if not raw:
        raise TxDecodeError("empty input")
    raw = bytes(raw)
    first = raw[0]
    if first == DEPOSIT_TX_TYPE:
        try:
            deposit: DepositTransaction = _deserialize(DepositTransaction, raw[1:])
            return deposit
        except (RlpDecodeError, rlp.DeserializationError, ValueError, TypeError) as exc:
            raise TxDecodeError(f"deposit transaction: {exc}") from exc
    if first == BLOB_TX_TYPE:
        raise UnsupportedTxType(first, "blob transactions are not accepted on this chain")
    if first < 0x7F and first not in _TYPED_PAYLOADS:
        raise UnsupportedTxType(first)
    try:
        if first < 0x7F:
            tx = PragueTypedTransaction(first, _deserialize(_TYPED_PAYLOADS[first], raw[1:]))
        else:
            tx = _deserialize(_LEGACY, raw)
    except (RlpDecodeError, rlp.DeserializationError, ValueError, TypeError) as exc:
        raise TxDecodeError(str(exc) or type(exc).__name__) from exc
    if recover_sender:
        recover(tx, raw)
    return tx


def _deserialize(cls: Any, encoded: bytes) -> Any:
    """`rlp.decode(encoded, sedes=cls)`, the same checks and the same object,
    for a third of the cost: the items come from `decode_rlp`, each field is
    checked by its own sedes, and the object is filled directly instead of
    through `Serializable.__init__`, which matches every value to its field by
    name first."""
    values = cls._meta.sedes.deserialize(decode_rlp(encoded))
    obj = cls.__new__(cls)
    for attr, value in zip(cls._meta.field_attrs, values):
        setattr(obj, attr, make_immutable(value))
    obj._cached_rlp = encoded
    return obj


def recover(tx: SignedTransactionAPI, raw: bytes | None = None) -> Address:
    """Recover (and cache on the object) the sender of a signed transaction.

    One public-key recovery: a key recovered from (r, s, y) verifies the signature
    by construction, so py-evm's separate verify step would only repeat the work.
    High-s signatures are refused (EIP-2), as every client does. Given the
    transaction's canonical bytes, the signing hash is cut from them instead of
    re-encoding the unsigned transaction, and the typed transaction's hash is
    cached as keccak of those bytes: the one admission cost per transaction.
    """
    try:
        r, s, y_parity = int(tx.r), int(tx.s), int(tx.y_parity)
    except Exception as exc:  # a legacy v that encodes no parity
        raise InvalidSignature(f"invalid transaction v, r, s values: {exc}") from exc
    if not (0 < r < SECPK1_N and 0 < s <= SECPK1_N // 2 and y_parity in (0, 1)):
        raise InvalidSignature("invalid transaction v, r, s values")
    if raw is None or "sender" in vars(tx):
        try:
            return Address(bytes(tx.sender))
        except Exception as exc:  # eth_keys raises BadSignature / ValidationError
            raise InvalidSignature(f"invalid sender: {exc}") from exc
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes((y_parity,))
    try:
        public_key = coincurve.PublicKey.from_signature_and_message(
            signature, signing_hash(raw, chain_id_of(tx)), hasher=None
        )
    except Exception as exc:  # coincurve raises ValueError for a point off the curve
        raise InvalidSignature(f"invalid sender: {exc}") from exc
    sender = Address(keccak(public_key.format(compressed=False)[1:])[12:])
    # py-evm's `sender` (and a typed transaction's `hash`) are cached properties
    # kept in the instance dictionary: fill them as they would fill themselves.
    vars(tx)["sender"] = sender
    vars(tx)[_ENCODED] = bytes(raw)
    if raw[0] < 0x7F:
        vars(tx)["hash"] = Hash32(keccak(raw))
    return sender


def signing_hash(raw: bytes, chain_id: int | None) -> bytes:
    """The hash a signed transaction's signature is over, from its canonical bytes.

    Typed (EIP-2718): keccak(type || rlp(fields without y, r, s)). Legacy: the
    first six fields, then (EIP-155) chain id, 0, 0. The raw bytes passed py-evm's
    strict RLP decoding, so they are canonical and their items can be reused as
    they are; only the list header is rewritten."""
    if raw[0] < 0x7F:
        return keccak(raw[:1] + _rlp_list(_list_items(raw, 1)[:-3]))
    items = _list_items(raw, 0)[:6]
    if chain_id is not None:
        items += [rlp.encode(chain_id), b"\x80", b"\x80"]
    return keccak(_rlp_list(items))


def _list_items(raw: bytes, start: int) -> list[bytes]:
    """The encoded items (prefix included) of the RLP list that starts at `start`."""
    _, kind, length, position = consume_length_prefix(raw, start)
    if kind is not list:
        raise TxDecodeError("transaction is not an RLP list")
    end = position + length
    items = []
    while position < end:
        _, _, item_length, payload = consume_length_prefix(raw, position)
        items.append(raw[position:payload + item_length])
        position = payload + item_length
    return items


def _rlp_list(items: list[bytes]) -> bytes:
    payload = b"".join(items)
    if len(payload) < 56:
        return bytes((0xC0 + len(payload),)) + payload
    size = len(payload).to_bytes((len(payload).bit_length() + 7) // 8, "big")
    return bytes((0xF7 + len(size),)) + size + payload


@dataclass(frozen=True)
class TxFees:
    """The fee fields of any transaction type, normalised as EIP-1559."""

    max_fee_per_gas: int
    max_priority_fee_per_gas: int

    def effective_tip(self, base_fee: int) -> int:
        return min(self.max_priority_fee_per_gas, self.max_fee_per_gas - base_fee)

    def effective_gas_price(self, base_fee: int) -> int:
        return min(self.max_fee_per_gas, self.max_priority_fee_per_gas + base_fee)


def tx_fees(tx: Transaction) -> TxFees:
    return TxFees(int(tx.max_fee_per_gas), int(tx.max_priority_fee_per_gas))


def chain_id_of(tx: SignedTransactionAPI) -> int | None:
    """The chain id a signed transaction commits to (None: pre-EIP-155 legacy)."""
    chain_id = getattr(tx, "chain_id", None)
    if chain_id is not None:
        return int(chain_id)
    v = int(getattr(tx, "v"))
    if v in (27, 28):
        return None
    return (v - 35) // 2
