"""`bench/rpc_abuse.py` still measures an attack row end to end against a real
node process (one attack, one second; the figures themselves are not asserted:
they are read from `docs/benchmarks.md`, never from tests)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from eth_account import Account

from bench import rpc_abuse
from bench.rpc_load import CHAIN_ID
from tests.rpc.helpers import start_node


def test_fast_signer_signs_what_eth_account_signs() -> None:
    key = rpc_abuse.fresh_keys("smoke", 1)[0]
    to = bytes.fromhex("77" * 20)
    expected = Account.from_key(key).sign_transaction({
        "type": 2, "chainId": CHAIN_ID, "nonce": 7, "gas": 21_000, "maxFeePerGas": rpc_abuse.FEE_CAP,
        "maxPriorityFeePerGas": rpc_abuse.TIP, "to": to, "value": 3,
    }).raw_transaction
    assert rpc_abuse.sign_transfer(key, 7, to, 3) == bytes(expected)


@pytest.mark.timeout(60)
def test_quadratic_body_row_has_every_field(tmp_path: Path) -> None:
    node = start_node(tmp_path / "data", block_time=rpc_abuse.BLOCK_TIME)
    try:
        [row] = rpc_abuse.run_attacks(node, ["quadratic-json"], seconds=1.0)
    finally:
        node.stop()
    assert row.attack == "quadratic-json"
    assert row.seconds == 1.0 and row.blocks_expected == 2
    assert row.honest_answered > 0 and row.honest_errors >= 0
    for figure in (row.p50_ms, row.p99_ms, row.max_ms, row.rss_start_mib, row.rss_mib, row.rss_max_mib,
                   row.rss_after_mib):
        assert math.isfinite(figure) and figure > 0
    assert row.blocks_sealed >= 0 and row.settle_s >= 0
    # Every POST of the body is answered with a parse error, as documented.
    assert row.documented is True and "HTTP 200 -32700" in row.note
    lines = rpc_abuse.table([row]).splitlines()
    assert len(lines) == 3 and lines[2].startswith("| quadratic-json |")
    assert "PASS" in lines[2] or "FAIL" in lines[2]
    assert rpc_abuse.details([row]).startswith("- quadratic-json: ")
