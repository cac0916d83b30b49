"""Hardhat's `console.log` from Solidity: calls to the console address are
decoded and written to the node's log, as anvil and Hardhat print them.

`console.sol` makes a static call to 0x000000000000000000636F6e736F6c652e6c6f67
(no code there, so the call does nothing on chain) with one of its overloads'
ABI-encoded arguments. `ConsoleLogComputation` looks at each message frame's
code address, one 20-byte comparison, and decodes only those to that address
(`console_logging` puts it on a state's computation class, whatever that is);
the lines go to the `openledger.console` logger, which a node turns on only on
a dev network (`enable`), so elsewhere nothing is decoded at all.
"""

from __future__ import annotations

import itertools
import logging
import re
from functools import cache
from typing import Any, TypeVar

from eth.abc import ComputationAPI, MessageAPI, StateAPI, TransactionContextAPI
from eth_abi.abi import decode as abi_decode
from eth_hash.auto import keccak
from eth_utils.address import to_checksum_address

CONSOLE_ADDRESS = bytes.fromhex("000000000000000000636F6e736F6c652e6c6f67")

log = logging.getLogger("openledger.console")

_MULTI_ARG_TYPES = ("uint256", "string", "bool", "address")
_FORMAT = re.compile(r"%[sdio%]")


def enable(on: bool) -> None:
    """Print console.log lines (dev networks) or not (every other network)."""
    log.setLevel(logging.INFO if on else logging.CRITICAL + 1)


@cache
def signatures() -> dict[bytes, tuple[str, ...]]:
    """Selector -> argument types of every console.sol overload, with the
    `uint`/`int` spellings of older console.sol versions."""
    overloads: list[tuple[str, tuple[str, ...]]] = [("log", ())]
    for kind in ("int256", "uint256", "string", "bool", "address", "bytes"):
        overloads.append(("log" + kind.rstrip("0123456789").capitalize(), (kind,)))
    overloads.extend((f"logBytes{n}", (f"bytes{n}",)) for n in range(1, 33))
    overloads.extend(("log", (kind,)) for kind in ("int256", "uint256", "string", "bool", "address", "bytes"))
    for count in (2, 3, 4):
        overloads.extend(("log", combo) for combo in itertools.product(_MULTI_ARG_TYPES, repeat=count))
    table: dict[bytes, tuple[str, ...]] = {}
    for name, types in overloads:
        for spelling in {",".join(types), ",".join(types).replace("int256", "int")}:
            table[keccak(f"{name}({spelling})".encode())[:4]] = types
    return table


def _text(kind: str, value: Any) -> str:
    if kind == "bool":
        return "true" if value else "false"
    if kind == "address":
        return str(to_checksum_address(value))
    if kind.startswith("bytes"):
        return "0x" + bytes(value).hex()
    return str(value)


def format_console(data: bytes) -> str | None:
    """The line console.log prints for this calldata; None when it is not a
    console.sol call. A leading string is a format: %s, %d, %i and %o take the
    next argument, %% is a percent sign; the rest follow, space separated."""
    types = signatures().get(bytes(data[:4]))
    if types is None:
        return None
    try:
        values = abi_decode(list(types), bytes(data[4:]))
    except Exception:  # noqa: BLE001 - malformed arguments print nothing, as in anvil
        return None
    texts = [_text(kind, value) for kind, value in zip(types, values)]
    if not texts:
        return ""
    if types[0] != "string":
        return " ".join(texts)
    rest = iter(texts[1:])
    used = 0

    def substitute(match: re.Match[str]) -> str:
        nonlocal used
        if match.group() == "%%":
            return "%"
        value = next(rest, None)
        if value is None:
            return match.group()
        used += 1
        return value

    head = _FORMAT.sub(substitute, texts[0])
    return " ".join([head, *texts[1 + used:]])


class ConsoleLog:
    """Mixed in front of a py-evm computation class: prints the console.log
    calls it runs, then runs them as that class does."""

    @classmethod
    def apply_message(
        cls,
        state: StateAPI,
        message: MessageAPI,
        transaction_context: TransactionContextAPI,
        parent_computation: ComputationAPI | None = None,
    ) -> ComputationAPI:
        if message.code_address == CONSOLE_ADDRESS and log.isEnabledFor(logging.INFO):
            line = format_console(bytes(message.data))
            if line is not None:
                log.info("console.log: %s", line)
        return super().apply_message(  # type: ignore[misc, no-any-return]
            state, message, transaction_context, parent_computation
        )


@cache
def with_console_log(base: type) -> type:
    """`base` (a computation class) printing console.log calls."""
    return type(f"ConsoleLog{base.__name__}", (ConsoleLog, base), {"__module__": __name__})


S = TypeVar("S", bound=type)


def console_logging(state_class: S) -> S:
    """Class decorator for a state: its computation class (whatever its base
    gives it) prints console.log calls."""
    state: Any = state_class
    state.computation_class = with_console_log(state.computation_class)
    return state_class

