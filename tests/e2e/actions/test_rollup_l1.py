"""The rollup's L1 side, step by step: an L1 node (anvil) with the rollup's
contracts, a sequencer that follows it, takes its deposits and posts batches,
and a replica that re-executes what the sequencer sealed.

Every step is a call (the L1 mines when told; the sequencer's clock moves 2 s
a block), so each assertion sees exactly what the steps before it made.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_hash.auto import keccak

from openledger_node.codec import decode_batch
from openledger_node.derivation.deposits import L1Deposits
from openledger_node.derivation.l1_traversal import L1Traversal
from openledger_node.execution.state import StateView
from openledger_node.primitives import OPEN, WOPEN_ADDRESS, addr
from sequencer.batcher import Batcher, BatcherConfig
from tests.e2e.actions.actors import Replica, Sequencer, User
from tests.e2e.actions.l1 import BACKENDS, CHALLENGE_WINDOW, AnvilL1

DEPOSITOR_KEY_INDEX = 1


@pytest.fixture(scope="module", params=BACKENDS)
def l1(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilL1]:
    chain = AnvilL1(tmp_path_factory.mktemp(request.param), request.param)
    depositor = Account.from_key(chain.keys[DEPOSITOR_KEY_INDEX]).address
    chain.fund(depositor, 1_000 * OPEN)
    chain.mine()
    yield chain
    chain.close()


@pytest.fixture()
def fresh_l1(l1: AnvilL1) -> Iterator[AnvilL1]:
    """The module's L1, put back as it was after each test."""
    snapshot = l1.rpc("evm_snapshot")
    yield l1
    l1.rpc("evm_revert", snapshot)


@pytest.fixture()
def genesis(tmp_path: Path, l1: AnvilL1) -> Path:
    return l1.write_l2_genesis(tmp_path / "genesis.json")


@pytest.fixture()
def sequencer(tmp_path: Path, genesis: Path, fresh_l1: AnvilL1) -> Iterator[Sequencer]:
    traversal = L1Traversal(fresh_l1.client)
    deposits = L1Deposits(fresh_l1.client, addr(fresh_l1.deployment.portal))
    actor = Sequencer(tmp_path / "sequencer", genesis, traversal, deposits=deposits)
    yield actor
    actor.close()


@pytest.fixture()
def replica(tmp_path: Path, genesis: Path, sequencer: Sequencer) -> Iterator[Replica]:
    actor = Replica(tmp_path / "replica", genesis, sequencer.rules)
    yield actor
    actor.close()


def build_until_origin(sequencer: Sequencer, number: int, limit: int = 400) -> int:
    """Seal L2 blocks until one has L1 origin `number`; returns that L2 block."""
    for _ in range(limit):
        block = sequencer.build_block().block
        if sequencer.l1_origin()[0].number >= number:
            return int(block.header.block_number)
    raise AssertionError(f"no L2 block reached L1 origin {number} in {limit} blocks")


def depositor(l1: AnvilL1) -> bytes:
    return l1.keys[DEPOSITOR_KEY_INDEX]


def balance(sequencer: Sequencer, address: bytes, number: int | None = None) -> int:
    header = sequencer.head if number is None else sequencer.store.header_by_number(number)
    return StateView(sequencer.store.state_db, bytes(header.state_root)).get_balance(address)


# --- deposits -----------------------------------------------------------------------


def test_deposit_is_credited_once_at_its_epoch(fresh_l1: AnvilL1, sequencer: Sequencer, replica: Replica) -> None:
    to = b"\x51" * 20
    receipt = fresh_l1.deposit(depositor(fresh_l1), to, 10 * OPEN)
    fresh_l1.mine()
    epoch_start = build_until_origin(sequencer, receipt.block_number)
    assert sequencer.l1_origin(epoch_start) == (fresh_l1.block(receipt.block_number), 0)
    assert balance(sequencer, to, epoch_start - 1) == 0
    assert balance(sequencer, to, epoch_start) == 10 * OPEN
    # The deposit is the first transaction after the L1-info deposit of its epoch's first block.
    stored = sequencer.store.block_by_number(epoch_start)
    assert stored.transactions[1][:1] == b"\x7e"
    for _ in range(12):  # the rest of the epoch and the next: never again
        sequencer.build_block()
    fresh_l1.mine()
    build_until_origin(sequencer, fresh_l1.head.number)
    assert balance(sequencer, to) == 10 * OPEN
    replica.sync(sequencer)
    assert replica.store.head("unsafe").hash == sequencer.head.hash


