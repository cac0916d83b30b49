"""The on-disk index of projected training gradients, and its preconditioner.

Stage two of the data flow (task -> projection -> **index** -> scoring): every
training example becomes one float32 row (all tracked layers concatenated, in
`LayerSpec.offset` order) tagged with its int64 contribution id. Each row's
layer blocks are fixed-point (`ROW_BITS`-bit integers times a power of two,
exact.py), which scoring relies on to multiply them exactly. The model sees one
example per forward and backward pass, so a row never depends on the other
examples of its batch (nor does the preconditioner: see preconditioner.py).

Layout of an index directory:

    index.json                  manifest (written last: its presence means complete)
    shard-00000.safetensors     tensors "gradients" (rows x dim, float32) and
    shard-00001.safetensors     "contribution_ids" (rows, int64), rows in dataset order
    ...
    preconditioner.safetensors  per-layer (F + lambda I)^{-1} (float64), see preconditioner.py

The manifest holds the format version, the model fingerprint (sha256 of the
parameters), the projection arguments, the layer specs, the shard files with
their row counts, the total number of examples, and per layer the largest
binary exponent of any row's block (`row_exponents`: scoring bounds its integer
sums with it). Artifacts follow the
kronfluence convention of matching `save_* / load_* / *_exists` functions.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn
from torch.utils.data import default_collate
from tqdm.auto import tqdm

from attribution.arguments import (
    IndexArguments,
    PreconditionerArguments,
    ProjectionArguments,
)
from attribution.errors import AttributionError, IndexMismatchError, IndexNotFoundError
from attribution.exact import exponent_of
from attribution.preconditioner import EkfacAccumulator, FisherAccumulator, Preconditioner
from attribution.projection import GradientCollector, LayerSpec, rows_on_grid
from attribution.task import Task, class_count, expected_train_loss, sampled_train_loss, tracked_modules_of, train_logits_of

INDEX_FORMAT = "openledger-attribution-index"
INDEX_VERSION = 2  # 2: fixed-point rows and preconditioner, row_exponents
MANIFEST_NAME = "index.json"
PRECONDITIONER_NAME = "preconditioner.safetensors"


def shard_name(i: int) -> str:
    return f"shard-{i:05d}.safetensors"


def model_fingerprint(model: nn.Module) -> str:
    """sha256 over parameter names, shapes, dtypes and values (float64 bytes, so
    the fingerprint does not depend on the device the model sits on)."""
    h = hashlib.sha256()
    for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
        h.update(f"{name}:{tuple(p.shape)}:{p.dtype}\n".encode())
        h.update(p.detach().to("cpu", torch.float64).contiguous().numpy().tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class IndexManifest:
    model_fingerprint: str
    projection: dict[str, Any]
    layers: list[dict[str, Any]]
    dim: int
    shards: list[dict[str, Any]]  # {"file": name, "rows": count}
    total_examples: int
    row_exponents: list[int] = field(default_factory=list)  # per layer: every block's values are below 2^this
    format: str = INDEX_FORMAT
    version: int = INDEX_VERSION

    @property
    def layer_specs(self) -> list[LayerSpec]:
        return [LayerSpec(**d) for d in self.layers]

    @property
    def projection_arguments(self) -> ProjectionArguments:
        # Manifests written before full_layer_size existed projected every layer.
        return ProjectionArguments(**{"full_layer_size": 0, **self.projection})


class _ShardWriter:
    """Writes rows in shards of `shard_size`, each (row, layer) block rounded to
    the storage grid (`rows_on_grid`, exact in float32), and tracks every
    layer's largest exponent."""

    def __init__(self, index_dir: Path, shard_size: int, specs: Sequence[LayerSpec]) -> None:
        self.dir = index_dir
        self.shard_size = shard_size
        self.specs = list(specs)
        self.dim = sum(s.dim for s in self.specs)
        self.exponents = [-1074] * len(self.specs)
        self.rows: list[torch.Tensor] = []
        self.ids: list[torch.Tensor] = []
        self.pending = 0
        self.shards: list[dict[str, Any]] = []

    @property
    def row_exponents(self) -> list[int]:
        return list(self.exponents)

    def add(self, rows: torch.Tensor, ids: torch.Tensor) -> None:
        ids = ids.to("cpu", torch.int64)
        if rows.shape != (ids.shape[0], self.dim):
            raise AttributionError(f"rows of shape {tuple(rows.shape)} do not match {ids.shape[0]} ids x dim {self.dim}")
        rows = rows_on_grid(rows.detach().to("cpu"), self.specs)
        for i, s in enumerate(self.specs):
            if rows.shape[0] and s.dim:
                top = rows[:, s.offset : s.offset + s.dim].abs().amax()
                if float(top) > 0:  # an all-zero block bounds nothing
                    self.exponents[i] = max(self.exponents[i], int(exponent_of(top)))
        rows = rows.to(torch.float32)  # exact: ROW_BITS <= float32's mantissa
        while rows.shape[0]:
            take = min(self.shard_size - self.pending, rows.shape[0])
            self.rows.append(rows[:take])
            self.ids.append(ids[:take])
            self.pending += take
            rows, ids = rows[take:], ids[take:]
            if self.pending == self.shard_size:
                self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        name = shard_name(len(self.shards))
        save_file(
            {"gradients": torch.cat(self.rows).contiguous(), "contribution_ids": torch.cat(self.ids).contiguous()},
            str(self.dir / name),
        )
        self.shards.append({"file": name, "rows": self.pending})
        self.rows, self.ids, self.pending = [], [], 0


