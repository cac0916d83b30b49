"""Fixtures for the L1 contract tests (OpenToken, OpenLedgerRollup): one anvil per
session in automine mode, the contracts deployed once per module, and every test
starting from an ``evm_snapshot`` of that deployment.

Time is controlled through anvil, never slept: ``L1Env.at(ts)`` fixes the next
block's timestamp, ``L1Env.mine_at(ts)`` mines an empty block at ``ts`` so that
``eth_call`` (which runs on the latest block) sees that time.

Test modules reach everything through the ``l1`` fixture; the deploy helpers
(``deploy_open_token``, ``deploy_rollup``) and ``RollupConfig`` are plain
functions so other suites can deploy the same contracts on their own chain.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import astuple, dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD

from contracts import load_artifact
from tests.anvil import AnvilControl, start_anvil, stop_anvil

OPEN = 10**18
TOKEN_SUPPLY = 1_000_000_000 * OPEN
ACCOUNT_FUNDS = 100_000 * OPEN
ADMIN_ROLE = b"\x00" * 32  # DEFAULT_ADMIN_ROLE
MAX_UINT = 2**256 - 1



@dataclass(frozen=True)
class RollupConfig:
    """OpenLedgerRollup.Config, in the struct's field order. The defaults are the
    short test values; ``production()`` gives the recommended mainnet values."""

    sequencer: str
    treasury: str
    min_sequencer_bond: int = 1_000 * OPEN
    min_validator_stake: int = 100 * OPEN
    challenge_bond: int = 10 * OPEN
    unbonding_delay: int = 1_800
    challenge_window: int = 3_600
    voting_period: int = 600
    quorum_bps: int = 3_334
    slash_fraction_bps: int = 5_000
    challenger_reward_factor_bps: int = 20_000

    @classmethod
    def production(cls, sequencer: str, treasury: str) -> RollupConfig:
        return cls(
            sequencer=sequencer,
            treasury=treasury,
            min_sequencer_bond=100_000 * OPEN,
            min_validator_stake=10_000 * OPEN,
            challenge_bond=1_000 * OPEN,
            unbonding_delay=7 * 86_400,
            challenge_window=7 * 86_400,
            voting_period=3 * 86_400,
            quorum_bps=3_334,
            slash_fraction_bps=5_000,
            challenger_reward_factor_bps=20_000,
        )

    def as_tuple(self) -> tuple[Any, ...]:
        return astuple(self)


def deploy_contract(w3: Web3, name: str, sender: str, *args: Any) -> Contract:
    artifact = load_artifact(name)
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = w3.eth.wait_for_transaction_receipt(factory.constructor(*args).transact({"from": sender}))
    assert receipt["status"] == 1, f"deploying {name} failed"
    return cast(Contract, w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi))


def deploy_open_token(w3: Web3, sender: str, holder: str) -> Contract:
    """OpenToken with the whole supply minted to ``holder``."""
    return deploy_contract(w3, "OpenToken", sender, holder)


def deploy_rollup(w3: Web3, sender: str, token: str, admin: str, config: RollupConfig) -> Contract:
    return deploy_contract(w3, "OpenLedgerRollup", sender, token, admin, config.as_tuple())


def selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def error_data(signature: str, *args: Any) -> bytes:
    """Revert data of custom error ``signature`` (e.g. ``"ZeroAmount()"``) with ``args``."""
    inner = signature[signature.index("(") + 1 : signature.rindex(")")]
    types = [t for t in inner.split(",") if t]
    return selector(signature) + (encode(types, list(args)) if types else b"")


def revert_bytes(exc: ContractLogicError) -> bytes:
    data: Any = exc.data
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str):
        return bytes.fromhex(data.removeprefix("0x"))
    return bytes(data or b"")


def _start_anvil(log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    return start_anvil(log_path, ("--accounts", "12", "--chain-id", "31337"))


@dataclass
class L1Env(AnvilControl):
    """web3.py on anvil with OpenToken and OpenLedgerRollup deployed.

    Accounts: ``admin`` (deployer, token holder, rollup admin), ``sequencer``
    (bonded with min_sequencer_bond), ``treasury``, ``validators`` (staked
    ``stakes``), ``outsiders`` (funded, not staked). Every account holds
    ACCOUNT_FUNDS OPEN and has approved the rollup for everything.
    """

    w3: Web3
    token: Contract
    rollup: Contract
    config: RollupConfig
    admin: str
    sequencer: str
    treasury: str
    validators: list[str]
    outsiders: list[str]
    stakes: list[int]
    keys: dict[str, bytes] = field(default_factory=dict)

    # ----------------------------------------------------------- plumbing

    def send(self, call: Any, sender: str, at: int | None = None, gas: int | None = None) -> Any:
        """Send ``call`` as a transaction (it must succeed); returns the receipt.
        With ``at`` or ``gas`` there is no gas estimation (which would run on the
        latest block, at an earlier time)."""
        tx: dict[str, Any] = {"from": sender}
        if at is not None:
            self.at(at)
            gas = gas or 10_000_000
        if gas is not None:
            tx["gas"] = gas
        receipt = self.w3.eth.wait_for_transaction_receipt(call.transact(tx))
        assert receipt["status"] == 1, f"transaction failed: {receipt}"
        return receipt

    def revert_data(self, call: Any, sender: str) -> bytes:
        """The revert data of ``call`` as an eth_call from ``sender`` on the latest block."""
        try:
            if hasattr(call, "call"):
                call.call({"from": sender})
            else:  # a constructor: estimating the deployment runs the creation code
                call.estimate_gas({"from": sender})
        except ContractLogicError as exc:
            return revert_bytes(exc)
        raise AssertionError("call did not revert")

    def assert_reverts(self, call: Any, sender: str, signature: str, *args: Any) -> None:
        """``call`` reverts with custom error ``signature``; with ``args``, exactly that data."""
        data = self.revert_data(call, sender)
        assert data[:4] == selector(signature), f"expected {signature}, got revert data 0x{data.hex()}"
        if args or "()" in signature:
            assert data == error_data(signature, *args), f"expected {signature}{args}, got 0x{data.hex()}"

    def events(self, receipt: Any, name: str, contract: Contract | None = None) -> list[dict[str, Any]]:
        source = contract if contract is not None else self.rollup
        return [dict(log["args"]) for log in source.events[name]().process_receipt(receipt, errors=DISCARD)]

    def balance(self, account: str) -> int:
        return int(self.token.functions.balanceOf(account).call())

    # ------------------------------------------------------------ rollup

    @property
    def fn(self) -> Any:
        return self.rollup.functions

    def next_index(self) -> int:
        return int(self.fn.nextBatchIndex().call())

    def next_first_block(self) -> int:
        index = self.next_index()
        return 1 if index == 0 else int(self.fn.getBatch(index - 1).call()[3]) + 1

    def submit(self, root: bytes | None = None, blocks: int = 10, data: bytes = b"batch", at: int | None = None) -> Any:
        """Submit the next batch of ``blocks`` L2 blocks as the sequencer."""
        index = self.next_index()
        first = self.next_first_block()
        root = root if root is not None else keccak(text=f"output {index} {first}")
        return self.send(self.fn.submitBatch(index, first, first + blocks - 1, root, data), self.sequencer, at=at)

    def batch(self, index: int) -> dict[str, Any]:
        keys = ("outputRoot", "dataHash", "firstBlock", "lastBlock", "timestamp", "challengeDeadline",
                "proposer", "nonce")
        return dict(zip(keys, self.fn.getBatch(index).call(), strict=True))

    def challenge_record(self, challenge_id: int) -> dict[str, Any]:
        keys = ("challenger", "votingEndsAt", "status", "outputIndex", "outputNonce", "outputRoot", "claimedRoot",
                "bond", "quorumStake", "totalVotes", "votesForOutput")
        return dict(zip(keys, self.fn.getChallenge(challenge_id).call(), strict=True))

    def validator(self, account: str) -> dict[str, Any]:
        keys = ("active", "unbonding", "unbondingReadyAt", "lockedUntil")
        return dict(zip(keys, self.fn.getValidator(account).call(), strict=True))

    def open_challenge(self, challenger: str, index: int, claimed: bytes = b"\xee" * 32) -> int:
        receipt = self.send(self.fn.challenge(index, claimed), challenger)
        return int(self.events(receipt, "ChallengeOpened")[0]["challengeId"])

    def held(self) -> int:
        return self.balance(self.rollup.address)

    def accounted(self) -> int:
        """What the rollup's counters say it holds."""
        f = self.fn
        return int(f.totalSequencerBonds().call() + f.totalActiveStake().call() + f.totalUnbonding().call()
                   + f.totalChallengeBonds().call())


