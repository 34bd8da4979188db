"""Trained models as bundles that load without running code, and prediction on new recordings.

:func:`train_bundle` fits one method on the whole training corpus of a study
(no folds): the training corpus' scaler, the latent model and a linear SVC on its
latent, exactly as one fold of :func:`crossemo.experiment.run_study` does.  It
writes a *bundle*, a folder of plain files::

    manifest.json         format, the sha256 of every other file, and their content hash
    bundle.json           method, classes, latent width, training summary, package versions
    features.json         feature set and the feature names, in input order
    preprocessing.json    scaler mean and scale; outlier threshold z with the training
                          corpus' mean and std it was applied with
    encoder.safetensors   the latent model (its ``to_state``), or the PCA projection
    classifier.json       the linear SVC: classes, one-vs-one coefficients and intercepts
    config.json           the study configuration it was trained from

Loading (:func:`load_model`) reads JSON and safetensors only, never pickle, so a
bundle from a stranger cannot run code.  It refuses, with a :class:`BundleError`
saying what is wrong, a bundle with a file the manifest does not list (a planted
``.pkl``), a missing file, a file whose sha256 differs from the manifest (edited
weights), tensors whose shapes do not fit the recorded architecture, and feature
names that differ from the installed openSMILE's.  A different crossemo major
version or openSMILE version only warns (:class:`BundleWarning`).  The hashes
detect accidental or careless edits; anyone can recompute them, so they do not
prove who wrote a bundle.

The SVC needs no scikit-learn object: :class:`LinearOvoClassifier` recomputes
scikit-learn's one-vs-one decision function, its voting (ties go to the lower
class index, as in libsvm) and its "ovr" per-class scores from the stored
coefficients.

:class:`TrainedModel` predicts files, folders and CSV manifests: one row per
recording with the predicted label, a score per class, the latent coordinates,
an out-of-range flag and the reason a file could not be used.  ``adapt`` takes
unlabelled recordings of the new domain and standardizes with their mean and
standard deviation instead of the training corpus' (the paper's target
normalization).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from crossemo.config import StudyConfig
from crossemo.errors import BundleError, ConfigError, CrossemoError

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

BUNDLE_FORMAT = "crossemo.bundle"
BUNDLE_VERSION = 1
MANIFEST = "manifest.json"
BUNDLE_FILE = "bundle.json"
FEATURES_FILE = "features.json"
PREPROCESSING_FILE = "preprocessing.json"
ENCODER_FILE = "encoder.safetensors"
CLASSIFIER_FILE = "classifier.json"
CONFIG_FILE = "config.json"
BUNDLE_FILES: tuple[str, ...] = (
    BUNDLE_FILE,
    FEATURES_FILE,
    PREPROCESSING_FILE,
    ENCODER_FILE,
    CLASSIFIER_FILE,
    CONFIG_FILE,
)
"""Every file of a bundle besides the manifest; the content hash covers them in this order."""

PCA_METHOD = "pca"
PCA_FORMAT = "crossemo.pca"

AUDIO_FORMATS: Mapping[str, str] = MappingProxyType(
    {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".aiff": "AIFF", ".aif": "AIFF", ".mp3": "MP3"}
)
"""File extensions :func:`collect_recordings` looks for in folders, and the soundfile format each needs."""

ERROR_COLUMN = "error"
PREDICTED_COLUMN = "predicted"
OUT_OF_RANGE_COLUMN = "out_of_range"


class BundleWarning(UserWarning):
    """A bundle loads, but was written by other package versions (results may differ slightly)."""


class PredictionError(CrossemoError, ValueError):
    """What to predict is unusable as a whole: an empty folder, a manifest without paths, too few adapt files."""


# --------------------------------------------------------------------------- linear SVC without pickle


def class_pairs(n_classes: int) -> list[tuple[int, int]]:
    """Class index pairs ``(i, j)``, ``i < j``, in the order of scikit-learn's one-vs-one columns.

    >>> class_pairs(4)
    [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    """
    return [(i, j) for i in range(n_classes) for j in range(i + 1, n_classes)]


def ovo_vote(pair_decision: np.ndarray, n_classes: int) -> np.ndarray:
    """Winning class index per row, by libsvm's one-vs-one vote.

    ``pair_decision[:, p]`` is the decision of pair ``p = (i, j)`` of
    :func:`class_pairs`, positive in favour of ``i``.  A value ``> 0`` is a vote
    for ``i``, anything else (zero included) one for ``j``; the class with most
    votes wins and a tie goes to the lowest class index.  This is what
    ``SVC.predict`` does (with ``break_ties=False``, the default).

    >>> ovo_vote(np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, -1.0, 1.0]]), 3)
    array([0, 2, 0])
    """
    votes = np.zeros((pair_decision.shape[0], n_classes), dtype=np.int64)
    for column, (i, j) in enumerate(class_pairs(n_classes)):
        toward_i = pair_decision[:, column] > 0
        votes[:, i] += toward_i
        votes[:, j] += ~toward_i
    return np.argmax(votes, axis=1)  # first maximum: the lowest index wins a tie


def ovr_scores(pair_decision: np.ndarray, n_classes: int) -> np.ndarray:
    r"""Per-class scores from one-vs-one decisions, as ``SVC(decision_function_shape="ovr")`` gives them.

    Votes plus a squashed sum of confidences: for pair ``(i, j)`` with decision
    :math:`d` (positive in favour of ``i``), class ``i`` gains a vote when
    :math:`d \ge 0` and ``j`` otherwise; :math:`s_i` gains :math:`d` and
    :math:`s_j` loses it.  The score is

    .. math::

        \text{votes}_k + \frac{s_k}{3\,(|s_k| + 1)}

    where the second term lies in :math:`(-1/3, 1/3)`, so it only orders classes
    with equal votes.  (scikit-learn counts :math:`d = 0` as a vote for ``i`` here,
    unlike its ``predict``.)

    >>> ovr_scores(np.array([[2.0, 1.0, -1.0]]), 3).round(4).tolist()
    [[2.25, -0.25, 1.0]]
    """
    votes = np.zeros((pair_decision.shape[0], n_classes))
    confidence = np.zeros((pair_decision.shape[0], n_classes))
    for column, (i, j) in enumerate(class_pairs(n_classes)):
        decision = pair_decision[:, column]
        confidence[:, i] += decision
        confidence[:, j] -= decision
        votes[decision >= 0, i] += 1
        votes[decision < 0, j] += 1
    return votes + confidence / (3 * (np.abs(confidence) + 1))


@dataclass(frozen=True, eq=False)
class LinearOvoClassifier:
    """A fitted ``SVC(kernel="linear")`` reduced to what predicting needs.

    ``coef`` and ``intercept`` are scikit-learn's ``coef_`` and ``intercept_``: one row
    per class pair of :func:`class_pairs` (a single row for two classes), so that
    ``latent @ coef.T + intercept`` is ``SVC.decision_function`` with
    ``decision_function_shape="ovo"``.
    """

    classes: tuple[str, ...]
    coef: np.ndarray
    intercept: np.ndarray

    @classmethod
    def from_svc(cls, svc: Any, *, latent_scaler: Any = None) -> LinearOvoClassifier:
        """Take the coefficients of a fitted linear ``sklearn.svm.SVC``.

        ``latent_scaler``, a fitted ``StandardScaler`` the SVC's input went through,
        is folded into the coefficients: w . ((z - m) / s) + b = (w / s) . z + (b - (w / s) . m).
        """
        if getattr(svc, "kernel", None) != "linear":
            raise BundleError(f"only a linear SVC can be bundled, got kernel {getattr(svc, 'kernel', None)!r}")
        coef = np.array(svc.coef_, dtype=np.float64)
        intercept = np.array(svc.intercept_, dtype=np.float64)
        if latent_scaler is not None:
            coef = coef / latent_scaler.scale_
            intercept = intercept - coef @ latent_scaler.mean_
        return cls(classes=tuple(str(label) for label in svc.classes_), coef=coef, intercept=intercept)

    def decision_function(self, latent: np.ndarray) -> np.ndarray:
        """scikit-learn's one-vs-one decision: shape ``(n, n_pairs)``, or ``(n,)`` for two classes.

        For more than two classes, column ``(i, j)`` is positive in favour of class
        ``i``; for two classes the single value is positive in favour of the second.
        """
        decision = np.asarray(latent, dtype=np.float64) @ self.coef.T + self.intercept
        return decision.ravel() if len(self.classes) == 2 else decision

    def _pair_decision(self, latent: np.ndarray) -> np.ndarray:
        """Decisions in libsvm's orientation, positive in favour of the pair's first class."""
        decision = self.decision_function(latent)
        # scikit-learn flips the sign of the binary decision so that positive means classes_[1].
        return -decision[:, None] if len(self.classes) == 2 else decision

    def predict(self, latent: np.ndarray) -> np.ndarray:
        """Predicted class labels (``SVC.predict``), as an object array."""
        winners = ovo_vote(self._pair_decision(latent), len(self.classes))
        return np.asarray(self.classes, dtype=object)[winners]

    def class_scores(self, latent: np.ndarray) -> np.ndarray:
        """One score per class, shape ``(n, n_classes)``; higher means more of that class.

        More than two classes: ``SVC(decision_function_shape="ovr").decision_function``
        (see :func:`ovr_scores`).  Two classes: ``(-d, d)`` with ``d`` the binary decision.
        """
        if len(self.classes) == 2:
            decision = self.decision_function(latent)
            return np.column_stack([-decision, decision])
        return ovr_scores(self._pair_decision(latent), len(self.classes))

    def to_json(self) -> dict[str, Any]:
        """The classifier as a JSON-able dictionary (floats round-trip exactly)."""
        return {
            "estimator": "sklearn.svm.SVC",
            "kernel": "linear",
            "decision": "ovo",
            "classes": list(self.classes),
            "pairs": [list(pair) for pair in class_pairs(len(self.classes))],
            "coef": self.coef.tolist(),
            "intercept": self.intercept.tolist(),
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any], *, latent_dim: int) -> LinearOvoClassifier:
        """Rebuild from :meth:`to_json`, checking every shape against ``latent_dim``."""
        where = CLASSIFIER_FILE
        if document.get("kernel") != "linear" or document.get("decision") != "ovo":
            raise BundleError(f"{where}: expected a linear one-vs-one SVC, got {document.get('kernel')!r} "
                              f"/ {document.get('decision')!r}")
        classes = _string_list(document, "classes", where)
        if len(classes) < 2 or len(set(classes)) != len(classes):
            raise BundleError(f"{where}: needs at least two distinct classes, has {classes}")
        n_pairs = len(classes) * (len(classes) - 1) // 2
        pairs = document.get("pairs")
        if pairs != [list(pair) for pair in class_pairs(len(classes))]:
            raise BundleError(f"{where}: class pairs are not in scikit-learn's one-vs-one order")
        coef = _float_array(document.get("coef"), (n_pairs, latent_dim), f"{where} coef")
        intercept = _float_array(document.get("intercept"), (n_pairs,), f"{where} intercept")
        return cls(classes=tuple(classes), coef=coef, intercept=intercept)


# --------------------------------------------------------------------------- training


@dataclass(frozen=True, eq=False)
class TrainingData:
    """The training corpus of a study, ready to fit: features, labels and the statistics kept."""

    corpus: str
    features: np.ndarray  # raw features of the rows used, (n, n_features), float64
    labels: np.ndarray  # their labels, object array
    classes: tuple[str, ...]
    feature_set: str
    feature_names: tuple[str, ...]
    outlier_z: float
    outlier_mean: np.ndarray  # the corpus' feature mean and std (ddof=0) the outlier mask used
    outlier_std: np.ndarray
    files: int  # recordings with features
    outliers_removed: int
    skipped: list[dict] = field(default_factory=list)


def training_data(config: StudyConfig, *, progress: bool | None = None) -> TrainingData:
    """Read and extract the training corpus of ``config``; drop outliers; keep the protocol's classes.

    Outliers are rows with any feature beyond ``protocol.outlier_z`` standard
    deviations of the whole corpus (SPEC section 3); their statistics are returned
    so prediction can flag recordings beyond the same threshold.
    """
    from crossemo.experiment import check_training_classes, load_corpus
    from crossemo.features import FeatureSet, feature_names

    entry = config.train
    if not entry.path.exists():
        raise ConfigError(f"invalid config:\n  train.path: {entry.path} does not exist")
    corpus = load_corpus(entry, config, progress=progress)
    check_training_classes(config, corpus)
    classes = tuple(config.protocol.classes)
    used = corpus.table["label"].isin(classes).to_numpy()
    return TrainingData(
        corpus=entry.display_name,
        features=corpus.features[used],
        labels=corpus.table["label"].to_numpy(dtype=object)[used],
        classes=classes,
        feature_set=FeatureSet.eGeMAPSv02.value,
        feature_names=tuple(feature_names()),
        outlier_z=float(config.protocol.outlier_z),
        outlier_mean=corpus.outlier_mean,
        outlier_std=corpus.outlier_std,
        files=int(len(corpus.table)) + corpus.n_outliers,
        outliers_removed=corpus.n_outliers,
        skipped=corpus.skipped,
    )


def model_params(config: StudyConfig, method: str) -> dict[str, Any]:
    """Constructor keywords of ``method`` from the study's model settings and first seed."""
    from crossemo.experiment import model_params as study_model_params

    seed = int(config.protocol.seeds[0])
    if method == PCA_METHOD:
        return {"n_components": config.model.latent_dim, "random_state": seed}
    return study_model_params(config, method, seed)


