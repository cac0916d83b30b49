"""Genesis: the file format, the dev accounts, and building block 0.

A genesis file (JSON, in `configs/`) names the chain id, the gas limit, the
initial base fee, the L1 block the chain starts from, the allocations, and the
recipients of the fee vaults. The predeploys are not listed in the file: they are
placed at their fixed addresses by running each contract's creation code (with
its constructor arguments) directly at that address, so constructors and
immutables work as on any chain. Nor are the OP Stack preinstalls (Multicall3,
the CREATE2 deployers, Safe, Permit2, ERC-4337; `preinstalls.py`): they are
placed as the canonical runtime code, with nonce 1.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth.constants import BLANK_ROOT_HASH, CREATE_CONTRACT_ADDRESS, EMPTY_UNCLE_HASH
from eth.vm.chain_context import ChainContext
from eth.vm.forks.prague.blocks import PragueBlockHeader
from eth.vm.message import Message
from eth_abi.abi import encode as abi_encode
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from contracts import load_artifact
from openledger_node.exceptions import ConfigError, UnsafeDevAccounts
from openledger_node.execution.block import EMPTY_REQUESTS_HASH
from openledger_node.execution.preinstalls import l2_preinstalls
from openledger_node.execution.types import L1Origin
from openledger_node.execution.vm import OpenLedgerVM
from openledger_node.primitives import (
    ATTRIBUTION_STAKING_ADDRESS,
    BASE_FEE_VAULT_ADDRESS,
    DATANET_REGISTRY_ADDRESS,
    GOVERNANCE_TIMELOCK_ADDRESS,
    GOVERNOR_ADDRESS,
    L1_BLOCK_ADDRESS,
    L2_TO_L1_MESSAGE_PASSER_ADDRESS,
    MODEL_REGISTRY_ADDRESS,
    PAYABLE_AI_ADDRESS,
    SEQUENCER_FEE_VAULT_ADDRESS,
    TOTAL_SUPPLY,
    WOPEN_ADDRESS,
    ZERO_ADDRESS,
    ZERO_HASH,
    Address,
    BlockNumber,
    Hash32,
    addr,
)
from openledger_node.storage.leveldb import OverlayDB

DEV_MNEMONIC = "test test test test test test test test test test test junk"
# The first ten accounts of DEV_MNEMONIC (m/44'/60'/0'/0/i): the ones anvil and
# Hardhat fund. Their keys are public, so only a dev network may fund them.
DEV_ACCOUNTS: tuple[Address, ...] = tuple(
    addr(a)
    for a in (
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
        "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
        "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
        "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
        "0x976EA74026E726554dB657fA54763abd0C3a0aa9",
        "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955",
        "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f",
        "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720",
    )
)


def dev_private_keys() -> list[bytes]:
    """The private keys of DEV_ACCOUNTS, derived from the public test mnemonic."""
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    return [
        bytes(Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}").key)
        for i in range(len(DEV_ACCOUNTS))
    ]


def _int(value: int | str) -> int:
    if isinstance(value, int):
        return value
    return int(value, 16) if value.startswith(("0x", "0X")) else int(value)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class AllocSpec(_Spec):
    balance: int = 0
    nonce: int = 0
    code: str = "0x"
    storage: dict[str, str] = {}

    @field_validator("balance", "nonce", mode="before")
    @classmethod
    def _number(cls, value: Any) -> int:
        return _int(value)


class L1OriginSpec(_Spec):
    number: int = 0
    timestamp: int = 0
    base_fee: int = Field(1_000_000_000, alias="baseFee")
    hash: str = "0x" + "00" * 32

    @field_validator("number", "timestamp", "base_fee", mode="before")
    @classmethod
    def _number(cls, value: Any) -> int:
        return _int(value)


class FeeVaultSpec(_Spec):
    recipient: str
    min_withdrawal: int = Field(0, alias="minWithdrawal")

    @field_validator("min_withdrawal", mode="before")
    @classmethod
    def _number(cls, value: Any) -> int:
        return _int(value)


class AiEconomySpec(_Spec):
    """Constructor parameters of the AI-economy predeploys (PayableAI, AttributionStaking)."""

    admin: str = Field("timelock", description="'timelock' (governance) or an address")
    treasury: str = "0x" + GOVERNANCE_TIMELOCK_ADDRESS.hex()
    protocol_share_bps: int = Field(500, alias="protocolShareBps")
    settlement_period: int = Field(3600, alias="settlementPeriod")
    dispute_window: int = Field(3600, alias="disputeWindow")
    min_provider_stake: int = Field(1_000 * 10**18, alias="minProviderStake")
    dispute_bond: int = Field(10 * 10**18, alias="disputeBond")
    provider_unbonding_delay: int = Field(8 * 24 * 3600, alias="providerUnbondingDelay")
    slash_bps: int = Field(5_000, alias="slashBps")
    disputer_reward_bps: int = Field(2_000, alias="disputerRewardBps")
    # The stake-weighted dispute vote: its length (also the time then left to
    # prove a winning hash), the share of active stake that must vote, and what a
    # losing voter forfeits of the stake it voted with.
    dispute_voting_period: int = Field(3600, alias="disputeVotingPeriod")
    dispute_quorum_bps: int = Field(3_334, alias="disputeQuorumBps")
    voter_slash_bps: int = Field(1_000, alias="voterSlashBps")

    @field_validator("min_provider_stake", "dispute_bond", mode="before")
    @classmethod
    def _number(cls, value: Any) -> int:
        return _int(value)

    def admin_address(self) -> str:
        return "0x" + GOVERNANCE_TIMELOCK_ADDRESS.hex() if self.admin == "timelock" else self.admin


class GovernanceSpec(_Spec):
    """The L2 governor over WOPEN and its timelock (times in seconds: WOPEN's clock is time)."""

    timelock_delay: int = Field(2 * 24 * 3600, alias="timelockDelay")
    voting_delay: int = Field(24 * 3600, alias="votingDelay")
    voting_period: int = Field(5 * 24 * 3600, alias="votingPeriod")
    proposal_threshold: int = Field(0, alias="proposalThreshold")
    quorum_percent: int = Field(4, alias="quorumPercent", ge=0, le=100)


class GenesisSpec(_Spec):
    chain_id: int = Field(alias="chainId", gt=0)
    timestamp: int = 0
    gas_limit: int = Field(30_000_000, alias="gasLimit")
    base_fee: int = Field(1_000_000_000, alias="baseFeePerGas")
    extra_data: str = Field("0x", alias="extraData")
    l1: L1OriginSpec = L1OriginSpec()
    base_fee_vault: FeeVaultSpec = Field(alias="baseFeeVault")
    sequencer_fee_vault: FeeVaultSpec = Field(alias="sequencerFeeVault")
    ai: AiEconomySpec = AiEconomySpec()
    governance: GovernanceSpec = GovernanceSpec()
    alloc: dict[str, AllocSpec] = {}

    @field_validator("timestamp", "gas_limit", "base_fee", mode="before")
    @classmethod
    def _number(cls, value: Any) -> int:
        return _int(value)

    @property
    def l1_origin(self) -> L1Origin:
        return L1Origin(
            self.l1.number, self.l1.timestamp, self.l1.base_fee, Hash32(bytes.fromhex(self.l1.hash[2:]))
        )

    def allocations(self) -> dict[Address, AllocSpec]:
        return {addr(a): spec for a, spec in self.alloc.items()}


def load_genesis(path: Path) -> GenesisSpec:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"genesis file not found: {path}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"genesis file {path}: invalid JSON: {exc}") from exc
    try:
        spec = GenesisSpec.model_validate(data)
        spec.allocations()
    except ValidationError as exc:
        errors = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"genesis file {path}: {errors}") from exc
    except ValueError as exc:
        raise ConfigError(f"genesis file {path}: alloc: {exc}") from exc
    allocations = spec.allocations()
    for preinstall in l2_preinstalls(spec.chain_id):
        alloc = allocations.get(preinstall.address)
        if alloc is not None and (alloc.code not in ("", "0x") or alloc.nonce or alloc.storage):
            raise ConfigError(
                f"genesis file {path}: alloc: 0x{preinstall.address.hex()} is the {preinstall.name} preinstall, "
                "placed with its canonical code; the alloc may give it a balance only"
            )
    total = sum(a.balance for a in spec.alloc.values())
    if total > TOTAL_SUPPLY:
        raise ConfigError(
            f"genesis file {path}: alloc: {total} wei allocated exceeds the OPEN supply {TOTAL_SUPPLY}"
        )
    return spec


