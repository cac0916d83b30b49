"""Run Ethereum's BlockchainTests through the L1 node's import path.

A BlockchainTest (ethereum/tests `BlockchainTests/`, execution-spec-tests
`blockchain_tests/`) gives a pre-state, a genesis block, a list of blocks as RLP
(some marked `expectException`: a client must refuse them) and the expected end:
the hash of the chain head and the post-state. `run_case` builds the genesis state
with the fork's state class, decodes each block with `decode_block` and checks and
executes it with `apply_l1_block`, the code `openledger-node import` runs, then
compares the head's hash, the post-state account by account and the state root.

The L1 node runs chains that are post-merge from genesis, so only the networks
`SCHEDULES` names run; a case on another network is skipped with the reason. The
node refuses blob transactions and withdrawals by its own policy (it has no blob
store and no beacon chain); the vectors are run under `ETHEREUM_RULES`, which
lifts those two refusals so that the rules themselves are what is checked.

    python -m tests.ethereum.runner PATH [PATH ...]   # files or directories

prints a line per failure and a summary; exit status 1 if any case failed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth.db.account import AccountDB
from eth.db.atomic import AtomicDB
from eth.vm.chain_context import ChainContext
from eth_hash.auto import keccak

from openledger_node.exceptions import OpenLedgerError
from openledger_node.execution.accountdb import OpenLedgerAccountDB
from openledger_node.execution.l1 import ForkSchedule, apply_l1_block, decode_block
from openledger_node.execution.l1.block import ETHEREUM_RULES

MAINNET_CHAIN_ID = 1

# The networks the L1 node can run, as fork schedules. "AtTime15k" networks
# switch forks at timestamp 15,000 (execution-spec-tests' convention).
SCHEDULES: dict[str, ForkSchedule] = {
    "Paris": ForkSchedule(MAINNET_CHAIN_ID),
    "Merge": ForkSchedule(MAINNET_CHAIN_ID),
    "ParisToShanghaiAtTime15k": ForkSchedule(MAINNET_CHAIN_ID, shanghai_time=15_000),
    "Shanghai": ForkSchedule(MAINNET_CHAIN_ID, shanghai_time=0),
    "ShanghaiToCancunAtTime15k": ForkSchedule(MAINNET_CHAIN_ID, shanghai_time=0, cancun_time=15_000),
    "Cancun": ForkSchedule(MAINNET_CHAIN_ID, shanghai_time=0, cancun_time=0),
    "CancunToPragueAtTime15k": ForkSchedule(MAINNET_CHAIN_ID, shanghai_time=0, cancun_time=0, prague_time=15_000),
    "Prague": ForkSchedule(MAINNET_CHAIN_ID, shanghai_time=0, cancun_time=0, prague_time=0),
}

PRE_MERGE = (
    "Frontier", "Homestead", "EIP150", "EIP158", "Byzantium", "Constantinople", "ConstantinopleFix",
    "Petersburg", "Istanbul", "MuirGlacier", "Berlin", "London", "ArrowGlacier", "GrayGlacier",
)


# Where Prague devnets (and the execution-spec-tests fixtures filled for them,
# up to v4.0) had the system contracts before their final addresses.
PRE_FINAL_PRAGUE_CONTRACTS = {
    "0x0f792be4b0c0cb4dae440ef133e90c0ecd48cccc": "EIP-2935 history storage",
    "0x0aae40965e6800cd9b1f4b05ff21581047e3f91e": "EIP-2935 history storage",
    "0x0c15f14308530b7cdb8460094bbb9cc28b9aaaaa": "EIP-7002 withdrawal requests",
    "0x00a3ca265ebcb825b45f985a16cefb49958ce017": "EIP-7002 withdrawal requests",
    "0x00431f263ce400f4455c2dcf564e53007ca4bbbb": "EIP-7251 consolidation requests",
    "0x00b42dbf2194e931e80326d950320f7d9dbeac02": "EIP-7251 consolidation requests",
}


class Skip(Exception):
    """A case this node cannot run, with the reason."""


class CaseFailure(AssertionError):
    """The node's result differs from the vector's."""


@dataclass
class Outcome:
    name: str
    status: str  # "passed", "failed", "skipped"
    reason: str = ""
    seconds: float = 0.0


def _int(value: str) -> int:
    return int(value, 16) if value.startswith("0x") else int(value)


def _bytes(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))


def skip_reason(case: dict[str, Any]) -> str | None:
    """Why the L1 node does not run this case, or None if it does."""
    network = case.get("network", "")
    if network == "Prague" and "requestsHash" not in case.get("genesisBlockHeader", {}):
        return (
            "a draft of Prague from before EIP-7685's requestsHash: its header layout, BLS precompile "
            "set and EOF differ from the Prague that activated, which the node runs"
        )
    if network in SCHEDULES:
        if "Prague" in network:
            devnet = sorted(PRE_FINAL_PRAGUE_CONTRACTS.keys() & {a.lower() for a in case.get("pre", {})})
            # A case whose every block must be refused never reaches the system calls.
            if devnet and any("expectException" not in block for block in case["blocks"]):
                return (
                    "filled for a Prague devnet: its system contracts are at pre-final addresses ("
                    + ", ".join(f"{PRE_FINAL_PRAGUE_CONTRACTS[a]} at {a}" for a in devnet)
                    + "); mainnet's Prague, which the node runs, calls them at their final addresses"
                )
        return None
    if network.split("To")[0] in PRE_MERGE:
        return f"{network}: the L1 node runs chains that are post-merge from genesis (docs/l1.md)"
    return f"{network}: a fork py-evm does not have (the node runs forks up to Prague)"


def _write_pre(schedule: ForkSchedule, db: AtomicDB, genesis: Any, pre: dict[str, Any]) -> bytes:
    fork = schedule.fork_at(int(genesis.timestamp))
    state = fork.vm_class.build_state(db, genesis.copy(state_root=keccak(b"\x80")), ChainContext(schedule.chain_id), ())
    for address, account in pre.items():
        address_bytes = _bytes(address)
        state.set_balance(address_bytes, _int(account.get("balance", "0x0")))
        state.set_nonce(address_bytes, _int(account.get("nonce", "0x0")))
        code = _bytes(account.get("code", "0x"))
        if code:
            state.set_code(address_bytes, code)
        for slot, value in account.get("storage", {}).items():
            state.set_storage(address_bytes, _int(slot), _int(value))
    state.persist()
    return bytes(state.state_root)


def expected_root(post: dict[str, Any]) -> bytes:
    """The state root of an account map in the vectors' format, computed with
    py-evm's stock AccountDB (not the node's batched commit)."""
    accounts = AccountDB(AtomicDB())
    for address, account in post.items():
        a = _bytes(address)
        accounts.set_balance(a, _int(account.get("balance", "0x0")))
        accounts.set_nonce(a, _int(account.get("nonce", "0x0")))
        accounts.set_code(a, _bytes(account.get("code", "0x")))
        for slot, value in account.get("storage", {}).items():
            accounts.set_storage(a, _int(slot), _int(value))
    return bytes(accounts.make_state_root())


def _compare_post(db: AtomicDB, root: bytes, post: dict[str, Any]) -> None:
    accounts = OpenLedgerAccountDB(db, root)
    problems = []
    for address, account in post.items():
        a = _bytes(address)
        for what, want, got in (
            ("balance", _int(account.get("balance", "0x0")), accounts.get_balance(a)),
            ("nonce", _int(account.get("nonce", "0x0")), accounts.get_nonce(a)),
            ("code", _bytes(account.get("code", "0x")), bytes(accounts.get_code(a))),
        ):
            if want != got:
                problems.append(f"{address} {what}: expected {want!r}, got {got!r}")
        for slot, value in account.get("storage", {}).items():
            got = accounts.get_storage(a, _int(slot))
            if got != _int(value):
                problems.append(f"{address} storage {slot}: expected {value}, got {hex(got)}")
    if problems:
        raise CaseFailure("post-state differs: " + "; ".join(problems[:8]))


def run_case(case: dict[str, Any], rules: Any = ETHEREUM_RULES) -> None:
    """Import a BlockchainTest case; raises Skip or CaseFailure."""
    reason = skip_reason(case)
    if reason is not None:
        raise Skip(reason)
    schedule = SCHEDULES[case["network"]]
    db = AtomicDB()
    genesis = decode_block(_bytes(case["genesisRLP"])).header
    root = _write_pre(schedule, db, genesis, case["pre"])
    if root != bytes(genesis.state_root):
        raise CaseFailure(f"genesis state root: expected 0x{bytes(genesis.state_root).hex()}, got 0x{root.hex()}")
    headers = {bytes(genesis.hash): genesis}
    for index, entry in enumerate(case["blocks"]):
        expect = entry.get("expectException")
        try:
            block = decode_block(_bytes(entry["rlp"]))
            parent = headers.get(bytes(block.header.parent_hash))
            if parent is None:
                raise CaseFailure(f"block {index}: unknown parent") if expect is None else ValueError("unknown parent")
            ancestors = _ancestors(headers, parent)
            output = apply_l1_block(schedule, db, parent, block, ancestors, rules=rules)
        except CaseFailure:
            raise
        except (OpenLedgerError, ValueError, Exception) as exc:
            if expect is None:
                raise CaseFailure(f"block {index} refused: {type(exc).__name__}: {exc}") from exc
            continue
        if expect is not None:
            raise CaseFailure(f"block {index} accepted; the vector expects it refused: {expect}")
        want = entry.get("blockHeader", {}).get("hash")
        if want is not None and _bytes(want) != output.hash:
            raise CaseFailure(f"block {index} hash: expected {want}, got 0x{output.hash.hex()}")
        headers[output.hash] = output.header
    last = _bytes(case["lastblockhash"])
    head = headers.get(last)
    if head is None:
        raise CaseFailure(f"lastblockhash {case['lastblockhash']} was not imported")
    if "postState" in case:
        _compare_post(db, bytes(head.state_root), case["postState"])
        want_root = expected_root(case["postState"])
        if want_root != bytes(head.state_root):
            raise CaseFailure(f"state root: the post-state's is 0x{want_root.hex()}, the head's 0x{bytes(head.state_root).hex()}")
    elif "postStateHash" in case and _bytes(case["postStateHash"]) != bytes(head.state_root):
        raise CaseFailure(f"state root: expected {case['postStateHash']}, got 0x{bytes(head.state_root).hex()}")


def _ancestors(headers: dict[bytes, Any], parent: Any) -> list[bytes]:
    """The parent's hash and its ancestors', newest first (at most 256), for BLOCKHASH."""
    out = []
    header = parent
    while header is not None and len(out) < 256:
        out.append(bytes(header.hash))
        header = headers.get(bytes(header.parent_hash))
    return out


def load_cases(path: Path) -> dict[str, dict[str, Any]]:
    """The cases of one fixture file (.json or .json.gz)."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    data = json.loads(raw)
    return {name: case for name, case in data.items() if isinstance(case, dict) and "blocks" in case}


