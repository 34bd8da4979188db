"""The sections of a study config (``[protocol]``, ``[model]``, ``[features]``, ...) as typed objects.

:mod:`crossemo.config` assembles them into :class:`~crossemo.config.StudyConfig` and reads
TOML files; every value is checked here when it is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer, model_validator

from crossemo.corpora.base import LABELS

MAX_SEED = 2**32 - 1
"""Seeds seed numpy and torch generators, which take 0 .. 2**32 - 1."""

Condition = Literal["unseen", "target_norm", "speaker_norm"]

Design = Literal["transfer", "loco", "matrix"]
"""How a study's cells are formed: as configured, leave one corpus out, or every pair."""

CELL_SEPARATOR = "+"
"""Joins the names of a cell's training corpora into the training set's name."""


@dataclass(frozen=True)
class Cell:
    """One training set of a study and the corpora its models are evaluated on."""

    train: tuple[str, ...]  # corpus names, pooled for training
    transfer: tuple[str, ...]  # corpus names evaluated under every condition

    @property
    def name(self) -> str:
        """The training set's name: its corpora joined by ``+`` (``ravdess+emodb``)."""
        return CELL_SEPARATOR.join(self.train)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CorpusEntry(_Strict):
    """One corpus of a study: a registered reader and where its files are."""

    corpus: str
    path: Path
    name: str | None = None
    classes: list[str] | None = Field(
        default=None,
        description=(
            "Classes of this corpus to use (default: the protocol's): a transfer corpus is evaluated on "
            "those the training set has; a training corpus adds its rows of them."
        ),
    )
    options: dict[str, str | bool | int | float | list[str]] = Field(
        default_factory=dict,
        description=(
            "The reader's own options, e.g. {table = \"emotion.categories.train\", emotion = \"emotion\"} for "
            "audformat or {split = \"train\", speaker = \"client_id\"} for hf (see each reader's docstring)."
        ),
    )

    @property
    def display_name(self) -> str:
        return self.name or self.corpus

    @field_validator("corpus")
    @classmethod
    def _known_reader(cls, corpus: str) -> str:
        from crossemo.corpora import READERS

        if corpus not in READERS:
            raise ValueError(f"unknown corpus reader {corpus!r}; known: {', '.join(sorted(READERS))}")
        return corpus

    @field_validator("classes")
    @classmethod
    def _known_classes(cls, classes: list[str] | None) -> list[str] | None:
        return None if classes is None else _check_classes(classes)

    @model_validator(mode="after")
    def _known_options(self) -> CorpusEntry:
        from crossemo.corpora import check_reader_options
        from crossemo.errors import CorpusLayoutError

        try:  # runs only once the reader is known (an unknown one fails its field's check)
            check_reader_options(self.corpus, self.options)
        except CorpusLayoutError as error:
            raise ValueError(str(error)) from None
        return self

    @model_serializer(mode="wrap")
    def _without_empty_options(self, serialize):
        # An entry without options dumps as before they existed: fits' keys and saved configs stay the same.
        data = serialize(self)
        if not self.options and isinstance(data, dict):
            data.pop("options", None)
        return data


