"""The content store and its fetcher: blobs named by keccak256, written once,
verified on read, served over HTTP by a real aiohttp server, and never accepted
from a source whose bytes do not hash to the name asked for."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from eth_hash.auto import keccak

from attribution.payable.content import (
    ContentError,
    ContentMismatch,
    ContentNotFound,
    ContentStore,
    content_app,
    fetch_content,
    parse_content_hash,
)


def _serve(app: web.Application) -> Iterator[str]:
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ready = threading.Event()

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield f"http://127.0.0.1:{port}"
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@pytest.fixture
def store(tmp_path: Path) -> ContentStore:
    return ContentStore(tmp_path / "store")


@pytest.fixture
def server(store: ContentStore) -> Iterator[str]:
    yield from _serve(content_app(store))


def test_put_names_blobs_by_keccak_and_get_verifies(store: ContentStore) -> None:
    data = b"contribution bytes"
    digest = store.put(data)
    assert digest == keccak(data)
    assert store.path_of(digest).read_bytes() == data
    assert store.put(data) == digest  # storing it again is a no-op
    assert store.get("0x" + digest.hex()) == data == store.get(digest.hex().upper())
    store.path_of(digest).write_bytes(b"tampered")
    with pytest.raises(ContentMismatch, match="is corrupt: its keccak256 is 0x" + keccak(b"tampered").hex()):
        store.get(digest)
    assert store.put(data) == digest and store.get(digest) == data  # a corrupt copy is replaced
    with pytest.raises(ContentNotFound, match="is not in the store"):
        store.get(keccak(b"other"))
    assert [p.name for p in store.directory.iterdir()] == [digest.hex()]  # no temporary files left


def test_store_refuses_oversized_content(tmp_path: Path) -> None:
    small = ContentStore(tmp_path / "s", max_bytes=8)
    with pytest.raises(ContentError, match="9 bytes, over the store's limit of 8"):
        small.put(b"123456789")


@pytest.mark.parametrize("text, message", [
    ("0x1234", "is not 32 bytes of hex"),
    ("zz" * 32, "is not hex"),
    ("0x" + "00" * 33, "is not 32 bytes of hex"),
])
def test_parse_content_hash_refuses_malformed(text: str, message: str) -> None:
    with pytest.raises(ContentError, match=message):
        parse_content_hash(text)


def test_http_route_serves_raw_bytes_and_json_errors(store: ContentStore, server: str) -> None:
    data = bytes(range(256)) * 3
    digest = store.put(data)
    with urllib.request.urlopen(f"{server}/content/0x{digest.hex()}", timeout=10) as response:
        assert response.read() == data
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert response.headers["ETag"] == f'"0x{digest.hex()}"'
    for path, status, code in ((f"0x{keccak(b'absent').hex()}", 404, "content_not_found"),
                               ("0x12", 400, "invalid_hash")):
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"{server}/content/{path}", timeout=10)
        assert info.value.code == status
        body = json.loads(info.value.read())
        assert body["error"]["code"] == code and body["error"]["message"]
    store.path_of(digest).write_bytes(b"bit rot")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{server}/content/0x{digest.hex()}", timeout=10)
    assert info.value.code == 500 and json.loads(info.value.read())["error"]["code"] == "content_corrupt"


def test_fetch_tries_each_source_and_refuses_wrong_bytes(store: ContentStore, server: str, tmp_path: Path) -> None:
    data = b"the registered content"
    digest = keccak(data)
    # A lying endpoint: serves other bytes under the hash.
    liar = ContentStore(tmp_path / "liar")
    liar.put(b"x")
    liar.path_of(digest).write_bytes(b"substituted content")
    lying = tmp_path / "liar"
    with pytest.raises(ContentNotFound, match="absent"):
        fetch_content([server], digest)
    store.put(data)
    # The liar comes first and is skipped; a dead URL is skipped; the honest server answers.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    assert fetch_content(f"{lying},{dead},{server}", digest) == data
    with pytest.raises(ContentError) as info:
        fetch_content([str(lying), dead], digest)
    assert not isinstance(info.value, ContentNotFound)
    message = str(info.value)
    assert f"content 0x{digest.hex()} unavailable" in message
    assert f"keccak256 is 0x{keccak(b'substituted content').hex()}" in message and "cannot connect" in message
    with pytest.raises(ContentError, match="larger than the limit of 4 bytes"):
        fetch_content([server], digest, max_bytes=4)
    with pytest.raises(ContentError, match="no content source given"):
        fetch_content("", digest)
