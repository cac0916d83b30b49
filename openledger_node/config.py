"""Typed node configuration: one section per subsystem, loaded from TOML.

Values come from a TOML file and can be overridden by environment variables
named `OPENLEDGER__<SECTION>__<FIELD>` (for example
`OPENLEDGER__SEQUENCER__BLOCK_TIME=1`); a list field takes comma-separated
values (`OPENLEDGER__RPC__CORS_ORIGINS=https://a.example,https://b.example`).
Validation errors name the bad field.

The devnet config and genesis files ship inside this package
(`openledger_node/configs/`, package data), so the CLI finds them from any
directory; the repository's `configs/` links to them.
Private keys never live in a committed file: they come from the environment or
an encrypted keystore.
"""

from __future__ import annotations

import json
import os
import tomllib
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from openledger_node.exceptions import ConfigError
from openledger_node.primitives import SEQUENCER_FEE_VAULT_ADDRESS

ENV_PREFIX = "OPENLEDGER__"
PACKAGED_CONFIGS = Path(__file__).resolve().parent / "configs"
DEFAULT_GENESIS = Path("configs/genesis-devnet.json")


def packaged_config(name: str) -> Path:
    """A config or genesis file shipped with the package (`devnet.toml`,
    `genesis-devnet.json`, `l1-genesis-devnet.json`)."""
    return PACKAGED_CONFIGS / name


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChainConfig(Section):
    chain_id: int = Field(161299, gt=0, description="EIP-155 chain id")
    network: Literal["dev", "testnet", "mainnet"] = Field(
        "dev", description="dev enables the test-mnemonic accounts and dev-only RPC"
    )
    genesis: Path = Field(DEFAULT_GENESIS, description="genesis file (configs/<name>: also looked for in the package)")
    gas_limit: int = Field(30_000_000, ge=5_000_000, le=1_000_000_000)
    block_time: float = Field(2.0, gt=0, le=60, description="seconds between blocks")
    base_fee_max_change_denominator: int = Field(8, ge=1)
    elasticity_multiplier: int = Field(2, ge=1)
    min_base_fee: int = Field(0, ge=0, description="floor of the base fee, wei")
    max_sequencer_drift: int = Field(
        600, ge=1, description="seconds an L2 block's time may run past its L1 origin's while L1 has no next block"
    )


class StorageConfig(Section):
    data_dir: Path = Field(Path("data/devnet"), description="LevelDB data directory")
    sync_writes: bool = Field(
        False, description="fsync every block write (survives power loss, slower)"
    )


class TxPoolConfig(Section):
    price_limit: int = Field(1, ge=0, description="minimum fee cap (wei) to enter the pool")
    price_bump: int = Field(10, ge=1, le=1000, description="replacement bump, percent")
    account_slots: int = Field(16, ge=1, description="pending slots per sender")
    global_slots: int = Field(5120, ge=1, description="pending slots in all")
    account_queue: int = Field(64, ge=1, description="queued (nonce-gap) slots per sender")
    global_queue: int = Field(1024, ge=1, description="queued slots in all")
    max_tx_size: int = Field(128 * 1024, ge=1024, description="bytes")
    journal: bool = Field(True, description="journal accepted transactions to disk")


class SequencerConfig(Section):
    enabled: bool = True
    mode: Literal["interval", "instant"] = Field(
        "interval", description="interval: a block every block_time; instant: on arrival"
    )
    build_time_fraction: float = Field(
        0.7, gt=0, le=1,
        description="share of block_time a block may spend taking transactions; the rest wait for the next "
        "(the build starts this long, plus its sealing time, before the block is due)",
    )
    fee_recipient: str = Field(
        "0x" + SEQUENCER_FEE_VAULT_ADDRESS.hex(),
        description="coinbase of every block, which receives priority fees; a chain rule: "
        "every node of the chain must use the same value",
    )

    @field_validator("fee_recipient")
    @classmethod
    def _check_address(cls, value: str) -> str:
        if not (value.startswith("0x") and len(value) == 42):
            raise ValueError("must be a 0x-prefixed 20-byte hex address")
        try:
            bytes.fromhex(value[2:])
        except ValueError as exc:
            raise ValueError("must be a 0x-prefixed 20-byte hex address") from exc
        return value


