"""eth_simulateV1 (execution-apis `eth_simulateV1`, geth's internal/ethapi/simulate.go):
a chain of simulated blocks on top of a given block, each with its block
overrides, state overrides and calls, the calls of one block after another on
one state. Results are geth's: one block object per simulated block with a
`calls` array of `{returnData, logs, gasUsed, status, error?}`.

Without `validation` calls are free (base fee 0 unless overridden) and nonces
are not checked, as geth; with it, a call that breaks the transaction rules
fails the whole request with the spec's code (-38010 nonce too low, -38014
insufficient funds, ...). `traceTransfers` adds ERC-7528 Transfer logs for value
moved by calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import rlp
from eth.abc import StateAPI
from eth.constants import CREATE_CONTRACT_ADDRESS
from eth.exceptions import Revert
from eth.vm.chain_context import ChainContext
from eth.vm.forks.prague.blocks import PragueBlockHeader
from eth_hash.auto import keccak
from eth_typing import Address

from openledger_node.execution.simulate import AccountOverride, CallRequest
from openledger_node.execution.simulate.request import (
    decode_revert_reason,
    vm_error_message,
)
from openledger_node.execution.simulate.tracing import (
    CallTraceState,
    CallTraceVM,
    TraceHooks,
)
from openledger_node.execution.simulate.transfers import LogCollector
from openledger_node.execution.simulate.vm import SimulatedTransaction, deadline
from openledger_node.execution.trie_root import ordered_trie_root
from openledger_node.execution.vm import required_gas, transaction_gas_used
from openledger_node.rpc import errors as e
from openledger_node.rpc import params as p
from openledger_node.rpc.backend import Backend
from openledger_node.rpc.errors import InvalidParams
from openledger_node.rpc.format import d, format_header, q
from openledger_node.rpc.params import BlockId, ParamError
from openledger_node.rpc.registry import Param, rpc
from openledger_node.rpc.simulation import call_request, state_overrides
from openledger_node.storage import OverlayDB

MAX_BLOCKS = 256  # geth's maxSimulateBlocks
TIMESTAMP_INCREMENT = 12  # geth's default step between simulated blocks
ZERO = b"\x00" * 20
_BLOCK_OVERRIDES = {"number", "time", "gasLimit", "feeRecipient", "prevRandao", "baseFeePerGas", "blobBaseFee",
                    "withdrawals", "beaconRoot"}
VM_ERROR = -32015  # execution-apis: the call failed in the EVM
REVERTED = 3


@dataclass(frozen=True)
class BlockStateCall:
    overrides: dict[str, Any]
    state: dict[bytes, AccountOverride]
    calls: list[CallRequest]


@dataclass(frozen=True)
class SimulateOptions:
    blocks: list[BlockStateCall]
    trace_transfers: bool
    validation: bool
    full_transactions: bool


def _block_overrides(value: Any) -> dict[str, Any]:
    spec = p.obj(value)
    unknown = set(spec) - _BLOCK_OVERRIDES
    if unknown:
        raise ParamError(f"unknown field {min(unknown)!r} in block overrides")
    out: dict[str, Any] = {}
    for name in ("number", "time", "gasLimit", "baseFeePerGas"):
        if spec.get(name) is not None:
            out[name] = p.quantity(spec[name])
    if spec.get("feeRecipient") is not None:
        out["feeRecipient"] = bytes(p.address(spec["feeRecipient"]))
    if spec.get("prevRandao") is not None:
        out["prevRandao"] = bytes(p.hash32(spec["prevRandao"]))
    return out


def _state(value: Any) -> dict[bytes, AccountOverride]:
    spec = p.obj(value)
    for raw in spec.values():
        if isinstance(raw, dict) and raw.get("movePrecompileToAddress") is not None:
            raise ParamError("movePrecompileToAddress is not supported by this node")
    cleaned = {a: {k: v for k, v in p.obj(raw).items() if k != "movePrecompileToAddress"} for a, raw in spec.items()}
    return state_overrides(cleaned)


def simulate_options(value: Any) -> SimulateOptions:
    spec = p.obj(value)
    unknown = set(spec) - {"blockStateCalls", "traceTransfers", "validation", "returnFullTransactions"}
    if unknown:
        raise ParamError(f"unknown field {min(unknown)!r} in simulation options")
    blocks = []
    for raw in p.list_of(p.obj, MAX_BLOCKS + 1)(spec.get("blockStateCalls") or []):
        unknown = set(raw) - {"blockOverrides", "stateOverrides", "calls"}
        if unknown:
            raise ParamError(f"unknown field {min(unknown)!r} in block state call")
        blocks.append(BlockStateCall(
            _block_overrides(raw["blockOverrides"]) if raw.get("blockOverrides") is not None else {},
            _state(raw["stateOverrides"]) if raw.get("stateOverrides") is not None else {},
            p.list_of(call_request, 1000)(raw.get("calls") or []),
        ))
    flag = p.optional(p.boolean)
    return SimulateOptions(blocks, bool(flag(spec.get("traceTransfers"))), bool(flag(spec.get("validation"))),
                           bool(flag(spec.get("returnFullTransactions"))))


def _apply_overrides(state: StateAPI, overrides: dict[bytes, AccountOverride]) -> None:
    for address, override in overrides.items():
        account = Address(address)
        if override.balance is not None:
            state.set_balance(account, override.balance)
        if override.nonce is not None:
            state.set_nonce(account, override.nonce)
        if override.code is not None:
            state.set_code(account, override.code)
        if override.state is not None:
            state.delete_storage(account)
            for slot, value in override.state.items():
                state.set_storage(account, slot, value)
        if override.state_diff is not None:
            for slot, value in override.state_diff.items():
                state.set_storage(account, slot, value)


def _tx_hash(tx: SimulatedTransaction, chain_id: int) -> bytes:
    """A stable hash for a simulated (unsigned) transaction: its EIP-1559 fields."""
    return keccak(b"\x02" + rlp.encode([
        chain_id, tx.nonce, tx.max_priority_fee_per_gas, tx.max_fee_per_gas, tx.gas, bytes(tx.to), tx.value,
        tx.data, [], bytes(tx.sender),
    ]))


class SimulateV1Api:
    def __init__(self, backend: Backend, gas_cap: int, timeout: float | None = 5.0) -> None:
        self.b = backend
        self.gas_cap = gas_cap
        self.timeout = timeout

    @rpc("eth_simulateV1", Param("options", simulate_options), Param("block", p.block_id, BlockId(tag="latest")),
         blocking="evm")
    def simulate(self, options: SimulateOptions, block: BlockId) -> list[dict[str, Any]]:
        if len(options.blocks) > MAX_BLOCKS:
            raise e.SimTooManyBlocks(f"too many blocks: {len(options.blocks)} > {MAX_BLOCKS}")
        parent = self.b.header_or_error(block)
        db = OverlayDB(self.b.chain.state_db)
        context = ChainContext(self.b.chain_id)
        root = bytes(parent.state_root)
        prev_hashes = list(self.b.ancestors(parent))[:255]
        prev_hashes.insert(0, parent.hash)
        number, timestamp, parent_hash = int(parent.block_number), int(parent.timestamp), bytes(parent.hash)
        results = []
        with deadline(self.timeout):
            for call_block in options.blocks:
                o = call_block.overrides
                new_number = o.get("number", number + 1)
                if new_number <= number:
                    raise e.SimBlockNumberOrder(f"block numbers must be in order: {new_number} <= {number}")
                new_time = o.get("time", timestamp + TIMESTAMP_INCREMENT)
                if new_time <= timestamp:
                    raise e.SimBlockTimestampOrder(f"block timestamps must be in order: {new_time} <= {timestamp}")
                base_fee = o.get("baseFeePerGas")
                if base_fee is None:
                    base_fee = self.b.next_base_fee(parent) if options.validation else 0
                header = cast(PragueBlockHeader, parent.copy(
                    parent_hash=parent_hash, block_number=new_number, timestamp=new_time,
                    gas_limit=o.get("gasLimit", int(parent.gas_limit)),
                    coinbase=o.get("feeRecipient", bytes(parent.coinbase)),
                    mix_hash=o.get("prevRandao", bytes(parent.mix_hash)), base_fee_per_gas=base_fee,
                    state_root=root, gas_used=0,
                ))
                state = CallTraceVM.build_state(db, header, context, prev_hashes)
                _apply_overrides(state, call_block.state)
                calls, hashes, gas_used = self._run_block(state, header, call_block.calls, options)
                state.persist()
                root = bytes(state.state_root)
                sealed = cast(PragueBlockHeader, header.copy(
                    state_root=root, gas_used=gas_used, transaction_root=ordered_trie_root(hashes),
                ))
                out = format_header(sealed)
                out["size"] = q(0)
                out["transactions"] = [d(h) for h in hashes]
                out["uncles"] = []
                out["withdrawals"] = []
                for call in calls:
                    for log in call["logs"]:
                        log["blockHash"] = out["hash"]
                out["calls"] = calls
                results.append(out)
                prev_hashes.insert(0, sealed.hash)
                number, timestamp, parent_hash, parent = new_number, new_time, bytes(sealed.hash), sealed
        return results

    def _run_block(self, state: StateAPI, header: PragueBlockHeader, requests: list[CallRequest],
                   options: SimulateOptions) -> tuple[list[dict[str, Any]], list[bytes], int]:
        gas_used = 0
        log_index = 0
        calls: list[dict[str, Any]] = []
        hashes: list[bytes] = []
        base_fee = int(header.base_fee_per_gas or 0)
        for index, request in enumerate(requests):
            sender = Address(request.sender or ZERO)
            state_nonce = int(state.get_nonce(sender))
            gas = request.gas if request.gas is not None else int(header.gas_limit) - gas_used
            if self.gas_cap and gas > self.gas_cap:
                gas = self.gas_cap
            if request.gas_price is not None:
                fee_cap = tip = request.gas_price
            else:
                fee_cap = request.max_fee_per_gas if request.max_fee_per_gas is not None else (
                    base_fee if options.validation else 0)
                tip = request.max_priority_fee_per_gas or 0
                tip = min(tip, fee_cap)
            tx = SimulatedTransaction(
                sender=sender, to=Address(request.to or CREATE_CONTRACT_ADDRESS), gas=gas, max_fee_per_gas=fee_cap,
                max_priority_fee_per_gas=tip, value=request.value, data=request.data,
                nonce=state_nonce if request.nonce is None else request.nonce, access_list=request.access_list,
            )
            if gas_used + gas > int(header.gas_limit):
                raise e.SimBlockGasLimitReached(
                    f"block gas limit reached: {gas_used} + {gas} > {int(header.gas_limit)}")
            need = required_gas(tx)
            if gas < need:
                raise e.SimIntrinsicGasTooLow(f"intrinsic gas too low: have {gas}, want {need}")
            if options.validation:
                if tx.nonce < state_nonce:
                    raise e.SimNonceTooLow(
                        f"nonce too low: address 0x{bytes(sender).hex()}, tx: {tx.nonce} state: {state_nonce}")
                if tx.nonce > state_nonce:
                    raise e.SimNonceTooHigh(
                        f"nonce too high: address 0x{bytes(sender).hex()}, tx: {tx.nonce} state: {state_nonce}")
                if fee_cap < base_fee:
                    raise e.SimBaseFeeTooLow(
                        f"max fee per gas less than block base fee: address 0x{bytes(sender).hex()}, "
                        f"maxFeePerGas: {fee_cap}, baseFee: {base_fee}")
            balance = int(state.get_balance(sender))
            if balance < gas * fee_cap + request.value:
                raise e.SimInsufficientFunds(
                    f"insufficient funds for gas * price + value: address 0x{bytes(sender).hex()} "
                    f"have {balance} want {gas * fee_cap + request.value}")
            collector = LogCollector(options.trace_transfers)
            hooks = TraceHooks(collector, gas)
            cast(CallTraceState, state).hooks = hooks
            try:
                computation = state.get_transaction_executor()(cast(Any, tx))
            finally:
                cast(CallTraceState, state).hooks = None
            if request.nonce is None and int(state.get_nonce(sender)) == state_nonce:
                state.increment_nonce(sender)
            used = transaction_gas_used(tx, computation)
            gas_used += used
            tx_hash = _tx_hash(tx, self.b.chain_id)
            hashes.append(tx_hash)
            logs = []
            for address, topics, data in collector.logs if computation.is_success else []:
                logs.append({
                    "address": d(address), "topics": [d(t.to_bytes(32, "big")) for t in topics], "data": d(data),
                    "blockNumber": q(header.block_number), "blockHash": None,
                    "blockTimestamp": q(header.timestamp), "transactionHash": d(tx_hash),
                    "transactionIndex": q(index), "logIndex": q(log_index), "removed": False,
                })
                log_index += 1
            result: dict[str, Any] = {
                "returnData": d(bytes(computation.output) if computation.is_success or
                                isinstance(computation.error, Revert) else b""),
                "logs": logs, "gasUsed": q(used), "status": q(1 if computation.is_success else 0),
            }
            if not computation.is_success:
                error = computation.error
                if isinstance(error, Revert):
                    data = bytes(computation.output)
                    reason = decode_revert_reason(data)
                    message = "execution reverted" + (f": {reason}" if reason is not None else "")
                    result["error"] = {"code": REVERTED, "message": message, "data": d(data)}
                else:
                    result["error"] = {"code": VM_ERROR, "message": vm_error_message(error)}
            calls.append(result)
        return calls, hashes, gas_used


__all__ = ["InvalidParams", "SimulateV1Api"]