def fixture_files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*.json") if p.is_file())
        else:
            yield path


class CaseTimeout(BaseException):
    """A case ran past --cpu-limit (a BaseException, so that no handler inside
    the VM mistakes it for a failed transaction)."""


def _on_timer(signum: int, frame: Any) -> None:
    raise CaseTimeout()


def run_file(path: Path, cpu_limit: float | None = None) -> list[Outcome]:
    outcomes = []
    for name, case in load_cases(path).items():
        start = time.perf_counter()
        try:
            if cpu_limit is not None:
                signal.signal(signal.SIGVTALRM, _on_timer)
                signal.setitimer(signal.ITIMER_VIRTUAL, cpu_limit)
            run_case(case)
            outcome = Outcome(name, "passed")
        except Skip as exc:
            outcome = Outcome(name, "skipped", str(exc))
        except CaseFailure as exc:
            outcome = Outcome(name, "failed", str(exc))
        except Exception as exc:  # noqa: BLE001 - a crash is a failure, reported by name
            outcome = Outcome(name, "failed", f"crashed: {type(exc).__name__}: {exc}")
        except CaseTimeout:
            outcome = Outcome(name, "skipped", f"not finished within --cpu-limit {cpu_limit:g} s of CPU")
        finally:
            if cpu_limit is not None:
                signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        outcome.seconds = time.perf_counter() - start
        outcomes.append(outcome)
    return outcomes


