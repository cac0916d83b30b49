"""Malformed and hostile input over raw HTTP and WebSocket: every answer is the
JSON-RPC error geth gives (code and wording), every limit names itself, and the
server keeps serving afterwards.

Runs against `limited_node` (limits in `conftest.LIMITS`), with accounts 7-9.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import rlp
from eth_account import Account
from eth_account.signers.local import LocalAccount

from tests.rpc.helpers import CHAIN_ID, LIMITS, NodeProcess, post, wait_until

ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def call(node: NodeProcess, body: Any) -> Any:
    """POST a body; the decoded JSON reply (None for an empty one)."""
    status, raw = post(node.http, body)
    assert status == 200, (status, raw)
    return json.loads(raw) if raw else None


def error_of(node: NodeProcess, method: str, *params: Any) -> dict[str, Any]:
    reply = call(node, {"jsonrpc": "2.0", "id": 7, "method": method, "params": list(params)})
    assert reply["id"] == 7 and "result" not in reply, reply
    return dict(reply["error"])


def assert_serving(node: NodeProcess) -> None:
    assert node.rpc("eth_chainId") == hex(CHAIN_ID)


def run_raw_ws(node: NodeProcess, body: Callable[[aiohttp.ClientWebSocketResponse], Awaitable[None]]) -> None:
    async def main() -> None:
        async with aiohttp.ClientSession() as session, session.ws_connect(node.ws) as ws:
            await asyncio.wait_for(body(ws), 30)

    asyncio.run(main())


async def ws_call(ws: aiohttp.ClientWebSocketResponse, payload: Any) -> Any:
    """Send a text frame; the next reply that is not a subscription notification."""
    await ws.send_str(payload if isinstance(payload, str) else json.dumps(payload))
    while True:
        reply = await ws.receive_json()
        if not (isinstance(reply, dict) and reply.get("method") == "eth_subscription"):
            return reply


# --- envelopes -------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"{", b"", b"   ", b"\xff\xfe", b'{"jsonrpc": "2.0", "id": 1,', b"[1,", b"nul",
        b"NaN", b'{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": [Infinity]}',
    ],
    ids=lambda body: repr(body[:12]),
)
def test_malformed_json_is_a_parse_error(limited_node: NodeProcess, body: bytes) -> None:
    reply = call(limited_node, body)
    assert reply == {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}}


def test_deeply_nested_json_is_refused(limited_node: NodeProcess, node: NodeProcess) -> None:
    nested = {"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [{"topics": [[[[[["0x1"]]]]]]}]}
    assert call(limited_node, nested)["error"]["code"] == -32602  # shallow: parsed, then refused
    for body in (b"[" * 101 + b"]" * 101, b'{"a":' * 200 + b"1" + b"}" * 200):
        reply = call(limited_node, body)
        assert reply["id"] is None and reply["error"]["code"] == -32700
        assert "nested deeper than 100 levels" in reply["error"]["message"]
    # Brackets inside strings are not nesting.
    reply = call(limited_node, {"jsonrpc": "2.0", "id": 2, "method": "web3_sha3", "params": ["[" * 300]})
    assert reply["error"]["message"] == "invalid argument 0: hex string without 0x prefix"
    # A megabyte of brackets under the default body limit: this used to overflow the
    # C stack in the JSON parser (py-evm raises the recursion limit) and kill the node.
    reply = call(node, b"[" * 500_000 + b"]" * 500_000)
    assert reply["error"]["code"] == -32700
    assert node.proc.poll() is None and node.rpc("eth_chainId") == hex(CHAIN_ID)


@pytest.mark.parametrize(
    ("body", "echo_id", "why"),
    [
        (1, None, "not a JSON object"),
        (b'"eth_chainId"', None, "not a JSON object"),
        (None, None, "not a JSON object"),
        (True, None, "not a JSON object"),
        ({"id": 1, "method": "eth_chainId"}, 1, "jsonrpc"),
        ({"jsonrpc": "1.0", "id": 1, "method": "eth_chainId"}, 1, "jsonrpc"),
        ({"jsonrpc": 2.0, "id": 1, "method": "eth_chainId"}, 1, "jsonrpc"),
        ({"jsonrpc": "2.0", "id": 1}, 1, "method"),
        ({"jsonrpc": "2.0", "id": 1, "method": 5}, 1, "method"),
        ({"jsonrpc": "2.0", "id": 1, "method": None}, 1, "method"),
        ({"jsonrpc": "2.0", "id": 1, "method": ["eth_chainId"]}, 1, "method"),
        ({"jsonrpc": "2.0", "id": {"a": 1}, "method": "eth_chainId"}, None, "id"),
        ({"jsonrpc": "2.0", "id": [1], "method": "eth_chainId"}, None, "id"),
        ({"jsonrpc": "2.0", "id": True, "method": "eth_chainId"}, None, "id"),
    ],
)
def test_wrong_request_shapes_are_invalid_requests(
    limited_node: NodeProcess, body: Any, echo_id: Any, why: str
) -> None:
    reply = call(limited_node, body)
    assert reply["jsonrpc"] == "2.0" and reply["id"] == echo_id
    assert reply["error"]["code"] == -32600 and why in reply["error"]["message"]


def test_string_and_null_ids_are_echoed(limited_node: NodeProcess) -> None:
    for request_id in ("abc", "", None, 0, -5, 2**60):
        reply = call(limited_node, {"jsonrpc": "2.0", "id": request_id, "method": "eth_chainId"})
        assert reply == {"jsonrpc": "2.0", "id": request_id, "result": hex(CHAIN_ID)}


def test_unknown_method(limited_node: NodeProcess) -> None:
    for name in ("eth_nope", "", "debug_traceBadBlock", "eth_chainid", "x" * 300):
        error = error_of(limited_node, name)
        assert error["code"] == -32601
        assert error["message"] == f"the method {name} does not exist/is not available"


def test_notifications_get_no_answer(limited_node: NodeProcess) -> None:
    status, raw = post(limited_node.http, {"jsonrpc": "2.0", "method": "eth_chainId"})
    assert (status, raw) == (200, b"")
    status, raw = post(limited_node.http, {"jsonrpc": "2.0", "method": "eth_nope", "params": [1]})
    assert (status, raw) == (200, b"")
    assert call(limited_node, [{"jsonrpc": "2.0", "method": "eth_chainId"}] * 2) is None


# --- parameters -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "params", "message"),
    [
        ("eth_getBalance", [], "missing value for required argument 0"),
        ("eth_getBalance", [ADDRESS, "latest", 1], "too many arguments, want at most 2"),
        ("eth_chainId", [1], "too many arguments, want at most 0"),
        ("eth_getBlockByNumber", ["latest"], "missing value for required argument 1"),
        ("eth_getBalance", [123], "invalid argument 0: cannot unmarshal number into"),
        ("eth_getBalance", [ADDRESS, True], "invalid argument 1: cannot unmarshal bool into"),
        ("eth_getBalance", [ADDRESS[2:]], "invalid argument 0: hex string without 0x prefix"),
        ("eth_getBalance", ["0xabc"], "invalid argument 0: hex string of odd length"),
        ("eth_getBalance", ["0x" + "zz" * 20], "invalid argument 0: invalid hex string"),
        ("eth_getBalance", ["0x1234"], "invalid argument 0: hex string has length 4, want 40"),
        ("eth_getBalance", [ADDRESS, "0x01"], "invalid argument 1: hex number with leading zero digits"),
        ("eth_getBalance", [ADDRESS, "0x"], "invalid argument 1: hex string \"0x\""),
        ("eth_getBalance", [ADDRESS, "0xg"], "invalid argument 1: invalid hex string"),
        ("eth_getBalance", [ADDRESS, "10"], "invalid argument 1: hex string without 0x prefix"),
        ("eth_getBalance", [ADDRESS, "newest"], "invalid argument 1: hex string without 0x prefix"),
        ("eth_getBalance", [ADDRESS, {"blockHash": "0x12"}], "invalid argument 1: hex string has length 2"),
        ("eth_getBalance", [ADDRESS, {"blockHash": "0x" + "00" * 32, "blockNumber": "0x1"}],
         "invalid argument 1: cannot specify both blockHash and blockNumber"),
        ("eth_getBalance", [ADDRESS, {}], "invalid argument 1: block parameter object needs"),
        ("eth_getBalance", [ADDRESS, {"blockNumber": "0x1", "x": 1}], "invalid argument 1: unknown field 'x'"),
        ("eth_getBalance", [ADDRESS, {"blockHash": "0x" + "00" * 32, "requireCanonical": "yes"}],
         "invalid argument 1: cannot unmarshal string into bool"),
        ("eth_getBlockByNumber", ["0x" + "f" * 17, False], "invalid argument 0: hex number > 64 bits"),
        ("eth_getBlockByNumber", ["0x" + "f" * 16, False], "invalid argument 0: block number larger than int64"),
        ("eth_getBlockByNumber", ["0x" + "1" * 65, False], "invalid argument 0: hex number > 256 bits"),
        ("eth_getBlockByNumber", ["latest", "true"], "invalid argument 1: cannot unmarshal string into bool"),
        ("eth_getBlockByHash", ["0x" + "00" * 31, False], "invalid argument 0: hex string has length 62, want 64"),
        ("eth_getStorageAt", [ADDRESS, "0x" + "00" * 33], "invalid argument 1: storage key longer than 32 bytes"),
        ("eth_getLogs", [[]], "invalid argument 0: cannot unmarshal array into object"),
        ("eth_getLogs", [{"topics": "x"}], "invalid argument 0: topics must be an array"),
        ("eth_getLogs", [{"topics": [None] * 5}], "invalid argument 0: too many topics"),
        ("eth_getLogs", [{"fromBlock": "0x1", "blockHash": "0x" + "00" * 32}],
         "invalid argument 0: cannot specify both BlockHash and FromBlock/ToBlock"),
        ("eth_getLogs", [{"address": 5}], "invalid argument 0: cannot unmarshal number into"),
        ("eth_getLogs", [{"nope": 1}], "invalid argument 0: unknown field 'nope'"),
        ("eth_feeHistory", ["0x1", "latest", [50, 10]], "reward percentiles must be ascending"),
        ("eth_feeHistory", ["0x1", "latest", [101]], "invalid reward percentile"),
        ("eth_feeHistory", ["0x1", "latest", "x"], "invalid argument 2: cannot unmarshal string into array"),
        ("eth_sendRawTransaction", ["deadbeef"], "invalid argument 0: hex string without 0x prefix"),
        ("eth_getFilterChanges", [1], "invalid argument 0: cannot unmarshal number into string"),
        ("web3_sha3", ["0x1"], "invalid argument 0: hex string of odd length"),
        ("evm_increaseTime", ["0x01"], "invalid argument 0: hex number with leading zero digits"),
        ("evm_increaseTime", [1.5], "invalid argument 0: seconds must be"),
        ("evm_mine", [{"timestamp": "0x1", "what": 1}], "invalid argument 0: unknown field 'what'"),
        ("evm_mine", [{"blocks": 0}], "invalid argument 0: blocks must be between 1 and"),
        ("evm_revert", ["1"], "invalid argument 0: hex string without 0x prefix"),
    ],
)
def test_bad_parameters_are_invalid_params(
    limited_node: NodeProcess, method: str, params: list[Any], message: str
) -> None:
    error = error_of(limited_node, method, *params)
    assert error["code"] == -32602, error
    assert error["message"].startswith(message), error


def test_params_must_be_an_array(limited_node: NodeProcess) -> None:
    for params in ({"address": ADDRESS}, 5, "latest", True):
        reply = call(limited_node, {"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance", "params": params})
        assert reply["error"]["code"] == -32602
    reply = call(limited_node, {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": None})
    assert "result" in reply  # absent or null params: none given


# --- limits ------------------------------------------------------------------------


def test_empty_batch(limited_node: NodeProcess) -> None:
    assert call(limited_node, []) == {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "empty batch"}}


def test_batch_answers_in_order_and_skips_notifications(limited_node: NodeProcess) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"},
        {"jsonrpc": "2.0", "method": "eth_chainId"},
        {"jsonrpc": "2.0", "id": "two", "method": "eth_nope"},
        5,
        {"jsonrpc": "2.0", "id": 3, "method": "eth_getBalance", "params": ["0x1"]},
    ]
    replies = call(limited_node, batch)
    assert [r["id"] for r in replies] == [1, "two", None, 3]
    assert replies[0]["result"] == hex(CHAIN_ID)
    assert [r["error"]["code"] for r in replies[1:]] == [-32601, -32600, -32602]


def test_oversized_batch(limited_node: NodeProcess) -> None:
    limit = LIMITS["max_batch"]
    ok = call(limited_node, [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(limit)])
    assert [r["id"] for r in ok] == list(range(limit))
    reply = call(limited_node, [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(limit + 1)])
    # As geth answers: one error in an array, with the first call's id.
    assert reply == [{"jsonrpc": "2.0", "id": 0, "error": {"code": -32600, "message": "batch too large"}}]


def test_oversized_body(limited_node: NodeProcess) -> None:
    limit = LIMITS["max_body_bytes"]
    padding = "x" * limit
    status, raw = post(limited_node.http, {"jsonrpc": "2.0", "id": 1, "method": "web3_clientVersion", "p": padding})
    assert status == 413
    reply = json.loads(raw)
    assert reply["jsonrpc"] == "2.0" and reply["id"] is None
    assert reply["error"]["code"] == -32005 and f"limit is {limit} bytes" in reply["error"]["message"]
    # Without a Content-Length (chunked), the limit holds as well.
    request_body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "p": padding}).encode()

    async def chunked() -> tuple[int, Any]:
        async def gen() -> Any:
            for start in range(0, len(request_body), 1000):
                yield request_body[start:start + 1000]

        async with aiohttp.ClientSession() as session, session.post(
            limited_node.http, data=gen(), headers={"Content-Type": "application/json"}
        ) as response:
            return response.status, await response.json(content_type=None)

    status, reply = asyncio.run(chunked())
    assert status == 413 and f"limit is {limit} bytes" in reply["error"]["message"]
    assert_serving(limited_node)


def test_get_logs_block_range_limit(limited_node: NodeProcess) -> None:
    limit = LIMITS["logs_max_block_range"]
    limited_node.wait_for_block(limit + 1)
    error = error_of(limited_node, "eth_getLogs", {"fromBlock": "0x0", "toBlock": "latest"})
    assert error["code"] == -32005 and f"max block range {limit}" in error["message"]
    assert error_of(limited_node, "eth_getLogs", {"fromBlock": "0x0", "toBlock": "0xffffffffffff"})["code"] == -32005
    assert isinstance(limited_node.rpc("eth_getLogs", {"fromBlock": "0x1", "toBlock": hex(limit)}), list)
    error = error_of(limited_node, "eth_getLogs", {"fromBlock": "0x2", "toBlock": "0x1"})
    assert error["code"] == -32602 and "fromBlock 2 is after toBlock 1" in error["message"]
    missing = error_of(limited_node, "eth_getLogs", {"blockHash": "0x" + "ee" * 32})
    assert missing == {"code": -32000, "message": "unknown block"}


def test_log_filter_catches_up_one_range_per_poll(limited_node: NodeProcess, accounts: list[LocalAccount]) -> None:
    limit = LIMITS["logs_max_block_range"]
    # Value sent to the message passer logs (MessagePassed); one such transaction
    # every `limit` blocks or more, so that no poll may return two of them.
    passer = "0x4200000000000000000000000000000000000016"
    sender = accounts[9]
    first_block = limited_node.block_number() + 1
    nonce = int(limited_node.rpc("eth_getTransactionCount", sender.address, "pending"), 16)
    mined: list[int] = []  # the block of each log, in order
    for offset in range(4):
        tx_hash = limited_node.rpc("eth_sendRawTransaction", _signed(sender, nonce + offset, to=passer, gas=300_000))
        receipt = wait_until(lambda h=tx_hash: limited_node.rpc("eth_getTransactionReceipt", h), what="withdrawal mined")
        assert receipt["status"] == "0x1" and receipt["logs"]
        mined += [int(receipt["blockNumber"], 16)] * len(receipt["logs"])
        limited_node.wait_for_block(mined[-1] + limit)
    filter_id = limited_node.rpc("eth_newFilter", {"fromBlock": hex(first_block), "address": passer})
    seen: list[int] = []

    def poll() -> bool:
        changes = limited_node.rpc("eth_getFilterChanges", filter_id)
        numbers = [int(entry["blockNumber"], 16) for entry in changes]
        assert not numbers or max(numbers) - min(numbers) < limit, numbers
        seen.extend(numbers)
        return len(seen) >= len(mined)

    wait_until(poll, what=f"filter logs up to block {mined[-1]}")
    assert seen == mined  # none skipped, none twice
    assert limited_node.rpc("eth_uninstallFilter", filter_id) is True


def test_log_criteria_bounds(node: NodeProcess) -> None:
    many = ["0x" + f"{i:040x}" for i in range(1001)]
    error = error_of(node, "eth_getLogs", {"address": many})
    assert error["code"] == -32602 and "exceed max addresses" in error["message"]
    error = error_of(node, "eth_getLogs", {"topics": [["0x" + f"{i:064x}" for i in range(1001)]]})
    assert error["code"] == -32602 and "exceed max sub topics" in error["message"]
    assert node.rpc("eth_getLogs", {"address": many[:1000], "fromBlock": "0x0", "toBlock": "0x0"}) == []


def test_get_and_options_on_http(limited_node: NodeProcess) -> None:
    async def main() -> None:
        async with aiohttp.ClientSession() as session:
            async with session.get(limited_node.http) as response:
                assert response.status == 405
                reply = await response.json()
                assert reply["error"]["code"] == -32600 and "POST" in reply["error"]["message"]
            async with session.options(limited_node.http) as response:
                assert response.status == 204
            async with session.get(limited_node.http + "/health") as response:
                assert response.status == 200 and (await response.json()) == {"status": "ok"}

    asyncio.run(main())


# --- raw transactions ------------------------------------------------------------------


def _signed(account: LocalAccount, nonce: int, **fields: Any) -> str:
    tx: dict[str, Any] = {
        "type": 2, "chainId": CHAIN_ID, "nonce": nonce, "to": "0x" + "55" * 20, "value": 1, "gas": 21_000,
        "maxFeePerGas": 10 * 10**9, "maxPriorityFeePerGas": 10**9,
    }
    tx.update(fields)
    return "0x" + bytes(account.sign_transaction(tx).raw_transaction).hex()


def _deposit() -> str:
    body = rlp.encode([b"\x11" * 32, b"\x22" * 20, b"\x33" * 20, 10**18, 0, 100_000, False, b""])
    return "0x7e" + body.hex()


def test_bad_raw_transactions(limited_node: NodeProcess, accounts: list[LocalAccount]) -> None:
    sender = accounts[7]
    legacy = Account.sign_transaction(  # no chain id: not replay-protected
        {"nonce": 0, "to": "0x" + "55" * 20, "value": 1, "gas": 21_000, "gasPrice": 10**10}, sender.key
    )
    blob = _signed(sender, 0, type=3, maxFeePerBlobGas=1, blobVersionedHashes=[b"\x01" + b"\x00" * 31])
    cases = {
        "0x": "rlp: invalid transaction",
        "0xdeadbeef": "rlp: invalid transaction",
        "0xc0": "rlp: invalid transaction",
        "0x05c0": "transaction type not supported",
        blob: "transaction type not supported (0x03)",
        _deposit(): "transaction type not supported (0x7e)",
        _signed(sender, 0, chainId=1): f"invalid chain id for signer: have 1 want {CHAIN_ID}",
        "0x" + bytes(legacy.raw_transaction).hex(): "only replay-protected (EIP-155) transactions allowed over RPC",
        _signed(sender, 0)[:-4]: "rlp: invalid transaction",
    }
    for raw, message in cases.items():
        error = error_of(limited_node, "eth_sendRawTransaction", raw)
        assert error["code"] == -32000, (raw[:20], error)
        assert error["message"].startswith(message), (raw[:20], error)
    assert limited_node.rpc("eth_getTransactionCount", sender.address, "pending") == "0x0"
    assert_serving(limited_node)


def test_deeply_nested_rlp_is_refused(node: NodeProcess) -> None:
    item = b"\xc0"
    while len(item) < 100_000:  # lists in lists, under the pool's 128 KiB size limit
        size = len(item)
        length = size.to_bytes((size.bit_length() + 7) // 8, "big")
        item = (bytes([0xC0 + size]) if size <= 55 else bytes([0xF7 + len(length)]) + length) + item
    for raw in (item, b"\x02" + item):
        error = error_of(node, "eth_sendRawTransaction", "0x" + raw.hex())
        assert error["code"] == -32000 and error["message"].startswith("rlp: invalid transaction")
    assert node.proc.poll() is None and node.rpc("eth_chainId") == hex(CHAIN_ID)


def test_pool_errors_over_raw_http(limited_node: NodeProcess, accounts: list[LocalAccount]) -> None:
    sender = accounts[8]
    first = limited_node.rpc("eth_sendRawTransaction", _signed(sender, 0))
    wait_until(lambda: limited_node.rpc("eth_getTransactionReceipt", first), what="first transaction mined")
    queued = _signed(sender, 5)  # a nonce gap: stays in the pool
    limited_node.rpc("eth_sendRawTransaction", queued)
    cases = {
        _signed(sender, 0, value=2): "nonce too low: address",
        queued: "already known",
        _signed(sender, 5, value=2): "replacement transaction underpriced",
        _signed(sender, 6, value=10**30): "insufficient funds for gas * price + value: address",
        _signed(sender, 6, maxFeePerGas=0, maxPriorityFeePerGas=0): "transaction underpriced",
        _signed(sender, 6, gas=20_000): "intrinsic gas too low: have 20000, want 21000",
        _signed(sender, 6, gas=30_000_001): "exceeds block gas limit",
        _signed(sender, 6, maxPriorityFeePerGas=10**11): "max priority fee per gas higher than max fee per gas",
    }
    for raw, message in cases.items():
        error = error_of(limited_node, "eth_sendRawTransaction", raw)
        assert error["code"] == -32000 and error["message"].startswith(message), (message, error)
    assert limited_node.rpc("txpool_status")["queued"] == "0x1"


def test_eth_subscribe_over_http(limited_node: NodeProcess) -> None:
    for method, params in (("eth_subscribe", ["newHeads"]), ("eth_unsubscribe", ["0x1"])):
        error = error_of(limited_node, method, *params)
        assert error == {"code": -32601, "message": "notifications not supported"}


# --- WebSocket ---------------------------------------------------------------------------


def test_bad_input_over_websocket(limited_node: NodeProcess) -> None:
    async def body(ws: aiohttp.ClientWebSocketResponse) -> None:
        assert (await ws_call(ws, "{"))["error"]["code"] == -32700
        assert (await ws_call(ws, "[]"))["error"]["message"] == "empty batch"
        assert (await ws_call(ws, "7"))["error"]["code"] == -32600
        reply = await ws_call(ws, {"jsonrpc": "2.0", "id": 1, "method": "eth_nope"})
        assert reply["error"]["code"] == -32601 and "eth_nope" in reply["error"]["message"]
        reply = await ws_call(ws, {"jsonrpc": "2.0", "id": 2, "method": "eth_getBalance", "params": ["0x1"]})
        assert reply["id"] == 2 and reply["error"]["message"].startswith("invalid argument 0:")
        batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(LIMITS["max_batch"] + 1)]
        reply = await ws_call(ws, batch)
        assert reply == [{"jsonrpc": "2.0", "id": 0, "error": {"code": -32600, "message": "batch too large"}}]
        replies = await ws_call(ws, batch[:2])
        assert [r["result"] for r in replies] == [hex(CHAIN_ID)] * 2
        # A binary frame is read as JSON too.
        await ws.send_bytes(json.dumps({"jsonrpc": "2.0", "id": 9, "method": "eth_chainId"}).encode())
        assert (await ws.receive_json())["result"] == hex(CHAIN_ID)
        # Subscription errors.
        reply = await ws_call(ws, {"jsonrpc": "2.0", "id": 3, "method": "eth_subscribe", "params": ["nonsense"]})
        assert reply["error"] == {"code": -32602, "message": 'no "nonsense" subscription in eth namespace'}
        reply = await ws_call(ws, {"jsonrpc": "2.0", "id": 4, "method": "eth_subscribe",
                                   "params": ["logs", {"address": "0x12"}]})
        assert reply["error"]["code"] == -32602 and reply["error"]["message"].startswith("invalid argument 1:")
        reply = await ws_call(ws, {"jsonrpc": "2.0", "id": 5, "method": "eth_subscribe", "params": [7]})
        assert reply["error"]["code"] == -32602
        reply = await ws_call(ws, {"jsonrpc": "2.0", "id": 6, "method": "eth_unsubscribe", "params": ["0x00"]})
        assert reply["result"] is False
        reply = await ws_call(ws, {"jsonrpc": "2.0", "id": 7, "method": "eth_chainId"})
        assert reply["result"] == hex(CHAIN_ID)

    run_raw_ws(limited_node, body)


def test_too_many_subscriptions_on_one_connection(limited_node: NodeProcess) -> None:
    limit = LIMITS["max_subscriptions"]

    async def body(ws: aiohttp.ClientWebSocketResponse) -> None:
        ids = []
        for i in range(limit):
            reply = await ws_call(ws, {"jsonrpc": "2.0", "id": i, "method": "eth_subscribe", "params": ["newHeads"]})
            ids.append(reply["result"])
        reply = await ws_call(ws, {"jsonrpc": "2.0", "id": 99, "method": "eth_subscribe",
                                   "params": ["newPendingTransactions"]})
        assert reply["error"]["code"] == -32005 and f"limit is {limit}" in reply["error"]["message"]
        reply = await ws_call(ws, {"jsonrpc": "2.0", "id": 100, "method": "eth_unsubscribe", "params": [ids[0]]})
        assert reply["result"] is True
        reply = await ws_call(ws, {"jsonrpc": "2.0", "id": 101, "method": "eth_subscribe", "params": ["logs", {}]})
        assert reply["result"].startswith("0x")

    run_raw_ws(limited_node, body)
    # The limit is per connection: a new one starts from zero.
    run_raw_ws(limited_node, _subscribe_once)


async def _subscribe_once(ws: aiohttp.ClientWebSocketResponse) -> None:
    reply = await ws_call(ws, {"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]})
    assert reply["result"].startswith("0x")


def test_websocket_message_over_the_limit(limited_node: NodeProcess) -> None:
    limit = LIMITS["max_ws_message_bytes"]

    async def body(ws: aiohttp.ClientWebSocketResponse) -> None:
        await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "p": "x" * limit}))
        message = await ws.receive()
        assert message.type == aiohttp.WSMsgType.CLOSE
        assert message.data == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
        assert f"limit is {limit} bytes" in message.extra

    run_raw_ws(limited_node, body)
    run_raw_ws(limited_node, _subscribe_once)  # a new connection is served
    assert_serving(limited_node)
