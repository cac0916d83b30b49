"""A dishonest provider for the end-to-end tests: the real ``openledger-attribution
serve`` process, whose model answers correctly but halves the score of its most
credited contribution, so it settles a split that an honest recomputation refutes.

Run as ``python -m tests.e2e.dishonest_provider serve ARGS...`` (the serve command's
arguments, key from OPENLEDGER_PRIVATE_KEY).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

from attribution import cli
from attribution.payable import service
from attribution.payable.models import ServedModel, load_served_model


class HalvedTopScore:
    """A served model whose attribution halves its top contribution's score."""

    def __init__(self, inner: ServedModel) -> None:
        self.inner = inner
        self.kind = inner.kind
        self.model_dir = inner.model_dir
        self.index_version = inner.index_version

    def parse_input(self, data: bytes) -> Any:
        return self.inner.parse_input(data)

    def infer(self, parsed: Any) -> bytes:
        return self.inner.infer(parsed)

    def attribute(self, input: bytes, output: bytes) -> Mapping[int, Fraction | float]:
        scores = dict(self.inner.attribute(input, output))
        top = max(scores, key=lambda cid: (scores[cid], -cid))
        scores[top] = scores[top] / 2
        return scores


def load_dishonest(model_dir: str | os.PathLike[str]) -> ServedModel:
    return HalvedTopScore(load_served_model(Path(model_dir)))


if __name__ == "__main__":
    # The service builds its model through this name; the rest of `serve` runs unchanged.
    setattr(service, "load_served_model", load_dishonest)  # noqa: B010
    sys.exit(cli.main(sys.argv[1:]))
