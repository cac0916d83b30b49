"""Fixtures for the OpenLedgerPortal tests: anvil as L1 with the portal, the OPEN
token and the rollup deployed, and the node's own execution layer as an
in-process L2, so deposits and withdrawals cross between two real chains.

- ``l1``: an ``L1`` (web3.py over one anvil per session, contracts deployed once
  per module, every test starting from an ``evm_snapshot`` of that deployment).
  The rollup is the real OpenLedgerRollup; a module may parametrize
  ``deployed`` indirectly with "mock" to run on MockRollup (whose rollBack
  simulates a lost challenge directly).
- ``l2``: an ``L2`` on the test's chain store (tests/conftest.py ``store``):
  applies derived deposits and signed transactions in sealed blocks, and opens
  an output root into the storage proof the portal verifies.
- ``bridge``: both, with the steps a user, the sequencer and the proposer take.

Deposits come from the node's own derivation stage
(``openledger_node.derivation.deposits``) applied to an L1 receipt, withdrawals
from ``openledger_node.execution.withdrawals`` applied to an L2 receipt, and
output roots from ``openledger_node.execution.output``; this module only
converts between those and web3.py's checksum addresses. Test modules import
the helpers with ``from .conftest import ...`` (this directory is a package, so
the import is unambiguous).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from eth_abi.abi import decode, encode
from eth_account import Account
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD

from contracts import load_artifact
from openledger_node.derivation import deposits as derivation
from openledger_node.execution import withdrawals as node_withdrawals
from openledger_node.execution.block import BlockExecutor, begin_block
from openledger_node.execution.genesis import GenesisSpec, dev_private_keys
from openledger_node.execution.output import OutputRootProof
from openledger_node.execution.proof import get_proof
from openledger_node.execution.transactions import DepositTransaction
from openledger_node.execution.withdrawals import sent_messages_slot
from openledger_node.primitives import L2_TO_L1_MESSAGE_PASSER_ADDRESS, Address, Hash32
from openledger_node.storage import ChainStore, OverlayDB
from tests import gasreport
from tests.anvil import start_anvil, stop_anvil
from tests.conftest import Signer, head_state, next_env, seal_and_store

OPEN = 10**18
USER_FUNDS = 1_000_000 * OPEN

MAX_DEPOSIT_GAS_PER_BLOCK = 20_000_000
MAX_DEPOSIT_DATA_SIZE = 120_000
PROOF_MATURITY_DELAY = 3_600  # seconds between proving and finalizing
FINALIZATION_PERIOD = 7 * 24 * 3_600  # the rollup's challenge window
REAL_ROLLUP_VOTING_PERIOD = 24 * 3_600
SEQUENCER_BOND = 1_000 * OPEN
VALIDATOR_STAKE = 100 * OPEN
CHALLENGE_BOND = 10 * OPEN

ALIAS_OFFSET = 0x1111000000000000000000000000000000001111
DEPOSIT_EVENT = "TransactionDeposited(address,address,uint256,bytes)"
INITIATE_WITHDRAWAL = "initiateWithdrawal(address,uint256,bytes)"
L2_GAS_PRICE = 3 * 10**9  # the Signer's maxFeePerGas

# Gas used by the portal's entry points across the session, printed at its end.
GAS_REPORT: dict[str, list[int]] = {}



# --------------------------------------------------------------------- L1 side


def _start_anvil(log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    return start_anvil(log_path, ("--chain-id", "31337"))


@dataclass(frozen=True)
class Failure:
    """A custom error decoded from revert data."""

    name: str
    args: tuple[Any, ...]


class ErrorDecoder:
    """Decodes revert data with the custom errors of the given artifacts."""

    def __init__(self, artifacts: Sequence[str]) -> None:
        self._errors: dict[bytes, tuple[str, list[str]]] = {}
        for name in artifacts:
            for item in load_artifact(name).abi:
                if item["type"] == "error":
                    types = [_abi_type(i) for i in item["inputs"]]
                    signature = f"{item['name']}({','.join(types)})"
                    self._errors[keccak(text=signature)[:4]] = (item["name"], types)

    def decode(self, data: bytes) -> Failure:
        if len(data) < 4 or data[:4] not in self._errors:
            return Failure("<unknown>", (data.hex(),))
        name, types = self._errors[data[:4]]
        values = decode(types, data[4:])
        pairs = zip(types, values, strict=True)
        return Failure(name, tuple(Web3.to_checksum_address(v) if t == "address" else v for t, v in pairs))


def _abi_type(item: dict[str, Any]) -> str:
    if item["type"].startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in item["components"]) + ")" + str(item["type"])[5:]
    return str(item["type"])


def _revert_bytes(exc: ContractLogicError) -> bytes:
    data = exc.data
    if isinstance(data, dict):  # some providers nest it
        data = data.get("data")
    if isinstance(data, str):
        return bytes.fromhex(data.removeprefix("0x"))
    return bytes(data or b"")


@dataclass
class L1:
    """web3.py handles on anvil and the deployed contracts."""

    w3: Web3
    token: Contract
    rollup: Contract
    portal: Contract
    depositor: Contract
    target: Contract
    admin: str
    users: list[str]
    keys: dict[str, bytes]
    errors: ErrorDecoder
    rollup_kind: str  # "mock" (MockRollup) or "real" (OpenLedgerRollup)
    validator: str  # staked on the real rollup; challenges to roll outputs back

    # --- plumbing

    def rpc(self, method: str, *params: Any) -> Any:
        response = self.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
        if "error" in response:
            raise RuntimeError(f"{method}: {response['error']}")
        return response["result"]

    def send(self, call: Any, sender: str, **tx: Any) -> Any:
        """Send a contract call as a transaction; returns its receipt (must succeed)."""
        tx_hash = call.transact({"from": sender, **tx})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        assert receipt["status"] == 1, f"transaction failed: {receipt}"
        return receipt

    def failure(self, call: Any, sender: str, **tx: Any) -> Failure:
        """The custom error `call` reverts with (as eth_call from `sender`)."""
        try:
            call.call({"from": sender, **tx})
        except ContractLogicError as exc:
            return self.errors.decode(_revert_bytes(exc))
        raise AssertionError("call did not revert")

    def deploy_failure(self, factory: Any, sender: str, *args: Any) -> Failure:
        """The custom error deploying `factory` with `args` reverts with."""
        data = factory.constructor(*args).data_in_transaction
        try:
            self.w3.eth.call({"from": sender, "data": data})
        except ContractLogicError as exc:
            return self.errors.decode(_revert_bytes(exc))
        raise AssertionError("deployment did not revert")

    def trace_failure(self, tx_hash: Any) -> Failure:
        """The custom error a mined transaction reverted with."""
        trace = self.rpc("debug_traceTransaction", Web3.to_hex(tx_hash), {"disableStorage": True})
        return self.errors.decode(bytes.fromhex(trace["returnValue"].removeprefix("0x")))

    def mine(self, seconds: int = 0) -> None:
        if seconds:
            self.rpc("evm_increaseTime", seconds)
        self.rpc("evm_mine")

    def record_gas(self, name: str, receipt: Any) -> None:
        GAS_REPORT.setdefault(name, []).append(int(receipt["gasUsed"]))
        gasreport.record(name, int(receipt["gasUsed"]))

    # --- token and portal

    def balance(self, account: str) -> int:
        return int(self.token.functions.balanceOf(account).call())

    def locked(self) -> int:
        return int(self.portal.functions.lockedBalance().call())

    def approve(self, owner: str, amount: int) -> None:
        self.send(self.token.functions.approve(self.portal.address, amount), owner)

    def deposit(self, sender: str, to: str, amount: int, gas_limit: int = 100_000, data: bytes = b"") -> Any:
        """Approve and depositOPEN from an EOA; returns the deposit's receipt."""
        self.approve(sender, amount)
        receipt = self.send(self.portal.functions.depositOPEN(to, amount, gas_limit, data), sender)
        self.record_gas("depositOPEN", receipt)
        return receipt

    def permit_signature(
        self, owner: str, amount: int, deadline: int, nonce: int | None = None
    ) -> tuple[int, bytes, bytes]:
        """EIP-2612 permit of `owner` for the portal, signed with its dev key."""
        if nonce is None:
            nonce = int(self.token.functions.nonces(owner).call())
        _, name, version, chain_id, verifying_contract, _, _ = self.token.functions.eip712Domain().call()
        signed = Account.sign_typed_data(
            self.keys[owner],
            domain_data={
                "name": name, "version": version, "chainId": chain_id, "verifyingContract": verifying_contract,
            },
            message_types={
                "Permit": [
                    {"name": "owner", "type": "address"},
                    {"name": "spender", "type": "address"},
                    {"name": "value", "type": "uint256"},
                    {"name": "nonce", "type": "uint256"},
                    {"name": "deadline", "type": "uint256"},
                ]
            },
            message_data={
                "owner": owner, "spender": self.portal.address, "value": amount,
                "nonce": nonce, "deadline": deadline,
            },
        )
        return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")

    def post_output(self, root: bytes, l2_block: int) -> int:
        """Post the output root of L2 block `l2_block` to the rollup; returns its index.

        The real rollup takes it as a batch covering the blocks since the previous
        batch (the sequencer is the admin)."""
        if self.rollup_kind == "mock":
            receipt = self.send(self.rollup.functions.proposeOutput(root, l2_block), self.admin)
            (event,) = self.rollup.events.OutputProposed().process_receipt(receipt, errors=DISCARD)
            return int(event["args"]["outputIndex"])
        index = int(self.rollup.functions.nextBatchIndex().call())
        first = 1 if index == 0 else int(self.rollup.functions.getBatch(index - 1).call()[3]) + 1
        self.send(self.rollup.functions.submitBatch(index, first, l2_block, root, b"batch"), self.admin)
        return index

    def roll_back(self, from_index: int) -> None:
        """Remove output `from_index` and every later one: directly on the mock;
        on the real rollup by a validator's successful challenge (it holds all the
        stake, so its vote alone rejects the output once voting ends)."""
        if self.rollup_kind == "mock":
            self.send(self.rollup.functions.rollBack(from_index), self.admin)
            return
        claim = keccak(b"the validator's root")
        receipt = self.send(self.rollup.functions.challenge(from_index, claim), self.validator)
        (opened,) = self.rollup.events.ChallengeOpened().process_receipt(receipt, errors=DISCARD)
        self.mine(REAL_ROLLUP_VOTING_PERIOD + 1)
        receipt = self.send(self.rollup.functions.resolve(opened["args"]["challengeId"]), self.validator)
        assert len(self.rollup.events.OutputsRolledBack().process_receipt(receipt, errors=DISCARD)) == 1
        # The sequencer was slashed; it tops its bond up to keep submitting.
        deficit = SEQUENCER_BOND - int(self.rollup.functions.sequencerBond(self.admin).call())
        self.send(self.token.functions.approve(self.rollup.address, deficit), self.admin)
        self.send(self.rollup.functions.depositSequencerBond(deficit), self.admin)


