"""HTTP/1.1 connections as clients use them: keep-alive, pipelined requests,
requests that arrive in pieces, `Connection: close`, and one connection that
mixes plain JSON POSTs with requests of other shapes (a browser's Origin, a
chunked body). Our node answers plain POSTs on its own path and hands a
connection to aiohttp at the first request of another shape; every answer must
come back whole and in order either way. Each test runs against our node and
against anvil, the reference, with the same assertions."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.anvil import start_anvil, stop_anvil
from tests.rpc.helpers import NodeProcess

CALL = {"to": "0x" + "00" * 19 + "04", "data": "0x0102"}  # the identity precompile: echoes its input


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    process, url = start_anvil(tmp_path_factory.mktemp("anvil") / "anvil.log")
    yield url
    stop_anvil(process)


@pytest.fixture(params=["ours", "anvil"])
def url(request: pytest.FixtureRequest, node: NodeProcess, reference: str) -> str:
    return node.http if request.param == "ours" else reference


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def body(method: str, params: list[Any], request_id: int) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}).encode()


def post(payload: bytes, headers: dict[str, str] | None = None) -> bytes:
    head = {"Host": "localhost", "Content-Type": "application/json", "Content-Length": str(len(payload))}
    head.update(headers or {})
    return ("POST / HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head.items()) + "\r\n").encode() + payload


def chunked(payload: bytes) -> bytes:
    half = len(payload) // 2
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (payload[:half], payload[half:]))
    head = "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    return head.encode() + chunks + b"0\r\n\r\n"


class Reader:
    """HTTP/1.1 responses read off one socket, in order."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.data = b""

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed with {self.data!r} unread")
        self.data += chunk

    def response(self) -> tuple[int, dict[str, str], Any]:
        while b"\r\n\r\n" not in self.data:
            self._fill()
        head, _, self.data = self.data.partition(b"\r\n\r\n")
        status_line, *lines = head.decode().split("\r\n")
        headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
        assert "content-length" in headers, headers
        length = int(headers["content-length"])
        while len(self.data) < length:
            self._fill()
        payload, self.data = self.data[:length], self.data[length:]
        return int(status_line.split()[1]), headers, json.loads(payload)

    def closed(self) -> bool:
        self.sock.settimeout(10)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True


def test_pipelined_requests_are_answered_in_order(url: str) -> None:
    requests = [
        body("eth_chainId", [], 1),
        body("eth_call", [CALL, "latest"], 2),  # runs in a worker pool on ours
        body("eth_blockNumber", [], 3),
        body("eth_call", [CALL, "latest"], 4),
        body("eth_chainId", [], 5),
    ]
    with connect(url) as sock:
        sock.sendall(b"".join(post(r) for r in requests))
        reader = Reader(sock)
        answers = [reader.response() for _ in requests]
    assert [status for status, _, _ in answers] == [200] * len(requests)
    assert [reply["id"] for _, _, reply in answers] == [1, 2, 3, 4, 5]
    assert answers[1][2]["result"] == answers[3][2]["result"] == "0x0102"


def test_a_request_in_small_pieces_is_answered(url: str) -> None:
    raw = post(body("eth_call", [CALL, "latest"], 7))
    with connect(url) as sock:
        for at in range(0, len(raw), 9):
            sock.sendall(raw[at:at + 9])
            time.sleep(0.001)
        status, headers, reply = Reader(sock).response()
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert reply == {"jsonrpc": "2.0", "id": 7, "result": "0x0102"}


def test_connection_close_is_honoured(url: str) -> None:
    with connect(url) as sock:
        sock.sendall(post(body("eth_chainId", [], 1), {"Connection": "close"}))
        reader = Reader(sock)
        status, _, reply = reader.response()
        assert status == 200 and reply["id"] == 1
        assert reader.closed()


def test_one_connection_mixes_plain_and_other_requests(url: str) -> None:
    """Plain POSTs, then a browser's (with Origin) and a chunked one, then plain
    again, all on one keep-alive connection."""
    with connect(url) as sock:
        reader = Reader(sock)
        sock.sendall(post(body("eth_chainId", [], 1)))
        first = reader.response()
        sock.sendall(post(body("eth_chainId", [], 2), {"Origin": "http://localhost:3000"}))
        browser = reader.response()
        sock.sendall(chunked(body("eth_call", [CALL, "latest"], 3)))
        in_chunks = reader.response()
        sock.sendall(post(body("eth_chainId", [], 4)) + post(body("eth_call", [CALL, "latest"], 5)))
        last = [reader.response(), reader.response()]
    answers = [first, browser, in_chunks, *last]
    assert [status for status, _, _ in answers] == [200] * 5
    assert [reply["id"] for _, _, reply in answers] == [1, 2, 3, 4, 5]
    assert first[2]["result"] == browser[2]["result"] == last[0][2]["result"]
    assert in_chunks[2]["result"] == last[1][2]["result"] == "0x0102"
    for _, headers, _ in answers:
        assert headers["content-type"].split(";")[0] == "application/json"


def test_a_batch_mixing_pool_and_loop_methods_answers_in_order(url: str) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": i, "method": method, "params": params}
        for i, (method, params) in enumerate([
            ("eth_chainId", []), ("eth_call", [CALL, "latest"]), ("eth_getBalance", ["0x" + "11" * 20, "latest"]),
            ("eth_call", [CALL, "latest"]), ("eth_chainId", []),
        ])
    ]
    with connect(url) as sock:
        sock.sendall(post(json.dumps(batch).encode()))
        status, _, replies = Reader(sock).response()
    assert status == 200
    assert [reply["id"] for reply in replies] == [0, 1, 2, 3, 4]
    assert [reply["result"] for reply in replies][1:4] == ["0x0102", "0x0", "0x0102"]
