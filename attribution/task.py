"""The `Task` protocol: what the user tells the attribution engine about a model.

Kronfluence style: the engine never guesses how a batch is fed to the model; the
task says how to compute the training loss, the query measurement, and which
modules' gradients are tracked.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

TRACKED_TYPES: tuple[type[nn.Module], ...] = (nn.Linear, nn.Embedding, nn.Conv2d)


def default_tracked_modules(model: nn.Module) -> list[nn.Module]:
    """All Linear, Embedding and Conv2d modules, in `named_modules` order."""
    return [m for m in model.modules() if isinstance(m, TRACKED_TYPES)]


@runtime_checkable
class Task(Protocol):
    """Implement (or subclass, to inherit `tracked_modules`) for your model.

    Both losses must be SUMS of per-example terms over the batch's leading
    dimension (e.g. `cross_entropy(..., reduction="sum")`): the engine recovers
    per-example gradients from the per-example activations and output gradients
    that its hooks see, and a mean would scale them by 1/batch size.
    """

    def compute_train_loss(self, batch: Any, model: nn.Module) -> torch.Tensor:
        """Summed per-example training loss of `batch`."""
        ...

    def compute_measurement(self, batch: Any, model: nn.Module) -> torch.Tensor:
        """Summed per-query measurement whose change we attribute, e.g. the
        log-probability (or margin) of the output the model actually gave."""
        ...

    def tracked_modules(self, model: nn.Module) -> list[nn.Module]:
        return default_tracked_modules(model)


def tracked_modules_of(task: Any, model: nn.Module) -> list[nn.Module]:
    """The task's tracked modules, falling back to the default for structural
    implementations that leave the method out."""
    method = getattr(task, "tracked_modules", None)
    modules = list(method(model)) if method is not None else default_tracked_modules(model)
    return modules
