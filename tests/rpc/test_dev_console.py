"""Hardhat's console.log: a transaction or a call that runs into console.sol's
static call prints the formatted line in the node's log, as anvil prints it;
a node off a dev network prints nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_abi import encode as abi_encode
from eth_hash.auto import keccak

from openledger_node.execution.console import CONSOLE_ADDRESS, format_console
from openledger_node.execution.genesis import DEV_ACCOUNTS
from tests.conformance.endpoints import Endpoint
from tests.rpc.dev_nodes import KINDS, each_node
from tests.rpc.helpers import start_node

ALICE = "0x" + bytes(DEV_ACCOUNTS[0]).hex()


@pytest.fixture(scope="module", params=KINDS)
def chain(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    yield from each_node(request, tmp_path_factory)


def console_call(signature: str, types: list[str], values: list[Any]) -> bytes:
    return keccak(signature.encode())[:4] + abi_encode(types, values)


def init_code_logging(payload: bytes) -> str:
    """Init code that makes console.sol's STATICCALL with `payload`, then stops."""
    n = len(payload).to_bytes(2, "big")
    code = (
        b"\x61" + n + b"\x61" + (43).to_bytes(2, "big") + b"\x60\x00\x39"  # CODECOPY(0, 43, n)
        + b"\x60\x00\x60\x00\x61" + n + b"\x60\x00\x73" + CONSOLE_ADDRESS  # ret 0/0, args 0/n, console
        + b"\x5a\xfa\x50\x00"  # GAS STATICCALL POP STOP
    )
    assert len(code) == 43
    return "0x" + (code + payload).hex()


def wait_for_line(endpoint: Endpoint, text: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in endpoint.log_path.read_text(errors="replace"):
            return
        time.sleep(0.05)
    raise AssertionError(f"{endpoint.name} did not print {text!r}:\n{endpoint.log_tail(20)}")


def test_console_log_from_a_transaction_and_a_call(chain: Endpoint) -> None:
    payload = console_call("log(string,uint256)", ["string", "uint256"], [f"tx from {chain.name}: %s wei", 4242])
    tx_hash = chain.rpc.call("eth_sendTransaction", {"from": ALICE, "data": init_code_logging(payload)})
    assert chain.rpc.wait_for_receipt(tx_hash, timeout=10)["status"] == "0x1"
    wait_for_line(chain, f"tx from {chain.name}: 4242 wei")
    payload = console_call("log(string,address,bool)", ["string", "address", "bool"],
                           [f"call on {chain.name}", bytes(DEV_ACCOUNTS[1]), True])
    chain.rpc.call("eth_call", {"from": ALICE, "data": init_code_logging(payload)}, "latest")
    wait_for_line(chain, f"call on {chain.name} 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 true")


def test_console_lines_are_formatted_as_hardhat_prints_them() -> None:
    cases = [
        (console_call("log()", [], []), ""),
        (console_call("log(uint256)", ["uint256"], [7]), "7"),
        (console_call("log(uint)", ["uint256"], [8]), "8"),  # older console.sol spelling
        (console_call("log(int256)", ["int256"], [-5]), "-5"),
        (console_call("logBytes4(bytes4)", ["bytes4"], [b"\x01\x02\x03\x04"]), "0x01020304"),
        (console_call("log(string,uint256,uint256)", ["string", "uint256", "uint256"], ["%d of %d%%", 1, 2]),
         "1 of 2%"),
        (console_call("log(bool,string)", ["bool", "string"], [False, "x"]), "false x"),
        (console_call("log(string,string)", ["string", "string"], ["a", "b"]), "a b"),
    ]
    for data, line in cases:
        assert format_console(data) == line
    assert format_console(b"\xde\xad\xbe\xef") is None  # not a console.sol selector
    assert format_console(console_call("log(uint256)", ["uint256"], [1])[:10]) is None  # truncated arguments


def test_a_node_off_dev_networks_prints_nothing(tmp_path: Path, write_genesis: Any) -> None:
    genesis = write_genesis({"0x" + "42" * 20: {"balance": hex(10**21)}})
    env = {"OPENLEDGER__CHAIN__NETWORK": "testnet", "OPENLEDGER__CHAIN__GENESIS": str(genesis)}
    testnet = start_node(tmp_path / "testnet", block_time=0.25, env=env, init=True)
    try:
        payload = console_call("log(string)", ["string"], ["never printed on a testnet"])
        testnet.rpc("eth_call", {"from": "0x" + "42" * 20, "data": init_code_logging(payload)}, "latest")
        testnet.rpc("eth_call", {"to": "0x" + CONSOLE_ADDRESS.hex(), "data": "0x" + payload.hex()}, "latest")
    finally:
        assert testnet.stop() == 0, testnet.log_text()[-3000:]
    assert "never printed" not in testnet.log_text()
