"""Hostile and heavy clients against a real node process: each attack that once
stalled the node, answered the way geth answers it, while the node keeps
serving an honest client.

The node here has small limits (environment overrides) so that each one is
reached cheaply: 24 connections, a 1.5 s read deadline, a 3 s idle timeout,
64 KiB responses, a 0.5 s execution deadline, 4 filters.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.rpc.helpers import NodeProcess, post, start_node, wait_until

HOSTILE_LIMITS = {
    "max_connections": 24,
    "read_timeout": 1.5,
    "idle_timeout": 3,
    "max_response_bytes": 64 * 1024,
    "evm_timeout": 0.5,
    "max_filters": 4,
    "filter_pending_buffer": 16,
}
# An endless loop: JUMPDEST PUSH1 0 JUMP.
ENDLESS = "0x5b600056"
LOOPER = "0x" + "ab" * 20
FUNDED = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"


@pytest.fixture(scope="module")
def hostile_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    env = {f"OPENLEDGER__RPC__{name.upper()}": str(value) for name, value in HOSTILE_LIMITS.items()}
    running = start_node(tmp_path_factory.mktemp("hostile") / "data", block_time=0.25, env=env)
    yield running
    running.stop()


def host_port(node: NodeProcess) -> tuple[str, int]:
    host, port = node.http.removeprefix("http://").split(":")
    return host, int(port)


def raw_http(node: NodeProcess, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """One POST with exactly the given headers (urllib adds its own)."""
    host, port = host_port(node)
    head = {"Host": f"{host}:{port}", "Content-Type": "application/json", "Content-Length": str(len(body)),
            "Connection": "close"}
    head.update(headers or {})
    request = "POST / HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head.items()) + "\r\n"
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(request.encode() + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def call(method: str, *params: Any, request_id: Any = 1) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)}).encode()


def closed_by_server(sock: socket.socket, timeout: float) -> bool:
    """Whether the server closes `sock` within `timeout` seconds."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


# --- 1. the nesting-depth check is linear -------------------------------------------


@pytest.mark.timeout(60)
def test_unterminated_escaped_string_is_answered_at_once(hostile_node: NodeProcess) -> None:
    # 1 MB of escaped quotes with no end: the quadratic check took hours on this.
    body = b"[" * 101 + b'"' + b'\\"' * 500_000
    status, raw = post(hostile_node.http, body)
    assert status == 200
    assert json.loads(raw)["error"]["code"] == -32700
    assert hostile_node.block_number() >= 0


# --- 3. execution deadline and separate pools ---------------------------------------


def test_endless_eth_call_stops_at_the_deadline(hostile_node: NodeProcess) -> None:
    overrides = {LOOPER: {"code": ENDLESS}}
    for method, params in (
        ("eth_call", [{"to": LOOPER}, "latest", overrides]),
        ("eth_estimateGas", [{"from": FUNDED, "to": LOOPER}, "latest", overrides]),
        ("eth_createAccessList", [{"from": FUNDED, "to": LOOPER}, "latest", overrides]),
    ):
        started = time.monotonic()
        failure = hostile_node.error(method, *params)
        assert failure.code == -32000, (method, failure.error)
        assert failure.message == "execution aborted (timeout = 0.5s)", (method, failure.error)
        # Far from the 50M gas cap's tens of seconds: the deadline stopped it.
        assert time.monotonic() - started < 30


def test_endless_calls_do_not_starve_log_queries(hostile_node: NodeProcess) -> None:
    async def main() -> tuple[list[Any], Any]:
        loop = asyncio.get_running_loop()
        body = call("eth_call", {"to": LOOPER}, "latest", {LOOPER: {"code": ENDLESS}})
        slow = [loop.run_in_executor(None, post, hostile_node.http, body) for _ in range(6)]
        await asyncio.sleep(0.1)
        logs = await loop.run_in_executor(None, post, hostile_node.http, call("eth_getLogs", {"fromBlock": "latest"}))
        return await asyncio.gather(*slow), logs

    slow, (status, raw) = asyncio.run(main())
    assert status == 200 and isinstance(json.loads(raw)["result"], list)
    assert all(json.loads(body)["error"]["code"] == -32000 for _, body in slow)


# --- 2. response size caps ----------------------------------------------------------


