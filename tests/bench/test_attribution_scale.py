"""bench/attribution_scale.py's code paths on a tiny network: the ground truth
is a function of the data alone, every method scores the same examples with
the same sign convention, and the tables come out (the figures themselves are
read from docs/benchmarks.md, never from tests)."""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from scipy.stats import spearmanr

pytest.importorskip("sklearn")

from bench.attribution_scale import (
    BASELINE_MODULES,
    Config,
    fine_tune,
    format_table,
    load_splits,
    logra_dim,
    make_model,
    parameter_count,
    pretrain,
    ratio_lines,
    run,
)

REPO = Path(__file__).resolve().parents[2]
TINY = Config(n_pretrain=60, n_train=40, n_test=6, m=4, channels=(4, 8), hidden=(32, 16), pretrain_epochs=2,
              finetune_epochs=1, batch_size=20, ranks=(4,), trak_rank=4, baseline_batch_size=20, threads=1,
              baselines=tuple(name for name, module in BASELINE_MODULES.items() if importlib.util.find_spec(module)))


def test_the_benchmarked_network_has_over_five_million_parameters() -> None:
    assert parameter_count(make_model(Config())) > 5_000_000


def test_fine_tuning_depends_on_the_data_alone() -> None:
    torch.set_num_threads(1)
    data = load_splits(TINY)
    checkpoint = pretrain(TINY, data)
    half = torch.arange(0, TINY.n_train, 2)
    first = fine_tune(TINY, checkpoint, data.x_tr[half], data.y_tr[half]).state_dict()
    again = fine_tune(TINY, checkpoint, data.x_tr[half], data.y_tr[half]).state_dict()
    other = fine_tune(TINY, checkpoint, data.x_tr[half + 1], data.y_tr[half + 1]).state_dict()
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)
    assert not all(torch.equal(first[k], checkpoint[k]) for k in first)


def test_tiny_run_scores_every_method_with_one_sign_convention() -> None:
    rows, facts = run(TINY, log=lambda _: None)
    keys = [row.result.key for row in rows]
    assert keys == ["ours_4"] + [key for b in TINY.baselines
                                 for key in {"kronfluence": ["kronfluence", "kronfluence_global"],
                                             "trak": [f"trak_{logra_dim(TINY, 4)}"]}[b]]
    assert facts["params"] == parameter_count(make_model(TINY))
    ours = rows[0].result
    assert ours.dim == logra_dim(TINY, 4)  # TRAK's projection size is ours' row width
    for row in rows:
        r = row.result
        assert r.scores.shape == (TINY.n_test, TINY.n_train) and bool(torch.isfinite(r.scores).all())
        assert -1.0 <= row.lds - row.se and row.lds + row.se <= 1.0 + 1e-9
        assert r.build.seconds > 0 and r.scoring.seconds > 0 and r.build.peak_bytes >= 0
        rho = [spearmanr(ours.scores[q].numpy(), r.scores[q].numpy()).statistic for q in range(TINY.n_test)]
        assert math.isclose(row.agreement, sum(rho) / len(rho))
        # The baselines approximate the same influence: on a tiny network their
        # scores rank the training examples like ours (a flipped sign gives < 0).
        assert row.agreement > (0.999 if r is ours else 0.3), r.key
    table = format_table(rows, TINY)
    assert table.count("\n") == 1 + len(rows)
    assert len(ratio_lines(rows, TINY)) == (len(rows) - len(TINY.ranks)) * len(TINY.ranks)


@pytest.mark.parametrize(("argv", "message"), [
    (["--baselines", "influence"], "unknown baseline 'influence'"),
    (["--m", "2"], "--m must be at least 3"),
    (["--ranks", "8,x"], "--ranks must be comma separated integers, got '8,x'"),
    (["--ranks", "0"], "--ranks must be at least 1, got '0'"),
    (["--damping", "0"], "--damping must be positive, got 0"),
])
def test_command_line_refuses_bad_arguments(argv: list[str], message: str) -> None:
    result = subprocess.run([sys.executable, str(REPO / "bench" / "attribution_scale.py"), *argv], check=False, cwd=REPO,
                            env=dict(os.environ, PYTHONWARNINGS="ignore"), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert message in result.stderr

