"""The reference baselines as estimators with the latent models' contract and state.

:class:`PCAEncoder` is a ``latent_dim``-component PCA (the paper's "PCA 2-D"
reference); :class:`FeatureIdentity` passes the standardized features through, so the
SVC sees all of them ("SVC on the features").  Both save and load like the latent
models (:class:`~crossemo.models.state.StateMixin`), so a study, a bundle and the
registry treat every method alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from crossemo.errors import BundleError
from crossemo.models.base import ModelInputError, _check_positive_int
from crossemo.models.state import StateMixin, check_state_header, state_metadata

LEGACY_PCA_FORMAT = "crossemo.pca"
"""How bundles written before the method registry stored their PCA."""


class _StatelessCheck:
    model_name: ClassVar[str]

    def _validate(self, X: Any, *, reset: bool) -> np.ndarray:
        try:
            return validate_data(self, X, reset=reset, dtype=np.float64, ensure_min_samples=2 if reset else 1)
        except ValueError as error:
            raise ModelInputError(f"{type(self).__name__}: {error}") from error

    @classmethod
    def _input_width(cls, metadata: Mapping[str, Any]) -> int:
        width = metadata.get("n_features_in_")
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise BundleError(f"{cls.model_name} state: n_features_in_ must be a positive integer, got {width!r}")
        return width


class PCAEncoder(_StatelessCheck, StateMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Principal components as the latent: ``transform(X) = (X - mean_) @ components_.T``.

    Parameters
    ----------
    latent_dim:
        Number of components.
    seed:
        Seed of scikit-learn's randomized solver (used only for large inputs).
    """

    model_name = "pca"

    def __init__(self, *, latent_dim: int = 2, seed: int | None = 0) -> None:
        self.latent_dim = latent_dim
        self.seed = seed

    def fit(self, X: Any, y: Any = None) -> Self:
        """Fit the components on ``X``; ``y`` is ignored."""
        from sklearn.decomposition import PCA

        _check_positive_int("latent_dim", self.latent_dim)
        features = self._validate(X, reset=True)
        pca = PCA(n_components=self.latent_dim, random_state=self.seed).fit(features)
        self.components_, self.mean_, self.explained_variance_ = (
            np.ascontiguousarray(values, dtype=np.float64)
            for values in (pca.components_, pca.mean_, pca.explained_variance_)
        )
        self._n_features_out = self.latent_dim
        # Transform through the same rebuilt object a loaded state uses: identical arithmetic.
        self.pca_ = _sklearn_pca(self)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """The latent of ``X``, float64 of shape (n_samples, latent_dim)."""
        check_is_fitted(self, "pca_")
        features = self._validate(X, reset=False)
        return np.asarray(self.pca_.transform(features), dtype=np.float64)  # scikit-learn's own arithmetic

    def to_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        check_is_fitted(self, "components_")
        tensors = {"components_": self.components_, "mean_": self.mean_, "explained_variance_": self.explained_variance_}
        return tensors, state_metadata(self.model_name, self.get_params(), self.n_features_in_)

    @classmethod
    def state_shapes(cls, metadata: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
        metadata = _upgrade_legacy_pca(metadata)
        check_state_header(metadata, model=cls.model_name, cls_name=cls.__name__)
        width = cls._input_width(metadata)
        latent_dim = (metadata.get("params") or {}).get("latent_dim")
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
            raise BundleError(f"pca state: latent_dim must be a positive integer, got {latent_dim!r}")
        return {"components_": (latent_dim, width), "mean_": (width,), "explained_variance_": (latent_dim,)}

    @classmethod
    def from_state(cls, tensors: Mapping[str, Any], metadata: Mapping[str, Any]) -> Self:
        metadata = _upgrade_legacy_pca(metadata)
        check_state_header(metadata, model=cls.model_name, cls_name=cls.__name__)
        params = dict(metadata.get("params") or {})
        model = cls(latent_dim=params.get("latent_dim", 2), seed=params.get("seed"))
        try:
            model.components_, model.mean_, model.explained_variance_ = (
                np.asarray(tensors[name], dtype=np.float64) for name in ("components_", "mean_", "explained_variance_")
            )
        except KeyError as error:
            raise BundleError(f"inconsistent PCAEncoder state: missing {error}") from None
        model.n_features_in_ = cls._input_width(metadata)
        model._n_features_out = model.latent_dim
        model.pca_ = _sklearn_pca(model)
        return model


def _sklearn_pca(model: PCAEncoder) -> Any:
    """A fitted ``sklearn.decomposition.PCA`` holding ``model``'s arrays."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=model.latent_dim)
    pca.components_ = model.components_
    pca.mean_ = model.mean_
    pca.explained_variance_ = model.explained_variance_
    pca.n_components_ = int(model.components_.shape[0])
    pca.n_features_in_ = model.n_features_in_
    return pca


def _upgrade_legacy_pca(metadata: Mapping[str, Any]) -> Mapping[str, Any]:
    """Read a PCA state written before the registry (``crossemo.pca``) as today's format."""
    if metadata.get("format") != LEGACY_PCA_FORMAT:
        return metadata
    params = metadata.get("params") if isinstance(metadata.get("params"), Mapping) else {}
    return state_metadata("pca", {"latent_dim": params.get("n_components"), "seed": None},
                          metadata.get("n_features_in_") or 0)


class FeatureIdentity(_StatelessCheck, StateMixin, TransformerMixin, BaseEstimator):
    """The standardized features themselves (no latent): the SVC-on-all-features baseline."""

    model_name = "svc_features"

    def fit(self, X: Any, y: Any = None) -> Self:
        self._validate(X, reset=True)
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "n_features_in_")
        return self._validate(X, reset=False)

    def to_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        check_is_fitted(self, "n_features_in_")
        return {}, state_metadata(self.model_name, {}, self.n_features_in_)

    @classmethod
    def state_shapes(cls, metadata: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
        check_state_header(metadata, model=cls.model_name, cls_name=cls.__name__)
        cls._input_width(metadata)
        return {}

    @classmethod
    def from_state(cls, tensors: Mapping[str, Any], metadata: Mapping[str, Any]) -> Self:
        check_state_header(metadata, model=cls.model_name, cls_name=cls.__name__)
        model = cls()
        model.n_features_in_ = cls._input_width(metadata)
        return model
