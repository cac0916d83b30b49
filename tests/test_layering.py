"""The package layering of DESIGN section 10, checked on the source.

`openledger_node` is the protocol core and imports none of the packages built on
it; `node` is the only package that imports everything; no two top-level
packages import each other. A new import that breaks the layering fails here,
naming the file and the line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Which of the project's top-level packages each one may import (besides itself).
ALLOWED: dict[str, set[str]] = {
    "contracts": set(),
    "openledger_node": {"contracts"},
    "sequencer": {"openledger_node"},
    "bridge": {"openledger_node", "contracts"},
    "attribution": {"openledger_node", "contracts"},  # the Payable-AI client reads the predeploys' ABIs
    "validator": {"openledger_node"},
    "node": {"openledger_node", "sequencer", "validator", "bridge", "attribution", "contracts"},
}
PROJECT = set(ALLOWED)


def project_imports(path: Path) -> list[tuple[int, str]]:
    """(line, top-level package) of every import of a project package in `path`,
    at any depth (imports inside functions count too)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in PROJECT:
                found.append((node.lineno, top))
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_it_builds_on(package: str) -> None:
    violations = [
        f"{path.relative_to(REPO)}:{line} imports {top}"
        for path in sorted((REPO / package).rglob("*.py"))
        for line, top in project_imports(path)
        if top != package and top not in ALLOWED[package]
    ]
    assert not violations, f"{package} may import only {sorted(ALLOWED[package])}:\n" + "\n".join(violations)


def test_the_allowed_graph_has_no_cycles() -> None:
    def reaches(start: str, target: str, seen: frozenset[str] = frozenset()) -> bool:
        return any(
            dep == target or (dep not in seen and reaches(dep, target, seen | {dep}))
            for dep in ALLOWED[start]
        )

    assert not [p for p in ALLOWED if reaches(p, p)]


def test_the_check_sees_imports(tmp_path: Path) -> None:
    source = tmp_path / "sample.py"
    source.write_text("import os\n\ndef f():\n    from sequencer.builder import BlockBuilder\n    import node.cli\n")
    assert project_imports(source) == [(4, "sequencer"), (5, "node")]
