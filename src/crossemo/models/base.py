"""The shared base of the latent models: fit / transform on one autoencoder, state without pickle.

``fit(X, y=None, *, target=None)`` trains the network on (standardized) features,
``transform(X)`` returns the latent: encoder(x) on clean input for the DAE, mu for the
VAEs.  ``target`` (unlabelled rows of the corpus to transfer to, standardized by the
caller) makes training target-aware: every step also reconstructs a batch of target
rows and pulls the two batches' latents together with the ``alignment`` distance.  Every
hyper-parameter is a keyword of ``__init__`` (stored as given; checked in ``fit``),
learned state lives in trailing-underscore attributes, and a fitted model saves to and
loads from a safetensors file without pickle (:mod:`crossemo.models.state`).
"""

from __future__ import annotations

import numbers
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from crossemo.errors import BundleError, ConfigError, CrossemoError
from crossemo.models.alignment import ALIGNMENTS
from crossemo.models.losses import RECONSTRUCTIONS, UNLABELLED
from crossemo.models.network import LatentAutoencoder
from crossemo.models.state import StateMixin, check_state_header, state_metadata
from crossemo.models.training import Objective, SharedTerms, train_network


class ModelInputError(CrossemoError, ValueError):
    """Features or labels given to a latent model are unusable (shape, values, types)."""


