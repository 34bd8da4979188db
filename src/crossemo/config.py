"""Study configuration: a TOML file validated into typed objects.

A study names its training corpora (one or several, pooled), any number of
transfer corpora, the protocol and the models::

    [[train]]
    corpus = "ravdess"
    path = "/data/RAVDESS"
    [[train]]
    corpus = "emodb"
    path = "/data/emodb"
    [[transfer]]
    corpus = "cafe"
    path = "/data/CaFE"
    [protocol]
    folds = 5
    [model]
    methods = ["dae", "vae_ss"]

(a single ``[train]`` table works as before).  ``protocol.design = "loco"`` or
``"matrix"`` lists ``[[corpus]]`` entries instead and derives the cells: each
corpus held out in turn (trained on all the others), or each corpus trained
alone and evaluated on every other (:meth:`StudyConfig.cells`).

Relative corpus paths are resolved against the config file's folder.  Every
problem is reported as one :class:`~crossemo.errors.ConfigError` naming the key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from crossemo.corpora.base import LABELS
from crossemo.errors import ConfigError

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
    set: str = Field(default="egemaps", description="Feature extractor (see crossemo.features.EXTRACTORS).")

    @field_validator("set")
    @classmethod
    def _known_set(cls, name: str) -> str:
        from crossemo.features import FeatureError, get_extractor

        try:
            get_extractor(name)
        except FeatureError as error:
            raise ValueError(str(error)) from None
        return name


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


class StudyConfig(_Strict):
    train: list[CorpusEntry] = Field(default_factory=list)
    transfer: list[CorpusEntry] = Field(default_factory=list)
    corpus: list[CorpusEntry] = Field(
        default_factory=list, description="The corpora of a 'loco' or 'matrix' design."
    )
    protocol: Protocol = Field(default_factory=Protocol)
    model: ModelSettings = Field(default_factory=ModelSettings)
    features: Features = Field(default_factory=Features)
    classifier: Classifier = Field(default_factory=Classifier)
    compute: Compute = Field(default_factory=Compute)

    @field_validator("train", mode="before")
    @classmethod
    def _single_train_table(cls, value: object) -> object:
        # The single [train] table of earlier configs is a one-entry [[train]].
        return [value] if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _entries_fit_design(self) -> StudyConfig:
        design = self.protocol.design
        if design == "transfer":
            if self.corpus:
                raise ValueError("[[corpus]] entries need protocol.design = 'loco' or 'matrix'")
            if not self.train:
                raise ValueError("train: required: a [train] table or [[train]] entries")
        else:
            if self.train or self.transfer:
                raise ValueError(
                    f"protocol.design = {design!r} takes [[corpus]] entries, not [train] or [[transfer]]"
                )
            if len(self.corpus) < 2:
                raise ValueError(f"protocol.design = {design!r} needs at least two [[corpus]] entries")
        return self

    @model_validator(mode="after")
    def _unique_names(self) -> StudyConfig:
        names = [entry.display_name for entry in (*self.train, *self.transfer, *self.corpus)]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(
                f"corpus names must be unique, {', '.join(duplicates)} appears more than once: "
                "give the entries distinct `name` keys"
            )
        bad = [name for name in names if CELL_SEPARATOR in name or "/" in name]
        if bad:
            raise ValueError(f"corpus names may not contain '{CELL_SEPARATOR}' or '/': {', '.join(bad)}")
        return self

    @model_validator(mode="after")
    def _class_sets_exist(self) -> StudyConfig:
        for cell in self.cells():
            for name in cell.transfer:
                classes = self.transfer_classes(cell, name)
                if len(classes) < 2:
                    raise ValueError(
                        f"{name} shares fewer than two classes ({list(classes)}) with the training corpora "
                        f"{', '.join(cell.train)}"
                    )
        return self

    @model_validator(mode="after")
    def _latent_fits_features(self) -> StudyConfig:
        from crossemo.features import get_extractor

        width = len(get_extractor(self.features.set).feature_names)
        if self.model.latent_dim >= width:
            raise ValueError(
                f"model.latent_dim {self.model.latent_dim} must be smaller than the {width} features of "
                f"{self.features.set}"
            )
        return self

    def entries(self) -> list[CorpusEntry]:
        """Every corpus of the study, training corpora first."""
        return [*self.train, *self.transfer, *self.corpus]

    def entry(self, name: str) -> CorpusEntry:
        """The corpus entry called ``name``."""
        for entry in self.entries():
            if entry.display_name == name:
                return entry
        raise KeyError(name)

    def cells(self) -> list[Cell]:
        """The study's training sets, each with the corpora it is evaluated on (see ``protocol.design``).

        ``transfer``: one cell, the ``[[train]]`` corpora pooled, evaluated on the
        ``[[transfer]]`` ones.  ``matrix``: each ``[[corpus]]`` alone, evaluated on every
        other.  ``loco``: each corpus held out in turn and evaluated, the others pooled
        for training; then (``protocol.single_source``) the matrix' cells.
        """
        if self.protocol.design == "transfer":
            return [Cell(tuple(e.display_name for e in self.train), tuple(e.display_name for e in self.transfer))]
        names = [entry.display_name for entry in self.corpus]
        single = [Cell((trained,), tuple(n for n in names if n != trained)) for trained in names]
        if self.protocol.design == "matrix":
            return single
        left_out = [Cell(tuple(n for n in names if n != held_out), (held_out,)) for held_out in names]
        # With two corpora, leaving one out is training on the other: the single-source cells.
        if len(names) == 2:
            return single
        return left_out + single if self.protocol.single_source else left_out

    def normalization(self, cell: Cell) -> str:
        """``protocol.normalize`` for ``cell``: as configured, else by its number of training corpora."""
        if self.protocol.normalize is not None:
            return self.protocol.normalize
        return "corpus" if len(cell.train) > 1 else "pooled"

    def corpus_classes(self, name: str) -> tuple[str, ...]:
        """The classes corpus ``name`` is trained or evaluated on: its own ``classes``, else the protocol's."""
        entry = self.entry(name)
        return tuple(entry.classes) if entry.classes is not None else tuple(self.protocol.classes)

    def within_classes(self, cell: Cell) -> tuple[str, ...]:
        """The class set a cell trains on and is evaluated within on: every class a training corpus has.

        A pooled corpus without some of them (AESD has no neutral) adds its rows of the others.
        """
        present = set().union(*(set(self.corpus_classes(name)) for name in cell.train))
        return tuple(label for label in LABELS if label in present)

    def transfer_classes(self, cell: Cell, name: str) -> tuple[str, ...]:
        """The class set corpus ``name`` is evaluated on in ``cell``: its classes the training set has."""
        within = set(self.within_classes(cell))
        return tuple(label for label in self.corpus_classes(name) if label in within)

    def class_sets(self, cell: Cell | None = None) -> list[tuple[str, ...]]:
        """Every class set models of ``cell`` (default: the first) train for: within's, then the transfers'."""
        cell = cell or self.cells()[0]
        sets = [self.within_classes(cell)]
        for name in cell.transfer:
            classes = self.transfer_classes(cell, name)
            if classes not in sets:
                sets.append(classes)
        return sets


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


