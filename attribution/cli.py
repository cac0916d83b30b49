"""`openledger-attribution`: build attribution indexes and score queries from the shell.

The operator's entry to the attribution engine (task -> index -> scoring ->
reward split): `index` / `score` run gradient influence for a model described by
a *setup* (`--setup MODULE:FACTORY`), `spans-index` / `spans-score` run span
matching for language-model output. Every score command prints the integer
weights and the `attributionHash` a provider posts with `PayableAI.settle`.

A setup factory returns an object with `model`, `task` (a `Task`),
`train_dataset`, `contribution_ids`, and optionally `collate_fn` and
`load_queries(path)` (the query file format belongs to the setup; without the
hook the file is `torch.load`-ed as is). `attribution.examples.digits:digits_setup`
is a ready one.

queryHash of gradient queries: keccak256 of query i's canonical bytes. The query
batch is split into its leaf tensors (a tensor; a tuple/list in order; a dict by
sorted key), each leaf's row i is taken, and for each leaf the bytes
`"<key>:<dtype>:<shape>\\n"` (key = position or dict key, shape of the row, e.g.
`0:torch.float64:(64,)`) are followed by the row's little-endian C-order bytes.
The hash thus covers exactly what was scored (inputs and the targets measured),
one hash per query, independent of the file's serialisation.

`index --model-dir DIR` instead builds the index of a Payable-AI model directory
(written by `train`) with its model kind's own builder.

The Payable-AI commands (datanets, contributions, training from on-chain
contributions, model registration, requests, earnings, claims, stake, the
content server) live in `attribution.payable.commands`; `serve` and `verify` in
the inference service and the verifier modules. All are wired in `build_parser`.

Input errors (a missing index, a bad setup, an unreadable file, an index built
for another model) end with one line on stderr and exit status 2; a chain
refusal (a revert, decoded to its custom error, or an unreachable node) with
one line and exit status 1.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import torch
from eth_hash.auto import keccak

from attribution.arguments import (
    IndexArguments,
    PreconditionerArguments,
    ProjectionArguments,
    ScoreArguments,
)
from attribution.errors import AttributionError, IndexMismatchError
from attribution.index import build_index, index_exists, load_index
from attribution.payable.chain import AccountError, ChainError
from attribution.scoring import score
from attribution.spans import SpanIndex
from attribution.split import NoPositiveAttribution, attribution_hash, reward_weights

EXIT_INPUT_ERROR = 2
EXIT_CHAIN_ERROR = 1
PAYABLE_COMMAND_MODULES = (
    "attribution.payable.commands",
    "attribution.payable.service",
    "attribution.payable.verifier",
)
"""Modules whose ``register_commands(subparsers)`` adds their subcommands."""
_UINT256_MAX = 2**256 - 1


class CliError(Exception):
    """An input problem, reported as one line with exit status 2."""


# ------------------------------------------------------------------- helpers


def load_setup(spec: str) -> Any:
    """Import `MODULE:FACTORY`, call it, and check the result has what we need."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise CliError(f"--setup must be MODULE:FACTORY, got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CliError(f"--setup: cannot import module {module_name!r}: {exc}") from exc
    factory: Any = module
    for part in attr.split("."):
        if not hasattr(factory, part):
            raise CliError(f"--setup: module {module_name!r} has no attribute {attr!r}")
        factory = getattr(factory, part)
    if not callable(factory):
        raise CliError(f"--setup: {spec} is not callable (it is a {type(factory).__name__})")
    try:
        setup = factory()
    except Exception as exc:  # the factory is the operator's code, run on their input
        raise CliError(f"--setup: {spec}() raised {type(exc).__name__}: {exc}".replace("\n", " ")) from exc
    missing = [name for name in ("model", "task", "train_dataset", "contribution_ids") if not hasattr(setup, name)]
    if missing:
        raise CliError(f"--setup: the object returned by {spec} lacks {', '.join(missing)}")
    return setup


def load_queries(setup: Any, path: Path) -> Any:
    if not path.is_file():
        raise CliError(f"--queries: no file at {path}")
    hook = getattr(setup, "load_queries", None)
    try:
        if hook is not None:
            return hook(path)
        return torch.load(path, map_location="cpu", weights_only=True)
    except CliError:
        raise
    except Exception as exc:  # the hook is the setup's parser of user input
        raise CliError(f"--queries: cannot read {path}: {exc}".replace("\n", " ")) from exc


