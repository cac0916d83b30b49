"""The committed artifacts in contracts/artifacts are exactly what the pinned
compiler produces from contracts/src today (DESIGN.md section 6: a check fails
when they are stale)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from contracts import ARTIFACTS_DIR

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPILE_SCRIPT = REPO_ROOT / "contracts" / "compile.mjs"
REGENERATE = "run `node contracts/compile.mjs` and commit contracts/artifacts/"

pytestmark = pytest.mark.skipif(
    not (REPO_ROOT / "node_modules" / "solc").is_dir(),
    reason="node_modules/solc is not installed (run `npm ci` in the repository root)",
)


@pytest.fixture(scope="module")
def fresh_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    node = shutil.which("node")
    assert node is not None, "node is not on PATH but node_modules/solc is installed"
    out = tmp_path_factory.mktemp("artifacts")
    proc = subprocess.run(
        [node, str(COMPILE_SCRIPT), "--out", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"compile.mjs failed:\n{proc.stderr}"
    return out


def _names(directory: Path) -> set[str]:
    return {path.stem for path in directory.glob("*.json")}


def test_compile_artifact_set_matches_committed_succeeds(fresh_dir: Path) -> None:
    missing = sorted(_names(fresh_dir) - _names(ARTIFACTS_DIR))
    extra = sorted(_names(ARTIFACTS_DIR) - _names(fresh_dir))
    assert not missing, f"artifacts missing for {', '.join(missing)}: {REGENERATE}"
    assert not extra, f"artifacts without a contract in contracts/src: {', '.join(extra)}: {REGENERATE}"


def test_compile_each_artifact_matches_committed_succeeds(fresh_dir: Path) -> None:
    stale = sorted(
        name
        for name in _names(fresh_dir) & _names(ARTIFACTS_DIR)
        if (fresh_dir / f"{name}.json").read_bytes() != (ARTIFACTS_DIR / f"{name}.json").read_bytes()
    )
    assert not stale, f"stale artifacts for {', '.join(stale)}: {REGENERATE}"


def test_compile_twice_from_another_directory_is_identical_succeeds(fresh_dir: Path, tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node is not None
    out = tmp_path / "again"
    # A different working directory and output path must not change a byte.
    subprocess.run(
        [node, str(COMPILE_SCRIPT), "--out", str(out)],
        cwd=tmp_path,
        capture_output=True,
        check=True,
        timeout=300,
    )
    assert {p.name for p in out.glob("*.json")} == {p.name for p in fresh_dir.glob("*.json")}
    for path in fresh_dir.glob("*.json"):
        assert (out / path.name).read_bytes() == path.read_bytes(), path.name
