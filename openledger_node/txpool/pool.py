"""The transaction pool: signed user transactions waiting for a block.

Data flow: the RPC server hands raw transactions to `TxPool.add_raw`; the
sequencer's block builder drains `TxPool.best` and, after sealing, calls
`TxPool.on_new_head` with the new state. Deposits never pass through here: they
are derived from L1.

Each sender's transactions are split as in geth's legacypool: *pending* is the
run of consecutive nonces starting at the sender's state nonce (executable now),
*queued* holds the rest (waiting for a gap to fill). Every accepted transaction
is journaled (see `journal.py`) before `add` returns. One re-entrant lock guards
all state, since the RPC thread adds while the sequencer reads.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from eth.abc import SignedTransactionAPI

from openledger_node.config import TxPoolConfig
from openledger_node.exceptions import (
    AlreadyKnown,
    InvalidSignature,
    OpenLedgerError,
    PoolClosed,
    ReplacementUnderpriced,
    SenderLimitReached,
    Underpriced,
)
from openledger_node.execution.impersonation import is_impersonated
from openledger_node.execution.transactions import (
    Transaction,
    encode_transaction,
    recover,
    tx_hash,
)
from openledger_node.txpool.journal import TxJournal
from openledger_node.txpool.validation import (
    EIP1559_DENOMINATOR,
    decode_pool_transaction,
    lowest_base_fee,
    reject_deposit,
    replacement_allowed,
    tx_cost,
    validate_balance,
    validate_fee_cap_reachable,
    validate_nonce,
    validate_stateless,
)

log = logging.getLogger(__name__)

PendingCallback = Callable[[bytes], None]

# How many dropped transactions the pool remembers, with the reason, so that
# their senders can learn what happened (txpool_contentFrom).
DROPPED_MEMORY = 4096


@dataclass(frozen=True)
class Dropped:
    """An accepted transaction the pool let go without including it."""

    tx_hash: bytes
    sender: bytes
    nonce: int
    reason: str
PoolContent = dict[bytes, dict[int, SignedTransactionAPI]]


class StateReader(Protocol):
    """The account state the pool validates against; implemented by the node."""

    def get_nonce(self, address: bytes) -> int: ...

    def get_balance(self, address: bytes) -> int: ...


@dataclass(frozen=True, slots=True)
class PoolTx:
    """A pooled transaction with the values the pool orders and limits by."""

    tx: SignedTransactionAPI
    raw: bytes
    hash: bytes
    sender: bytes
    nonce: int
    gas: int
    fee_cap: int
    tip: int
    cost: int
    seq: int  # arrival order; breaks price ties in favour of the earlier

    @classmethod
    def of(cls, tx: SignedTransactionAPI, raw: bytes, seq: int) -> PoolTx:
        return cls(
            tx=tx,
            raw=raw,
            hash=bytes(tx_hash(tx)),
            sender=bytes(tx.sender),
            nonce=int(tx.nonce),
            gas=int(tx.gas),
            fee_cap=int(tx.max_fee_per_gas),
            tip=int(tx.max_priority_fee_per_gas),
            cost=tx_cost(tx),
            seq=seq,
        )

    def effective_tip(self, base_fee: int) -> int:
        return min(self.tip, self.fee_cap - base_fee)

    def price(self, base_fee: int) -> tuple[int, int]:
        """What eviction compares: effective tip at the pool's base fee, then fee cap."""
        return (self.effective_tip(base_fee), self.fee_cap)


class _PendingRun(dict[int, PoolTx]):
    """A sender's pending transactions by nonce, with the sum of their costs kept
    as they come and go: admission checks the balance against it without
    re-adding every pending cost of the sender each time."""

    __slots__ = ("cost",)

    def __init__(self) -> None:
        super().__init__()
        self.cost = 0

    def __setitem__(self, nonce: int, ptx: PoolTx) -> None:
        old = self.get(nonce)
        if old is not None:
            self.cost -= old.cost
        super().__setitem__(nonce, ptx)
        self.cost += ptx.cost

    def __delitem__(self, nonce: int) -> None:
        self.cost -= self[nonce].cost
        super().__delitem__(nonce)

    def pop(self, nonce: int) -> PoolTx:  # type: ignore[override]
        ptx = super().pop(nonce)
        self.cost -= ptx.cost
        return ptx

    def clear(self) -> None:
        super().clear()
        self.cost = 0


