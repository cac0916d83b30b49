"""Gas figures measured by contract tests, collected for bench/gas_report.py.

When OPENLEDGER_GAS_REPORT names a file, `record` appends one JSON line per
measurement to it; otherwise it does nothing. The benchmark runs the measuring
tests with the variable set and tabulates the file."""

from __future__ import annotations

import json
import os


def record(operation: str, gas: int, **detail: object) -> None:
    path = os.environ.get("OPENLEDGER_GAS_REPORT")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps({"operation": operation, "gas": int(gas), **detail}) + "\n")
