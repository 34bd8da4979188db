"""A study, end to end: config -> features -> folds x seeds x methods -> run directory.

The protocol is SPEC sections 3 and 4: per corpus outlier removal; per fold the
training fold's scaler; every latent model and baseline is fitted on the training
fold and evaluated within (held-out fold) and on every transfer corpus under
"unseen" (training scaler) and "target_norm" (a random share of the transfer
corpus, labels unused, supplies its own scaler; the rest is evaluated).

Each (class set, fold, seed, method) fit is one task for the execution layer, so
a study runs on local worker processes or on a Dask cluster alike.  Finished
tasks are kept under ``RUN_DIR/.tasks`` so an interrupted run resumes.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from crossemo.config import (
    BASELINES,
    METHODS,
    CorpusEntry,
    StudyConfig,
    check_paths,
    config_to_dict,
    load_config,
)
from crossemo.errors import ConfigError, CrossemoError
from crossemo.fileio import write_atomic_bytes, write_atomic_text, write_parquet_atomic

RESULTS_FILE = "results.json"
METRICS_FILE = "metrics.csv"
LATENTS_FILE = "latents.parquet"
CONFIG_FILE = "config.json"
TASKS_DIR = ".tasks"


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class CorpusData:
    """One corpus after feature extraction and outlier removal."""

    name: str
    table: pd.DataFrame
    features: np.ndarray
    n_outliers: int
    skipped: list[dict]
    outlier_mean: np.ndarray | None = None  # the whole corpus' statistics the outlier check used
    outlier_std: np.ndarray | None = None


@dataclass(frozen=True)
class TransferSet:
    """A transfer corpus restricted to the classes it is evaluated on, under one condition."""

    name: str
    condition: str
    features: np.ndarray  # standardized as the condition prescribes
    labels: np.ndarray
    paths: np.ndarray
    adapt_paths: np.ndarray  # the unlabelled share that supplied the scaler (target_norm only)


@dataclass(frozen=True)
class FitTask:
    """One fit: everything a worker needs, nothing it has to read from disk."""

    key: str
    method: str
    classes: tuple[str, ...]
    fold: int
    seed: int
    params: dict
    train_features: np.ndarray
    train_labels: np.ndarray
    train_paths: np.ndarray
    test_features: np.ndarray
    test_labels: np.ndarray
    test_paths: np.ndarray
    transfers: tuple[TransferSet, ...] = field(default=())
    unlabelled_features: np.ndarray | None = None  # extra training input without labels (protocol.unlabelled)
    scale_latent: bool = False


# --------------------------------------------------------------------------- public API


def run_study(
    config: StudyConfig,
    out: str | Path,
    *,
    force: bool = False,
    progress: bool | None = None,
    report: bool = True,
) -> dict:
    """Run the study ``config`` describes and write its run directory ``out``.

    Returns the content of ``results.json``.  Refuses to overwrite a finished run
    unless ``force``; an unfinished run in ``out`` resumes from its finished fits.
    ``report`` also writes ``report.html`` and ``figures/``; ``progress`` shows
    progress bars (``None``: when stderr is a terminal).
    """
    out = Path(out)
    check_paths(config)
    _prepare_run_dir(out, force=force)
    started = time.perf_counter()
    timings: dict[str, float] = {}

    corpora = load_corpora(config, progress=progress)
    timings["features_s"] = time.perf_counter() - started

    tasks = build_tasks(config, corpora)
    fit_started = time.perf_counter()
    outcomes = _run_tasks(tasks, out / TASKS_DIR, config, progress=progress)
    timings["fits_s"] = time.perf_counter() - fit_started
    timings["total_s"] = time.perf_counter() - started

    results = assemble_results(config, corpora, tasks, outcomes, timings)
    _write_outputs(out, config, results, tasks, outcomes)
    shutil.rmtree(out / TASKS_DIR, ignore_errors=True)
    if report:
        from crossemo.report import write_report

        write_report(out)
    return results


def run_study_file(
    config_path: str | Path,
    out: str | Path,
    *,
    force: bool = False,
    progress: bool | None = None,
    epochs: int | None = None,
    methods: list[str] | None = None,
    seeds: list[int] | None = None,
    jobs: int | None = None,
    scheduler: str | None = None,
) -> dict:
    """Load a study TOML (with command-line overrides) and run it into ``out``.

    ``jobs`` and ``scheduler`` override ``[compute]``: local worker processes, or
    the address of the Dask scheduler that runs extraction and fits.
    """
    config = load_config(config_path, epochs=epochs, methods=methods, seeds=seeds, jobs=jobs, scheduler=scheduler)
    return run_study(config, out, force=force, progress=progress)


def load_corpora(config: StudyConfig, *, progress: bool | None = None) -> dict[str, CorpusData]:
    """Read, extract (through the cache) and clean every corpus of ``config``."""
    from crossemo.corpora import read_corpus

    entries = [config.train, *config.transfer]
    # Read every corpus before extracting any: a wrong layout is reported at once, not after
    # minutes of feature extraction of the corpora before it.
    tables = [read_corpus(entry.corpus, entry.path) for entry in entries]
    corpora = {
        entry.display_name: load_corpus(entry, config, table=table, progress=progress)
        for entry, table in zip(entries, tables)
    }
    check_training_classes(config, corpora[config.train.display_name])
    return corpora


def load_corpus(
    entry: CorpusEntry,
    config: StudyConfig,
    *,
    table: pd.DataFrame | None = None,
    progress: bool | None = None,
) -> CorpusData:
    """One corpus of a study: read, extract through the cache, drop outliers (SPEC section 3).

    ``table`` is the corpus as :func:`~crossemo.corpora.read_corpus` returns it; read here when not given.
    """
    from crossemo.corpora import read_corpus
    from crossemo.features import extract, feature_names
    from crossemo.preprocessing import outlier_mask

    names = feature_names()
    extracted = extract(
        read_corpus(entry.corpus, entry.path) if table is None else table,
        cache_dir=config.compute.cache_dir,
        jobs=config.compute.jobs,
        scheduler=config.compute.scheduler,
        progress=progress,
    )
    if extracted.empty:
        raise CrossemoError(f"{entry.display_name}: no usable recordings under {entry.path}")
    features = extracted[names].to_numpy(dtype=np.float64)
    keep = outlier_mask(features, z=config.protocol.outlier_z)
    table = extracted.loc[keep, [c for c in extracted.columns if c not in names]].reset_index(drop=True)
    table["corpus"] = entry.display_name
    return CorpusData(
        name=entry.display_name,
        table=table,
        features=features[keep],
        n_outliers=int((~keep).sum()),
        skipped=list(extracted.attrs.get("skipped", [])),
        outlier_mean=features.mean(axis=0),
        outlier_std=features.std(axis=0),
    )


def build_tasks(config: StudyConfig, corpora: dict[str, CorpusData]) -> list[FitTask]:
    """Every (class set, fold, seed, method) fit of the study, data standardized per fold."""
    from sklearn.preprocessing import StandardScaler

    train = corpora[config.train.display_name]
    methods = [*config.model.methods, *config.protocol.baselines]
    tasks: list[FitTask] = []
    for classes in config.class_sets():
        rows = np.flatnonzero(train.table["label"].isin(classes).to_numpy())
        table = train.table.iloc[rows].reset_index(drop=True)
        features = train.features[rows]
        labels = table["label"].to_numpy(dtype=object)
        paths = table["path"].to_numpy(dtype=object)
        extra = _unlabelled_rows(config, train, classes)
        transfers = [
            corpora[entry.display_name]
            for entry in config.transfer
            if config.transfer_classes(entry) == classes
        ]
        for seed in config.protocol.seeds:
            # The target_norm sets do not depend on the fold: their scaler is their own.
            adapted = {
                data.name: _target_norm_set(data, classes, config, seed)
                for data in transfers
                if "target_norm" in config.protocol.conditions
            }
            for fold, (train_idx, test_idx) in enumerate(_folds(config, table, labels, seed)):
                scaler = StandardScaler().fit(features[train_idx])
                transfer_sets = []
                for data in transfers:
                    for condition in config.protocol.conditions:
                        if condition == "unseen":
                            transfer_sets.append(_unseen_set(data, classes, scaler))
                        else:
                            transfer_sets.append(adapted[data.name])
                train_features = scaler.transform(features[train_idx])
                test_features = scaler.transform(features[test_idx])
                unlabelled = None
                if extra.size:
                    extra_rows = extra
                    if config.protocol.split == "speaker":
                        # Speaker independence holds for them too: none of the held-out speakers.
                        held_out = set(table["speaker"].iloc[test_idx])
                        extra_rows = extra[~train.table["speaker"].iloc[extra].isin(held_out).to_numpy()]
                    unlabelled = scaler.transform(train.features[extra_rows])
                for method in methods:
                    tasks.append(
                        FitTask(
                            key=_task_key(config, method, classes, fold, seed),
                            method=method,
                            classes=classes,
                            fold=fold,
                            seed=seed,
                            params=model_params(config, method, seed),
                            train_features=train_features,
                            train_labels=labels[train_idx],
                            train_paths=paths[train_idx],
                            test_features=test_features,
                            test_labels=labels[test_idx],
                            test_paths=paths[test_idx],
                            transfers=tuple(transfer_sets),
                            unlabelled_features=unlabelled,
                            scale_latent=config.protocol.scale_latent,
                        )
                    )
    return tasks


def _unlabelled_rows(config: StudyConfig, train: CorpusData, classes: tuple[str, ...]) -> np.ndarray:
    """Training-corpus rows outside ``classes`` that protocol.unlabelled = "use" adds as unlabelled input."""
    if config.protocol.unlabelled != "use":
        return np.empty(0, dtype=int)
    return np.flatnonzero(~train.table["label"].isin(classes).to_numpy())


def _class_rows(data: CorpusData, classes: tuple[str, ...]) -> np.ndarray:
    rows = np.flatnonzero(data.table["label"].isin(classes).to_numpy())
    if rows.size == 0:
        raise ConfigError(f"transfer corpus {data.name} has no utterances of the classes {list(classes)}")
    return rows


def _unseen_set(data: CorpusData, classes: tuple[str, ...], scaler) -> TransferSet:
    """Condition "unseen": the whole transfer corpus, standardized with the training fold's scaler."""
    rows = _class_rows(data, classes)
    paths = data.table["path"].to_numpy(dtype=object)
    return TransferSet(
        name=data.name,
        condition="unseen",
        features=scaler.transform(data.features[rows]),
        labels=data.table["label"].to_numpy(dtype=object)[rows],
        paths=paths[rows],
        adapt_paths=paths[rows[:0]],
    )


