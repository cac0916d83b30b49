"""Damped Fisher / Gauss-Newton preconditioner in the projected gradient space.

Built from the same projected training rows as the index (accumulated while the
index is built), applied to query rows before scoring. Per tracked layer l,

    F_l = (1/n) sum_i g_i g_i^T        (g_i: example i's projected rows of layer l)
    lambda_l = damping * trace(F_l) / dim_l   (damping times the mean eigenvalue)
    q_l <- (F_l + lambda_l I)^{-1} q_l

Damping relative to the mean eigenvalue keeps one `damping` setting meaningful
across layers whose gradients differ in scale by orders of magnitude; a layer
whose F_l is zero (it never received gradient) gets lambda_l = 1e-12 so the
inverse exists. All of it is float64 because the reward split downstream needs a
stable ranking. Block-diagonal across layers (as in TRAK/LoGra/EK-FAC).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from attribution.arguments import PreconditionerArguments
from attribution.errors import AttributionError
from attribution.projection import LayerSpec


def _check_kind(args: PreconditionerArguments) -> None:
    if args.kind == "ekfac":
        raise NotImplementedError(
            "PreconditionerArguments(kind='ekfac') (eigenvalue-corrected Kronecker factors) is "
            "not implemented; use kind='fisher'"
        )


class FisherAccumulator:
    """Running sum of g g^T per layer, in float64."""

    def __init__(self, specs: Sequence[LayerSpec], device: torch.device | str = "cpu") -> None:
        self.specs = list(specs)
        self.sums = [torch.zeros(s.dim, s.dim, dtype=torch.float64, device=device) for s in self.specs]
        self.count = 0

    def update(self, rows: torch.Tensor) -> None:
        rows = rows.to(torch.float64)
        for s, acc in zip(self.specs, self.sums):
            block = rows[:, s.offset : s.offset + s.dim].to(acc.device)
            acc += block.T @ block
        self.count += rows.shape[0]

    def finalize(self, args: PreconditionerArguments) -> Preconditioner:
        _check_kind(args)
        if args.kind == "identity":
            return Preconditioner(kind="identity", specs=self.specs, inverses=[], dampings=[], count=self.count)
        if self.count == 0:
            raise AttributionError("cannot build a Fisher preconditioner from zero examples")
        inverses, dampings = [], []
        for acc in self.sums:
            fisher = (acc / self.count).cpu()
            fisher = (fisher + fisher.T) / 2
            evals, evecs = torch.linalg.eigh(fisher)
            lam = args.damping * float(torch.trace(fisher)) / fisher.shape[0]
            lam = max(lam, 1e-12)
            inv = (evecs / (evals.clamp_min(0.0) + lam)) @ evecs.T
            inverses.append((inv + inv.T) / 2)
            dampings.append(lam)
        return Preconditioner(kind="fisher", specs=self.specs, inverses=inverses, dampings=dampings, count=self.count)


@dataclass(frozen=True)
class Preconditioner:
    kind: str  # "fisher" | "identity"
    specs: list[LayerSpec]
    inverses: list[torch.Tensor]  # per layer (F_l + lambda_l I)^{-1}, float64; empty for identity
    dampings: list[float]  # per layer lambda_l
    count: int  # training examples F was estimated from

    def apply(self, queries: torch.Tensor) -> torch.Tensor:
        """Preconditioned query rows, float64, on the queries' device."""
        q = queries.to(torch.float64)
        if self.kind == "identity":
            return q.clone()
        out = torch.empty_like(q)
        for s, inv in zip(self.specs, self.inverses):
            sl = slice(s.offset, s.offset + s.dim)
            out[:, sl] = q[:, sl] @ inv.to(q.device)
        return out
