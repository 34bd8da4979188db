"""Supervised latent models: the DAE and the annealed VAE with a linear classifier head on the latent.

The head (latent -> one logit per class) trains jointly with the autoencoder:
loss = reconstruction (+ beta_e * KL) + head_weight * cross-entropy over the batch's
labelled rows.  Rows without a label (None, NaN, -1) enter the reconstruction and KL
only.  The head shapes the latent so that the classes separate linearly in it; the
pipeline's SVC still does the classifying, so the head is kept (and saved) only as part
of the trained network.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import torch

from crossemo.errors import BundleError
from crossemo.models.base import LatentModel, _check_number
from crossemo.models.estimators import DAE, DEFAULT_ALIGNMENT, DEFAULT_ALIGNMENT_WEIGHT, MODELS, VAEAnnealing
from crossemo.models.state import read_state_file
from crossemo.models.training import SharedTerms

DEFAULT_HEAD_WEIGHT = 1.0
"""Weight of the head's cross-entropy (reconstruction and cross-entropy are both O(1))."""

VAE_SUP_BETA_MAX = 0.25
"""KL plateau of ``vae_sup``'s cyclical schedule (VAE-annealing's)."""


class _HeadMixin:
    """Head bookkeeping shared by the supervised models: the parameter check and the objective's weight."""

    uses_labels = True
    has_head = True
    without_labels_note = "the head's cross-entropy is 0 throughout and the model trains without it"

    def _check_model_params(self) -> None:
        super()._check_model_params()  # type: ignore[misc]
        _check_number("head_weight", self.head_weight)  # type: ignore[attr-defined]

    def _shared_terms(self) -> SharedTerms:
        return SharedTerms(
            head_weight=float(self.head_weight),  # type: ignore[attr-defined]
            alignment=self.alignment,  # type: ignore[attr-defined]
            alignment_weight=float(self.alignment_weight),  # type: ignore[attr-defined]
        )


class DAESupervised(_HeadMixin, DAE):
    """Denoising autoencoder with a linear classifier head on its latent (``dae_sup``).

    Loss: MSE(x, decoder(encoder(x + n))) + head_weight * CE(head(encoder(x)), y), the
    cross-entropy on the clean embedding (the one the SVC sees) of the labelled rows.

    Parameters
    ----------
    latent_dim, hidden, epochs, batch_size, learning_rate, seed, reconstruction, device,
    noise_sigma, eval_noise, alignment, alignment_weight:
        As for :class:`~crossemo.models.estimators.DAE`.
    head_weight:
        Weight of the cross-entropy (>= 0; 0 trains the plain DAE, head untouched).
    """

    model_name = "dae_sup"

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
        head_weight: float = DEFAULT_HEAD_WEIGHT,
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
            noise_sigma=noise_sigma,
            eval_noise=eval_noise,
        )
        self.head_weight = head_weight


class VAESupervised(_HeadMixin, VAEAnnealing):
    """VAE with cyclical KL annealing and a linear classifier head on mu (``vae_sup``).

    Loss: L_rec + beta_e * L_KL + head_weight * CE(head(mu), y) over the labelled rows,
    beta_e from VAE-annealing's cyclical schedule. The annealing keeps the posterior
    from collapsing early, while the KL term keeps the latent close to N(0, I) for
    every corpus, which is what lowers its Bhattacharyya distance across corpora.

    Parameters
    ----------
    latent_dim, hidden, epochs, batch_size, learning_rate, seed, reconstruction, device,
    alignment, alignment_weight, cycles, ratio:
        As for :class:`~crossemo.models.estimators.VAEAnnealing`.
    beta_max:
        Plateau of the KL weight (default :data:`VAE_SUP_BETA_MAX`).
    head_weight:
        Weight of the cross-entropy (>= 0; 0 trains VAE-annealing, head untouched).
    """

    model_name = "vae_sup"

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
        beta_max: float = VAE_SUP_BETA_MAX,
        cycles: int = 2,
        ratio: float = 0.5,
        head_weight: float = DEFAULT_HEAD_WEIGHT,
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
        self.head_weight = head_weight


# Read-only view, as MODELS for the paper's four.
SUPERVISED_MODELS: Mapping[str, type[LatentModel]] = MappingProxyType(
    {DAESupervised.model_name: DAESupervised, VAESupervised.model_name: VAESupervised}
)


def model_from_state(
    tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, Any]
) -> LatentModel:
    """Rebuild whichever latent model ``metadata["model"]`` names: the paper's four or a supervised one."""
    models = {**MODELS, **SUPERVISED_MODELS}
    name = metadata.get("model")
    if name not in models:
        raise BundleError(f"unknown latent model {name!r}; expected one of {sorted(models)}")
    return models[name].from_state(tensors, metadata)


def load_model_file(path: str | os.PathLike[str]) -> LatentModel:
    """Read a file written by any latent model's ``save``, whichever it is."""
    return model_from_state(*read_state_file(path))
