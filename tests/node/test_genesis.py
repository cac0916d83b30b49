"""Genesis files, init, re-init, and the dev-account guard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account

from openledger_node.config import load_config
from openledger_node.exceptions import ConfigError, GenesisMismatch, UnsafeDevAccounts
from openledger_node.execution.genesis import (
    DEV_ACCOUNTS,
    DEV_MNEMONIC,
    dev_private_keys,
    load_genesis,
)
from node import Node, init_datadir
from openledger_node.primitives import (
    BASE_FEE_VAULT_ADDRESS,
    L1_BLOCK_ADDRESS,
    L2_TO_L1_MESSAGE_PASSER_ADDRESS,
    SEQUENCER_FEE_VAULT_ADDRESS,
)
from openledger_node.storage import ChainStore
from tests.conftest import GENESIS_PATH, head_state


def config_for(tmp_path: Path, genesis: Path = GENESIS_PATH, network: str = "dev", chain_id: int = 161299):
    return load_config(
        None,
        environ={},
        overrides={
            "chain": {"genesis": str(genesis), "network": network, "chain_id": chain_id},
            "storage": {"data_dir": str(tmp_path / "data")},
        },
    )


def altered_genesis(tmp_path: Path, **changes) -> Path:
    data = json.loads(GENESIS_PATH.read_text())
    data.update(changes)
    path = tmp_path / "genesis.json"
    path.write_text(json.dumps(data))
    return path


def test_dev_accounts_are_the_test_mnemonic_accounts(dev_keys) -> None:
    assert [bytes.fromhex(Account.from_key(k).address[2:]) for k in dev_keys] == list(DEV_ACCOUNTS)
    assert DEV_MNEMONIC.split()[-1] == "junk"


def test_init_writes_genesis_with_alloc_and_predeploys(tmp_path: Path) -> None:
    config = config_for(tmp_path)
    header, created = init_datadir(config)
    assert created and header.block_number == 0
    store = ChainStore(config.storage.data_dir)
    try:
        state = head_state(store)
        for account in DEV_ACCOUNTS:
            assert state.get_balance(account) == 10_000 * 10**18
        for predeploy in (L1_BLOCK_ADDRESS, L2_TO_L1_MESSAGE_PASSER_ADDRESS, BASE_FEE_VAULT_ADDRESS, SEQUENCER_FEE_VAULT_ADDRESS):
            assert len(state.get_code(predeploy)) > 0, predeploy.hex()
        assert store.genesis_hash == bytes(header.hash)
    finally:
        store.close()


def test_init_twice_with_same_genesis_is_a_no_op(tmp_path: Path) -> None:
    config = config_for(tmp_path)
    first, _ = init_datadir(config)
    second, created = init_datadir(config)
    assert not created and first.hash == second.hash


def test_init_with_different_genesis_fails_clearly(tmp_path: Path) -> None:
    init_datadir(config_for(tmp_path))
    other = altered_genesis(tmp_path, timestamp="0x10")
    with pytest.raises(GenesisMismatch, match="fresh data directory"):
        init_datadir(config_for(tmp_path, genesis=other))


def test_node_refuses_datadir_of_other_genesis(tmp_path: Path) -> None:
    init_datadir(config_for(tmp_path))
    other = altered_genesis(tmp_path, timestamp="0x10")
    with pytest.raises(GenesisMismatch):
        Node.open(config_for(tmp_path, genesis=other), auto_init=False)


def test_non_dev_network_with_dev_accounts_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsafeDevAccounts, match="public test mnemonic"):
        init_datadir(config_for(tmp_path, network="testnet"))


def test_non_dev_network_without_dev_accounts_is_accepted(tmp_path: Path) -> None:
    genesis = altered_genesis(tmp_path, alloc={"0x" + "12" * 20: {"balance": "0x10"}})
    header, created = init_datadir(config_for(tmp_path, genesis=genesis, network="testnet"))
    assert created


def test_non_dev_node_needs_init(tmp_path: Path) -> None:
    genesis = altered_genesis(tmp_path, alloc={})
    with pytest.raises(Exception, match="init"):
        Node.open(config_for(tmp_path, genesis=genesis, network="testnet"))


def test_chain_id_mismatch_between_config_and_genesis(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="chain.chain_id"):
        init_datadir(config_for(tmp_path, chain_id=5))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"chainId": 0}, "chainId"),
        ({"alloc": {"0xnothex": {"balance": "0x1"}}}, "alloc"),
        ({"alloc": {"0x" + "12" * 20: {"balance": "0x" + "f" * 40}}}, "exceeds the OPEN supply"),
        ({"baseFeeVault": {}}, "baseFeeVault"),
    ],
)
def test_bad_genesis_file_names_the_problem(tmp_path: Path, changes, message) -> None:
    with pytest.raises(ConfigError, match=message):
        load_genesis(altered_genesis(tmp_path, **changes))


def test_genesis_file_not_json(tmp_path: Path) -> None:
    path = tmp_path / "g.json"
    path.write_text("{")
    with pytest.raises(ConfigError, match="invalid JSON"):
        load_genesis(path)


def test_dev_private_keys_match_anvil_first_key() -> None:
    assert dev_private_keys()[0].hex() == "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
