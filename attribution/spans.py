"""Span attribution for language-model output (infini-gram style).

The attribution method for text generators: a suffix array over the tokenised
contributed corpus answers "which contributions contain this exact token span?",
and a generated output is credited to the contributions whose text it reproduces
verbatim. Scores from :func:`SpanIndex.attribute` feed
:func:`attribution.split.reward_weights` like any other per-contribution scores.

Index layout: the documents' token ids (each in ``0..2**31-2``) are concatenated
into one int32 array, each document followed by the separator ``-1``. Generated
tokens are never negative, so no match can cross a document boundary, and since
the array ends with a separator every suffix compared during a search stops at
one. The suffix array is built with ``pydivsufsort`` (libdivsufsort bindings); a
pure-numpy prefix-doubling construction is the fallback when it is not installed.

Matching rule (:meth:`SpanIndex.find_spans`): scan the generated tokens left to
right; at position ``i`` find the longest ``L`` such that ``tokens[i:i+L]`` occurs
in the corpus; if ``L >= min_length`` report the span ``[i, i+L)`` with the sorted
ids of every contribution containing it and continue at ``i+L``, otherwise
continue at ``i+1``.

Weighting rule (:meth:`SpanIndex.attribute`): a matched span of length ``L`` is
worth ``L``, split equally among the contributions that contain it; unmatched
tokens are worth nothing. Linear (not ``L**2``) so that the credit is one unit per
generated token explained by the corpus: the total does not depend on where the
greedy scan happens to cut a long copy into adjacent spans, and a contributor's
share reads as "fraction of the output copied from them". Chance matches of short
common phrases are excluded by ``min_length`` rather than by a super-linear
weight.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from attribution.errors import IndexMismatchError, IndexNotFoundError

try:  # pragma: no branch - which branch runs depends on the environment
    from pydivsufsort import divsufsort as _divsufsort
except ImportError:  # pragma: no cover
    _divsufsort = None

SEPARATOR = -1
"""Token written after every document; never equal to a generated token."""

MAX_TOKEN_ID = 2**31 - 2
INDEX_FORMAT = "openledger-span-index/1"
MANIFEST_NAME = "span_index.json"
_ARRAYS = ("tokens", "suffix_array", "doc_starts", "doc_contributions")


@dataclass(frozen=True)
class Span:
    """``tokens[start:end]`` of the generated text occurs verbatim in these contributions."""

    start: int
    end: int
    contribution_ids: tuple[int, ...]

    @property
    def length(self) -> int:
        return self.end - self.start


def suffix_array_numpy(tokens: NDArray[np.int32]) -> NDArray[np.int64]:
    """Suffix array by prefix doubling (O(n log^2 n)); the end of the array sorts first."""
    n = len(tokens)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    # Dense ranks 1..; 0 is reserved for "past the end".
    rank = np.unique(tokens, return_inverse=True)[1].astype(np.int64).reshape(-1) + 1
    k = 1
    while True:
        shifted = np.zeros(n, dtype=np.int64)
        if k < n:
            shifted[: n - k] = rank[k:]
        order = np.lexsort((shifted, rank))
        primary, secondary = rank[order], shifted[order]
        changed = np.empty(n, dtype=bool)
        changed[0] = True
        changed[1:] = (primary[1:] != primary[:-1]) | (secondary[1:] != secondary[:-1])
        new_rank = np.empty(n, dtype=np.int64)
        new_rank[order] = np.cumsum(changed)
        rank = new_rank
        if rank.max() == n or k >= n:
            return order.astype(np.int64)
        k *= 2


def suffix_array_divsufsort(tokens: NDArray[np.int32]) -> NDArray[np.int64]:
    """Suffix array with libdivsufsort (``pydivsufsort``)."""
    if _divsufsort is None:  # pragma: no cover
        raise ImportError("pydivsufsort is not installed")
    if len(tokens) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.asarray(_divsufsort(np.ascontiguousarray(tokens, dtype=np.int32)), dtype=np.int64)


def build_suffix_array(tokens: NDArray[np.int32]) -> tuple[NDArray[np.int64], str]:
    """The suffix array and the name of the backend that built it."""
    if _divsufsort is not None:
        return suffix_array_divsufsort(tokens), "pydivsufsort"
    return suffix_array_numpy(tokens), "numpy-prefix-doubling"  # pragma: no cover


class SpanIndex:
    """Suffix-array index of a contributed corpus, for exact span lookups."""

    def __init__(
        self,
        tokens: NDArray[np.int32],
        suffix_array: NDArray[np.int64],
        doc_starts: NDArray[np.int64],
        doc_contributions: NDArray[np.int64],
        backend: str = "unknown",
    ) -> None:
        self.tokens = tokens
        self.suffix_array = suffix_array
        self.doc_starts = doc_starts
        self.doc_contributions = doc_contributions
        self.backend = backend
        # Python lists: scalar access in the binary search is much faster than numpy's.
        self._tok: list[int] = tokens.tolist()
        self._sa: list[int] = suffix_array.tolist()

    # ----------------------------------------------------------------- building

    @classmethod
    def build(cls, documents: Sequence[tuple[int, Sequence[int]]]) -> SpanIndex:
        """Index ``(contribution_id, token_ids)`` documents; a contribution may have several."""
        pieces: list[NDArray[np.int32]] = []
        starts: list[int] = []
        contributions: list[int] = []
        offset = 0
        separator = np.array([SEPARATOR], dtype=np.int32)
        for contribution_id, doc in documents:
            array = np.asarray(doc, dtype=np.int64).reshape(-1)
            if array.size and (array.min() < 0 or array.max() > MAX_TOKEN_ID):
                raise ValueError(f"token ids of contribution {contribution_id} must be in 0..{MAX_TOKEN_ID}")
            starts.append(offset)
            contributions.append(int(contribution_id))
            pieces.append(array.astype(np.int32))
            pieces.append(separator)
            offset += array.size + 1
        tokens = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int32)
        suffix_array, backend = build_suffix_array(tokens)
        return cls(
            tokens,
            suffix_array,
            np.asarray(starts, dtype=np.int64),
            np.asarray(contributions, dtype=np.int64),
            backend,
        )

    # ---------------------------------------------------------------- searching

    def _narrow(self, lo: int, hi: int, depth: int, token: int) -> tuple[int, int]:
        """Sub-range of suffixes in ``[lo, hi)`` whose token at ``depth`` equals ``token``.

        Every suffix in ``[lo, hi)`` shares its first ``depth`` tokens with a
        separator-free query prefix, so ``position + depth`` is inside the array.
        """
        tok, sa = self._tok, self._sa
        a, b = lo, hi
        while a < b:  # first suffix with token >= target
            mid = (a + b) // 2
            if tok[sa[mid] + depth] < token:
                a = mid + 1
            else:
                b = mid
        first = a
        b = hi
        while a < b:  # first suffix with token > target
            mid = (a + b) // 2
            if tok[sa[mid] + depth] <= token:
                a = mid + 1
            else:
                b = mid
        return first, a

    def longest_match(self, tokens: Sequence[int], start: int = 0) -> tuple[int, int, int]:
        """Longest ``L`` with ``tokens[start:start+L]`` in the corpus, and its suffix-array range."""
        lo, hi = 0, len(self._sa)
        length = 0
        for token in tokens[start:]:
            token = int(token)
            if token < 0:
                break
            new_lo, new_hi = self._narrow(lo, hi, length, token)
            if new_lo == new_hi:
                break
            lo, hi = new_lo, new_hi
            length += 1
        return length, lo, hi

    def count(self, tokens: Sequence[int]) -> int:
        """Occurrences of ``tokens`` in the corpus (0 for an empty or partly matched query)."""
        length, lo, hi = self.longest_match(tokens)
        return hi - lo if length == len(tokens) and length > 0 else 0

    def contributions_in_range(self, lo: int, hi: int) -> tuple[int, ...]:
        """Sorted ids of the contributions owning the suffixes ``suffix_array[lo:hi]``."""
        positions = self.suffix_array[lo:hi]
        docs = np.searchsorted(self.doc_starts, positions, side="right") - 1
        return tuple(int(c) for c in np.unique(self.doc_contributions[docs]))

    def find_spans(self, tokens: Sequence[int], min_length: int = 4) -> list[Span]:
        """Greedy left-to-right longest matches of at least ``min_length`` tokens."""
        if min_length < 1:
            raise ValueError(f"min_length {min_length} must be at least 1")
        query = [int(t) for t in tokens]
        spans: list[Span] = []
        i = 0
        while i < len(query):
            length, lo, hi = self.longest_match(query, i)
            if length >= min_length:
                spans.append(Span(i, i + length, self.contributions_in_range(lo, hi)))
                i += length
            else:
                i += 1
        return spans

    def attribute(self, tokens: Sequence[int], min_length: int = 4) -> dict[int, float]:
        """Per-contribution credit: each span's length split equally among its contributions."""
        scores: dict[int, float] = {}
        for span in self.find_spans(tokens, min_length):
            share = span.length / len(span.contribution_ids)
            for contribution_id in span.contribution_ids:
                scores[contribution_id] = scores.get(contribution_id, 0.0) + share
        return scores

    # ------------------------------------------------------------------ storage

    def save(self, directory: str | Path) -> None:
        """Write the arrays as ``.npy`` files and a JSON manifest into ``directory``."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        for name in _ARRAYS:
            np.save(path / f"{name}.npy", getattr(self, name), allow_pickle=False)
        manifest = {
            "format": INDEX_FORMAT,
            "backend": self.backend,
            "separator": SEPARATOR,
            "num_tokens": len(self.tokens),
            "num_documents": len(self.doc_starts),
            "arrays": {name: f"{name}.npy" for name in _ARRAYS},
        }
        # The manifest goes last: its presence marks a complete index.
        (path / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")

    @staticmethod
    def exists(directory: str | Path) -> bool:
        """Whether ``directory`` holds a complete saved index."""
        path = Path(directory)
        return (path / MANIFEST_NAME).is_file() and all((path / f"{n}.npy").is_file() for n in _ARRAYS)

    @classmethod
    def load(cls, directory: str | Path) -> SpanIndex:
        """Read an index written by :meth:`save`."""
        path = Path(directory)
        if not cls.exists(path):
            raise IndexNotFoundError(str(path), "span index")
        manifest = json.loads((path / MANIFEST_NAME).read_text())
        if manifest.get("format") != INDEX_FORMAT:
            raise IndexMismatchError("format", manifest.get("format"), INDEX_FORMAT)
        arrays = {name: np.load(path / manifest["arrays"][name], allow_pickle=False) for name in _ARRAYS}
        if len(arrays["tokens"]) != manifest["num_tokens"]:
            raise IndexMismatchError("num_tokens", manifest["num_tokens"], len(arrays["tokens"]))
        if len(arrays["doc_starts"]) != manifest["num_documents"]:
            raise IndexMismatchError("num_documents", manifest["num_documents"], len(arrays["doc_starts"]))
        return cls(
            arrays["tokens"].astype(np.int32, copy=False),
            arrays["suffix_array"].astype(np.int64, copy=False),
            arrays["doc_starts"].astype(np.int64, copy=False),
            arrays["doc_contributions"].astype(np.int64, copy=False),
            manifest["backend"],
        )


def save_span_index(index: SpanIndex, directory: str | Path) -> None:
    """Save ``index`` under ``directory`` (see :meth:`SpanIndex.save`)."""
    index.save(directory)


def load_span_index(directory: str | Path) -> SpanIndex:
    """Load an index saved by :func:`save_span_index`."""
    return SpanIndex.load(directory)


def span_index_exists(directory: str | Path) -> bool:
    """Whether a complete index is saved under ``directory``."""
    return SpanIndex.exists(directory)