def anchor_genesis(template: Path, origin: L1Origin, out: Path) -> Path:
    """Write `template` with its L1 origin set to `origin` and its time to the
    origin's: the genesis of a rollup that starts from that L1 block (the block
    of the L1 deployment, so that no deposit before it counts)."""
    try:
        data = json.loads(Path(template).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"genesis template {template}: {exc}") from exc
    data["timestamp"] = hex(origin.timestamp)
    data["l1"] = {
        "number": origin.number, "timestamp": origin.timestamp, "baseFee": origin.base_fee,
        "hash": "0x" + bytes(origin.hash).hex(),
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n")
    load_genesis(out)  # the result must load: say so now rather than at start
    return out


def check_dev_accounts(spec: GenesisSpec, network: str) -> None:
    """Refuse a non-dev network that funds the publicly known test-mnemonic keys."""
    if network == "dev":
        return
    funded = [a for a in DEV_ACCOUNTS if a in spec.allocations()]
    if funded:
        listed = ", ".join("0x" + a.hex() for a in funded)
        raise UnsafeDevAccounts(
            f"network '{network}' funds accounts of the public test mnemonic ({listed}); "
            "their private keys are known to everyone. Remove them from the genesis alloc "
            "or run with network = \"dev\""
        )


@dataclass(frozen=True)
class Predeploy:
    name: str
    address: Address
    constructor_types: tuple[str, ...] = ()
    constructor_args: tuple[Any, ...] = field(default=())


def predeploys(spec: GenesisSpec) -> tuple[Predeploy, ...]:
    return (
        Predeploy("L1Block", L1_BLOCK_ADDRESS),
        Predeploy("L2ToL1MessagePasser", L2_TO_L1_MESSAGE_PASSER_ADDRESS),
        Predeploy(
            "BaseFeeVault",
            BASE_FEE_VAULT_ADDRESS,
            ("address", "uint256"),
            (spec.base_fee_vault.recipient, spec.base_fee_vault.min_withdrawal),
        ),
        Predeploy(
            "SequencerFeeVault",
            SEQUENCER_FEE_VAULT_ADDRESS,
            ("address", "uint256"),
            (spec.sequencer_fee_vault.recipient, spec.sequencer_fee_vault.min_withdrawal),
        ),
        *ai_predeploys(spec.ai, spec.governance),
    )


def hexa(address: bytes) -> str:
    return "0x" + address.hex()


def ai_predeploys(ai: AiEconomySpec, gov: GovernanceSpec) -> tuple[Predeploy, ...]:
    """The AI economy and its governance. Their addresses are fixed, so contracts that
    refer to each other (PayableAI and AttributionStaking) take each other's address."""
    admin = ai.admin_address()
    return (
        Predeploy("DatanetRegistry", DATANET_REGISTRY_ADDRESS),
        Predeploy("ModelRegistry", MODEL_REGISTRY_ADDRESS, ("address",), (hexa(DATANET_REGISTRY_ADDRESS),)),
        Predeploy(
            "PayableAI",
            PAYABLE_AI_ADDRESS,
            ("address", "address", "address", "address", "address", "uint16", "uint32", "uint32"),
            (admin, hexa(DATANET_REGISTRY_ADDRESS), hexa(MODEL_REGISTRY_ADDRESS),
             hexa(ATTRIBUTION_STAKING_ADDRESS), ai.treasury, ai.protocol_share_bps, ai.settlement_period,
             ai.dispute_window),
        ),
        Predeploy(
            "AttributionStaking",
            ATTRIBUTION_STAKING_ADDRESS,
            ("address", "address", "(uint256,uint256,uint64,uint64,uint16,uint16,uint16,uint16)"),
            (admin, hexa(PAYABLE_AI_ADDRESS),
             (ai.min_provider_stake, ai.dispute_bond, ai.provider_unbonding_delay, ai.dispute_voting_period,
              ai.dispute_quorum_bps, ai.slash_bps, ai.disputer_reward_bps, ai.voter_slash_bps)),
        ),
        Predeploy("WOPEN", WOPEN_ADDRESS),
        Predeploy(
            "OpenLedgerTimelock",
            GOVERNANCE_TIMELOCK_ADDRESS,
            ("uint256", "address[]", "address[]", "address"),
            # The governor proposes; anyone executes a passed, delayed proposal; no admin.
            (gov.timelock_delay, [hexa(GOVERNOR_ADDRESS)], [hexa(ZERO_ADDRESS)], hexa(ZERO_ADDRESS)),
        ),
        Predeploy(
            "OpenLedgerGovernor",
            GOVERNOR_ADDRESS,
            ("address", "address", "uint48", "uint32", "uint256", "uint256"),
            (hexa(WOPEN_ADDRESS), hexa(GOVERNANCE_TIMELOCK_ADDRESS), gov.voting_delay, gov.voting_period,
             gov.proposal_threshold, gov.quorum_percent),
        ),
    )


def _genesis_header(spec: GenesisSpec, state_root: Hash32) -> PragueBlockHeader:
    return PragueBlockHeader(
        parent_hash=ZERO_HASH,
        uncles_hash=EMPTY_UNCLE_HASH,
        coinbase=ZERO_ADDRESS,
        state_root=state_root,
        transaction_root=BLANK_ROOT_HASH,
        receipt_root=BLANK_ROOT_HASH,
        bloom=0,
        difficulty=0,
        block_number=BlockNumber(0),
        gas_limit=spec.gas_limit,
        gas_used=0,
        timestamp=spec.timestamp,
        extra_data=bytes.fromhex(spec.extra_data[2:]),
        mix_hash=spec.l1_origin.hash,
        nonce=b"\x00" * 8,
        base_fee_per_gas=spec.base_fee,
        withdrawals_root=BLANK_ROOT_HASH,
        blob_gas_used=0,
        excess_blob_gas=0,
        parent_beacon_block_root=ZERO_HASH,
        requests_hash=EMPTY_REQUESTS_HASH,
    )


def build_genesis(spec: GenesisSpec, db: OverlayDB) -> PragueBlockHeader:
    """Write the genesis state into `db` and return the genesis header."""
    header = _genesis_header(spec, BLANK_ROOT_HASH)
    state = OpenLedgerVM.build_state(db, header, ChainContext(spec.chain_id), ())
    for address, alloc in spec.allocations().items():
        state.set_balance(address, alloc.balance)
        state.set_nonce(address, alloc.nonce)
        if alloc.code not in ("", "0x"):
            state.set_code(address, bytes.fromhex(alloc.code[2:]))
        for slot, value in alloc.storage.items():
            state.set_storage(address, _int(slot), _int(value))
    for preinstall in l2_preinstalls(spec.chain_id):
        state.set_code(preinstall.address, preinstall.code)
        state.set_nonce(preinstall.address, preinstall.nonce)
    for predeploy in predeploys(spec):
        _place(state, predeploy)
    state.persist()
    return _genesis_header(spec, state.state_root)


def _place(state: Any, predeploy: Predeploy) -> None:
    artifact = load_artifact(predeploy.name)
    init_code = artifact.bytecode + abi_encode(
        list(predeploy.constructor_types), list(predeploy.constructor_args)
    )
    message = Message(
        gas=30_000_000,
        to=CREATE_CONTRACT_ADDRESS,
        sender=ZERO_ADDRESS,
        value=0,
        data=b"",
        code=init_code,
        create_address=predeploy.address,
    )
    context = state.get_transaction_context_class()(gas_price=0, origin=ZERO_ADDRESS)
    computation = state.computation_class.apply_create_message(state, message, context)
    if computation.is_error:
        raise ConfigError(
            f"genesis: constructor of predeploy {predeploy.name} at 0x{predeploy.address.hex()} "
            f"failed: {computation.error!r}"
        )
