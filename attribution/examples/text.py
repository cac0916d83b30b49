"""The text example model: a character-level generator trained on contributed text,
with span attribution of what it generates.

Where it sits in the Payable-AI loop: `openledger-attribution train --kind text`
fetches the accepted contributions of some datanets (UTF-8 text blobs) and calls
`train`; `openledger-attribution index --model-dir` calls `build_index`; the
inference service and the verifier call `load_served` and then the
`ServedModel` methods (`parse_input`, `infer`, `attribute`).

The model is a fixed-window character MLP (Bengio et al. style): the last
`CONTEXT` characters, embedded and concatenated, one ReLU hidden layer, logits
over the corpus's characters plus an end-of-text token. It is trained in float32
on one thread with deterministic algorithms, so a rerun on the same machine
writes the same weight bytes. Inference does not run the float32 model: the
weights are rounded once to fixed-point grids and every activation is an
integer held in float64, so each matrix product is exact (partial sums stay
below 2^53) and the logits, hence the greedy output, are the same bits on any
thread count, batch shape, CPU or GPU.

Model directory (`model.json`, canonical JSON of `attribution.payable.record`,
kind "text", format 1):

- `weights.safetensors`: the float32 weights (their sha256 in model.json);
- `corpus.jsonl`: the tagged training set, one `{"contribution_id", "text"}`
  per line, ids ascending (sha256 in model.json);
- `span_index/`: the suffix-array index of the training set over Unicode code
  points (`attribution.spans`), written by `build_index`, which records its
  digest and matching rule in model.json.

The served model's `index_version` is keccak256 of model.json's canonical
bytes (`attribution.payable.record.index_version`), so it names the weights,
the training set and the index a result was computed with.

Attribution (`TextModel.attribute`): the prompt and the output, as code points,
are scanned by `SpanIndex.find_spans` (greedy longest exact matches of at least
`min_length` characters, document boundaries never crossed); each span earns
one unit per OUTPUT character it covers, split equally among the contributions
that contain it, as exact `Fraction`s. The prompt takes part in the matching so
that an output continuing a contributor's phrase is credited to the contributor
whose text holds prompt and continuation together, but the prompt itself earns
nothing: contributors are paid for what the model produced.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from attribution.errors import AttributionError
from attribution.exact import exponent_of, pow2
from attribution.payable.models import InputError, ModelDirError
from attribution.payable.record import (
    canonical_json,
    index_version_of,
    read_model_json,
    write_model_json,
)
from attribution.spans import SpanIndex

KIND = "text"
MODEL_FORMAT = 1
MODEL_FILE = "model.json"
WEIGHTS_FILE = "weights.safetensors"
CORPUS_FILE = "corpus.jsonl"
INDEX_DIR = "span_index"

CONTEXT = 24  # characters the model sees
EMBED = 16
HIDDEN = 128
EPOCHS = 20
BATCH_SIZE = 256
LEARNING_RATE = 6e-3

BOUNDARY = 0  # token id: context before a document's start, and the end-of-text output
MAX_PROMPT_BYTES = 1024
MAX_NEW_CHARS = 80
DEFAULT_MIN_LENGTH = 12  # characters; shorter exact matches are common English, not copying

# Fixed-point grids of the exact inference. Activations are integers times
# 2^-ACTIVATION_FRACTION_BITS, clamped to 2^ACTIVATION_BITS units; each weight
# matrix is integers of at most WEIGHT_BITS bits times a power of two of its own.
ACTIVATION_FRACTION_BITS = 14
ACTIVATION_BITS = 24
WEIGHT_BITS = 15
_FLOAT64_EXACT = 2**53

_CORPUS_DIR = Path(__file__).with_name("text_corpus")


# ---------------------------------------------------------------- files


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_model_json(model_dir: Path) -> dict[str, Any]:
    """model.json of a text model directory of this format."""
    try:
        meta = read_model_json(model_dir)
    except AttributionError as exc:
        raise ModelDirError(str(exc)) from exc
    if meta["kind"] != KIND or meta.get("format") != MODEL_FORMAT:
        raise ModelDirError(
            f"{model_dir / MODEL_FILE} is a {meta['kind']} model of format {meta.get('format')!r}, "
            f"not a {KIND} model of format {MODEL_FORMAT}"
        )
    return meta


def _checked_file(model_dir: Path, meta: Mapping[str, Any], part: str) -> Path:
    """The file model.json records under `part`, present and matching its sha256."""
    entry = meta.get(part)
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
        raise ModelDirError(f"{model_dir / MODEL_FILE} has no {part!r} entry")
    path = model_dir / str(entry["file"])
    if not path.is_file():
        raise ModelDirError(f"{path} is missing")
    if _sha256_file(path) != entry.get("sha256"):
        raise ModelDirError(f"{path} does not match the sha256 in model.json")
    return path


def _decode_contributions(contributions: Sequence[tuple[int, bytes]]) -> list[tuple[int, str]]:
    """(id, text) sorted by id; every id a positive int, unique, every blob non-empty UTF-8."""
    documents: dict[int, str] = {}
    for item in contributions:
        contribution_id, blob = item
        if not isinstance(contribution_id, int) or isinstance(contribution_id, bool) or contribution_id <= 0:
            raise InputError(f"contribution id {contribution_id!r} is not a positive integer")
        if contribution_id in documents:
            raise InputError(f"contribution {contribution_id} appears twice")
        if not isinstance(blob, (bytes, bytearray)):
            raise InputError(f"contribution {contribution_id}: content is {type(blob).__name__}, expected bytes")
        try:
            text = bytes(blob).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"contribution {contribution_id} is not UTF-8 text: {exc.reason} at byte {exc.start}") from None
        if not text:
            raise InputError(f"contribution {contribution_id} is empty")
        if "\x00" in text:
            raise InputError(f"contribution {contribution_id} contains a NUL character")
        documents[contribution_id] = text
    if not documents:
        raise InputError("no contributions to train on")
    return sorted(documents.items())


def _read_corpus(model_dir: Path, meta: Mapping[str, Any]) -> list[tuple[int, str]]:
    path = _checked_file(model_dir, meta, "training_set")
    documents = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        documents.append((int(row["contribution_id"]), str(row["text"])))
    return documents


def example_contributions() -> list[tuple[int, bytes]]:
    """The bundled example corpus as (contribution id, UTF-8 bytes), ids 1.. in
    the order of text_corpus/corpus.json (datanet by datanet)."""
    return [(cid, blob) for cid, _, blob in example_datanets()]


def example_datanets() -> list[tuple[int, str, bytes]]:
    """(contribution id, datanet name, UTF-8 bytes) of the bundled example corpus."""
    manifest = json.loads((_CORPUS_DIR / "corpus.json").read_text(encoding="utf-8"))
    rows: list[tuple[int, str, bytes]] = []
    for datanet in manifest["datanets"]:
        for name in datanet["contributions"]:
            rows.append((len(rows) + 1, str(datanet["name"]), (_CORPUS_DIR / name).read_bytes()))
    return rows


# ---------------------------------------------------------------- the model


class CharMLP(nn.Module):
    """Logits of the next character (index 0: end of text) from the last CONTEXT token ids."""

    def __init__(self, vocab_size: int, context: int = CONTEXT, embed: int = EMBED, hidden: int = HIDDEN) -> None:
        super().__init__()
        # Input ids: 0 boundary, 1..V characters, V+1 a character the corpus never had (embedding kept 0).
        self.embedding = nn.Embedding(vocab_size + 2, embed, padding_idx=vocab_size + 1)
        self.hidden = nn.Linear(context * embed, hidden)
        self.output = nn.Linear(hidden, vocab_size + 1)

    def forward(self, contexts: torch.Tensor) -> torch.Tensor:
        x = self.embedding(contexts).flatten(1)
        logits: torch.Tensor = self.output(F.relu(self.hidden(x)))
        return logits


def _training_examples(documents: Sequence[tuple[int, str]], vocab: str, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every (previous `context` ids, next id) pair of every document, end of text included."""
    ids = {ch: i + 1 for i, ch in enumerate(vocab)}
    contexts: list[list[int]] = []
    targets: list[int] = []
    for _, text in documents:
        seq = [BOUNDARY] * context + [ids[ch] for ch in text] + [BOUNDARY]
        for t in range(context, len(seq)):
            contexts.append(seq[t - context : t])
            targets.append(seq[t])
    return torch.tensor(contexts, dtype=torch.int64), torch.tensor(targets, dtype=torch.int64)