def test_deposit_with_data_calls_a_contract(fresh_l1: AnvilL1, sequencer: Sequencer) -> None:
    sender = Account.from_key(depositor(fresh_l1)).address
    receipt = fresh_l1.deposit(depositor(fresh_l1), WOPEN_ADDRESS, 3 * OPEN, 200_000, keccak(b"deposit()")[:4])
    epoch_start = build_until_origin(sequencer, receipt.block_number)
    user = User(depositor(fresh_l1), sequencer)
    # WOPEN.deposit() wrapped the deposited value for the L1 sender.
    data = keccak(b"balanceOf(address)")[:4] + bytes(12) + addr(sender)
    from openledger_node.execution.simulate import CallRequest, Simulator

    header = sequencer.store.header_by_number(epoch_start)
    out = Simulator(sequencer.store.state_db, sequencer.rules.chain_id, header).call(
        CallRequest(sender=None, to=WOPEN_ADDRESS, gas=None, gas_price=None, max_fee_per_gas=None,
                    max_priority_fee_per_gas=None, value=0, data=data, nonce=None, access_list=())
    )
    assert int.from_bytes(out.output_or_raise(), "big") == 3 * OPEN
    assert user.address == addr(sender)


def test_deposit_that_reverts_keeps_its_mint(fresh_l1: AnvilL1, sequencer: Sequencer) -> None:
    sender = addr(Account.from_key(depositor(fresh_l1)).address)
    reverting = b"\x42" + bytes(18) + b"\x15"  # the L1Block predeploy refuses anyone but the depositor account
    receipt = fresh_l1.deposit(depositor(fresh_l1), reverting, 4 * OPEN, 100_000, b"\x01\x02")
    epoch_start = build_until_origin(sequencer, receipt.block_number)
    block = sequencer.store.block_by_number(epoch_start)
    deposit_receipt = sequencer.store.receipts(block.hash)[1]
    assert deposit_receipt.status == 0
    # The value never moved; the mint stays with the L1 sender's L2 account.
    minted = balance(sequencer, sender, epoch_start) - balance(sequencer, sender, epoch_start - 1)
    assert minted == 4 * OPEN


# --- L1 reorganisations -------------------------------------------------------------


def test_reorg_that_removes_a_deposit_uncredits_it(fresh_l1: AnvilL1, sequencer: Sequencer, users_of: Any) -> None:
    to = b"\x52" * 20
    before = fresh_l1.rpc("evm_snapshot")
    receipt = fresh_l1.deposit(depositor(fresh_l1), to, 7 * OPEN)
    epoch_start = build_until_origin(sequencer, receipt.block_number)
    alice = users_of(sequencer)[0]
    transfer = alice.send(b"\x99" * 20, value=1)
    sequencer.build_block()
    assert balance(sequencer, to) == 7 * OPEN
    assert sequencer.store.tx_location(transfer) is not None
    # L1 drops the deposit's block (and the approval's) and grows a longer chain past it.
    fresh_l1.reorg_to(before)
    assert fresh_l1.block(receipt.block_number).hash != receipt.block_hash
    sequencer.build_block()  # notices, rewinds the unsafe chain, rebuilds on the new L1
    assert int(sequencer.head.block_number) <= epoch_start
    build_until_origin(sequencer, fresh_l1.head.number)
    assert balance(sequencer, to) == 0
    # The user's transfer went back to the pool and into a rebuilt block.
    for _ in range(3):
        sequencer.build_block()
    assert sequencer.store.tx_location(transfer) is not None


