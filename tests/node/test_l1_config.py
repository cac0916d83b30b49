"""The [l1] and [batcher] sections: every bad setting is refused at start with
the field named, and a sequencer without an L1 says what it does instead."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from eth_account import Account

from node import Node
from node.keys import load_key
from openledger_node.config import load_config
from openledger_node.exceptions import ConfigError
from openledger_node.execution.genesis import dev_private_keys
from tests.conftest import GENESIS_PATH


def config(tmp_path: Path, **sections: dict[str, object]) -> object:
    overrides: dict[str, dict[str, object]] = {
        "chain": {"genesis": str(GENESIS_PATH)},
        "storage": {"data_dir": str(tmp_path / "data")},
    }
    for name, fields in sections.items():
        overrides.setdefault(name, {}).update(fields)
    return load_config(None, environ={}, overrides=overrides)


def test_without_l1_the_sequencer_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        node = Node.open(config(tmp_path))  # type: ignore[arg-type]
    try:
        assert node.sequencer is not None and node.sequencer.batcher is None
        assert any("no [l1] rpc_url" in r.getMessage() for r in caplog.records)
    finally:
        node.stop()


def test_l1_without_deployment_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^l1\.deployment: required when l1\.rpc_url is set"):
        Node.open(config(tmp_path, l1={"rpc_url": "http://127.0.0.1:9"}))  # type: ignore[arg-type]


def test_missing_deployment_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^l1\.deployment: file not found"):
        Node.open(config(tmp_path, l1={"rpc_url": "http://127.0.0.1:9", "deployment": str(tmp_path / "none.json")}))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("section", "fields", "field"),
    [
        ("l1", {"confirmations": -1}, "l1.confirmations"),
        ("l1", {"poll_interval": 0}, "l1.poll_interval"),
        ("batcher", {"max_batch_bytes": 10}, "batcher.max_batch_bytes"),
        ("batcher", {"max_age": 0}, "batcher.max_age"),
        ("batcher", {"key": "0x01"}, "batcher.key"),  # a key is never a config field
        ("chain", {"max_sequencer_drift": 0}, "chain.max_sequencer_drift"),
    ],
)
def test_bad_value_is_named(tmp_path: Path, section: str, fields: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        config(tmp_path, **{section: fields})


def test_batcher_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    key = dev_private_keys()[3]
    monkeypatch.setenv("OPENLEDGER_BATCHER_KEY", "0x" + key.hex())
    assert load_key("batcher", "OPENLEDGER_BATCHER_KEY", None, "PW", dev_network=False) == key
    monkeypatch.setenv("OPENLEDGER_BATCHER_KEY", "0x1234")
    with pytest.raises(ConfigError, match="batcher.key_env: OPENLEDGER_BATCHER_KEY is 2 bytes"):
        load_key("batcher", "OPENLEDGER_BATCHER_KEY", None, "PW", dev_network=False)
    monkeypatch.setenv("OPENLEDGER_BATCHER_KEY", "not hex")
    with pytest.raises(ConfigError, match="is not a hex private key"):
        load_key("batcher", "OPENLEDGER_BATCHER_KEY", None, "PW", dev_network=False)


def test_batcher_key_is_required_off_a_dev_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENLEDGER_BATCHER_KEY", raising=False)
    with pytest.raises(ConfigError, match="^batcher: set OPENLEDGER_BATCHER_KEY"):
        load_key("batcher", "OPENLEDGER_BATCHER_KEY", None, "PW", dev_network=False)
    assert load_key("batcher", "OPENLEDGER_BATCHER_KEY", None, "PW", dev_network=True) == dev_private_keys()[0]


def test_batcher_key_from_a_keystore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = dev_private_keys()[4]
    keystore = tmp_path / "key.json"
    keystore.write_text(json.dumps(Account.encrypt(key, "secret", iterations=2)))
    monkeypatch.setenv("PW", "secret")
    assert load_key("batcher", "NONE", keystore, "PW", dev_network=False) == key
    monkeypatch.setenv("PW", "wrong")
    with pytest.raises(ConfigError, match="batcher.keystore: cannot decrypt"):
        load_key("batcher", "NONE", keystore, "PW", dev_network=False)
    monkeypatch.delenv("PW")
    with pytest.raises(ConfigError, match="batcher.keystore: set PW"):
        load_key("batcher", "NONE", keystore, "PW", dev_network=False)
