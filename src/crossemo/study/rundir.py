"""The run directory: its file names, preparing it, finished fits kept for resuming, the outputs.

::

    RUN_DIR/results.json      the results schema (crossemo.study.results)
    RUN_DIR/metrics.csv       one row per method x corpus x condition x class set x fold x seed
    RUN_DIR/latents.parquet   every embedded utterance
    RUN_DIR/config.json       the validated config
    RUN_DIR/report.html, figures/   written by crossemo.report
    RUN_DIR/.tasks/           finished fits of an unfinished run (removed when it finishes)
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from crossemo.errors import CrossemoError
from crossemo.fileio import write_atomic_bytes, write_atomic_text, write_parquet_atomic
from crossemo.study.results import Results
from crossemo.study.tasks import FitTask

RESULTS_FILE = "results.json"
METRICS_FILE = "metrics.csv"
LATENTS_FILE = "latents.parquet"
CONFIG_FILE = "config.json"
REPORT_FILE = "report.html"
FIGURES_DIR = "figures"
TASKS_DIR = ".tasks"


def prepare_run_dir(out: Path, *, force: bool) -> None:
    """Create ``out``; a finished run there is replaced only with ``force``, an unfinished one resumes."""
    prepare_output_dir(out, force=force, what="run", finished=RESULTS_FILE, unfinished=TASKS_DIR,
                       outputs=(RESULTS_FILE, METRICS_FILE, LATENTS_FILE, CONFIG_FILE, REPORT_FILE,
                                FIGURES_DIR, TASKS_DIR))


def prepare_output_dir(out: Path, *, force: bool, what: str, finished: str, unfinished: str,
                       outputs: tuple[str, ...]) -> None:
    """Create the output folder ``out`` of a ``what`` (a run, a comparison), refusing what is not ours.

    ``out/finished`` marks a finished one: it is replaced (its ``outputs``, files or
    folders, removed) only with ``force``.  ``out/unfinished`` marks an interrupted one,
    which resumes.  Any other non-empty folder is written into only with ``force``.
    """
    if (out / finished).exists():
        if not force:
            raise CrossemoError(
                f"{out} already holds a finished {what}; choose another --out or pass --force to replace it"
            )
        for name in outputs:
            path = out / name
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
    elif out.exists() and not out.is_dir():
        raise CrossemoError(f"{out} exists and is not a directory")
    elif out.is_dir() and not (out / unfinished).exists() and any(out.iterdir()) and not force:
        # Neither one of ours nor an interrupted one: someone else's folder.
        raise CrossemoError(
            f"{out} is a non-empty folder that holds no crossemo {what}; choose another --out "
            f"or pass --force to write the {what} into it"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CrossemoError(f"cannot create the run directory {out} ({error.strerror}: {error.filename})") from None


def save_outcome(tasks_dir: Path, outcome: dict) -> None:
    """Keep one finished fit (arrays and JSON in one ``.npz``, atomically)."""
    arrays = {}
    meta = {key: value for key, value in outcome.items() if key not in ("train_latent", "evaluations")}
    meta["evaluations"] = []
    if outcome["train_latent"] is not None:
        arrays["train_latent"] = outcome["train_latent"]
    for position, evaluation in enumerate(outcome["evaluations"]):
        record = {key: value for key, value in evaluation.items() if key != "latent"}
        if evaluation["latent"] is not None:
            arrays[f"latent_{position}"] = evaluation["latent"]
        meta["evaluations"].append(record)
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)
    write_atomic_bytes(tasks_dir / f"{outcome['key']}.npz", buffer.getvalue())


def load_outcome(tasks_dir: Path, key: str) -> dict | None:
    """A fit kept by :func:`save_outcome`, or ``None`` (not there, torn, or foreign)."""
    path = tasks_dir / f"{key}.npz"
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(bytes(stored["meta"]).decode())
            arrays = {name: stored[name] for name in stored.files if name != "meta"}
    except Exception:
        return None  # a torn or foreign file: recompute that fit
    meta["train_latent"] = arrays.get("train_latent")
    for position, evaluation in enumerate(meta["evaluations"]):
        evaluation["latent"] = arrays.get(f"latent_{position}")
    return meta


def write_outputs(out: Path, results: Results, tasks: list[FitTask], outcomes: dict) -> None:
    """Write ``metrics.csv``, ``latents.parquet``, ``config.json`` and, last, ``results.json``.

    Rows of both tables name their training set (``train``); training latents are under ``corpus`` = it.
    """
    rows, latent_frames = [], []
    for task in tasks:
        outcome = outcomes[task.key]
        if outcome["train_latent"] is not None:
            latent_frames.append(
                _latent_frame(task, task.cell, "train", outcome["train_latent"], task.train_labels, None,
                              task.train_paths)
            )
        for evaluation in outcome["evaluations"]:
            corpus = evaluation["corpus"] or task.cell
            rows.append(
                {
                    "train": task.cell,
                    "method": task.method.name,
                    "corpus": corpus,
                    "condition": evaluation["condition"],
                    "classes": len(task.classes),
                    "fold": task.fold,
                    "seed": task.seed,
                    "n": len(evaluation["true"]),
                    "balanced_accuracy": evaluation["balanced_accuracy"],
                    "log_bhattacharyya": evaluation["log_bhattacharyya"],
                }
            )
            if evaluation["latent"] is not None:
                latent_frames.append(
                    _latent_frame(task, corpus, evaluation["condition"], evaluation["latent"],
                                  np.asarray(evaluation["true"], dtype=object), evaluation["predicted"],
                                  evaluation["paths"])
                )
    write_atomic_text(out / METRICS_FILE, pd.DataFrame(rows).to_csv(index=False))
    if latent_frames:
        write_parquet_atomic(pd.concat(latent_frames, ignore_index=True), out / LATENTS_FILE)
    write_atomic_text(out / CONFIG_FILE, json.dumps(results["config"], indent=2))
    # results.json last: its presence marks a finished run.
    write_atomic_text(out / RESULTS_FILE, json.dumps(results, indent=2, default=_json_default))


def _latent_frame(task: FitTask, corpus, condition, latent, labels, predicted, paths) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "train": task.cell,
            "method": task.method.name,
            "classes": len(task.classes),
            "fold": task.fold,
            "seed": task.seed,
            "corpus": corpus,
            "condition": condition,
            "path": paths,
            "label": pd.Series(labels, dtype=object).astype(str),
            "predicted": predicted,
        }
    )
    for dimension in range(latent.shape[1]):
        frame[f"z{dimension}"] = latent[:, dimension]
    return frame


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
