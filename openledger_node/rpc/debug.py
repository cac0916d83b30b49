"""The debug namespace: geth's transaction tracing (debug_traceTransaction,
debug_traceCall, debug_traceBlockByNumber/ByHash) with its built-in tracers, and
the raw consensus encodings of blocks, headers, transactions and receipts.

Options are parsed here into a tracer from `execution.simulate.tracers`; the
re-execution is `execution.simulate.replay`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, cast

import rlp
from eth.vm.forks.prague.blocks import PragueBlockHeader

from openledger_node.exceptions import ExecutionTimeout
from openledger_node.execution.block import execution_header
from openledger_node.execution.simulate import AccountOverride, CallRequest
from openledger_node.execution.simulate.multiblock import PrecompileMoveError
from openledger_node.execution.simulate.replay import (
    DEFAULT_TRACE_TIMEOUT,
    BlockTracer,
    stored_block_env,
    trace_call,
)
from openledger_node.execution.simulate.tracers import (
    CallTracer,
    FourByteTracer,
    MuxTracer,
    NoopTracer,
    PrestateTracer,
    StructLogConfig,
    StructLogger,
)
from openledger_node.execution.simulate.tracing import Tracer
from openledger_node.rpc import params as p
from openledger_node.rpc.backend import Backend, FullBlock
from openledger_node.rpc.errors import (
    BlockNotTraceable,
    JsTracerUnsupported,
    RpcError,
    TracerNotFound,
    TransactionNotFound,
)
from openledger_node.rpc.format import d
from openledger_node.rpc.params import BlockId, ParamError
from openledger_node.rpc.registry import Param, rpc
from openledger_node.rpc.simulate_v1 import block_overrides as _block_overrides
from openledger_node.rpc.simulate_v1 import sim_call, sim_state

LATEST = BlockId(tag="latest")
NATIVE_TRACERS = ("callTracer", "prestateTracer", "4byteTracer", "muxTracer", "noopTracer")


_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration(value: Any) -> float:
    """A Go duration ("5s", "1m30s", "500ms"), as geth's `timeout` takes it."""
    text = p.string(value)
    body = text[1:] if text[:1] in "+-" else text
    pos, total = 0, 0.0
    for match in _DURATION.finditer(body):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not body or pos != len(body) or text.startswith("-"):
        raise ParamError(f'time: invalid duration "{text}"')
    return total


def _flag(spec: dict[str, Any], name: str) -> bool:
    value = spec.get(name)
    return False if value is None else p.boolean(value)


@dataclass(frozen=True)
class TraceConfig:
    """geth's TraceConfig, and TraceCallConfig's state and block overrides."""

    tracer: str | None = None
    tracer_config: dict[str, Any] = field(default_factory=dict)
    timeout: float = DEFAULT_TRACE_TIMEOUT
    struct_log: StructLogConfig = field(default_factory=StructLogConfig)
    state_overrides: dict[bytes, AccountOverride] | None = None
    precompile_moves: dict[bytes, bytes] = field(default_factory=dict)
    block_overrides: dict[str, Any] = field(default_factory=dict)

    def new_tracer(self) -> Tracer:
        if not self.tracer:
            return StructLogger(self.struct_log)
        return native_tracer(self.tracer, self.tracer_config)


def native_tracer(name: str, config: dict[str, Any]) -> Tracer:
    """One of geth's native tracers by name, with its tracerConfig."""
    if name == "muxTracer":
        tracers = {}
        for inner, inner_config in config.items():
            if inner == "muxTracer":
                raise TracerNotFound(inner, NATIVE_TRACERS)
            tracers[inner] = native_tracer(inner, p.obj(inner_config) if inner_config is not None else {})
        return MuxTracer(tracers)
    if name == "callTracer":
        return CallTracer(only_top_call=_flag(config, "onlyTopCall"), with_log=_flag(config, "withLog"))
    if name == "prestateTracer":
        return PrestateTracer(diff_mode=_flag(config, "diffMode"), disable_code=_flag(config, "disableCode"),
                              disable_storage=_flag(config, "disableStorage"))
    if name == "4byteTracer":
        return FourByteTracer()
    if name == "noopTracer":
        return NoopTracer()
    raise TracerNotFound(name, NATIVE_TRACERS)


