"""Calibrated class probabilities from the SVC's per-class scores, fitted on out-of-fold scores.

The calibration is *vector scaling* (Guo et al., 2017, "On calibration of modern
neural networks"): a multinomial logistic model whose weight matrix is diagonal,

.. math::

    p_k(s) = \\operatorname{softmax}_k(a \\odot s + b)
           = \\frac{\\exp(a_k s_k + b_k)}{\\sum_j \\exp(a_j s_j + b_j)},
    \\qquad a_k \\ge 0,

on the per-class scores ``s`` of :meth:`LinearOvoClassifier.class_scores`.  Why this
and not scikit-learn's one-vs-rest Platt sigmoids normalised to sum one: it is fitted
on the multiclass log loss directly (the normalisation is part of the model, not an
afterthought), the probabilities sum to one by construction, ``a_k >= 0`` makes
``p_k`` non-decreasing in the class' own score (:math:`\\partial p_k / \\partial s_k =
a_k p_k (1 - p_k)`), for two classes (scores ``(-d, d)``) it *is* Platt scaling,
``sigmoid((a_0 + a_1) d + b_1 - b_0)``, and it is three exact ONNX operators
(``Mul``, ``Add``, ``Softmax``).  Isotonic regression was not chosen: per-class step
functions do not sum to one and need renormalising.  The fit minimises the negative
log-likelihood plus ``penalty / 2 * ||a||^2`` (the objective of
``LogisticRegression(C=1 / penalty)``, intercepts unpenalised) with L-BFGS-B.

The scores it is fitted on are out of fold (:func:`out_of_fold_scores`): the training
rows are split into speaker-independent folds as a study splits them
(:func:`crossemo.study.tasks.pooled_folds`) and every held-out fold is scored by a
model that did not see its labels.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax, softmax

from crossemo.bundle.format import LinearOvoClassifier, float_array, string_list
from crossemo.errors import BundleError, ConfigError

if TYPE_CHECKING:
    from crossemo.config import StudyConfig
    from crossemo.pipeline import EmotionPipeline

CALIBRATION_METHOD = "vector_scaling"
DEFAULT_CALIBRATION_FOLDS = 3
"""Held-out folds of the calibration fit: few, because supervised methods refit per fold."""
RELIABILITY_BINS = 10
UNCALIBRATED_NOTE = (
    "this bundle stores no probability calibration (written before calibration, or its training data "
    "could not be split into folds): prob_<class> and confidence are empty; retrain it for probabilities"
)


class CalibrationSkipped(ConfigError):
    """The training data cannot give out-of-fold scores (too few speakers, a class missing from a fold)."""


@dataclass(frozen=True, eq=False)
class ScoreCalibration:
    """Vector scaling of per-class SVC scores: ``softmax(slope * scores + intercept)`` (module docstring)."""

    classes: tuple[str, ...]
    slope: np.ndarray  # (n_classes,), every value >= 0
    intercept: np.ndarray  # (n_classes,), summing to zero

    @classmethod
    def fit(cls, scores: np.ndarray, labels: Sequence[Any], classes: Sequence[str], *,
            penalty: float = 1.0) -> ScoreCalibration:
        """Fit on ``scores`` (n, n_classes) and the true ``labels``; the minimiser of

        :math:`-\\sum_i \\log p_{y_i}(s_i) + \\tfrac{\\text{penalty}}{2} \\lVert a \\rVert^2`
        over :math:`a \\ge 0, b` (L-BFGS-B, analytic gradient).
        """
        values = np.asarray(scores, dtype=np.float64)
        codes = class_codes(labels, classes)
        n_classes = len(classes)
        if values.ndim != 2 or values.shape != (codes.size, n_classes):
            raise ValueError(f"scores of shape {values.shape} for {codes.size} labels and {n_classes} classes")
        truth = np.eye(n_classes)[codes]

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            slope, intercept = theta[:n_classes], theta[n_classes:]
            log_p = log_softmax(values * slope + intercept, axis=1)
            residual = np.exp(log_p) - truth  # d(-log-likelihood)/d(logits)
            loss = -float((truth * log_p).sum()) + 0.5 * penalty * float(slope @ slope)
            gradient = np.concatenate([(residual * values).sum(axis=0) + penalty * slope, residual.sum(axis=0)])
            return loss, gradient

        start = np.concatenate([np.ones(n_classes), np.zeros(n_classes)])
        bounds = [(0.0, None)] * n_classes + [(None, None)] * n_classes
        result = minimize(objective, start, jac=True, method="L-BFGS-B", bounds=bounds)
        if not np.isfinite(result.x).all():
            raise CalibrationSkipped(f"the calibration fit diverged: {result.message}")
        slope, intercept = result.x[:n_classes], result.x[n_classes:]
        # softmax ignores a common shift of the intercepts: store the centred, unique one.
        return cls(classes=tuple(classes), slope=slope.copy(), intercept=intercept - intercept.mean())

    def logits(self, scores: np.ndarray) -> np.ndarray:
        """``slope * scores + intercept``, row by row."""
        return np.asarray(scores, dtype=np.float64) * self.slope + self.intercept

    def predict_proba(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated probabilities ``softmax(slope * scores + intercept)``; rows sum to one.

        >>> calibration = ScoreCalibration(("a", "b"), np.array([1.0, 1.0]), np.zeros(2))
        >>> calibration.predict_proba(np.array([[0.0, 0.0], [-1.0, 1.0]])).round(3).tolist()
        [[0.5, 0.5], [0.119, 0.881]]
        """
        return softmax(self.logits(scores), axis=1)

    def to_json(self) -> dict[str, Any]:
        """The coefficients as JSON (floats round-trip exactly)."""
        return {
            "method": CALIBRATION_METHOD,
            "formula": "softmax(slope * class_scores + intercept)",
            "classes": list(self.classes),
            "slope": self.slope.tolist(),
            "intercept": self.intercept.tolist(),
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any], *, classes: Sequence[str], where: str) -> ScoreCalibration:
        """Rebuild from :meth:`to_json`, refusing another method, other classes, bad shapes or a negative slope."""
        if document.get("method") != CALIBRATION_METHOD:
            raise BundleError(f"{where}: calibration method {document.get('method')!r}, expected {CALIBRATION_METHOD!r}")
        recorded = string_list(document, "classes", where)
        if tuple(recorded) != tuple(classes):
            raise BundleError(f"{where}: calibration classes {recorded} differ from the bundle's {list(classes)}")
        shape = (len(classes),)
        slope = float_array(document.get("slope"), shape, f"{where} slope")
        if (slope < 0).any():
            raise BundleError(f"{where} slope: every value must be >= 0 (probabilities must rise with the score)")
        return cls(classes=tuple(classes), slope=slope,
                   intercept=float_array(document.get("intercept"), shape, f"{where} intercept"))


