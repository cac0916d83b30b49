"""The content store: blobs named by their keccak256, for contributions and query records.

A contribution's data is registered on chain only by its ``contentHash``; a
settled inference only by its ``queryHash``. The bytes themselves live here: a
directory of files named by the lowercase hex of their keccak256 (no prefix),
written once (temporary file, fsync, rename) and verified again on every read,
so a corrupted or substituted file is never served or used as if it were the
registered content.

Served over HTTP by ``GET /content/0x<hash>`` (`content_routes`, mounted by the
inference service; ``openledger-attribution content-serve`` serves a directory
on its own for contributors): the raw bytes as application/octet-stream, or a
JSON error ``{"error": {"code", "message"}}`` (400 for a malformed hash, 404 for
absent content). `fetch_content` reads a blob from one or more such endpoints,
or from local store directories, and checks the hash of what it got.
"""

from __future__ import annotations

import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path

from aiohttp import web
from eth_hash.auto import keccak

from attribution.errors import AttributionError

__all__ = [
    "MAX_CONTENT_BYTES",
    "ContentError",
    "ContentMismatch",
    "ContentNotFound",
    "ContentStore",
    "content_app",
    "content_routes",
    "fetch_content",
    "parse_content_hash",
]

MAX_CONTENT_BYTES = 64 * 1024 * 1024
"""Largest blob the store accepts and a fetch reads (bytes)."""

_CHUNK = 1 << 16


class ContentError(AttributionError):
    """Content that cannot be stored or obtained; the message says which and why."""


class ContentNotFound(ContentError):
    """No store or endpoint holds the content."""


class ContentMismatch(ContentError):
    """Bytes whose keccak256 is not the hash they were stored or fetched under."""


def parse_content_hash(text: str | bytes) -> bytes:
    """A 32-byte hash from bytes or hex (0x-prefixed or not); anything else raises `ContentError`."""
    if isinstance(text, (bytes, bytearray)):
        if len(text) != 32:
            raise ContentError(f"a content hash is 32 bytes, got {len(text)}")
        return bytes(text)
    body = text[2:] if text[:2].lower() == "0x" else text
    if len(body) != 64:
        raise ContentError(f"content hash {text!r} is not 32 bytes of hex (64 hex digits)")
    try:
        return bytes.fromhex(body)
    except ValueError:
        raise ContentError(f"content hash {text!r} is not hex") from None


def _hex(digest: bytes) -> str:
    return "0x" + digest.hex()


class ContentStore:
    """A directory of write-once blobs named by the hex of their keccak256."""

    def __init__(self, directory: str | os.PathLike[str], *, max_bytes: int = MAX_CONTENT_BYTES) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.directory.mkdir(parents=True, exist_ok=True)

    def path_of(self, content_hash: str | bytes) -> Path:
        return self.directory / parse_content_hash(content_hash).hex()

    def has(self, content_hash: str | bytes) -> bool:
        return self.path_of(content_hash).is_file()

    def put(self, data: bytes) -> bytes:
        """Store ``data``; returns its keccak256. Storing content already present is a no-op
        (after checking the stored copy; a corrupted one is replaced)."""
        data = bytes(data)
        if len(data) > self.max_bytes:
            raise ContentError(f"content is {len(data)} bytes, over the store's limit of {self.max_bytes}")
        digest = keccak(data)
        path = self.directory / digest.hex()
        if path.is_file() and keccak(path.read_bytes()) == digest:
            return digest
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(self.directory)
        return digest

    def put_file(self, path: str | os.PathLike[str]) -> bytes:
        source = Path(path)
        size = source.stat().st_size
        if size > self.max_bytes:
            raise ContentError(f"{source} is {size} bytes, over the store's limit of {self.max_bytes}")
        return self.put(source.read_bytes())

    def get(self, content_hash: str | bytes) -> bytes:
        """The stored bytes, verified against their hash."""
        digest = parse_content_hash(content_hash)
        path = self.directory / digest.hex()
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ContentNotFound(f"content {_hex(digest)} is not in the store at {self.directory}") from None
        actual = keccak(data)
        if actual != digest:
            raise ContentMismatch(f"stored content {_hex(digest)} at {path} is corrupt: its keccak256 is {_hex(actual)}")
        return data


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a directory; the file itself is synced
    finally:
        os.close(fd)


