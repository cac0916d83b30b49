"""Tracing what already happened, and what a call would do: the drivers behind
debug_traceTransaction, debug_traceBlockBy* and debug_traceCall.

A block is re-executed on its parent's state by the node's own `BlockExecutor`
(deposits first, the L1-info deposit at index 0, the block's fee rules), on a
fresh overlay so nothing is written; the transactions before the traced one run
untraced, then a tracer is attached for one transaction at a time. A call is
run by the `Simulator` with the same tracer hooks, at eth_call's rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from eth._utils.generator import CachedIterable
from eth.abc import AtomicDatabaseAPI, BlockHeaderAPI, ComputationAPI, StateAPI
from eth.exceptions import Revert
from eth.vm.chain_context import ChainContext

from openledger_node.execution.block import BlockExecutor, execution_header
from openledger_node.execution.simulate.multiblock import moved_precompiles
from openledger_node.execution.simulate.request import (
    AccountOverride,
    CallRequest,
    vm_error_message,
)
from openledger_node.execution.simulate.simulator import DEFAULT_GAS_CAP, Simulator
from openledger_node.execution.simulate.tracing import (
    CallTraceState,
    CallTraceVM,
    TraceHooks,
    Tracer,
    TraceState,
    TraceVM,
)
from openledger_node.execution.simulate.vm import (
    DeadlineComputation,
    SimulationVM,
    deadline,
)
from openledger_node.execution.transactions import Transaction, is_deposit
from openledger_node.execution.types import BlockEnv, L1Origin
from openledger_node.execution.vm import OpenLedgerVM
from openledger_node.primitives import BASE_FEE_VAULT_ADDRESS, ZERO_ADDRESS, Hash32
from openledger_node.primitives import Address as OLAddress
from openledger_node.storage import OverlayDB

DEFAULT_TRACE_TIMEOUT = 5.0  # geth's defaultTraceTimeout


def stored_block_env(
    chain_id: int,
    header: BlockHeaderAPI,
    parent: BlockHeaderAPI,
    origin: tuple[L1Origin, int],
    prev_hashes: Iterable[Any],
) -> BlockEnv:
    """The environment a stored block was executed in, read from its header."""
    l1_origin, sequence_number = origin
    return BlockEnv(
        chain_id=chain_id,
        number=int(header.block_number),
        parent_hash=Hash32(bytes(header.parent_hash)),
        parent_state_root=Hash32(bytes(parent.state_root)),
        timestamp=int(header.timestamp),
        coinbase=OLAddress(bytes(header.coinbase)),
        gas_limit=int(header.gas_limit),
        base_fee=int(header.base_fee_per_gas or 0),
        l1_origin=l1_origin,
        sequence_number=sequence_number,
        # read lazily, once, however many states the replay builds on it
        prev_hashes=CachedIterable(cast(Iterable[Hash32], prev_hashes)),
    )


def _outcome(computation: ComputationAPI | None, status_ok: bool) -> tuple[bytes, str | None]:
    if computation is None:
        return b"", None if status_ok else "execution failed"
    if computation.is_success:
        return bytes(computation.output), None
    error = computation.error
    output = bytes(computation.output) if isinstance(error, Revert) else b""
    return output, vm_error_message(error)


class _Replay(BlockExecutor):
    """The node's block executor on the tracing VM, over an overlay."""

    def __init__(self, env: BlockEnv, db: AtomicDatabaseAPI) -> None:
        overlay = OverlayDB(db)
        super().__init__(env, overlay)
        self.state = TraceVM.build_state(overlay, execution_header(env), ChainContext(env.chain_id), env.prev_hashes)


