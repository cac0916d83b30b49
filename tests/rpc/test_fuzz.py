"""Random requests against the running server (hypothesis): whatever comes in,
the answer is a well-formed JSON-RPC 2.0 response (or none, for notifications),
never an internal error, and the server keeps serving.

Runs against `limited_node`, so that batches and bodies hit their limits too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from openledger_node.rpc.dev import DevApi
from openledger_node.rpc.eth import EthApi
from openledger_node.rpc.filters import FilterApi
from openledger_node.rpc.logs import LogsApi
from openledger_node.rpc.rollup import RollupApi
from openledger_node.rpc.simulation import SimulationApi
from openledger_node.rpc.subscriptions import SubscriptionApi
from openledger_node.rpc.txpool import TxPoolApi
from openledger_node.rpc.web3_net import Web3NetApi
from tests.rpc.helpers import CHAIN_ID, LIMITS, NodeProcess, post

API_CLASSES: list[type] = [
    EthApi, LogsApi, FilterApi, SubscriptionApi, Web3NetApi, TxPoolApi, RollupApi, DevApi, SimulationApi,
]


# Dev controls that would turn the shared node's mining off or seal thousands of
# blocks for it: tests/rpc/test_dev_controls.py covers them on nodes of their own.
DISRUPTIVE_DEV_METHODS = {
    "anvil_mine", "hardhat_mine", "evm_setAutomine", "anvil_setAutomine", "evm_setIntervalMining",
    "anvil_setIntervalMining", "anvil_setBalance", "anvil_setCode", "anvil_setNonce", "anvil_setStorageAt",
    "anvil_dropTransaction", "anvil_dropAllTransactions", "anvil_snapshot", "anvil_revert",
    "hardhat_setBalance", "hardhat_setCode", "hardhat_setNonce", "hardhat_setStorageAt", "hardhat_dropTransaction",
}


def _method_names() -> list[str]:
    names = {
        spec.name
        for api in API_CLASSES
        for attr in dir(api)
        if (spec := getattr(getattr(api, attr), "__rpc__", None)) is not None
    }
    return sorted(names - DISRUPTIVE_DEV_METHODS)


METHODS = _method_names()
FIELDS = [
    "fromBlock", "toBlock", "blockHash", "blockNumber", "requireCanonical", "address", "topics", "from", "to",
    "data", "input", "value", "gas", "gasPrice", "maxFeePerGas", "maxPriorityFeePerGas", "nonce", "accessList",
    "chainId", "type", "timestamp", "blocks", "storageKeys", "balance", "code", "state", "stateDiff",
]
TAGS = ["latest", "pending", "safe", "finalized", "earliest"]

hex_strings = st.one_of(
    st.sampled_from(TAGS + ["0x", "0x0", "0x00", "0x1", "0x01", "0X1", "0xg", "0x" + "f" * 16, "0x" + "f" * 64]),
    st.binary(max_size=40).map(lambda b: "0x" + b.hex()),
    st.sampled_from([20, 32]).flatmap(lambda n: st.binary(min_size=n, max_size=n)).map(lambda b: "0x" + b.hex()),
    st.integers(min_value=0, max_value=2**300).map(hex),
    st.text(alphabet="0123456789abcdefABCDEFxX", max_size=70),
)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**300),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=16),
    hex_strings,
)
json_values = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=6)), children, max_size=4),
    ),
    max_leaves=12,
)
# Values that parse, so that examples reach the handlers behind the parsers.
hex_data = st.binary(max_size=40).map(lambda b: "0x" + b.hex())
quantities = st.one_of(st.integers(0, 40).map(hex), st.integers(0, 2**64).map(hex), st.integers(0, 2**256 - 1).map(hex))
addresses = st.one_of(
    st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex()),
    st.sampled_from(["0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "0x4200000000000000000000000000000000000015",
                     "0x4200000000000000000000000000000000000016", "0x" + "00" * 20]),
)
hashes = st.binary(min_size=32, max_size=32).map(lambda b: "0x" + b.hex())
block_refs = st.one_of(
    st.sampled_from(TAGS),
    st.integers(0, 40).map(hex),
    quantities,
    st.fixed_dictionaries({"blockHash": hashes}, optional={"requireCanonical": st.booleans()}),
    st.fixed_dictionaries({"blockNumber": st.one_of(st.sampled_from(TAGS), quantities)}),
)
topic_entries = st.one_of(st.none(), hashes, st.lists(st.one_of(st.none(), hashes), max_size=3))
log_filters = st.fixed_dictionaries({}, optional={
    "fromBlock": block_refs, "toBlock": block_refs, "blockHash": hashes,
    "address": st.one_of(addresses, st.lists(addresses, max_size=3)),
    "topics": st.lists(topic_entries, max_size=5),
})
calls = st.fixed_dictionaries({}, optional={
    "from": addresses, "to": st.one_of(st.none(), addresses), "data": hex_data, "input": hex_data,
    "value": quantities, "gas": quantities, "gasPrice": quantities, "maxFeePerGas": quantities,
    "maxPriorityFeePerGas": quantities, "nonce": quantities,
    "accessList": st.lists(st.fixed_dictionaries({"address": addresses, "storageKeys": st.lists(hashes, max_size=2)}),
                           max_size=2),
})
plausible = st.one_of(
    quantities, addresses, hashes, hex_data, block_refs, log_filters, calls, st.booleans(),
    st.lists(st.integers(0, 100), max_size=4).map(sorted),
    st.fixed_dictionaries({}, optional={"timestamp": quantities, "blocks": st.integers(1, 3)}),
)
ids = st.one_of(st.integers(min_value=-(2**63), max_value=2**64), st.text(max_size=8), st.none())
methods = st.one_of(st.sampled_from(METHODS), st.sampled_from(METHODS), st.text(max_size=24))
params = st.one_of(
    st.lists(plausible, max_size=4),
    st.lists(plausible, max_size=4),
    st.lists(json_values, max_size=5),
    st.lists(hex_strings, max_size=4),
    json_values,
)


@st.composite
def requests(draw: st.DrawFn) -> Any:
    request: dict[str, Any] = {}
    shape = draw(st.integers(0, 9))
    request["jsonrpc"] = "2.0" if shape else draw(json_values)
    if draw(st.integers(0, 9)):
        request["id"] = draw(ids) if shape != 1 else draw(json_values)
    request["method"] = draw(methods) if shape != 2 else draw(json_values)
    if draw(st.integers(0, 5)):
        request["params"] = draw(params)
    if shape == 3:
        request[draw(st.text(max_size=6))] = draw(json_values)
    if shape == 4:
        request.pop(draw(st.sampled_from(["jsonrpc", "method"])))
    return request


payloads = st.one_of(
    requests(),
    requests(),
    st.lists(st.one_of(requests(), requests(), json_values), max_size=LIMITS["max_batch"] + 2),
    json_values,
)


# --- the model of an answer ---------------------------------------------------------


def _valid_id(value: Any) -> bool:
    """A string, a number (fractions too, as geth takes them) or null."""
    return isinstance(value, (str, int, float)) and not isinstance(value, bool) or value is None


def expected_reply(request: Any) -> tuple[bool, Any]:
    """(answered, id) for one request, as geth decides: an invalid request is
    answered with id null; a notification (a valid request without id) is not."""
    if not isinstance(request, dict):
        return True, None
    if "id" in request and not _valid_id(request["id"]):
        return True, None
    if request.get("jsonrpc") != "2.0" or not isinstance(request.get("method"), str):
        return True, request.get("id")
    if "id" not in request:
        return False, None
    return True, request["id"]


def check_response(response: Any, expected_id: Any) -> None:
    assert isinstance(response, dict), response
    assert response.get("jsonrpc") == "2.0", response
    assert "id" in response and response["id"] == expected_id, (response, expected_id)
    assert type(response["id"]) is type(expected_id), (response, expected_id)
    assert set(response) <= {"jsonrpc", "id", "result", "error"}, response
    assert ("result" in response) != ("error" in response), response
    if "error" in response:
        error = response["error"]
        assert isinstance(error, dict) and set(error) <= {"code", "message", "data"}, error
        assert isinstance(error["code"], int) and not isinstance(error["code"], bool), error
        assert isinstance(error["message"], str), error
        assert error["code"] != -32603, f"internal error: a handler crashed on {response}"


def check_answer(payload: Any, answer: Any) -> None:
    """`answer`: the decoded reply, or None when nothing came back."""
    if isinstance(payload, list):
        if not payload:
            check_response(answer, None)
            assert answer["error"]["code"] == -32600
            return
        if len(payload) > LIMITS["max_batch"]:
            # geth's answer: one error in an array, with the id of the first call.
            calls = [
                item["id"] for item in payload
                if isinstance(item, dict) and "id" in item and _valid_id(item["id"]) and isinstance(item.get("method"), str)
            ]
            assert isinstance(answer, list) and len(answer) == 1, answer
            check_response(answer[0], calls[0] if calls else None)
            assert answer[0]["error"] == {"code": -32600, "message": "batch too large"}
            return
        wanted = [rid for answered, rid in map(expected_reply, payload) if answered]
        if not wanted:
            assert answer is None, answer
            return
        assert isinstance(answer, list) and len(answer) == len(wanted), (payload, answer)
        for response, rid in zip(answer, wanted, strict=True):
            check_response(response, rid)
        return
    answered, rid = expected_reply(payload)
    if not answered:
        assert answer is None, answer
        return
    check_response(answer, rid)


def still_serving(node: NodeProcess) -> None:
    assert node.proc.poll() is None, node.log_text()[-3000:]
    assert node.rpc("eth_chainId") == hex(CHAIN_ID)


MARKER = "__marker__"  # longer than any generated string id

FUZZ = settings(
    max_examples=int(os.environ.get("RPC_FUZZ_EXAMPLES", "200")),  # more for a longer hunt deadline=None, derandomize=False, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(payload=payloads)
def test_http_answers_are_well_formed(limited_node: NodeProcess, payload: Any) -> None:
    body = json.dumps(payload).encode()
    status, raw = post(limited_node.http, body)
    if len(body) > LIMITS["max_body_bytes"]:
        assert status == 413
        check_response(json.loads(raw), None)
    else:
        assert status == 200, (status, raw)
        check_answer(payload, json.loads(raw) if raw else None)
    still_serving(limited_node)


class WsSession:
    """One WebSocket connection shared by the examples, opened again after a close."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._stack = ExitStack()
        self._ws: ClientConnection | None = None

    def get(self) -> ClientConnection:
        if self._ws is None:
            self._ws = self._stack.enter_context(connect(self.url, max_size=None, open_timeout=10))
        return self._ws

    def reset(self) -> None:
        self._stack.close()
        self._stack = ExitStack()
        self._ws = None


