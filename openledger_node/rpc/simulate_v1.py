"""eth_simulateV1 (execution-apis `eth_simulateV1`, geth's internal/ethapi/simulate.go).

The handler parses the payload, checks the block sequence as geth's
sanitizeChain does (numbers and timestamps strictly increase, gaps are filled
with empty blocks, at most 256 blocks past the base), runs the blocks with
`execution.simulate.multiblock` and writes geth's answer: one block object per
simulated block with a `calls` array of `{returnData, logs, gasUsed, maxUsedGas,
status, error?}`. A call that cannot start fails the whole request with the
spec's code (-38010 nonce too low, -38014 insufficient funds, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import rlp
from eth.vm.forks.prague.blocks import PragueBlockHeader

from openledger_node import exceptions as ex
from openledger_node.execution.simulate import AccountOverride, CallRequest, deadline
from openledger_node.execution.simulate.multiblock import (
    BlockGasLimitReached,
    PrecompileMoveError,
    SimBlock,
    SimBlockResult,
    SimCall,
    simulate_blocks,
)
from openledger_node.execution.simulate.request import decode_revert_reason
from openledger_node.rpc import errors as e
from openledger_node.rpc import params as p
from openledger_node.rpc.backend import Backend
from openledger_node.rpc.errors import InvalidParams
from openledger_node.rpc.format import d, format_header, q
from openledger_node.rpc.params import BlockId, ParamError
from openledger_node.rpc.registry import Param, rpc
from openledger_node.rpc.simulation import call_request, state_overrides

MAX_BLOCKS = 256  # geth's maxSimulateBlocks
MAX_CALLS = 1000
TIMESTAMP_INCREMENT = 12  # geth's timestampIncrement
VM_ERROR = -32015  # execution-apis: the call failed in the EVM
REVERTED = 3
ZERO_HASH = b"\x00" * 32
_BLOCK_OVERRIDES = {"number", "time", "gasLimit", "feeRecipient", "prevRandao", "baseFeePerGas", "blobBaseFee",
                    "withdrawals", "beaconRoot"}


@dataclass(frozen=True)
class BlockStateCall:
    overrides: dict[str, Any]
    state: dict[bytes, AccountOverride]
    moves: dict[bytes, bytes]
    calls: tuple[CallRequest, ...]


@dataclass(frozen=True)
class SimulateOptions:
    blocks: tuple[BlockStateCall, ...]
    trace_transfers: bool
    validation: bool
    full_transactions: bool


def block_overrides(value: Any) -> dict[str, Any]:
    spec = p.obj(value)
    unknown = set(spec) - _BLOCK_OVERRIDES
    if unknown:
        raise ParamError(f"unknown field {min(unknown)!r} in block overrides")
    if spec.get("withdrawals"):
        raise ParamError("withdrawals cannot be simulated on this chain")
    out: dict[str, Any] = {}
    for name in ("number", "time", "gasLimit", "baseFeePerGas"):
        if spec.get(name) is not None:
            out[name] = p.quantity(spec[name])
            if name in ("time", "gasLimit") and out[name] >= 1 << 64:  # geth: hexutil.Uint64
                raise ParamError(f"{name}: hex number > 64 bits")
    if spec.get("feeRecipient") is not None:
        out["feeRecipient"] = bytes(p.address(spec["feeRecipient"]))
    if spec.get("prevRandao") is not None:
        out["prevRandao"] = bytes(p.hash32(spec["prevRandao"]))
    return out


def sim_state(value: Any) -> tuple[dict[bytes, AccountOverride], dict[bytes, bytes]]:
    """State overrides, and the precompile moves among them."""
    moves: dict[bytes, bytes] = {}
    plain: dict[str, Any] = {}
    for raw_address, raw in p.obj(value).items():
        spec = dict(p.obj(raw))
        target = spec.pop("movePrecompileToAddress", None)
        if target is not None:
            moves[bytes(p.address(raw_address))] = bytes(p.address(target))
        plain[raw_address] = spec
    overrides = state_overrides(plain)
    for override in overrides.values():
        if override.nonce is not None and override.nonce >= 1 << 64:  # geth: hexutil.Uint64
            raise ParamError("nonce: hex number > 64 bits")
    return overrides, moves


def sim_call(value: Any) -> CallRequest:
    """A call of a simulated block: eth_call's transaction object, its gas and
    nonce 64-bit as geth's TransactionArgs has them."""
    request = call_request(value)
    for name, number in (("gas", request.gas), ("nonce", request.nonce)):
        if number is not None and number >= 1 << 64:
            raise ParamError(f"{name}: hex number > 64 bits")
    return request