def _leaves(batch: Any, key: str = "") -> list[tuple[str, torch.Tensor]]:
    if isinstance(batch, torch.Tensor):
        return [(key or "0", batch)]
    if isinstance(batch, dict):
        out: list[tuple[str, torch.Tensor]] = []
        for k in sorted(batch, key=str):
            out += _leaves(batch[k], f"{key}.{k}" if key else str(k))
        return out
    if isinstance(batch, (list, tuple)):
        out = []
        for i, v in enumerate(batch):
            out += _leaves(v, f"{key}.{i}" if key else str(i))
        return out
    raise CliError(f"query batch holds a {type(batch).__name__}; expected tensors in tuples, lists or dicts")


def query_count(batch: Any) -> int:
    leaves = _leaves(batch)
    sizes = {int(t.shape[0]) if t.dim() else -1 for _, t in leaves}
    if len(sizes) != 1 or -1 in sizes:
        raise CliError(f"query tensors must share one leading (batch) dimension, got sizes {sorted(sizes)}")
    return sizes.pop()


def query_canonical_bytes(batch: Any, i: int) -> bytes:
    """Canonical bytes of query `i` (see the module docstring)."""
    out = bytearray()
    for key, tensor in _leaves(batch):
        row = tensor[i].detach().to("cpu").contiguous()
        out += f"{key}:{row.dtype}:{tuple(row.shape)}\n".encode()
        # numpy arrays are native-endian; every platform torch supports is little-endian.
        out += row.numpy().tobytes()
    return bytes(out)


def query_hash(batch: Any, i: int) -> bytes:
    return keccak(query_canonical_bytes(batch, i))


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _parse_hash(text: str) -> bytes:
    body = text[2:] if text.lower().startswith("0x") else text
    try:
        data = bytes.fromhex(body)
    except ValueError:
        raise CliError(f"--query-hash: {text!r} is not hex") from None
    if len(data) != 32:
        raise CliError(f"--query-hash must be 32 bytes (64 hex digits), got {len(data)}")
    return data


def _settle(model_id: int, qhash: bytes, scores: Mapping[int, float | Fraction]) -> tuple[list[list[int]] | None, str | None]:
    """(weights, attributionHash), or (None, None) when nothing is positive (refund)."""
    try:
        weights = reward_weights(scores)
    except NoPositiveAttribution:
        return None, None
    return [[c, w] for c, w in weights], _hex(attribution_hash(model_id, qhash, weights))


def _emit(result: Any, out: Path | None) -> None:
    text = json.dumps(result, indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text)


