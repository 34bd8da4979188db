"""The extraction core: hash the files, take what the cache has, compute the rest in batches.

Every file is read with :func:`crossemo.audio.read_audio` (the mono mix-down),
checked to carry a signal (:func:`check_content`) and passed to the extractor's
``compute``.  Batches of files run through
:func:`crossemo.execution.map_tasks`; a task carries the extractor's registry name
(workers rebuild it once per process with :func:`get_extractor`), or the extractor
itself when it is not a registered one.  Results come back here and are cached
batch by batch, never by a worker.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crossemo import execution
from crossemo.audio import SILENCE_PEAK, AudioError, read_audio
from crossemo.execution import TaskFailure, default_jobs
from crossemo.features.cache import SHA256, FeatureCache
from crossemo.features.extractors import EXTRACTORS, FeatureError, FeatureExtractor, get_extractor
from crossemo.fileio import openable_path, path_to_text

MAX_BATCH = 16
"""Most files one task extracts: enough to amortise a task's overhead, few enough to balance."""

TASKS_PER_WORKER = 8
"""Batches are sized so that each worker gets about this many, which keeps the tail short."""

POOL_MIN_FILES = 24
"""Fewer files to compute than this run in this process: starting workers (about 1 s each) costs more."""

Batch = list[tuple[str, str]]  # [(key, path), ...]
Task = tuple["str | FeatureExtractor", Batch]  # (extractor's registry name, or the extractor; batch)
BatchResult = list[tuple[str, "np.ndarray | str"]]  # [(key, features or why there are none), ...]


@dataclass
class Found:
    """Features found for a list of absolute paths (computed or cached) and why the others failed.

    Both are keyed by the path as text (:func:`crossemo.fileio.path_to_text`): pandas
    keeps strings in Arrow, which refuses a name with undecodable bytes.
    """

    values: pd.DataFrame  # index: absolute path as text (distinct); columns: feature names
    failures: dict[str, str] = field(default_factory=dict)  # absolute path as text -> reason
    computed: int = 0
    cached: int = 0


def extract_paths(
    files: Sequence[str],
    extractor: FeatureExtractor,
    *,
    cache_dir: str | os.PathLike[str] | None,
    jobs: int | None,
    progress: bool | None,
    scheduler: str | None,
    map_tasks: Callable[..., Iterator[tuple[int, Any]]] = execution.map_tasks,
    worker: Callable[[Task], BatchResult] | None = None,
) -> Found:
    """Features of the absolute paths ``files`` through the cache.

    ``map_tasks`` is the execution layer's map and ``worker`` the function it runs
    on every batch (default :func:`compute_batch`).
    """
    cache = FeatureCache.open(cache_dir, extractor)
    hashes, sizes, failures = cache.content_hashes(list(dict.fromkeys(files)))
    cached = cache.read(hashes.values())

    todo: dict[str, str] = {}  # one computation per distinct content: sha256 -> a file holding it
    for file, digest in hashes.items():
        if digest not in cached.index and digest not in todo:
            todo[digest] = file
    computed, failed = _compute_missing(
        todo,
        sizes,
        cache,
        jobs=jobs,
        progress=progress,
        scheduler=scheduler,
        map_tasks=map_tasks,
        worker=worker or compute_batch,
    )
    cache.compact()

    every = pd.concat([cached, computed])
    ok = [file for file, digest in hashes.items() if digest in every.index]
    values = every.loc[[hashes[file] for file in ok]].set_axis(pd.Index([path_to_text(file) for file in ok], name="path"))
    failures.update({file: failed[digest] for file, digest in hashes.items() if digest in failed})
    failures = {path_to_text(file): reason for file, reason in failures.items()}
    return Found(values=values, failures=failures, computed=len(todo), cached=len(cached))