def simulate_options(value: Any) -> SimulateOptions:
    spec = p.obj(value)
    unknown = set(spec) - {"blockStateCalls", "traceTransfers", "validation", "returnFullTransactions"}
    if unknown:
        raise ParamError(f"unknown field {min(unknown)!r} in simulation options")
    blocks = []
    raw_blocks = spec.get("blockStateCalls")
    for raw in p.list_of(p.obj, MAX_BLOCKS * 4)(raw_blocks if raw_blocks is not None else []):
        unknown = set(raw) - {"blockOverrides", "stateOverrides", "calls"}
        if unknown:
            raise ParamError(f"unknown field {min(unknown)!r} in block state call")
        state, moves = sim_state(raw["stateOverrides"]) if raw.get("stateOverrides") is not None else ({}, {})
        blocks.append(BlockStateCall(
            block_overrides(raw["blockOverrides"]) if raw.get("blockOverrides") is not None else {},
            state,
            moves,
            tuple(p.list_of(sim_call, MAX_CALLS)(raw.get("calls") or [])),
        ))
    flag = p.optional(p.boolean)
    return SimulateOptions(tuple(blocks), bool(flag(spec.get("traceTransfers"))), bool(flag(spec.get("validation"))),
                           bool(flag(spec.get("returnFullTransactions"))))


def sanitize_chain(base: PragueBlockHeader, blocks: tuple[BlockStateCall, ...]) -> list[SimBlock]:
    """geth's sanitizeChain and makeHeaders: each block's number and time, gaps
    filled with empty blocks, the rest of the header from the base block."""
    out: list[SimBlock] = []
    base_number = int(base.block_number)
    number, timestamp = base_number, int(base.timestamp)

    def header(n: int, t: int, o: dict[str, Any], call: BlockStateCall | None) -> SimBlock:
        return SimBlock(
            number=n, timestamp=t, gas_limit=o.get("gasLimit", int(base.gas_limit)),
            coinbase=o.get("feeRecipient", bytes(base.coinbase)), prev_randao=o.get("prevRandao", ZERO_HASH),
            base_fee=o.get("baseFeePerGas"), state=call.state if call else {}, moves=call.moves if call else {},
            calls=call.calls if call else (),
        )

    for call in blocks:
        o = call.overrides
        new_number = o.get("number", number + 1)
        if new_number <= number:
            raise e.SimBlockNumberOrder(f"block numbers must be in order: {new_number} <= {number}")
        if new_number - base_number > MAX_BLOCKS:
            raise e.SimTooManyBlocks("too many blocks")
        for gap in range(number + 1, new_number):
            timestamp += TIMESTAMP_INCREMENT
            out.append(header(gap, timestamp, {}, None))
        if "time" in o:
            if o["time"] <= timestamp:
                raise e.SimBlockTimestampOrder(f"block timestamps must be in order: {o['time']} <= {timestamp}")
            new_time = o["time"]
        else:
            new_time = timestamp + TIMESTAMP_INCREMENT
        out.append(header(new_number, new_time, o, call))
        number, timestamp = new_number, new_time
    return out


_TX_ERRORS: tuple[tuple[type[Exception], type[e.RpcError]], ...] = (
    (ex.NonceTooLow, e.SimNonceTooLow),
    (ex.NonceTooHigh, e.SimNonceTooHigh),
    (ex.FeeCapTooLow, e.SimBaseFeeTooLow),
    (ex.IntrinsicGasTooLow, e.SimIntrinsicGasTooLow),
    (ex.InsufficientFunds, e.SimInsufficientFunds),
    (BlockGasLimitReached, e.SimBlockGasLimitReached),
    (ex.InitCodeTooLarge, e.SimInitCodeTooLarge),
    (ex.TipAboveFeeCap, InvalidParams),
)
_MOVE_ERRORS = {"self": e.SimPrecompileSelfMove, "duplicate": e.SimPrecompileDuplicateMove}