def _positive_int(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer (decimal or 0x) of at least `minimum`."""

    def parse(text: str) -> int:
        try:
            value = int(text, 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


def _model_id(text: str) -> int:
    value = _positive_int(0)(text)
    if value > _UINT256_MAX:
        raise argparse.ArgumentTypeError("must fit in a uint256")
    return value


# ------------------------------------------------------------------ commands


_INDEX_OPTIONS = ("rank_in", "rank_out", "preconditioner", "fisher", "samples", "damping", "shard_size", "batch_size", "seed")


def cmd_index(args: argparse.Namespace) -> None:
    if args.model_dir is not None:
        if args.setup is not None or args.out is not None:
            raise CliError("--model-dir builds the index inside the model directory: give it without --setup/--out")
        from attribution.payable.commands import index_model_dir

        # Only the options given on the command line: the model kind has its own defaults.
        index_model_dir(args, {k: getattr(args, k) for k in _INDEX_OPTIONS if getattr(args, k) is not None})
        return
    if args.setup is None or args.out is None:
        raise CliError("index needs --setup and --out (or --model-dir for a trained model directory)")
    proj, idx, pre = ProjectionArguments(), IndexArguments(), PreconditionerArguments()
    for name, default in (("rank_in", proj.rank_in), ("rank_out", proj.rank_out), ("seed", proj.seed),
                          ("shard_size", idx.shard_size), ("batch_size", idx.batch_size),
                          ("preconditioner", pre.kind), ("fisher", pre.fisher), ("samples", pre.samples),
                          ("damping", pre.damping)):
        if getattr(args, name) is None:
            setattr(args, name, default)
    setup = load_setup(args.setup)
    kwargs: dict[str, Any] = {}
    if getattr(setup, "collate_fn", None) is not None:
        kwargs["collate_fn"] = setup.collate_fn
    started = time.perf_counter()
    index = build_index(
        setup.model,
        setup.task,
        setup.train_dataset,
        setup.contribution_ids,
        args.out,
        projection_args=ProjectionArguments(rank_in=args.rank_in, rank_out=args.rank_out, seed=args.seed),
        index_args=IndexArguments(shard_size=args.shard_size, batch_size=args.batch_size),
        preconditioner_args=PreconditionerArguments(
            kind=args.preconditioner, fisher=args.fisher, samples=args.samples, damping=args.damping
        ),
        progress=False,
        **kwargs,
    )
    seconds = time.perf_counter() - started
    m = index.manifest
    print(
        f"indexed {m.total_examples} examples in {len(m.shards)} shards, dimension {m.dim}, "
        f"preconditioner {args.preconditioner} ({args.fisher} Fisher), {seconds:.2f} s -> {args.out}"
    )


def cmd_score(args: argparse.Namespace) -> None:
    if not index_exists(args.index):
        raise CliError(f"--index: no complete attribution index at {args.index}")
    load_index(args.index)  # format check before the (slower) setup
    setup = load_setup(args.setup)
    batch = load_queries(setup, args.queries)
    n = query_count(batch)
    try:
        result = score(setup.model, setup.task, args.index, batch,
                       ScoreArguments(top_k=0, normalize=args.normalize, query_batch_size=args.query_batch_size))
    except IndexMismatchError as exc:
        if exc.field == "model_fingerprint":
            raise CliError(
                f"index at {args.index} was built for another model (fingerprint {str(exc.stored)[:16]}..., "
                f"this setup's model is {str(exc.current)[:16]}...); rebuild it with `index`"
            ) from exc
        raise CliError(f"index at {args.index} does not match this setup: {exc}") from exc
    out = []
    for i in range(n):
        # The split comes from the exact sums of positive scores, not from float64
        # roundings; topContributions ranks the same sums.
        exact = result.exact_positive_of(i)
        ranked = sorted(((c, float(v)) for c, v in exact.items()), key=lambda kv: (-kv[1], kv[0]))[: args.top_k]
        qhash = query_hash(batch, i)
        weights, ahash = _settle(args.model_id, qhash, exact)
        out.append(
            {
                "query": i,
                "queryHash": _hex(qhash),
                "topContributions": [[c, s] for c, s in ranked],
                "weights": weights,
                "attributionHash": ahash,
            }
        )
    _emit(out, args.out)


def _read_corpus(path: Path) -> list[tuple[int, list[int]]]:
    if not path.is_file():
        raise CliError(f"--corpus: no file at {path}")
    documents = []
    with path.open() as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                cid, tokens = record["contribution_id"], record["tokens"]
            except (ValueError, TypeError, KeyError) as exc:
                raise CliError(f"--corpus {path} line {number}: expected {{\"contribution_id\": int, \"tokens\": [int...]}} ({exc})") from None
            if not _is_int(cid) or cid < 1 or not isinstance(tokens, list) or not all(_is_int(t) for t in tokens):
                raise CliError(f"--corpus {path} line {number}: contribution_id must be an int >= 1 and tokens a list of ints")
            documents.append((cid, tokens))
    if not documents:
        raise CliError(f"--corpus {path} holds no documents")
    return documents


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def cmd_spans_index(args: argparse.Namespace) -> None:
    documents = _read_corpus(args.corpus)
    started = time.perf_counter()
    try:
        index = SpanIndex.build(documents)
    except ValueError as exc:
        raise CliError(f"--corpus {args.corpus}: {exc}") from exc
    index.save(args.out)
    seconds = time.perf_counter() - started
    contributions = len({c for c, _ in documents})
    print(
        f"indexed {len(documents)} documents of {contributions} contributions, "
        f"{len(index.tokens)} tokens ({index.backend}), {seconds:.2f} s -> {args.out}"
    )


def _read_tokens(path: Path) -> list[int]:
    if not path.is_file():
        raise CliError(f"--tokens: no file at {path}")
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise CliError(f"--tokens {path} is not JSON ({exc})") from None
    if isinstance(data, dict):
        data = data.get("tokens")
    if not isinstance(data, list) or not all(_is_int(t) for t in data):
        raise CliError(f"--tokens {path} must hold a JSON list of ints (or {{\"tokens\": [...]}})")
    return data


def cmd_spans_score(args: argparse.Namespace) -> None:
    qhash = _parse_hash(args.query_hash)
    if not SpanIndex.exists(args.index):
        raise CliError(f"--index: no complete span index at {args.index}")
    index = SpanIndex.load(args.index)
    tokens = _read_tokens(args.tokens)
    spans = index.find_spans(tokens, args.min_length)
    credit = index.attribute(tokens, args.min_length)
    weights, ahash = _settle(args.model_id, qhash, credit)
    _emit(
        {
            "queryHash": _hex(qhash),
            "spans": [{"start": s.start, "end": s.end, "contributionIds": list(s.contribution_ids)} for s in spans],
            "credit": [[c, credit[c]] for c in sorted(credit)],
            "weights": weights,
            "attributionHash": ahash,
        },
        args.out,
    )


# -------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openledger-attribution",
        description="Attribute model outputs to training contributions and compute the settlement split.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    proj, idx, pre = ProjectionArguments(), IndexArguments(), PreconditionerArguments()

    # Option defaults are filled in by cmd_index: with --model-dir only the options
    # given are passed on, and the model kind's own defaults apply to the rest.
    p = sub.add_parser("index", help="build the gradient index of a setup's training data, or of a model directory")
    p.add_argument("--setup", metavar="MODULE:FACTORY", help="callable returning the setup object (with --out)")
    p.add_argument("--out", type=Path, metavar="DIR", help="index directory (replaced)")
    p.add_argument("--model-dir", type=Path, metavar="DIR",
                   help="a model directory written by train: build its kind's index inside it and record it in model.json")
    p.add_argument("--json", action="store_true", help="with --model-dir: print the result as one JSON object")
    p.add_argument("--rank-in", metavar="N", type=_positive_int(1), help=f"projection rank of layer inputs (default {proj.rank_in})")
    p.add_argument("--rank-out", metavar="N", type=_positive_int(1), help=f"projection rank of output gradients (default {proj.rank_out})")
    p.add_argument("--preconditioner", choices=("fisher", "ekfac", "identity"),
                   help=f"full per-layer Fisher, EK-FAC (Kronecker factors, for large ranks), or none (default {pre.kind})")
    p.add_argument("--fisher", choices=("auto", "empirical", "sampled", "exact"),
                   help="Fisher from the training labels' gradients, from targets sampled from the model, or "
                        "its exact expectation over every class (few classes only; the last two need the "
                        "setup's task to define compute_train_logits); auto: sampled when the task "
                        f"defines it, empirical otherwise (default {pre.fisher})")
    p.add_argument("--samples", metavar="N", type=_positive_int(1), help=f"sampled targets per example (default {pre.samples})")
    p.add_argument("--damping", metavar="X", type=float, help=f"relative damping of the preconditioner (default {pre.damping})")
    p.add_argument("--shard-size", metavar="N", type=_positive_int(1), help=f"training examples per shard (default {idx.shard_size})")
    p.add_argument("--batch-size", metavar="N", type=_positive_int(1), help=f"examples per forward/backward pass (default {idx.batch_size})")
    p.add_argument("--seed", metavar="N", type=_positive_int(0), help=f"seed of the projection matrices (default {proj.seed})")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("score", help="score queries against a gradient index and compute the split")
    p.add_argument("--setup", required=True, metavar="MODULE:FACTORY")
    p.add_argument("--index", required=True, type=Path, metavar="DIR")
    p.add_argument("--queries", required=True, type=Path, metavar="FILE", help="query file read by the setup's load_queries")
    p.add_argument("--model-id", required=True, type=_model_id, metavar="N", help="PayableAI model id (uint256)")
    p.add_argument("--top-k", metavar="K", type=_positive_int(0), default=10, help="contributions listed per query (ranked by the sum of their examples' positive scores, what the split pays)")
    p.add_argument("--normalize", action="store_true", help="divide each example's score by its gradient norm")
    p.add_argument("--query-batch-size", metavar="N", type=_positive_int(1), default=ScoreArguments().query_batch_size,
                   help="queries multiplied against a shard at once (memory only: the results do not depend on it)")
    p.add_argument("--out", type=Path, metavar="FILE.json", help="write the JSON here instead of stdout")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("spans-index", help="build a suffix-array index of a token corpus")
    p.add_argument("--corpus", required=True, type=Path, metavar="FILE.jsonl", help='lines {"contribution_id": int, "tokens": [int...]}')
    p.add_argument("--out", required=True, type=Path, metavar="DIR")
    p.set_defaults(func=cmd_spans_index)

    p = sub.add_parser("spans-score", help="attribute generated tokens by exact span matches")
    p.add_argument("--index", required=True, type=Path, metavar="DIR")
    p.add_argument("--tokens", required=True, type=Path, metavar="FILE.json", help="JSON list of token ids")
    p.add_argument("--model-id", required=True, type=_model_id, metavar="N", help="PayableAI model id (uint256)")
    p.add_argument("--query-hash", required=True, metavar="HEX", help="32-byte queryHash, 0x-prefixed or not")
    p.add_argument("--min-length", metavar="N", type=_positive_int(1), default=4, help="shortest span credited (tokens)")
    p.add_argument("--out", type=Path, metavar="FILE.json")
    p.set_defaults(func=cmd_spans_score)

    for module_name in PAYABLE_COMMAND_MODULES:
        # A module not yet present in this installation simply adds no command.
        if importlib.util.find_spec(module_name) is not None:
            importlib.import_module(module_name).register_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except AccountError as exc:  # no key, or one that cannot be loaded: an input problem
        print(f"openledger-attribution {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except (ChainError, ConnectionError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"openledger-attribution {args.command}: error: {message}", file=sys.stderr)
        return EXIT_CHAIN_ERROR
    except (CliError, AttributionError, ValueError, OSError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"openledger-attribution {args.command}: error: {message}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