def test_reorg_that_reincludes_a_deposit_credits_it_once(fresh_l1: AnvilL1, sequencer: Sequencer) -> None:
    to = b"\x53" * 20
    snapshot = fresh_l1.rpc("evm_snapshot")
    first = fresh_l1.deposit(depositor(fresh_l1), to, 5 * OPEN)
    build_until_origin(sequencer, first.block_number)
    assert balance(sequencer, to) == 5 * OPEN
    # L1 goes back before the deposit, and the same deposit lands in another block.
    fresh_l1.rpc("evm_revert", snapshot)
    fresh_l1.mine(seconds=30)
    again = fresh_l1.deposit(depositor(fresh_l1), to, 5 * OPEN)
    assert again.block_hash != first.block_hash
    fresh_l1.mine()
    build_until_origin(sequencer, fresh_l1.head.number)
    assert balance(sequencer, to) == 5 * OPEN


# --- batches and the safe and finalized heads -----------------------------------------------


def batcher_for(l1: AnvilL1, sequencer: Sequencer, **config: Any) -> Batcher:
    return Batcher(sequencer.store, l1.rollup, sequencer.rules.chain_id, BatcherConfig(**config),
                   clock=lambda: sequencer.time)


def test_batches_are_posted_and_the_heads_follow_l1(fresh_l1: AnvilL1, sequencer: Sequencer, users_of: Any) -> None:
    alice = users_of(sequencer)[0]
    sent = [alice.send(b"\x98" * 20, value=i + 1) for i in range(5)]
    for _ in range(6):
        sequencer.build_block()
    batcher = batcher_for(fresh_l1, sequencer, max_age=3600)
    assert batcher.step() is None  # small and young: not due yet
    posted = batcher.step(flush=True)
    assert posted is not None and (posted.index, posted.first, posted.last) == (0, 1, 6)
    assert posted.transactions == 5
    assert sequencer.store.head("safe").hash == sequencer.store.header_by_number(6).hash
    on_l1 = fresh_l1.rollup.batch(0)
    assert (on_l1.first_block, on_l1.last_block) == (1, 6)
    # What L1 holds is the batch of these blocks: its calldata decodes to their transactions.
    tx = fresh_l1.rpc("eth_getTransactionByHash", "0x" + batcher_tx_hash(fresh_l1).hex())
    batch_data = _submit_batch_data(bytes.fromhex(tx["input"][2:]))
    assert keccak(batch_data) == on_l1.data_hash
    batch = decode_batch(batch_data, sequencer.rules.chain_id)
    assert [b.number for b in batch.blocks] == list(range(1, 7))
    assert [bytes(keccak(raw)) for b in batch.blocks for raw in b.transactions] == sent
    # Final once the challenge window has passed.
    assert sequencer.store.head("finalized").block_number == 0
    fresh_l1.mine(seconds=CHALLENGE_WINDOW + 1)
    batcher.step()
    assert sequencer.store.head("finalized").hash == sequencer.store.header_by_number(6).hash


def test_batches_close_on_age(fresh_l1: AnvilL1, sequencer: Sequencer) -> None:
    sequencer.build_block()
    batcher = batcher_for(fresh_l1, sequencer, max_age=10)
    assert batcher.step() is None
    for _ in range(5):  # 10 s of L2 time later the oldest block is 10 s old
        sequencer.build_block()
    posted = batcher.step()
    assert posted is not None and posted.first == 1


def test_a_restarted_batcher_continues_from_l1_without_gap_or_duplicate(
    fresh_l1: AnvilL1, sequencer: Sequencer
) -> None:
    for _ in range(3):
        sequencer.build_block()
    first = batcher_for(fresh_l1, sequencer).step(flush=True)
    for _ in range(3):
        sequencer.build_block()
    # A new process: nothing local but the chain store; L1 says where to go on.
    second = batcher_for(fresh_l1, sequencer).step(flush=True)
    assert first is not None and second is not None
    assert (second.index, second.first) == (first.index + 1, first.last + 1)
    # Nothing new: a third step posts nothing.
    assert batcher_for(fresh_l1, sequencer).step(flush=True) is None
    assert fresh_l1.rollup.next_batch_index() == 2