def bundle_methods() -> tuple[str, ...]:
    """Methods a bundle can hold: the four latent models and the PCA baseline."""
    from crossemo.config import METHODS

    return (*METHODS, PCA_METHOD)


def fit_pipeline(
    features: np.ndarray,
    labels: Sequence[Any],
    *,
    method: str,
    params: Mapping[str, Any],
    scale_latent: bool = False,
) -> Pipeline:
    """Fit ``StandardScaler -> method -> SVC(kernel="linear")`` on ``features`` and ``labels``.

    Returns the fitted :class:`sklearn.pipeline.Pipeline` with steps ``scaler``,
    ``model``, ``latent_scaler`` (a ``StandardScaler`` with ``scale_latent``, as
    ``protocol.scale_latent`` does in a study; else ``"passthrough"``) and
    ``classifier``.  VAE-ss trains on the labels; the other methods ignore them
    until the SVC.
    """
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    _check_method(method)
    if method == PCA_METHOD:
        from sklearn.decomposition import PCA

        model = PCA(**params)
    else:
        from crossemo.models import MODELS

        model = MODELS[method](**params)
    pipeline = Pipeline(
        [
            ("scaler", StandardScaler()),
            ("model", model),
            ("latent_scaler", StandardScaler() if scale_latent else "passthrough"),
            ("classifier", SVC(kernel="linear")),
        ]
    )
    return pipeline.fit(np.asarray(features, dtype=np.float64), np.asarray(labels, dtype=object))


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
) -> Path:
    """Train ``method`` on all of the study's training corpus and write the bundle ``out``.

    ``config`` is a :class:`~crossemo.config.StudyConfig` or the path of a study
    TOML; ``epochs``, ``jobs`` and ``cache_dir`` override its values.  The bundle is
    written into a temporary folder next to ``out`` and renamed into place.  An
    existing bundle is replaced only with ``force``; a non-empty folder that is
    not a bundle never is.  Returns ``out``.
    """
    config = _as_config(config, epochs=epochs, jobs=jobs, cache_dir=cache_dir)
    _check_method(method)
    out = Path(out).expanduser()
    _check_destination(out, force=force)  # before the work, so a refusal costs nothing
    data = training_data(config, progress=progress)
    pipeline = fit_pipeline(
        data.features, data.labels, method=method, params=model_params(config, method),
        scale_latent=config.protocol.scale_latent,
    )
    return write_bundle(pipeline, out, data=data, config=config, method=method, force=force)