class _Account:
    """One sender's transactions. `pending` holds exactly the nonces
    `start .. start + len(pending) - 1`; every queued nonce is above that run + 1."""

    __slots__ = ("start", "pending", "queued")

    def __init__(self, start: int) -> None:
        self.start = start
        self.pending = _PendingRun()
        self.queued: dict[int, PoolTx] = {}

    def next_nonce(self) -> int:
        return self.start + len(self.pending)

    def ordered(self) -> list[PoolTx]:
        return sorted([*self.pending.values(), *self.queued.values()], key=lambda p: p.nonce)

    def tail(self) -> PoolTx:
        return self.pending[self.next_nonce() - 1]

    def __bool__(self) -> bool:
        return bool(self.pending or self.queued)


class BestTransactions(Iterator[SignedTransactionAPI]):
    """Executable transactions for one block, highest effective tip first, each
    sender's in nonce order (geth's `TransactionsByPriceAndNonce`). A snapshot:
    later changes to the pool do not show."""

    def __init__(self, runs: dict[bytes, list[PoolTx]], base_fee: int) -> None:
        self._runs = runs
        self._base_fee = base_fee
        self._heap: list[tuple[int, int, bytes, int]] = []
        self._invalid: set[bytes] = set()
        for sender in runs:
            self._push(sender, 0)

    def _push(self, sender: bytes, index: int) -> None:
        ptx = self._runs[sender][index]
        heapq.heappush(self._heap, (-ptx.effective_tip(self._base_fee), ptx.seq, sender, index))

    def __iter__(self) -> BestTransactions:
        return self

    def __next__(self) -> SignedTransactionAPI:
        while self._heap:
            _, _, sender, index = heapq.heappop(self._heap)
            if sender in self._invalid:
                continue
            if index + 1 < len(self._runs[sender]):
                self._push(sender, index + 1)
            return self._runs[sender][index].tx
        raise StopIteration

    def mark_invalid(self, tx: SignedTransactionAPI) -> None:
        """Skip the rest of this sender's transactions: their nonces now have a gap."""
        self._invalid.add(bytes(tx.sender))


