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
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from attribution.errors import AttributionError
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


# ------------------------------------------------------------ the served kind
#
# The "digits" model kind of Payable AI (attribution.payable.models): the same
# logistic regression, trained on the examples of on-chain contributions.
#
# Contribution blob (the content behind a contribution's contentHash): UTF-8 JSON
# `{"x": [[64 ints 0..16], ...], "y": [labels 0..9]}`, one row of `x` (an 8x8
# image, row-major, the intensities of scikit-learn's digits) per label in `y`,
# at least one example. Inference input: 64 bytes, one intensity 0..16 each;
# output: one byte, the predicted class. A query's measurement is the
# log-probability of the returned class, so attribution explains the output the
# requester paid for.
#
# Model directory: model.json (canonical JSON, `attribution.payable.record`),
# model.safetensors (the weights), training.safetensors (x uint8, y and
# contribution_ids int64, examples in ascending contribution id then blob
# order) and, after `build_index`, index/ (the gradient index with its
# preconditioner). model.json records the sha256 of both files and the index
# digest, so its hash, the index version, names all of them.

MODEL_KIND = "digits"
MODEL_FORMAT = 1
PIXELS = 64
MAX_INTENSITY = 16
CLASSES = 10
WEIGHTS_FILE = "model.safetensors"
TRAINING_FILE = "training.safetensors"
INDEX_DIR = "index"


def contribution_blob(x: Any, y: Any) -> bytes:
    """The canonical blob of a contribution's examples (`x`: n x 64 ints 0..16, `y`: n labels)."""
    from attribution.payable.record import canonical_json

    rows = [[int(v) for v in row] for row in (x.tolist() if hasattr(x, "tolist") else x)]
    labels = [int(v) for v in (y.tolist() if hasattr(y, "tolist") else y)]
    blob = canonical_json({"x": rows, "y": labels})
    parse_contribution(blob)
    return blob