def class_codes(labels: Sequence[Any], classes: Sequence[str]) -> np.ndarray:
    """The index in ``classes`` of every label; ``ValueError`` naming a label outside them.

    >>> class_codes(["b", "a", "b"], ("a", "b")).tolist()
    [1, 0, 1]
    """
    position = {label: index for index, label in enumerate(classes)}
    unknown = sorted({str(label) for label in labels if label not in position})
    if unknown:
        raise ValueError(f"labels {unknown} are not among the classes {list(classes)}")
    return np.array([position[label] for label in labels], dtype=np.int64)


# --------------------------------------------------------------------------- measuring calibration


def reliability_table(probabilities: np.ndarray, codes: np.ndarray, *, bins: int = RELIABILITY_BINS) -> dict:
    """Per confidence bin ``(k/bins, (k+1)/bins]``: row count, mean confidence and accuracy (NaN when empty).

    The confidence of a row is its largest probability, correct when that class is the true one.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(codes)
    which = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(which, weights=confidence, minlength=bins) / counts
        accuracy = np.bincount(which, weights=correct.astype(np.float64), minlength=bins) / counts
    return {"edges": np.linspace(0.0, 1.0, bins + 1), "count": counts, "confidence": mean_confidence,
            "accuracy": accuracy}


def expected_calibration_error(probabilities: np.ndarray, codes: np.ndarray, *, bins: int = RELIABILITY_BINS) -> float:
    """ECE: :math:`\\sum_b \\frac{n_b}{n} \\lvert \\text{acc}_b - \\text{conf}_b \\rvert` over equal-width confidence bins.

    >>> round(expected_calibration_error(np.array([[0.9, 0.1], [0.6, 0.4]]), np.array([0, 1])), 6)
    0.35
    """
    table = reliability_table(probabilities, codes, bins=bins)
    filled = table["count"] > 0
    weights = table["count"][filled] / table["count"].sum()
    return float((weights * np.abs(table["accuracy"][filled] - table["confidence"][filled])).sum())


def log_loss(probabilities: np.ndarray, codes: np.ndarray) -> float:
    """Mean negative log-probability of the true class (probabilities clipped at 1e-15)."""
    picked = np.asarray(probabilities)[np.arange(len(codes)), np.asarray(codes)]
    return float(-np.log(np.clip(picked, 1e-15, 1.0)).mean())


# --------------------------------------------------------------------------- out-of-fold scores


@dataclass(frozen=True, eq=False)
class CalibrationFit:
    """A fitted calibration and the out-of-fold evidence for the training report."""

    calibration: ScoreCalibration
    scores: np.ndarray  # out-of-fold class scores of every labelled training row
    codes: np.ndarray  # their true class indices
    probabilities: np.ndarray  # cross-fitted calibrated probabilities (see fit_calibration)
    folds: int
    refit: str  # "pipeline" or "classifier": what was refitted per fold
    seconds: float
    summary: dict = field(default_factory=dict)


def calibration_folds(data: Any, config: StudyConfig, n_folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Speaker-independent folds of the labelled rows of ``data`` (a :class:`~crossemo.bundle.TrainingData`).

    :func:`crossemo.study.tasks.pooled_folds` with ``n_folds`` folds and the study's
    first seed: each training corpus split by ``protocol.split``, joined fold by fold.
    :class:`CalibrationSkipped` when the rows cannot be split so.
    """
    from crossemo.study.tasks import pooled_folds

    if data.table is None or len(data.table) != len(data.labels):
        raise CalibrationSkipped("the training data carries no table of speakers to split into folds")
    protocol = config.protocol.model_copy(update={"folds": n_folds})
    try:
        return pooled_folds(data.table, config.model_copy(update={"protocol": protocol}), int(config.protocol.seeds[0]))
    except ConfigError as error:
        raise CalibrationSkipped(f"cannot split the training rows into {n_folds} folds: {error}") from None