# Challenge statuses (OpenLedgerRollup.ChallengeStatus).
NONE, OPEN_STATUS, SUCCEEDED, FAILED, CANCELLED = range(5)


@pytest.fixture(scope="session")
def l1_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    process, url = _start_anvil(tmp_path_factory.mktemp("l1-anvil") / "anvil.log")
    try:
        yield url
    finally:
        stop_anvil(process)


def build_env(w3: Web3, config_changes: dict[str, Any] | None = None,
              stakes: tuple[int, ...] = (400 * OPEN, 300 * OPEN, 200 * OPEN, 100 * OPEN)) -> L1Env:
    """Deploy OpenToken and OpenLedgerRollup and set up the accounts (see L1Env)."""
    accounts: list[str] = [str(a) for a in w3.eth.accounts]
    admin, sequencer, treasury = accounts[0], accounts[1], accounts[2]
    validators = accounts[3 : 3 + len(stakes)]
    outsiders = accounts[3 + len(stakes) :]
    token = deploy_open_token(w3, admin, admin)
    config = replace(RollupConfig(sequencer=sequencer, treasury=treasury), **(config_changes or {}))
    rollup = deploy_rollup(w3, admin, token.address, admin, config)
    env = L1Env(w3, token, rollup, config, admin, sequencer, treasury, validators, outsiders, list(stakes))
    for account in [sequencer, *validators, *outsiders]:
        env.send(token.functions.transfer(account, ACCOUNT_FUNDS), admin)
    for account in [admin, sequencer, *validators, *outsiders]:
        env.send(token.functions.approve(rollup.address, MAX_UINT), account)
    env.send(rollup.functions.depositSequencerBond(config.min_sequencer_bond), sequencer)
    for validator, amount in zip(validators, stakes, strict=True):
        env.send(rollup.functions.stake(amount), validator)
    return env


@contextmanager
def deployment(url: str, config_changes: dict[str, Any] | None = None) -> Iterator[L1Env]:
    """build_env on the anvil at ``url``, undone (evm_revert) on exit."""
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))
    before = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    try:
        yield build_env(w3, config_changes)
    finally:
        w3.provider.make_request("evm_revert", [before])  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def l1_deployed(l1_url: str) -> Iterator[L1Env]:
    """The module's deployment (a module may override this fixture to change the config)."""
    with deployment(l1_url) as env:
        yield env


@pytest.fixture
def l1(l1_deployed: L1Env) -> Iterator[L1Env]:
    """The module's deployment, reverted to its initial state after the test."""
    snapshot = l1_deployed.snapshot()
    try:
        yield l1_deployed
    finally:
        l1_deployed.revert(snapshot)
