"""List settings from the environment (comma-separated or a JSON array), and the CORS default
that depends on the network."""

from __future__ import annotations

from pathlib import Path

import pytest

from openledger_node.config import NodeConfig, RpcConfig, is_list_field, load_config
from openledger_node.exceptions import ConfigError
from tests.conftest import REPO

LIST_FIELDS = [
    (section, name)
    for section, section_info in NodeConfig.model_fields.items()
    for name, info in section_info.annotation.model_fields.items()  # type: ignore[union-attr]
    if is_list_field(info.annotation)
]


def test_the_list_fields_are_found() -> None:
    assert {("rpc", "cors_origins"), ("rpc", "vhosts"), ("rpc", "ws_origins")} <= set(LIST_FIELDS)


@pytest.mark.parametrize(("section", "name"), LIST_FIELDS)
def test_every_list_field_takes_comma_separated_values(section: str, name: str) -> None:
    key = f"OPENLEDGER__{section.upper()}__{name.upper()}"
    for config_file in (None, REPO / "configs" / "devnet.toml"):
        config = load_config(config_file, environ={key: "https://a.example, https://b.example:8080,"})
        assert getattr(getattr(config, section), name) == ("https://a.example", "https://b.example:8080")
        assert getattr(getattr(load_config(config_file, environ={key: "*"}), section), name) == ("*",)
        assert getattr(getattr(load_config(config_file, environ={key: ""}), section), name) == ()
        as_json = load_config(config_file, environ={key: '["https://a.example", "x,y"]'})
        assert getattr(getattr(as_json, section), name) == ("https://a.example", "x,y")
        with pytest.raises(ConfigError, match=key):
            load_config(config_file, environ={key: '["https://a.example"'})


def test_optional_and_list_annotations_count_as_lists() -> None:
    assert is_list_field(tuple[str, ...]) and is_list_field(list[int])
    assert is_list_field(tuple[str, ...] | None)
    assert not is_list_field(str) and not is_list_field(Path | None)


def test_cors_is_open_on_a_dev_network_and_closed_on_others(tmp_path: Path) -> None:
    assert load_config(None, environ={}).rpc.cors_origins == ("*",)
    assert load_config(REPO / "configs" / "devnet.toml", environ={}).rpc.cors_origins == ("*",)
    assert NodeConfig().rpc.cors_origins == ("*",)
    testnet = {"OPENLEDGER__CHAIN__NETWORK": "testnet"}
    assert load_config(None, environ=testnet).rpc.cors_origins == ()
    # Set explicitly, the setting wins on any network: a dev node can be closed.
    assert load_config(None, environ={"OPENLEDGER__RPC__CORS_ORIGINS": ""}).rpc.cors_origins == ()
    assert NodeConfig(rpc=RpcConfig(cors_origins=("https://a.example",))).rpc.cors_origins == ("https://a.example",)
    mainnet = tmp_path / "mainnet.toml"
    mainnet.write_text('[chain]\nnetwork = "mainnet"\n[rpc]\ncors_origins = ["https://app.example"]\n')
    assert load_config(mainnet, environ={}).rpc.cors_origins == ("https://app.example",)