def _rpc_error(exc: ex.InvalidTransaction) -> e.RpcError:
    if isinstance(exc, PrecompileMoveError):
        return _MOVE_ERRORS.get(exc.code, e.RpcError)(str(exc))
    for domain, api in _TX_ERRORS:
        if isinstance(exc, domain):
            return api(str(exc))
    return e.RpcError(str(exc))


def _call_result(call: SimCall, header: dict[str, Any], index: int, first_log: int) -> dict[str, Any]:
    tx_hash = d(call.transaction.hash)
    out: dict[str, Any] = {
        "returnData": d(call.output),
        "logs": [
            {"address": d(address), "topics": [d(t.to_bytes(32, "big")) for t in topics], "data": d(data),
             "blockNumber": header["number"], "blockHash": header["hash"], "blockTimestamp": header["timestamp"],
             "transactionHash": tx_hash, "transactionIndex": q(index), "logIndex": q(first_log + i),
             "removed": False}
            for i, (address, topics, data) in enumerate(call.logs)
        ],
        "gasUsed": q(call.gas_used),
        "maxUsedGas": q(call.max_used_gas),
        "status": q(1 if call.success else 0),
    }
    if call.reverted:
        reason = decode_revert_reason(call.output)
        out["error"] = {"code": REVERTED, "message": "execution reverted" + (f": {reason}" if reason else ""),
                        "data": d(call.output)}
    elif call.error is not None:
        out["error"] = {"code": VM_ERROR, "message": call.error}
    return out


def _transaction(call: SimCall, header: dict[str, Any], index: int) -> dict[str, Any]:
    tx = call.transaction.tx
    return {
        "blockHash": header["hash"], "blockNumber": header["number"], "blockTimestamp": header["timestamp"],
        "from": d(tx.sender), "gas": q(tx.gas), "gasPrice": q(call.effective_gas_price),
        "maxFeePerGas": q(tx.max_fee_per_gas), "maxPriorityFeePerGas": q(tx.max_priority_fee_per_gas),
        "hash": d(call.transaction.hash), "input": d(tx.data), "nonce": q(tx.nonce),
        "to": d(tx.to) if tx.to else None, "transactionIndex": q(index), "value": q(tx.value), "type": "0x2",
        "accessList": [{"address": d(a), "storageKeys": [d(s.to_bytes(32, "big")) for s in slots]}
                       for a, slots in tx.access_list],
        "chainId": q(call.transaction.chain_id), "v": "0x0", "r": "0x0", "s": "0x0", "yParity": "0x0",
    }


def _block(result: SimBlockResult, full: bool) -> dict[str, Any]:
    header = format_header(result.header)  # type: ignore[arg-type]
    header.pop("totalDifficulty", None)
    calls, first_log = [], 0
    for index, call in enumerate(result.calls):
        calls.append(_call_result(call, header, index, first_log))
        first_log += len(call.logs)
    header["size"] = q(len(rlp.encode([result.header, [c.transaction.encoded for c in result.calls], [], []])))
    header["transactions"] = (
        [_transaction(call, header, i) for i, call in enumerate(result.calls)] if full
        else [d(call.transaction.hash) for call in result.calls]
    )
    header["uncles"] = []
    header["withdrawals"] = []
    header["calls"] = calls
    return header


class SimulateV1Api:
    """Runs in the execution pool under `rpc.evm_timeout`, the whole chain of blocks together (geth's RPCEVMTimeout)."""

    def __init__(self, backend: Backend, gas_cap: int, timeout: float | None = 5.0) -> None:
        self.b = backend
        self.gas_cap = gas_cap
        self.timeout = timeout

    @rpc("eth_simulateV1", Param("payload", simulate_options), Param("block", p.block_id, BlockId(tag="latest")),
         blocking="evm")
    def simulate(self, options: SimulateOptions, block: BlockId) -> list[dict[str, Any]]:
        base = self.b.header_or_error(block)
        blocks = sanitize_chain(base, options.blocks)
        try:
            with deadline(self.timeout):
                results = simulate_blocks(
                    self.b.chain.state_db, self.b.chain_id, base, self.b.ancestors(base), blocks,
                    validation=options.validation, trace_transfers=options.trace_transfers, gas_cap=self.gas_cap,
                    next_base_fee=self.b.next_base_fee,
                )
        except ex.InvalidTransaction as exc:
            raise _rpc_error(exc) from None
        return [_block(result, options.full_transactions) for result in results]