def batcher_tx_hash(l1: AnvilL1) -> bytes:
    from bridge.bindings import ROLLUP

    topic = ROLLUP.event("BatchSubmitted").topic
    (log,) = l1.client.logs(from_block=0, to_block="latest", address=addr(l1.deployment.rollup), topics=[topic])[-1:]
    return bytes(log.transaction_hash)


def _submit_batch_data(calldata: bytes) -> bytes:
    from eth_abi.abi import decode

    _, _, _, _, data = decode(["uint256", "uint64", "uint64", "bytes32", "bytes"], calldata[4:])
    return bytes(data)


@pytest.fixture()
def users_of() -> Any:
    from openledger_node.execution.genesis import dev_private_keys

    return lambda sequencer: [User(key, sequencer) for key in dev_private_keys()[:3]]


def test_a_genesis_not_anchored_on_this_l1_is_refused(tmp_path: Path, l1: AnvilL1) -> None:
    from node import Node
    from openledger_node.config import load_config
    from openledger_node.exceptions import ConfigError
    from tests.conftest import GENESIS_PATH

    config = load_config(None, environ={}, overrides={
        "chain": {"genesis": str(GENESIS_PATH)},  # L1 origin 0x00..., block 0: not this L1's
        "storage": {"data_dir": str(tmp_path / "data")},
        "l1": {"rpc_url": l1.url, "deployment": str(l1.deployment_path)},
    })
    with pytest.raises(ConfigError, match=r"^chain\.genesis: its L1 origin \(block 0, 0x0000"):
        Node.open(config)


# --- derivation: the chain from L1 alone --------------------------------------------------


def derivation_for(l1: AnvilL1, genesis: Path, data_dir: Path) -> Any:
    from node.builder import chain_rules
    from openledger_node.config import load_config
    from openledger_node.derivation.pipeline import Derivation
    from openledger_node.execution.genesis import build_genesis, load_genesis
    from openledger_node.storage import ChainStore, OverlayDB

    spec = load_genesis(genesis)
    store = ChainStore(data_dir)
    overlay = OverlayDB(store.state_db)
    store.write_genesis(build_genesis(spec, overlay), overlay, spec.l1_origin)
    config = load_config(None, environ={}, overrides={"chain": {"genesis": str(genesis)}})
    rules = chain_rules(config.chain, config.sequencer.fee_recipient)
    return Derivation(
        rules, store, L1Traversal(l1.client), l1.rollup, L1Deposits(l1.client, addr(l1.deployment.portal)),
        config.chain.max_sequencer_drift, l1.deployment.deployed_at_block,
    )


def test_a_fresh_validator_derives_the_same_chain_from_l1_alone(
    tmp_path: Path, fresh_l1: AnvilL1, genesis: Path, sequencer: Sequencer, users_of: Any
) -> None:
    alice, bob, _ = users_of(sequencer)
    to = b"\x61" * 20
    deposit = fresh_l1.deposit(depositor(fresh_l1), to, 9 * OPEN)
    for i in range(3):
        alice.send(b"\x62" * 20, value=i + 1)
        bob.send(None, data=bytes.fromhex("600160005560016000f3"), gas=100_000)
        sequencer.build_block()
    build_until_origin(sequencer, deposit.block_number)
    batcher = batcher_for(fresh_l1, sequencer, max_batch_bytes=2_000)
    while batcher.step(flush=True) is not None:
        pass
    fresh_l1.mine()
    derivation = derivation_for(fresh_l1, genesis, tmp_path / "validator")
    try:
        verdicts = []
        while (verdict := derivation.step()) is not None:
            verdicts.append(verdict)
        assert len(verdicts) == len(batcher.posted) >= 1
        assert all(v.agrees for v in verdicts), verdicts
        head = int(sequencer.head.block_number)
        assert int(derivation.store.head("unsafe").block_number) == head
        for number in range(1, head + 1):
            ours, theirs = derivation.store.header_by_number(number), sequencer.store.header_by_number(number)
            assert (ours.hash, ours.state_root) == (theirs.hash, theirs.state_root), number
        assert derivation.store.head("safe").hash == sequencer.head.hash
        assert balance(sequencer, to) == 9 * OPEN
    finally:
        derivation.store.close()


