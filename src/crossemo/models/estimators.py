"""The four latent models as scikit-learn transformers (SPEC §2).

``fit(X, y=None)`` trains the network on (standardized) features, ``transform(X)``
returns the latent: encoder(x) on clean input for the DAE, mu for the VAEs. Every
hyper-parameter is a keyword of ``__init__`` (stored as given; checked in ``fit``),
learned state lives in trailing-underscore attributes, and a fitted model saves to and
loads from a safetensors file without pickle.
"""

from __future__ import annotations

import json
import numbers
import os
import warnings
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from crossemo.errors import BundleError, ConfigError, CrossemoError
from crossemo.fileio import write_atomic
from crossemo.models.losses import RECONSTRUCTIONS, UNLABELLED
from crossemo.models.network import LatentAutoencoder
from crossemo.models.schedules import beta_schedule
from crossemo.models.training import (
    DenoisingObjective,
    Objective,
    VariationalObjective,
    standard_normal,
    train_network,
)

STATE_FORMAT = "crossemo.latent-model"
STATE_VERSION = 1
STATE_METADATA_KEY = "crossemo"


class ModelInputError(CrossemoError, ValueError):
    """Features or labels given to a latent model are unusable (shape, values, types)."""


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


class _LatentModel(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Shared fit / transform / save logic; subclasses declare their parameters."""

    model_name: ClassVar[str]
    variational: ClassVar[bool]
    uses_labels: ClassVar[bool] = False

    # -- per-model hooks -------------------------------------------------------------
    def _objective(self) -> Objective:
        raise NotImplementedError

    def _beta_for_epoch(self) -> Callable[[int], float] | None:
        return None

    def _check_model_params(self) -> None:
        """Check the parameters specific to one model (subclasses extend)."""

    # -- scikit-learn contract -------------------------------------------------------
    def fit(self, X: Any, y: Any = None) -> Self:
        """Train the network on ``X`` (rows = utterances); ``y`` is used only by VAE-ss."""
        self._check_params()
        features = self._validate_features(X, reset=True)
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
        ).to(device)
        self.history_ = train_network(
            network,
            torch.from_numpy(features).to(device),
            None if labels is None else labels.to(device),
            objective=self._objective(),
            epochs=self.epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            generator=generator,
            beta_for_epoch=self._beta_for_epoch(),
        )
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

    def _labels_for_fit(self, y: Any, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
        if y is None:
            classes, codes = np.asarray([]), np.full(n_samples, UNLABELLED, dtype=np.int64)
        else:
            classes, codes = encode_labels(y, n_samples)
        if classes.size < 2:
            warnings.warn(
                f"{type(self).__name__}: {classes.size} labelled class(es) in y; the cluster "
                "loss is 0 throughout and the model trains as VAE-annealing",
                UserWarning,
                stacklevel=3,
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
        params = {
            name: list(value) if isinstance(value, tuple) else value
            for name, value in self.get_params(deep=False).items()
        }
        metadata: dict[str, Any] = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "model": self.model_name,
            "params": params,
            "n_features_in_": int(self.n_features_in_),
            "history_": self.history_,
        }
        if hasattr(self, "feature_names_in_"):
            metadata["feature_names_in_"] = [str(name) for name in self.feature_names_in_]
        if self.uses_labels:
            metadata["classes_"] = self.classes_.tolist()
        tensors = {
            name: tensor.detach().cpu().contiguous()
            for name, tensor in self.network_.state_dict().items()
        }
        return tensors, metadata

    @classmethod
    def from_state(cls, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, Any]) -> Self:
        """Rebuild a fitted model from :meth:`to_state` output (weights on the CPU)."""
        if metadata.get("format") != STATE_FORMAT or metadata.get("version") != STATE_VERSION:
            raise BundleError(
                f"not a {STATE_FORMAT} v{STATE_VERSION} state: "
                f"format={metadata.get('format')!r}, version={metadata.get('version')!r}"
            )
        if metadata.get("model") != cls.model_name:
            raise BundleError(
                f"state holds model {metadata.get('model')!r}, cannot load it as {cls.__name__}"
            )
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
            )
            network.load_state_dict(dict(tensors), strict=True)
        except (AttributeError, KeyError, TypeError, ValueError, RuntimeError) as error:
            raise BundleError(f"inconsistent {cls.__name__} state: {error}") from error
        network.eval()
        model.network_ = network
        model._n_features_out = model.latent_dim
        return model

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write weights and metadata to one safetensors file, atomically; return its path."""
        tensors, metadata = self.to_state()
        header = {STATE_METADATA_KEY: json.dumps(metadata)}
        return write_atomic(path, lambda temporary: save_file(tensors, temporary, metadata=header))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Self:
        """Read a model written by :meth:`save`."""
        tensors, metadata = read_state_file(path)
        return cls.from_state(tensors, metadata)


def read_state_file(path: str | os.PathLike[str], *, framework: str = "pt") -> tuple[dict[str, Any], dict[str, Any]]:
    """Tensors and JSON metadata of a safetensors file crossemo wrote; :class:`BundleError` if unreadable.

    ``framework`` is safetensors' own: ``"pt"`` gives torch tensors, ``"np"`` numpy arrays.
    """
    try:
        with safe_open(str(path), framework=framework) as handle:  # one read for header and tensors
            header = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
        metadata = json.loads(header[STATE_METADATA_KEY])
    except (OSError, SafetensorError, KeyError, json.JSONDecodeError) as error:
        raise BundleError(f"cannot read model file {path}: {error}") from error
    if not isinstance(metadata, dict):
        raise BundleError(f"cannot read model file {path}: metadata is not an object")
    return tensors, metadata


class DAE(_LatentModel):
    """Denoising autoencoder (DAE-vanilla).

    Trained to reconstruct x from x + n, n ~ N(0, noise_sigma^2 I), with MSE. The
    embedding is encoder(x) on clean input, or on noisy input with ``eval_noise=True``
    (what the sibling code did; the noise is then drawn from ``seed``, so repeated
    transforms agree).

    Parameters
    ----------
    latent_dim, hidden:
        Latent width d and encoder hidden widths (the decoder mirrors them).
    epochs, batch_size, learning_rate:
        Adam training schedule.
    seed:
        Seeds one local ``torch.Generator`` for initial weights, shuffling and noise
        (``None``: fresh entropy). The same seed, data and torch thread count give a
        bitwise identical latent on the CPU; other thread counts differ in the last
        float32 bits (reduction order).
    reconstruction:
        ``"mean"`` (MSE averaged over features and batch) or ``"sum"`` (summed over
        features, averaged over batch).
    device:
        ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when present). Bitwise
        reproducibility is promised on the CPU only.
    noise_sigma:
        Standard deviation of the training (and optional evaluation) input noise.
    eval_noise:
        Add the noise at evaluation time too.
    """

    model_name = "dae"
    variational = False

    def __init__(
        self,
        *,
        latent_dim: int = 2,
        hidden: tuple[int, ...] = (40, 20, 10),
        epochs: int = 50,
        batch_size: int = 64,
        learning_rate: float = 1e-3,
        seed: int | None = 0,
        reconstruction: str = "mean",
        device: str = "cpu",
        noise_sigma: float = 1.0,
        eval_noise: bool = False,
    ) -> None:
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.seed = seed
        self.reconstruction = reconstruction
        self.device = device
        self.noise_sigma = noise_sigma
        self.eval_noise = eval_noise

    def _check_model_params(self) -> None:
        _check_number("noise_sigma", self.noise_sigma)

    def _objective(self) -> Objective:
        return DenoisingObjective(
            noise_sigma=float(self.noise_sigma), reduction=self.reconstruction
        )

    def _evaluation_input(self, x: torch.Tensor) -> torch.Tensor:
        if not self.eval_noise:
            return x
        noise = standard_normal(x.shape, generator=self._generator(), device=x.device)
        return x + float(self.noise_sigma) * noise


class VAE(_LatentModel):
    """Variational autoencoder (VAE-vanilla): L_rec + L_KL; the embedding is mu.

    With the default "mean" reconstruction the KL term dominates and the posterior
    collapses, as the paper reports.

    Parameters
    ----------
    latent_dim, hidden:
        Latent width d and encoder hidden widths (the decoder mirrors them).
    epochs, batch_size, learning_rate:
        Adam training schedule.
    seed:
        Seeds one local ``torch.Generator`` for initial weights, shuffling and noise
        (``None``: fresh entropy). The same seed, data and torch thread count give a
        bitwise identical latent on the CPU; other thread counts differ in the last
        float32 bits (reduction order).
    reconstruction:
        ``"mean"`` (MSE averaged over features and batch) or ``"sum"`` (summed over
        features, averaged over batch).
    device:
        ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when present). Bitwise
        reproducibility is promised on the CPU only.
    """

    model_name = "vae"
    variational = True

    def __init__(
        self,
        *,
        latent_dim: int = 2,
        hidden: tuple[int, ...] = (40, 20, 10),
        epochs: int = 50,
        batch_size: int = 64,
        learning_rate: float = 1e-3,
        seed: int | None = 0,
        reconstruction: str = "mean",
        device: str = "cpu",
    ) -> None:
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.seed = seed
        self.reconstruction = reconstruction
        self.device = device

    def _objective(self) -> Objective:
        return VariationalObjective(reduction=self.reconstruction)

    def _beta_for_epoch(self) -> Callable[[int], float] | None:
        return lambda epoch: 1.0


class VAEAnnealing(_LatentModel):
    """VAE with cyclical KL annealing: L_rec + beta_e * L_KL, beta_e from :func:`beta_schedule`.

    The schedule's T is ``epochs``, M ``cycles``, R ``ratio``.

    Parameters
    ----------
    latent_dim, hidden:
        Latent width d and encoder hidden widths (the decoder mirrors them).
    epochs, batch_size, learning_rate:
        Adam training schedule.
    seed:
        Seeds one local ``torch.Generator`` for initial weights, shuffling and noise
        (``None``: fresh entropy). The same seed, data and torch thread count give a
        bitwise identical latent on the CPU; other thread counts differ in the last
        float32 bits (reduction order).
    reconstruction:
        ``"mean"`` (MSE averaged over features and batch) or ``"sum"`` (summed over
        features, averaged over batch).
    device:
        ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when present). Bitwise
        reproducibility is promised on the CPU only.
    beta_max, cycles, ratio:
        Cyclical schedule: the plateau, the number of cycles M and the rising share R.
    """

    model_name = "vae_annealing"
    variational = True

    def __init__(
        self,
        *,
        latent_dim: int = 2,
        hidden: tuple[int, ...] = (40, 20, 10),
        epochs: int = 50,
        batch_size: int = 64,
        learning_rate: float = 1e-3,
        seed: int | None = 0,
        reconstruction: str = "mean",
        device: str = "cpu",
        beta_max: float = 0.25,
        cycles: int = 2,
        ratio: float = 0.5,
    ) -> None:
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.seed = seed
        self.reconstruction = reconstruction
        self.device = device
        self.beta_max = beta_max
        self.cycles = cycles
        self.ratio = ratio

    def _check_model_params(self) -> None:
        _check_number("beta_max", self.beta_max)
        _check_positive_int("cycles", self.cycles)
        _check_number("ratio", self.ratio, positive=True)
        if self.ratio > 1:
            raise ConfigError(f"ratio must be in (0, 1], got {self.ratio!r}")

    def _objective(self) -> Objective:
        return VariationalObjective(reduction=self.reconstruction)

    def _beta_for_epoch(self) -> Callable[[int], float] | None:
        return partial(
            beta_schedule,
            epochs=self.epochs,
            cycles=self.cycles,
            ratio=float(self.ratio),
            beta_max=float(self.beta_max),
        )


class VAESemiSupervised(VAEAnnealing):
    """Semi-supervised VAE (VAE-ss): L_rec + beta_e * L_KL + gamma * L_clus.

    ``fit(X, y)`` takes labels (strings or numbers); rows whose label is None, NaN or
    -1 are unlabelled and enter only L_rec and L_KL. The cluster loss is computed per
    mini-batch on the labelled rows' mu. Without any two labelled classes it is 0
    throughout (with a warning) and the model trains exactly as VAE-annealing.

    Parameters
    ----------
    latent_dim, hidden:
        Latent width d and encoder hidden widths (the decoder mirrors them).
    epochs, batch_size, learning_rate:
        Adam training schedule.
    seed:
        Seeds one local ``torch.Generator`` for initial weights, shuffling and noise
        (``None``: fresh entropy). The same seed, data and torch thread count give a
        bitwise identical latent on the CPU; other thread counts differ in the last
        float32 bits (reduction order).
    reconstruction:
        ``"mean"`` (MSE averaged over features and batch) or ``"sum"`` (summed over
        features, averaged over batch).
    device:
        ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when present). Bitwise
        reproducibility is promised on the CPU only.
    beta_max, cycles, ratio:
        Cyclical schedule: the plateau, the number of cycles M and the rising share R.
    gamma:
        Weight of the cluster loss.
    """

    model_name = "vae_ss"
    uses_labels = True

    def __init__(
        self,
        *,
        latent_dim: int = 2,
        hidden: tuple[int, ...] = (40, 20, 10),
        epochs: int = 50,
        batch_size: int = 64,
        learning_rate: float = 1e-3,
        seed: int | None = 0,
        reconstruction: str = "mean",
        device: str = "cpu",
        beta_max: float = 0.25,
        cycles: int = 2,
        ratio: float = 0.5,
        gamma: float = 0.5,
    ) -> None:
        super().__init__(
            latent_dim=latent_dim,
            hidden=hidden,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            seed=seed,
            reconstruction=reconstruction,
            device=device,
            beta_max=beta_max,
            cycles=cycles,
            ratio=ratio,
        )
        self.gamma = gamma

    def _check_model_params(self) -> None:
        super()._check_model_params()
        _check_number("gamma", self.gamma)

    def _objective(self) -> Objective:
        return VariationalObjective(reduction=self.reconstruction, gamma=float(self.gamma))


# Read-only view: the registry is not module-level mutable state.
MODELS: Mapping[str, type[_LatentModel]] = MappingProxyType(
    {
        DAE.model_name: DAE,
        VAE.model_name: VAE,
        VAEAnnealing.model_name: VAEAnnealing,
        VAESemiSupervised.model_name: VAESemiSupervised,
    }
)


def model_from_state(
    tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, Any]
) -> _LatentModel:
    """Rebuild whichever of the four models ``metadata["model"]`` names."""
    name = metadata.get("model")
    if name not in MODELS:
        raise BundleError(f"unknown latent model {name!r}; expected one of {sorted(MODELS)}")
    return MODELS[name].from_state(tensors, metadata)


def load_model_file(path: str | os.PathLike[str]) -> _LatentModel:
    """Read a file written by any model's ``save``, whichever of the four it is."""
    return model_from_state(*read_state_file(path))
