"""Deterministic settlement: attribution scores -> the integer split PayableAI pays.

Sits at the end of the attribution pipeline. An attribution method (gradient
influence, span matching) produces a float score per contribution; this module
turns those scores into the ``(contributionIds, weights, attributionHash)`` that a
provider posts to ``PayableAI.settle``. A validator recomputing a disputed
settlement must arrive at the same bytes, so every step after the scores is exact
integer arithmetic with documented rounding and tie-breaking.

Rule of :func:`reward_weights` (the canonical rounding rule):

1. **Clip.** Negative scores, ``-inf`` and NaN count as 0 (a contribution that
   hurt the output earns nothing; it is not charged). ``+inf`` is rejected.
2. **Quantise relative to the largest score.** Each score ``s`` becomes the
   integer ``q = round_half_even(s / s_max * 2**40)`` computed exactly with
   :class:`fractions.Fraction` (a float is an exact dyadic rational, so no float
   operation happens after the scores are read). One unit is ``2**-40`` (about
   9.1e-13) of the largest score. Consequences: the result does not depend on the
   order of the mapping or on how the scores were summed upstream, as long as that
   noise is below half a unit; multiplying every score by a power of two leaves
   every ``q`` (and hence the weights) bit-identical; multiplying by any other
   positive constant perturbs each ratio by at most one float rounding (2**-53
   relative) and so changes nothing unless a ratio sits on a rounding boundary.
   A score below half a unit of the largest becomes 0 and earns nothing.
3. **Top k.** Keep the ``max_contributions`` largest positive ``q``; ties are
   broken by contribution id ascending (the smaller id is kept).
4. **Floor.** ``w_i = floor(q_i * D / Q)`` with ``Q = sum(q)`` and ``D`` the
   denominator (largest-remainder / Hamilton apportionment).
5. **Remainder.** The ``D - sum(w)`` leftover units (fewer than the number of
   kept contributions) go one each to the largest fractional parts
   ``(q_i * D) mod Q``; ties by contribution id ascending.
6. **Drop zeros.** PayableAI rejects zero weights, so contributions whose weight
   is still 0 are omitted; the sum is unaffected.
7. Return ``(contribution_id, weight)`` pairs sorted by id ascending, the order
   ``settle`` requires.

No positive score at all raises :class:`NoPositiveAttribution` (a
``ValueError``): there is nothing to pay contributors for, and the caller applies
policy instead of settling (let the request time out and be refunded, or pay a
fallback split chosen by governance). Settling with an invented split would be
unverifiable.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from fractions import Fraction

from eth_abi.abi import encode
from eth_hash.auto import keccak

from attribution.errors import AttributionError

WEIGHT_DENOMINATOR = 1_000_000
"""``PayableAI.WEIGHT_DENOMINATOR``: settlement weights sum to exactly this."""

BPS_DENOMINATOR = 10_000
"""``PayableAI.BPS_DENOMINATOR``: fee shares are in basis points."""

MAX_CONTRIBUTIONS_PER_SETTLEMENT = 256
"""``PayableAI.MAX_CONTRIBUTIONS_PER_SETTLEMENT``."""

QUANTUM_BITS = 40
"""Scores are quantised to ``2**-QUANTUM_BITS`` of the largest score."""

_UINT32_MAX = 2**32 - 1
_UINT256_MAX = 2**256 - 1


class NoPositiveAttribution(AttributionError, ValueError):
    """No contribution has a positive (quantised) score: nothing to split.

    The fee should be refunded (let the settlement deadline pass) or handled by a
    governance policy; it must not be settled with an arbitrary split.
    """


def _exact_score(contribution_id: int, score: object) -> Fraction:
    """A score as an exact rational, clipped at 0 (negatives, -inf, NaN -> 0)."""
    if isinstance(score, numbers.Rational):
        value = Fraction(int(score.numerator), int(score.denominator))
        return value if value > 0 else Fraction(0)
    as_float = float(score)  # type: ignore[arg-type]
    if math.isnan(as_float) or as_float <= 0.0:
        return Fraction(0)
    if math.isinf(as_float):
        raise ValueError(f"score of contribution {contribution_id} is +inf")
    return Fraction(as_float)


def _round_half_even(value: Fraction) -> int:
    return round(value)  # Fraction.__round__ with no digits rounds half to even.


def quantise_scores(scores: Mapping[int, float | Fraction]) -> dict[int, int]:
    """Step 1-2 of the rule: clipped scores as integers in units of 2**-40 of the max.

    Contribution ids must be in 1..2**256-1 (PayableAI requires ids strictly
    ascending from a previous id of 0, so id 0 can never be paid).
    """
    exact: dict[int, Fraction] = {}
    for contribution_id, score in scores.items():
        cid = int(contribution_id)
        if cid != contribution_id or not 0 < cid <= _UINT256_MAX:
            raise ValueError(f"contribution id {contribution_id!r} is not in 1..2**256-1")
        exact[cid] = _exact_score(cid, score)
    top = max(exact.values(), default=Fraction(0))
    if top <= 0:
        return {cid: 0 for cid in exact}
    scale = Fraction(2**QUANTUM_BITS) / top
    return {cid: _round_half_even(value * scale) for cid, value in exact.items()}


def reward_weights(
    scores: Mapping[int, float | Fraction],
    denominator: int = WEIGHT_DENOMINATOR,
    max_contributions: int = MAX_CONTRIBUTIONS_PER_SETTLEMENT,
) -> list[tuple[int, int]]:
    """Turn per-contribution scores into PayableAI settlement weights.

    Args:
        scores: contribution id -> attribution score (any real; see the module
            docstring for clipping and quantisation).
        denominator: the sum the weights must reach (``WEIGHT_DENOMINATOR``).
        max_contributions: at most this many contributions are paid.

    Returns:
        ``(contribution_id, weight)`` pairs, ids strictly ascending, every weight
        > 0, weights summing exactly to ``denominator``.

    Raises:
        NoPositiveAttribution: no contribution has a positive quantised score.
        ValueError: a bad id, a ``+inf`` score or bad parameters.
    """
    if denominator <= 0 or denominator > _UINT32_MAX:
        raise ValueError(f"denominator {denominator} is not in 1..2**32-1")
    if max_contributions <= 0:
        raise ValueError(f"max_contributions {max_contributions} must be positive")

    quantised = quantise_scores(scores)
    positive = [(q, cid) for cid, q in quantised.items() if q > 0]
    if not positive:
        raise NoPositiveAttribution(
            f"no positive attribution among {len(scores)} contributions: refund or apply policy"
        )
    positive.sort(key=lambda item: (-item[0], item[1]))
    kept = positive[:max_contributions]

    total = sum(q for q, _ in kept)
    floors: dict[int, int] = {}
    remainders: list[tuple[int, int]] = []
    for q, cid in kept:
        share, remainder = divmod(q * denominator, total)
        floors[cid] = share
        remainders.append((remainder, cid))
    leftover = denominator - sum(floors.values())
    # leftover < len(kept): each floor loses less than one unit.
    remainders.sort(key=lambda item: (-item[0], item[1]))
    for _, cid in remainders[:leftover]:
        floors[cid] += 1

    return sorted((cid, weight) for cid, weight in floors.items() if weight > 0)


def validate_split(
    weights: Sequence[tuple[int, int]],
    denominator: int = WEIGHT_DENOMINATOR,
    max_contributions: int = MAX_CONTRIBUTIONS_PER_SETTLEMENT,
) -> None:
    """Raise ``ValueError`` unless ``weights`` passes PayableAI's canonical-split checks.

    Mirrors the registry-independent part of ``PayableAI._validateSplit``: non-empty,
    at most ``max_contributions``, ids strictly ascending from 0, every weight in
    1..2**32-1, weights summing to ``denominator``.
    """
    if not weights:
        raise ValueError("empty split")
    if len(weights) > max_contributions:
        raise ValueError(f"{len(weights)} contributions exceed the maximum {max_contributions}")
    previous = 0
    for index, (cid, weight) in enumerate(weights):
        if not previous < cid <= _UINT256_MAX:
            raise ValueError(f"contribution ids not strictly ascending at index {index}")
        if not 0 < weight <= _UINT32_MAX:
            raise ValueError(f"weight {weight} at index {index} is not in 1..2**32-1")
        previous = cid
    total = sum(weight for _, weight in weights)
    if total != denominator:
        raise ValueError(f"weights sum to {total}, not {denominator}")


def split_hash(ids: Sequence[int], weights: Sequence[int]) -> bytes:
    """``keccak256(abi.encode(uint256[] ids, uint32[] weights))``: a commitment to a split alone
    (PayableAI commits to a split through the attribution hash, which adds the model and query)."""
    if len(ids) != len(weights):
        raise ValueError(f"{len(ids)} ids but {len(weights)} weights")
    return keccak(encode(["uint256[]", "uint32[]"], [list(ids), list(weights)]))


def attribution_hash(model_id: int, query_hash: bytes, weights: Sequence[tuple[int, int]]) -> bytes:
    """The ``attributionHash`` a provider posts with ``settle``.

    ``keccak256(abi.encode(uint256 modelId, bytes32 queryHash, uint256[] contributionIds,
    uint32[] weights))``: the canonical encoding of what was attributed (model and
    query) and the resulting split, so a validator can recompute and compare.
    """
    if len(query_hash) != 32:
        raise ValueError(f"query_hash must be 32 bytes, got {len(query_hash)}")
    ids = [cid for cid, _ in weights]
    values = [weight for _, weight in weights]
    return keccak(
        encode(
            ["uint256", "bytes32", "uint256[]", "uint32[]"],
            [model_id, bytes(query_hash), ids, values],
        )
    )


def _weight_values(weights: Sequence[int] | Sequence[tuple[int, int]]) -> list[int]:
    return [item[1] if isinstance(item, tuple) else int(item) for item in weights]


def split_fee(
    fee: int,
    protocol_share_bps: int,
    owner_share_bps: int,
    weights: Sequence[int] | Sequence[tuple[int, int]],
) -> tuple[int, int, list[int]]:
    """Reproduce ``PayableAI.computeSplit`` exactly.

    ``protocol = fee * p // 10000``; ``owner = fee * o // 10000``; the pool is the
    rest; contributor ``i`` gets ``pool * w_i // WEIGHT_DENOMINATOR``; the rounding
    remainder of those floors goes to the model owner. ``weights`` is either the
    ``uint32[]`` array or the ``(id, weight)`` pairs of :func:`reward_weights`.

    Returns:
        ``(protocol_amount, owner_amount, amounts)``, ``amounts`` aligned with
        ``weights``; the three always sum to ``fee``.
    """
    values = _weight_values(weights)
    if fee < 0 or fee > _UINT256_MAX:
        raise ValueError(f"fee {fee} is not a uint256")
    if protocol_share_bps < 0 or owner_share_bps < 0:
        raise ValueError("shares must be non-negative")
    if protocol_share_bps + owner_share_bps > BPS_DENOMINATOR:
        raise ValueError(f"shares {protocol_share_bps} + {owner_share_bps} bps exceed {BPS_DENOMINATOR}")
    if sum(values) != WEIGHT_DENOMINATOR:
        raise ValueError(f"weights sum to {sum(values)}, not {WEIGHT_DENOMINATOR}")
    protocol_amount = fee * protocol_share_bps // BPS_DENOMINATOR
    owner_amount = fee * owner_share_bps // BPS_DENOMINATOR
    pool = fee - protocol_amount - owner_amount
    amounts = [pool * weight // WEIGHT_DENOMINATOR for weight in values]
    owner_amount += pool - sum(amounts)
    return protocol_amount, owner_amount, amounts