def test_a_wrong_posted_output_is_told_apart(
    tmp_path: Path, fresh_l1: AnvilL1, genesis: Path, sequencer: Sequencer
) -> None:
    for _ in range(3):
        sequencer.build_block()
    # A sequencer that posts its blocks with a wrong state in the output root.
    index, _ = fresh_l1.rollup.last_posted_block()
    from openledger_node.codec import block_entry, encode_batch

    entries = []
    for number in range(1, 4):
        stored = sequencer.store.block_by_number(number)
        origin, _ = sequencer.store.l1_origin(stored.header)
        entries.append(block_entry(number, int(stored.header.timestamp), origin.number, bytes(origin.hash),
                                   bytes(stored.header.parent_hash), stored.transactions))
    fresh_l1.rollup.submit_batch(index, 1, 3, b"\x13" * 32, encode_batch(entries, sequencer.rules.chain_id))
    derivation = derivation_for(fresh_l1, genesis, tmp_path / "validator")
    try:
        verdict = derivation.step()
        assert verdict is not None and not verdict.agrees
        assert verdict.posted_root == b"\x13" * 32
        assert verdict.derived_root == derivation.output_root_at(3)
        assert derivation.store.header_by_number(3).hash == sequencer.store.header_by_number(3).hash
    finally:
        derivation.store.close()


def test_a_batch_with_an_invalid_transaction_is_refused_whole(
    tmp_path: Path, fresh_l1: AnvilL1, genesis: Path, sequencer: Sequencer
) -> None:
    from openledger_node.codec import block_entry, encode_batch
    from openledger_node.execution.genesis import dev_private_keys

    for _ in range(2):
        sequencer.build_block()
    # Block 2 carries a transaction whose nonce is far ahead: no valid block has it.
    account = Account.from_key(dev_private_keys()[6])
    bad = bytes(account.sign_transaction({
        "type": 2, "chainId": sequencer.rules.chain_id, "nonce": 7, "maxFeePerGas": 10**10,
        "maxPriorityFeePerGas": 10**8, "gas": 21_000, "to": "0x" + "63" * 20, "value": 1,
    }).raw_transaction)
    entries = []
    for number in (1, 2):
        stored = sequencer.store.block_by_number(number)
        origin, _ = sequencer.store.l1_origin(stored.header)
        txs = (*stored.transactions, bad) if number == 2 else stored.transactions
        entries.append(block_entry(number, int(stored.header.timestamp), origin.number, bytes(origin.hash),
                                   bytes(stored.header.parent_hash), txs))
    fresh_l1.rollup.submit_batch(0, 1, 2, b"\x14" * 32, encode_batch(entries, sequencer.rules.chain_id))
    derivation = derivation_for(fresh_l1, genesis, tmp_path / "validator")
    try:
        verdict = derivation.step()
        assert verdict is not None and verdict.derived_root is None
        assert "block 2: transaction 0 is invalid: nonce too high" in verdict.reason
        # Nothing of the batch entered the store, block 1 included.
        assert int(derivation.store.head("unsafe").block_number) == 0
        assert derivation.step() is None and derivation.halted == verdict
    finally:
        derivation.store.close()