def _deploy(w3: Web3, name: str, sender: str, *args: Any) -> Contract:
    artifact = load_artifact(name)
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = w3.eth.wait_for_transaction_receipt(factory.constructor(*args).transact({"from": sender}))
    assert receipt["status"] == 1, f"deploying {name} failed"
    return cast(Contract, w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi))


@pytest.fixture(scope="session")
def anvil_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    process, url = _start_anvil(tmp_path_factory.mktemp("anvil") / "anvil.log")
    try:
        yield url
    finally:
        stop_anvil(process)


@pytest.fixture(scope="module")
def deployed(anvil_url: str, request: pytest.FixtureRequest) -> Iterator[L1]:
    """Token, rollup, portal and helper contracts deployed once per module;
    five users hold OPEN on L1. The rollup is the real OpenLedgerRollup unless a
    module parametrizes this fixture with "mock" (indirect)."""
    rollup_kind = getattr(request, "param", "real")
    w3 = Web3(Web3.HTTPProvider(anvil_url, request_kwargs={"timeout": 60}))
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    accounts = [str(Web3.to_checksum_address(a)) for a in w3.eth.accounts]
    keys = {Account.from_key(k).address: k for k in dev_private_keys()}
    admin, users, validator, treasury = accounts[0], accounts[1:6], accounts[6], accounts[7]
    token = _deploy(w3, "OpenToken", admin, admin)  # holder of the whole supply
    if rollup_kind == "mock":
        rollup = _deploy(w3, "MockRollup", admin, FINALIZATION_PERIOD)
    else:
        config = (
            admin, treasury, SEQUENCER_BOND, VALIDATOR_STAKE, CHALLENGE_BOND, 24 * 3_600,
            FINALIZATION_PERIOD, REAL_ROLLUP_VOTING_PERIOD, 5_000, 5_000, 10_000,
        )  # sequencer, treasury, bonds, unbonding delay, window, voting, quorum, slash, reward
        rollup = _deploy(w3, "OpenLedgerRollup", admin, token.address, admin, config)
    portal = _deploy(
        w3, "OpenLedgerPortal", admin, token.address, rollup.address, admin,
        (MAX_DEPOSIT_GAS_PER_BLOCK, MAX_DEPOSIT_DATA_SIZE, PROOF_MATURITY_DELAY),
    )
    depositor = _deploy(w3, "PortalDepositor", admin, portal.address)
    target = _deploy(w3, "PortalWithdrawalTarget", admin, portal.address)
    errors = ErrorDecoder(
        ["OpenLedgerPortal", "OpenToken", "MockRollup", "OpenLedgerRollup", "PortalWithdrawalTarget"]
    )
    l1 = L1(w3, token, rollup, portal, depositor, target, admin, users, keys, errors, rollup_kind, validator)
    for user in users:
        l1.send(token.functions.transfer(user, USER_FUNDS), admin)
    l1.send(token.functions.transfer(depositor.address, USER_FUNDS), admin)
    if rollup_kind == "real":
        l1.send(token.functions.approve(rollup.address, SEQUENCER_BOND), admin)
        l1.send(rollup.functions.depositSequencerBond(SEQUENCER_BOND), admin)
        l1.send(token.functions.transfer(validator, USER_FUNDS), admin)
        l1.send(token.functions.approve(rollup.address, USER_FUNDS), validator)
        l1.send(rollup.functions.stake(VALIDATOR_STAKE), validator)
    yield l1
    w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]


