"""A geth-format genesis file: its fork schedule, and block 0 built from it.

The file is what `geth init` reads: a `config` object (chain id and fork
activations), the genesis header's fields (`gasLimit`, `baseFeePerGas`,
`difficulty`, `timestamp`, `extraData`, `mixHash`, `coinbase`, `nonce`) and
`alloc` (balance, nonce, code and storage of each account). Numbers may be JSON
numbers, decimal strings or 0x-hex strings, as geth accepts them. Block 0 is
built as geth builds it, so a chain exported by geth from the same file has the
same genesis hash here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth.abc import AtomicDatabaseAPI, BlockHeaderAPI
from eth.constants import BLANK_ROOT_HASH
from eth.vm.chain_context import ChainContext
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from openledger_node.exceptions import ConfigError
from openledger_node.execution.l1.forks import ForkSchedule
from openledger_node.execution.l1.headers import header_for_fork
from openledger_node.primitives import ZERO_ADDRESS, ZERO_HASH, Address, BlockNumber, Hash32

# geth's defaults for a genesis field the file leaves out (params.GenesisGasLimit,
# params.InitialBaseFee).
GETH_GENESIS_GAS_LIMIT = 4_712_388
INITIAL_BASE_FEE = 1_000_000_000

# The block-number forks a post-merge-from-genesis chain has at block 0.
REQUIRED_BLOCK_FORKS = (
    "homesteadBlock",
    "eip150Block",
    "eip155Block",
    "eip158Block",
    "byzantiumBlock",
    "constantinopleBlock",
    "petersburgBlock",
    "istanbulBlock",
    "berlinBlock",
    "londonBlock",
)
# Forks that only move the difficulty bomb, and the DAO fork: meaningless after the merge.
IGNORED_FORKS = ("daoForkBlock", "muirGlacierBlock", "arrowGlacierBlock", "grayGlacierBlock")
TIME_FORKS = ("shanghaiTime", "cancunTime", "pragueTime")


def quantity(value: Any) -> int:
    """A number as geth's genesis writes it: JSON number, decimal or 0x-hex string."""
    if isinstance(value, bool):
        raise ValueError("expected a number, not a boolean")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("must not be negative")
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            number = int(text, 16) if text.lower().startswith("0x") else int(text)
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
        if number < 0:
            raise ValueError("must not be negative")
        return number
    raise ValueError(f"expected a number, got {type(value).__name__}")


def hex_bytes(value: Any, length: int | None = None) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"expected a hex string, got {type(value).__name__}")
    text = value[2:] if value.lower().startswith("0x") else value
    if len(text) % 2:
        text = "0" + text
    try:
        data = bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"{value!r} is not hex") from None
    if length is not None:
        if len(data) > length:
            raise ValueError(f"{value!r} is longer than {length} bytes")
        data = data.rjust(length, b"\x00")
    return data


