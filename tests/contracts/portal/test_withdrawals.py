"""OpenLedgerPortal withdrawals end to end: OPEN deposited on anvil, withdrawn on
the node's in-process L2 through L2ToL1MessagePasser, its output root posted to
the rollup, proven on L1 with the real storage proof (eth_getProof's), and
finalized once the output is final; plus every way a proof or a finalization
must fail."""

from __future__ import annotations

import pytest
from eth_abi.abi import encode
from eth_typing import Address
from eth_utils.crypto import keccak
from web3 import Web3
from web3.logs import DISCARD

from openledger_node.execution.withdrawals import sent_messages_slot
from tests.conftest import Signer

from .conftest import (
    FINALIZATION_PERIOD,
    GAS_REPORT,
    L1,
    L2,
    OPEN,
    PROOF_MATURITY_DELAY,
    Bridge,
    Failure,
    ProvenInputs,
    Withdrawal,
    new_l2_key,
)

# py-evm warns on every SELFDESTRUCT; L2ToL1MessagePasser burns withdrawn OPEN that way.
pytestmark = [
    pytest.mark.filterwarnings("ignore:SELFDESTRUCT opcode present:DeprecationWarning"),
    # Every withdrawal test runs against MockRollup and against the real OpenLedgerRollup.
    pytest.mark.parametrize("deployed", ["mock", "real"], indirect=True, scope="module"),
]

TARGET = Web3.to_checksum_address("0x" + "5a" * 20)


def funded_l2_account(bridge: Bridge, seed: int = 1, amount: int = 10 * OPEN) -> Signer:
    """A fresh L2 account holding `amount` OPEN that came through the portal."""
    signer = new_l2_key(seed)
    receipt = bridge.deposit(bridge.l1.users[0], signer.account.address, amount)
    assert receipt.status == 1
    return signer


def proven_withdrawal(bridge: Bridge, value: int = 4 * OPEN, **kwargs: object) -> ProvenInputs:
    """A withdrawal of `value` to TARGET, initiated on L2 and proven on L1."""
    signer = funded_l2_account(bridge)
    inputs = bridge.withdraw(signer, kwargs.pop("target", TARGET), value, **kwargs)  # type: ignore[arg-type]
    bridge.prove(inputs)
    return inputs


def prove_call(l1: L1, inputs: ProvenInputs, **changes: object) -> object:
    args = dict(zip(("tx", "index", "output", "proof"), inputs.args(), strict=True))
    args.update(changes)
    return l1.portal.functions.proveWithdrawalTransaction(args["tx"], args["index"], args["output"], args["proof"])


def finalize_call(l1: L1, withdrawal: Withdrawal) -> object:
    return l1.portal.functions.finalizeWithdrawalTransaction(withdrawal.as_tuple)


# ------------------------------------------------------------------ success


def test_finalizeWithdrawalTransaction_end_to_end_pays_target_succeeds(bridge: Bridge, l1: L1, l2: L2) -> None:
    alice = funded_l2_account(bridge, amount=10 * OPEN)
    assert l2.balance(alice.account.address) == 10 * OPEN
    assert l1.locked() == 10 * OPEN

    inputs = bridge.withdraw(alice, TARGET, 4 * OPEN)
    withdrawal = inputs.withdrawal
    assert withdrawal.nonce == (1 << 240) | 0
    assert withdrawal.sender == alice.account.address
    assert l2.balance(alice.account.address) < 6 * OPEN  # 4 OPEN burned, gas paid

    receipt = bridge.prove(inputs)
    (proven,) = l1.portal.events.WithdrawalProven().process_receipt(receipt, errors=DISCARD)
    assert proven["args"]["withdrawalHash"] == withdrawal.hash
    assert (proven["args"]["from"], proven["args"]["to"]) == (alice.account.address, TARGET)
    assert proven["args"]["outputIndex"] == inputs.output_index
    proven_at = l1.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert tuple(l1.portal.functions.provenWithdrawals(withdrawal.hash).call()) == (
        inputs.opening.root, proven_at, inputs.output_index
    )

    bridge.wait_final()
    receipt = bridge.finalize(withdrawal)

    assert l1.balance(TARGET) == 4 * OPEN
    assert l1.locked() == 6 * OPEN == l1.balance(l1.portal.address)
    (finalized,) = l1.portal.events.WithdrawalFinalized().process_receipt(receipt, errors=DISCARD)
    assert (finalized["args"]["withdrawalHash"], finalized["args"]["success"]) == (withdrawal.hash, True)
    assert l1.portal.functions.finalizedWithdrawals(withdrawal.hash).call() is True
    assert l1.portal.functions.l2Sender().call() == Web3.to_checksum_address("0x" + "00" * 18 + "dead")


