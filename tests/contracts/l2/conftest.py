"""Fixtures for the L2 AI-economy contract tests (DatanetRegistry, ModelRegistry,
PayableAI, AttributionStaking, WOPEN, governance): one anvil per session in
automine mode, whose native ETH plays native OPEN, the contracts deployed once
per session, and every test starting from an ``evm_snapshot`` of that state.

Test modules reach everything through the ``l2`` fixture (an ``L2Env``). They
import this file only for type checking: with several ``conftest.py`` files in
the suite, a runtime ``import conftest`` could bind the wrong one.

Time is controlled through anvil, never slept: ``L2Env.at(ts)`` fixes the next
block's timestamp, ``L2Env.mine_at(ts)`` mines an empty block at ``ts`` so that
``eth_call`` (which runs on the latest block) sees that time. Any address can
send transactions (``anvil_autoImpersonateAccount``), so tests create as many
distinct contributors as they need with ``L2Env.fresh_account``.
"""

from __future__ import annotations

import itertools
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth_abi.abi import decode, encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD

from contracts import load_artifact
from tests.anvil import AnvilControl, start_anvil, stop_anvil

OPEN = 10**18
WEIGHT_DENOMINATOR = 1_000_000
BPS = 10_000
ADMIN_ROLE = b"\x00" * 32  # DEFAULT_ADMIN_ROLE

# Deployment parameters of the test system.
PROTOCOL_SHARE_BPS = 500
SETTLEMENT_PERIOD = 3_600
DISPUTE_WINDOW = 86_400
MIN_PROVIDER_STAKE = 100 * OPEN
DISPUTE_BOND = 10 * OPEN
UNBONDING_DELAY = 8 * 86_400
SLASH_BPS = 5_000
DISPUTER_REWARD_BPS = 2_000
VOTING_PERIOD = 3 * 86_400
QUORUM_BPS = 3_334
VOTER_SLASH_BPS = 1_000
MODEL_FEE = 3 * OPEN + 12_345  # not a round number, so rounding shows
MODEL_OWNER_SHARE_BPS = 2_000

# Status enums (uint8 in the ABI).
C_NONE, C_PENDING, C_ACCEPTED, C_REJECTED = range(4)  # DatanetRegistry.ContributionStatus
POLICY_OPEN, POLICY_CURATED = 0, 1
I_NONE, I_REQUESTED, I_SETTLED, I_FINALIZED, I_REFUNDED = range(5)  # PayableAI.Status
D_NONE, D_OPEN, D_UPHELD, D_OVERTURNED = range(4)  # PayableAI.DisputeState
S_NONE, S_OPEN, S_OVERTURNED, S_UPHELD = range(4)  # AttributionStaking.DisputeStatus

QUERY_HASH = keccak(text="query record")  # the query hash settle posts unless a test gives one

# AttributionStaking's constructor Params, in order.
STAKING_PARAMS = (MIN_PROVIDER_STAKE, DISPUTE_BOND, UNBONDING_DELAY, VOTING_PERIOD, QUORUM_BPS, SLASH_BPS,
                  DISPUTER_REWARD_BPS, VOTER_SLASH_BPS)

_CONTENT = itertools.count(1)  # never reset: content hashes stay unique across snapshots



def create_address(sender: str, nonce: int) -> str:
    """Address of the contract that ``sender`` creates with ``nonce`` (CREATE)."""
    return to_checksum_address(keccak(rlp.encode([bytes.fromhex(sender[2:]), nonce]))[12:])


def selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def attribution_hash(model_id: int, query_hash: bytes, contribution_ids: Sequence[int],
                     weights: Sequence[int]) -> bytes:
    """PayableAI's commitment to a split: keccak256(abi.encode(uint256 modelId,
    bytes32 queryHash, uint256[] contributionIds, uint32[] weights)), written out
    here independently of attribution.split so that a test can compare the two."""
    return keccak(encode(["uint256", "bytes32", "uint256[]", "uint32[]"],
                         [model_id, query_hash, list(contribution_ids), list(weights)]))