@pytest.fixture
def l1(deployed: L1) -> Iterator[L1]:
    """The module's deployment, reverted to its initial state after the test."""
    snapshot = deployed.rpc("evm_snapshot")
    try:
        yield deployed
    finally:
        deployed.rpc("evm_setAutomine", True)
        deployed.rpc("evm_revert", snapshot)


# --------------------------------------------------------------------- L2 side


def derive_deposits(receipt: Any, portal: str) -> list[DepositTransaction]:
    """The node's derivation of the deposits in one web3.py L1 receipt."""
    return derivation.derive_deposits(derivation.l1_logs_from_web3(receipt["logs"]), _address(portal))


@dataclass(frozen=True)
class Withdrawal:
    """A node withdrawal (`execution.withdrawals.Withdrawal`) with checksum
    addresses, as web3.py takes and returns them."""

    nonce: int
    sender: str
    target: str
    value: int
    gas_limit: int
    data: bytes

    @classmethod
    def of(cls, withdrawal: node_withdrawals.Withdrawal) -> Withdrawal:
        sender, target = (Web3.to_checksum_address(a) for a in (withdrawal.sender, withdrawal.target))
        return cls(withdrawal.nonce, sender, target, withdrawal.value, withdrawal.gas_limit, withdrawal.data)

    @property
    def node(self) -> node_withdrawals.Withdrawal:
        return node_withdrawals.Withdrawal(
            self.nonce, _address(self.sender), _address(self.target), self.value, self.gas_limit, self.data
        )

    @property
    def as_tuple(self) -> tuple[int, str, str, int, int, bytes]:
        return (self.nonce, self.sender, self.target, self.value, self.gas_limit, self.data)

    @property
    def hash(self) -> bytes:
        return self.node.hash

    def replace(self, **changes: Any) -> Withdrawal:
        fields = {**self.__dict__, **changes}
        return Withdrawal(**fields)


