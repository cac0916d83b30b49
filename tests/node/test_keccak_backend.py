"""The node hashes with the C keccak backend unless the operator chose one."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = (
    "import openledger_node\n"
    "from eth_hash.auto import keccak\n"
    "assert keccak(b'').hex() == 'c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470'\n"
    "print(keccak.hasher.__module__)\n"
)


def _backend(env: dict[str, str]) -> str:
    result = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_pysha3_is_the_default_backend() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ETH_HASH_BACKEND"}
    assert _backend(env) == "eth_hash.backends.pysha3"


def test_an_operator_choice_wins() -> None:
    assert _backend(dict(os.environ, ETH_HASH_BACKEND="pycryptodome")) == "eth_hash.backends.pycryptodome"
