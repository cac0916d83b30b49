"""Every method, its parameters in the right shape with hostile values
(hypothesis): huge and boundary quantities, far-future and deep-past blocks,
endless code in state overrides, wide log filters, long data. Whatever comes
in, the answer is a result or an error of the documented kind, never an
internal error, and the node keeps serving an honest client.

The default run draws a small number of examples; `-m slow` runs a long hunt
(RPC_PARAM_FUZZ_EXAMPLES sets the count).
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openledger_node.rpc import params as p
from openledger_node.rpc.logs import log_criteria
from openledger_node.rpc.simulation import call_request, state_overrides
from tests.rpc.helpers import CHAIN_ID, NodeProcess, post
from tests.rpc.test_fuzz import API_CLASSES, DISRUPTIVE_DEV_METHODS, check_response, still_serving

TAGS = ["latest", "pending", "safe", "finalized", "earliest"]
EDGE_NUMBERS = [0, 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 2**255, 2**256 - 1]

quantities = st.one_of(
    st.sampled_from(EDGE_NUMBERS), st.integers(0, 2**256 - 1), st.integers(0, 64)
).map(hex)
# Right shape, wrong body: what a hostile client sends where a quantity goes.
loose_quantities = st.sampled_from(
    ["0x", "0x0001", "0x-1", "0x+1", "0x1_0", "0x 1", "0x\u0661", "1", "0x" + "f" * 65, 7, -1, 1.5, True]
)
addresses = st.one_of(
    st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex()),
    st.sampled_from(["0x" + "00" * 20, "0x4200000000000000000000000000000000000015",
                     "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"]),
)
hashes = st.binary(min_size=32, max_size=32).map(lambda b: "0x" + b.hex())
hex_data = st.one_of(st.binary(max_size=64), st.binary(min_size=1000, max_size=3000)).map(lambda b: "0x" + b.hex())
blocks = st.one_of(
    st.sampled_from(TAGS), quantities,
    st.fixed_dictionaries({"blockHash": hashes}, optional={"requireCanonical": st.booleans()}),
    st.fixed_dictionaries({"blockNumber": st.one_of(st.sampled_from(TAGS), quantities)}),
)
topics = st.lists(st.one_of(st.none(), hashes, st.lists(st.one_of(st.none(), hashes), max_size=4)), max_size=5)
log_filters = st.fixed_dictionaries({}, optional={
    "fromBlock": blocks, "toBlock": blocks, "blockHash": hashes,
    "address": st.one_of(addresses, st.lists(addresses, max_size=5)), "topics": topics,
})
# Code that loops forever, writes storage in a loop, or reverts with data.
hostile_code = st.sampled_from(["0x5b600056", "0x5b60016000540160005560005600", "0x60006000fd", "0xfe", "0x"])
overrides = st.dictionaries(
    addresses,
    st.fixed_dictionaries({}, optional={
        "balance": quantities, "nonce": st.integers(0, 2**64 - 1).map(hex), "code": hostile_code,
        "stateDiff": st.dictionaries(hashes, hashes, max_size=3),
    }),
    max_size=3,
)
calls = st.fixed_dictionaries({}, optional={
    "from": addresses, "to": st.one_of(st.none(), addresses), "input": hex_data, "value": quantities,
    "gas": quantities, "gasPrice": quantities, "maxFeePerGas": quantities, "maxPriorityFeePerGas": quantities,
    "nonce": st.integers(0, 2**64 - 1).map(hex),
})

BY_PARSER: dict[Any, st.SearchStrategy[Any]] = {
    p.quantity: st.one_of(quantities, quantities, loose_quantities),
    p.address: addresses,
    p.hash32: hashes,
    p.data: hex_data,
    p.hex_or_decimal64: st.one_of(quantities, loose_quantities, st.integers(-5, 2**70),
                                  st.integers(0, 2**70).map(str)),
    p.boolean: st.booleans(),
    p.storage_slot: st.one_of(hashes, quantities),
    p.block_id: blocks,
    p.block_number_or_tag: st.one_of(st.sampled_from(TAGS), quantities, loose_quantities),
    p.string: st.one_of(st.text(max_size=40), hashes),
    call_request: calls,
    state_overrides: overrides,
    log_criteria: log_filters,
}
ANY = st.one_of(
    quantities, addresses, hashes, hex_data, blocks, log_filters, calls, st.integers(-5, 2**70),
    st.lists(st.integers(0, 100), max_size=5), st.text(max_size=20),
    st.fixed_dictionaries({}, optional={"timestamp": quantities, "blocks": st.integers(0, 3)}),
)

# evm_mine may seal many blocks and evm_revert rewinds the chain the other tests use:
# the dev helpers are fuzzed on their own node (test_bad_input covers their errors).
# The anvil_* controls change how the shared node mines, or seal blocks for state
# edits: tests/rpc/test_dev_controls.py covers their errors against anvil.
SKIP = {"evm_mine", "evm_revert", "evm_increaseTime", "evm_setNextBlockTimestamp", "evm_snapshot",
        *DISRUPTIVE_DEV_METHODS}


def _specs() -> dict[str, Any]:
    specs = {}
    for api in API_CLASSES:
        for attr in dir(api):
            spec = getattr(getattr(api, attr), "__rpc__", None)
            if spec is not None and spec.name not in SKIP:
                specs[spec.name] = spec
    return specs


SPECS = _specs()


@st.composite
def method_calls(draw: st.DrawFn) -> tuple[str, list[Any]]:
    name = draw(st.sampled_from(sorted(SPECS)))
    spec = SPECS[name]
    count = draw(st.integers(sum(1 for param in spec.params if param.required), len(spec.params)))
    values = [draw(BY_PARSER.get(param.parse, ANY)) for param in spec.params[:count]]
    return name, values


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples, deadline=None, derandomize=True, database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


def _check(node: NodeProcess, name: str, values: list[Any]) -> None:
    request = {"jsonrpc": "2.0", "id": 7, "method": name, "params": values}
    status, raw = post(node.http, json.dumps(request).encode())
    if status == 413:
        return  # over the body limit: test_bad_input covers that answer
    assert status == 200, (status, raw[:300])
    reply = json.loads(raw)
    check_response(reply, 7)
    if "error" in reply:
        # geth's kinds: invalid params, a server error, a revert, a limit, a timeout or too large.
        assert reply["error"]["code"] in (-32602, -32000, -32005, -32002, -32003, -32601, 3), reply
    still_serving(node)


@_settings(int(os.environ.get("RPC_PARAM_FUZZ_EXAMPLES_QUICK", "150")))
@given(call=method_calls())
def test_every_method_survives_hostile_parameters(node: NodeProcess, call: tuple[str, list[Any]]) -> None:
    _check(node, *call)


@pytest.mark.slow
@_settings(int(os.environ.get("RPC_PARAM_FUZZ_EXAMPLES", "5000")))
@given(call=method_calls())
def test_every_method_survives_hostile_parameters_long_hunt(node: NodeProcess, call: tuple[str, list[Any]]) -> None:
    _check(node, *call)


def test_every_fuzzed_method_has_parameter_strategies() -> None:
    """A method added later gets the right shapes, not only anything-goes values."""
    generic = {
        name: [param.name for param in spec.params if param.parse not in BY_PARSER]
        for name, spec in SPECS.items()
    }
    allowed_generic = {"eth_feeHistory": ["rewardPercentiles"], "eth_call": ["blockOverrides"],
                       "eth_subscribe": ["options"], "eth_getProof": ["storageKeys"]}
    leftovers = {name: params for name, params in generic.items() if params and allowed_generic.get(name) != params}
    assert not leftovers, leftovers
    assert CHAIN_ID == 161299