def _target_norm_set(data: CorpusData, classes: tuple[str, ...], config: StudyConfig, seed: int) -> TransferSet:
    """Condition "target_norm": a random share (labels unused) supplies the scaler; the rest is evaluated."""
    from sklearn.preprocessing import StandardScaler

    from crossemo.preprocessing import target_norm_split

    rows = _class_rows(data, classes)
    adapt, evaluated = target_norm_split(rows.size, fraction=config.protocol.target_fraction, seed=seed)
    adapt_rows, eval_rows = rows[adapt], rows[evaluated]
    own = StandardScaler().fit(data.features[adapt_rows])
    paths = data.table["path"].to_numpy(dtype=object)
    return TransferSet(
        name=data.name,
        condition="target_norm",
        features=own.transform(data.features[eval_rows]),
        labels=data.table["label"].to_numpy(dtype=object)[eval_rows],
        paths=paths[eval_rows],
        adapt_paths=paths[adapt_rows],
    )


def fit_and_evaluate(task: FitTask) -> dict:
    """Fit one method on one training fold and evaluate it everywhere (runs in a worker)."""
    started = time.perf_counter()
    with _single_thread():
        embed, history = _fit_embedding(task)
        outcome = _evaluate(task, embed)
    outcome.update(key=task.key, history=history, fit_s=time.perf_counter() - started)
    return outcome


