"""Prediction on long recordings: one row per segment, features cached per segment, per-file summaries.

:func:`predict_segments` is what ``TrainedModel.predict(paths, segment=...)`` runs.  A
recording no longer than the segment length is one segment, the whole file, and goes
through :func:`crossemo.features.extract_files` exactly as without segmentation (same
features, same cache entry, same row); so does audio held as bytes in a table's cell.  A longer one is segmented block by block
(:func:`crossemo.segmentation.detect_segments`), and each segment's samples are read
only when its features are computed.  Segment features are cached in the feature cache
(:class:`crossemo.features.cache.FeatureCache`) under the key
``<file sha256>:<first sample>:<end sample>``, so a renamed copy of a file reuses them
and a changed file does not.  Files run in parallel (``jobs``), segments of one file in
one worker, one after the other.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crossemo.bundle.format import ERROR_COLUMN, OUT_OF_RANGE_COLUMN, PREDICTED_COLUMN
from crossemo.recordings import collect_recordings
from crossemo.segmentation import Segmentation, SegmentationError, detect_segments, owned_spans, parse_segmentation

START_COLUMN = "start_s"
END_COLUMN = "end_s"
UNCERTAIN_COLUMN = "uncertain"
NO_SEGMENTS = "no segments found"
SPANS_PER_TASK = 200
"""Most segments one task extracts (about 5 s of openSMILE): enough to amortise starting a worker."""

SpanTask = tuple[Any, str, list[tuple[str, int, int]]]  # (extractor or its name, path, [(key, start, end), ...])


def predict_with_segments(
    model: Any,
    paths: Any,
    segment: str | Segmentation | None,
    *,
    plot: str | os.PathLike[str] | None = None,
    force: bool = False,
    adapt: Any = None,
    adapt_by_speaker: bool = False,
    min_confidence: float | None = None,
    **options: Any,
) -> pd.DataFrame:
    """:func:`predict_segments`, then the timeline figures into ``plot`` (:func:`plot_timelines`).

    Existing figures are refused before any work unless ``force``.  ``options``:
    ``jobs``, ``cache_dir``, ``progress``, ``scheduler``.
    """
    if segment is None:
        raise SegmentationError("a timeline figure (plot) draws segments over time: give segment too, "
                              "e.g. segment='vad' (--segment vad)")
    if adapt_by_speaker:
        raise SegmentationError("segment and adapt_by_speaker exclude each other: segments are predicted with the "
                              "training normalization or with adapt recordings")
    segmentation = parse_segmentation(segment)
    if plot is not None:
        figure_paths(plot, collect_recordings(paths), force=force)
    predictions = predict_segments(model, paths, segmentation, adapt=adapt,
                                   classify_options={"min_confidence": min_confidence}, **options)
    if plot is not None:
        plot_timelines(predictions, plot, classes=model.classes, force=force)
    return predictions


def predict_segments(
    model: Any,
    paths: Any,
    segment: str | Segmentation,
    *,
    adapt: Any = None,
    jobs: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
    scheduler: str | None = None,
    classify_options: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """One row per segment of every recording in ``paths`` (see :meth:`TrainedModel.predict`).

    Columns: ``path``, ``start_s``, ``end_s``, then those of a file row.  A recording
    whose segmentation finds nothing (no speech) gets one row with the error
    :data:`NO_SEGMENTS`; one that cannot be read, one row with the reason.  ``attrs``:
    those of a file table plus ``segmentation`` (the spec) and ``durations`` (seconds
    per path).  ``classify_options`` go to ``model.classification_columns``.
    """
    from crossemo.audio import AudioError, audio_info
    from crossemo.features import extract_files
    from crossemo.features.extraction import absolute
    from crossemo.features.extractors import as_extractor
    from crossemo.fileio import embedded_reference, path_to_text

    segmentation = parse_segmentation(segment)
    files = [absolute(file, None) for file in collect_recordings(paths)]
    if not files:
        raise SegmentationError("no recordings given to predict")
    extractor = as_extractor(model.feature_set)
    names = list(model.feature_names)

    long_files: list[str] = []
    for file in files:
        if embedded_reference(file) is not None:
            continue  # audio held as bytes in a table (a dataset's clip) is read whole, as without segmentation
        try:
            duration_s, _ = audio_info(file)
        except AudioError:
            continue  # extract_files reports it as it does for any file
        if duration_s > segmentation.length_s:
            long_files.append(file)
    segmented = set(long_files)
    whole = [file for file in files if file not in segmented]
    adapt_files = [] if adapt is None else collect_recordings(adapt)
    if whole or adapt_files:
        extracted = extract_files([*whole, *adapt_files], feature_set=extractor, cache_dir=cache_dir, jobs=jobs,
                                  progress=progress, scheduler=scheduler)
    else:  # reading the cache costs memory (pyarrow's pools): only for something to read
        extracted = pd.DataFrame(columns=["path", *names, ERROR_COLUMN])
    normalization = model.normalization
    if adapt is not None:
        from crossemo.recordings import describe_sources

        adapted = extracted.iloc[len(whole):]
        usable = adapted[adapted[ERROR_COLUMN].isna()]
        source = describe_sources(adapt)
        if len(usable) < 2:
            raise SegmentationError(f"adapting needs at least 2 usable recordings of the new domain; {source} "
                                    f"gave {len(usable)} of {len(adapted)}")
        normalization = model.adapt_normalization(usable[names].to_numpy(dtype=np.float64), source=source)
    tables: dict[str, pd.DataFrame] = {}
    durations: dict[str, float] = {}
    for file, (_, row) in zip(whole, extracted.iloc[: len(whole)].iterrows()):
        duration_s = _duration(file)
        durations[file] = duration_s
        tables[file] = pd.DataFrame({"path": [row["path"]], START_COLUMN: [0.0 if np.isfinite(duration_s) else np.nan],
                                     END_COLUMN: [duration_s],
                                     **{name: [row[name]] for name in names}, ERROR_COLUMN: [row[ERROR_COLUMN]]})

    computed = cached_count = 0
    if long_files:
        segmented_tables, segmented_durations, computed, cached_count = _segmented_rows(
            long_files, segmentation, extractor, cache_dir=cache_dir, jobs=jobs, scheduler=scheduler,
            progress=progress)
        tables.update(segmented_tables)
        durations.update(segmented_durations)

    rows = pd.concat([tables[file] for file in files], ignore_index=True)
    frame = classified_rows(model, rows, normalization, classify_options or {})
    frame.attrs = {
        "method": model.method,
        "normalization": {"source": normalization.source, "recordings": normalization.recordings},
        "target_recordings": model.target_recordings,
        "calibrated": getattr(model, "calibration", None) is not None,
        "computed": int(extracted.attrs.get("computed", 0)) + computed,
        "cached": int(extracted.attrs.get("cached", 0)) + cached_count,
        "segmentation": segmentation.describe(),
        "durations": {path_to_text(file): seconds for file, seconds in durations.items()},
    }
    return frame


def _segmented_rows(
    long_files: list[str],
    segmentation: Segmentation,
    extractor: Any,
    *,
    cache_dir: str | os.PathLike[str] | None,
    jobs: int | None,
    scheduler: str | None,
    progress: bool | None,
) -> tuple[dict[str, pd.DataFrame], dict[str, float], int, int]:
    """Segment each recording, then compute (or take from the cache) its segments' features.

    Returns per file a table ``path, start_s, end_s, <features>, error``, the durations,
    and how many segment vectors were computed and taken from the cache.
    """
    from crossemo.execution import TaskFailure, map_tasks
    from crossemo.features.cache import FeatureCache
    from crossemo.fileio import path_to_text

    names = list(extractor.feature_names)
    tables: dict[str, pd.DataFrame] = {}
    durations: dict[str, float] = {}
    cache = FeatureCache.open(cache_dir, extractor)
    hashes, _, failures = cache.content_hashes(long_files)
    detections = dict(map_tasks(_detect, [(file, segmentation) for file in long_files], jobs=jobs,
                                scheduler=scheduler, progress=progress,
                                description=f"segmenting {len(long_files)} recordings"))
    spans: dict[str, list[tuple[str, int, int]]] = {}
    for index, file in enumerate(long_files):
        outcome = detections[index]
        if file in failures or isinstance(outcome, TaskFailure | str):
            reason = failures.get(file) or (f"segmentation failed: {outcome}"
                                            if isinstance(outcome, TaskFailure) else outcome)
            tables[file] = _error_table(file, names, reason)
            continue
        frames, rate, found = outcome
        durations[file] = frames / rate
        bounds = [(round(start_s * rate), min(frames, round(end_s * rate))) for start_s, end_s in found]
        spans[file] = [(f"{hashes[file]}:{start}:{end}", start, end) for start, end in bounds]
        if not found:
            tables[file] = _error_table(file, names, f"{NO_SEGMENTS} ({segmentation.describe()})",
                                        end_s=frames / rate)
        else:
            tables[file] = pd.DataFrame({"path": path_to_text(file),
                                         START_COLUMN: [start / rate for start, _ in bounds],
                                         END_COLUMN: [end / rate for _, end in bounds]})
    keys = [key for listed in spans.values() for key, _, _ in listed]
    known = cache.read(keys)
    cached_count = int(len(known))
    todo = [(file, [span for span in listed if span[0] not in known.index]) for file, listed in spans.items()]
    # Tasks of at most SPANS_PER_TASK segments of one file: a long file's segments run on every worker.
    todo = [(file, listed[start:start + SPANS_PER_TASK]) for file, listed in todo
            for start in range(0, len(listed), SPANS_PER_TASK)]
    computed = sum(len(listed) for _, listed in todo)
    reference = extractor.id if _registered(extractor) else extractor
    results: dict[str, np.ndarray | str] = {}
    frames_found = [known]
    tasks = map_tasks(_span_features, [(reference, file, listed) for file, listed in todo], jobs=jobs,
                      scheduler=scheduler, progress=progress, description=f"{extractor.feature_set}: segments")
    for index, outcome in tasks:
        if isinstance(outcome, TaskFailure):
            results.update({key: f"feature extraction failed: {outcome}" for key, _, _ in todo[index][1]})
            continue
        results.update(outcome)
        good = [(key, value) for key, value in outcome if not isinstance(value, str)]
        if good:
            frame = pd.DataFrame(np.vstack([value for _, value in good]), columns=names,
                                 index=pd.Index([key for key, _ in good], dtype=object))
            cache.write(frame)
            frames_found.append(frame)
    cache.compact()
    values = pd.concat(frames_found) if len(frames_found) > 1 else known
    for file, listed in spans.items():
        if not listed:
            continue
        table = tables[file]
        present = [key in values.index for key, _, _ in listed]
        features = np.full((len(listed), len(names)), np.nan)
        if any(present):
            features[present] = values.loc[[key for (key, _, _), ok in zip(listed, present) if ok], names]
        table[names] = features
        table[ERROR_COLUMN] = pd.Series([None if ok else results.get(key, "feature extraction failed")
                                         for (key, _, _), ok in zip(listed, present)], dtype=object)
    return tables, durations, computed, cached_count


def classified_rows(model: Any, rows: pd.DataFrame, normalization: Any, options: dict[str, Any]) -> pd.DataFrame:
    """Rows ``path, start_s, end_s, <features>, error`` as prediction rows, the columns of a file row after
    ``start_s`` and ``end_s``, built as :meth:`TrainedModel.predict` builds them."""
    names = list(model.feature_names)
    ok = rows[ERROR_COLUMN].isna().to_numpy()
    values = rows.loc[ok, names].to_numpy(dtype=np.float64)
    latent = model.embed_features(values, normalization=normalization) if ok.any() else np.empty((0, model.latent_dim))
    frame = rows[["path", START_COLUMN, END_COLUMN]].reset_index(drop=True).astype({"path": object})
    classified = model.classification_columns(latent, **options)
    classified.index = frame.index[ok]
    for column in classified.columns.drop(UNCERTAIN_COLUMN):  # a nullable flag, set below
        frame[column] = classified[column].reindex(frame.index)
    coordinates = np.full((len(frame), model.latent_dim), np.nan)
    coordinates[ok] = latent
    for dimension in range(model.latent_dim):
        frame[f"z{dimension}"] = coordinates[:, dimension]
    for column, flagged in ((OUT_OF_RANGE_COLUMN, normalization.out_of_range(values)),
                            (UNCERTAIN_COLUMN, classified[UNCERTAIN_COLUMN].to_numpy(dtype=bool))):
        flags = pd.array([pd.NA] * len(frame), dtype="boolean")
        flags[ok] = flagged
        frame[column] = flags
    frame[ERROR_COLUMN] = rows[ERROR_COLUMN].astype(object).to_numpy()
    return frame


def segment_summary(predictions: pd.DataFrame, classes: Any = None) -> pd.DataFrame:
    """Per file: duration, segments, speech time and the share of that time per predicted emotion.

    Columns: ``path``, ``duration_s`` (from ``attrs["durations"]``, else NaN),
    ``segments`` (predicted ones), ``speech_s`` (time they cover, overlaps counted
    once: :func:`crossemo.segmentation.owned_spans`), ``share_<class>`` (fraction of
    ``speech_s`` whose segment was predicted as the class), ``share_uncertain`` when the
    rows have an ``uncertain`` column (that time then counts for no class), ``dominant``
    (the class with the largest share) and ``error`` (the first one when no segment was
    predicted).
    """
    classes = list(classes) if classes is not None else sorted(
        column.removeprefix("score_") for column in predictions.columns if column.startswith("score_"))
    durations = predictions.attrs.get("durations", {})
    records = []
    for path, rows in predictions.groupby("path", sort=False):
        usable = rows[rows[ERROR_COLUMN].isna()].sort_values(START_COLUMN)
        spans = owned_spans(list(zip(usable[START_COLUMN].astype(float), usable[END_COLUMN].astype(float))))
        lengths = np.array([end - start for start, end in spans])
        labels = usable[PREDICTED_COLUMN].to_numpy(dtype=object)
        uncertain = (usable[UNCERTAIN_COLUMN].fillna(False).to_numpy(dtype=bool)
                     if UNCERTAIN_COLUMN in usable else np.zeros(len(usable), dtype=bool))
        speech_s = float(lengths.sum())
        record: dict[str, Any] = {"path": path, "duration_s": durations.get(path, np.nan), "segments": len(usable),
                                  "speech_s": round(speech_s, 6)}
        for label in classes:
            time_s = lengths[(labels == label) & ~uncertain].sum()
            record[f"share_{label}"] = time_s / speech_s if speech_s > 0 else np.nan
        if UNCERTAIN_COLUMN in predictions:
            record["share_uncertain"] = lengths[uncertain].sum() / speech_s if speech_s > 0 else np.nan
        shares = {label: record[f"share_{label}"] for label in classes}
        record["dominant"] = max(shares, key=shares.get) if any(share > 0 for share in shares.values()) else None
        record[ERROR_COLUMN] = None if len(usable) else rows[ERROR_COLUMN].iloc[0]
        records.append(record)
    return pd.DataFrame.from_records(records)


def plot_timelines(predictions: pd.DataFrame, folder: str | os.PathLike[str], *, classes: Any,
                   force: bool = False) -> list[Path]:
    """One timeline figure per predicted file into ``folder`` (PNG, atomically); existing ones need ``force``.

    Files are named ``<number>_<file stem>.png`` in the order of the table.
    """
    from crossemo.fileio import path_from_text, write_atomic
    from crossemo.report.figures_timeline import timeline_figure
    from crossemo.segmentation import waveform_envelope

    paths = list(dict.fromkeys(predictions["path"]))
    written = []
    for path, name in zip(paths, figure_paths(folder, paths, force=force)):
        rows = predictions[predictions["path"] == path]
        if rows[ERROR_COLUMN].notna().all():
            continue
        envelope, bin_s = waveform_envelope(path_from_text(path))
        figure = timeline_figure(envelope, bin_s, rows, classes=list(classes), title=path)
        written.append(write_atomic(name, lambda temporary, figure=figure: figure.savefig(
            temporary, format="png", dpi=110)))
    return written


def figure_paths(folder: str | os.PathLike[str], paths: list[str], *, force: bool = False) -> list[Path]:
    """The figure file of each recording in ``folder``; :class:`SegmentationError` if one exists (unless ``force``)."""
    from crossemo.fileio import path_to_text

    target = Path(folder).expanduser()
    if target.exists() and not target.is_dir():
        raise SegmentationError(f"{path_to_text(target)} is a file; --plot names the folder to write figures to")
    texts = list(dict.fromkeys(path_to_text(path) for path in paths))
    figures = [target / f"{number:03d}_{_safe_stem(text)}.png" for number, text in enumerate(texts, start=1)]
    existing = [figure for figure in figures if figure.exists()]
    if existing and not force:
        raise SegmentationError(f"{path_to_text(existing[0])} exists; choose another --plot folder or pass --force "
                              "to replace the figures")
    return figures


def _safe_stem(path: str) -> str:
    """The file's stem with anything but letters, digits, ``._-`` as ``_`` (at most 60 characters)."""
    import re

    return re.sub(r"[^A-Za-z0-9._-]", "_", Path(path).stem)[:60] or "recording"


