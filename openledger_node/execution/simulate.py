"""Simulated calls: what eth_call, eth_estimateGas and eth_createAccessList execute.

A call runs as an unsigned transaction at the state and in the block context of
one header, through the same py-evm executor that applies real transactions (so
its gas used is what a receipt would say), and on a fresh in-memory overlay, so
nothing it writes persists. Only the checks before execution differ from a
block's, and they follow geth's eth_call: no signature, the nonce is checked only
when the caller gives one, the sender's code is ignored, and with no fee fields
the gas is free (the base fee is then taken as 0, as geth does) while the value
must still be covered.

The JSON-RPC handlers parse their parameters into `CallRequest` and
`AccountOverride` and call a `Simulator` built for the block they resolved.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, cast

from eth._utils.address import generate_contract_address
from eth._utils.generator import CachedIterable
from eth.abc import (
    AtomicDatabaseAPI,
    BlockHeaderAPI,
    ComputationAPI,
    OpcodeAPI,
    StateAPI,
)
from eth.constants import CREATE_CONTRACT_ADDRESS
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
from eth.vm import opcode_values
from eth.vm.chain_context import ChainContext
from eth.vm.forks.berlin.transactions import calculate_txn_intrinsic_gas_berlin
from eth.vm.forks.prague.computation import PragueComputation
from eth.vm.forks.shanghai.constants import MAX_INITCODE_SIZE
from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_typing import Address, Hash32
from lru import LRU

from openledger_node.exceptions import (
    ExecutionFailed,
    ExecutionReverted,
    FeeCapTooLow,
    GasRequiredExceedsAllowance,
    InitCodeTooLarge,
    InsufficientFunds,
    IntrinsicGasTooLow,
    InvalidTransaction,
    NonceTooHigh,
    NonceTooLow,
    TipAboveFeeCap,
)
from openledger_node.execution.accountdb import SharedReadAccountDB
from openledger_node.execution.vm import (
    GAS_TX,
    OpenLedgerState,
    OpenLedgerTransactionExecutor,
    OpenLedgerVM,
    required_gas,
    transaction_gas_used,
)
from openledger_node.primitives import ZERO_ADDRESS
from openledger_node.storage import OverlayDB

DEFAULT_GAS_CAP = 50_000_000  # geth's --rpc.gascap default
CALL_STIPEND = 2_300

AccessList = tuple[tuple[bytes, tuple[int, ...]], ...]


# --- requests and results -----------------------------------------------------------


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
    nonce: int | None = None  # checked against the state only when given
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


# --- the executor a simulation runs on ------------------------------------------------


@dataclass(frozen=True)
class SimulatedTransaction:
    """The fields py-evm's transaction executor reads, with no signature: the
    sender is given. Fee fields are EIP-1559 (a legacy price is cap = tip)."""

    sender: Address
    to: Address  # CREATE_CONTRACT_ADDRESS (b"") for a creation
    gas: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    value: int
    data: bytes
    nonce: int
    access_list: AccessList
    type_id: int = 2

    @property
    def gas_price(self) -> int:
        return self.max_fee_per_gas

    @property
    def intrinsic_gas(self) -> int:
        return int(calculate_txn_intrinsic_gas_berlin(cast(Any, self)))

    @property
    def authorization_list(self) -> tuple[()]:
        return ()


class SimulationExecutor(OpenLedgerTransactionExecutor):
    """The node's executor (fees, vaults, refunds, EIP-7623 floor) minus the block's
    transaction validation: the Simulator checks the call by eth_call's rules first."""

    def validate_transaction(self, transaction: Any) -> None:
        pass


class SimulationState(OpenLedgerState):
    account_db_class = SharedReadAccountDB
    transaction_executor_class = SimulationExecutor


class SimulationVM(OpenLedgerVM):
    _state_class = SimulationState


# --- access-list tracing (geth's logger.AccessListTracer) -----------------------------


@dataclass
class AccessListTracer:
    """Collects the addresses and slots the EVM touches, as geth's tracer does: the
    slots of SLOAD/SSTORE, the addresses of BALANCE, EXTCODE*, SELFDESTRUCT and the
    CALL family, reverted frames included. `excluded` addresses (sender, recipient
    or created contract, precompiles) are never added on their own, but an address
    whose slots are touched is listed with them."""

    excluded: frozenset[bytes]
    entries: dict[bytes, set[int]] = field(default_factory=dict)

    @classmethod
    def seeded(cls, access_list: AccessList, excluded: frozenset[bytes]) -> AccessListTracer:
        tracer = cls(excluded)
        for address, slots in access_list:
            tracer.add_address(address)
            for slot in slots:
                tracer.add_slot(address, slot)
        return tracer

    def add_address(self, address: bytes) -> None:
        if address not in self.excluded:
            self.entries.setdefault(address, set())

    def add_slot(self, address: bytes, slot: int) -> None:
        self.entries.setdefault(address, set()).add(slot)

    def access_list(self) -> AccessList:
        """Sorted by address, then slot, as geth sorts it."""
        return tuple((address, tuple(sorted(self.entries[address]))) for address in sorted(self.entries))


def _word_to_int(item: int | bytes) -> int:
    return item if isinstance(item, int) else int.from_bytes(item, "big")


def _word_to_address(item: int | bytes) -> bytes:
    return (_word_to_int(item) & ((1 << 160) - 1)).to_bytes(20, "big")


