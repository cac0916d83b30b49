"""The validator's dispute role against a rollup contract in memory: which
submission a verdict is about once outputs can be rolled back and posted
again, and a vote L1 refuses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from openledger_node.derivation.pipeline import Verdict
from openledger_node.exceptions import ExecutionReverted
from validator import INVALID_BATCH_ROOT, Disputes


@dataclass
class Live:
    output_root: bytes
    data_hash: bytes
    first_block: int
    last_block: int


@dataclass
class FakeRollup:
    outputs: list[Live] = field(default_factory=list)
    challenges: dict[int, dict[str, Any]] = field(default_factory=dict)
    sent: list[tuple[str, int, bytes | None]] = field(default_factory=list)
    refuse_votes: bool = False

    def next_batch_index(self) -> int:
        return len(self.outputs)

    def batch(self, index: int) -> Live:
        return self.outputs[index]

    def has_open_challenge(self, output_index: int) -> bool:
        return any(c["outputIndex"] == output_index and c["status"] == 1 for c in self.challenges.values())

    def challenge(self, output_index: int, claimed_root: bytes) -> None:
        self.sent.append(("challenge", output_index, claimed_root))
        self.challenges[len(self.challenges) + 1] = {
            "outputIndex": output_index, "status": 1, "votingEndsAt": 1_000,
            "outputRoot": self.outputs[output_index].output_root,
        }

    def challenges_opened(self, from_l1_block: int, to_l1_block: int) -> list[tuple[int, int]]:
        return [(cid, c["outputIndex"]) for cid, c in self.challenges.items()]

    def get_challenge(self, challenge_id: int) -> dict[str, Any]:
        return self.challenges[challenge_id]

    def has_voted(self, challenge_id: int, account: Any) -> bool:
        return False

    def vote(self, challenge_id: int, root: bytes) -> None:
        if self.refuse_votes:
            raise ExecutionReverted(b"\x00" * 4)
        self.sent.append(("vote", challenge_id, root))

    def resolve(self, challenge_id: int) -> None:
        self.sent.append(("resolve", challenge_id, None))
        self.challenges[challenge_id]["status"] = 4  # Cancelled


def verdict(index: int, posted: bytes, data_hash: bytes, l1_block: int, derived: bytes | None = b"\xaa" * 32) -> Verdict:
    return Verdict(index, 3, 4, posted, derived, "", l1_block, data_hash)


def disputes(rollup: FakeRollup) -> Disputes:
    return Disputes(rollup, b"\x01" * 20, 0)


def test_a_verdict_on_a_rolled_back_submission_challenges_nothing() -> None:
    # Output 1 was rolled back and posted again (other data, the same root): the
    # old verdict is about a submission L1 no longer holds.
    rollup = FakeRollup([Live(b"\x00" * 32, b"\x00" * 32, 1, 2), Live(b"\x13" * 32, b"\x22" * 32, 3, 4)])
    stale = verdict(1, b"\x13" * 32, b"\x11" * 32, l1_block=10, derived=None)
    disputes(rollup).on_verdict(stale)
    assert rollup.sent == []
    rollup.outputs.pop()  # rolled back, not posted again yet
    disputes(rollup).on_verdict(stale)
    assert rollup.sent == []


def test_an_index_posted_again_with_another_bad_batch_is_challenged_again() -> None:
    rollup = FakeRollup([Live(b"\x00" * 32, b"\x00" * 32, 1, 2), Live(b"\x13" * 32, b"\x11" * 32, 3, 4)])
    role = disputes(rollup)
    role.on_verdict(verdict(1, b"\x13" * 32, b"\x11" * 32, l1_block=10, derived=None))
    rollup.challenges[1]["status"] = 2  # Succeeded: output 1 rolled back
    rollup.outputs[1] = Live(b"\x13" * 32, b"\x33" * 32, 3, 4)  # and posted again, bad again
    role.on_verdict(verdict(1, b"\x13" * 32, b"\x33" * 32, l1_block=20, derived=None))
    assert rollup.sent == [("challenge", 1, INVALID_BATCH_ROOT), ("challenge", 1, INVALID_BATCH_ROOT)]
    # The same submission read again (a restart) is not challenged twice.
    role.on_verdict(verdict(1, b"\x13" * 32, b"\x33" * 32, l1_block=20, derived=None))
    assert len(rollup.sent) == 2


def test_a_vote_is_cast_only_with_a_verdict_on_the_challenged_submission() -> None:
    rollup = FakeRollup([Live(b"\x00" * 32, b"\x00" * 32, 1, 2), Live(b"\x13" * 32, b"\x11" * 32, 3, 4)])
    rollup.challenge(1, b"\xbb" * 32)
    role = disputes(rollup)
    older = verdict(1, b"\x14" * 32, b"\x10" * 32, l1_block=5)  # another submission of index 1
    role.step({1: older}, l1_head=30, l1_time=100)
    assert [s[0] for s in rollup.sent] == ["challenge"]
    role.step({1: verdict(1, b"\x13" * 32, b"\x11" * 32, l1_block=10)}, l1_head=30, l1_time=100)
    assert rollup.sent[-1] == ("vote", 1, b"\xaa" * 32)


def test_a_vote_l1_refuses_is_not_tried_again_and_a_stale_challenge_is_cancelled() -> None:
    rollup = FakeRollup([Live(b"\x00" * 32, b"\x00" * 32, 1, 2), Live(b"\x13" * 32, b"\x11" * 32, 3, 4)],
                        refuse_votes=True)
    rollup.challenge(1, b"\xbb" * 32)
    role = disputes(rollup)
    current = {1: verdict(1, b"\x13" * 32, b"\x11" * 32, l1_block=10)}
    role.step(current, l1_head=30, l1_time=100)  # no exception: the sync loop goes on
    assert rollup.sent[-1] == ("resolve", 1, None) and 1 in role.voted and 1 in role.resolved
    role.step(current, l1_head=30, l1_time=100)
    assert [s[0] for s in rollup.sent] == ["challenge", "resolve"]


def test_a_challenge_the_contract_refuses_is_not_sent_again(caplog: Any) -> None:
    class Closed(FakeRollup):
        def challenge(self, output_index: int, claimed_root: bytes) -> None:
            self.sent.append(("challenge", output_index, claimed_root))
            raise ExecutionReverted(b"\x01\x02\x03\x04", "ChallengeWindowClosed")

    rollup = Closed([Live(b"\x13" * 32, b"\x22" * 32, 3, 4)])
    wrong = verdict(0, b"\x13" * 32, b"\x22" * 32, l1_block=10)
    role = disputes(rollup)
    role.on_verdict(wrong)  # refused: logged, not raised
    role.on_verdict(wrong)  # and not tried again
    assert [kind for kind, _, _ in rollup.sent] == ["challenge"]
    assert any("cannot challenge output 0" in r.getMessage() for r in caplog.records)
