"""OpenLedgerPortal deposits on anvil: OPEN is locked, TransactionDeposited
carries exactly the L2 deposit transaction that derivation builds, and that
transaction mints the OPEN on the node's L2; limits, aliasing, permit, pausing."""

from __future__ import annotations

from eth_abi.abi import decode
from eth_utils.crypto import keccak
from web3 import Web3
from web3.logs import DISCARD

from contracts import load_artifact
from openledger_node.derivation.deposits import decode_opaque_data
from openledger_node.execution.transactions import (
    DepositTransaction,
    user_deposit_source_hash,
)

from .conftest import (
    ALIAS_OFFSET,
    DEPOSIT_EVENT,
    L1,
    L2,
    MAX_DEPOSIT_DATA_SIZE,
    MAX_DEPOSIT_GAS_PER_BLOCK,
    OPEN,
    USER_FUNDS,
    Failure,
    derive_deposits,
)

RECIPIENT = "0x" + "22" * 20
GUARDIAN_ROLE = keccak(text="GUARDIAN_ROLE")


def minimum_gas(byte_count: int) -> int:
    return 21_000 + 40 * byte_count


def alias(address: str) -> str:
    return Web3.to_checksum_address(((int(address, 16) + ALIAS_OFFSET) % 2**160).to_bytes(20, "big"))


def test_depositOPEN_locks_tokens_and_emits_event_succeeds(l1: L1) -> None:
    user = l1.users[0]
    amount = 5 * OPEN
    data = b"\x01\x02\x03"

    receipt = l1.deposit(user, RECIPIENT, amount, gas_limit=150_000, data=data)

    assert l1.balance(user) == USER_FUNDS - amount
    assert l1.balance(l1.portal.address) == amount
    assert l1.locked() == amount
    (log,) = [entry for entry in receipt["logs"] if entry["address"] == l1.portal.address]
    assert bytes(log["topics"][0]) == keccak(text=DEPOSIT_EVENT)
    assert bytes(log["topics"][1])[12:] == bytes.fromhex(user[2:])
    assert bytes(log["topics"][2])[12:] == bytes.fromhex(RECIPIENT[2:])
    assert int.from_bytes(bytes(log["topics"][3]), "big") == 0
    (opaque,) = decode(["bytes"], bytes(log["data"]))
    # abi.encodePacked(uint256 mint, uint256 value, uint64 gasLimit, bool isCreation, bytes data)
    assert opaque == (
        amount.to_bytes(32, "big") + amount.to_bytes(32, "big") + (150_000).to_bytes(8, "big") + b"\x00" + data
    )
    assert decode_opaque_data(opaque) == (amount, amount, 150_000, False, data)


def test_depositOPEN_derived_l2_deposit_mints_on_l2_succeeds(l1: L1, l2: L2) -> None:
    user = l1.users[1]
    amount = 7 * OPEN
    receipt = l1.deposit(user, RECIPIENT, amount)

    (deposit,) = derive_deposits(receipt, l1.portal.address)
    (log,) = [entry for entry in receipt["logs"] if entry["address"] == l1.portal.address]
    expected = DepositTransaction(
        source_hash=user_deposit_source_hash(bytes(receipt["blockHash"]), int(log["logIndex"])),
        sender=bytes.fromhex(user[2:]),
        to=bytes.fromhex(RECIPIENT[2:]),
        mint=amount,
        value=amount,
        gas=100_000,
        is_system_tx=False,
        data=b"",
    )
    assert deposit.encode() == expected.encode()
    # The token's Transfer log comes first in the same receipt, so the index is block-wide.
    assert int(log["logIndex"]) == 1

    before_recipient, before_sender = l2.balance(RECIPIENT), l2.balance(user)
    block = l2.build_block([deposit])

    l2_receipt = block.receipts[-1]
    assert l2_receipt.status == 1
    assert l2.balance(RECIPIENT) == before_recipient + amount
    assert l2.balance(user) == before_sender  # minted to the sender, then sent on
    assert bytes(block.transactions[-1].hash) == bytes(expected.hash)


def test_depositOPEN_minimum_gas_with_data_executes_on_l2_succeeds(l1: L1, l2: L2) -> None:
    """minimumGasLimit covers the L2's EIP-7623 calldata floor for non-zero bytes."""
    data = b"\xff" * 1_000
    gas = minimum_gas(len(data))
    assert l1.portal.functions.minimumGasLimit(len(data)).call() == gas

    receipt = l1.deposit(l1.users[0], RECIPIENT, OPEN, gas_limit=gas, data=data)
    (deposit,) = derive_deposits(receipt, l1.portal.address)
    block = l2.build_block([deposit])

    assert deposit.gas == gas and deposit.data == data
    assert block.receipts[-1].status == 1
    assert l2.balance(RECIPIENT) == OPEN


