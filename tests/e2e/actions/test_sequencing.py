"""The sequencer follows L1 and its blocks re-execute to the same chain.

Actor tests: every step is a call, so each assertion sees exactly the state the
steps before it made.
"""

from __future__ import annotations

import pytest

from openledger_node.service import Severity, severity_of
from sequencer.sources import NextOriginUnknown
from tests.e2e.actions.actors import L1_BLOCK_TIME, L2_BLOCK_TIME, L1Miner, Replica, Sequencer, User

RECIPIENT = b"\x77" * 20


def test_transfers_are_sealed_and_a_replica_reexecutes_them(
    sequencer: Sequencer, replica: Replica, users: list[User]
) -> None:
    alice, bob, _ = users
    # Several transactions in flight from one sender, and one from another.
    sent = [alice.send(RECIPIENT, value=10**18) for _ in range(3)] + [bob.send(RECIPIENT, value=1)]
    block = sequencer.build_block().block
    assert [bytes(tx.hash) for tx in block.transactions[1:]] == sent
    assert all(alice.receipt(h).status == 1 for h in sent)
    assert sequencer.balance(RECIPIENT) == 3 * 10**18 + 1
    sequencer.build_block()  # an empty block: only the L1-info deposit
    assert replica.sync(sequencer) == 2
    for number in (1, 2):
        ours, theirs = replica.store.header_by_number(number), sequencer.store.header_by_number(number)
        assert (ours.hash, ours.state_root) == (theirs.hash, theirs.state_root)


def test_contract_deployment_reexecutes(sequencer: Sequencer, replica: Replica, users: list[User]) -> None:
    # Init code that stores 1 in slot 0 and returns a one-byte runtime.
    creation = users[0].send(None, data=bytes.fromhex("600160005560016000f3"), gas=100_000)
    sequencer.build_block()
    receipt = users[0].receipt(creation)
    assert receipt.status == 1 and receipt.contract_address is not None
    replica.sync(sequencer)
    assert replica.store.head("unsafe").hash == sequencer.head.hash


def test_l1_origin_follows_l1_and_epochs_restart_the_sequence(
    l1: L1Miner, sequencer: Sequencer, replica: Replica
) -> None:
    genesis_origin = l1.head
    l1.mine()  # L1 block 1, 12 s after genesis
    origins = []
    for _ in range(2 * L1_BLOCK_TIME // L2_BLOCK_TIME):
        sequencer.build_block()
        origins.append(sequencer.l1_origin())
    # Blocks 1-5 (L2 time 2..10 s) stay on L1 genesis; block 6 (12 s) moves to L1 block 1.
    epoch_blocks = L1_BLOCK_TIME // L2_BLOCK_TIME
    assert [o.number for o, _ in origins[: epoch_blocks - 1]] == [genesis_origin.number] * (epoch_blocks - 1)
    assert [seq for _, seq in origins[: epoch_blocks - 1]] == list(range(1, epoch_blocks))
    first_of_epoch = origins[epoch_blocks - 1]
    assert first_of_epoch == (l1.block(1), 0)
    # L1 has no block 2 yet: the rest stay on L1 block 1, counting up.
    assert [o for o, _ in origins[epoch_blocks:]] == [l1.block(1)] * (len(origins) - epoch_blocks)
    assert [seq for _, seq in origins[epoch_blocks:]] == list(range(1, len(origins) - epoch_blocks + 1))
    # The L1Block predeploy and the header's PREVRANDAO carry the origin.
    head = sequencer.head
    assert bytes(head.mix_hash) == bytes(l1.block(1).hash)
    replica.sync(sequencer)
    assert replica.store.head("unsafe").hash == head.hash


def test_sequencer_waits_for_l1_past_the_drift(tmp_path, genesis, l1: L1Miner) -> None:
    sequencer = Sequencer(tmp_path / "drifting", genesis, l1, max_sequencer_drift=6)
    try:
        built = [sequencer.build_block().block.header.block_number for _ in range(3)]  # 2, 4, 6 s
        assert built == [1, 2, 3]
        with pytest.raises(NextOriginUnknown) as caught:
            sequencer.build_block()  # 8 s: past the drift, and L1 block 1 is unknown
        assert severity_of(caught.value) is Severity.TEMPORARY  # the driver retries it
        assert sequencer.head.block_number == 3
        l1.mine(seconds=8)
        sequencer.time -= L2_BLOCK_TIME  # the failed attempt moved the clock; retry at 8 s
        block = sequencer.build_block().block
        assert block.header.block_number == 4
        assert sequencer.l1_origin() == (l1.block(1), 0)
    finally:
        sequencer.close()


def test_nonce_gap_waits_and_bad_transactions_never_reach_a_block(
    sequencer: Sequencer, replica: Replica, users: list[User]
) -> None:
    alice = users[0]
    first = alice.send(RECIPIENT, value=1)
    sequencer.build_block()
    assert alice.receipt(first).status == 1
    # A transfer of more than the balance is refused at the pool, not sealed.
    with pytest.raises(Exception, match="insufficient funds"):
        alice.send(RECIPIENT, value=10**40)
    assert sequencer.pool.status() == (0, 0)
    replica.sync(sequencer)
    assert replica.store.head("unsafe").hash == sequencer.head.hash


def test_deposits_open_the_block_after_the_l1_info_deposit_and_reexecute(
    sequencer: Sequencer, replica: Replica, users: list[User]
) -> None:
    from openledger_node.execution.transactions import DepositTransaction, user_deposit_source_hash

    credited = b"\x55" * 20
    deposit = DepositTransaction(
        source_hash=user_deposit_source_hash(b"\x01" * 32, 0), sender=credited, to=credited,
        mint=5 * 10**18, value=0, gas=100_000, is_system_tx=False, data=b"",
    )
    transfer = users[0].send(RECIPIENT, value=1)
    sequencer.deposits.push(deposit)
    block = sequencer.build_block().block
    assert [bytes(tx.hash) for tx in block.transactions[1:]] == [bytes(deposit.hash), transfer]
    assert sequencer.balance(credited) == 5 * 10**18
    replica.sync(sequencer)
    assert replica.store.head("unsafe").state_root == sequencer.head.state_root
