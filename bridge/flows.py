"""OPEN across the bridge as a user moves it: deposits into the rollup and
withdrawals out of it, end to end.

A `Bridge` reads an L1 endpoint and an L2 endpoint (both plain JSON-RPC, both
through `L1Client`) and the deployment's contracts; what it writes goes through
a `TxManager` the caller builds for the chain and key (the L1 one for `deposit`,
`prove` and `finalize`; one on the L2 endpoint for `withdraw`).

A withdrawal (DESIGN section 5; the portal's rules in
`contracts/src/L1/OpenLedgerPortal.sol`) goes through these stages, which
`status` names with what the withdrawal waits for:

    initiated           its L2 transaction is sent but not in a block yet
    waiting-for-output  initiated on L2 in block N; no output on L1 covers N yet
    ready-to-prove      an output on L1 covers block N (`prove` opens it with a
                        storage proof of sentMessages[hash] at that output's block)
    proven              proven on L1; waits until the output is final (its
                        challenge window passed, no open challenge) and the proof
                        is `proofMaturityDelay` old
    ready-to-finalize   both passed: `finalize` pays the OPEN to the target
    finalized           paid, once

A withdrawal is named by its hash (the key of `sentMessages`, found among the
message passer's `MessagePassed` events on L2) or by the hash of the L2
transaction that started it (one lookup instead of a scan of the L2 logs).
Refusals are `BridgeError`s whose message names the problem; those that go
away by waiting (no output yet, not final yet) are also `TemporaryError`s.
"""

from __future__ import annotations

import datetime
import enum
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

from bridge.bindings import OPEN_TOKEN, PORTAL, ROLLUP, Binding, binding
from bridge.deploy import L1Deployment
from bridge.errors import TxReverted
from bridge.l1 import L1Client, Receipt
from bridge.l1 import Log as RpcLog
from bridge.txmgr import TxCandidate, TxManager
from openledger_node.derivation.deposits import L1Log, derive_deposits
from openledger_node.exceptions import (
    ExecutionReverted,
    OpenLedgerError,
    TemporaryError,
)
from openledger_node.execution.output import OutputRootProof
from openledger_node.execution.types import Log as ExecutionLog
from openledger_node.execution.withdrawals import (
    MESSAGE_PASSED,
    Withdrawal,
    sent_messages_slot,
    withdrawals_in,
)
from openledger_node.primitives import (
    L2_TO_L1_MESSAGE_PASSER_ADDRESS,
    OPEN,
    Address,
    Hash32,
    Wei,
    addr,
)

MESSAGE_PASSER = binding("L2ToL1MessagePasser")
ZERO_ADDRESS = Address(bytes(20))
DEFAULT_WITHDRAWAL_GAS_LIMIT = 100_000  # the passer's own default for a plain transfer
DEFAULT_DEPOSIT_GAS_LIMIT = 100_000
LOG_CHUNK = 5_000  # L2 blocks per eth_getLogs query when scanning for a withdrawal hash


# --- errors ----------------------------------------------------------------------------


class BridgeError(OpenLedgerError):
    """A deposit or withdrawal step that cannot be done; the message says why."""


class UnknownWithdrawal(BridgeError):
    """No MessagePassed event on L2 carries this withdrawal hash (or transaction)."""


class WithdrawalPending(BridgeError, TemporaryError):
    """The withdrawal's L2 transaction is not in a block yet."""


class OutputNotPosted(BridgeError, TemporaryError):
    """No output on L1 covers the withdrawal's L2 block yet."""


class OutputMismatch(BridgeError):
    """The L2 endpoint's block does not open the output root on L1."""


class WithdrawalNotProven(BridgeError):
    """Finalizing a withdrawal that has no standing proof on L1."""


class WithdrawalAlreadyProven(BridgeError):
    """Proving a withdrawal whose proof on L1 still stands."""


class WithdrawalNotReady(BridgeError, TemporaryError):
    """The output is not final yet, or the proof not mature."""