def test_depositOPEN_zero_amount_message_only_succeeds(l1: L1, l2: L2) -> None:
    user = l1.users[0]
    receipt = l1.send(l1.portal.functions.depositOPEN(RECIPIENT, 0, 50_000, b"\x01"), user)

    (deposit,) = derive_deposits(receipt, l1.portal.address)
    assert (deposit.mint, deposit.value, deposit.data) == (0, 0, b"\x01")
    assert l1.locked() == 0 and l1.balance(user) == USER_FUNDS
    assert l2.build_block([deposit]).receipts[-1].status == 1


def test_depositOPENWithPermit_without_approval_succeeds(l1: L1, l2: L2) -> None:
    user = l1.users[2]
    amount = 3 * OPEN
    deadline = l1.w3.eth.get_block("latest")["timestamp"] + 3_600
    v, r, s = l1.permit_signature(user, amount, deadline)
    assert l1.token.functions.allowance(user, l1.portal.address).call() == 0

    receipt = l1.send(
        l1.portal.functions.depositOPENWithPermit(RECIPIENT, amount, 100_000, b"", deadline, v, r, s), user
    )

    assert l1.locked() == amount
    assert l1.balance(user) == USER_FUNDS - amount
    assert l1.token.functions.allowance(user, l1.portal.address).call() == 0
    (deposit,) = derive_deposits(receipt, l1.portal.address)
    assert deposit.sender == bytes.fromhex(user[2:]) and deposit.mint == amount
    l2.build_block([deposit])
    assert l2.balance(RECIPIENT) == amount


def test_depositOPENWithPermit_front_run_permit_succeeds(l1: L1) -> None:
    """Someone submits the permit first: the deposit still goes through on the allowance."""
    user, attacker = l1.users[2], l1.users[3]
    amount = 2 * OPEN
    deadline = l1.w3.eth.get_block("latest")["timestamp"] + 3_600
    v, r, s = l1.permit_signature(user, amount, deadline)
    l1.send(l1.token.functions.permit(user, l1.portal.address, amount, deadline, v, r, s), attacker)

    l1.send(l1.portal.functions.depositOPENWithPermit(RECIPIENT, amount, 100_000, b"", deadline, v, r, s), user)

    assert l1.locked() == amount


def test_depositOPENWithPermit_invalid_signature_reverts(l1: L1) -> None:
    user = l1.users[2]
    deadline = l1.w3.eth.get_block("latest")["timestamp"] + 3_600
    v, r, s = l1.permit_signature(user, OPEN, deadline)

    # Signed for OPEN, used for 2 OPEN: the permit is ignored and the pull has no allowance.
    failure = l1.failure(
        l1.portal.functions.depositOPENWithPermit(RECIPIENT, 2 * OPEN, 100_000, b"", deadline, v, r, s), user
    )

    assert failure.name == "ERC20InsufficientAllowance"
    assert failure.args == (l1.portal.address, 0, 2 * OPEN)


def test_depositOPEN_without_allowance_reverts(l1: L1) -> None:
    failure = l1.failure(l1.portal.functions.depositOPEN(RECIPIENT, OPEN, 100_000, b""), l1.users[0])
    assert failure.name == "ERC20InsufficientAllowance"


def test_depositOPEN_from_contract_aliases_sender_succeeds(l1: L1, l2: L2) -> None:
    contract = l1.depositor.address
    amount = 4 * OPEN

    receipt = l1.send(l1.depositor.functions.deposit(RECIPIENT, amount, 100_000, b""), l1.users[0])

    (deposit,) = derive_deposits(receipt, l1.portal.address)
    aliased = alias(contract)
    assert deposit.sender == bytes.fromhex(aliased[2:])
    assert deposit.sender != bytes.fromhex(contract[2:])
    assert l1.balance(l1.portal.address) == amount
    block = l2.build_block([deposit])
    assert block.receipts[-1].status == 1
    assert l2.balance(RECIPIENT) == amount


