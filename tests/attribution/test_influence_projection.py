"""The factorised (LoGra) projection equals projecting the full per-example
gradient with kron(P_out, P_in), the full gradients coming from torch.func."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from attribution import (
    AttributionError,
    DenseRandomProjection,
    GradientCollector,
    IndexManifest,
    LayerSpec,
    ProjectionArguments,
    UnsupportedModuleError,
    collect_gradients,
    gradient_dot_product,
    per_example_gradients,
)
from attribution.projection import rows_on_grid

ARGS = ProjectionArguments(rank_in=3, rank_out=4, seed=7, dtype="float64", full_layer_size=0)  # project every layer


def _weights_of(model: nn.Module, n_out: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(n_out, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def per_example_loss_fn(model: nn.Module) -> Any:
    """A loss that is a sum of per-example terms, nonlinear in the output."""

    def loss(batch: torch.Tensor, m: nn.Module) -> torch.Tensor:
        out = m(batch)
        return (out.reshape(out.shape[0], -1).tanh() ** 2).sum()

    return loss


def torch_func_grads(model: nn.Module, layers: list[nn.Module], x: torch.Tensor) -> list[torch.Tensor]:
    """Per-example [W | b] (d_out x d_in) gradients of each layer via vmap(grad)."""
    params = {k: v.detach() for k, v in model.named_parameters()}
    names = {id(m): n for n, m in model.named_modules()}

    def one(p: dict[str, torch.Tensor], xi: torch.Tensor) -> torch.Tensor:
        out = functional_call(model, p, (xi.unsqueeze(0),))
        return (out.reshape(1, -1).tanh() ** 2).sum()

    grads = vmap(grad(one), in_dims=(None, 0))(params, x)
    result = []
    for layer in layers:
        name = names[id(layer)]
        w = grads[f"{name}.weight"]
        if isinstance(layer, nn.Embedding):
            w = w.transpose(1, 2)  # stored (vocab, dim); rows use (d_out = dim) x (d_in = vocab)
        n = w.shape[0]
        w = w.reshape(n, w.shape[1], -1)  # conv: (n, C_out, C_in*k*k), same order as unfold
        if f"{name}.bias" in grads:
            w = torch.cat([w, grads[f"{name}.bias"].unsqueeze(-1)], dim=-1)
        result.append(w)
    return result


def check_against_kron(model: nn.Module, x: torch.Tensor) -> None:
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Embedding, nn.Conv2d))]
    loss = per_example_loss_fn(model)
    with GradientCollector(model, layers, ARGS) as collector:
        rows = collector.gradients(loss(x, model))
        projectors = collector.projectors
    full = torch_func_grads(model, layers, x)
    assert rows.shape == (x.shape[0], sum(p.spec.dim for p in projectors))
    for p in projectors:  # a side no wider than its rank is kept exact
        assert p.p_in.shape[1] == min(ARGS.rank_in, p.spec.d_in)
        assert p.p_out.shape[1] == min(ARGS.rank_out, p.spec.d_out)
    for proj, g in zip(projectors, full):
        s = proj.spec
        kron = torch.kron(proj.p_out, proj.p_in)  # (d_out*d_in, r_out*r_in)
        expected = g.reshape(g.shape[0], -1) @ kron
        # Fixed-point stages (attribution/exact.py) round each example's factors to
        # at least 22 bits of their largest value: about 1e-6 of the block's scale.
        scale = expected.abs().max().item()
        torch.testing.assert_close(rows[:, s.offset : s.offset + s.dim], expected, rtol=1e-5, atol=1e-5 * scale)
    # Exact mode (no projection) is the torch.func gradient itself.
    exact = per_example_gradients(model, layers, x, loss)
    torch.testing.assert_close(exact, torch.cat([g.reshape(g.shape[0], -1) for g in full], dim=1), rtol=1e-9, atol=1e-12)


def test_linear_matches_kron_of_full_gradient() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 3, bias=False)).double()
    check_against_kron(model, torch.randn(8, 5, dtype=torch.float64))


def test_linear_sequence_sums_over_positions() -> None:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 4)).double()
    check_against_kron(model, torch.randn(7, 9, 5, dtype=torch.float64))


class TinyLM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(11, 6, padding_idx=0)
        self.out = nn.Linear(6, 5)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.emb(ids)))


def test_embedding_rows_of_p_in_match_one_hot_gradient() -> None:
    torch.manual_seed(2)
    model = TinyLM().double()
    ids = torch.randint(0, 11, (6, 8))
    ids[:, -2:] = 0  # padding positions carry no gradient to the padding row
    ids[0, 0] = 3
    ids[0, 1] = 3  # repeated token: its two positions add up
    check_against_kron(model, ids)


def test_conv2d_unfolded_patches_match_full_gradient() -> None:
    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Conv2d(2, 3, kernel_size=3, padding=1, stride=2),
        nn.Tanh(),
        nn.Conv2d(3, 4, kernel_size=(2, 3), dilation=(1, 2), bias=False),
    ).double()
    check_against_kron(model, torch.randn(5, 2, 9, 10, dtype=torch.float64))


def test_projection_matrices_are_seeded_and_per_layer() -> None:
    model = nn.Sequential(nn.Linear(5, 5), nn.Linear(5, 5))
    layers = list(model)
    a = GradientCollector(model, layers, ARGS)
    b = GradientCollector(model, layers, ARGS)
    c = GradientCollector(model, layers, ProjectionArguments(rank_in=3, rank_out=4, seed=8, dtype="float64"))
    assert torch.equal(a.projectors[0].p_in, b.projectors[0].p_in)
    assert not torch.equal(a.projectors[0].p_in, a.projectors[1].p_in)
    assert not torch.equal(a.projectors[0].p_in, c.projectors[0].p_in)


def test_dense_projection_and_dot_product_baselines() -> None:
    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(4, 3)).double()
    x = torch.randn(6, 4, dtype=torch.float64)
    full = per_example_gradients(model, list(model), x, per_example_loss_fn(model))
    dense = DenseRandomProjection(full.shape[1], 12, seed=3, dtype=torch.float64)
    projected = dense.project(full)
    assert projected.shape == (6, 12)
    torch.testing.assert_close(projected, full @ dense.matrix)
    # Johnson-Lindenstrauss: inner products roughly preserved on average.
    dots = gradient_dot_product(full, full)
    assert torch.allclose(dots, full @ full.T)


def test_unsupported_module_raises() -> None:
    model = nn.Sequential(nn.Conv2d(4, 4, 3, groups=2))
    with pytest.raises(UnsupportedModuleError):
        GradientCollector(model, list(model), ARGS)


def test_loss_must_be_scalar() -> None:
    model = nn.Sequential(nn.Linear(3, 2))
    with pytest.raises(Exception, match="scalar"):
        collect_gradients(model, list(model), torch.randn(4, 3), lambda b, m: m(b).sum(dim=1), ARGS)


class SharedLinear(nn.Module):
    """One Linear called twice per forward (weight sharing): its calls add up."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.lin(torch.tanh(self.lin(x))))