def _address(checksum: str) -> Address:
    return Address(bytes.fromhex(checksum.removeprefix("0x")))


class L2:
    """The node's execution layer on a chain store: one sealed block per call."""

    passer = Web3.to_checksum_address(L2_TO_L1_MESSAGE_PASSER_ADDRESS)

    def __init__(self, store: ChainStore, genesis_spec: GenesisSpec) -> None:
        self.store = store
        self.genesis_spec = genesis_spec

    def build_block(self, txs: Sequence[Any], prepare: Callable[[BlockExecutor], None] | None = None) -> Any:
        """Apply `txs` (deposits first) in a new block, seal and store it.
        `prepare` may edit the state before sealing (to forge states in tests)."""
        overlay = OverlayDB(self.store.state_db)
        executor = begin_block(next_env(self.store, self.genesis_spec), overlay)
        for tx in txs:
            executor.apply(tx)
        if prepare is not None:
            prepare(executor)
        return seal_and_store(self.store, executor, overlay)

    def balance(self, address: str | bytes) -> int:
        raw = bytes.fromhex(address[2:]) if isinstance(address, str) else address
        return int(head_state(self.store).get_balance(raw))

    def initiate_withdrawal(
        self, signer: Signer, target: str, value: int, gas_limit: int = 100_000, data: bytes = b""
    ) -> tuple[Withdrawal, Any]:
        """Sign and include initiateWithdrawal; returns the withdrawal and the block."""
        (withdrawal,), block = self.initiate_withdrawals(signer, [(target, value, gas_limit, data)])
        return withdrawal, block

    def initiate_withdrawals(
        self, signer: Signer, requests: Sequence[tuple[str, int, int, bytes]]
    ) -> tuple[list[Withdrawal], Any]:
        """Several initiateWithdrawal transactions, (target, value, gasLimit, data)
        each, in one block; returns the withdrawals and the block."""
        selector = keccak(text=INITIATE_WITHDRAWAL)[:4]
        txs = [
            signer.tx(
                to=self.passer, value=value, gas=300_000,
                data=selector + encode(["address", "uint256", "bytes"], [target, gas_limit, data]),
            )
            for target, value, gas_limit, data in requests
        ]
        block = self.build_block(txs)
        withdrawals = []
        for receipt in block.receipts[-len(txs):]:
            assert receipt.status == 1, "initiateWithdrawal failed on L2"
            (withdrawal,) = node_withdrawals.withdrawals_in(receipt.logs)
            withdrawals.append(Withdrawal.of(withdrawal))
        return withdrawals, block

    def opening(self, block: Any) -> OutputRootProof:
        """The preimage of `block`'s output root."""
        state_root = Hash32(bytes(block.header.state_root))
        account = get_proof(self.store.state_db, state_root, L2_TO_L1_MESSAGE_PASSER_ADDRESS, [])
        return OutputRootProof(
            int(block.header.block_number), state_root, Hash32(account.storage_hash), Hash32(bytes(block.hash))
        )

    def storage_proof(self, block: Any, slot: int) -> tuple[int, list[bytes]]:
        """(value, proof) of a message passer slot in `block`'s state (eth_getProof)."""
        account = get_proof(
            self.store.state_db, bytes(block.header.state_root), L2_TO_L1_MESSAGE_PASSER_ADDRESS, [slot]
        )
        (storage,) = account.storage_proofs
        return storage.value, storage.proof