def train(contributions: list[tuple[int, bytes]], out_dir: Path, seed: int = 0) -> None:
    """Train the text model on `(contribution_id, UTF-8 text)` and write `out_dir`.

    Deterministic: the contributions are sorted by id, the initialisation and the
    minibatch order come from `seed`, and the run uses one thread with torch's
    deterministic algorithms, so the same inputs give the same weight bytes and
    the same model.json on this machine (and on any machine with the same
    torch build and CPU family). A previous model.json and span index in
    `out_dir` are removed first: they belonged to other weights.
    """
    out_dir = Path(out_dir)
    documents = _decode_contributions(contributions)
    vocab = "".join(sorted({ch for _, text in documents for ch in text}))
    contexts, targets = _training_examples(documents, vocab, CONTEXT)

    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        torch.manual_seed(seed)
        model = CharMLP(len(vocab), CONTEXT, EMBED, HIDDEN)
        optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
        order_rng = torch.Generator().manual_seed(seed)
        for _ in range(EPOCHS):
            order = torch.randperm(len(targets), generator=order_rng)
            for start in range(0, len(order), BATCH_SIZE):
                batch = order[start : start + BATCH_SIZE]
                optimizer.zero_grad()
                loss = F.cross_entropy(model(contexts[batch]), targets[batch])
                loss.backward()  # type: ignore[no-untyped-call]
                optimizer.step()
    finally:
        torch.use_deterministic_algorithms(deterministic)
        torch.set_num_threads(threads)

    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MODEL_FILE).unlink(missing_ok=True)
    shutil.rmtree(out_dir / INDEX_DIR, ignore_errors=True)
    state = {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()}
    save_file(state, str(out_dir / WEIGHTS_FILE))
    lines = (canonical_json({"contribution_id": cid, "text": text}) + b"\n" for cid, text in documents)
    (out_dir / CORPUS_FILE).write_bytes(b"".join(lines))
    meta = {
        "kind": KIND,
        "format": MODEL_FORMAT,
        "vocabulary": vocab,
        "architecture": {"name": "char-mlp", "context": CONTEXT, "embed": EMBED, "hidden": HIDDEN},
        "training": {
            "seed": seed,
            "epochs": EPOCHS,
            "batch_size": BATCH_SIZE,
            "learning_rate": repr(LEARNING_RATE),
            "optimizer": "adam",
            "threads": 1,
            "torch": torch.__version__,
            "examples": len(targets),
        },
        "weights": {"file": WEIGHTS_FILE, "sha256": _sha256_file(out_dir / WEIGHTS_FILE)},
        "training_set": {
            "file": CORPUS_FILE,
            "sha256": _sha256_file(out_dir / CORPUS_FILE),
            "contributions": [contribution_id for contribution_id, _ in documents],
        },
        "generation": {"max_prompt_bytes": MAX_PROMPT_BYTES, "max_new_chars": MAX_NEW_CHARS, "decoding": "greedy"},
        "inference": {
            "arithmetic": "fixed-point",
            "activation_fraction_bits": ACTIVATION_FRACTION_BITS,
            "activation_bits": ACTIVATION_BITS,
            "weight_bits": WEIGHT_BITS,
        },
        "index": None,
    }
    write_model_json(out_dir, meta)