class WithdrawalAlreadyFinalized(BridgeError):
    """The portal has paid this withdrawal already."""


class InsufficientOpen(BridgeError):
    """The account holds less OPEN than the step moves."""


class InsufficientAllowance(BridgeError):
    """The portal may not pull the deposit's OPEN from the account."""


class PortalRefused(BridgeError):
    """An L1 contract refused the transaction with `error` (decoded, when known)."""

    def __init__(self, message: str, error: str | None = None) -> None:
        self.error = error
        super().__init__(message)


# --- what the steps return -------------------------------------------------------------


class Stage(enum.Enum):
    INITIATED = ("initiated", "initiated on L2")
    WAITING_FOR_OUTPUT = ("waiting-for-output", "waiting for an output on L1")
    READY_TO_PROVE = ("ready-to-prove", "ready to prove")
    PROVEN = ("proven", "proven, waiting")
    READY_TO_FINALIZE = ("ready-to-finalize", "ready to finalize")
    FINALIZED = ("finalized", "finalized")

    def __init__(self, key: str, label: str) -> None:
        self.key = key
        self.label = label


@dataclass(frozen=True)
class InitiatedWithdrawal:
    """A withdrawal with where it was initiated on L2."""

    withdrawal: Withdrawal
    l2_block: int
    l2_transaction: Hash32

    @property
    def hash(self) -> Hash32:
        return self.withdrawal.hash


@dataclass(frozen=True)
class Output:
    """An output on the rollup contract (output index = batch index)."""

    index: int
    root: Hash32
    l2_block: int
    submitted_at: int  # L1 time
    challenge_deadline: int  # L1 time from which it is final, unless challenged


@dataclass(frozen=True)
class ProvenWithdrawal:
    """The portal's `provenWithdrawals` record of a withdrawal."""

    output_root: Hash32
    timestamp: int  # L1 time of the proof; 0: never proven
    output_index: int


@dataclass(frozen=True)
class WithdrawalStatus:
    stage: Stage
    detail: str  # what happened and what it waits for
    withdrawal: InitiatedWithdrawal | None  # None while its transaction is pending
    output: Output | None = None  # the covering output, or the one it was proven against
    ready_at: int | None = None  # L1 time from which a proven withdrawal can be finalized

    def __str__(self) -> str:
        return f"{self.stage.label}: {self.detail}"


@dataclass(frozen=True)
class ProveResult:
    withdrawal: InitiatedWithdrawal
    output: Output
    receipt: Receipt
    ready_at: int  # L1 time from which it can be finalized (if no challenge intervenes)


@dataclass(frozen=True)
class FinalizeResult:
    withdrawal: InitiatedWithdrawal
    receipt: Receipt
    call_succeeded: bool  # the target call's outcome (True without data); the OPEN is paid either way


@dataclass(frozen=True)
class DepositResult:
    receipt: Receipt  # of depositOPEN on L1
    l2_transaction: Hash32  # the deposit transaction L2 derives from it
    approved: bool  # whether an approval was sent first


# --- the bridge --------------------------------------------------------------------------