class _TracedOpcode(OpcodeAPI):
    """Reports an opcode's operand to the state's tracer, then runs the opcode.

    `depth` is the stack position of the operand (1: top); the stack is left as
    it was. With too few items nothing is recorded and the opcode fails as usual."""

    def __init__(self, inner: Callable[..., None], depth: int, is_slot: bool) -> None:
        self.inner = inner
        # Some table entries are plain functions wrapping an opcode (SELFDESTRUCT's
        # deprecation warning), so the mnemonic may sit one level down.
        named = getattr(inner, "__wrapped__", inner)
        self.mnemonic = str(getattr(inner, "mnemonic", getattr(named, "mnemonic", "")))
        self.depth = depth
        self.is_slot = is_slot

    def __call__(self, computation: ComputationAPI) -> None:
        tracer = cast(TracingState, computation.state).access_tracer
        if tracer is not None:
            try:
                items = computation.stack_pop_any(self.depth)
            except InsufficientStack:
                items = ()
            for item in reversed(items):
                if isinstance(item, int):
                    computation.stack_push_int(item)
                else:
                    computation.stack_push_bytes(item)
            if items:
                operand = items[-1]
                if self.is_slot:
                    tracer.add_slot(computation.msg.storage_address, _word_to_int(operand))
                else:
                    tracer.add_address(_word_to_address(operand))
        self.inner(computation=computation)

    @classmethod
    def as_opcode(cls, logic_fn: Callable[..., Any], mnemonic: str, gas_cost: int) -> OpcodeAPI:
        raise NotImplementedError("traced opcodes wrap an existing opcode")


_TRACED: dict[int, tuple[int, bool]] = {  # opcode -> (operand's stack position, is a slot)
    opcode_values.SLOAD: (1, True),
    opcode_values.SSTORE: (1, True),
    opcode_values.BALANCE: (1, False),
    opcode_values.EXTCODESIZE: (1, False),
    opcode_values.EXTCODECOPY: (1, False),
    opcode_values.EXTCODEHASH: (1, False),
    opcode_values.SELFDESTRUCT: (1, False),
    opcode_values.CALL: (2, False),
    opcode_values.CALLCODE: (2, False),
    opcode_values.DELEGATECALL: (2, False),
    opcode_values.STATICCALL: (2, False),
}


class TracingComputation(PragueComputation):
    opcodes = {  # noqa: RUF012  (py-evm's opcode table is a class attribute)
        value: _TracedOpcode(fn, *_TRACED[value]) if value in _TRACED else fn
        for value, fn in PragueComputation.opcodes.items()
    }


class TracingState(SimulationState):
    computation_class = TracingComputation
    access_tracer: AccessListTracer | None = None


class TracingVM(OpenLedgerVM):
    _state_class = TracingState


# --- the simulator ----------------------------------------------------------------------


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


_FREE_CALL_HEADERS: LRU[bytes, BlockHeaderAPI] = LRU(64)


def _free_call_header(header: BlockHeaderAPI) -> BlockHeaderAPI:
    """`header` with base fee 0, for a call that pays nothing, made once per
    header (a copy validates every field: about a tenth of a simple eth_call)."""
    key = bytes(header.hash)
    free = _FREE_CALL_HEADERS.get(key)
    if free is None:
        free = header.copy(base_fee_per_gas=0)
        _FREE_CALL_HEADERS[key] = free
    return free


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
        vm: type[OpenLedgerVM] = SimulationVM,
    ) -> StateAPI:
        """A state over a fresh overlay, with the overrides applied. A free call runs
        with base fee 0, as geth lowers it so that fee cap >= base fee holds."""
        header = self.header
        if fees.gas_price == 0 and self.base_fee:
            header = _free_call_header(header)
        state = vm.build_state(OverlayDB(self._db), header, self._chain_context, self._prev_hashes)
        for address, override in (overrides or {}).items():
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
        state.lock_changes()
        return state

    def _run(
        self,
        request: CallRequest,
        overrides: Mapping[bytes, AccountOverride] | None,
        gas: int,
        tracer: AccessListTracer | None = None,
    ) -> _Run:
        """Check `request` as geth's state transition does for eth_call, then run it."""
        fees = self._fees(request)
        state = self._prepared_state(overrides, fees, TracingVM if tracer is not None else SimulationVM)
        if tracer is not None:
            cast(TracingState, state).access_tracer = tracer
        sender = Address(request.sender or ZERO_ADDRESS)
        state_nonce = int(state.get_nonce(sender))
        tx = SimulatedTransaction(
            sender=sender,
            to=Address(request.to or CREATE_CONTRACT_ADDRESS),
            gas=gas,
            max_fee_per_gas=fees.fee_cap,
            max_priority_fee_per_gas=fees.tip,
            value=request.value,
            data=request.data,
            nonce=state_nonce if request.nonce is None else request.nonce,
            access_list=request.access_list,
        )

        if request.nonce is not None:
            if request.nonce < state_nonce:
                raise NonceTooLow(sender, request.nonce, state_nonce)
            if request.nonce > state_nonce:
                raise NonceTooHigh(sender, request.nonce, state_nonce)
        if fees.fee_cap or fees.tip:  # geth skips these for a call with no fee fields
            if fees.tip > fees.fee_cap:
                raise TipAboveFeeCap(fees.tip, fees.fee_cap)
            if fees.fee_cap < self.base_fee:
                raise FeeCapTooLow(fees.fee_cap, self.base_fee, "base fee")
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


__all__ = [
    "DEFAULT_GAS_CAP",
    "AccessListTracer",
    "AccountOverride",
    "CallRequest",
    "CallResult",
    "SimulatedTransaction",
    "Simulator",
    "decode_revert_reason",
    "vm_error_message",
]
