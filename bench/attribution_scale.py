"""Attribution at scale: LDS and cost on a 5M-parameter convolutional network,
the engine's LoGra projection at several sizes beside kronfluence (EK-FAC) and
dattri's TRAK.

Model: a CNN (two 3x3 convolutions, 16 and 32 channels, each followed by ReLU
and 2x2 max-pooling, then Linear 2048-2048-512-10), 5.26M parameters, float32,
on scikit-learn's bundled digits (no download) upsampled to 32x32 by bilinear
interpolation, each image given one seeded random affine augmentation
(rotation, scale, shift), then standardised, so every set below is fixed by
its seed.

Ground truth (fine-tuning style): retraining a 5M-parameter network from
scratch m times does not fit on a 2-core CPU, so the attributed phase is a
fine-tuning. The network is first trained once on a disjoint pretraining set
(other base images of the digits); the attributed model is that checkpoint
fine-tuned on the whole training set, and each of the m random halves of the
training set is fine-tuned from the SAME checkpoint with the same recipe (SGD
with momentum, same batch-order seed), so the only thing that changes is the
data. LDS is computed as in bench/attribution_quality.py: per test point, the
Spearman correlation across the halves between the summed scores of each half's
examples and the retrained margin (correct logit minus log-sum-exp of the
others); mean and standard error over the test points.

Methods, all scoring the fine-tuned model against the training set:
- ours: `build_index` (LoGra r_in = r_out = r on every layer, EK-FAC with the
  true (sampled) Fisher, damping 0.1 x the mean eigenvalue), then `score`;
- kronfluence EK-FAC on the full gradients (no projection: kronfluence has no
  random projection; it is the unprojected counterpart of ours), true Fisher,
  scored twice from the same factors: with its damping heuristic (0.1 x each
  module's mean eigenvalue) and with one damping for every module (0.1 x the
  largest module's mean eigenvalue);
- dattri TRAK (one model, dense Gaussian projection on the CPU, dattri's
  `BasicProjector`) at the projection size of ours at --trak-rank, its kernel
  damped by the same 0.1 x mean eigenvalue.
Cost per method: the build (ours: the index and preconditioner; kronfluence:
its factors; TRAK: `cache`, the projected training gradients and their kernel)
and the scoring of every test point against every training example, in
seconds, and the peak resident memory above the process's memory before the
step.

Usage: python bench/attribution_scale.py [--quick] [--m 24] [--write-docs]
"""

from __future__ import annotations

import argparse
import copy
import datetime
import importlib.util
import logging
import math
import os
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from scipy.stats import spearmanr
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from attribution import (
    GradientCollector,
    PreconditionerArguments,
    ProjectionArguments,
    ScoreArguments,
    build_index,
    score,
)
from bench.attribution_quality import MarginTask, _kronfluence_task, lds, margins
from bench.docs import machine_line, replace_section

SECTION = "## Attribution at scale (`bench/attribution_scale.py`)"
SIDE = 32  # images are upsampled from 8x8 to SIDE x SIDE
PIXEL_MEAN, PIXEL_STD = 0.29, 0.32  # of the upsampled digits, scaled to [0, 1]


@dataclass(frozen=True)
class Config:
    n_pretrain: int = 500  # base images for the pretraining set (two augmentations each)
    n_train: int = 600  # attributed training examples
    n_test: int = 80  # test points
    m: int = 24  # random halves fine-tuned for the ground truth
    channels: tuple[int, int] = (16, 32)
    hidden: tuple[int, int] = (2048, 512)
    pretrain_epochs: int = 4
    finetune_epochs: int = 2
    batch_size: int = 50
    pretrain_lr: float = 1e-3  # Adam
    lr: float = 0.003  # SGD, momentum 0.9
    ranks: tuple[int, ...] = (8, 16, 32)  # LoGra r_in = r_out per layer, one row each
    trak_rank: int = 8  # TRAK runs at the projection size of ours at this rank
    damping: float = 0.1  # relative, as kronfluence's heuristic
    baseline_batch_size: int = 100  # kronfluence's and dattri's batches (memory: per-example gradients)
    threads: int = 2
    baselines: tuple[str, ...] = ("kronfluence", "trak")


