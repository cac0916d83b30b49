"""The `openledger-node` command line, run as a real process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "node.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_init_then_sequencer_produces_blocks(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    init = cli("init", "--config", "configs/devnet.toml", "--data-dir", data)
    assert init.returncode == 0, init.stderr
    assert "wrote genesis 0x" in init.stdout
    again = cli("init", "--config", "configs/devnet.toml", "--data-dir", data)
    assert again.returncode == 0 and "already holds genesis" in again.stdout
    run = cli("sequencer", "--config", "configs/devnet.toml", "--data-dir", data,
              "--block-time", "0.1", "--stop-after-blocks", "3")
    assert run.returncode == 0, run.stderr
    assert "sequencer running: chain id 161299" in run.stdout
    assert "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266" in run.stdout  # dev accounts printed
    assert "sealed block number=3" in run.stderr
    assert "excepthook" not in run.stderr
    # Restart continues from the stored head.
    rerun = cli("sequencer", "--config", "configs/devnet.toml", "--data-dir", data,
                "--block-time", "0.1", "--stop-after-blocks", "5")
    assert rerun.returncode == 0, rerun.stderr
    last = max(int(n) for n in re.findall(r"sealed block number=(\d+)", run.stderr))
    assert f"head {last}," in rerun.stdout


def test_bad_config_field_exits_with_named_error(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[chain]\nblock_time = 'fast'\n")
    result = cli("sequencer", "--config", str(config), "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 2
    assert "chain.block_time" in result.stderr
    assert "Traceback" not in result.stderr


def test_env_override_bad_value_is_named(tmp_path: Path) -> None:
    result = cli("init", "--config", "configs/devnet.toml", "--data-dir", str(tmp_path / "d"),
                 env={"OPENLEDGER__TXPOOL__PRICE_BUMP": "-3"})
    assert result.returncode == 2 and "txpool.price_bump" in result.stderr


def test_init_with_other_genesis_fails(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    assert cli("init", "--config", "configs/devnet.toml", "--data-dir", data).returncode == 0
    genesis = tmp_path / "g.json"
    genesis.write_text((REPO / "configs" / "genesis-devnet.json").read_text().replace('"timestamp": "0x0"', '"timestamp": "0x5"'))
    result = cli("init", "--config", "configs/devnet.toml", "--data-dir", data,
                 env={"OPENLEDGER__CHAIN__GENESIS": str(genesis)})
    assert result.returncode == 2
    assert "holds genesis" in result.stderr and "fresh data directory" in result.stderr


def test_accounts_prints_keys() -> None:
    result = cli("accounts")
    assert result.returncode == 0
    assert "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80" in result.stdout


def test_data_dir_under_a_regular_file_is_a_one_line_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    run = cli("sequencer", "--config", "configs/devnet.toml", "--data-dir", str(blocker / "data"))
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        f"openledger-node sequencer: error: cannot create data directory {blocker / 'data'}: Not a directory"
    ]


def test_zero_block_time_is_refused_not_ignored(tmp_path: Path) -> None:
    run = cli("sequencer", "--config", "configs/devnet.toml", "--data-dir", str(tmp_path / "data"),
              "--block-time", "0", "--stop-after-blocks", "1")
    assert run.returncode == 2
    assert "chain.block_time: Input should be greater than 0" in run.stderr
    assert "Traceback" not in run.stderr


def test_list_settings_come_from_the_environment(tmp_path: Path) -> None:
    run = cli("sequencer", "--config", "configs/devnet.toml", "--data-dir", str(tmp_path / "data"),
              "--rpc-port", "0", "--block-time", "0.1", "--stop-after-blocks", "1",
              env={"OPENLEDGER__RPC__CORS_ORIGINS": "*", "OPENLEDGER__RPC__VHOSTS": "localhost, node.example"})
    assert run.returncode == 0, run.stderr


def test_validator_without_an_l1_is_a_one_line_error(tmp_path: Path) -> None:
    run = cli("validator", "--config", "configs/devnet.toml", "--data-dir", str(tmp_path / "v"), "--rpc-port", "0")
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "openledger-node validator: error: l1.rpc_url and l1.deployment: "
        "a validator derives the chain from L1 and needs both"
    ]