def parse_config(data: dict, *, base_dir: Path | None = None) -> StudyConfig:
    """Validate a config dictionary; relative paths are taken from ``base_dir``."""
    try:
        config = StudyConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_describe(error, single_train=isinstance(data.get("train"), dict))) from None
    if base_dir is None:
        return config
    return config.model_copy(
        update={key: [_resolve(entry, base_dir) for entry in getattr(config, key)]
                for key in ("train", "transfer", "corpus")}
    )


def load_config(path: str | Path, **overrides: object) -> StudyConfig:
    """Read and validate a study TOML file.

    ``overrides`` set common keys from the command line: ``epochs``, ``methods``,
    ``seeds``, ``folds``, ``jobs`` and ``scheduler`` (``None`` leaves the file's
    value); see :func:`apply_overrides`.
    """
    path = Path(path)
    try:
        # utf-8-sig: editors on Windows start files with a byte-order mark.
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as error:  # a folder, no permission
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    data = apply_overrides(data, **overrides)
    return parse_config(data, base_dir=path.resolve().parent)


def apply_overrides(data: dict, *, epochs: int | None = None, methods: list[str] | None = None,
                    seeds: list[int] | None = None, folds: int | None = None,
                    jobs: int | None = None, scheduler: str | None = None,
                    cache_dir: str | Path | None = None) -> dict:
    """Return a copy of ``data`` with command-line overrides applied.

    ``epochs`` and ``methods`` set ``model.*``; ``seeds`` and ``folds`` set
    ``protocol.*``; ``jobs``, ``scheduler`` and ``cache_dir`` set ``compute.*``.

    >>> apply_overrides({"compute": {"jobs": 4}}, scheduler="tcp://10.0.0.5:8786")["compute"]
    {'jobs': 4, 'scheduler': 'tcp://10.0.0.5:8786'}
    """
    data = {key: dict(value) if isinstance(value, dict) else value for key, value in data.items()}
    model = data.setdefault("model", {})
    protocol = data.setdefault("protocol", {})
    compute = data.setdefault("compute", {})
    if jobs is not None:
        compute["jobs"] = jobs
    if scheduler is not None:
        compute["scheduler"] = scheduler
    if cache_dir is not None:
        compute["cache_dir"] = str(cache_dir)
    if epochs is not None:
        model["epochs"] = epochs
    if methods is not None:
        model["methods"] = methods
    if seeds is not None:
        protocol["seeds"] = seeds
    if folds is not None:
        protocol["folds"] = folds
    return data


def config_to_dict(config: StudyConfig) -> dict:
    """A JSON-able dictionary of ``config`` (paths as strings)."""
    return config.model_dump(mode="json")


def _resolve(entry: CorpusEntry, base_dir: Path) -> CorpusEntry:
    path = entry.path.expanduser()
    if not path.is_absolute():
        path = (base_dir / path).resolve()
    return entry.model_copy(update={"path": path})


def _describe(error: ValidationError, *, single_train: bool = False) -> str:
    lines = []
    for item in error.errors():
        location = list(item["loc"])
        if single_train and location[:2] == ["train", 0]:
            location.pop(1)  # a single [train] table: no index to show
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in location).lstrip(".")
        where = where or "config"
        if item["type"] == "extra_forbidden":
            lines.append(f"{where}: unknown key")
        elif item["type"] == "missing":
            lines.append(f"{where}: required key is missing")
        else:
            message = item["msg"].removeprefix("Value error, ")
            lines.append(f"{where}: {message}")
    return "invalid config:\n  " + "\n  ".join(lines)


def check_paths(config: StudyConfig) -> None:
    """Raise :class:`ConfigError` naming every corpus path that does not exist."""
    entries = [
        (f"{key}[{index}]", entry)
        for key in ("train", "transfer", "corpus")
        for index, entry in enumerate(getattr(config, key))
    ]
    missing = [f"{key}.path: {entry.path} does not exist" for key, entry in entries if not entry.path.exists()]
    if missing:
        raise ConfigError("invalid config:\n  " + "\n  ".join(missing))
