"""Latent models and baselines as scikit-learn transformers, and the method registry.

``MODELS`` maps the four latent models' names to their classes: ``dae`` (denoising
autoencoder), ``vae`` (VAE-vanilla), ``vae_annealing`` (cyclical KL annealing) and
``vae_ss`` (semi-supervised, with the cluster loss); ``SUPERVISED_MODELS`` adds
``dae_sup`` and ``vae_sup`` (a linear classifier head on the latent).  Every latent
model trains target-aware with ``fit(X, y, target=...)`` (see
:mod:`crossemo.models.alignment`).  :data:`METHODS` is the registry
of every method a study or bundle can use, baselines included (see
:mod:`crossemo.models.registry`).
"""

from __future__ import annotations

from crossemo.models.alignment import ALIGNMENTS, coral, mmd
from crossemo.models.base import LatentModel, ModelInputError
from crossemo.models.baselines import FeatureIdentity, PCAEncoder
from crossemo.models.estimators import (
    DAE,
    MODELS,
    VAE,
    VAEAnnealing,
    VAESemiSupervised,
)
from crossemo.models.losses import cluster_loss, kl_divergence, reconstruction_loss
from crossemo.models.registry import (
    METHODS,
    Method,
    baseline_names,
    estimator_from_state,
    get_method,
    model_names,
)
from crossemo.models.schedules import beta_schedule
from crossemo.models.state import read_state_file
from crossemo.models.supervised import (
    SUPERVISED_MODELS,
    DAESupervised,
    VAESupervised,
    load_model_file,
    model_from_state,
)

__all__ = [
    "ALIGNMENTS",
    "DAE",
    "METHODS",
    "MODELS",
    "SUPERVISED_MODELS",
    "VAE",
    "DAESupervised",
    "FeatureIdentity",
    "LatentModel",
    "Method",
    "ModelInputError",
    "PCAEncoder",
    "VAEAnnealing",
    "VAESemiSupervised",
    "VAESupervised",
    "baseline_names",
    "beta_schedule",
    "cluster_loss",
    "coral",
    "estimator_from_state",
    "get_method",
    "kl_divergence",
    "load_model_file",
    "mmd",
    "model_from_state",
    "model_names",
    "read_state_file",
    "reconstruction_loss",
]
