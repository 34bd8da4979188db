"""Training a bundle: one fit of the study's pipeline on the whole training corpus, written to a folder.

:func:`train_bundle` fits one registered method on all of the training corpus of a
study (no folds) with the very pipeline a fold of the study fits
(:class:`crossemo.pipeline.EmotionPipeline`, parameters from
:func:`crossemo.study.method_params`, rows outside the class set as unlabelled input
when ``protocol.unlabelled = "use"``, one torch thread); with ``adapt`` unlabelled
recordings of the domain the model will be used on train a latent model target-aware,
as a study's ``target_adapt`` fit does.  :func:`write_bundle` writes
any fitted pipeline, a study fold's included, as a bundle (see
:mod:`crossemo.bundle.format`); the folder is staged and renamed into place, and must
load before it is.  :func:`train_bundle` also fits the probability calibration on
out-of-fold scores (:func:`crossemo.bundle.calibration.fit_calibration`) and writes it
with its training report; when the training rows cannot be split into folds the bundle
is written without it, the reason recorded in ``bundle.json``.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from crossemo.bundle.calibration import DEFAULT_CALIBRATION_FOLDS, CalibrationFit, CalibrationSkipped
from crossemo.bundle.format import (
    BUNDLE_FILE,
    CALIBRATION_FILE,
    CALIBRATION_REPORT_FILE,
    CLASSIFIER_FILE,
    CONFIG_FILE,
    ENCODER_FILE,
    FEATURES_FILE,
    MANIFEST,
    PREPROCESSING_FILE,
    RELIABILITY_FILE,
    LinearOvoClassifier,
    json_text,
    manifest_document,
)
from crossemo.bundle.load import load_model
from crossemo.bundle.predict import ERROR_COLUMN
from crossemo.config import StudyConfig
from crossemo.errors import BundleError, ConfigError
from crossemo.preprocessing import OUTLIER_MAX_SHARE
from crossemo.recordings import RecordingsError, Sources, collect_recordings, describe_sources

if TYPE_CHECKING:
    import pandas as pd

    from crossemo.models.registry import Method
    from crossemo.pipeline import EmotionPipeline
    from crossemo.study import CorpusData


@dataclass(frozen=True, eq=False)
class TrainingData:
    """What a bundle is trained on: labelled rows, unlabelled rows, and the corpus facts it records."""

    corpus: str
    features: np.ndarray  # raw features of the labelled rows used, (n, n_features), float64
    labels: np.ndarray  # their labels, object array
    classes: tuple[str, ...]
    unlabelled: np.ndarray  # raw features of rows without a class of `classes` the model also trains on
    extractor: dict  # the feature extractor's description, with its "feature_names"
    outlier_z: float
    outlier_mean: np.ndarray  # the corpus' feature mean and std (ddof=0) the outlier mask used
    outlier_std: np.ndarray
    files: int  # recordings with features
    outliers_removed: int
    skipped: list[dict] = field(default_factory=list)
    corpora: np.ndarray | None = None  # the training corpus of every labelled row (several pooled)
    unlabelled_corpora: np.ndarray | None = None  # ... of every unlabelled row
    entries: tuple = ()  # the config entries of the training corpora
    normalize: str = "pooled"  # protocol.normalize for this training set
    outlier_max_share: float = OUTLIER_MAX_SHARE  # protocol.outlier_max_share, the rule the mask used
    target: np.ndarray | None = None  # raw features of unlabelled recordings of the target domain (train --adapt)
    table: pd.DataFrame | None = None  # the labelled rows' corpus table (corpus, label, speaker, group): their folds

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(self.extractor["feature_names"])


def training_data(
    config: StudyConfig, *, corpus: CorpusData | None = None, progress: bool | None = None
) -> TrainingData:
    """The training corpora of ``config`` ready to fit: their shared classes, and unlabelled rows.

    The training corpora are the ``[[train]]`` entries (for a ``loco`` or ``matrix``
    design: every ``[[corpus]]``), pooled.  ``corpus`` is the training corpus as
    :func:`crossemo.study.load_corpus` gives it (read, extracted and freed of
    outliers: SPEC section 3), for a single training corpus; corpora are loaded when
    not given.  Their outlier statistics are kept so prediction can flag recordings
    beyond the same threshold.  With ``protocol.unlabelled = "use"`` the rows outside
    the class set are returned as ``unlabelled``, as a study's fold takes them.
    """
    from crossemo.config import Cell
    from crossemo.study import check_training_classes, load_corpus
    from crossemo.study.data import pool_corpora, unlabelled_rows

    entries = list(config.train or config.corpus)
    cell = Cell(tuple(entry.display_name for entry in entries), ())
    if corpus is None:
        missing = [f"{entry.display_name}.path: {entry.path} does not exist" for entry in entries
                   if not entry.path.exists()]
        if missing:
            raise ConfigError("invalid config:\n  " + "\n  ".join(missing))
        corpus = pool_corpora([load_corpus(entry, config, progress=progress) for entry in entries])
    check_training_classes(config, [corpus], cell)
    classes = config.within_classes(cell)
    rows = corpus.class_rows(classes)
    extra = unlabelled_rows(config, corpus, classes)
    corpus_of_row = corpus.table["corpus"].to_numpy(dtype=object)
    return TrainingData(
        corpus=cell.name,
        corpora=corpus_of_row[rows],
        unlabelled_corpora=corpus_of_row[extra],
        entries=tuple(entries),
        normalize=config.normalization(cell),
        table=corpus.table.iloc[rows].reset_index(drop=True),
        features=corpus.features[rows],
        labels=corpus.table["label"].to_numpy(dtype=object)[rows],
        classes=classes,
        unlabelled=corpus.features[extra],
        extractor=dict(corpus.extractor or _describe_extractor(config.feature_set)),
        outlier_z=float(config.protocol.outlier_z),
        outlier_max_share=float(config.protocol.outlier_max_share),
        outlier_mean=corpus.outlier_mean,
        outlier_std=corpus.outlier_std,
        files=int(len(corpus.table)) + corpus.n_outliers,
        outliers_removed=corpus.n_outliers,
        skipped=list(corpus.skipped),
    )


def _describe_extractor(name: str) -> dict:
    from crossemo.features import get_extractor

    extractor = get_extractor(name)
    return {**extractor.describe(), "feature_names": list(extractor.feature_names)}


def train_bundle(
    config: StudyConfig | str | os.PathLike[str],
    method: str,
    out: str | os.PathLike[str],
    *,
    force: bool = False,
    epochs: int | None = None,
    jobs: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
    adapt: Sources | None = None,
    calibration_folds: int | None = DEFAULT_CALIBRATION_FOLDS,
    features: str | None = None,
) -> Path:
    """Train ``method`` (any registered one) on all of the study's training corpus; write the bundle ``out``.

    ``config`` is a :class:`~crossemo.config.StudyConfig` or the path of a study
    TOML; ``epochs``, ``jobs``, ``cache_dir`` and ``features`` (one feature set)
    override its values.  The model is
    fitted as one fold of the study fits it (see the module docstring) with the
    study's first seed.  ``adapt`` names unlabelled recordings of the domain the
    model will be used on (files, folders, CSV lists; at least two usable): their
    features (the study's feature set, through its cache, outliers dropped) train the
    latent model as ``target=`` rows, aligned by ``[model] alignment``; methods that
    take no target (the baselines) refuse it.  Predicting that domain then wants the
    same recordings as :meth:`TrainedModel.predict`'s ``adapt``.  The probability
    calibration is fitted on ``calibration_folds`` speaker-independent folds of the
    training rows (:func:`~crossemo.bundle.calibration.fit_calibration`; ``None``: no
    calibration); when they cannot be formed the bundle is written without it and a
    ``UserWarning`` says why.  An existing bundle is replaced only with ``force``; a
    non-empty folder that is not a bundle never is.  Returns ``out``.
    """
    from crossemo.models.registry import get_method
    from crossemo.pipeline import EmotionPipeline
    from crossemo.study import method_params
    from crossemo.study.fitting import single_thread
    from crossemo.study.tasks import classifier_class_weight

    config = _as_config(config, epochs=epochs, jobs=jobs, cache_dir=cache_dir, features=features)
    spec = get_method(method)
    out = Path(out).expanduser()
    check_destination(out, force=force)  # before the work, so a refusal costs nothing
    if calibration_folds is not None and (
        isinstance(calibration_folds, bool) or not isinstance(calibration_folds, int) or calibration_folds < 2
    ):
        raise ConfigError(f"calibration_folds must be an integer of at least 2 (or None), got {calibration_folds!r}")
    target = None
    if adapt is not None:
        target = target_features(config, spec, adapt, progress=progress)
    data = replace(training_data(config, progress=progress), target=target)
    params = method_params(config, spec, int(config.protocol.seeds[0]))
    pipeline = EmotionPipeline(spec.name, params, scale_latent=config.protocol.scale_latent,
                               normalize=data.normalize, class_weight=classifier_class_weight(config))
    with single_thread():  # as the study's workers train: bit for bit the same model
        pipeline.fit(data.features, data.labels, corpora=data.corpora, unlabelled=data.unlabelled,
                     unlabelled_corpora=data.unlabelled_corpora, target=data.target)
    calibration: CalibrationFit | str = "not requested (calibration_folds=None)"
    if calibration_folds is not None:
        calibration = calibrate(pipeline, data, config, folds=calibration_folds)
    return write_bundle(pipeline, out, data=data, config=config, force=force, calibration=calibration)


def calibrate(pipeline: EmotionPipeline, data: TrainingData, config: StudyConfig, *, folds: int) -> CalibrationFit | str:
    """:func:`~crossemo.bundle.calibration.fit_calibration`, or the reason it could not be fitted (warned)."""
    from crossemo.bundle.calibration import fit_calibration

    try:
        return fit_calibration(pipeline, data, config, folds=folds)
    except CalibrationSkipped as error:
        warnings.warn(f"the bundle is written without probability calibration: {error}", UserWarning, stacklevel=3)
        return str(error)


def target_features(config: StudyConfig, method: Method, adapt: Sources, *, progress: bool | None = None) -> np.ndarray:
    """Raw features of the recordings ``adapt`` names, to train ``method`` target-aware.

    Refused, before anything is extracted, for a method that takes no target and for
    fewer than two recordings; extracted with the study's feature set through its
    cache; rows beyond ``protocol.outlier_z`` of their own statistics are dropped, as
    the protocol drops a corpus' outliers.  At least two usable rows must remain.
    """
    from crossemo.features import extract_files, get_extractor
    from crossemo.preprocessing import outlier_mask

    if not method.takes_target:
        raise ConfigError(
            f"method {method.name} cannot train with recordings of the target domain (--adapt): only latent "
            "models take them; train without --adapt (predict --adapt still normalizes with them)"
        )
    if not isinstance(adapt, (str, os.PathLike)):
        adapt = list(adapt)  # read twice: for the files and for the source's name
    source = describe_sources(adapt)
    try:
        files = collect_recordings(adapt)
    except RecordingsError as error:
        raise ConfigError(f"--adapt: {error}") from None
    need = "training with target data needs at least 2 usable recordings of the target domain"
    if len(files) < 2:
        raise ConfigError(f"{need}; {source} names {len(files)}")
    extracted = extract_files(files, feature_set=config.feature_set, cache_dir=config.compute.cache_dir,
                              jobs=config.compute.jobs, scheduler=config.compute.scheduler, progress=progress)
    usable = extracted[extracted[ERROR_COLUMN].isna()]
    values = usable[list(get_extractor(config.feature_set).feature_names)].to_numpy(dtype=np.float64)
    if len(values) >= 2:
        values = values[outlier_mask(values, z=config.protocol.outlier_z, max_share=config.protocol.outlier_max_share)]
    if len(values) < 2:
        failed = extracted[extracted[ERROR_COLUMN].notna()]
        example = f" ({failed['path'].iloc[0]}: {failed[ERROR_COLUMN].iloc[0]})" if len(failed) else ""
        raise ConfigError(f"{need}; {source} gave {len(values)} of {len(extracted)}{example}")
    return values


def write_bundle(
    pipeline: EmotionPipeline,
    out: str | os.PathLike[str],
    *,
    data: TrainingData,
    config: StudyConfig,
    force: bool = False,
    calibration: CalibrationFit | str | None = None,
) -> Path:
    """Write a fitted :class:`~crossemo.pipeline.EmotionPipeline` as the bundle ``out``.

    ``data`` describes what it was fitted on (its labelled and unlabelled rows are
    counted in ``bundle.json``; the extractor, outlier statistics and corpus facts are
    recorded); ``config`` is the study it belongs to.  ``calibration``: the fitted
    probability calibration of the pipeline (written as ``calibration.json`` with its
    reliability diagram and report), or why there is none (a string, recorded in
    ``bundle.json``; ``None``: "not fitted").  Returns ``out``.
    """
    from crossemo.config import config_to_dict
    from crossemo.fileio import write_directory_atomic
    from crossemo.study import package_versions

    out = Path(out).expanduser()
    check_destination(out, force=force)
    scaler, model = pipeline.scaler_, pipeline.model_
    if scaler.n_features_in_ != len(data.feature_names):
        raise BundleError(
            f"the pipeline was fitted on {scaler.n_features_in_} features, the training data has "
            f"{len(data.feature_names)} {data.extractor.get('id', '')} feature names"
        )
    classifier = LinearOvoClassifier.from_svc(pipeline.classifier_, latent_scaler=pipeline.latent_scaler_)
    fitted = calibration if isinstance(calibration, CalibrationFit) else None
    if fitted is not None and fitted.calibration.classes != classifier.classes:
        raise BundleError(f"the calibration's classes {list(fitted.calibration.classes)} differ from the "
                          f"classifier's {list(classifier.classes)}")
    extractor = {key: value for key, value in data.extractor.items() if key != "feature_names"}
    documents = {
        BUNDLE_FILE: {
            "method": pipeline.method_.name,
            "classes": list(classifier.classes),
            "latent_dim": classifier.latent_dim,
            "feature_set": extractor.get("id"),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "versions": package_versions(),
            "training": {
                "corpus": data.corpus,
                "reader": "+".join(entry.corpus for entry in data.entries),
                "path": str(data.entries[0].path) if len(data.entries) == 1 else [str(e.path) for e in data.entries],
                "normalize": data.normalize,
                "files": data.files,
                "outliers_removed": data.outliers_removed,
                "skipped": len(data.skipped),
                "utterances": int(len(data.labels)),
                "unlabelled_utterances": int(len(data.unlabelled)) if pipeline.method_.uses_unlabelled else 0,
                "per_class": {label: int(np.sum(data.labels == label)) for label in classifier.classes},
                "params": dict(pipeline.params or {}),
                "scale_latent": pipeline.latent_scaler_ is not None,
                # Counted and hashed, never listed: the recordings' names may be private.
                "target": None if data.target is None or not pipeline.method_.takes_target else {
                    "recordings": int(len(data.target)),
                    "features_sha256": hashlib.sha256(np.ascontiguousarray(data.target).tobytes()).hexdigest(),
                },
            },
            "calibration": {"fitted": False, "reason": calibration or "not fitted"} if fitted is None else {
                "fitted": True, **fitted.summary, "seconds": round(fitted.seconds, 3),
            },
        },
        # "feature_set" as bundles before the extractor registry recorded it (e.g. "eGeMAPSv02").
        FEATURES_FILE: {
            "feature_set": extractor.get("feature_set", extractor.get("id")),
            "extractor": extractor,
            "names": list(data.feature_names),
        },
        PREPROCESSING_FILE: {
            "scaler": {"mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist()},
            # Each training corpus' own statistics (normalize = "corpus"); prediction without
            # --adapt uses the pooled scaler above, as the study's "unseen" condition does.
            "corpus_scalers": {
                name: {"mean": own.mean_.tolist(), "scale": own.scale_.tolist()}
                for name, own in getattr(pipeline, "corpus_scalers_", {}).items()
            },
            "outliers": {"z": data.outlier_z, "max_share": data.outlier_max_share, "mean": data.outlier_mean.tolist(),
                         "std": data.outlier_std.tolist()},
        },
        CLASSIFIER_FILE: classifier.to_json(),
        CONFIG_FILE: config_to_dict(config),
    }
    extra: dict[str, bytes] = {}
    if fitted is not None:
        from crossemo.bundle.calibration_report import reliability_json, reliability_png, report_markdown

        documents[CALIBRATION_FILE] = {
            "calibration": fitted.calibration.to_json(),
            "summary": fitted.summary,
            "reliability": reliability_json(fitted),
        }
        title = f"{pipeline.method_.label}: {data.corpus}"
        extra[RELIABILITY_FILE] = reliability_png(fitted, title=title)
        extra[CALIBRATION_REPORT_FILE] = report_markdown(
            fitted, method=pipeline.method_.name, classes=classifier.classes, image=RELIABILITY_FILE
        ).encode("utf-8")

    def fill(folder: Path) -> None:
        for name, document in documents.items():
            (folder / name).write_text(json_text(document), encoding="utf-8")
        for name, content in extra.items():
            (folder / name).write_bytes(content)
        model.save(folder / ENCODER_FILE)
        (folder / MANIFEST).write_text(json_text(manifest_document(folder)), encoding="utf-8")
        load_model(folder)  # what was written must load: catches a bundle this code cannot read back

    return write_directory_atomic(out, fill)


def check_destination(out: Path, *, force: bool) -> None:
    """Refuse to write over a file, a non-empty folder that is no bundle, or (without ``force``) a bundle."""
    if out.exists() and not out.is_dir():
        raise BundleError(f"{out} exists and is not a folder")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not (out / MANIFEST).is_file():
        raise BundleError(f"{out} is a non-empty folder but not a crossemo bundle: refusing to replace it")
    if not force:
        raise BundleError(f"{out} already holds a bundle; choose another --out or pass --force to replace it")


def _as_config(
    config: StudyConfig | str | os.PathLike[str],
    *,
    epochs: int | None,
    jobs: int | None,
    cache_dir: str | os.PathLike[str] | None,
    features: str | None = None,
) -> StudyConfig:
    from crossemo.config import load_config, without_method_epochs

    if not isinstance(config, StudyConfig):
        config = load_config(config, epochs=epochs, features=None if features is None else [features])
    elif epochs is not None:
        model = config.model.model_copy(update={"epochs": epochs, "options": without_method_epochs(config.model.options)})
        config = config.model_copy(update={"model": model})
    compute: dict[str, Any] = {}
    if jobs is not None:
        compute["jobs"] = jobs
    if cache_dir is not None:
        compute["cache_dir"] = Path(cache_dir)
    if compute:
        config = config.model_copy(update={"compute": config.compute.model_copy(update=compute)})
    if features is not None and config.features.sets != [features]:
        config = config.with_feature_sets([features])
    return config
