"""Attribution engine: which training contributions a model's output came from.

Data flow: a user `Task` (loss, measurement, tracked modules) -> per-example
gradients projected LoGra-style (`projection`) -> an on-disk sharded index plus a
preconditioner, EK-FAC or the damped Fisher (`index`, `preconditioner`) -> queries scored shard
by shard with a running top-k and per-contribution sums (`scoring`). The integer
reward split and span matching live beside it (`split`, `spans`).
"""

from attribution.arguments import (
    IndexArguments,
    PreconditionerArguments,
    ProjectionArguments,
    ScoreArguments,
)
from attribution.errors import (
    AttributionError,
    IndexMismatchError,
    IndexNotFoundError,
    UnsupportedModuleError,
)
from attribution.index import (
    Index,
    IndexManifest,
    build_index,
    index_exists,
    load_index,
    load_preconditioner,
    model_fingerprint,
    preconditioner_exists,
    save_index,
    save_preconditioner,
)
from attribution.preconditioner import EkfacAccumulator, FisherAccumulator, Preconditioner
from attribution.projection import (
    DenseRandomProjection,
    GradientCollector,
    LayerSpec,
    collect_gradients,
    gradient_dot_product,
    per_example_gradients,
)
from attribution.scoring import Scorer, ScoreResult, query_gradients, score, score_rows
from attribution.task import Task, default_tracked_modules

__all__ = [
    "AttributionError",
    "DenseRandomProjection",
    "EkfacAccumulator",
    "FisherAccumulator",
    "GradientCollector",
    "Index",
    "IndexArguments",
    "IndexManifest",
    "IndexMismatchError",
    "IndexNotFoundError",
    "LayerSpec",
    "PreconditionerArguments",
    "Preconditioner",
    "ProjectionArguments",
    "ScoreArguments",
    "ScoreResult",
    "Scorer",
    "Task",
    "UnsupportedModuleError",
    "build_index",
    "collect_gradients",
    "default_tracked_modules",
    "gradient_dot_product",
    "index_exists",
    "load_index",
    "load_preconditioner",
    "model_fingerprint",
    "per_example_gradients",
    "preconditioner_exists",
    "query_gradients",
    "save_index",
    "save_preconditioner",
    "score",
    "score_rows",
]
