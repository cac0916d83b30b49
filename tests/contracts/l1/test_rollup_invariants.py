"""Random sequences of rollup operations (submit, sequencer bond, stake,
unstake, withdraw, challenge, vote, resolve, time) on anvil, checking after
every step that:

- the OPEN the rollup holds equals the sequencer bonds + active stake +
  unbonding stake + bonds of unresolved challenges, read account by account
  and challenge by challenge, and the contract's running totals agree;
- nextBatchIndex equals the number of live outputs, which match the outputs a
  model rebuilt from the events (appended by BatchSubmitted, truncated by
  OutputsRolledBack);
- finality is a prefix (isOutputFinalized(i) == i < finalizedOutputCount()), and
  no output ever seen final is rolled back, changed or becomes non-final.

Every step is either a successful transaction or a revert with one of the
contracts' custom errors; a panic or a string revert fails the test. Each
example replays a generated list of operations from an evm_snapshot of the
module's deployment and reverts to it at the end. Time moves only through
``advance`` (and a resolve that waits for its vote to end): every transaction
is mined at the scenario's clock, so eth_call and the mined block agree.

Honest validators compute ``truth(lastBlock)``; the sequencer posts a wrong
root for some batches. Three in four challenges, votes and resolves are
honest or patient, and the quorum is 20%, so wrong outputs do get rolled back
in many examples (pytest -s prints how often each outcome happened).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_abi.abi import decode, encode
from eth_utils.crypto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3.exceptions import ContractCustomError, ContractLogicError

from contracts import load_artifact

from .conftest import OPEN, SUCCEEDED, L1Env, deployment, revert_bytes, selector

EXAMPLES = int(os.environ.get("ROLLUP_INVARIANT_EXAMPLES", "30"))
GAS = 3_000_000

# Return types of the struct getters (OpenLedgerRollup.Validator, Batch, Challenge).
VALIDATOR = "(uint256,uint256,uint64,uint64)"
BATCH = "(bytes32,bytes32,uint64,uint64,uint64,uint64,address,uint64)"
CHALLENGE = "(address,uint64,uint8,uint256,uint64,bytes32,bytes32,uint256,uint256,uint256,uint256)"
OPEN_STATUS = 1


def _custom_errors() -> dict[bytes, str]:
    found = {}
    for name in ("OpenLedgerRollup", "OpenToken"):
        for item in load_artifact(name).abi:
            if item["type"] == "error":
                types = ",".join(i["type"] for i in item["inputs"])
                found[selector(f"{item['name']}({types})")] = item["name"]
    return found


KNOWN_ERRORS = _custom_errors()


def encode_call(signature: str, args: list[Any]) -> bytes:
    inner = signature[signature.index("(") + 1 : signature.rindex(")")]
    return selector(signature) + encode([t for t in inner.split(",") if t], args)


def truth(last_block: int) -> bytes:
    """The output root an honest validator computes for the batch ending at ``last_block``."""
    return keccak(b"truth" + last_block.to_bytes(8, "big"))


@dataclass(frozen=True)
class Output:
    root: bytes
    last_block: int
    nonce: int


@dataclass(frozen=True)
class ChallengeInfo:
    output_index: int
    posted: bytes
    claimed: bytes
    last_block: int


# ------------------------------------------------------------------ operations

MOSTLY_TRUE = st.sampled_from([True, True, True, False])
# V0..V3 (400/300/200/100 OPEN staked) and, less often, two unstaked accounts.
ACTOR = st.sampled_from([0, 1, 2, 3, 0, 1, 2, 3, 4, 5])
PICK = st.integers(0, 2**32)

# Parameters of each operation, drawn when the operation is chosen.
PARAMETERS: dict[str, Any] = {
    "submit": st.tuples(st.booleans(), st.integers(1, 4)),  # (posts the true root, blocks)
    "bond": st.tuples(MOSTLY_TRUE, st.sampled_from([500, 100, 1_000, 0])),  # (deposit, OPEN)
    "validator": st.tuples(ACTOR, st.sampled_from(["stake", "unstake", "withdraw"]),
                           st.sampled_from([100, 200, 400, 1, 0])),
    "challenge": st.tuples(ACTOR, PICK, MOSTLY_TRUE),  # (actor, which output, honest)
    "vote": st.tuples(ACTOR, PICK, MOSTLY_TRUE),  # (actor, which challenge, honest)
    "resolve": st.tuples(PICK, MOSTLY_TRUE),  # (which challenge, wait for the vote to end)
    "advance": st.tuples(st.sampled_from([1_800, 3_600, 600, 60, 1])),
}
STEPS = int(os.environ.get("ROLLUP_INVARIANT_STEPS", "25"))


class Scenario:
    """Applies operations to the deployed rollup and keeps the model the
    invariants compare against."""

    def __init__(self, l1: L1Env) -> None:
        self.l1 = l1
        self.time = l1.now() + 1
        l1.mine_at(self.time)
        self.actors = [*l1.validators, *l1.outsiders[:2]]
        self.accounts = [l1.sequencer, *self.actors]
        self.outputs: list[Output] = []
        self.challenges: dict[int, ChallengeInfo] = {}
        self.open_ids: set[int] = set()
        self.final_seen: dict[int, Output] = {}
        self.stats: Counter[str] = Counter()

    # ------------------------------------------------------------ plumbing

    def attempt(self, call: Any, sender: str) -> Any | None:
        """The receipt of ``call`` sent at the scenario's clock, or None when it
        reverts with a custom error of the contracts (anything else fails)."""
        try:
            call.call({"from": sender})
        except ContractCustomError as exc:
            data = revert_bytes(exc)
            assert data[:4] in KNOWN_ERRORS, f"unknown custom error 0x{data.hex()}"
            self.stats[f"reverted {KNOWN_ERRORS[data[:4]]}"] += 1
            return None
        except ContractLogicError as exc:  # panics and string reverts
            raise AssertionError(f"reverted without a custom error: {exc!r}") from exc
        self.l1.at(self.time)
        receipt = self.l1.w3.eth.wait_for_transaction_receipt(call.transact({"from": sender, "gas": GAS}))
        assert receipt["status"] == 1, "eth_call succeeded but the transaction at the same time failed"
        self.observe(receipt)
        return receipt

    def observe(self, receipt: Any) -> None:
        """Update the model from the rollup's events."""
        for args in self.l1.events(receipt, "BatchSubmitted"):
            assert args["batchIndex"] == len(self.outputs)
            nonce = self.l1.batch(args["batchIndex"])["nonce"]
            self.outputs.append(Output(args["outputRoot"], args["lastBlock"], nonce))
        for args in self.l1.events(receipt, "ChallengeOpened"):
            output = self.outputs[args["outputIndex"]]
            self.challenges[args["challengeId"]] = ChallengeInfo(
                args["outputIndex"], args["outputRoot"], args["claimedRoot"], output.last_block)
            self.open_ids.add(args["challengeId"])
        rolled_back = self.l1.events(receipt, "OutputsRolledBack")
        for args in rolled_back:
            assert args["previousNextIndex"] == len(self.outputs)
            for index in range(args["fromIndex"], len(self.outputs)):
                assert index not in self.final_seen, f"final output {index} rolled back"
            del self.outputs[args["fromIndex"]:]
        for args in self.l1.events(receipt, "ChallengeResolved"):
            self.open_ids.discard(args["challengeId"])
            self.stats[f"challenge status {args['status']}"] += 1
            assert (args["status"] == SUCCEEDED) == bool(rolled_back)

    def pick_challenge(self, pick: int) -> int:
        """Mostly an open challenge; sometimes any id, resolved or never issued."""
        if self.open_ids and pick % 8:
            return sorted(self.open_ids)[pick % len(self.open_ids)]
        return pick % (len(self.challenges) + 2)

    # ---------------------------------------------------------- operations

    def step(self, data: st.DataObject) -> None:
        """Draw one operation, weighted towards what can make progress now."""
        choices = ["submit", "submit", "advance", "bond", "validator"]
        if self.outputs:
            choices += ["challenge", "challenge"]
        if self.open_ids:
            choices += ["vote", "vote", "vote", "vote", "resolve", "resolve"]
        else:
            choices += ["resolve"]  # of a resolved or unknown id: it must revert
        operation = data.draw(st.sampled_from(choices), label="operation")
        parameters = data.draw(PARAMETERS[operation], label=operation)
        getattr(self, operation)(*parameters)

    def submit(self, good: bool, blocks: int) -> None:
        """The sequencer tops its bond up to the minimum first (after a slash)."""
        bond, minimum = self.l1.fn.sequencerBond(self.l1.sequencer).call(), self.l1.config.min_sequencer_bond
        if bond < minimum:
            self.attempt(self.l1.fn.depositSequencerBond(minimum - bond), self.l1.sequencer)
        index = len(self.outputs)
        first = 1 if index == 0 else self.outputs[-1].last_block + 1
        last = first + blocks - 1
        root = truth(last) if good else keccak(b"bad" + last.to_bytes(8, "big") + index.to_bytes(8, "big"))
        self.attempt(self.l1.fn.submitBatch(index, first, last, root, b"batch"), self.l1.sequencer)

    def bond(self, deposit: bool, amount: int) -> None:
        function = self.l1.fn.depositSequencerBond if deposit else self.l1.fn.withdrawSequencerBond
        self.attempt(function(amount * OPEN), self.l1.sequencer)

    def validator(self, actor: int, op: str, amount: int) -> None:
        f = self.l1.fn
        call = {"stake": f.stake, "unstake": f.requestUnstake}[op](amount * OPEN) if op != "withdraw" else \
            f.withdrawStake()
        self.attempt(call, self.actors[actor])

    def challenge(self, actor: int, pick: int, honest: bool) -> None:
        """An honest challenger targets a wrong output when there is one and claims
        the truth; a griefer claims a made-up root for any index (one past the end too)."""
        wrong = [i for i, o in enumerate(self.outputs) if o.root != truth(o.last_block)]
        index = wrong[pick % len(wrong)] if honest and wrong else pick % (len(self.outputs) + 1)
        last_block = self.outputs[index].last_block if index < len(self.outputs) else 0
        claim = truth(last_block) if honest else keccak(b"grief" + pick.to_bytes(8, "big"))
        self.attempt(self.l1.fn.challenge(index, claim), self.actors[actor])

    def vote(self, actor: int, pick: int, honest: bool) -> None:
        challenge_id = self.pick_challenge(pick)
        info = self.challenges.get(challenge_id)
        if info is None:
            root = b"\x01" * 32
        elif honest:
            root = truth(info.last_block)
        else:  # the opposite of the truth
            root = info.claimed if info.posted == truth(info.last_block) else info.posted
        self.attempt(self.l1.fn.vote(challenge_id, root), self.actors[actor])

    def resolve(self, pick: int, wait: bool) -> None:
        """With ``wait``, first let the clock run to the end of the challenge's vote."""
        challenge_id = self.pick_challenge(pick)
        if wait and challenge_id in self.open_ids:
            ends = self.l1.challenge_record(challenge_id)["votingEndsAt"]
            if ends > self.time:
                self.advance(ends - self.time)
        self.attempt(self.l1.fn.resolve(challenge_id), self.l1.outsiders[-1])

    def advance(self, seconds: int) -> None:
        self.time += seconds
        self.l1.mine_at(self.time)

    # ---------------------------------------------------------- invariants

    def read_state(self) -> dict[str, list[Any]]:
        """Everything the invariants read, as one JSON-RPC batch of eth_calls
        encoded here (web3's per-call encoding would dominate the runtime)."""
        rollup, token = self.l1.rollup.address, self.l1.token.address
        n_outputs, n_challenges = len(self.outputs), len(self.challenges)
        calls: list[tuple[str, str, str, list[Any], str]] = [
            ("totals", rollup, "totalSequencerBonds()", [], "uint256"),
            ("totals", rollup, "totalActiveStake()", [], "uint256"),
            ("totals", rollup, "totalUnbonding()", [], "uint256"),
            ("totals", rollup, "totalChallengeBonds()", [], "uint256"),
            ("held", token, "balanceOf(address)", [rollup], "uint256"),
            ("next", rollup, "nextBatchIndex()", [], "uint256"),
            ("count", rollup, "finalizedOutputCount()", [], "uint256"),
            ("challenge_count", rollup, "challengeCount()", [], "uint256"),
        ]
        calls += [("bond", rollup, "sequencerBond(address)", [a], "uint256") for a in self.accounts]
        calls += [("validator", rollup, "getValidator(address)", [a], VALIDATOR) for a in self.accounts]
        calls += [("batch", rollup, "getBatch(uint256)", [i], BATCH) for i in range(n_outputs)]
        calls += [("final", rollup, "isOutputFinalized(uint256)", [i], "bool") for i in range(n_outputs + 1)]
        calls += [("challenge", rollup, "getChallenge(uint256)", [i], CHALLENGE) for i in range(1, n_challenges + 1)]
        requests = [
            ("eth_call", [{"to": to, "data": "0x" + encode_call(signature, args).hex()}, "latest"])
            for _, to, signature, args, _ in calls
        ]
        responses = self.l1.w3.provider.make_batch_request(requests)  # type: ignore[attr-defined]
        state: dict[str, list[Any]] = {"batch": [], "challenge": []}
        for (key, _, _, _, returns), response in zip(calls, responses, strict=True):
            assert "error" not in response, response
            (value,) = decode([returns], bytes.fromhex(response["result"].removeprefix("0x")))
            state.setdefault(key, []).append(value)
        return state

    def check_invariants(self) -> None:
        state = self.read_state()
        (next_index,), (count,), (challenge_count,), (held,) = (
            state["next"], state["count"], state["challenge_count"], state["held"])

        # OPEN held == bonds + active stake + unbonding + bonds of open challenges.
        bonds = sum(state["bond"])
        active = sum(v[0] for v in state["validator"])
        unbonding = sum(v[1] for v in state["validator"])
        assert challenge_count == len(self.challenges)
        open_bonds = sum(c[7] for c in state["challenge"] if c[2] == OPEN_STATUS)
        assert state["totals"] == [bonds, active, unbonding, open_bonds]
        assert held == bonds + active + unbonding + open_bonds

        # nextBatchIndex == number of live outputs, and they are the model's.
        assert next_index == len(self.outputs)
        for batch, output in zip(state["batch"], self.outputs, strict=True):
            assert (batch[0], batch[3], batch[7]) == (output.root, output.last_block, output.nonce)

        # Finality is a prefix, and nothing seen final is ever rolled back or changed.
        flags = state["final"]
        assert flags == [i < count for i in range(len(self.outputs) + 1)]
        for index, output in self.final_seen.items():
            assert index < len(self.outputs) and self.outputs[index] == output, f"final output {index} changed"
            assert flags[index], f"output {index} was final and is not any more"
        for index in range(count):
            self.final_seen.setdefault(index, self.outputs[index])


