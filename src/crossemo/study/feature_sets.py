"""A study over several feature sets: one complete run per set, then their comparison.

A config whose ``[features] set`` lists several sets runs the whole study once per
set, each into its own run directory (``RUN_DIR/<set>/``), and writes the comparison
(:mod:`crossemo.study.comparison` describes the files).  Each set's run resumes on
its own, so an interrupted comparison continues where it stopped;
``comparison.json`` is written last and marks a finished comparison.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from crossemo.config import StudyConfig
from crossemo.errors import CrossemoError
from crossemo.fileio import write_atomic_text
from crossemo.study.comparison import (
    COMPARISON_FILE,
    COMPARISON_TABLE,
    PLAN_FILE,
    comparison_document,
    comparison_table,
    run_folder_name,
)
from crossemo.study.rundir import FIGURES_DIR, REPORT_FILE, RESULTS_FILE, TASKS_DIR, prepare_output_dir


def run_feature_sets(
    config: StudyConfig,
    out: str | Path,
    *,
    force: bool = False,
    progress: bool | None = None,
    report: bool = True,
) -> dict[str, Any]:
    """Run ``config`` once per feature set into ``out/<set>/`` and write the comparison.

    Returns ``comparison.json``'s content: ``feature_sets``, ``runs`` (set -> folder
    name) and ``results`` (every record of every run with its ``feature_set``).  A
    finished comparison in ``out`` is replaced only with ``force``; an unfinished one
    resumes.  ``report`` also writes each run's report and the comparison page.
    """
    from crossemo.study import run_study

    out = Path(out)
    sets = config.features.sets
    folders = {name: run_folder_name(name) for name in sets}
    if len(set(folders.values())) != len(folders):
        raise CrossemoError(f"feature sets {', '.join(sets)} would share a run folder; rename a model folder")
    prepare_output_dir(out, force=force, what="comparison", finished=COMPARISON_FILE, unfinished=PLAN_FILE,
                       outputs=(COMPARISON_FILE, COMPARISON_TABLE, REPORT_FILE, FIGURES_DIR))
    write_atomic_text(out / PLAN_FILE, json.dumps({"feature_sets": sets, "runs": folders}, indent=2))
    runs = {}
    for name in sets:
        one = config.for_feature_set(name)
        finished = _finished_run(out / folders[name], one) if not force else None
        # A set finished before an interruption is read back; one run with other settings is redone.
        runs[name] = finished or run_study(one, out / folders[name], force=True if force else finished is False,
                                           progress=progress, report=False)  # written below, with the page
    comparison = comparison_document(runs, folders)
    write_atomic_text(out / COMPARISON_TABLE, comparison_table(comparison).to_csv(index=False))
    write_atomic_text(out / COMPARISON_FILE, json.dumps(comparison, indent=2))
    (out / PLAN_FILE).unlink(missing_ok=True)
    if report:
        from crossemo.report import write_report

        write_report(out, jobs=config.compute.jobs)
    return comparison


def _finished_run(run_dir: Path, config: StudyConfig) -> dict | bool | None:
    """The results of a finished run of ``config`` in ``run_dir``; ``False`` for a run of other settings.

    ``None`` when there is none (or it is unfinished: :func:`~crossemo.study.run_study` resumes it).
    """
    from crossemo.config import config_to_dict
    from crossemo.study.results import ResultsError, read_results

    if not (run_dir / RESULTS_FILE).is_file() or (run_dir / TASKS_DIR).exists():
        return None
    try:
        results = read_results(run_dir / RESULTS_FILE)
    except ResultsError:
        return False
    # [compute] says where the work ran, not what it computed.
    recorded = {key: value for key, value in (results.get("config") or {}).items() if key != "compute"}
    wanted = {key: value for key, value in config_to_dict(config).items() if key != "compute"}
    return results if recorded == wanted else False