def _error_table(file: str, names: list[str], reason: str, *, end_s: float = np.nan) -> pd.DataFrame:
    from crossemo.fileio import path_to_text

    return pd.DataFrame({"path": [path_to_text(file)], START_COLUMN: [0.0 if np.isfinite(end_s) else np.nan],
                         END_COLUMN: [end_s], **{name: [np.nan] for name in names}, ERROR_COLUMN: [reason]})


def _duration(file: str) -> float:
    from crossemo.audio import AudioError, audio_info

    try:
        return audio_info(file)[0]
    except AudioError:
        return np.nan


def _registered(extractor: Any) -> bool:
    from crossemo.features.extractors import EXTRACTORS, get_extractor

    return extractor.id in EXTRACTORS and get_extractor(extractor.id).version == extractor.version


def _detect(task: tuple[str, Segmentation]) -> tuple[int, int, tuple[tuple[float, float], ...]] | str:
    """Worker side: ``(path, segmentation)`` -> ``(frames, sample rate, segments)``, or why it failed."""
    from crossemo.audio import AudioError
    from crossemo.fileio import openable_path

    path, segmentation = task
    try:
        with openable_path(path) as name:
            found = detect_segments(name, segmentation)
    except AudioError as error:
        return str(error)
    return found.frames, found.sample_rate, found.segments


def _span_features(task: SpanTask) -> list[tuple[str, np.ndarray | str]]:
    """Worker side: the features of each span ``[start, end)`` of one file, or why it has none."""
    import soundfile

    from crossemo.audio import AudioError, check_signal
    from crossemo.features.extraction import compute_signal
    from crossemo.features.extractors import get_extractor
    from crossemo.fileio import openable_path

    reference, path, spans = task
    extractor = get_extractor(reference) if isinstance(reference, str) else reference
    results: list[tuple[str, np.ndarray | str]] = []
    with openable_path(path) as name, soundfile.SoundFile(name) as handle:
        rate = int(handle.samplerate)
        for key, start, end in spans:
            try:
                handle.seek(start)  # only this segment's samples are read
                samples = handle.read(end - start, dtype="float32", always_2d=True)
            except (RuntimeError, ValueError) as error:  # soundfile's errors: a damaged stretch costs its segment
                results.append((key, f"samples {start}-{end} could not be read: {error}"))
                continue
            signal = samples.mean(axis=1, dtype=np.float32)
            try:
                check_signal(signal, rate)
            except AudioError as error:
                results.append((key, str(error)))
                continue
            results.append((key, compute_signal(extractor, signal, rate)))
    return results