def test_finalizeWithdrawalTransaction_with_data_calls_target_succeeds(bridge: Bridge, l1: L1) -> None:
    target = l1.target
    data = keccak(text="record(uint256)")[:4] + encode(["uint256"], [42])
    inputs = proven_withdrawal(bridge, 2 * OPEN, target=target.address, gas_limit=150_000, data=data)
    bridge.wait_final()

    receipt = bridge.finalize(inputs.withdrawal)

    (finalized,) = l1.portal.events.WithdrawalFinalized().process_receipt(receipt, errors=DISCARD)
    assert finalized["args"]["success"] is True
    assert target.functions.lastValue().call() == 42
    assert target.functions.lastL2Sender().call() == inputs.withdrawal.sender
    assert l1.balance(target.address) == 2 * OPEN


def test_finalizeWithdrawalTransaction_failing_call_still_pays_succeeds(bridge: Bridge, l1: L1) -> None:
    data = keccak(text="fail()")[:4]
    inputs = proven_withdrawal(bridge, OPEN, target=l1.target.address, data=data)
    bridge.wait_final()

    receipt = bridge.finalize(inputs.withdrawal)

    (finalized,) = l1.portal.events.WithdrawalFinalized().process_receipt(receipt, errors=DISCARD)
    assert finalized["args"]["success"] is False
    assert l1.balance(l1.target.address) == OPEN
    assert l1.portal.functions.finalizedWithdrawals(inputs.withdrawal.hash).call() is True
    # The failed call cannot be retried: the withdrawal is spent.
    assert l1.failure(finalize_call(l1, inputs.withdrawal), l1.users[0]).name == "WithdrawalAlreadyFinalized"


def test_finalizeWithdrawalTransaction_target_gets_its_gas_limit_succeeds(bridge: Bridge, l1: L1) -> None:
    needed = 500_000
    data = keccak(text="useGas(uint256)")[:4] + encode(["uint256"], [needed])
    inputs = proven_withdrawal(bridge, 0, target=l1.target.address, gas_limit=needed, data=data)
    bridge.wait_final()

    receipt = bridge.finalize(inputs.withdrawal)

    (finalized,) = l1.portal.events.WithdrawalFinalized().process_receipt(receipt, errors=DISCARD)
    assert finalized["args"]["success"] is True
    assert l1.target.functions.calls().call() == 1


def test_finalizeWithdrawalTransaction_reentered_from_target_reverts(bridge: Bridge, l1: L1) -> None:
    """A target that re-enters finalize for another proven withdrawal fails its call."""
    other = proven_withdrawal(bridge, OPEN)
    signer = funded_l2_account(bridge, seed=2)
    data = keccak(text="reenter((uint256,address,address,uint256,uint256,bytes))")[:4] + encode(
        ["(uint256,address,address,uint256,uint256,bytes)"], [other.withdrawal.as_tuple]
    )
    inputs = bridge.withdraw(signer, l1.target.address, OPEN, 300_000, data)
    bridge.prove(inputs)
    bridge.wait_final()

    receipt = bridge.finalize(inputs.withdrawal)

    (finalized,) = l1.portal.events.WithdrawalFinalized().process_receipt(receipt, errors=DISCARD)
    assert finalized["args"]["success"] is False
    assert l1.target.functions.calls().call() == 0
    assert l1.portal.functions.finalizedWithdrawals(other.withdrawal.hash).call() is False
    bridge.finalize(other.withdrawal)  # still finalizable on its own
    assert l1.balance(TARGET) == OPEN