def new_l2_key(seed: int) -> Signer:
    """A fresh L2 account (no genesis balance), for deposits and withdrawals."""
    return Signer(keccak(b"portal-test-key" + seed.to_bytes(4, "big")))


@dataclass
class ProvenInputs:
    """What proveWithdrawalTransaction takes for one withdrawal."""

    withdrawal: Withdrawal
    output_index: int
    opening: OutputRootProof
    storage_proof: list[bytes]

    def args(self) -> tuple[Any, ...]:
        return (self.withdrawal.as_tuple, self.output_index, self.opening.as_tuple(), self.storage_proof)


class Bridge:
    """L1 and L2 together, with the steps of a deposit and of a withdrawal."""

    def __init__(self, l1: L1, l2: L2) -> None:
        self.l1 = l1
        self.l2 = l2

    def deposit(self, sender: str, to: str, amount: int, gas_limit: int = 100_000, data: bytes = b"") -> Any:
        """Deposit on L1 and include the derived deposit in an L2 block; returns the L2 receipt."""
        receipt = self.l1.deposit(sender, to, amount, gas_limit, data)
        deposits = derive_deposits(receipt, self.l1.portal.address)
        block = self.l2.build_block(deposits)
        return block.receipts[-1]

    def withdraw(
        self, signer: Signer, target: str, value: int, gas_limit: int = 100_000, data: bytes = b""
    ) -> ProvenInputs:
        """Initiate on L2, post the block's output root to the rollup, and build the proofs."""
        withdrawal, block = self.l2.initiate_withdrawal(signer, target, value, gas_limit, data)
        opening = self.l2.opening(block)
        index = self.l1.post_output(opening.root, opening.block_number)
        stored, proof = self.l2.storage_proof(block, sent_messages_slot(withdrawal.hash))
        assert stored == 1
        return ProvenInputs(withdrawal, index, opening, proof)

    def prove(self, inputs: ProvenInputs, sender: str | None = None) -> Any:
        receipt = self.l1.send(
            self.l1.portal.functions.proveWithdrawalTransaction(*inputs.args()), sender or self.l1.users[0]
        )
        self.l1.record_gas("proveWithdrawalTransaction", receipt)
        return receipt

    def finalize(self, withdrawal: Withdrawal, sender: str | None = None, **tx: Any) -> Any:
        receipt = self.l1.send(
            self.l1.portal.functions.finalizeWithdrawalTransaction(withdrawal.as_tuple),
            sender or self.l1.users[0], **tx,
        )
        self.l1.record_gas("finalizeWithdrawalTransaction", receipt)
        return receipt

    def wait_final(self) -> None:
        """Let the rollup's challenge window and the proof maturity delay pass."""
        self.l1.mine(max(FINALIZATION_PERIOD, PROOF_MATURITY_DELAY) + 1)


@pytest.fixture
def l2(store: ChainStore, genesis_spec: GenesisSpec) -> L2:
    return L2(store, genesis_spec)


@pytest.fixture
def bridge(l1: L1, l2: L2) -> Bridge:
    return Bridge(l1, l2)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Prints the gas used by the portal's main entry points in this session."""
    if not GAS_REPORT:
        return
    terminalreporter.section("OpenLedgerPortal gas used (anvil receipts)")
    for name, values in sorted(GAS_REPORT.items()):
        terminalreporter.write_line(
            f"{name}: min {min(values)}, median {sorted(values)[len(values) // 2]}, max {max(values)}, n={len(values)}"
        )
