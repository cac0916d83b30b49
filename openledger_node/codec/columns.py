"""Signed transactions <-> the batch's transaction columns.

A transaction is taken apart into its fields (`parse_tx`), the fields of all the
batch's transactions are written column by column (`write_txs`: all types, then
all signatures, all recipients, all nonces, ...), and the decoder puts every
transaction back together byte for byte (`read_txs`, `build_tx`). The chain id is
not posted: it is the chain's, and `parse_tx` refuses a transaction whose bytes
the chain's id does not rebuild exactly (docs/protocol.md, "Transactions").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import rlp

from openledger_node.codec.params import (
    ACCESS_LIST_TX,
    ADDRESS_BYTES,
    BATCHED_TX_TYPES,
    DYNAMIC_FEE_TX,
    LEGACY_TX,
    MAX_UINT64,
    MAX_UINT256,
    SET_CODE_TX,
    SIGNATURE_BYTES,
    STORAGE_KEY_BYTES,
)
from openledger_node.codec.wire import Reader, write_bits, write_u256, write_uvarint

AccessList = tuple[tuple[bytes, tuple[bytes, ...]], ...]

# Least bytes one entry takes in the payload, for the count checks.
_MIN_ACCESS_ENTRY = ADDRESS_BYTES + 1
_MIN_AUTHORIZATION = 1 + ADDRESS_BYTES + 1 + 1 + 1 + 1


@dataclass(frozen=True, slots=True)
class Authorization:
    """One EIP-7702 authorization tuple; any values a block may carry (an
    invalid tuple is skipped by execution, not refused)."""

    chain_id: int
    address: bytes
    nonce: int
    y_parity: int
    r: int
    s: int


@dataclass(frozen=True, slots=True)
class TxFields:
    """A signed transaction's fields, less the chain id."""

    tx_type: int
    protected: bool  # legacy only: EIP-155 (the chain id is in v)
    nonce: int
    gas: int
    to: bytes | None  # None: a contract creation
    value: int
    fee_cap: int  # gasPrice (types 0, 1) or maxFeePerGas (types 2, 4)
    tip: int  # maxPriorityFeePerGas (types 2, 4); 0 for types 0, 1
    data: bytes
    access_list: AccessList  # empty for legacy
    authorizations: tuple[Authorization, ...]  # type 4 only
    y_parity: int
    r: int
    s: int


def _has_tip(tx_type: int) -> bool:
    return tx_type in (DYNAMIC_FEE_TX, SET_CODE_TX)


def _has_access_list(tx_type: int) -> bool:
    return tx_type != LEGACY_TX


# --- one transaction --------------------------------------------------------------


def _int(value: object, what: str, maximum: int = MAX_UINT256) -> int:
    if not isinstance(value, bytes):
        raise ValueError(f"{what} is a list, not an integer")
    number = int.from_bytes(value, "big")
    if number > maximum:
        raise ValueError(f"{what} {number} is over {maximum}")
    return number


def _bytes(value: object, what: str, length: int | None = None) -> bytes:
    if not isinstance(value, bytes) or (length is not None and len(value) != length):
        raise ValueError(f"{what} is not {length or 'a string of'} bytes")
    return value


def _list(value: object, what: str) -> list[object]:
    if not isinstance(value, list):
        raise ValueError(f"{what} is not a list")
    return value


def _access_list(value: object) -> AccessList:
    entries = []
    for entry in _list(value, "access list"):
        address, keys = _list(entry, "access list entry")
        entries.append((
            _bytes(address, "access list address", ADDRESS_BYTES),
            tuple(_bytes(k, "storage key", STORAGE_KEY_BYTES) for k in _list(keys, "storage keys")),
        ))
    return tuple(entries)


def _authorizations(value: object) -> tuple[Authorization, ...]:
    result = []
    for item in _list(value, "authorization list"):
        chain_id, address, nonce, y_parity, r, s = _list(item, "authorization")
        result.append(Authorization(
            _int(chain_id, "authorization chain id"),
            _bytes(address, "authorization address", ADDRESS_BYTES),
            _int(nonce, "authorization nonce", MAX_UINT64),
            _int(y_parity, "authorization y parity", 0xFF),
            _int(r, "authorization r"),
            _int(s, "authorization s"),
        ))
    return tuple(result)


