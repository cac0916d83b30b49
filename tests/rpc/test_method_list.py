"""docs/rpc.md's method table names every method the RPC package serves, so a
new method cannot ship undocumented (and a removed one cannot stay listed)."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import openledger_node.rpc as rpc_package
from openledger_node.rpc.registry import MethodSpec

DOC = Path(__file__).resolve().parents[2] / "docs" / "rpc.md"


def served_methods() -> set[str]:
    names = set()
    for module_info in pkgutil.iter_modules(rpc_package.__path__):
        module = importlib.import_module(f"{rpc_package.__name__}.{module_info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and value.__module__ == module.__name__:
                for attr in vars(value).values():
                    spec = getattr(attr, "__rpc__", None)
                    if isinstance(spec, MethodSpec):
                        names.add(spec.name)
    return names


def documented_methods() -> set[str]:
    text = DOC.read_text()
    section = text[text.index("## Methods"):text.index("Block parameters:")]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([a-z0-9]+_[A-Za-z0-9_]+)`", row.split(" | ")[0])}


def test_every_served_method_is_in_the_table_and_nothing_else() -> None:
    served, documented = served_methods(), documented_methods()
    assert len(served) > 90  # the discovery itself works
    assert served - documented == set(), "served but missing from docs/rpc.md"
    assert documented - served == set(), "listed in docs/rpc.md but not served"
