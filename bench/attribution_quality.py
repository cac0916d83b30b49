"""Attribution quality: linear datamodeling score (LDS) on scikit-learn's digits,
the engine beside kronfluence and dattri, every method tuned the same way.

Ground truth by retraining: random halves of the training set (seeded), the model
retrained on each with the same recipe (same initialisation seed, so only the
data changes), and each test point's margin recorded (correct-class logit minus
log-sum-exp of the others). A method's LDS for one test point is the Spearman
correlation across the subsets between the sum of its scores over each subset's
examples and the retrained margin; the table reports the mean over the test
points with its standard error.

Two disjoint ground truths (the rules, also in docs/benchmarks.md):
- validation: `--val-points` test points and `--val-m` subsets (their own seed);
- evaluation: `--test-points` other test points and `--m` other subsets.
Every method is run at every setting of its grid (the library's default first);
the "tuned" row of a method takes the setting with the best mean validation LDS
(the earlier setting on a tie) and reports its evaluation LDS; a "defaults" row
reports the library's default setting, whatever validation says. No evaluation
number is looked at to choose anything. Each grid is the method's own damping
or regularisation knob, its default and three decades of values; the other
settings stay at the library's defaults.

Methods, all scored from the model(s) trained on the full training set:
- ours: `build_index` and `score` with no options (the library defaults; the
  headline row), the same with the relative damping tuned, and the option for
  small classifiers: the exact Gauss-Newton matrix as one full block per layer
  (`fisher='exact'`, `kind='fisher'`; C passes per example), damping tuned;
- kronfluence (EK-FAC, K-FAC): `fit_all_factors` and `compute_pairwise_scores`,
  the sampled Fisher (its default), damping 1e-8 (its default), its heuristic
  (`damping_factor=None`: 0.1 x the mean eigenvalue) and a tuned absolute value;
- dattri: TRAK (`TRAKAttributor`, projection 512, the margin as TRAK defines it,
  checkpoints ensembled the TRAK way), influence functions with conjugate
  gradients (`IFAttributorCG`, 10 iterations) and, on logistic regression, with
  the explicit Hessian (`IFAttributorExplicit`), on the regularised training
  loss, regularisation tuned;
- gradient dot product (TracIn-style): exact per-example gradients, no
  preconditioner.
Ensembles average the scores of independently trained models (seeds 0..k-1);
TRAK takes the k checkpoints itself.

Usage: python bench/attribution_quality.py [--m 100] [--test-points 200] [--write-docs]
Needs the bench extra for the baselines (`pip install -e '.[bench]'`).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import logging
import math
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("TQDM_DISABLE", "1")  # the baselines' progress bars; read when tqdm is imported

from attribution import (
    PreconditionerArguments,
    ScoreArguments,
    Task,
    build_index,
    gradient_dot_product,
    per_example_gradients,
    score,
)
from attribution.index import load_preconditioner, save_preconditioner
from attribution.preconditioner import _damping
from bench.docs import machine_line, replace_section

SECTION = "## Attribution quality (`bench/attribution_quality.py`)"
N_TRAIN = 1000
VAL_SEED, EVAL_SEED = 5678, 1234  # subset draws of the two ground truths


class MarginTask(Task):
    """Summed cross-entropy training loss; the measurement is the margin
    logit_y - logsumexp(other logits), summed over the batch."""

    def compute_train_loss(self, batch: Any, model: nn.Module) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(model(x), y, reduction="sum")

    def compute_measurement(self, batch: Any, model: nn.Module) -> torch.Tensor:
        x, y = batch
        return margins(model(x), y).sum()

    def compute_train_logits(self, batch: Any, model: nn.Module) -> torch.Tensor:
        x, _ = batch
        return model(x)


def margins(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    correct = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.scatter(1, y[:, None], float("-inf"))
    return correct - torch.logsumexp(others, dim=1)


# ---------------------------------------------------------------- models


def make_model(family: str, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    if family == "lr":
        model: nn.Module = nn.Sequential(nn.Linear(64, 10))
    else:
        model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    return model.double()


MLP_L2 = 1e-3  # L2 penalty: mean loss + l2/2 * ||W||^2 (weights, not biases)
MLP_STEPS = 400
MLP_LR = 1e-2


def weight_names(model: nn.Module) -> set[str]:
    return {n for n, p in model.named_parameters() if p.dim() > 1}


def train(family: str, x: torch.Tensor, y: torch.Tensor, seed: int, l2: float) -> nn.Module:
    model = make_model(family, seed)
    params = list(model.parameters())
    weights = [p for p in params if p.dim() > 1]
    if family == "lr":
        opt = torch.optim.LBFGS(params, lr=1.0, max_iter=500, tolerance_grad=1e-9, tolerance_change=1e-12,
                                history_size=20, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y) + l2 / 2 * sum((w**2).sum() for w in weights)
            loss.backward()
            return loss

        opt.step(closure)
    else:
        opt = torch.optim.Adam(params, lr=MLP_LR)
        for _ in range(MLP_STEPS):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y) + l2 / 2 * sum((w**2).sum() for w in weights)
            loss.backward()
            opt.step()
    model.eval()
    return model


# ---------------------------------------------------------------- ground truth


def ground_truth(family: str, x_tr: torch.Tensor, y_tr: torch.Tensor, x_te: torch.Tensor, y_te: torch.Tensor,
                 m: int, subset_seed: int, l2: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(masks m x n_train bool, margins m x n_test) from retraining on random halves."""
    n = len(y_tr)
    gen = torch.Generator().manual_seed(subset_seed)
    masks = torch.zeros(m, n, dtype=torch.bool)
    out = torch.zeros(m, len(y_te), dtype=torch.float64)
    for j in range(m):
        idx = torch.randperm(n, generator=gen)[: n // 2]
        masks[j, idx] = True
        model = train(family, x_tr[idx], y_tr[idx], seed=0, l2=l2)
        with torch.no_grad():
            out[j] = margins(model(x_te), y_te)
    return masks, out


def lds(scores: torch.Tensor, masks: torch.Tensor, truth: torch.Tensor) -> tuple[float, float]:
    """Mean and standard error over test points of the Spearman correlation
    between predicted (summed scores over each subset) and true margins."""
    pred = scores.to(torch.float64) @ masks.to(torch.float64).T  # (n_test, m)
    rhos = []
    for i in range(pred.shape[0]):
        r = spearmanr(pred[i].numpy(), truth[:, i].numpy()).statistic
        rhos.append(0.0 if math.isnan(r) else float(r))
    arr = np.array(rhos)
    return float(arr.mean()), float(arr.std(ddof=1) / math.sqrt(len(arr)))


# ---------------------------------------------------------------- methods
#
# Every method maps (models, setting) to a (queries x training examples) score
# matrix, positive = the example raised the query's margin. The queries are the
# validation points followed by the evaluation points.


@dataclass
class Problem:
    family: str
    l2: float
    x_tr: torch.Tensor
    y_tr: torch.Tensor
    x_q: torch.Tensor
    y_q: torch.Tensor


@dataclass(frozen=True)
class Method:
    key: str
    label: str
    settings: tuple[Any, ...]  # the library default first
    describe: Callable[[Any], str]
    # (problem, models, setting) -> (scores, seconds to charge or None: the call's own time);
    # `ensembles` False: called per model, scores averaged
    run: Callable[[Problem, list[nn.Module], Any], tuple[torch.Tensor, float | None]]
    ensembles: bool = False
    rows: tuple[tuple[str, Any], ...] = ()  # extra fixed-setting rows: (label, setting)


def _ours_index(problem: Problem, model: nn.Module, tmp: str,
                pre: PreconditionerArguments = PreconditionerArguments()) -> None:
    build_index(model, MarginTask(), TensorDataset(problem.x_tr, problem.y_tr), list(range(len(problem.y_tr))), tmp,
                preconditioner_args=pre, progress=False)


def _ours_score(problem: Problem, model: nn.Module, tmp: str) -> torch.Tensor:
    result = score(model, MarginTask(), tmp, (problem.x_q, problem.y_q),
                   ScoreArguments(top_k=0, normalize=False, return_example_scores=True))
    assert result.example_scores is not None
    return result.example_scores


# The exact Gauss-Newton matrix, one full block per layer (every bench layer is
# small enough to be stored unprojected): the option for small classifiers.
EXACT_FULL = PreconditionerArguments(kind="fisher", fisher="exact")


class OursCache:
    """One index per model and preconditioner option. EK-FAC: a damping setting
    only re-derives the stored per-layer damping from the stored eigenvalues,
    exactly as `build_index` with that `damping` would (for EK-FAC the damping
    enters nothing else), and the seconds charged are the whole build plus
    scoring. A full block stores its damped inverse, so each damping is its
    own build (and is charged as one)."""

    def __init__(self, base_args: PreconditionerArguments = PreconditionerArguments()) -> None:
        self.base_args = base_args
        self.dirs: dict[tuple[int, float | None], tempfile.TemporaryDirectory[str]] = {}
        self.build_secs: dict[tuple[int, float | None], float] = {}
        self.base: dict[tuple[int, float | None], Any] = {}

    def scores(self, problem: Problem, model: nn.Module, damping: float | None) -> tuple[torch.Tensor, float]:
        redamp = self.base_args.kind == "ekfac"
        key = (id(model), None if redamp else damping)
        if key not in self.dirs:
            self.dirs[key] = tempfile.TemporaryDirectory()
            args = self.base_args if redamp or damping is None else dataclasses.replace(self.base_args, damping=damping)
            t = time.perf_counter()
            _ours_index(problem, model, self.dirs[key].name, args)
            self.build_secs[key] = time.perf_counter() - t
            self.base[key] = load_preconditioner(self.dirs[key].name)
        tmp, base = self.dirs[key].name, self.base[key]
        if redamp:
            args = dataclasses.replace(self.base_args, damping=self.base_args.damping if damping is None else damping)
            save_preconditioner(tmp, dataclasses.replace(base, dampings=[_damping(args, lam) for lam in base.eigenvalues]))
        t = time.perf_counter()
        s = _ours_score(problem, model, tmp)
        return s, self.build_secs[key] + time.perf_counter() - t

    def close(self) -> None:
        for d in self.dirs.values():
            d.cleanup()
        self.dirs.clear()


def exact_gradient_scores(problem: Problem, model: nn.Module) -> torch.Tensor:
    task = MarginTask()
    layers = [mod for mod in model.modules() if isinstance(mod, nn.Linear)]
    g_tr = per_example_gradients(model, layers, (problem.x_tr, problem.y_tr), task.compute_train_loss)
    g_q = per_example_gradients(model, layers, (problem.x_q, problem.y_q), lambda b, mm: -task.compute_measurement(b, mm))
    return gradient_dot_product(g_tr, g_q)


# kronfluence ----------------------------------------------------------------


def _kronfluence_task(measurement: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Any:
    """A kronfluence Task: summed cross-entropy training loss (labels drawn from
    the model when kronfluence samples), `measurement(logits, y)` summed."""
    from kronfluence.task import Task as KronfluenceTask

    class KTask(KronfluenceTask):
        def compute_train_loss(self, batch: Any, model: nn.Module, sample: bool = False) -> torch.Tensor:
            x, y = batch
            logits = model(x)
            if sample:
                with torch.no_grad():
                    y = torch.multinomial(torch.softmax(logits.detach(), dim=-1), 1).flatten()
            return F.cross_entropy(logits, y, reduction="sum")

        def compute_measurement(self, batch: Any, model: nn.Module) -> torch.Tensor:
            x, y = batch
            return measurement(model(x), y).sum()

    return KTask()


class KronfluenceCache:
    """Factors fitted once per (model, strategy); each damping is one scoring pass."""

    def __init__(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.fitted: dict[tuple[int, str], tuple[Any, float]] = {}
        torch.manual_seed(0)

    def scores(self, problem: Problem, model: nn.Module, strategy: str, damping: float | None) -> tuple[torch.Tensor, float]:
        from kronfluence.analyzer import Analyzer, prepare_model
        from kronfluence.arguments import FactorArguments
        from kronfluence.arguments import ScoreArguments as KronfluenceScoreArguments

        key = (id(model), strategy)
        train_ds = TensorDataset(problem.x_tr, problem.y_tr)
        if key not in self.fitted:
            # kronfluence's convention: a positive score helps, so the measurement is -margin
            task = _kronfluence_task(lambda logits, y: -margins(logits, y))
            wrapped = prepare_model(copy.deepcopy(model), task)
            analyzer = Analyzer(f"m{len(self.fitted)}", wrapped, task, cpu=True, disable_tqdm=True,
                                output_dir=self.tmp.name, log_level=logging.WARNING)
            t = time.perf_counter()
            analyzer.fit_all_factors(factors_name=strategy, dataset=train_ds, per_device_batch_size=100,
                                     factor_args=FactorArguments(strategy=strategy), overwrite_output_dir=True)
            self.fitted[key] = (analyzer, time.perf_counter() - t)
        analyzer, fit_secs = self.fitted[key]
        t = time.perf_counter()
        analyzer.compute_pairwise_scores(scores_name="scores", factors_name=strategy,
                                         query_dataset=TensorDataset(problem.x_q, problem.y_q), train_dataset=train_ds,
                                         per_device_query_batch_size=len(problem.y_q), per_device_train_batch_size=500,
                                         score_args=KronfluenceScoreArguments(damping_factor=damping),
                                         overwrite_output_dir=True)
        s = analyzer.load_pairwise_scores("scores")["all_modules"].to(torch.float64)
        return s, fit_secs + time.perf_counter() - t

    def close(self) -> None:
        self.fitted.clear()
        self.tmp.cleanup()


# dattri ---------------------------------------------------------------------


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def dattri_if_scores(problem: Problem, model: nn.Module, kind: str, regularization: float) -> torch.Tensor:
    """dattri's influence functions on the regularised training objective (mean
    cross-entropy + l2/2 ||W||^2, one batch: the whole training set) with the
    negative margin as the target: a positive score helps the margin."""
    from dattri.algorithm.influence_function import IFAttributorCG, IFAttributorExplicit
    from dattri.task import AttributionTask

    net = copy.deepcopy(model)
    weights = weight_names(net)

    def loss_func(params: dict[str, torch.Tensor], data: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = data
        out = torch.func.functional_call(net, params, x)
        return F.cross_entropy(out, y) + problem.l2 / 2 * sum((params[n] ** 2).sum() for n in weights)

    def target_func(params: dict[str, torch.Tensor], data: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = data
        return -margins(torch.func.functional_call(net, params, x), y).sum()

    task = AttributionTask(loss_func=loss_func, model=net, checkpoints=_state(model), target_func=target_func)
    if kind == "cg":
        attributor: Any = IFAttributorCG(task=task, max_iter=10, regularization=regularization)
    else:
        attributor = IFAttributorExplicit(task=task, regularization=regularization)
    train_loader = DataLoader(TensorDataset(problem.x_tr, problem.y_tr), batch_size=len(problem.y_tr), shuffle=False)
    attributor.cache(train_loader)
    s = attributor.attribute(train_loader, DataLoader(TensorDataset(problem.x_q, problem.y_q),
                                                      batch_size=len(problem.y_q), shuffle=False))
    return s.detach().T.to(torch.float64)


def dattri_trak_scores(problem: Problem, models: list[nn.Module], regularization: float) -> torch.Tensor:
    """TRAK as dattri implements it: the margin log(p / (1 - p)) of one example
    for training and target gradients, 512 projected dimensions, the
    checkpoints ensembled inside TRAK."""
    from dattri.algorithm.trak import TRAKAttributor
    from dattri.task import AttributionTask

    net = copy.deepcopy(models[0])

    def margin_one(params: dict[str, torch.Tensor], data: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = data
        return margins(torch.func.functional_call(net, params, x.unsqueeze(0)), y.unsqueeze(0)).sum()

    def correct_probability(params: dict[str, torch.Tensor], data: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = data
        out = torch.func.functional_call(net, params, x.unsqueeze(0))
        return torch.exp(-F.cross_entropy(out, y.unsqueeze(0)))

    task = AttributionTask(loss_func=margin_one, model=net, checkpoints=[_state(m) for m in models],
                           target_func=margin_one)
    attributor = TRAKAttributor(task=task, correct_probability_func=correct_probability, device="cpu",
                                projector_kwargs={"proj_dim": 512, "proj_seed": 0}, regularization=regularization)
    attributor.cache(DataLoader(TensorDataset(problem.x_tr, problem.y_tr), batch_size=100, shuffle=False))
    s = attributor.attribute(DataLoader(TensorDataset(problem.x_q, problem.y_q), batch_size=100, shuffle=False))
    return s.detach().T.to(torch.float64)


# ---------------------------------------------------------------- driver


def load_split(n_val: int, n_test: int) -> tuple[torch.Tensor, ...]:
    """Training set, validation points, evaluation points: disjoint slices of one
    seeded permutation of the 1,797 digits."""
    from sklearn.datasets import load_digits

    data = load_digits()
    if N_TRAIN + n_val + n_test > len(data.target):
        raise SystemExit(f"{N_TRAIN} + {n_val} + {n_test} points exceed the {len(data.target)} digits")
    x = torch.tensor(data.data, dtype=torch.float64) / 16.0
    y = torch.tensor(data.target, dtype=torch.int64)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    x, y = x[perm], y[perm]
    cut = [N_TRAIN, N_TRAIN + n_val, N_TRAIN + n_val + n_test]
    return x[: cut[0]], y[: cut[0]], x[cut[0]: cut[1]], y[cut[0]: cut[1]], x[cut[1]: cut[2]], y[cut[1]: cut[2]]


# Each grid: the library's default first, then three decades of the knob (the
# shared 2-core machine bounds how many settings a run can afford).
DAMPINGS_OURS = (PreconditionerArguments().damping, 0.01, 0.03, 0.3, 1.0)
DAMPINGS_KRONFLUENCE = (1e-8, None, 1e-4, 1e-3, 1e-2)
REG_IF = (0.0, 1e-4, 1e-3, 1e-2)
REG_TRAK = (0.0, 1e-2, 1e-1, 1.0)


def _grid(values: tuple[float | None, ...]) -> str:
    return ", ".join("heuristic" if v is None else f"{v:g}" for v in values)


def _fmt(v: float | None) -> str:
    return "heuristic (0.1 x mean eigenvalue)" if v is None else f"{v:g}"


def methods(family: str, ours: OursCache, ours_exact: OursCache, kf: KronfluenceCache) -> list[Method]:
    out = [
        Method("ours", "**ours, library defaults** (`build_index` with no options)", (None,),
               lambda _: "defaults", lambda p, ms, s: ours.scores(p, ms[0], s)),
        Method("ours_tuned", "ours, damping tuned", tuple(sorted(set(DAMPINGS_OURS))),
               lambda d: f"damping {d:g}", lambda p, ms, s: ours.scores(p, ms[0], s)),
        Method("ours_exact", "ours, exact Gauss-Newton, full block per layer (`fisher='exact'`, `kind='fisher'`), "
               "damping tuned", tuple(sorted(set(DAMPINGS_OURS))),
               lambda d: f"damping {d:g}", lambda p, ms, s: ours_exact.scores(p, ms[0], s)),
    ]
    for strategy, name in (("ekfac", "EK-FAC"), ("kfac", "K-FAC")):
        out.append(Method(f"kf_{strategy}", f"kronfluence {name}", DAMPINGS_KRONFLUENCE,
                          lambda d: f"damping {_fmt(d)}",
                          lambda p, ms, s, st=strategy: kf.scores(p, ms[0], st, s),
                          rows=(("heuristic damping", None),)))
    out.append(Method("trak", "dattri TRAK (512 dims)", REG_TRAK, lambda r: f"regularization {r:g}",
                      lambda p, ms, s: (dattri_trak_scores(p, ms, s), None), ensembles=True))
    out.append(Method("cg", "dattri influence, CG (10 iterations)", REG_IF, lambda r: f"regularization {r:g}",
                      lambda p, ms, s: (dattri_if_scores(p, ms[0], "cg", s), None)))
    if family == "lr":
        out.append(Method("explicit", "dattri influence, explicit Hessian", REG_IF,
                          lambda r: f"regularization {r:g}",
                          lambda p, ms, s: (dattri_if_scores(p, ms[0], "explicit", s), None)))
    out.append(Method("grad_dot", "gradient dot product (TracIn-style, exact gradients)", (None,),
                      lambda _: "-", lambda p, ms, s: (exact_gradient_scores(p, ms[0]), None)))
    return out


@dataclass(frozen=True)
class Family:
    key: str
    title: str
    l2: float


def run_family(fam: Family, args: argparse.Namespace, data: tuple[torch.Tensor, ...]) -> list[dict[str, Any]]:
    x_tr, y_tr, x_val, y_val, x_te, y_te = data
    n_val = len(y_val)
    t0 = time.perf_counter()
    val_masks, val_truth = ground_truth(fam.key, x_tr, y_tr, x_val, y_val, args.val_m, VAL_SEED, fam.l2)
    masks, truth = ground_truth(fam.key, x_tr, y_tr, x_te, y_te, args.m, EVAL_SEED, fam.l2)
    print(f"[{fam.title}] ground truths: {args.val_m} + {args.m} retrainings in {time.perf_counter() - t0:.1f} s",
          flush=True)
    problem = Problem(fam.key, fam.l2, x_tr, y_tr, torch.cat([x_val, x_te]), torch.cat([y_val, y_te]))
    n_models = 1 if fam.key == "lr" else args.models
    counts = [1] + ([n_models] if n_models > 1 else [])
    models = [train(fam.key, x_tr, y_tr, seed=s, l2=fam.l2) for s in range(n_models)]
    ours, ours_exact, kf = OursCache(), OursCache(EXACT_FULL), KronfluenceCache()
    rows = []
    try:
        for method in methods(fam.key, ours, ours_exact, kf):
            if args.only and method.key not in args.only.split(","):
                continue
            # results[(setting index, count)] = (val lds, eval lds, eval se, seconds)
            results: dict[tuple[int, int], tuple[float, float, float, float]] = {}
            for si, setting in enumerate(method.settings):
                per_model: list[torch.Tensor] = []
                secs = 0.0
                for c in counts:
                    if method.ensembles:
                        t = time.perf_counter()
                        s, _ = method.run(problem, models[:c], setting)
                        took = time.perf_counter() - t
                    else:
                        while len(per_model) < c:
                            t = time.perf_counter()
                            s1, charged = method.run(problem, [models[len(per_model)]], setting)
                            secs += charged if charged is not None else time.perf_counter() - t
                            per_model.append(s1)
                        s = torch.stack(per_model[:c]).mean(dim=0)
                        took = secs / len(per_model) * c
                    v = lds(s[:n_val], val_masks, val_truth)[0]
                    e, se = lds(s[n_val:], masks, truth)
                    results[(si, c)] = (v, e, se, took)
                print(f"  {method.key:10s} {method.describe(setting):40s} "
                      + "  ".join(f"k={c}: val {results[(si, c)][0]:.3f} eval {results[(si, c)][1]:.3f} "
                                  f"{results[(si, c)][3]:.1f}s" for c in counts), flush=True)
            for c in counts:
                picks: list[tuple[str, int]] = []
                if len(method.settings) == 1:
                    picks.append(("", 0))
                else:
                    if method.key not in ("ours_tuned", "ours_exact"):
                        picks.append(("defaults", 0))
                    for label, setting in method.rows:
                        picks.append((label, method.settings.index(setting)))
                    best = max(range(len(method.settings)), key=lambda i: (results[(i, c)][0], -i))
                    picks.append(("tuned" if method.key not in ("ours_tuned", "ours_exact") else "", best))
                for label, si in picks:
                    v, e, se, took = results[(si, c)]
                    name = method.label + (f", {label}" if label else "")
                    rows.append({"family": fam.title, "method": name, "setting": method.describe(method.settings[si]),
                                 "models": c, "val": v, "lds": e, "se": se, "secs": took})
    finally:
        ours.close()
        ours_exact.close()
        kf.close()
    return rows


def format_table(rows: list[dict[str, Any]], threads: int) -> str:
    header = ("| model | method | setting (chosen on validation) | models | validation LDS | LDS (mean ± s.e.) | "
              f"seconds ({threads} threads) |")
    lines = [header,
             "| --- | --- | --- | ---: | ---: | ---: | ---: |"]
    last = None
    for r in sorted(rows, key=lambda r: r["models"]):
        fam = r["family"] if r["family"] != last else ""
        last = r["family"]
        lines.append(f"| {fam} | {r['method']} | {r['setting']} | {r['models']} | {r['val']:.3f} | "
                     f"{r['lds']:.3f} ± {r['se']:.3f} | {r['secs']:.2f} |")
    return "\n".join(lines)


def goal_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The comparisons the issue's goals name, read off the table's rows: our
    defaults against kronfluence EK-FAC at its heuristic damping, and our
    exact full block against dattri's strongest influence function (the
    explicit Hessian where it runs, else CG), each tuned, with the cost ratio."""
    def find(family: str, models: int, prefix: str) -> dict[str, Any] | None:
        return next((r for r in rows if r["family"] == family and r["models"] == models
                     and r["method"].startswith(prefix)), None)

    out = []
    for family in dict.fromkeys(r["family"] for r in rows):
        for models in sorted({r["models"] for r in rows if r["family"] == family}):
            parts = []
            ours, kf = find(family, models, "**ours, library defaults**"), find(family, models, "kronfluence EK-FAC, heuristic")
            if ours and kf:
                parts.append(f"defaults {ours['lds']:.3f} vs kronfluence EK-FAC (heuristic) {kf['lds']:.3f} "
                             f"({ours['lds'] - kf['lds']:+.3f})")
            exact = find(family, models, "ours, exact")
            ref = (find(family, models, "dattri influence, explicit Hessian, tuned")
                   or find(family, models, "dattri influence, CG (10 iterations), tuned"))
            if exact and ref:
                name = ref["method"].removeprefix("dattri influence, ").removesuffix(", tuned")
                parts.append(f"exact full block {exact['lds']:.3f} vs dattri {name} (tuned) {ref['lds']:.3f} "
                             f"({exact['lds'] - ref['lds']:+.3f}) at {exact['secs'] / ref['secs']:.1f}x its seconds")
            if parts:
                out.append(f"- {family}, {models} model{'s' if models > 1 else ''}: " + "; ".join(parts) + ".")
    return out


def write_docs(table: str, args: argparse.Namespace, runtime: float, parallel: int = 1,
               goals: str = "") -> None:
    whole = (f"whole run {runtime:.0f} s" if parallel == 1 else
             f"{parallel} processes side by side (one per model family), the longest {runtime:.0f} s")
    body = f"""{SECTION}

Linear datamodeling score on scikit-learn's bundled digits (no download), every
method beside the same ground truth and tuned by the same rule. `python
bench/attribution_quality.py --write-docs` (needs `pip install -e '.[bench]'`:
kronfluence 1.0.1, dattri 0.3.0, torchvision 0.28.0 so that no CUDA torch comes
with them) rewrites this section.

**Setup.** 1,000 training images; the other 797 digits give {args.val_points}
validation points and {args.test_points} evaluation points (disjoint slices of
one seeded permutation). Ground truth: random halves of the training set, the
model retrained on each with the same recipe and initialisation seed, each
point's margin recorded (correct logit minus log-sum-exp of the others):
{args.val_m} halves for validation and {args.m} other halves (their own seed)
for evaluation. LDS per point = Spearman correlation across the halves between
the summed scores of each half's examples and the retrained margin; mean ±
standard error over the evaluation points. Logistic regression: one
`Linear(64, 10)`, L-BFGS to convergence, float64, at two L2 strengths (convex,
so one model). MLP: `64-64-10`, ReLU, full-batch Adam ({MLP_STEPS} steps, lr
{MLP_LR}, L2 {MLP_L2}); ensembles average the scores of the models trained with
seeds 0..k-1 (TRAK takes the k checkpoints itself).

**Rules.** Every method runs at every setting of its grid, the library's
default first. Its **tuned** row takes the setting with the best mean
*validation* LDS (the earlier one on a tie) and reports that setting's
*evaluation* LDS; its **defaults** row reports the library's default setting
whatever validation says. Validation and evaluation share no test point and no
retrained subset, so no evaluation number chooses anything. The grids, one knob
per method, the default first and then three decades of the knob: ours,
relative damping {{{_grid(DAMPINGS_OURS)}}}; kronfluence, absolute damping
{{{_grid(DAMPINGS_KRONFLUENCE)}}} (1e-8 is its default; the heuristic, `None`:
0.1 x the mean eigenvalue, is what its docs recommend, also shown as its own
row); dattri influence functions (CG with its default 10 iterations; explicit
Hessian on logistic regression only, 650 parameters), regularisation
{{{_grid(REG_IF)}}} added to the Hessian of the regularised training loss;
dattri TRAK (512 projected dimensions, its default), regularisation
{{{_grid(REG_TRAK)}}} added to its XᵀX (a sum over the examples). Everything else stays at each library's defaults (kronfluence:
the sampled Fisher, one draw; ours: whatever `build_index` does with no
options, see docs/attribution.md). Ours has one more row, an option rather
than the default: the exact Gauss-Newton matrix (`fisher='exact'`: every class
as the target, weighted by its probability, C = 10 passes per example) as one
full block per layer (`kind='fisher'`; both bench models' layers are small
enough to be stored unprojected), its relative damping tuned on the same grid,
each damping its own build. Seconds are the attribution cost on
{args.threads} threads (index or factors, preconditioner, scoring of
{args.val_points + args.test_points} queries; for the baselines the
library call), not the retraining; for ensembles, k times the mean per model.

{machine_line()}; {whole}.

{table}

The goals' comparisons, from the rows above:

{goals}
"""
    print(f"wrote {replace_section(SECTION, body)}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--m", type=int, default=100, help="random subsets retrained for the evaluation ground truth")
    p.add_argument("--test-points", type=int, default=200, help="evaluation points")
    p.add_argument("--val-m", type=int, default=50, help="random subsets retrained for the validation ground truth")
    p.add_argument("--val-points", type=int, default=100, help="validation points (disjoint from the evaluation ones)")
    p.add_argument("--models", type=int, default=5, help="MLP ensemble size (1..5)")
    p.add_argument("--families", default="lr,mlp")
    p.add_argument("--lr-l2", default="1e-3,1e-2", help="L2 strengths of the logistic regressions (one family each)")
    p.add_argument("--only", default="", help="comma-separated method keys (for development)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--write-docs", action="store_true")
    p.add_argument("--save", metavar="JSON", help="also write the rows and settings to this file")
    p.add_argument("--merge", metavar="JSON,...",
                   help="no run: print (and with --write-docs write) the table of runs saved with --save, "
                        "e.g. one process per family")
    args = p.parse_args()
    if args.merge:
        merge(args)
        return
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    t0 = time.perf_counter()
    families = []
    for key in args.families.split(","):
        if key == "lr":
            families += [Family("lr", f"logistic regression (64→10), L2 {float(v):g}", float(v))
                         for v in args.lr_l2.split(",")]
        else:
            families.append(Family("mlp", f"MLP (64→64→10, ReLU), L2 {MLP_L2:g}", MLP_L2))
    data = load_split(args.val_points, args.test_points)
    rows = []
    for fam in families:
        rows += run_family(fam, args, data)
    runtime = time.perf_counter() - t0
    table = format_table(rows, args.threads)
    print(machine_line())
    print(f"validation: {args.val_m} subsets x {args.val_points} points; evaluation: {args.m} subsets x "
          f"{args.test_points} points; whole run {runtime:.1f} s")
    goals = "\n".join(goal_lines(rows))
    print(table)
    print(goals)
    if args.save:
        Path(args.save).write_text(json.dumps({"args": vars(args), "rows": rows, "runtime": runtime}))
    if args.write_docs:
        write_docs(table, args, runtime, goals=goals)


def merge(args: argparse.Namespace) -> None:
    """The table of several saved runs (same sizes), their seconds as run."""
    runs = [json.loads(Path(f).read_text()) for f in args.merge.split(",")]
    sizes = {k: runs[0]["args"][k] for k in ("m", "test_points", "val_m", "val_points", "threads")}
    if any({k: r["args"][k] for k in sizes} != sizes for r in runs):
        raise SystemExit("the saved runs used different sizes")
    vars(args).update(sizes)
    torch.set_num_threads(args.threads)  # the machine line names the runs' thread count
    rows = [row for r in runs for row in r["rows"]]
    table = format_table(rows, args.threads)
    goals = "\n".join(goal_lines(rows))
    print(table)
    print(goals)
    if args.write_docs:
        write_docs(table, args, max(r["runtime"] for r in runs), parallel=len(runs), goals=goals)


if __name__ == "__main__":
    main()
