"""The one L1 transaction manager (op-service's `txmgr`).

Every component that writes to L1 (the deployment; the batcher's
`submitBatch`, the validators' challenges and votes, the bridge CLI next) hands
a `TxCandidate` to `TxManager.send` and gets back the receipt of a confirmed,
successful transaction. The manager owns what a single writer must get right:

- nonce: read from L1 (the `pending` count) under a lock for each new
  transaction, so that threads get consecutive nonces and a restart or another
  process with the same key never reuses a stale counter;
- fees: EIP-1559 from `eth_feeHistory` (tip: a percentile of recent rewards,
  at least `min_tip`; fee cap: 2 x the next base fee + tip), never above
  `fee_cap_limit`;
- gas: `eth_estimateGas` x `gas_multiplier` unless the candidate sets a limit;
- resubmission: a transaction not mined within `resubmission_timeout` is signed
  again with the same nonce and both fees raised by `fee_bump_percent` (geth's
  replacement rule) or to the market's, whichever is higher; every hash sent
  for the nonce is kept and whichever is mined counts;
- confirmations: the receipt's block must be `confirmations` deep and still
  canonical; a transaction that a reorg removed is sent again.

A confirmed transaction that reverted raises `TxReverted` with its receipt and
is not sent again.
"""

from __future__ import annotations

import logging
import math
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from bridge.errors import (
    FeeCapExceeded,
    L1AlreadyKnown,
    L1NonceTooLow,
    L1ReplacementUnderpriced,
    L1Underpriced,
    TxManagerClosed,
    TxRejected,
    TxReverted,
    TxSendTimeout,
)
from bridge.l1 import L1Client, Receipt
from openledger_node.exceptions import ConfigError, TemporaryError
from openledger_node.primitives import Address, Hash32, Wei

log = logging.getLogger("openledger.txmgr")

GWEI = 10**9
MIN_FEE_BUMP_PERCENT = 10  # geth's txpool refuses a replacement that pays less
NO_VALUE = Wei(0)
DEFAULT_FEE_CAP_LIMIT = Wei(1_000 * GWEI)
DEFAULT_MIN_TIP = Wei(1 * GWEI)
UNSIGNED = Hash32(b"")


@dataclass(frozen=True)
class TxCandidate:
    """What a component wants done on L1; the manager chooses nonce, fees and gas."""

    to: Address | None  # None creates a contract from `data`
    data: bytes = b""
    value: Wei = NO_VALUE
    gas_limit: int | None = None  # None: estimate


@dataclass(frozen=True)
class TxManagerConfig:
    confirmations: int = 1  # the receipt's block and confirmations-1 more on top of it
    resubmission_timeout: float = 48.0  # seconds without a receipt before fees are bumped
    receipt_poll_interval: float = 0.5  # seconds between receipt queries
    fee_cap_limit: Wei = DEFAULT_FEE_CAP_LIMIT  # refuse a transaction whose fee cap would be higher
    min_tip: Wei = DEFAULT_MIN_TIP
    fee_bump_percent: int = 10  # at least geth's 10
    gas_multiplier: float = 1.2  # applied to eth_estimateGas
    send_timeout: float = 600.0  # seconds one send may take, confirmations included
    fee_history_blocks: int = 10
    tip_percentile: float = 50.0  # of each block's rewards, in eth_feeHistory

    def __post_init__(self) -> None:
        checks: list[tuple[str, bool, str]] = [
            ("confirmations", self.confirmations >= 1, "at least 1"),
            ("resubmission_timeout", self.resubmission_timeout > 0, "positive"),
            ("receipt_poll_interval", self.receipt_poll_interval > 0, "positive"),
            ("fee_cap_limit", self.fee_cap_limit > 0, "positive"),
            ("min_tip", self.min_tip >= 0, "non-negative"),
            ("fee_bump_percent", self.fee_bump_percent >= MIN_FEE_BUMP_PERCENT,
             f"at least {MIN_FEE_BUMP_PERCENT} (geth's replacement rule)"),
            ("gas_multiplier", self.gas_multiplier >= 1, "at least 1"),
            ("send_timeout", self.send_timeout > 0, "positive"),
            ("fee_history_blocks", 1 <= self.fee_history_blocks <= 1024, "between 1 and 1024"),
            ("tip_percentile", 0 <= self.tip_percentile <= 100, "between 0 and 100"),
        ]
        for name, ok, rule in checks:
            if not ok:
                raise ConfigError(f"txmgr.{name} must be {rule}, got {getattr(self, name)!r}")


@dataclass
class _Attempt:
    """One nonce's transactions: the latest signed one and every hash sent."""

    candidate: TxCandidate
    nonce: int
    gas: int
    tip: int
    fee_cap: int
    raw: bytes = b""
    tx_hash: Hash32 = UNSIGNED
    hashes: list[Hash32] = field(default_factory=list)
    published: bool = False  # the endpoint took the latest one (or already had it)
    sent_at: float = 0.0
    mined_in: Hash32 | None = None  # block of the receipt seen last, to notice a reorg