def trace_config(value: Any, *, call: bool = False) -> TraceConfig:
    spec = p.obj(value)
    tracer = p.optional(p.string)(spec.get("tracer"))
    if tracer and (tracer not in NATIVE_TRACERS) and ("{" in tracer or "function" in tracer):
        raise JsTracerUnsupported(NATIVE_TRACERS)
    raw_config = spec.get("tracerConfig")
    tracer_config = p.obj(raw_config) if raw_config is not None else {}
    if tracer:
        native_tracer(tracer, tracer_config)  # an unknown tracer or a bad tracerConfig fails here, before any work
    limit = p.optional(p.hex_or_decimal64)(spec.get("limit")) or 0
    timeout = duration(spec["timeout"]) if spec.get("timeout") is not None else DEFAULT_TRACE_TIMEOUT
    overrides: dict[bytes, AccountOverride] | None = None
    moves: dict[bytes, bytes] = {}
    if call and spec.get("stateOverrides") is not None:
        overrides, moves = sim_state(spec["stateOverrides"])
    block_overrides = _block_overrides(spec["blockOverrides"]) if call and spec.get("blockOverrides") else {}
    return TraceConfig(
        tracer=tracer,
        tracer_config=tracer_config,
        timeout=timeout,
        struct_log=StructLogConfig(
            disable_stack=_flag(spec, "disableStack"),
            disable_storage=_flag(spec, "disableStorage"),
            enable_memory=_flag(spec, "enableMemory"),
            enable_return_data=_flag(spec, "enableReturnData"),
            limit=limit,
        ),
        state_overrides=overrides,
        precompile_moves=moves,
        block_overrides=block_overrides,
    )


def trace_call_config(value: Any) -> TraceConfig:
    return trace_config(value, call=True)


DEFAULT_CONFIG = TraceConfig()


def _block_rlp(block: FullBlock) -> bytes:
    """The block as geth encodes it: header, transactions (typed ones as byte
    strings), and the empty uncle and withdrawal lists."""
    txs: list[Any] = [rlp.decode(raw) if raw[0] >= 0xC0 else raw for raw in block.raw_transactions]
    return bytes(rlp.encode([block.header, txs, [], []]))


_HEADER_FIELDS = {"number": "block_number", "time": "timestamp", "gasLimit": "gas_limit",
                  "feeRecipient": "coinbase", "prevRandao": "mix_hash", "baseFeePerGas": "base_fee_per_gas"}


def _overridden(header: PragueBlockHeader, overrides: dict[str, Any]) -> PragueBlockHeader:
    """The block context of a traced call with geth's block overrides applied."""
    fields = {_HEADER_FIELDS[name]: value for name, value in overrides.items() if name in _HEADER_FIELDS}
    return cast(PragueBlockHeader, header.copy(**fields))


