"""A tiny EVM assembler and the contracts the tracing and simulation tests deploy.

The contracts are written as opcodes, not Solidity, so the tests need no
compiler and every byte of the traces they check is known here:

- `callee`: stores its argument in slot 0, logs it and returns argument + 1;
  an argument of 0 reverts with Error("boom").
- `caller(callee)`: calls the callee every way a contract can (CALL, a
  STATICCALL that fails on the callee's SSTORE, DELEGATECALL, a CALL that
  reverts), deploys a one-byte contract with CREATE2, and returns the first
  call's result.
"""

from __future__ import annotations

from eth_utils import keccak

OPCODES = {
    "STOP": 0x00, "ADD": 0x01, "EQ": 0x14, "ISZERO": 0x15, "CALLVALUE": 0x34, "CALLDATALOAD": 0x35,
    "POP": 0x50, "MLOAD": 0x51, "MSTORE": 0x52, "SLOAD": 0x54, "SSTORE": 0x55, "JUMPI": 0x57,
    "JUMPDEST": 0x5B, "GAS": 0x5A, "LOG1": 0xA1, "CREATE2": 0xF5, "CALL": 0xF1, "DELEGATECALL": 0xF4,
    "STATICCALL": 0xFA, "RETURN": 0xF3, "REVERT": 0xFD, "CODECOPY": 0x39,
}


def push(value: int | bytes) -> bytes:
    data = value if isinstance(value, bytes) else value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
    return bytes([0x5F + len(data)]) + data


def asm(*items: str | int | bytes | tuple[str, str]) -> bytes:
    """Opcodes by name, ints and bytes as PUSHes, ("label", name) marks a
    JUMPDEST and ("to", name) pushes its offset (always PUSH2)."""
    labels: dict[str, int] = {}
    for _ in range(2):
        code = b""
        for item in items:
            if isinstance(item, tuple):
                kind, name = item
                if kind == "label":
                    labels[name] = len(code)
                    code += bytes([OPCODES["JUMPDEST"]])
                else:
                    code += b"\x61" + labels.get(name, 0).to_bytes(2, "big")
            elif isinstance(item, str):
                code += bytes([OPCODES[item]])
            else:
                code += push(item)
    return code


def initcode(runtime: bytes) -> bytes:
    """Creation code that returns `runtime` (shorter than 256 bytes) from a 12-byte prefix."""
    prefix = asm(len(runtime), 12, 0, "CODECOPY", len(runtime), 0, "RETURN")
    assert len(prefix) == 12, len(prefix)
    return prefix + runtime


ERROR_BOOM = bytes.fromhex("08c379a0") + (32).to_bytes(32, "big") + (4).to_bytes(32, "big") + b"boom".ljust(32, b"\0")


def callee() -> bytes:
    return asm(
        0, "CALLDATALOAD", ("to", "store"), "JUMPI",
        # revert(Error("boom")): the 100 bytes at memory 0
        int.from_bytes(ERROR_BOOM[:32], "big"), 0, "MSTORE",
        int.from_bytes(ERROR_BOOM[32:64], "big"), 32, "MSTORE",
        int.from_bytes(ERROR_BOOM[64:96], "big"), 64, "MSTORE",
        int.from_bytes(ERROR_BOOM[96:].ljust(32, b"\0"), "big"), 96, "MSTORE",
        100, 0, "REVERT",
        ("label", "store"),
        0, "CALLDATALOAD", 0, "SSTORE",
        0, "CALLDATALOAD", 0, "MSTORE",
        0, "CALLDATALOAD", 32, 0, "LOG1",
        1, 0, "CALLDATALOAD", "ADD", 0, "MSTORE",
        32, 0, "RETURN",
    )


CHILD_RUNTIME = b"\x00"
CHILD_INIT = initcode(CHILD_RUNTIME)


def _call(op: str, target: bytes, argument: int, value: int | None = 0, gas: int | None = None) -> list[str | int | bytes]:
    # argument at memory 0, result to memory 32; the success flag is left on the stack, then popped
    gas_args: list[str | int | bytes] = [32, 32, 32, 0]
    value_arg: list[str | int | bytes] = [value] if value is not None else []
    return [argument, 0, "MSTORE", *gas_args, *value_arg, target, "GAS" if gas is None else gas, op, "POP"]


def caller(callee_address: bytes) -> bytes:
    init_word = int.from_bytes(CHILD_INIT.ljust(32, b"\0"), "big")
    return asm(
        *_call("CALL", callee_address, 7),
        32, "MLOAD", 96, "MSTORE",  # keep the first result
        *_call("STATICCALL", callee_address, 5, None, gas=30_000),  # fails, burning its 30,000
        *_call("DELEGATECALL", callee_address, 9, None),
        *_call("CALL", callee_address, 0),
        init_word, 0, "MSTORE",
        1, len(CHILD_INIT), 0, 0, "CREATE2", "POP",
        32, 96, "RETURN",
    )


def create2_address(deployer: bytes, salt: int, init: bytes) -> bytes:
    return keccak(b"\xff" + deployer + salt.to_bytes(32, "big") + keccak(init))[12:]
