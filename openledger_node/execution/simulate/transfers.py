"""The log collector of eth_simulateV1: a tracer that keeps each frame's logs
in order, drops those of frames that fail, and (with `trace_transfers`) adds an
ERC-7528 `Transfer` pseudo-log from 0xEeee…EEeE for every value transfer, as
geth's simulate tracer does.
"""

from __future__ import annotations

from typing import Any

from eth.abc import ComputationAPI, StateAPI
from eth_hash.auto import keccak
from eth_typing import Address

from openledger_node.execution.simulate.tracing import Frame, Tracer

ETH_ADDRESS = bytes.fromhex("eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee")
SELFDESTRUCT = 0xFF
TRANSFER_TOPIC = int.from_bytes(keccak(b"Transfer(address,address,uint256)"), "big")

LogEntry = tuple[bytes, tuple[int, ...], bytes]


class LogCollector(Tracer):
    def __init__(self, trace_transfers: bool) -> None:
        self.trace_transfers = trace_transfers
        self.stack: list[list[LogEntry]] = []
        self.logs: list[LogEntry] = []

    def _transfer(self, logs: list[LogEntry], sender: bytes, recipient: bytes, value: int) -> None:
        topics = (TRANSFER_TOPIC, int.from_bytes(sender, "big"), int.from_bytes(recipient, "big"))
        logs.append((ETH_ADDRESS, topics, value.to_bytes(32, "big")))

    def enter(self, state: StateAPI, frame: Frame) -> None:
        logs: list[LogEntry] = []
        # geth: every frame but a DELEGATECALL that carries value (CALLCODE's to the code's address)
        if self.trace_transfers and frame.value and frame.kind != "DELEGATECALL":
            self._transfer(logs, frame.sender, frame.to, frame.value)
        self.stack.append(logs)

    def step(self, computation: ComputationAPI, frame: Frame, pc: int, op: int, gas: int) -> dict[str, Any] | None:
        if op == SELFDESTRUCT and self.trace_transfers and self.stack:
            stack = computation._stack.values  # type: ignore[attr-defined]
            if stack:
                top = stack[-1]
                beneficiary = ((top if isinstance(top, int) else int.from_bytes(top, "big")) % (1 << 160))
                contract = bytes(computation.msg.storage_address)
                balance = int(computation.state.get_balance(Address(contract)))
                if balance:
                    self._transfer(self.stack[-1], contract, beneficiary.to_bytes(20, "big"), balance)
        return None

    def exit(self, state: StateAPI, frame: Frame, computation: ComputationAPI) -> None:
        logs = self.stack.pop()
        if computation.is_error:
            logs = []
        if self.stack:
            self.stack[-1].extend(logs)
        else:
            self.logs = logs

    def log(self, frame: Frame, address: bytes, topics: tuple[int, ...], data: bytes) -> None:
        if self.stack:
            self.stack[-1].append((address, topics, data))
