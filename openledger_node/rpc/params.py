"""Parsing of JSON-RPC parameters into domain values, with geth's error wording.

Every parser takes the raw JSON value and returns a typed value or raises
`ParamError` with the reason; the dispatcher prefixes "invalid argument N: ".
Quantities are strict hex strings as geth requires ("0x0", no leading zeros);
the one parameter geth reads as hex or decimal (eth_feeHistory's block count)
has its own parser.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from openledger_node.primitives import Address, Hash32

T = TypeVar("T")

BLOCK_TAGS = ("latest", "pending", "safe", "finalized", "earliest")
MAX_UINT256 = 2**256 - 1
MAX_BLOCK_NUMBER = 2**63 - 1  # geth: block numbers are int64


class ParamError(ValueError):
    """A parameter that cannot be parsed; the message says why."""


# ASCII hex digits only: Python's int() and bytes.fromhex() also take signs,
# underscores, spaces and non-ASCII digits, which geth refuses.
_HEX_DIGITS = re.compile(r"[0-9a-fA-F]*", re.ASCII)


def _strict_hex(body: str) -> str:
    if _HEX_DIGITS.fullmatch(body) is None:
        raise ParamError("invalid hex string")
    return body


def _hex_body(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ParamError(f"cannot unmarshal {_json_type(value)} into {what}")
    if not value.startswith(("0x", "0X")):
        raise ParamError("hex string without 0x prefix")
    return value[2:]


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    return "string"


def quantity(value: Any) -> int:
    body = _hex_body(value, "quantity")
    if body == "":
        raise ParamError("hex string \"0x\"")
    if len(body) > 1 and body[0] == "0":
        raise ParamError("hex number with leading zero digits")
    if len(body) > 64:
        raise ParamError("hex number > 256 bits")
    return int(_strict_hex(body), 16)


_DECIMAL_DIGITS = re.compile(r"[0-9]+", re.ASCII)
MAX_UINT64 = 2**64 - 1


def hex_or_decimal64(value: Any) -> int:
    """geth's math.HexOrDecimal64, which eth_feeHistory's block count is: a JSON
    number, a decimal string or a hex string (leading zeros allowed), up to 64
    bits. Fractions, signs and exponents are refused, as Go's ParseUint does."""
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value)
    if text == "":
        return 0
    if text.startswith(("0x", "0X")):
        digits, base = _HEX_DIGITS.fullmatch(text[2:]), 16
        valid = digits is not None and text[2:] != ""
    else:
        valid, base = _DECIMAL_DIGITS.fullmatch(text) is not None, 10
    number = int(text[2:] if base == 16 else text, base) if valid else -1
    if not 0 <= number <= MAX_UINT64:
        raise ParamError(f"invalid hex or decimal integer {json.dumps(text)}")
    return number


def data(value: Any) -> bytes:
    body = _hex_body(value, "hex data")
    if len(body) % 2:
        raise ParamError("hex string of odd length")
    try:
        raw = bytes.fromhex(body)
    except ValueError:
        raw = None
    # fromhex also skips whitespace between bytes, which then come out short.
    if raw is None or len(raw) * 2 != len(body):
        raise ParamError("invalid hex string")
    return raw


def block_number(value: Any) -> int:
    """A block number: a quantity that fits geth's int64."""
    number = quantity(value)
    if number.bit_length() > 64:
        raise ParamError("hex number > 64 bits")
    if number > MAX_BLOCK_NUMBER:
        raise ParamError("block number larger than int64")
    return number


def fixed(length: int, what: str) -> Callable[[Any], bytes]:
    def parse(value: Any) -> bytes:
        raw = data(value)
        if len(raw) != length:
            raise ParamError(f"hex string has length {len(raw) * 2}, want {length * 2} for {what}")
        return raw

    return parse


_address = fixed(20, "common.Address")
_hash = fixed(32, "common.Hash")


def address(value: Any) -> Address:
    # The common case, a well-formed address, in one step; anything else takes
    # the general path, which says what is wrong.
    if type(value) is str and len(value) == 42 and value[1] in "xX" and value[0] == "0":
        try:
            raw = bytes.fromhex(value[2:])
        except ValueError:
            pass
        else:
            if len(raw) == 20:
                return Address(raw)
    return Address(_address(value))


def hash32(value: Any) -> Hash32:
    return Hash32(_hash(value))


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ParamError(f"cannot unmarshal {_json_type(value)} into bool")
    return value


def storage_slot(value: Any) -> int:
    """A storage key: geth accepts up to 32 bytes of hex, as a quantity or padded."""
    body = _hex_body(value, "storage key")
    if len(body) > 64:
        raise ParamError("storage key longer than 32 bytes")
    return int(_strict_hex(body) or "0", 16)


@dataclass(frozen=True)
class BlockId:
    """A block parameter: a tag, a number, or (EIP-1898) a hash."""

    tag: str | None = None
    number: int | None = None
    block_hash: Hash32 | None = None
    require_canonical: bool = False

    def __str__(self) -> str:
        if self.tag is not None:
            return self.tag
        if self.number is not None:
            return hex(self.number)
        assert self.block_hash is not None
        return "0x" + self.block_hash.hex()


LATEST = BlockId(tag="latest")


def block_id(value: Any) -> BlockId:
    if isinstance(value, str):
        if value in _TAG_IDS:
            return _TAG_IDS[value]
        if value.startswith(("0x", "0X")) and len(value) == 66:
            return BlockId(block_hash=hash32(value))
        return BlockId(number=block_number(value))
    if isinstance(value, dict):
        unknown = set(value) - {"blockHash", "blockNumber", "requireCanonical"}
        if unknown:
            raise ParamError(f"unknown field {sorted(unknown)[0]!r} in block parameter")
        if "blockHash" in value and "blockNumber" in value:
            raise ParamError("cannot specify both blockHash and blockNumber, choose one or the other")
        if "blockHash" in value:
            canonical = value.get("requireCanonical", False)
            return BlockId(block_hash=hash32(value["blockHash"]), require_canonical=boolean(canonical))
        if "blockNumber" in value:
            return block_number_or_tag(value["blockNumber"])
        raise ParamError("block parameter object needs blockHash or blockNumber")
    raise ParamError(f"cannot unmarshal {_json_type(value)} into block number or hash")


_TAG_IDS = {tag: BlockId(tag=tag) for tag in BLOCK_TAGS}  # frozen, so one of each serves every call


def block_number_or_tag(value: Any) -> BlockId:
    if isinstance(value, str) and value in _TAG_IDS:
        return _TAG_IDS[value]
    return BlockId(number=block_number(value))


def optional(parse: Callable[[Any], T]) -> Callable[[Any], T | None]:
    def parse_optional(value: Any) -> T | None:
        return None if value is None else parse(value)

    return parse_optional


def list_of(parse: Callable[[Any], T], limit: int = 10_000) -> Callable[[Any], list[T]]:
    def parse_list(value: Any) -> list[T]:
        if not isinstance(value, list):
            raise ParamError(f"cannot unmarshal {_json_type(value)} into array")
        if len(value) > limit:
            raise ParamError(f"too many items: {len(value)}, limit {limit}")
        return [parse(item) for item in value]

    return parse_list


def obj(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ParamError(f"cannot unmarshal {_json_type(value)} into object")
    return value


def string(value: Any) -> str:
    if not isinstance(value, str):
        raise ParamError(f"cannot unmarshal {_json_type(value)} into string")
    return value


def any_value(value: Any) -> Any:
    return value
