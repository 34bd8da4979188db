"""The comparison of a study over several feature sets: its files, its table, reading it back.

A config whose ``[features] set`` lists several sets runs the whole study once per
set, each into its own run directory, and compares them::

    RUN_DIR/comparison.json    the sets, their run folders, and every result record with its set
    RUN_DIR/comparison.csv     one row per feature set x training set x method x corpus x condition
    RUN_DIR/<set>/             a complete run (results.json, metrics.csv, report.html, ...)
    RUN_DIR/report.html        the side-by-side report (crossemo.report)

:mod:`crossemo.study.feature_sets` runs such a study; this module only knows the
files, so the report can read them without importing the runner.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

from crossemo.errors import CrossemoError

COMPARISON_FILE = "comparison.json"
COMPARISON_TABLE = "comparison.csv"
PLAN_FILE = ".feature_sets.json"
"""Written first: marks a folder as a comparison in progress (so a rerun resumes it)."""

COLUMNS = ("feature_set", "train", "method", "corpus", "condition", "classes", "balanced_accuracy",
           "ci95_low", "ci95_high", "log_bhattacharyya", "n_features")


def run_folder_name(feature_set: str) -> str:
    """The sub-folder of a feature set's run: its name with everything but letters, digits, ``_.`` as ``_``.

    >>> run_folder_name("egemaps"), run_folder_name("hf:/models/wavlm-base-plus@6")
    ('egemaps', 'hf_models_wavlm-base-plus_6')
    """
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", feature_set).strip("_.") or "features"


def is_comparison(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` holds a comparison of feature sets (finished or not)."""
    run_dir = Path(run_dir)
    return (run_dir / COMPARISON_FILE).is_file() or (run_dir / PLAN_FILE).is_file()


def comparison_document(runs: dict[str, dict], folders: dict[str, str]) -> dict[str, Any]:
    """``comparison.json``'s content from each set's results (``results.json`` content)."""
    records = []
    for name, results in runs.items():
        n_features = results.get("features", {}).get("n_features")
        for record in results["results"]:
            records.append({"feature_set": name, "n_features": n_features, **record})
    return {"feature_sets": list(runs), "runs": dict(folders), "results": records}


def comparison_table(comparison: dict[str, Any]) -> pd.DataFrame:
    """One row per record of :func:`comparison_document`, accuracy as a fraction (columns :data:`COLUMNS`)."""
    rows = []
    for record in comparison["results"]:
        accuracy = record["balanced_accuracy"]
        low, high = accuracy.get("ci95", (None, None))
        log_bd = record.get("log_bhattacharyya")
        rows.append({
            "feature_set": record["feature_set"], "train": record.get("train"), "method": record["method"],
            "corpus": record["corpus"], "condition": record["condition"], "classes": record["classes"],
            "balanced_accuracy": accuracy["mean"], "ci95_low": low, "ci95_high": high,
            "log_bhattacharyya": None if log_bd is None else log_bd["mean"], "n_features": record.get("n_features"),
        })
    return pd.DataFrame(rows, columns=list(COLUMNS))


def read_comparison(run_dir: str | Path) -> dict[str, Any]:
    """``comparison.json`` of a finished comparison, checked enough to draw from."""
    path = Path(run_dir) / COMPARISON_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CrossemoError(f"{path.parent} holds no finished comparison of feature sets ({COMPARISON_FILE})") from None
    except (OSError, ValueError) as error:
        raise CrossemoError(f"cannot read {path}: {error}") from None
    if not isinstance(document, dict) or not all(
        isinstance(document.get(key), kind) for key, kind in (("feature_sets", list), ("runs", dict),
                                                              ("results", list))
    ):
        raise CrossemoError(f"{path} is not a comparison of feature sets (feature_sets, runs, results)")
    return document
