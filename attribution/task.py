"""The `Task` protocol: what the user tells the attribution engine about a model.

Kronfluence style: the engine never guesses how a batch is fed to the model; the
task says how to compute the training loss, the query measurement, and which
modules' gradients are tracked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import nn

from attribution.errors import AttributionError

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

    # Optional, for PreconditionerArguments(fisher="sampled" or "exact") (not a protocol
    # member, so tasks without it still satisfy the protocol):
    #
    # def compute_train_logits(self, batch, model) -> Tensor | tuple[Tensor, Tensor]:
    #     """The logits whose softmax cross-entropy is the training loss:
    #     (n, C), or (n, T, C) for sequences, optionally with a (n, T) bool
    #     mask of the positions that count."""


def tracked_modules_of(task: Any, model: nn.Module) -> list[nn.Module]:
    """The task's tracked modules, falling back to the default for structural
    implementations that leave the method out."""
    method = getattr(task, "tracked_modules", None)
    modules = list(method(model)) if method is not None else default_tracked_modules(model)
    return modules


def _draw_seed(seed: int, sample: int, example: int) -> int:
    return (((seed * 1_000_003) + sample) * 1_000_000_007 + example) % (2**63 - 1)


def example_uniforms(example_indices: Sequence[int], positions: int, seed: int, sample: int) -> torch.Tensor:
    """(n, positions) float64 uniforms; row j depends only on (seed, sample,
    example_indices[j]), never on which batch the example is in."""
    rows = [
        torch.rand(positions, generator=torch.Generator().manual_seed(_draw_seed(seed, sample, int(i))), dtype=torch.float64)
        for i in example_indices
    ]
    return torch.stack(rows) if rows else torch.empty(0, positions, dtype=torch.float64)


def train_logits_of(task: Any) -> Any:
    """The task's `compute_train_logits`, which the sampled Fisher needs."""
    method = getattr(task, "compute_train_logits", None)
    if method is None:
        raise AttributionError(
            f"{type(task).__name__} has no compute_train_logits(batch, model); the sampled Fisher "
            "needs it (or use PreconditionerArguments(fisher='empirical'))"
        )
    return method


def _train_logits(task: Any, batch: Any, model: nn.Module, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The task's logits as (n, T, C) and its (n, T) mask or None."""
    out = train_logits_of(task)(batch, model)
    logits, mask = (out if isinstance(out, tuple) else (out, None))
    if not isinstance(logits, torch.Tensor) or logits.dim() not in (2, 3) or logits.shape[0] != n:
        raise AttributionError(
            f"compute_train_logits must return (n, C) or (n, T, C) logits for n={n}, "
            f"got {getattr(logits, 'shape', type(logits).__name__)}"
        )
    flat = logits.reshape(n, -1, logits.shape[-1])
    if mask is not None and mask.shape != flat.shape[:2]:
        raise AttributionError(f"compute_train_logits mask must have shape {tuple(flat.shape[:2])}, got {tuple(mask.shape)}")
    return flat, mask


def _masked_sum(losses: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return (losses * mask.to(losses.dtype) if mask is not None else losses).sum()


def sampled_train_loss(task: Any, batch: Any, model: nn.Module, example_indices: Sequence[int], *,
                       seed: int, sample: int) -> torch.Tensor:
    """Summed cross-entropy of the task's logits against targets drawn from the
    model's own softmax: its gradient's second moment is the true Fisher
    (Gauss-Newton) rather than the empirical one."""
    flat, mask = _train_logits(task, batch, model, len(example_indices))
    n, t, c = flat.shape
    with torch.no_grad():
        cdf = torch.softmax(flat.detach().to(torch.float64), dim=-1).cumsum(dim=-1)
        u = example_uniforms(example_indices, t, seed, sample).to(cdf.device)
        targets = torch.searchsorted(cdf, u.unsqueeze(-1)).squeeze(-1).clamp_max(c - 1)
    losses = F.cross_entropy(flat.reshape(n * t, c), targets.reshape(-1), reduction="none").reshape(n, t)
    return _masked_sum(losses, mask)


def class_count(task: Any, batch: Any, model: nn.Module, n: int) -> int:
    """C, the number of classes of the task's logits (one forward pass, no gradient)."""
    with torch.no_grad():
        return int(_train_logits(task, batch, model, n)[0].shape[-1])


def expected_train_loss(task: Any, batch: Any, model: nn.Module, n: int, *, target: int) -> torch.Tensor:
    """Summed cross-entropy of the task's (n, C) logits against class `target`,
    each example's term weighted by sqrt(C p_target) with p the model's own
    softmax (held constant). Over the C targets, an example's gradients' second
    moments add up to C times their expectation over the model's predictive
    distribution: averaged over its C rows, the example's exact Gauss-Newton
    matrix (fisher='exact'), with no sampling noise. One prediction per
    example only: with T positions the C rows would mix the positions' terms,
    and the exact expectation needs T x C passes (use fisher='sampled')."""
    flat, mask = _train_logits(task, batch, model, n)
    _, t, c = flat.shape
    if t != 1:
        raise AttributionError(f"fisher='exact' needs one prediction per example, got {t} positions (use 'sampled')")
    with torch.no_grad():
        weights = (c * torch.softmax(flat.detach().to(torch.float64), dim=-1)[..., target]).sqrt().to(flat.dtype)
    targets = torch.full((n * t,), target, dtype=torch.int64, device=flat.device)
    losses = F.cross_entropy(flat.reshape(n * t, c), targets, reduction="none").reshape(n, t)
    return _masked_sum(losses * weights, mask)
