"""Compiled Solidity artifacts of the OpenLedger contracts.

The Solidity sources live in ``contracts/src``; ``node contracts/compile.mjs``
compiles them with the pinned solc and writes one JSON artifact per deployable
contract to ``contracts/artifacts``. The artifacts are committed and shipped as
package data, so the node (genesis predeploys, bindings, tests) reads ABIs and
bytecode from here and never needs a compiler at run time.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

__all__ = ["ARTIFACTS_DIR", "Artifact", "load_artifact"]

ARTIFACTS_DIR: Final[Path] = Path(__file__).resolve().parent / "artifacts"

_COMPILE_HINT: Final[str] = "run `npm ci && node contracts/compile.mjs` in the repository root"


@dataclass(frozen=True)
class Artifact:
    """ABI and bytecode of one compiled contract.

    ``bytecode`` is the creation code (constructor arguments, ABI-encoded, are
    appended to it); ``deployed_bytecode`` is the runtime code without
    immutables filled in, so it equals the code at an address only for
    contracts without immutables.
    """

    name: str
    abi: tuple[dict[str, Any], ...]
    bytecode: bytes
    deployed_bytecode: bytes


def _hex_to_bytes(value: object, field: str, path: Path) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ValueError(f"{path}: field {field!r} is not a 0x-prefixed hex string")
    return bytes.fromhex(value[2:])


@functools.cache
def load_artifact(name: str) -> Artifact:
    """Return the compiled artifact of contract ``name`` (e.g. ``"L1Block"``).

    Raises ``FileNotFoundError`` when the artifact does not exist, and
    ``ValueError`` when ``name`` is not a contract name or the file is malformed.
    """
    if not name.isidentifier():
        raise ValueError(f"{name!r} is not a Solidity contract name")
    path = ARTIFACTS_DIR / f"{name}.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"no compiled artifact for contract {name!r} at {path}; {_COMPILE_HINT}"
        ) from None
    if not isinstance(raw, dict) or raw.get("contractName") != name:
        raise ValueError(f"{path}: not the artifact of contract {name!r}")
    abi = raw.get("abi")
    if not isinstance(abi, list):
        raise ValueError(f"{path}: field 'abi' is not a list")
    return Artifact(
        name=name,
        abi=tuple(abi),
        bytecode=_hex_to_bytes(raw.get("bytecode"), "bytecode", path),
        deployed_bytecode=_hex_to_bytes(raw.get("deployedBytecode"), "deployedBytecode", path),
    )