class Protocol(_Strict):
    design: Design = Field(
        default="transfer",
        description=(
            "'transfer': train on the [[train]] corpora, evaluate on the [[transfer]] ones; "
            "'loco': for each [[corpus]], train on all the others and evaluate on it; "
            "'matrix': train on each [[corpus]] alone and evaluate on every other."
        ),
    )
    single_source: bool = Field(
        default=True,
        description=(
            "With design 'loco': also train on each corpus alone and evaluate it on every other, "
            "so each held-out corpus' leave-one-out accuracy has its single-source accuracy beside it."
        ),
    )
    normalize: Literal["corpus", "pooled"] | None = Field(
        default=None,
        description=(
            "'corpus': each training corpus standardized by the statistics of its own training-fold "
            "part; 'pooled': one scaler over the pooled training fold. Default: 'corpus' when a cell "
            "trains on several corpora, 'pooled' for one."
        ),
    )
    folds: int = Field(default=5, ge=2)
    split: Literal["speaker", "utterance"] = "speaker"
    classes: list[str] = Field(default_factory=lambda: list(LABELS))
    conditions: list[Condition] = Field(default_factory=lambda: ["unseen", "target_norm"], min_length=1)
    target_fraction: float = Field(default=0.2, gt=0.0, lt=1.0)
    speaker_min_utterances: int = Field(
        default=20,
        ge=1,
        description=(
            "Condition 'speaker_norm': a speaker with fewer utterances (of the evaluated classes) is "
            "standardized by its corpus' statistics; fewer utterances do not estimate one standard "
            "deviation per feature, and skewed emotions move the speaker's mean."
        ),
    )
    outlier_z: float = Field(default=10.0, gt=0.0)
    outlier_max_share: float = Field(
        default=0.001, ge=0.0, lt=1.0,
        description=(
            "Share of a row's features that may lie beyond outlier_z before it is dropped: none below 1,000 "
            "features (the paper's rule), a few of ComParE's 6,373 (see crossemo.preprocessing.outlier_mask)."
        ),
    )
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    baselines: list[str] = Field(
        default_factory=lambda: list(_registry().baseline_names()),
        description="Reference methods every run adds (registered baselines: see crossemo.models.registry).",
    )
    unlabelled: Literal["drop", "use"] = Field(
        default="drop",
        description=(
            "'use': the training corpus' utterances outside the class set (other emotions, no label) "
            "join the latent models' training as unlabelled samples, never sharing a speaker with the "
            "held-out fold; the SVC still sees labelled ones only. 'drop' as in the paper."
        ),
    )
    scale_latent: bool = Field(
        default=False,
        description=(
            "Standardize the latent on the training fold before the SVC. Off as in the paper; "
            "a KL term that shrinks the latent otherwise leaves SVC(C=1) underfitting."
        ),
    )

    @field_validator("classes")
    @classmethod
    def _known_classes(cls, classes: list[str]) -> list[str]:
        return _check_classes(classes)

    @field_validator("seeds", "conditions", "baselines")
    @classmethod
    def _unique(cls, values: list) -> list:
        return _unique_list(values)

    @field_validator("seeds")
    @classmethod
    def _seed_range(cls, seeds: list[int]) -> list[int]:
        bad = [seed for seed in seeds if not 0 <= seed <= MAX_SEED]
        if bad:
            raise ValueError(f"seeds must lie in 0 .. {MAX_SEED}, got {bad}")
        return seeds

    @field_validator("baselines")
    @classmethod
    def _known_baselines(cls, baselines: list[str]) -> list[str]:
        known = _registry().baseline_names()
        unknown = [name for name in baselines if name not in known]
        if unknown:
            raise ValueError(f"unknown baseline(s) {unknown}; registered baselines: {', '.join(known)}")
        return baselines


