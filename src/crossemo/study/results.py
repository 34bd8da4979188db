"""The results schema: what ``results.json`` holds, assembled from the fits and read back.

``results.json`` is one :class:`Results` object.  The report reads it through
:func:`read_results`, which checks it against this schema; nothing parses names.

- ``results``: one :class:`ResultRecord` per training set x method x corpus x condition x
  class set (``train`` names the training set: its corpora joined by ``+``; a within
  record of a pooled training set names each training corpus, and the pooled
  held-out folds under the training set's own name);
- ``cells``: the study's training sets and the corpora each is evaluated on;
- ``histories``: one :class:`HistoryRecord` per fit with a training history;
- ``corpora``: per corpus, utterances, labelled ones, outliers removed, skipped files, language;
- ``features``: the feature extractor (id, version, number of features);
- ``config``, ``versions`` (packages) and ``timings``.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any, NotRequired, TypedDict

import numpy as np
import pandas as pd

from crossemo.config import StudyConfig, config_to_dict
from crossemo.errors import CrossemoError
from crossemo.models.registry import registry
from crossemo.study.data import CorpusData
from crossemo.study.tasks import FitTask

SCHEMA_VERSION = 3
"""Version 3: records and histories name their training set (``train``) and ``cells`` lists the
study's training sets; version 2: histories as a list of records (version 1 keyed them by a
composite string)."""


class ResultsError(CrossemoError, ValueError):
    """A ``results.json`` is missing or does not follow the results schema."""


class AccuracySummary(TypedDict):
    mean: float
    ci95: list[float]  # Student-t 95% interval over folds x seeds
    folds: list[float]


class ResultRecord(TypedDict):
    train: str  # the training set: its corpora joined by "+"
    method: str
    corpus: str
    condition: str  # "within", or a transfer condition
    classes: int
    class_names: list[str]
    balanced_accuracy: AccuracySummary
    log_bhattacharyya: dict | None  # {"mean", "folds"} for methods with a latent, transfers only
    per_class_recall: dict[str, float | None]
    confusion: dict[str, dict[str, int]]  # true -> predicted -> count, summed over folds
    note: NotRequired[str]


class HistoryRecord(TypedDict):
    train: str
    variant: str  # "" for the plain fit, else "speaker_norm" or "target_adapt:<corpus>"
    method: str
    classes: int
    fold: int
    seed: int
    epochs: list[dict]  # one dict of loss components (and beta) per epoch


class CellRecord(TypedDict):
    train: list[str]
    transfer: list[str]
    normalize: str


class Results(TypedDict):
    schema_version: int
    design: str
    cells: list[CellRecord]
    results: list[ResultRecord]
    histories: list[HistoryRecord]
    corpora: dict[str, dict]
    features: dict
    config: dict
    versions: dict[str, str]
    timings: dict


def assemble_results(
    config: StudyConfig,
    corpora: dict[str, CorpusData],
    tasks: list[FitTask],
    outcomes: dict[str, dict],
    timings: dict,
) -> Results:
    """Aggregate per-fold outcomes into ``results.json``'s content."""
    cells = config.cells()
    groups: dict[tuple, list[dict]] = {}
    for task in tasks:
        for evaluation in outcomes[task.key]["evaluations"]:
            corpus = evaluation["corpus"] or task.cell
            key = (task.cell, task.method.name, corpus, evaluation["condition"], task.classes)
            groups.setdefault(key, []).append(evaluation)
    order = {name: position for position, name in enumerate(registry())}
    cell_order = {cell.name: position for position, cell in enumerate(cells)}
    records = [
        _record(train, method, corpus, condition, classes, items)
        for (train, method, corpus, condition, classes), items in sorted(
            groups.items(),
            key=lambda item: (cell_order.get(item[0][0], len(cell_order)), -len(item[0][4]),
                              order.get(item[0][1], len(order)), item[0][2], item[0][3]),
        )
    ]
    histories: list[HistoryRecord] = [
        {"train": task.cell, "variant": _variant_name(task), "method": task.method.name,
         "classes": len(task.classes), "fold": task.fold, "seed": task.seed, "epochs": outcomes[task.key]["history"]}
        for task in tasks
        if outcomes[task.key]["history"]
    ]
    timings = dict(timings)
    timings["fit_s_by_method"] = {}
    for task in tasks:
        timings["fit_s_by_method"].setdefault(task.method.name, 0.0)
        timings["fit_s_by_method"][task.method.name] += outcomes[task.key]["fit_s"]
    train = corpora[cells[0].train[0]]
    features = {key: value for key, value in (train.extractor or {}).items() if key != "feature_names"}
    trained = {name for cell in cells for name in cell.train}
    return {
        "schema_version": SCHEMA_VERSION,
        "design": config.protocol.design,
        "cells": [
            {"train": list(cell.train), "transfer": list(cell.transfer), "normalize": config.normalization(cell)}
            for cell in cells
        ],
        "results": records,
        "histories": histories,
        "corpora": {
            name: {
                "utterances": int(len(data.table)),
                "labelled": int(data.table["label"].notna().sum()),
                "outliers_removed": data.n_outliers,
                "skipped": data.skipped,
                "language": _languages(data.table),
                "role": "train" if name in trained else "transfer",
            }
            for name, data in corpora.items()
        },
        "features": {**features, "n_features": int(train.features.shape[1])},
        "config": config_to_dict(config),
        "versions": package_versions(),
        "timings": timings,
    }