def _evaluate(task: FitTask, embed) -> dict:
    """Train the linear SVC on the training latent; predict the held-out fold and every transfer set."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from crossemo.evaluation.consistency import log_bhattacharyya
    from crossemo.evaluation.metrics import balanced_accuracy

    has_latent = task.method != "svc_features"
    train_latent = embed(task.train_features)
    classifier = SVC(kernel="linear")
    if task.scale_latent and has_latent:
        classifier = make_pipeline(StandardScaler(), classifier)
    classifier.fit(train_latent, task.train_labels)

    evaluations = []
    sets = [("within", "", task.test_features, task.test_labels, task.test_paths)]
    sets += [(t.condition, t.name, t.features, t.labels, t.paths) for t in task.transfers]
    for condition, corpus, features, labels, paths in sets:
        latent = embed(features)
        predicted = classifier.predict(latent)
        evaluations.append(
            {
                "condition": condition,
                "corpus": corpus,
                "true": labels.tolist(),
                "predicted": predicted.tolist(),
                "balanced_accuracy": balanced_accuracy(labels, predicted),
                "paths": paths.tolist(),
                "latent": latent.astype(np.float32) if has_latent else None,
                "log_bhattacharyya": (
                    float(log_bhattacharyya(train_latent, latent))
                    if has_latent and condition != "within"
                    else None
                ),
            }
        )
    return {
        "train_latent": train_latent.astype(np.float32) if has_latent else None,
        "evaluations": evaluations,
    }


# --------------------------------------------------------------------------- helpers


@contextmanager
def _single_thread():
    """Train on one torch thread: results then agree bit for bit wherever the fit runs."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _fit_embedding(task: FitTask):
    """Fit the task's method; return (embed function, training history)."""
    if task.method == "svc_features":
        return (lambda features: features), []
    features, labels = task.train_features, task.train_labels
    if task.unlabelled_features is not None and len(task.unlabelled_features):
        features = np.vstack([features, task.unlabelled_features])
        labels = np.concatenate([labels, np.full(len(task.unlabelled_features), None, dtype=object)])
    if task.method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=task.params["latent_dim"], random_state=task.seed).fit(features)
        return pca.transform, []
    from crossemo.models import MODELS

    model = MODELS[task.method](**task.params)
    model.fit(features, labels if task.method == "vae_ss" else None)
    return model.transform, list(getattr(model, "history_", []))


