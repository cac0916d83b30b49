"""A ready setup for the command line: logistic regression on scikit-learn's digits.

`digits_setup()` is a `--setup` factory (`attribution.examples.digits:digits_setup`):
a single `nn.Linear(64, 10)` (float64) trained deterministically, full batch, on
1,500 of the 1,797 bundled digits (no download), with 20 contributors: training
example i belongs to contribution `(i % 20) + 1`. The other 297 digits are the
test split that `write_digits_queries` draws queries from.

Query file format (owned by this setup, read by `load_queries`): a `torch.save`
of either a float tensor of shape (n, 64) with pixel values in 0..1, or a dict
`{"inputs": (n, 64) float tensor, "targets": (n,) int64 tensor}`. Without
targets, a query attributes the model's own prediction (its argmax), which is
what an inference actually returned.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from attribution.task import Task

N_TRAIN = 1500
N_CONTRIBUTORS = 20
SPLIT_SEED = 0  # the train/test split never depends on the model seed
TRAIN_STEPS = 200


class DigitsTask(Task):
    """Cross-entropy training loss; the measurement is the log-probability of
    the query's target, both summed over the batch."""

    def compute_train_loss(self, batch: Any, model: nn.Module) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(model(x), y, reduction="sum")

    def compute_measurement(self, batch: Any, model: nn.Module) -> torch.Tensor:
        x, y = batch
        return -F.cross_entropy(model(x), y, reduction="sum")

    def compute_train_logits(self, batch: Any, model: nn.Module) -> torch.Tensor:
        x, _ = batch
        logits: torch.Tensor = model(x)
        return logits


def load_digits_split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_train, y_train, x_test, y_test): pixels scaled to 0..1, float64."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float64) / 16.0
    y = torch.tensor(data.target, dtype=torch.int64)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(SPLIT_SEED))
    x, y = x[perm], y[perm]
    return x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]


def train_logistic_regression(x: torch.Tensor, y: torch.Tensor, seed: int = 0, steps: int = TRAIN_STEPS) -> nn.Linear:
    """Full-batch Adam from a seeded initialisation; eval mode, float64.

    Trained on one thread: the weights (and so the index's model fingerprint)
    are then bit-identical on machines with different core counts, and a
    problem this small only loses time to thread synchronisation.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        model = nn.Linear(x.shape[1], 10).to(torch.float64)
        opt = torch.optim.Adam(model.parameters(), lr=0.05)
        for _ in range(steps):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
    finally:
        torch.set_num_threads(threads)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(True)
    return model


def _read_query_file(path: str | os.PathLike[str]) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:  # pickle, zip and torch errors all mean "not a query file"
        raise ValueError(f"{os.fspath(path)} is not a torch.save file ({type(exc).__name__})") from exc


@dataclass
class DigitsSetup:
    model: nn.Module
    task: Task
    train_dataset: TensorDataset
    contribution_ids: list[int]
    x_test: torch.Tensor
    y_test: torch.Tensor

    def load_queries(self, path: str | os.PathLike[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """The (inputs, targets) batch stored at `path` (format: module docstring)."""
        data = _read_query_file(path)
        if isinstance(data, torch.Tensor):
            inputs, targets = data, None
        elif isinstance(data, dict) and "inputs" in data:
            inputs, targets = data["inputs"], data.get("targets")
        else:
            raise ValueError(f"{os.fspath(path)} holds {type(data).__name__}, expected a tensor or a dict with 'inputs'")
        if not isinstance(inputs, torch.Tensor) or inputs.dim() != 2 or inputs.shape[1] != 64 or not inputs.is_floating_point():
            raise ValueError(f"query inputs must be a float tensor of shape (n, 64), got {getattr(inputs, 'shape', type(inputs).__name__)}")
        if inputs.shape[0] == 0:
            raise ValueError("the query file holds no queries")
        inputs = inputs.to(torch.float64)
        if targets is None:
            with torch.no_grad():
                targets = self.model(inputs).argmax(dim=1)
        elif not isinstance(targets, torch.Tensor) or targets.shape != (inputs.shape[0],) or targets.is_floating_point():
            raise ValueError(f"query targets must be an integer tensor of shape ({inputs.shape[0]},)")
        elif targets.numel() and (int(targets.min()) < 0 or int(targets.max()) > 9):
            raise ValueError("query targets must be digit classes 0..9")
        return inputs, targets.to(torch.int64)


def digits_setup(seed: int = 0) -> DigitsSetup:
    """The `--setup` factory: model trained with `seed`, 20 contributors."""
    x_train, y_train, x_test, y_test = load_digits_split()
    model = train_logistic_regression(x_train, y_train, seed)
    ids = [(i % N_CONTRIBUTORS) + 1 for i in range(len(y_train))]
    return DigitsSetup(model, DigitsTask(), TensorDataset(x_train, y_train), ids, x_test, y_test)


def write_digits_queries(path: str | os.PathLike[str], n: int, *, with_targets: bool = False) -> None:
    """Save the first `n` test digits as a query file (inputs only, unless
    `with_targets`: then the true labels too)."""
    _, _, x_test, y_test = load_digits_split()
    if not 0 < n <= len(y_test):
        raise ValueError(f"n must be in 1..{len(y_test)}, got {n}")
    data: dict[str, torch.Tensor] = {"inputs": x_test[:n].clone()}
    if with_targets:
        data["targets"] = y_test[:n].clone()
    torch.save(data, path)
