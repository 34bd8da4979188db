"""Reading a finished run directory into one object the figures and the HTML share."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from crossemo.errors import CrossemoError
from crossemo.fileio import path_to_text
from crossemo.report.style import condition_rank, method_rank
from crossemo.study.results import HistoryRecord, ResultRecord, ResultsError, read_results
from crossemo.study.rundir import LATENTS_FILE, RESULTS_FILE


class ReportError(CrossemoError, ValueError):
    """A run directory cannot be reported on (missing or malformed ``results.json``)."""


@dataclass(frozen=True)
class RunData:
    """Everything a report shows, read from one run directory."""

    run_dir: Path
    results: list[ResultRecord]
    config: dict
    corpora: dict[str, dict]
    histories: list[HistoryRecord]  # empty for a schema-1 run (its histories are not read)
    versions: dict[str, str]
    timings: dict
    latents: pd.DataFrame | None
    features: dict = field(default_factory=dict)  # the feature extractor: id, version, n_features, ...
    schema_version: int = 2
    notes: list[str] = field(default_factory=list)  # problems reading optional parts
    design: str = "transfer"  # protocol.design: "transfer", "loco" or "matrix"
    cells: list[dict] = field(default_factory=list)  # the training sets: {"train": [...], "transfer": [...]}
    shown_cell: str | None = None  # the training set a cell view shows (see for_cell)

    @property
    def cell_names(self) -> list[str]:
        """The training sets' names (their corpora joined by ``+``), in study order."""
        return ["+".join(cell.get("train") or []) for cell in self.cells]

    def for_cell(self, name: str | None = None) -> RunData:
        """The run as seen by one training set (default: the first): its records, histories and latents.

        The figures of a plain study read a run with one training set; a ``loco`` or
        ``matrix`` study has several, and each can be drawn so.
        """
        names = self.cell_names
        if len(names) <= 1 and name in (None, *names):
            return self
        chosen = name if name is not None else names[0]
        if chosen not in names:
            raise ReportError(f"the run has no training set {chosen!r}; it has {', '.join(names)}")
        cell = self.cells[names.index(chosen)]
        latents = self.latents
        if latents is not None and "train" in latents.columns:
            latents = latents[latents["train"] == chosen]
        return replace(
            self,
            results=[record for record in self.results if record.get("train", chosen) == chosen],
            histories=[history for history in self.histories if history.get("train", chosen) == chosen],
            latents=latents,
            cells=[cell],
            shown_cell=chosen,
        )

    @property
    def feature_set(self) -> str | None:
        """Short name of the feature set (``eGeMAPSv02``), ``None`` when results.json does not say."""
        for key in ("feature_set", "id"):
            value = self.features.get(key)
            if isinstance(value, str) and value:
                return value
        return None

    @property
    def features_text(self) -> str:
        """The features the methods start from, e.g. ``the 88 eGeMAPSv02 features``."""
        count = self.features.get("n_features")
        count_text = f"{count} " if isinstance(count, int) and not isinstance(count, bool) else ""
        name = self.feature_set
        if name is None:
            return f"the {count_text}acoustic features" if count_text else "the acoustic features"
        return f"the {count_text}{name} features"

    @property
    def training_corpora(self) -> list[str]:
        """The corpora of the (first) training set."""
        if self.cells:
            return [str(name) for name in self.cells[0].get("train") or []]
        within = [record["corpus"] for record in self.results if record.get("condition") == "within"]
        return within[:1] or ["training corpus"]

    @property
    def train_corpus(self) -> str:
        """Display name of the (first) training set: its corpora joined by ``+``, as results name it."""
        return "+".join(self.training_corpora)

    @property
    def transfer_corpora(self) -> list[str]:
        """Transfer corpora of the (first) training set, then any others the results evaluate."""
        names = [str(name) for name in (self.cells[0].get("transfer") or [])] if self.cells else []
        trained = {*self.training_corpora, self.train_corpus}
        for record in self.results:
            corpus = record["corpus"]
            if record.get("condition") != "within" and corpus not in names and corpus not in trained:
                names.append(corpus)
        return names

    @property
    def methods(self) -> list[str]:
        """Methods that have results, in display order."""
        return sorted({record["method"] for record in self.results}, key=method_rank)

    @property
    def class_counts(self) -> list[int]:
        """Class-set sizes that have results, largest first."""
        return sorted({int(record["classes"]) for record in self.results}, reverse=True)

    @property
    def primary_classes(self) -> int:
        """Size of the protocol's class set (the one Fig. 2 and the training curves show)."""
        protocol_classes = (self.config.get("protocol") or {}).get("classes")
        if protocol_classes and len(protocol_classes) in self.class_counts:
            return len(protocol_classes)
        return self.class_counts[0] if self.class_counts else 4

    @property
    def latent_dim(self) -> int | None:
        """Latent dimension from the config, else from the latents' columns."""
        dim = (self.config.get("model") or {}).get("latent_dim")
        if isinstance(dim, int):
            return dim
        if self.latents is not None:
            return len(latent_columns(self.latents))
        return None

    def records(self, **where: object) -> list[dict]:
        """Result records matching every ``key=value`` given, in display order."""
        chosen = [r for r in self.results if all(r.get(key) == value for key, value in where.items())]
        return sorted(chosen, key=self.record_rank)

    def record_rank(self, record: dict) -> tuple:
        """Sort key: class-set size (largest first), method, corpus (training first), condition."""
        return (
            -int(record["classes"]),
            method_rank(record["method"]),
            self.corpus_position(record["corpus"]),
            record["corpus"],
            condition_rank(record["condition"]),
        )

    def corpus_position(self, corpus: str) -> int:
        """Place of ``corpus`` in display order: training corpora, the pooled set, transfers, then others."""
        corpora = [*self.training_corpora, self.train_corpus, *self.transfer_corpora]
        return corpora.index(corpus) if corpus in corpora else len(corpora)


