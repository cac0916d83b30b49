"""What a simulation is asked and what it answers: the parsed call and state
overrides that the JSON-RPC handlers hand to the `Simulator`, the `CallResult` it
returns, and geth's wording for revert data and VM errors in that result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from eth.exceptions import (
    ContractCreationCollision,
    FullStack,
    InsufficientStack,
    InvalidInstruction,
    InvalidJumpDestination,
    OutOfBoundsRead,
    OutOfGas,
    ReservedBytesInCode,
    Revert,
    StackDepthLimit,
    VMError,
    WriteProtection,
)
from eth.exceptions import InsufficientFunds as VMInsufficientFunds
from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError

from openledger_node.exceptions import ExecutionFailed, ExecutionReverted

AccessList = tuple[tuple[bytes, tuple[int, ...]], ...]


@dataclass(frozen=True)
class CallRequest:
    """The JSON-RPC transaction object of eth_call / eth_estimateGas, already parsed."""

    sender: bytes | None = None  # "from"; None -> the zero address
    to: bytes | None = None  # None -> contract creation
    gas: int | None = None
    gas_price: int | None = None
    max_fee_per_gas: int | None = None
    max_priority_fee_per_gas: int | None = None
    value: int = 0
    data: bytes = b""
    nonce: int | None = None  # never checked (geth's SkipNonceChecks); names eth_createAccessList's CREATE address
    access_list: AccessList = ()


@dataclass(frozen=True)
class AccountOverride:
    """One entry of eth_call's state override set."""

    balance: int | None = None
    nonce: int | None = None
    code: bytes | None = None
    state: dict[int, int] | None = None  # replaces the whole storage
    state_diff: dict[int, int] | None = None  # patches single slots

    def __post_init__(self) -> None:
        if self.state is not None and self.state_diff is not None:
            # geth's wording; the RPC layer reports it as invalid params.
            raise ValueError("account override has both 'state' and 'stateDiff'")


@dataclass(frozen=True)
class CallResult:
    output: bytes  # return data; empty when the call failed
    gas_used: int  # as the receipt of the same transaction would say
    success: bool
    revert_data: bytes  # the REVERT payload when the call reverted
    error: str | None  # geth's message: "execution reverted", "out of gas", ...

    @property
    def reverted(self) -> bool:
        return self.error == "execution reverted"

    @property
    def revert_reason(self) -> str | None:
        return decode_revert_reason(self.revert_data) if self.reverted else None

    def output_or_raise(self) -> bytes:
        """The return data, or the domain error eth_call answers with."""
        if self.success:
            return self.output
        if self.reverted:
            raise ExecutionReverted(self.revert_data, self.revert_reason)
        raise ExecutionFailed(self.error or "execution failed")


# --- revert data and VM errors, in geth's words ---------------------------------------

ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256)
PANIC_REASONS = {
    0x00: "generic panic",
    0x01: "assert(false)",
    0x11: "arithmetic underflow or overflow",
    0x12: "division or modulo by zero",
    0x21: "enum overflow",
    0x22: "invalid encoded storage byte array accessed",
    0x31: "out-of-bounds array access; popping on an empty array",
    0x32: "out-of-bounds access of an array or bytesN",
    0x41: "out of memory",
    0x51: "uninitialized function",
}


def decode_revert_reason(data: bytes) -> str | None:
    """The reason in `Error(string)` or `Panic(uint256)` revert data (geth's
    abi.UnpackRevert); None for custom errors and anything undecodable."""
    try:
        if data[:4] == ERROR_SELECTOR:
            return str(abi_decode(["string"], data[4:])[0])
        if data[:4] == PANIC_SELECTOR:
            code = int(abi_decode(["uint256"], data[4:])[0])
            return PANIC_REASONS.get(code, f"unknown panic code: {code:#x}")
    except (DecodingError, ValueError):  # malformed payload (bad offsets, bad UTF-8...)
        return None
    return None


_INVALID_OPCODE = re.compile(r"Invalid opcode 0x([0-9a-fA-F]+)")
_STACK_WANTED = re.compile(r"Wanted (\d+) stack items?, (?:only had (\d+)|had none)")


def vm_error_message(error: VMError) -> str:
    """geth's message (core/vm/errors.go) for a py-evm execution error."""
    text = str(error)
    if isinstance(error, Revert):
        return "execution reverted"
    if isinstance(error, OutOfGas):
        if "EIP170" in text:
            return "max code size exceeded"
        if "EIP-3860" in text:
            return "max initcode size exceeded"
        if "Write contract code" in text:
            return "contract creation code storage out of gas"
        return "out of gas"
    if isinstance(error, InvalidInstruction):
        if "Jump resulted in invalid instruction" in text:
            return "invalid jump destination"
        match = _INVALID_OPCODE.search(text)
        if match is None:
            return "invalid opcode"
        value = int(match.group(1), 16)
        if value == 0xFE:
            return "invalid opcode: INVALID"
        return f"invalid opcode: opcode {value:#x} not defined"
    if isinstance(error, InvalidJumpDestination):
        return "invalid jump destination"
    if isinstance(error, InsufficientStack):
        match = _STACK_WANTED.search(text)
        if match is None:
            return "stack underflow"
        return f"stack underflow ({int(match.group(2) or 0)} <=> {match.group(1)})"
    if isinstance(error, FullStack):
        return "stack limit reached 1024"
    if isinstance(error, StackDepthLimit):
        return "max call depth exceeded"
    if isinstance(error, WriteProtection):
        return "write protection"
    if isinstance(error, OutOfBoundsRead):
        return "return data out of bounds"
    if isinstance(error, ReservedBytesInCode):
        return "invalid code: must not begin with 0xef"
    if isinstance(error, VMInsufficientFunds):
        return "insufficient balance for transfer"
    if isinstance(error, ContractCreationCollision):
        return "contract address collision"
    return text or type(error).__name__
