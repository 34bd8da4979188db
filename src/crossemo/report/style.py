"""Fixed names, orders and colours, so every figure and table of a report agrees.

Colours come from the Okabe-Ito palette, which stays distinguishable under the
common colour-vision deficiencies; emotions also get distinct marker shapes.
"""

from __future__ import annotations

import math

METHOD_ORDER: tuple[str, ...] = ("dae", "vae", "vae_annealing", "vae_ss", "pca", "svc_features")
"""Methods in the order tables and figures show them."""

METHOD_NAMES: dict[str, str] = {
    "dae": "DAE",
    "vae": "VAE",
    "vae_annealing": "VAE-annealing",
    "vae_ss": "VAE-ss",
    "pca": "PCA 2-D",
    "svc_features": "SVC 88 features",
}

METHOD_COLOURS: dict[str, str] = {
    "dae": "#0072B2",  # blue
    "vae": "#E69F00",  # orange
    "vae_annealing": "#009E73",  # bluish green
    "vae_ss": "#D55E00",  # vermillion
    "pca": "#CC79A7",  # reddish purple
    "svc_features": "#555555",  # dark grey
}

EMOTION_ORDER: tuple[str, ...] = ("neutral", "sad", "happy", "angry")

EMOTION_COLOURS: dict[str, str] = {
    "neutral": "#999999",  # grey
    "sad": "#0072B2",  # blue
    "happy": "#009E73",  # bluish green: orange would be too close to the vermillion of angry
    "angry": "#D55E00",  # vermillion
}

EMOTION_MARKERS: dict[str, str] = {"neutral": "o", "sad": "s", "happy": "^", "angry": "D"}

CORPUS_COLOURS: tuple[str, ...] = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#D55E00", "#0072B2", "#CC79A7")
"""Corpus colours in the latent-overlap figure: the training corpus first (black), then transfers."""

CONDITION_ORDER: tuple[str, ...] = ("within", "unseen", "target_norm")

CONDITION_NAMES: dict[str, str] = {
    "within": "within corpus",
    "unseen": "unseen",
    "target_norm": "target-normalised",
}

LOSS_COLOURS: dict[str, str] = {
    "loss": "#000000",
    "reconstruction": "#0072B2",
    "kl": "#E69F00",
    "cluster": "#009E73",
}

FALLBACK_COLOURS: tuple[str, ...] = ("#56B4E9", "#CC79A7", "#F0E442", "#D55E00", "#999999")
"""Colours for names this module does not know (a future method, an extra loss term)."""


def method_name(method: str) -> str:
    """Display name of ``method`` (the identifier itself when unknown).

    >>> method_name("vae_ss"), method_name("new_model")
    ('VAE-ss', 'new_model')
    """
    return METHOD_NAMES.get(method, method)


def method_colour(method: str) -> str:
    """Colour of ``method``, stable for unknown names too."""
    if method in METHOD_COLOURS:
        return METHOD_COLOURS[method]
    return FALLBACK_COLOURS[sum(map(ord, method)) % len(FALLBACK_COLOURS)]


def method_rank(method: str) -> tuple[int, str]:
    """Sort key placing known methods in :data:`METHOD_ORDER`, unknown ones after, by name.

    >>> sorted(["svc_features", "xyz", "dae", "pca"], key=method_rank)
    ['dae', 'pca', 'svc_features', 'xyz']
    """
    if method in METHOD_ORDER:
        return (METHOD_ORDER.index(method), "")
    return (len(METHOD_ORDER), method)


def emotion_rank(label: str) -> tuple[int, str]:
    """Sort key placing the four emotions in their canonical order, other labels after."""
    if label in EMOTION_ORDER:
        return (EMOTION_ORDER.index(label), "")
    return (len(EMOTION_ORDER), label)


def emotion_colour(label: str) -> str:
    """Colour of emotion ``label`` (a neutral fallback for unknown labels)."""
    return EMOTION_COLOURS.get(label, "#F0E442")


def condition_rank(condition: str) -> tuple[int, str]:
    """Sort key for conditions: within, unseen, target_norm, then unknown ones by name."""
    if condition in CONDITION_ORDER:
        return (CONDITION_ORDER.index(condition), "")
    return (len(CONDITION_ORDER), condition)


def condition_name(condition: str) -> str:
    """Display name of an evaluation condition."""
    return CONDITION_NAMES.get(condition, condition)


def loss_colour(component: str, position: int) -> str:
    """Colour of a training-loss component; unknown components cycle through the fallbacks."""
    return LOSS_COLOURS.get(component, FALLBACK_COLOURS[position % len(FALLBACK_COLOURS)])


def is_number(value: object) -> bool:
    """True for a finite int or float (not bool, not None, not NaN).

    >>> is_number(0.5), is_number(float("nan")), is_number(None), is_number(True)
    (True, False, False, False)
    """
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def percent(fraction: object, *, digits: int = 1) -> str:
    """A fraction in [0, 1] as a percentage string; ``n/a`` when not a finite number.

    >>> percent(0.52094), percent(None), percent(float("nan"))
    ('52.1%', 'n/a', 'n/a')
    """
    if not is_number(fraction):
        return "n/a"
    return f"{100 * fraction:.{digits}f}%"


def interval(low: object, high: object, *, digits: int = 1) -> str:
    """A 95% confidence interval of fractions as ``[lo, hi]`` in percent; empty when unknown.

    >>> interval(0.35, 0.474)
    '[35.0, 47.4]'
    >>> interval(None, 0.4)
    ''
    """
    if not (is_number(low) and is_number(high)):
        return ""
    return f"[{100 * low:.{digits}f}, {100 * high:.{digits}f}]"