def _prepare_dir(index_dir: Path) -> None:
    index_dir.mkdir(parents=True, exist_ok=True)
    # Drop a previous index first: the manifest goes first so a crash mid-way
    # never leaves a manifest pointing at a mix of old and new shards.
    for name in [MANIFEST_NAME, PRECONDITIONER_NAME]:
        (index_dir / name).unlink(missing_ok=True)
    for old in index_dir.glob("shard-*.safetensors"):
        old.unlink()


def _write_manifest(index_dir: Path, manifest: IndexManifest) -> None:
    tmp = index_dir / (MANIFEST_NAME + ".tmp")
    tmp.write_text(json.dumps(asdict(manifest), indent=2, sort_keys=True))
    os.replace(tmp, index_dir / MANIFEST_NAME)


def save_index(
    index_dir: str | os.PathLike[str],
    gradients: torch.Tensor,
    contribution_ids: torch.Tensor | Sequence[int],
    *,
    specs: Sequence[LayerSpec],
    projection_args: ProjectionArguments,
    model_fingerprint: str,
    shard_size: int = IndexArguments().shard_size,
) -> IndexManifest:
    """Write in-memory rows as an index (build_index streams instead); each
    (row, layer) block is rounded to the storage grid."""
    path = Path(index_dir)
    _prepare_dir(path)
    ids = torch.as_tensor(contribution_ids, dtype=torch.int64)
    if sum(s.dim for s in specs) != gradients.shape[1]:
        raise AttributionError(f"rows have {gradients.shape[1]} columns, the layer specs {sum(s.dim for s in specs)}")
    writer = _ShardWriter(path, shard_size, specs)
    writer.add(gradients, ids)
    writer.flush()
    manifest = IndexManifest(
        model_fingerprint=model_fingerprint,
        projection=asdict(projection_args),
        layers=[asdict(s) for s in specs],
        dim=int(gradients.shape[1]),
        shards=writer.shards,
        total_examples=int(gradients.shape[0]),
        row_exponents=writer.row_exponents,
    )
    _write_manifest(path, manifest)
    return manifest


def index_exists(index_dir: str | os.PathLike[str]) -> bool:
    path = Path(index_dir)
    manifest = path / MANIFEST_NAME
    if not manifest.is_file():
        return False
    try:
        shards = json.loads(manifest.read_text())["shards"]
    except (ValueError, KeyError):
        return False
    return all((path / s["file"]).is_file() for s in shards)