# ---------------------------------------------------------------- the index


def _index_digest(index: SpanIndex) -> str:
    """sha256 over the index arrays' values (name, length, little-endian int64 bytes),
    independent of the suffix-array backend and the .npy header format."""
    digest = hashlib.sha256()
    for name in ("tokens", "suffix_array", "doc_starts", "doc_contributions"):
        values = np.ascontiguousarray(getattr(index, name), dtype="<i8")
        digest.update(name.encode("ascii") + len(values).to_bytes(8, "big") + values.tobytes())
    return digest.hexdigest()


def build_index(model_dir: Path, *, min_length: int = DEFAULT_MIN_LENGTH, **options: Any) -> None:
    """Build the span index of the model's training set under `model_dir/span_index`
    and record its digest and matching rule in model.json."""
    if options:
        raise ValueError(f"the text model's index takes no option {', '.join(sorted(options))} (only min_length)")
    if isinstance(min_length, bool) or not isinstance(min_length, int) or min_length < 1:
        raise ValueError(f"min_length must be a positive integer, got {min_length!r}")
    model_dir = Path(model_dir)
    meta = _read_model_json(model_dir)
    documents = _read_corpus(model_dir, meta)
    index = SpanIndex.build([(cid, [ord(ch) for ch in text]) for cid, text in documents])
    index.save(model_dir / INDEX_DIR)
    meta["index"] = {
        "dir": INDEX_DIR,
        "kind": "span",
        "tokens": "unicode-code-points",
        "digest": _index_digest(index),
        "min_length": min_length,
        "credit": "output-characters",
    }
    write_model_json(model_dir, meta)


