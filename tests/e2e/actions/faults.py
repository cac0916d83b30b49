"""Fault injection: a sequencer that cheats one way at a time, against two
honest staked validators on the same L1 (`AnvilL1`, either backend).

The sequencer is the actor `Sequencer` building honest blocks (or, for the
deposit faults, blocks built with a deposit source that cheats: the production
builder is untouched), and the cheat is posted from the sequencer's own key
with `submitBatch`, as a sequencer that misbehaves would. Each round
(`FaultRig.attack`) then runs the dispute to its end and measures it: the
validators' verdicts, the challenge one opens and the other votes in, its
outcome once the voting period has passed, the rollback on L1 and in both
validators' derived chains, the slash of the sequencer's bond, and what honest
parties lost. `FaultRig.recover` has the honest batcher post the blocks again
and both validators derive and agree with them.

Used by `tests/e2e/actions/test_faults.py` (a test per fault, on both L1
backends) and `bench/faults.py` (the table in docs/benchmarks.md).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_hash.auto import keccak

from bridge.bindings import OPEN_TOKEN, ROLLUP
from bridge.rollup import RollupClient
from bridge.txmgr import TxManager
from node.builder import chain_rules
from openledger_node.codec import BlockEntry, block_entry, encode_batch
from openledger_node.config import load_config
from openledger_node.derivation.batches import BatchSource, PostedBatch, RolledBack
from openledger_node.derivation.deposits import L1Deposits
from openledger_node.derivation.l1_traversal import L1Traversal
from openledger_node.derivation.pipeline import Derivation, Verdict
from openledger_node.execution.genesis import (
    anchor_genesis,
    build_genesis,
    dev_private_keys,
    load_genesis,
)
from openledger_node.execution.output import output_root
from openledger_node.execution.state import StateView
from openledger_node.execution.transactions import DepositTransaction
from openledger_node.execution.types import L1Origin
from openledger_node.primitives import (
    L2_TO_L1_MESSAGE_PASSER_ADDRESS,
    OPEN,
    Address,
    Hash32,
    addr,
)
from openledger_node.storage import ChainStore, OverlayDB
from sequencer.batcher import Batcher, BatcherConfig
from tests.conftest import GENESIS_PATH
from tests.e2e.actions.actors import Sequencer
from tests.e2e.actions.l1 import FAST, AnvilL1
from validator import INVALID_BATCH_ROOT, Disputes, Validator

SEQUENCER_KEY, DEPOSITOR_KEY, USER_KEY, CHALLENGER_KEY, VOTER_KEY, STRANGER_KEY = 0, 1, 2, 3, 4, 6
DEPOSITOR_FUNDS = 1_000 * OPEN
VALIDATOR_FUNDS = 2_000 * OPEN
DEPOSIT = 5 * OPEN
RECIPIENT = b"\x71" * 20
DEPOSIT_TARGET = b"\x72" * 20
STATUS = {0: "None", 1: "Open", 2: "Succeeded", 3: "Failed", 4: "Cancelled"}


def fund_depositor(l1: AnvilL1) -> None:
    """The L1 account that deposits OPEN (once per L1; the tests' module fixture does it)."""
    l1.fund(Account.from_key(l1.keys[DEPOSITOR_KEY]).address, DEPOSITOR_FUNDS)


# --- cheating sources, handed to the actors (the production code is not patched) ------------------


class CheatingDeposits:
    """The sequencer's deposit source: L1's deposits while `mode` is "honest";
    "skip" builds every block without the deposits L1 has, "repeat" credits an
    epoch's deposits again at the next epoch."""

    def __init__(self, honest: L1Deposits) -> None:
        self.honest = honest
        self.mode = "honest"
        self._previous: list[DepositTransaction] = []

    def due_deposits(self, origin: L1Origin, epoch_start: bool) -> Sequence[DepositTransaction]:
        due = list(self.honest.due_deposits(origin, epoch_start))
        if self.mode == "skip":
            return []
        if self.mode == "repeat" and epoch_start:
            again, self._previous = self._previous, due
            return due + again
        return due


class AlteredData:
    """A batch source (an L1 endpoint) that serves other bytes than a posted
    transaction carried: `altered[keccak(data)] = other`."""

    def __init__(self, source: RollupClient, altered: dict[bytes, bytes]) -> None:
        self.source = source
        self.altered = altered

    def posted_batches(self, from_l1_block: int, to_l1_block: int) -> list[PostedBatch]:
        out = []
        for posted in self.source.posted_batches(from_l1_block, to_l1_block):
            other = self.altered.get(bytes(keccak(posted.data)))
            out.append(posted if other is None else PostedBatch(
                posted.index, posted.first_block, posted.last_block, posted.output_root, posted.data_hash,
                other, posted.l1_block, posted.log_index))
        return out

    def rollbacks(self, from_l1_block: int, to_l1_block: int) -> list[RolledBack]:
        return self.source.rollbacks(from_l1_block, to_l1_block)


# --- what one round measured ----------------------------------------------------------------------


@dataclass
class Outcome:
    fault: str
    index: int  # the output the bad batch was posted as
    challenge_id: int
    verdicts: tuple[Verdict, Verdict]  # the challenger's and the voter's, on the bad batch
    claimed_root: bytes  # the challenger's claim on L1
    expected_claim: bytes  # its derived root, or INVALID_BATCH_ROOT for a batch that derives no blocks
    opened_by_challenger: bool
    voted_by_voter: bool
    status: str  # the challenge's outcome after the voting period
    blocks_to_detection: int  # L1 blocks from the bad batch's to the challenge's
    rolled_back_on_l1: bool  # nextBatchIndex back to the bad output
    rolled_back_derived: bool  # both validators' chains back to the last block before it, not halted
    slashed: int  # OPEN taken from the sequencer's bond
    honest_l1_lost: int  # OPEN the validators lost on L1 (wallet + stake)
    recovered: bool = False  # filled by `recover`: the honest re-post derived and agreed by both
    honest_challenged: int = 0  # filled by `finish`: challenges of outputs that were honest
    honest_l2_lost: int = 0  # filled by `finish`: OPEN honest L2 accounts miss on the validators' chains
    reasons: list[str] = field(default_factory=list)
    recovery_note: str = ""  # when another round's re-post is this one's

    @property
    def detected(self) -> bool:
        return all(not v.agrees for v in self.verdicts)

    @property
    def rolled_back(self) -> bool:
        return self.rolled_back_on_l1 and self.rolled_back_derived

    @property
    def caught(self) -> bool:
        """Every check of the goal."""
        return (self.detected and self.claimed_root == self.expected_claim and self.opened_by_challenger
                and self.voted_by_voter and self.status == "Succeeded" and self.rolled_back and self.slashed > 0
                and self.recovered and self.honest_challenged == 0
                and self.honest_l1_lost == 0 and self.honest_l2_lost == 0)


# --- the rig ----------------------------------------------------------------------------------------


class StakedValidator:
    """A validator (`Validator` + `Disputes`) with its own key, stake, store and batch source."""

    def __init__(self, l1: AnvilL1, key_index: int, genesis: Path, data_dir: Path,
                 batches: BatchSource | None = None) -> None:
        key = l1.keys[key_index]
        self.account = addr(Account.from_key(key).address)
        self.txmgr = TxManager(l1.client, key, FAST)
        self.rollup = RollupClient(l1.client, self.txmgr, addr(l1.deployment.rollup), addr(l1.deployment.open_token))
        spec = load_genesis(genesis)
        store = ChainStore(data_dir)
        overlay = OverlayDB(store.state_db)
        store.write_genesis(build_genesis(spec, overlay), overlay, spec.l1_origin)
        config = load_config(None, environ={}, overrides={"chain": {"genesis": str(genesis)}})
        derivation = Derivation(
            chain_rules(config.chain, config.sequencer.fee_recipient), store, L1Traversal(l1.client),
            batches or l1.rollup, L1Deposits(l1.client, addr(l1.deployment.portal)),
            config.chain.max_sequencer_drift, l1.deployment.deployed_at_block,
        )
        self.validator = Validator(derivation, disputes=Disputes(self.rollup, self.account,
                                                                 l1.deployment.deployed_at_block))

    @property
    def derivation(self) -> Derivation:
        return self.validator.derivation

    @property
    def store(self) -> ChainStore:
        return self.derivation.store

    def sync(self) -> None:
        self.validator.sync()

    def verdict(self, index: int, l1_block: int) -> Verdict:
        (found,) = [v for v in self.derivation.verdicts if (v.index, v.l1_block) == (index, l1_block)]
        return found

    def balance(self, account: bytes) -> int:
        return StateView(self.store.state_db, bytes(self.store.head("unsafe").state_root)).get_balance(account)

    def close(self) -> None:
        self.store.close()
        self.txmgr.close()


class FaultRig:
    """One L1, one sequencer (with its batcher), two staked validators."""

    def __init__(self, l1: AnvilL1, work: Path, challenger_batches: Callable[[AnvilL1], BatchSource] | None = None):
        self.l1 = l1
        self.work = work
        self.sequencer_account = addr(Account.from_key(l1.keys[SEQUENCER_KEY]).address)
        self.voting_period = int(ROLLUP.decode_result("votingPeriod", l1.client.call(
            addr(l1.deployment.rollup), ROLLUP.encode("votingPeriod"))))
        self.altered: dict[bytes, bytes] = {}
        for key_index in (CHALLENGER_KEY, VOTER_KEY):  # stake first: L1 transactions before the L2 genesis
            self._stake(key_index)
        genesis = anchor_genesis(GENESIS_PATH, l1.head, work / "genesis.json")
        self.deposits = CheatingDeposits(L1Deposits(l1.client, addr(l1.deployment.portal)))
        self.sequencer = Sequencer(work / "sequencer", genesis, L1Traversal(l1.client), deposits=self.deposits)
        self.batcher = Batcher(self.sequencer.store, l1.rollup, self.sequencer.rules.chain_id,
                               BatcherConfig(max_age=3_600), clock=lambda: self.sequencer.time)
        self.challenger = StakedValidator(l1, CHALLENGER_KEY, genesis, work / "challenger",
                                          AlteredData(l1.rollup, self.altered))
        self.voter = StakedValidator(l1, VOTER_KEY, genesis, work / "voter")
        self.user = Account.from_key(dev_private_keys()[USER_KEY])
        self.outcomes: list[Outcome] = []
        self.deposited: int = 0  # OPEN deposited to DEPOSIT_TARGET on L1
        self.honest_posts: list[tuple[int, int]] = []  # (index, L1 block) of the batcher's posts
        self.sent_to_recipient = 0  # wei the user sent RECIPIENT on L2

    def close(self) -> None:
        for validator in (self.challenger, self.voter):
            validator.close()
        self.sequencer.close()

    # --- L1 -----------------------------------------------------------------------------------

    def _stake(self, key_index: int) -> None:
        key = self.l1.keys[key_index]
        account = Account.from_key(key).address
        self.l1.fund(account, VALIDATOR_FUNDS)
        txmgr = TxManager(self.l1.client, key, FAST)
        try:
            rollup = RollupClient(self.l1.client, txmgr, addr(self.l1.deployment.rollup),
                                  addr(self.l1.deployment.open_token))
            active, minimum = rollup.validator_stake(addr(account))
            if active < minimum:
                rollup.stake(minimum - active)
        finally:
            txmgr.close()

    def open_balance(self, account: bytes) -> int:
        token = addr(self.l1.deployment.open_token)
        return int(OPEN_TOKEN.decode_result("balanceOf", self.l1.client.call(
            token, OPEN_TOKEN.encode("balanceOf", "0x" + account.hex()))))

    def validators_open(self) -> int:
        """The validators' OPEN on L1: in their wallets and staked."""
        return sum(self.open_balance(v.account) + v.rollup.validator_stake(v.account)[0]
                   for v in (self.challenger, self.voter))

    def bond(self) -> int:
        return self.l1.rollup.sequencer_bond(self.sequencer_account)[0]

    def top_up_bond(self) -> None:
        """A slashed sequencer is under the minimum bond: it tops up before posting again."""
        bond, minimum = self.l1.rollup.sequencer_bond(self.sequencer_account)
        if bond < minimum:
            self.l1.rollup.deposit_bond(minimum - bond)

    def submission_block(self, index: int) -> int:
        """The L1 block of the latest submission of output `index`."""
        topic = ROLLUP.event("BatchSubmitted").topic
        logs = self.l1.client.logs(from_block=0, to_block="latest", address=addr(self.l1.deployment.rollup),
                                   topics=[topic, Hash32(index.to_bytes(32, "big"))])
        return int(logs[-1].block_number)

    def challenges(self, from_l1_block: int = 0) -> list[Any]:
        """The ChallengeOpened events from `from_l1_block` on."""
        topic = ROLLUP.event("ChallengeOpened").topic
        logs = self.l1.client.logs(from_block=from_l1_block, to_block="latest",
                                   address=addr(self.l1.deployment.rollup), topics=[topic])
        return ROLLUP.decode_logs(logs, "ChallengeOpened")

    # --- L2 ------------------------------------------------------------------------------------

    def transfer(self, value: int, nonce: int | None = None, key: bytes | None = None) -> bytes:
        """A signed EIP-1559 transfer to RECIPIENT (by the user unless `key`)."""
        account = self.user if key is None else Account.from_key(key)
        if nonce is None:
            nonce = self.sequencer.pool.pending_nonce(addr(account.address))
        return bytes(account.sign_transaction({
            "type": 2, "chainId": self.sequencer.rules.chain_id, "nonce": nonce, "maxFeePerGas": 5 * 10**9,
            "maxPriorityFeePerGas": 10**8, "gas": 21_000, "to": "0x" + RECIPIENT.hex(), "value": value,
        }).raw_transaction)

    def send(self, value: int) -> bytes:
        raw = self.transfer(value)
        self.sequencer.pool.add_raw(raw)
        self.sent_to_recipient += value
        return raw

    def build(self, blocks: int) -> int:
        for _ in range(blocks):
            self.sequencer.build_block()
        return self.head

    def build_until_origin(self, number: int, limit: int = 400) -> int:
        for _ in range(limit):
            self.sequencer.build_block()
            if self.sequencer.l1_origin()[0].number >= number:
                return self.head
        raise AssertionError(f"no L2 block reached L1 origin {number} in {limit} blocks")

    @property
    def head(self) -> int:
        return int(self.sequencer.head.block_number)

    def entries(self, first: int, last: int) -> list[BlockEntry]:
        """The batch entries of the sequencer's blocks first..last, as the batcher makes them."""
        out = []
        for number in range(first, last + 1):
            stored = self.sequencer.store.block_by_number(number)
            origin, _ = self.sequencer.store.l1_origin(stored.header)
            out.append(block_entry(number, int(stored.header.timestamp), origin.number, bytes(origin.hash),
                                   bytes(stored.header.parent_hash), stored.transactions))
        return out

    def encode(self, entries: Sequence[BlockEntry]) -> bytes:
        return encode_batch(list(entries), self.sequencer.rules.chain_id)

    def root_at(self, number: int, state_root: bytes | None = None) -> bytes:
        """The sequencer's output root at block `number` (with another state root if given)."""
        header = self.sequencer.store.header_by_number(number)
        state = StateView(self.sequencer.store.state_db, bytes(header.state_root))
        return bytes(output_root(state_root or bytes(header.state_root),
                                 bytes(state.storage_root(L2_TO_L1_MESSAGE_PASSER_ADDRESS)), bytes(header.hash)))

    def deposit(self) -> int:
        """DEPOSIT OPEN for DEPOSIT_TARGET through the portal; its L1 block."""
        receipt = self.l1.deposit(self.l1.keys[DEPOSITOR_KEY], Address(DEPOSIT_TARGET), DEPOSIT)
        self.deposited += DEPOSIT
        return int(receipt.block_number)

    def covered(self) -> int:
        """The last L2 block the outputs on L1 cover."""
        return self.l1.rollup.last_posted_block()[1]

    # --- rounds ----------------------------------------------------------------------------------

    def sync(self) -> None:
        self.challenger.sync()
        self.voter.sync()

    def honest_batch(self) -> int:
        """The honest batcher posts everything the sequencer has; both validators agree."""
        self.top_up_bond()
        posted = self.batcher.step(flush=True)
        assert posted is not None
        l1_block = self.submission_block(posted.index)
        self.honest_posts.append((posted.index, l1_block))
        self.sync()
        for validator in (self.challenger, self.voter):
            verdict = validator.verdict(posted.index, l1_block)
            assert verdict.agrees, verdict
        return posted.index

    def attack(self, fault: str, post: Callable[[int], None], invalid: bool) -> Outcome:
        """Let `post(index)` post a bad batch as output `index`, then run the
        dispute to its end: both validators derive it, one challenges, the
        other votes, L1 time passes the voting period, the challenge resolves."""
        self.top_up_bond()
        index, covered = self.l1.rollup.last_posted_block()
        bond_before, honest_before = self.bond(), self.validators_open()
        post(index)
        posted_at = self.submission_block(index)
        self.sync()
        verdicts = (self.challenger.verdict(index, posted_at), self.voter.verdict(index, posted_at))
        opened = [e for e in self.challenges(posted_at) if int(e.args["outputIndex"]) == index]
        assert len(opened) == 1, opened
        event = opened[0]
        challenge_id = int(event.args["challengeId"])
        voted = self.l1.rollup.has_voted(challenge_id, self.voter.account)
        self.l1.mine(seconds=self.voting_period + 1)
        self.sync()  # the challenger (or the voter) resolves
        self.sync()  # both derivations read the rollback
        status = STATUS[int(self.l1.rollup.get_challenge(challenge_id)["status"])]
        derived_back = all(
            int(v.store.head("unsafe").block_number) == covered and int(v.store.head("safe").block_number) == covered
            and v.derivation.halted is None
            for v in (self.challenger, self.voter)
        )
        outcome = Outcome(
            fault=fault, index=index, challenge_id=challenge_id, verdicts=verdicts,
            claimed_root=bytes(event.args["claimedRoot"]),
            expected_claim=INVALID_BATCH_ROOT if invalid else (verdicts[0].derived_root or b""),
            opened_by_challenger=_address(event.args["challenger"]) == self.challenger.account,
            voted_by_voter=voted, status=status,
            blocks_to_detection=int(event.log.block_number) - posted_at,
            rolled_back_on_l1=self.l1.rollup.next_batch_index() == index,
            rolled_back_derived=derived_back,
            slashed=bond_before - self.bond(),
            honest_l1_lost=max(0, honest_before - self.validators_open()),
            reasons=[v.reason or "output root differs" for v in verdicts],
        )
        self.outcomes.append(outcome)
        return outcome

    def recover(self, outcome: Outcome) -> None:
        """The honest batcher posts the sequencer's blocks again from where L1
        went back to; both validators derive them and agree."""
        assert self.batcher.step() is None  # nothing due yet, but the safe head follows L1 back
        assert int(self.sequencer.store.head("safe").block_number) == self.covered()
        index = self.honest_batch()
        assert index == outcome.index
        assert self.sequencer.store.head("safe").hash == self.sequencer.head.hash
        outcome.recovered = all(v.store.head("unsafe").hash == self.sequencer.head.hash
                                and v.store.head("safe").hash == self.sequencer.head.hash
                                for v in (self.challenger, self.voter))

    def rebuild(self, deposits: str = "honest", until_origin: int | None = None) -> None:
        """The sequencer's operator, after its own blocks were rolled back: back to
        what L1 holds, and build again (with an honest deposit source)."""
        self.sequencer.store.rewind(self.covered())
        self.deposits.mode = deposits
        if until_origin is not None:
            self.build_until_origin(until_origin)
        self.build(1)

    def late_validator(self, key_index: int = STRANGER_KEY) -> StakedValidator:
        """A validator that starts now, with an empty data directory, and reads
        the whole history from L1 at once (bad batches, rollbacks, re-posts)."""
        genesis = self.work / "genesis.json"
        late = StakedValidator(self.l1, key_index, genesis, self.work / f"late-{key_index}")
        late.sync()
        return late

    def finish(self) -> list[Outcome]:
        """After the last round: challenges of honest outputs, and what honest L2
        accounts miss on the validators' chains."""
        bad = {o.challenge_id for o in self.outcomes}
        honest_challenged = len([e for e in self.challenges() if int(e.args["challengeId"]) not in bad])
        expected = {RECIPIENT: self.sent_to_recipient, DEPOSIT_TARGET: self.deposited}
        lost = sum(max(0, amount - v.balance(account))
                   for v in (self.challenger, self.voter) for account, amount in expected.items())
        wrong = sum(abs(amount - v.balance(account))
                    for v in (self.challenger, self.voter) for account, amount in expected.items())
        for outcome in self.outcomes:
            outcome.honest_challenged = honest_challenged
            outcome.honest_l2_lost = lost
            if wrong:
                outcome.reasons.append(f"honest L2 balances off by {wrong} wei")
        return self.outcomes


def _address(value: Any) -> bytes:
    return addr(value) if isinstance(value, str) else bytes(value)


# --- the faults -----------------------------------------------------------------------------------


def _prefix(rig: FaultRig) -> None:
    """Two blocks with a transfer, posted honestly by the batcher as output 0."""
    rig.send(10**15)
    rig.build(2)
    assert rig.honest_batch() == 0


def wrong_state_root(rig: FaultRig) -> list[Outcome]:
    rig.send(2 * 10**15)
    last = rig.build(2)
    first = rig.covered() + 1

    def post(index: int) -> None:
        wrong = rig.root_at(last, state_root=bytes(keccak(b"a state the blocks do not have")))
        rig.l1.rollup.submit_batch(index, first, last, wrong, rig.encode(rig.entries(first, last)))

    outcome = rig.attack("1. wrong state root in the output", post, invalid=False)
    rig.recover(outcome)
    return [outcome]


def tampered_transaction(rig: FaultRig) -> list[Outcome]:
    nonce = rig.sequencer.pool.pending_nonce(addr(rig.user.address))
    honest = rig.send(3 * 10**15)
    last = rig.build(2)
    first = rig.covered() + 1
    tampered = rig.transfer(900 * 10**15, nonce=nonce)  # the same sender and nonce, another value, re-signed

    def post(index: int) -> None:
        entries = [
            BlockEntry(e.number, e.timestamp, e.l1_origin_number, e.l1_origin_hash, e.parent_hash,
                       tuple(tampered if raw == honest else raw for raw in e.transactions))
            for e in rig.entries(first, last)
        ]
        assert entries != rig.entries(first, last)
        rig.l1.rollup.submit_batch(index, first, last, rig.root_at(last), rig.encode(entries))

    outcome = rig.attack("2. tampered transaction (re-signed, other value)", post, invalid=False)
    rig.recover(outcome)
    return [outcome]


def skipped_deposit(rig: FaultRig) -> list[Outcome]:
    first = rig.covered() + 1
    rig.deposits.mode = "skip"
    deposit_block = rig.deposit()
    last = rig.build_until_origin(deposit_block) + 1
    rig.build(1)
    rig.deposits.mode = "honest"
    assert rig.sequencer.balance(DEPOSIT_TARGET) == 0

    def post(index: int) -> None:
        rig.l1.rollup.submit_batch(index, first, last, rig.root_at(last), rig.encode(rig.entries(first, last)))

    outcome = rig.attack("3. skipped L1 deposit", post, invalid=False)
    rig.rebuild(until_origin=deposit_block)
    assert rig.sequencer.balance(DEPOSIT_TARGET) == DEPOSIT
    rig.recover(outcome)
    return [outcome]


def deposit_credited_twice(rig: FaultRig) -> list[Outcome]:
    first = rig.covered() + 1
    rig.deposits.mode = "repeat"
    deposit_block = rig.deposit()
    rig.build_until_origin(deposit_block)
    next_block = rig.l1.mine().number
    last = rig.build_until_origin(next_block)
    rig.deposits.mode = "honest"
    assert rig.sequencer.balance(DEPOSIT_TARGET) == 2 * DEPOSIT

    def post(index: int) -> None:
        rig.l1.rollup.submit_batch(index, first, last, rig.root_at(last), rig.encode(rig.entries(first, last)))

    outcome = rig.attack("4. deposit credited twice", post, invalid=False)
    rig.rebuild(until_origin=next_block)
    assert rig.sequencer.balance(DEPOSIT_TARGET) == DEPOSIT
    rig.recover(outcome)
    return [outcome]


def forged_l1_origin(rig: FaultRig) -> list[Outcome]:
    first = rig.covered() + 1
    parent_origin = rig.sequencer.l1_origin(first - 1)[0].number
    for _ in range(2):
        rig.l1.mine()
    rig.send(4 * 10**15)
    last = rig.build(2)
    forged = rig.l1.block(parent_origin + 2)  # skips L1 block parent_origin + 1

    def post(index: int) -> None:
        entries = [BlockEntry(e.number, e.timestamp, forged.number, bytes(forged.hash), e.parent_hash, e.transactions)
                   for e in rig.entries(first, last)]
        rig.l1.rollup.submit_batch(index, first, last, rig.root_at(last), rig.encode(entries))

    outcome = rig.attack("5. forged L1-info (origin skips an L1 block)", post, invalid=True)
    rig.recover(outcome)
    return [outcome]


def origin_past_drift(rig: FaultRig) -> list[Outcome]:
    first = rig.covered() + 1
    origin = rig.sequencer.l1_origin(first - 1)[0]
    rig.l1.mine()  # L1 has a next block the sequencer should have moved to
    rig.send(5 * 10**15)
    last = rig.build(2)
    drift = rig.challenger.derivation.max_sequencer_drift
    late = origin.timestamp + drift + 60
    assert rig.l1.block(origin.number + 1).timestamp <= late

    def post(index: int) -> None:
        entries = [BlockEntry(e.number, late + 2 * i, origin.number, bytes(origin.hash), e.parent_hash,
                              e.transactions) for i, e in enumerate(rig.entries(first, last))]
        rig.l1.rollup.submit_batch(index, first, last, rig.root_at(last), rig.encode(entries))

    outcome = rig.attack("6. L1 origin beyond the sequencer drift", post, invalid=True)
    rig.recover(outcome)
    return [outcome]


def block_gap(rig: FaultRig) -> list[Outcome]:
    first = rig.covered() + 1
    rig.send(6 * 10**15)
    last = rig.build(3)

    def post(index: int) -> None:
        # submitBatch says first..last-1 (contiguous, as the contract demands); the
        # data carries first+1..last: block `first` is skipped.
        data = rig.encode(rig.entries(first + 1, last))
        rig.l1.rollup.submit_batch(index, first, last - 1, rig.root_at(last - 1), data)

    outcome = rig.attack("7. block gap (data skips the first block of its range)", post, invalid=True)
    rig.recover(outcome)
    return [outcome]


def invalid_transaction(rig: FaultRig) -> list[Outcome]:
    first = rig.covered() + 1
    last = rig.build(2)
    bad = rig.transfer(1, nonce=7, key=dev_private_keys()[STRANGER_KEY])  # nonce far ahead: never includable

    def post(index: int) -> None:
        entries = rig.entries(first, last)
        tail = entries[-1]
        entries[-1] = BlockEntry(tail.number, tail.timestamp, tail.l1_origin_number, tail.l1_origin_hash,
                                 tail.parent_hash, (*tail.transactions, bad))
        rig.l1.rollup.submit_batch(index, first, last, rig.root_at(last), rig.encode(entries))

    outcome = rig.attack("8. invalid transaction (nonce too high)", post, invalid=True)
    rig.recover(outcome)
    return [outcome]


def malformed_batch(rig: FaultRig) -> list[Outcome]:
    """Two rounds on the same output index: random bytes, then a valid batch cut in half."""
    first = rig.covered() + 1
    rig.send(7 * 10**15)
    last = rig.build(2)
    noise = random.Random(9).randbytes(400)
    whole = rig.encode(rig.entries(first, last))

    def post_noise(index: int) -> None:
        rig.l1.rollup.submit_batch(index, first, last, rig.root_at(last), noise)

    def post_half(index: int) -> None:
        rig.l1.rollup.submit_batch(index, first, last, rig.root_at(last), whole[: len(whole) // 2])

    random_bytes = rig.attack("9a. malformed batch (random bytes)", post_noise, invalid=True)
    truncated = rig.attack("9b. truncated batch (a valid batch cut in half)", post_half, invalid=True)
    rig.recover(truncated)
    random_bytes.recovered = truncated.recovered
    random_bytes.recovery_note = "after 9b, at the same index"
    return [random_bytes, truncated]


def data_not_its_hash(rig: FaultRig) -> list[Outcome]:
    """L1 committed to data A (a batch without block `last`'s transfer); the
    challenger's L1 endpoint serves B, the honest batch, which alone would agree
    with the posted output. The voter reads A from an honest endpoint."""
    first = rig.covered() + 1
    rig.build(1)
    rig.send(8 * 10**15)
    last = rig.build(1)
    honest = rig.entries(first, last)
    served = rig.encode(honest)
    committed = rig.encode([*honest[:-1], BlockEntry(honest[-1].number, honest[-1].timestamp,
                                                     honest[-1].l1_origin_number, honest[-1].l1_origin_hash,
                                                     honest[-1].parent_hash, ())])
    rig.altered[bytes(keccak(committed))] = served

    def post(index: int) -> None:
        rig.l1.rollup.submit_batch(index, first, last, rig.root_at(last), committed)

    outcome = rig.attack("10. data not matching its hash (endpoint serves other bytes)", post, invalid=True)
    rig.recover(outcome)
    return [outcome]


FAULTS: dict[str, Callable[[FaultRig], list[Outcome]]] = {
    "wrong_state_root": wrong_state_root,
    "tampered_transaction": tampered_transaction,
    "skipped_deposit": skipped_deposit,
    "deposit_credited_twice": deposit_credited_twice,
    "forged_l1_origin": forged_l1_origin,
    "origin_past_drift": origin_past_drift,
    "block_gap": block_gap,
    "invalid_transaction": invalid_transaction,
    "malformed_batch": malformed_batch,
    "data_not_its_hash": data_not_its_hash,
}


def run_fault(l1: AnvilL1, work: Path, name: str) -> tuple[FaultRig, list[Outcome]]:
    """A fresh rig on `l1` (the caller puts L1 back afterwards), the honest
    prefix, then the fault; the rig stays open for the caller's own checks."""
    rig = FaultRig(l1, work)
    try:
        _prefix(rig)
        FAULTS[name](rig)
        return rig, rig.finish()
    except BaseException:
        rig.close()
        raise


__all__ = ["FAULTS", "FaultRig", "Outcome", "fund_depositor", "run_fault"]
