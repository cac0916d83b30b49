"""The query record: what one paid inference was computed from and what it returned.

Sits between the inference service and the chain. The service serves an
inference, encodes its `QueryRecord`, stores the record's bytes in the content
store under their keccak256 (the `queryHash`) and settles that hash with the
split; a verifier fetches the record by `queryHash`, checks it against the
request on chain (`keccak256(input) == inputHash`, the model id, the index
version) and recomputes output and attribution from it.

Formats (docs/attribution.md, "Query record"):

- ``inputHash = keccak256(input)``: the requester passes it to
  ``PayableAI.requestInference(modelId, inputHash)``. The model kind defines the
  input bytes (digits: 64 bytes, one pixel intensity 0..16 each; text: the
  UTF-8 prompt).
- record bytes ``= abi.encode(uint256 modelId, bytes32 indexVersion, bytes input,
  bytes output)``, strict canonical ABI encoding; ``queryHash = keccak256(record)``.
- ``indexVersion = keccak256(canonical model.json)``: model.json records the
  weights' sha256 and the index manifest's digest, so the version names the exact
  weights and index a result was computed with. Canonical bytes: UTF-8 JSON with
  keys sorted, no insignificant whitespace, no NaN/Infinity (`canonical_json`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_abi.abi import encode
from eth_hash.auto import keccak

from attribution.errors import AttributionError

MODEL_JSON = "model.json"
_UINT256_MAX = 2**256 - 1
_WORD = 32
_HEAD_WORDS = 4  # modelId, indexVersion, offset(input), offset(output)


class RecordError(AttributionError, ValueError):
    """Bytes that are not a canonical query record, or a record with a bad field."""


def input_hash(data: bytes) -> bytes:
    """``keccak256(input)``: the ``inputHash`` of ``PayableAI.requestInference``."""
    return keccak(bytes(data))


def canonical_json(value: Any) -> bytes:
    """The canonical bytes of a JSON value: UTF-8, sorted keys, no spaces, finite numbers."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def index_version_of(model_json: Any) -> bytes:
    """``keccak256`` of a model.json object's canonical bytes."""
    return keccak(canonical_json(model_json))


def read_model_json(model_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed model.json of a model directory (an object with a string "kind")."""
    path = Path(model_dir) / MODEL_JSON
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise RecordError(f"no {MODEL_JSON} in {os.fspath(model_dir)}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordError(f"{os.fspath(path)} is not JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
        raise RecordError(f"{os.fspath(path)} must be an object with a string \"kind\"")
    return data


def write_model_json(model_dir: str | os.PathLike[str], model_json: dict[str, Any]) -> bytes:
    """Write model.json in its canonical form; returns the resulting index version."""
    data = canonical_json(model_json)
    path = Path(model_dir) / MODEL_JSON
    tmp = path.with_suffix(".json.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return keccak(data)


def index_version(model_dir: str | os.PathLike[str]) -> bytes:
    """The index version of a model directory: keccak256 of its canonical model.json."""
    return index_version_of(read_model_json(model_dir))


@dataclass(frozen=True)
class QueryRecord:
    """One served inference: model, exact model + index version, input and output bytes."""

    model_id: int
    index_version: bytes
    input: bytes
    output: bytes

    def __post_init__(self) -> None:
        if isinstance(self.model_id, bool) or not isinstance(self.model_id, int) or not 0 <= self.model_id <= _UINT256_MAX:
            raise RecordError(f"model_id {self.model_id!r} is not a uint256")
        for name in ("index_version", "input", "output"):
            if not isinstance(getattr(self, name), (bytes, bytearray)):
                raise RecordError(f"{name} must be bytes, got {type(getattr(self, name)).__name__}")
        if len(self.index_version) != 32:
            raise RecordError(f"index_version must be 32 bytes, got {len(self.index_version)}")

    def encode(self) -> bytes:
        """``abi.encode(uint256 modelId, bytes32 indexVersion, bytes input, bytes output)``."""
        return encode(
            ["uint256", "bytes32", "bytes", "bytes"],
            [self.model_id, bytes(self.index_version), bytes(self.input), bytes(self.output)],
        )

    @property
    def query_hash(self) -> bytes:
        """``keccak256(encode())``: the ``queryHash`` settled on chain and the content-store key."""
        return keccak(self.encode())

    @property
    def input_hash(self) -> bytes:
        return input_hash(self.input)

    @classmethod
    def decode(cls, data: bytes) -> QueryRecord:
        """Parse canonical record bytes; anything else raises `RecordError` naming the problem.

        Canonical means exactly what `encode` produces: the two dynamic fields at the
        offsets 0x80 and right after the first, lengths that fit, zero padding, and
        no trailing bytes, so one record has exactly one encoding (and one hash).
        """
        data = bytes(data)
        if len(data) < _HEAD_WORDS * _WORD:
            raise RecordError(f"query record is {len(data)} bytes, shorter than its {_HEAD_WORDS * _WORD}-byte head")
        model_id = int.from_bytes(data[0:32], "big")
        version = data[32:64]
        input_bytes, end = _dynamic_bytes(data, "input", int.from_bytes(data[64:96], "big"), _HEAD_WORDS * _WORD)
        output_bytes, end = _dynamic_bytes(data, "output", int.from_bytes(data[96:128], "big"), end)
        if end != len(data):
            raise RecordError(f"query record has {len(data) - end} trailing bytes after its output")
        return cls(model_id, version, input_bytes, output_bytes)


def _dynamic_bytes(data: bytes, name: str, offset: int, expected: int) -> tuple[bytes, int]:
    if offset != expected:
        raise RecordError(f"query record {name} offset is {offset:#x}, expected {expected:#x}")
    if offset + _WORD > len(data):
        raise RecordError(f"query record ends before the length of {name}")
    length = int.from_bytes(data[offset : offset + _WORD], "big")
    start = offset + _WORD
    if length > len(data) - start:
        raise RecordError(f"query record {name} length {length} runs past the end ({len(data) - start} bytes left)")
    padded = (length + _WORD - 1) // _WORD * _WORD
    if start + padded > len(data):
        raise RecordError(f"query record {name} padding runs past the end")
    if any(data[start + length : start + padded]):
        raise RecordError(f"query record {name} padding is not zero")
    return data[start : start + length], start + padded
