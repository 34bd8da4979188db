"""What a bundle is on disk: its files, the manifest and content hash, and the SVC as plain numbers.

A bundle is a folder of plain files::

    manifest.json         format, the sha256 of every other file, and their content hash
    bundle.json           method, classes, latent width, training summary, package versions
    features.json         the feature extractor (its description) and the feature names, in input order
    preprocessing.json    scaler mean and scale; outlier threshold z with the training
                          corpus' mean and std it was applied with
    encoder.safetensors   the method's estimator, as its own ``save`` writes it
    classifier.json       the linear SVC: classes, one-vs-one coefficients and intercepts
    config.json           the study configuration it was trained from
    calibration.json      the probability calibration of the class scores, with its out-of-fold
                          evidence (format version 2; absent when it could not be fitted)
    calibration.png       its reliability diagram, and calibration.md the training report
                          (with calibration.json, all three or none)

Format version 2 added the calibration files; version 1 bundles (without them) still load.

The SVC needs no scikit-learn object: :class:`LinearOvoClassifier` recomputes
scikit-learn's one-vs-one decision function, its voting (ties go to the lower class
index, as in libsvm) and its "ovr" per-class scores from the stored coefficients.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from crossemo.errors import BundleError

BUNDLE_FORMAT = "crossemo.bundle"
BUNDLE_VERSION = 2
READABLE_VERSIONS: tuple[int, ...] = (1, 2)
"""Format versions :func:`crossemo.bundle.load_model` reads (1: before calibration)."""
MANIFEST = "manifest.json"
BUNDLE_FILE = "bundle.json"
FEATURES_FILE = "features.json"
PREPROCESSING_FILE = "preprocessing.json"
ENCODER_FILE = "encoder.safetensors"
CLASSIFIER_FILE = "classifier.json"
CONFIG_FILE = "config.json"
CALIBRATION_FILE = "calibration.json"
RELIABILITY_FILE = "calibration.png"
CALIBRATION_REPORT_FILE = "calibration.md"
BUNDLE_FILES: tuple[str, ...] = (
    BUNDLE_FILE,
    FEATURES_FILE,
    PREPROCESSING_FILE,
    ENCODER_FILE,
    CLASSIFIER_FILE,
    CONFIG_FILE,
)
"""The files every bundle has besides the manifest; the content hash covers them in this order."""
CALIBRATION_FILES: tuple[str, ...] = (CALIBRATION_FILE, RELIABILITY_FILE, CALIBRATION_REPORT_FILE)
"""The files of a calibrated bundle (format version 2), all or none; hashed after :data:`BUNDLE_FILES`."""


def bundle_files(*, calibrated: bool) -> tuple[str, ...]:
    """The files (besides the manifest) of a bundle with or without calibration, in content-hash order.

    >>> bundle_files(calibrated=True)[-3:]
    ('calibration.json', 'calibration.png', 'calibration.md')
    """
    return BUNDLE_FILES + CALIBRATION_FILES if calibrated else BUNDLE_FILES


ERROR_COLUMN = "error"
PREDICTED_COLUMN = "predicted"
OUT_OF_RANGE_COLUMN = "out_of_range"
"""Columns of a prediction row (``TrainedModel.predict``, per file or per segment)."""


class BundleWarning(UserWarning):
    """A bundle loads, but was written by other package versions (results may differ slightly)."""


# --------------------------------------------------------------------------- manifest and hashes


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


def manifest_document(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of the bundle files in ``folder``: format, version, each file's sha256, content hash.

    The calibration files are listed when ``calibration.json`` is there.
    """
    from crossemo.fileio import file_sha256

    names = bundle_files(calibrated=(Path(folder) / CALIBRATION_FILE).is_file())
    return {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_VERSION,
        "files": {name: file_sha256(Path(folder) / name) for name in names},
        "content_sha256": content_hash(folder, names),
    }


def json_text(document: Any) -> str:
    """How every JSON file of a bundle is written (strict JSON: no NaN)."""
    return json.dumps(document, indent=2, allow_nan=False) + "\n"


# --------------------------------------------------------------------------- reading documents


def read_json(folder: Path, name: str) -> dict[str, Any]:
    """The JSON object in ``folder/name``; :class:`BundleError` if unreadable or not an object."""
    try:
        document = json.loads((folder / name).read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BundleError(f"cannot read {name} in {folder}: {error}") from None
    if not isinstance(document, dict):
        raise BundleError(f"{name} in {folder} is not a JSON object")
    return document


def string_list(document: Mapping[str, Any], key: str, where: str) -> list[str]:
    """``document[key]`` if it is a list of strings, else :class:`BundleError`."""
    value = document.get(key)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BundleError(f"{where}: {key!r} must be a list of strings")
    return value


def float_array(value: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    """``value`` as a finite float64 array of exactly ``shape``, else :class:`BundleError` naming ``what``."""
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise BundleError(f"{what}: not an array of numbers") from None
    if array.shape != shape:
        raise BundleError(f"{what}: shape {array.shape}, expected {shape}")
    if not np.isfinite(array).all():
        raise BundleError(f"{what}: holds NaN or infinite values")
    return array


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

    @property
    def latent_dim(self) -> int:
        """Width of the input (the latent) the classifier expects."""
        return int(self.coef.shape[1])

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
        classes = string_list(document, "classes", where)
        if len(classes) < 2 or len(set(classes)) != len(classes):
            raise BundleError(f"{where}: needs at least two distinct classes, has {classes}")
        n_pairs = len(classes) * (len(classes) - 1) // 2
        if document.get("pairs") != [list(pair) for pair in class_pairs(len(classes))]:
            raise BundleError(f"{where}: class pairs are not in scikit-learn's one-vs-one order")
        coef = float_array(document.get("coef"), (n_pairs, latent_dim), f"{where} coef")
        intercept = float_array(document.get("intercept"), (n_pairs,), f"{where} intercept")
        return cls(classes=tuple(classes), coef=coef, intercept=intercept)
