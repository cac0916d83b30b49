"""Property tests of PayableAI on anvil, each example between an evm_snapshot
and an evm_revert:

- the fee split sums exactly to the fee, for random fees, shares and weights,
  and follows the documented rounding rule (remainder to the model owner);
- no double claim: over random sequences of requests, settlements, disputes
  decided by provider votes (overturned or upheld, losing voters slashed),
  finalizations, claims and refunds, nobody ever claims more than was
  credited to them, PayableAI's balance always equals escrowed + pending +
  claimable, and AttributionStaking's always equals active + unbonding stake +
  open bonds + claimable, with every slashed wei and every resolved bond
  credited to the disputer or the treasury;
- no settlement of a foreign contribution: a split that includes any
  contribution that is pending, rejected, unknown, or in a datanet the model
  was not trained on is always rejected, with the error naming the first
  such contribution.
"""

from __future__ import annotations

import itertools
from collections import Counter
from typing import TYPE_CHECKING, Any

from eth_utils.crypto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

if TYPE_CHECKING:
    from conftest import L2Env

OPEN = 10**18
DENOM = 1_000_000
MIN_PROVIDER_STAKE = 100 * OPEN  # conftest
DISPUTE_BOND = 10 * OPEN  # conftest
MAX_FEE = 2**80 - 1
C_NONE, C_PENDING, C_ACCEPTED, C_REJECTED = range(4)