def test_depositOPEN_gas_limit_below_minimum_reverts(l1: L1) -> None:
    data = b"\xaa" * 10
    low = minimum_gas(len(data)) - 1
    l1.approve(l1.users[0], OPEN)

    failure = l1.failure(l1.portal.functions.depositOPEN(RECIPIENT, OPEN, low, data), l1.users[0])

    assert failure.name == "GasLimitTooLow"
    assert failure.args == (low, low + 1)


def test_depositOPEN_data_too_large_reverts(l1: L1) -> None:
    data = b"\x01" * (MAX_DEPOSIT_DATA_SIZE + 1)
    l1.approve(l1.users[0], OPEN)

    failure = l1.failure(
        l1.portal.functions.depositOPEN(RECIPIENT, OPEN, minimum_gas(len(data)), data), l1.users[0]
    )

    assert failure.name == "DataTooLarge"
    assert failure.args == (MAX_DEPOSIT_DATA_SIZE + 1, MAX_DEPOSIT_DATA_SIZE)


def test_depositOPEN_zero_address_target_reverts(l1: L1) -> None:
    l1.approve(l1.users[0], OPEN)
    failure = l1.failure(
        l1.portal.functions.depositOPEN("0x" + "00" * 20, OPEN, 100_000, b""), l1.users[0]
    )
    assert failure.name == "InvalidDepositTarget"


def test_depositOPEN_over_block_gas_cap_reverts(l1: L1) -> None:
    """Three deposits in one L1 block, each of 40% of the cap: the third goes over."""
    share = MAX_DEPOSIT_GAS_PER_BLOCK * 2 // 5
    users = l1.users[:3]
    for user in users:
        l1.approve(user, OPEN)
    l1.rpc("evm_setAutomine", False)
    hashes = [
        l1.portal.functions.depositOPEN(RECIPIENT, OPEN, share, b"").transact({"from": user, "gas": 200_000})
        for user in users
    ]
    l1.mine()
    l1.rpc("evm_setAutomine", True)

    receipts = [l1.w3.eth.get_transaction_receipt(h) for h in hashes]
    assert len({r["blockNumber"] for r in receipts}) == 1
    assert [r["status"] for r in receipts] == [1, 1, 0]
    failure = l1.trace_failure(hashes[2])
    assert failure.name == "DepositGasPerBlockExceeded"
    assert failure.args == (2 * share, share, MAX_DEPOSIT_GAS_PER_BLOCK)
    assert l1.locked() == 2 * OPEN
    assert l1.portal.functions.depositGasUsed().call() == 2 * share
    assert sum(len(derive_deposits(r, l1.portal.address)) for r in receipts) == 2


def test_depositOPEN_block_gas_cap_resets_next_block_succeeds(l1: L1) -> None:
    user = l1.users[0]
    l1.deposit(user, RECIPIENT, OPEN, gas_limit=MAX_DEPOSIT_GAS_PER_BLOCK)  # the whole cap, alone in its block
    receipt = l1.deposit(user, RECIPIENT, OPEN, gas_limit=MAX_DEPOSIT_GAS_PER_BLOCK)

    assert receipt["status"] == 1
    assert l1.portal.functions.depositGasBlock().call() == receipt["blockNumber"]
    assert l1.portal.functions.depositGasUsed().call() == MAX_DEPOSIT_GAS_PER_BLOCK


def test_depositOPEN_single_deposit_over_cap_reverts(l1: L1) -> None:
    l1.approve(l1.users[0], OPEN)
    failure = l1.failure(
        l1.portal.functions.depositOPEN(RECIPIENT, OPEN, MAX_DEPOSIT_GAS_PER_BLOCK + 1, b""), l1.users[0]
    )
    assert failure.name == "DepositGasPerBlockExceeded"
    assert failure.args == (0, MAX_DEPOSIT_GAS_PER_BLOCK + 1, MAX_DEPOSIT_GAS_PER_BLOCK)


def test_depositOPEN_paused_reverts(l1: L1) -> None:
    user = l1.users[0]
    l1.approve(user, OPEN)
    receipt = l1.send(l1.portal.functions.pauseDeposits(), l1.admin)

    (event,) = l1.portal.events.DepositsPaused().process_receipt(receipt, errors=DISCARD)
    assert event["args"]["account"] == l1.admin
    assert l1.portal.functions.depositsPaused().call() is True
    assert l1.failure(l1.portal.functions.depositOPEN(RECIPIENT, OPEN, 100_000, b""), user).name == (
        "DepositsArePaused"
    )

    receipt = l1.send(l1.portal.functions.unpauseDeposits(), l1.admin)
    assert len(l1.portal.events.DepositsUnpaused().process_receipt(receipt, errors=DISCARD)) == 1
    l1.send(l1.portal.functions.depositOPEN(RECIPIENT, OPEN, 100_000, b""), user)
    assert l1.locked() == OPEN


