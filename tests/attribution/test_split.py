"""Settlement rounding rule, hashes and fee split of attribution/split.py."""

from __future__ import annotations

import json
import math
import random
import subprocess
import urllib.request
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import decode, encode
from eth_hash.auto import keccak
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from attribution.errors import AttributionError
from attribution.split import (
    MAX_CONTRIBUTIONS_PER_SETTLEMENT,
    QUANTUM_BITS,
    WEIGHT_DENOMINATOR,
    NoPositiveAttribution,
    attribution_hash,
    quantise_scores,
    reward_weights,
    split_fee,
    split_hash,
    validate_split,
)

ids = st.integers(min_value=1, max_value=2**64)
finite_scores = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
any_scores = st.one_of(finite_scores, st.just(float("nan")), st.just(-math.inf), st.just(0.0))
score_maps = st.dictionaries(ids, any_scores, min_size=1, max_size=60)


def _has_positive(scores: dict[int, float]) -> bool:
    return any(q > 0 for q in quantise_scores(scores).values())


# ------------------------------------------------------------------- invariants


@settings(max_examples=300, deadline=None)
@given(score_maps, st.integers(min_value=1, max_value=300))
def test_reward_weights_are_a_canonical_split(scores: dict[int, float], max_contributions: int) -> None:
    assume(_has_positive(scores))
    weights = reward_weights(scores, max_contributions=max_contributions)
    assert sum(w for _, w in weights) == WEIGHT_DENOMINATOR
    assert all(w > 0 for _, w in weights)
    assert [cid for cid, _ in weights] == sorted({cid for cid, _ in weights})
    assert len(weights) <= max_contributions
    assert all(scores[cid] > 0 for cid, _ in weights)
    validate_split(weights, max_contributions=max(max_contributions, 1))


@settings(max_examples=200, deadline=None)
@given(score_maps, st.randoms(use_true_random=False))
def test_reward_weights_ignore_mapping_order(scores: dict[int, float], rng: random.Random) -> None:
    assume(_has_positive(scores))
    items = list(scores.items())
    rng.shuffle(items)
    assert reward_weights(dict(items)) == reward_weights(scores)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(ids, st.floats(min_value=1e-6, max_value=1e6), min_size=1, max_size=40),
    st.integers(min_value=-60, max_value=60),
)
def test_reward_weights_scale_invariant_for_powers_of_two(scores: dict[int, float], exponent: int) -> None:
    scaled = {cid: math.ldexp(s, exponent) for cid, s in scores.items()}
    assert reward_weights(scaled) == reward_weights(scores)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(ids, st.integers(min_value=0, max_value=2**QUANTUM_BITS), min_size=1, max_size=40),
    st.floats(min_value=1e-3, max_value=1e3),
    st.randoms(use_true_random=False),
)
def test_reward_weights_stable_under_noise_below_the_quantum(
    grid: dict[int, int], scale: float, rng: random.Random
) -> None:
    """Scores on the quantisation grid, perturbed by float noise (< 1e-14 relative, far
    below half a 2**-40 unit), or scaled by an arbitrary constant, give the same weights."""
    grid[min(grid)] = 2**QUANTUM_BITS  # the largest score is the reference
    exact = {cid: q * 2.0**-QUANTUM_BITS for cid, q in grid.items()}
    assert quantise_scores(exact) == grid
    expected = reward_weights(exact)
    noisy = {cid: s * scale * (1 + rng.uniform(-1e-14, 1e-14)) for cid, s in exact.items()}
    assert reward_weights(noisy) == expected
    # Summation order: the same total accumulated in a different order.
    reordered = {}
    for cid, s in exact.items():
        parts = [s / 7.0] * 7
        rng.shuffle(parts)
        reordered[cid] = math.fsum(parts[:3]) + sum(parts[3:])
    assert reward_weights(reordered) == expected


def test_reward_weights_tie_breaking_remainder_by_id_ascending() -> None:
    # 3 equal scores: floors 333_333 each, one leftover unit to the smallest id.
    assert reward_weights({30: 1.0, 10: 1.0, 20: 1.0}) == [(10, 333_334), (20, 333_333), (30, 333_333)]
    # 7 equal scores: 142_857 each and leftover 1 -> smallest id.
    weights = reward_weights({cid: 0.5 for cid in range(7, 0, -1)})
    assert weights[0] == (1, 142_858)
    assert all(w == 142_857 for _, w in weights[1:])


