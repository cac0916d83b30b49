"""Typed config: sections, defaults, env overrides, errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from openledger_node.config import load_config
from openledger_node.exceptions import ConfigError
from tests.conftest import REPO


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "node.toml"
    path.write_text(text)
    return path


def test_devnet_config_loads() -> None:
    config = load_config(REPO / "configs" / "devnet.toml", environ={})
    assert config.chain.chain_id == 161299
    assert config.chain.block_time == 2.0
    assert config.chain.gas_limit == 30_000_000
    assert config.sequencer.mode == "interval"
    assert config.chain.genesis.exists()


def test_env_overrides_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[chain]\nblock_time = 2.0\n")
    config = load_config(path, environ={"OPENLEDGER__CHAIN__BLOCK_TIME": "0.5", "OPENLEDGER__SEQUENCER__MODE": "instant"})
    assert config.chain.block_time == 0.5
    assert config.sequencer.mode == "instant"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("[chain]\nblock_time = -1\n", "chain.block_time"),
        ("[chain]\ngas_limit = 'lots'\n", "chain.gas_limit"),
        ("[chain]\nchain_idd = 5\n", "chain.chain_idd"),
        ("[txpool]\nprice_bump = 0\n", "txpool.price_bump"),
        ("[sequencer]\nmode = 'sometimes'\n", "sequencer.mode"),
        ("[sequencer]\nfee_recipient = '0x1234'\n", "sequencer.fee_recipient"),
        ("[sequencer]\nbuild_time_fraction = 0\n", "sequencer.build_time_fraction"),
        ("[sequencer]\nbuild_time_fraction = 1.5\n", "sequencer.build_time_fraction"),
        ("[sequencer]\nbuild_time_fraction = 'most'\n", "sequencer.build_time_fraction"),
        ("[nonsense]\nx = 1\n", "nonsense"),
        ("[rpc]\nport = 70000\n", "rpc.port"),
        ("[rpc]\nmax_batch = 0\n", "rpc.max_batch"),
        ("[rpc]\ngas_cap = 100\n", "rpc.gas_cap"),
        ("[rpc]\ncors_origins = 'everyone'\n", "rpc.cors_origins"),
        ("[l1]\nrpc_url = 5\n", "l1.rpc_url"),
    ],
)
def test_bad_field_is_named(tmp_path: Path, text: str, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), environ={})
    assert field in str(info.value)


def test_bad_env_value_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="chain.block_time"):
        load_config(write(tmp_path, ""), environ={"OPENLEDGER__CHAIN__BLOCK_TIME": "soon"})


def test_malformed_env_name_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="OPENLEDGER__CHAIN"):
        load_config(write(tmp_path, ""), environ={"OPENLEDGER__CHAIN": "1"})


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(write(tmp_path, "[chain\n"), environ={})
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml", environ={})
