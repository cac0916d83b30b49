"""JSON-RPC conformance: our sequencer against anvil, Foundry's reference node.

One module-scoped fixture starts both nodes (same chain id, same one-second
block time) and runs the same scenario (`scenario.py`) on each: deploy an
ERC-20 from dev account 0, one block with token transfers, value transfers of
types 0, 1 and 2 and a reverting call, then reads of blocks, transactions,
receipts, logs, state and fees, and requests that must fail. The class below
checks each endpoint's results against geth's JSON shapes and encodings, and
compares the two endpoints field by field.

What legitimately differs is excluded by name, next to the reason:
- hashes, timestamps, state roots, base fees (timing and chain-specific state);
- the deposit transaction (type 0x7e) that opens every block of our chain, and
  what it shifts: transactionIndex, logIndex, cumulativeGasUsed, block gasUsed,
  size, logsBloom and transaction counts;
- the coinbase (our sequencer fee vault, anvil's zero address);
- fee suggestions (our oracle has op-geth's 0.001 gwei floor, anvil suggests 1 gwei);
- where anvil deviates from geth, we follow geth (ANVIL_QUIRKS, ERROR_CASES).
Any other difference fails.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak

from openledger_node.primitives import L1_BLOCK_ADDRESS
from tests.conformance import schema as S
from tests.conformance.endpoints import (
    ANVIL,
    ANVIL_MISSING,
    Endpoint,
    anvil,
    openledger,
)
from tests.conformance.scenario import Run, run_scenario

pytestmark = [pytest.mark.skipif(not ANVIL.exists(), reason=ANVIL_MISSING), pytest.mark.timeout(300)]

REFERENCE, OURS = "anvil", "openledger"
ENDPOINTS = (REFERENCE, OURS)
DEPOSIT_TYPE = "0x7e"
L1_BLOCK = "0x" + bytes(L1_BLOCK_ADDRESS).hex()

# Keys anvil adds or leaves out where geth does not; our node follows geth.
ANVIL_QUIRKS = frozenset({
    "receipt.blobGasPrice",  # geth sets it only on blob (type 3) receipts; anvil on every receipt
    "receipt.blockTimestamp",  # anvil extension, and a JSON number rather than a quantity
    "transaction.blockTimestamp",  # geth: null while pending; anvil leaves the key out
})


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Both nodes run the scenario at the same time; they are stopped before the
    comparisons, which need only the recorded answers."""
    tmp: Path = tmp_path_factory.mktemp("conformance")
    (tmp / REFERENCE).mkdir()
    (tmp / OURS).mkdir()
    with anvil(tmp / REFERENCE) as ref, openledger(tmp / OURS) as ours:
        endpoints: dict[str, Endpoint] = {REFERENCE: ref, OURS: ours}
        with ThreadPoolExecutor(len(endpoints)) as pool:
            futures = {name: pool.submit(run_scenario, name, ep.rpc) for name, ep in endpoints.items()}
            results: dict[str, Run] = {}
            for name, future in futures.items():
                try:
                    results[name] = future.result()
                except Exception as exc:
                    raise RuntimeError(
                        f"the scenario failed on {name}: {exc}\n--- {name} log ---\n{endpoints[name].log_tail()}"
                    ) from exc
    return results


# --- helpers ---------------------------------------------------------------------------------


def lower(value: Any) -> Any:
    """Addresses compare case-insensitively (each endpoint's case is reported by
    test_address_convention); every other hex value is lowercase already."""
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, list):
        return [lower(v) for v in value]
    if isinstance(value, dict):
        return {k: lower(v) for k, v in value.items()}
    return value


def qint(value: str) -> int:
    return int(value, 16)


def block_shift(run: Run, block: str = "batch") -> tuple[int, int, int]:
    """(transactions, logs, gas) that deposits put before the user transactions
    of a block: what transactionIndex, logIndex and cumulativeGasUsed are offset
    by on our chain (all zero on anvil). Deposits come first in a block."""
    receipts = [r for r in run.block_receipts[block] if r["type"] == DEPOSIT_TYPE]
    return len(receipts), sum(len(r["logs"]) for r in receipts), sum(qint(r["gasUsed"]) for r in receipts)


