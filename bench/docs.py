"""What the benchmarks share: the line that names the machine, and rewriting
one `## ` section of docs/benchmarks.md (each bench owns its section)."""

from __future__ import annotations

import os
import platform
import re
import sys
from pathlib import Path

BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def _read(path: str, pattern: str) -> str | None:
    try:
        match = re.search(pattern, Path(path).read_text())
    except OSError:
        return None
    return match.group(1).strip() if match else None


def machine_line() -> str:
    """CPU, cores, memory, Python and OS; with torch loaded, its version,
    threads and the GPU (or "no GPU")."""
    parts = [f"machine: {platform.machine()}"]
    cpu = _read("/proc/cpuinfo", r"model name\s+:\s+(.*)")
    if cpu:
        parts.append(cpu)
    parts.append(f"{os.cpu_count()} cores")
    kb = _read("/proc/meminfo", r"MemTotal:\s+(\d+)")
    if kb:
        parts.append(f"{int(kb) / 2**20:.0f} GiB")
    torch = sys.modules.get("torch")
    if torch is not None:
        parts.append(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU")
    parts.append(f"Python {platform.python_version()}")
    if torch is not None:
        parts.append(f"torch {torch.__version__}")
    parts.append(platform.system())
    if torch is not None:
        parts.append(f"{torch.get_num_threads()} torch threads")
    return ", ".join(parts)


def replace_section(heading: str, body: str) -> Path:
    """Put `body` (which starts with its `## ` heading line) where the section
    whose heading starts with `heading` stands, or at the end."""
    text = BENCHMARKS_MD.read_text()
    pattern = re.compile(re.escape(heading) + r".*?(?=\n## |\Z)", re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: body.rstrip("\n") + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + body.rstrip("\n") + "\n"
    BENCHMARKS_MD.write_text(text)
    return BENCHMARKS_MD
