"""debug_trace* against anvil: the same contracts deployed from the same dev
account on both nodes, the same signed transactions traced with the struct
logger, callTracer and prestateTracer, compared field by field.

Where anvil departs from geth the comparison follows geth and the departure is
named (docs/rpc.md, "Tracing"): the top call's `gas` (geth: the transaction's
gas limit; anvil: what is left after intrinsic gas), `index` in callTracer logs
(anvil only), `refund` and `returnData` in struct logs (geth leaves them out
when zero or empty), and a contract created by the traced transaction in the
prestate (geth leaves it out). Accounts that differ by chain (the sender's
balance after other fees, the fee recipients) are compared on our node alone.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conformance.endpoints import (
    Endpoint,
    anvil,
    foundry_binary,
    openledger,
)
from tests.conformance.scenario import address, contract_address, sign
from tests.rpc.evm_asm import (
    CHILD_INIT,
    CHILD_RUNTIME,
    ERROR_BOOM,
    callee,
    caller,
    create2_address,
    initcode,
)
from tests.rpc.test_fuzz import (
    addresses,
    block_refs,
    calls,
    hashes,
    json_values,
    quantities,
)

pytestmark = pytest.mark.skipif(not foundry_binary("anvil").exists(), reason="anvil is not installed (npm ci)")

L1_BLOCK = "0x4200000000000000000000000000000000000015"
DEPOSITOR = "0xdeaddeaddeaddeaddeaddeaddeaddeaddead0001"
BASE_FEE_VAULT = "0x4200000000000000000000000000000000000019"
RECIPIENT = "0x" + "b7" * 20


def arg(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


CALLEE = contract_address(address(0), 0)
CALLER = contract_address(address(0), 1)
CHILD = "0x" + create2_address(bytes.fromhex(CALLER[2:]), 1, CHILD_INIT).hex()


def _transactions() -> list[tuple[str, str]]:
    callee_addr = bytes.fromhex(CALLEE[2:])
    return [
        ("deploy_callee", sign(0, nonce=0, to=None, gas=300_000, data="0x" + initcode(callee()).hex())),
        ("deploy_caller", sign(0, nonce=1, to=None, gas=400_000, data="0x" + initcode(caller(callee_addr)).hex())),
        ("nested", sign(0, nonce=2, to=CALLER, gas=500_000, value=5)),
        ("reverts", sign(0, nonce=3, to=CALLEE, gas=100_000, data=arg(0))),
        ("transfer", sign(1, nonce=0, to=RECIPIENT, value=10**15)),
    ]


def _run(endpoint: Endpoint) -> dict[str, dict[str, Any]]:
    rpc = endpoint.rpc
    sent: dict[str, dict[str, Any]] = {}
    txs = _transactions()
    for group in (txs[:2], txs[2:]):
        rpc.wait_for_next_block()
        for label, raw in group:
            sent[label] = {"hash": rpc.call("eth_sendRawTransaction", raw)}
        for label, _ in group:
            sent[label]["receipt"] = rpc.wait_for_receipt(sent[label]["hash"])
    return sent


@pytest.fixture(scope="module")
def anvil_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    # --steps-tracing: anvil records opcodes only when asked (its struct logs are empty otherwise).
    tmp = tmp_path_factory.mktemp("anvil-trace")
    with anvil(tmp, 1, "--steps-tracing") as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    with openledger(tmp_path_factory.mktemp("ours-trace")) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def sent(anvil_node: Endpoint, ours: Endpoint) -> dict[str, dict[str, dict[str, Any]]]:
    runs = {"anvil": _run(anvil_node), "ours": _run(ours)}
    for label in runs["ours"]:
        assert runs["ours"][label]["hash"] == runs["anvil"][label]["hash"]
        assert runs["ours"][label]["receipt"]["status"] == runs["anvil"][label]["receipt"]["status"], label
        assert runs["ours"][label]["receipt"]["gasUsed"] == runs["anvil"][label]["receipt"]["gasUsed"], label
    return runs


def trace(endpoint: Endpoint, tx_hash: str, config: dict[str, Any]) -> Any:
    return endpoint.rpc.call("debug_traceTransaction", tx_hash, config)


# --- normalising anvil's departures from geth ---------------------------------------


# anvil writes some errors as Rust debug strings
ANVIL_ERRORS = {"Some(StateChangeDuringStaticCall)": "write protection",
                "StateChangeDuringStaticCall": "write protection", "Some(OutOfGas)": "out of gas",
                "CreateCollision": "contract address collision", "Some(InvalidJump)": "invalid jump destination",
                "Some(InvalidFEOpcode)": "invalid opcode: INVALID"}
ANVIL_OPS = {"Unknown"}  # anvil's name for an undefined opcode; geth's is "opcode 0x.. not defined"


def geth_call_frame(frame: dict[str, Any], top: bool = True) -> dict[str, Any]:
    """anvil's callTracer frame as geth writes it, but for the top call's gas."""
    out = copy.deepcopy(frame)
    if top:
        out.pop("gas")
    for log in out.get("logs", []):
        log.pop("index", None)
    if "error" in out:
        out["error"] = ANVIL_ERRORS.get(out["error"], out["error"])
    if "calls" in out:
        out["calls"] = [geth_call_frame(child, top=False) for child in out["calls"]]
    return out


def geth_struct_log(entry: dict[str, Any], mine: dict[str, Any] | None = None) -> dict[str, Any]:
    out = dict(entry)
    if out["op"] in ("CREATE", "CREATE2") and mine is not None:
        # geth's cost of a create leaves out the gas handed to the new contract;
        # anvil's includes it (checked against the gas schedule in the nested test)
        assert out["gasCost"] >= mine["gasCost"]
        out["gasCost"] = mine["gasCost"]
    if out["op"] in ANVIL_OPS and mine is not None and mine["op"].endswith("not defined"):
        out["op"] = mine["op"]
        if out.get("error") == "Some(OpcodeNotFound)":
            out["error"] = f"invalid opcode: {mine['op']}"
    if out.get("error") == "Some(StackUnderflow)" and mine is not None and "stack underflow" in mine.get("error", ""):
        out["error"] = mine["error"]  # geth also says how many items there were and were wanted
    if "error" in out:
        out["error"] = ANVIL_ERRORS.get(out["error"], out["error"])
        if out["op"] == "SSTORE" and mine is not None and "storage" in out:
            # geth records an SSTORE's slot before it runs, even one that then fails;
            # anvil records the failed write as never made.
            out["storage"] = mine.get("storage")
    if out.get("refund") == 0:
        del out["refund"]
    if out.get("returnData") == "0x":
        del out["returnData"]
    return out


LABELS = ["deploy_callee", "deploy_caller", "nested", "reverts", "transfer"]


@pytest.mark.parametrize("label", LABELS)
def test_call_tracer_matches_anvil(sent: Any, anvil_node: Endpoint, ours: Endpoint, label: str) -> None:
    config = {"tracer": "callTracer", "tracerConfig": {"withLog": True}}
    theirs = trace(anvil_node, sent["anvil"][label]["hash"], config)
    mine = trace(ours, sent["ours"][label]["hash"], config)
    receipt = sent["ours"][label]["receipt"]
    # geth: the top call carries the transaction's gas limit and the receipt's gas used
    tx = ours.rpc.call("eth_getTransactionByHash", sent["ours"][label]["hash"])
    assert mine["gas"] == tx["gas"]
    assert mine["gasUsed"] == receipt["gasUsed"]
    expected = geth_call_frame(theirs)
    # anvil's top gasUsed is the receipt's cumulativeGasUsed, geth's (and ours) its gasUsed
    assert expected["gasUsed"] == sent["anvil"][label]["receipt"]["cumulativeGasUsed"]
    expected["gasUsed"] = receipt["gasUsed"]
    assert {k: v for k, v in mine.items() if k != "gas"} == expected


def test_call_tracer_nested_tree(sent: Any, ours: Endpoint) -> None:
    """The nested call's tree, field by field, as the caller's code makes it."""
    top = trace(ours, sent["ours"]["nested"]["hash"], {"tracer": "callTracer", "tracerConfig": {"withLog": True}})
    assert (top["type"], top["from"], top["to"], top["value"]) == ("CALL", address(0), CALLER, "0x5")
    assert top["output"] == arg(8)
    kinds = [(c["type"], c.get("to"), c.get("error")) for c in top["calls"]]
    assert kinds == [
        ("CALL", CALLEE, None),
        ("STATICCALL", CALLEE, "write protection"),
        ("DELEGATECALL", CALLEE, None),
        ("CALL", CALLEE, "execution reverted"),
        ("CREATE2", CHILD, None),
    ]
    first, static, delegate, reverted, created = top["calls"]
    assert first["input"] == arg(7) and first["output"] == arg(8)
    assert first["logs"] == [{"address": CALLEE, "topics": [arg(7)], "data": arg(7), "position": "0x0"}]
    assert "value" not in static and "logs" not in static
    assert reverted["revertReason"] == "boom" and reverted["output"] == "0x" + ERROR_BOOM.hex()
    assert created["input"] == "0x" + CHILD_INIT.hex() and created["output"] == "0x" + CHILD_RUNTIME.hex()
    # the delegate call's log is emitted in its frame, in the caller's name
    assert delegate["logs"] == [{"address": CALLER, "topics": [arg(9)], "data": arg(9), "position": "0x0"}]
    assert "logs" not in top
    steps = trace(ours, sent["ours"]["nested"]["hash"], {})["structLogs"]
    create2 = next(step for step in steps if step["op"] == "CREATE2")
    assert create2["gasCost"] == 32_000 + 6 + 2  # base, hashing and EIP-3860 cost of a one-word init code
    only_top = trace(ours, sent["ours"]["nested"]["hash"], {"tracer": "callTracer", "tracerConfig": {"onlyTopCall": True}})
    assert "calls" not in only_top and "logs" not in only_top
    assert {k: v for k, v in only_top.items()} == {k: v for k, v in top.items() if k not in ("calls", "logs")}


def test_call_tracer_top_level_revert(sent: Any, ours: Endpoint) -> None:
    top = trace(ours, sent["ours"]["reverts"]["hash"], {"tracer": "callTracer", "tracerConfig": {"withLog": True}})
    assert top["error"] == "execution reverted" and top["revertReason"] == "boom"
    assert top["output"] == "0x" + ERROR_BOOM.hex()


@pytest.mark.parametrize("label", LABELS)
@pytest.mark.parametrize(
    "options",
    [{}, {"enableMemory": True, "enableReturnData": True}, {"disableStack": True, "disableStorage": True},
     {"limit": 5}],
    ids=["default", "memory", "bare", "limit"],
)
def test_struct_logs_match_anvil(sent: Any, anvil_node: Endpoint, ours: Endpoint, label: str,
                                 options: dict[str, Any]) -> None:
    theirs = trace(anvil_node, sent["anvil"][label]["hash"], options)
    mine = trace(ours, sent["ours"][label]["hash"], options)
    assert mine["gas"] == int(sent["ours"][label]["receipt"]["gasUsed"], 16)
    # anvil's `gas` is the receipt's cumulativeGasUsed, geth's (and ours) its gasUsed
    assert theirs["gas"] == int(sent["anvil"][label]["receipt"]["cumulativeGasUsed"], 16)
    assert (mine["failed"], mine["returnValue"]) == (theirs["failed"], theirs["returnValue"])
    expected = [geth_struct_log(e, m) for e, m in zip(theirs["structLogs"], mine["structLogs"])]
    if options.get("limit"):
        # geth stops at the limit; anvil's limit is not exact
        expected = expected[: options["limit"]]
        assert len(mine["structLogs"]) == min(options["limit"], len(theirs["structLogs"]))
    assert len(mine["structLogs"]) == len(expected)
    for index, (got, want) in enumerate(zip(mine["structLogs"], expected)):
        assert got == want, f"step {index}"
    if label != "transfer":
        assert mine["structLogs"], "a contract's code runs step by step"


def _contracts(state: dict[str, Any]) -> dict[str, Any]:
    return {a: v for a, v in state.items() if a in (CALLEE, CALLER, CHILD, RECIPIENT)}


@pytest.mark.parametrize("label", LABELS)
@pytest.mark.parametrize("diff_mode", [False, True])
def test_prestate_matches_anvil(sent: Any, anvil_node: Endpoint, ours: Endpoint, label: str, diff_mode: bool) -> None:
    config = {"tracer": "prestateTracer", "tracerConfig": {"diffMode": diff_mode}}
    theirs = trace(anvil_node, sent["anvil"][label]["hash"], config)
    mine = trace(ours, sent["ours"][label]["hash"], config)
    if diff_mode:
        assert _contracts(mine["pre"]) == _contracts(theirs["pre"])
        assert _contracts(mine["post"]) == _contracts(theirs["post"])
    else:
        created = sent["ours"][label]["receipt"]["contractAddress"]
        # geth leaves out the account the transaction creates; anvil lists it empty
        expected = {a: v for a, v in _contracts(theirs).items() if a != created}
        assert _contracts(mine) == expected


@pytest.mark.parametrize("diff_mode", [False, True])
def test_prestate_without_code_or_storage(sent: Any, ours: Endpoint, diff_mode: bool) -> None:
    tx_hash = sent["ours"]["nested"]["hash"]
    full = trace(ours, tx_hash, {"tracer": "prestateTracer", "tracerConfig": {"diffMode": diff_mode}})
    bare = trace(ours, tx_hash, {"tracer": "prestateTracer", "tracerConfig": {
        "diffMode": diff_mode, "disableCode": True, "disableStorage": True}})

    def strip(state: dict[str, Any]) -> dict[str, Any]:
        return {a: {k: v for k, v in acc.items() if k not in ("code", "storage")} for a, acc in state.items()}

    if diff_mode:
        full, bare = {**full["pre"], **{"post:" + a: v for a, v in full["post"].items()}}, \
            {**bare["pre"], **{"post:" + a: v for a, v in bare["post"].items()}}
    assert any("code" in acc or "storage" in acc for acc in full.values())
    assert bare == strip(full)


@pytest.mark.parametrize("label", LABELS)
def test_four_byte_tracer_matches_anvil(sent: Any, anvil_node: Endpoint, ours: Endpoint, label: str) -> None:
    theirs = trace(anvil_node, sent["anvil"][label]["hash"], {"tracer": "4byteTracer"})
    mine = trace(ours, sent["ours"][label]["hash"], {"tracer": "4byteTracer"})
    assert mine == theirs
    if label == "reverts":
        assert mine == {"0x00000000-28": 1}  # the callee's argument 0 read as a selector and 28 bytes


def test_mux_tracer_is_its_tracers_together(sent: Any, ours: Endpoint) -> None:
    tx_hash = sent["ours"]["nested"]["hash"]
    inner = {"callTracer": {"withLog": True}, "4byteTracer": {}, "prestateTracer": {"diffMode": True}}
    together = trace(ours, tx_hash, {"tracer": "muxTracer", "tracerConfig": inner})
    assert together == {name: trace(ours, tx_hash, {"tracer": name, "tracerConfig": config})
                        for name, config in inner.items()}
    error = ours.rpc.request("debug_traceTransaction", tx_hash, {"tracer": "muxTracer",
                                                                  "tracerConfig": {"bogusTracer": {}}})["error"]
    assert error["code"] == -32000 and "tracer not found: 'bogusTracer'" in error["message"]
    error = ours.rpc.request("debug_traceTransaction", tx_hash, {"tracer": "callTracer",
                                                                  "tracerConfig": {"onlyTopCall": "yes"}})["error"]
    assert error["code"] == -32602


def test_prestate_sender_and_fee_vaults(sent: Any, ours: Endpoint) -> None:
    """The sender before the transaction, and after it in diff mode, on our chain alone."""
    tx_hash = sent["ours"]["transfer"]["hash"]
    receipt = sent["ours"]["transfer"]["receipt"]
    block = int(receipt["blockNumber"], 16)
    before = int(ours.rpc.call("eth_getBalance", address(1), hex(block - 1)), 16)
    after = int(ours.rpc.call("eth_getBalance", address(1), hex(block)), 16)
    pre = trace(ours, tx_hash, {"tracer": "prestateTracer"})
    assert pre[address(1)] == {"balance": hex(before)}
    diff = trace(ours, tx_hash, {"tracer": "prestateTracer", "tracerConfig": {"diffMode": True}})
    assert diff["pre"][address(1)] == {"balance": hex(before)}
    assert diff["post"][address(1)] == {"balance": hex(after), "nonce": 1}
    assert diff["post"][RECIPIENT] == {"balance": hex(10**15)}
    base_fee = int(ours.rpc.call("eth_getBlockByNumber", hex(block), False)["baseFeePerGas"], 16)
    if base_fee:  # the base fee is credited to its vault, not burned
        vault_before = int(diff["pre"][BASE_FEE_VAULT]["balance"], 16)
        assert int(diff["post"][BASE_FEE_VAULT]["balance"], 16) == vault_before + base_fee * 21_000


def test_deposit_is_traced(sent: Any, ours: Endpoint) -> None:
    """The L1-info deposit opens every block; it is traced like any transaction."""
    block = ours.rpc.call("eth_getBlockByNumber", sent["ours"]["nested"]["receipt"]["blockNumber"], False)
    deposit = block["transactions"][0]
    receipt = ours.rpc.call("eth_getTransactionReceipt", deposit)
    top = trace(ours, deposit, {"tracer": "callTracer"})
    assert (top["type"], top["from"], top["to"]) == ("CALL", DEPOSITOR, L1_BLOCK)
    assert top["gasUsed"] == receipt["gasUsed"] and "error" not in top
    logs = trace(ours, deposit, {})
    assert logs["gas"] == int(receipt["gasUsed"], 16) and not logs["failed"] and logs["structLogs"]


def test_trace_block_is_each_transaction(sent: Any, ours: Endpoint) -> None:
    receipt = sent["ours"]["nested"]["receipt"]
    config = {"tracer": "callTracer"}
    by_number = ours.rpc.call("debug_traceBlockByNumber", receipt["blockNumber"], config)
    by_hash = ours.rpc.call("debug_traceBlockByHash", receipt["blockHash"], config)
    block = ours.rpc.call("eth_getBlockByNumber", receipt["blockNumber"], False)
    assert [entry["txHash"] for entry in by_number] == block["transactions"]
    assert by_hash == by_number
    for entry in by_number:
        assert entry["result"] == trace(ours, entry["txHash"], config)


def test_trace_call_matches_anvil(sent: Any, anvil_node: Endpoint, ours: Endpoint) -> None:
    """The nested call once more, at the block before the transaction made it (so
    that its CREATE2 address is still free)."""
    call = {"from": address(2), "to": CALLER, "gas": hex(600_000)}
    config = {"tracer": "callTracer", "tracerConfig": {"withLog": True}}

    def before(name: str) -> str:
        return hex(int(sent[name]["nested"]["receipt"]["blockNumber"], 16) - 1)

    theirs = anvil_node.rpc.call("debug_traceCall", call, before("anvil"), config)
    mine = ours.rpc.call("debug_traceCall", call, before("ours"), config)
    assert mine["gas"] == hex(600_000)
    assert [c["type"] for c in mine["calls"]] == ["CALL", "STATICCALL", "DELEGATECALL", "CALL", "CREATE2"]
    assert {k: v for k, v in mine.items() if k != "gas"} == geth_call_frame(theirs)
    struct_theirs = anvil_node.rpc.call("debug_traceCall", call, before("anvil"), {})
    struct_mine = ours.rpc.call("debug_traceCall", call, before("ours"), {})
    expected = [geth_struct_log(e, m) for e, m in zip(struct_theirs["structLogs"], struct_mine["structLogs"])]
    assert struct_mine["structLogs"] == expected


def test_trace_call_with_state_override(ours: Endpoint, sent: Any) -> None:
    code = "0x" + callee().hex()
    other = "0x" + "c4" * 20
    result = ours.rpc.call("debug_traceCall", {"from": address(2), "to": other, "data": arg(41)}, "latest",
                           {"tracer": "callTracer", "stateOverrides": {other: {"code": code}}})
    assert result["output"] == arg(42)


def test_trace_call_moves_a_precompile(sent: Any, ours: Endpoint) -> None:
    """geth's state override in debug_traceCall can move a precompile (here the
    identity precompile, 0x04) to another address."""
    identity, moved = "0x" + "00" * 19 + "04", "0x" + "00" * 17 + "abcdef"
    config = {"tracer": "callTracer", "stateOverrides": {identity: {"movePrecompileToAddress": moved}}}
    top = ours.rpc.call("debug_traceCall", {"from": address(2), "to": moved, "data": "0x1234"}, "latest", config)
    assert top["output"] == "0x1234"
    plain = ours.rpc.call("debug_traceCall", {"from": address(2), "to": moved, "data": "0x1234"}, "latest",
                          {"tracer": "callTracer"})
    assert "output" not in plain  # no code there without the move
    error = ours.rpc.request("debug_traceCall", {"from": address(2), "to": moved}, "latest",
                             {"stateOverrides": {moved: {"movePrecompileToAddress": identity}}})["error"]
    assert error["code"] == -32000 and "is not a precompile" in error["message"]


def test_errors(sent: Any, ours: Endpoint) -> None:
    rpc = ours.rpc
    nested = sent["ours"]["nested"]["hash"]
    assert rpc.request("debug_traceTransaction", "0x" + "ab" * 32, {})["error"] == {
        "code": -32000, "message": "transaction not found"}
    error = rpc.request("debug_traceTransaction", nested, {"tracer": "sixByteTracer"})["error"]
    assert error["code"] == -32000 and "tracer not found" in error["message"]
    error = rpc.request("debug_traceTransaction", nested, {"tracer": "{step: function(){}, result: function(){}}"})
    assert "JavaScript tracers are not supported" in error["error"]["message"]
    error = rpc.request("debug_traceTransaction", nested, {"timeout": "soon"})["error"]
    assert error["code"] == -32602 and 'invalid duration "soon"' in error["message"]
    error = rpc.request("debug_traceBlockByNumber", "0x0", {})["error"]
    assert error == {"code": -32000, "message": "genesis is not traceable"}
    error = rpc.request("debug_traceBlockByNumber", "0xffffff", {})["error"]
    assert error == {"code": -32000, "message": "block #16777215 not found"}
    # a tiny timeout stops the trace
    error = rpc.request("debug_traceTransaction", nested, {"timeout": "1ns"})["error"]
    assert error["code"] == -32000 and "timeout" in error["message"]
    # ... and in a block trace marks that transaction's entry, the others still traced (geth's txTraceResult)
    receipt = sent["ours"]["nested"]["receipt"]
    entries = rpc.call("debug_traceBlockByNumber", receipt["blockNumber"], {"tracer": "callTracer", "timeout": "1ns"})
    block = rpc.call("eth_getBlockByNumber", receipt["blockNumber"], False)
    assert [entry["txHash"] for entry in entries] == block["transactions"]
    assert "result" in entries[0]  # the L1-info deposit runs without the timeout
    assert all(set(entry) == {"txHash", "error"} and "timeout" in entry["error"] for entry in entries[1:])


def test_raw_encodings(sent: Any, ours: Endpoint) -> None:
    import rlp

    rpc = ours.rpc
    receipt = sent["ours"]["nested"]["receipt"]
    raw_tx = rpc.call("debug_getRawTransaction", sent["ours"]["nested"]["hash"])
    assert raw_tx == rpc.call("eth_getRawTransactionByHash", sent["ours"]["nested"]["hash"])
    assert rpc.call("debug_getRawTransaction", "0x" + "ab" * 32) is None
    header = rpc.call("debug_getRawHeader", receipt["blockNumber"])
    from eth_utils import keccak

    assert "0x" + keccak(bytes.fromhex(header[2:])).hex() == receipt["blockHash"]
    block = bytes.fromhex(rpc.call("debug_getRawBlock", receipt["blockNumber"])[2:])
    fields = rlp.decode(block)
    assert "0x" + keccak(rlp.encode(fields[0])).hex() == receipt["blockHash"]
    count = len(rpc.call("eth_getBlockByNumber", receipt["blockNumber"], False)["transactions"])
    assert len(fields[1]) == count
    assert len(rpc.call("debug_getRawReceipts", receipt["blockHash"])) == count


def test_trace_call_create2_collision_matches_anvil(sent: Any, anvil_node: Endpoint, ours: Endpoint) -> None:
    """At the head the CREATE2 address is taken: geth opens a frame for the failed
    create anyway, with the error, using up the gas it was handed."""
    call = {"from": address(2), "to": CALLER, "gas": hex(600_000)}
    config = {"tracer": "callTracer"}
    theirs = anvil_node.rpc.call("debug_traceCall", call, "latest", config)
    mine = ours.rpc.call("debug_traceCall", call, "latest", config)
    collided = mine["calls"][-1]
    assert (collided["type"], collided["error"]) == ("CREATE2", "contract address collision")
    assert collided["gas"] == collided["gasUsed"] and "to" not in collided
    assert collided["input"] == "0x" + CHILD_INIT.hex()
    assert {k: v for k, v in mine.items() if k != "gas"} == geth_call_frame(theirs)


def test_call_with_too_little_balance_is_a_frame(sent: Any, ours: Endpoint) -> None:
    """A CALL whose value the caller cannot pay: no code runs, but there is a frame."""
    # PUSH1 0 (retSize) PUSH1 0 PUSH1 0 PUSH1 0 (args) PUSH1 5 (value) PUSH20 target GAS CALL STOP
    target = "b8" * 20
    code = "0x" + "6000600060006000" + "6005" + "73" + target + "5af100"
    other = "0x" + "c6" * 20
    top = ours.rpc.call("debug_traceCall", {"from": address(2), "to": other}, "latest",
                        {"tracer": "callTracer", "stateOverrides": {other: {"code": code, "balance": "0x1"}}})
    [failed] = top["calls"]
    assert failed == {"from": other, "gas": failed["gas"], "gasUsed": "0x0", "to": "0x" + target, "input": "0x",
                      "error": "insufficient balance for transfer", "value": "0x5", "type": "CALL"}
    assert int(failed["gas"], 16) > 2300  # the gas handed on, the stipend included


def test_trace_call_with_block_overrides(sent: Any, ours: Endpoint, anvil_node: Endpoint) -> None:
    # returns (NUMBER, TIMESTAMP, COINBASE)
    code = "0x" + "4360005242602052416040526060" + "6000f3"
    other = "0x" + "c7" * 20
    coinbase = "0x" + "c8" * 20
    config = {"tracer": "callTracer", "stateOverrides": {other: {"code": code}},
              "blockOverrides": {"number": "0x7777", "time": "0x88888888", "feeRecipient": coinbase}}
    expected = arg(0x7777) + arg(0x88888888)[2:] + "0" * 24 + coinbase[2:]
    for endpoint in (ours, anvil_node):
        top = endpoint.rpc.call("debug_traceCall", {"from": address(2), "to": other}, "latest", config)
        assert top["output"] == expected, endpoint.name
    bad = ours.rpc.request("debug_traceCall", {"from": address(2), "to": other}, "latest",
                           {"blockOverrides": {"number": "seven"}})["error"]
    assert bad["code"] == -32602


# --- hostile parameters: never an internal error, and the node keeps serving --------

trace_configs = st.fixed_dictionaries({}, optional={
    "tracer": st.one_of(st.sampled_from(["callTracer", "prestateTracer", "noopTracer", "", "4byteTracer",
                                         "{result: function() {}}"]), st.text(max_size=8), json_values),
    "tracerConfig": st.one_of(st.fixed_dictionaries({}, optional={
        "onlyTopCall": st.one_of(st.booleans(), json_values), "withLog": st.booleans(),
        "diffMode": st.one_of(st.booleans(), json_values)}), json_values),
    "timeout": st.one_of(st.sampled_from(["1s", "5s", "100ms", "1m30s", "-1s", "s", "1", "1.5s", ".5s"]), json_values),
    "disableStack": st.one_of(st.booleans(), json_values), "enableMemory": st.booleans(),
    "limit": st.one_of(st.integers(-5, 50), json_values),
    "stateOverrides": st.one_of(json_values, st.dictionaries(addresses, st.fixed_dictionaries({}, optional={
        "balance": quantities, "nonce": quantities, "code": st.binary(max_size=40).map(lambda b: "0x" + b.hex())}),
        max_size=2)),
    "blockOverrides": st.one_of(json_values, st.fixed_dictionaries({}, optional={
        "number": quantities, "time": quantities, "gasLimit": quantities, "baseFeePerGas": quantities,
        "feeRecipient": addresses, "prevRandao": hashes})),
})


@settings(max_examples=120, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_hostile_parameters(sent: Any, ours: Endpoint, data: st.DataObject) -> None:
    known = st.sampled_from([s["hash"] for s in sent["ours"].values()])
    method, params = data.draw(st.one_of(
        st.tuples(st.just("debug_traceTransaction"), st.tuples(st.one_of(known, hashes, json_values), trace_configs)),
        st.tuples(st.just("debug_traceCall"), st.tuples(st.one_of(calls, json_values), block_refs, trace_configs)),
        st.tuples(st.just("debug_traceBlockByNumber"), st.tuples(st.one_of(block_refs, json_values), trace_configs)),
        st.tuples(st.just("debug_traceBlockByHash"), st.tuples(st.one_of(hashes, json_values), trace_configs)),
        st.tuples(st.sampled_from(["debug_getRawHeader", "debug_getRawBlock", "debug_getRawReceipts",
                                   "debug_getRawTransaction"]), st.tuples(st.one_of(block_refs, hashes, json_values))),
    ))
    reply = ours.rpc.request(method, *params)
    if "error" in reply:
        assert reply["error"]["code"] != -32603, (method, params, reply)
    assert ours.rpc.call("eth_chainId")


@pytest.mark.parametrize(("code", "last"), [
    ("0x600160020c", ("opcode 0xc not defined", "invalid opcode: opcode 0xc not defined")),
    ("0x6001fe", ("INVALID", "invalid opcode: INVALID")),
    ("0x6001600201", ("STOP", None)),  # the STOP after the end of the code, at pc 5
    ("0x6000", ("STOP", None)),  # ... after PUSH1 0x00
    ("0x01", ("ADD", "stack underflow (0 <=> 2)")),
    ("0x600056", ("JUMP", "invalid jump destination")),
], ids=["undefined", "invalid", "ok", "push-zero-last", "underflow", "bad-jump"])
def test_struct_logs_of_failing_code_match_anvil(sent: Any, anvil_node: Endpoint, ours: Endpoint, code: str,
                                                 last: tuple[str, str | None]) -> None:
    other = "0x" + "c9" * 20
    call = {"from": address(2), "to": other, "gas": hex(100_000)}
    config = {"stateOverrides": {other: {"code": code}}}
    theirs = anvil_node.rpc.call("debug_traceCall", call, "latest", config)
    mine = ours.rpc.call("debug_traceCall", call, "latest", config)
    assert mine["failed"] == theirs["failed"] == (last[1] is not None)
    assert (mine["structLogs"][-1]["op"], mine["structLogs"][-1].get("error")) == last
    assert mine["structLogs"][-1]["pc"] == (len(code) - 2) // 2 - (0 if last[0] == "STOP" else 1)
    assert mine["structLogs"] == [geth_struct_log(e, m) for e, m in zip(theirs["structLogs"], mine["structLogs"])]