def test_batch_answer_is_capped(hostile_node: NodeProcess) -> None:
    hostile_node.wait_for_block(2)
    batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_getBlockByNumber", "params": ["0x1", True]}
             for i in range(200)]
    status, raw = post(hostile_node.http, batch)
    replies = json.loads(raw)
    assert status == 200 and len(raw) < 2 * HOSTILE_LIMITS["max_response_bytes"]
    assert [r["id"] for r in replies] == list(range(200))  # every call answered
    results = [r for r in replies if "result" in r]
    errors = [r["error"] for r in replies if "error" in r]
    assert results and errors
    assert all(e == {"code": -32003, "message": "response too large"} for e in errors)
    # The answers are in order: results first, then the capped ones.
    assert replies[: len(results)] == results


def test_single_answer_is_capped(hostile_node: NodeProcess) -> None:
    # A call whose code returns 100 KiB of memory: 200 KiB of hex, over the 64 KiB cap.
    target = "0x" + "ab" * 20
    returns_100k = "0x" + "62019000" + "6000" + "f3"  # PUSH3 102400, PUSH1 0, RETURN
    reply = json.loads(post(hostile_node.http, call(
        "eth_call", {"to": target}, "latest", {target: {"code": returns_100k}}))[1])
    assert reply["error"] == {"code": -32003, "message": "response too large"}
    # The same call returning 1 KiB is answered.
    small = json.loads(post(hostile_node.http, call(
        "eth_call", {"to": target}, "latest", {target: {"code": "0x" + "610400" + "6000" + "f3"}}))[1])
    assert small["result"] == "0x" + "00" * 1024


# --- 4. connections: limit, slow requests, idle ---------------------------------------


def test_connection_limit_refuses_the_excess_and_recovers(hostile_node: NodeProcess) -> None:
    host, port = host_port(hostile_node)
    held = []
    try:
        # Keep every slot busy with a request that has started but not finished.
        for _ in range(HOSTILE_LIMITS["max_connections"]):
            sock = socket.create_connection((host, port), timeout=10)
            sock.sendall(b"POST / HTTP/1.1\r\n")
            held.append(sock)
        extra = socket.create_connection((host, port), timeout=10)
        assert closed_by_server(extra, 5), "a connection over the limit was kept open"
        extra.close()
    finally:
        for sock in held:
            sock.close()
    # The slots free up: an honest client is served again.
    wait_until(lambda: _answers(hostile_node), 10, "the node to serve again")


def _answers(node: NodeProcess) -> bool:
    try:
        return node.block_number() >= 0
    except (OSError, AssertionError):
        return False


def test_slow_request_is_closed_at_the_read_deadline(hostile_node: NodeProcess) -> None:
    host, port = host_port(hostile_node)
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: localhost\r\n")  # headers never finished
        assert closed_by_server(sock, HOSTILE_LIMITS["read_timeout"] + 5)
    with socket.create_connection((host, port), timeout=10) as sock:
        pass  # connected, silent: the first request must arrive in time too
    with socket.create_connection((host, port), timeout=10) as sock:
        assert closed_by_server(sock, HOSTILE_LIMITS["read_timeout"] + 5)
    metrics = _metrics(hostile_node)
    assert metrics["openledger_rpc_slow_clients_closed_total"] >= 2


def test_idle_keepalive_connection_is_closed(hostile_node: NodeProcess) -> None:
    host, port = host_port(hostile_node)
    body = call("eth_chainId")
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(
            f"POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode() + body
        )
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        assert closed_by_server(sock, HOSTILE_LIMITS["idle_timeout"] + 10)


def _metrics(node: NodeProcess) -> dict[str, float]:
    import urllib.request

    with urllib.request.urlopen(node.http + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line and not line.startswith("#")
    }


# --- 6. strict quantities -------------------------------------------------------------


@pytest.mark.parametrize("bad", ["0x-1", "0x+1", "0x1_0", "0x 1", "0x\u0661", "0x1 ", "0x１"])
def test_loose_hex_numbers_are_invalid_params(hostile_node: NodeProcess, bad: str) -> None:
    failure = hostile_node.error("eth_getTransactionByBlockNumberAndIndex", "latest", bad)
    assert failure.code == -32602, failure.error
    failure = hostile_node.error("eth_getBalance", FUNDED, bad)
    assert failure.code == -32602, failure.error