def _variant_name(task: FitTask) -> str:
    if task.variant == "target_adapt":
        return f"target_adapt:{task.transfers[0].name}"
    return task.variant


def _record(train: str, method: str, corpus: str, condition: str, classes: tuple[str, ...],
            items: list[dict]) -> ResultRecord:
    from crossemo.evaluation.metrics import confusion, mean_ci95, per_class_recall

    folds, log_bds = [], []
    recalls: dict[str, list[float]] = {label: [] for label in classes}
    matrix = {label: {other: 0 for other in classes} for label in classes}
    present = set()
    for evaluation in items:
        true, predicted = evaluation["true"], evaluation["predicted"]
        present.update(true)
        folds.append(evaluation["balanced_accuracy"])
        for label, value in per_class_recall(true, predicted, classes).items():
            if value is not None:
                recalls[label].append(value)
        for label, row in confusion(true, predicted, classes).items():
            for other, count in row.items():
                matrix[label][other] += count
        if evaluation["log_bhattacharyya"] is not None:
            log_bds.append(evaluation["log_bhattacharyya"])
    mean, low, high = mean_ci95(folds)
    record: ResultRecord = {
        "train": train,
        "method": method,
        "corpus": corpus,
        "condition": condition,
        "classes": len(classes),
        "class_names": list(classes),
        "balanced_accuracy": {"mean": mean, "ci95": [low, high], "folds": folds},
        "log_bhattacharyya": {"mean": float(np.mean(log_bds)), "folds": log_bds} if log_bds else None,
        "per_class_recall": {label: (float(np.mean(values)) if values else None) for label, values in recalls.items()},
        "confusion": matrix,
    }
    absent = [label for label in classes if label not in present]
    if absent:
        record["note"] = (
            f"{corpus} has no {', '.join(absent)} utterances: balanced accuracy is over "
            f"{', '.join(label for label in classes if label in present)}"
        )
    return record


def _languages(table: pd.DataFrame) -> str:
    return ", ".join(sorted(table["language"].dropna().astype(str).unique()))


def package_versions() -> dict[str, str]:
    """Versions of crossemo and the packages whose behaviour shapes its numbers."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for package in ("crossemo", "opensmile", "torch", "scikit-learn", "scipy", "numpy", "pandas"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    return versions


_REQUIRED = {"method": str, "corpus": str, "condition": str, "classes": int, "balanced_accuracy": dict}
_HISTORY_REQUIRED = {"method": str, "classes": int, "fold": int, "seed": int, "epochs": list}


def read_results(path: str | Path) -> Results:
    """Read and check a ``results.json``; :class:`ResultsError` names what does not fit the schema.

    A file of schema version 1 (histories keyed by name) is read with its histories left out.
    """
    path = Path(path)
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ResultsError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(content, dict) or not isinstance(content.get("results"), list):
        raise ResultsError(f"{path} has no list of results under the key 'results'")
    for position, record in enumerate(content["results"]):
        _check_record(record, _REQUIRED, f"{path}: result {position}")
    histories = content.get("histories")
    if not isinstance(histories, list):
        histories = []  # schema version 1 (or none): no training curves
    for position, history in enumerate(histories):
        _check_record(history, _HISTORY_REQUIRED, f"{path}: history {position}")
    config = dict(content.get("config") or {})
    cells = content.get("cells")
    if not isinstance(cells, list):
        cells = [_legacy_cell(config)]  # schema version 1-2: one training corpus
    train = cells[0]["train"][0] if cells and cells[0].get("train") else ""
    for item in (*content["results"], *histories):
        item.setdefault("train", train)
    return {
        "schema_version": int(content.get("schema_version", 1)),
        "design": str(content.get("design", "transfer")),
        "cells": cells,
        "results": list(content["results"]),
        "histories": histories,
        "corpora": dict(content.get("corpora") or {}),
        "features": dict(content.get("features") or {}),
        "config": config,
        "versions": dict(content.get("versions") or {}),
        "timings": dict(content.get("timings") or {}),
    }


def _legacy_cell(config: dict) -> dict:
    """The one cell of a results file written before training sets were named."""
    train = config.get("train") or {}
    entries = train if isinstance(train, list) else [train]
    names = [entry.get("name") or entry.get("corpus") or "" for entry in entries if isinstance(entry, dict)]
    transfer = [entry.get("name") or entry.get("corpus") or "" for entry in config.get("transfer") or []
                if isinstance(entry, dict)]
    return {"train": names, "transfer": transfer, "normalize": "pooled"}


def _check_record(record: Any, required: dict[str, type], where: str) -> None:
    if not isinstance(record, dict):
        raise ResultsError(f"{where} is not an object")
    missing = [key for key in required if key not in record]
    if missing:
        raise ResultsError(f"{where} lacks {', '.join(missing)}")
    malformed = [key for key, kind in required.items()
                 if not isinstance(record[key], kind) or isinstance(record[key], bool)]
    if malformed:
        raise ResultsError(f"{where} has a malformed {', '.join(malformed)}")