class RpcConfig(Section):
    enabled: bool = True
    host: str = Field("127.0.0.1", description="bind address; 0.0.0.0 exposes the node")
    port: int = Field(8545, ge=0, le=65535, description="HTTP and WebSocket port (0: any free port)")
    cors_origins: tuple[str, ...] = Field(
        (), description="browser origins allowed to read HTTP answers, or ('*',); unset: '*' on a dev network, "
        "none on others"
    )
    max_body_bytes: int = Field(5 * 1024 * 1024, ge=1024)
    max_batch: int = Field(1000, ge=1)
    max_ws_message_bytes: int = Field(5 * 1024 * 1024, ge=1024)
    max_subscriptions: int = Field(128, ge=1, description="subscriptions per WebSocket connection")
    logs_max_block_range: int = Field(10_000, ge=1, description="eth_getLogs blocks per query")
    logs_max_results: int = Field(10_000, ge=1, description="eth_getLogs logs per query")
    gas_cap: int = Field(50_000_000, ge=21_000, description="gas limit of eth_call and eth_estimateGas")
    evm_timeout: float = Field(
        5.0, gt=0, le=600, description="seconds an eth_call, eth_estimateGas or eth_createAccessList may run"
    )
    max_response_bytes: int = Field(
        25 * 1024 * 1024, ge=1024, description="largest answer to one request or one batch"
    )
    max_connections: int = Field(1000, ge=1, description="open HTTP and WebSocket connections")
    read_timeout: float = Field(30.0, gt=0, description="seconds for a request's headers and body to arrive")
    idle_timeout: float = Field(120.0, gt=0, description="seconds a keep-alive connection may sit idle")
    vhosts: tuple[str, ...] = Field(
        ("localhost",), description="Host header names accepted (IP addresses always are); '*' for any"
    )
    ws_origins: tuple[str, ...] = Field(
        (), description="browser origins allowed to open a WebSocket; empty: localhost only; '*' for any"
    )
    max_ws_backlog_bytes: int = Field(
        4 * 1024 * 1024, ge=64 * 1024, description="unsent notifications per WebSocket before it is dropped"
    )
    max_ws_backlog_total_bytes: int = Field(
        64 * 1024 * 1024, ge=64 * 1024,
        description="unsent notifications of all WebSockets together; the one that would pass it is dropped",
    )
    max_filters: int = Field(10_000, ge=1, description="polling filters installed at once")
    filter_pending_buffer: int = Field(
        65_536, ge=16, description="new pool transaction hashes kept for all pending-transaction filters together"
    )
    dev_methods: bool = Field(True, description="evm_* helpers; only ever on a dev network")


class L1Config(Section):
    rpc_url: str | None = Field(None, description="L1 JSON-RPC endpoint; unset: no L1 (dev only)")
    deployment: Path | None = Field(
        None, description="deployment file written by `openledger-node deploy-l1` (contract addresses)"
    )
    confirmations: int = Field(0, ge=0, le=1000, description="L1 blocks an L1 block needs on top to be used")
    poll_interval: float = Field(1.0, gt=0, le=60, description="seconds between L1 polls")
    timeout: float = Field(10.0, gt=0, le=300, description="seconds an L1 request may take")


class BatcherConfig(Section):
    """The batcher's key never comes from this file: from the environment
    variable `key_env` names, or from an encrypted keystore file."""

    enabled: bool = Field(True, description="post batches when an L1 is configured")
    key_env: str = Field("OPENLEDGER_BATCHER_KEY", description="environment variable holding the key (hex)")
    keystore: Path | None = Field(None, description="encrypted keystore file (geth's format)")
    keystore_password_env: str = Field(
        "OPENLEDGER_BATCHER_PASSWORD", description="environment variable holding the keystore's password"
    )
    max_batch_bytes: int = Field(100_000, ge=1_000, le=120_000, description="largest batch (one L1 transaction)")
    max_age: float = Field(60.0, gt=0, description="seconds before a batch closes however small")
    confirmations: int = Field(1, ge=0, le=1000, description="L1 confirmations a batch needs before it is safe")
    resubmission_timeout: float = Field(48.0, gt=0, description="seconds before a stuck transaction is re-sent")
    fee_cap_gwei: int = Field(1000, gt=0, description="highest L1 fee cap the batcher pays, gwei")


class ValidatorConfig(Section):
    """With a key (from the environment variable `key_env` names, or an
    encrypted keystore; never this file) the validator challenges outputs it
    computes differently, votes and resolves; without one it only watches."""

    sequencer_rpc: str | None = Field(
        None, description="the sequencer's JSON-RPC URL: eth_sendRawTransaction is forwarded there"
    )
    key_env: str = Field("OPENLEDGER_VALIDATOR_KEY", description="environment variable holding the key (hex)")
    keystore: Path | None = Field(None, description="encrypted keystore file (geth's format)")
    keystore_password_env: str = Field(
        "OPENLEDGER_VALIDATOR_PASSWORD", description="environment variable holding the keystore's password"
    )
    confirmations: int = Field(1, ge=0, le=1000, description="L1 confirmations of a challenge, vote or resolve")