def test_loose_hex_data_is_invalid_params(hostile_node: NodeProcess) -> None:
    for bad in ("0x0 1", "0x-1", "0x\u0661\u0661"):
        failure = hostile_node.error("eth_sendRawTransaction", bad)
        assert failure.code == -32602, (bad, failure.error)


# --- 7. filters -------------------------------------------------------------------------


def test_filter_limit_and_release(hostile_node: NodeProcess) -> None:
    ids = [hostile_node.rpc("eth_newBlockFilter") for _ in range(HOSTILE_LIMITS["max_filters"])]
    failure = hostile_node.error("eth_newPendingTransactionFilter")
    assert failure.code == -32005 and "too many filters" in failure.message
    assert hostile_node.rpc("eth_uninstallFilter", ids.pop()) is True
    ids.append(hostile_node.rpc("eth_newPendingTransactionFilter"))
    for filter_id in ids:
        hostile_node.rpc("eth_uninstallFilter", filter_id)


def test_pending_filter_keeps_a_bounded_window(hostile_node: NodeProcess) -> None:
    from eth_account import Account

    from openledger_node.execution.genesis import dev_private_keys

    filter_id = hostile_node.rpc("eth_newPendingTransactionFilter")
    account = Account.from_key(dev_private_keys()[5])
    nonce = int(hostile_node.rpc("eth_getTransactionCount", account.address, "pending"), 16)
    sent = []
    for i in range(HOSTILE_LIMITS["filter_pending_buffer"] + 8):
        raw = account.sign_transaction({
            "type": 2, "chainId": 161299, "nonce": nonce + i, "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": 10**8, "gas": 21_000, "to": "0x" + "77" * 20, "value": 1,
        }).raw_transaction
        sent.append(hostile_node.rpc("eth_sendRawTransaction", "0x" + bytes(raw).hex()))
    changes = hostile_node.rpc("eth_getFilterChanges", filter_id)
    # The newest hashes, within the shared window; nothing older than it is kept.
    assert 0 < len(changes) <= HOSTILE_LIMITS["filter_pending_buffer"]
    assert changes == [h for h in sent if h in changes]
    assert changes[-1] == sent[-1]
    hostile_node.rpc("eth_uninstallFilter", filter_id)


# --- 9. Host, content type and WebSocket origin ---------------------------------------------


def test_foreign_host_is_refused(hostile_node: NodeProcess) -> None:
    status, body = raw_http(hostile_node, call("eth_chainId"), {"Host": "evil.example"})
    assert status == 403 and b"invalid host" in body
    for host in ("localhost", "localhost:8545", "127.0.0.1:1", "[::1]:8545"):
        status, body = raw_http(hostile_node, call("eth_chainId"), {"Host": host})
        assert status == 200, (host, body)


def test_non_json_content_type_is_refused(hostile_node: NodeProcess) -> None:
    snapshot = call("evm_snapshot")
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        status, body = raw_http(hostile_node, snapshot, {"Content-Type": content_type, "Origin": "http://evil.example"})
        assert status == 415 and b"application/json" in body, content_type
    status, body = raw_http(hostile_node, call("eth_chainId"), {"Content-Type": "application/json; charset=UTF-8"})
    assert status == 200 and json.loads(body)["result"] == hex(161299)


def test_websocket_from_a_foreign_origin_is_refused(hostile_node: NodeProcess) -> None:
    async def connect(origin: str | None) -> Any:
        headers = {"Origin": origin} if origin else None
        async with websockets.connect(hostile_node.ws, additional_headers=headers) as ws:
            await ws.send(call("eth_chainId").decode())
            return json.loads(await ws.recv())["result"]

    with pytest.raises(InvalidStatus) as caught:
        asyncio.run(connect("http://evil.example"))
    assert caught.value.response.status_code == 403
    assert asyncio.run(connect("http://localhost:3000")) == hex(161299)
    assert asyncio.run(connect(None)) == hex(161299)


# --- 11. conformance -----------------------------------------------------------------------------


def test_fractional_id_is_answered(hostile_node: NodeProcess) -> None:
    status, raw = post(hostile_node.http, call("eth_chainId", request_id=1.5))
    assert status == 200 and json.loads(raw) == {"jsonrpc": "2.0", "id": 1.5, "result": hex(161299)}