# ------------------------------------------------------------------ HTTP


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def content_routes(store: ContentStore) -> list[web.RouteDef]:
    """The ``GET /content/0x<hash>`` route over ``store`` (mount with ``app.add_routes``)."""

    async def get_content(request: web.Request) -> web.StreamResponse:
        text = request.match_info["hash"]
        try:
            digest = parse_content_hash(text)
        except ContentError as exc:
            return _error(400, "invalid_hash", str(exc))
        try:
            data = store.get(digest)
        except ContentNotFound:
            return _error(404, "content_not_found", f"no content with hash {_hex(digest)}")
        except ContentMismatch as exc:
            return _error(500, "content_corrupt", str(exc))
        return web.Response(
            body=data,
            content_type="application/octet-stream",
            headers={"ETag": f'"{_hex(digest)}"', "Cache-Control": "public, max-age=31536000, immutable"},
        )

    return [web.get("/content/{hash}", get_content)]


def content_app(store: ContentStore) -> web.Application:
    """An aiohttp application serving only ``store`` (``content-serve``)."""
    app = web.Application()
    app.add_routes(content_routes(store))
    return app


# ------------------------------------------------------------------ fetching


def _sources(sources: str | Sequence[str]) -> list[str]:
    items: Iterable[str] = sources.split(",") if isinstance(sources, str) else sources
    out = [s.strip() for s in items if s and s.strip()]
    if not out:
        raise ContentError("no content source given (an http(s) URL or a store directory)")
    return out


def fetch_content(
    sources: str | Sequence[str],
    content_hash: str | bytes,
    *,
    max_bytes: int = MAX_CONTENT_BYTES,
    timeout: float = 30.0,
) -> bytes:
    """The content with ``content_hash`` from the first source that has it.

    A source is an http(s) base URL (``GET <url>/content/0x<hash>``) or a store
    directory; a comma-separated string lists several. Each answer is checked
    against the hash: a wrong or oversized answer counts as that source failing
    and the next source is tried. Raises `ContentNotFound` when every source
    answered "absent", else `ContentError` listing each source's failure.
    """
    digest = parse_content_hash(content_hash)
    failures: list[str] = []
    all_absent = True
    for source in _sources(sources):
        try:
            data = _fetch_one(source, digest, max_bytes, timeout)
        except ContentNotFound as exc:
            failures.append(f"{source}: {exc}")
            continue
        except ContentError as exc:
            all_absent = False
            failures.append(f"{source}: {exc}")
            continue
        actual = keccak(data)
        if actual != digest:
            all_absent = False
            failures.append(f"{source}: served bytes whose keccak256 is {_hex(actual)}")
            continue
        return data
    error = ContentNotFound if all_absent else ContentError
    raise error(f"content {_hex(digest)} unavailable: " + "; ".join(failures))


def _fetch_one(source: str, digest: bytes, max_bytes: int, timeout: float) -> bytes:
    if not source.startswith(("http://", "https://")):
        store = Path(source.removeprefix("file://"))
        if not store.is_dir():
            raise ContentError("not an http(s) URL nor a store directory")
        path = store / digest.hex()
        if not path.is_file():
            raise ContentNotFound("absent")
        if path.stat().st_size > max_bytes:
            raise ContentError(f"larger than the limit of {max_bytes} bytes")
        return path.read_bytes()
    url = f"{source.rstrip('/')}/content/{_hex(digest)}"
    request = urllib.request.Request(url, headers={"Accept": "application/octet-stream"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) > max_bytes:
                raise ContentError(f"answer of {length} bytes is larger than the limit of {max_bytes} bytes")
            chunks: list[bytes] = []
            size = 0
            while chunk := response.read(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise ContentError(f"answer is larger than the limit of {max_bytes} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise ContentNotFound("absent (HTTP 404)") from None
        raise ContentError(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise ContentError(f"cannot connect ({exc.reason})") from None
    except (TimeoutError, OSError) as exc:
        raise ContentError(f"read failed ({exc})") from None