class Bridge:
    """The OPEN bridge of one deployment, between an L1 and an L2 endpoint."""

    def __init__(self, l1: L1Client, l2: L1Client, portal: Address, rollup: Address, token: Address) -> None:
        self.l1 = l1
        self.l2 = l2
        self.portal = portal
        self.rollup = rollup
        self.token = token

    @classmethod
    def of(cls, l1: L1Client, l2: L1Client, deployment: L1Deployment) -> Bridge:
        return cls(l1, l2, addr(deployment.portal), addr(deployment.rollup), addr(deployment.open_token))

    # --- deposits --------------------------------------------------------------------

    def deposit(
        self,
        txmgr: TxManager,
        to: Address,
        amount: int,
        gas_limit: int = DEFAULT_DEPOSIT_GAS_LIMIT,
        data: bytes = b"",
        *,
        approve: bool = True,
    ) -> DepositResult:
        """Lock `amount` OPEN (wei) of the sender's on L1 for `to` on L2: approve the
        portal when its allowance is short (unless `approve` is False), then
        `depositOPEN`. The L2 credits it at the start of the epoch of its L1 block."""
        if amount < 0:
            raise BridgeError(f"deposit amount must not be negative, got {amount}")
        sender = txmgr.address
        held = int(self._view(OPEN_TOKEN, self.token, "balanceOf", sender))
        if held < amount:
            raise InsufficientOpen(
                f"0x{sender.hex()} holds {format_open(held)} on L1, the deposit needs {format_open(amount)}"
            )
        allowance = int(self._view(OPEN_TOKEN, self.token, "allowance", sender, self.portal))
        approved = False
        if allowance < amount:
            if not approve:
                raise InsufficientAllowance(
                    f"0x{sender.hex()} allows the portal 0x{self.portal.hex()} {format_open(allowance)}, "
                    f"the deposit needs {format_open(amount)}: approve it first"
                )
            self._send(txmgr, TxCandidate(self.token, OPEN_TOKEN.encode("approve", self.portal, amount)),
                       "approving the portal")
            approved = True
        receipt = self._send(
            txmgr, TxCandidate(self.portal, PORTAL.encode("depositOPEN", to, amount, gas_limit, data)),
            f"depositing {format_open(amount)}",
        )
        logs = [L1Log(log.address, log.topics, log.data, log.block_hash, log.log_index) for log in receipt.logs]
        deposits = derive_deposits(logs, self.portal)
        if len(deposits) != 1:
            raise BridgeError(f"L1 transaction 0x{receipt.transaction_hash.hex()} made {len(deposits)} deposits")
        return DepositResult(receipt, deposits[0].hash, approved)

    # --- withdrawals -----------------------------------------------------------------

    def withdraw(
        self,
        l2_txmgr: TxManager,
        target: Address,
        value: int,
        gas_limit: int = DEFAULT_WITHDRAWAL_GAS_LIMIT,
        data: bytes = b"",
    ) -> InitiatedWithdrawal:
        """Send `L2ToL1MessagePasser.initiateWithdrawal(target, gasLimit, data)` with
        `value` OPEN (wei) on L2 (`l2_txmgr` works on the L2 endpoint); returns the
        withdrawal of its MessagePassed event."""
        if value < 0:
            raise BridgeError(f"withdrawal amount must not be negative, got {value}")
        if target in (ZERO_ADDRESS, self.portal, self.token):
            raise BridgeError(
                f"withdrawal target 0x{target.hex()} is refused by the portal on L1 (the zero address, the "
                "portal and the OPEN token cannot be paid): the OPEN would be burned on L2 and never released"
            )
        held = self.l2.balance(l2_txmgr.address)
        if held < value:
            raise InsufficientOpen(
                f"0x{l2_txmgr.address.hex()} holds {format_open(held)} on L2, "
                f"the withdrawal needs {format_open(value)} plus gas"
            )
        locked = int(self._view(PORTAL, self.portal, "lockedBalance"))
        if value > locked:
            raise BridgeError(
                f"the portal holds {format_open(locked)} locked for L2; a withdrawal of {format_open(value)} "
                "could never be paid on L1"
            )
        calldata = MESSAGE_PASSER.encode("initiateWithdrawal", target, gas_limit, data)
        try:
            receipt = l2_txmgr.send(TxCandidate(L2_TO_L1_MESSAGE_PASSER_ADDRESS, calldata, Wei(value)))
        except TxReverted as exc:
            raise BridgeError(f"the withdrawal's L2 transaction 0x{exc.tx_hash.hex()} reverted") from exc
        except ExecutionReverted as exc:
            raise BridgeError(f"initiateWithdrawal would revert on L2: {exc}") from exc
        withdrawals = withdrawals_in(_execution_logs(receipt.logs))
        if len(withdrawals) != 1:
            raise BridgeError(
                f"L2 transaction 0x{receipt.transaction_hash.hex()} emitted {len(withdrawals)} MessagePassed events"
            )
        return InitiatedWithdrawal(withdrawals[0], receipt.block_number, receipt.transaction_hash)

    def find_withdrawal(self, ref: bytes) -> InitiatedWithdrawal:
        """The withdrawal whose hash is `ref`, or that L2 transaction `ref` started."""
        if len(ref) != 32:
            raise BridgeError(f"a withdrawal is named by a 32-byte hash, got {len(ref)} bytes")
        found = self._by_transaction(Hash32(ref))
        return found if found is not None else self._by_hash(Hash32(ref))

    def prove(self, txmgr: TxManager, ref: bytes) -> ProveResult:
        """Prove the withdrawal on L1 against the first output that covers its L2
        block: the output root's preimage and the storage proof of
        `sentMessages[hash]` at that output's L2 block."""
        initiated = self.find_withdrawal(ref)
        name = f"withdrawal 0x{initiated.hash.hex()}"
        if self.is_finalized(initiated.hash):
            raise WithdrawalAlreadyFinalized(f"{name} is already finalized on L1")
        proven = self.proven(initiated.hash)
        if proven.timestamp and self._current_root(proven.output_index) == proven.output_root:
            raise WithdrawalAlreadyProven(
                f"{name} is already proven against output {proven.output_index} (at {format_time(proven.timestamp)}); "
                "finalize it once it is ready (see `status`)"
            )
        output = self.output_covering(initiated.l2_block)
        if output is None:
            raise OutputNotPosted(
                f"{name}: {self._no_output_yet(initiated.l2_block)}; prove it once the batcher has posted one"
            )
        opening, proof = self._opening(output, initiated.hash)
        calldata = PORTAL.encode(
            "proveWithdrawalTransaction", _withdrawal_tuple(initiated.withdrawal), output.index,
            opening.as_tuple(), list(proof),
        )
        receipt = self._send(txmgr, TxCandidate(self.portal, calldata), f"proving {name}")
        proven = self.proven(initiated.hash)
        ready_at = max(proven.timestamp + self.proof_maturity_delay, output.challenge_deadline)
        return ProveResult(initiated, output, receipt, ready_at)

    def finalize(self, txmgr: TxManager, ref: bytes) -> FinalizeResult:
        """Finalize a proven withdrawal once its output is final and its proof mature:
        the portal pays the OPEN to the target (and makes the call, with data)."""
        status = self.status(ref)
        initiated = status.withdrawal
        if initiated is None:  # its L2 transaction is pending
            raise WithdrawalPending(status.detail)
        name = f"withdrawal 0x{initiated.hash.hex()}"
        if status.stage is Stage.FINALIZED:
            raise WithdrawalAlreadyFinalized(f"{name} is already finalized: the portal pays each withdrawal once")
        if status.stage in (Stage.WAITING_FOR_OUTPUT, Stage.READY_TO_PROVE):
            raise WithdrawalNotProven(f"{name} is not proven on L1 ({status.stage.label}); prove it first")
        if status.stage is Stage.PROVEN:
            raise WithdrawalNotReady(f"{name} cannot be finalized yet: {status.detail}")
        calldata = PORTAL.encode("finalizeWithdrawalTransaction", _withdrawal_tuple(initiated.withdrawal))
        receipt = self._send(txmgr, TxCandidate(self.portal, calldata), f"finalizing {name}")
        events = PORTAL.decode_logs(receipt.logs, "WithdrawalFinalized")
        return FinalizeResult(initiated, receipt, bool(events and events[0].args["success"]))

    def status(self, ref: bytes) -> WithdrawalStatus:
        """Where the withdrawal stands, and what it waits for."""
        try:
            initiated = self.find_withdrawal(ref)
        except WithdrawalPending as exc:
            return WithdrawalStatus(Stage.INITIATED, f"{exc}; waiting for it to be included", None)
        where = f"initiated on L2 in block {initiated.l2_block}"
        if self.is_finalized(initiated.hash):
            return WithdrawalStatus(
                Stage.FINALIZED,
                f"{format_open(initiated.withdrawal.value)} paid to 0x{initiated.withdrawal.target.hex()} on L1",
                initiated,
            )
        proven = self.proven(initiated.hash)
        rolled_back = ""
        if proven.timestamp:
            if self._current_root(proven.output_index) == proven.output_root:
                return self._proven_status(initiated, proven)
            rolled_back = f"; the output {proven.output_index} it was proven against was rolled back: prove it again"
        output = self.output_covering(initiated.l2_block)
        if output is None:
            waiting = f"{self._no_output_yet(initiated.l2_block)}; waiting for the batcher to post the next batch"
            return WithdrawalStatus(Stage.WAITING_FOR_OUTPUT, f"{where}; {waiting}{rolled_back}", initiated)
        return WithdrawalStatus(
            Stage.READY_TO_PROVE,
            f"{where}; output {output.index} on L1 (L2 block {output.l2_block}) covers it{rolled_back}",
            initiated, output,
        )

    def _proven_status(self, initiated: InitiatedWithdrawal, proven: ProvenWithdrawal) -> WithdrawalStatus:
        output = self.output(proven.output_index)
        matures_at = proven.timestamp + self.proof_maturity_delay
        now = self._l1_time()
        final = bool(self._view(ROLLUP, self.rollup, "isOutputFinalized", output.index))
        proven_at = f"proven against output {output.index} at {format_time(proven.timestamp)}"
        if final and now >= matures_at:
            ready_at = max(matures_at, output.challenge_deadline)
            return WithdrawalStatus(Stage.READY_TO_FINALIZE, proven_at, initiated, output, ready_at)
        waits = []
        challenged = now >= output.challenge_deadline and not final
        if now < output.challenge_deadline:
            waits.append(f"the output to be final (challenge window until {format_time(output.challenge_deadline)})")
        if challenged:
            waits.append(f"the open challenge of output {output.index} or an earlier output to be resolved")
        if now < matures_at:
            waits.append(f"the proof to mature (until {format_time(matures_at)})")
        ready_at = max(matures_at, output.challenge_deadline)
        detail = f"{proven_at}; waiting for {' and '.join(waits)}"
        if not challenged:
            detail += f"; finalizable from {format_time(ready_at)} (in {format_delay(ready_at - now)} of L1 time)"
        return WithdrawalStatus(Stage.PROVEN, detail, initiated, output, ready_at)

    # --- L1 reads --------------------------------------------------------------------

    def is_finalized(self, withdrawal_hash: Hash32) -> bool:
        return bool(self._view(PORTAL, self.portal, "finalizedWithdrawals", withdrawal_hash))

    def proven(self, withdrawal_hash: Hash32) -> ProvenWithdrawal:
        raw = self._view(PORTAL, self.portal, "provenWithdrawals", withdrawal_hash)
        return ProvenWithdrawal(Hash32(bytes(raw["outputRoot"])), int(raw["timestamp"]), int(raw["outputIndex"]))

    @functools.cached_property
    def proof_maturity_delay(self) -> int:
        return int(self._view(PORTAL, self.portal, "proofMaturityDelay"))

    def output_count(self) -> int:
        return int(self._view(ROLLUP, self.rollup, "nextBatchIndex"))

    def output(self, index: int) -> Output:
        raw = self._view(ROLLUP, self.rollup, "getBatch", index)
        return Output(index, Hash32(bytes(raw["outputRoot"])), int(raw["lastBlock"]), int(raw["timestamp"]),
                      int(raw["challengeDeadline"]))

    def output_covering(self, l2_block: int) -> Output | None:
        """The first output on L1 whose L2 block is at or after `l2_block`; None if
        the outputs on L1 do not reach it yet."""
        low, high = 0, self.output_count()
        found: Output | None = None
        while low < high:  # outputs' blocks grow with their index
            middle = (low + high) // 2
            output = self.output(middle)
            if output.l2_block >= l2_block:
                found, high = output, middle
            else:
                low = middle + 1
        return found

    def _no_output_yet(self, l2_block: int) -> str:
        count = self.output_count()
        latest = f"output {count - 1}, at L2 block {self.output(count - 1).l2_block}" if count else "none posted"
        return f"no output on L1 covers L2 block {l2_block} yet (latest: {latest})"

    def _current_root(self, index: int) -> Hash32 | None:
        """The live output root at `index` (as the portal reads it); None if there is none."""
        return self.output(index).root if index < self.output_count() else None

    def _l1_time(self) -> int:
        block = self.l1.block("latest")
        if block is None:
            raise BridgeError(f"the L1 endpoint {self.l1.endpoint} has no latest block")
        return block.timestamp

    def _view(self, contract: Binding, address: Address, name: str, *args: Any) -> Any:
        return contract.decode_result(name, self.l1.call(address, contract.encode(name, *args)))

    def _send(self, txmgr: TxManager, candidate: TxCandidate, what: str) -> Receipt:
        """Send through the L1 transaction manager; a refusal names the contract's error."""
        try:
            return txmgr.send(candidate)
        except ExecutionReverted as exc:
            raise _refusal(what, exc.data) from exc
        except TxReverted as exc:
            raise PortalRefused(f"{what}: L1 transaction 0x{exc.tx_hash.hex()} reverted") from exc

    # --- L2 reads --------------------------------------------------------------------

    def _by_transaction(self, tx_hash: Hash32) -> InitiatedWithdrawal | None:
        receipt = self.l2.receipt(tx_hash)
        if receipt is None:
            tx = self.l2.request("eth_getTransactionByHash", ["0x" + tx_hash.hex()])
            if tx is not None:
                raise WithdrawalPending(f"L2 transaction 0x{tx_hash.hex()} is pending, not in a block yet")
            return None
        withdrawals = withdrawals_in(_execution_logs(receipt.logs))
        if not withdrawals:
            raise UnknownWithdrawal(
                f"L2 transaction 0x{tx_hash.hex()} started no withdrawal (no MessagePassed event in its receipt)"
            )
        if len(withdrawals) > 1:
            hashes = ", ".join("0x" + w.hash.hex() for w in withdrawals)
            raise BridgeError(
                f"L2 transaction 0x{tx_hash.hex()} started {len(withdrawals)} withdrawals; name one by its hash: {hashes}"
            )
        return InitiatedWithdrawal(withdrawals[0], receipt.block_number, tx_hash)

    def _by_hash(self, withdrawal_hash: Hash32) -> InitiatedWithdrawal:
        """Scan the message passer's MessagePassed events on L2, newest first."""
        head = int(self.l2.block_number())
        high = head
        while high >= 0:
            low = max(0, high - LOG_CHUNK + 1)
            logs = self.l2.logs(from_block=low, to_block=high, address=L2_TO_L1_MESSAGE_PASSER_ADDRESS,
                                topics=[MESSAGE_PASSED])
            for log in reversed(logs):
                for withdrawal in withdrawals_in(_execution_logs([log])):
                    if withdrawal.hash == withdrawal_hash:
                        return InitiatedWithdrawal(withdrawal, log.block_number, log.transaction_hash)
            high = low - 1
        raise UnknownWithdrawal(
            f"unknown withdrawal 0x{withdrawal_hash.hex()}: no MessagePassed event on L2 carries this hash and no "
            f"L2 transaction has it (searched L2 blocks 0-{head} at {self.l2.endpoint})"
        )

    def _opening(self, output: Output, withdrawal_hash: Hash32) -> tuple[OutputRootProof, tuple[bytes, ...]]:
        """The preimage of `output`'s root and the storage proof of the withdrawal's
        sentMessages slot, from the L2 endpoint's state at the output's block."""
        block = self.l2.block(output.l2_block)
        if block is None:
            raise BridgeError(
                f"the L2 endpoint {self.l2.endpoint} has no block {output.l2_block} yet (output {output.index} "
                "on L1 covers it): it is behind"
            )
        if block.state_root is None:
            raise BridgeError(f"the L2 endpoint {self.l2.endpoint} answers block {output.l2_block} without a state root")
        account = self.l2.get_proof(L2_TO_L1_MESSAGE_PASSER_ADDRESS, [sent_messages_slot(withdrawal_hash)],
                                    output.l2_block)
        opening = OutputRootProof(output.l2_block, block.state_root, account.storage_hash, block.hash)
        if opening.root != output.root:
            raise OutputMismatch(
                f"L2 block {output.l2_block} at {self.l2.endpoint} (0x{block.hash.hex()}) gives output root "
                f"0x{opening.root.hex()}, but output {output.index} on L1 holds 0x{output.root.hex()}: the L2 endpoint "
                "does not follow the chain L1 commits to, or the output is wrong (a validator challenges it)"
            )
        (storage,) = account.storage_proofs
        if storage.value != 1:
            raise BridgeError(
                f"sentMessages[0x{withdrawal_hash.hex()}] is not set in the state of L2 block {output.l2_block}"
            )
        return opening, storage.proof