class DebugApi:
    """Tracing runs in the execution pool; each transaction under `timeout`
    (geth's 5 s default), so one request costs at most a block's replay plus that."""

    def __init__(self, backend: Backend, gas_cap: int) -> None:
        self.b = backend
        self.gas_cap = gas_cap

    # --- replay ------------------------------------------------------------------

    def _block_tracer(self, header: PragueBlockHeader, timeout: float) -> BlockTracer:
        if int(header.block_number) == 0:
            raise BlockNotTraceable("genesis is not traceable")
        chain = self.b.chain
        parent = chain.header_by_hash(bytes(header.parent_hash))
        env = stored_block_env(
            self.b.chain_id, header, parent, chain.l1_origin(header), chain.ancestor_hashes(parent)
        )
        return BlockTracer(env, chain.state_db, timeout)

    def _trace_block(self, header: PragueBlockHeader, config: TraceConfig) -> list[dict[str, Any]]:
        """geth's block trace: one entry per transaction, `{txHash, result}`, or
        `{txHash, error}` for one whose trace failed (it still applies, untraced)."""
        block = self.b.full_block(header)
        replay = self._block_tracer(header, config.timeout)
        entries: list[dict[str, Any]] = []
        for tx in block.transactions:
            try:
                entries.append({"txHash": d(tx.hash), "result": replay.trace(tx, config.new_tracer())})
            except ExecutionTimeout as exc:
                entries.append({"txHash": d(tx.hash), "error": str(exc)})
                replay.skip(tx)
        return entries

    @rpc("debug_traceTransaction", Param("hash", p.hash32), Param("config", trace_config, DEFAULT_CONFIG),
         blocking="evm")
    def trace_transaction(self, tx_hash: bytes, config: TraceConfig) -> Any:
        location = self.b.chain.tx_location(tx_hash)
        if location is None:
            raise TransactionNotFound()
        tracer = config.new_tracer()  # an unknown tracer fails before any work
        header = self.b.chain.header_by_hash(location.block_hash)
        block = self.b.full_block(header)
        replay = self._block_tracer(header, config.timeout)
        for tx in block.transactions[: location.index]:
            replay.skip(tx)
        return replay.trace(block.transactions[location.index], tracer)

    @rpc("debug_traceBlockByNumber", Param("block", p.block_number_or_tag), Param("config", trace_config, DEFAULT_CONFIG),
         blocking="evm")
    def trace_block_by_number(self, block: BlockId, config: TraceConfig) -> list[dict[str, Any]]:
        config.new_tracer()
        header = self.b.header(block)
        if header is None:
            raise BlockNotTraceable(f"block #{block.number} not found")
        return self._trace_block(header, config)

    @rpc("debug_traceBlockByHash", Param("hash", p.hash32), Param("config", trace_config, DEFAULT_CONFIG),
         blocking="evm")
    def trace_block_by_hash(self, block_hash: bytes, config: TraceConfig) -> list[dict[str, Any]]:
        config.new_tracer()
        header = self.b.header(BlockId(block_hash=block_hash))  # type: ignore[arg-type]
        if header is None:
            raise BlockNotTraceable(f"block 0x{block_hash.hex()} not found")
        return self._trace_block(header, config)

    @rpc("debug_traceCall", Param("transaction", sim_call), Param("block", p.block_id, LATEST),
         Param("config", trace_call_config, DEFAULT_CONFIG), blocking="evm")
    def trace_call(self, request: CallRequest, block: BlockId, config: TraceConfig) -> Any:
        tracer = config.new_tracer()
        chain = self.b.chain
        if block.tag == "pending":
            env = self.b.pending_env()
            header, ancestors = execution_header(env), env.prev_hashes
        else:
            header = self.b.header_or_error(block)
            ancestors = self.b.ancestors(header)
        if config.block_overrides:
            header = _overridden(header, config.block_overrides)
        try:
            return trace_call(chain.state_db, self.b.chain_id, header, ancestors, request, config.state_overrides,
                              tracer, self.gas_cap, config.timeout, config.precompile_moves)
        except PrecompileMoveError as exc:  # geth: a plain error from its state override
            raise RpcError(str(exc)) from None

    # --- raw encodings --------------------------------------------------------------

    @rpc("debug_getRawTransaction", Param("hash", p.hash32))
    def get_raw_transaction(self, tx_hash: bytes) -> str | None:
        found = self.b.transaction(tx_hash)
        return None if found is None else d(found.raw)

    def _header(self, block: BlockId) -> PragueBlockHeader:
        header = self.b.header(block)
        if header is None:
            raise BlockNotTraceable(f"block {block} not found")
        return header

    @rpc("debug_getRawHeader", Param("block", p.block_id))
    def get_raw_header(self, block: BlockId) -> str:
        return d(rlp.encode(self._header(block)))

    @rpc("debug_getRawBlock", Param("block", p.block_id))
    def get_raw_block(self, block: BlockId) -> str:
        return d(_block_rlp(self.b.full_block(self._header(block))))

    @rpc("debug_getRawReceipts", Param("block", p.block_id))
    def get_raw_receipts(self, block: BlockId) -> list[str]:
        header = self._header(block)
        return [d(receipt.encode()) for receipt in self.b.chain.receipts(bytes(header.hash))]


__all__ = ["DebugApi", "TraceConfig", "trace_config"]