class BlockTracer:
    """Re-executes one stored block's transactions in order, tracing those asked for."""

    def __init__(self, env: BlockEnv, db: AtomicDatabaseAPI, timeout: float | None = DEFAULT_TRACE_TIMEOUT) -> None:
        self.env = env
        self.timeout = timeout
        self._replay = _Replay(env, db)

    def skip(self, tx: Transaction) -> None:
        """Apply `tx` untraced (a transaction before the traced one)."""
        self._replay.apply(tx)

    def trace(self, tx: Transaction, tracer: Tracer) -> Any:
        """Apply `tx` with `tracer` attached; returns the tracer's result. A trace
        past the timeout raises `ExecutionTimeout` and leaves the replay as if
        `tx` had not been applied (`skip` it to go on). Deposits run without the
        timeout: the executor records a deposit that fails as failed instead of
        raising, and a deposit's gas is bounded by the rollup's rules anyway."""
        state = cast(TraceState, self._replay.state)
        hooks = TraceHooks(tracer, int(tx.gas))
        deposit = is_deposit(tx)
        extra: tuple[bytes, ...] = () if deposit else (bytes(self.env.coinbase), bytes(BASE_FEE_VAULT_ADDRESS))
        tracer.tx_start(state, bytes(tx.sender), int(tx.gas), extra)
        state.hooks = hooks
        try:
            with deadline(None if deposit else self.timeout):
                receipt = self._replay.apply(tx)
        finally:
            state.hooks = None
        output, error = _outcome(hooks.top, receipt.status == 1)
        tracer.tx_end(state, receipt.gas_used, output, error)
        return tracer.result()


class _TracingSimulator(Simulator):
    """The Simulator on the call-tracing VM, with a tracer attached to its one run."""

    def __init__(self, *args: Any, tracer: Tracer, gas_limit: int, precompiles: dict[bytes, Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tracer = tracer
        self.precompiles = precompiles
        self.gas_limit = gas_limit
        self.sender = bytes(ZERO_ADDRESS)
        self.hooks: TraceHooks | None = None
        self.state: StateAPI | None = None

    def _prepared_state(
        self,
        overrides: Mapping[bytes, AccountOverride] | None,
        fees: Any,
        vm: type[OpenLedgerVM] = SimulationVM,
    ) -> StateAPI:
        state = super()._prepared_state(overrides, fees, CallTraceVM)
        hooks = TraceHooks(self.tracer, self.gas_limit, self.precompiles)
        extra: tuple[bytes, ...] = (bytes(self.header.coinbase),)
        if fees.gas_price and self.base_fee:
            extra += (bytes(BASE_FEE_VAULT_ADDRESS),)
        self.tracer.tx_start(state, self.sender, self.gas_limit, extra)
        cast(CallTraceState, state).hooks = hooks
        self.hooks, self.state = hooks, state
        return state


def trace_call(
    db: AtomicDatabaseAPI,
    chain_id: int,
    header: BlockHeaderAPI,
    prev_hashes: Iterable[bytes],
    request: CallRequest,
    overrides: Mapping[bytes, AccountOverride] | None,
    tracer: Tracer,
    gas_cap: int = DEFAULT_GAS_CAP,
    timeout: float | None = DEFAULT_TRACE_TIMEOUT,
    precompile_moves: Mapping[bytes, bytes] | None = None,
) -> Any:
    """Run `request` as eth_call does, at `header`'s state, with `tracer` attached
    (and precompiles moved, as geth's state override can)."""
    gas = request.gas if request.gas is not None else int(header.gas_limit)
    if gas_cap and gas > gas_cap:
        gas = gas_cap
    precompiles = None
    if precompile_moves:
        table = {bytes(a): fn for a, fn in DeadlineComputation.get_precompiles().items()}
        precompiles = moved_precompiles(table, precompile_moves)
    simulator = _TracingSimulator(db, chain_id, header, prev_hashes, tracer=tracer, gas_limit=gas,
                                  precompiles=precompiles)
    simulator.sender = bytes(request.sender or ZERO_ADDRESS)
    with deadline(timeout):
        result = simulator.call(request, overrides, gas_cap)
    hooks, state = simulator.hooks, simulator.state
    assert hooks is not None and state is not None
    cast(CallTraceState, state).hooks = None
    output, error = _outcome(hooks.top, result.success)
    tracer.tx_end(state, result.gas_used, output, error)
    return tracer.result()


__all__ = ["DEFAULT_TRACE_TIMEOUT", "BlockTracer", "stored_block_env", "trace_call"]
