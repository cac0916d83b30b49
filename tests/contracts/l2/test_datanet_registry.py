"""DatanetRegistry: datanets, curators and the contribution life cycle."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eth_utils.crypto import keccak

if TYPE_CHECKING:
    from conftest import L2Env

POLICY_OPEN, POLICY_CURATED = 0, 1
C_NONE, C_PENDING, C_ACCEPTED, C_REJECTED = range(4)
ZERO = "0x" + "00" * 20


def test_createDatanet_open_policy_succeeds(l2: L2Env) -> None:
    before = l2.datanets.functions.datanetCount().call()
    receipt = l2.send(l2.datanets.functions.createDatanet("ipfs://medical", POLICY_OPEN), l2.outsider)
    [event] = l2.events(receipt, l2.datanets, "DatanetCreated")
    datanet_id = before + 1
    assert event == {"datanetId": datanet_id, "owner": l2.outsider, "policy": POLICY_OPEN,
                     "metadataURI": "ipfs://medical"}
    assert l2.datanets.functions.datanetCount().call() == datanet_id
    assert l2.datanets.functions.datanet(datanet_id).call() == [l2.outsider, POLICY_OPEN, "ipfs://medical", 0]
    assert l2.datanets.functions.datanetExists(datanet_id).call()
    assert not l2.datanets.functions.datanetExists(datanet_id + 1).call()


def test_createDatanet_curated_policy_succeeds(l2: L2Env) -> None:
    datanet_id = l2.create_datanet(l2.outsider, POLICY_CURATED, "ipfs://curated")
    assert l2.datanets.functions.datanet(datanet_id).call() == [l2.outsider, POLICY_CURATED, "ipfs://curated", 0]


def test_createDatanet_invalid_policy_reverts(l2: L2Env) -> None:
    l2.assert_reverts(l2.datanets.functions.createDatanet("x", 2), l2.outsider, "InvalidPolicy", 2)
    l2.assert_reverts(l2.datanets.functions.createDatanet("x", 255), l2.outsider, "InvalidPolicy", 255)


def test_datanet_unknown_id_reverts(l2: L2Env) -> None:
    l2.assert_reverts(l2.datanets.functions.datanet(999), l2.outsider, "UnknownDatanet", 999)
    l2.assert_reverts(l2.datanets.functions.datanet(0), l2.outsider, "UnknownDatanet", 0)


# ----------------------------------------------------------------- curators


def test_addCurator_by_owner_succeeds(l2: L2Env) -> None:
    f = l2.datanets.functions
    receipt = l2.send(f.addCurator(l2.open_datanet, l2.outsider), l2.datanet_owner)
    assert l2.events(receipt, l2.datanets, "CuratorAdded") == [{"datanetId": l2.open_datanet,
                                                                "curator": l2.outsider}]
    assert f.isCurator(l2.open_datanet, l2.outsider).call()
    assert not f.isCurator(l2.curated_datanet, l2.outsider).call()


def test_addCurator_by_non_owner_reverts(l2: L2Env) -> None:
    call = l2.datanets.functions.addCurator(l2.curated_datanet, l2.outsider)
    l2.assert_reverts(call, l2.outsider, "NotDatanetOwner", l2.curated_datanet, l2.outsider)
    # A curator has no say over the curator list either.
    l2.assert_reverts(call, l2.curator, "NotDatanetOwner", l2.curated_datanet, l2.curator)


def test_addCurator_unknown_datanet_reverts(l2: L2Env) -> None:
    l2.assert_reverts(l2.datanets.functions.addCurator(999, l2.outsider), l2.datanet_owner, "UnknownDatanet", 999)


def test_addCurator_zero_address_reverts(l2: L2Env) -> None:
    l2.assert_reverts(l2.datanets.functions.addCurator(l2.open_datanet, ZERO), l2.datanet_owner, "ZeroCurator")


def test_addCurator_existing_curator_reverts(l2: L2Env) -> None:
    l2.assert_reverts(l2.datanets.functions.addCurator(l2.curated_datanet, l2.curator), l2.datanet_owner,
                      "AlreadyCurator", l2.curated_datanet, l2.curator)


def test_removeCurator_by_owner_succeeds(l2: L2Env) -> None:
    f = l2.datanets.functions
    receipt = l2.send(f.removeCurator(l2.curated_datanet, l2.curator), l2.datanet_owner)
    assert l2.events(receipt, l2.datanets, "CuratorRemoved") == [{"datanetId": l2.curated_datanet,
                                                                  "curator": l2.curator}]
    assert not f.isCurator(l2.curated_datanet, l2.curator).call()
    # The removed curator can no longer decide.
    pending = l2.pending[0]
    l2.assert_reverts(f.acceptContribution(pending), l2.curator, "NotCuratorOrOwner", l2.curated_datanet,
                      l2.curator)


def test_removeCurator_by_non_owner_reverts(l2: L2Env) -> None:
    call = l2.datanets.functions.removeCurator(l2.curated_datanet, l2.curator)
    l2.assert_reverts(call, l2.curator, "NotDatanetOwner", l2.curated_datanet, l2.curator)


def test_removeCurator_not_a_curator_reverts(l2: L2Env) -> None:
    l2.assert_reverts(l2.datanets.functions.removeCurator(l2.curated_datanet, l2.outsider), l2.datanet_owner,
                      "NotCurator", l2.curated_datanet, l2.outsider)


def test_removeCurator_unknown_datanet_reverts(l2: L2Env) -> None:
    l2.assert_reverts(l2.datanets.functions.removeCurator(999, l2.curator), l2.datanet_owner, "UnknownDatanet", 999)


# ------------------------------------------------------------ contributions


def test_contribute_open_datanet_auto_accepted_succeeds(l2: L2Env) -> None:
    f = l2.datanets.functions
    content = keccak(text="open contribution")
    count = f.contributionCount().call()
    receipt = l2.send(f.contribute(l2.open_datanet, content, "ipfs://item"), l2.outsider)
    cid = count + 1
    assert l2.events(receipt, l2.datanets, "ContributionSubmitted") == [{
        "contributionId": cid, "datanetId": l2.open_datanet, "contributor": l2.outsider, "contentHash": content,
        "metadataURI": "ipfs://item", "status": C_ACCEPTED}]
    assert l2.events(receipt, l2.datanets, "ContributionAccepted") == []
    assert f.contribution(cid).call() == [l2.open_datanet, l2.outsider, content, "ipfs://item", C_ACCEPTED]
    assert f.isAccepted(cid).call()
    assert f.contributorOf(cid).call() == l2.outsider
    assert f.datanetOf(cid).call() == l2.open_datanet
    assert f.contributionByContentHash(l2.open_datanet, content).call() == cid
    assert f.contributionCount().call() == cid
    assert f.datanet(l2.open_datanet).call()[3] == 5  # four from the fixture, then this one


def test_contribute_curated_datanet_pending_succeeds(l2: L2Env) -> None:
    f = l2.datanets.functions
    content = keccak(text="curated contribution")
    receipt = l2.send(f.contribute(l2.curated_datanet, content, "ipfs://item"), l2.outsider)
    [event] = l2.events(receipt, l2.datanets, "ContributionSubmitted")
    assert event["status"] == C_PENDING
    cid = event["contributionId"]
    assert f.contribution(cid).call()[4] == C_PENDING
    assert not f.isAccepted(cid).call()


def test_contribute_unknown_datanet_reverts(l2: L2Env) -> None:
    l2.assert_reverts(l2.datanets.functions.contribute(999, keccak(text="x"), ""), l2.outsider, "UnknownDatanet", 999)


def test_contribute_zero_content_hash_reverts(l2: L2Env) -> None:
    l2.assert_reverts(l2.datanets.functions.contribute(l2.open_datanet, b"\x00" * 32, ""), l2.outsider,
                      "ZeroContentHash")


def test_contribute_duplicate_content_same_datanet_reverts(l2: L2Env) -> None:
    content = keccak(text="duplicate")
    cid = l2.contribute(l2.contributors[0], l2.open_datanet, content)
    call = l2.datanets.functions.contribute(l2.open_datanet, content, "ipfs://copy")
    l2.assert_reverts(call, l2.outsider, "DuplicateContent", l2.open_datanet, content, cid)
    l2.assert_reverts(call, l2.contributors[0], "DuplicateContent", l2.open_datanet, content, cid)


def test_contribute_duplicate_of_rejected_content_reverts(l2: L2Env) -> None:
    rejected = l2.rejected[0]
    content = l2.datanets.functions.contribution(rejected).call()[2]
    l2.assert_reverts(l2.datanets.functions.contribute(l2.curated_datanet, content, ""), l2.outsider,
                      "DuplicateContent", l2.curated_datanet, content, rejected)


def test_contribute_same_content_other_datanet_succeeds(l2: L2Env) -> None:
    content = keccak(text="shared")
    first = l2.contribute(l2.contributors[0], l2.open_datanet, content)
    second = l2.contribute(l2.contributors[1], l2.foreign_datanet, content)
    assert second == first + 1
    assert l2.datanets.functions.contributorOf(second).call() == l2.contributors[1]


def test_acceptContribution_by_curator_succeeds(l2: L2Env) -> None:
    cid = l2.pending[0]
    receipt = l2.send(l2.datanets.functions.acceptContribution(cid), l2.curator)
    assert l2.events(receipt, l2.datanets, "ContributionAccepted") == [{
        "contributionId": cid, "datanetId": l2.curated_datanet, "curator": l2.curator}]
    assert l2.datanets.functions.isAccepted(cid).call()
    assert l2.datanets.functions.contribution(cid).call()[4] == C_ACCEPTED


def test_acceptContribution_by_owner_succeeds(l2: L2Env) -> None:
    cid = l2.pending[0]
    receipt = l2.send(l2.datanets.functions.acceptContribution(cid), l2.datanet_owner)
    assert l2.events(receipt, l2.datanets, "ContributionAccepted")[0]["curator"] == l2.datanet_owner
    assert l2.datanets.functions.isAccepted(cid).call()


def test_acceptContribution_by_outsider_reverts(l2: L2Env) -> None:
    cid = l2.pending[0]
    contributor = l2.datanets.functions.contributorOf(cid).call()
    for caller in (l2.outsider, contributor):
        l2.assert_reverts(l2.datanets.functions.acceptContribution(cid), caller, "NotCuratorOrOwner",
                          l2.curated_datanet, caller)


def test_acceptContribution_not_pending_reverts(l2: L2Env) -> None:
    f = l2.datanets.functions
    accepted, rejected = l2.accepted[-1], l2.rejected[0]
    l2.assert_reverts(f.acceptContribution(accepted), l2.datanet_owner, "ContributionNotPending", accepted,
                      C_ACCEPTED)
    l2.assert_reverts(f.acceptContribution(rejected), l2.datanet_owner, "ContributionNotPending", rejected,
                      C_REJECTED)
    # An open datanet's contribution was accepted on submission.
    l2.assert_reverts(f.acceptContribution(l2.accepted[0]), l2.datanet_owner, "ContributionNotPending",
                      l2.accepted[0], C_ACCEPTED)


def test_acceptContribution_unknown_reverts(l2: L2Env) -> None:
    l2.assert_reverts(l2.datanets.functions.acceptContribution(999), l2.datanet_owner, "UnknownContribution", 999)


def test_rejectContribution_by_owner_succeeds(l2: L2Env) -> None:
    cid = l2.pending[0]
    receipt = l2.send(l2.datanets.functions.rejectContribution(cid), l2.datanet_owner)
    assert l2.events(receipt, l2.datanets, "ContributionRejected") == [{
        "contributionId": cid, "datanetId": l2.curated_datanet, "curator": l2.datanet_owner}]
    assert l2.datanets.functions.contribution(cid).call()[4] == C_REJECTED
    assert not l2.datanets.functions.isAccepted(cid).call()


def test_rejectContribution_by_curator_succeeds(l2: L2Env) -> None:
    cid = l2.pending[0]
    receipt = l2.send(l2.datanets.functions.rejectContribution(cid), l2.curator)
    assert l2.events(receipt, l2.datanets, "ContributionRejected")[0]["curator"] == l2.curator


def test_rejectContribution_by_outsider_reverts(l2: L2Env) -> None:
    cid = l2.pending[0]
    l2.assert_reverts(l2.datanets.functions.rejectContribution(cid), l2.outsider, "NotCuratorOrOwner",
                      l2.curated_datanet, l2.outsider)


def test_rejectContribution_not_pending_reverts(l2: L2Env) -> None:
    accepted = l2.accepted[-1]
    l2.assert_reverts(l2.datanets.functions.rejectContribution(accepted), l2.curator, "ContributionNotPending",
                      accepted, C_ACCEPTED)
    rejected = l2.rejected[0]
    l2.assert_reverts(l2.datanets.functions.rejectContribution(rejected), l2.curator, "ContributionNotPending",
                      rejected, C_REJECTED)


def test_rejectContribution_unknown_reverts(l2: L2Env) -> None:
    l2.assert_reverts(l2.datanets.functions.rejectContribution(0), l2.datanet_owner, "UnknownContribution", 0)


# -------------------------------------------------------------------- views


def test_contribution_unknown_reverts(l2: L2Env) -> None:
    f = l2.datanets.functions
    for call in (f.contribution(999), f.contributorOf(999), f.datanetOf(999)):
        l2.assert_reverts(call, l2.outsider, "UnknownContribution", 999)


def test_isAccepted_pending_rejected_unknown_succeeds(l2: L2Env) -> None:
    f = l2.datanets.functions
    assert not f.isAccepted(l2.pending[0]).call()
    assert not f.isAccepted(l2.rejected[0]).call()
    assert not f.isAccepted(999).call()
    assert all(f.isAccepted(cid).call() for cid in l2.accepted)


def test_contributionRecords_mixed_ids_succeeds(l2: L2Env) -> None:
    ids = [l2.accepted[0], l2.pending[0], l2.rejected[0], l2.foreign[0], 999]
    records = l2.datanets.functions.contributionRecords(ids).call()
    assert records == [
        (l2.contributors[0], l2.open_datanet, C_ACCEPTED),
        (l2.contributors[2], l2.curated_datanet, C_PENDING),
        (l2.contributors[3], l2.curated_datanet, C_REJECTED),
        (l2.contributors[0], l2.foreign_datanet, C_ACCEPTED),
        (ZERO, 0, C_NONE),
    ]
    assert l2.datanets.functions.contributionRecords([]).call() == []


def test_contributionByContentHash_unknown_succeeds(l2: L2Env) -> None:
    assert l2.datanets.functions.contributionByContentHash(l2.open_datanet, keccak(text="never")).call() == 0


def test_isCurator_owner_not_listed_succeeds(l2: L2Env) -> None:
    assert l2.datanets.functions.isCurator(l2.curated_datanet, l2.curator).call()
    assert not l2.datanets.functions.isCurator(l2.curated_datanet, l2.datanet_owner).call()
