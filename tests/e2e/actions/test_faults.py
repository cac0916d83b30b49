"""Fault injection: every way a sequencer can cheat, caught and rolled back.

One test per fault (tests/e2e/actions/faults.py has the cheats and the rig), on
both L1 backends. Each posts an honest batch with the real batcher first, then
the cheat from the sequencer's key; two honest staked validators must both
disagree with it, one challenges (with its derived root, or INVALID_BATCH_ROOT
for a batch that derives no blocks) and the other votes; after the voting
period the challenge has succeeded, L1 is back at the bad output's index, both
validators' derived chains are back at the last honest block, the sequencer's
bond is slashed, and nothing honest was challenged or lost. Then the honest
batcher posts the blocks again and both validators derive and agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_hash.auto import keccak

from openledger_node.codec import block_entry, encode_batch
from openledger_node.derivation.batches import PostedBatch, decode_posted
from openledger_node.exceptions import BatchDecodeError
from tests.e2e.actions.faults import FAULTS, Outcome, fund_depositor, run_fault
from tests.e2e.actions.l1 import BACKENDS, AnvilL1
from validator import INVALID_BATCH_ROOT

# What each fault's verdicts must say (the challenger's, then the voter's).
REASONS = {
    "wrong_state_root": ("output root differs", "output root differs"),
    "tampered_transaction": ("output root differs", "output root differs"),
    "skipped_deposit": ("output root differs", "output root differs"),
    "deposit_credited_twice": ("output root differs", "output root differs"),
    "forged_l1_origin": ("is neither", "is neither"),
    "origin_past_drift": ("past L1 origin", "past L1 origin"),
    "block_gap": ("carries blocks", "carries blocks"),
    "invalid_transaction": ("nonce too high", "nonce too high"),
    "malformed_batch": ("", ""),
    "data_not_its_hash": ("the transaction's data hashes to", "output root differs"),
}


@pytest.fixture(scope="module", params=BACKENDS)
def l1(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilL1]:
    chain = AnvilL1(tmp_path_factory.mktemp(request.param), request.param)
    fund_depositor(chain)
    chain.mine()
    yield chain
    chain.close()


@pytest.fixture()
def fresh_l1(l1: AnvilL1) -> Iterator[AnvilL1]:
    snapshot = l1.rpc("evm_snapshot")
    yield l1
    l1.rpc("evm_revert", snapshot)


def check(outcome: Outcome, reasons: tuple[str, str]) -> None:
    challenger, voter = outcome.verdicts
    assert outcome.detected, outcome
    for verdict, reason in zip(outcome.verdicts, reasons, strict=True):
        assert reason in (verdict.reason or "output root differs"), (outcome.fault, verdict)
    if outcome.expected_claim == INVALID_BATCH_ROOT:
        assert challenger.derived_root is None
    else:
        assert challenger.derived_root is not None and challenger.derived_root != challenger.posted_root
        assert voter.derived_root == challenger.derived_root  # both re-executed the same blocks
    assert outcome.claimed_root == outcome.expected_claim
    assert outcome.opened_by_challenger and outcome.voted_by_voter
    assert outcome.status == "Succeeded"
    assert outcome.rolled_back_on_l1 and outcome.rolled_back_derived
    assert outcome.slashed > 0
    assert outcome.recovered
    assert outcome.honest_challenged == 0
    assert outcome.honest_l1_lost == 0 and outcome.honest_l2_lost == 0, outcome.reasons
    assert outcome.caught


@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_is_caught_and_rolled_back(tmp_path: Path, fresh_l1: AnvilL1, fault: str) -> None:
    rig, outcomes = run_fault(fresh_l1, tmp_path, fault)
    try:
        assert len(outcomes) == (2 if fault == "malformed_batch" else 1)
        for outcome in outcomes:
            check(outcome, REASONS[fault])
        # The honest output posted first was never challenged, and is final now.
        assert all(int(e.args["outputIndex"]) != 0 for e in rig.challenges())
        assert fresh_l1.rollup.finalized_output_count() >= 1
        # A validator started afterwards reads the bad batch, the rollback and the
        # re-post in one go: it ends on the sequencer's chain and challenges nothing
        # (the bad batch's index now holds the honest re-post).
        challenges = len(rig.challenges())
        late = rig.late_validator()
        try:
            assert late.store.head("unsafe").hash == rig.sequencer.head.hash
            assert late.derivation.halted is None and len(late.derivation.rollbacks) == len(outcomes)
            # Output 0, then each bad submission and, after the last, the honest re-post.
            assert [v.agrees for v in late.derivation.verdicts] == [True] + [False] * len(outcomes) + [True]
            assert len(rig.challenges()) == challenges
            assert fresh_l1.client.transaction_count(late.account, "latest") == 0
        finally:
            late.close()
        # A restart (as after an L1 reorganisation) reads it all again to the same chain.
        rig.challenger.derivation.restart()
        rig.challenger.sync()
        assert rig.challenger.store.head("unsafe").hash == rig.sequencer.head.hash
        assert rig.challenger.derivation.halted is None
    finally:
        rig.close()


def test_data_that_does_not_hash_to_the_commitment_is_refused() -> None:
    """The unit-level half of fault 10: whatever bytes an endpoint serves for a
    batch, they are checked against the hash the contract stored."""
    committed = encode_batch([block_entry(1, 1_700_000_002, 0, b"\x01" * 32, b"\x02" * 32, ())], 161299)
    other = encode_batch([block_entry(1, 1_700_000_004, 0, b"\x01" * 32, b"\x02" * 32, ())], 161299)
    posted = PostedBatch(0, 1, 1, b"\x13" * 32, bytes(keccak(committed)), other, 7)
    with pytest.raises(BatchDecodeError, match="the transaction's data hashes to"):
        decode_posted(posted, 161299)
    assert decode_posted(PostedBatch(0, 1, 1, b"\x13" * 32, bytes(keccak(committed)), committed, 7),
                         161299).first_block == 1