BASELINE_MODULES = {"kronfluence": "kronfluence", "trak": "dattri"}
QUICK = Config(n_pretrain=300, n_train=200, n_test=30, m=12, ranks=(8, 16))


# ---------------------------------------------------------------- data and model


def make_model(cfg: Config, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    c1, c2 = cfg.channels
    h1, h2 = cfg.hidden
    return nn.Sequential(
        nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(c2 * (SIDE // 4) ** 2, h1), nn.ReLU(),
        nn.Linear(h1, h2), nn.ReLU(),
        nn.Linear(h2, 10),
    )


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def augment(images: torch.Tensor, seed: int) -> torch.Tensor:
    """One seeded random affine transform per image (rotation up to 12 degrees,
    scale 0.9-1.1, shift up to 2 pixels), by bilinear resampling."""
    gen = torch.Generator().manual_seed(seed)
    n = images.shape[0]
    angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(12)
    scale = 0.9 + 0.2 * torch.rand(n, generator=gen)
    shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * (2 / (SIDE / 2))
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, padding_mode="zeros", align_corners=False)


@dataclass(frozen=True)
class Splits:
    x_pre: torch.Tensor
    y_pre: torch.Tensor
    x_tr: torch.Tensor
    y_tr: torch.Tensor
    x_te: torch.Tensor
    y_te: torch.Tensor


def load_splits(cfg: Config) -> Splits:
    """Disjoint base images for pretraining, training and test, from one seeded
    permutation of the digits; pretraining gets two augmentations of each."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0
    y = torch.tensor(data.target, dtype=torch.int64)
    need = cfg.n_pretrain + cfg.n_train + cfg.n_test
    if need > len(y):
        raise SystemExit(f"the digits have {len(y)} images; pretraining + training + test asks for {need}")
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    x = F.interpolate(x[perm], size=(SIDE, SIDE), mode="bilinear", align_corners=False)
    y = y[perm]
    a, b = cfg.n_pretrain, cfg.n_pretrain + cfg.n_train

    def inputs(images: torch.Tensor, seed: int) -> torch.Tensor:
        return (augment(images, seed) - PIXEL_MEAN) / PIXEL_STD

    x_pre = torch.cat([inputs(x[:a], seed=1), inputs(x[:a], seed=2)])
    return Splits(x_pre, torch.cat([y[:a], y[:a]]), inputs(x[a:b], seed=3), y[a:b],
                  inputs(x[b:b + cfg.n_test], seed=4), y[b:b + cfg.n_test])


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, cfg: Config, *, adam: bool) -> nn.Module:
    """Minibatches of the mean cross-entropy, Adam (pretraining) or SGD with
    momentum (fine-tuning); the batch order comes from a fixed seed, so equal
    data gives an equal model."""
    opt: torch.optim.Optimizer
    if adam:
        opt = torch.optim.Adam(model.parameters(), lr=cfg.pretrain_lr)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9)
    gen = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(y), generator=gen)
        for start in range(0, len(y), cfg.batch_size):
            batch = perm[start:start + cfg.batch_size]
            opt.zero_grad()
            F.cross_entropy(model(x[batch]), y[batch]).backward()
            opt.step()
    model.eval()
    return model


def pretrain(cfg: Config, data: Splits) -> dict[str, torch.Tensor]:
    model = train(make_model(cfg), data.x_pre, data.y_pre, cfg.pretrain_epochs, cfg, adam=True)
    return copy.deepcopy(model.state_dict())


def fine_tune(cfg: Config, checkpoint: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> nn.Module:
    model = make_model(cfg)
    model.load_state_dict(checkpoint)
    return train(model, x, y, cfg.finetune_epochs, cfg, adam=False)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def ground_truth(cfg: Config, checkpoint: dict[str, torch.Tensor], data: Splits) -> tuple[torch.Tensor, torch.Tensor]:
    """(masks m x n_train bool, margins m x n_test) from fine-tuning on random halves."""
    n = len(data.y_tr)
    gen = torch.Generator().manual_seed(1234)
    masks = torch.zeros(cfg.m, n, dtype=torch.bool)
    out = torch.zeros(cfg.m, len(data.y_te), dtype=torch.float64)
    for j in range(cfg.m):
        idx = torch.randperm(n, generator=gen)[: n // 2]
        masks[j, idx] = True
        model = fine_tune(cfg, checkpoint, data.x_tr[idx], data.y_tr[idx])
        with torch.no_grad():
            out[j] = margins(model(data.x_te), data.y_te).double()
    return masks, out


# ---------------------------------------------------------------- cost


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Peak resident memory of this process above its level at the start,
    sampled every 20 ms by a thread (torch releases the GIL in its kernels)."""

    def __init__(self) -> None:
        self.base = _rss_bytes()
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss_bytes())

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())
        return self.peak - self.base


