"""The inference service's settler: journal entries -> settle and finalize transactions.

A background thread. Each pass takes the journal's answered entries and sends
their ``PayableAI.settle`` transactions in batches, several in flight from one
key (`Economy.send(wait=False)`), journals each sent hash, then waits for the
receipts; once a settlement's dispute window has passed on chain it sends
``finalize`` with the committed split (or the split a dispute replaced it with).

Before acting on an entry the settler reads the inference on chain, so a
restart, a settle whose receipt was never seen, or a revert because the
inference is already settled is reconciled from the chain state rather than
retried: settled by us with our queryHash -> settled; settled by someone else,
refunded or past its deadline -> lost (with the reason). Errors that may pass
(the node unreachable, a timeout, the provider not staked yet) are retried with
exponential backoff per entry and counted in the metrics.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hexbytes import HexBytes
from web3.exceptions import TimeExhausted, TransactionNotFound, Web3RPCError

from attribution.payable.chain import ChainError, ContractRevert, Economy
from attribution.payable.journal import Entry, Journal

log = logging.getLogger("openledger.attribution.settler")

# ContractRevert names after which retrying the same transaction cannot succeed.
_FINAL_SETTLE_REVERTS = {"InvalidInferenceStatus", "SettlementDeadlinePassed"}


@dataclass
class Metrics:
    """Counters the service exports at /metrics (Prometheus text)."""

    served: int = 0
    unattributable: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    settled: int = 0
    finalized: int = 0
    lost: int = 0
    settle_failures: int = 0
    finalize_failures: int = 0
    settle_latency_buckets: tuple[float, ...] = (0.5, 1, 2, 5, 10, 30, 60, 300)
    settle_latency_counts: list[int] = field(default_factory=lambda: [0] * 9)
    settle_latency_sum: float = 0.0
    settle_latency_count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def observe_settle_latency(self, seconds: float) -> None:
        with self.lock:
            self.settle_latency_sum += seconds
            self.settle_latency_count += 1
            for i, bound in enumerate(self.settle_latency_buckets):
                if seconds <= bound:
                    self.settle_latency_counts[i] += 1
            self.settle_latency_counts[-1] += 1  # +Inf

    def count(self, name: str, amount: int = 1) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + amount)

    def count_error(self, code: str) -> None:
        with self.lock:
            self.errors[code] = self.errors.get(code, 0) + 1


@dataclass
class _Retry:
    attempts: int = 0
    not_before: float = 0.0


class Settler:
    """Settles and finalizes the journal's entries; `start` runs it in a thread."""

    def __init__(
        self,
        economy: Economy,
        journal: Journal,
        metrics: Metrics,
        *,
        batch_size: int = 16,
        batch_window: float = 0.5,
        poll_interval: float = 1.0,
        max_backoff: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.economy, self.journal, self.metrics = economy, journal, metrics
        self.batch_size, self.batch_window = batch_size, batch_window
        self.poll_interval, self.max_backoff, self.clock = poll_interval, max_backoff, clock
        self._retry: dict[int, _Retry] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------- the thread

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="settler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        """A new entry was answered: look sooner than the poll interval."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # a pass must never end the thread; the next pass retries
                log.exception("settler pass failed")
            self._wake.wait(self._next_wait())
            self._wake.clear()

    def _next_wait(self) -> float:
        now = self.clock()
        waits = [self.poll_interval]
        for entry in self.journal.pending("answered"):
            answered = entry.at("answered") or now
            waits.append(answered + self.batch_window - now)
        return max(0.05, min(waits))

    # ---------------------------------------------------------- one pass

    def run_once(self) -> None:
        """Reconcile, settle what is due, finalize what is final."""
        self._settle_due()
        self._finalize_due()

    def _due(self, entry: Entry) -> bool:
        retry = self._retry.get(entry.inference_id)
        return retry is None or retry.not_before <= self.clock()

    def _failed(self, entry: Entry, what: str, error: Exception) -> None:
        retry = self._retry.setdefault(entry.inference_id, _Retry())
        retry.attempts += 1
        delay = min(self.max_backoff, 0.5 * 2 ** (retry.attempts - 1))
        retry.not_before = self.clock() + delay
        self.metrics.count("settle_failures" if what == "settle" else "finalize_failures")
        log.warning("%s of inference %d failed (attempt %d, next in %.1f s): %s",
                    what, entry.inference_id, retry.attempts, delay, error)

    def _settle_due(self) -> None:
        now = self.clock()
        waiting = [e for e in self.journal.pending("answered", "settle_sent") if self._due(e)]
        if not waiting:
            return
        oldest = min((e.at("answered") or now) for e in waiting)
        if len(waiting) < self.batch_size and now - oldest < self.batch_window and \
                all(e.state == "answered" for e in waiting):
            return
        for start in range(0, len(waiting), self.batch_size):
            self._settle_batch(waiting[start : start + self.batch_size])

    def _settle_batch(self, batch: Sequence[Entry]) -> None:
        in_flight: list[tuple[Entry, Any]] = []
        for entry in batch:
            try:
                if entry.state == "settle_sent" and self._await_previous(entry):
                    continue
                if not self._needs_settle(entry):
                    continue
                sent = self.economy.settle(entry.inference_id, _b(entry.get("queryHash")),
                                           entry.get("contributionIds"), entry.get("weights"), wait=False)
            except ContractRevert as exc:
                self._settle_reverted(entry, exc)
                continue
            except ChainError as exc:
                self._failed(entry, "settle", exc)
                continue
            self.journal.record(entry.inference_id, "settle_sent", settleTx="0x" + sent.tx_hash.hex(), nonce=sent.nonce)
            in_flight.append((entry, sent))
        for entry, sent in in_flight:
            receipt = self._wait(entry, sent, "settle", self._settle_reverted)
            if receipt is not None:
                self._mark_settled(entry, receipt)

    def _wait(self, entry: Entry, sent: Any, action: str,
              reverted: Callable[[Entry, ContractRevert], None]) -> Any | None:
        """The receipt of `sent`, or None after handing a revert to `reverted`
        and any other chain error to the retry schedule."""
        try:
            return self.economy.wait(sent)
        except ContractRevert as exc:
            reverted(entry, exc)
        except ChainError as exc:
            self._failed(entry, action, exc)
        return None

    def _await_previous(self, entry: Entry) -> bool:
        """A settle sent before (maybe by a previous run): True when its receipt settled the entry.

        A transaction the node no longer knows (dropped) or one not mined in
        time is left to the chain-state check that follows."""
        tx = entry.get("settleTx")
        if not tx:
            return False
        eth = self.economy.w3.eth
        try:
            eth.get_transaction(HexBytes(_b(tx)))
            receipt = eth.wait_for_transaction_receipt(HexBytes(_b(tx)), timeout=self.economy.timeout,
                                                       poll_latency=self.economy.poll_interval)
        except (TransactionNotFound, TimeExhausted, Web3RPCError, OSError):
            return False
        if receipt["status"] == 1:
            self._mark_settled(entry, receipt)
            return True
        return False

    def _needs_settle(self, entry: Entry) -> bool:
        """Read the inference on chain; False (and the journal updated) when there is nothing to send."""
        inference = self.economy.inference(entry.inference_id)
        if inference.status == "Requested":
            now = self._chain_time()
            if now > inference.deadline:
                self._lose(entry, f"the settlement deadline {inference.deadline} passed before it was settled")
                return False
            return True
        self._reconcile(entry, inference)
        return False

    def _reconcile(self, entry: Entry, inference: Any) -> None:
        ours = inference.query_hash == _b(entry.get("queryHash")) and \
            inference.provider.lower() == self.economy.address.lower()
        if inference.status in ("Settled", "Finalized") and ours:
            if entry.state != "settled":
                self.journal.record(entry.inference_id, "settled", disputeDeadline=inference.dispute_deadline,
                                    reconciled=True)
                self.metrics.count("settled")
            if inference.status == "Finalized":
                self.journal.record(entry.inference_id, "finalized", reconciled=True)
                self.metrics.count("finalized")
        elif inference.status in ("Settled", "Finalized"):
            self._lose(entry, f"settled by {inference.provider} with query hash 0x{inference.query_hash.hex()}")
        else:
            self._lose(entry, f"the inference is {inference.status} on chain")
        self._retry.pop(entry.inference_id, None)

    def _settle_reverted(self, entry: Entry, exc: ContractRevert) -> None:
        if exc.name in _FINAL_SETTLE_REVERTS:
            try:
                inference = self.economy.inference(entry.inference_id)
            except ChainError as read_error:
                self._failed(entry, "settle", read_error)
                return
            if inference.status == "Requested":
                self._lose(entry, f"settle reverted: {exc}")
            else:
                self._reconcile(entry, inference)
            return
        self._failed(entry, "settle", exc)

    def _mark_settled(self, entry: Entry, receipt: Any) -> None:
        event = self.economy.payable.events.InferenceSettled().process_receipt(receipt)
        deadline = int(event[0]["args"]["disputeDeadline"]) if event else self.economy.inference(entry.inference_id).dispute_deadline
        self.journal.record(entry.inference_id, "settled", settleTx="0x" + bytes(receipt["transactionHash"]).hex(),
                            settleBlock=int(receipt["blockNumber"]), disputeDeadline=deadline)
        self._retry.pop(entry.inference_id, None)
        self.metrics.count("settled")
        answered = entry.at("answered")
        if answered is not None:
            self.metrics.observe_settle_latency(max(0.0, self.clock() - answered))

    def _lose(self, entry: Entry, reason: str) -> None:
        log.warning("inference %d will not be settled by this service: %s", entry.inference_id, reason)
        self.journal.record(entry.inference_id, "lost", reason=reason)
        self._retry.pop(entry.inference_id, None)
        self.metrics.count("lost")

    def _chain_time(self) -> int:
        return int(self.economy.w3.eth.get_block("latest")["timestamp"])

    # ---------------------------------------------------------- finalize

    def _finalize_due(self) -> None:
        settled = [e for e in self.journal.pending("settled") if self._due(e)]
        if not settled:
            return
        now = self._chain_time()
        due = [e for e in settled if int(e.get("disputeDeadline", 0)) < now]
        in_flight: list[tuple[Entry, Any, dict[str, Any]]] = []
        for entry in due[: self.batch_size]:
            try:
                inference = self.economy.inference(entry.inference_id)
                if inference.status == "Finalized":
                    self.journal.record(entry.inference_id, "finalized", reconciled=True)
                    self.metrics.count("finalized")
                    continue
                if inference.status != "Settled" or inference.dispute_state == "Open":
                    continue  # a dispute is being voted on: finalize after it is resolved
                ids, weights, extra = entry.get("contributionIds"), entry.get("weights"), {}
                if inference.dispute_state == "Overturned":
                    ids, weights = self._overturned_split(entry.inference_id)
                    extra = {"overturned": True, "finalContributionIds": ids, "finalWeights": weights}
                sent = self.economy.finalize(entry.inference_id, ids, weights, wait=False)
            except ContractRevert as exc:
                self._finalize_reverted(entry, exc)
                continue
            except ChainError as exc:
                self._failed(entry, "finalize", exc)
                continue
            in_flight.append((entry, sent, extra))
        for entry, sent, extra in in_flight:
            receipt = self._wait(entry, sent, "finalize", self._finalize_reverted)
            if receipt is None:
                continue
            self.journal.record(entry.inference_id, "finalized", finalizeTx="0x" + bytes(receipt["transactionHash"]).hex(),
                                finalizeBlock=int(receipt["blockNumber"]), **extra)
            self._retry.pop(entry.inference_id, None)
            self.metrics.count("finalized")

    def _overturned_split(self, inference_id: int) -> tuple[list[int], list[int]]:
        events = self.economy.events("PayableAI", "SettlementOverturned", {"inferenceId": inference_id})
        if not events:
            raise ChainError(f"inference {inference_id} is overturned but no SettlementOverturned event was found")
        last = events[-1]
        return [int(c) for c in last["contributionIds"]], [int(w) for w in last["weights"]]

    def _finalize_reverted(self, entry: Entry, exc: ContractRevert) -> None:
        if exc.name == "InvalidInferenceStatus":
            try:
                inference = self.economy.inference(entry.inference_id)
            except ChainError as read_error:
                self._failed(entry, "finalize", read_error)
                return
            if inference.status == "Finalized":
                self.journal.record(entry.inference_id, "finalized", reconciled=True)
                self.metrics.count("finalized")
                return
        self._failed(entry, "finalize", exc)


def _b(value: str | bytes | None) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    return bytes.fromhex(value.removeprefix("0x"))
