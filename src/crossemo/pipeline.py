"""The one pipeline every fit runs, in a study's fold and in a bundle alike.

Standardize the features (the training rows' scaler) -> a registered method's
estimator (the latent model, PCA, or the features themselves) -> optionally
standardize the latent (``protocol.scale_latent``) -> ``SVC(kernel="linear")``.

With several training corpora and ``normalize="corpus"`` each training corpus is
standardized by its own rows' statistics (``corpus_scalers_``); rows of a corpus the
pipeline has no statistics of get the pooled training scaler (``scaler_``).

Rows without a label may join the estimator's training (``unlabelled=``, as
``protocol.unlabelled = "use"`` asks) and unlabelled rows of the target corpus go to
methods that declare ``uses_target``; the scaler and the SVC see labelled training
rows only.  A transfer condition that brings its own standardization (target
normalization) passes already standardized rows with ``standardized=True``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from crossemo.models.registry import Method, get_method


class EmotionPipeline(BaseEstimator):
    """Scaler -> method -> (latent scaler) -> linear SVC, fitted in one call.

    Parameters
    ----------
    method:
        A registered method's name, or a :class:`~crossemo.models.registry.Method`.
    params:
        The estimator's constructor keywords (see :meth:`Method.params`).
    scale_latent:
        Standardize the latent on the training rows before the SVC (methods with a latent only).
    normalize:
        ``"pooled"``: one scaler over all training rows; ``"corpus"``: each training
        corpus (``corpora=`` of :meth:`fit`) by its own statistics.
    class_weight:
        The SVC's ``class_weight``: ``None`` (as the paper) or ``"balanced"``.
    """

    def __init__(self, method: str | Method = "dae", params: Mapping[str, Any] | None = None,
                 scale_latent: bool = False, normalize: str = "pooled", class_weight: str | None = None) -> None:
        self.method = method
        self.params = params
        self.scale_latent = scale_latent
        self.normalize = normalize
        self.class_weight = class_weight

    def fit(self, X: Any, y: Any, *, corpora: Any = None, unlabelled: Any = None,
            unlabelled_corpora: Any = None, target: Any = None) -> Self:
        """Fit on labelled rows ``X``, ``y``; ``unlabelled`` and ``target`` are raw rows without labels.

        ``corpora`` names the corpus of every row of ``X`` (and ``unlabelled_corpora``
        of every unlabelled row) for ``normalize="corpus"``.  ``unlabelled`` joins the
        estimator's training when the method ``uses_unlabelled``; ``target`` (rows of
        the corpus to transfer to) is handed to methods that ``uses_target`` as
        ``fit(..., target=...)``, standardized with its own statistics.
        """
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        from crossemo.preprocessing import fit_scaler

        if self.normalize not in ("pooled", "corpus"):
            raise ValueError(f"normalize must be 'pooled' or 'corpus', got {self.normalize!r}")
        spec = get_method(self.method)
        features = np.asarray(X, dtype=np.float64)
        labels = np.asarray(y, dtype=object)
        self.scaler_ = StandardScaler().fit(features)
        self.corpus_scalers_ = {}
        if self.normalize == "corpus" and corpora is not None:
            names = np.asarray(corpora, dtype=object)
            self.corpus_scalers_ = {
                name: fit_scaler(features[names == name]) for name in dict.fromkeys(names.tolist())
            }
        scaled = self._standardize(features, corpora)
        model_input, model_labels = scaled, labels
        if unlabelled is not None and len(unlabelled) and spec.uses_unlabelled:
            extra = self._standardize(np.asarray(unlabelled, dtype=np.float64), unlabelled_corpora)
            model_input = np.vstack([scaled, extra])
            model_labels = np.concatenate([labels, np.full(len(extra), None, dtype=object)])
        fit_options: dict[str, Any] = {}
        if spec.takes_target and target is not None and len(target):
            # The target corpus by its own statistics, as target normalization standardizes it.
            target = np.asarray(target, dtype=np.float64)
            fit_options["target"] = fit_scaler(target).transform(target)
        self.model_ = spec.build(dict(self.params or {}))
        self.model_.fit(model_input, model_labels if spec.uses_labels else None, **fit_options)
        self.train_latent_ = np.asarray(self.model_.transform(scaled), dtype=np.float64)
        self.latent_scaler_ = None
        classifier_input = self.train_latent_
        if self.scale_latent and spec.has_latent:
            self.latent_scaler_ = StandardScaler().fit(self.train_latent_)
            classifier_input = self.latent_scaler_.transform(self.train_latent_)
        self.classifier_ = SVC(kernel="linear", class_weight=self.class_weight).fit(classifier_input, labels)
        self.classes_ = self.classifier_.classes_
        return self

    @property
    def method_(self) -> Method:
        """The registered method this pipeline runs."""
        return get_method(self.method)

    @property
    def history_(self) -> list[dict]:
        """The estimator's training history (empty for methods without one)."""
        check_is_fitted(self, "model_")
        return list(getattr(self.model_, "history_", []))

    def _standardize(self, rows: np.ndarray, corpora: Any = None) -> np.ndarray:
        """Raw rows standardized by their corpus' scaler, or the pooled one."""
        if not self.corpus_scalers_ or corpora is None:
            return self.scaler_.transform(rows)
        names = np.asarray(corpora, dtype=object)
        scaled = self.scaler_.transform(rows)
        for name, scaler in self.corpus_scalers_.items():
            mine = names == name
            if mine.any():
                scaled[mine] = scaler.transform(rows[mine])
        return scaled

    def embed(self, X: Any, *, standardized: bool = False, corpora: Any = None) -> np.ndarray:
        """The estimator's output (the latent) for raw rows, or for rows ``standardized`` elsewhere.

        ``corpora`` names each raw row's corpus: rows of a training corpus get its own
        scaler under ``normalize="corpus"``, other rows the pooled training scaler.
        """
        check_is_fitted(self, "model_")
        rows = np.asarray(X, dtype=np.float64)
        if not standardized:
            rows = self._standardize(rows, corpora)
        return np.asarray(self.model_.transform(rows), dtype=np.float64)

    def predict_latent(self, latent: Any) -> np.ndarray:
        """Class labels from latent rows (what :meth:`embed` returns)."""
        check_is_fitted(self, "classifier_")
        latent = np.asarray(latent, dtype=np.float64)
        if self.latent_scaler_ is not None:
            latent = self.latent_scaler_.transform(latent)
        return self.classifier_.predict(latent)

    def predict(self, X: Any, *, standardized: bool = False, corpora: Any = None) -> np.ndarray:
        """Class labels of raw rows (or of rows ``standardized`` elsewhere); ``corpora`` as in :meth:`embed`."""
        return self.predict_latent(self.embed(X, standardized=standardized, corpora=corpora))