def test_proveWithdrawalTransaction_after_rollback_reproves_succeeds(bridge: Bridge, l1: L1, l2: L2) -> None:
    inputs = proven_withdrawal(bridge)
    l1.roll_back(inputs.output_index)
    # The honest output is posted again (at the same index): the proof still stands.
    index = l1.post_output(inputs.opening.root, inputs.opening.block_number)
    assert index == inputs.output_index
    failure = l1.failure(prove_call(l1, inputs), l1.users[0])
    assert failure == Failure("WithdrawalAlreadyProven", (inputs.withdrawal.hash,))

    l1.roll_back(index)
    forged = l1.post_output(keccak(b"another root"), inputs.opening.block_number)
    assert forged == index
    # The old preimage no longer opens the output at that index...
    assert l1.failure(prove_call(l1, inputs), l1.users[0]).name == "InvalidOutputRootProof"
    # ...and the withdrawal is proven again against a later honest output.
    later = l2.build_block([])
    opening = l2.opening(later)
    _, proof = l2.storage_proof(later, sent_messages_slot(inputs.withdrawal.hash))
    index = l1.post_output(opening.root, opening.block_number)
    receipt = bridge.prove(ProvenInputs(inputs.withdrawal, index, opening, proof))
    assert len(l1.portal.events.WithdrawalProven().process_receipt(receipt, errors=DISCARD)) == 1
    assert tuple(l1.portal.functions.provenWithdrawals(inputs.withdrawal.hash).call())[::2] == (opening.root, index)
    bridge.wait_final()
    bridge.finalize(inputs.withdrawal)
    assert l1.balance(TARGET) == inputs.withdrawal.value


# -------------------------------------------------------------- prove reverts


