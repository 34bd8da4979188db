"""Latent models and baselines as scikit-learn transformers, and the method registry.

``MODELS`` maps the four latent models' names to their classes: ``dae`` (denoising
autoencoder), ``vae`` (VAE-vanilla), ``vae_annealing`` (cyclical KL annealing) and
``vae_ss`` (semi-supervised, with the cluster loss); ``SUPERVISED_MODELS`` adds
``dae_sup`` and ``vae_sup`` (a linear classifier head on the latent).  Every latent
model trains target-aware with ``fit(X, y, target=...)`` (see
:mod:`crossemo.models.alignment`).  :data:`METHODS` is the registry
of every method a study or bundle can use, baselines included (see
:mod:`crossemo.models.registry`).

The names below are imported on first use (:func:`__getattr__`), so that importing
one submodule, such as the registry the report reads, does not import torch.
"""

from __future__ import annotations

from crossemo.lazy import lazy_attributes

_SOURCES = {
    "crossemo.models.alignment": ("ALIGNMENTS", "coral", "mmd"),
    "crossemo.models.base": ("LatentModel", "ModelInputError"),
    "crossemo.models.baselines": ("FeatureIdentity", "PCAEncoder"),
    "crossemo.models.estimators": ("DAE", "MODELS", "VAE", "VAEAnnealing", "VAESemiSupervised"),
    "crossemo.models.losses": ("cluster_loss", "kl_divergence", "reconstruction_loss"),
    "crossemo.models.registry": ("METHODS", "Method", "baseline_names", "estimator_from_state", "get_method",
                                 "model_names"),
    "crossemo.models.schedules": ("beta_schedule",),
    "crossemo.models.state": ("read_state_file",),
    "crossemo.models.supervised": ("SUPERVISED_MODELS", "DAESupervised", "VAESupervised", "load_model_file",
                                   "model_from_state"),
}

__all__ = sorted(name for names in _SOURCES.values() for name in names)


__getattr__ = lazy_attributes(__name__, _SOURCES)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