class ModelSettings(_Strict):
    methods: list[str] = Field(
        default_factory=lambda: list(_registry().model_names()),
        description="Latent models to train (registered methods: see crossemo.models.registry).",
    )
    latent_dim: int = Field(default=2, ge=1)
    hidden: list[int] = Field(
        default_factory=lambda: [40, 20, 10], description="Encoder hidden widths; the decoder mirrors them."
    )
    epochs: int = Field(default=50, ge=1)
    batch_size: int = Field(default=64, ge=1)
    learning_rate: float = Field(default=1e-3, gt=0.0)
    device: Literal["cpu", "cuda", "auto"] = Field(
        default="cpu", description="Where to train; bit-for-bit reproducibility holds on the CPU."
    )

    @field_validator("device")
    @classmethod
    def _device_present(cls, device: str) -> str:
        if device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise ValueError("'cuda' asked for, but torch finds no CUDA device here: use 'cpu' or 'auto'")
        return device
    target_data: Literal["none", "adapt"] = Field(
        default="none",
        description=(
            "'adapt': each latent model is also trained per transfer corpus with that corpus' unlabelled "
            "share (the rows target normalization takes its statistics from, never an evaluated row) as "
            "extra input, aligned by `alignment`; results under the condition 'target_adapt'."
        ),
    )
    alignment: Literal["none", "mmd", "coral"] | None = Field(
        default=None, description="How target-aware training aligns the latents (default: the estimator's)."
    )
    alignment_weight: float | None = Field(
        default=None, ge=0.0, description="Weight of the alignment term (default: the estimator's)."
    )
    options: dict[str, dict[str, bool | int | float | str]] = Field(
        default_factory=dict,
        description="Further keywords per method, e.g. [model.options.dae] noise_sigma = 0.5.",
    )

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, methods: list[str]) -> list[str]:
        if not methods:
            raise ValueError("no method to train: list at least one (see `crossemo methods`)")
        known = _registry().model_names()
        unknown = [name for name in methods if name not in known]
        if unknown:
            raise ValueError(f"unknown method(s) {unknown}; registered methods: {', '.join(known)}")
        return _unique_list(methods)

    @field_validator("hidden")
    @classmethod
    def _positive_widths(cls, hidden: list[int]) -> list[int]:
        if any(width < 1 for width in hidden):
            raise ValueError(f"hidden widths must be positive, got {hidden}")
        return hidden

    @model_validator(mode="after")
    def _buildable(self) -> ModelSettings:
        """Build every method's estimator now, so a bad option fails here, not after training."""
        from crossemo.errors import CrossemoError

        registry = _registry()
        unknown = sorted(set(self.options) - set(registry.registry()))
        if unknown:
            raise ValueError(f"options for unknown method(s) {unknown}; registered: {', '.join(registry.registry())}")
        for name, options in self.options.items():
            method = registry.get_method(name)
            try:
                estimator = method.build(method.params(self.shared(), seed=0, options=options))
                check = getattr(estimator, "check_params", None)
                if check is not None:
                    check()
            except CrossemoError as error:
                raise ValueError(f"options.{name}: {error}") from None
        return self

    def shared(self) -> dict:
        """The settings every method's estimator takes (see :meth:`Method.params`); unset ones left out."""
        settings = {name: getattr(self, name, None) for name in _registry().SHARED_SETTINGS}
        return {name: value for name, value in settings.items() if value is not None}


class Features(_Strict):
    set: str | list[str] = Field(
        default="egemaps",
        description=(
            "Feature set: a registered one (egemaps, gemaps, compare, emobase; see "
            "crossemo.features.EXTRACTORS) or hf:MODEL[@LAYER], a self-supervised model folder. A list "
            "of sets runs the study once per set and compares them."
        ),
    )

    @field_validator("set")
    @classmethod
    def _known_sets(cls, value: str | list[str]) -> str | list[str]:
        from crossemo.features import FeatureError, check_feature_set_name

        names = [value] if isinstance(value, str) else _unique_list(value)
        if not names:
            raise ValueError("list at least one feature set")
        try:
            for name in names:
                check_feature_set_name(name)
        except FeatureError as error:
            raise ValueError(str(error)) from None
        return value

    @property
    def sets(self) -> list[str]:
        """The feature sets of the study, in the config's order."""
        return [self.set] if isinstance(self.set, str) else list(self.set)


class Classifier(_Strict):
    class_weight: Literal["none", "balanced"] = Field(
        default="none",
        description=(
            "'none' as the paper; 'balanced' weights each class by the inverse of its share of the "
            "training fold (better within a skewed corpus, often worse across corpora)."
        ),
    )


class Compute(_Strict):
    jobs: int | None = Field(default=None, ge=1)
    scheduler: str | None = None
    cache_dir: Path | None = None
    batch_fits: bool = Field(
        default=True,
        description=(
            "Train the fits of one latent method that share a shape (folds x seeds, transfer corpora of "
            "target-aware training) together as one vectorized network, one task per batch; each fit's "
            "result is its own (crossemo.models.batched), bit for bit the per-fit one on the CPU."
        ),
    )


def _registry():
    """The method registry module (imported late: it imports torch)."""
    from crossemo.models import registry

    return registry


def _unique_list(values: list) -> list:
    if len(set(values)) != len(values):
        raise ValueError(f"duplicate entries in {values}")
    return values


def _check_classes(classes: list[str]) -> list[str]:
    unknown = [label for label in classes if label not in LABELS]
    if unknown:
        raise ValueError(f"unknown classes {unknown}; classes are chosen from {list(LABELS)}")
    if len(set(classes)) != len(classes) or len(classes) < 2:
        raise ValueError(f"need at least two distinct classes, got {classes}")
    # Canonical order keeps results, colours and confusion matrices comparable.
    return [label for label in LABELS if label in classes]
