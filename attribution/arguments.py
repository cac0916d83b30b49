"""Arguments of the attribution engine, as frozen dataclasses with help text.

They are stored verbatim in the index manifest (`dataclasses.asdict`), so every
field is a JSON scalar.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from attribution.errors import AttributionError

_DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class ProjectionArguments:
    rank_in: int = field(
        default=16,
        metadata={"help": "Rank of the random projection of each layer's inputs (r_in)."},
    )
    rank_out: int = field(
        default=16,
        metadata={"help": "Rank of the random projection of each layer's output gradients (r_out)."},
    )
    seed: int = field(
        default=0,
        metadata={"help": "Seed of the Gaussian projection matrices; layer i uses seed + i."},
    )
    dtype: str = field(
        default="float32",
        metadata={
            "help": "Precision at which activations and gradients are read ('float32' or 'float64'); the "
            "projection itself is exact fixed-point arithmetic either way (attribution/exact.py)."
        },
    )

    full_layer_size: int = field(
        default=8192,
        metadata={
            "help": "A layer whose whole gradient has at most this many entries (d_in x d_out, the bias "
            "column included) is stored unprojected, whatever the ranks: small layers then lose nothing "
            "to the sketch and their preconditioner is the exact one; 0 projects every layer. (Indexes "
            "written before this setting existed read as 0.)"
        },
    )

    def __post_init__(self) -> None:
        if self.rank_in < 1 or self.rank_out < 1:
            raise AttributionError(f"projection ranks must be >= 1, got {self.rank_in}, {self.rank_out}")
        if self.full_layer_size < 0:
            raise AttributionError(f"full_layer_size must be >= 0, got {self.full_layer_size}")
        if self.dtype not in _DTYPES:
            raise AttributionError(f"projection dtype must be one of {_DTYPES}, got {self.dtype!r}")


@dataclass(frozen=True)
class PreconditionerArguments:
    damping: float = field(
        default=0.1,
        metadata={
            "help": "Relative damping: lambda = damping * mean eigenvalue of the layer's "
            "projected Fisher, so the setting does not depend on the gradient scale (0.1 is "
            "kronfluence's heuristic)."
        },
    )
    kind: str = field(
        default="ekfac",
        metadata={
            "help": "'fisher': damped Fisher / Gauss-Newton per layer in the projected space, a full "
            "(dim x dim) block per layer; 'ekfac': eigenvalue-corrected Kronecker factors per layer "
            "(memory r_in^2 + r_out^2, for large ranks); 'identity': no preconditioning (plain "
            "projected gradient dot product)."
        },
    )
    fisher: str = field(
        default="auto",
        metadata={
            "help": "Gradients that estimate the Fisher: 'empirical' (the training labels' gradients, "
            "the index rows themselves), 'sampled' (targets drawn from the model's own predictions: "
            "the true Fisher, i.e. the Gauss-Newton matrix of a cross-entropy loss; needs "
            "Task.compute_train_logits and one more forward/backward pass per sample), 'exact' (the "
            "expectation over every class, each class's gradient weighted by its predicted probability: "
            "the Gauss-Newton matrix with no sampling noise; one prediction per example, C passes per "
            "example for C classes, so for few classes), or 'auto' (sampled when the task defines "
            "compute_train_logits, else empirical)."
        },
    )
    samples: int = field(
        default=1,
        metadata={"help": "Targets drawn per training example for fisher='sampled' (ignored by 'exact')."},
    )
    seed: int = field(
        default=0,
        metadata={"help": "Seed of the sampled targets; example i, sample s always gets the same draw."},
    )

    def __post_init__(self) -> None:
        if not self.damping >= 0:
            raise AttributionError(f"damping must be >= 0, got {self.damping}")
        if self.kind not in ("fisher", "identity", "ekfac"):
            raise AttributionError(f"preconditioner kind must be 'fisher', 'ekfac' or 'identity', got {self.kind!r}")
        if self.fisher not in ("auto", "empirical", "sampled", "exact"):
            raise AttributionError(f"fisher must be 'auto', 'empirical', 'sampled' or 'exact', got {self.fisher!r}")
        if self.samples < 1:
            raise AttributionError(f"samples must be >= 1, got {self.samples}")

    def for_task(self, task: object) -> PreconditionerArguments:
        """These arguments with fisher='auto' resolved for `task`: 'sampled'
        when it defines compute_train_logits, else 'empirical'."""
        if self.fisher != "auto":
            return self
        sampled = callable(getattr(task, "compute_train_logits", None))
        return replace(self, fisher="sampled" if sampled else "empirical")

    @property
    def uses_sampled_targets(self) -> bool:
        """Whether the build takes targets from the model ('sampled' or 'exact');
        'auto' must be resolved first (`for_task`)."""
        return self.kind != "identity" and self.fisher in ("sampled", "exact")


@dataclass(frozen=True)
class IndexArguments:
    shard_size: int = field(
        default=4096,
        metadata={"help": "Training examples per index shard file."},
    )
    batch_size: int = field(
        default=64,
        metadata={"help": "Training examples per forward/backward pass while building the index."},
    )

    def __post_init__(self) -> None:
        if self.shard_size < 1 or self.batch_size < 1:
            raise AttributionError(f"shard_size and batch_size must be >= 1, got {self.shard_size}, {self.batch_size}")


@dataclass(frozen=True)
class ScoreArguments:
    top_k: int = field(
        default=10,
        metadata={"help": "Training examples kept per query, best first (ties go to the lower row)."},
    )
    query_batch_size: int = field(
        default=64,
        metadata={"help": "Queries multiplied against a shard at once; bounds the score block in memory."},
    )
    normalize: bool = field(
        default=False,
        metadata={
            "help": "Divide each training example's score by its norm sqrt(g_i^T (F + lambda I)^{-1} g_i) "
            "(RelatIF-style relative influence), so that examples with large gradients (outliers, "
            "mislabelled) do not top every query; by Cauchy-Schwarz an exact duplicate of a query then "
            "ranks first. Costs one preconditioner product per training row per query batch."
        },
    )
    return_example_scores: bool = field(
        default=False,
        metadata={"help": "Also return the dense (queries x training examples) score matrix; small indexes only."},
    )

    def __post_init__(self) -> None:
        if self.top_k < 0 or self.query_batch_size < 1:
            raise AttributionError(f"top_k must be >= 0 and query_batch_size >= 1, got {self.top_k}, {self.query_batch_size}")