def model_params(config: StudyConfig, method: str, seed: int) -> dict:
    """Constructor keywords of a latent model (for a baseline: its latent width) from the study's settings."""
    settings = config.model
    if method in BASELINES:
        return {"latent_dim": settings.latent_dim}
    return {
        "latent_dim": settings.latent_dim,
        "epochs": settings.epochs,
        "batch_size": settings.batch_size,
        "learning_rate": settings.learning_rate,
        "seed": seed,
        "device": settings.device,
        **settings.options.get(method, {}),
    }


def _task_key(config: StudyConfig, method: str, classes: tuple[str, ...], fold: int, seed: int) -> str:
    """A stable name for a fit: changes whenever anything that affects its result changes."""
    # Where the fit runs (compute) does not change its result, so it is not part of the name.
    settings = config_to_dict(config)
    settings.pop("compute", None)
    identity = json.dumps(
        {
            "config": settings,
            "method": method,
            "classes": classes,
            "fold": fold,
            "seed": seed,
        },
        sort_keys=True,
    )
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return f"{method}-{len(classes)}c-f{fold}-s{seed}-{digest}"


def _folds(config: StudyConfig, table: pd.DataFrame, labels: np.ndarray, seed: int):
    from crossemo.evaluation.protocols import session_folds, speaker_folds, utterance_folds

    protocol = config.protocol
    if protocol.split == "utterance":
        return utterance_folds(labels, n_folds=protocol.folds, seed=seed)
    speakers = table["speaker"].to_numpy(dtype=object)
    if config.train.corpus == "iemocap":
        # IEMOCAP's speaker-independent protocol is leave one session out.
        return session_folds(speakers)
    return speaker_folds(speakers, n_folds=protocol.folds, labels=labels, seed=seed)


def check_training_classes(config: StudyConfig, train: CorpusData) -> None:
    """Raise :class:`ConfigError` if the training corpus lacks a class the study trains on."""
    present = set(train.table["label"].dropna())
    for classes in config.class_sets():
        missing = [label for label in classes if label not in present]
        if missing:
            raise ConfigError(
                f"training corpus {train.name} has no utterances of class(es) {missing}; "
                f"it has {sorted(present)}: drop them from protocol.classes"
            )


def _run_tasks(tasks: list[FitTask], tasks_dir: Path, config: StudyConfig, *, progress) -> dict[str, dict]:
    """Run every task not already finished in ``tasks_dir``; return outcomes by key."""
    from crossemo.execution import TaskFailure, map_tasks

    tasks_dir.mkdir(parents=True, exist_ok=True)
    outcomes: dict[str, dict] = {}
    pending = []
    for task in tasks:
        saved = _load_outcome(tasks_dir, task.key)
        if saved is None:
            pending.append(task)
        else:
            outcomes[task.key] = saved
    for index, outcome in map_tasks(
        fit_and_evaluate,
        pending,
        jobs=config.compute.jobs,
        scheduler=config.compute.scheduler,
        progress=progress,
        description="fitting models",
    ):
        if isinstance(outcome, TaskFailure):
            task = pending[index]
            raise CrossemoError(
                f"fitting {task.method} on fold {task.fold}, seed {task.seed} failed: {outcome}; "
                "finished fits are kept, run the same command again to resume"
            )
        _save_outcome(tasks_dir, outcome)
        outcomes[outcome["key"]] = outcome
    return outcomes


def _save_outcome(tasks_dir: Path, outcome: dict) -> None:
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
    target = tasks_dir / f"{outcome['key']}.npz"
    write_atomic_bytes(target, _npz_bytes(arrays, meta))


def _load_outcome(tasks_dir: Path, key: str) -> dict | None:
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


def _npz_bytes(arrays: dict[str, np.ndarray], meta: dict) -> bytes:
    import io

    buffer = io.BytesIO()
    encoded = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(buffer, meta=encoded, **arrays)
    return buffer.getvalue()


