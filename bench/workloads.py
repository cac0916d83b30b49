"""What the chain benchmarks share: signed transaction workloads on the devnet
chain and the configuration of an in-process sequencer node to run them
through (`bench/block_production.py` measures how fast blocks are built,
`bench/batch_size.py` how small the sealed blocks post to L1)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eth_abi import encode as abi_encode  # noqa: E402
from eth_account import Account  # noqa: E402
from eth_hash.auto import keccak  # noqa: E402

from contracts import load_artifact  # noqa: E402
from openledger_node.config import NodeConfig, load_config  # noqa: E402
from openledger_node.execution.genesis import DEV_ACCOUNTS  # noqa: E402
from openledger_node.primitives import DATANET_REGISTRY_ADDRESS  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CHAIN_ID = 161299
GAS_LIMIT = 30_000_000
FEE_CAP = 50 * 10**9
TIP = 10**8


def sign(key: bytes, nonce: int, **fields: object) -> bytes:
    tx = {
        "type": 2,
        "chainId": CHAIN_ID,
        "nonce": nonce,
        "maxFeePerGas": FEE_CAP,
        "maxPriorityFeePerGas": TIP,
        "gas": 21_000,
        "value": 1,
    }
    tx.update(fields)
    tx = {name: value for name, value in tx.items() if value is not None}  # None: drop a default
    return bytes(Account.from_key(key).sign_transaction(tx).raw_transaction)


def transfer_workload(keys: list[bytes], count: int) -> tuple[list[bytes], list[bytes]]:
    """(setup txs, measured txs): value transfers round-robin over the dev accounts."""
    txs = []
    for i in range(count):
        sender = i % len(keys)
        txs.append(sign(keys[sender], i // len(keys), to=os.urandom(20), value=10**12 + i))
    return [], txs


def _token_creation_code(supply: int) -> bytes:
    return load_artifact("TestToken").bytecode + abi_encode(["uint256"], [supply])


def _token_addresses(count: int) -> list[bytes]:
    """The TestToken each of the first `count` dev accounts deploys with nonce 0."""
    return [keccak(b"\xd6\x94" + a + b"\x80")[12:] for a in DEV_ACCOUNTS[:count]]


_TRANSFER = keccak(b"transfer(address,uint256)")[:4]


def token_workload(keys: list[bytes], count: int) -> tuple[list[bytes], list[bytes]]:
    """(setup, measured): deploy an OpenZeppelin ERC-20 from each sender, then transfers."""
    code = _token_creation_code(10**30)
    setup = [sign(k, 0, to=b"", gas=2_000_000, value=0, data=code) for k in keys]
    tokens = _token_addresses(len(keys))
    txs = []
    for i in range(count):
        sender = i % len(keys)
        data = _TRANSFER + abi_encode(["address", "uint256"], [os.urandom(20), 1000 + i])
        txs.append(sign(keys[sender], 1 + i // len(keys), to=tokens[sender], gas=80_000, value=0, data=data))
    return setup, txs


_CREATE_DATANET = keccak(b"createDatanet(string,uint8)")[:4]
_CONTRIBUTE = keccak(b"contribute(uint256,bytes32,string)")[:4]


def mixed_workload(keys: list[bytes], count: int) -> tuple[list[bytes], list[bytes]]:
    """(setup, measured): of every 20 transactions, 8 value transfers (half of
    them legacy EIP-155), 6 ERC-20 transfers, 4 `DatanetRegistry.contribute`
    calls (a content hash and an ipfs:// URI: 196 bytes of calldata), 1 ERC-20
    deployment (about 5 KB of creation code) and 1 EIP-2930 transfer with an
    access list. The setup deploys a token per sender and opens a datanet."""
    code = _token_creation_code(10**30)
    setup = [sign(k, 0, to=b"", gas=2_000_000, value=0, data=code) for k in keys]
    setup.append(sign(keys[0], 1, to=DATANET_REGISTRY_ADDRESS, gas=200_000, value=0,
                      data=_CREATE_DATANET + abi_encode(["string", "uint8"], ["ipfs://datanet", 0])))
    tokens = _token_addresses(len(keys))
    nonces = [1] * len(keys)
    nonces[0] = 2
    txs = []
    for i in range(count):
        sender = i % len(keys)
        key, nonce = keys[sender], nonces[sender]
        nonces[sender] += 1
        kind = i % 20
        fields: dict[str, Any]
        if kind < 4:
            fields = {"to": os.urandom(20), "value": 10**15 + i}
        elif kind < 8:
            fields = {"type": None, "gasPrice": FEE_CAP, "maxFeePerGas": None, "maxPriorityFeePerGas": None,
                      "to": os.urandom(20), "value": 10**15 + i}
        elif kind < 14:
            data = _TRANSFER + abi_encode(["address", "uint256"], [os.urandom(20), 1000 + i])
            fields = {"to": tokens[sender], "gas": 80_000, "value": 0, "data": data}
        elif kind < 18:
            uri = "ipfs://" + os.urandom(23).hex()[:46]
            data = _CONTRIBUTE + abi_encode(["uint256", "bytes32", "string"], [1, os.urandom(32), uri])
            fields = {"to": DATANET_REGISTRY_ADDRESS, "gas": 300_000, "value": 0, "data": data}
        elif kind == 18:
            fields = {"to": b"", "gas": 2_000_000, "value": 0, "data": _token_creation_code(10**24 + i)}
        else:
            fields = {"type": 1, "gasPrice": FEE_CAP, "maxFeePerGas": None, "maxPriorityFeePerGas": None,
                      "to": tokens[sender], "gas": 60_000, "value": 0,
                      "accessList": [{"address": "0x" + tokens[sender].hex(), "storageKeys": []}]}
        txs.append(sign(key, nonce, **fields))
    return setup, txs


def dev_node_config(data_dir: str) -> NodeConfig:
    """A devnet sequencer on `data_dir` whose pool holds a whole workload."""
    return load_config(
        None,
        environ={},
        overrides={
            "chain": {"genesis": str(REPO / "configs" / "genesis-devnet.json"), "gas_limit": GAS_LIMIT},
            "storage": {"data_dir": data_dir},
            "txpool": {"global_slots": 100_000, "account_slots": 100_000,
                       "global_queue": 100_000, "account_queue": 100_000},
        },
    )
