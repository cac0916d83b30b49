"""The log collector of eth_simulateV1: a tracer that keeps each frame's logs
in order, drops those of frames that fail, and (with `trace_transfers`) adds an
ERC-7528 `Transfer` pseudo-log from 0xEeee…EEeE for every value transfer, as
geth's simulate tracer does.
"""

from __future__ import annotations

from eth.abc import ComputationAPI, StateAPI
from eth_hash.auto import keccak

from openledger_node.execution.simulate.tracing import Frame, Tracer

ETH_ADDRESS = bytes.fromhex("eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee")
TRANSFER_TOPIC = int.from_bytes(keccak(b"Transfer(address,address,uint256)"), "big")

LogEntry = tuple[bytes, tuple[int, ...], bytes]


class LogCollector(Tracer):
    def __init__(self, trace_transfers: bool) -> None:
        self.trace_transfers = trace_transfers
        self.stack: list[list[LogEntry]] = []
        self.logs: list[LogEntry] = []

    def enter(self, state: StateAPI, frame: Frame) -> None:
        logs: list[LogEntry] = []
        if self.trace_transfers and frame.value and frame.kind in ("CALL", "CALLCODE", "CREATE", "CREATE2"):
            sender = frame.sender
            logs.append((ETH_ADDRESS, (TRANSFER_TOPIC, int.from_bytes(sender, "big"),
                                       int.from_bytes(frame.to if frame.kind != "CALLCODE" else sender, "big")),
                         frame.value.to_bytes(32, "big")))
        self.stack.append(logs)

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
