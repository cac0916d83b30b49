"""The validator's part in disputes (DESIGN section 5): challenge an output it
computes differently, vote with its own root on every challenge it can judge,
and resolve challenges whose voting has ended.

Honest outputs cost an honest validator nothing: it only sends a transaction
when a posted output differs from its own, when a challenge is open, or when
one is due to be resolved. For a batch that is invalid (it derives no blocks),
the validator's root is `INVALID_BATCH_ROOT`: any root other than the posted
one counts against the output.

An output index names whichever submission L1 holds there now: after a
successful challenge rolls outputs back, the sequencer posts the same indexes
again. So a verdict is acted on only while its own submission is the live one
(same output root, data hash and blocks): a validator that derives a batch L1
has since rolled back and replaced neither challenges the replacement nor
votes against it with a verdict on the old one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from eth_hash.auto import keccak

from openledger_node.derivation.pipeline import Verdict
from openledger_node.exceptions import ExecutionReverted

log = logging.getLogger("openledger.validator")

INVALID_BATCH_ROOT = bytes(keccak(b"openledger: the posted batch is invalid"))
OPEN_CHALLENGE = 1  # ChallengeStatus.Open in OpenLedgerRollup


class RollupDisputes(Protocol):
    """What the dispute flow needs of the rollup contract (bridge.RollupClient)."""

    def next_batch_index(self) -> int: ...

    def batch(self, index: int) -> Any:
        """The live output `index`: `output_root`, `data_hash`, `first_block`, `last_block`."""
        ...

    def has_open_challenge(self, output_index: int) -> bool: ...

    def challenge(self, output_index: int, claimed_root: bytes) -> Any: ...

    def challenges_opened(self, from_l1_block: int, to_l1_block: int) -> list[tuple[int, int]]: ...

    def get_challenge(self, challenge_id: int) -> Any: ...

    def has_voted(self, challenge_id: int, account: Any) -> bool: ...

    def vote(self, challenge_id: int, root: bytes) -> Any: ...

    def resolve(self, challenge_id: int) -> Any: ...


@dataclass
class Disputes:
    rollup: RollupDisputes
    account: Any  # the validator's L1 address
    start_l1_block: int
    # (output index, L1 block of the batch) of every submission this validator
    # challenged: an index comes back after a rollback, as another submission.
    challenged: set[tuple[int, int]] = field(default_factory=set)
    voted: set[int] = field(default_factory=set)
    resolved: set[int] = field(default_factory=set)

    @staticmethod
    def own_root(verdict: Verdict) -> bytes:
        return verdict.derived_root if verdict.derived_root is not None else INVALID_BATCH_ROOT

    def is_live(self, verdict: Verdict) -> bool:
        """Whether the output L1 holds at the verdict's index is the submission
        the verdict judged (not rolled back, or posted again with other content)."""
        if verdict.index >= self.rollup.next_batch_index():
            return False
        live = self.rollup.batch(verdict.index)
        return (bytes(live.output_root), bytes(live.data_hash), int(live.first_block), int(live.last_block)) == (
            bytes(verdict.posted_root), bytes(verdict.data_hash), verdict.first_block, verdict.last_block)

    def on_verdict(self, verdict: Verdict) -> None:
        """Challenge an output this validator computes differently."""
        submission = (verdict.index, verdict.l1_block)
        if verdict.agrees or submission in self.challenged:
            return
        if not self.is_live(verdict):
            log.info("output %d was rolled back since (L1 block %d): nothing to challenge", verdict.index,
                     verdict.l1_block)
            return
        if self.rollup.has_open_challenge(verdict.index):
            return  # another validator's challenge: vote in it instead
        root = self.own_root(verdict)
        try:
            self.rollup.challenge(verdict.index, root)
        except ExecutionReverted as exc:
            # The contract refuses (the challenge window has closed, a bond is
            # missing): retrying would only spend gas again. Say so and go on.
            self.challenged.add(submission)
            log.error("cannot challenge output %d (posted 0x%s, ours 0x%s): the rollup contract refused: %s",
                      verdict.index, verdict.posted_root.hex(), root.hex(), exc)
            return
        self.challenged.add(submission)
        log.warning(
            "challenged output %d (blocks %d-%d): posted 0x%s, ours 0x%s%s",
            verdict.index, verdict.first_block, verdict.last_block, verdict.posted_root.hex(), root.hex(),
            f" ({verdict.reason})" if verdict.reason else "",
        )

    def step(self, verdicts: dict[int, Verdict], l1_head: int, l1_time: int) -> None:
        """Vote in every open challenge this validator can judge, and resolve
        those whose voting has ended."""
        for challenge_id, output_index in self.rollup.challenges_opened(self.start_l1_block, l1_head):
            if challenge_id in self.resolved:
                continue
            record = self.rollup.get_challenge(challenge_id)
            if int(record["status"]) != OPEN_CHALLENGE:
                self.resolved.add(challenge_id)
                continue
            if l1_time >= int(record["votingEndsAt"]):
                self.rollup.resolve(challenge_id)
                self.resolved.add(challenge_id)
                log.info("resolved challenge %d of output %d", challenge_id, output_index)
                continue
            if challenge_id in self.voted:
                continue
            verdict = verdicts.get(output_index)
            if verdict is None or bytes(verdict.posted_root) != bytes(record["outputRoot"]) \
                    or not self.is_live(verdict):
                continue  # the challenged submission is not derived yet: vote once it is
            if self.rollup.has_voted(challenge_id, self.account):
                self.voted.add(challenge_id)
                continue
            root = self.own_root(verdict)
            try:
                self.rollup.vote(challenge_id, root)
            except ExecutionReverted as exc:
                # Refused without a transaction (the gas estimate reverted): the
                # challenge went stale (an earlier output's challenge rolled its
                # output back) or this validator cannot vote. A stale one can
                # only be cancelled; either way, never try this vote again.
                self.voted.add(challenge_id)
                log.warning("cannot vote in challenge %d of output %d: %s", challenge_id, output_index, exc)
                try:
                    self.rollup.resolve(challenge_id)
                    self.resolved.add(challenge_id)
                except ExecutionReverted:
                    pass
                continue
            self.voted.add(challenge_id)
            log.info("voted 0x%s in challenge %d of output %d", root.hex(), challenge_id, output_index)
