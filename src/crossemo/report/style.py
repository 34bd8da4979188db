"""Names, orders and colours, so every figure and table of a report agrees.

Methods' labels, colours and display order come from the method registry
(:func:`crossemo.models.registry.registry`), read at call time: the report names
no method.  A method the registry does not know (a run of another version, a
plug-in) keeps its identifier as label, gets a fallback colour and comes last.

Colours come from the Okabe-Ito palette, which stays distinguishable under the
common colour-vision deficiencies; emotions also get distinct marker shapes.
"""

from __future__ import annotations

import math
import zlib

from crossemo.models.registry import registry

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
"""Colours for names nothing registers (a method the registry lacks, an extra loss term)."""


def method_order() -> tuple[str, ...]:
    """Registered methods in display order (the registry's order)."""
    return tuple(registry())


def method_label(method: str) -> str:
    """Display label of ``method`` from the registry (the identifier itself when unknown).

    >>> method_label("vae_ss"), method_label("new_model")
    ('VAE-ss', 'new_model')
    """
    known = registry().get(method)
    return known.label if known is not None else method


def method_colour(method: str) -> str:
    """Colour of ``method`` from the registry; unknown names get a stable fallback colour."""
    methods = registry()
    if method in methods:
        return methods[method].colour
    used = {known.colour.lower() for known in methods.values()}
    palette = [colour for colour in FALLBACK_COLOURS if colour.lower() not in used] or list(FALLBACK_COLOURS)
    return palette[zlib.crc32(method.encode("utf-8")) % len(palette)]


def method_rank(method: str) -> tuple[int, str]:
    """Sort key: registered methods in the registry's display order, unknown ones after, by name.

    >>> sorted(["svc_features", "xyz", "dae", "pca"], key=method_rank)
    ['dae', 'pca', 'svc_features', 'xyz']
    """
    order = method_order()
    if method in order:
        return (order.index(method), "")
    return (len(order), method)


def method_has_latent(method: str) -> bool | None:
    """Whether ``method`` has a latent (from the registry); ``None`` when the registry does not know it."""
    known = registry().get(method)
    return known.has_latent if known is not None else None


def method_is_baseline(method: str) -> bool:
    """Whether the registry marks ``method`` as a baseline (a reference the protocol adds)."""
    known = registry().get(method)
    return bool(known is not None and known.baseline)


def method_description(method: str) -> str:
    """The registry's one-line description of ``method`` (empty when unknown or undescribed)."""
    known = registry().get(method)
    return known.description if known is not None else ""


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