@dataclass
class Summary:
    counts: Counter[str] = field(default_factory=Counter)
    skips: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[Path, Outcome]] = field(default_factory=list)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path, help="fixture files or directories")
    parser.add_argument("-v", "--verbose", action="store_true", help="a line for every case, with its time")
    parser.add_argument("--cpu-limit", type=float, help="give up on a case after this many seconds of CPU")
    args = parser.parse_args(argv)
    summary = Summary()
    start = time.perf_counter()
    for path in fixture_files(args.paths):
        for outcome in run_file(path, args.cpu_limit):
            summary.counts[outcome.status] += 1
            if args.verbose:
                print(f"{outcome.status} {outcome.seconds:.2f}s {path}::{outcome.name}", flush=True)
            if outcome.status == "skipped":
                summary.skips[outcome.reason.split(":")[0] if outcome.reason.startswith(tuple(PRE_MERGE)) else outcome.reason] += 1
            elif outcome.status == "failed":
                summary.failures.append((path, outcome))
                print(f"FAIL {path}::{outcome.name}: {outcome.reason}", flush=True)
    elapsed = time.perf_counter() - start
    for reason, count in summary.skips.most_common():
        print(f"skipped {count}: {reason}")
    total = sum(summary.counts.values())
    print(
        f"cases {total}, run {total - summary.counts['skipped']}, passed {summary.counts['passed']}, "
        f"failed {summary.counts['failed']}, skipped {summary.counts['skipped']}, {elapsed:.0f} s"
    )
    return 1 if summary.counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