STATS: Counter[str] = Counter()


@pytest.fixture(scope="module")
def l1_deployed(l1_url: str) -> Iterator[L1Env]:
    """A 20% quorum (200 of the 1,000 OPEN staked): V0..V2 reach it alone, V3
    does not, so random runs see rollbacks as well as quorum failures."""
    with deployment(l1_url, {"quorum_bps": 2_000}) as env:
        yield env


@pytest.fixture(scope="module", autouse=True)
def _report_coverage() -> Iterator[None]:
    """Print how often the interesting outcomes happened (pytest -s shows it)."""
    yield
    print(f"\nrollup invariant scenarios: {dict(sorted(STATS.items()))}")


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_rollup_random_operations_keep_invariants_succeeds(l1_deployed: L1Env, data: st.DataObject) -> None:
    l1 = l1_deployed
    snapshot = l1.snapshot()
    try:
        scenario = Scenario(l1)
        scenario.check_invariants()
        for _ in range(STEPS):
            scenario.step(data)
            scenario.check_invariants()
        STATS.update(scenario.stats)
        STATS["examples"] += 1
        STATS["outputs final at the end"] += len(scenario.final_seen)
        STATS["examples with a rollback"] += scenario.stats[f"challenge status {SUCCEEDED}"] > 0
    finally:
        l1.revert(snapshot)