def _stacklevel_outside_models() -> int:
    """``stacklevel`` of a warning raised in the model code: the first caller outside ``crossemo.models``.

    Counted, not fixed: fit's depth differs between models (mixins) and the batched path.
    """
    package = str(Path(__file__).parent)
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def encode_labels(y: Any, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Map labels to integer codes; return ``(classes, codes)`` with ``-1`` for missing.

    Missing labels are ``None``, NaN (anything ``pandas.isna`` accepts) and the number
    -1. Classes are the sorted distinct remaining labels (strings or numbers, not mixed).

    >>> classes, codes = encode_labels(["sad", None, "angry", float("nan"), "sad"], 5)
    >>> classes.tolist(), codes.tolist()
    (['angry', 'sad'], [1, -1, 0, -1, 1])
    >>> encode_labels([3, -1, 0], 3)[1].tolist()
    [1, -1, 0]
    """
    values = np.asarray(y, dtype=object)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values.ravel()
    if values.ndim != 1 or values.shape[0] != n_samples:
        raise ModelInputError(
            f"y must be one label per row of X ({n_samples}), got shape {values.shape}"
        )
    missing = np.asarray(pd.isna(values), dtype=bool)
    missing |= np.array(
        [
            isinstance(value, numbers.Number) and not isinstance(value, bool) and value == -1
            for value in values
        ],
        dtype=bool,
    )
    try:
        classes = np.unique(values[~missing])
    except TypeError as error:
        raise ModelInputError(f"labels mix types that cannot be ordered: {error}") from error
    classes = np.asarray(classes.tolist())  # object -> str / int / float dtype
    index = {label: code for code, label in enumerate(classes.tolist())}
    codes = np.full(n_samples, UNLABELLED, dtype=np.int64)
    codes[~missing] = [index[value] for value in values[~missing].tolist()]
    return classes, codes


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")


def _check_number(name: str, value: Any, *, positive: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise ConfigError(f"{name} must be {'> 0' if positive else '>= 0'}, got {value!r}")


@dataclass(frozen=True)
class FitPlan:
    """Everything one training run needs: :func:`~crossemo.models.training.train_network`'s arguments."""

    network: LatentAutoencoder
    x: torch.Tensor
    labels: torch.Tensor | None
    objective: Objective
    epochs: int
    batch_size: int
    learning_rate: float
    generator: torch.Generator
    beta_for_epoch: Callable[[int], float] | None
    target: torch.Tensor | None

    def train(self) -> list[dict[str, float]]:
        """Train ``network`` in place on its own (``train_network``); return the history."""
        return train_network(
            self.network,
            self.x,
            self.labels,
            objective=self.objective,
            epochs=self.epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            generator=self.generator,
            beta_for_epoch=self.beta_for_epoch,
            target=self.target,
        )


FitHandler = Callable[["LatentModel", Any, Any, Any], "LatentModel"]
"""Takes over ``fit(X, y, target=target)`` of the latent models: called with the model and its input."""

# Context-local, not global: set only inside :func:`handling_fits`, per thread and task.
_FIT_HANDLER: ContextVar[FitHandler | None] = ContextVar("crossemo_fit_handler", default=None)


@contextmanager
def handling_fits(handler: FitHandler) -> Iterator[None]:
    """Within the block, every latent model's ``fit`` calls ``handler(model, X, y, target)`` instead.

    Batched training (:mod:`crossemo.models.batched`) uses it to collect the fits a
    caller (the study's pipelines) makes, and then to hand each one its trained network.
    """
    token = _FIT_HANDLER.set(handler)
    try:
        yield
    finally:
        _FIT_HANDLER.reset(token)


class LatentModel(StateMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Shared fit / transform / save logic; subclasses declare their parameters."""

    model_name: ClassVar[str]
    variational: ClassVar[bool]
    uses_labels: ClassVar[bool] = False
    accepts_target: ClassVar[bool] = True
    """``fit`` takes ``target=``, unlabelled rows of the corpus to transfer to."""
    has_head: ClassVar[bool] = False
    """The network carries a classifier head on the latent (one output per class of ``y``)."""
    without_labels_note: ClassVar[str] = "the cluster loss is 0 throughout and the model trains as VAE-annealing"

    # -- per-model hooks -------------------------------------------------------------
    def _objective(self) -> Objective:
        raise NotImplementedError

    def _shared_terms(self) -> SharedTerms:
        """The head and alignment terms of the objective (subclasses with a head extend)."""
        return SharedTerms(alignment=self.alignment, alignment_weight=float(self.alignment_weight))

    def _beta_for_epoch(self) -> Callable[[int], float] | None:
        return None

    def _check_model_params(self) -> None:
        """Check the parameters specific to one model (subclasses extend)."""

    # -- scikit-learn contract -------------------------------------------------------
    def fit(self, X: Any, y: Any = None, *, target: Any = None) -> Self:
        """Train the network on ``X`` (rows = utterances); ``y`` is used only by the models with labels.

        ``target``: rows of the corpus to transfer to (no labels, already standardized),
        or ``None`` for the paper's training. Given, each step adds a batch of them to
        the reconstruction (and KL) loss and ``alignment_weight`` times the ``alignment``
        distance between the training and target batches' latents.
        """
        handler = _FIT_HANDLER.get()
        if handler is not None:
            return handler(self, X, y, target)
        plan = self._plan_fit(X, y, target=target)
        return self._finish_fit(plan.network, plan.train())

    def _plan_fit(self, X: Any, y: Any = None, *, target: Any = None) -> FitPlan:
        """Check the input and build what training needs: network, data, objective and schedule.

        The first of ``fit``'s three steps (plan, train, finish); batched training
        (:mod:`crossemo.models.batched`) trains several plans together in between.
        """
        self._check_params()
        features = self._validate_features(X, reset=True)
        target_rows = None if target is None else self._validate_target(target)
        labels = None
        if self.uses_labels:
            self.classes_, codes = self._labels_for_fit(y, features.shape[0])
            labels = torch.from_numpy(codes)
        device = self._device()
        generator = self._generator()
        network = LatentAutoencoder(
            features.shape[1],
            self.latent_dim,
            hidden=self.hidden,
            variational=self.variational,
            generator=generator,
            n_classes=self._head_width(),
            # Its own stream for the head: shuffling and noise then match the headless model's.
            head_generator=self._generator() if self.has_head else None,
        ).to(device)
        return FitPlan(
            network=network,
            x=torch.from_numpy(features).to(device),
            labels=None if labels is None else labels.to(device),
            objective=self._objective(),
            epochs=self.epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            generator=generator,
            beta_for_epoch=self._beta_for_epoch(),
            target=None if target_rows is None else torch.from_numpy(target_rows).to(device),
        )

    def _finish_fit(self, network: LatentAutoencoder, history: list[dict[str, float]]) -> Self:
        """Keep the trained network and its history (the last of ``fit``'s steps)."""
        self.history_ = history
        self.network_ = network
        self._n_features_out = self.latent_dim
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Latent codes of ``X`` as a float64 array of shape (n_samples, latent_dim)."""
        check_is_fitted(self, "network_")
        features = self._validate_features(X, reset=False)
        device = next(self.network_.parameters()).device
        with torch.no_grad():
            x = self._evaluation_input(torch.from_numpy(features).to(device))
            latent, _ = self.network_.encode(x)
        return latent.cpu().numpy().astype(np.float64)

    def _evaluation_input(self, x: torch.Tensor) -> torch.Tensor:
        return x

    # -- validation ------------------------------------------------------------------
    def check_params(self) -> None:
        """Raise :class:`~crossemo.errors.ConfigError` for a parameter ``fit`` would refuse."""
        self._check_params()

    def _check_params(self) -> None:
        _check_positive_int("latent_dim", self.latent_dim)
        try:
            hidden = tuple(self.hidden)
        except TypeError:
            raise ConfigError(f"hidden must be a sequence of widths, got {self.hidden!r}") from None
        for width in hidden:
            _check_positive_int("each hidden width", width)
        _check_positive_int("epochs", self.epochs)
        _check_positive_int("batch_size", self.batch_size)
        _check_number("learning_rate", self.learning_rate, positive=True)
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral)
        ):
            raise ConfigError(f"seed must be an integer or None, got {self.seed!r}")
        if self.reconstruction not in RECONSTRUCTIONS:
            raise ConfigError(
                f"reconstruction must be one of {RECONSTRUCTIONS}, got {self.reconstruction!r}"
            )
        if not isinstance(self.alignment, str) or self.alignment not in ALIGNMENTS:
            raise ConfigError(f"alignment must be one of {ALIGNMENTS}, got {self.alignment!r}")
        _check_number("alignment_weight", self.alignment_weight)
        self._device()
        self._check_model_params()

    def _validate_features(self, X: Any, *, reset: bool) -> np.ndarray:
        # Training needs two rows (one would make every batch statistic degenerate);
        # embedding a single row is fine.
        try:
            return validate_data(
                self,
                X,
                reset=reset,
                dtype=np.float32,
                ensure_min_samples=2 if reset else 1,
                order="C",
            )
        except ValueError as error:
            raise ModelInputError(f"{type(self).__name__}: {error}") from error

    def _validate_target(self, target: Any) -> np.ndarray:
        # Two rows at least: the alignment distances compare batch statistics.
        try:
            rows = check_array(target, dtype=np.float32, ensure_min_samples=2, order="C", input_name="target")
        except ValueError as error:
            raise ModelInputError(f"{type(self).__name__}: {error}") from error
        if rows.shape[1] != self.n_features_in_:
            raise ModelInputError(
                f"{type(self).__name__}: target has {rows.shape[1]} features, X has {self.n_features_in_}"
            )
        return rows

    def _head_width(self) -> int | None:
        """Outputs of the classifier head: one per class, or no head (fewer than two classes)."""
        if not self.has_head or len(self.classes_) < 2:
            return None
        return len(self.classes_)

    def _labels_for_fit(self, y: Any, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
        if y is None:
            classes, codes = np.asarray([]), np.full(n_samples, UNLABELLED, dtype=np.int64)
        else:
            classes, codes = encode_labels(y, n_samples)
        if classes.size < 2:
            warnings.warn(
                f"{type(self).__name__}: {classes.size} labelled class(es) in y; {self.without_labels_note}",
                UserWarning,
                stacklevel=_stacklevel_outside_models(),
            )
        return classes, codes

    def _device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            device = torch.device(self.device)
        except (RuntimeError, TypeError) as error:
            raise ConfigError(f"device must be 'cpu', 'cuda' or 'auto', got {self.device!r}") from error
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"device {self.device!r} requested but CUDA is not available")
        return device

    def _generator(self) -> torch.Generator:
        """CPU generator for weights, shuffling and noise (independent of global state)."""
        generator = torch.Generator()
        if self.seed is None:
            generator.seed()
        else:
            generator.manual_seed(int(self.seed))
        return generator

    # -- saving without pickle -------------------------------------------------------
    def to_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Weights (CPU tensors) and JSON-able metadata that :meth:`from_state` restores."""
        check_is_fitted(self, "network_")
        extra: dict[str, Any] = {"history_": self.history_}
        if hasattr(self, "feature_names_in_"):
            extra["feature_names_in_"] = [str(name) for name in self.feature_names_in_]
        if self.uses_labels:
            extra["classes_"] = self.classes_.tolist()
        metadata = state_metadata(self.model_name, self.get_params(deep=False), self.n_features_in_, **extra)
        tensors = {
            name: tensor.detach().cpu().contiguous()
            for name, tensor in self.network_.state_dict().items()
        }
        return tensors, metadata

    @classmethod
    def state_shapes(cls, metadata: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
        """Tensor names and shapes of a well-formed state with this metadata (no network is built).

        Raises :class:`BundleError` when the metadata lacks or garbles the widths.
        """
        check_state_header(metadata, model=cls.model_name, cls_name=cls.__name__)
        params = metadata.get("params")
        n_features = metadata.get("n_features_in_")
        if not isinstance(params, Mapping):
            raise BundleError("model state metadata lacks the model parameters")
        hidden, latent_dim = params.get("hidden"), params.get("latent_dim")
        widths = [n_features, latent_dim, *(hidden if isinstance(hidden, list) else [None])]
        if not all(isinstance(width, int) and not isinstance(width, bool) and width > 0 for width in widths):
            raise BundleError(
                f"model state metadata: input width {n_features!r}, latent_dim {latent_dim!r} and hidden "
                f"widths {hidden!r} must be positive integers"
            )
        n_classes = None
        if cls.has_head:
            classes = metadata.get("classes_")
            if not isinstance(classes, list):
                raise BundleError("model state metadata lacks the classes of the classifier head")
            n_classes = len(classes) if len(classes) >= 2 else None
        return LatentAutoencoder.state_shapes(
            n_features, latent_dim, hidden=hidden, variational=cls.variational, n_classes=n_classes
        )

    @classmethod
    def from_state(cls, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, Any]) -> Self:
        """Rebuild a fitted model from :meth:`to_state` output (weights on the CPU)."""
        check_state_header(metadata, model=cls.model_name, cls_name=cls.__name__)
        try:
            params = {
                name: tuple(value) if isinstance(value, list) else value
                for name, value in metadata["params"].items()
            }
            # The weights are loaded on the CPU, wherever the model was trained.
            params["device"] = "cpu"
            model = cls(**params)
            model._check_params()
            model.n_features_in_ = int(metadata["n_features_in_"])
            model.history_ = [dict(record) for record in metadata["history_"]]
            if "feature_names_in_" in metadata:
                model.feature_names_in_ = np.asarray(metadata["feature_names_in_"], dtype=object)
            if cls.uses_labels:
                model.classes_ = np.asarray(metadata["classes_"])
            network = LatentAutoencoder(
                model.n_features_in_,
                model.latent_dim,
                hidden=model.hidden,
                variational=cls.variational,
                generator=torch.Generator(),  # weights are overwritten just below
                n_classes=model._head_width(),
            )
            network.load_state_dict(dict(tensors), strict=True)
        except (AttributeError, KeyError, TypeError, ValueError, RuntimeError) as error:
            raise BundleError(f"inconsistent {cls.__name__} state: {error}") from error
        network.eval()
        model.network_ = network
        model._n_features_out = model.latent_dim
        return model