def test_reward_weights_remainder_goes_to_largest_fractional_parts() -> None:
    # q proportional to 2:1:1:1:1 -> exact shares 333_333.33.., 166_666.66.. x4.
    # Floors leave 3 units; fractional parts: 1/3 for id 1, 2/3 for ids 2..5.
    weights = dict(reward_weights({1: 2.0, 2: 1.0, 3: 1.0, 4: 1.0, 5: 1.0}))
    assert weights == {1: 333_333, 2: 166_667, 3: 166_667, 4: 166_667, 5: 166_666}
    assert sum(weights.values()) == WEIGHT_DENOMINATOR


def test_reward_weights_top_k_ties_keep_smaller_ids() -> None:
    scores = {5: 1.0, 4: 1.0, 3: 1.0, 2: 1.0, 1: 3.0}
    assert [cid for cid, _ in reward_weights(scores, max_contributions=3)] == [1, 2, 3]
    assert reward_weights(scores, max_contributions=3) == [(1, 600_000), (2, 200_000), (3, 200_000)]


def test_reward_weights_caps_at_contract_maximum() -> None:
    scores = {cid: float(cid) for cid in range(1, 1001)}
    weights = reward_weights(scores)
    assert len(weights) == MAX_CONTRIBUTIONS_PER_SETTLEMENT
    assert [cid for cid, _ in weights] == list(range(745, 1001))


def test_reward_weights_clip_negatives_and_nan() -> None:
    weights = reward_weights({1: -5.0, 2: float("nan"), 3: 2.0, 4: -math.inf, 5: 0.0, 6: 2.0})
    assert weights == [(3, 500_000), (6, 500_000)]


def test_reward_weights_drop_zero_weights() -> None:
    # Id 2 quantises to a positive q but its share of 1e6 floors to 0 and gets no leftover.
    weights = reward_weights({1: 1.0, 2: 1e-9})
    assert weights == [(1, WEIGHT_DENOMINATOR)]


def test_reward_weights_below_half_a_quantum_is_zero() -> None:
    assert quantise_scores({1: 1.0, 2: 2.0 ** -(QUANTUM_BITS + 2)}) == {1: 2**QUANTUM_BITS, 2: 0}


@pytest.mark.parametrize("scores", [{1: 0.0}, {1: -1.0, 2: float("nan")}, {}])
def test_reward_weights_no_positive_score_raises(scores: dict[int, float]) -> None:
    with pytest.raises(NoPositiveAttribution, match="no positive attribution"):
        reward_weights(scores)
    assert issubclass(NoPositiveAttribution, ValueError)
    assert issubclass(NoPositiveAttribution, AttributionError)