def test_pauseDeposits_not_guardian_reverts(l1: L1) -> None:
    outsider = l1.users[0]
    failure = l1.failure(l1.portal.functions.pauseDeposits(), outsider)
    assert failure.name == "AccessControlUnauthorizedAccount"
    assert failure.args == (outsider, GUARDIAN_ROLE)


def test_pauseDeposits_granted_guardian_succeeds(l1: L1) -> None:
    guardian = l1.users[4]
    l1.send(l1.portal.functions.grantRole(GUARDIAN_ROLE, guardian), l1.admin)
    l1.send(l1.portal.functions.pauseDeposits(), guardian)
    assert l1.portal.functions.depositsPaused().call() is True


def test_setMaxDepositGasPerBlock_admin_succeeds(l1: L1) -> None:
    receipt = l1.send(l1.portal.functions.setMaxDepositGasPerBlock(1_000_000), l1.admin)

    (event,) = l1.portal.events.MaxDepositGasPerBlockSet().process_receipt(receipt, errors=DISCARD)
    assert (event["args"]["previous"], event["args"]["current"]) == (MAX_DEPOSIT_GAS_PER_BLOCK, 1_000_000)
    assert l1.portal.functions.maxDepositGasPerBlock().call() == 1_000_000
    l1.approve(l1.users[0], OPEN)
    failure = l1.failure(l1.portal.functions.depositOPEN(RECIPIENT, OPEN, 1_000_001, b""), l1.users[0])
    assert failure.name == "DepositGasPerBlockExceeded"


def test_setMaxDepositGasPerBlock_not_admin_reverts(l1: L1) -> None:
    failure = l1.failure(l1.portal.functions.setMaxDepositGasPerBlock(1_000_000), l1.users[0])
    assert failure.name == "AccessControlUnauthorizedAccount"
    assert failure.args == (l1.users[0], b"\x00" * 32)


def test_setMaxDepositGasPerBlock_below_one_transaction_reverts(l1: L1) -> None:
    failure = l1.failure(l1.portal.functions.setMaxDepositGasPerBlock(20_999), l1.admin)
    assert failure == Failure("InvalidMaxDepositGasPerBlock", (20_999,))


def test_lockGenesisBacking_admin_locks_without_deposit_succeeds(l1: L1) -> None:
    l1.approve(l1.admin, 100 * OPEN)
    receipt = l1.send(l1.portal.functions.lockGenesisBacking(100 * OPEN), l1.admin)

    assert l1.locked() == 100 * OPEN == l1.balance(l1.portal.address)
    (event,) = l1.portal.events.GenesisBackingLocked().process_receipt(receipt, errors=DISCARD)
    assert (event["args"]["from"], event["args"]["amount"]) == (l1.admin, 100 * OPEN)
    assert derive_deposits(receipt, l1.portal.address) == []


def test_lockGenesisBacking_not_admin_reverts(l1: L1) -> None:
    l1.approve(l1.users[0], OPEN)
    assert l1.failure(l1.portal.functions.lockGenesisBacking(OPEN), l1.users[0]).name == (
        "AccessControlUnauthorizedAccount"
    )


def test_transfer_to_portal_is_not_locked_succeeds(l1: L1) -> None:
    """OPEN sent by a plain transfer backs nothing and can never be withdrawn."""
    l1.send(l1.token.functions.transfer(l1.portal.address, OPEN), l1.users[0])
    assert l1.balance(l1.portal.address) == OPEN
    assert l1.locked() == 0


def test_constructor_invalid_arguments_reverts(l1: L1) -> None:
    artifact = load_artifact("OpenLedgerPortal")
    factory = l1.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    zero = "0x" + "00" * 20
    params = (MAX_DEPOSIT_GAS_PER_BLOCK, MAX_DEPOSIT_DATA_SIZE, 3_600)
    assert l1.deploy_failure(factory, l1.admin, l1.token.address, zero, l1.admin, params) == Failure("ZeroAddress", ())
    assert l1.deploy_failure(
        factory, l1.admin, l1.token.address, l1.rollup.address, l1.admin, (20_000, MAX_DEPOSIT_DATA_SIZE, 3_600)
    ) == Failure("InvalidMaxDepositGasPerBlock", (20_000,))