def out_of_fold_scores(pipeline: EmotionPipeline, data: Any,
                       folds: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, str]:
    """Class scores of every labelled row of ``data`` (a :class:`~crossemo.bundle.TrainingData`) from a
    model fitted without that row's fold; and what was refitted.

    A method that learns from labels (``uses_labels``) is refitted whole per fold
    (an unfitted clone of ``pipeline``, same parameters and seed), since its latent
    saw the held-out labels.  For the others only the SVC is refitted on the
    training folds' latent: their latent model never saw a label, so the held-out
    scores stay honest at a fraction of the cost.  Held-out rows are standardized
    with the pooled scaler, as :meth:`TrainedModel.predict` standardizes new rows.
    """
    from sklearn.base import clone
    from sklearn.svm import SVC

    from crossemo.study.fitting import single_thread

    classes = tuple(str(label) for label in pipeline.classes_)
    corpora = data.corpora if data.corpora is not None else np.full(len(data.labels), None, dtype=object)
    refit = "pipeline" if pipeline.method_.uses_labels else "classifier"
    scores = np.full((len(data.labels), len(classes)), np.nan)
    with single_thread():
        for train, test in folds:
            missing = sorted(set(classes) - {str(label) for label in data.labels[train]})
            if missing:
                raise CalibrationSkipped(f"a calibration fold has no training rows of {', '.join(missing)}")
            if refit == "pipeline":
                fold = clone(pipeline).fit(
                    data.features[train], data.labels[train], corpora=corpora[train], unlabelled=data.unlabelled,
                    unlabelled_corpora=data.unlabelled_corpora, target=data.target)
                classifier = LinearOvoClassifier.from_svc(fold.classifier_, latent_scaler=fold.latent_scaler_)
                latent = fold.embed(data.features[test])
            else:
                svc_input = pipeline.train_latent_[train]
                if pipeline.latent_scaler_ is not None:
                    svc_input = pipeline.latent_scaler_.transform(svc_input)
                svc = SVC(kernel="linear", class_weight=pipeline.class_weight).fit(svc_input, data.labels[train])
                classifier = LinearOvoClassifier.from_svc(svc, latent_scaler=pipeline.latent_scaler_)
                latent = pipeline.embed(data.features[test])
            scores[test] = classifier.class_scores(latent)
    return scores, refit


def fit_calibration(pipeline: EmotionPipeline, data: Any, config: StudyConfig, *,
                    folds: int = DEFAULT_CALIBRATION_FOLDS) -> CalibrationFit:
    """The calibration of a fitted bundle pipeline, from out-of-fold scores of its training rows ``data``
    (the :class:`~crossemo.bundle.TrainingData` it was fitted on).

    The calibration kept is fitted on all out-of-fold scores.  The probabilities of
    the report are cross-fitted: each fold's from a calibration fitted on the other
    folds' scores, so the stated calibration error is not measured on the rows the
    calibration was fitted to.  :class:`CalibrationSkipped` says why when it cannot be fitted.
    """
    start = time.perf_counter()
    classes = tuple(str(label) for label in pipeline.classes_)
    split = calibration_folds(data, config, folds)
    scores, refit = out_of_fold_scores(pipeline, data, split)
    codes = class_codes(data.labels, classes)
    calibration = ScoreCalibration.fit(scores, data.labels, classes)
    probabilities = np.empty_like(scores)
    for train, test in split:
        probabilities[test] = ScoreCalibration.fit(scores[train], data.labels[train], classes).predict_proba(scores[test])
    predicted = scores.argmax(axis=1)
    summary = {
        "method": CALIBRATION_METHOD,
        "folds": len(split),
        "refit": refit,
        "rows": int(len(codes)),
        "out_of_fold_accuracy": float((predicted == codes).mean()),
        "expected_calibration_error": expected_calibration_error(probabilities, codes),
        "log_loss": log_loss(probabilities, codes),
        "bins": RELIABILITY_BINS,
    }
    return CalibrationFit(calibration=calibration, scores=scores, codes=codes, probabilities=probabilities,
                          folds=len(split), refit=refit, seconds=time.perf_counter() - start, summary=summary)
