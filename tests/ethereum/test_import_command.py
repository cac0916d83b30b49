"""Ethereum's vectors through `openledger-node import`, the real command.

A vector whose blocks are all valid and carry nothing the node refuses by its
own policy (blob transactions, withdrawals) is written out as a geth-format
genesis file and a chain file; the node process imports the chain into a fresh
data directory and must print the vector's head hash and state root.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.ethereum.runner import SCHEDULES
from tests.ethereum.test_vectors import CASES

REPO = Path(__file__).resolve().parents[2]
BLOCK_FORKS = (
    "homesteadBlock", "eip150Block", "eip155Block", "eip158Block", "byzantiumBlock", "constantinopleBlock",
    "petersburgBlock", "istanbulBlock", "berlinBlock", "londonBlock",
)
WANTED = ("modexp", "collision", "Collision", "mcopy", "tstore", "push0")


def importable(case: dict[str, Any]) -> bool:
    blocks = case["blocks"]
    return (
        case["network"] in ("Paris", "Shanghai", "Cancun")
        and all("expectException" not in b for b in blocks)
        and all(not b.get("withdrawals") for b in blocks)
        and all(tx.get("type") != "0x03" for b in blocks for tx in b.get("transactions", ()))
    )


def chosen() -> list[str]:
    names = [name for name, case in sorted(CASES.items()) if importable(case)]
    picked: list[str] = []
    for word in WANTED:
        for name in names:
            if word in name and name not in picked:
                picked.append(name)
                break
    return picked


def geth_genesis(case: dict[str, Any]) -> dict[str, Any]:
    header = case["genesisBlockHeader"]
    schedule = SCHEDULES[case["network"]]
    config: dict[str, Any] = {"chainId": schedule.chain_id, "terminalTotalDifficulty": 0}
    config.update({key: 0 for key in BLOCK_FORKS})
    for key, start in (("shanghaiTime", schedule.shanghai_time), ("cancunTime", schedule.cancun_time)):
        if start is not None:
            config[key] = start
    genesis: dict[str, Any] = {
        "config": config,
        "nonce": header["nonce"],
        "timestamp": header["timestamp"],
        "extraData": header["extraData"],
        "gasLimit": header["gasLimit"],
        "difficulty": header["difficulty"],
        "mixHash": header["mixHash"],
        "coinbase": header["coinbase"],
        "baseFeePerGas": header["baseFeePerGas"],
        "alloc": case["pre"],
    }
    for key in ("excessBlobGas", "blobGasUsed"):
        if key in header:
            genesis[key] = header[key]
    return genesis


@pytest.mark.parametrize("name", chosen(), ids=lambda name: name.split("/")[-1])
def test_import_command_reaches_the_vectors_head(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps(geth_genesis(case)))
    chain = tmp_path / "chain.rlp"
    chain.write_bytes(b"".join(bytes.fromhex(block["rlp"][2:]) for block in case["blocks"]))
    result = subprocess.run(
        [sys.executable, "-m", "node.cli", "import", "--genesis", str(genesis), "--data-dir", str(tmp_path / "d"),
         str(chain)],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    head = case["blocks"][-1]["blockHeader"]
    assert f"imported {len(case['blocks'])} blocks" in result.stdout
    assert f"{case['lastblockhash']} (state root {head['stateRoot']})" in result.stdout


def test_the_command_imports_a_vector_of_each_kind() -> None:
    assert len(chosen()) >= 3