def parse_contribution(blob: bytes, contribution_id: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(x uint8 (n, 64), y int64 (n,)) of a contribution blob; `InputError` names what is wrong."""
    import json

    from attribution.payable.models import InputError

    where = f"contribution {contribution_id}" if contribution_id is not None else "contribution blob"
    try:
        data = json.loads(bytes(blob).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{where} is not UTF-8 JSON: {exc}") from exc
    if not isinstance(data, dict) or set(data) != {"x", "y"}:
        raise InputError(f'{where} must be an object with exactly the keys "x" and "y"')
    x, y = data["x"], data["y"]
    if not isinstance(x, list) or not isinstance(y, list) or len(x) != len(y):
        raise InputError(f'{where}: "x" and "y" must be lists of the same length')
    if not x:
        raise InputError(f"{where} holds no examples")
    for i, row in enumerate(x):
        if not isinstance(row, list) or len(row) != PIXELS:
            raise InputError(f"{where}: x[{i}] must be a list of {PIXELS} intensities")
        for j, v in enumerate(row):
            if type(v) is not int or not 0 <= v <= MAX_INTENSITY:
                raise InputError(f"{where}: x[{i}][{j}] = {v!r} is not an integer in 0..{MAX_INTENSITY}")
    for i, label in enumerate(y):
        if type(label) is not int or not 0 <= label < CLASSES:
            raise InputError(f"{where}: y[{i}] = {label!r} is not a digit class 0..{CLASSES - 1}")
    return torch.tensor(x, dtype=torch.uint8), torch.tensor(y, dtype=torch.int64)


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def train(contributions: list[tuple[int, bytes]], out_dir: Path, seed: int = 0, steps: int = TRAIN_STEPS) -> None:
    """Train the digits model on contributed examples and write the model directory.

    Examples are ordered by contribution id (then by position in the blob), so
    the weights do not depend on the order the contributions were fetched in;
    training is `train_logistic_regression` (seeded, one thread, bit-identical).
    Any previous index in `out_dir` is removed: it belonged to other weights.
    """
    import shutil

    from safetensors.torch import save_file

    from attribution.payable.models import InputError
    from attribution.payable.record import write_model_json

    if not contributions:
        raise InputError("no contributions to train on")
    ordered = sorted(contributions, key=lambda item: item[0])
    ids = [cid for cid, _ in ordered]
    if len(set(ids)) != len(ids):
        raise InputError("a contribution id appears twice")
    xs, ys, tags = [], [], []
    for cid, blob in ordered:
        x, y = parse_contribution(blob, cid)
        xs.append(x)
        ys.append(y)
        tags.append(torch.full((len(y),), cid, dtype=torch.int64))
    x_all, y_all, tag_all = torch.cat(xs), torch.cat(ys), torch.cat(tags)
    model = train_logistic_regression(x_all.to(torch.float64) / MAX_INTENSITY, y_all, seed, steps)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.json").unlink(missing_ok=True)
    shutil.rmtree(out / INDEX_DIR, ignore_errors=True)
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(out / WEIGHTS_FILE))
    save_file({"x": x_all.contiguous(), "y": y_all.contiguous(), "contribution_ids": tag_all.contiguous()},
              str(out / TRAINING_FILE))
    write_model_json(out, {
        "kind": MODEL_KIND,
        "format": MODEL_FORMAT,
        "architecture": {"type": "linear", "inputs": PIXELS, "classes": CLASSES, "dtype": "float64"},
        "training": {"seed": seed, "steps": steps, "examples": len(y_all), "contributions": ids,
                     "file": TRAINING_FILE, "sha256": _sha256(out / TRAINING_FILE)},
        "weights": {"file": WEIGHTS_FILE, "sha256": _sha256(out / WEIGHTS_FILE)},
        "index": None,
    })


def _load_trained(model_dir: Path, meta: dict[str, Any]) -> tuple[nn.Linear, torch.Tensor, torch.Tensor, torch.Tensor]:
    from safetensors.torch import load_file

    from attribution.payable.models import ModelDirError

    for part in ("weights", "training"):
        entry = meta.get(part)
        if not isinstance(entry, dict):
            raise ModelDirError(f"{model_dir}/model.json has no {part!r} entry")
        path = model_dir / entry["file"]
        if not path.is_file():
            raise ModelDirError(f"{path} is missing")
        if _sha256(path) != entry["sha256"]:
            raise ModelDirError(f"{path} does not match the sha256 in model.json")
    state = load_file(str(model_dir / meta["weights"]["file"]))
    model = nn.Linear(PIXELS, CLASSES).to(torch.float64)
    model.load_state_dict(state)
    model.eval()
    training = load_file(str(model_dir / meta["training"]["file"]))
    return model, training["x"], training["y"], training["contribution_ids"]


def index_digest(index_dir: Path) -> str:
    """sha256 of an index's content: the manifest without its shard layout, every
    row's stored values and contribution id in row order, and the preconditioner
    file. The shard size only changes how rows are cut into files, not the
    digest, so two builds that score identically have the same digest."""
    import hashlib
    import json

    from attribution.index import MANIFEST_NAME, PRECONDITIONER_NAME, load_index

    manifest = json.loads((index_dir / MANIFEST_NAME).read_text())
    manifest.pop("shards", None)
    rows, ids = hashlib.sha256(), hashlib.sha256()
    for _, shard_rows, shard_ids in load_index(index_dir).iter_shards():
        rows.update(shard_rows.contiguous().numpy().tobytes())
        ids.update(shard_ids.contiguous().numpy().tobytes())
    pre = index_dir / PRECONDITIONER_NAME
    h = hashlib.sha256(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode())
    h.update(rows.digest() + ids.digest())
    h.update(hashlib.sha256(pre.read_bytes() if pre.is_file() else b"").digest())
    return h.hexdigest()


def build_index(model_dir: Path, *, batch_size: int = 64, shard_size: int = 4096, rank_in: int | None = None,
                rank_out: int | None = None, preconditioner: str | None = None, fisher: str | None = None,
                samples: int | None = None, damping: float | None = None, seed: int | None = None,
                normalize: bool = False, progress: bool | None = False) -> None:
    """Build the gradient index of a trained digits model directory (its index/)
    from the tagged training set, and record the index's digest and scoring
    options in model.json. `batch_size` and `shard_size` change neither the
    index's content nor any score; the others are `openledger-attribution index`'s
    (`seed` is the projection's), the engine's defaults where None."""
    from attribution.arguments import (
        IndexArguments,
        PreconditionerArguments,
        ProjectionArguments,
    )
    from attribution.index import build_index as build_gradient_index
    from attribution.payable.record import read_model_json, write_model_json

    directory = Path(model_dir)
    meta = read_model_json(directory)
    model, x, y, ids = _load_trained(directory, meta)
    projection = ProjectionArguments()
    if rank_in is not None:
        projection = replace(projection, rank_in=rank_in)
    if rank_out is not None:
        projection = replace(projection, rank_out=rank_out)
    if seed is not None:
        projection = replace(projection, seed=seed)
    pre_args = PreconditionerArguments()
    if preconditioner is not None:
        pre_args = replace(pre_args, kind=preconditioner)
    if fisher is not None:
        pre_args = replace(pre_args, fisher=fisher)
    if damping is not None:
        pre_args = replace(pre_args, damping=damping)
    if samples is not None:
        pre_args = replace(pre_args, samples=samples)
    dataset = cast(Sequence[Any], TensorDataset(x.to(torch.float64) / MAX_INTENSITY, y))
    build_gradient_index(model, DigitsTask(), dataset, ids, directory / INDEX_DIR, projection_args=projection,
                         index_args=IndexArguments(shard_size=shard_size, batch_size=batch_size),
                         preconditioner_args=pre_args, progress=progress)
    from dataclasses import asdict

    meta["index"] = {"dir": INDEX_DIR, "digest": index_digest(directory / INDEX_DIR),
                     "projection": asdict(projection), "preconditioner": asdict(pre_args),
                     "score": {"normalize": normalize}}
    write_model_json(directory, meta)


class DigitsServedModel:
    """A trained and indexed digits model directory, ready to serve and attribute.

    Scoring holds the index in memory (`Scorer`); one query is scored at a
    time under a lock (the gradient hooks are not thread-safe), and the exact
    engine makes its scores the same bits in any batch, on any thread count.
    """

    kind = MODEL_KIND

    def __init__(self, model_dir: Path) -> None:
        import threading

        from attribution.payable.models import ModelDirError
        from attribution.payable.record import index_version_of, read_model_json
        from attribution.scoring import Scorer

        self.model_dir = Path(model_dir)
        meta = read_model_json(self.model_dir)
        if meta.get("kind") != MODEL_KIND or meta.get("format") != MODEL_FORMAT:
            raise ModelDirError(f"{self.model_dir} is not a digits model directory of format {MODEL_FORMAT}")
        self.model, _, _, _ = _load_trained(self.model_dir, meta)
        index = meta.get("index")
        if not isinstance(index, dict):
            raise ModelDirError(f"{self.model_dir} has no attribution index: run `openledger-attribution index --model-dir {self.model_dir}`")
        index_dir = self.model_dir / index["dir"]
        try:
            digest = index_digest(index_dir)
        except (OSError, ValueError, AttributionError) as exc:
            raise ModelDirError(f"{index_dir}: cannot read the index ({exc})") from exc
        if digest != index["digest"]:
            raise ModelDirError(f"{index_dir} does not match the index digest in model.json")
        self.normalize = bool(index["score"]["normalize"])
        self.index_version = index_version_of(meta)
        self.scorer = Scorer(self.model, DigitsTask(), index_dir)
        self._lock = threading.Lock()

    def parse_input(self, data: bytes) -> torch.Tensor:
        """The (1, 64) float64 image of 64 intensity bytes."""
        from attribution.payable.models import InputError

        data = bytes(data)
        if len(data) != PIXELS:
            raise InputError(f"digits input must be {PIXELS} bytes (one intensity 0..{MAX_INTENSITY} per pixel), got {len(data)}")
        bad = next((i for i, v in enumerate(data) if v > MAX_INTENSITY), None)
        if bad is not None:
            raise InputError(f"digits input byte {bad} is {data[bad]}, above the maximum intensity {MAX_INTENSITY}")
        return torch.tensor(list(data), dtype=torch.float64).unsqueeze(0) / MAX_INTENSITY

    def infer(self, parsed: torch.Tensor) -> bytes:
        with torch.no_grad():
            return bytes([int(self.model(parsed).argmax(dim=1)[0])])

    def _target(self, output: bytes) -> int:
        from attribution.payable.models import InputError

        if len(output) != 1 or output[0] >= CLASSES:
            raise InputError(f"digits output must be one byte, a class 0..{CLASSES - 1}, got 0x{bytes(output).hex()}")
        return output[0]

    def attribute_batch(self, queries: list[tuple[bytes, bytes]], query_batch_size: int = 64) -> list[dict[int, Fraction]]:
        """Exact per-contribution scores of several (input, output) queries at
        once: each contribution's sum of positive example scores, what the
        reward split takes (`ScoreResult.exact_positive_of`)."""
        from attribution.arguments import ScoreArguments

        inputs = torch.cat([self.parse_input(data) for data, _ in queries])
        targets = torch.tensor([self._target(output) for _, output in queries], dtype=torch.int64)
        args = ScoreArguments(top_k=1, query_batch_size=query_batch_size, normalize=self.normalize)
        with self._lock:
            result = self.scorer.score((inputs, targets), args)
        return [result.exact_positive_of(i) for i in range(len(queries))]

    def attribute(self, input: bytes, output: bytes) -> dict[int, Fraction]:
        return self.attribute_batch([(input, output)], query_batch_size=1)[0]


def load_served(model_dir: Path) -> DigitsServedModel:
    return DigitsServedModel(Path(model_dir))


def example_contributions(n_contributions: int, examples_each: int, offset: int = 0) -> list[bytes]:
    """Blobs of `n_contributions` contributions cut from the bundled training
    digits, `examples_each` examples each, starting at training example `offset`
    (for demos and tests: scikit-learn's digits need no download)."""
    x_train, y_train, _, _ = load_digits_split()
    need = offset + n_contributions * examples_each
    if need > len(y_train):
        raise ValueError(f"{n_contributions} x {examples_each} examples from {offset} exceed the {len(y_train)} training digits")
    pixels = torch.round(x_train * MAX_INTENSITY).to(torch.int64)
    return [contribution_blob(pixels[s : s + examples_each], y_train[s : s + examples_each])
            for s in range(offset, need, examples_each)]


def input_bytes(image: torch.Tensor) -> bytes:
    """The 64 inference-input bytes of one image with pixel values in 0..1 (as `load_digits_split`)."""
    values = torch.round(image.reshape(-1) * MAX_INTENSITY).to(torch.int64).tolist()
    return bytes(values)