@dataclass
class Step:
    seconds: float = 0.0
    peak_bytes: int = 0


@contextmanager
def measured(step: Step) -> Iterator[None]:
    memory = PeakMemory()
    started = time.perf_counter()
    try:
        yield
    finally:
        step.seconds = time.perf_counter() - started
        step.peak_bytes = memory.stop()


@dataclass
class Result:
    key: str
    label: str
    dim: int  # projection size (or the full gradient's size)
    scores: torch.Tensor  # (n_test, n_train) float64, positive = raises the test margin
    build: Step = field(default_factory=Step)
    scoring: Step = field(default_factory=Step)
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average before and after
    short: str = ""  # name in the ratio lines (default: the label up to its colon)

    def __post_init__(self) -> None:
        self.short = self.short or self.label.split(":")[0]


def _with_load(fn: Callable[[], list[Result]]) -> list[Result]:
    before = os.getloadavg()[0]
    results = fn()
    for result in results:
        result.load = (before, os.getloadavg()[0])
    return results


# ---------------------------------------------------------------- methods


def run_ours(cfg: Config, model: nn.Module, data: Splits, rank: int) -> Result:
    task = MarginTask()
    build, scoring = Step(), Step()
    with tempfile.TemporaryDirectory() as tmp:
        with measured(build):
            index = build_index(model, task, TensorDataset(data.x_tr, data.y_tr), list(range(len(data.y_tr))), tmp,
                                projection_args=projection_args(rank),
                                preconditioner_args=PreconditionerArguments(kind="ekfac", fisher="sampled", damping=cfg.damping),
                                progress=False)
        with measured(scoring):
            result = score(model, task, tmp, (data.x_te, data.y_te),
                           ScoreArguments(top_k=0, normalize=False, return_example_scores=True))
    assert result.example_scores is not None
    label = f"ours: LoGra r = {rank}, EK-FAC (true Fisher), damping {cfg.damping:g} x mean eigenvalue"
    return Result(f"ours_{rank}", label, index.manifest.dim, result.example_scores, build, scoring)


def projection_args(rank: int) -> ProjectionArguments:
    # Every layer projected (full_layer_size=0): the library's default keeps layers of
    # up to 8,192 gradient entries whole, which here would add ~9,900 exact columns
    # to every size and leave no size a dense projection could match.
    # (An engine without the setting projects every layer already.)
    whole = {"full_layer_size": 0} if "full_layer_size" in ProjectionArguments.__dataclass_fields__ else {}
    return ProjectionArguments(rank_in=rank, rank_out=rank, **whole)


def logra_dim(cfg: Config, rank: int) -> int:
    """Row width of ours at `rank`, as the engine lays it out."""
    model = make_model(cfg)
    with GradientCollector(model, MarginTask().tracked_modules(model), projection_args(rank)) as collector:
        return collector.dim