# ---------------------------------------------------------------- exact inference


def _weight_grid(weight: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Integers k (|k| <= 2^WEIGHT_BITS, float64) and s with weight ~ k * 2^-s."""
    w = weight.to(torch.float64)
    e = int(exponent_of(w.abs().amax().reshape(1))[0]) if w.numel() else 0
    shift = WEIGHT_BITS - e
    return torch.round(w * pow2(torch.tensor(shift))), shift


class _ExactMLP:
    """The trained CharMLP evaluated in fixed point: integer activations and weights
    carried in float64, every product exact, so the logits do not depend on
    the device, the thread count or the kernels."""

    def __init__(self, state: Mapping[str, torch.Tensor], device: torch.device) -> None:
        unit = float(2**ACTIVATION_FRACTION_BITS)
        limit = float(2**ACTIVATION_BITS)
        self.limit = limit
        self.embedding = torch.round(state["embedding.weight"].to(torch.float64) * unit).clamp(-limit, limit).to(device)
        self.layers: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        for name in ("hidden", "output"):
            k, shift = _weight_grid(state[f"{name}.weight"])
            bias = torch.round(state[f"{name}.bias"].to(torch.float64) * pow2(torch.tensor(shift + ACTIVATION_FRACTION_BITS)))
            inner = k.shape[1]
            bound = inner * 2**ACTIVATION_BITS * float(k.abs().max()) + float(bias.abs().max())
            if bound >= _FLOAT64_EXACT:
                raise ModelDirError(f"layer {name} is too wide for exact inference ({inner} inputs)")
            self.layers.append((k.t().contiguous().to(device), bias.to(device), pow2(torch.tensor(-shift)).to(device)))
        self.device = device

    def logits(self, contexts: torch.Tensor) -> torch.Tensor:
        """Exact integer logits (float64, shape (n, classes)) of (n, context) token ids;
        each row's bits do not depend on n or on the other rows."""
        x = self.embedding[contexts.to(self.device)].flatten(1)
        (w1, b1, down1), (w2, b2, _) = self.layers
        hidden = torch.floor((x @ w1 + b1) * down1).clamp(0.0, self.limit)  # ReLU, back to the activation grid
        return hidden @ w2 + b2


# ---------------------------------------------------------------- the served model


class TextModel:
    """A trained and indexed text model, as the inference service and the verifier use it."""

    kind = KIND

    def __init__(self, model_dir: Path, device: str | torch.device = "cpu") -> None:
        self.model_dir = Path(model_dir)
        meta = _read_model_json(self.model_dir)
        self.meta = meta
        self.index_version = index_version_of(meta)
        weights_path = _checked_file(self.model_dir, meta, "weights")
        index_meta = meta.get("index")
        if not isinstance(index_meta, dict):
            raise ModelDirError(
                f"{self.model_dir} has no span index: run `openledger-attribution index --model-dir {self.model_dir}`"
            )
        index_dir = self.model_dir / index_meta["dir"]
        try:
            self.index = SpanIndex.load(index_dir)
        except (OSError, ValueError, AttributionError) as exc:
            raise ModelDirError(f"{index_dir}: cannot read the span index ({exc})") from exc
        if _index_digest(self.index) != index_meta["digest"]:
            raise ModelDirError(f"{index_dir} does not match the index digest in model.json")
        self.min_length = int(index_meta["min_length"])

        from safetensors.torch import load_file

        state = load_file(str(weights_path))
        self.vocabulary: str = meta["vocabulary"]
        self._ids = {ch: i + 1 for i, ch in enumerate(self.vocabulary)}
        self._unknown = len(self.vocabulary) + 1
        self.context = int(meta["architecture"]["context"])
        self.max_prompt_bytes = int(meta["generation"]["max_prompt_bytes"])
        self.max_new_chars = int(meta["generation"]["max_new_chars"])
        self._net = _ExactMLP(state, torch.device(device))

    # ServedModel -----------------------------------------------------------

    def parse_input(self, data: bytes) -> str:
        """The prompt: non-empty UTF-8, at most `max_prompt_bytes` bytes, no NUL."""
        if not isinstance(data, (bytes, bytearray)):
            raise InputError(f"prompt must be bytes, got {type(data).__name__}")
        if not data:
            raise InputError("prompt is empty")
        if len(data) > self.max_prompt_bytes:
            raise InputError(f"prompt is {len(data)} bytes, the limit is {self.max_prompt_bytes}")
        try:
            prompt = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"prompt is not valid UTF-8: {exc.reason} at byte {exc.start}") from None
        if "\x00" in prompt:
            raise InputError(f"prompt contains a NUL character at byte {data.index(0)}")
        return prompt

    def infer(self, parsed: str) -> bytes:
        """Greedy continuation of the prompt, at most `max_new_chars` characters
        (fewer when the model ends the text), as UTF-8."""
        ids = [BOUNDARY] * self.context + [self._ids.get(ch, self._unknown) for ch in parsed]
        generated: list[str] = []
        with torch.no_grad():
            for _ in range(self.max_new_chars):
                logits = self._net.logits(torch.tensor([ids[-self.context :]], dtype=torch.int64))[0]
                # The first maximal id: ties go to the lower id on every device.
                best = int(torch.nonzero(logits == logits.max())[0, 0])
                if best == BOUNDARY:
                    break
                generated.append(self.vocabulary[best - 1])
                ids.append(best)
        return "".join(generated).encode("utf-8")

    def attribute(self, input: bytes, output: bytes) -> dict[int, Fraction]:
        """Contribution id -> exact credit: output characters covered by spans
        (of prompt + output) that occur verbatim in that contribution."""
        prompt = self.parse_input(input)
        try:
            text = bytes(output).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"output is not valid UTF-8: {exc.reason} at byte {exc.start}") from None
        return span_credit(self.index, prompt, text, self.min_length)

    # helpers ----------------------------------------------------------------

    def generate(self, prompt: str) -> str:
        """`infer` on a str prompt, decoded."""
        return self.infer(self.parse_input(prompt.encode("utf-8"))).decode("utf-8")


def span_credit(index: SpanIndex, prompt: str, output: str, min_length: int) -> dict[int, Fraction]:
    """The attribution rule of the module docstring, on strings."""
    tokens = [ord(ch) for ch in prompt + output]
    first_output = len(prompt)
    credit: dict[int, Fraction] = {}
    for span in index.find_spans(tokens, min_length):
        covered = span.end - max(span.start, first_output)
        if covered <= 0:
            continue
        share = Fraction(covered, len(span.contribution_ids))
        for contribution_id in span.contribution_ids:
            credit[contribution_id] = credit.get(contribution_id, Fraction(0)) + share
    return credit


def load_served(model_dir: Path, device: str | torch.device = "cpu") -> TextModel:
    """The served text model in `model_dir` (trained and indexed), on `device`."""
    return TextModel(Path(model_dir), device)