def test_proveWithdrawalTransaction_flipped_proof_byte_reverts(bridge: Bridge, l1: L1, l2: L2) -> None:
    """One byte flipped in any node of the proof breaks the hash chain at that node."""
    signer = funded_l2_account(bridge)
    # 40 withdrawals in one block give the passer's storage trie a few levels.
    withdrawals, block = l2.initiate_withdrawals(signer, [(TARGET, 1, 100_000, b"")] * 40)
    withdrawal = withdrawals[17]
    opening = l2.opening(block)
    index = l1.post_output(opening.root, opening.block_number)
    _, proof = l2.storage_proof(block, sent_messages_slot(withdrawal.hash))
    inputs = ProvenInputs(withdrawal, index, opening, proof)
    assert len(proof) >= 3
    for node in range(len(proof)):
        for position in (0, len(proof[node]) // 2, len(proof[node]) - 1):
            forged = list(proof)
            flipped = bytearray(forged[node])
            flipped[position] ^= 0x01
            forged[node] = bytes(flipped)

            failure = l1.failure(prove_call(l1, inputs, proof=forged), l1.users[0])

            assert failure == Failure("InvalidNodeHash", (node,))
    assert l1.portal.functions.provenWithdrawals(withdrawal.hash).call()[1] == 0
    bridge.prove(inputs)  # the untouched proof is good


def test_proveWithdrawalTransaction_proof_of_wrong_slot_reverts(bridge: Bridge, l1: L1, l2: L2) -> None:
    """The proof of another withdrawal's slot (present, value 1) does not prove this one."""
    signer = funded_l2_account(bridge)
    first, block = l2.initiate_withdrawal(signer, TARGET, OPEN)
    second, block = l2.initiate_withdrawal(signer, TARGET, OPEN)
    opening = l2.opening(block)
    index = l1.post_output(opening.root, opening.block_number)
    _, first_proof = l2.storage_proof(block, sent_messages_slot(first.hash))
    _, nonce_proof = l2.storage_proof(block, 1)  # msgNonce

    inputs = ProvenInputs(second, index, opening, first_proof)
    # The walk for the second key leaves the first key's path below the root.
    assert l1.failure(prove_call(l1, inputs), l1.users[0]) == Failure("InvalidNodeHash", (1,))
    assert l1.failure(prove_call(l1, inputs, proof=nonce_proof), l1.users[0]) == Failure("InvalidNodeHash", (1,))


def test_proveWithdrawalTransaction_wrong_withdrawal_fields_reverts(bridge: Bridge, l1: L1) -> None:
    """Changing the value (or target) changes the hash: the proof shows nothing for it."""
    signer = funded_l2_account(bridge)
    inputs = bridge.withdraw(signer, TARGET, OPEN)

    for forged in (inputs.withdrawal.replace(value=2 * OPEN), inputs.withdrawal.replace(target=l1.users[4])):
        failure = l1.failure(prove_call(l1, inputs, tx=forged.as_tuple), l1.users[0])
        assert failure.name in {"PathMismatch", "KeyNotFound"}, failure  # the key is absent


def test_proveWithdrawalTransaction_slot_value_not_one_reverts(bridge: Bridge, l1: L1, l2: L2) -> None:
    """A storage proof whose slot holds 2 instead of 1 (a forged L2 state) is rejected."""
    signer = funded_l2_account(bridge)
    withdrawal, _ = l2.initiate_withdrawal(signer, TARGET, OPEN)
    slot = sent_messages_slot(withdrawal.hash)
    passer = bytes.fromhex(l2.passer[2:])
    block = l2.build_block([], prepare=lambda executor: executor.state.set_storage(Address(passer), slot, 2))
    value, proof = l2.storage_proof(block, slot)
    assert value == 2
    opening = l2.opening(block)
    index = l1.post_output(opening.root, opening.block_number)

    failure = l1.failure(prove_call(l1, ProvenInputs(withdrawal, index, opening, proof)), l1.users[0])

    assert failure == Failure("InvalidWithdrawalProof", (withdrawal.hash,))


def test_proveWithdrawalTransaction_unsent_withdrawal_reverts(bridge: Bridge, l1: L1, l2: L2) -> None:
    """A withdrawal never initiated: its key is absent from the passer's storage."""
    signer = funded_l2_account(bridge)
    inputs = bridge.withdraw(signer, TARGET, OPEN)
    never_sent = inputs.withdrawal.replace(nonce=inputs.withdrawal.nonce + 7)
    block_proofs = ProvenInputs(never_sent, inputs.output_index, inputs.opening, inputs.storage_proof)

    failure = l1.failure(prove_call(l1, block_proofs), l1.users[0])

    assert failure.name in {"PathMismatch", "KeyNotFound"}, failure  # the key is absent


def test_proveWithdrawalTransaction_wrong_output_root_proof_reverts(bridge: Bridge, l1: L1) -> None:
    signer = funded_l2_account(bridge)
    inputs = bridge.withdraw(signer, TARGET, OPEN)
    version, state_root, passer_root, block_hash = inputs.opening.as_tuple()
    flipped = bytes([state_root[0] ^ 1]) + state_root[1:]
    forged = (version, flipped, passer_root, block_hash)
    actual = keccak(b"".join(forged))

    failure = l1.failure(prove_call(l1, inputs, output=forged), l1.users[0])

    assert failure == Failure("InvalidOutputRootProof", (inputs.opening.root, actual))


def test_proveWithdrawalTransaction_storage_root_swapped_reverts(bridge: Bridge, l1: L1, l2: L2) -> None:
    """A preimage carrying another valid passer storage root (one where the slot
    is set, from a later unposted block) does not open the posted output."""
    signer = funded_l2_account(bridge)
    inputs = bridge.withdraw(signer, TARGET, OPEN)
    later = l2.build_block([signer.tx(to=l2.passer, value=1, gas=300_000)])  # another withdrawal
    moved = l2.opening(later)
    assert moved.message_passer_storage_root != inputs.opening.message_passer_storage_root
    _, moved_proof = l2.storage_proof(later, sent_messages_slot(inputs.withdrawal.hash))
    version, state_root, _, block_hash = inputs.opening.as_tuple()
    forged = (version, state_root, moved.message_passer_storage_root, block_hash)

    failure = l1.failure(prove_call(l1, inputs, output=forged, proof=moved_proof), l1.users[0])

    assert failure == Failure("InvalidOutputRootProof", (inputs.opening.root, keccak(b"".join(forged))))


def test_proveWithdrawalTransaction_unknown_output_version_reverts(bridge: Bridge, l1: L1) -> None:
    signer = funded_l2_account(bridge)
    inputs = bridge.withdraw(signer, TARGET, OPEN)
    forged = (b"\x00" * 31 + b"\x01",) + inputs.opening.as_tuple()[1:]

    failure = l1.failure(prove_call(l1, inputs, output=forged), l1.users[0])

    assert failure == Failure("UnsupportedOutputRootVersion", (forged[0],))


def test_proveWithdrawalTransaction_unknown_output_index_reverts(bridge: Bridge, l1: L1) -> None:
    signer = funded_l2_account(bridge)
    inputs = bridge.withdraw(signer, TARGET, OPEN)

    failure = l1.failure(prove_call(l1, inputs, index=inputs.output_index + 1), l1.users[0])
    assert failure == Failure("UnknownOutput", (inputs.output_index + 1,))

    l1.roll_back(0)  # no output at all: latestOutputIndex reverts, read as unknown
    failure = l1.failure(prove_call(l1, inputs), l1.users[0])
    assert failure == Failure("UnknownOutput", (inputs.output_index,))


def test_proveWithdrawalTransaction_twice_reverts(bridge: Bridge, l1: L1) -> None:
    inputs = proven_withdrawal(bridge)
    failure = l1.failure(prove_call(l1, inputs), l1.users[1])
    assert failure == Failure("WithdrawalAlreadyProven", (inputs.withdrawal.hash,))


def test_proveWithdrawalTransaction_target_portal_token_or_zero_reverts(bridge: Bridge, l1: L1) -> None:
    signer = funded_l2_account(bridge)
    for target in (l1.portal.address, l1.token.address, "0x" + "00" * 20):
        inputs = bridge.withdraw(signer, target, 0)
        failure = l1.failure(prove_call(l1, inputs), l1.users[0])
        assert failure == Failure("InvalidWithdrawalTarget", (target,))


def test_proveWithdrawalTransaction_paused_reverts(bridge: Bridge, l1: L1) -> None:
    signer = funded_l2_account(bridge)
    inputs = bridge.withdraw(signer, TARGET, OPEN)
    receipt = l1.send(l1.portal.functions.pauseWithdrawals(), l1.admin)
    assert len(l1.portal.events.WithdrawalsPaused().process_receipt(receipt, errors=DISCARD)) == 1

    assert l1.failure(prove_call(l1, inputs), l1.users[0]).name == "WithdrawalsArePaused"

    l1.send(l1.portal.functions.unpauseWithdrawals(), l1.admin)
    bridge.prove(inputs)


# ----------------------------------------------------------- finalize reverts


def test_finalizeWithdrawalTransaction_not_proven_reverts(bridge: Bridge, l1: L1) -> None:
    signer = funded_l2_account(bridge)
    inputs = bridge.withdraw(signer, TARGET, OPEN)
    bridge.wait_final()

    failure = l1.failure(finalize_call(l1, inputs.withdrawal), l1.users[0])

    assert failure == Failure("WithdrawalNotProven", (inputs.withdrawal.hash,))


def test_finalizeWithdrawalTransaction_output_not_final_reverts(bridge: Bridge, l1: L1) -> None:
    inputs = proven_withdrawal(bridge)
    l1.mine(PROOF_MATURITY_DELAY + 1)  # the proof matured, the challenge window has not passed

    failure = l1.failure(finalize_call(l1, inputs.withdrawal), l1.users[0])

    assert failure == Failure("OutputNotFinalized", (inputs.output_index,))


def test_finalizeWithdrawalTransaction_proof_not_mature_reverts(bridge: Bridge, l1: L1) -> None:
    """An output that is already final still needs the proof to age."""
    signer = funded_l2_account(bridge)
    inputs = bridge.withdraw(signer, TARGET, OPEN)
    l1.mine(FINALIZATION_PERIOD + 1)
    assert l1.rollup.functions.isOutputFinalized(inputs.output_index).call() is True
    receipt = bridge.prove(inputs)
    proven_at = l1.w3.eth.get_block(receipt["blockNumber"])["timestamp"]

    failure = l1.failure(finalize_call(l1, inputs.withdrawal), l1.users[0])

    assert failure == Failure("ProofNotMature", (inputs.withdrawal.hash, proven_at + PROOF_MATURITY_DELAY))
    l1.mine(PROOF_MATURITY_DELAY)
    bridge.finalize(inputs.withdrawal)


def test_finalizeWithdrawalTransaction_twice_reverts(bridge: Bridge, l1: L1) -> None:
    inputs = proven_withdrawal(bridge)
    bridge.wait_final()
    bridge.finalize(inputs.withdrawal)

    failure = l1.failure(finalize_call(l1, inputs.withdrawal), l1.users[1])

    assert failure == Failure("WithdrawalAlreadyFinalized", (inputs.withdrawal.hash,))
    assert l1.balance(TARGET) == inputs.withdrawal.value
    # Proving again is refused too: the output still stands.
    assert l1.failure(prove_call(l1, inputs), l1.users[1]).name == "WithdrawalAlreadyProven"


def test_finalizeWithdrawalTransaction_after_rollback_reverts(bridge: Bridge, l1: L1) -> None:
    inputs = proven_withdrawal(bridge)
    l1.roll_back(inputs.output_index)
    bridge.wait_final()

    failure = l1.failure(finalize_call(l1, inputs.withdrawal), l1.users[0])
    assert failure == Failure("OutputRolledBack", (inputs.output_index,))

    # A different root at the same index is a rollback too.
    l1.post_output(keccak(b"replacement"), inputs.opening.block_number)
    bridge.wait_final()
    failure = l1.failure(finalize_call(l1, inputs.withdrawal), l1.users[0])
    assert failure == Failure("OutputRolledBack", (inputs.output_index,))


def test_finalizeWithdrawalTransaction_insufficient_gas_for_call_reverts(bridge: Bridge, l1: L1) -> None:
    gas_limit = 1_000_000
    data = keccak(text="useGas(uint256)")[:4] + encode(["uint256"], [gas_limit])
    inputs = proven_withdrawal(bridge, OPEN, target=l1.target.address, gas_limit=gas_limit, data=data)
    bridge.wait_final()
    call = finalize_call(l1, inputs.withdrawal)

    failure = l1.failure(call, l1.users[0], gas=gas_limit)  # 63/64 of it cannot reach the target

    assert failure == Failure("InsufficientGasForCall", (gas_limit,))
    # A mined transaction with too little gas reverts as a whole: nothing is spent.
    tx_hash = call.transact({"from": l1.users[0], "gas": gas_limit})  # type: ignore[attr-defined]
    assert l1.w3.eth.wait_for_transaction_receipt(tx_hash)["status"] == 0
    assert l1.trace_failure(tx_hash) == Failure("InsufficientGasForCall", (gas_limit,))
    assert l1.portal.functions.finalizedWithdrawals(inputs.withdrawal.hash).call() is False
    assert l1.balance(l1.target.address) == 0
    # With enough gas the call gets its limit and succeeds.
    receipt = bridge.finalize(inputs.withdrawal, gas=gas_limit * 64 // 63 + 250_000)
    (finalized,) = l1.portal.events.WithdrawalFinalized().process_receipt(receipt, errors=DISCARD)
    assert finalized["args"]["success"] is True


def test_finalizeWithdrawalTransaction_more_than_locked_reverts(
    bridge: Bridge, l1: L1, l2: L2, signers: list[Signer]
) -> None:
    """Genesis OPEN on L2 has no backing in this portal: it cannot drain deposits."""
    funded_l2_account(bridge, amount=3 * OPEN)  # 3 OPEN locked
    rich = signers[5]  # a genesis-funded dev account
    inputs = bridge.withdraw(rich, TARGET, 5 * OPEN)
    bridge.prove(inputs)
    bridge.wait_final()

    failure = l1.failure(finalize_call(l1, inputs.withdrawal), l1.users[0])

    assert failure == Failure("InsufficientLockedBalance", (3 * OPEN, 5 * OPEN))
    # Once backing for it is locked, it can be paid.
    l1.approve(l1.admin, 2 * OPEN)
    l1.send(l1.portal.functions.lockGenesisBacking(2 * OPEN), l1.admin)
    bridge.finalize(inputs.withdrawal)
    assert l1.locked() == 0 == l1.balance(l1.portal.address)


def test_finalizeWithdrawalTransaction_paused_reverts(bridge: Bridge, l1: L1) -> None:
    inputs = proven_withdrawal(bridge)
    bridge.wait_final()
    l1.send(l1.portal.functions.pauseWithdrawals(), l1.admin)

    assert l1.failure(finalize_call(l1, inputs.withdrawal), l1.users[0]).name == "WithdrawalsArePaused"

    receipt = l1.send(l1.portal.functions.unpauseWithdrawals(), l1.admin)
    assert len(l1.portal.events.WithdrawalsUnpaused().process_receipt(receipt, errors=DISCARD)) == 1
    bridge.finalize(inputs.withdrawal)


def test_pauseWithdrawals_not_guardian_reverts(l1: L1) -> None:
    assert l1.failure(l1.portal.functions.pauseWithdrawals(), l1.users[0]).name == (
        "AccessControlUnauthorizedAccount"
    )


def test_gas_used_within_budget_succeeds(bridge: Bridge, l1: L1, l2: L2) -> None:
    """Gas of the three user entry points in their usual shape, recorded for the report:
    a repeat deposit (EOA, no data), proving against a 40-withdrawal storage trie,
    finalizing to an EOA without a call."""
    user = l1.users[0]
    signer = funded_l2_account(bridge)
    l1.approve(user, OPEN)
    deposit = l1.send(l1.portal.functions.depositOPEN(TARGET, OPEN, 100_000, b""), user)
    withdrawals, block = l2.initiate_withdrawals(signer, [(TARGET, OPEN // 100, 100_000, b"")] * 40)
    opening = l2.opening(block)
    index = l1.post_output(opening.root, opening.block_number)
    _, proof = l2.storage_proof(block, sent_messages_slot(withdrawals[0].hash))
    prove = bridge.prove(ProvenInputs(withdrawals[0], index, opening, proof))
    bridge.wait_final()
    finalize = bridge.finalize(withdrawals[0])

    figures = {
        "depositOPEN (typical)": deposit["gasUsed"],
        f"proveWithdrawalTransaction ({len(proof)}-node proof)": prove["gasUsed"],
        "finalizeWithdrawalTransaction (EOA, no call)": finalize["gasUsed"],
    }
    for name, gas in figures.items():
        GAS_REPORT.setdefault(name, []).append(int(gas))
    assert deposit["gasUsed"] < 80_000
    assert prove["gasUsed"] < 150_000
    assert finalize["gasUsed"] < 120_000
