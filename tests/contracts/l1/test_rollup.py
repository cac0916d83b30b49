"""OpenLedgerRollup on anvil: batches and outputs, sequencer bonds, validator
stake and unbonding, challenges with stake-weighted votes, rollback, slashing,
finality and the admin's parameters.

Base state (conftest.build_env): the sequencer holds exactly minSequencerBond
(1,000 OPEN); validators V0..V3 stake 400, 300, 200 and 100 OPEN (1,000 in all,
so the quorum of 33.34% is 333.4 OPEN); challengeWindow 3,600 s, votingPeriod
600 s, unbondingDelay 1,800 s, challengeBond 10 OPEN, slash 50%, challenger
reward capped at 2x the bond.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eth_utils.crypto import keccak

from contracts import load_artifact

from .conftest import (
    ADMIN_ROLE,
    CANCELLED,
    FAILED,
    OPEN,
    OPEN_STATUS,
    SUCCEEDED,
    L1Env,
    RollupConfig,
    deploy_rollup,
)

ZERO = "0x" + "00" * 20
ROOT = keccak(text="posted root")
CLAIM = b"\xee" * 32
OTHER = b"\xdd" * 32
DAY = 86_400


@pytest.fixture(autouse=True)
def _accounting_holds(l1: L1Env) -> Iterator[None]:
    """Whatever a test did, the rollup holds exactly what its counters account for."""
    yield
    assert l1.held() == l1.accounted()


def _v(l1: L1Env) -> list[str]:
    return l1.validators


def _voting_end(l1: L1Env, challenge_id: int) -> int:
    return int(l1.challenge_record(challenge_id)["votingEndsAt"])


def _resolve_after_vote(l1: L1Env, challenge_id: int, caller: str | None = None) -> Any:
    at = max(_voting_end(l1, challenge_id), l1.now())
    return l1.send(l1.fn.resolve(challenge_id), caller or l1.outsiders[0], at=at)


# ====================================================================== constructor


def test_constructor_sets_config_succeeds(l1: L1Env) -> None:
    f, c = l1.fn, l1.config
    assert f.openToken().call() == l1.token.address
    assert f.sequencer().call() == l1.sequencer
    assert f.treasury().call() == l1.treasury
    assert f.minSequencerBond().call() == c.min_sequencer_bond
    assert f.minValidatorStake().call() == c.min_validator_stake
    assert f.challengeBond().call() == c.challenge_bond
    assert f.unbondingDelay().call() == c.unbonding_delay
    assert f.challengeWindow().call() == c.challenge_window
    assert f.votingPeriod().call() == c.voting_period
    assert f.quorumBps().call() == c.quorum_bps
    assert f.slashFractionBps().call() == c.slash_fraction_bps
    assert f.challengerRewardFactorBps().call() == c.challenger_reward_factor_bps
    assert f.hasRole(ADMIN_ROLE, l1.admin).call()
    assert not f.hasRole(ADMIN_ROLE, l1.sequencer).call()
    assert f.nextBatchIndex().call() == 0
    assert f.challengeCount().call() == 0
    assert f.finalizedOutputCount().call() == 0


def test_constructor_emits_parameter_events_succeeds(l1: L1Env) -> None:
    artifact = load_artifact("OpenLedgerRollup")
    factory = l1.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    config = RollupConfig.production(l1.sequencer, l1.treasury)
    receipt = l1.send(factory.constructor(l1.token.address, l1.admin, config.as_tuple()), l1.admin)
    rollup = l1.w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi)
    assert l1.events(receipt, "SequencerUpdated", rollup) == [{"previous": ZERO, "current": l1.sequencer}]
    assert l1.events(receipt, "TreasuryUpdated", rollup) == [{"previous": ZERO, "current": l1.treasury}]
    expected = {
        "MinSequencerBondUpdated": config.min_sequencer_bond,
        "MinValidatorStakeUpdated": config.min_validator_stake,
        "ChallengeBondUpdated": config.challenge_bond,
        "UnbondingDelayUpdated": config.unbonding_delay,
        "ChallengeWindowUpdated": config.challenge_window,
        "VotingPeriodUpdated": config.voting_period,
        "QuorumBpsUpdated": config.quorum_bps,
        "SlashFractionBpsUpdated": config.slash_fraction_bps,
        "ChallengerRewardFactorBpsUpdated": config.challenger_reward_factor_bps,
    }
    for event, value in expected.items():
        assert l1.events(receipt, event, rollup) == [{"previous": 0, "current": value}], event
    granted = l1.events(receipt, "RoleGranted", rollup)
    assert granted == [{"role": ADMIN_ROLE, "account": l1.admin, "sender": l1.admin}]


def _constructor(l1: L1Env, token: str, admin: str, config: RollupConfig) -> Any:
    artifact = load_artifact("OpenLedgerRollup")
    factory = l1.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    return factory.constructor(token, admin, config.as_tuple())


def test_constructor_zero_token_reverts(l1: L1Env) -> None:
    call = _constructor(l1, ZERO, l1.admin, l1.config)
    l1.assert_reverts(call, l1.admin, "InvalidAddress(address)", ZERO)


def test_constructor_zero_admin_reverts(l1: L1Env) -> None:
    call = _constructor(l1, l1.token.address, ZERO, l1.config)
    l1.assert_reverts(call, l1.admin, "InvalidAddress(address)", ZERO)


def test_constructor_zero_sequencer_reverts(l1: L1Env) -> None:
    config = RollupConfig(sequencer=ZERO, treasury=l1.treasury)
    l1.assert_reverts(_constructor(l1, l1.token.address, l1.admin, config), l1.admin, "InvalidAddress(address)", ZERO)


@pytest.mark.parametrize(
    ("field", "value", "low", "high"),
    [
        ("quorum_bps", 0, 1, 10_000),
        ("slash_fraction_bps", 10_001, 1, 10_000),
        ("challenge_window", 0, 1, 30 * DAY),
        ("min_sequencer_bond", 0, OPEN, 100_000_000 * OPEN),
    ],
)
def test_constructor_out_of_bounds_config_reverts(l1: L1Env, field: str, value: int, low: int, high: int) -> None:
    config = RollupConfig(sequencer=l1.sequencer, treasury=l1.treasury, **{field: value})
    l1.assert_reverts(_constructor(l1, l1.token.address, l1.admin, config), l1.admin,
                      "ParameterOutOfBounds(uint256,uint256,uint256)", value, low, high)


def test_constructor_production_config_deploys_succeeds(l1: L1Env) -> None:
    config = RollupConfig.production(l1.sequencer, l1.treasury)
    rollup = deploy_rollup(l1.w3, l1.admin, l1.token.address, l1.admin, config)
    f = rollup.functions
    getters = (
        f.sequencer(), f.treasury(), f.minSequencerBond(), f.minValidatorStake(), f.challengeBond(),
        f.unbondingDelay(), f.challengeWindow(), f.votingPeriod(), f.quorumBps(), f.slashFractionBps(),
        f.challengerRewardFactorBps(),
    )
    assert tuple(getter.call() for getter in getters) == config.as_tuple()
    assert f.challengeWindow().call() == 7 * DAY


# ====================================================================== admin setters

SETTERS = [
    # (function, getter, event, valid value, min, max)
    ("setMinSequencerBond", "minSequencerBond", "MinSequencerBondUpdated", 5_000 * OPEN, OPEN, 100_000_000 * OPEN),
    ("setMinValidatorStake", "minValidatorStake", "MinValidatorStakeUpdated", 250 * OPEN, OPEN, 100_000_000 * OPEN),
    ("setChallengeBond", "challengeBond", "ChallengeBondUpdated", 50 * OPEN, OPEN, 100_000_000 * OPEN),
    ("setUnbondingDelay", "unbondingDelay", "UnbondingDelayUpdated", 14 * DAY, 1, 90 * DAY),
    ("setChallengeWindow", "challengeWindow", "ChallengeWindowUpdated", 7 * DAY, 1, 30 * DAY),
    ("setVotingPeriod", "votingPeriod", "VotingPeriodUpdated", 3 * DAY, 1, 30 * DAY),
    ("setQuorumBps", "quorumBps", "QuorumBpsUpdated", 5_000, 1, 10_000),
    ("setSlashFractionBps", "slashFractionBps", "SlashFractionBpsUpdated", 10_000, 1, 10_000),
    ("setChallengerRewardFactorBps", "challengerRewardFactorBps", "ChallengerRewardFactorBpsUpdated", 0, 0, 100_000),
]
SETTER_IDS = [s[0] for s in SETTERS]


@pytest.mark.parametrize(("function", "getter", "event", "value", "low", "high"), SETTERS, ids=SETTER_IDS)
def test_setter_by_admin_succeeds(l1: L1Env, function: str, getter: str, event: str, value: int, low: int,
                                  high: int) -> None:
    previous = l1.fn[getter]().call()
    receipt = l1.send(l1.fn[function](value), l1.admin)
    assert l1.events(receipt, event) == [{"previous": previous, "current": value}]
    assert l1.fn[getter]().call() == value
    for bound in (low, high):  # both bounds are accepted
        l1.send(l1.fn[function](bound), l1.admin)
        assert l1.fn[getter]().call() == bound


@pytest.mark.parametrize(("function", "getter", "event", "value", "low", "high"), SETTERS, ids=SETTER_IDS)
def test_setter_by_non_admin_reverts(l1: L1Env, function: str, getter: str, event: str, value: int, low: int,
                                     high: int) -> None:
    l1.assert_reverts(l1.fn[function](value), l1.sequencer, "AccessControlUnauthorizedAccount(address,bytes32)",
                      l1.sequencer, ADMIN_ROLE)


@pytest.mark.parametrize(("function", "getter", "event", "value", "low", "high"), SETTERS, ids=SETTER_IDS)
def test_setter_out_of_bounds_reverts(l1: L1Env, function: str, getter: str, event: str, value: int, low: int,
                                      high: int) -> None:
    signature = "ParameterOutOfBounds(uint256,uint256,uint256)"
    l1.assert_reverts(l1.fn[function](high + 1), l1.admin, signature, high + 1, low, high)
    if low > 0:
        l1.assert_reverts(l1.fn[function](low - 1), l1.admin, signature, low - 1, low, high)


def test_setSequencer_by_admin_succeeds(l1: L1Env) -> None:
    new = l1.outsiders[0]
    receipt = l1.send(l1.fn.setSequencer(new), l1.admin)
    assert l1.events(receipt, "SequencerUpdated") == [{"previous": l1.sequencer, "current": new}]
    assert l1.fn.sequencer().call() == new
    l1.assert_reverts(l1.fn.submitBatch(0, 1, 1, ROOT, b""), l1.sequencer, "NotSequencer(address)", l1.sequencer)


def test_setSequencer_zero_address_reverts(l1: L1Env) -> None:
    l1.assert_reverts(l1.fn.setSequencer(ZERO), l1.admin, "InvalidAddress(address)", ZERO)


def test_setSequencer_by_non_admin_reverts(l1: L1Env) -> None:
    l1.assert_reverts(l1.fn.setSequencer(l1.sequencer), l1.sequencer,
                      "AccessControlUnauthorizedAccount(address,bytes32)", l1.sequencer, ADMIN_ROLE)


def test_setTreasury_by_admin_succeeds(l1: L1Env) -> None:
    new = l1.outsiders[0]
    receipt = l1.send(l1.fn.setTreasury(new), l1.admin)
    assert l1.events(receipt, "TreasuryUpdated") == [{"previous": l1.treasury, "current": new}]
    assert l1.fn.treasury().call() == new


@pytest.mark.parametrize("which", ["zero", "self"])
def test_setTreasury_invalid_address_reverts(l1: L1Env, which: str) -> None:
    account = ZERO if which == "zero" else l1.rollup.address
    l1.assert_reverts(l1.fn.setTreasury(account), l1.admin, "InvalidAddress(address)", account)


def test_setTreasury_by_non_admin_reverts(l1: L1Env) -> None:
    l1.assert_reverts(l1.fn.setTreasury(l1.outsiders[0]), l1.outsiders[0],
                      "AccessControlUnauthorizedAccount(address,bytes32)", l1.outsiders[0], ADMIN_ROLE)


def test_grantRole_new_admin_sets_parameters_succeeds(l1: L1Env) -> None:
    timelock = l1.outsiders[1]  # stands in for a TimelockController
    receipt = l1.send(l1.fn.grantRole(ADMIN_ROLE, timelock), l1.admin)
    assert l1.events(receipt, "RoleGranted") == [{"role": ADMIN_ROLE, "account": timelock, "sender": l1.admin}]
    receipt = l1.send(l1.fn.renounceRole(ADMIN_ROLE, l1.admin), l1.admin)
    assert l1.events(receipt, "RoleRevoked") == [{"role": ADMIN_ROLE, "account": l1.admin, "sender": l1.admin}]
    assert l1.fn.hasRole(ADMIN_ROLE, timelock).call() and not l1.fn.hasRole(ADMIN_ROLE, l1.admin).call()
    receipt = l1.send(l1.fn.setQuorumBps(5_000), timelock)
    assert l1.events(receipt, "QuorumBpsUpdated") == [{"previous": l1.config.quorum_bps, "current": 5_000}]
    assert l1.fn.quorumBps().call() == 5_000
    l1.assert_reverts(l1.fn.setQuorumBps(4_000), l1.admin, "AccessControlUnauthorizedAccount(address,bytes32)",
                      l1.admin, ADMIN_ROLE)


# ====================================================================== submitBatch


def test_submitBatch_first_batch_succeeds(l1: L1Env) -> None:
    data = b"\x01compressed batch"
    receipt = l1.send(l1.fn.submitBatch(0, 1, 20, ROOT, data), l1.sequencer)
    ts = int(l1.w3.eth.get_block(receipt["blockNumber"])["timestamp"])
    assert l1.events(receipt, "BatchSubmitted") == [
        {"batchIndex": 0, "firstBlock": 1, "lastBlock": 20, "outputRoot": ROOT, "dataHash": keccak(data)}
    ]
    assert l1.batch(0) == {
        "outputRoot": ROOT, "dataHash": keccak(data), "firstBlock": 1, "lastBlock": 20, "timestamp": ts,
        "challengeDeadline": ts + l1.config.challenge_window, "proposer": l1.sequencer, "nonce": 1,
    }
    assert l1.fn.getL2Output(0).call() == (ROOT, 20, ts)
    assert l1.fn.nextBatchIndex().call() == 1
    assert l1.fn.latestOutputIndex().call() == 0
    assert not l1.fn.isOutputFinalized(0).call()


def test_submitBatch_contiguous_batches_succeeds(l1: L1Env) -> None:
    l1.send(l1.fn.submitBatch(0, 1, 5, ROOT, b"a"), l1.sequencer)
    l1.send(l1.fn.submitBatch(1, 6, 6, OTHER, b""), l1.sequencer)  # one-block batch, empty data
    receipt = l1.send(l1.fn.submitBatch(2, 7, 100, CLAIM, b"c"), l1.sequencer)
    assert l1.events(receipt, "BatchSubmitted")[0]["batchIndex"] == 2
    assert l1.fn.getL2Output(1).call()[:2] == (OTHER, 6)
    assert l1.batch(1)["dataHash"] == keccak(b"")
    assert l1.fn.latestOutputIndex().call() == 2


def test_submitBatch_not_sequencer_reverts(l1: L1Env) -> None:
    caller = l1.validators[0]
    l1.assert_reverts(l1.fn.submitBatch(0, 1, 1, ROOT, b""), caller, "NotSequencer(address)", caller)


@pytest.mark.parametrize("index", [1, 5])
def test_submitBatch_wrong_index_reverts(l1: L1Env, index: int) -> None:
    l1.assert_reverts(l1.fn.submitBatch(index, 1, 1, ROOT, b""), l1.sequencer,
                      "UnexpectedBatchIndex(uint256,uint256)", 0, index)


def test_submitBatch_reused_index_reverts(l1: L1Env) -> None:
    l1.submit(blocks=3)
    l1.assert_reverts(l1.fn.submitBatch(0, 4, 4, ROOT, b""), l1.sequencer,
                      "UnexpectedBatchIndex(uint256,uint256)", 1, 0)


@pytest.mark.parametrize("first", [0, 2])
def test_submitBatch_first_batch_not_block_one_reverts(l1: L1Env, first: int) -> None:
    l1.assert_reverts(l1.fn.submitBatch(0, first, first + 3, ROOT, b""), l1.sequencer,
                      "NonContiguousBlocks(uint64,uint64)", 1, first)


@pytest.mark.parametrize("first", [10, 12, 1])
def test_submitBatch_gap_or_overlap_reverts(l1: L1Env, first: int) -> None:
    l1.submit(blocks=10)  # blocks 1..10
    l1.assert_reverts(l1.fn.submitBatch(1, first, first + 5, ROOT, b""), l1.sequencer,
                      "NonContiguousBlocks(uint64,uint64)", 11, first)


def test_submitBatch_last_before_first_reverts(l1: L1Env) -> None:
    l1.submit(blocks=10)
    l1.assert_reverts(l1.fn.submitBatch(1, 11, 10, ROOT, b""), l1.sequencer,
                      "InvalidBlockRange(uint64,uint64)", 11, 10)


def test_submitBatch_last_block_max_uint64_reverts(l1: L1Env) -> None:
    l1.assert_reverts(l1.fn.submitBatch(0, 1, 2**64 - 1, ROOT, b""), l1.sequencer,
                      "InvalidBlockRange(uint64,uint64)", 1, 2**64 - 1)


def test_submitBatch_zero_output_root_reverts(l1: L1Env) -> None:
    l1.assert_reverts(l1.fn.submitBatch(0, 1, 1, b"\x00" * 32, b""), l1.sequencer, "ZeroOutputRoot()")


def test_submitBatch_insufficient_bond_reverts(l1: L1Env) -> None:
    new = l1.outsiders[0]
    l1.send(l1.fn.setSequencer(new), l1.admin)
    l1.assert_reverts(l1.fn.submitBatch(0, 1, 1, ROOT, b""), new, "InsufficientSequencerBond(uint256,uint256)",
                      0, l1.config.min_sequencer_bond)
    l1.send(l1.fn.depositSequencerBond(l1.config.min_sequencer_bond - 1), new)
    l1.assert_reverts(l1.fn.submitBatch(0, 1, 1, ROOT, b""), new, "InsufficientSequencerBond(uint256,uint256)",
                      l1.config.min_sequencer_bond - 1, l1.config.min_sequencer_bond)
    l1.send(l1.fn.depositSequencerBond(1), new)
    l1.send(l1.fn.submitBatch(0, 1, 1, ROOT, b""), new)
    assert l1.batch(0)["proposer"] == new


def test_submitBatch_after_window_decrease_keeps_deadlines_monotonic_succeeds(l1: L1Env) -> None:
    l1.submit()
    first_deadline = l1.batch(0)["challengeDeadline"]
    l1.send(l1.fn.setChallengeWindow(60), l1.admin)
    l1.submit()
    assert l1.batch(1)["challengeDeadline"] == first_deadline  # not earlier than its predecessor's
    l1.send(l1.fn.setChallengeWindow(7_200), l1.admin)
    receipt = l1.submit()
    ts = int(l1.w3.eth.get_block(receipt["blockNumber"])["timestamp"])
    assert l1.batch(2)["challengeDeadline"] == ts + 7_200
    assert l1.batch(0)["challengeDeadline"] == first_deadline  # existing outputs keep theirs


# ====================================================================== output views


def test_latestOutputIndex_no_outputs_reverts(l1: L1Env) -> None:
    l1.assert_reverts(l1.fn.latestOutputIndex(), l1.admin, "NoOutputs()")


@pytest.mark.parametrize("function", ["getL2Output", "getBatch"])
def test_output_getter_unknown_index_reverts(l1: L1Env, function: str) -> None:
    l1.assert_reverts(l1.fn[function](0), l1.admin, "UnknownOutput(uint256)", 0)
    l1.submit()
    l1.assert_reverts(l1.fn[function](1), l1.admin, "UnknownOutput(uint256)", 1)


def test_isOutputFinalized_unknown_index_is_false_succeeds(l1: L1Env) -> None:
    assert not l1.fn.isOutputFinalized(0).call()
    assert not l1.fn.isOutputFinalized(2**256 - 1).call()
    assert not l1.fn.hasOpenChallenge(3).call()


def test_isOutputFinalized_at_window_end_succeeds(l1: L1Env) -> None:
    l1.submit()
    deadline = l1.batch(0)["challengeDeadline"]
    l1.mine_at(deadline - 1)
    assert not l1.fn.isOutputFinalized(0).call()
    assert l1.fn.finalizedOutputCount().call() == 0
    l1.mine_at(deadline)
    assert l1.fn.isOutputFinalized(0).call()
    assert l1.fn.finalizedOutputCount().call() == 1


def test_finalizedOutputCount_prefix_of_passed_windows_succeeds(l1: L1Env) -> None:
    start = l1.now() + 10
    for i in range(5):
        l1.submit(at=start + 100 * i)
    window = l1.config.challenge_window
    for seconds, count in [(window - 1, 0), (window, 1), (window + 250, 3), (window + 400, 5)]:
        l1.mine_at(start + seconds)
        assert l1.fn.finalizedOutputCount().call() == count
        assert [l1.fn.isOutputFinalized(i).call() for i in range(5)] == [i < count for i in range(5)]


def test_isOutputFinalized_open_challenge_blocks_it_and_later_outputs_succeeds(l1: L1Env) -> None:
    for _ in range(3):
        l1.submit()
    weak = _v(l1)[3]  # 100 OPEN: below quorum alone, so the challenge will fail
    challenge_id = l1.open_challenge(weak, 1)
    assert l1.fn.hasOpenChallenge(1).call()
    l1.mine_at(l1.batch(2)["challengeDeadline"])
    assert [l1.fn.isOutputFinalized(i).call() for i in range(3)] == [True, False, False]
    assert l1.fn.finalizedOutputCount().call() == 1
    receipt = _resolve_after_vote(l1, challenge_id)
    assert l1.events(receipt, "ChallengeResolved")[0]["status"] == FAILED
    assert [l1.fn.isOutputFinalized(i).call() for i in range(3)] == [True, True, True]
    assert l1.fn.finalizedOutputCount().call() == 3
    assert not l1.fn.hasOpenChallenge(1).call()


def test_isOutputFinalized_lowest_open_challenge_moves_up_succeeds(l1: L1Env) -> None:
    for _ in range(4):
        l1.submit()
    low = l1.open_challenge(_v(l1)[3], 0)  # 100 OPEN, fails on quorum
    high = l1.open_challenge(_v(l1)[2], 2)  # 200 OPEN, fails on quorum
    l1.mine_at(l1.batch(3)["challengeDeadline"])
    assert l1.fn.finalizedOutputCount().call() == 0
    _resolve_after_vote(l1, high)
    assert l1.fn.finalizedOutputCount().call() == 0  # output 0 still has its challenge
    _resolve_after_vote(l1, low)
    assert l1.fn.finalizedOutputCount().call() == 4


def _submit_one_block_batches(l1: L1Env, start: int, end: int) -> None:
    """Outputs start..end-1, output i covering L2 block i + 1 (no gas estimation: fast)."""
    for index in range(start, end):
        root = keccak(index.to_bytes(32, "big"))
        l1.send(l1.fn.submitBatch(index, index + 1, index + 1, root, b""), l1.sequencer, gas=300_000)


def test_resolve_lowest_challenge_scans_past_bitmap_word_succeeds(l1: L1Env) -> None:
    count = 262
    _submit_one_block_batches(l1, 0, count)
    low = l1.open_challenge(_v(l1)[3], 3)
    high = l1.open_challenge(_v(l1)[2], 258)  # in the second 256-output word
    l1.mine_at(l1.batch(count - 1)["challengeDeadline"])
    _resolve_after_vote(l1, low)
    assert l1.fn.finalizedOutputCount().call() == 258
    assert l1.fn.isOutputFinalized(257).call() and not l1.fn.isOutputFinalized(258).call()
    _resolve_after_vote(l1, high)
    assert l1.fn.finalizedOutputCount().call() == count


def test_resolve_rollback_clears_challenges_past_bitmap_word_succeeds(l1: L1Env) -> None:
    count = 262
    _submit_one_block_batches(l1, 0, count)
    stale = l1.open_challenge(_v(l1)[3], 258)  # second 256-output word; never resolved
    winner = l1.open_challenge(_v(l1)[0], 200)  # first word; succeeds and rolls back 200..261
    l1.open_challenge(_v(l1)[2], 100)  # below the rollback: must stay open
    _resolve_after_vote(l1, winner)
    assert l1.fn.nextBatchIndex().call() == 200
    assert l1.fn.hasOpenChallenge(100).call()
    l1.send(l1.fn.depositSequencerBond(500 * OPEN), l1.sequencer)
    _submit_one_block_batches(l1, 200, count)
    assert not l1.fn.hasOpenChallenge(258).call()
    assert not l1.fn.hasOpenChallenge(200).call()
    l1.mine_at(l1.batch(count - 1)["challengeDeadline"])
    assert l1.fn.finalizedOutputCount().call() == 100  # output 100 is still challenged
    assert l1.challenge_record(stale)["status"] == OPEN_STATUS


# ====================================================================== sequencer bond


def test_depositSequencerBond_adds_to_bond_succeeds(l1: L1Env) -> None:
    account = l1.outsiders[0]
    before = l1.held()
    receipt = l1.send(l1.fn.depositSequencerBond(25 * OPEN), account)
    assert l1.events(receipt, "SequencerBondDeposited") == [{"account": account, "amount": 25 * OPEN,
                                                            "bond": 25 * OPEN}]
    receipt = l1.send(l1.fn.depositSequencerBond(5 * OPEN), account)
    assert l1.events(receipt, "SequencerBondDeposited")[0]["bond"] == 30 * OPEN
    assert l1.fn.sequencerBond(account).call() == 30 * OPEN
    assert l1.held() == before + 30 * OPEN


def test_depositSequencerBond_zero_amount_reverts(l1: L1Env) -> None:
    l1.assert_reverts(l1.fn.depositSequencerBond(0), l1.sequencer, "ZeroAmount()")


def test_depositSequencerBond_without_allowance_reverts(l1: L1Env) -> None:
    account = l1.outsiders[0]
    l1.send(l1.token.functions.approve(l1.rollup.address, 0), account)
    l1.assert_reverts(l1.fn.depositSequencerBond(OPEN), account,
                      "ERC20InsufficientAllowance(address,uint256,uint256)", l1.rollup.address, 0, OPEN)


def test_withdrawSequencerBond_without_outputs_succeeds(l1: L1Env) -> None:
    before = l1.balance(l1.sequencer)
    receipt = l1.send(l1.fn.withdrawSequencerBond(400 * OPEN), l1.sequencer)
    assert l1.events(receipt, "SequencerBondWithdrawn") == [{"account": l1.sequencer, "amount": 400 * OPEN,
                                                            "bond": 600 * OPEN}]
    assert l1.balance(l1.sequencer) == before + 400 * OPEN
    assert l1.fn.sequencerBond(l1.sequencer).call() == 600 * OPEN
    assert l1.fn.totalSequencerBonds().call() == 600 * OPEN


def test_withdrawSequencerBond_latest_output_not_final_reverts(l1: L1Env) -> None:
    l1.submit()
    l1.submit(at=l1.now() + 100)
    l1.mine_at(l1.batch(0)["challengeDeadline"])
    l1.assert_reverts(l1.fn.withdrawSequencerBond(OPEN), l1.sequencer, "BondLocked(uint256)", 1)


def test_withdrawSequencerBond_all_outputs_final_succeeds(l1: L1Env) -> None:
    bond = l1.config.min_sequencer_bond
    l1.submit()
    l1.submit()
    before = l1.balance(l1.sequencer)
    receipt = l1.send(l1.fn.withdrawSequencerBond(bond), l1.sequencer, at=l1.batch(1)["challengeDeadline"])
    assert l1.events(receipt, "SequencerBondWithdrawn") == [{"account": l1.sequencer, "amount": bond, "bond": 0}]
    assert l1.fn.sequencerBond(l1.sequencer).call() == 0
    assert l1.fn.totalSequencerBonds().call() == 0
    assert l1.balance(l1.sequencer) == before + bond


def test_withdrawSequencerBond_open_challenge_after_window_reverts(l1: L1Env) -> None:
    l1.submit()
    l1.open_challenge(_v(l1)[3], 0)
    l1.mine_at(l1.batch(0)["challengeDeadline"])
    l1.assert_reverts(l1.fn.withdrawSequencerBond(OPEN), l1.sequencer, "BondLocked(uint256)", 0)


def test_withdrawSequencerBond_rotated_sequencer_after_own_outputs_final_succeeds(l1: L1Env) -> None:
    l1.submit()  # output 0 by the old sequencer
    new = l1.outsiders[0]
    l1.send(l1.fn.setSequencer(new), l1.admin)
    l1.send(l1.fn.depositSequencerBond(l1.config.min_sequencer_bond), new)
    first = l1.next_first_block()
    l1.send(l1.fn.submitBatch(1, first, first, ROOT, b""), new, at=l1.batch(0)["challengeDeadline"] - 1)
    l1.assert_reverts(l1.fn.withdrawSequencerBond(OPEN), l1.sequencer, "BondLocked(uint256)", 0)
    l1.mine_at(l1.batch(0)["challengeDeadline"])
    bond = l1.config.min_sequencer_bond
    receipt = l1.send(l1.fn.withdrawSequencerBond(bond), l1.sequencer)  # output 1 is not final
    assert l1.events(receipt, "SequencerBondWithdrawn") == [{"account": l1.sequencer, "amount": bond, "bond": 0}]
    assert l1.fn.sequencerBond(l1.sequencer).call() == 0
    assert l1.fn.totalSequencerBonds().call() == bond  # the new sequencer's, still locked
    l1.assert_reverts(l1.fn.withdrawSequencerBond(OPEN), new, "BondLocked(uint256)", 1)


def test_withdrawSequencerBond_more_than_bond_reverts(l1: L1Env) -> None:
    bond = l1.config.min_sequencer_bond
    l1.assert_reverts(l1.fn.withdrawSequencerBond(bond + 1), l1.sequencer, "InsufficientBond(uint256,uint256)",
                      bond, bond + 1)


def test_withdrawSequencerBond_zero_amount_reverts(l1: L1Env) -> None:
    l1.assert_reverts(l1.fn.withdrawSequencerBond(0), l1.sequencer, "ZeroAmount()")


# ====================================================================== stake


def test_stake_new_validator_succeeds(l1: L1Env) -> None:
    account = l1.outsiders[0]
    total = l1.fn.totalActiveStake().call()
    receipt = l1.send(l1.fn.stake(100 * OPEN), account)
    assert l1.events(receipt, "Staked") == [{"validator": account, "amount": 100 * OPEN, "activeStake": 100 * OPEN}]
    assert l1.validator(account)["active"] == 100 * OPEN
    assert l1.fn.totalActiveStake().call() == total + 100 * OPEN


def test_stake_top_up_below_minimum_amount_succeeds(l1: L1Env) -> None:
    validator = _v(l1)[3]
    receipt = l1.send(l1.fn.stake(1), validator)
    assert l1.events(receipt, "Staked")[0]["activeStake"] == 100 * OPEN + 1


def test_stake_below_minimum_reverts(l1: L1Env) -> None:
    l1.assert_reverts(l1.fn.stake(50 * OPEN), l1.outsiders[0], "StakeBelowMinimum(uint256,uint256)",
                      50 * OPEN, 100 * OPEN)


def test_stake_zero_amount_reverts(l1: L1Env) -> None:
    l1.assert_reverts(l1.fn.stake(0), l1.outsiders[0], "ZeroAmount()")


def test_stake_without_allowance_reverts(l1: L1Env) -> None:
    account = l1.outsiders[0]
    l1.send(l1.token.functions.approve(l1.rollup.address, 0), account)
    l1.assert_reverts(l1.fn.stake(100 * OPEN), account, "ERC20InsufficientAllowance(address,uint256,uint256)",
                      l1.rollup.address, 0, 100 * OPEN)


def test_requestUnstake_partial_succeeds(l1: L1Env) -> None:
    validator = _v(l1)[0]
    receipt = l1.send(l1.fn.requestUnstake(300 * OPEN), validator)
    ts = int(l1.w3.eth.get_block(receipt["blockNumber"])["timestamp"])
    ready = ts + l1.config.unbonding_delay
    assert l1.events(receipt, "UnstakeRequested") == [
        {"validator": validator, "amount": 300 * OPEN, "unbonding": 300 * OPEN, "readyAt": ready}
    ]
    assert l1.validator(validator) == {"active": 100 * OPEN, "unbonding": 300 * OPEN, "unbondingReadyAt": ready,
                                       "lockedUntil": 0}
    assert l1.fn.totalActiveStake().call() == 700 * OPEN
    assert l1.fn.totalUnbonding().call() == 300 * OPEN


def test_requestUnstake_full_succeeds(l1: L1Env) -> None:
    validator = _v(l1)[0]
    receipt = l1.send(l1.fn.requestUnstake(400 * OPEN), validator)  # nothing left: below the minimum is fine
    ts = int(l1.w3.eth.get_block(receipt["blockNumber"])["timestamp"])
    ready = ts + l1.config.unbonding_delay
    assert l1.events(receipt, "UnstakeRequested") == [
        {"validator": validator, "amount": 400 * OPEN, "unbonding": 400 * OPEN, "readyAt": ready}
    ]
    assert l1.validator(validator) == {"active": 0, "unbonding": 400 * OPEN, "unbondingReadyAt": ready,
                                       "lockedUntil": 0}
    assert l1.fn.totalActiveStake().call() == 600 * OPEN
    assert l1.fn.totalUnbonding().call() == 400 * OPEN


def test_requestUnstake_leaving_below_minimum_reverts(l1: L1Env) -> None:
    l1.assert_reverts(l1.fn.requestUnstake(350 * OPEN), _v(l1)[0], "StakeBelowMinimum(uint256,uint256)",
                      50 * OPEN, 100 * OPEN)


def test_requestUnstake_more_than_active_reverts(l1: L1Env) -> None:
    l1.assert_reverts(l1.fn.requestUnstake(401 * OPEN), _v(l1)[0], "InsufficientStake(uint256,uint256)",
                      400 * OPEN, 401 * OPEN)
    l1.assert_reverts(l1.fn.requestUnstake(1), l1.outsiders[0], "InsufficientStake(uint256,uint256)", 0, 1)


def test_requestUnstake_zero_amount_reverts(l1: L1Env) -> None:
    l1.assert_reverts(l1.fn.requestUnstake(0), _v(l1)[0], "ZeroAmount()")


def test_requestUnstake_second_request_restarts_delay_succeeds(l1: L1Env) -> None:
    validator = _v(l1)[0]
    start = l1.now() + 10
    l1.send(l1.fn.requestUnstake(100 * OPEN), validator, at=start)
    l1.send(l1.fn.requestUnstake(100 * OPEN), validator, at=start + 500)
    record = l1.validator(validator)
    assert record["unbonding"] == 200 * OPEN
    assert record["unbondingReadyAt"] == start + 500 + l1.config.unbonding_delay


def test_requestUnstake_unbonding_stake_does_not_vote_succeeds(l1: L1Env) -> None:
    l1.submit()
    v0, v1 = _v(l1)[0], _v(l1)[1]
    l1.send(l1.fn.requestUnstake(400 * OPEN), v0)
    l1.assert_reverts(l1.fn.challenge(0, CLAIM), v0, "NotValidator(address)", v0)
    l1.send(l1.fn.requestUnstake(200 * OPEN), v1)
    challenge_id = l1.open_challenge(_v(l1)[3], 0)
    receipt = l1.send(l1.fn.vote(challenge_id, ROOT), v1)
    assert l1.events(receipt, "Voted")[0]["weight"] == 100 * OPEN
    l1.assert_reverts(l1.fn.vote(challenge_id, ROOT), v0, "NotValidator(address)", v0)


def test_withdrawStake_after_delay_succeeds(l1: L1Env) -> None:
    validator = _v(l1)[1]
    l1.send(l1.fn.requestUnstake(300 * OPEN), validator)
    ready = l1.validator(validator)["unbondingReadyAt"]
    before = l1.balance(validator)
    receipt = l1.send(l1.fn.withdrawStake(), validator, at=ready)
    assert l1.events(receipt, "StakeWithdrawn") == [{"validator": validator, "amount": 300 * OPEN}]
    assert l1.balance(validator) == before + 300 * OPEN
    assert l1.validator(validator)["unbonding"] == 0
    assert l1.fn.totalUnbonding().call() == 0


def test_withdrawStake_before_delay_reverts(l1: L1Env) -> None:
    validator = _v(l1)[1]
    l1.send(l1.fn.requestUnstake(300 * OPEN), validator)
    ready = l1.validator(validator)["unbondingReadyAt"]
    l1.mine_at(ready - 1)
    l1.assert_reverts(l1.fn.withdrawStake(), validator, "UnbondingNotFinished(uint64)", ready)


def test_withdrawStake_nothing_unbonding_reverts(l1: L1Env) -> None:
    l1.assert_reverts(l1.fn.withdrawStake(), _v(l1)[0], "NothingToWithdraw()")
    l1.assert_reverts(l1.fn.withdrawStake(), l1.outsiders[0], "NothingToWithdraw()")


def test_withdrawStake_voted_stake_locked_until_vote_ends_reverts(l1: L1Env) -> None:
    l1.send(l1.fn.setUnbondingDelay(60), l1.admin)  # shorter than the voting period
    l1.submit()
    voter = _v(l1)[1]
    challenge_id = l1.open_challenge(_v(l1)[3], 0)
    l1.send(l1.fn.vote(challenge_id, ROOT), voter)
    ends = _voting_end(l1, challenge_id)
    assert l1.validator(voter)["lockedUntil"] == ends
    l1.send(l1.fn.requestUnstake(300 * OPEN), voter)
    assert l1.validator(voter)["unbondingReadyAt"] == ends
    l1.mine_at(ends - 1)
    l1.assert_reverts(l1.fn.withdrawStake(), voter, "UnbondingNotFinished(uint64)", ends)
    receipt = l1.send(l1.fn.withdrawStake(), voter, at=ends)
    assert l1.events(receipt, "StakeWithdrawn") == [{"validator": voter, "amount": 300 * OPEN}]
    assert l1.validator(voter)["unbonding"] == 0


# ====================================================================== challenge


def test_challenge_open_succeeds(l1: L1Env) -> None:
    l1.submit(root=ROOT)
    challenger = _v(l1)[0]
    before = l1.balance(challenger)
    receipt = l1.send(l1.fn.challenge(0, CLAIM), challenger)
    ts = int(l1.w3.eth.get_block(receipt["blockNumber"])["timestamp"])
    ends = ts + l1.config.voting_period
    assert l1.events(receipt, "ChallengeOpened") == [{
        "challengeId": 1, "outputIndex": 0, "challenger": challenger, "outputRoot": ROOT, "claimedRoot": CLAIM,
        "bond": 10 * OPEN, "votingEndsAt": ends,
    }]
    assert l1.events(receipt, "Voted") == [{"challengeId": 1, "validator": challenger, "root": CLAIM,
                                            "weight": 400 * OPEN}]
    assert l1.challenge_record(1) == {
        "challenger": challenger, "votingEndsAt": ends, "status": OPEN_STATUS, "outputIndex": 0, "outputNonce": 1,
        "outputRoot": ROOT, "claimedRoot": CLAIM, "bond": 10 * OPEN, "quorumStake": 1_000 * OPEN * 3_334 // 10_000,
        "totalVotes": 400 * OPEN, "votesForOutput": 0,
    }
    assert l1.balance(challenger) == before - 10 * OPEN
    assert l1.fn.totalChallengeBonds().call() == 10 * OPEN
    assert l1.fn.hasVoted(1, challenger).call()
    assert l1.fn.hasOpenChallenge(0).call()
    assert l1.fn.challengeCount().call() == 1
    assert l1.validator(challenger)["lockedUntil"] == ends


def test_challenge_quorum_rounds_up_succeeds(l1: L1Env) -> None:
    l1.submit()
    l1.send(l1.fn.stake(1), _v(l1)[0])  # total stake 1,000 OPEN + 1 wei
    challenge_id = l1.open_challenge(_v(l1)[3], 0)
    total = 1_000 * OPEN + 1
    assert l1.challenge_record(challenge_id)["quorumStake"] == -(-total * 3_334 // 10_000)


def test_challenge_last_second_of_window_succeeds(l1: L1Env) -> None:
    l1.submit(root=ROOT)
    challenger = _v(l1)[0]
    deadline = l1.batch(0)["challengeDeadline"]
    receipt = l1.send(l1.fn.challenge(0, CLAIM), challenger, at=deadline - 1)
    assert int(l1.w3.eth.get_block(receipt["blockNumber"])["timestamp"]) == deadline - 1
    assert l1.events(receipt, "ChallengeOpened") == [{
        "challengeId": 1, "outputIndex": 0, "challenger": challenger, "outputRoot": ROOT, "claimedRoot": CLAIM,
        "bond": 10 * OPEN, "votingEndsAt": deadline - 1 + l1.config.voting_period,
    }]
    assert l1.fn.hasOpenChallenge(0).call()
    assert l1.challenge_record(1)["status"] == OPEN_STATUS


def test_challenge_window_closed_reverts(l1: L1Env) -> None:
    l1.submit()
    deadline = l1.batch(0)["challengeDeadline"]
    l1.mine_at(deadline)
    l1.assert_reverts(l1.fn.challenge(0, CLAIM), _v(l1)[0], "ChallengeWindowClosed(uint256,uint64)", 0, deadline)


def test_challenge_not_validator_reverts(l1: L1Env) -> None:
    l1.submit()
    outsider = l1.outsiders[0]
    l1.assert_reverts(l1.fn.challenge(0, CLAIM), outsider, "NotValidator(address)", outsider)


def test_challenge_stake_below_raised_minimum_reverts(l1: L1Env) -> None:
    l1.submit()
    l1.send(l1.fn.setMinValidatorStake(250 * OPEN), l1.admin)
    l1.assert_reverts(l1.fn.challenge(0, CLAIM), _v(l1)[2], "NotValidator(address)", _v(l1)[2])
    receipt = l1.send(l1.fn.challenge(0, CLAIM), _v(l1)[1])  # 300 OPEN: still above it
    assert [(e["challenger"], e["outputIndex"]) for e in l1.events(receipt, "ChallengeOpened")] == [(_v(l1)[1], 0)]
    assert l1.fn.hasOpenChallenge(0).call()


def test_challenge_unknown_output_reverts(l1: L1Env) -> None:
    l1.assert_reverts(l1.fn.challenge(0, CLAIM), _v(l1)[0], "UnknownOutput(uint256)", 0)
    l1.submit()
    l1.assert_reverts(l1.fn.challenge(1, CLAIM), _v(l1)[0], "UnknownOutput(uint256)", 1)


def test_challenge_already_open_reverts(l1: L1Env) -> None:
    l1.submit()
    l1.open_challenge(_v(l1)[3], 0)
    l1.assert_reverts(l1.fn.challenge(0, OTHER), _v(l1)[0], "ChallengeAlreadyOpen(uint256)", 0)


def test_challenge_claim_matches_output_reverts(l1: L1Env) -> None:
    l1.submit(root=ROOT)
    l1.assert_reverts(l1.fn.challenge(0, ROOT), _v(l1)[0], "ClaimMatchesOutput(uint256,bytes32)", 0, ROOT)


def test_challenge_after_failed_challenge_succeeds(l1: L1Env) -> None:
    l1.submit()
    first = l1.open_challenge(_v(l1)[3], 0)
    _resolve_after_vote(l1, first)
    second = l1.open_challenge(_v(l1)[2], 0)
    assert second == first + 1
    assert l1.fn.hasOpenChallenge(0).call()


def test_challenge_without_allowance_reverts(l1: L1Env) -> None:
    l1.submit()
    challenger = _v(l1)[0]
    l1.send(l1.token.functions.approve(l1.rollup.address, 0), challenger)
    l1.assert_reverts(l1.fn.challenge(0, CLAIM), challenger, "ERC20InsufficientAllowance(address,uint256,uint256)",
                      l1.rollup.address, 0, 10 * OPEN)


def test_challenge_several_outputs_concurrently_succeeds(l1: L1Env) -> None:
    for _ in range(3):
        l1.submit()
    ids = [l1.open_challenge(_v(l1)[i], i) for i in (2, 0, 1)]
    assert ids == [1, 2, 3]
    assert [l1.fn.hasOpenChallenge(i).call() for i in range(3)] == [True, True, True]
    assert l1.fn.totalChallengeBonds().call() == 30 * OPEN


# ====================================================================== vote


def test_vote_claim_and_posted_root_succeeds(l1: L1Env) -> None:
    l1.submit(root=ROOT)
    challenge_id = l1.open_challenge(_v(l1)[3], 0, CLAIM)
    receipt = l1.send(l1.fn.vote(challenge_id, ROOT), _v(l1)[0])
    assert l1.events(receipt, "Voted") == [{"challengeId": challenge_id, "validator": _v(l1)[0], "root": ROOT,
                                            "weight": 400 * OPEN}]
    l1.send(l1.fn.vote(challenge_id, OTHER), _v(l1)[2])
    record = l1.challenge_record(challenge_id)
    assert (record["totalVotes"], record["votesForOutput"]) == (700 * OPEN, 400 * OPEN)
    assert l1.fn.hasVoted(challenge_id, _v(l1)[0]).call()
    assert not l1.fn.hasVoted(challenge_id, _v(l1)[1]).call()


def test_vote_weight_is_stake_at_vote_time_succeeds(l1: L1Env) -> None:
    l1.submit()
    challenge_id = l1.open_challenge(_v(l1)[3], 0)
    l1.send(l1.fn.stake(50 * OPEN), _v(l1)[1])
    receipt = l1.send(l1.fn.vote(challenge_id, CLAIM), _v(l1)[1])
    assert l1.events(receipt, "Voted")[0]["weight"] == 350 * OPEN


def test_vote_last_second_succeeds(l1: L1Env) -> None:
    l1.submit()
    challenge_id = l1.open_challenge(_v(l1)[3], 0, CLAIM)
    voter = _v(l1)[0]
    ends = _voting_end(l1, challenge_id)
    receipt = l1.send(l1.fn.vote(challenge_id, CLAIM), voter, at=ends - 1)
    assert int(l1.w3.eth.get_block(receipt["blockNumber"])["timestamp"]) == ends - 1
    assert l1.events(receipt, "Voted") == [{"challengeId": challenge_id, "validator": voter, "root": CLAIM,
                                            "weight": 400 * OPEN}]
    record = l1.challenge_record(challenge_id)
    assert (record["totalVotes"], record["votesForOutput"]) == (500 * OPEN, 0)
    assert l1.fn.hasVoted(challenge_id, voter).call()
    assert l1.validator(voter)["lockedUntil"] == ends


def test_vote_after_voting_period_reverts(l1: L1Env) -> None:
    l1.submit()
    challenge_id = l1.open_challenge(_v(l1)[3], 0)
    ends = _voting_end(l1, challenge_id)
    l1.mine_at(ends)
    l1.assert_reverts(l1.fn.vote(challenge_id, CLAIM), _v(l1)[0], "VotingClosed(uint256,uint64)", challenge_id, ends)


def test_vote_twice_reverts(l1: L1Env) -> None:
    l1.submit()
    challenger = _v(l1)[3]
    challenge_id = l1.open_challenge(challenger, 0)
    l1.send(l1.fn.vote(challenge_id, CLAIM), _v(l1)[0])
    l1.assert_reverts(l1.fn.vote(challenge_id, ROOT), _v(l1)[0], "AlreadyVoted(uint256,address)", challenge_id,
                      _v(l1)[0])
    l1.assert_reverts(l1.fn.vote(challenge_id, ROOT), challenger, "AlreadyVoted(uint256,address)", challenge_id,
                      challenger)


def test_vote_not_validator_reverts(l1: L1Env) -> None:
    l1.submit()
    challenge_id = l1.open_challenge(_v(l1)[3], 0)
    outsider = l1.outsiders[0]
    l1.assert_reverts(l1.fn.vote(challenge_id, CLAIM), outsider, "NotValidator(address)", outsider)


@pytest.mark.parametrize("challenge_id", [0, 1, 99])
def test_vote_unknown_challenge_reverts(l1: L1Env, challenge_id: int) -> None:
    l1.assert_reverts(l1.fn.vote(challenge_id, CLAIM), _v(l1)[0], "UnknownChallenge(uint256)", challenge_id)


def test_vote_resolved_challenge_reverts(l1: L1Env) -> None:
    l1.submit()
    challenge_id = l1.open_challenge(_v(l1)[3], 0)
    _resolve_after_vote(l1, challenge_id)
    l1.assert_reverts(l1.fn.vote(challenge_id, CLAIM), _v(l1)[0], "ChallengeNotOpen(uint256)", challenge_id)


def test_vote_stale_challenge_reverts(l1: L1Env) -> None:
    for _ in range(3):
        l1.submit()
    later = l1.open_challenge(_v(l1)[3], 2)
    earlier = l1.open_challenge(_v(l1)[0], 1)  # 400 OPEN alone: reaches quorum, succeeds
    _resolve_after_vote(l1, earlier)
    l1.assert_reverts(l1.fn.vote(later, CLAIM), _v(l1)[1], "ChallengeStale(uint256)", later)


# ====================================================================== resolve


def test_resolve_before_voting_ends_reverts(l1: L1Env) -> None:
    l1.submit()
    challenge_id = l1.open_challenge(_v(l1)[0], 0)
    ends = _voting_end(l1, challenge_id)
    l1.mine_at(ends - 1)
    l1.assert_reverts(l1.fn.resolve(challenge_id), l1.outsiders[0], "VotingNotEnded(uint256,uint64)",
                      challenge_id, ends)


@pytest.mark.parametrize("challenge_id", [0, 7])
def test_resolve_unknown_challenge_reverts(l1: L1Env, challenge_id: int) -> None:
    l1.assert_reverts(l1.fn.resolve(challenge_id), l1.outsiders[0], "UnknownChallenge(uint256)", challenge_id)


def test_resolve_twice_reverts(l1: L1Env) -> None:
    l1.submit()
    challenge_id = l1.open_challenge(_v(l1)[3], 0)
    _resolve_after_vote(l1, challenge_id)
    l1.assert_reverts(l1.fn.resolve(challenge_id), l1.outsiders[0], "ChallengeNotOpen(uint256)", challenge_id)


def test_resolve_rejected_output_rolls_back_later_outputs_succeeds(l1: L1Env) -> None:
    roots = [keccak(text=f"root {i}") for i in range(4)]
    for root in roots:
        l1.submit(root=root, blocks=10)
    challenger = _v(l1)[0]  # 400 of 1,000 OPEN: reaches quorum, nobody defends the output
    challenge_id = l1.open_challenge(challenger, 1, CLAIM)
    receipt = _resolve_after_vote(l1, challenge_id)
    assert l1.events(receipt, "ChallengeResolved") == [{
        "challengeId": challenge_id, "outputIndex": 1, "status": SUCCEEDED, "votesForOutput": 0,
        "totalVotes": 400 * OPEN,
    }]
    assert l1.events(receipt, "OutputsRolledBack") == [{"fromIndex": 1, "previousNextIndex": 4}]
    assert l1.fn.nextBatchIndex().call() == 1
    assert l1.fn.latestOutputIndex().call() == 0
    assert l1.fn.getL2Output(0).call()[0] == roots[0]
    for index in (1, 2, 3):
        l1.assert_reverts(l1.fn.getL2Output(index), l1.admin, "UnknownOutput(uint256)", index)
        assert not l1.fn.isOutputFinalized(index).call()
    assert l1.challenge_record(challenge_id)["status"] == SUCCEEDED
    # The chain continues from the last kept output.
    l1.send(l1.fn.depositSequencerBond(500 * OPEN), l1.sequencer)
    l1.assert_reverts(l1.fn.submitBatch(1, 21, 25, ROOT, b""), l1.sequencer,
                      "NonContiguousBlocks(uint64,uint64)", 11, 21)
    receipt = l1.send(l1.fn.submitBatch(1, 11, 25, ROOT, b""), l1.sequencer)
    assert l1.events(receipt, "BatchSubmitted")[0]["batchIndex"] == 1
    assert l1.batch(1)["nonce"] == 5


def test_resolve_rejected_output_slashes_sequencer_succeeds(l1: L1Env) -> None:
    l1.submit()
    challenger = _v(l1)[0]
    challenger_before = l1.balance(challenger)
    treasury_before = l1.balance(l1.treasury)
    challenge_id = l1.open_challenge(challenger, 0)
    receipt = _resolve_after_vote(l1, challenge_id)
    # 50% of the 1,000 OPEN bond; the challenger's reward is capped at 2 x 10 OPEN.
    assert l1.events(receipt, "SequencerSlashed") == [{
        "sequencer": l1.sequencer, "challengeId": challenge_id, "amount": 500 * OPEN, "toChallenger": 20 * OPEN,
        "toTreasury": 480 * OPEN,
    }]
    assert l1.balance(challenger) == challenger_before + 20 * OPEN  # bond back plus the reward
    assert l1.balance(l1.treasury) == treasury_before + 480 * OPEN
    assert l1.fn.sequencerBond(l1.sequencer).call() == 500 * OPEN
    assert l1.fn.totalSequencerBonds().call() == 500 * OPEN
    assert l1.fn.totalChallengeBonds().call() == 0
    l1.assert_reverts(l1.fn.submitBatch(0, 1, 1, ROOT, b""), l1.sequencer,
                      "InsufficientSequencerBond(uint256,uint256)", 500 * OPEN, 1_000 * OPEN)


def test_resolve_small_slash_caps_reward_at_slashed_amount_succeeds(l1: L1Env) -> None:
    l1.send(l1.fn.setSlashFractionBps(100), l1.admin)  # 1% of 1,000 = 10 OPEN < 20 OPEN reward cap
    l1.submit()
    treasury_before = l1.balance(l1.treasury)
    challenge_id = l1.open_challenge(_v(l1)[0], 0)
    receipt = _resolve_after_vote(l1, challenge_id)
    slashed = l1.events(receipt, "SequencerSlashed")[0]
    assert (slashed["amount"], slashed["toChallenger"], slashed["toTreasury"]) == (10 * OPEN, 10 * OPEN, 0)
    assert l1.balance(l1.treasury) == treasury_before


def test_resolve_zero_reward_factor_sends_slash_to_treasury_succeeds(l1: L1Env) -> None:
    l1.send(l1.fn.setChallengerRewardFactorBps(0), l1.admin)
    l1.send(l1.fn.setSlashFractionBps(10_000), l1.admin)
    l1.submit()
    challenger = _v(l1)[0]
    challenger_before = l1.balance(challenger)
    treasury_before = l1.balance(l1.treasury)
    challenge_id = l1.open_challenge(challenger, 0)
    _resolve_after_vote(l1, challenge_id)
    assert l1.balance(challenger) == challenger_before  # bond returned, no reward
    assert l1.balance(l1.treasury) == treasury_before + 1_000 * OPEN
    assert l1.fn.sequencerBond(l1.sequencer).call() == 0


def test_resolve_without_quorum_forfeits_bond_succeeds(l1: L1Env) -> None:
    l1.submit(root=ROOT)
    challenger = _v(l1)[3]  # 100 of the 333.4 OPEN quorum
    challenger_before = l1.balance(challenger)
    treasury_before = l1.balance(l1.treasury)
    challenge_id = l1.open_challenge(challenger, 0)
    receipt = _resolve_after_vote(l1, challenge_id)
    assert l1.events(receipt, "ChallengeResolved") == [{
        "challengeId": challenge_id, "outputIndex": 0, "status": FAILED, "votesForOutput": 0,
        "totalVotes": 100 * OPEN,
    }]
    assert l1.events(receipt, "OutputsRolledBack") == []
    assert l1.balance(challenger) == challenger_before - 10 * OPEN
    assert l1.balance(l1.treasury) == treasury_before + 10 * OPEN
    assert l1.fn.getL2Output(0).call()[0] == ROOT
    assert l1.fn.sequencerBond(l1.sequencer).call() == 1_000 * OPEN


def test_resolve_majority_for_posted_root_fails_challenge_succeeds(l1: L1Env) -> None:
    l1.submit(root=ROOT)
    challenge_id = l1.open_challenge(_v(l1)[3], 0)
    l1.send(l1.fn.vote(challenge_id, ROOT), _v(l1)[0])
    receipt = _resolve_after_vote(l1, challenge_id)
    resolved = l1.events(receipt, "ChallengeResolved")[0]
    assert (resolved["status"], resolved["votesForOutput"], resolved["totalVotes"]) == (FAILED, 400 * OPEN,
                                                                                        500 * OPEN)
    assert l1.fn.nextBatchIndex().call() == 1


def test_resolve_tie_keeps_output_succeeds(l1: L1Env) -> None:
    l1.submit(root=ROOT)
    challenge_id = l1.open_challenge(_v(l1)[3], 0)  # 100 for the claim
    l1.send(l1.fn.vote(challenge_id, CLAIM), _v(l1)[1])  # 300 for the claim
    l1.send(l1.fn.vote(challenge_id, ROOT), _v(l1)[0])  # 400 for the posted root: exactly half
    receipt = _resolve_after_vote(l1, challenge_id)
    assert l1.events(receipt, "ChallengeResolved")[0]["status"] == FAILED


def test_resolve_split_dissent_outweighs_posted_root_succeeds(l1: L1Env) -> None:
    l1.submit(root=ROOT)
    challenge_id = l1.open_challenge(_v(l1)[3], 0, CLAIM)  # 100
    l1.send(l1.fn.vote(challenge_id, OTHER), _v(l1)[1])  # 300 for a third root
    l1.send(l1.fn.vote(challenge_id, keccak(text="x")), _v(l1)[2])  # 200 for a fourth root
    l1.send(l1.fn.vote(challenge_id, ROOT), _v(l1)[0])  # 400 of 1,000 for the posted root
    receipt = _resolve_after_vote(l1, challenge_id)
    assert l1.events(receipt, "ChallengeResolved")[0]["status"] == SUCCEEDED
    assert l1.fn.nextBatchIndex().call() == 0


def test_resolve_quorum_fixed_at_opening_succeeds(l1: L1Env) -> None:
    l1.submit()
    challenge_id = l1.open_challenge(_v(l1)[0], 0)  # 400 >= 333.4
    l1.send(l1.fn.stake(5_000 * OPEN), l1.outsiders[0])  # new stake after opening does not raise the quorum
    l1.send(l1.fn.setQuorumBps(10_000), l1.admin)  # nor does a new quorum parameter
    receipt = _resolve_after_vote(l1, challenge_id)
    assert l1.events(receipt, "ChallengeResolved")[0]["status"] == SUCCEEDED


def test_resolve_stale_challenge_cancels_and_refunds_succeeds(l1: L1Env) -> None:
    for _ in range(3):
        l1.submit()
    weak = _v(l1)[3]
    stale = l1.open_challenge(weak, 2)
    winner = l1.open_challenge(_v(l1)[0], 1)
    _resolve_after_vote(l1, winner)
    assert not l1.fn.hasOpenChallenge(2).call()
    # The sequencer re-posts outputs 1 and 2; the old challenge of output 2 must not touch the new one.
    l1.send(l1.fn.depositSequencerBond(500 * OPEN), l1.sequencer)
    l1.submit()
    l1.submit()
    fresh = l1.open_challenge(_v(l1)[1], 2)
    before = l1.balance(weak)
    receipt = l1.send(l1.fn.resolve(stale), l1.outsiders[0])  # no need to wait for its vote to end
    assert l1.events(receipt, "ChallengeResolved") == [{
        "challengeId": stale, "outputIndex": 2, "status": CANCELLED, "votesForOutput": 0, "totalVotes": 100 * OPEN,
    }]
    assert l1.balance(weak) == before + 10 * OPEN
    assert l1.challenge_record(stale)["status"] == CANCELLED
    assert l1.fn.hasOpenChallenge(2).call()
    assert l1.challenge_record(fresh)["status"] == OPEN_STATUS


def test_resolve_rollback_clears_challenges_of_later_outputs_succeeds(l1: L1Env) -> None:
    for _ in range(3):
        l1.submit()
    l1.open_challenge(_v(l1)[3], 2)  # left unresolved: it must not block the re-posted output 2
    winner = l1.open_challenge(_v(l1)[0], 1)
    _resolve_after_vote(l1, winner)
    l1.send(l1.fn.depositSequencerBond(500 * OPEN), l1.sequencer)
    l1.submit()
    l1.submit()
    l1.mine_at(l1.batch(2)["challengeDeadline"])
    assert l1.fn.finalizedOutputCount().call() == 3
    assert l1.fn.isOutputFinalized(2).call()


def test_resolve_rejected_output_slashes_its_proposer_succeeds(l1: L1Env) -> None:
    l1.submit()
    new = l1.outsiders[0]
    l1.send(l1.fn.setSequencer(new), l1.admin)
    l1.send(l1.fn.depositSequencerBond(2_000 * OPEN), new)
    first = l1.next_first_block()
    l1.send(l1.fn.submitBatch(1, first, first, ROOT, b""), new)
    challenge_id = l1.open_challenge(_v(l1)[0], 0)  # the old sequencer's output
    receipt = _resolve_after_vote(l1, challenge_id)
    assert l1.events(receipt, "SequencerSlashed")[0]["sequencer"] == l1.sequencer
    assert l1.fn.sequencerBond(new).call() == 2_000 * OPEN
    assert l1.fn.nextBatchIndex().call() == 0


def test_getChallenge_unknown_id_reverts(l1: L1Env) -> None:
    l1.assert_reverts(l1.fn.getChallenge(1), l1.admin, "UnknownChallenge(uint256)", 1)