def load_run(run_dir: str | Path) -> RunData:
    """Read ``run_dir``'s ``results.json`` (required) and ``latents.parquet`` (optional).

    Raises :class:`ReportError` when ``run_dir`` is not a folder or ``results.json``
    is missing or malformed; a missing or unreadable ``latents.parquet`` is recorded
    in ``notes`` and the figures that need it are skipped.
    """
    run_dir = Path(run_dir)
    shown = path_to_text(run_dir)
    if not run_dir.exists():
        raise ReportError(f"run directory not found: {shown}")
    if not run_dir.is_dir():
        raise ReportError(f"{shown} is a file, not a run directory: give the folder `crossemo run --out` wrote")
    results_path = run_dir / RESULTS_FILE
    if not results_path.is_file():
        raise ReportError(
            f"{shown} has no {RESULTS_FILE}: it is not a finished crossemo run "
            "(run `crossemo run CONFIG --out RUN_DIR` first, or let an interrupted run finish)"
        )
    try:
        content = read_results(results_path)
    except ResultsError as error:
        raise ReportError(str(error)) from None

    notes: list[str] = []
    latents = None
    latents_path = run_dir / LATENTS_FILE
    if latents_path.is_file():
        try:
            with open(latents_path, "rb") as handle:  # pyarrow refuses a path that is not UTF-8
                latents = pd.read_parquet(handle)
        except Exception as error:  # pyarrow raises several unrelated types for a bad file
            notes.append(f"{LATENTS_FILE} could not be read ({type(error).__name__}: {error})")
        else:
            missing = {"method", "classes", "fold", "seed", "corpus", "condition", "label"} - set(latents)
            if missing or not latent_columns(latents):
                notes.append(f"{LATENTS_FILE} lacks the columns {sorted(missing) or ['z0']}")
                latents = None
    else:
        notes.append(f"{LATENTS_FILE} is missing, so the latent-space figures are skipped")

    return RunData(
        run_dir=run_dir,
        results=content["results"],
        config=content["config"],
        corpora=content["corpora"],
        histories=content["histories"],
        versions=content["versions"],
        timings=content["timings"],
        latents=latents,
        features=content["features"],
        schema_version=content["schema_version"],
        notes=notes,
        design=content["design"],
        cells=content["cells"],
    )


def latent_columns(latents: pd.DataFrame) -> list[str]:
    """The latent coordinate columns ``z0, z1, ...`` in order."""
    columns = [column for column in latents.columns if re.fullmatch(r"z\d+", str(column))]
    return sorted(columns, key=lambda column: int(column[1:]))
