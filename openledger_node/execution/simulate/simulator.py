"""The `Simulator`: eth_call, eth_estimateGas and eth_createAccessList at one
header's state. It checks a `CallRequest` by geth's eth_call rules, runs it on
the simulation VM over a fresh overlay and turns the computation into a
`CallResult`, a gas estimate or an access list.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, cast

from eth._utils.address import generate_contract_address
from eth._utils.generator import CachedIterable
from eth.abc import AtomicDatabaseAPI, BlockHeaderAPI, ComputationAPI, StateAPI
from eth.constants import CREATE_CONTRACT_ADDRESS
from eth.exceptions import Revert
from eth.vm.chain_context import ChainContext
from eth.vm.forks.shanghai.constants import MAX_INITCODE_SIZE
from eth_typing import Address, Hash32

from openledger_node.exceptions import (
    FeeCapTooLow,
    GasRequiredExceedsAllowance,
    InitCodeTooLarge,
    InsufficientFunds,
    IntrinsicGasTooLow,
    InvalidTransaction,
    TipAboveFeeCap,
)
from openledger_node.execution.simulate.request import (
    AccountOverride,
    CallRequest,
    CallResult,
    vm_error_message,
)
from openledger_node.execution.simulate.tracer import (
    AccessListTracer,
    TracingComputation,
    TracingState,
    TracingVM,
)
from openledger_node.execution.simulate.vm import (
    CallVM,
    SimulatedTransaction,
    free_call_header,
)
from openledger_node.execution.vm import (
    GAS_TX,
    OpenLedgerVM,
    required_gas,
    transaction_gas_used,
)
from openledger_node.primitives import ZERO_ADDRESS
from openledger_node.storage import OverlayDB

DEFAULT_GAS_CAP = 50_000_000  # geth's --rpc.gascap default
CALL_STIPEND = 2_300


def apply_state_overrides(state: StateAPI, overrides: Mapping[bytes, AccountOverride]) -> None:
    """Write `eth_call`-style state overrides into `state` (`state` replaces an
    account's storage, `stateDiff` edits slots of it)."""
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


@dataclass(frozen=True)
class _Run:
    """One execution: the computation and the gas figures geth's estimator uses."""

    computation: ComputationAPI
    gas_used: int
    refund: int

    @property
    def failed(self) -> bool:
        return bool(self.computation.is_error)

    def result(self) -> CallResult:
        computation = self.computation
        if computation.is_success:
            return CallResult(bytes(computation.output), self.gas_used, True, b"", None)
        error = computation.error
        revert_data = bytes(computation.output) if isinstance(error, Revert) else b""
        return CallResult(b"", self.gas_used, False, revert_data, vm_error_message(error))


@dataclass(frozen=True)
class _Fees:
    fee_cap: int
    tip: int
    gas_price: int  # what the sender pays per gas; 0 makes the call free


class Simulator:
    """Runs calls at the state and in the block context of `header`.

    `prev_hashes`: the hashes of the header's parent and its ancestors, most recent
    first (`ChainStore.ancestor_hashes(parent)`), for BLOCKHASH; read lazily and
    once. Every run gets a fresh `OverlayDB` over `db`, so nothing is written to it.
    Cheap to build: make one per request (an instance is not meant to be shared
    between threads).
    """

    def __init__(
        self,
        db: AtomicDatabaseAPI,
        chain_id: int,
        header: BlockHeaderAPI,
        prev_hashes: Iterable[bytes] = (),
    ) -> None:
        self._db = db
        self._chain_context = ChainContext(chain_id)
        self.header = header
        self._prev_hashes: CachedIterable[Hash32] = CachedIterable(cast(Iterable[Hash32], prev_hashes))

    @property
    def base_fee(self) -> int:
        return int(getattr(self.header, "base_fee_per_gas", None) or 0)

    # --- public API -------------------------------------------------------------------

    def call(
        self,
        request: CallRequest,
        overrides: Mapping[bytes, AccountOverride] | None = None,
        gas_cap: int = DEFAULT_GAS_CAP,
    ) -> CallResult:
        """Execute `request` (eth_call). A failing or reverting call is a result;
        a call that could not start raises the transaction error geth gives
        (InsufficientFunds, IntrinsicGasTooLow, FeeCapTooLow, TipAboveFeeCap, ...)."""
        return self._run(request, overrides, self._gas_limit(request, gas_cap)).result()

    def estimate_gas(
        self,
        request: CallRequest,
        overrides: Mapping[bytes, AccountOverride] | None = None,
        gas_cap: int = DEFAULT_GAS_CAP,
    ) -> int:
        """The least gas limit with which `request` succeeds (geth's
        gasestimator.Estimate, with no error ratio, so the answer is exact).

        Raises ExecutionReverted when it reverts even with the most gas allowed,
        ExecutionFailed for another failure there, GasRequiredExceedsAllowance when
        that gas is not enough, InsufficientFunds when a fee-paying sender cannot
        cover the value, and the transaction errors `call` raises."""
        hi = (
            request.gas
            if request.gas is not None and request.gas >= GAS_TX
            else int(self.header.gas_limit)
        )
        fees = self._fees(request)
        if fees.fee_cap:
            sender = request.sender or ZERO_ADDRESS
            balance = int(self._prepared_state(overrides, fees).get_balance(Address(sender)))
            if request.value >= balance:  # geth: "insufficient funds for transfer"
                raise InsufficientFunds(sender, balance, request.value)
            hi = min(hi, (balance - request.value) // fees.fee_cap)
        if gas_cap and hi > gas_cap:
            hi = gas_cap

        # A plain transfer: 21000 is the least any transaction can use. As in
        # geth, a try that cannot even start (say the payer cannot afford 21000
        # gas) only means the search below decides.
        if not request.data and request.to:
            try:
                if not self._fails(request, overrides, GAS_TX):
                    return GAS_TX
            except InvalidTransaction:
                pass

        run = self._attempt(request, overrides, hi)
        if run is None:
            raise GasRequiredExceedsAllowance(hi)
        if run.failed:
            result = run.result()
            if result.error == "out of gas":
                raise GasRequiredExceedsAllowance(hi)
            result.output_or_raise()

        # Gas used (after refunds) bounds the need from below; with the refund
        # and the call stipend added back, and 64/63 for nested calls, it usually
        # suffices, which saves most of the search.
        lo = run.gas_used - 1
        optimistic = (run.gas_used + run.refund + CALL_STIPEND) * 64 // 63
        if optimistic < hi:
            if self._fails(request, overrides, optimistic):
                lo = optimistic
            else:
                hi = optimistic
        while lo + 1 < hi:
            mid = min((hi + lo) // 2, lo * 2)
            if self._fails(request, overrides, mid):
                lo = mid
            else:
                hi = mid
        return hi

    def create_access_list(
        self,
        request: CallRequest,
        overrides: Mapping[bytes, AccountOverride] | None = None,
        gas_cap: int = DEFAULT_GAS_CAP,
    ) -> tuple[list[tuple[bytes, list[int]]], int]:
        """The access list of `request` and the gas it uses with that list
        (eth_createAccessList). Runs again with the list found until a run
        touches nothing new, as geth does; `request.access_list` seeds it."""
        fees = self._fees(request)
        sender = request.sender or ZERO_ADDRESS
        if request.to:
            recipient = request.to
        else:
            nonce = request.nonce
            if nonce is None:
                nonce = int(self._prepared_state(overrides, fees).get_nonce(Address(sender)))
            recipient = generate_contract_address(Address(sender), nonce)
        precompiles = TracingComputation.get_precompiles()
        excluded = frozenset({sender, recipient, *precompiles})
        gas = self._gas_limit(request, gas_cap)

        access_list = AccessListTracer.seeded(request.access_list, excluded).access_list()
        while True:
            tracer = AccessListTracer.seeded(access_list, excluded)
            traced = replace(request, access_list=access_list)
            run = self._run(traced, overrides, gas, tracer=tracer)
            found = tracer.access_list()
            if found == access_list:
                return [(address, list(slots)) for address, slots in access_list], run.gas_used
            access_list = found

    # --- execution ----------------------------------------------------------------------

    def _gas_limit(self, request: CallRequest, gas_cap: int) -> int:
        gas = request.gas if request.gas is not None else int(self.header.gas_limit)
        if gas_cap and gas > gas_cap:
            gas = gas_cap
        return gas

    def _fees(self, request: CallRequest) -> _Fees:
        """geth's TransactionArgs.CallDefaults and ToMessage for a block with a base fee."""
        if request.gas_price is not None:
            if request.max_fee_per_gas is not None or request.max_priority_fee_per_gas is not None:
                raise InvalidTransaction(
                    "both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified"
                )
            price = request.gas_price
            return _Fees(price, price, price)
        fee_cap = request.max_fee_per_gas or 0
        tip = request.max_priority_fee_per_gas or 0
        price = min(tip + self.base_fee, fee_cap) if (fee_cap or tip) else 0
        return _Fees(fee_cap, tip, price)

    def _prepared_state(
        self,
        overrides: Mapping[bytes, AccountOverride] | None,
        fees: _Fees,
        vm: type[OpenLedgerVM] = CallVM,
    ) -> StateAPI:
        """A state over a fresh overlay, with the overrides applied. A free call runs
        with base fee 0, as geth lowers it so that fee cap >= base fee holds."""
        header = self.header
        if fees.gas_price == 0 and self.base_fee:
            header = free_call_header(header)
        state = vm.build_state(OverlayDB(self._db), header, self._chain_context, self._prev_hashes)
        apply_state_overrides(state, overrides or {})
        state.lock_changes()
        return state

    def _run(
        self,
        request: CallRequest,
        overrides: Mapping[bytes, AccountOverride] | None,
        gas: int,
        tracer: AccessListTracer | None = None,
    ) -> _Run:
        """Check `request` as geth's state transition does for eth_call (its
        preCheck less the nonce), then run it."""
        fees = self._fees(request)
        state = self._prepared_state(overrides, fees, TracingVM if tracer is not None else CallVM)
        if tracer is not None:
            cast(TracingState, state).access_tracer = tracer
        sender = Address(request.sender or ZERO_ADDRESS)
        tx = SimulatedTransaction(
            sender=sender,
            to=Address(request.to or CREATE_CONTRACT_ADDRESS),
            gas=gas,
            max_fee_per_gas=fees.fee_cap,
            max_priority_fee_per_gas=fees.tip,
            value=request.value,
            data=request.data,
            nonce=int(state.get_nonce(sender)),
            access_list=request.access_list,
        )

        # No nonce check, as geth's eth_call, eth_estimateGas and
        # eth_createAccessList (SkipNonceChecks): wallets fill in the pending
        # nonce, which is ahead of the state while earlier transactions wait in
        # the pool. CREATE still takes its address from the state's nonce, as
        # the EVM does in geth.
        if fees.fee_cap or fees.tip:  # geth skips these for a call with no fee fields
            if fees.tip > fees.fee_cap:
                raise TipAboveFeeCap(fees.tip, fees.fee_cap)
            if fees.fee_cap < self.base_fee:
                raise FeeCapTooLow(fees.fee_cap, self.base_fee, "base fee", sender)
        balance = int(state.get_balance(sender))
        cost = gas * fees.fee_cap + request.value
        if balance < cost:
            raise InsufficientFunds(sender, balance, cost)
        need = required_gas(tx)
        if gas < need:
            raise IntrinsicGasTooLow(gas, need)
        if not request.to and len(request.data) > MAX_INITCODE_SIZE:
            raise InitCodeTooLarge(len(request.data), MAX_INITCODE_SIZE)

        computation = state.get_transaction_executor()(cast(Any, tx))
        gas_used = transaction_gas_used(tx, computation)
        peak = gas - int(computation.get_gas_remaining())
        floor = int(getattr(computation, "data_floor_gas", 0))
        return _Run(computation, gas_used, refund=peak + floor - gas_used)

    def _attempt(
        self, request: CallRequest, overrides: Mapping[bytes, AccountOverride] | None, gas: int
    ) -> _Run | None:
        """A run with `gas`, or None when that is below the intrinsic gas (or the
        EIP-7623 floor): the estimator then needs more, as geth's treats it."""
        try:
            return self._run(request, overrides, gas)
        except IntrinsicGasTooLow:
            return None

    def _fails(
        self, request: CallRequest, overrides: Mapping[bytes, AccountOverride] | None, gas: int
    ) -> bool:
        run = self._attempt(request, overrides, gas)
        return run is None or run.failed
