"""Exact arithmetic for the settlement path: fixed-point values carried in float64.

Every stage between the model's activations and the integer reward split
(projection, index rows, preconditioner, scores, sums) runs on values that lie
on a power-of-two grid: `quantize` rounds a group of numbers (one example's
block, one query's block, one matrix) to integers times 2^(e - bits), with e the
exponent of the group's largest magnitude. A dot product of two such vectors
is a sum of integer multiples of one grid step, so as long as every partial sum
stays below 2^53 steps, float64 computes it EXACTLY, whatever order BLAS, a
thread split, a batch shape or a GPU kernel chooses. `exact_matmul` cuts the
inner dimension into chunks short enough for that bound, and adds the chunk
products in a fixed order. The grid of each group depends only on that group's
own values (a maximum is exact in any order), never on its neighbours in a
batch.

Sums over many examples (second moments, per-contribution scores) either go
through `ordered_sum` (one fixed sequential order, the dataset's) or are taken in
int64 units (`to_units`), where addition is exact and associative.

Powers of two are built from their bit patterns (`pow2`), so scaling by one is
exact on every device and library.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

FLOAT64_MANTISSA = 53

# Grid widths (bits of each integer). Chosen so that the products of each stage
# fit the 53-bit bound with room for long reductions (see `exact_matmul`), while
# every stage keeps at least float32's precision relative to its group's largest
# value.
ACTIVATION_BITS = 26  # a layer's inputs / output gradients, per example
PROJECTION_BITS = 14  # the Gaussian projection factors, per matrix
FACTOR_BITS = 22  # projected factors before their outer products, per example
ROW_BITS = 24  # stored index rows, per (row, layer): exact in float32
QUERY_BITS = 20  # preconditioned query rows, per (query, layer), for scoring
BASIS_BITS = 22  # preconditioner matrices (eigenbases, inverses)
SQUARE_BITS = 26  # values squared for second moments (their squares fit 52 bits)
UNIT_BITS = 62  # int64 score units: a query's bound over the whole index is below 2^62 units


def pow2(exponents: torch.Tensor) -> torch.Tensor:
    """2.0 ** exponents (int tensor) as float64, exact: assembled from the IEEE
    bit pattern, clamped to the normal range."""
    e = exponents.to(torch.int64).clamp(-1022, 1023)
    return ((e + 1023) << 52).view(torch.float64)


def exponent_of(x: torch.Tensor) -> torch.Tensor:
    """Per element, the e with |x| < 2^e (0 for 0): x = m 2^e, 0.5 <= |m| < 1."""
    return torch.frexp(x)[1].to(torch.int64)


def quantize(x: torch.Tensor, bits: int, dims: tuple[int, ...] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Round float64 `x` to its group's grid: each group (the elements that share
    the indices outside `dims`; None: the whole tensor) becomes integers k with
    |k| <= 2^bits times 2^(e - bits), e the exponent of the group's largest
    magnitude. Returns (grid values, float64; e, int64, shaped like the group
    maximum with `dims` kept)."""
    x = x.to(torch.float64)
    if x.numel() == 0:
        shape = [1 if dims is None or d in dims else s for d, s in enumerate(x.shape)]
        return x, torch.zeros(shape, dtype=torch.int64, device=x.device)
    big = x.abs().amax() if dims is None else x.abs().amax(dim=dims, keepdim=True)
    if dims is None:
        big = big.reshape([1] * x.dim())
    e = exponent_of(big)
    scaled = torch.round(x * pow2(bits - e))
    return scaled * pow2(e - bits), e


def chunk_length(bits_a: int, bits_b: int) -> int:
    """Longest inner dimension whose sum of products of a `bits_a`-bit and a
    `bits_b`-bit integer stays below 2^53 (so float64 holds it exactly)."""
    return 1 << max(0, FLOAT64_MANTISSA - bits_a - bits_b)


def _chunks(length: int, size: int) -> Iterator[slice]:
    for start in range(0, length, size):
        yield slice(start, min(start + size, length))


def exact_matmul(a: torch.Tensor, bits_a: int, b: torch.Tensor, bits_b: int) -> torch.Tensor:
    """a @ b (torch.matmul broadcasting) for operands on grids of `bits_a` and
    `bits_b` bits, each reduction within one grid: every chunk of the inner
    dimension is computed exactly, and the chunks are added in order."""
    size = chunk_length(bits_a, bits_b)
    inner = a.shape[-1]
    if inner <= size:
        return a @ b
    out: torch.Tensor | None = None
    for s in _chunks(inner, size):
        part = a[..., s] @ b[..., s, :]
        out = part if out is None else out + part
    assert out is not None
    return out


def ordered_sum(acc: torch.Tensor, terms: torch.Tensor) -> torch.Tensor:
    """acc + terms[0] + terms[1] + ... in exactly that order (float64, on the
    CPU, where cumsum is one sequential scan), so a running sum over a dataset
    does not depend on how the dataset was cut into batches."""
    if terms.shape[0] == 0:
        return acc
    stacked = torch.cat([acc.to("cpu", torch.float64).unsqueeze(0), terms.to("cpu", torch.float64)])
    return torch.cumsum(stacked, dim=0)[-1].to(acc.device)


def fsum(values: list[float]) -> float:
    """Correctly rounded sum: the same float whatever the order of `values`."""
    return math.fsum(values)


def to_units(values: torch.Tensor, unit_exponents: torch.Tensor) -> torch.Tensor:
    """Round float64 `values` to int64 multiples of 2^unit_exponents (broadcast):
    one rounding of an exact value, so the same integers on any device."""
    return torch.round(values * pow2(-unit_exponents)).to(torch.int64)


def from_units(units: torch.Tensor, unit_exponents: torch.Tensor) -> torch.Tensor:
    """int64 units back to float64 (one correctly rounded conversion)."""
    return units.to(torch.float64) * pow2(unit_exponents)


def ceil_log2(value: int) -> int:
    """Smallest e with value <= 2^e (value >= 1)."""
    return max(0, (value - 1).bit_length())


class single_thread:
    """Run LAPACK / BLAS on one thread inside the block: the eigendecompositions
    of the preconditioner then do not depend on the thread count."""

    def __enter__(self) -> None:
        self.before = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self.before)
