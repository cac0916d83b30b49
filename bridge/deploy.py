"""Deploys the L1 contracts (OpenToken, OpenLedgerRollup, OpenLedgerPortal) to any
Ethereum JSON-RPC endpoint through the one L1 transaction manager
(`bridge.txmgr`), with calldata from the contract bindings (`bridge.bindings`),
and reads and writes the deployment file (addresses and the L1 block they start
at) that the node's `[l1]` config section points to.

    openledger-node deploy-l1 --l1-rpc http://127.0.0.1:8545 --out deployments/devnet-l1.json

The deployer key comes from the environment (`OPENLEDGER_DEPLOYER_KEY`), never
from a file in the repository; `--dev` uses the first test-mnemonic key, for an
anvil or dev L1 only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from web3 import HTTPProvider, Web3

from bridge.bindings import AbiError, binding
from bridge.errors import TxReverted
from bridge.l1 import L1Client, Receipt
from bridge.txmgr import TxCandidate, TxManager, TxManagerConfig
from openledger_node.exceptions import ConfigError, OpenLedgerError
from openledger_node.primitives import addr

OPEN = 10**18
DAY = 24 * 3600

# One deployment transaction at a time, each waited for; a dev L1 mines in seconds.
DEPLOY_TXMGR = TxManagerConfig(receipt_poll_interval=0.2, send_timeout=120.0)


class DeploymentError(OpenLedgerError):
    """A contract deployment or set-up transaction failed on L1."""


@dataclass(frozen=True)
class RollupParams:
    """OpenLedgerRollup's constructor Config (field names as in Solidity)."""

    minSequencerBond: int = 1_000 * OPEN
    minValidatorStake: int = 1_000 * OPEN
    challengeBond: int = 100 * OPEN
    unbondingDelay: int = 7 * DAY
    challengeWindow: int = 7 * DAY
    votingPeriod: int = 2 * DAY
    quorumBps: int = 3_000
    slashFractionBps: int = 5_000
    challengerRewardFactorBps: int = 20_000


@dataclass(frozen=True)
class PortalParams:
    """OpenLedgerPortal's constructor Params (field names as in Solidity)."""

    maxDepositGasPerBlock: int = 20_000_000
    maxDepositDataSize: int = 120_000
    proofMaturityDelay: int = 7 * DAY


@dataclass(frozen=True)
class DeployConfig:
    sequencer: str
    admin: str  # holder of the contracts' admin role (a timelock in production)
    treasury: str
    token_holder: str  # receives the 1,000,000,000 OPEN minted at deployment
    rollup: RollupParams = field(default_factory=RollupParams)
    portal: PortalParams = field(default_factory=PortalParams)


@dataclass(frozen=True)
class L1Deployment:
    chain_id: int
    open_token: str
    rollup: str
    portal: str
    deployed_at_block: int  # the L1 block the derivation starts from
    deployer: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"


def write_deployment(path: Path, deployment: L1Deployment) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(deployment.to_json())
    tmp.replace(path)


def load_deployment(path: Path) -> L1Deployment:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"l1.deployment: file not found: {path}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"l1.deployment: {path} is not valid JSON: {exc}") from exc
    try:
        deployment = L1Deployment(**data)
    except TypeError as exc:
        raise ConfigError(f"l1.deployment: {path}: {exc}") from exc
    for name in ("open_token", "rollup", "portal", "deployer"):
        if not Web3.is_address(getattr(deployment, name)):
            raise ConfigError(f"l1.deployment: {path}: {name} is not an address")
    return deployment


class Deployer:
    """Sends the deployment transactions, one after the other, through the L1
    transaction manager."""

    def __init__(self, txmgr: TxManager) -> None:
        self.txmgr = txmgr
        self.last_block = 0

    def _send(self, candidate: TxCandidate, what: str) -> Receipt:
        try:
            receipt = self.txmgr.send(candidate)
        except TxReverted as exc:
            raise DeploymentError(f"{what} failed in L1 transaction 0x{exc.tx_hash.hex()}") from exc
        self.last_block = receipt.block_number
        return receipt

    def deploy(self, name: str, *args: Any) -> str:
        """Deploy `name` with constructor `args` (a dict fills a struct parameter by
        component name); returns its checksummed address."""
        try:
            data = binding(name).encode_deploy(*args)
        except AbiError as exc:
            raise DeploymentError(f"deploying {name}: {exc}") from exc
        receipt = self._send(TxCandidate(to=None, data=data), f"deploying {name}")
        if receipt.contract_address is None:
            raise DeploymentError(f"deploying {name}: receipt 0x{receipt.transaction_hash.hex()} has no address")
        return Web3.to_checksum_address(receipt.contract_address)

    def transact(self, name: str, address: str, function: str, *args: Any) -> Receipt:
        data = binding(name).encode(function, *args)
        return self._send(TxCandidate(to=addr(Web3.to_checksum_address(address)), data=data), f"{name}.{function}")


def l1_client(l1: L1Client | Web3) -> L1Client:
    """The L1 client of `l1`; a `Web3` over HTTP gives its endpoint and timeout."""
    if isinstance(l1, L1Client):
        return l1
    provider = l1.provider
    if not isinstance(provider, HTTPProvider) or provider.endpoint_uri is None:
        raise ConfigError(f"deploy-l1: the L1 must be an HTTP JSON-RPC endpoint, got {provider}")
    timeout = dict(provider.get_request_kwargs()).get("timeout", 10.0)
    return L1Client(str(provider.endpoint_uri), timeout=float(timeout))


def deploy_l1(
    l1: L1Client | Web3, deployer_key: bytes | str, config: DeployConfig, txmgr_config: TxManagerConfig | None = None
) -> L1Deployment:
    """Deploy OpenToken, OpenLedgerRollup and OpenLedgerPortal, in that order."""
    client = l1_client(l1)
    txmgr = TxManager(client, deployer_key, txmgr_config or DEPLOY_TXMGR)
    deployer = Deployer(txmgr)
    checksum = Web3.to_checksum_address
    token = deployer.deploy("OpenToken", checksum(config.token_holder))
    rollup_config = {"sequencer": checksum(config.sequencer), "treasury": checksum(config.treasury),
                     **asdict(config.rollup)}
    rollup = deployer.deploy("OpenLedgerRollup", token, checksum(config.admin), rollup_config)
    portal = deployer.deploy("OpenLedgerPortal", token, rollup, checksum(config.admin), asdict(config.portal))
    return L1Deployment(
        chain_id=client.chain_id(),
        open_token=token,
        rollup=rollup,
        portal=portal,
        deployed_at_block=deployer.last_block,  # no portal event exists before it
        deployer=checksum(txmgr.address),
    )
