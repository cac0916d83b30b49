"""Impersonated transactions: a dev network's unsigned transactions that carry
their sender (anvil's `anvil_impersonateAccount`).

Such a transaction is an ordinary legacy, EIP-2930 or EIP-1559 transaction
whose signature is anvil's bypass signature (r = s = 0, y parity 0), which no
key can produce: `decode_transaction` refuses it, so it can never arrive through
`eth_sendRawTransaction`, a journal replay or a batch. Its sender travels beside
it (the chain store keeps every transaction's sender) and its hash is anvil's:
keccak256 of the network encoding (the typed envelope as an RLP string, or the
legacy RLP list) followed by the sender's 20 bytes, so that the same transaction
has the same hash here and on anvil, and two senders of the same fields never
collide.

Only a dev node builds them (the RPC's dev accounts layer), only its pool
accepts them (`TxPool.enable_impersonation`), and a dev network runs no batcher.
"""

from __future__ import annotations

from functools import cache
from typing import Any, cast

import rlp
from eth.abc import SignedTransactionAPI
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_hash.auto import keccak

from openledger_node.execution.transactions import decode_transaction
from openledger_node.primitives import Address, Hash32

LEGACY = 0


def _sender(self: Any) -> Address:
    return Address(self.__dict__["_impersonated_sender"])


def _hash(self: Any) -> Hash32:
    return Hash32(self.__dict__["_impersonated_hash"])


def _no_signature(self: Any) -> None:
    """The sender is given; there is no signature to check."""


def _validate(self: Any) -> None:
    """py-evm's field checks, less the ones on the (bypass) signature: a legacy
    transaction is checked as if signed (r = s = 1)."""
    base: Any = type(self).__bases__[0]
    if getattr(self, "type_id", None) is None:
        base.validate(type(self)(**{**self.as_dict(), "r": 1, "s": 1}))
    else:
        base.validate(self)


@cache
def _impersonated_class(base: type) -> type:
    """`base` (a py-evm transaction class) whose sender and hash are given, not
    recovered from the (bypass) signature; the same layout, so that a decoded
    instance can take it."""
    return type(f"Impersonated{base.__name__}", (base,), {
        "__slots__": (),
        "impersonated": True,
        "sender": property(_sender),
        "hash": property(_hash),
        "check_signature_validity": _no_signature,
        "validate": _validate,
    })


@cache
def _unchecked_class(base: type) -> type:
    """The payload class of a typed impersonated transaction: its field checks
    run, its signature check does not."""
    return type(f"Unchecked{base.__name__}", (base,), {"__slots__": (), "check_signature_validity": _no_signature})


def impersonated_hash(raw: bytes, sender: bytes) -> Hash32:
    """anvil's hash of an impersonated transaction (see module docstring)."""
    network = raw if raw[0] >= 0xC0 else bytes(rlp.encode(raw))
    return Hash32(keccak(network + bytes(sender)))


def is_bypass_signature(tx: Any) -> bool:
    return int(tx.r) == 0 and int(tx.s) == 0


def is_impersonated(tx: Any) -> bool:
    return getattr(tx, "impersonated", False) is True


def as_impersonated(tx: SignedTransactionAPI, sender: bytes) -> SignedTransactionAPI:
    """`tx` (carrying the bypass signature) as sent by `sender`."""
    if not is_bypass_signature(tx):
        raise ValueError("an impersonated transaction carries the bypass signature r = s = 0")
    raw = bytes(tx.encode())
    inner = getattr(tx, "_inner", None)
    if inner is not None:
        inner.__class__ = _unchecked_class(cast(type, type(inner)))
    tx.__class__ = _impersonated_class(type(tx))
    tx.__dict__["_impersonated_sender"] = bytes(sender)
    tx.__dict__["_impersonated_hash"] = impersonated_hash(raw, sender)
    return tx


def build_impersonated(fields: dict[str, Any], sender: bytes, chain_id: int) -> SignedTransactionAPI:
    """An impersonated transaction from filled-in fields: `type` (0, 1 or 2),
    `nonce`, `gas`, `to` (b"" for a creation), `value`, `data`, the fee fields
    of its type and, for types 1 and 2, `access_list` as (address, slots) pairs."""
    type_id = fields["type"]
    if type_id == LEGACY:
        tx = PragueTransactionBuilder.new_transaction(
            nonce=fields["nonce"], gas_price=fields["gas_price"], gas=fields["gas"], to=fields["to"],
            value=fields["value"], data=fields["data"], v=chain_id * 2 + 35, r=0, s=0,
        )
    else:
        access_list = [(address, list(slots)) for address, slots in fields["access_list"]]
        if type_id == 1:
            tx = PragueTransactionBuilder.new_access_list_transaction(
                chain_id=chain_id, nonce=fields["nonce"], gas_price=fields["gas_price"], gas=fields["gas"],
                to=fields["to"], value=fields["value"], data=fields["data"], access_list=access_list,
                y_parity=0, r=0, s=0,
            )
        else:
            tx = PragueTransactionBuilder.new_dynamic_fee_transaction(
                chain_id=chain_id, nonce=fields["nonce"],
                max_priority_fee_per_gas=fields["max_priority_fee_per_gas"],
                max_fee_per_gas=fields["max_fee_per_gas"], gas=fields["gas"], to=fields["to"],
                value=fields["value"], data=fields["data"], access_list=access_list,
                y_parity=0, r=0, s=0,
            )
    return as_impersonated(tx, sender)


def stored_transaction(tx: Any, sender: bytes) -> Any:
    """A transaction read back from the chain store with its stored sender: an
    impersonated one is recognised by its bypass signature (no key makes it)."""
    if getattr(tx, "type_id", LEGACY) in (None, LEGACY, 1, 2) and is_bypass_signature(tx):
        return as_impersonated(tx, sender)
    return tx


def stored_tx_hash(raw: bytes, sender: bytes) -> Hash32:
    """The hash a stored transaction is indexed by: keccak256 of its encoding,
    or anvil's for an impersonated one. Both end in an RLP-empty r and s
    (0x80 0x80); anything else skips the decoding."""
    if raw[-2:] == b"\x80\x80" and (raw[0] in (0x01, 0x02) or raw[0] >= 0xC0):
        try:
            tx = decode_transaction(raw, recover_sender=False)
        except Exception:  # noqa: BLE001 - not ours to judge here; hashed as it is
            return Hash32(keccak(raw))
        if is_bypass_signature(tx):
            return impersonated_hash(raw, sender)
    return Hash32(keccak(raw))
