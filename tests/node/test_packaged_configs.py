"""The devnet config and genesis files ship inside the package: the CLI starts
from any directory with no options, and the repository's configs/ are the same
files (links), not copies that could drift."""

from __future__ import annotations

import fnmatch
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from openledger_node.config import PACKAGED_CONFIGS, load_config, packaged_config
from tests.conftest import REPO
from tests.rpc.helpers import NodeProcess, node_env

SHIPPED = ("devnet.toml", "genesis-devnet.json", "l1-genesis-devnet.json")


def _cli() -> list[str]:
    script = Path(sys.executable).parent / "openledger-node"
    return [str(script)] if script.exists() else [sys.executable, "-m", "node.cli"]


def test_the_repository_configs_are_the_packaged_files() -> None:
    assert sorted(p.name for p in PACKAGED_CONFIGS.iterdir()) == sorted(SHIPPED)
    for name in SHIPPED:
        assert (REPO / "configs" / name).read_bytes() == packaged_config(name).read_bytes(), name


def test_package_data_declares_every_shipped_file() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["openledger_node"]
    for name in SHIPPED:
        assert any(fnmatch.fnmatch(f"configs/{name}", pattern) for pattern in patterns), (name, patterns)


def test_a_config_without_a_file_finds_the_packaged_genesis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_config(None, environ={}).chain.genesis == packaged_config("genesis-devnet.json")
    copied = tmp_path / "mine.toml"  # an operator's copy of the devnet config, elsewhere
    copied.write_text(packaged_config("devnet.toml").read_text())
    assert load_config(copied, environ={}).chain.genesis == packaged_config("genesis-devnet.json")
    missing = tmp_path / "other.toml"
    missing.write_text('[chain]\ngenesis = "nowhere/genesis.json"\n')
    assert load_config(missing, environ={}).chain.genesis == Path("nowhere/genesis.json")


@pytest.mark.parametrize(("command", "chain_id", "data_dir"), [
    ("sequencer", 161299, "data/devnet"),
    ("l1", None, "data/l1"),
])
def test_the_cli_starts_from_any_directory_with_no_options(
    tmp_path: Path, command: str, chain_id: int | None, data_dir: str
) -> None:
    log_path = tmp_path / f"{command}.log"
    # The port only, so that the test never collides with a node on 8545.
    env = node_env({"OPENLEDGER__RPC__PORT": "0"})
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [*_cli(), command], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    node = NodeProcess(proc, tmp_path / data_dir, log_path)
    try:
        node.wait_ready()
        expected = chain_id or int(json.loads(packaged_config("l1-genesis-devnet.json").read_text())["config"]["chainId"])
        assert int(node.rpc("eth_chainId"), 16) == expected
        assert (tmp_path / data_dir).is_dir()
        assert "not found" not in node.log_text()
    finally:
        assert node.stop() == 0, node.log_text()[-3000:]
