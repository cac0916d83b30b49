"""The inference service's settlement journal: what was answered and what is on chain.

The service answers a paid inference only after the journal holds everything
needed to settle it (record hash, split), so a crash at any point after the
answer loses no settlement: on start the journal is replayed and the settler
carries every entry on from where it stood, checking the chain first.

Format: one JSON object per line in ``<dir>/journal.jsonl``, appended and
fsynced (the directory too, when the file is created). Each line is an event
``{"inferenceId": N, "state": S, "at": unix seconds, ...fields}``; an entry is
the merge of its lines in file order. States, in order:

    requested -> answered -> settle_sent -> settled -> finalized

plus the terminal ``unattributable`` (no positive attribution: nothing to
settle, the requester is refunded after the deadline), ``lost`` (the chain
settled or refunded it otherwise; ``reason`` says how) and ``overturned`` is
recorded as a field of a finalized entry (the split a dispute put in place).
A last line cut short by a crash is dropped on replay (it was never
acknowledged: its fsync had not returned); a bad line anywhere else is an error.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attribution.errors import AttributionError

JOURNAL_FILE = "journal.jsonl"

STATES = ("requested", "answered", "settle_sent", "settled", "finalized", "unattributable", "lost")
_ORDER = {state: n for n, state in enumerate(STATES[:5])}
TERMINAL = frozenset({"finalized", "unattributable", "lost"})
SERVED = frozenset({"answered", "settle_sent", "settled", "finalized", "unattributable", "lost"})
"""States in which the requester got an answer: the inference is not served again."""


class JournalError(AttributionError):
    """A journal that cannot be read back or a transition that is not allowed."""


@dataclass
class Entry:
    """The merged state of one inference."""

    inference_id: int
    state: str
    fields: dict[str, Any] = field(default_factory=dict)
    history: list[tuple[str, float]] = field(default_factory=list)

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)

    @property
    def served(self) -> bool:
        return self.state in SERVED

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    def at(self, state: str) -> float | None:
        """When the entry first reached `state` (unix seconds)."""
        return next((t for s, t in self.history if s == state), None)


class Journal:
    """Append-only, fsynced; `record` is thread-safe (HTTP handlers and the settler share it)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / JOURNAL_FILE
        self._lock = threading.Lock()
        self._entries: dict[int, Entry] = {}
        created = not self.path.exists()
        self._replay()
        self._file = open(self.path, "ab")  # noqa: SIM115 - held open for the service's life
        if created:
            _fsync_dir(self.directory)

    def _replay(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        keep = len(data)
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
                inference_id, state = int(event.pop("inferenceId")), str(event.pop("state"))
                at = float(event.pop("at"))
                if state not in STATES:
                    raise ValueError(f"unknown state {state!r}")
            except (ValueError, KeyError, TypeError) as exc:
                if number == len(lines) and not data.endswith(b"\n"):
                    keep = len(data) - len(line)  # a write cut short: never acknowledged
                    break
                raise JournalError(f"{self.path}:{number}: not a journal line ({exc})") from exc
            self._apply(inference_id, state, at, event)
        if keep != len(data):
            with open(self.path, "r+b") as f:
                f.truncate(keep)
                f.flush()
                os.fsync(f.fileno())

    def _apply(self, inference_id: int, state: str, at: float, fields: dict[str, Any]) -> Entry:
        entry = self._entries.get(inference_id)
        if entry is None:
            entry = self._entries[inference_id] = Entry(inference_id, state)
        entry.state = state
        entry.fields.update(fields)
        entry.history.append((state, at))
        return entry

    def record(self, inference_id: int, state: str, **fields: Any) -> Entry:
        """Append one event and fsync it; returns the merged entry.

        A state may only move forward (a repeat of the same state is allowed: a
        settle resent with a new transaction); nothing follows a terminal state.
        """
        if state not in STATES:
            raise JournalError(f"unknown journal state {state!r}")
        with self._lock:
            entry = self._entries.get(inference_id)
            if entry is not None:
                if entry.terminal:
                    raise JournalError(f"inference {inference_id} is already {entry.state}")
                if state in _ORDER and _ORDER.get(entry.state, -1) > _ORDER[state]:
                    raise JournalError(f"inference {inference_id} cannot go from {entry.state} back to {state}")
            at = time.time()
            line = json.dumps({"inferenceId": inference_id, "state": state, "at": at, **fields},
                              separators=(",", ":"), sort_keys=True)
            self._file.write(line.encode() + b"\n")
            self._file.flush()
            os.fsync(self._file.fileno())
            return self._apply(inference_id, state, at, dict(fields))

    def get(self, inference_id: int) -> Entry | None:
        with self._lock:
            return self._entries.get(inference_id)

    def entries(self) -> Iterator[Entry]:
        with self._lock:
            items = list(self._entries.values())
        yield from sorted(items, key=lambda e: e.inference_id)

    def pending(self, *states: str) -> list[Entry]:
        """Entries currently in one of `states`, by inference id."""
        return [e for e in self.entries() if e.state in states]

    def close(self) -> None:
        with self._lock:
            self._file.close()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
