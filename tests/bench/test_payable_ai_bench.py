"""A small run of bench/payable_ai.py's code paths against a real node and a
real `openledger-attribution serve` process: every figure it reports is
present and plausible (rates and gas positive, p50 <= p99, settlement after
the answer), and its synthetic contributions hold exactly the examples asked."""

from __future__ import annotations

import argparse
import re

import torch

from attribution.examples import digits
from bench.payable_ai import bench_size, percentile, synthetic_contributions


def test_synthetic_contributions_hold_the_requested_noisy_examples() -> None:
    blobs = synthetic_contributions(250, 100)
    parsed = [digits.parse_contribution(blob) for blob in blobs]
    assert [len(y) for _, y in parsed] == [100, 100, 50]
    x = torch.cat([xs for xs, _ in parsed])
    assert x.shape == (250, 64)
    assert synthetic_contributions(250, 100) == blobs  # seeded
    assert synthetic_contributions(250, 100, seed=1) != blobs


def test_percentile_picks_the_ranked_value() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) in (50.0, 51.0)
    assert percentile(values, 0.99) == 99.0
    assert percentile([3.0], 0.99) == 3.0


def number(text: str) -> float:
    return float(text.replace(",", ""))


def test_small_end_to_end_run_reports_every_figure() -> None:
    args = argparse.Namespace(contributions=20, shard_size=256, requests=3, in_flight=2, repeats=1, batch_window=0.1)
    rows = bench_size(1000, args)
    cells = {row.split(" | ")[0].strip("| ").split(": ")[-1]: row.rsplit(" | ", 1)[1].strip(" |") for row in rows}
    assert number(cells["served / s"].split(" / ")[1]) > 0
    assert number(cells["settled / s (request -> settle receipt)"].split(" / ")[1]) > 0
    answer = [number(v) for v in cells["HTTP answer p50 / p99 (ms, from the request tx)"].split(" / ")]
    settle = [number(v) for v in cells["settlement p50 / p99 (ms, request -> settle receipt)"].split(" / ")]
    assert 0 < answer[0] <= answer[1] and answer[0] <= settle[0] <= settle[1]
    assert number(cells["service CPU ms per inference"].split(" / ")[1]) > 0
    # A settle writes the split and the hashes: tens of thousands of gas at least; finalize pays out.
    assert number(cells["settle gas per inference"].split(" / ")[1]) > 21_000
    assert number(cells["finalize gas per inference"].split(" / ")[1]) > 21_000
    assert re.search(r"1,000 examples \(20 contributions", rows[0])