@pytest.mark.parametrize(
    ("scores", "message"),
    [({0: 1.0}, "contribution id"), ({-3: 1.0}, "contribution id"), ({1: math.inf}, r"\+inf")],
)
def test_reward_weights_bad_input_raises(scores: dict[int, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        reward_weights(scores)


def test_reward_weights_accepts_exact_rationals_and_numpy() -> None:
    np = pytest.importorskip("numpy")
    as_numpy = {1: np.float32(1.0), 2: np.float64(3.0)}
    rationals: dict[int, Any] = {1: Fraction(1), 2: 3}
    assert reward_weights(as_numpy) == reward_weights(rationals) == [(1, 250_000), (2, 750_000)]


def test_reward_weights_custom_denominator() -> None:
    assert reward_weights({1: 1.0, 2: 1.0, 3: 1.0}, denominator=10) == [(1, 4), (2, 3), (3, 3)]


# ------------------------------------------------------------------------ hashes

GOLDEN_SCORES = {42: 0.5, 7: 0.25, 1001: 0.125, 3: -1.0, 99: 0.0625}
GOLDEN_WEIGHTS = [(7, 266_667), (42, 533_333), (99, 66_667), (1001, 133_333)]
GOLDEN_MODEL_ID = 12
GOLDEN_QUERY_HASH = keccak(b"openledger attribution golden query")
GOLDEN_ATTRIBUTION_HASH = "020c5614d3c21af4dad5f87454ecfb6eb6c450f1eec1523e1806104009009138"
GOLDEN_SPLIT_HASH = "c42ef4cf7b1d9c8a3ef2605302270b0642ce756e6f8812656b506088f3ff7926"


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _manual_abi_array(values: list[int]) -> bytes:
    return _word(len(values)) + b"".join(_word(v) for v in values)


def test_golden_weights() -> None:
    assert reward_weights(GOLDEN_SCORES) == GOLDEN_WEIGHTS


def test_attribution_hash_golden_vector() -> None:
    digest = attribution_hash(GOLDEN_MODEL_ID, GOLDEN_QUERY_HASH, GOLDEN_WEIGHTS)
    assert digest.hex() == GOLDEN_ATTRIBUTION_HASH
    # The same bytes Solidity's abi.encode(uint256, bytes32, uint256[], uint32[]) lays out,
    # written out by hand: two static heads, two offsets, then the two tails.
    ids_tail = _manual_abi_array([cid for cid, _ in GOLDEN_WEIGHTS])
    weights_tail = _manual_abi_array([w for _, w in GOLDEN_WEIGHTS])
    manual = (
        _word(GOLDEN_MODEL_ID)
        + GOLDEN_QUERY_HASH
        + _word(4 * 32)
        + _word(4 * 32 + len(ids_tail))
        + ids_tail
        + weights_tail
    )
    assert keccak(manual) == digest


def test_split_hash_golden_vector() -> None:
    ids_ = [cid for cid, _ in GOLDEN_WEIGHTS]
    weights = [w for _, w in GOLDEN_WEIGHTS]
    digest = split_hash(ids_, weights)
    assert digest.hex() == GOLDEN_SPLIT_HASH
    ids_tail = _manual_abi_array(ids_)
    manual = _word(64) + _word(64 + len(ids_tail)) + ids_tail + _manual_abi_array(weights)
    assert keccak(manual) == digest


@settings(max_examples=100, deadline=None)
@given(
    st.integers(min_value=0, max_value=2**256 - 1),
    st.binary(min_size=32, max_size=32),
    st.lists(st.tuples(ids, st.integers(min_value=1, max_value=2**32 - 1)), max_size=20),
)
def test_attribution_hash_matches_eth_abi(model_id: int, query: bytes, weights: list[tuple[int, int]]) -> None:
    expected = keccak(
        encode(
            ["uint256", "bytes32", "uint256[]", "uint32[]"],
            [model_id, query, [c for c, _ in weights], [w for _, w in weights]],
        )
    )
    assert attribution_hash(model_id, query, weights) == expected


def test_attribution_hash_rejects_short_query_hash() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        attribution_hash(1, b"\x00" * 31, [(1, WEIGHT_DENOMINATOR)])


# --------------------------------------------------------------------- fee split


def _contract_split(fee: int, p: int, o: int, weights: list[int]) -> tuple[int, int, list[int]]:
    """PayableAI._computeSplit transcribed statement by statement."""
    protocol_amount = fee * p // 10_000
    owner_amount = fee * o // 10_000
    pool = fee - protocol_amount - owner_amount
    amounts = []
    paid = 0
    for w in weights:
        amount = pool * w // 1_000_000
        amounts.append(amount)
        paid += amount
    owner_amount += pool - paid
    return protocol_amount, owner_amount, amounts


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=0, max_value=2**200),
    st.integers(min_value=0, max_value=10_000),
    st.data(),
    score_maps,
)
def test_split_fee_matches_contract_and_sums_to_fee(
    fee: int, protocol_bps: int, data: st.DataObject, scores: dict[int, float]
) -> None:
    assume(_has_positive(scores))
    owner_bps = data.draw(st.integers(min_value=0, max_value=10_000 - protocol_bps))
    weights = reward_weights(scores)
    protocol_amount, owner_amount, amounts = split_fee(fee, protocol_bps, owner_bps, weights)
    assert protocol_amount + owner_amount + sum(amounts) == fee
    assert (protocol_amount, owner_amount, amounts) == _contract_split(
        fee, protocol_bps, owner_bps, [w for _, w in weights]
    )
    assert split_fee(fee, protocol_bps, owner_bps, [w for _, w in weights]) == (protocol_amount, owner_amount, amounts)


def test_split_fee_example() -> None:
    fee = 10**18 + 7
    assert split_fee(fee, 250, 1_000, [(1, 500_000), (2, 250_000), (3, 250_000)]) == (
        25_000_000_000_000_000,
        100_000_000_000_000_002,
        [437_500_000_000_000_003, 218_750_000_000_000_001, 218_750_000_000_000_001],
    )


