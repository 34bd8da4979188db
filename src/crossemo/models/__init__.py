"""The four latent models of crossemo (SPEC §2) as scikit-learn transformers.

``MODELS`` maps the names used in configurations to the estimator classes:
``dae`` (denoising autoencoder), ``vae`` (VAE-vanilla), ``vae_annealing`` (cyclical KL
annealing) and ``vae_ss`` (semi-supervised, with the cluster loss).
"""

from __future__ import annotations

from crossemo.models.estimators import (
    DAE,
    MODELS,
    VAE,
    ModelInputError,
    VAEAnnealing,
    VAESemiSupervised,
    load_model_file,
    model_from_state,
)
from crossemo.models.losses import cluster_loss, kl_divergence, reconstruction_loss
from crossemo.models.schedules import beta_schedule

__all__ = [
    "DAE",
    "MODELS",
    "VAE",
    "ModelInputError",
    "VAEAnnealing",
    "VAESemiSupervised",
    "beta_schedule",
    "cluster_loss",
    "kl_divergence",
    "load_model_file",
    "model_from_state",
    "reconstruction_loss",
]
