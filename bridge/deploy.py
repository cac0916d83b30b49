"""Deploys the L1 contracts (OpenToken, OpenLedgerRollup, OpenLedgerPortal) to any
Ethereum JSON-RPC endpoint with web3.py, and reads and writes the deployment
file (addresses and the L1 block they start at) that the node's `[l1]` config
section points to.

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

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from contracts import load_artifact
from openledger_node.exceptions import ConfigError, OpenLedgerError

OPEN = 10**18
DAY = 24 * 3600


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
    """Sends the deployment transactions from one key and waits for each receipt."""

    def __init__(self, w3: Web3, account: LocalAccount, timeout: float = 120) -> None:
        self.w3 = w3
        self.account = account
        self.timeout = timeout
        self.chain_id = int(w3.eth.chain_id)
        self.last_block = 0

    def _send(self, tx: dict[str, Any], what: str) -> Any:
        tx.setdefault("from", self.account.address)
        tx["nonce"] = self.w3.eth.get_transaction_count(self.account.address, "pending")
        tx["chainId"] = self.chain_id
        if "gas" not in tx:
            tx["gas"] = int(self.w3.eth.estimate_gas(tx) * 12 // 10)  # type: ignore[arg-type]
        base_fee = int(self.w3.eth.get_block("latest")["baseFeePerGas"])
        tip = int(self.w3.eth.max_priority_fee)
        tx["maxPriorityFeePerGas"] = tip
        tx["maxFeePerGas"] = 2 * base_fee + tip
        signed = self.account.sign_transaction(tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self.timeout)
        if receipt["status"] != 1:
            raise DeploymentError(f"{what} failed in L1 transaction {tx_hash.hex()}")
        self.last_block = int(receipt["blockNumber"])
        return receipt

    def deploy(self, name: str, *args: Any) -> str:
        """Deploy `name` with constructor `args`; a dict argument fills a struct
        parameter by component name."""
        artifact = load_artifact(name)
        constructor = next(item for item in artifact.abi if item.get("type") == "constructor")
        args = tuple(
            _struct(spec, arg) if isinstance(arg, dict) else arg
            for spec, arg in zip(constructor["inputs"], args, strict=True)
        )
        contract = self.w3.eth.contract(abi=list(artifact.abi), bytecode=artifact.bytecode)
        tx = contract.constructor(*args).build_transaction({"from": self.account.address, "nonce": 0, "gas": 0})
        receipt = self._send({"data": tx["data"]}, f"deploying {name}")
        return str(receipt["contractAddress"])

    def transact(self, name: str, address: str, function: str, *args: Any) -> Any:
        contract = self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=list(load_artifact(name).abi))
        tx = getattr(contract.functions, function)(*args).build_transaction(
            {"from": self.account.address, "nonce": 0, "gas": 0}
        )
        return self._send({"to": tx["to"], "data": tx["data"]}, f"{name}.{function}")


def _struct(spec: dict[str, Any], values: dict[str, Any]) -> tuple[Any, ...]:
    names = [component["name"] for component in spec["components"]]
    missing = set(names) - set(values)
    extra = set(values) - set(names)
    if missing or extra:
        raise DeploymentError(
            f"constructor struct {spec['name']}: missing {sorted(missing)}, unknown {sorted(extra)}"
        )
    return tuple(values[name] for name in names)


def deploy_l1(w3: Web3, deployer_key: bytes | str, config: DeployConfig) -> L1Deployment:
    """Deploy OpenToken, OpenLedgerRollup and OpenLedgerPortal, in that order."""
    account: LocalAccount = Account.from_key(deployer_key)
    deployer = Deployer(w3, account)
    checksum = Web3.to_checksum_address
    token = deployer.deploy("OpenToken", checksum(config.token_holder))
    rollup_config = {"sequencer": checksum(config.sequencer), "treasury": checksum(config.treasury),
                     **asdict(config.rollup)}
    rollup = deployer.deploy("OpenLedgerRollup", token, checksum(config.admin), rollup_config)
    portal = deployer.deploy("OpenLedgerPortal", token, rollup, checksum(config.admin), asdict(config.portal))
    return L1Deployment(
        chain_id=deployer.chain_id,
        open_token=token,
        rollup=rollup,
        portal=portal,
        deployed_at_block=deployer.last_block,  # no portal event exists before it
        deployer=account.address,
    )