def test_a_deposit_is_credited_once_across_a_sequencer_restart(
    tmp_path: Path, fresh_l1: AnvilL1, genesis: Path
) -> None:
    to = b"\x54" * 20
    traversal = L1Traversal(fresh_l1.client)
    deposits = L1Deposits(fresh_l1.client, addr(fresh_l1.deployment.portal))
    first = Sequencer(tmp_path / "restarted", genesis, traversal, deposits=deposits)
    receipt = fresh_l1.deposit(depositor(fresh_l1), to, 6 * OPEN)
    credited_at = build_until_origin(first, receipt.block_number)
    clock = first.time
    first.close()
    # The same data directory, a new process: the epoch goes on without its deposits again.
    again = Sequencer(tmp_path / "restarted", genesis, traversal, deposits=deposits)
    try:
        again.time = clock
        for _ in range(4):
            again.build_block()
        fresh_l1.mine()
        build_until_origin(again, fresh_l1.head.number)
        assert balance(again, to) == 6 * OPEN
        assert balance(again, to, credited_at) == 6 * OPEN
    finally:
        again.close()


# --- disputes: challenge, vote, resolve -------------------------------------------------------


def staked_validator(l1: AnvilL1, genesis: Path, data_dir: Path, key_index: int) -> Any:
    from bridge.rollup import RollupClient
    from bridge.txmgr import TxManager
    from tests.e2e.actions.l1 import FAST
    from validator import Disputes, Validator

    key = l1.keys[key_index]
    account = Account.from_key(key).address
    l1.fund(account, 2_000 * OPEN)
    txmgr = TxManager(l1.client, key, FAST)
    rollup = RollupClient(l1.client, txmgr, addr(l1.deployment.rollup), addr(l1.deployment.open_token))
    active, minimum = rollup.validator_stake(addr(account))
    if active < minimum:
        rollup.stake(minimum - active)
    derivation = derivation_for(l1, genesis, data_dir)
    return Validator(derivation, disputes=Disputes(rollup, addr(account), l1.deployment.deployed_at_block)), txmgr


def post_wrong_output(l1: AnvilL1, sequencer: Sequencer, blocks: int) -> int:
    from openledger_node.codec import block_entry, encode_batch

    entries = []
    for number in range(1, blocks + 1):
        stored = sequencer.store.block_by_number(number)
        origin, _ = sequencer.store.l1_origin(stored.header)
        entries.append(block_entry(number, int(stored.header.timestamp), origin.number, bytes(origin.hash),
                                   bytes(stored.header.parent_hash), stored.transactions))
    index, _ = l1.rollup.last_posted_block()
    l1.rollup.submit_batch(index, 1, blocks, b"\x13" * 32, encode_batch(entries, sequencer.rules.chain_id))
    return index


def test_validators_challenge_vote_and_roll_back_a_wrong_output(
    tmp_path: Path, fresh_l1: AnvilL1, genesis: Path, sequencer: Sequencer
) -> None:
    from bridge.deploy import RollupParams

    for _ in range(3):
        sequencer.build_block()
    challenger, challenger_txmgr = staked_validator(fresh_l1, genesis, tmp_path / "a", 3)
    voter, voter_txmgr = staked_validator(fresh_l1, genesis, tmp_path / "b", 4)
    sequencer_bond, _ = fresh_l1.rollup.sequencer_bond(addr(Account.from_key(fresh_l1.keys[0]).address))
    try:
        index = post_wrong_output(fresh_l1, sequencer, 3)
        assert challenger.sync() == 1 and challenger.disagreements[0].index == index
        assert fresh_l1.rollup.has_open_challenge(index)
        assert voter.sync() == 1  # derives, sees the open challenge, votes with its own root
        (challenge_id, _), = fresh_l1.rollup.challenges_opened(0, fresh_l1.head.number)
        record = fresh_l1.rollup.get_challenge(challenge_id)
        assert int(record["totalVotes"]) == 2 * int(fresh_l1.rollup.validator_stake(
            addr(Account.from_key(fresh_l1.keys[3]).address))[0])
        assert int(record["votesForOutput"]) == 0
        # Voting ends; the next step resolves it: the output and every later one are gone.
        fresh_l1.mine(seconds=RollupParams().votingPeriod + 1)
        challenger.sync()
        assert int(fresh_l1.rollup.get_challenge(challenge_id)["status"]) == 2  # Succeeded
        assert fresh_l1.rollup.next_batch_index() == index
        bond_after, _ = fresh_l1.rollup.sequencer_bond(addr(Account.from_key(fresh_l1.keys[0]).address))
        assert bond_after < sequencer_bond  # slashed
    finally:
        challenger.derivation.store.close()
        voter.derivation.store.close()
        challenger_txmgr.close()
        voter_txmgr.close()


