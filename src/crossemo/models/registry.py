"""The method registry: every way of turning standardized features into what the SVC sees.

A :class:`Method` declares its name, display label and colour, the estimator class
that implements it, and what it needs: labels, rows without a label, data of the
target corpus, whether it has a latent whose consistency is measured.  Config
validation, the study, bundles, the report and the CLI all read :data:`METHODS`;
none of them names a method.

Adding a method is one module (an estimator with ``fit``/``transform`` and the state
protocol of :mod:`crossemo.models.state`) plus one entry in :data:`METHODS`.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from crossemo.errors import BundleError, ConfigError

SHARED_SETTINGS: tuple[str, ...] = (
    "latent_dim", "hidden", "epochs", "batch_size", "learning_rate", "device", "alignment", "alignment_weight",
)
"""Study-wide model settings (``[model]``) handed to every estimator that takes them."""

METHOD_OVERRIDABLE: tuple[str, ...] = ("epochs", "batch_size", "learning_rate")
"""Study-wide settings one method may set apart in ``[model.options.<name>]`` (a model that
needs longer training, say); the latent size and widths stay common, so methods compare."""


@dataclass(frozen=True)
class Method:
    """One registered method.

    ``implementation`` is the estimator class, or where it lives as ``"module:Class"``
    text, imported when first needed: reading the registry (labels, colours, flags, as
    the report does) then imports neither torch nor scikit-learn.  :attr:`estimator`
    is the class; :meth:`build` makes it from the study's model settings.
    ``uses_labels``: ``fit(X, y)`` learns from the labels (rows without one may be
    mixed in).  ``uses_unlabelled``: rows without a label (protocol.unlabelled = "use")
    join its training.  ``uses_target``: ``fit`` takes unlabelled rows of the target
    corpus as ``target=``.  ``has_latent``: ``transform`` gives a latent whose
    consistency across corpora is measured and plotted.  ``baseline``: a reference the
    protocol adds (``protocol.baselines``) rather than a model chosen in ``model.methods``.
    """

    name: str
    label: str
    colour: str
    implementation: type | str
    uses_labels: bool = False
    uses_unlabelled: bool = True
    uses_target: bool = False
    has_latent: bool = True
    baseline: bool = False
    description: str = ""

    @property
    def estimator(self) -> type:
        """The estimator class (imported from ``implementation`` on first use)."""
        if isinstance(self.implementation, type):
            return self.implementation
        module, _, name = self.implementation.partition(":")
        return getattr(importlib.import_module(module), name)

    @property
    def takes_target(self) -> bool:
        """``fit`` trains with ``target=`` rows: declared here, or by the estimator (``accepts_target``)."""
        return bool(self.uses_target or getattr(self.estimator, "accepts_target", False))

    def accepted_options(self) -> tuple[str, ...]:
        """Constructor keywords a config may set in ``[model.options.<name>]`` (:data:`METHOD_OVERRIDABLE` too)."""
        fixed = set(SHARED_SETTINGS) - set(METHOD_OVERRIDABLE) | {"seed"}
        return tuple(name for name in _keywords(self.estimator) if name not in fixed)

    def params(self, settings: Mapping[str, Any], *, seed: int, options: Mapping[str, Any] | None = None) -> dict:
        """Constructor keywords from the shared ``settings``, the ``seed`` and per-method ``options`` (which win)."""
        accepted = _keywords(self.estimator)
        params = {name: value for name, value in settings.items() if name in accepted and name in SHARED_SETTINGS}
        if "hidden" in params:
            params["hidden"] = tuple(params["hidden"])
        if "seed" in accepted:
            params["seed"] = seed
        unknown = sorted(set(options or {}) - set(self.accepted_options()))
        if unknown:
            raise ConfigError(
                f"{self.name} has no option {', '.join(unknown)}; it takes {', '.join(self.accepted_options()) or 'none'}"
            )
        return {**params, **(options or {})}

    def build(self, params: Mapping[str, Any]) -> Any:
        """An unfitted estimator with constructor keywords ``params`` (see :meth:`params`)."""
        return self.estimator(**params)


def _keywords(cls: type) -> tuple[str, ...]:
    signature = inspect.signature(cls.__init__)
    return tuple(name for name in signature.parameters if name != "self")


_LATENT = "crossemo.models.estimators:"
_SUPERVISED = "crossemo.models.supervised:"
_BASELINES = "crossemo.models.baselines:"

# Read-only: a registry, not module-level mutable state.  Order is display order.
METHODS: Mapping[str, Method] = MappingProxyType(
    {
        method.name: method
        for method in (
            Method("dae", "DAE", "#0072B2", _LATENT + "DAE", description="denoising autoencoder"),
            Method("vae", "VAE", "#E69F00", _LATENT + "VAE", description="variational autoencoder"),
            Method("vae_annealing", "VAE-annealing", "#009E73", _LATENT + "VAEAnnealing",
                   description="VAE with cyclical KL annealing"),
            Method("vae_ss", "VAE-ss", "#D55E00", _LATENT + "VAESemiSupervised", uses_labels=True,
                   description="semi-supervised VAE with a cluster loss"),
            Method("dae_sup", "DAE-sup", "#56B4E9", _SUPERVISED + "DAESupervised", uses_labels=True,
                   description="denoising autoencoder with a linear classifier head on its noisy latent"),
            Method("vae_sup", "VAE-sup", "#882255", _SUPERVISED + "VAESupervised", uses_labels=True,
                   description="annealed VAE with a linear classifier head on mu"),
            Method("pca", "PCA 2-D", "#CC79A7", _BASELINES + "PCAEncoder", baseline=True,
                   description="principal components of the features"),
            Method("svc_features", "SVC all features", "#555555", _BASELINES + "FeatureIdentity",
                   has_latent=False, baseline=True, uses_unlabelled=False,
                   description="linear SVC on every feature"),
        )
    }
)
"""Every method, by name, in display order."""


def registry() -> Mapping[str, Method]:
    """The registry in force (read at call time, so a test may substitute an extended one)."""
    return METHODS


def get_method(name: str | Method) -> Method:
    """The method called ``name`` (a :class:`Method` is returned as is); :class:`ConfigError` if unknown."""
    if isinstance(name, Method):
        return name
    methods = registry()
    if name not in methods:
        raise ConfigError(f"unknown method {name!r}; known: {', '.join(methods)}")
    return methods[name]


def model_names() -> tuple[str, ...]:
    """Methods a config chooses in ``model.methods`` (not baselines), in display order."""
    return tuple(name for name, method in registry().items() if not method.baseline)


def baseline_names() -> tuple[str, ...]:
    """Methods the protocol adds as references (``protocol.baselines``), in display order."""
    return tuple(name for name, method in registry().items() if method.baseline)


def estimator_from_state(tensors: Mapping[str, Any], metadata: Mapping[str, Any]) -> Any:
    """Rebuild the fitted estimator of whichever method ``metadata["model"]`` names."""
    name = metadata.get("model")
    if name not in registry():
        raise BundleError(f"unknown model {name!r} in a saved state; known: {', '.join(registry())}")
    return registry()[name].estimator.from_state(tensors, metadata)


def describe_methods() -> list[dict[str, Any]]:
    """The registry as JSON-able rows: name, label, colour, kind, what it needs, description."""
    rows = []
    for method in registry().values():
        needs = [flag for flag, wanted in (("labels", method.uses_labels), ("target data", method.uses_target)) if wanted]
        rows.append(
            {
                "name": method.name,
                "label": method.label,
                "colour": method.colour,
                "kind": "baseline" if method.baseline else "latent model",
                "needs": needs,
                "unlabelled_rows": method.uses_unlabelled,
                "has_latent": method.has_latent,
                "options": list(method.accepted_options()),
                "description": method.description,
            }
        )
    return rows