class _Spec(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class GethAlloc(_Spec):
    balance: int = 0
    nonce: int = 0
    code: bytes = b""
    storage: dict[int, int] = {}
    secret_key: str | None = Field(None, alias="secretKey")  # geth's test field; not used

    @field_validator("balance", "nonce", mode="before")
    @classmethod
    def _number(cls, value: Any) -> int:
        return quantity(value)

    @field_validator("code", mode="before")
    @classmethod
    def _code(cls, value: Any) -> bytes:
        return hex_bytes(value)

    @field_validator("storage", mode="before")
    @classmethod
    def _storage(cls, value: Any) -> dict[int, int]:
        if not isinstance(value, dict):
            raise ValueError("expected an object of slot: value")
        return {
            int.from_bytes(hex_bytes(k, 32), "big"): int.from_bytes(hex_bytes(v, 32), "big")
            for k, v in value.items()
        }


class GethConfig(BaseModel):
    """geth's ChainConfig; keys this node does not use (clique, ethash,
    blobSchedule, depositContractAddress, ...) are allowed and ignored."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    chain_id: int = Field(alias="chainId", gt=0)
    terminal_total_difficulty: int | None = Field(None, alias="terminalTotalDifficulty")
    merge_netsplit_block: int | None = Field(None, alias="mergeNetsplitBlock")
    shanghai_time: int | None = Field(None, alias="shanghaiTime")
    cancun_time: int | None = Field(None, alias="cancunTime")
    prague_time: int | None = Field(None, alias="pragueTime")

    @field_validator(
        "chain_id", "terminal_total_difficulty", "merge_netsplit_block", "shanghai_time", "cancun_time",
        "prague_time", mode="before",
    )
    @classmethod
    def _number(cls, value: Any) -> int | None:
        return None if value is None else quantity(value)


class GethGenesis(_Spec):
    config: GethConfig
    nonce: int = 0
    timestamp: int = 0
    extra_data: bytes = Field(b"", alias="extraData")
    gas_limit: int = Field(GETH_GENESIS_GAS_LIMIT, alias="gasLimit")
    difficulty: int = 0
    mix_hash: bytes = Field(bytes(ZERO_HASH), alias="mixHash")
    coinbase: bytes = Field(bytes(ZERO_ADDRESS))
    alloc: dict[bytes, GethAlloc] = {}
    number: int = 0
    gas_used: int = Field(0, alias="gasUsed")
    parent_hash: bytes = Field(bytes(ZERO_HASH), alias="parentHash")
    base_fee: int = Field(INITIAL_BASE_FEE, alias="baseFeePerGas")
    excess_blob_gas: int = Field(0, alias="excessBlobGas")
    blob_gas_used: int = Field(0, alias="blobGasUsed")

    @field_validator(
        "nonce", "timestamp", "gas_limit", "difficulty", "number", "gas_used", "base_fee", "excess_blob_gas",
        "blob_gas_used", mode="before",
    )
    @classmethod
    def _number(cls, value: Any) -> int:
        return quantity(value)

    @field_validator("extra_data", mode="before")
    @classmethod
    def _extra(cls, value: Any) -> bytes:
        return hex_bytes(value)

    @field_validator("mix_hash", "parent_hash", mode="before")
    @classmethod
    def _hash(cls, value: Any) -> bytes:
        return hex_bytes(value, 32)

    @field_validator("coinbase", mode="before")
    @classmethod
    def _address(cls, value: Any) -> bytes:
        return hex_bytes(value, 20)

    @field_validator("alloc", mode="before")
    @classmethod
    def _alloc(cls, value: Any) -> dict[bytes, Any]:
        if not isinstance(value, dict):
            raise ValueError("expected an object of address: account")
        out: dict[bytes, Any] = {}
        for key, account in value.items():
            address = hex_bytes(key)
            if len(address) != 20:
                raise ValueError(f"{key!r} is not a 20-byte address")
            out[address] = account
        return out


@dataclass(frozen=True)
class L1Genesis:
    """A parsed genesis file: the fork schedule and what block 0 holds."""

    schedule: ForkSchedule
    spec: GethGenesis
    path: Path | None = None

    @property
    def chain_id(self) -> int:
        return self.schedule.chain_id

    @property
    def gas_limit(self) -> int:
        return self.spec.gas_limit

    def allocations(self) -> dict[Address, GethAlloc]:
        return {Address(a): spec for a, spec in self.spec.alloc.items()}


def _fail(path: Path | str, field: str, message: str) -> ConfigError:
    return ConfigError(f"genesis file {path}: {field}: {message}")


def fork_schedule(config: GethConfig, path: Path | str = "<genesis>") -> ForkSchedule:
    """The schedule a genesis `config` sets, refusing what this node cannot run:
    proof-of-work blocks and forks py-evm does not have."""
    extra = config.model_extra or {}
    for key in REQUIRED_BLOCK_FORKS:
        value = extra.get(key)
        if value is None:
            raise _fail(path, f"config.{key}", "must be 0: this node runs chains that are post-merge from genesis")
        try:
            block = quantity(value)
        except ValueError as exc:
            raise _fail(path, f"config.{key}", str(exc)) from None
        if block != 0:
            raise _fail(
                path, f"config.{key}", f"is {block}; must be 0: this node runs chains that are post-merge "
                "from genesis (no proof-of-work blocks)",
            )
    for key, value in extra.items():
        if key.endswith(("Block", "Time")) and key not in REQUIRED_BLOCK_FORKS + IGNORED_FORKS and value is not None:
            raise _fail(path, f"config.{key}", "fork not supported: py-evm runs forks up to Prague")
    merged = config.terminal_total_difficulty == 0 or config.merge_netsplit_block == 0
    if not merged:
        raise _fail(
            path, "config.terminalTotalDifficulty",
            "must be 0 (or mergeNetsplitBlock 0): this node runs chains that are post-merge from genesis",
        )
    times = list(zip(TIME_FORKS, (config.shanghai_time, config.cancun_time, config.prague_time)))
    for (before, before_start), (key, start) in zip(times, times[1:]):
        if start is not None and (before_start is None or start < before_start):
            when = "unset" if before_start is None else f"at {before_start}"
            raise _fail(path, f"config.{key}", f"is {start} but {before} is {when}; forks activate in order")
    return ForkSchedule(config.chain_id, config.shanghai_time, config.cancun_time, config.prague_time)


def parse_genesis(data: Any, path: Path | str = "<genesis>") -> L1Genesis:
    try:
        spec = GethGenesis.model_validate(data)
    except ValidationError as exc:
        errors = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"genesis file {path}: {errors}") from None
    if spec.number != 0:
        raise _fail(path, "number", "a genesis block is block 0")
    schedule = fork_schedule(spec.config, path)
    if spec.difficulty != 0:
        raise _fail(path, "difficulty", "must be 0 on a chain that is post-merge from genesis")
    if len(spec.extra_data) > 32:
        raise _fail(path, "extraData", f"{len(spec.extra_data)} bytes; at most 32")
    return L1Genesis(schedule, spec, Path(path) if not isinstance(path, Path) else path)


def load_l1_genesis(path: Path) -> L1Genesis:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"genesis file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"genesis file {path}: invalid JSON: {exc}") from None
    return parse_genesis(data, path)


def genesis_header(genesis: L1Genesis, state_root: bytes) -> BlockHeaderAPI:
    spec = genesis.spec
    fork = genesis.schedule.fork_at(spec.timestamp)
    return header_for_fork(
        fork,
        parent_hash=Hash32(spec.parent_hash),
        coinbase=Address(spec.coinbase),
        state_root=Hash32(state_root),
        difficulty=spec.difficulty,
        block_number=BlockNumber(0),
        gas_limit=spec.gas_limit,
        gas_used=spec.gas_used,
        timestamp=spec.timestamp,
        extra_data=spec.extra_data,
        mix_hash=Hash32(spec.mix_hash),
        nonce=spec.nonce.to_bytes(8, "big"),
        base_fee_per_gas=spec.base_fee,
        blob_gas_used=spec.blob_gas_used,
        excess_blob_gas=spec.excess_blob_gas,
    )


def build_l1_genesis(genesis: L1Genesis, db: AtomicDatabaseAPI) -> BlockHeaderAPI:
    """Write the genesis state into `db` and return the genesis header."""
    header = genesis_header(genesis, BLANK_ROOT_HASH)
    fork = genesis.schedule.fork_at(header.timestamp)
    state = fork.vm_class.build_state(db, header, ChainContext(genesis.chain_id), ())
    for address, account in genesis.allocations().items():
        state.set_balance(address, account.balance)
        state.set_nonce(address, account.nonce)
        if account.code:
            state.set_code(address, account.code)
        for slot, value in account.storage.items():
            state.set_storage(address, slot, value)
    state.persist()
    return genesis_header(genesis, state.state_root)
