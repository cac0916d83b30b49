"""The query record against golden vectors encoded by Foundry's cast, and its strict decoder."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from attribution.payable.record import (
    QueryRecord,
    RecordError,
    canonical_json,
    index_version,
    index_version_of,
    input_hash,
    write_model_json,
)
from attribution.split import attribution_hash
from tests.conformance.endpoints import foundry_binary

VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "query_record.json").read_text())


def _hex(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))


def _record(case: dict[str, Any]) -> QueryRecord:
    return QueryRecord(int(case["modelId"]), _hex(case["indexVersion"]), _hex(case["input"]), _hex(case["output"]))


@pytest.mark.parametrize("case", VECTORS["valid"], ids=lambda case: case["name"])
def test_record_matches_vector(case: dict[str, Any]) -> None:
    record = _record(case)
    assert record.encode() == _hex(case["record"])
    assert record.query_hash == _hex(case["queryHash"])
    assert input_hash(record.input) == record.input_hash == _hex(case["inputHash"])
    assert QueryRecord.decode(_hex(case["record"])) == record
    split = [(int(cid), weight) for cid, weight in case["split"]]
    assert attribution_hash(record.model_id, record.query_hash, split) == _hex(case["attributionHash"])


@pytest.mark.parametrize("case", VECTORS["invalid"], ids=lambda case: case["name"])
def test_decode_refuses_non_canonical_bytes(case: dict[str, Any]) -> None:
    with pytest.raises(RecordError, match=case["error"]):
        QueryRecord.decode(_hex(case["record"]))


def test_encoding_agrees_with_cast_on_a_fresh_record() -> None:
    """Beyond the stored vectors: a record with odd lengths encoded by cast now."""
    record = QueryRecord(7, bytes(range(32)), b"\xff" * 65, b"\x00\x01\x02")
    cast = subprocess.run(
        [str(foundry_binary("cast")), "abi-encode", "f(uint256,bytes32,bytes,bytes)", "7",
         "0x" + record.index_version.hex(), "0x" + record.input.hex(), "0x" + record.output.hex()],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    assert record.encode() == _hex(cast)
    assert QueryRecord.decode(_hex(cast)) == record


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ((-1, b"\0" * 32, b"", b""), "model_id -1 is not a uint256"),
        ((2**256, b"\0" * 32, b"", b""), "is not a uint256"),
        ((True, b"\0" * 32, b"", b""), "model_id True"),
        ((1, b"\0" * 31, b"", b""), "index_version must be 32 bytes, got 31"),
        ((1, b"\0" * 32, "text", b""), "input must be bytes, got str"),
        ((1, b"\0" * 32, b"", None), "output must be bytes, got NoneType"),
    ],
)
def test_record_fields_are_checked(fields: tuple[Any, ...], message: str) -> None:
    with pytest.raises(RecordError, match=message):
        QueryRecord(*fields)


def test_index_version_is_the_hash_of_canonical_model_json(tmp_path: Path) -> None:
    model = {"kind": "digits", "weights_sha256": "ab" * 32, "index": {"digest": "0x" + "cd" * 32}, "note": "\u00e9"}
    version = write_model_json(tmp_path, model)
    assert (tmp_path / "model.json").read_bytes() == canonical_json(model)
    assert canonical_json(model).startswith(b'{"index":{"digest":')
    assert version == index_version(tmp_path) == index_version_of(model)
    # Whitespace and key order in the file do not change the version; any value does.
    (tmp_path / "model.json").write_text(json.dumps(model, indent=4, ensure_ascii=True))
    assert index_version(tmp_path) == version
    assert index_version_of({**model, "weights_sha256": "ab" * 31 + "ac"}) != version


def test_index_version_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match="no model.json in"):
        index_version(tmp_path)
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(RecordError, match="is not JSON"):
        index_version(tmp_path)
    (tmp_path / "model.json").write_text('{"kind": 3}')
    with pytest.raises(RecordError, match='string "kind"'):
        index_version(tmp_path)
    with pytest.raises(ValueError):
        canonical_json({"kind": "digits", "x": float("nan")})