class TxPool:
    def __init__(
        self,
        config: TxPoolConfig,
        chain_id: int,
        block_gas_limit: int,
        state: StateReader,
        base_fee: int,
        journal_path: Path | None = None,
        *,
        min_base_fee: int = 0,
        base_fee_denominator: int = EIP1559_DENOMINATOR,
        every_block_uses_gas: bool = False,
    ) -> None:
        """`min_base_fee`, `base_fee_denominator` and `every_block_uses_gas` (an L2
        chain, whose blocks all hold a deposit) are the chain's base fee rules:
        with the next block's base fee they bound the lowest base fee the chain
        can reach, below which a fee cap is never mined."""
        self._config = config
        self._min_base_fee = min_base_fee
        self._base_fee_denominator = base_fee_denominator
        self._every_block_uses_gas = every_block_uses_gas
        self._chain_id = chain_id
        self._block_gas_limit = block_gas_limit
        self._state = state
        self._base_fee = base_fee
        self._lock = threading.RLock()
        self._accounts: dict[bytes, _Account] = {}
        self._by_hash: dict[bytes, PoolTx] = {}
        self._pending_count = 0
        self._queued_count = 0
        self._seq = itertools.count()
        self._subscribers: dict[int, PendingCallback] = {}
        self._subscriber_ids = itertools.count()
        self._closed = False
        self._dropped: OrderedDict[bytes, Dropped] = OrderedDict()
        self.dropped_total = 0
        self._journal: TxJournal | None = None
        self._impersonation = False
        if journal_path is not None and config.journal:
            self._journal = TxJournal(journal_path)
            self._replay_journal(self._journal)

    # --- adding -------------------------------------------------------------------

    def add_raw(self, raw: bytes) -> bytes:
        """Decode, validate and add wire bytes; returns the transaction hash."""
        tx = decode_pool_transaction(raw, self._config.max_tx_size)
        return self._add(tx, raw, write_journal=True)

    def add(self, tx: Transaction) -> bytes:
        """Validate and add an already-decoded signed transaction."""
        signed = reject_deposit(tx)
        recover(signed)
        return self._add(signed, encode_transaction(signed), write_journal=True)

    def enable_impersonation(self) -> None:
        """Accept impersonated transactions (`add_impersonated`): dev networks only."""
        self._impersonation = True

    def add_impersonated(self, tx: SignedTransactionAPI) -> bytes:
        """Add an impersonated transaction (a dev node's unsigned transaction that
        carries its sender). It is not journaled: a replay decodes raw bytes, and
        no raw bytes stand for it (its bypass signature is refused on decoding)."""
        if not self._impersonation or not is_impersonated(tx):
            raise InvalidSignature("impersonated transactions are accepted only on a dev network")
        return self._add(tx, encode_transaction(tx), write_journal=False)

    def _add(self, tx: SignedTransactionAPI, raw: bytes, *, write_journal: bool) -> bytes:
        validate_stateless(
            tx,
            len(raw),
            chain_id=self._chain_id,
            block_gas_limit=self._block_gas_limit,
            price_limit=self._config.price_limit,
            max_tx_size=self._config.max_tx_size,
        )
        events: list[bytes] = []
        try:
            with self._lock:
                if self._closed:
                    raise PoolClosed()
                ptx = PoolTx.of(tx, raw, next(self._seq))
                if ptx.hash in self._by_hash:
                    raise AlreadyKnown(ptx.hash)
                self._admit(ptx, write_journal, events)
        finally:
            self._notify(events)
        return ptx.hash

    @property
    def base_fee_floor(self) -> int:
        """The lowest base fee the chain can reach from the head the pool is at."""
        return lowest_base_fee(
            self._base_fee, self._min_base_fee, self._base_fee_denominator, self._every_block_uses_gas
        )

    def _admit(self, ptx: PoolTx, write_journal: bool, events: list[bytes]) -> None:
        sender = ptx.sender
        validate_fee_cap_reachable(sender, ptx.fee_cap, self.base_fee_floor, self._base_fee)
        state_nonce = self._state.get_nonce(sender)
        validate_nonce(sender, ptx.nonce, state_nonce)
        balance = self._state.get_balance(sender)
        account = self._accounts.get(sender)
        if account is None:
            account = _Account(state_nonce)
        elif account.start != state_nonce:
            # The state moved on before on_new_head reached the pool.
            self._sync_account(sender, account, state_nonce, balance, events)

        old_pending = account.pending.get(ptx.nonce)
        old = old_pending or account.queued.get(ptx.nonce)
        committed = account.pending.cost
        if old_pending is not None:
            committed -= old_pending.cost
        validate_balance(sender, balance, ptx.cost, committed)

        if old is not None:
            if not replacement_allowed(
                old.fee_cap, old.tip, ptx.fee_cap, ptx.tip, self._config.price_bump
            ):
                raise ReplacementUnderpriced(self._config.price_bump)
            self._write_journal(ptx, write_journal)
            self._replace(account, old, ptx, events)
            return

        to_pending = ptx.nonce == account.next_nonce()
        if not to_pending and len(account.queued) >= self._config.account_queue:
            raise SenderLimitReached(sender, self._config.account_queue)
        victim = self._choose_victim(ptx, account, to_pending) if self._full(to_pending) else None
        self._write_journal(ptx, write_journal)
        if victim is not None:
            self._evict(victim, f"evicted: the pool is full and 0x{ptx.hash.hex()} pays more")
        self._accounts[sender] = account
        if to_pending:
            self._put_pending(account, ptx, events)
            self._promote(account, events)
        else:
            self._put_queued(account, ptx)

    def _write_journal(self, ptx: PoolTx, enabled: bool) -> None:
        if enabled and self._journal is not None:
            self._journal.append(ptx.raw)

    # --- limits and eviction ------------------------------------------------------

    def _capacity(self) -> int:
        return self._config.global_slots + self._config.global_queue

    def _full(self, to_pending: bool) -> bool:
        if len(self._by_hash) >= self._capacity():
            return True
        return not to_pending and self._queued_count >= self._config.global_queue

    def _choose_victim(self, incoming: PoolTx, account: _Account, to_pending: bool) -> PoolTx:
        """The transaction the incoming one displaces from a full pool, or raise.

        Queued transactions go first. A pending victim is always the highest
        nonce of its sender, so pending never gets a gap; it is taken from a sender
        above `account_slots` regardless of price (geth's fair share), else it must
        pay strictly less than the incoming one. A transaction headed for the
        queue never displaces a pending one."""
        base_fee = self._base_fee
        price = incoming.price(base_fee)
        cheapest_queued = min(
            (p for a in self._accounts.values() for p in a.queued.values()),
            key=lambda p: (p.price(base_fee), -p.seq),
            default=None,
        )
        if cheapest_queued is not None and cheapest_queued.price(base_fee) < price:
            return cheapest_queued
        if not to_pending or len(self._by_hash) < self._capacity():
            raise Underpriced()
        slots = self._config.account_slots
        if len(account.pending) >= slots:
            raise SenderLimitReached(incoming.sender, slots)
        others = [a for s, a in self._accounts.items() if s != incoming.sender and a.pending]
        over_quota = [a for a in others if len(a.pending) > slots]
        if over_quota:
            biggest = max(over_quota, key=lambda a: (len(a.pending), -a.tail().seq))
            return biggest.tail()
        cheapest_tail = min(
            (a.tail() for a in others),
            key=lambda p: (p.price(base_fee), -p.seq),
            default=None,
        )
        if cheapest_tail is not None and cheapest_tail.price(base_fee) < price:
            return cheapest_tail
        raise Underpriced()

    def _enforce_queue_limits(self) -> None:
        """Trim queues that demotions pushed past `account_queue` (highest nonces
        go) or `global_queue` (cheapest go)."""
        for account in list(self._accounts.values()):
            excess = len(account.queued) - self._config.account_queue
            if excess > 0:
                for nonce in sorted(account.queued)[-excess:]:
                    self._evict(account.queued[nonce], "evicted: over the sender's queued limit")
        excess = self._queued_count - self._config.global_queue
        if excess > 0:
            queued = [p for a in self._accounts.values() for p in a.queued.values()]
            queued.sort(key=lambda p: (p.price(self._base_fee), -p.seq))
            for ptx in queued[:excess]:
                self._evict(ptx, "evicted: over the pool's queued limit, among the cheapest")

    def _evict(self, ptx: PoolTx, reason: str) -> None:
        self._remove_tx(ptx)
        self._record_drop(ptx, reason)

    def _record_drop(self, ptx: PoolTx, reason: str) -> None:
        """Remember why an accepted transaction left the pool unincluded, and say so:
        its sender was told it was accepted."""
        self.dropped_total += 1
        self._dropped[ptx.hash] = Dropped(ptx.hash, ptx.sender, ptx.nonce, reason)
        while len(self._dropped) > DROPPED_MEMORY:
            self._dropped.popitem(last=False)
        log.info("txpool dropped 0x%s (sender 0x%s nonce %d): %s", ptx.hash.hex(), ptx.sender.hex(), ptx.nonce, reason)

    # --- the per-sender lists -----------------------------------------------------

    def _put_pending(self, account: _Account, ptx: PoolTx, events: list[bytes]) -> None:
        account.pending[ptx.nonce] = ptx
        self._by_hash[ptx.hash] = ptx
        self._pending_count += 1
        events.append(ptx.hash)

    def _put_queued(self, account: _Account, ptx: PoolTx) -> None:
        account.queued[ptx.nonce] = ptx
        self._by_hash[ptx.hash] = ptx
        self._queued_count += 1

    def _promote(self, account: _Account, events: list[bytes]) -> None:
        while (ptx := account.queued.pop(account.next_nonce(), None)) is not None:
            self._queued_count -= 1
            del self._by_hash[ptx.hash]
            self._put_pending(account, ptx, events)

    def _replace(self, account: _Account, old: PoolTx, new: PoolTx, events: list[bytes]) -> None:
        del self._by_hash[old.hash]
        self._by_hash[new.hash] = new
        if account.pending.get(old.nonce) is old:
            account.pending[new.nonce] = new
            events.append(new.hash)
        else:
            account.queued[new.nonce] = new

    def _remove_tx(self, ptx: PoolTx) -> None:
        """Drop one transaction; pending ones above it lose their place and are queued."""
        account = self._accounts[ptx.sender]
        if account.pending.get(ptx.nonce) is ptx:
            last = account.next_nonce()
            del account.pending[ptx.nonce]
            self._pending_count -= 1
            for nonce in range(ptx.nonce + 1, last):
                demoted = account.pending.pop(nonce)
                self._pending_count -= 1
                account.queued[nonce] = demoted
                self._queued_count += 1
        else:
            del account.queued[ptx.nonce]
            self._queued_count -= 1
        del self._by_hash[ptx.hash]
        if not account:
            del self._accounts[ptx.sender]

    def _sync_account(
        self,
        sender: bytes,
        account: _Account,
        state_nonce: int,
        balance: int,
        events: list[bytes],
    ) -> None:
        """Re-derive one sender's lists from its state: drop what is included (nonce
        below the state's), what it can no longer afford, what no longer fits a
        block and what pays less than any base fee the chain can still have; what follows a dropped transaction is queued (geth's
        demoteUnexecutables + promoteExecutables)."""
        was_pending = {p.hash for p in account.pending.values()}
        ordered = account.ordered()
        self._pending_count -= len(account.pending)
        self._queued_count -= len(account.queued)
        account.pending.clear()
        account.queued.clear()
        account.start = state_nonce
        floor = self.base_fee_floor
        for ptx in ordered:
            if ptx.nonce < state_nonce:
                del self._by_hash[ptx.hash]  # included (or another with its nonce was)
            elif ptx.cost > balance or ptx.gas > self._block_gas_limit:
                del self._by_hash[ptx.hash]
                self._record_drop(
                    ptx,
                    f"dropped: costs {ptx.cost}, the sender's balance is {balance}"
                    if ptx.cost > balance
                    else f"dropped: gas {ptx.gas} over the block gas limit {self._block_gas_limit}",
                )
            elif ptx.fee_cap < floor:
                # Never minable again; the later nonces it holds up are queued.
                del self._by_hash[ptx.hash]
                self._record_drop(
                    ptx, f"dropped: max fee per gas {ptx.fee_cap} below {floor}, the lowest base fee the chain can reach"
                )
            elif ptx.nonce == account.next_nonce():
                account.pending[ptx.nonce] = ptx
                self._pending_count += 1
                if ptx.hash not in was_pending:
                    events.append(ptx.hash)
            else:
                account.queued[ptx.nonce] = ptx
                self._queued_count += 1
        if not account and self._accounts.get(sender) is account:
            del self._accounts[sender]

    # --- reading ------------------------------------------------------------------

    def get(self, tx_hash: bytes) -> SignedTransactionAPI | None:
        with self._lock:
            ptx = self._by_hash.get(bytes(tx_hash))
            return None if ptx is None else ptx.tx

    def contains(self, tx_hash: bytes) -> bool:
        with self._lock:
            return bytes(tx_hash) in self._by_hash

    def pending_nonce(self, sender: bytes) -> int:
        """The nonce of the sender's next transaction, counting its pending ones."""
        with self._lock:
            nonce = self._state.get_nonce(sender)
            account = self._accounts.get(bytes(sender))
            if account is not None:
                while nonce in account.pending:
                    nonce += 1
            return nonce

    def best(self, base_fee: int) -> BestTransactions:
        """Executable transactions for a block at `base_fee`: a sender's run stops
        at its first transaction whose fee cap is below the base fee."""
        with self._lock:
            runs: dict[bytes, list[PoolTx]] = {}
            for sender, account in self._accounts.items():
                run: list[PoolTx] = []
                for nonce in range(account.start, account.next_nonce()):
                    ptx = account.pending[nonce]
                    if ptx.fee_cap < base_fee:
                        break
                    run.append(ptx)
                if run:
                    runs[sender] = run
        return BestTransactions(runs, base_fee)

    def content(self) -> tuple[PoolContent, PoolContent]:
        """(pending, queued), by sender then nonce, in nonce order."""
        with self._lock:
            pending: PoolContent = {}
            queued: PoolContent = {}
            for sender, account in self._accounts.items():
                if account.pending:
                    pending[sender] = {n: account.pending[n].tx for n in sorted(account.pending)}
                if account.queued:
                    queued[sender] = {n: account.queued[n].tx for n in sorted(account.queued)}
            return pending, queued

    def dropped(self, tx_hash: bytes) -> Dropped | None:
        """Why an accepted transaction left the pool unincluded, if it did lately."""
        with self._lock:
            return self._dropped.get(bytes(tx_hash))

    def dropped_from(self, sender: bytes) -> list[Dropped]:
        """The sender's transactions the pool dropped lately, oldest first."""
        with self._lock:
            return [d for d in self._dropped.values() if d.sender == bytes(sender)]

    def status(self) -> tuple[int, int]:
        """(pending count, queued count)."""
        with self._lock:
            return self._pending_count, self._queued_count

    # --- chain events -------------------------------------------------------------

    def on_new_head(self, state: StateReader, base_fee: int, block_gas_limit: int) -> None:
        """Bring the pool to a new head: drop included and unaffordable
        transactions, re-split pending and queued, and compact the journal."""
        events: list[bytes] = []
        try:
            with self._lock:
                self._state = state
                self._base_fee = base_fee
                self._block_gas_limit = block_gas_limit
                for sender, account in list(self._accounts.items()):
                    self._sync_account(
                        sender, account, state.get_nonce(sender), state.get_balance(sender), events
                    )
                self._enforce_queue_limits()
                self._compact_journal()
        finally:
            self._notify(events)

    def remove(self, tx_hashes: Iterable[bytes], reason: str = "dropped: invalid at the head") -> None:
        """Drop transactions by hash (unknown ones are ignored), remembering why.
        The journal keeps them until the next rewrite; a replay re-validates them."""
        with self._lock:
            for h in tx_hashes:
                ptx = self._by_hash.get(bytes(h))
                if ptx is not None:
                    self._evict(ptx, reason)
            self._enforce_queue_limits()

    # --- subscriptions ------------------------------------------------------------

    def subscribe(self, callback: PendingCallback) -> Callable[[], None]:
        """Call `callback(tx_hash)` for every transaction that becomes pending, on
        the thread that caused it, after the pool's lock is released."""
        with self._lock:
            token = next(self._subscriber_ids)
            self._subscribers[token] = callback

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers.pop(token, None)

        return unsubscribe

    def _notify(self, hashes: list[bytes]) -> None:
        if not hashes:
            return
        with self._lock:
            callbacks = list(self._subscribers.values())
        for h in hashes:
            for callback in callbacks:
                try:
                    callback(h)
                except Exception:
                    log.exception("txpool subscriber failed on 0x%s", h.hex())

    # --- journal ------------------------------------------------------------------

    def _replay_journal(self, journal: TxJournal) -> None:
        contents = journal.load()
        loaded = dropped = 0
        for raw in contents.records:
            try:
                tx = decode_pool_transaction(raw, self._config.max_tx_size)
                self._add(tx, raw, write_journal=False)
                loaded += 1
            except OpenLedgerError:
                dropped += 1
        live = self._rewrite_journal()
        log.info(
            "txpool journal %s: %d loaded, %d dropped, %d kept%s",
            journal.path,
            loaded,
            dropped,
            live,
            ", torn last record skipped" if contents.torn else "",
        )

    def _rewrite_journal(self) -> int:
        if self._journal is None:
            return 0
        return self._journal.rewrite(
            ptx.raw for account in self._accounts.values() for ptx in account.ordered()
        )

    def _compact_journal(self) -> None:
        """Rewrite the journal, tolerating disk errors: the replace is atomic, so on
        failure the previous file, a superset of the pool, stays and takes appends."""
        try:
            self._rewrite_journal()
        except OSError:
            log.exception("txpool journal rewrite failed; keeping the previous journal")

    def close(self) -> None:
        """Compact the journal and release it; the pool accepts nothing after."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._compact_journal()
            if self._journal is not None:
                self._journal.close()
                self._journal = None
