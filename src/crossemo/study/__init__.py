"""A study, end to end: config -> corpora -> task grid -> fits -> results -> run directory.

The protocol is SPEC sections 3 and 4: per corpus outlier removal; per fold the
training fold's scaler; every method of the study is fitted on the training fold and
evaluated within (held-out fold) and on every transfer corpus under "unseen"
(training scaler) and "target_norm" (a random share of the transfer corpus, labels
unused, supplies its own scaler; the rest is evaluated).

Each (class set, fold, seed, method) fit is one task for the execution layer, so a
study runs on local worker processes or on a Dask cluster alike.  Finished tasks are
kept under ``RUN_DIR/.tasks`` so an interrupted run resumes.  Stages, in data order:
:mod:`~crossemo.study.data`, :mod:`~crossemo.study.tasks`,
:mod:`~crossemo.study.fitting`, :mod:`~crossemo.study.results`,
:mod:`~crossemo.study.rundir`.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from crossemo.config import StudyConfig, check_paths, load_config
from crossemo.errors import CrossemoError
from crossemo.execution import start_workers_early
from crossemo.lazy import lazy_attributes
from crossemo.study.data import CorpusData, check_training_classes, load_corpora, load_corpus
from crossemo.study.results import Results, ResultsError, package_versions, read_results
from crossemo.study.rundir import TASKS_DIR, load_outcome, prepare_run_dir, save_outcome, write_outputs
from crossemo.study.tasks import FitTask, TransferSet, build_tasks, method_params

__all__ = [
    "CorpusData",
    "FitTask",
    "Results",
    "ResultsError",
    "TransferSet",
    "build_tasks",
    "check_training_classes",
    "fit_and_evaluate",
    "fit_task_pipeline",
    "load_corpora",
    "load_corpus",
    "method_params",
    "package_versions",
    "read_results",
    "run_study",
    "run_study_file",
]

WORKER_MODULES = ("crossemo.study.fitting", "crossemo.models.batched", "crossemo.models.supervised",
                  "crossemo.evaluation.consistency", "crossemo.report.figures")
"""What the study's workers import: the fits', then the report figures' (matplotlib)."""

_FITTING = ("fit_and_evaluate", "fit_task_pipeline", "map_fit_tasks")
"""Imported on first use: fitting imports scikit-learn, which a reader of results (the report) does not need."""


__getattr__ = lazy_attributes(__name__, {"crossemo.study.fitting": _FITTING})


def run_study(
    config: StudyConfig,
    out: str | Path,
    *,
    force: bool = False,
    progress: bool | None = None,
    report: bool = True,
) -> Results:
    """Run the study ``config`` describes and write its run directory ``out``.

    Returns the content of ``results.json``; a study over several feature sets runs
    once per set and returns the comparison (:func:`crossemo.study.feature_sets.run_feature_sets`,
    whose records carry their ``feature_set``).  Refuses to overwrite a finished run
    unless ``force``; an unfinished run in ``out`` resumes from its finished fits.
    ``report`` also writes ``report.html`` and ``figures/``; ``progress`` shows
    progress bars (``None``: when stderr is a terminal).
    """
    from crossemo.study.results import assemble_results

    if len(config.features.sets) > 1:
        from crossemo.study.feature_sets import run_feature_sets

        return run_feature_sets(config, out, force=force, progress=progress, report=report)
    out = Path(out)
    check_paths(config)
    prepare_run_dir(out, force=force)
    if config.compute.scheduler is None:
        start_workers_early(WORKER_MODULES, jobs=config.compute.jobs)
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
    write_outputs(out, results, tasks, outcomes)
    shutil.rmtree(out / TASKS_DIR, ignore_errors=True)
    if report:
        from crossemo.report import write_report

        write_report(out, jobs=config.compute.jobs)
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
) -> Results:
    """Load a study TOML (with command-line overrides) and run it into ``out``.

    ``jobs`` and ``scheduler`` override ``[compute]``: local worker processes, or
    the address of the Dask scheduler that runs extraction and fits.
    """
    config = load_config(config_path, epochs=epochs, methods=methods, seeds=seeds, jobs=jobs, scheduler=scheduler)
    return run_study(config, out, force=force, progress=progress)


def _run_tasks(tasks: list[FitTask], tasks_dir: Path, config: StudyConfig, *, progress) -> dict[str, dict]:
    """Run every task not already finished in ``tasks_dir``; return outcomes by key."""
    from crossemo.execution import TaskFailure
    from crossemo.study.fitting import map_fit_tasks

    tasks_dir.mkdir(parents=True, exist_ok=True)
    outcomes: dict[str, dict] = {}
    pending = []
    for task in tasks:
        saved = load_outcome(tasks_dir, task.key)
        if saved is None:
            pending.append(task)
        else:
            outcomes[task.key] = saved
    for index, outcome in map_fit_tasks(pending, config.compute, progress=progress):
        if isinstance(outcome, TaskFailure):
            task = pending[index]
            raise CrossemoError(
                f"fitting {task.method.name} on fold {task.fold}, seed {task.seed} failed: {outcome}; "
                "finished fits are kept, run the same command again to resume"
            )
        save_outcome(tasks_dir, outcome)
        outcomes[outcome["key"]] = outcome
    return outcomes