class LogConfig(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    json_format: bool = Field(False, description="one JSON object per line")


class NodeConfig(Section):
    chain: ChainConfig = ChainConfig()
    storage: StorageConfig = StorageConfig()
    txpool: TxPoolConfig = TxPoolConfig()
    sequencer: SequencerConfig = SequencerConfig()
    rpc: RpcConfig = RpcConfig()
    l1: L1Config = L1Config()
    batcher: BatcherConfig = BatcherConfig()
    validator: ValidatorConfig = ValidatorConfig()
    log: LogConfig = LogConfig()

    @model_validator(mode="before")
    @classmethod
    def _dev_cors(cls, data: Any) -> Any:
        """A dev network lets any browser origin read its answers unless told
        otherwise, as anvil does; other networks none (geth's default)."""
        if not isinstance(data, dict):
            return data
        chain = data.get("chain", {})
        network = chain.network if isinstance(chain, ChainConfig) else (chain or {}).get("network", "dev")
        rpc = data.get("rpc", {})
        if network != "dev":
            return data
        if isinstance(rpc, RpcConfig):
            if "cors_origins" not in rpc.model_fields_set:
                data = {**data, "rpc": rpc.model_copy(update={"cors_origins": ("*",)})}
        elif isinstance(rpc, dict) and "cors_origins" not in rpc:
            data = {**data, "rpc": {**rpc, "cors_origins": ("*",)}}
        return data


def _apply_env(data: dict[str, Any], environ: dict[str, str]) -> dict[str, Any]:
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        path = [part.lower() for part in key[len(ENV_PREFIX):].split("__") if part]
        if len(path) != 2:
            raise ConfigError(
                f"environment variable {key}: expected {ENV_PREFIX}<SECTION>__<FIELD>"
            )
        section, field = path
        data.setdefault(section, {})
        if not isinstance(data[section], dict):
            raise ConfigError(f"environment variable {key}: {section} is not a section")
        data[section][field] = _env_value(section, field, value)
    return data


def is_list_field(annotation: Any) -> bool:
    """Whether a field holds a list (a tuple or list, optional or not)."""
    origin = get_origin(annotation)
    if origin in (tuple, list):
        return True
    if origin in (Union, types.UnionType):
        return any(is_list_field(arg) for arg in get_args(annotation) if arg is not type(None))
    return False


def _env_value(section: str, field: str, value: str) -> Any:
    """A list field takes comma-separated values from the environment (an empty
    value: the empty list), or a JSON array."""
    section_info = NodeConfig.model_fields.get(section)
    model = section_info.annotation if section_info is not None else None
    fields = getattr(model, "model_fields", {})
    info = fields.get(field)
    if info is not None and is_list_field(info.annotation):
        if value.strip().startswith("["):  # a JSON array, as docker-compose files often write lists
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"environment variable {ENV_PREFIX}{section.upper()}__{field.upper()}: "
                                  f"not a JSON array nor comma-separated values: {exc}") from None
            return tuple(parsed) if isinstance(parsed, list) else parsed
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        lines.append(f"{where}: {err['msg']} (got {err.get('input')!r})")
    return "; ".join(lines)


def load_config(
    path: Path | None = None,
    environ: dict[str, str] | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
) -> NodeConfig:
    """Load and validate a config. A relative genesis path that does not exist
    relative to the working directory resolves against the config file's
    directory's parent (`configs/...` beside a config in `configs/`), then, for
    `configs/<name>`, to the file of that name shipped with the package: the
    devnet works from any directory and from an installed copy."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text())
        except FileNotFoundError as exc:
            raise ConfigError(f"config file not found: {path}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: invalid TOML: {exc}") from exc
    data = _apply_env(data, dict(os.environ if environ is None else environ))
    for section, fields in (overrides or {}).items():
        data.setdefault(section, {}).update(fields)
    try:
        config = NodeConfig.model_validate(data)
    except ValidationError as exc:
        where = f"config {path}" if path else "config"
        raise ConfigError(f"{where}: {_describe(exc)}") from exc
    genesis = _resolve_genesis(config.chain.genesis, path)
    if genesis != config.chain.genesis:
        config = config.model_copy(update={"chain": config.chain.model_copy(update={"genesis": genesis})})
    return config


def _resolve_genesis(genesis: Path, config_path: Path | None) -> Path:
    if genesis.is_absolute() or genesis.exists():
        return genesis
    candidates = []
    if config_path is not None:
        candidates.append(Path(config_path).resolve().parent.parent / genesis)
    if genesis.parent == Path("configs"):
        candidates.append(packaged_config(genesis.name))
    for candidate in candidates:
        if candidate.exists():
            return candidate
    return genesis