PROPERTY = settings(max_examples=30, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@st.composite
def weights_for(draw: st.DrawFn, n: int) -> list[int]:
    """n positive integers summing to DENOM (cuts of [0, DENOM] at distinct points)."""
    cuts = sorted(draw(st.lists(st.integers(1, DENOM - 1), min_size=n - 1, max_size=n - 1, unique=True)))
    bounds = [0, *cuts, DENOM]
    return [b - a for a, b in itertools.pairwise(bounds)]


# -------------------------------------------------------------- fee split


@PROPERTY
@given(fee=st.one_of(st.integers(0, 10_000), st.integers(0, MAX_FEE), st.just(MAX_FEE)),
       protocol_bps=st.one_of(st.integers(0, 2_000), st.sampled_from([0, 2_000])),
       owner_bps=st.one_of(st.integers(0, 8_000), st.sampled_from([0, 8_000])),
       data=st.data())
def test_finalize_random_fee_shares_weights_split_sums_to_fee_succeeds(
    l2: L2Env, fee: int, protocol_bps: int, owner_bps: int, data: st.DataObject
) -> None:
    ids = sorted(data.draw(st.lists(st.sampled_from(l2.accepted), min_size=1, unique=True), label="ids"))
    weights = data.draw(weights_for(len(ids)), label="weights")
    snapshot = l2.snapshot()
    try:
        l2.send(l2.payable.functions.setProtocolShareBps(protocol_bps), l2.admin)
        model_id = l2.register_model(l2.model_owner, [l2.open_datanet, l2.curated_datanet], fee=fee,
                                     share_bps=owner_bps)
        requester = l2.fresh_account(fee + 10 * OPEN)
        inference_id = l2.request(model_id, requester)
        l2.settle(inference_id, ids, weights)
        l2.past_dispute_window(inference_id)
        receipt = l2.finalize(inference_id, ids, weights)

        protocol, owner, parts = l2.expected_split(fee, protocol_bps, owner_bps, weights)
        assert protocol + owner + sum(parts) == fee
        [event] = l2.events(receipt, l2.payable, "InferenceFinalized")
        assert (event["protocolAmount"], event["ownerAmount"], event["contributorsAmount"]) == (
            protocol, owner, sum(parts))
        rewarded = l2.events(receipt, l2.payable, "ContributionRewarded")
        assert [r["amount"] for r in rewarded] == parts
        assert [r["contributionId"] for r in rewarded] == ids
        # The remainder of the floor divisions is below one wei per contribution.
        pool = fee - fee * protocol_bps // 10_000 - fee * owner_bps // 10_000
        assert 0 <= pool - sum(parts) < len(ids)

        credited: Counter[str] = Counter()
        for r in rewarded:
            credited[r["contributor"]] += r["amount"]
        credited[l2.treasury] += protocol
        credited[l2.model_owner] += owner
        for account, amount in credited.items():
            assert l2.claimable(account) == amount
        assert sum(credited.values()) == fee
        assert l2.balance(l2.payable.address) == l2.payable_accounted()
    finally:
        l2.revert(snapshot)


# ---------------------------------------------------------- no double claim

OPS = st.lists(
    st.tuples(st.sampled_from(["request", "settle", "finalize", "claim", "claim_twice", "refund", "dispute",
                               "advance"]),
              st.integers(0, 2**16)),
    min_size=1, max_size=10,
)


class Ledger:
    """What the test expects PayableAI to owe (credits and claims from events),
    and what AttributionStaking must hold (stake paid in, slashes, bonds)."""

    def __init__(self, l2: L2Env) -> None:
        self.l2 = l2
        self.credited: Counter[str] = Counter()
        self.claimed: Counter[str] = Counter()
        self.requested: list[int] = []
        self.settled: dict[int, tuple[list[int], list[int]]] = {}
        self.accounts = [*l2.contributors, l2.model_owner, l2.treasury]
        self.queries = itertools.count(1)
        # Two more providers that vote; the fixture's provider (100 OPEN) settles.
        self.big = l2.staked_provider(300 * OPEN)
        self.small = l2.staked_provider(120 * OPEN)
        f = l2.staking.functions
        self.stake_in = int(f.totalActiveStake().call() + f.totalUnbonding().call())
        self.stake_slashed = 0
        self.bonds_resolved = 0
        self.staking_claimed = 0

    def dispute(self, inference_id: int, mode: int) -> None:
        """Dispute a settlement with a corrected split of another query, let the
        providers vote (mode picks who votes what), resolve and release the votes."""
        l2, f = self.l2, self.l2.staking.functions
        ids, weights = [l2.accepted[mode % len(l2.accepted)]], [DENOM]
        query = keccak(text=f"corrected query {next(self.queries)}")
        corrected = l2.attribution_hash(l2.model_id, query, ids, weights)
        settled = l2.inference(inference_id)["attributionHash"]
        dispute_id = l2.open_dispute(inference_id, at=l2.now() + 1, claimed=corrected)
        votes = {0: {self.big: corrected},  # 300 : 100, overturned
                 1: {},  # the provider's 100 alone, upheld
                 2: {self.big: corrected, self.small: settled},  # 300 : 220, overturned
                 3: {self.small: corrected, self.big: settled}}[mode % 4]  # 120 : 400, upheld
        for voter, attribution in votes.items():
            l2.vote(dispute_id, voter, attribution)
        l2.after_vote(dispute_id)
        receipt = l2.resolve(dispute_id, query, ids, weights)
        self.bonds_resolved += DISPUTE_BOND
        [resolved] = l2.events(receipt, l2.staking, "DisputeResolved")
        assert resolved["overturned"] == (mode % 4 in (0, 2))
        for event in l2.events(receipt, l2.staking, "ProviderSlashed"):
            self.stake_slashed += event["amount"]
            self.top_up(l2.provider)
        if resolved["overturned"]:
            self.settled[inference_id] = (ids, weights)
        # An upheld settlement is finalized with its original split.
        for voter in votes:
            released = l2.send(f.releaseVote(dispute_id, voter), l2.outsider)
            [event] = l2.events(released, l2.staking, "VoteReleased")
            self.stake_slashed += event["slashed"]
            assert (event["slashed"] > 0) == (votes[voter] != resolved["decisiveHash"])
            self.top_up(voter)

    def top_up(self, provider: str) -> None:
        """Stake back to the minimum, so the account keeps settling and voting."""
        missing = MIN_PROVIDER_STAKE - self.l2.staking.functions.providerInfo(provider).call()[0]
        if missing > 0:
            self.l2.send(self.l2.staking.functions.stake(), provider, value=missing)
            self.stake_in += missing

    def claim_staking(self, account: str) -> None:
        amount = self.l2.staking.functions.claimable(account).call()
        if amount:
            self.l2.send(self.l2.staking.functions.claim(), account)
            self.staking_claimed += amount

    def finalize(self, inference_id: int) -> None:
        ids, weights = self.settled.pop(inference_id)
        record = self.l2.inference(inference_id)
        if record["disputeState"] != 3:  # not overturned: wait out the window
            self.l2.past_dispute_window(inference_id)
        receipt = self.l2.finalize(inference_id, ids, weights)
        for r in self.l2.events(receipt, self.l2.payable, "ContributionRewarded"):
            self.credited[r["contributor"]] += r["amount"]
        [event] = self.l2.events(receipt, self.l2.payable, "InferenceFinalized")
        self.credited[event["treasury"]] += event["protocolAmount"]
        self.credited[event["modelOwner"]] += event["ownerAmount"]

    def claim(self, account: str) -> None:
        if self.l2.claimable(account) == 0:
            self.l2.assert_reverts(self.l2.payable.functions.claim(), account, "NothingToClaim", account)
            return
        receipt = self.l2.send(self.l2.payable.functions.claim(), account)
        [event] = self.l2.events(receipt, self.l2.payable, "Claimed")
        self.claimed[account] += event["amount"]

    def check(self) -> None:
        f = self.l2.payable.functions
        for account in self.accounts:
            assert self.claimed[account] <= self.credited[account]
            assert self.l2.claimable(account) == self.credited[account] - self.claimed[account]
        assert f.totalClaimable().call() == sum(self.credited.values()) - sum(self.claimed.values())
        assert self.l2.balance(self.l2.payable.address) == self.l2.payable_accounted()
        s = self.l2.staking.functions
        active, unbonding, bonds, claimable = (s.totalActiveStake().call(), s.totalUnbonding().call(),
                                               s.totalOpenBonds().call(), s.totalClaimable().call())
        assert self.l2.balance(self.l2.staking.address) == active + unbonding + bonds + claimable
        # Slashed stake leaves the stakes and reappears, with every resolved bond, as claimable balances.
        assert active + unbonding == self.stake_in - self.stake_slashed
        assert claimable + self.staking_claimed == self.stake_slashed + self.bonds_resolved
        assert bonds == 0  # every dispute is resolved within its operation


@PROPERTY
@given(ops=OPS, data=st.data())
def test_claim_random_operation_sequences_no_double_claim_succeeds(
    l2: L2Env, ops: list[tuple[str, int]], data: st.DataObject
) -> None:
    snapshot = l2.snapshot()
    try:
        ledger = Ledger(l2)
        for op, pick in ops:
            if op == "request" or (op in ("settle", "refund") and not ledger.requested):
                ledger.requested.append(l2.request())
            elif op == "settle":
                inference_id = ledger.requested[pick % len(ledger.requested)]
                ids = sorted(data.draw(st.lists(st.sampled_from(l2.accepted), min_size=1, max_size=4, unique=True)))
                weights = data.draw(weights_for(len(ids)))
                deadline = l2.inference(inference_id)["deadline"]
                if l2.now() + 1 > deadline:  # settling at now + 1 would be too late: stays refundable
                    if l2.now() > deadline:
                        l2.assert_reverts(l2.payable.functions.settle(inference_id, b"\xaa" * 32, ids, weights),
                                          l2.provider, "SettlementDeadlinePassed", inference_id, deadline)
                    continue
                l2.settle(inference_id, ids, weights, at=l2.now() + 1)
                ledger.requested.remove(inference_id)
                ledger.settled[inference_id] = (ids, weights)
            elif op == "refund":
                inference_id = ledger.requested.pop(pick % len(ledger.requested))
                l2.mine_at(max(l2.now(), l2.inference(inference_id)["deadline"]) + 1)
                l2.send(l2.payable.functions.refund(inference_id), l2.requester)
            elif op == "finalize" and ledger.settled:
                ledger.finalize(sorted(ledger.settled)[pick % len(ledger.settled)])
            elif op == "dispute" and ledger.settled:
                inference_id = sorted(ledger.settled)[pick % len(ledger.settled)]
                record = l2.inference(inference_id)
                if record["disputeState"] != 0 or l2.now() >= record["disputeDeadline"]:
                    continue
                ledger.dispute(inference_id, pick)
            elif op in ("claim", "claim_twice"):
                account = ledger.accounts[pick % len(ledger.accounts)]
                ledger.claim(account)
                ledger.claim_staking((l2.disputer, l2.treasury)[pick % 2])
                if op == "claim_twice":
                    ledger.claim(account)  # the second claim finds nothing
            elif op == "advance":
                l2.advance(pick)
            ledger.check()
        # Drain: finalize everything left, everyone claims; nothing is left over.
        for inference_id in sorted(ledger.settled):
            ledger.finalize(inference_id)
        for account in ledger.accounts:
            ledger.claim(account)
            ledger.claim(account)
        for account in (l2.disputer, l2.treasury):
            ledger.claim_staking(account)
        ledger.check()
        assert l2.payable.functions.totalClaimable().call() == 0
        assert l2.staking.functions.totalClaimable().call() == 0
        assert sum(ledger.claimed.values()) == sum(ledger.credited.values())
    finally:
        l2.revert(snapshot)


# ------------------------------------------------- no foreign settlement


@PROPERTY
@given(data=st.data())
def test_settle_random_invalid_contribution_reverts(l2: L2Env, data: st.DataObject) -> None:
    datanet_ids = [l2.open_datanet, l2.curated_datanet, l2.foreign_datanet]
    trained = sorted(data.draw(st.lists(st.sampled_from(datanet_ids), min_size=1, unique=True), label="trained"))
    accepted_by_datanet = {
        l2.open_datanet: l2.accepted[:4], l2.curated_datanet: l2.accepted[4:], l2.foreign_datanet: l2.foreign}
    valid = [cid for d in trained for cid in accepted_by_datanet[d]]
    foreign = [cid for d in datanet_ids if d not in trained for cid in accepted_by_datanet[d]]
    unknown = [10_000, 10_001, 2**64]
    invalid_pool = [*l2.pending, *l2.rejected, *foreign, *unknown]
    good = data.draw(st.lists(st.sampled_from(valid), unique=True, max_size=4), label="good")
    bad = data.draw(st.lists(st.sampled_from(invalid_pool), unique=True, min_size=1, max_size=3), label="bad")
    ids = sorted(good + bad)
    weights = data.draw(weights_for(len(ids)), label="weights")

    snapshot = l2.snapshot()
    try:
        model_id = l2.register_model(l2.model_owner, trained)
        inference_id = l2.request(model_id)
        first_bad = min(bad)
        record = l2.datanets.functions.contributionRecords([first_bad]).call()[0]
        call = l2.payable.functions.settle(inference_id, b"\xaa" * 32, ids, weights)
        if record[2] != C_ACCEPTED:
            l2.assert_reverts(call, l2.provider, "ContributionNotAccepted", first_bad, record[2])
        else:
            assert record[1] not in trained
            l2.assert_reverts(call, l2.provider, "ForeignContribution", first_bad, record[1])
        # The same overturn path validates the same way.
        if good:
            good_ids = sorted(good)
            good_weights = l2.even_weights(len(good_ids))
            l2.settle(inference_id, good_ids, good_weights)
            # A majority of the voted stake backs the invalid split's hash.
            bad_hash = l2.attribution_hash(model_id, b"\xcc" * 32, ids, weights)
            dispute_id = l2.open_dispute(inference_id, claimed=bad_hash)
            l2.vote(dispute_id, l2.staked_provider(300 * OPEN), bad_hash)
            l2.after_vote(dispute_id)
            resolve: Any = l2.staking.functions.resolve(dispute_id, b"\xcc" * 32, ids, weights)
            expected = "ContributionNotAccepted" if record[2] != C_ACCEPTED else "ForeignContribution"
            l2.assert_reverts(resolve, l2.outsider, expected, source=l2.payable)
    finally:
        l2.revert(snapshot)