def run_kronfluence(cfg: Config, model: nn.Module, data: Splits) -> list[Result]:
    from kronfluence.analyzer import Analyzer, prepare_model
    from kronfluence.arguments import FactorArguments
    from kronfluence.arguments import ScoreArguments as KfScoreArguments

    task = _kronfluence_task(margins)
    prepared = prepare_model(copy.deepcopy(model), task)
    train_set, test_set = TensorDataset(data.x_tr, data.y_tr), TensorDataset(data.x_te, data.y_te)
    build = Step()
    torch.manual_seed(0)  # the sampled labels of the true Fisher
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        analyzer = Analyzer("scale", prepared, task, cpu=True, disable_tqdm=True, output_dir=tmp)
        with measured(build):
            analyzer.fit_all_factors("ekfac", train_set, per_device_batch_size=cfg.baseline_batch_size,
                                     factor_args=FactorArguments(strategy="ekfac"))
        # kronfluence's heuristic damps each module by 0.1 x ITS mean corrected
        # eigenvalue; the second row damps every module by one value, 0.1 x the
        # largest module's mean, which tells the heuristic's part from the method's.
        module_means = [float(v.mean()) for v in analyzer.load_all_factors("ekfac")["lambda_matrix"].values()]
        dampings = {
            "kronfluence": (None, "damping 0.1 x each module's mean eigenvalue (its heuristic)", "heuristic"),
            "kronfluence_global": (0.1 * max(module_means),
                                   "one damping for all modules, 0.1 x the largest module mean", "one damping"),
        }
        for key, (damping, text, short) in dampings.items():
            scoring = Step()
            with measured(scoring):
                analyzer.compute_pairwise_scores(key, "ekfac", test_set, train_set,
                                                 per_device_query_batch_size=min(cfg.n_test, 50),
                                                 per_device_train_batch_size=cfg.baseline_batch_size,
                                                 score_args=KfScoreArguments(damping_factor=damping))
            raw = analyzer.load_pairwise_scores(key)["all_modules"]
            # kronfluence scores the loss-like change g_m^T H^-1 g_i: up-weighting example i
            # moves the measurement by minus that, so the sign flips to ours.
            results.append(Result(key, f"kronfluence 1.0: EK-FAC on full gradients (true Fisher), {text}",
                                  parameter_count(model), -raw.to(torch.float64), build, scoring,
                                  short=f"kronfluence 1.0 ({short})"))
    return results