def test_an_honest_output_costs_a_validator_nothing(
    tmp_path: Path, fresh_l1: AnvilL1, genesis: Path, sequencer: Sequencer
) -> None:
    for _ in range(3):
        sequencer.build_block()
    batcher_for(fresh_l1, sequencer).step(flush=True)
    validator, txmgr = staked_validator(fresh_l1, genesis, tmp_path / "honest", 5)
    account = Account.from_key(fresh_l1.keys[5]).address
    nonce = fresh_l1.client.transaction_count(addr(account), "latest")
    try:
        assert validator.sync() == 1 and not validator.disagreements
        validator.sync()
        assert fresh_l1.client.transaction_count(addr(account), "latest") == nonce  # no L1 transaction
    finally:
        validator.derivation.store.close()
        txmgr.close()


def test_a_restarted_validator_resumes_where_it_stopped(
    tmp_path: Path, fresh_l1: AnvilL1, genesis: Path, sequencer: Sequencer
) -> None:
    from openledger_node.derivation.pipeline import Derivation
    from openledger_node.storage import ChainStore

    batcher = batcher_for(fresh_l1, sequencer)
    for _ in range(2):
        for _ in range(3):
            sequencer.build_block()
        batcher.step(flush=True)
    first = derivation_for(fresh_l1, genesis, tmp_path / "validator")
    assert first.step() is not None and first.step() is not None and first.step() is None
    head = first.store.head("unsafe").hash
    rules = first.rules
    first.store.close()
    for _ in range(3):
        sequencer.build_block()
    batcher.step(flush=True)
    # The same data directory, a new process: the derived batches are skipped, the new one derived.
    store = ChainStore(tmp_path / "validator", create=False)
    try:
        assert store.head("unsafe").hash == head
        again = Derivation(rules, store, L1Traversal(fresh_l1.client), fresh_l1.rollup,
                           L1Deposits(fresh_l1.client, addr(fresh_l1.deployment.portal)), 600,
                           fresh_l1.deployment.deployed_at_block)
        verdict = again.step()
        assert verdict is not None and verdict.agrees and verdict.first_block == 7
        assert again.step() is None
        assert store.head("unsafe").hash == sequencer.head.hash
    finally:
        store.close()


def test_a_validator_follows_an_l1_reorg_of_its_derived_chain(
    tmp_path: Path, fresh_l1: AnvilL1, genesis: Path, sequencer: Sequencer
) -> None:
    from validator import Validator

    to = b"\x55" * 20
    before = fresh_l1.rpc("evm_snapshot")
    deposit = fresh_l1.deposit(depositor(fresh_l1), to, 3 * OPEN)
    build_until_origin(sequencer, deposit.block_number)
    batcher_for(fresh_l1, sequencer).step(flush=True)
    validator = Validator(derivation_for(fresh_l1, genesis, tmp_path / "validator"))
    store = validator.derivation.store
    try:
        assert validator.sync() == 1
        credited = int(store.head("unsafe").block_number)
        assert StateView(store.state_db, bytes(store.head("unsafe").state_root)).get_balance(to) == 3 * OPEN
        # L1 drops the deposit's block and the batch that carried it, and grows past them.
        fresh_l1.reorg_to(before)
        sequencer.build_block()  # the sequencer rebuilds its unsafe chain on the new L1 too
        build_until_origin(sequencer, fresh_l1.head.number)
        batcher_for(fresh_l1, sequencer).step(flush=True)
        assert validator.sync() == 1  # noticed, rewound, derived the new batch
        assert not validator.disagreements
        assert store.head("unsafe").hash == sequencer.head.hash
        assert StateView(store.state_db, bytes(store.head("unsafe").state_root)).get_balance(to) == 0
        assert int(store.head("unsafe").block_number) >= 1 and credited >= 1
    finally:
        store.close()