# --- values ------------------------------------------------------------------------------


def _withdrawal_tuple(withdrawal: Withdrawal) -> dict[str, Any]:
    """The portal's Types.WithdrawalTransaction, by component name."""
    return {"nonce": withdrawal.nonce, "sender": withdrawal.sender, "target": withdrawal.target,
            "value": withdrawal.value, "gasLimit": withdrawal.gas_limit, "data": withdrawal.data}


def _execution_logs(logs: Iterable[RpcLog]) -> list[ExecutionLog]:
    return [ExecutionLog(bytes(log.address), tuple(bytes(t) for t in log.topics), bytes(log.data)) for log in logs]


# Contract errors that mean one of the named refusals.
_REFUSALS: dict[str, type[BridgeError]] = {
    "WithdrawalAlreadyFinalized": WithdrawalAlreadyFinalized,
    "WithdrawalAlreadyProven": WithdrawalAlreadyProven,
    "WithdrawalNotProven": WithdrawalNotProven,
    "ProofNotMature": WithdrawalNotReady,
    "OutputNotFinalized": WithdrawalNotReady,
    "ERC20InsufficientBalance": InsufficientOpen,
    "ERC20InsufficientAllowance": InsufficientAllowance,
}


def _refusal(what: str, data: bytes) -> BridgeError:
    for contract in (PORTAL, OPEN_TOKEN, ROLLUP):
        try:
            decoded = contract.decode_error(data)
        except OpenLedgerError:
            decoded = None
        if decoded is not None:
            args = ", ".join(f"{k}={_show(v)}" for k, v in decoded.args.items())
            message = f"{what}: refused on L1 with {decoded.name}({args})"
            kind = _REFUSALS.get(decoded.name)
            return kind(message) if kind is not None else PortalRefused(message, decoded.name)
    return PortalRefused(f"{what}: refused on L1 (revert data 0x{bytes(data).hex() or 'none'})")


def _show(value: Any) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else str(value)


def parse_open(text: str) -> int:
    """Wei of an amount written in OPEN ("1.5"), at most 18 decimals."""
    try:
        amount = Decimal(text.strip())
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite():
        raise BridgeError(f"amount {text!r} is not a number of OPEN")
    with localcontext() as exact:
        exact.prec = 100  # no rounding: a 28-digit default would round large amounts silently
        wei = amount * OPEN
    if wei != wei.to_integral_value():
        raise BridgeError(f"amount {text!r} has more than 18 decimals")
    if amount < 0:
        raise BridgeError(f"amount {text!r} is negative")
    return int(wei)


def format_open(wei: int) -> str:
    whole, fraction = divmod(wei, OPEN)
    return f"{whole}.{fraction:018d}".rstrip("0").rstrip(".") + " OPEN"


def format_time(timestamp: int) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_delay(seconds: int) -> str:
    days, rest = divmod(max(0, seconds), 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {seconds}s" if minutes else f"{seconds}s"
