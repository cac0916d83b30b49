"""What a served model is, and the one attribution function service and verifier share.

A model directory holds a model.json (``{"kind": ..., ...}``) beside the kind's
weights and attribution index. `load_served_model` reads the kind and hands the
directory to that kind's ``load_served`` (imported only when used, so a digits
service never imports the text model's dependencies). `attribute_query` turns
(model, input, output) into the query record, its hash, the integer split and the
attribution hash: the inference service settles its result and the verifier
recomputes it with the same call, so the two cannot drift apart.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from attribution.errors import AttributionError
from attribution.payable.record import QueryRecord, read_model_json
from attribution.split import attribution_hash, reward_weights

MODEL_KINDS: dict[str, str] = {
    "digits": "attribution.examples.digits:load_served",
    "text": "attribution.examples.text:load_served",
}
"""Model kind -> ``MODULE:FUNCTION`` of its ``load_served(model_dir) -> ServedModel``."""


class InputError(AttributionError, ValueError):
    """An inference input the model kind cannot take; the message names what is wrong."""


class ModelDirError(AttributionError, ValueError):
    """A model directory that cannot be served (no model.json, unknown kind, missing files)."""


@runtime_checkable
class ServedModel(Protocol):
    kind: str
    model_dir: Path
    index_version: bytes
    """32 bytes: keccak256 of the canonical model.json (`record.index_version`)."""

    def parse_input(self, data: bytes) -> Any:
        """The model's input from its wire bytes; raises `InputError` naming the problem."""
        ...

    def infer(self, parsed: Any) -> bytes:
        """Deterministic output bytes for a parsed input."""
        ...

    def attribute(self, input: bytes, output: bytes) -> Mapping[int, Fraction | float]:
        """Contribution id -> score, bit-reproducible from the same code and model dir."""
        ...


def load_served_model(model_dir: str | os.PathLike[str]) -> ServedModel:
    """Load the model directory's kind (model.json "kind") as a `ServedModel`."""
    directory = Path(model_dir)
    try:
        kind = read_model_json(directory)["kind"]
    except AttributionError as exc:
        raise ModelDirError(str(exc)) from exc
    target = MODEL_KINDS.get(kind)
    if target is None:
        raise ModelDirError(f"{directory / 'model.json'}: unknown model kind {kind!r} (known: {', '.join(sorted(MODEL_KINDS))})")
    module_name, _, function = target.partition(":")
    loader = getattr(importlib.import_module(module_name), function)
    served: ServedModel = loader(directory)
    return served


@dataclass(frozen=True)
class Attribution:
    """One attributed inference, exactly what `PayableAI.settle` receives and a verifier checks.

    ``top`` lists the paid contributions with their scores, best first (ties by id).
    """

    record: QueryRecord
    query_hash: bytes
    ids: tuple[int, ...]
    weights: tuple[int, ...]
    attribution_hash: bytes
    top: tuple[tuple[int, Fraction | float], ...]

    @property
    def split(self) -> list[tuple[int, int]]:
        return list(zip(self.ids, self.weights))


def attribute_query(served: ServedModel, model_id: int, input: bytes, output: bytes | None = None) -> Attribution:
    """Attribute one inference of ``served`` registered on chain as ``model_id``.

    With ``output`` None the model is run on ``input`` first. Raises `InputError`
    for an input the model refuses and `attribution.split.NoPositiveAttribution`
    when no contribution supports the output (nothing to settle: the request is
    refunded after its deadline).
    """
    input = bytes(input)
    if output is None:
        output = served.infer(served.parse_input(input))
    record = QueryRecord(model_id, served.index_version, input, bytes(output))
    query_hash = record.query_hash
    scores = served.attribute(input, record.output)
    split = reward_weights(scores)
    ids = tuple(cid for cid, _ in split)
    weights = tuple(weight for _, weight in split)
    paid = set(ids)
    top = tuple(sorted(((cid, scores[cid]) for cid in paid), key=lambda item: (-item[1], item[0])))
    return Attribution(record, query_hash, ids, weights, attribution_hash(model_id, query_hash, split), top)
