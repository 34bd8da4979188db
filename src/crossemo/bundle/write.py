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
load before it is.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from crossemo.bundle.format import (
    BUNDLE_FILE,
    CLASSIFIER_FILE,
    CONFIG_FILE,
    ENCODER_FILE,
    FEATURES_FILE,
    MANIFEST,
    PREPROCESSING_FILE,
    LinearOvoClassifier,
    json_text,
    manifest_document,
)
from crossemo.bundle.load import load_model
from crossemo.bundle.predict import ERROR_COLUMN
from crossemo.config import StudyConfig
from crossemo.errors import BundleError, ConfigError
from crossemo.recordings import RecordingsError, Sources, collect_recordings, describe_sources

if TYPE_CHECKING:
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
    target: np.ndarray | None = None  # raw features of unlabelled recordings of the target domain (train --adapt)

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
        features=corpus.features[rows],
        labels=corpus.table["label"].to_numpy(dtype=object)[rows],
        classes=classes,
        unlabelled=corpus.features[extra],
        extractor=dict(corpus.extractor or _describe_extractor(config.features.set)),
        outlier_z=float(config.protocol.outlier_z),
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
) -> Path:
    """Train ``method`` (any registered one) on all of the study's training corpus; write the bundle ``out``.

    ``config`` is a :class:`~crossemo.config.StudyConfig` or the path of a study
    TOML; ``epochs``, ``jobs`` and ``cache_dir`` override its values.  The model is
    fitted as one fold of the study fits it (see the module docstring) with the
    study's first seed.  ``adapt`` names unlabelled recordings of the domain the
    model will be used on (files, folders, CSV lists; at least two usable): their
    features (the study's feature set, through its cache, outliers dropped) train the
    latent model as ``target=`` rows, aligned by ``[model] alignment``; methods that
    take no target (the baselines) refuse it.  Predicting that domain then wants the
    same recordings as :meth:`TrainedModel.predict`'s ``adapt``.  An existing bundle
    is replaced only with ``force``; a non-empty folder that is not a bundle never
    is.  Returns ``out``.
    """
    from crossemo.models.registry import get_method
    from crossemo.pipeline import EmotionPipeline
    from crossemo.study import method_params
    from crossemo.study.fitting import single_thread
    from crossemo.study.tasks import classifier_class_weight

    config = _as_config(config, epochs=epochs, jobs=jobs, cache_dir=cache_dir)
    spec = get_method(method)
    out = Path(out).expanduser()
    check_destination(out, force=force)  # before the work, so a refusal costs nothing
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
    return write_bundle(pipeline, out, data=data, config=config, force=force)


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
    extracted = extract_files(files, feature_set=config.features.set, cache_dir=config.compute.cache_dir,
                              jobs=config.compute.jobs, scheduler=config.compute.scheduler, progress=progress)
    usable = extracted[extracted[ERROR_COLUMN].isna()]
    values = usable[list(get_extractor(config.features.set).feature_names)].to_numpy(dtype=np.float64)
    if len(values) >= 2:
        values = values[outlier_mask(values, z=config.protocol.outlier_z)]
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
) -> Path:
    """Write a fitted :class:`~crossemo.pipeline.EmotionPipeline` as the bundle ``out``.

    ``data`` describes what it was fitted on (its labelled and unlabelled rows are
    counted in ``bundle.json``; the extractor, outlier statistics and corpus facts are
    recorded); ``config`` is the study it belongs to.  Returns ``out``.
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
            "outliers": {"z": data.outlier_z, "mean": data.outlier_mean.tolist(), "std": data.outlier_std.tolist()},
        },
        CLASSIFIER_FILE: classifier.to_json(),
        CONFIG_FILE: config_to_dict(config),
    }

    def fill(folder: Path) -> None:
        for name, document in documents.items():
            (folder / name).write_text(json_text(document), encoding="utf-8")
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
) -> StudyConfig:
    from crossemo.config import load_config

    if not isinstance(config, StudyConfig):
        config = load_config(config, epochs=epochs)
    elif epochs is not None:
        config = config.model_copy(update={"model": config.model.model_copy(update={"epochs": epochs})})
    compute: dict[str, Any] = {}
    if jobs is not None:
        compute["jobs"] = jobs
    if cache_dir is not None:
        compute["cache_dir"] = Path(cache_dir)
    if compute:
        config = config.model_copy(update={"compute": config.compute.model_copy(update=compute)})
    return config