def parse_tx(raw: bytes, chain_id: int) -> TxFields:
    """The fields of a signed transaction of this chain, checked to rebuild the
    same bytes. Raises ValueError for one a batch cannot carry: a deposit, a
    blob or unknown type, another chain's id, a field out of the format's range,
    or bytes that are not the canonical encoding."""
    if not raw:
        raise ValueError("empty transaction")
    tx_type = LEGACY_TX if raw[0] >= 0xC0 else raw[0]
    if tx_type not in BATCHED_TX_TYPES:
        raise ValueError(f"transaction type 0x{tx_type:02x} is not carried in batches")
    try:
        items = rlp.decode(raw if tx_type == LEGACY_TX else raw[1:])
    except rlp.DecodingError as exc:
        raise ValueError(f"transaction is not RLP: {exc}") from exc
    items = _list(items, "transaction")
    shape = {LEGACY_TX: 9, ACCESS_LIST_TX: 11, DYNAMIC_FEE_TX: 12, SET_CODE_TX: 13}[tx_type]
    if len(items) != shape:
        raise ValueError(f"type {tx_type} transaction has {len(items)} fields, not {shape}")
    protected = False
    access_list: AccessList = ()
    authorizations: tuple[Authorization, ...] = ()
    tip = 0
    if tx_type == LEGACY_TX:
        nonce, fee_cap, gas, to, value, data, v, r, s = items
        v_int = _int(v, "v")
        if v_int in (27, 28):
            y_parity = v_int - 27
        else:
            protected = True
            y_parity = (v_int - 35) % 2
            if (v_int - 35) // 2 != chain_id:
                raise ValueError(f"legacy transaction v {v_int} is not of chain {chain_id}")
    else:
        tx_chain_id = _int(items[0], "chain id")
        if tx_chain_id != chain_id:
            raise ValueError(f"transaction of chain {tx_chain_id}, not {chain_id}")
        if tx_type == ACCESS_LIST_TX:
            _, nonce, fee_cap, gas, to, value, data, access, y, r, s = items
        elif tx_type == DYNAMIC_FEE_TX:
            _, nonce, tip_raw, fee_cap, gas, to, value, data, access, y, r, s = items
            tip = _int(tip_raw, "max priority fee")
        else:
            _, nonce, tip_raw, fee_cap, gas, to, value, data, access, auths, y, r, s = items
            tip = _int(tip_raw, "max priority fee")
            authorizations = _authorizations(auths)
        access_list = _access_list(access)
        y_parity = _int(y, "y parity", 1)
    to_bytes = _bytes(to, "to")
    if to_bytes and len(to_bytes) != ADDRESS_BYTES:
        raise ValueError("to is neither empty nor 20 bytes")
    if tx_type == SET_CODE_TX and not to_bytes:
        raise ValueError("a set-code transaction cannot create a contract")
    fields = TxFields(
        tx_type=tx_type,
        protected=protected,
        nonce=_int(nonce, "nonce", MAX_UINT64),
        gas=_int(gas, "gas", MAX_UINT64),
        to=to_bytes or None,
        value=_int(value, "value"),
        fee_cap=_int(fee_cap, "fee cap"),
        tip=tip,
        data=_bytes(data, "data"),
        access_list=access_list,
        authorizations=authorizations,
        y_parity=y_parity,
        r=_int(r, "r"),
        s=_int(s, "s"),
    )
    if build_tx(fields, chain_id) != raw:
        raise ValueError("transaction is not in its canonical encoding")
    return fields


