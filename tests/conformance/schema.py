"""The JSON shapes and hex encodings of Ethereum JSON-RPC results, as geth writes
them (execution-apis): every object's keys with the encoding of each value.

`problems(value, schema)` walks a result and names every key that is missing,
unexpected, or encoded against the conventions: quantities as minimal hex
("0x0", no leading zeros), data as even-length 0x-hex, hashes as 32 bytes,
addresses as 20 bytes (lowercase or EIP-55 checksummed; `address_cases`
reports which).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from eth_utils import to_checksum_address

QUANTITY = re.compile(r"^0x(0|[1-9a-f][0-9a-f]*)$")
DATA = re.compile(r"^0x([0-9a-f]{2})*$")
HASH = re.compile(r"^0x[0-9a-f]{64}$")
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
BLOOM = re.compile(r"^0x[0-9a-f]{512}$")
NONCE8 = re.compile(r"^0x[0-9a-f]{16}$")

# Value kinds. A str is a kind; a dict is a nested object schema; ("list", kind)
# a list of that kind; ("null", kind) the kind or null; ("either", k1, k2).
Q, D, H, A, B, BOOL, FLOAT = "quantity", "data", "hash", "address", "bloom", "bool", "float"

ACCESS_ENTRY = {"address": A, "storageKeys": ("list", H)}
AUTHORIZATION = {"chainId": Q, "address": A, "nonce": Q, "yParity": Q, "r": Q, "s": Q}

# Keys of a transaction object by type (geth's RPCTransaction). Location fields
# are null while the transaction is pending.
TX_COMMON = {
    "blockHash": ("null", H),
    "blockNumber": ("null", Q),
    "blockTimestamp": ("null", Q),
    "transactionIndex": ("null", Q),
    "hash": H,
    "type": Q,
    "from": A,
    "to": ("null", A),
    "gas": Q,
    "gasPrice": Q,
    "value": Q,
    "input": D,
    "nonce": Q,
    "v": Q,
    "r": Q,
    "s": Q,
    "chainId": Q,
}
TX_BY_TYPE: dict[str, dict[str, Any]] = {
    "0x0": TX_COMMON,
    "0x1": {**TX_COMMON, "accessList": ("list", ACCESS_ENTRY), "yParity": Q},
    "0x2": {**TX_COMMON, "accessList": ("list", ACCESS_ENTRY), "yParity": Q, "maxFeePerGas": Q,
            "maxPriorityFeePerGas": Q},
    "0x4": {**TX_COMMON, "accessList": ("list", ACCESS_ENTRY), "yParity": Q, "maxFeePerGas": Q,
            "maxPriorityFeePerGas": Q, "authorizationList": ("list", AUTHORIZATION)},
    # op-geth's deposit transaction (our chain only).
    "0x7e": {**{k: v for k, v in TX_COMMON.items() if k != "chainId"}, "sourceHash": H, "mint": Q,
             "isSystemTx": BOOL, "depositReceiptVersion": Q},
}
TX = "transaction"  # dispatches on "type"

LOG = {
    "address": A,
    "topics": ("list", H),
    "data": D,
    "blockNumber": Q,
    "blockHash": H,
    "blockTimestamp": Q,
    "transactionHash": H,
    "transactionIndex": Q,
    "logIndex": Q,
    "removed": BOOL,
}

RECEIPT = {
    "transactionHash": H,
    "transactionIndex": Q,
    "blockHash": H,
    "blockNumber": Q,
    "from": A,
    "to": ("null", A),
    "cumulativeGasUsed": Q,
    "gasUsed": Q,
    "effectiveGasPrice": Q,
    "contractAddress": ("null", A),
    "logs": ("list", LOG),
    "logsBloom": B,
    "type": Q,
    "status": Q,
}
DEPOSIT_RECEIPT = {**RECEIPT, "depositNonce": Q, "depositReceiptVersion": Q}

BLOCK_HEADER = {
    "number": Q,
    "hash": H,
    "parentHash": H,
    "nonce": "nonce8",
    "sha3Uncles": H,
    "logsBloom": B,
    "transactionsRoot": H,
    "stateRoot": H,
    "receiptsRoot": H,
    "miner": A,
    "difficulty": Q,
    "totalDifficulty": Q,
    "extraData": D,
    "size": Q,
    "gasLimit": Q,
    "gasUsed": Q,
    "timestamp": Q,
    "mixHash": H,
    "baseFeePerGas": Q,
    "withdrawalsRoot": H,
    "blobGasUsed": Q,
    "excessBlobGas": Q,
    "parentBeaconBlockRoot": H,
    "requestsHash": H,
    "uncles": ("list", H),
    "withdrawals": ("list", {"index": Q, "validatorIndex": Q, "address": A, "amount": Q}),
}
BLOCK = {**BLOCK_HEADER, "transactions": ("list", ("either", H, TX))}

FEE_HISTORY = {
    "oldestBlock": Q,
    "baseFeePerGas": ("list", Q),
    "gasUsedRatio": ("list", FLOAT),
    "baseFeePerBlobGas": ("list", Q),
    "blobGasUsedRatio": ("list", FLOAT),
    "reward": ("list", ("list", Q)),
}
# op-geth writes a deposit's `mint` only when it mints and `isSystemTx` only when true.
OPTIONAL_KEYS = {id(FEE_HISTORY): {"reward"}, id(TX_BY_TYPE["0x7e"]): {"mint", "isSystemTx"}}

# Names for `ignore` entries such as "receipt.blobGasPrice".
NAMES: dict[int, str] = {
    id(LOG): "log", id(RECEIPT): "receipt", id(DEPOSIT_RECEIPT): "receipt", id(BLOCK): "block",
    id(FEE_HISTORY): "feeHistory", id(ACCESS_ENTRY): "accessList",
    **{id(schema): "transaction" for schema in TX_BY_TYPE.values()},
}

_PATTERNS = {Q: QUANTITY, D: DATA, H: HASH, A: ADDRESS, B: BLOOM, "nonce8": NONCE8}


def problems(value: Any, kind: Any, path: str = "$", ignore: frozenset[str] = frozenset()) -> list[str]:
    """What is wrong with `value` as `kind`; `ignore` names keys (e.g.
    "receipt.blobGasPrice") that a documented deviation of the endpoint adds
    or leaves out."""
    out: list[str] = []
    _check(value, kind, path, ignore, out)
    return out


def _check(value: Any, kind: Any, path: str, ignore: frozenset[str], out: list[str]) -> None:
    if isinstance(kind, tuple):
        tag = kind[0]
        if tag == "null":
            if value is not None:
                _check(value, kind[1], path, ignore, out)
        elif tag == "list":
            if not isinstance(value, list):
                out.append(f"{path}: expected a list, got {value!r:.80}")
                return
            for i, item in enumerate(value):
                _check(item, kind[1], f"{path}[{i}]", ignore, out)
        elif tag == "either":
            attempts = [problems(value, k, path, ignore) for k in kind[1:]]
            if all(attempts):
                # Report against the alternative of the same JSON type (object or string).
                same_type = [a for k, a in zip(kind[1:], attempts) if isinstance(value, str) == (k in _PATTERNS)]
                out.extend((same_type or attempts)[0])
        return
    if kind == TX:
        if not isinstance(value, dict) or value.get("type") not in TX_BY_TYPE:
            out.append(f"{path}: not a transaction object of a known type: {value!r:.80}")
            return
        kind = TX_BY_TYPE[value["type"]]
    if isinstance(kind, dict):
        if not isinstance(value, dict):
            out.append(f"{path}: expected an object, got {value!r:.80}")
            return
        optional = OPTIONAL_KEYS.get(id(kind), set())
        name = NAMES.get(id(kind), "?")
        for key in kind:
            if key not in value and key not in optional and f"{name}.{key}" not in ignore:
                out.append(f"{path}.{key}: missing")
        for key, item in value.items():
            if key not in kind:
                if f"{name}.{key}" in ignore:
                    continue
                out.append(f"{path}.{key}: unexpected key (value {item!r:.60})")
            else:
                _check(item, kind[key], f"{path}.{key}", ignore, out)
        return
    if kind == BOOL:
        if not isinstance(value, bool):
            out.append(f"{path}: expected a JSON boolean, got {value!r:.60}")
    elif kind == FLOAT:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            out.append(f"{path}: expected a JSON number, got {value!r:.60}")
    else:
        if not isinstance(value, str) or not _PATTERNS[kind].match(value):
            out.append(f"{path}: not a {kind} ({_PATTERNS[kind].pattern}): {value!r:.80}")
        elif kind == A and value != value.lower() and value != to_checksum_address(value):
            out.append(f"{path}: mixed-case address that is not EIP-55 checksummed: {value}")


def address_cases(value: Any, kind: Any) -> set[str]:
    """The conventions ("lowercase", "checksummed") of every address in `value`."""
    return {_case(a) for a in _addresses(value, kind) if a.lower() != a.upper()}


def _case(address: str) -> str:
    return "lowercase" if address == address.lower() else "checksummed"


def _addresses(value: Any, kind: Any) -> Iterator[str]:
    if value is None:
        return
    if isinstance(kind, tuple):
        if kind[0] == "null":
            yield from _addresses(value, kind[1])
        elif kind[0] == "list" and isinstance(value, list):
            for item in value:
                yield from _addresses(item, kind[1])
        elif kind[0] == "either":
            for k in kind[1:]:
                if not problems(value, k):
                    yield from _addresses(value, k)
                    return
        return
    if kind == TX and isinstance(value, dict):
        kind = TX_BY_TYPE.get(value.get("type", ""), TX_COMMON)
    if isinstance(kind, dict) and isinstance(value, dict):
        for key, sub in kind.items():
            if key in value:
                yield from _addresses(value[key], sub)
    elif kind == A and isinstance(value, str):
        yield value
