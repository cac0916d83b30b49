"""On-disk journal of the transaction pool.

Every transaction the pool accepts is appended here, and flushed to the
operating system, before `eth_sendRawTransaction` acknowledges it; on start the
pool replays the journal through its normal admission checks. After each new
head (and on close) the pool rewrites the journal with only its live
transactions, so between rewrites the file is a superset of the pool.

File format (all integers big-endian)::

    journal := MAGIC record*
    MAGIC   := "OLTXJNL" 0x01                      (8 bytes, the last is the version)
    record  := length:u32 checksum:u32 payload     (checksum = CRC-32 of payload)
    payload := the transaction's canonical encoding (length bytes)

A crash can only tear the last record, because records are only ever appended:
reading stops at the first record that is short or fails its checksum.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

MAGIC = b"OLTXJNL\x01"
_HEADER = struct.Struct(">II")
MAX_RECORD_SIZE = 16 * 1024 * 1024


def encode_record(payload: bytes) -> bytes:
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


@dataclass(frozen=True)
class JournalContents:
    records: list[bytes]
    torn: bool  # reading stopped at a short or corrupt record


def read_journal(path: Path) -> JournalContents:
    """All intact records of a journal file, in order; a missing file is empty."""
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return JournalContents([], False)
    records: list[bytes] = []
    with fh:
        if fh.read(len(MAGIC)) != MAGIC:
            raise ValueError(f"{path} is not a transaction pool journal")
        while True:
            header = fh.read(_HEADER.size)
            if not header:
                return JournalContents(records, False)
            if len(header) < _HEADER.size:
                return JournalContents(records, True)
            length, checksum = _HEADER.unpack(header)
            if length > MAX_RECORD_SIZE:
                return JournalContents(records, True)
            payload = fh.read(length)
            if len(payload) < length or zlib.crc32(payload) != checksum:
                return JournalContents(records, True)
            records.append(payload)


class TxJournal:
    """Append-only writer with atomic rewrite. Not thread-safe: the pool holds its
    lock around every call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: BinaryIO | None = None

    def load(self) -> JournalContents:
        """Read the journal; an unreadable file is moved aside, never deleted."""
        try:
            return read_journal(self.path)
        except ValueError:
            aside = self.path.with_name(self.path.name + ".corrupt")
            os.replace(self.path, aside)
            log.warning("txpool journal %s has no valid header; moved to %s", self.path, aside)
            return JournalContents([], True)

    def append(self, payload: bytes) -> None:
        """Write one record and flush it to the OS before returning."""
        if self._fh is None:
            self._fh = self._open_append()
        self._fh.write(encode_record(payload))
        self._fh.flush()

    def rewrite(self, payloads: Iterable[bytes]) -> int:
        """Replace the journal with exactly `payloads` (write a temp file, then
        os.replace), and reopen it for appending. Returns the record count."""
        self.close()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        count = 0
        with tmp.open("wb") as fh:
            fh.write(MAGIC)
            for payload in payloads:
                fh.write(encode_record(payload))
                count += 1
        os.replace(tmp, self.path)
        self._fh = self._open_append()
        return count

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def _open_append(self) -> BinaryIO:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = self.path.open("ab")
        if fh.tell() == 0:
            fh.write(MAGIC)
            fh.flush()
        return fh
