"""Build the curated vector set the default test suite runs (test_vectors.py).

    python -m tests.ethereum.curate --tests ETHEREUM_TESTS --eest EEST_FIXTURES

`--tests` is a checkout of ethereum/tests, `--eest` an execution-spec-tests
fixtures directory (its `blockchain_tests/`). The set is chosen by rule, so a
rebuild from the same checkouts gives the same file:

- one cheap case per network the node runs (Paris, Shanghai, Cancun and the
  time-activated transitions), and for Prague the cheapest execution-spec-tests
  cases the node can run (see runner.skip_reason) of each test directory
  (EIP-7623, EIP-7702, EIP-7685, each EIP-2537 precompile);
- opcodes: Cancun cases chosen greedily until every opcode that appears in any
  cheap candidate's code appears in the set;
- precompiles: a case calling each one, 0x01 to 0x0a;
- every case of the files where py-evm 0.12.1b1 diverged from Ethereum
  (execution/evm.py): MODEXP with empty operands, EIP-7610 collisions, blob
  transaction balances, EIP-3860 initcode, point evaluation;
- a few invalid-block cases of each kind (header fields, withdrawals, blobs).

"Cheap" is at most `MAX_GAS` gas over the case's blocks, which keeps the whole
set well under a minute on one core.
"""

from __future__ import annotations

import argparse
import gzip
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from tests.ethereum.runner import load_cases, skip_reason

OUT = Path(__file__).parent / "vectors"
MAX_GAS = 3_000_000

NETWORK_SAMPLES = ("Paris", "Shanghai", "Cancun", "ParisToShanghaiAtTime15k", "ShanghaiToCancunAtTime15k")

# Files (under BlockchainTests/GeneralStateTests) that call each precompile.
PRECOMPILE_FILES = {
    "0x01 ecrecover": "stPreCompiledContracts2/CallEcrecover0.json",
    "0x02 sha256": "stPreCompiledContracts2/CallSha256_1.json",
    "0x03 ripemd160": "stPreCompiledContracts2/CallRipemd160_1.json",
    "0x04 identity": "stPreCompiledContracts2/CallIdentity_1_nonzeroValue.json",
    "0x05 modexp": "stPreCompiledContracts/modexpTests.json",
    "0x06 ecadd": "stZeroKnowledge2/ecadd_0-0_0-0_21000_0.json",
    "0x07 ecmul": "stZeroKnowledge/ecmul_1-2_2_28000_96.json",
    "0x08 ecpairing": "stZeroKnowledge/ecpairing_one_point_with_g1_zero.json",
    "0x09 blake2f": "stPreCompiledContracts/blake2B.json",
    "0x0a point evaluation": "Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_gas_usage.json",
}

# Where py-evm 0.12.1b1 diverged from Ethereum; every runnable case is kept.
DIVERGENT_FILES = (
    "Pyspecs/byzantium/eip198_modexp_precompile/modexp.json",
    "stCreate2/create2collisionStorageParis.json",
    "stSStoreTest/InitCollisionParis.json",
    "stRevertTest/RevertInCreateInInit_Paris.json",
    "Pyspecs/cancun/eip4844_blobs/insufficient_balance_blob_tx.json",
    "Pyspecs/cancun/eip4844_blobs/sufficient_balance_blob_tx.json",
    "Shanghai/stEIP3860-limitmeterinitcode/create2InitCodeSizeLimit.json",
    "Shanghai/stEIP3860-limitmeterinitcode/createInitCodeSizeLimit.json",
    "Shanghai/stEIP3860-limitmeterinitcode/creationTxInitCodeSizeLimit.json",
)

INVALID_BLOCK_DIRS = (
    "InvalidBlocks/bc4895-withdrawals",
    "InvalidBlocks/bcEIP1559",
    "InvalidBlocks/bcEIP3675",
    "InvalidBlocks/bcInvalidHeaderTest/GasLimitHigherThan2p63m1.json",  # the L1 node accepted it before
)
INVALID_PER_DIR = 6

EEST_PRAGUE_DIRS = (
    "prague/eip7623_increase_calldata_cost",
    "prague/eip7702_set_code_tx",
    "prague/eip7685_general_purpose_el_requests",
    "prague/eip2537_bls_12_381_precompiles",
)
EEST_PRAGUE_PER_DIRECTORY = 3


def gas_of(case: dict[str, Any]) -> int:
    return sum(int(b.get("blockHeader", {}).get("gasUsed", "0x0"), 16) for b in case["blocks"])


