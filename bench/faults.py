"""Fault injection: every way a sequencer can cheat, caught and rolled back?

On one L1 (the project's own L1 node by default, or anvil) with the rollup's
contracts, an in-process sequencer posts one honest batch with the real
batcher, then commits one fault at a time from its own key (the cheats and
the rig are in tests/e2e/actions/faults.py, shared with the tests), against
two honest staked validators. For each fault the table says whether both
validators' verdicts disagreed, what the challenger claimed, how the challenge
ended after the voting period, how many L1 blocks passed from the bad batch to
the challenge, whether the output was rolled back (on L1 and in both
validators' derived chains), the sequencer's slashed bond, and whether the
honest batcher's re-post was then derived and agreed by both. Each fault runs
on a snapshot of the same L1, put back afterwards.

Goal: 100% detected and rolled back, 0 honest outputs challenged, 0 OPEN lost
by honest users (the validators' OPEN on L1, wallet and stake; on L2, every
honest transfer and deposit credited once on the validators' chains).

Usage: python bench/faults.py [--backend openledger-l1|anvil] [--write-docs]
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.docs import machine_line, replace_section
from openledger_node.primitives import OPEN
from tests.e2e.actions.faults import FAULTS, Outcome, fund_depositor, run_fault
from tests.e2e.actions.l1 import BACKENDS, AnvilL1
from validator import INVALID_BATCH_ROOT

SECTION = "## Fault injection (bench/faults.py)"


@dataclass
class Row:
    name: str
    outcome: Outcome | None
    seconds: float
    error: str = ""


def run(backend: str) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        l1 = AnvilL1(Path(tmp), backend)
        try:
            fund_depositor(l1)
            l1.mine()
            for name in FAULTS:
                snapshot = l1.rpc("evm_snapshot")
                work = Path(tmp) / name
                work.mkdir()
                started = time.perf_counter()
                try:
                    rig, outcomes = run_fault(l1, work, name)
                    rig.close()
                    seconds = time.perf_counter() - started
                    rows.extend(Row(name, outcome, seconds / len(outcomes)) for outcome in outcomes)
                except Exception as exc:  # noqa: BLE001 (a fault the rig could not carry through is a failed row)
                    rows.append(Row(name, None, time.perf_counter() - started, f"{type(exc).__name__}: {exc}"))
                finally:
                    l1.rpc("evm_revert", snapshot)
        finally:
            l1.close()
    return rows


def short(reason: str) -> str:
    reason = re.sub(r"0x[0-9a-f]{12,}", lambda m: m[0][:10] + "...", reason.removeprefix("invalid batch: "))
    return reason if len(reason) <= 110 else reason[:107] + "..."


def reasons(outcome: Outcome) -> str:
    challenger, voter = (short(r) for r in outcome.reasons[:2])
    return challenger if challenger == voter else f"challenger: {challenger}; voter: {voter}"


def yes(value: bool) -> str:
    return "yes" if value else "**no**"


def table(rows: list[Row]) -> list[str]:
    lines = [
        ("| fault | detected (both validators) | challenger's claim | challenge outcome | L1 blocks to detection "
         "| rolled back (L1 / derived chains) | sequencer slashed (OPEN) | honest re-post agreed | s |"),
        "| --- | --- | --- | --- | ---: | --- | ---: | --- | ---: |",
    ]
    for row in rows:
        o = row.outcome
        if o is None:
            lines.append(f"| {row.name} | **error** | | {row.error[:120]} | | | | | {row.seconds:.1f} |")
            continue
        claim = "INVALID_BATCH_ROOT" if o.claimed_root == INVALID_BATCH_ROOT else "its derived root"
        if o.claimed_root != o.expected_claim:
            claim += " (**unexpected**)"
        lines.append(
            f"| {o.fault} | {yes(o.detected)}: {reasons(o)} | {claim} "
            f"| {o.status if o.status == 'Succeeded' else '**' + o.status + '**'} | {o.blocks_to_detection} "
            f"| {yes(o.rolled_back_on_l1)} / {yes(o.rolled_back_derived)} | {o.slashed / OPEN:,.0f} "
            f"| {yes(o.recovered)}{f' ({o.recovery_note})' if o.recovery_note else ''} | {row.seconds:.1f} |"
        )
    return lines


def goal(rows: list[Row]) -> tuple[bool, str]:
    outcomes = [row.outcome for row in rows if row.outcome is not None]
    caught = sum(1 for o in outcomes if o.detected and o.rolled_back and o.status == "Succeeded" and o.slashed > 0)
    # One rig per fault: the rig-wide counts (challenges of honest outputs, L2
    # balances after the last round) are on each of its outcomes; count them once.
    per_rig = {row.name: row.outcome for row in rows if row.outcome is not None}
    honest_challenged = sum(o.honest_challenged for o in per_rig.values())
    lost = sum(o.honest_l1_lost for o in outcomes) + sum(o.honest_l2_lost for o in per_rig.values())
    met = caught == len(rows) and honest_challenged == 0 and lost == 0
    line = (f"**{'Goal met' if met else 'Goal missed'}: {caught} of {len(rows)} faults "
            f"({100 * caught / max(1, len(rows)):.0f}%) detected, challenged and rolled back with the sequencer "
            f"slashed; {honest_challenged} honest outputs challenged; {lost / OPEN:,.0f} OPEN lost by honest users.**")
    return met, line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=BACKENDS, default="openledger-l1")
    parser.add_argument("--write-docs", action="store_true", help="write the table into docs/benchmarks.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)

    machine = machine_line()
    load_before = os.getloadavg()
    started = time.perf_counter()
    rows = run(args.backend)
    elapsed = time.perf_counter() - started
    load_after = os.getloadavg()
    met, goal_line = goal(rows)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False,
                            cwd=Path(__file__).resolve().parent.parent).stdout.strip()
    lines = [
        *table(rows),
        "",
        goal_line,
        "",
        (f"{machine}; L1: {args.backend}; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after; "
         f"whole run {elapsed:.0f} s."),
    ]
    print("\n".join(lines))
    if args.write_docs:
        today = datetime.date.today().isoformat()
        backend = "the project's own L1 node (`openledger-node l1`)" if args.backend == "openledger-l1" else "anvil"
        body = "\n".join([
            SECTION, "",
            (f"`python bench/faults.py{' --backend anvil' if args.backend == 'anvil' else ''}`, {today}, on the "
             f"tree of commit {commit}, L1: {backend}. A sequencer in process (the actor `Sequencer` of "
             "tests/e2e/actions) posts one honest batch with the real batcher, then cheats once from its own "
             "key; two honest staked validators (`Validator` with `Disputes`) derive every batch from L1. One "
             "validator challenges (with its derived root, or `INVALID_BATCH_ROOT` for a batch that derives no "
             "blocks), the other votes; L1 time then passes the voting period (2 days) and the challenge is "
             "resolved. \"L1 blocks to detection\": from the bad batch's L1 block to the challenge's (the "
             "challenger's approve of its bond and its challenge are one L1 block each; the validators read L1 "
             "with no confirmation depth). \"Rolled back\": `nextBatchIndex` is back at the bad output, and both "
             "validators' derived chains (unsafe and safe heads) are back at the last block of the output before "
             "it. \"Honest re-post agreed\": the honest batcher then posts the blocks again (the sequencer first "
             "rebuilds its own chain where its blocks were the fault: 3 and 4) and both validators derive and "
             "agree with them. The cheats, in tests/e2e/actions/faults.py:"), "",
            "1. output root over another state root, the blocks honest;",
            "2. one transfer re-signed by its sender with the same nonce and another value;",
            "3. the sequencer's deposit source returns nothing while L1 has a `depositOPEN` in the origin block;",
            "4. the sequencer's deposit source returns the deposit again at the next epoch;",
            ("5. every block of the batch claims an L1 origin two blocks past its parent's (the real L1 block "
             "of that number, so the hash check passes);"),
            "6. block timestamps 660 s past their origin (drift 600 s) while L1 had the next block;",
            ("7. `submitBatch(first, last - 1)` with data carrying blocks `first + 1 .. last` (the contract "
             "enforces contiguity of the call, so the gap is between the call and its data);"),
            "8. a transfer with a nonce far ahead added to the last block;",
            "9. random bytes, then (after that rollback, at the same output index) a valid batch cut in half;",
            ("10. L1 commits to data A (the batch without the last block's transfer) while the challenger's L1 "
             "endpoint serves B, the honest batch that alone would agree with the posted root: the challenger "
             "refuses B by its hash, the voter (an honest endpoint) derives A and disagrees. The unit-level half "
             "(`decode_posted` with a `PostedBatch` whose data does not hash to `data_hash`) is in "
             "tests/e2e/actions/test_faults.py."), "",
            *lines, "",
            ("Writing these checks found four gaps in the derivation and dispute code, fixed with this "
             "table: after a successful challenge the validators' derived chains kept the rolled-back blocks "
             "and skipped the re-posted batch for the same blocks (and a halt at an invalid batch never "
             "ended); the sequencer's safe head did not go back with L1; a validator that had once challenged "
             "output index i never challenged a later bad submission at the same index; and a validator "
             "reading the history late would challenge the honest re-post with its verdict on the rolled-back "
             "batch. The derivation now reads the contract's `OutputsRolledBack` in L1 order with the batches "
             "and rewinds at each; the batcher moves the safe head back to what L1 covers; `Disputes` keys its "
             "challenges by submission, and acts on a verdict only while L1 still holds the submission it "
             "judged (same root, data hash and blocks); a vote L1 refuses (a stale challenge) is not retried "
             "forever, the challenge is cancelled instead."),
        ])
        print(f"wrote {replace_section(SECTION, body)}")
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
