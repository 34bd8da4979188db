"""The four latent models as scikit-learn transformers (SPEC §2): DAE, VAE, VAE-annealing, VAE-ss.

Each declares its parameters and objective; fitting, embedding and saving are the
shared :class:`~crossemo.models.base.LatentModel`'s.  Every model also trains
target-aware (``fit(X, y, target=...)``): ``alignment`` and ``alignment_weight`` act
only then, so without a target each trains exactly as the paper's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from types import MappingProxyType

import torch

from crossemo.errors import ConfigError
from crossemo.models.base import (  # noqa: F401 - re-exported for callers of the old layout
    LatentModel,
    ModelInputError,
    _check_number,
    _check_positive_int,
    encode_labels,
)
from crossemo.models.schedules import beta_schedule
from crossemo.models.training import (
    DenoisingObjective,
    Objective,
    VariationalObjective,
    standard_normal,
)

DEFAULT_ALIGNMENT = "none"
"""Distance pulling training and target latents together when ``fit`` gets a target.

"none" (target rows join the reconstruction only) is the setting that held in both
directions of ``benchmarks/transfer_models.py`` (RAVDESS <-> Emo-DB); "mmd" at weight 1
helped dae_sup from RAVDESS to Emo-DB but cost accuracy the other way, and "coral" at
weight 1 cost accuracy in both.
"""

DEFAULT_ALIGNMENT_WEIGHT = 1.0
"""Weight of the distance when ``alignment`` is "mmd" or "coral"."""


class DAE(LatentModel):
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
    alignment, alignment_weight:
        Used only when ``fit`` gets ``target=``: the distance between the training and
        target latents (``"mmd"``, ``"coral"`` or ``"none"``; see
        :mod:`crossemo.models.alignment`) and its weight (>= 0).
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
        alignment: str = DEFAULT_ALIGNMENT,
        alignment_weight: float = DEFAULT_ALIGNMENT_WEIGHT,
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
        self.alignment = alignment
        self.alignment_weight = alignment_weight
        self.noise_sigma = noise_sigma
        self.eval_noise = eval_noise

    def _check_model_params(self) -> None:
        _check_number("noise_sigma", self.noise_sigma)

    def _objective(self) -> Objective:
        return DenoisingObjective(
            noise_sigma=float(self.noise_sigma), reduction=self.reconstruction, shared=self._shared_terms()
        )

    def _evaluation_input(self, x: torch.Tensor) -> torch.Tensor:
        if not self.eval_noise:
            return x
        noise = standard_normal(x.shape, generator=self._generator(), device=x.device)
        return x + float(self.noise_sigma) * noise


class VAE(LatentModel):
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
    alignment, alignment_weight:
        Used only when ``fit`` gets ``target=``: the distance between the training and
        target latents (``"mmd"``, ``"coral"`` or ``"none"``; see
        :mod:`crossemo.models.alignment`) and its weight (>= 0).
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
        alignment: str = DEFAULT_ALIGNMENT,
        alignment_weight: float = DEFAULT_ALIGNMENT_WEIGHT,
    ) -> None:
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.seed = seed
        self.reconstruction = reconstruction
        self.device = device
        self.alignment = alignment
        self.alignment_weight = alignment_weight

    def _objective(self) -> Objective:
        return VariationalObjective(reduction=self.reconstruction, shared=self._shared_terms())

    def _beta_for_epoch(self) -> Callable[[int], float] | None:
        return lambda epoch: 1.0


class VAEAnnealing(LatentModel):
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
    alignment, alignment_weight:
        Used only when ``fit`` gets ``target=``: the distance between the training and
        target latents (``"mmd"``, ``"coral"`` or ``"none"``; see
        :mod:`crossemo.models.alignment`) and its weight (>= 0).
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
        alignment: str = DEFAULT_ALIGNMENT,
        alignment_weight: float = DEFAULT_ALIGNMENT_WEIGHT,
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
        self.alignment = alignment
        self.alignment_weight = alignment_weight
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
        return VariationalObjective(reduction=self.reconstruction, shared=self._shared_terms())

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
    alignment, alignment_weight:
        Used only when ``fit`` gets ``target=``: the distance between the training and
        target latents (``"mmd"``, ``"coral"`` or ``"none"``; see
        :mod:`crossemo.models.alignment`) and its weight (>= 0).
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
        alignment: str = DEFAULT_ALIGNMENT,
        alignment_weight: float = DEFAULT_ALIGNMENT_WEIGHT,
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
            alignment=alignment,
            alignment_weight=alignment_weight,
            beta_max=beta_max,
            cycles=cycles,
            ratio=ratio,
        )
        self.gamma = gamma

    def _check_model_params(self) -> None:
        super()._check_model_params()
        _check_number("gamma", self.gamma)

    def _objective(self) -> Objective:
        return VariationalObjective(
            reduction=self.reconstruction, gamma=float(self.gamma), shared=self._shared_terms()
        )


# Read-only view: the registry is not module-level mutable state.
MODELS: Mapping[str, type[LatentModel]] = MappingProxyType(
    {
        DAE.model_name: DAE,
        VAE.model_name: VAE,
        VAEAnnealing.model_name: VAEAnnealing,
        VAESemiSupervised.model_name: VAESemiSupervised,
    }
)
