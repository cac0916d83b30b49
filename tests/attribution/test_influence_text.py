"""End to end on a tiny next-token model (Embedding + Linear over sequences):
the sequence path of the projection through build_index and score."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from attribution import ProjectionArguments, ScoreArguments, Task, build_index, score

VOCAB, DIM, LEN = 24, 12, 10


class TinyLM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, DIM)
        self.mix = nn.Linear(DIM, DIM)
        self.out = nn.Linear(DIM, VOCAB)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.mix(self.emb(ids))))


class NextTokenTask(Task):
    """Loss and measurement are the summed next-token log-likelihood of the sequence."""

    def _nll(self, ids: torch.Tensor, model: nn.Module) -> torch.Tensor:
        logits = model(ids[:, :-1])
        return F.cross_entropy(logits.reshape(-1, VOCAB), ids[:, 1:].reshape(-1), reduction="sum")

    def compute_train_loss(self, batch: Any, model: nn.Module) -> torch.Tensor:
        return self._nll(batch, model)

    def compute_measurement(self, batch: Any, model: nn.Module) -> torch.Tensor:
        return -self._nll(batch, model)


def _corpus() -> torch.Tensor:
    """Four "contributors", each writing sequences from its own arithmetic rule."""
    gen = torch.Generator().manual_seed(0)
    seqs = []
    for c in range(4):
        for _ in range(30):
            start = int(torch.randint(0, VOCAB, (1,), generator=gen))
            seqs.append((start + (c + 1) * torch.arange(LEN)) % VOCAB)
    return torch.stack(seqs)


def test_text_queries_attribute_to_their_contributor(tmp_path: Path) -> None:
    torch.manual_seed(0)
    corpus = _corpus()
    owners = [i // 30 for i in range(len(corpus))]
    model = TinyLM()
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)
    task = NextTokenTask()
    for _ in range(60):
        opt.zero_grad()
        (task.compute_train_loss(corpus, model) / len(corpus)).backward()
        opt.step()
    model.eval()
    build_index(model, task, list(corpus), owners, tmp_path, projection_args=ProjectionArguments(8, 8), progress=False)
    # Queries: fresh sequences from each contributor's rule.
    queries = torch.stack([(s + (c + 1) * torch.arange(LEN)) % VOCAB for c in range(4) for s in (3, 11)])
    result = score(model, task, tmp_path, queries, ScoreArguments(top_k=5, normalize=True))
    truth = torch.tensor([c for c in range(4) for _ in range(2)])
    best = result.contribution_scores.argmax(dim=1)
    assert result.contribution_ids.tolist() == [0, 1, 2, 3]
    assert (best == truth).float().mean() >= 0.75
    assert (result.top_k_contribution_ids == truth[:, None]).float().mean() >= 0.6