def write_bundle(
    pipeline: Pipeline,
    out: str | os.PathLike[str],
    *,
    data: TrainingData,
    config: StudyConfig,
    method: str,
    force: bool = False,
) -> Path:
    """Write a pipeline from :func:`fit_pipeline` as the bundle ``out`` (see the module docstring)."""
    from crossemo.config import config_to_dict
    from crossemo.experiment import package_versions

    out = Path(out).expanduser()
    _check_destination(out, force=force)
    scaler, model, latent_scaler, svc = (
        pipeline.named_steps[name] for name in ("scaler", "model", "latent_scaler", "classifier")
    )
    classifier = LinearOvoClassifier.from_svc(
        svc, latent_scaler=None if latent_scaler == "passthrough" else latent_scaler
    )
    latent_dim = int(classifier.coef.shape[1])
    documents = {
        BUNDLE_FILE: {
            "method": method,
            "classes": list(classifier.classes),
            "latent_dim": latent_dim,
            "feature_set": data.feature_set,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "versions": package_versions(),
            "training": {
                "corpus": data.corpus,
                "reader": config.train.corpus,
                "path": str(config.train.path),
                "files": data.files,
                "outliers_removed": data.outliers_removed,
                "skipped": len(data.skipped),
                "utterances": int(len(data.labels)),
                "per_class": {label: int(np.sum(data.labels == label)) for label in classifier.classes},
                "params": model_params(config, method),
            },
        },
        FEATURES_FILE: {"feature_set": data.feature_set, "names": list(data.feature_names)},
        PREPROCESSING_FILE: {
            "scaler": {"mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist()},
            "outliers": {
                "z": data.outlier_z,
                "mean": data.outlier_mean.tolist(),
                "std": data.outlier_std.tolist(),
            },
        },
        CLASSIFIER_FILE: classifier.to_json(),
        CONFIG_FILE: config_to_dict(config),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.{uuid.uuid4().hex}.tmp"
    os.mkdir(staging)  # mode from the umask, unlike mkdtemp's 0700
    file_mode = staging.stat().st_mode & 0o666
    try:
        for name, document in documents.items():
            (staging / name).write_text(json.dumps(document, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        _save_encoder(model, staging / ENCODER_FILE, method=method)
        os.chmod(staging / ENCODER_FILE, file_mode)
        hashes = {name: _file_sha256(staging / name) for name in BUNDLE_FILES}
        manifest = {
            "format": BUNDLE_FORMAT,
            "format_version": BUNDLE_VERSION,
            "files": hashes,
            "content_sha256": content_hash(staging, BUNDLE_FILES),
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        load_model(staging)  # what was written must load: catches a bundle this code cannot read back
        _move_into_place(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


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


def _check_method(method: str) -> None:
    if method not in bundle_methods():
        raise ConfigError(f"unknown method {method!r}; a bundle holds one of {', '.join(bundle_methods())}")


def _check_destination(out: Path, *, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise BundleError(f"{out} exists and is not a folder")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not (out / MANIFEST).is_file():
        raise BundleError(f"{out} is a non-empty folder but not a crossemo bundle: refusing to replace it")
    if not force:
        raise BundleError(f"{out} already holds a bundle; choose another --out or pass --force to replace it")


def _move_into_place(staging: Path, out: Path) -> None:
    """Rename ``staging`` to ``out``; an existing ``out`` is set aside first and removed after."""
    if not out.exists():
        os.rename(staging, out)
        return
    retired = out.parent / f".{out.name}.{uuid.uuid4().hex}.old"
    os.rename(out, retired)
    try:
        os.rename(staging, out)
    except BaseException:
        os.rename(retired, out)
        raise
    shutil.rmtree(retired, ignore_errors=True)


def _save_encoder(model: Any, path: Path, *, method: str) -> None:
    if method != PCA_METHOD:
        model.save(path)
        return
    from safetensors.numpy import save_file

    tensors = {
        "components_": np.ascontiguousarray(model.components_, dtype=np.float64),
        "mean_": np.ascontiguousarray(model.mean_, dtype=np.float64),
        "explained_variance_": np.ascontiguousarray(model.explained_variance_, dtype=np.float64),
    }
    metadata = {
        "format": PCA_FORMAT,
        "version": 1,
        "model": PCA_METHOD,
        "params": {"n_components": int(model.n_components_), "whiten": bool(model.whiten)},
        "n_features_in_": int(model.n_features_in_),
    }
    from crossemo.models.estimators import STATE_METADATA_KEY

    save_file(tensors, str(path), metadata={STATE_METADATA_KEY: json.dumps(metadata)})


# --------------------------------------------------------------------------- hashing


def _file_sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def content_hash(folder: str | os.PathLike[str], names: Sequence[str]) -> str:
    """SHA-256 over the files ``names`` of ``folder``, in that order.

    Each file contributes its name, a NUL byte, its length as 8 big-endian bytes
    and its content, so no two different bundles hash alike by shifting bytes
    between files.
    """
    digest = hashlib.sha256()
    for name in names:
        content = (Path(folder) / name).read_bytes()
        digest.update(name.encode("utf-8") + b"\0" + len(content).to_bytes(8, "big"))
        digest.update(content)
    return digest.hexdigest()


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True, eq=False)
class Normalization:
    """How features are standardized before encoding, and the reference for the out-of-range flag.

    Features become ``(x - mean) / scale``.  A recording is out of range when any
    feature lies beyond ``z`` reference standard deviations from the reference mean
    (features with a zero reference std never count, as in
    :func:`crossemo.preprocessing.outlier_mask`).
    """

    mean: np.ndarray
    scale: np.ndarray
    reference_mean: np.ndarray
    reference_std: np.ndarray
    z: float
    source: str
    recordings: int

    def standardize(self, features: np.ndarray) -> np.ndarray:
        """``(features - mean) / scale``, the same float64 operations as ``StandardScaler.transform``."""
        return (np.asarray(features, dtype=np.float64) - self.mean) / self.scale

    def out_of_range(self, features: np.ndarray) -> np.ndarray:
        """``True`` for rows with any feature beyond ``z`` reference standard deviations."""
        deviation = np.asarray(features, dtype=np.float64) - self.reference_mean
        scores = np.divide(
            deviation, self.reference_std, out=np.zeros_like(deviation), where=self.reference_std > 0
        )
        return (np.abs(scores) > self.z).any(axis=1)


class _PCAEncoder:
    """A PCA projection rebuilt from stored arrays (a real ``sklearn.decomposition.PCA``)."""

    def __init__(self, tensors: Mapping[str, np.ndarray], metadata: Mapping[str, Any]) -> None:
        from sklearn.decomposition import PCA

        params = metadata.get("params", {})
        if not isinstance(params, dict):
            raise BundleError(f"{ENCODER_FILE}: metadata lacks the PCA parameters")
        pca = PCA(n_components=params.get("n_components"), whiten=bool(params.get("whiten", False)))
        pca.components_ = tensors["components_"]
        pca.mean_ = tensors["mean_"]
        pca.explained_variance_ = tensors["explained_variance_"]
        pca.n_components_ = int(tensors["components_"].shape[0])
        pca.n_features_in_ = int(metadata["n_features_in_"])
        self.pca = pca

    def transform(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(self.pca.transform(features), dtype=np.float64)


class TrainedModel:
    """A bundle loaded by :func:`load_model`: predicts and embeds recordings.

    Attributes: ``method``, ``classes``, ``feature_names``, ``latent_dim``, ``info``
    (the bundle's description: training summary, package versions, config, hash).
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
    ) -> None:
        self.method = method
        self.classes = classes
        self.feature_set = feature_set
        self.feature_names = feature_names
        self.normalization = normalization
        self.encoder = encoder
        self.classifier = classifier
        self._info = dict(info)

    @property
    def info(self) -> dict[str, Any]:
        """A copy of the bundle's description (``bundle.json`` plus config, path and content hash)."""
        return json.loads(json.dumps(self._info))

    @property
    def latent_dim(self) -> int:
        return int(self.classifier.coef.shape[1])

    def __repr__(self) -> str:
        return f"TrainedModel(method={self.method!r}, classes={list(self.classes)}, latent_dim={self.latent_dim})"

    # -- arrays ----------------------------------------------------------------------
    def embed_features(self, features: np.ndarray, *, normalization: Normalization | None = None) -> np.ndarray:
        """Latent coordinates of raw feature rows (columns in :attr:`feature_names` order)."""
        norm = normalization or self.normalization
        values = np.asarray(features, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != len(self.feature_names):
            raise PredictionError(
                f"expected features of shape (n, {len(self.feature_names)}), got {values.shape}"
            )
        return self.encoder.transform(norm.standardize(values))

    # -- recordings ------------------------------------------------------------------
    def predict(
        self,
        paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        *,
        adapt: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None = None,
        jobs: int | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        progress: bool | None = None,
        scheduler: str | None = None,
    ) -> pd.DataFrame:
        """One row per recording in ``paths`` (files, folders searched recursively, CSV manifests).

        Columns: ``path``; ``predicted`` (the label); ``score_<class>`` per class
        (higher is more likely; see :meth:`LinearOvoClassifier.class_scores`);
        ``z0``, ``z1``, ... (the latent); ``out_of_range`` (some feature beyond the
        outlier threshold of the training corpus, or of the adapt recordings); and
        ``error`` (why a file could not be used: unreadable, silent, too short), in
        which case the other columns are empty.  ``adapt``: unlabelled recordings of
        the new domain whose mean and std replace the training scaler (at least two
        usable ones).  ``jobs``, ``cache_dir``, ``progress`` and ``scheduler`` are
        those of :func:`crossemo.features.extract_files`.  ``attrs`` hold ``method``,
        ``normalization`` (its source and recording count), ``computed`` and ``cached``.
        """
        return self._run(paths, adapt, jobs=jobs, cache_dir=cache_dir, progress=progress,
                         scheduler=scheduler, classify=True)

    def embed(
        self,
        paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        *,
        adapt: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None = None,
        jobs: int | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        progress: bool | None = None,
        scheduler: str | None = None,
    ) -> pd.DataFrame:
        """Like :meth:`predict` with only the columns ``path``, ``z0``, ``z1``, ... and ``error``."""
        return self._run(paths, adapt, jobs=jobs, cache_dir=cache_dir, progress=progress,
                         scheduler=scheduler, classify=False)

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
        values = values[outlier_mask(values, z=self.normalization.z)]
        scaler = fit_scaler(values)
        return Normalization(
            mean=scaler.mean_,
            scale=scaler.scale_,
            reference_mean=values.mean(axis=0),
            reference_std=values.std(axis=0),
            z=self.normalization.z,
            source=source,
            recordings=int(values.shape[0]),
        )

    def _run(
        self,
        paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        adapt: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None,
        *,
        jobs: int | None,
        cache_dir: str | os.PathLike[str] | None,
        progress: bool | None,
        scheduler: str | None,
        classify: bool,
    ) -> pd.DataFrame:
        from crossemo.features import extract_files

        files = collect_recordings(paths)
        if not files:
            raise PredictionError("no recordings given to predict")
        adapt_files = [] if adapt is None else collect_recordings(adapt)
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
            usable = adapted[adapted[ERROR_COLUMN].isna()]
            failed = adapted[adapted[ERROR_COLUMN].notna()]
            source = _describe_sources(adapt)
            if len(usable) < 2:
                example = f" ({failed['path'].iloc[0]}: {failed[ERROR_COLUMN].iloc[0]})" if len(failed) else ""
                raise PredictionError(
                    f"adapting needs at least 2 usable recordings of the new domain; {source} gave "
                    f"{len(usable)} of {len(adapted)}{example}"
                )
            normalization = self.adapt_normalization(usable[names].to_numpy(dtype=np.float64), source=source)
        extracted = extracted.iloc[: len(files)].reset_index(drop=True)
        ok = extracted[ERROR_COLUMN].isna().to_numpy()
        values = extracted.loc[ok, names].to_numpy(dtype=np.float64)
        latent = np.empty((0, self.latent_dim))
        if ok.any():
            latent = self.embed_features(values, normalization=normalization)

        frame = pd.DataFrame({"path": extracted["path"].astype(object)})
        if classify:
            predicted = pd.Series(None, index=frame.index, dtype=object)
            predicted[ok] = self.classifier.predict(latent)
            frame[PREDICTED_COLUMN] = predicted
            scores = np.full((len(frame), len(self.classes)), np.nan)
            scores[ok] = self.classifier.class_scores(latent)
            for position, label in enumerate(self.classes):
                frame[f"score_{label}"] = scores[:, position]
        coordinates = np.full((len(frame), self.latent_dim), np.nan)
        coordinates[ok] = latent
        for dimension in range(self.latent_dim):
            frame[f"z{dimension}"] = coordinates[:, dimension]
        if classify:
            flags = pd.array([pd.NA] * len(frame), dtype="boolean")
            flags[ok] = normalization.out_of_range(values)
            frame[OUT_OF_RANGE_COLUMN] = flags
        frame[ERROR_COLUMN] = extracted[ERROR_COLUMN].astype(object)
        frame.attrs = {
            "method": self.method,
            "normalization": {"source": normalization.source, "recordings": normalization.recordings},
            **counts,
        }
        return frame


def load_model(path: str | os.PathLike[str]) -> TrainedModel:
    """Load the bundle in folder ``path`` without running any code from it.

    Raises :class:`BundleError` naming what does not match: unlisted, missing or
    edited files, malformed documents, tensor shapes that do not fit the recorded
    architecture, feature names other than the installed openSMILE's.  Warns
    (:class:`BundleWarning`) when the bundle was written with another crossemo
    major version or openSMILE version.
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise BundleError(f"no bundle at {folder}: not a folder")
    manifest = _checked_manifest(folder)
    description = _read_json(folder, BUNDLE_FILE)
    method = description.get("method")
    if method not in bundle_methods():
        raise BundleError(f"{BUNDLE_FILE}: unknown method {method!r}; expected one of {', '.join(bundle_methods())}")
    classes = tuple(_string_list(description, "classes", BUNDLE_FILE))
    latent_dim = description.get("latent_dim")
    if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
        raise BundleError(f"{BUNDLE_FILE}: latent_dim must be a positive integer, got {latent_dim!r}")

    feature_set, names = _checked_feature_names(_read_json(folder, FEATURES_FILE))
    training = description.get("training")
    utterances = training.get("utterances", 0) if isinstance(training, dict) else 0
    normalization = _normalization(_read_json(folder, PREPROCESSING_FILE), len(names), recordings=utterances)
    encoder = _load_encoder(folder / ENCODER_FILE, method=method, n_features=len(names), latent_dim=latent_dim)
    classifier = LinearOvoClassifier.from_json(_read_json(folder, CLASSIFIER_FILE), latent_dim=latent_dim)
    if classifier.classes != classes:
        raise BundleError(
            f"{CLASSIFIER_FILE} classes {list(classifier.classes)} differ from {BUNDLE_FILE} classes {list(classes)}"
        )
    _warn_about_versions(description.get("versions"), folder)
    info = {
        **description,
        "config": _read_json(folder, CONFIG_FILE),
        "path": str(folder.resolve()),
        "content_sha256": manifest["content_sha256"],
    }
    return TrainedModel(
        method=method,
        classes=classes,
        feature_set=feature_set,
        feature_names=names,
        normalization=normalization,
        encoder=encoder,
        classifier=classifier,
        info=info,
    )


def _checked_manifest(folder: Path) -> dict[str, Any]:
    """The manifest, after checking the folder holds exactly its files with their recorded hashes."""
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise BundleError(f"{folder} is not a crossemo bundle: it has no {MANIFEST}")
    manifest = _read_json(folder, MANIFEST)
    if manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{folder}/{MANIFEST}: format is {manifest.get('format')!r}, not {BUNDLE_FORMAT!r}")
    version = manifest.get("format_version")
    if version != BUNDLE_VERSION:
        raise BundleError(
            f"{folder} is bundle format version {version!r}; this crossemo reads version {BUNDLE_VERSION}"
        )
    listed = manifest.get("files")
    if not isinstance(listed, dict) or not all(isinstance(value, str) for value in listed.values()):
        raise BundleError(f"{folder}/{MANIFEST}: 'files' must map file names to sha256 hex digests")
    unknown = sorted(set(listed) - set(BUNDLE_FILES))
    if unknown:
        raise BundleError(f"{folder}/{MANIFEST} lists files that are no part of a bundle: {', '.join(unknown)}")
    unlisted = sorted(set(BUNDLE_FILES) - set(listed))
    if unlisted:
        raise BundleError(f"{folder}/{MANIFEST} does not list {', '.join(unlisted)}")

    present = {entry.name: entry for entry in os.scandir(folder)}
    planted = sorted(name for name in present if name != MANIFEST and name not in listed)
    if planted:
        raise BundleError(
            f"{folder} holds files its manifest does not list: {', '.join(planted)}. A bundle is loaded only "
            "when it holds exactly the listed files; refusing to load it (do not open those files: "
            "a pickle or torch file can run code)"
        )
    missing = sorted(name for name in listed if name not in present)
    if missing:
        raise BundleError(f"{folder} is incomplete: missing {', '.join(missing)} (listed in {MANIFEST})")
    irregular = sorted(name for name, entry in present.items() if entry.is_symlink() or not entry.is_file())
    if irregular:
        raise BundleError(f"{folder}: {', '.join(irregular)} must be plain files (not links or folders)")
    edited = [
        f"{name} (sha256 {actual[:12]}..., manifest records {listed[name][:12]}...)"
        for name in BUNDLE_FILES
        if (actual := _file_sha256(folder / name)) != listed[name]
    ]
    if edited:
        raise BundleError(f"{folder} was modified after it was written: {'; '.join(edited)}")
    if manifest.get("content_sha256") != content_hash(folder, BUNDLE_FILES):
        raise BundleError(f"{folder}/{MANIFEST}: content_sha256 does not match the files it lists")
    return manifest


def _read_json(folder: Path, name: str) -> dict[str, Any]:
    try:
        document = json.loads((folder / name).read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BundleError(f"cannot read {name} in {folder}: {error}") from None
    if not isinstance(document, dict):
        raise BundleError(f"{name} in {folder} is not a JSON object")
    return document


def _string_list(document: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = document.get(key)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BundleError(f"{where}: {key!r} must be a list of strings")
    return value


def _float_array(value: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise BundleError(f"{what}: not an array of numbers") from None
    if array.shape != shape:
        raise BundleError(f"{what}: shape {array.shape}, expected {shape}")
    if not np.isfinite(array).all():
        raise BundleError(f"{what}: holds NaN or infinite values")
    return array


def _checked_feature_names(document: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    """Feature set and names, refused unless they are exactly the installed openSMILE's."""
    import opensmile

    from crossemo.features import FeatureError, as_feature_set, feature_names

    names = _string_list(document, "names", FEATURES_FILE)
    try:
        feature_set = as_feature_set(document.get("feature_set")).value
    except FeatureError as error:
        raise BundleError(f"{FEATURES_FILE}: {error}") from None
    installed = feature_names(feature_set)
    if names != installed:
        differences = [
            f"#{index}: bundle {ours!r}, installed {theirs!r}"
            for index, (ours, theirs) in enumerate(zip(names, installed))
            if ours != theirs
        ]
        shown = "; ".join(differences[:3]) + (f"; and {len(differences) - 3} more" if len(differences) > 3 else "")
        raise BundleError(
            f"{FEATURES_FILE}: the bundle's {len(names)} {feature_set} feature names differ from the "
            f"{len(installed)} of the installed opensmile {opensmile.__version__}"
            + (f" ({shown})" if shown else "")
            + ": the model would be fed the wrong features"
        )
    return feature_set, tuple(names)


def _normalization(document: Mapping[str, Any], n_features: int, *, recordings: int) -> Normalization:
    scaler, outliers = document.get("scaler"), document.get("outliers")
    if not isinstance(scaler, dict) or not isinstance(outliers, dict):
        raise BundleError(f"{PREPROCESSING_FILE}: needs the objects 'scaler' and 'outliers'")
    shape = (n_features,)
    scale = _float_array(scaler.get("scale"), shape, f"{PREPROCESSING_FILE} scaler.scale")
    if (scale <= 0).any():
        raise BundleError(f"{PREPROCESSING_FILE} scaler.scale: every value must be positive")
    std = _float_array(outliers.get("std"), shape, f"{PREPROCESSING_FILE} outliers.std")
    if (std < 0).any():
        raise BundleError(f"{PREPROCESSING_FILE} outliers.std: negative values")
    z = outliers.get("z")
    if isinstance(z, bool) or not isinstance(z, (int, float)) or not np.isfinite(z) or z <= 0:
        raise BundleError(f"{PREPROCESSING_FILE} outliers.z must be a positive number, got {z!r}")
    return Normalization(
        mean=_float_array(scaler.get("mean"), shape, f"{PREPROCESSING_FILE} scaler.mean"),
        scale=scale,
        reference_mean=_float_array(outliers.get("mean"), shape, f"{PREPROCESSING_FILE} outliers.mean"),
        reference_std=std,
        z=float(z),
        source="training",
        recordings=int(recordings) if isinstance(recordings, int) else 0,
    )


def _load_encoder(path: Path, *, method: str, n_features: int, latent_dim: int) -> Any:
    """The latent model (or PCA) from safetensors, its shapes checked against the recorded architecture."""
    if method == PCA_METHOD:
        tensors, metadata = _read_numpy_safetensors(path)
        expected = {
            "components_": (latent_dim, n_features),
            "mean_": (n_features,),
            "explained_variance_": (latent_dim,),
        }
        _check_state(tensors, metadata, expected, method=method, n_features=n_features, architecture="PCA")
        return _PCAEncoder(tensors, metadata)

    import torch

    from crossemo.models import MODELS
    from crossemo.models.estimators import read_state_file
    from crossemo.models.network import LatentAutoencoder

    tensors, metadata = read_state_file(path)
    params = metadata.get("params")
    if not isinstance(params, dict):
        raise BundleError(f"{ENCODER_FILE}: metadata lacks the model parameters")
    hidden = params.get("hidden")
    if not isinstance(hidden, list) or not all(isinstance(width, int) and width > 0 for width in hidden):
        raise BundleError(f"{ENCODER_FILE}: hidden widths must be a list of positive integers, got {hidden!r}")
    if params.get("latent_dim") != latent_dim:
        raise BundleError(
            f"{ENCODER_FILE}: latent_dim {params.get('latent_dim')!r} differs from {BUNDLE_FILE}'s {latent_dim}"
        )
    variational = MODELS[method].variational
    reference = LatentAutoencoder(n_features, latent_dim, hidden=hidden, variational=variational,
                                  generator=torch.Generator())
    expected = {name: tuple(tensor.shape) for name, tensor in reference.state_dict().items()}
    architecture = " -> ".join(str(width) for width in (n_features, *hidden, latent_dim))
    _check_state(tensors, metadata, expected, method=method, n_features=n_features, architecture=architecture)
    from crossemo.models import model_from_state

    return model_from_state(tensors, metadata)  # weights on the CPU, whatever device trained them


def _check_state(
    tensors: Mapping[str, Any],
    metadata: Mapping[str, Any],
    expected: Mapping[str, tuple[int, ...]],
    *,
    method: str,
    n_features: int,
    architecture: str,
) -> None:
    if metadata.get("model") != method:
        raise BundleError(f"{ENCODER_FILE} holds model {metadata.get('model')!r}, {BUNDLE_FILE} says {method!r}")
    if metadata.get("n_features_in_") != n_features:
        raise BundleError(
            f"{ENCODER_FILE} expects {metadata.get('n_features_in_')!r} input features, "
            f"{FEATURES_FILE} lists {n_features}"
        )
    problems = [f"{name} missing" for name in expected if name not in tensors]
    problems += [f"unexpected tensor {name}" for name in tensors if name not in expected]
    problems += [
        f"{name} has shape {tuple(tensors[name].shape)}, expected {shape}"
        for name, shape in expected.items()
        if name in tensors and tuple(tensors[name].shape) != shape
    ]
    if problems:
        raise BundleError(
            f"{ENCODER_FILE} does not fit the recorded architecture {method} {architecture}: " + "; ".join(problems)
        )


def _read_numpy_safetensors(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    from crossemo.models.estimators import read_state_file

    tensors, metadata = read_state_file(path, framework="np")
    if metadata.get("format") != PCA_FORMAT:
        raise BundleError(f"{path}: not a {PCA_FORMAT} state")
    return tensors, metadata


def _warn_about_versions(recorded: Any, folder: Path) -> None:
    from crossemo.experiment import package_versions

    if not isinstance(recorded, dict):
        warnings.warn(f"bundle {folder} records no package versions", BundleWarning, stacklevel=3)
        return
    installed = package_versions()
    ours, theirs = str(recorded.get("crossemo", "?")), installed["crossemo"]
    if ours.split(".")[0] != theirs.split(".")[0]:
        warnings.warn(
            f"bundle {folder} was written by crossemo {ours}; this is crossemo {theirs} (another major version)",
            BundleWarning,
            stacklevel=3,
        )
    ours, theirs = str(recorded.get("opensmile", "?")), installed["opensmile"]
    if ours != theirs:
        warnings.warn(
            f"bundle {folder} was trained on features of opensmile {ours}; opensmile {theirs} is installed, "
            "so feature values may differ slightly",
            BundleWarning,
            stacklevel=3,
        )


# --------------------------------------------------------------------------- inputs and the CLI's call


def audio_suffixes() -> tuple[str, ...]:
    """Extensions of :data:`AUDIO_FORMATS` whose format the installed soundfile reads."""
    import soundfile

    readable = soundfile.available_formats()
    return tuple(suffix for suffix, audio_format in AUDIO_FORMATS.items() if audio_format in readable)


def collect_recordings(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[str]:
    """The recordings ``paths`` name, in order: files as given, folders searched, manifests read.

    A folder contributes its audio files (:func:`audio_suffixes`, any letter case)
    recursively, sorted; a ``.csv`` file is a manifest whose ``path`` column lists
    files relative to its folder.  Files that do not exist are kept, so they get an
    error row.  Raises :class:`PredictionError` for a folder without audio or an
    unusable manifest.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files: list[str] = []
    for item in paths:
        path = Path(item).expanduser()
        if path.is_dir():
            files += _folder_recordings(path)
        elif path.suffix.lower() == ".csv" and path.is_file():
            files += _manifest_recordings(path)
        else:
            files.append(str(path))
    return files


def _folder_recordings(folder: Path) -> list[str]:
    suffixes = audio_suffixes()
    found: list[str] = []
    visited: set[str] = set()
    for directory, subfolders, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(directory)
        if real in visited:  # a link back into a folder already searched
            subfolders.clear()
            continue
        visited.add(real)
        found += [os.path.join(directory, name) for name in names if name.lower().endswith(suffixes)]
    if not found:
        raise PredictionError(f"no audio files ({', '.join(suffixes)}) under {folder}")
    return sorted(found)


def _manifest_recordings(csv_path: Path) -> list[str]:
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise PredictionError(f"manifest {csv_path} is not a readable CSV: {error}") from None
    columns = {str(column).strip().lower(): column for column in table.columns}
    if "path" not in columns:
        raise PredictionError(f"manifest {csv_path} has no 'path' column (has: {', '.join(map(str, table.columns))})")
    cells = [cell.strip() for cell in table[columns["path"]]]
    blank = [number for number, cell in enumerate(cells, start=2) if not cell]
    if blank:
        raise PredictionError(f"manifest {csv_path}: empty path on line(s) {', '.join(map(str, blank[:5]))}")
    root = csv_path.resolve().parent
    return [str(root / cell.replace("\\", "/")) for cell in cells]


def _describe_sources(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> str:
    if isinstance(paths, (str, os.PathLike)):
        return str(paths)
    listed = [str(path) for path in paths]
    return listed[0] if len(listed) == 1 else f"{len(listed)} adapt paths"


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


def predict_files(
    model_dir: str | os.PathLike[str],
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    out: str | os.PathLike[str] | None = None,
    adapt: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None = None,
    jobs: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Load the bundle ``model_dir``, predict ``paths`` and write the table to CSV ``out`` (atomically)."""
    from crossemo.fileio import write_atomic_text

    model = load_model(model_dir)
    predictions = model.predict(paths, adapt=adapt, jobs=jobs, cache_dir=cache_dir, progress=progress)
    if out is not None:
        try:
            write_atomic_text(Path(out).expanduser(), predictions.to_csv(index=False))
        except OSError as error:
            raise PredictionError(f"cannot write {out}: {error.strerror or error}") from None
    return predictions
