"""Gas of each user-facing contract operation, measured on anvil.

- portal: depositOPEN, proveWithdrawalTransaction, finalizeWithdrawalTransaction
  (from the portal's end-to-end tests: real L2 state from our node, real proofs);
- rollup: submitBatch, as a base cost plus gas per KiB of batch data, beside the
  L1 calldata cost of that KiB (the reference: EIP-7623's floor, 40 gas a
  non-zero byte, is what posting data must pay at least);
- PayableAI: settle and finalize with 1, 10 and 100 contributors (marginal gas per
  contributor must stay under 40,000), and claim.

Prints a table and rewrites the "Contract gas" section of docs/benchmarks.md.
Usage: python bench/gas_report.py [--no-docs]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from web3 import Web3  # noqa: E402

from bench.docs import replace_section  # noqa: E402
from bridge.deploy import DeployConfig, deploy_l1  # noqa: E402
from contracts import load_artifact  # noqa: E402
from openledger_node.execution.genesis import dev_private_keys  # noqa: E402
from tests.conformance.endpoints import anvil  # noqa: E402

PYTEST_MEASURES = [
    "tests/contracts/l2/test_settle_gas.py",
    "tests/contracts/portal/test_withdrawals.py::test_finalizeWithdrawalTransaction_end_to_end_pays_target_succeeds",
    "tests/contracts/portal/test_deposits.py::test_depositOPEN_locks_tokens_and_emits_event_succeeds",
]
KIB_SIZES = (0, 1, 4, 16, 64)
CALLDATA_FLOOR_PER_KIB = 40 * 1024  # EIP-7623: 10 gas a token, 4 tokens a non-zero byte
SECTION = "## Contract gas"


def run_measuring_tests() -> list[dict[str, object]]:
    with tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False) as out:
        path = out.name
    env = dict(os.environ, OPENLEDGER_GAS_REPORT=path)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *PYTEST_MEASURES],
                            cwd=REPO, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"measuring tests failed:\n{result.stdout[-3000:]}")
    rows = [json.loads(line) for line in Path(path).read_text().splitlines()]
    os.unlink(path)
    return rows


def measure_submit_batch() -> dict[int, int]:
    """submitBatch gas for batches of KIB_SIZES KiB of (non-zero) data."""
    keys = dev_private_keys()
    with tempfile.TemporaryDirectory() as tmp, anvil(Path(tmp)) as endpoint:
        w3 = Web3(Web3.HTTPProvider(endpoint.url))
        sequencer = w3.eth.account.from_key(keys[0])
        deployment = deploy_l1(w3, keys[0], DeployConfig(
            sequencer=sequencer.address, admin=sequencer.address, treasury=sequencer.address,
            token_holder=sequencer.address))
        token = w3.eth.contract(address=Web3.to_checksum_address(deployment.open_token),
                                abi=list(load_artifact("OpenToken").abi))
        rollup = w3.eth.contract(address=Web3.to_checksum_address(deployment.rollup),
                                 abi=list(load_artifact("OpenLedgerRollup").abi))

        def send(call: object) -> int:
            tx = call.build_transaction({"from": sequencer.address,  # type: ignore[attr-defined]
                                         "nonce": w3.eth.get_transaction_count(sequencer.address)})
            receipt = w3.eth.wait_for_transaction_receipt(
                w3.eth.send_raw_transaction(sequencer.sign_transaction(tx).raw_transaction))
            assert receipt["status"] == 1
            return int(receipt["gasUsed"])

        bond = rollup.functions.minSequencerBond().call()
        send(token.functions.approve(rollup.address, bond))
        send(rollup.functions.depositSequencerBond(bond))
        gas: dict[int, int] = {}
        for index, kib in enumerate(KIB_SIZES):
            data = bytes((i % 255) + 1 for i in range(kib * 1024))
            first, last = index * 10 + 1, index * 10 + 10
            gas[kib] = send(rollup.functions.submitBatch(index, first, last, Web3.keccak(data), data))
    return gas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-docs", action="store_true", help="print only; do not rewrite docs/benchmarks.md")
    args = parser.parse_args()
    rows = run_measuring_tests()
    batch = measure_submit_batch()

    def pick(operation: str, contributors: int | None = None) -> int:
        values = [int(r["gas"]) for r in rows if r["operation"] == operation  # type: ignore[call-overload]
                  and (contributors is None or r.get("contributors") == contributors)]
        return int(statistics.median(values))

    # Slope between 1 and 64 KiB: the first batch also pays for its cold storage.
    per_kib = (batch[64] - batch[1]) / 63
    settle = {n: pick("PayableAI.settle", n) for n in (1, 10, 100)}
    finalize = {n: pick("PayableAI.finalize", n) for n in (1, 10, 100)}
    lines = [
        "| operation | gas | reference / note |",
        "| --- | ---: | --- |",
        f"| `OpenLedgerPortal.depositOPEN` (EOA, no data, first into the portal) | {pick('depositOPEN'):,} | |",
        f"| `OpenLedgerPortal.proveWithdrawalTransaction` | {pick('proveWithdrawalTransaction'):,} | storage proof from our node's state |",
        f"| `OpenLedgerPortal.finalizeWithdrawalTransaction` | {pick('finalizeWithdrawalTransaction'):,} | pays an EOA |",
        f"| `OpenLedgerRollup.submitBatch`, empty data | {batch[0]:,} | |",
        f"| `OpenLedgerRollup.submitBatch`, per KiB of data | {per_kib:,.0f} | L1 calldata floor {CALLDATA_FLOOR_PER_KIB:,} per KiB: ratio {per_kib / CALLDATA_FLOOR_PER_KIB:.2f}x |",
    ]
    for name, gas in (("settle", settle), ("finalize", finalize)):
        margin = (gas[100] - gas[10]) / 90
        lines.append(
            f"| `PayableAI.{name}`, 1 / 10 / 100 contributors | {gas[1]:,} / {gas[10]:,} / {gas[100]:,} "
            f"| {margin:,.0f} per extra contributor (limit 40,000) |"
        )
    lines.append(f"| `PayableAI.claim` | {pick('PayableAI.claim'):,} | |")
    table = "\n".join(lines)
    print(table)
    print("\nsubmitBatch gas by data size: " + ", ".join(f"{k} KiB: {g:,}" for k, g in batch.items()))
    if args.no_docs:
        return
    section = (f"{SECTION} (`bench/gas_report.py`)\n\nGas used by each user-facing operation on anvil "
               f"(transaction `gasUsed`, intrinsic and calldata included).\n\n{table}\n")
    docs = replace_section(SECTION, section)
    print(f"\nwrote the table to {docs.relative_to(REPO)}")


if __name__ == "__main__":
    main()