@pytest.fixture(scope="module")
def ws_session(limited_node: NodeProcess) -> Iterator[WsSession]:
    session = WsSession(limited_node.ws)
    yield session
    session.reset()


def _receive_reply(ws: ClientConnection) -> Any:
    """The next message that is not a subscription notification."""
    while True:
        message = json.loads(ws.recv(timeout=30))
        if not (isinstance(message, dict) and message.get("method") == "eth_subscription"):
            return message


@FUZZ
@given(payload=payloads)
def test_websocket_answers_are_well_formed(limited_node: NodeProcess, ws_session: WsSession, payload: Any) -> None:
    text = json.dumps(payload)
    if len(text) > LIMITS["max_ws_message_bytes"]:
        return  # over the message limit the server closes the connection (test_bad_input)
    ws = ws_session.get()
    try:
        ws.send(text)
        # A marker request after it: if the payload gets no answer, the marker's comes first.
        ws.send(json.dumps({"jsonrpc": "2.0", "id": MARKER, "method": "eth_chainId"}))
        first = _receive_reply(ws)
        if isinstance(first, dict) and first.get("id") == MARKER:
            check_answer(payload, None)
        else:
            check_answer(payload, first)
            marker = _receive_reply(ws)
            assert marker == {"jsonrpc": "2.0", "id": MARKER, "result": hex(CHAIN_ID)}
    except ConnectionClosed:
        ws_session.reset()
        raise
    still_serving(limited_node)