def expected_split(fee: int, protocol_bps: int, owner_bps: int, weights: Sequence[int]) -> tuple[int, int, list[int]]:
    """The documented split rule: floors, remainder to the model owner."""
    protocol = fee * protocol_bps // BPS
    owner = fee * owner_bps // BPS
    pool = fee - protocol - owner
    parts = [pool * w // WEIGHT_DENOMINATOR for w in weights]
    return protocol, owner + pool - sum(parts), parts


def even_weights(n: int) -> list[int]:
    """n positive weights summing to WEIGHT_DENOMINATOR (the first takes the remainder)."""
    base = WEIGHT_DENOMINATOR // n
    return [WEIGHT_DENOMINATOR - base * (n - 1)] + [base] * (n - 1)


def _revert_bytes(exc: ContractLogicError) -> bytes:
    data: Any = exc.data
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str):
        return bytes.fromhex(data.removeprefix("0x"))
    return bytes(data or b"")


def _normalise(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return value.lower()
    return value


def check_error(data: bytes, abi: Sequence[dict[str, Any]], error: str, args: Sequence[Any] = ()) -> None:
    """``data`` is the revert data of custom error ``error`` of ``abi``; with ``args``, exactly those."""
    entries = [e for e in abi if e.get("type") == "error" and e["name"] == error]
    assert len(entries) == 1, f"{error} is not a (unique) error of the contract"
    types = [i["type"] for i in entries[0]["inputs"]]
    signature = f"{error}({','.join(types)})"
    assert data[:4] == selector(signature), f"expected {signature}, got revert data 0x{data.hex()}"
    if args:
        decoded = decode(types, data[4:])
        assert list(decoded) == [_normalise(a) for a in args], f"{signature}: {decoded} != {tuple(args)}"


def _start_anvil(log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    return start_anvil(log_path, ("--accounts", "12", "--chain-id", "161299", "--balance", "1000000"))


@dataclass
class L2Env(AnvilControl):
    """web3.py on anvil with the AI-economy contracts deployed.

    Accounts: ``admin`` (deployer; DEFAULT_ADMIN_ROLE, as the timelock holds it
    in genesis), ``treasury``, ``provider`` (staked
    MIN_PROVIDER_STAKE), ``model_owner``, ``datanet_owner``, ``curator``,
    ``contributors`` (4), ``requester``, ``disputer``, ``outsider``.

    Fixture data: datanet ``open_datanet`` (open policy) and ``curated_datanet``
    (curated, ``curator`` added), ``foreign_datanet`` (open, not trained on);
    ``model_id`` trained on the first two with MODEL_FEE and MODEL_OWNER_SHARE_BPS;
    ``accepted`` contribution ids (two per contributor pair in each trained
    datanet), ``pending``, ``rejected`` and ``foreign`` ids.
    """

    w3: Web3
    datanets: Contract
    models: Contract
    payable: Contract
    staking: Contract
    admin: str
    treasury: str
    provider: str
    model_owner: str
    datanet_owner: str
    curator: str
    contributors: list[str]
    requester: str
    disputer: str
    outsider: str
    open_datanet: int = 0
    curated_datanet: int = 0
    foreign_datanet: int = 0
    model_id: int = 0
    accepted: list[int] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    rejected: list[int] = field(default_factory=list)
    foreign: list[int] = field(default_factory=list)
    _fresh: int = 0

    # Pure helpers, reachable from test modules through the fixture.
    attribution_hash = staticmethod(attribution_hash)
    expected_split = staticmethod(expected_split)
    even_weights = staticmethod(even_weights)

    # ----------------------------------------------------------- plumbing

    def fresh_account(self, balance: int = 10 * OPEN) -> str:
        """A new funded address that can send transactions (auto-impersonated)."""
        self._fresh += 1
        address = to_checksum_address(keccak(text=f"l2-test-account-{self._fresh}")[12:])
        self.rpc("anvil_setBalance", address, hex(balance))
        return address

    def send(self, call: Any, sender: str, value: int = 0, at: int | None = None, gas: int | None = None) -> Any:
        """Send ``call`` as a transaction (it must succeed); returns the receipt.
        With ``at`` the gas is not estimated (estimation runs at the latest
        block's time, not at ``at``)."""
        params: dict[str, Any] = {"from": sender, "value": value}
        if at is not None:
            self.at(at)
            gas = gas if gas is not None else 10_000_000
        if gas is not None:
            params["gas"] = gas
        receipt = self.w3.eth.wait_for_transaction_receipt(call.transact(params))
        assert receipt["status"] == 1, f"transaction failed: {receipt}"
        return receipt

    def revert_data(self, call: Any, sender: str, value: int = 0) -> bytes:
        """The revert data of ``call`` as an eth_call from ``sender`` on the latest block."""
        try:
            call.call({"from": sender, "value": value})
        except ContractLogicError as exc:
            return _revert_bytes(exc)
        raise AssertionError("call did not revert")

    def assert_reverts(
        self, call: Any, sender: str, error: str, *args: Any, value: int = 0, source: Contract | None = None
    ) -> None:
        """``call`` reverts with custom error ``error`` (a name, looked up in the
        ABI of ``source``, by default the called contract); with ``args``,
        exactly those arguments."""
        contract = source if source is not None else self._contract_of(call)
        check_error(self.revert_data(call, sender, value), contract.abi, error, args)

    def assert_deploy_reverts(self, name: str, error: str, ctor_args: Sequence[Any], *args: Any) -> None:
        """Deploying ``name`` with ``ctor_args`` reverts with custom error ``error`` (and ``args``)."""
        artifact = load_artifact(name)
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        data = factory.constructor(*ctor_args).data_in_transaction
        try:
            self.w3.eth.call({"from": self.admin, "data": data})
        except ContractLogicError as exc:
            check_error(_revert_bytes(exc), artifact.abi, error, args)
            return
        raise AssertionError(f"deploying {name} did not revert")

    def _contract_of(self, call: Any) -> Contract:
        for contract in (self.datanets, self.models, self.payable, self.staking):
            if call.address == contract.address:
                return contract
        raise AssertionError(f"no known contract at {call.address}; pass source=")

    @staticmethod
    def events(receipt: Any, contract: Contract, name: str) -> list[dict[str, Any]]:
        return [dict(log["args"]) for log in contract.events[name]().process_receipt(receipt, errors=DISCARD)]

    def deploy(self, name: str, *args: Any) -> Contract:
        """Deploy contract ``name`` from ``admin``."""
        return deploy(self.w3, name, self.admin, *args)

    def deploy_economy(self, admin: str, treasury: str) -> tuple[Contract, Contract, Contract, Contract]:
        """Another DatanetRegistry, ModelRegistry, PayableAI and AttributionStaking
        with the test parameters, administered by ``admin``."""
        return deploy_economy(self.w3, self.admin, admin, treasury)

    def contract(self, name: str, address: str) -> Contract:
        """A handle on the deployed contract ``name`` at ``address``."""
        return self.w3.eth.contract(address=address, abi=load_artifact(name).abi)  # type: ignore[arg-type]

    def balance(self, account: str) -> int:
        return int(self.w3.eth.get_balance(account))  # type: ignore[arg-type]

    # ------------------------------------------------------------- actions

    def create_datanet(self, owner: str, policy: int = POLICY_OPEN, uri: str = "ipfs://datanet") -> int:
        receipt = self.send(self.datanets.functions.createDatanet(uri, policy), owner)
        return int(self.events(receipt, self.datanets, "DatanetCreated")[0]["datanetId"])

    def contribute(self, contributor: str, datanet_id: int, content: bytes | None = None, uri: str = "ipfs://c") -> int:
        content = content if content is not None else keccak(text=f"content-{next(_CONTENT)}")
        receipt = self.send(self.datanets.functions.contribute(datanet_id, content, uri), contributor)
        return int(self.events(receipt, self.datanets, "ContributionSubmitted")[0]["contributionId"])

    def register_model(self, owner: str, datanet_ids: Sequence[int], fee: int = MODEL_FEE,
                       share_bps: int = MODEL_OWNER_SHARE_BPS) -> int:
        call = self.models.functions.registerModel(keccak(text="weights"), "ipfs://model", list(datanet_ids), fee,
                                                   share_bps)
        receipt = self.send(call, owner)
        return int(self.events(receipt, self.models, "ModelRegistered")[0]["modelId"])

    def request(self, model_id: int | None = None, requester: str | None = None, fee: int | None = None) -> int:
        model_id = self.model_id if model_id is None else model_id
        if fee is None:
            fee = int(self.models.functions.modelTerms(model_id).call()[1])
        receipt = self.send(self.payable.functions.requestInference(model_id, keccak(text="input")),
                            requester or self.requester, value=fee)
        return int(self.events(receipt, self.payable, "InferenceRequested")[0]["inferenceId"])

    def settle(self, inference_id: int, ids: Sequence[int], weights: Sequence[int],
               query: bytes = QUERY_HASH, provider: str | None = None, at: int | None = None) -> Any:
        call = self.payable.functions.settle(inference_id, query, list(ids), list(weights))
        return self.send(call, provider or self.provider, at=at)

    def finalize(self, inference_id: int, ids: Sequence[int], weights: Sequence[int], sender: str | None = None) -> Any:
        return self.send(self.payable.functions.finalize(inference_id, list(ids), list(weights)),
                         sender or self.outsider)

    def inference(self, inference_id: int) -> dict[str, Any]:
        keys = ("requester", "deadline", "status", "disputeState", "modelId", "fee", "protocolShareBps",
                "ownerShareBps", "disputeDeadline", "provider", "queryHash", "attributionHash")
        return dict(zip(keys, self.payable.functions.inference(inference_id).call(), strict=True))

    def past_dispute_window(self, inference_id: int) -> None:
        """Mine a block just after the settlement's dispute window (unless time is already past it)."""
        self.mine_at(max(self.now() + 1, self.inference(inference_id)["disputeDeadline"] + 1))

    def open_dispute(self, inference_id: int, disputer: str | None = None, at: int | None = None,
                     claimed: bytes = b"\xbb" * 32) -> int:
        receipt = self.send(self.staking.functions.dispute(inference_id, claimed), disputer or self.disputer,
                            value=DISPUTE_BOND, at=at)
        return int(self.events(receipt, self.staking, "DisputeOpened")[0]["disputeId"])

    def staked_provider(self, amount: int = MIN_PROVIDER_STAKE) -> str:
        """A new account staking ``amount`` (an active provider when it reaches the minimum)."""
        account = self.fresh_account(amount + 100 * OPEN)
        self.send(self.staking.functions.stake(), account, value=amount)
        return account

    def vote(self, dispute_id: int, voter: str, attribution: bytes) -> Any:
        return self.send(self.staking.functions.vote(dispute_id, attribution), voter)

    def dispute_record(self, dispute_id: int) -> dict[str, Any]:
        keys = ("inferenceId", "modelId", "disputer", "provider", "bond", "status", "votingEndsAt",
                "correctionEndsAt", "settledAttributionHash", "claimedAttributionHash", "decisiveHash",
                "quorumStake", "totalVotes", "leadingHash", "leadingVotes")
        return dict(zip(keys, self.staking.functions.disputeInfo(dispute_id).call(), strict=True))

    def after_vote(self, dispute_id: int) -> None:
        """Mine a block at the end of the dispute's vote (unless time is already past it)."""
        self.mine_at(max(self.now() + 1, self.dispute_record(dispute_id)["votingEndsAt"]))

    def resolve(self, dispute_id: int, query: bytes = b"\x00" * 32, ids: Sequence[int] = (),
                weights: Sequence[int] = (), sender: str | None = None) -> Any:
        call = self.staking.functions.resolve(dispute_id, query, list(ids), list(weights))
        return self.send(call, sender or self.outsider)

    def claimable(self, account: str) -> int:
        return int(self.payable.functions.claimable(account).call())

    def payable_accounted(self) -> int:
        f = self.payable.functions
        return int(f.totalEscrowed().call() + f.totalPending().call() + f.totalClaimable().call())


def deploy(w3: Web3, name: str, sender: str, *args: Any) -> Contract:
    artifact = load_artifact(name)
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = w3.eth.wait_for_transaction_receipt(factory.constructor(*args).transact({"from": sender}))
    assert receipt["status"] == 1, f"deploying {name} failed"
    return w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi)


def deploy_economy(w3: Web3, deployer: str, admin: str, treasury: str) -> tuple[Contract, Contract, Contract, Contract]:
    """DatanetRegistry, ModelRegistry, PayableAI and AttributionStaking wired to
    each other. PayableAI and AttributionStaking take each other's address in
    their constructors (as predeploys at fixed addresses do), so the staking
    address is computed from the deployer's nonce before it exists."""
    datanets = deploy(w3, "DatanetRegistry", deployer)
    models = deploy(w3, "ModelRegistry", deployer, datanets.address)
    nonce = w3.eth.get_transaction_count(deployer)  # type: ignore[arg-type]
    staking_address = create_address(deployer, nonce + 1)
    payable = deploy(w3, "PayableAI", deployer, admin, datanets.address, models.address, staking_address, treasury,
                     PROTOCOL_SHARE_BPS, SETTLEMENT_PERIOD, DISPUTE_WINDOW)
    staking = deploy(w3, "AttributionStaking", deployer, admin, payable.address, STAKING_PARAMS)
    assert staking.address == staking_address
    return datanets, models, payable, staking


def build_env(w3: Web3) -> L2Env:
    accounts = list(w3.eth.accounts)
    (admin, treasury, provider, model_owner, datanet_owner, curator, c1, c2, c3, c4, requester,
     disputer) = accounts[:12]
    datanets, models, payable, staking = deploy_economy(w3, admin, admin, treasury)
    env = L2Env(w3, datanets, models, payable, staking, admin, treasury, provider, model_owner, datanet_owner,
                curator, [c1, c2, c3, c4], requester, disputer, outsider="")
    env.rpc("anvil_autoImpersonateAccount", True)
    env.outsider = env.fresh_account(1_000 * OPEN)
    env.send(staking.functions.stake(), provider, value=MIN_PROVIDER_STAKE)

    env.open_datanet = env.create_datanet(datanet_owner, POLICY_OPEN)
    env.curated_datanet = env.create_datanet(datanet_owner, POLICY_CURATED)
    env.foreign_datanet = env.create_datanet(datanet_owner, POLICY_OPEN)
    env.send(datanets.functions.addCurator(env.curated_datanet, curator), datanet_owner)
    env.model_id = env.register_model(model_owner, [env.open_datanet, env.curated_datanet])

    for contributor in env.contributors:
        env.accepted.append(env.contribute(contributor, env.open_datanet))
    for contributor in env.contributors[:2]:
        cid = env.contribute(contributor, env.curated_datanet)
        env.send(datanets.functions.acceptContribution(cid), curator)
        env.accepted.append(cid)
    env.pending.append(env.contribute(env.contributors[2], env.curated_datanet))
    rejected = env.contribute(env.contributors[3], env.curated_datanet)
    env.send(datanets.functions.rejectContribution(rejected), datanet_owner)
    env.rejected.append(rejected)
    for contributor in env.contributors[:2]:
        env.foreign.append(env.contribute(contributor, env.foreign_datanet))
    return env


@pytest.fixture(scope="session")
def l2_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    process, url = _start_anvil(tmp_path_factory.mktemp("l2-anvil") / "anvil.log")
    try:
        yield url
    finally:
        stop_anvil(process)


@pytest.fixture(scope="session")
def l2_deployed(l2_url: str) -> L2Env:
    w3 = Web3(Web3.HTTPProvider(l2_url, request_kwargs={"timeout": 60}))
    return build_env(w3)


@pytest.fixture()
def l2(l2_deployed: L2Env) -> Iterator[L2Env]:
    """The deployed system; every change a test makes is undone afterwards."""
    snapshot = l2_deployed.snapshot()
    fresh = l2_deployed._fresh
    try:
        yield l2_deployed
    finally:
        l2_deployed.revert(snapshot)
        l2_deployed._fresh = fresh