def run_trak(cfg: Config, model: nn.Module, data: Splits, proj_dim: int) -> Result:
    os.environ["TQDM_DISABLE"] = "1"  # dattri's progress bars
    from dattri.algorithm.trak import TRAKAttributor
    from dattri.task import AttributionTask

    def margin_of(params: dict[str, torch.Tensor], example: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = example
        logits = torch.func.functional_call(model, params, (x.unsqueeze(0),))
        return margins(logits, y.unsqueeze(0)).squeeze(0)

    def correct_probability(params: dict[str, torch.Tensor], example: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = example
        logits = torch.func.functional_call(model, params, (x.unsqueeze(0),))
        return torch.softmax(logits, dim=-1)[0, y]

    # TRAK's model output function is the margin log(p / (1 - p)), which for a
    # softmax is exactly the measurement: correct logit minus log-sum-exp of the rest.
    task = AttributionTask(loss_func=margin_of, model=model, checkpoints=model.state_dict(), target_func=margin_of)
    loader = partial_loader(cfg.baseline_batch_size)
    build, scoring = Step(), Step()
    with measured(build):
        regularization = trak_damping(cfg, model, data, proj_dim)
        attributor = TRAKAttributor(task=task, correct_probability_func=correct_probability, device="cpu",
                                    projector_kwargs={"proj_dim": proj_dim, "proj_max_batch_size": 32, "proj_seed": 0,
                                                      "device": "cpu"},
                                    regularization=regularization)
        attributor.cache(loader(data.x_tr, data.y_tr))
    with measured(scoring):
        raw = attributor.attribute(loader(data.x_te, data.y_te))  # (n_train, n_test)
    return Result(f"trak_{proj_dim}", f"dattri 0.3 TRAK: dense Gaussian projection (CPU), one model, damping {cfg.damping:g} x mean eigenvalue", proj_dim,
                  raw.T.to(torch.float64), build, scoring)


def trak_damping(cfg: Config, model: nn.Module, data: Splits, proj_dim: int) -> float:
    """cfg.damping x the mean eigenvalue of TRAK's kernel (sum of the projected
    rows' outer products), estimated from the first batch: dattri divides each
    gradient by sqrt(parameters) and its projection preserves norms, so the
    kernel's trace is about n_train x mean ||g||^2 / parameters. Without it the
    kernel is singular once the projection is wider than the training set."""
    x, y = data.x_tr[: cfg.baseline_batch_size], data.y_tr[: cfg.baseline_batch_size]
    params = [p for p in model.parameters()]
    squares = []
    for i in range(len(y)):
        grads = torch.autograd.grad(margins(model(x[i:i + 1]), y[i:i + 1]).sum(), params)
        squares.append(sum(float((g.double() ** 2).sum()) for g in grads))
    trace = len(data.y_tr) * sum(squares) / len(squares) / parameter_count(model)
    return cfg.damping * trace / proj_dim


def partial_loader(batch_size: int) -> Callable[[torch.Tensor, torch.Tensor], DataLoader[Any]]:
    return lambda x, y: DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=False)


# ---------------------------------------------------------------- driver


@dataclass(frozen=True)
class Row:
    result: Result
    lds: float
    se: float
    agreement: float  # mean over test points of the Spearman correlation with the first row's scores


def agreement(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over test points of the Spearman correlation between two methods'
    scores of the training examples."""
    rhos = [spearmanr(a[q].numpy(), b[q].numpy()).statistic for q in range(a.shape[0])]
    return float(sum(0.0 if math.isnan(r) else r for r in rhos) / len(rhos))


def run(cfg: Config, log: Callable[[str], None] = print) -> tuple[list[Row], dict[str, Any]]:
    """Train, build the ground truth, run every method; the rows in table order
    and the run's facts (accuracies, times, loads)."""
    torch.set_num_threads(cfg.threads)
    facts: dict[str, Any] = {"load_start": os.getloadavg()}
    data = load_splits(cfg)
    t = time.perf_counter()
    checkpoint = pretrain(cfg, data)
    model = fine_tune(cfg, checkpoint, data.x_tr, data.y_tr)
    pre_model = make_model(cfg)
    pre_model.load_state_dict(checkpoint)
    facts |= {"params": parameter_count(model), "pretrain_s": time.perf_counter() - t,
              "acc_pre": accuracy(pre_model.eval(), data.x_te, data.y_te), "acc": accuracy(model, data.x_te, data.y_te)}
    log(f"{facts['params']:,} parameters; test accuracy {facts['acc_pre']:.3f} pretrained, {facts['acc']:.3f} "
        f"fine-tuned ({facts['pretrain_s']:.0f} s)")
    t = time.perf_counter()
    masks, truth = ground_truth(cfg, checkpoint, data)
    facts["truth_s"] = time.perf_counter() - t
    log(f"ground truth: {cfg.m} fine-tunings on halves in {facts['truth_s']:.0f} s")

    runners: list[Callable[[], list[Result]]] = [lambda r=r: [run_ours(cfg, model, data, r)] for r in cfg.ranks]
    if "kronfluence" in cfg.baselines:
        runners.append(lambda: run_kronfluence(cfg, model, data))
    if "trak" in cfg.baselines:
        runners.append(lambda: [run_trak(cfg, model, data, logra_dim(cfg, cfg.trak_rank))])
    rows: list[Row] = []
    for result in (r for runner in runners for r in _with_load(runner)):
        mean, se = lds(result.scores, masks, truth)
        rows.append(Row(result, mean, se, agreement(result.scores, rows[0].result.scores if rows else result.scores)))
        log(f"{result.label}: LDS {mean:.3f} ± {se:.3f}; build {result.build.seconds:.1f} s, "
            f"scoring {result.scoring.seconds:.1f} s")
    facts["load_end"] = os.getloadavg()
    return rows, facts


def mib(n: int) -> str:
    return f"{n / 2**20:,.0f}"


def format_table(rows: list[Row], cfg: Config) -> str:
    lines = [("| method | projection size | LDS (mean ± s.e.) | Spearman with the first row | build s | examples/s | "
              "scoring s | queries/s | peak MiB (build / scoring) | load (1 min) |"),
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        r = row.result
        lines.append(f"| {r.label} | {r.dim:,} | {row.lds:.3f} ± {row.se:.3f} | {row.agreement:.2f} | {r.build.seconds:,.1f} | "
                     f"{cfg.n_train / r.build.seconds:,.1f} | {r.scoring.seconds:,.1f} | "
                     f"{cfg.n_test / r.scoring.seconds:,.1f} | {mib(r.build.peak_bytes)} / {mib(r.scoring.peak_bytes)} | "
                     f"{r.load[0]:.1f}-{r.load[1]:.1f} |")
    return "\n".join(lines)


def ratio_lines(rows: list[Row], cfg: Config) -> list[str]:
    """Ours at each rank against each baseline: LDS ratio and throughput ratios."""
    by_key = {row.result.key: row for row in rows}
    out = []
    for base_key in [k for k in by_key if not k.startswith("ours_")]:
        base = by_key[base_key]
        for rank in cfg.ranks:
            ours = by_key[f"ours_{rank}"]
            lds_ratio = ours.lds / base.lds if base.lds > 0 else float("nan")
            out.append(
                f"ours r = {rank} / {base.result.short}: LDS {lds_ratio:.2f}x "
                f"({ours.lds:.3f} vs {base.lds:.3f}), build throughput "
                f"{base.result.build.seconds / ours.result.build.seconds:,.1f}x, scoring throughput "
                f"{base.result.scoring.seconds / ours.result.scoring.seconds:,.1f}x")
    return out


def facts_line(cfg: Config, facts: dict[str, Any]) -> str:
    start, end = facts["load_start"], facts["load_end"]
    return (f"{facts['params']:,} parameters; test accuracy {facts['acc_pre']:.3f} after pretraining, "
            f"{facts['acc']:.3f} after fine-tuning; pretraining + fine-tuning {facts['pretrain_s']:.0f} s, "
            f"ground truth ({cfg.m} fine-tunings) {facts['truth_s']:.0f} s; load average (1, 5, 15 min) "
            f"{start[0]:.1f}, {start[1]:.1f}, {start[2]:.1f} at the start and {end[0]:.1f}, {end[1]:.1f}, "
            f"{end[2]:.1f} at the end")


def write_docs(cfg: Config, mode: str, table: str, ratios: list[str], facts: dict[str, Any], runtime: float) -> None:
    c1, c2 = cfg.channels
    h1, h2 = cfg.hidden
    ratio_text = "\n".join(f"- {line}" for line in ratios)
    body = f"""{SECTION}

What the attribution engine gives on a model where the projection matters: a
CNN of {facts['params']:,} parameters (3x3 convolutions with {c1} and {c2} channels,
each followed by ReLU and 2x2 max-pooling, then Linear {c2 * (SIDE // 4) ** 2}-{h1}-{h2}-10; float32)
trained in the run on scikit-learn's bundled digits upsampled to {SIDE}x{SIDE}, each image
with one seeded random affine augmentation. The full gradient has
{facts['params']:,} coordinates; ours keeps r x r per layer.

Ground truth, fine-tuning style (retraining a 5M-parameter network from
scratch m times does not fit the 2-core machine): the network is trained once
on a disjoint pretraining set ({2 * cfg.n_pretrain} images: two augmentations of
{cfg.n_pretrain} other digits, {cfg.pretrain_epochs} epochs); the attributed model is that
checkpoint fine-tuned on the {cfg.n_train} training images ({cfg.finetune_epochs} epochs of SGD, momentum 0.9,
lr {cfg.lr:g}, batches of {cfg.batch_size}, fixed batch-order seed), and each of m = {cfg.m} random
halves is fine-tuned from the same checkpoint with the same recipe. So the
figures measure how well each method predicts the effect of the fine-tuning
data, not of the whole training history, and m = {cfg.m} (against 100 in the quality
section) leaves each test point's correlation noisier: read the standard
errors. LDS as in the quality section, over {cfg.n_test} test points (other digits,
augmented), the same for every method.

Methods: ours is `build_index` (LoGra r_in = r_out = r on every layer; EK-FAC,
true (sampled) Fisher, damping {cfg.damping:g} x the mean eigenvalue, as kronfluence's
heuristic; `full_layer_size=0`, so every layer is projected: the library's
default keeps layers of up to 8,192 gradient entries whole, which here adds
about 9,900 exact columns at every rank) then `score`; kronfluence EK-FAC runs on the
full gradients (kronfluence has no random projection; it is the unprojected
counterpart of ours) with the true (sampled) Fisher, scored twice from the same
factors: with its damping heuristic (0.1 x each module's mean eigenvalue) and
with one damping for all modules (0.1 x the largest module's mean eigenvalue;
its build is the same fit, shown on both rows);
dattri's TRAK (one model, no ensemble) projects the full per-example gradients
with dattri's CPU projector (a dense Gaussian matrix, regenerated block by
block for each batch) to the projection size of ours at r = {cfg.trak_rank} (larger
sizes cost it proportionally more), with its kernel damped by the same
{cfg.damping:g} x mean eigenvalue (estimated from one batch's gradient norms; undamped,
the kernel is singular once the projection is wider than the training set). Build = ours: index rows and preconditioner;
kronfluence: its factors; TRAK: `cache`. Scoring = all {cfg.n_test} test points against
all {cfg.n_train} training examples (kronfluence recomputes the training gradients
here, as it keeps no index). Peak memory is the resident memory above the
process's level before the step (sampled every 20 ms). Every method ran on
{cfg.threads} threads of a machine shared with other work, so its load average is beside
each row: timings on this machine move by 2x to 20x with the load (ours'
many single-example passes the most); compare them only within one run. "Spearman with the first row": how each
method ranks the training examples for a test point against ours at the
first rank, averaged over the test points.

Mode: `{mode}`. {machine_line()}; {datetime.date.today().isoformat()}; whole run {runtime:.0f} s.
{facts_line(cfg, facts)}.

{table}

{ratio_text}
"""
    print(f"wrote {replace_section(SECTION, body)}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true",
                   help=f"{QUICK.n_train} training examples, {QUICK.n_test} test points, m = {QUICK.m}, ranks "
                        f"{','.join(map(str, QUICK.ranks))}: under ~10 minutes on 2 cores")
    p.add_argument("--m", type=int, help="random halves fine-tuned for the ground truth")
    p.add_argument("--ranks", help="LoGra ranks of ours, comma separated")
    p.add_argument("--trak-rank", type=int, help="TRAK runs at the projection size of ours at this rank")
    p.add_argument("--damping", type=float,
                   help=f"relative damping of ours and of TRAK's kernel (default {Config().damping:g})")
    p.add_argument("--baselines", help=f"comma separated subset of {','.join(BASELINE_MODULES)} ('' for none)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--write-docs", action="store_true")
    args = p.parse_args()
    cfg = replace(QUICK if args.quick else Config(), threads=args.threads)
    if args.m is not None:
        cfg = replace(cfg, m=args.m)
    if args.ranks is not None:
        try:
            ranks = tuple(int(r) for r in args.ranks.split(","))
        except ValueError:
            p.error(f"--ranks must be comma separated integers, got {args.ranks!r}")
        if min(ranks) < 1:
            p.error(f"--ranks must be at least 1, got {args.ranks!r}")
        cfg = replace(cfg, ranks=ranks)
    if args.trak_rank is not None:
        if args.trak_rank < 1:
            p.error(f"--trak-rank must be at least 1, got {args.trak_rank}")
        cfg = replace(cfg, trak_rank=args.trak_rank)
    if args.damping is not None:
        if not args.damping > 0:
            p.error(f"--damping must be positive, got {args.damping:g}")
        cfg = replace(cfg, damping=args.damping)
    if args.baselines is not None:
        cfg = replace(cfg, baselines=tuple(b for b in args.baselines.split(",") if b))
    if cfg.m < 3:
        p.error("--m must be at least 3 (a Spearman correlation across the halves)")
    for name in cfg.baselines:
        module = BASELINE_MODULES.get(name)
        if module is None:
            p.error(f"unknown baseline {name!r}: expected one of {', '.join(BASELINE_MODULES)}")
        if importlib.util.find_spec(module) is None:
            p.error(f"baseline {name} needs {module}: pip install 'openledger-node[bench]'")
    t0 = time.perf_counter()
    print(machine_line(), flush=True)
    rows, facts = run(cfg, log=lambda s: print(s, flush=True))
    runtime = time.perf_counter() - t0
    table = format_table(rows, cfg)
    ratios = ratio_lines(rows, cfg)
    print(facts_line(cfg, facts))
    print(table)
    print("\n".join(ratios))
    print(f"whole run {runtime:.1f} s")
    if args.write_docs:
        mode = " ".join(a for a in sys.argv[1:] if a != "--write-docs") or "default"
        write_docs(cfg, mode, table, ratios, facts, runtime)


if __name__ == "__main__":
    main()