@pytest.mark.parametrize(
    ("p", "o", "weights", "message"),
    [
        (6_000, 5_000, [1_000_000], "exceed"),
        (0, 0, [999_999], "sum to"),
        (-1, 0, [1_000_000], "non-negative"),
    ],
)
def test_split_fee_invalid_reverts(p: int, o: int, weights: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        split_fee(100, p, o, weights)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ([], "empty"),
        ([(2, 500_000), (1, 500_000)], "ascending"),
        ([(1, 500_000), (1, 500_000)], "ascending"),
        ([(0, 1_000_000)], "ascending"),
        ([(1, 0), (2, 1_000_000)], "weight 0"),
        ([(1, 999_999)], "sum to"),
    ],
)
def test_validate_split_non_canonical_raises(weights: list[tuple[int, int]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_split(weights)


# ------------------------------------------------- against the EVM (anvil, solc)

HASHES_SOURCE = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.0;
contract Hashes {
    function hashes(uint256 modelId, bytes32 queryHash, uint256[] calldata ids, uint32[] calldata weights)
        external pure returns (bytes32 attribution, bytes32 split)
    {
        return (keccak256(abi.encode(modelId, queryHash, ids, weights)), keccak256(abi.encode(ids, weights)));
    }
}
"""
CODE_ADDRESS = "0x" + "ab" * 20
REPO = Path(__file__).resolve().parents[2]


class _Evm:
    """eth_call against anvil with the contract's runtime code set by a state override."""

    def __init__(self, url: str) -> None:
        self.url = url

    def rpc(self, method: str, params: list[Any]) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
        request = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            reply = json.loads(response.read())
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply["result"]

    def call(self, runtime: bytes, calldata: bytes) -> bytes:
        result = self.rpc(
            "eth_call",
            [{"to": CODE_ADDRESS, "data": "0x" + calldata.hex()}, "latest", {CODE_ADDRESS: {"code": "0x" + runtime.hex()}}],
        )
        return bytes.fromhex(result[2:])


@pytest.fixture(scope="module")
def evm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Evm]:
    from tests.anvil import start_anvil, stop_anvil

    process, url = start_anvil(tmp_path_factory.mktemp("anvil") / "anvil.log")
    try:
        yield _Evm(url)
    finally:
        stop_anvil(process)


def _selector(signature: str) -> bytes:
    return keccak(signature.encode())[:4]


def test_hashes_match_solidity_abi_encode(evm: _Evm, tmp_path: Path) -> None:
    solcjs = REPO / "node_modules" / ".bin" / "solcjs"
    if not solcjs.exists():
        pytest.skip("node_modules/.bin/solcjs is missing: run `npm ci`")
    (tmp_path / "Hashes.sol").write_text(HASHES_SOURCE)
    subprocess.run([str(solcjs), "--bin", "Hashes.sol", "-o", "out"], cwd=tmp_path, check=True, capture_output=True)
    initcode = bytes.fromhex((tmp_path / "out" / "Hashes_sol_Hashes.bin").read_text().strip())
    runtime = bytes.fromhex(evm.rpc("eth_call", [{"data": "0x" + initcode.hex()}, "latest"])[2:])

    selector = _selector("hashes(uint256,bytes32,uint256[],uint32[])")
    rng = random.Random(7)
    cases = [(GOLDEN_MODEL_ID, GOLDEN_QUERY_HASH, GOLDEN_WEIGHTS)]
    for _ in range(20):
        scores = {rng.randrange(1, 2**128): rng.uniform(-1, 1) for _ in range(rng.randint(1, 40))}
        scores[rng.randrange(1, 2**64)] = 1.0
        cases.append((rng.randrange(2**256), rng.randbytes(32), reward_weights(scores)))
    for model_id, query, weights in cases:
        ids_, values = [c for c, _ in weights], [w for _, w in weights]
        calldata = selector + encode(["uint256", "bytes32", "uint256[]", "uint32[]"], [model_id, query, ids_, values])
        out = evm.call(runtime, calldata)
        assert out[:32] == attribution_hash(model_id, query, weights)
        assert out[32:64] == split_hash(ids_, values)


def test_split_fee_matches_payable_ai_compute_split(evm: _Evm) -> None:
    from contracts import load_artifact

    runtime = load_artifact("PayableAI").deployed_bytecode
    selector = _selector("computeSplit(uint256,uint16,uint16,uint32[])")
    rng = random.Random(11)
    for _ in range(40):
        fee = rng.choice([rng.randrange(10**6), rng.randrange(10**24), rng.randrange(2**200)])
        protocol_bps = rng.randrange(0, 10_001)
        owner_bps = rng.randrange(0, 10_001 - protocol_bps)
        weights = reward_weights({rng.randrange(1, 10**9): rng.random() for _ in range(rng.randint(1, 256))})
        values = [w for _, w in weights]
        calldata = selector + encode(["uint256", "uint16", "uint16", "uint32[]"], [fee, protocol_bps, owner_bps, values])
        protocol_amount, owner_amount, amounts = decode(["uint256", "uint256", "uint256[]"], evm.call(runtime, calldata))
        assert split_fee(fee, protocol_bps, owner_bps, weights) == (protocol_amount, owner_amount, list(amounts))
