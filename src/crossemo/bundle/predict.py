"""A loaded bundle at work: embedding and predicting recordings, with or without adapting to a new domain.

:class:`TrainedModel` predicts files, folders and CSV lists of paths
(:func:`crossemo.recordings.collect_recordings`): one row per recording with the
predicted label, a score per class, the latent coordinates, an out-of-range flag and
the reason a file could not be used.  ``adapt`` takes unlabelled recordings of the
new domain and standardizes with their mean and standard deviation instead of the
training corpus' (the paper's target normalization); ``adapt_by_speaker`` standardizes
each speaker's recordings by that speaker's own statistics (the study's
``speaker_norm`` condition), the speakers named by a CSV list's ``speaker`` column.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from crossemo.bundle.calibration import UNCALIBRATED_NOTE, ScoreCalibration
from crossemo.bundle.format import ERROR_COLUMN, OUT_OF_RANGE_COLUMN, PREDICTED_COLUMN, LinearOvoClassifier
from crossemo.errors import BundleError
from crossemo.preprocessing import OUTLIER_MAX_SHARE, beyond_threshold
from crossemo.recordings import (
    RecordingsError,
    Sources,
    collect_recordings,
    collect_speaker_recordings,
    describe_sources,
)

CONFIDENCE_COLUMN = "confidence"
UNCERTAIN_COLUMN = "uncertain"
BY_SPEAKER = "by speaker"  # the normalization source of adapt_by_speaker


class PredictionError(RecordingsError):
    """What to predict is unusable as a whole: an empty folder, a list without paths, too few adapt
    files, recordings without a speaker to adapt by, an output file that exists."""


@dataclass(frozen=True, eq=False)
class Normalization:
    """How features are standardized before encoding, and the reference for the out-of-range flag.

    Features become ``(x - mean) / scale``.  A recording is out of range when more
    than ``max_share`` of its features (any one, below 1,000 features) lie beyond ``z``
    reference standard deviations from the reference mean (features with a zero
    reference std never count), the rule :func:`crossemo.preprocessing.outlier_mask`
    applies with a corpus' own statistics.
    """

    mean: np.ndarray
    scale: np.ndarray
    reference_mean: np.ndarray
    reference_std: np.ndarray
    z: float
    source: str
    recordings: int
    max_share: float = OUTLIER_MAX_SHARE

    def standardize(self, features: np.ndarray) -> np.ndarray:
        """``(features - mean) / scale``, the same float64 operations as ``StandardScaler.transform``."""
        return (np.asarray(features, dtype=np.float64) - self.mean) / self.scale

    def out_of_range(self, features: np.ndarray) -> np.ndarray:
        """``True`` for rows beyond ``z`` reference standard deviations (see the class docstring)."""
        deviation = np.asarray(features, dtype=np.float64) - self.reference_mean
        scores = np.divide(
            deviation, self.reference_std, out=np.zeros_like(deviation), where=self.reference_std > 0
        )
        return beyond_threshold(scores, z=self.z, max_share=self.max_share)


class TrainedModel:
    """A bundle loaded by :func:`crossemo.bundle.load_model`: predicts and embeds recordings.

    Attributes: ``method`` (the registered method's name), ``classes``, ``feature_set``
    (the feature extractor's registry name), ``feature_names``, ``latent_dim``, ``info``
    (the bundle's description: training summary, package versions, extractor, config, hash),
    ``calibration`` (the :class:`~crossemo.bundle.calibration.ScoreCalibration` of the
    class scores, ``None`` for a bundle without one: see :data:`UNCALIBRATED_NOTE`).
    """

    def __init__(
        self,
        *,
        method: str,
        classes: tuple[str, ...],
        feature_set: str,
        feature_names: tuple[str, ...],
        normalization: Normalization,
        encoder: Any,
        classifier: LinearOvoClassifier,
        info: Mapping[str, Any],
        calibration: ScoreCalibration | None = None,
    ) -> None:
        self.method = method
        self.classes = classes
        self.feature_set = feature_set
        self.feature_names = feature_names
        self.normalization = normalization
        self.encoder = encoder
        self.classifier = classifier
        self.calibration = calibration
        self._info = dict(info)

    @property
    def info(self) -> dict[str, Any]:
        """A copy of the bundle's description (``bundle.json`` plus extractor, config, path and content hash)."""
        return json.loads(json.dumps(self._info))

    @property
    def latent_dim(self) -> int:
        return self.classifier.latent_dim

    @property
    def speaker_min_utterances(self) -> int:
        """Fewest usable recordings a speaker needs to be standardized by its own statistics
        (``protocol.speaker_min_utterances`` of the bundle's config, default 20)."""
        protocol = self._info.get("config", {}).get("protocol", {})
        minimum = protocol.get("speaker_min_utterances", 20) if isinstance(protocol, dict) else 20
        if isinstance(minimum, bool) or not isinstance(minimum, int) or minimum < 1:
            raise BundleError(f"config.json protocol.speaker_min_utterances must be a positive integer, got {minimum!r}")
        return minimum

    @property
    def target_recordings(self) -> int:
        """Recordings of a target domain the latent model trained with (``train --adapt``), 0 if none."""
        training = self._info.get("training")
        target = training.get("target") if isinstance(training, dict) else None
        return int(target.get("recordings", 0)) if isinstance(target, dict) else 0

    def __repr__(self) -> str:
        return f"TrainedModel(method={self.method!r}, classes={list(self.classes)}, latent_dim={self.latent_dim})"

    # -- arrays ----------------------------------------------------------------------
    def embed_features(
        self,
        features: np.ndarray,
        *,
        normalization: Normalization | None = None,
        speakers: Any = None,
    ) -> np.ndarray:
        """Latent coordinates of raw feature rows (columns in :attr:`feature_names` order).

        Rows are standardized by ``normalization`` (default: the training scaler) or,
        with ``speakers`` (one name per row), each speaker's rows by that speaker's
        own statistics (:func:`crossemo.preprocessing.speaker_standardize`; speakers
        with fewer than :attr:`speaker_min_utterances` rows get the statistics of all
        rows).  For a method without a latent (the SVC on the features) these are the
        standardized features.
        """
        values = np.asarray(features, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != len(self.feature_names):
            raise PredictionError(
                f"expected features of shape (n, {len(self.feature_names)}), got {values.shape}"
            )
        if speakers is None:
            return self._encode((normalization or self.normalization).standardize(values))
        if normalization is not None:
            raise PredictionError("give normalization or speakers to standardize by, not both")
        return self._encode(self.speaker_standardize(values, speakers))

    def predict_features(
        self,
        features: np.ndarray,
        *,
        normalization: Normalization | None = None,
        speakers: Any = None,
    ) -> np.ndarray:
        """Predicted labels of raw feature rows (``normalization`` and ``speakers`` as in :meth:`embed_features`)."""
        return self.classifier.predict(self.embed_features(features, normalization=normalization, speakers=speakers))

    def classification_columns(self, latent: np.ndarray, *, min_confidence: float | None = None) -> pd.DataFrame:
        """The classification of latent rows: one table row per row of ``latent`` (a RangeIndex).

        Columns: ``predicted`` (the SVC's label); ``score_<class>`` per class
        (:meth:`LinearOvoClassifier.class_scores`); ``prob_<class>``, the calibrated
        probabilities (:attr:`calibration` of the scores; they sum to one; NaN for a
        bundle without calibration); ``confidence``, the largest probability; and
        ``uncertain``, ``confidence < min_confidence`` (all False when it is ``None``).
        ``min_confidence`` must lie strictly between 0 and 1, and needs a calibrated bundle.
        """
        threshold = checked_min_confidence(min_confidence, calibrated=self.calibration is not None)
        rows = np.asarray(latent, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != self.latent_dim:
            raise PredictionError(f"expected latent rows of shape (n, {self.latent_dim}), got {rows.shape}")
        scores = self.classifier.class_scores(rows)
        if self.calibration is None:
            probabilities = np.full_like(scores, np.nan)
        else:
            probabilities = self.calibration.predict_proba(scores)
        confidence = probabilities.max(axis=1) if len(rows) else np.empty(0)
        columns: dict[str, Any] = {PREDICTED_COLUMN: pd.Series(self.classifier.predict(rows), dtype=object)}
        columns.update({f"score_{label}": scores[:, position] for position, label in enumerate(self.classes)})
        columns.update({f"prob_{label}": probabilities[:, position] for position, label in enumerate(self.classes)})
        columns[CONFIDENCE_COLUMN] = confidence
        columns[UNCERTAIN_COLUMN] = (
            np.zeros(len(rows), dtype=bool) if threshold is None else confidence < threshold
        )
        return pd.DataFrame(columns, index=pd.RangeIndex(len(rows)))

    def speaker_standardize(self, features: np.ndarray, speakers: Any) -> np.ndarray:
        """Raw feature rows standardized per speaker, as :meth:`embed_features` does with ``speakers``."""
        from crossemo.preprocessing import speaker_standardize

        values = np.asarray(features, dtype=np.float64)
        owners = np.asarray(speakers, dtype=object).ravel()
        if owners.size != len(values):
            raise PredictionError(f"{owners.size} speakers for {len(values)} feature rows")
        unnamed = [row for row, owner in enumerate(owners) if owner is None or not str(owner).strip()]
        if unnamed:
            raise PredictionError(f"no speaker for feature row(s) {', '.join(map(str, unnamed[:5]))}")
        if len(values) < 2:
            raise PredictionError(f"standardizing by speaker needs at least 2 rows, got {len(values)}")
        return speaker_standardize(values, owners, min_utterances=self.speaker_min_utterances)

    def _encode(self, standardized: np.ndarray) -> np.ndarray:
        return np.asarray(self.encoder.transform(standardized), dtype=np.float64)

    # -- recordings ------------------------------------------------------------------
    def predict(
        self,
        paths: Sources,
        *,
        adapt: Sources | None = None,
        adapt_by_speaker: bool = False,
        jobs: int | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        progress: bool | None = None,
        scheduler: str | None = None,
        min_confidence: float | None = None,
        segment: str | None = None,
        plot: str | os.PathLike[str] | None = None,
    ) -> pd.DataFrame:
        """One row per recording in ``paths`` (files, folders searched recursively, CSV lists of paths).

        With ``segment`` (``"vad"``, ``"energy"`` or ``"window:3:1.5"``: see
        :mod:`crossemo.segmentation`), one row per segment of each recording instead,
        with ``start_s`` and ``end_s`` (:func:`crossemo.bundle.segments.predict_segments`;
        not with ``adapt_by_speaker``); ``plot`` names a folder for a timeline figure
        per recording (:func:`crossemo.bundle.segments.plot_timelines`).

        Columns: ``path``; ``predicted`` (the label); ``score_<class>`` per class
        (higher is more likely; see :meth:`LinearOvoClassifier.class_scores`);
        ``prob_<class>`` (calibrated probabilities, summing to one), ``confidence``
        (the largest) and ``uncertain`` (``confidence < min_confidence``; see
        :meth:`classification_columns`; empty for a bundle without calibration);
        ``z0``, ``z1``, ... (the latent); ``out_of_range`` (some feature beyond the
        outlier threshold of the training corpus, or of the adapt recordings); and
        ``error`` (why a file could not be used: unreadable, silent, too short), in
        which case the other columns are empty.  ``adapt``: unlabelled recordings of
        the new domain whose mean and std replace the training scaler (at least two
        usable ones).  ``adapt_by_speaker``: ``paths`` are CSV lists with a
        ``speaker`` column, and each speaker's usable recordings are standardized by
        their own statistics (labels unused; a speaker with fewer than
        :attr:`speaker_min_utterances` of them by the statistics of all usable
        recordings); a recording is then out of range beyond the outlier threshold of
        those statistics.  Features are extracted with the bundle's feature set;
        ``jobs``, ``cache_dir``, ``progress`` and ``scheduler`` are those of
        :func:`crossemo.features.extract_files`.  ``attrs`` hold ``method``,
        ``normalization`` (its source and recording count; by speaker also the number
        of speakers and of those with their own statistics), ``target_recordings``
        (:attr:`target_recordings`), ``calibrated`` (whether ``prob_<class>`` are filled),
        ``computed`` and ``cached``.
        """
        # Before extraction: a bad value costs nothing.
        checked_min_confidence(min_confidence, calibrated=self.calibration is not None)
        if segment is not None or plot is not None:
            from crossemo.bundle.segments import predict_with_segments

            return predict_with_segments(self, paths, segment, plot=plot, adapt=adapt,
                                         adapt_by_speaker=adapt_by_speaker, jobs=jobs, cache_dir=cache_dir,
                                         progress=progress, scheduler=scheduler, min_confidence=min_confidence)
        return self._run(paths, adapt, adapt_by_speaker=adapt_by_speaker, jobs=jobs, cache_dir=cache_dir,
                         progress=progress, scheduler=scheduler, classify=True, min_confidence=min_confidence)

    def embed(
        self,
        paths: Sources,
        *,
        adapt: Sources | None = None,
        adapt_by_speaker: bool = False,
        jobs: int | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        progress: bool | None = None,
        scheduler: str | None = None,
    ) -> pd.DataFrame:
        """Like :meth:`predict` with only the columns ``path``, ``z0``, ``z1``, ... and ``error``."""
        return self._run(paths, adapt, adapt_by_speaker=adapt_by_speaker, jobs=jobs, cache_dir=cache_dir,
                         progress=progress, scheduler=scheduler, classify=False)

    def adapt_normalization(self, features: np.ndarray, *, source: str = "adapt") -> Normalization:
        """Target normalization from raw features of unlabelled recordings of the new domain.

        Rows beyond the bundle's outlier threshold of their own statistics are dropped
        first (as the protocol does per corpus); the rest supply mean and std
        (``StandardScaler``: a constant feature gets scale 1).  Needs two rows.
        """
        from crossemo.preprocessing import fit_scaler, outlier_mask

        values = np.asarray(features, dtype=np.float64)
        if values.ndim != 2 or values.shape[0] < 2:
            count = values.shape[0] if values.ndim == 2 else 0
            raise PredictionError(
                f"adapting needs at least 2 usable recordings of the new domain, {source} gave {count}"
            )
        values = values[outlier_mask(values, z=self.normalization.z, max_share=self.normalization.max_share)]
        scaler = fit_scaler(values)
        return Normalization(
            mean=scaler.mean_,
            scale=scaler.scale_,
            reference_mean=values.mean(axis=0),
            reference_std=values.std(axis=0),
            z=self.normalization.z,
            max_share=self.normalization.max_share,
            source=source,
            recordings=int(values.shape[0]),
        )

    def _run(
        self,
        paths: Sources,
        adapt: Sources | None,
        *,
        adapt_by_speaker: bool,
        jobs: int | None,
        cache_dir: str | os.PathLike[str] | None,
        progress: bool | None,
        scheduler: str | None,
        classify: bool,
        min_confidence: float | None = None,
    ) -> pd.DataFrame:
        from crossemo.features import extract_files

        if adapt is not None and adapt_by_speaker:
            raise PredictionError(
                "adapt (recordings of the new domain) and adapt_by_speaker (each speaker by its own "
                "statistics) exclude each other: choose one"
            )
        # Lists are read twice: for the files and for the source's name.
        if not isinstance(paths, (str, os.PathLike)):
            paths = list(paths)
        if adapt is not None and not isinstance(adapt, (str, os.PathLike)):
            adapt = list(adapt)
        files, speakers = _speaker_recordings(paths) if adapt_by_speaker else (_recordings(paths), None)
        if not files:
            raise PredictionError("no recordings given to predict")
        if speakers is not None:
            unnamed = [file for file, speaker in zip(files, speakers, strict=True) if speaker is None]
            if unnamed:
                raise PredictionError(
                    "adapting by speaker needs the recordings as a CSV list with a 'speaker' column; "
                    f"{len(unnamed)} of {len(files)} have no speaker (e.g. {unnamed[0]})"
                )
        adapt_files = [] if adapt is None else _recordings(adapt)
        # One extraction call for both lists: one worker pool, one progress bar.
        extracted = extract_files(
            [*files, *adapt_files],
            feature_set=self.feature_set,
            cache_dir=cache_dir,
            jobs=jobs,
            progress=progress,
            scheduler=scheduler,
        )
        names = list(self.feature_names)
        counts = {key: extracted.attrs.get(key) for key in ("computed", "cached")}
        normalization = self.normalization
        if adapt is not None:
            adapted = extracted.iloc[len(files):]
            source = describe_sources(adapt)
            usable = _usable(adapted, f"adapting needs at least 2 usable recordings of the new domain; {source}")
            normalization = self.adapt_normalization(usable[names].to_numpy(dtype=np.float64), source=source)
        extracted = extracted.iloc[: len(files)].reset_index(drop=True)
        ok = extracted[ERROR_COLUMN].isna().to_numpy()
        if speakers is not None:
            _usable(extracted, f"adapting by speaker needs at least 2 usable recordings; {describe_sources(paths)}")
        values = extracted.loc[ok, names].to_numpy(dtype=np.float64)
        if speakers is not None:
            owners = np.asarray(speakers, dtype=object)[ok]
            standardized = self.speaker_standardize(values, owners)
            # Beyond the outlier threshold of the statistics each row was standardized by.
            out_of_range = beyond_threshold(standardized, z=self.normalization.z,
                                            max_share=self.normalization.max_share)
            _, per_speaker = np.unique(owners.astype(str), return_counts=True)
            described = {"source": BY_SPEAKER, "recordings": int(ok.sum()), "speakers": int(per_speaker.size),
                         "own_statistics": int((per_speaker >= self.speaker_min_utterances).sum())}
        else:
            standardized = normalization.standardize(values)
            out_of_range = normalization.out_of_range(values)
            described = {"source": normalization.source, "recordings": normalization.recordings}
        latent = self._encode(standardized) if ok.any() else np.empty((0, self.latent_dim))

        frame = pd.DataFrame({"path": extracted["path"].astype(object)})
        classified = None
        if classify:
            # Rows of usable recordings get their classification; the others stay empty.
            classified = self.classification_columns(latent, min_confidence=min_confidence)
            classified.index = frame.index[ok]
            for column in classified.columns.drop(UNCERTAIN_COLUMN):  # a nullable flag, set below
                frame[column] = classified[column].reindex(frame.index)
        coordinates = np.full((len(frame), self.latent_dim), np.nan)
        coordinates[ok] = latent
        frame = pd.concat(
            [frame, pd.DataFrame(coordinates, columns=[f"z{dimension}" for dimension in range(self.latent_dim)])],
            axis=1,
        )
        if classified is not None:
            flags = pd.array([pd.NA] * len(frame), dtype="boolean")
            flags[ok] = out_of_range
            frame[OUT_OF_RANGE_COLUMN] = flags
            uncertain = pd.array([pd.NA] * len(frame), dtype="boolean")
            uncertain[ok] = classified[UNCERTAIN_COLUMN].to_numpy()
            frame[UNCERTAIN_COLUMN] = uncertain
        frame[ERROR_COLUMN] = extracted[ERROR_COLUMN].astype(object)
        frame.attrs = {
            "method": self.method,
            "normalization": described,
            "target_recordings": self.target_recordings,
            "calibrated": self.calibration is not None,
            **counts,
        }
        return frame


def checked_min_confidence(value: float | None, *, calibrated: bool = True) -> float | None:
    """``value`` as a float if it lies strictly between 0 and 1 (``None`` passes); else :class:`PredictionError`,
    also when the bundle is not ``calibrated`` (it has no probabilities to compare).

    >>> checked_min_confidence(0.5)
    0.5
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not 0 < value < 1:
        raise PredictionError(
            f"min_confidence must be a number strictly between 0 and 1 (a probability), got {value!r}"
        )
    if not calibrated:
        raise PredictionError(f"min_confidence needs calibrated probabilities; {UNCALIBRATED_NOTE}")
    return float(value)


def _usable(extracted: pd.DataFrame, need: str) -> pd.DataFrame:
    """The rows of ``extracted`` without an error; :class:`PredictionError` (``need`` gave ...) under two."""
    usable = extracted[extracted[ERROR_COLUMN].isna()]
    if len(usable) < 2:
        failed = extracted[extracted[ERROR_COLUMN].notna()]
        example = f" ({failed['path'].iloc[0]}: {failed[ERROR_COLUMN].iloc[0]})" if len(failed) else ""
        raise PredictionError(f"{need} gave {len(usable)} of {len(extracted)}{example}")
    return usable


def _recordings(paths: Sources) -> list[str]:
    try:
        return collect_recordings(paths)
    except PredictionError:
        raise
    except RecordingsError as error:
        raise PredictionError(str(error)) from None


def _speaker_recordings(paths: Sources) -> tuple[list[str], list[str | None]]:
    try:
        found = collect_speaker_recordings(paths)
    except RecordingsError as error:
        raise PredictionError(str(error)) from None
    return [path for path, _ in found], [speaker for _, speaker in found]


def prediction_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of a :meth:`TrainedModel.predict` table as JSON-ready dicts (missing values ``None``).

    >>> table = pd.DataFrame({"path": ["a.wav", "b.wav"], "z0": [0.5, float("nan")],
    ...                       "error": [None, "silent audio"]})
    >>> prediction_records(table)
    [{'path': 'a.wav', 'z0': 0.5, 'error': None}, {'path': 'b.wav', 'z0': None, 'error': 'silent audio'}]
    """
    values = frame.astype(object).where(frame.notna(), None)
    return [
        {column: value.item() if isinstance(value, np.generic) else value for column, value in row.items()}
        for row in values.to_dict(orient="records")
    ]
