"""The validator's part in disputes (DESIGN section 5): challenge an output it
computes differently, vote with its own root on every challenge it can judge,
and resolve challenges whose voting has ended.

Honest outputs cost an honest validator nothing: it only sends a transaction
when a posted output differs from its own, when a challenge is open, or when
one is due to be resolved. For a batch that is invalid (it derives no blocks),
the validator's root is `INVALID_BATCH_ROOT`: any root other than the posted
one counts against the output.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from eth_hash.auto import keccak

from openledger_node.derivation.pipeline import Verdict

log = logging.getLogger("openledger.validator")

INVALID_BATCH_ROOT = bytes(keccak(b"openledger: the posted batch is invalid"))
OPEN_CHALLENGE = 1  # ChallengeStatus.Open in OpenLedgerRollup


class RollupDisputes(Protocol):
    """What the dispute flow needs of the rollup contract (bridge.RollupClient)."""

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
    challenged: set[int] = field(default_factory=set)  # output indexes this validator challenged
    voted: set[int] = field(default_factory=set)
    resolved: set[int] = field(default_factory=set)

    @staticmethod
    def own_root(verdict: Verdict) -> bytes:
        return verdict.derived_root if verdict.derived_root is not None else INVALID_BATCH_ROOT

    def on_verdict(self, verdict: Verdict) -> None:
        """Challenge an output this validator computes differently."""
        if verdict.agrees or verdict.index in self.challenged:
            return
        if self.rollup.has_open_challenge(verdict.index):
            return  # another validator's challenge: vote in it instead
        root = self.own_root(verdict)
        self.rollup.challenge(verdict.index, root)
        self.challenged.add(verdict.index)
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
            verdict = verdicts.get(output_index)
            if verdict is None or challenge_id in self.voted:
                continue  # not derived that far yet: vote once it is
            if self.rollup.has_voted(challenge_id, self.account):
                self.voted.add(challenge_id)
                continue
            root = self.own_root(verdict)
            self.rollup.vote(challenge_id, root)
            self.voted.add(challenge_id)
            log.info("voted 0x%s in challenge %d of output %d", root.hex(), challenge_id, output_index)