def build_tx(tx: TxFields, chain_id: int) -> bytes:
    """The transaction's canonical encoding (EIP-2718 envelope, or the RLP list
    for legacy), as `encode_transaction` gives it."""
    to = _rlp_string(tx.to or b"")
    common = [_rlp_int(tx.nonce)]
    if tx.tx_type == LEGACY_TX:
        v = chain_id * 2 + 35 + tx.y_parity if tx.protected else 27 + tx.y_parity
        items = [*common, _rlp_int(tx.fee_cap), _rlp_int(tx.gas), to, _rlp_int(tx.value), _rlp_string(tx.data),
                 _rlp_int(v), _rlp_int(tx.r), _rlp_int(tx.s)]
        return _rlp_list(items)
    fees = [_rlp_int(tx.fee_cap)] if tx.tx_type == ACCESS_LIST_TX else [_rlp_int(tx.tip), _rlp_int(tx.fee_cap)]
    access = _rlp_list([
        _rlp_list([_rlp_string(address), _rlp_list([_rlp_string(key) for key in keys])])
        for address, keys in tx.access_list
    ])
    items = [_rlp_int(chain_id), *common, *fees, _rlp_int(tx.gas), to, _rlp_int(tx.value), _rlp_string(tx.data),
             access]
    if tx.tx_type == SET_CODE_TX:
        items.append(_rlp_list([
            _rlp_list([_rlp_int(a.chain_id), _rlp_string(a.address), _rlp_int(a.nonce), _rlp_int(a.y_parity),
                       _rlp_int(a.r), _rlp_int(a.s)])
            for a in tx.authorizations
        ]))
    items += [_rlp_int(tx.y_parity), _rlp_int(tx.r), _rlp_int(tx.s)]
    return bytes([tx.tx_type]) + _rlp_list(items)


# RLP written directly: pyrlp infers a sedes for every item, which made it most
# of the decoder's time. `parse_tx` checks these against pyrlp-decoded bytes.


def _rlp_length(length: int, offset: int) -> bytes:
    if length < 56:
        return bytes([offset + length])
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([offset + 55 + len(size)]) + size


def _rlp_string(value: bytes) -> bytes:
    if len(value) == 1 and value[0] < 0x80:
        return value
    return _rlp_length(len(value), 0x80) + value


