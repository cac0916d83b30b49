"""Ethereum's own test vectors, imported through the L1 node's import path.

`vectors/blockchain_tests.json.gz` is a curated set of BlockchainTests from
ethereum/tests and execution-spec-tests (which cases, and why, in
`vectors/README.md`; rebuilt with `python -m tests.ethereum.curate`). Every case
is checked block by block by `apply_l1_block` and must end on the vector's head
hash, post-state and state root; a block the vector marks invalid must be
refused. The whole upstream set runs with `-m ethereum_full` (test_full.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from openledger_node.execution.l1.block import NODE_RULES
from tests.ethereum.runner import (
    SCHEDULES,
    CaseFailure,
    load_cases,
    run_case,
    skip_reason,
)

VECTORS = Path(__file__).parent / "vectors" / "blockchain_tests.json.gz"
CASES: dict[str, dict[str, Any]] = load_cases(VECTORS)


@pytest.mark.parametrize("name", sorted(CASES), ids=lambda name: name.split("/")[-1])
def test_blockchain_vector(name: str) -> None:
    run_case(CASES[name])


def test_curated_set_covers_every_fork_the_node_runs() -> None:
    networks = {case["network"] for case in CASES.values()}
    assert {"Paris", "Shanghai", "Cancun", "Prague", "ShanghaiToCancunAtTime15k"} <= networks
    assert all(skip_reason(case) is None for case in CASES.values())
    assert networks <= set(SCHEDULES)


def _first_case(predicate: Any) -> dict[str, Any]:
    return next(case for name, case in sorted(CASES.items()) if predicate(name, case))


def test_a_tampered_vector_fails() -> None:
    """The runner is not a rubber stamp: a post-state balance off by one wei fails."""
    case = _first_case(lambda name, case: case.get("postState"))
    post = {address: dict(account) for address, account in case["postState"].items()}
    address = next(iter(post))
    post[address]["balance"] = hex(int(post[address]["balance"], 16) + 1)
    with pytest.raises(CaseFailure, match="balance"):
        run_case({**case, "postState": post})


def test_the_node_refuses_blob_transactions_the_rules_accept() -> None:
    """A valid block with a blob transaction passes under Ethereum's rules and is
    refused under the node's own (it stores no blobs), by name."""
    def has_blob_tx(name: str, case: dict[str, Any]) -> bool:
        return "blob" in name.lower() and any(
            "expectException" not in block and any(tx.get("type") == "0x03" for tx in block.get("transactions", ()))
            for block in case["blocks"]
        )

    case = _first_case(has_blob_tx)
    run_case(case)
    with pytest.raises(CaseFailure, match="blob transactions"):
        run_case(case, rules=NODE_RULES)
