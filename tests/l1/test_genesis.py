"""The geth-format genesis file of the L1 node: the devnet's, and the errors that
name the field of a file this node cannot run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from openledger_node.exceptions import ConfigError, GenesisMismatch
from openledger_node.execution.genesis import DEV_ACCOUNTS
from openledger_node.execution.l1 import PARIS, PRAGUE, SHANGHAI, load_l1_genesis, parse_genesis
from tests.l1.conftest import DEVNET_GENESIS, devnet_genesis, open_l1, scheduled_genesis, write_genesis


def test_devnet_genesis_is_prague_with_funded_dev_accounts_succeeds() -> None:
    genesis = load_l1_genesis(DEVNET_GENESIS)
    assert genesis.chain_id == 900 and genesis.gas_limit == 30_000_000
    assert genesis.schedule.fork_at(0) is PRAGUE
    funded = {a: s.balance for a, s in genesis.allocations().items() if s.balance}
    assert funded == {a: 10_000 * 10**18 for a in DEV_ACCOUNTS}  # the rest: the preinstalls, no balance


def test_schedule_and_geth_number_forms_succeeds() -> None:
    data = scheduled_genesis(0, 10, None, None)
    data["config"]["shanghaiTime"] = "0xa"
    data["alloc"] = {"22" * 20: {"balance": "1000", "nonce": "0x2", "code": "0x60", "storage": {"0x1": "0x02"}}}
    genesis = parse_genesis(data)
    assert genesis.schedule.fork_at(9) is PARIS and genesis.schedule.fork_at(10) is SHANGHAI
    account = genesis.allocations()[bytes.fromhex("22" * 20)]  # type: ignore[index]
    assert (account.balance, account.nonce, account.code, account.storage) == (1000, 2, b"\x60", {1: 2})


def _with(change: dict[str, Any], config: dict[str, Any] | None = None, drop: str | None = None) -> dict[str, Any]:
    data = devnet_genesis()
    data.update(change)
    data["config"].update(config or {})
    if drop is not None:
        del data["config"][drop]
    return data


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (_with({}, {"berlinBlock": 5}), "config.berlinBlock"),
        (_with({}, drop="londonBlock"), "config.londonBlock"),
        (_with({}, {"terminalTotalDifficulty": 58_750_000_000_000_000_000_000, "mergeNetsplitBlock": None}),
         "config.terminalTotalDifficulty"),
        (_with({}, {"osakaTime": 0}), "config.osakaTime"),
        (_with({}, {"shanghaiTime": None, "cancunTime": 0}), "config.cancunTime"),
        (_with({}, {"cancunTime": 10, "pragueTime": 5}), "config.pragueTime"),
        (_with({"alloc": {"0x12": {"balance": "1"}}}), "alloc"),
        (_with({"gasLimit": "lots"}), "gasLimit"),
        (_with({"difficulty": "0x1"}), "difficulty"),
        (_with({"extraData": "0x" + "00" * 33}), "extraData"),
    ],
)
def test_genesis_this_node_cannot_run_reverts(data: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=rf"genesis file <genesis>: {field}"):
        parse_genesis(data, "<genesis>")


def test_data_dir_of_another_genesis_reverts(tmp_path: Path) -> None:
    open_l1(tmp_path / "data").stop()
    other = write_genesis(tmp_path / "other.json", scheduled_genesis(1, 0, 0, 0))
    with pytest.raises(GenesisMismatch, match="fresh data directory"):
        open_l1(tmp_path / "data", other)
