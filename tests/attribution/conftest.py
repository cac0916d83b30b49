"""Fixtures for the gradient-influence tests: a small MLP trained on part of
scikit-learn's bundled digits (no downloads), a classification `Task`, and
helpers to build indexes in temporary directories."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from attribution import Task

N_TRAIN = 400
N_QUERY = 60


class ClassificationTask(Task):
    """Cross-entropy training loss; the measurement is the log-probability of the
    label, both summed over the batch."""

    def compute_train_loss(self, batch: Any, model: nn.Module) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(model(x), y, reduction="sum")

    def compute_measurement(self, batch: Any, model: nn.Module) -> torch.Tensor:
        x, y = batch
        return -F.cross_entropy(model(x), y, reduction="sum")


def make_mlp(seed: int = 0, dtype: torch.dtype = torch.float32) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 10)).to(dtype)


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 150) -> nn.Module:
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    return model


@dataclass(frozen=True)
class Digits:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_query: torch.Tensor
    y_query: torch.Tensor

    def train_set(self) -> TensorDataset:
        return TensorDataset(self.x_train, self.y_train)


@pytest.fixture(scope="session")
def digits() -> Digits:
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float32) / 16.0
    y = torch.tensor(data.target, dtype=torch.int64)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    x, y = x[perm], y[perm]
    return Digits(x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN : N_TRAIN + N_QUERY], y[N_TRAIN : N_TRAIN + N_QUERY])


@pytest.fixture(scope="session")
def digits_model(digits: Digits) -> nn.Module:
    return train(make_mlp(0), digits.x_train, digits.y_train)


@pytest.fixture(scope="session")
def digits_model64(digits: Digits) -> nn.Module:
    return train(make_mlp(0, torch.float64), digits.x_train.double(), digits.y_train)


@pytest.fixture()
def task() -> ClassificationTask:
    return ClassificationTask()


@pytest.fixture()
def torch_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)