class _NonceTaken(Exception):
    """The nonce was used by a transaction that is none of ours: start over."""


class TxManager:
    """Sends candidates from one key through one L1 client. Thread-safe: concurrent
    `send` calls get consecutive nonces and wait for their receipts in parallel."""

    def __init__(self, client: L1Client, key: bytes | str, config: TxManagerConfig | None = None) -> None:
        self.client = client
        self.config = config or TxManagerConfig()
        self._account: LocalAccount = Account.from_key(key)
        self.address = Address(bytes.fromhex(self._account.address[2:]))
        self._nonce_lock = threading.Lock()
        self._closed = threading.Event()
        self._chain_id: int | None = None

    def close(self) -> None:
        """Make waiting and later sends raise `TxManagerClosed` (a service stops)."""
        self._closed.set()

    def send(self, candidate: TxCandidate) -> Receipt:
        """Send `candidate` and return the receipt once it is confirmed.

        Raises `TxReverted` (with the receipt) when it reverted, `FeeCapExceeded`
        when the market asks for more than the limit, `TxSendTimeout` when nothing
        was confirmed within `send_timeout`, `ExecutionReverted` when gas
        estimation reverts, and the L1 client's errors while nothing was sent."""
        if self._closed.is_set():
            raise TxManagerClosed()
        deadline = time.monotonic() + self.config.send_timeout
        self._chain()  # an L1 of another chain stops here, before anything is signed
        gas = candidate.gas_limit if candidate.gas_limit is not None else self._estimate_gas(candidate)
        while True:
            attempt = self._start(candidate, gas, deadline)
            try:
                receipt = self._wait(attempt, deadline)
            except _NonceTaken:
                log.warning("L1 nonce %d was used by another transaction of %s; sending with a new nonce",
                            attempt.nonce, self._account.address)
                continue
            if not receipt.succeeded:
                raise TxReverted(receipt)
            return receipt

    # --- the first transaction of a nonce ----------------------------------------

    def _start(self, candidate: TxCandidate, gas: int, deadline: float) -> _Attempt:
        tip, fee_cap = self._market_fees()
        if fee_cap > self.config.fee_cap_limit:
            raise FeeCapExceeded(fee_cap, self.config.fee_cap_limit)
        with self._nonce_lock:
            chain_id = self._chain()
            while True:
                self._check_open(deadline, None)
                nonce = self.client.transaction_count(self.address, "pending")
                attempt = _Attempt(candidate, nonce, gas, tip, fee_cap)
                self._sign(attempt, chain_id)
                try:
                    self._publish(attempt)
                except _NonceTaken:
                    # The pending count lagged behind a mined transaction: read it again.
                    self._closed.wait(self.config.receipt_poll_interval)
                    continue
                except TemporaryError as exc:
                    # It may have arrived all the same: the wait loop sends it again.
                    log.warning("sending L1 transaction 0x%s (nonce %d) failed: %s", attempt.tx_hash.hex(), nonce, exc)
                    return attempt
                log.info("sent L1 transaction 0x%s: nonce %d, gas %d, tip %d, fee cap %d",
                         attempt.tx_hash.hex(), nonce, gas, tip, fee_cap)
                return attempt

    # --- waiting, resubmitting, confirming ---------------------------------------

    def _wait(self, attempt: _Attempt, deadline: float) -> Receipt:
        """The receipt of one of the attempt's transactions, `confirmations` deep.
        Raises `_NonceTaken` when another transaction used the nonce."""
        while True:
            self._check_open(deadline, attempt)
            try:
                receipt, reorged = self._find_receipt(attempt)
                if receipt is not None:
                    if attempt.mined_in != receipt.block_hash:
                        attempt.mined_in = receipt.block_hash
                        log.info("L1 transaction 0x%s mined in block %d (0x%s)", receipt.transaction_hash.hex(),
                                 receipt.block_number, receipt.block_hash.hex())
                    depth = self.client.block_number() - receipt.block_number + 1
                    if depth >= self.config.confirmations:
                        log.info("L1 transaction 0x%s confirmed: block %d, %d deep, status %d",
                                 receipt.transaction_hash.hex(), receipt.block_number, depth, receipt.status)
                        return receipt
                elif reorged or attempt.mined_in is not None:
                    log.warning("L1 transaction 0x%s left the chain in a reorg; sending it again",
                                attempt.tx_hash.hex())
                    attempt.mined_in = None
                    self._publish(attempt)
                elif not attempt.published or (
                    time.monotonic() - attempt.sent_at >= self.config.resubmission_timeout
                ):
                    self._bump(attempt)
            except TemporaryError as exc:  # the L1 hiccupped: keep waiting until the deadline
                log.warning("waiting for L1 nonce %d: %s", attempt.nonce, exc)
            except TxRejected as exc:  # a replacement refused for good: the sent ones still count
                log.warning("L1 nonce %d: 0x%s refused: %s", attempt.nonce, attempt.tx_hash.hex(), exc.message)
                attempt.published = True
            self._closed.wait(self.config.receipt_poll_interval)

    def _find_receipt(self, attempt: _Attempt) -> tuple[Receipt | None, bool]:
        """The receipt of whichever of the attempt's transactions is in a block of
        the canonical chain, and whether a receipt of a block no longer canonical
        turned up (the endpoint's view of a reorg, half applied)."""
        reorged = False
        for tx_hash in attempt.hashes:
            receipt = self.client.receipt(tx_hash)
            if receipt is None:
                continue
            block = self.client.block(receipt.block_number)
            if block is not None and block.hash == receipt.block_hash:
                return receipt, False
            reorged = True
        return None, reorged

    def _bump(self, attempt: _Attempt) -> None:
        """Sign the nonce again with fees raised by the bump percentage and at least
        the market's, and send it; keep waiting on the current one past the limit."""
        market_tip, market_cap = self._market_fees()
        tip = max(_bumped(attempt.tip, self.config.fee_bump_percent), market_tip)
        fee_cap = max(_bumped(attempt.fee_cap, self.config.fee_bump_percent), market_cap)
        if fee_cap > self.config.fee_cap_limit:
            log.warning("L1 nonce %d: bumping the fee cap to %d would pass the limit %d; waiting on 0x%s",
                        attempt.nonce, fee_cap, self.config.fee_cap_limit, attempt.tx_hash.hex())
            attempt.sent_at = time.monotonic()
            attempt.published = True
            return
        previous = attempt.tx_hash
        attempt.tip, attempt.fee_cap = tip, fee_cap
        self._sign(attempt, self._chain())
        log.info("bumped L1 nonce %d: 0x%s replaces 0x%s, tip %d, fee cap %d",
                 attempt.nonce, attempt.tx_hash.hex(), previous.hex(), tip, fee_cap)
        self._publish(attempt)

    def _publish(self, attempt: _Attempt) -> None:
        """Send the attempt's latest transaction and take the node's answer. Raises
        `_NonceTaken` when the nonce is used and no transaction of ours has a receipt."""
        attempt.sent_at = time.monotonic()
        try:
            self.client.send_raw_transaction(attempt.raw)
        except L1AlreadyKnown:
            pass
        except (L1ReplacementUnderpriced, L1Underpriced) as exc:
            log.info("L1 nonce %d: 0x%s refused (%s); bumping again", attempt.nonce, attempt.tx_hash.hex(),
                     exc.message)
            attempt.published = False
            return
        except L1NonceTooLow:
            # One of ours may have been mined meanwhile; the wait loop picks up its receipt.
            if self._find_receipt(attempt)[0] is None:
                raise _NonceTaken() from None
        except TemporaryError:
            attempt.published = False
            raise
        attempt.published = True

    # --- fees, gas, signing -----------------------------------------------------------

    def _market_fees(self) -> tuple[int, int]:
        """(tip, fee cap) the market asks for now."""
        config = self.config
        history = self.client.fee_history(config.fee_history_blocks, "latest", [config.tip_percentile])
        # Empty blocks pay no tips and say nothing about the price: leave them out (as geth's oracle).
        rewards = [row[0] for row, used in zip(history.rewards, history.gas_used_ratios, strict=False)
                   if row and used > 0]
        tip = max(config.min_tip, int(statistics.median(rewards)) if rewards else 0)
        return tip, 2 * history.next_base_fee + tip

    def _estimate_gas(self, candidate: TxCandidate) -> int:
        estimate = self.client.estimate_gas(candidate.to, candidate.data, sender=self.address, value=candidate.value)
        return math.ceil(estimate * self.config.gas_multiplier)

    def _chain(self) -> int:
        if self._chain_id is None:
            self._chain_id = self.client.chain_id()
        return self._chain_id

    def _sign(self, attempt: _Attempt, chain_id: int) -> None:
        tx: dict[str, Any] = {
            "type": 2,
            "chainId": chain_id,
            "nonce": attempt.nonce,
            "gas": attempt.gas,
            "maxPriorityFeePerGas": attempt.tip,
            "maxFeePerGas": attempt.fee_cap,
            "value": attempt.candidate.value,
            "data": attempt.candidate.data,
        }
        if attempt.candidate.to is not None:
            tx["to"] = to_checksum_address(attempt.candidate.to)
        signed = self._account.sign_transaction(tx)
        attempt.raw = bytes(signed.raw_transaction)
        attempt.tx_hash = Hash32(bytes(signed.hash))
        attempt.hashes.append(attempt.tx_hash)
        attempt.published = False

    def _check_open(self, deadline: float, attempt: _Attempt | None) -> None:
        if self._closed.is_set():
            raise TxManagerClosed()
        if time.monotonic() > deadline:
            raise TxSendTimeout(attempt.nonce if attempt else -1, tuple(attempt.hashes) if attempt else (),
                                self.config.send_timeout)


def _bumped(value: int, percent: int) -> int:
    """`value` raised by `percent`, rounded up (geth compares against the exact share)."""
    return -(-value * (100 + percent) // 100)
