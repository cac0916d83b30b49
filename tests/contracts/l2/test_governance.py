"""Governance of the L2 protocol parameters: WOPEN holders propose and vote in
OpenLedgerGovernor, passed proposals run through OpenLedgerTimelock, which holds
the admin roles of PayableAI and AttributionStaking."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from eth_utils.crypto import keccak
from web3.contract import Contract

if TYPE_CHECKING:
    from conftest import L2Env

OPEN = 10**18
ZERO = "0x" + "00" * 20
ADMIN_ROLE = b"\x00" * 32
PROPOSER_ROLE = keccak(text="PROPOSER_ROLE")
CANCELLER_ROLE = keccak(text="CANCELLER_ROLE")
EXECUTOR_ROLE = keccak(text="EXECUTOR_ROLE")

VOTING_DELAY = 60
VOTING_PERIOD = 600
TIMELOCK_DELAY = 3_600
PROPOSAL_THRESHOLD = OPEN
QUORUM_PERCENT = 4

# Governor.ProposalState
PENDING, ACTIVE, CANCELED, DEFEATED, SUCCEEDED, QUEUED, EXPIRED, EXECUTED = range(8)
AGAINST, FOR, ABSTAIN = range(3)


@dataclass(frozen=True)
class Governance:
    wopen: str
    timelock: str
    governor: str
    payable: str
    staking: str
    datanets: str
    models: str


@pytest.fixture(scope="module")
def governance_addresses(l2_deployed: L2Env) -> Governance:
    """WOPEN, a timelock administered by the governor alone, and a second
    AI-economy deployment whose admin is the timelock (as in genesis)."""
    l2 = l2_deployed
    wopen = l2.deploy("WOPEN")
    timelock = l2.deploy("OpenLedgerTimelock", TIMELOCK_DELAY, [], [ZERO], l2.admin)
    governor = l2.deploy("OpenLedgerGovernor", wopen.address, timelock.address, VOTING_DELAY, VOTING_PERIOD,
                         PROPOSAL_THRESHOLD, QUORUM_PERCENT)
    f = timelock.functions
    l2.send(f.grantRole(PROPOSER_ROLE, governor.address), l2.admin)
    l2.send(f.grantRole(CANCELLER_ROLE, governor.address), l2.admin)
    l2.send(f.renounceRole(ADMIN_ROLE, l2.admin), l2.admin)

    datanets, models, payable, staking = l2.deploy_economy(admin=timelock.address, treasury=timelock.address)
    return Governance(wopen.address, timelock.address, governor.address, payable.address, staking.address,
                      datanets.address, models.address)


@dataclass(frozen=True)
class Gov:
    wopen: Contract
    timelock: Contract
    governor: Contract
    payable: Contract
    staking: Contract
    voters: list[str]


@pytest.fixture()
def gov(l2: L2Env, governance_addresses: Governance) -> Gov:
    """Handles, with three voters that wrapped OPEN and delegated to themselves."""
    a = governance_addresses
    g = Gov(l2.contract("WOPEN", a.wopen), l2.contract("OpenLedgerTimelock", a.timelock),
            l2.contract("OpenLedgerGovernor", a.governor), l2.contract("PayableAI", a.payable),
            l2.contract("AttributionStaking", a.staking), [l2.contributors[0], l2.contributors[1], l2.requester])
    for voter, amount in zip(g.voters, (400 * OPEN, 300 * OPEN, 300 * OPEN), strict=True):
        l2.send(g.wopen.functions.deposit(), voter, value=amount)
        l2.send(g.wopen.functions.delegate(voter), voter)
    l2.mine_at(l2.now() + 1)  # delegations lie in the past for the proposal's snapshot
    return g


def proposal(gov: Gov, description: str = "Raise the protocol share to 7 % and halve the dispute bond"
             ) -> tuple[list[str], list[int], list[bytes], str]:
    targets = [gov.payable.address, gov.staking.address]
    calldatas = [
        bytes.fromhex(gov.payable.encode_abi("setProtocolShareBps", [700])[2:]),
        bytes.fromhex(gov.staking.encode_abi("setDisputeBond", [5 * OPEN])[2:]),
    ]
    return targets, [0, 0], calldatas, description


def propose(l2: L2Env, gov: Gov, proposer: str, args: tuple[list[str], list[int], list[bytes], str]) -> int:
    receipt = l2.send(gov.governor.functions.propose(*args), proposer)
    [event] = l2.events(receipt, gov.governor, "ProposalCreated")
    return int(event["proposalId"])


def state(gov: Gov, proposal_id: int) -> int:
    return int(gov.governor.functions.state(proposal_id).call())


def test_governor_full_flow_parameter_change_succeeds(l2: L2Env, gov: Gov) -> None:
    """Wrap, delegate, propose, vote, queue, wait out the timelock, execute."""
    g = gov.governor.functions
    args = proposal(gov)
    targets, values, calldatas, description = args
    description_hash = keccak(text=description)
    proposal_id = propose(l2, gov, gov.voters[0], args)
    assert proposal_id == g.hashProposal(targets, values, calldatas, description_hash).call()
    assert state(gov, proposal_id) == PENDING
    snapshot = g.proposalSnapshot(proposal_id).call()
    assert g.proposalDeadline(proposal_id).call() == snapshot + VOTING_PERIOD

    l2.mine_at(snapshot + 1)
    assert state(gov, proposal_id) == ACTIVE
    receipt = l2.send(g.castVote(proposal_id, FOR), gov.voters[0])
    assert l2.events(receipt, gov.governor, "VoteCast")[0]["weight"] == 400 * OPEN
    l2.send(g.castVote(proposal_id, FOR), gov.voters[1])
    l2.send(g.castVote(proposal_id, AGAINST), gov.voters[2])
    assert g.proposalVotes(proposal_id).call() == [300 * OPEN, 700 * OPEN, 0]
    assert g.hasVoted(proposal_id, gov.voters[0]).call()

    l2.mine_at(g.proposalDeadline(proposal_id).call() + 1)
    assert state(gov, proposal_id) == SUCCEEDED
    receipt = l2.send(g.queue(targets, values, calldatas, description_hash), l2.outsider)
    [queued] = l2.events(receipt, gov.governor, "ProposalQueued")
    assert state(gov, proposal_id) == QUEUED

    execute = g.execute(targets, values, calldatas, description_hash)
    l2.assert_reverts(execute, l2.outsider, "TimelockUnexpectedOperationState", source=gov.timelock)
    receipt = l2.send(execute, l2.outsider, at=queued["etaSeconds"])
    assert state(gov, proposal_id) == EXECUTED
    assert l2.events(receipt, gov.payable, "ProtocolShareUpdated") == [{"oldShareBps": 500, "newShareBps": 700}]
    assert l2.events(receipt, gov.staking, "DisputeBondUpdated") == [{"oldValue": 10 * OPEN, "newValue": 5 * OPEN}]
    assert gov.payable.functions.protocolShareBps().call() == 700
    assert gov.staking.functions.disputeBond().call() == 5 * OPEN


def test_governor_roles_and_clock_succeeds(l2: L2Env, gov: Gov) -> None:
    g = gov.governor.functions
    assert g.token().call() == gov.wopen.address
    assert g.timelock().call() == gov.timelock.address
    assert (g.votingDelay().call(), g.votingPeriod().call(), g.proposalThreshold().call()) == (
        VOTING_DELAY, VOTING_PERIOD, PROPOSAL_THRESHOLD)
    assert g.CLOCK_MODE().call() == "mode=timestamp"
    assert g.clock().call() == l2.now()
    assert g.quorumNumerator().call() == QUORUM_PERCENT
    assert g.quorum(l2.now() - 1).call() == 1_000 * OPEN * QUORUM_PERCENT // 100
    assert g.proposalNeedsQueuing(0).call()
    t = gov.timelock.functions
    assert t.hasRole(PROPOSER_ROLE, gov.governor.address).call()
    assert t.hasRole(EXECUTOR_ROLE, ZERO).call()
    assert not t.hasRole(ADMIN_ROLE, l2.admin).call()
    assert t.getMinDelay().call() == TIMELOCK_DELAY
    for contract in (gov.payable, gov.staking):
        assert contract.functions.hasRole(ADMIN_ROLE, gov.timelock.address).call()
        assert not contract.functions.hasRole(ADMIN_ROLE, l2.admin).call()
    # Disputes are decided by the providers' vote; governance holds no role in them.
    assert "RESOLVER_ROLE" not in {entry.get("name") for entry in gov.staking.abi}


def test_setProtocolShareBps_outside_governance_reverts(l2: L2Env, gov: Gov) -> None:
    for caller in (l2.admin, gov.voters[0]):
        l2.assert_reverts(gov.payable.functions.setProtocolShareBps(700), caller, "AccessControlUnauthorizedAccount",
                          caller, ADMIN_ROLE, source=gov.payable)
    l2.assert_reverts(gov.timelock.functions.schedule(gov.payable.address, 0, b"", b"\x00" * 32, b"\x00" * 32,
                                                      TIMELOCK_DELAY), l2.admin,
                      "AccessControlUnauthorizedAccount", l2.admin, PROPOSER_ROLE, source=gov.timelock)


def test_propose_below_threshold_reverts(l2: L2Env, gov: Gov) -> None:
    l2.assert_reverts(gov.governor.functions.propose(*proposal(gov)), l2.outsider,
                      "GovernorInsufficientProposerVotes", l2.outsider, 0, PROPOSAL_THRESHOLD, source=gov.governor)


def test_queue_defeated_without_quorum_reverts(l2: L2Env, gov: Gov) -> None:
    g = gov.governor.functions
    small = l2.fresh_account(100 * OPEN)
    l2.send(gov.wopen.functions.deposit(), small, value=2 * OPEN)
    l2.send(gov.wopen.functions.delegate(small), small)
    l2.mine_at(l2.now() + 1)
    args = proposal(gov, "Too few votes")
    proposal_id = propose(l2, gov, small, args)
    l2.mine_at(g.proposalSnapshot(proposal_id).call() + 1)
    l2.send(g.castVote(proposal_id, FOR), small)  # 2 of 1,002 OPEN: below the 4 % quorum
    l2.mine_at(g.proposalDeadline(proposal_id).call() + 1)
    assert state(gov, proposal_id) == DEFEATED
    targets, values, calldatas, description = args
    l2.assert_reverts(g.queue(targets, values, calldatas, keccak(text=description)), l2.outsider,
                      "GovernorUnexpectedProposalState", source=gov.governor)


def test_castVote_twice_reverts(l2: L2Env, gov: Gov) -> None:
    g = gov.governor.functions
    proposal_id = propose(l2, gov, gov.voters[0], proposal(gov, "Vote twice"))
    l2.mine_at(g.proposalSnapshot(proposal_id).call() + 1)
    l2.send(g.castVote(proposal_id, FOR), gov.voters[1])
    l2.assert_reverts(g.castVote(proposal_id, AGAINST), gov.voters[1], "GovernorAlreadyCastVote", gov.voters[1],
                      source=gov.governor)


def test_resolve_dispute_without_governance_succeeds(l2: L2Env, gov: Gov) -> None:
    """The timelock has no say in a dispute: it cannot resolve one before the
    providers' vote ends; once it has, anyone resolves it by the vote."""
    # A settled inference on the governed deployment.
    datanets = l2.contract("DatanetRegistry", gov.payable.functions.DATANETS().call())
    models = l2.contract("ModelRegistry", gov.payable.functions.MODELS().call())
    datanet = l2.events(l2.send(datanets.functions.createDatanet("d", 0), l2.datanet_owner), datanets,
                        "DatanetCreated")[0]["datanetId"]
    ids = []
    for n in range(2):
        receipt = l2.send(datanets.functions.contribute(datanet, keccak(text=f"gov content {n}"), ""),
                          l2.contributors[n])
        ids.append(l2.events(receipt, datanets, "ContributionSubmitted")[0]["contributionId"])
    receipt = l2.send(models.functions.registerModel(keccak(text="w"), "m", [datanet], OPEN, 1_000), l2.model_owner)
    model_id = l2.events(receipt, models, "ModelRegistered")[0]["modelId"]
    receipt = l2.send(gov.payable.functions.requestInference(model_id, b"\x01" * 32), l2.requester, value=OPEN)
    inference_id = l2.events(receipt, gov.payable, "InferenceRequested")[0]["inferenceId"]
    l2.send(gov.staking.functions.stake(), l2.provider, value=100 * OPEN)
    l2.send(gov.payable.functions.settle(inference_id, b"\xaa" * 32, [ids[0]], [1_000_000]), l2.provider)
    receipt = l2.send(gov.staking.functions.dispute(inference_id, b"\xbb" * 32), l2.disputer, value=10 * OPEN)
    dispute_id = l2.events(receipt, gov.staking, "DisputeOpened")[0]["disputeId"]

    ends = gov.staking.functions.disputeInfo(dispute_id).call()[6]
    resolve = gov.staking.functions.resolve(dispute_id, b"\xcc" * 32, [ids[1]], [1_000_000])
    l2.assert_reverts(resolve, gov.timelock.address, "VotingNotEnded", dispute_id, ends, source=gov.staking)
    l2.mine_at(ends)
    receipt = l2.send(resolve, l2.outsider)
    # The provider's stake alone voted, for its settlement: upheld.
    assert l2.events(receipt, gov.staking, "DisputeResolved")[0]["overturned"] is False
    assert l2.events(receipt, gov.payable, "SettlementUpheld") == [{"inferenceId": inference_id}]