@dataclass(frozen=True)
class Index:
    """A loaded index: the manifest in memory, the shards read on demand from
    their files, or, after `resident()`, held in memory (on the CPU or a GPU) for
    a service that scores many queries."""

    path: Path
    manifest: IndexManifest
    shards_in_memory: tuple[tuple[torch.Tensor, torch.Tensor], ...] | None = field(default=None, repr=False)
    columns: tuple[torch.Tensor, torch.Tensor] | None = field(default=None, repr=False)

    def _read_shard(self, entry: dict[str, Any], device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
        with safe_open(str(self.path / entry["file"]), framework="pt", device=str(device)) as f:
            grads = f.get_tensor("gradients")
            ids = f.get_tensor("contribution_ids")
        if grads.shape != (entry["rows"], self.manifest.dim) or ids.shape != (entry["rows"],):
            raise AttributionError(f"shard {entry['file']} has shape {tuple(grads.shape)}, manifest says {entry['rows']} x {self.manifest.dim}")
        return grads, ids

    def iter_shards(self, device: torch.device | str = "cpu") -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
        """(first row, gradients float32, contribution ids) per shard, one shard
        read at a time (or straight from memory for a resident index); the
        gradients on `device`, the ids on the CPU."""
        start = 0
        for i, entry in enumerate(self.manifest.shards):
            if self.shards_in_memory is not None:
                grads, ids = self.shards_in_memory[i]
                grads = grads.to(device)
            else:
                grads, ids = self._read_shard(entry, device)
                ids = ids.cpu()
            yield start, grads, ids
            start += entry["rows"]

    def contribution_ids(self) -> torch.Tensor:
        """All rows' contribution ids (8 bytes a row; the gradients are not read)."""
        if self.shards_in_memory is not None:
            parts = [ids for _, ids in self.shards_in_memory]
        else:
            parts = []
            for entry in self.manifest.shards:
                with safe_open(str(self.path / entry["file"]), framework="pt", device="cpu") as f:
                    parts.append(f.get_tensor("contribution_ids"))
        return torch.cat(parts) if parts else torch.empty(0, dtype=torch.int64)

    def contribution_columns(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(every contribution id, sorted; for each row, the position of its id
        in that list): the per-contribution sums' layout. Kept by a resident index."""
        if self.columns is not None:
            return self.columns
        ids, columns = torch.unique(self.contribution_ids(), sorted=True, return_inverse=True)
        return ids, columns

    def gradients(self) -> torch.Tensor:
        """All rows in memory (small indexes and tests)."""
        if not self.manifest.shards:
            return torch.empty(0, self.manifest.dim)
        return torch.cat([g for _, g, _ in self.iter_shards()])

    def resident(self, device: torch.device | str = "cpu") -> Index:
        """This index with every shard held in memory, its gradients on
        `device`: scoring then reads memory rather than files (on a GPU, device
        memory), and the per-contribution layout is worked out once. Needs the
        index's size in (device) memory: rows x dim x 4 bytes + 8 per row."""
        shards = tuple((grads, ids.cpu()) for grads, ids in (self._read_shard(e, device) for e in self.manifest.shards))
        loaded = replace(self, shards_in_memory=shards, columns=None)
        return replace(loaded, columns=loaded.contribution_columns())


def load_index(index_dir: str | os.PathLike[str]) -> Index:
    path = Path(index_dir)
    if not index_exists(path):
        raise IndexNotFoundError(str(path))
    data = json.loads((path / MANIFEST_NAME).read_text())
    if data.get("format") != INDEX_FORMAT or data.get("version") != INDEX_VERSION:
        raise IndexMismatchError("format", (data.get("format"), data.get("version")), (INDEX_FORMAT, INDEX_VERSION))
    return Index(path, IndexManifest(**data))


def save_preconditioner(index_dir: str | os.PathLike[str], preconditioner: Preconditioner) -> None:
    path = Path(index_dir)
    path.mkdir(parents=True, exist_ok=True)
    p = preconditioner
    tensors = {f"layer.{i}.inverse": inv.contiguous().cpu() for i, inv in enumerate(p.inverses)}
    for i, (qa, qs, lam) in enumerate(zip(p.q_in, p.q_out, p.eigenvalues)):
        tensors[f"layer.{i}.q_in"] = qa.contiguous().cpu()
        tensors[f"layer.{i}.q_out"] = qs.contiguous().cpu()
        tensors[f"layer.{i}.eigenvalues"] = lam.contiguous().cpu()
    tensors["dampings"] = torch.tensor(p.dampings, dtype=torch.float64)
    # One metadata key: safetensors writes its metadata map in hash order, and
    # the file should be byte-identical across runs.
    metadata = {
        "attribution": json.dumps(
            {"kind": p.kind, "count": p.count, "layers": [asdict(s) for s in p.specs]},
            sort_keys=True,
        )
    }
    tmp = path / (PRECONDITIONER_NAME + ".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, path / PRECONDITIONER_NAME)


def preconditioner_exists(index_dir: str | os.PathLike[str]) -> bool:
    return (Path(index_dir) / PRECONDITIONER_NAME).is_file()


def load_preconditioner(index_dir: str | os.PathLike[str]) -> Preconditioner:
    file = Path(index_dir) / PRECONDITIONER_NAME
    if not file.is_file():
        raise IndexNotFoundError(str(file), "preconditioner")
    with safe_open(str(file), framework="pt", device="cpu") as f:
        meta = json.loads(f.metadata()["attribution"])
        specs = [LayerSpec(**d) for d in meta["layers"]]
        kind = meta["kind"]
        if kind not in ("fisher", "ekfac", "identity"):
            raise AttributionError(f"{file}: unknown preconditioner kind {kind!r} (fisher, ekfac or identity)")
        layers = range(len(specs))

        def per_layer(name: str, wanted: str) -> list[torch.Tensor]:
            return [f.get_tensor(f"layer.{i}.{name}") for i in layers] if kind == wanted else []

        return Preconditioner(
            kind=kind,
            specs=specs,
            inverses=per_layer("inverse", "fisher"),
            dampings=f.get_tensor("dampings").tolist(),
            count=int(meta["count"]),
            q_in=per_layer("q_in", "ekfac"),
            q_out=per_layer("q_out", "ekfac"),
            eigenvalues=per_layer("eigenvalues", "ekfac"),
        )


def move_to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: move_to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        moved = [move_to_device(v, device) for v in batch]
        return type(batch)(moved) if isinstance(batch, list) else tuple(moved)
    return batch


def require_finite(rows: torch.Tensor, first: int, what: str) -> None:
    """Refuse rows with NaN or inf (they would poison the preconditioner and
    every score): name the first bad example."""
    bad = ~torch.isfinite(rows).all(dim=1)
    if bool(bad.any()):
        i = first + int(bad.nonzero()[0, 0])
        raise AttributionError(
            f"{what} {i}: its gradient is not finite (NaN or inf in the input, the model's output or its weights)"
        )


def _batches(dataset: Sequence[Any], batch_size: int, collate_fn: Callable[[list[Any]], Any],
             device: torch.device) -> Iterator[tuple[int, int, list[Any]]]:
    """(start, stop, one collated batch of a single example per example): the
    model always runs on one example at a time, because its own arithmetic
    (a matrix product's blocking) can depend on the batch's shape; `batch_size`
    only groups the examples for the projection, the statistics and the writes."""
    for start in range(0, len(dataset), batch_size):
        stop = min(start + batch_size, len(dataset))
        yield start, stop, [move_to_device(collate_fn([dataset[j]]), device) for j in range(start, stop)]


def _example_rows(collector: GradientCollector, examples: list[Any], loss_of: Callable[[int, Any], torch.Tensor],
                  observe: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None) -> torch.Tensor:
    """One row per example, each from its own forward and backward pass."""
    return collector.example_gradients(len(examples), lambda j: loss_of(j, examples[j]), observe)


def _row_blocks(index_dir: Path, shards: list[dict[str, Any]], block: int) -> Iterator[torch.Tensor]:
    """The written rows again, in blocks of `block` rows whatever the shard
    size, so that sums over them do not depend on how the index is sharded."""
    pending: list[torch.Tensor] = []
    held = 0
    for entry in shards:
        with safe_open(str(index_dir / entry["file"]), framework="pt", device="cpu") as f:
            rows = f.get_tensor("gradients")
        while rows.shape[0]:
            take = min(block - held, rows.shape[0])
            pending.append(rows[:take])
            held += take
            rows = rows[take:]
            if held == block:
                yield torch.cat(pending)
                pending, held = [], 0
    if held:
        yield torch.cat(pending)


def _example_major(per_sample: list[torch.Tensor]) -> torch.Tensor:
    """Per-sample tensors (n, ...) interleaved as example 0's samples, then
    example 1's, ...: the order of the sums over a batch."""
    return torch.stack(per_sample, dim=1).reshape(-1, *per_sample[0].shape[1:])


class _PreconditionerBuild:
    """Feeds the preconditioner from the index build: the first pass sees every
    batch once (`first_pass`); EK-FAC needs a second pass for its eigenvalues
    (`second_pass`), over the written shards (empirical Fisher) or over the
    model again with the same sampled targets (sampled Fisher)."""

    def __init__(self, model: nn.Module, task: Task, collector: GradientCollector,
                 args: PreconditionerArguments, device: torch.device) -> None:
        self.model, self.task, self.collector, self.args = model, task, collector, args
        self.fisher = FisherAccumulator(collector.specs, device) if args.kind == "fisher" else None
        self.ekfac = EkfacAccumulator(collector.specs, collector.factor_shapes, device) if args.kind == "ekfac" else None
        self.examples = 0
        self.classes: int | None = None

    @property
    def factor_observer(self) -> Callable[[int, torch.Tensor, torch.Tensor], None] | None:
        """Observer for the training-loss pass (empirical EK-FAC factors)."""
        if self.ekfac is not None and not self.args.uses_sampled_targets:
            return self.ekfac.update_factors
        return None

    def _draws(self, examples: list[Any], second: bool = False) -> range:
        """The model-target rows per example: the sampled Fisher's draws
        (EK-FAC's eigenvalues on draws of their own), or for the exact Fisher
        the C classes (the same rows in both passes: nothing random to fit)."""
        if self.args.fisher == "exact":
            if self.classes is None:
                self.classes = class_count(self.task, examples[0], self.model, 1)
            return range(self.classes)
        return range(self.args.samples, 2 * self.args.samples) if second else range(self.args.samples)

    def _sampled_rows(self, examples: list[Any], start: int, stop: int, sample: int, observe: Any = None) -> torch.Tensor:
        def loss_of(j: int, example: Any) -> torch.Tensor:
            if self.args.fisher == "exact":
                return expected_train_loss(self.task, example, self.model, 1, target=sample)
            return sampled_train_loss(self.task, example, self.model, range(start + j, start + j + 1),
                                      seed=self.args.seed, sample=sample)

        rows = _example_rows(self.collector, examples, loss_of, observe).to(torch.float32)
        require_finite(rows, start, "training example (sampled target)")
        return rows

    def first_pass(self, batch: Any, start: int, stop: int, rows: torch.Tensor) -> None:
        """`rows`: the float32 training-loss rows the index stores for the batch."""
        self.examples += stop - start
        if self.args.kind == "identity":
            return
        if not self.args.uses_sampled_targets:
            if self.fisher is not None:
                self.fisher.update(rows)
            return
        # Every sum runs example by example, an example's samples together, so
        # its order (and rounding) is the dataset's whatever the batch size.
        factors: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {}

        def observe(layer: int, inputs: torch.Tensor, output_grads: torch.Tensor) -> None:
            factors.setdefault(layer, []).append((inputs, output_grads))

        sampled = [self._sampled_rows(batch, start, stop, sample, observe if self.ekfac is not None else None)
                   for sample in self._draws(batch)]
        if self.fisher is not None:
            self.fisher.update(_example_major(sampled))
        if self.ekfac is not None:
            for layer, per_sample in sorted(factors.items()):
                a_terms, s_terms = zip(*(self.ekfac.factor_terms(a, g) for a, g in per_sample))
                self.ekfac.add_factor_terms(layer, _example_major(list(a_terms)), _example_major(list(s_terms)))

    @property
    def needs_second_pass(self) -> bool:
        return self.ekfac is not None

    def second_pass(self, index_dir: Path, shards: list[dict[str, Any]], dataset: Sequence[Any], batch_size: int,
                    collate_fn: Callable[[list[Any]], Any], device: torch.device, progress: bool | None) -> None:
        assert self.ekfac is not None
        self.ekfac.eigenbases()
        disable = None if progress is None else not progress
        with tqdm(total=len(dataset), desc="EK-FAC eigenvalues", unit="ex", disable=disable) as bar:
            if not self.args.uses_sampled_targets:
                for rows in _row_blocks(index_dir, shards, batch_size):
                    self.ekfac.update_eigenvalues(rows)
                    bar.update(rows.shape[0])
                return
            for start, stop, batch in _batches(dataset, batch_size, collate_fn, device):
                # Sampled: draws of their own (samples..2 samples-1), as eigenvalues
                # taken on the draws that fitted the eigenbases come out too small
                # off its top directions (the basis fits those draws' noise).
                sampled = [self._sampled_rows(batch, start, stop, sample) for sample in self._draws(batch, second=True)]
                self.ekfac.update_eigenvalues(_example_major(sampled))
                bar.update(stop - start)

    def finalize(self) -> Preconditioner:
        if self.args.kind == "identity":
            return Preconditioner(kind="identity", specs=self.collector.specs, count=self.examples)
        accumulator = self.fisher if self.fisher is not None else self.ekfac
        assert accumulator is not None
        return accumulator.finalize(self.args)


def build_index(
    model: nn.Module,
    task: Task,
    dataset: Sequence[Any],
    contribution_ids: Sequence[int] | torch.Tensor,
    index_dir: str | os.PathLike[str],
    *,
    projection_args: ProjectionArguments = ProjectionArguments(),
    index_args: IndexArguments = IndexArguments(),
    preconditioner_args: PreconditionerArguments = PreconditionerArguments(),
    collate_fn: Callable[[list[Any]], Any] = default_collate,
    progress: bool | None = None,
) -> Index:
    """Project every example's training-loss gradient, write the shards, the
    manifest and the preconditioner; example i gets `contribution_ids[i]`.

    One forward and one backward pass per example (plus one per sample for the
    sampled Fisher, C per example for the exact one, and a second pass for
    EK-FAC, see preconditioner.py), so
    that the files are the same bytes whatever `index_args` and the thread
    count; the model's mode (eval/train) is left as the caller set
    it, so turn dropout off first if the index must be reproducible.
    """
    preconditioner_args = preconditioner_args.for_task(task)
    ids = torch.as_tensor(contribution_ids, dtype=torch.int64)
    n = len(dataset)
    if ids.shape != (n,):
        raise AttributionError(f"{n} examples but {tuple(ids.shape)} contribution ids")
    if preconditioner_args.uses_sampled_targets:
        train_logits_of(task)  # refuse before any work
    device = next(iter(model.parameters())).device
    path = Path(index_dir)
    _prepare_dir(path)
    modules = tracked_modules_of(task, model)
    with GradientCollector(model, modules, projection_args) as collector:
        writer = _ShardWriter(path, index_args.shard_size, collector.specs)
        pre = _PreconditionerBuild(model, task, collector, preconditioner_args, device)
        with tqdm(total=n, desc="attribution index", unit="ex", disable=None if progress is None else not progress) as bar:
            for start, stop, batch in _batches(dataset, index_args.batch_size, collate_fn, device):
                rows = _example_rows(collector, batch, lambda _, example: task.compute_train_loss(example, model),
                                     pre.factor_observer)
                if rows.shape[0] != stop - start:
                    raise AttributionError(f"batch {start}:{stop} produced {rows.shape[0]} gradient rows")
                rows = rows.to(torch.float32)
                require_finite(rows, start, "training example")
                # The preconditioner sees exactly the float32 rows that the index stores.
                pre.first_pass(batch, start, stop, rows)
                writer.add(rows, ids[start:stop])
                bar.update(stop - start)
        writer.flush()
        if pre.needs_second_pass:
            pre.second_pass(path, writer.shards, dataset, index_args.batch_size, collate_fn, device, progress)
        specs = collector.specs
        dim = collector.dim
    save_preconditioner(path, pre.finalize())
    manifest = IndexManifest(
        model_fingerprint=model_fingerprint(model),
        projection=asdict(projection_args),
        layers=[asdict(s) for s in specs],
        dim=dim,
        shards=writer.shards,
        total_examples=n,
        row_exponents=writer.row_exponents,
    )
    _write_manifest(path, manifest)
    return Index(path, manifest)