def _compute_missing(
    todo: dict[str, str],
    sizes: dict[str, int],
    cache: FeatureCache,
    *,
    jobs: int | None,
    progress: bool | None,
    scheduler: str | None,
    map_tasks: Callable[..., Iterator[tuple[int, Any]]],
    worker: Callable[[Task], BatchResult],
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Compute ``todo`` (sha256 -> file), caching each finished batch at once.

    Returns the features (index sha256) and the reason per sha256 that failed.
    """
    extractor = cache.extractor
    if scheduler is None and len(todo) < POOL_MIN_FILES:
        jobs = 1  # starting workers would cost more than the work
    largest_first = sorted(todo, key=lambda digest: -sizes[todo[digest]])  # so the last tasks are short
    batches = _batches([(digest, todo[digest]) for digest in largest_first], scheduler=scheduler, jobs=jobs)
    frames: list[pd.DataFrame] = [cache.empty()]
    failed: dict[str, str] = {}
    reference = _reference(extractor)
    tasks = map_tasks(
        worker,
        [(reference, batch) for batch in batches],
        jobs=jobs,
        scheduler=scheduler,
        progress=progress,
        description=f"{extractor.feature_set}: {len(todo)} files",
    )
    for index, outcome in tasks:
        if isinstance(outcome, TaskFailure):
            failed.update({digest: f"feature extraction failed: {outcome}" for digest, _ in batches[index]})
            continue
        failed.update({digest: result for digest, result in outcome if isinstance(result, str)})
        good = [(digest, result) for digest, result in outcome if not isinstance(result, str)]
        if good:
            keys, rows = zip(*good)
            frame = pd.DataFrame(
                np.vstack(rows),
                index=pd.Index(keys, name=SHA256, dtype=object),
                columns=list(extractor.feature_names),
            )
            cache.write(frame)
            frames.append(frame)
    return pd.concat(frames), failed


def _batches(work: Batch, *, scheduler: str | None, jobs: int | None) -> list[Batch]:
    """Split ``work`` into consecutive batches, about :data:`TASKS_PER_WORKER` per worker."""
    in_process = scheduler is None and jobs == 1
    workers = 1 if in_process else (jobs or default_jobs())
    size = MAX_BATCH if in_process else math.ceil(len(work) / (workers * TASKS_PER_WORKER))
    size = max(1, min(MAX_BATCH, size))
    return [work[start : start + size] for start in range(0, len(work), size)]


def _reference(extractor: FeatureExtractor) -> str | FeatureExtractor:
    """What a task names the extractor by: its registry name if it is the registered one, else itself."""
    if extractor.id in EXTRACTORS and get_extractor(extractor.id).version == extractor.version:
        return extractor.id  # same id and version: the same values, by the cache's contract
    return extractor


def compute_batch(task: Task) -> BatchResult:
    """Worker side: ``(extractor or its name, [(key, path), ...])`` -> ``[(key, features or reason), ...]``."""
    reference, files = task
    extractor = get_extractor(reference) if isinstance(reference, str) else reference
    return [(key, compute_file(extractor, path)) for key, path in files]


def compute_file(extractor: FeatureExtractor, path: str) -> np.ndarray | str:
    """The file's feature vector (of the extractor's dtype), or the reason it has none."""
    try:
        with openable_path(path) as name:
            signal, sample_rate = read_audio(name)
    except AudioError as error:
        return str(error)
    return compute_signal(extractor, signal, sample_rate)


def compute_signal(extractor: FeatureExtractor, signal: np.ndarray, sample_rate: int) -> np.ndarray | str:
    """The feature vector of a mono signal (a file, a segment of one), or the reason it has none.

    ``signal`` has passed :func:`crossemo.audio.check_signal` (as :func:`read_audio` does);
    a constant one (:func:`check_content`), an extractor that fails, or one that gives the
    wrong number of values or non-finite ones, is a reason.
    """
    names = extractor.feature_names
    try:
        check_content(signal)
        values = np.asarray(extractor.compute(signal, sample_rate), dtype=extractor.dtype)
    except AudioError as error:
        return str(error)
    except Exception as error:  # an extractor can fail on unusual input; that file is skipped
        return f"feature extraction failed: {type(error).__name__}: {error}"
    if values.shape != (len(names),):
        return f"feature extraction failed: {extractor.id} gave {values.shape} values for {len(names)} features"
    bad = [name for name, value in zip(names, values) if not np.isfinite(value)]
    if bad:
        listed = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        return f"NaN features: {listed}"
    return values


def check_content(signal: np.ndarray) -> None:
    """Raise :class:`AudioError` for a signal that does not vary: a DC offset alone is no speech.

    :func:`read_audio` refuses digital silence by its peak; a constant signal away
    from zero (a stuck converter, a DC-only file) passes that test, so the
    variation around the mean is held to the same threshold.
    """
    variation = float(np.max(np.abs(signal - np.mean(signal, dtype=np.float64))))
    if variation < SILENCE_PEAK:
        raise AudioError(
            f"silent audio: a constant signal (DC offset {float(np.mean(signal)):+.3g}), no variation above -80 dBFS"
        )


def absolute(path: str | os.PathLike[str], root: str | os.PathLike[str] | None) -> str:
    """``path`` made absolute against ``root`` (when it is relative and there is one) or the working directory."""
    if not isinstance(path, str | os.PathLike):  # e.g. NaN from a table's empty cell
        raise FeatureError(f"not a file path: {path!r}")
    full = Path(path).expanduser()
    if root is not None and not full.is_absolute():
        full = Path(root) / full
    return os.path.abspath(full)