def user_logs(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Logs of user transactions, should a deposit ever log (the L1-info deposit does not)."""
    return [log for log in logs if log["address"].lower() != L1_BLOCK]


def bloom(logs: list[dict[str, Any]]) -> str:
    bits = 0
    for log in logs:
        for item in [log["address"], *log["topics"]]:
            digest = keccak(bytes.fromhex(item[2:]))
            for i in (0, 2, 4):
                bits |= 1 << (((digest[i] << 8) | digest[i + 1]) & 2047)
    return "0x" + bits.to_bytes(256, "big").hex()


def diff(ours: Any, ref: Any, path: str = "") -> list[str]:
    """Every difference between two JSON values, with its path."""
    if isinstance(ours, dict) and isinstance(ref, dict):
        out = [f"{path}.{k}: only {OURS} has it ({ours[k]!r:.60})" for k in ours.keys() - ref.keys()]
        out += [f"{path}.{k}: only {REFERENCE} has it ({ref[k]!r:.60})" for k in ref.keys() - ours.keys()]
        for key in sorted(ours.keys() & ref.keys()):
            out += diff(ours[key], ref[key], f"{path}.{key}")
        return out
    if isinstance(ours, list) and isinstance(ref, list):
        if len(ours) != len(ref):
            return [f"{path}: {len(ours)} items on {OURS}, {len(ref)} on {REFERENCE}"]
        return [d for i, (o, r) in enumerate(zip(ours, ref)) for d in diff(o, r, f"{path}[{i}]")]
    if lower(ours) != lower(ref):
        return [f"{path}: {OURS} {ours!r:.90} != {REFERENCE} {ref!r:.90}"]
    return []


def key_diff(ours: dict[str, Any], ref: dict[str, Any], path: str) -> list[str]:
    """Keys that only one side writes."""
    return ([f"{path}: key {k!r} only on {OURS} ({ours[k]!r:.60})" for k in ours.keys() - ref.keys()]
            + [f"{path}: key {k!r} only on {REFERENCE} ({ref[k]!r:.60})" for k in ref.keys() - ours.keys()])


def without(obj: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in keys}


def assert_no_diff(differences: list[str]) -> None:
    assert not differences, "differences from anvil:\n  " + "\n  ".join(differences)


# Block header fields that must agree. Left out, with the reason:
#   number, hash, parentHash, timestamp: timing (the nodes start a few blocks apart);
#   stateRoot: our genesis holds predeploys and vaults; anvil's genesis state is empty;
#   transactionsRoot, receiptsRoot, logsBloom, gasUsed, size: our deposit transaction
#     (gasUsed and logsBloom are checked with it taken out, below);
#   miner: our coinbase is the sequencer fee vault, anvil's is the zero address;
#   mixHash: anvil draws a random prevrandao; ours is the L1 origin's hash (PREVRANDAO on L2);
#   baseFeePerGas: follows each chain's gas usage (our deposits use gas too).
BLOCK_FIELDS_EQUAL = (
    "nonce", "sha3Uncles", "difficulty", "totalDifficulty", "extraData", "gasLimit", "withdrawalsRoot",
    "blobGasUsed", "excessBlobGas", "parentBeaconBlockRoot", "requestsHash", "uncles", "withdrawals",
)
# Location fields of mined transactions, receipts and logs: hashes and numbers differ by timing.
LOCATION = ("blockHash", "blockNumber", "blockTimestamp")


@dataclass(frozen=True)
class ErrorCase:
    """What geth (and so our node) answers, and what anvil answers."""

    code: int  # geth's code; ours must match
    message: str  # regex for geth's message; ours must match
    anvil_code: int
    anvil_message: str  # regex for anvil's message
    why: str = ""  # why anvil differs, when it does


POOL_CODE_WHY = ("anvil answers -32003 ('transaction rejected', EIP-1474) for pool errors; geth and "
                 "op-geth answer -32000, which is what production clients see")
ERROR_CASES: dict[str, ErrorCase] = {
    "unknown_method": ErrorCase(
        -32601, r"^the method eth_doesNotExist does not exist/is not available$", -32601, r"^Method not found$",
        "message wording is each server's own; the code is what clients check"),
    "invalid_params_address": ErrorCase(
        -32602, r"^invalid argument 0: hex string has length 4, want 40 for common\.Address$",
        -32602, r"invalid string length", "message wording is each server's own (anvil's is serde's)"),
    "invalid_params_block_tag": ErrorCase(
        -32602, r"^invalid argument 1: hex string without 0x prefix$", -32602, r"hex string without 0x prefix",
        "geth names the argument"),
    "invalid_params_raw_tx": ErrorCase(
        -32602, r"^invalid argument 0: invalid hex string$", -32602, r"expected a valid hex string",
        "message wording is each server's own"),
    "nonce_too_low": ErrorCase(
        -32000, r"^nonce too low: address 0x[0-9a-f]{40}, tx: 0 state: 1$", -32003, r"^nonce too low$",
        POOL_CODE_WHY),
    "insufficient_funds": ErrorCase(
        -32000, r"^insufficient funds for gas \* price \+ value: address 0x[0-9a-f]{40} have 0 want \d+$",
        -32003, r"^Insufficient funds for gas \* price \+ value$", POOL_CODE_WHY + "; anvil capitalises"),
    "intrinsic_gas_too_low": ErrorCase(
        -32000, r"^intrinsic gas too low: have 20000, want 21000$", -32000, r"^intrinsic gas too low$"),
    "wrong_chain_id": ErrorCase(
        -32000, r"^invalid chain id for signer: have 161300 want 161299$", -32003, r"^invalid chain id for signer$",
        POOL_CODE_WHY),
    "tip_above_fee_cap": ErrorCase(
        -32000, r"^max priority fee per gas higher than max fee per gas: maxPriorityFeePerGas: 2000000000, "
                r"maxFeePerGas: 1000000000$",
        -32003, r"^max priority fee per gas higher than max fee per gas$", POOL_CODE_WHY),
    "already_known": ErrorCase(
        -32000, r"^already known$", -32003, r"^transaction already imported$",
        POOL_CODE_WHY + "; geth's wording is 'already known', which ethers and viem match"),
    "replacement_underpriced": ErrorCase(
        -32000, r"^replacement transaction underpriced$", -32003, r"^replacement transaction underpriced$",
        POOL_CODE_WHY),
}
# The phrase client libraries match on, where geth and anvil share one.
SHARED_PHRASES = {
    "nonce_too_low": "nonce too low",
    "insufficient_funds": "insufficient funds for gas * price + value",
    "intrinsic_gas_too_low": "intrinsic gas too low",
    "wrong_chain_id": "invalid chain id for signer",
    "tip_above_fee_cap": "max priority fee per gas higher than max fee per gas",
    "replacement_underpriced": "replacement transaction underpriced",
}


class TestRpcConformance:
    """The same checks for every endpoint, and the comparisons between them."""

    # --- each endpoint on its own: shapes, encodings, internal consistency ---------------------

    @staticmethod
    def shaped(run: Run) -> list[tuple[str, Any, Any]]:
        """(label, value, schema) for every structured result of the scenario."""
        items: list[tuple[str, Any, Any]] = []
        for sent in run.sent:
            items += [(f"{sent.label}.receipt", sent.receipt, S.RECEIPT),
                      (f"{sent.label}.by_hash", sent.by_hash, S.TX),
                      (f"{sent.label}.by_index", sent.by_index, S.TX)]
        for label, block in run.blocks.items():
            items.append((f"block.{label}", block, S.BLOCK))
        for label in ("eth_getBlockByNumber_genesis", "block_earliest", "block_pending"):
            items.append((label, run.result(label), S.BLOCK))
        for block, receipts in run.block_receipts.items():
            for i, receipt in enumerate(receipts):
                kind = S.DEPOSIT_RECEIPT if receipt.get("type") == DEPOSIT_TYPE else S.RECEIPT
                items.append((f"eth_getBlockReceipts({block})[{i}]", receipt, kind))
        for label, logs in run.logs.items():
            items.append((label, logs, ("list", S.LOG)))
        items += [("fee_history", run.result("fee_history"), S.FEE_HISTORY),
                  ("fee_history_no_percentiles", run.result("fee_history_no_percentiles"), S.FEE_HISTORY)]
        if "result" in run.errors.get("queued_by_hash", {}):
            items.append(("pending transaction", run.errors["queued_by_hash"]["result"], S.TX))
        scalar = {"eth_chainId": S.Q, "eth_gasPrice": S.Q, "eth_maxPriorityFeePerGas": S.Q, "eth_syncing": S.BOOL,
                  "tx_count_by_number": S.Q, "tx_count_by_hash": S.Q, "uncle_count": S.Q}
        for label in run.reads:
            if label.startswith(("balance_", "nonce_")):
                scalar[label] = S.Q
            elif label.startswith("storage_"):
                scalar[label] = S.H  # a 32-byte word, zero-padded
            elif label.startswith(("code_", "call_")):
                scalar[label] = S.D
            elif label.startswith("estimate_"):
                scalar[label] = S.Q
        for label, kind in scalar.items():
            items.append((label, run.result(label), kind))
        return items

    @pytest.mark.parametrize("name", ENDPOINTS)
    def test_shapes_and_hex_encodings(self, runs: dict[str, Run], name: str) -> None:
        """Every key geth writes, nothing else, each value encoded as geth encodes it."""
        run = runs[name]
        ignore = ANVIL_QUIRKS if name == REFERENCE else frozenset()
        found = [p for label, value, kind in self.shaped(run) for p in S.problems(value, kind, label, ignore)]
        assert not found, f"{name}:\n  " + "\n  ".join(found)

    @pytest.mark.parametrize("name", ENDPOINTS)
    def test_address_convention(self, runs: dict[str, Run], name: str,
                                record_property: Any, capsys: pytest.CaptureFixture[str]) -> None:
        """Addresses are compared case-insensitively; each endpoint must still use
        one convention throughout. The convention is reported, not compared."""
        cases: set[str] = set()
        for _, value, kind in self.shaped(runs[name]):
            cases |= S.address_cases(value, kind)
        record_property("address_convention", ",".join(sorted(cases)))
        with capsys.disabled():
            print(f"\n{name}: addresses are {' and '.join(sorted(cases))}")
        assert len(cases) == 1, f"{name} mixes address conventions: {cases}"

    @pytest.mark.parametrize("name", ENDPOINTS)
    def test_block_is_consistent_with_its_transactions_and_receipts(self, runs: dict[str, Run], name: str) -> None:
        run = runs[name]
        block, full = run.blocks["batch"], run.blocks["batch_full"]
        receipts = run.block_receipts["batch"]
        assert run.blocks["batch_by_hash"] == block
        assert [tx["hash"] for tx in full["transactions"]] == block["transactions"]
        assert without(full, "transactions") == without(block, "transactions")
        assert [r["transactionHash"] for r in receipts] == block["transactions"]
        assert run.result("tx_count_by_number") == run.result("tx_count_by_hash") == hex(len(receipts))
        cumulative, log_index = 0, 0
        base_fee = qint(block["baseFeePerGas"])
        for index, (tx, receipt) in enumerate(zip(full["transactions"], receipts)):
            assert qint(tx["transactionIndex"]) == qint(receipt["transactionIndex"]) == index
            assert tx["blockHash"] == receipt["blockHash"] == block["hash"]
            assert tx["blockNumber"] == receipt["blockNumber"] == block["number"]
            cumulative += qint(receipt["gasUsed"])
            assert qint(receipt["cumulativeGasUsed"]) == cumulative, f"{name}: cumulativeGasUsed at {index}"
            if tx["type"] in ("0x2", "0x4"):
                expected = min(qint(tx["maxFeePerGas"]), qint(tx["maxPriorityFeePerGas"]) + base_fee)
                assert qint(tx["gasPrice"]) == expected, f"{name}: tx {index} gasPrice is not the effective price"
            if tx["type"] != DEPOSIT_TYPE:
                assert receipt["effectiveGasPrice"] == tx["gasPrice"]
            # logIndex counts across the whole block, in transaction order.
            for log in receipt["logs"]:
                assert qint(log["logIndex"]) == log_index, f"{name}: logIndex is not block-wide"
                assert qint(log["transactionIndex"]) == index
                assert log["transactionHash"] == tx["hash"] and log["blockHash"] == block["hash"]
                log_index += 1
            assert receipt["logsBloom"] == bloom(receipt["logs"]), f"{name}: receipt {index} bloom"
        assert qint(block["gasUsed"]) == cumulative
        assert block["logsBloom"] == bloom([log for r in receipts for log in r["logs"]])
        assert run.logs["logs_block_hash"] == [log for r in receipts for log in r["logs"]]

    @pytest.mark.parametrize("name", ENDPOINTS)
    def test_transaction_lookups_agree(self, runs: dict[str, Run], name: str) -> None:
        """By hash, by block and index, inside the full block, and in its receipt."""
        run = runs[name]
        by_hash = {tx["hash"]: tx for tx in run.blocks["batch_full"]["transactions"]}
        receipts = {r["transactionHash"]: r for block in run.block_receipts.values() for r in block}
        for sent in run.sent:
            assert sent.by_hash == sent.by_index == sent.by_block_hash_index, f"{name}: {sent.label}"
            assert sent.by_hash["hash"] == sent.hash == sent.receipt["transactionHash"]
            assert receipts[sent.hash] == sent.receipt, f"{name}: {sent.label} in eth_getBlockReceipts"
            if sent in run.batch:
                assert by_hash[sent.hash] == sent.by_hash, f"{name}: {sent.label} in the full block"

    @pytest.mark.parametrize("name", ENDPOINTS)
    def test_logs_are_ordered(self, runs: dict[str, Run], name: str) -> None:
        """eth_getLogs answers in (blockNumber, logIndex) order, and each log is the
        one its receipt holds."""
        run = runs[name]
        in_receipts = {(log["transactionHash"], log["logIndex"]): log
                       for sent in run.sent for log in sent.receipt["logs"]}
        for label, logs in run.logs.items():
            keys = [(qint(log["blockNumber"]), qint(log["logIndex"])) for log in logs]
            assert keys == sorted(keys) and len(set(keys)) == len(keys), f"{name}: {label} order"
            for log in user_logs(logs):
                assert in_receipts[(log["transactionHash"], log["logIndex"])] == log, f"{name}: {label}"

    # --- our node against anvil -----------------------------------------------------------------

    def test_chain_identity(self, runs: dict[str, Run]) -> None:
        for label in ("eth_chainId", "net_version", "eth_syncing"):
            assert runs[OURS].result(label) == runs[REFERENCE].result(label), label

    def test_block_fields(self, runs: dict[str, Run]) -> None:
        ours, ref = runs[OURS], runs[REFERENCE]
        differences: list[str] = []
        for label in ours.blocks:
            o, r = ours.blocks[label], ref.blocks[label]
            differences += key_diff(o, r, label)
            differences += diff({k: o[k] for k in BLOCK_FIELDS_EQUAL}, {k: r[k] for k in BLOCK_FIELDS_EQUAL}, label)
        genesis_o, genesis_r = (run.result("eth_getBlockByNumber_genesis") for run in (ours, ref))
        differences += key_diff(genesis_o, genesis_r, "genesis")
        differences += diff({k: genesis_o[k] for k in BLOCK_FIELDS_EQUAL},
                            {k: genesis_r[k] for k in BLOCK_FIELDS_EQUAL}, "genesis")
        # Our block = our deposit + the same user transactions, in the same order.
        n_deposits, _, deposit_gas = block_shift(ours)
        differences += diff(ours.blocks["batch"]["transactions"][n_deposits:], ref.blocks["batch"]["transactions"],
                            "batch.transactions (deposit excluded)")
        differences += diff(hex(qint(ours.blocks["batch"]["gasUsed"]) - deposit_gas),
                            ref.blocks["batch"]["gasUsed"], "batch.gasUsed (deposit excluded)")
        user_bloom = bloom([log for r in ours.block_receipts["batch"][n_deposits:] for log in r["logs"]])
        differences += diff(user_bloom, ref.blocks["batch"]["logsBloom"], "batch.logsBloom (deposit excluded)")
        differences += diff(hex(qint(ours.result("tx_count_by_number")) - n_deposits),
                            ref.result("tx_count_by_number"), "transaction count (deposit excluded)")
        assert_no_diff(differences)

    def test_transaction_fields(self, runs: dict[str, Run]) -> None:
        """Same signed transactions, so every field agrees except the location and,
        for dynamic-fee transactions, gasPrice (the effective price follows each
        chain's base fee; test_block_is_consistent... checks it on each side)."""
        ours, ref = runs[OURS], runs[REFERENCE]
        differences: list[str] = []
        for sent in ours.sent:
            o, r = sent.by_hash, ref.tx(sent.label).by_hash
            skip = LOCATION + ("transactionIndex",) + (("gasPrice",) if o["type"] == "0x2" else ())
            differences += key_diff(o, r, sent.label)
            differences += diff(without(o, *skip), without(r, *skip), sent.label)
            n_deposits = block_shift(ours, ours.block_of(sent))[0]
            differences += diff(hex(qint(o["transactionIndex"]) - n_deposits), r["transactionIndex"],
                                f"{sent.label}.transactionIndex (deposits excluded)")
        assert_no_diff(differences)

    def test_pending_transaction_fields(self, runs: dict[str, Run]) -> None:
        """A transaction still in the pool (queued behind a nonce gap)."""
        o = runs[OURS].errors["queued_by_hash"]["result"]
        r = runs[REFERENCE].errors["queued_by_hash"]["result"]
        assert o["blockHash"] is o["blockNumber"] is o["transactionIndex"] is None
        # geth writes blockTimestamp null while pending; anvil leaves it out.
        assert o.get("blockTimestamp", "missing") is None
        # gasPrice of a pending dynamic-fee transaction: geth (and we) report maxFeePerGas,
        # anvil the effective price at its next base fee.
        assert o["gasPrice"] == o["maxFeePerGas"]
        assert_no_diff(diff(without(o, "gasPrice", "blockTimestamp"), without(r, "gasPrice", "blockTimestamp")))

    def test_receipt_fields(self, runs: dict[str, Run]) -> None:
        """Same execution, so status, gas used, logs and bloom agree. Left out:
        location, effectiveGasPrice of dynamic-fee transactions (base fee), and
        cumulativeGasUsed/transactionIndex/logIndex, compared with our deposit
        taken out."""
        ours, ref = runs[OURS], runs[REFERENCE]
        differences: list[str] = []
        for sent in ours.sent:
            o, r = sent.receipt, ref.tx(sent.label).receipt
            r = without(r, "blobGasPrice", "blockTimestamp")  # ANVIL_QUIRKS
            n_txs, n_logs, gas = block_shift(ours, ours.block_of(sent))
            skip = LOCATION + ("transactionIndex", "cumulativeGasUsed", "logs")
            if o["type"] == "0x2":
                skip += ("effectiveGasPrice",)
            differences += key_diff(o, r, sent.label)
            differences += diff(without(o, *skip), without(r, *skip), sent.label)
            differences += diff(hex(qint(o["cumulativeGasUsed"]) - gas), r["cumulativeGasUsed"],
                                f"{sent.label}.cumulativeGasUsed (deposits excluded)")
            differences += diff(self.relative_logs(o["logs"], n_txs, n_logs), self.relative_logs(r["logs"], 0, 0),
                                f"{sent.label}.logs")
        assert_no_diff(differences)

    @staticmethod
    def relative_logs(logs: list[dict[str, Any]], n_txs: int, n_logs: int) -> list[dict[str, Any]]:
        """Logs with location removed and indices counted from the first user transaction."""
        return [{**without(log, *LOCATION), "logIndex": hex(qint(log["logIndex"]) - n_logs),
                 "transactionIndex": hex(qint(log["transactionIndex"]) - n_txs)} for log in logs]

    def test_logs_queries(self, runs: dict[str, Run]) -> None:
        """eth_getLogs by address, by topics (with null and OR positions), by block
        hash: the same logs in the same order. Our deposit's L1Block event is
        excluded from the by-block-hash query, where it legitimately appears."""
        ours, ref = runs[OURS], runs[REFERENCE]
        n_txs, n_logs, _ = block_shift(ours)
        differences: list[str] = []
        for label in ours.logs:
            o, r = user_logs(ours.logs[label]), ref.logs[label]
            if label == "logs_block_hash":
                differences += diff(self.relative_logs(o, n_txs, n_logs), self.relative_logs(r, 0, 0), label)
            else:  # logs from several blocks: their content and order
                keep = ("address", "topics", "data", "transactionHash", "removed")
                differences += diff([{k: log[k] for k in keep} for log in o],
                                    [{k: log[k] for k in keep} for log in r], label)
        assert ours.result("logs_none") == ref.result("logs_none") == []
        assert_no_diff(differences)

    def test_state(self, runs: dict[str, Run]) -> None:
        """Balances, nonces (latest and pending), code and storage, at tags, numbers
        and EIP-1898 objects. Not read: dev 0's balance and the coinbase's, which
        follow each chain's base fee and fee recipient."""
        ours, ref = runs[OURS], runs[REFERENCE]
        labels = [k for k in ref.reads if k.startswith(("balance_", "nonce_", "code_", "storage_"))]
        assert len(labels) > 40
        assert_no_diff([d for label in labels for d in diff(ours.reads[label].get("result", ours.reads[label]),
                                                            ref.reads[label].get("result", ref.reads[label]),
                                                            label)])

    def test_not_found_is_null(self, runs: dict[str, Run]) -> None:
        for label in ("block_future", "block_unknown_hash", "tx_unknown", "receipt_unknown", "tx_index_out_of_range"):
            assert runs[REFERENCE].reads[label].get("result", "error") is None, label
            assert runs[OURS].reads[label].get("result", runs[OURS].reads[label]) is None, label

    def test_block_tags(self, runs: dict[str, Run]) -> None:
        ours, ref = runs[OURS], runs[REFERENCE]
        for label in ("block_earliest", "block_pending"):
            o, r = ours.result(label), ref.result(label)
            assert_no_diff(key_diff(o, r, label))
        assert ours.result("block_earliest")["number"] == ref.result("block_earliest")["number"] == "0x0"
        assert ours.result("block_earliest") == ours.result("eth_getBlockByNumber_genesis")
        # "pending": anvil builds a pending block (head + 1); we answer the latest block,
        # as op-geth does unless --rollup.computependingblock is set.
        assert qint(ours.result("block_pending")["number"]) >= qint(ours.blocks["latest"]["number"])

    def test_get_logs_unknown_block_hash(self, runs: dict[str, Run]) -> None:
        """geth (filters: errUnknownBlock) and anvil agree: -32000 "unknown block"."""
        ours, ref = runs[OURS].reads, runs[REFERENCE].reads
        assert ref["logs_unknown_block_hash"]["error"] == {"code": -32000, "message": "unknown block"}
        assert ours["logs_unknown_block_hash"].get("error") == ref["logs_unknown_block_hash"]["error"], \
            "eth_getLogs({blockHash: unknown}) must answer geth's -32000 'unknown block' (openledger_node/rpc/filters.py)"

    def test_errors_of_reads(self, runs: dict[str, Run]) -> None:
        """Reads that name what does not exist, or ask for nothing."""
        ours, ref = runs[OURS].reads, runs[REFERENCE].reads
        # A state read at a block past the head: geth answers -32000 "header not found",
        # anvil -32602 with its own wording.
        assert ours["future_block_balance"].get("error") == {"code": -32000, "message": "header not found"}
        assert ref["future_block_balance"]["error"]["code"] == -32602
        # A block count past the head: geth answers null, anvil an error.
        assert ours["tx_count_future"] == {**ours["tx_count_future"], "result": None}
        assert ref["tx_count_future"]["error"]["code"] == -32602
        assert ours["block_receipts_future"].get("result", "error") is None
        assert ref["block_receipts_future"].get("result", "error") is None
        # fromBlock after toBlock: geth rejects with "invalid block range params"; anvil answers [].
        assert ours["logs_reversed_range"]["error"]["message"].startswith("invalid block range params")
        assert ref["logs_reversed_range"] == {**ref["logs_reversed_range"], "result": []}
        # blockCount 0: geth answers no blocks, oldestBlock 0x0 (anvil answers the latest block).
        zero = ours["fee_history_zero"]["result"]
        assert zero["oldestBlock"] == "0x0" and zero["gasUsedRatio"] in ([], None)

    def test_fee_fields(self, runs: dict[str, Run]) -> None:
        """Fee values follow each chain's history and oracle; their shape must agree,
        and the blob base fee (1 wei with no excess blob gas, EIP-4844) too."""
        ours, ref = runs[OURS], runs[REFERENCE]
        for label, count in (("fee_history", 4), ("fee_history_no_percentiles", 2)):
            o, r = ours.result(label), ref.result(label)
            # Without rewardPercentiles geth omits "reward" (omitempty); anvil writes [].
            if label == "fee_history_no_percentiles":
                assert "reward" not in o and r.get("reward") in (None, [])
                r = without(r, "reward")
            assert o.keys() == r.keys(), label
            for result in (o, r):
                assert len(result["baseFeePerGas"]) == len(result["baseFeePerBlobGas"]) == count + 1, label
                assert len(result["gasUsedRatio"]) == len(result["blobGasUsedRatio"]) == count, label
                assert all(0 <= x <= 1 for x in result["gasUsedRatio"]), label
                if "reward" in result:
                    assert [len(x) for x in result["reward"]] == [2] * count, label
            assert_no_diff(diff(o["baseFeePerBlobGas"], r["baseFeePerBlobGas"], f"{label}.baseFeePerBlobGas")
                           + diff(o["blobGasUsedRatio"], r["blobGasUsedRatio"], f"{label}.blobGasUsedRatio"))
        # Suggestions differ by design: we floor the tip at op-geth's 0.001 gwei, anvil suggests 1 gwei.
        for run in (ours, ref):
            tip = qint(run.result("eth_maxPriorityFeePerGas"))
            assert 0 < tip <= qint(run.result("eth_gasPrice"))

    @pytest.mark.parametrize("label", sorted(ERROR_CASES))
    def test_error(self, runs: dict[str, Run], label: str) -> None:
        case = ERROR_CASES[label]
        o, r = runs[OURS].errors[label], runs[REFERENCE].errors[label]
        assert "error" in r and "error" in o, f"{label}: ours {o}, anvil {r}"
        o, r = o["error"], r["error"]
        assert (r["code"], bool(re.search(case.anvil_message, r["message"]))) == (case.anvil_code, True), \
            f"anvil changed its answer: {r}"
        assert o["code"] == case.code, f"{label}: code {o['code']}, geth answers {case.code} ({o['message']})"
        assert re.search(case.message, o["message"]), f"{label}: message {o['message']!r} is not geth's"
        # Where geth's answer differs from anvil's beyond details appended to a shared
        # phrase, the case must say why.
        same = case.code == case.anvil_code and label in SHARED_PHRASES
        assert same or case.why, f"{label}: a difference from anvil without a reason"
        if label in SHARED_PHRASES:
            assert SHARED_PHRASES[label] in o["message"].lower() and SHARED_PHRASES[label] in r["message"].lower()

    def test_error_intrinsic_gas_of_contract_creation(self, runs: dict[str, Run]) -> None:
        """A creation with 21000 gas: geth and we count the creation cost and reject
        it; anvil's pool does not (it lets execution fail), a documented anvil laxity."""
        o = runs[OURS].errors["intrinsic_gas_too_low_create"]
        assert o.get("error", {}).get("code") == -32000, o
        assert re.match(r"^intrinsic gas too low: have 21000, want 53\d{3}$", o["error"]["message"]), o

    def test_replacement_rules(self, runs: dict[str, Run]) -> None:
        """Queued (nonce-gap) transaction: accepted, and a replacement with a large
        enough fee bump accepted; same hashes on both nodes."""
        for label in ("queued_accepted", "replacement_accepted"):
            assert runs[OURS].errors[label].get("result") == runs[REFERENCE].errors[label].get("result"), label
            assert runs[OURS].errors[label].get("result"), runs[OURS].errors[label]

    @pytest.mark.parametrize("label", ["parse_error", "empty_batch", "no_method", "named_params", "too_many_params",
                                       "batch", "string_id"])
    def test_protocol(self, runs: dict[str, Run], label: str) -> None:
        """JSON-RPC 2.0 framing: codes agree; messages are each server's own words.
        One documented difference: a body that is not JSON is -32700 (the JSON-RPC
        2.0 spec and geth); anvil answers -32600."""
        (o_status, o), (r_status, r) = runs[OURS].protocol[label], runs[REFERENCE].protocol[label]
        assert o_status == r_status == 200

        def shape(reply: Any) -> Any:
            if isinstance(reply, list):
                return [shape(x) for x in reply]
            if "error" in reply:
                return {"id": reply["id"], "code": reply["error"]["code"]}
            return reply

        if label == "parse_error":
            assert shape(o) == {"id": None, "code": -32700}
            assert shape(r) == {"id": None, "code": -32600}
            return
        assert shape(o) == shape(r)

    def test_execution_reverted(self, runs: dict[str, Run]) -> None:
        ours, ref = runs[OURS], runs[REFERENCE]
        for label in ("execution_reverted_call", "execution_reverted_estimate"):
            o, r = ours.errors[label].get("error"), ref.errors[label]["error"]
            assert o is not None, (label, ours.errors[label])
            assert o["code"] == r["code"] == 3, (label, o)
            assert o["data"] == r["data"], label  # ERC20InsufficientBalance(sender, 0, 1)
            # A custom error has no reason string: geth's message is the bare "execution
            # reverted"; anvil appends its own decoding ("custom error 0x...").
            assert o["message"] == "execution reverted", (label, o)
            assert r["message"].startswith("execution reverted"), (label, r)

    def test_eth_call_results(self, runs: dict[str, Run]) -> None:
        ours, ref = runs[OURS], runs[REFERENCE]
        for label in ("call_balance_of", "call_balance_of_at_deploy"):
            assert ours.result(label) == ref.result(label), label
        # Estimates may differ within the search's tolerance (geth stops within 1.5%).
        o, r = qint(ours.result("estimate_transfer")), qint(ref.result("estimate_transfer"))
        assert abs(o - r) <= r // 50, (o, r)