def _prepare_run_dir(out: Path, *, force: bool) -> None:
    if (out / RESULTS_FILE).exists():
        if not force:
            raise CrossemoError(
                f"{out} already holds a finished run; choose another --out or pass --force to replace it"
            )
        for name in (RESULTS_FILE, METRICS_FILE, LATENTS_FILE, CONFIG_FILE, "report.html"):
            (out / name).unlink(missing_ok=True)
        shutil.rmtree(out / "figures", ignore_errors=True)
        shutil.rmtree(out / TASKS_DIR, ignore_errors=True)
    elif out.exists() and not out.is_dir():
        raise CrossemoError(f"{out} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CrossemoError(f"cannot create the run directory {out} ({error.strerror}: {error.filename})") from None


# --------------------------------------------------------------------------- assembling results


def assemble_results(config, corpora, tasks, outcomes, timings) -> dict:
    """Aggregate per-fold outcomes into ``results.json``'s content."""
    from crossemo.evaluation.metrics import confusion, mean_ci95, per_class_recall

    groups: dict[tuple, list[dict]] = {}
    for task in tasks:
        outcome = outcomes[task.key]
        for evaluation in outcome["evaluations"]:
            corpus = evaluation["corpus"] or config.train.display_name
            key = (task.method, corpus, evaluation["condition"], task.classes)
            groups.setdefault(key, []).append(evaluation)

    order = {name: position for position, name in enumerate([*METHODS, *BASELINES])}
    records = []
    for (method, corpus, condition, classes), items in sorted(
        groups.items(), key=lambda item: (-len(item[0][3]), order[item[0][0]], item[0][1], item[0][2])
    ):
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
        record = {
            "method": method,
            "corpus": corpus,
            "condition": condition,
            "classes": len(classes),
            "class_names": list(classes),
            "balanced_accuracy": {"mean": mean, "ci95": [low, high], "folds": folds},
            "log_bhattacharyya": (
                {"mean": float(np.mean(log_bds)), "folds": log_bds} if log_bds else None
            ),
            "per_class_recall": {
                label: (float(np.mean(values)) if values else None) for label, values in recalls.items()
            },
            "confusion": matrix,
        }
        absent = [label for label in classes if label not in present]
        if absent:
            record["note"] = (
                f"{corpus} has no {', '.join(absent)} utterances: balanced accuracy is over "
                f"{', '.join(label for label in classes if label in present)}"
            )
        records.append(record)

    histories = {
        f"{task.method}/{len(task.classes)}c/fold{task.fold}/seed{task.seed}": outcomes[task.key]["history"]
        for task in tasks
        if outcomes[task.key]["history"]
    }
    timings = dict(timings)
    timings["fit_s_by_method"] = {}
    for task in tasks:
        timings["fit_s_by_method"].setdefault(task.method, 0.0)
        timings["fit_s_by_method"][task.method] += outcomes[task.key]["fit_s"]
    return {
        "results": records,
        "config": config_to_dict(config),
        "corpora": {
            name: {
                "utterances": int(len(data.table)),
                "labelled": int(data.table["label"].notna().sum()),
                "outliers_removed": data.n_outliers,
                "skipped": data.skipped,
                "language": _languages(data.table),
            }
            for name, data in corpora.items()
        },
        "histories": histories,
        "versions": package_versions(),
        "timings": timings,
    }


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


def _write_outputs(out: Path, config: StudyConfig, results: dict, tasks, outcomes) -> None:
    rows, latent_frames = [], []
    for task in tasks:
        outcome = outcomes[task.key]
        if outcome["train_latent"] is not None:
            latent_frames.append(
                _latent_frame(task, config.train.display_name, "train", outcome["train_latent"],
                              task.train_labels, None, task.train_paths)
            )
        for evaluation in outcome["evaluations"]:
            corpus = evaluation["corpus"] or config.train.display_name
            rows.append(
                {
                    "method": task.method,
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
                                  np.asarray(evaluation["true"], dtype=object),
                                  evaluation["predicted"], evaluation["paths"])
                )
    write_atomic_text(out / METRICS_FILE, pd.DataFrame(rows).to_csv(index=False))
    if latent_frames:
        latents = pd.concat(latent_frames, ignore_index=True)
        write_parquet_atomic(latents, out / LATENTS_FILE)
    write_atomic_text(out / CONFIG_FILE, json.dumps(results["config"], indent=2))
    write_atomic_text(out / RESULTS_FILE, json.dumps(results, indent=2, default=_json_default))


def _latent_frame(task, corpus, condition, latent, labels, predicted, paths) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "method": task.method,
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