def opcodes(code: bytes) -> set[int]:
    """The opcodes of `code`, push data skipped."""
    found, i = set(), 0
    while i < len(code):
        op = code[i]
        found.add(op)
        i += 1 + (op - 0x5F if 0x60 <= op <= 0x7F else 0)
    return found


def case_opcodes(case: dict[str, Any]) -> set[int]:
    ops: set[int] = set()
    for account in case["pre"].values():
        ops |= opcodes(bytes.fromhex(account.get("code", "0x")[2:]))
    return ops


def runnable(cases: dict[str, dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, case in cases.items():
        if skip_reason(case) is None:
            yield name, case


def files(root: Path, patterns: Iterable[str]) -> Iterator[Path]:
    for pattern in patterns:
        path = root / pattern
        if path.is_dir():
            yield from sorted(path.rglob("*.json"))
        elif path.exists():
            yield path


def curate(tests: Path, eest: Path | None) -> dict[str, dict[str, Any]]:
    chosen: dict[str, dict[str, Any]] = {}
    general = tests / "BlockchainTests" / "GeneralStateTests"

    def take(source: Path, name: str, case: dict[str, Any]) -> None:
        chosen[f"{source.relative_to(tests)}::{name}"] = case

    # Opcodes (and the network samples) from the cheap Cancun-era candidates.
    candidates = []
    for path in sorted(general.rglob("*.json")):
        for name, case in runnable(load_cases(path)):
            if gas_of(case) <= MAX_GAS and all("expectException" not in b for b in case["blocks"]):
                candidates.append((path, name, case))
    for network in NETWORK_SAMPLES:
        for path, name, case in candidates:
            if case["network"] == network:
                take(path, name, case)
                break
        else:  # the transitions have few cases, in TransitionTests or with invalid blocks
            path, name, case = next(
                (path, name, case)
                for path in sorted((tests / "BlockchainTests").rglob("*.json"))
                for name, case in runnable(load_cases(path))
                if case["network"] == network
            )
            take(path, name, case)
    universe: set[int] = set().union(*(case_opcodes(c[2]) for c in candidates if c[2]["network"] == "Cancun"))
    covered: set[int] = set().union(*(case_opcodes(c) for c in chosen.values()))
    pool = [c for c in candidates if c[2]["network"] == "Cancun"]
    while universe - covered:
        path, name, case = max(pool, key=lambda c: (len(case_opcodes(c[2]) - covered), -gas_of(c[2])))
        take(path, name, case)
        covered |= case_opcodes(case)

    for relative in PRECOMPILE_FILES.values():
        cases = dict(runnable(load_cases(general / relative)))
        cheap = sorted(cases.items(), key=lambda item: gas_of(item[1]))
        for name, case in cheap[:2]:
            take(general / relative, name, case)
    for relative in DIVERGENT_FILES:
        for name, case in runnable(load_cases(general / relative)):
            take(general / relative, name, case)
    for directory in INVALID_BLOCK_DIRS:
        taken = 0
        for path in files(tests / "BlockchainTests", [directory]):
            for name, case in runnable(load_cases(path)):
                if taken < INVALID_PER_DIR and gas_of(case) <= MAX_GAS:
                    take(path, name, case)
                    taken += 1
    if eest is not None:
        by_directory: dict[Path, list[tuple[int, str, dict[str, Any]]]] = {}
        for path in files(eest / "blockchain_tests", EEST_PRAGUE_DIRS):
            for name, case in runnable(load_cases(path)):
                if "Prague" in case["network"] and gas_of(case) <= MAX_GAS:
                    key = f"eest/{path.relative_to(eest)}::{name}"
                    by_directory.setdefault(path.parent, []).append((gas_of(case), key, case))
        for entries in by_directory.values():  # the cheapest of each test directory (each BLS precompile, ...)
            for _, key, case in sorted(entries, key=lambda entry: (entry[0], entry[1]))[:EEST_PRAGUE_PER_DIRECTORY]:
                chosen[key] = case
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=Path, required=True, help="a checkout of ethereum/tests")
    parser.add_argument("--eest", type=Path, help="execution-spec-tests fixtures (blockchain_tests/)")
    args = parser.parse_args()
    chosen = curate(args.tests, args.eest)
    OUT.mkdir(exist_ok=True)
    data = json.dumps(chosen, sort_keys=True, separators=(",", ":")).encode()
    (OUT / "blockchain_tests.json.gz").write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    networks: dict[str, int] = {}
    for case in chosen.values():
        networks[case["network"]] = networks.get(case["network"], 0) + 1
    print(f"{len(chosen)} cases, {len(data)} bytes of JSON: {networks}")


if __name__ == "__main__":
    main()