def _rlp_int(value: int) -> bytes:
    if 0 < value < 0x80:
        return bytes([value])
    return _rlp_string(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def _rlp_list(items: list[bytes]) -> bytes:
    body = b"".join(items)
    return _rlp_length(len(body), 0xC0) + body


# --- the columns ------------------------------------------------------------------


def write_txs(out: bytearray, txs: Sequence[TxFields]) -> None:
    """The transaction columns, in the order of docs/protocol.md."""
    out += bytes(tx.tx_type for tx in txs)
    write_bits(out, (tx.to is None for tx in txs))
    write_bits(out, (bool(tx.y_parity) for tx in txs))
    write_bits(out, (tx.protected for tx in txs if tx.tx_type == LEGACY_TX))
    for tx in txs:
        out += tx.r.to_bytes(32, "big") + tx.s.to_bytes(32, "big")
    for tx in txs:
        if tx.to is not None:
            out += tx.to
    for tx in txs:
        write_uvarint(out, tx.nonce)
    for tx in txs:
        write_uvarint(out, tx.gas)
    for tx in txs:
        write_u256(out, tx.value)
    for tx in txs:
        write_u256(out, tx.fee_cap)
    for tx in txs:
        if _has_tip(tx.tx_type):
            write_u256(out, tx.tip)
    for tx in txs:
        write_uvarint(out, len(tx.data))
    for tx in txs:
        out += tx.data
    for tx in txs:
        if _has_access_list(tx.tx_type):
            write_uvarint(out, len(tx.access_list))
            for address, keys in tx.access_list:
                out += address
                write_uvarint(out, len(keys))
                for key in keys:
                    out += key
    for tx in txs:
        if tx.tx_type == SET_CODE_TX:
            write_uvarint(out, len(tx.authorizations))
            for auth in tx.authorizations:
                write_u256(out, auth.chain_id)
                out += auth.address
                write_uvarint(out, auth.nonce)
                out.append(auth.y_parity)
                write_u256(out, auth.r)
                write_u256(out, auth.s)


def read_txs(reader: Reader, count: int, chain_id: int) -> list[bytes]:
    """`count` transactions from the columns, each rebuilt in its canonical encoding.
    The caller has checked `count` against the limits and the bytes left."""
    types = reader.fixed(count, "tx_types")
    for tx_type in types:
        if tx_type not in BATCHED_TX_TYPES:
            raise reader.fail(f"tx_types: type 0x{tx_type:02x} is not carried in batches")
    creations = reader.bits(count, "contract_creation_bits")
    y_parities = reader.bits(count, "y_parity_bits")
    legacy_count = types.count(LEGACY_TX)
    protected_bits = iter(reader.bits(legacy_count, "protected_bits"))
    for tx_type, creation in zip(types, creations):
        if creation and tx_type == SET_CODE_TX:
            raise reader.fail("contract_creation_bits: a set-code transaction cannot create a contract")
    signatures = reader.fixed(count * SIGNATURE_BYTES, "tx_sigs")
    recipients = reader.fixed((count - sum(creations)) * ADDRESS_BYTES, "tx_tos")
    nonces = [reader.uvarint("tx_nonces") for _ in range(count)]
    gases = [reader.uvarint("tx_gases") for _ in range(count)]
    values = [reader.u256("tx_values") for _ in range(count)]
    fee_caps = [reader.u256("tx_fee_caps") for _ in range(count)]
    tips = iter([reader.u256("tx_tips") for tx_type in types if _has_tip(tx_type)])
    data_lengths = [reader.uvarint("tx_data_lengths") for _ in range(count)]
    reader.require(sum(data_lengths), 1, "tx_datas")
    datas = []
    for length in data_lengths:
        datas.append(reader.fixed(length, "tx_datas"))
    access_lists = iter([_read_access_list(reader) for tx_type in types if _has_access_list(tx_type)])
    auth_lists = iter([_read_authorizations(reader) for tx_type in types if tx_type == SET_CODE_TX])

    txs = []
    to_offset = 0
    for i, tx_type in enumerate(types):
        to = None
        if not creations[i]:
            to = recipients[to_offset : to_offset + ADDRESS_BYTES]
            to_offset += ADDRESS_BYTES
        signature = signatures[i * SIGNATURE_BYTES : (i + 1) * SIGNATURE_BYTES]
        fields = TxFields(
            tx_type=tx_type,
            protected=next(protected_bits) if tx_type == LEGACY_TX else False,
            nonce=nonces[i],
            gas=gases[i],
            to=to,
            value=values[i],
            fee_cap=fee_caps[i],
            tip=next(tips) if _has_tip(tx_type) else 0,
            data=datas[i],
            access_list=next(access_lists) if _has_access_list(tx_type) else (),
            authorizations=next(auth_lists) if tx_type == SET_CODE_TX else (),
            y_parity=int(y_parities[i]),
            r=int.from_bytes(signature[:32], "big"),
            s=int.from_bytes(signature[32:], "big"),
        )
        txs.append(build_tx(fields, chain_id))
    return txs


def _read_access_list(reader: Reader) -> AccessList:
    count = reader.uvarint("tx_access_lists")
    reader.require(count, _MIN_ACCESS_ENTRY, "access list entries")
    entries = []
    for _ in range(count):
        address = reader.fixed(ADDRESS_BYTES, "access list address")
        key_count = reader.uvarint("access list key count")
        reader.require(key_count, STORAGE_KEY_BYTES, "storage keys")
        keys = reader.fixed(key_count * STORAGE_KEY_BYTES, "storage keys")
        entries.append((
            address,
            tuple(keys[j : j + STORAGE_KEY_BYTES] for j in range(0, len(keys), STORAGE_KEY_BYTES)),
        ))
    return tuple(entries)


def _read_authorizations(reader: Reader) -> tuple[Authorization, ...]:
    count = reader.uvarint("tx_authorizations")
    reader.require(count, _MIN_AUTHORIZATION, "authorizations")
    return tuple(
        Authorization(
            chain_id=reader.u256("authorization chain id"),
            address=reader.fixed(ADDRESS_BYTES, "authorization address"),
            nonce=reader.uvarint("authorization nonce"),
            y_parity=reader.byte("authorization y parity"),
            r=reader.u256("authorization r"),
            s=reader.u256("authorization s"),
        )
        for _ in range(count)
    )