def test_module_called_twice_adds_its_calls() -> None:
    torch.manual_seed(5)
    check_against_kron(SharedLinear().double(), torch.randn(6, 4, dtype=torch.float64))


def test_conv2d_valid_padding_string() -> None:
    torch.manual_seed(6)
    model = nn.Sequential(nn.Conv2d(2, 5, 2, padding="valid"), nn.Flatten(), nn.Linear(5 * 16, 3)).double()
    check_against_kron(model, torch.randn(4, 2, 5, 5, dtype=torch.float64))


def test_small_layers_are_stored_whole() -> None:
    """A layer whose gradient has at most `full_layer_size` entries gets identity
    factors whatever the ranks: its block of a row is the exact per-example
    gradient (up to the fixed-point grids); a bigger layer is projected."""
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    layers = [model[0], model[2]]
    x = torch.randn(8, 5, dtype=torch.float64)
    loss = per_example_loss_fn(model)
    args = ProjectionArguments(rank_in=3, rank_out=2, seed=7, dtype="float64", full_layer_size=21)  # 7 x 3 = 21, 6 x 6 = 36
    with GradientCollector(model, layers, args) as collector:
        rows = collector.gradients(loss(x, model))
        specs = collector.specs
    assert [s.dim for s in specs] == [2 * 3, 3 * 7]
    whole = torch_func_grads(model, layers, x)[1].reshape(8, -1)
    block = rows[:, specs[1].offset : specs[1].offset + specs[1].dim]
    torch.testing.assert_close(block, whole, rtol=1e-5, atol=1e-6 * whole.abs().max().item())
    assert ProjectionArguments().full_layer_size == 8192
    with pytest.raises(AttributionError, match="full_layer_size must be >= 0"):
        ProjectionArguments(full_layer_size=-1)


def test_stored_rows_have_no_negative_zeros() -> None:
    """An unprojected layer has exact zeros (a zero input times a negative
    gradient) whose sign BLAS picks by batch shape; the stored bytes must not
    depend on it."""
    spec = LayerSpec("l", "linear", 2, 2, False, 0, 4)
    rows = rows_on_grid(torch.tensor([[-0.0, 1.5, -0.0, -2.0]], dtype=torch.float64), [spec])
    assert rows.tolist() == [[0.0, 1.5, 0.0, -2.0]]
    assert not torch.signbit(rows[rows == 0]).any()


def test_manifest_without_full_layer_size_reads_as_every_layer_projected() -> None:
    """Indexes written before full_layer_size existed projected every layer."""
    old = IndexManifest("f", {"rank_in": 3, "rank_out": 4, "seed": 7, "dtype": "float32"}, [], 0, [], 0)
    assert old.projection_arguments.full_layer_size == 0
    new = IndexManifest("f", {"rank_in": 3, "rank_out": 4, "seed": 7, "dtype": "float32", "full_layer_size": 100},
                        [], 0, [], 0)
    assert new.projection_arguments.full_layer_size == 100
