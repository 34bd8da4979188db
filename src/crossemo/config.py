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
from pathlib import Path

from pydantic import Field, ValidationError, field_validator, model_validator

from crossemo.corpora.base import LABELS
from crossemo.errors import ConfigError, CrossemoError
from crossemo.settings import (  # noqa: F401 - the sections are part of this module's API
    CELL_SEPARATOR,
    MAX_SEED,
    Cell,
    Classifier,
    Compute,
    Condition,
    CorpusEntry,
    Design,
    Features,
    ModelSettings,
    Protocol,
    _Strict,
)


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

        for name in self.features.sets:
            try:
                width = len(get_extractor(name).feature_names)
            except CrossemoError as error:  # an hf: model folder that is missing or unreadable
                raise ValueError(f"features.set: {error}") from None
            if self.model.latent_dim >= width:
                raise ValueError(
                    f"model.latent_dim {self.model.latent_dim} must be smaller than the {width} features of {name}"
                )
        return self

    @property
    def feature_set(self) -> str:
        """The study's one feature set; :class:`ConfigError` when it lists several (see :meth:`for_feature_set`)."""
        sets = self.features.sets
        if len(sets) != 1:
            raise ConfigError(
                f"this study lists {len(sets)} feature sets ({', '.join(sets)}); this step needs one: "
                "choose it with --features NAME"
            )
        return sets[0]

    def with_feature_sets(self, names: list[str]) -> StudyConfig:
        """This study on the feature sets ``names`` instead of its own (validated as when read)."""
        data = self.model_dump()
        data["features"] = {**data["features"], "set": names[0] if len(names) == 1 else list(names)}
        try:
            return StudyConfig.model_validate(data)
        except ValidationError as error:
            raise ConfigError(_describe(error, single_train=False)) from None

    def for_feature_set(self, name: str) -> StudyConfig:
        """This study on the feature set ``name`` alone (one of :attr:`Features.sets`)."""
        if name not in self.features.sets:
            raise ConfigError(f"feature set {name!r} is not one of the study's: {', '.join(self.features.sets)}")
        return self.model_copy(update={"features": self.features.model_copy(update={"set": name})})

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


def parse_config(data: dict, *, base_dir: Path | None = None) -> StudyConfig:
    """Validate a config dictionary; relative paths are taken from ``base_dir``."""
    if base_dir is not None:
        data = _resolve_model_folders(data, base_dir)
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
                    cache_dir: str | Path | None = None, features: list[str] | None = None) -> dict:
    """Return a copy of ``data`` with command-line overrides applied.

    ``epochs`` and ``methods`` set ``model.*`` (``epochs`` also for a method that sets
    its own in ``[model.options.<name>]``: the command line wins); ``seeds`` and ``folds`` set
    ``protocol.*``; ``jobs``, ``scheduler`` and ``cache_dir`` set ``compute.*``;
    ``features`` sets ``features.set`` (one set, or several to compare).

    >>> apply_overrides({"compute": {"jobs": 4}}, scheduler="tcp://10.0.0.5:8786")["compute"]
    {'jobs': 4, 'scheduler': 'tcp://10.0.0.5:8786'}
    """
    data = {key: dict(value) if isinstance(value, dict) else value for key, value in data.items()}
    model, protocol, compute = (_overridable(data, name) for name in ("model", "protocol", "compute"))
    if features:
        _overridable(data, "features")["set"] = features[0] if len(features) == 1 else list(features)
    if jobs is not None:
        compute["jobs"] = jobs
    if scheduler is not None:
        compute["scheduler"] = scheduler
    if cache_dir is not None:
        compute["cache_dir"] = str(cache_dir)
    if epochs is not None:
        model["epochs"] = epochs
        model["options"] = without_method_epochs(model.get("options") or {})
    if methods is not None:
        model["methods"] = methods
    if seeds is not None:
        protocol["seeds"] = seeds
    if folds is not None:
        protocol["folds"] = folds
    return data


def _overridable(data: dict, name: str) -> dict:
    """Section ``name`` of ``data`` (created if missing) to write overrides into.

    A section that is no table is left as it is, for validation to report; the
    overrides then go into a throwaway table.
    """
    section = data.setdefault(name, {})
    return section if isinstance(section, dict) else {}


def without_method_epochs(options: dict) -> dict:
    """Per-method options without ``epochs``: what an ``--epochs`` override leaves of them.

    Entries that are no tables stay as they are, for validation to report.

    >>> without_method_epochs({"dae_sup": {"epochs": 200, "input_lda": 3}, "dae": 3})
    {'dae_sup': {'input_lda': 3}, 'dae': 3}
    """
    if not isinstance(options, dict):
        return options
    return {
        name: {key: value for key, value in own.items() if key != "epochs"} if isinstance(own, dict) else own
        for name, own in options.items()
    }


def config_to_dict(config: StudyConfig) -> dict:
    """A JSON-able dictionary of ``config`` (paths as strings)."""
    return config.model_dump(mode="json")


def _resolve_model_folders(data: dict, base_dir: Path) -> dict:
    """``data`` with every ``hf:`` feature set naming a folder relative to the config made absolute.

    A name that is no folder there (a model id in the Hugging Face cache) is left as it is.
    """
    from crossemo.features import FeatureError
    from crossemo.features.ssl import PREFIX, parse_name

    features = data.get("features")
    if not isinstance(features, dict):
        return data

    def resolved(name: object) -> object:
        if not isinstance(name, str) or not name.startswith(PREFIX):
            return name
        try:
            model, _ = parse_name(name)
        except FeatureError:
            return name  # refused, with its reason, when the section is validated
        suffix = name[len(PREFIX) + len(model):]  # "@LAYER" as written, or nothing
        folder = Path(model).expanduser()
        if folder.is_absolute() or not (base_dir / folder).is_dir():
            return name
        return f"{PREFIX}{(base_dir / folder).resolve()}{suffix}"

    value = features.get("set")
    value = [resolved(name) for name in value] if isinstance(value, list) else resolved(value)
    return {**data, "features": {**features, "set": value}}


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
