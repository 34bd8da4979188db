"""Feature extractors: what turns one recording's signal into one feature vector.

A :class:`FeatureExtractor` has a stable ``id`` (``"egemaps"``), a ``version`` that
changes whenever its values would (``"eGeMAPSv02-opensmile2.6.0"``), its
``feature_names`` and ``compute(signal, sample_rate)``.  The feature cache keys
results by ``id`` and ``version``, so two extractors never share cached values
unless they claim to compute the same ones.

Extractors are chosen by name from the read-only registry :data:`EXTRACTORS`
(:func:`get_extractor`).  Adding one takes a subclass of :class:`FeatureExtractor`
and one entry in :data:`EXTRACTORS`.  A one-off extractor (an experiment, a test)
needs no entry: pass the instance itself wherever a ``feature_set`` is accepted,
e.g. ``crossemo.features.extract(table, feature_set=MyExtractor())``; it is then
pickled to worker processes, so it must be picklable (a module-level class).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from enum import Enum
from types import MappingProxyType
from typing import Any

import numpy as np
import opensmile

from crossemo.features.base import ID_PATTERN, FeatureError, FeatureExtractor, check_extractor
from crossemo.features.ssl import PREFIX as SSL_PREFIX
from crossemo.features.ssl import cached_extractor

__all__ = [
    "ALIASES",
    "DEFAULT_EXTRACTOR",
    "EXTRACTORS",
    "ID_PATTERN",
    "SSL_PREFIX",
    "FeatureError",
    "FeatureExtractor",
    "FeatureSet",
    "OpenSmileExtractor",
    "as_extractor",
    "as_feature_set",
    "check_extractor",
    "get_extractor",
]

class FeatureSet(str, Enum):
    """openSMILE feature sets crossemo extracts, at the Functionals level (one vector per file).

    Their values are the names tables (``attrs["feature_set"]``) and model bundles record.
    """

    eGeMAPSv02 = "eGeMAPSv02"
    GeMAPSv01b = "GeMAPSv01b"
    ComParE_2016 = "ComParE_2016"
    emobase = "emobase"


class OpenSmileExtractor(FeatureExtractor):
    """An openSMILE feature set at the Functionals level, as ``opensmile.Smile.process_signal`` computes it.

    ``feature_set`` is a member (or name) of ``opensmile.FeatureSet``.  ``id``
    defaults to the registry name the set is known by (``"egemaps"`` for
    ``eGeMAPSv02``), else the set's name in lower case.
    """

    def __init__(self, feature_set: FeatureSet | str = FeatureSet.eGeMAPSv02, *, id: str | None = None) -> None:
        name = feature_set.name if isinstance(feature_set, Enum) else str(feature_set)
        if name not in opensmile.FeatureSet.__members__:
            known = ", ".join(opensmile.FeatureSet.__members__)
            raise FeatureError(f"unknown openSMILE feature set {name!r}; known: {known}")
        self.opensmile_feature_set = name
        self.id = id if id is not None else ALIASES.get(name, name.lower())
        self.version = f"{name}-opensmile{opensmile.__version__}"
        # Building the Smile parses the openSMILE config: get_extractor keeps one per process.
        self._smile = opensmile.Smile(
            feature_set=opensmile.FeatureSet[name],
            feature_level=opensmile.FeatureLevel.Functionals,
        )
        self.feature_names = tuple(self._smile.feature_names)

    @property
    def feature_set(self) -> str:
        return self.opensmile_feature_set

    def compute(self, signal: np.ndarray, sample_rate: int) -> np.ndarray:
        # Calling the Smile runs exactly what process_signal runs, minus building a DataFrame.
        return self._smile(signal, sample_rate).reshape(-1)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "library": "opensmile", "library_version": opensmile.__version__,
                "feature_level": "Functionals"}

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle the recipe, not the Smile (a handle on native state): workers rebuild it.
        return (functools.partial(OpenSmileExtractor, self.opensmile_feature_set, id=self.id), ())


ALIASES: Mapping[str, str] = MappingProxyType(
    {"eGeMAPSv02": "egemaps", "GeMAPSv01b": "gemaps", "ComParE_2016": "compare"}
)
"""Legacy names (what tables and bundles record as ``feature_set``) -> registry name."""

EXTRACTORS: Mapping[str, Callable[[], FeatureExtractor]] = MappingProxyType(
    {
        "egemaps": functools.partial(OpenSmileExtractor, FeatureSet.eGeMAPSv02),  # the default
        "gemaps": functools.partial(OpenSmileExtractor, FeatureSet.GeMAPSv01b),
        "compare": functools.partial(OpenSmileExtractor, FeatureSet.ComParE_2016),  # 6,373 features
        "emobase": functools.partial(OpenSmileExtractor, FeatureSet.emobase),
    }
)
"""Registry name -> factory of the extractor (whose ``id`` is that name)."""

DEFAULT_EXTRACTOR = "egemaps"



def get_extractor(name: str | FeatureSet) -> FeatureExtractor:
    """The registered extractor called ``name`` (or a legacy alias such as ``"eGeMAPSv02"``).

    One instance per name and process.  Raises :class:`FeatureError` naming the
    known ones for anything else.
    """
    if isinstance(name, FeatureSet):
        name = name.value
    if isinstance(name, str) and name.startswith(SSL_PREFIX):
        return _ssl_extractor(name)
    if not isinstance(name, str) or ALIASES.get(name, name) not in EXTRACTORS:
        known = ", ".join([*EXTRACTORS, *(f"{alias} (= {target})" for alias, target in ALIASES.items()),
                           f"{SSL_PREFIX}MODEL[@LAYER] (a self-supervised model folder)"])
        raise FeatureError(f"unknown feature set {name!r}; known: {known}")
    return _build(ALIASES.get(name, name))


def as_extractor(value: str | FeatureSet | FeatureExtractor) -> FeatureExtractor:
    """``value`` as an extractor: a registry name or alias, a :class:`FeatureSet`, or an extractor itself."""
    if isinstance(value, FeatureExtractor):
        return check_extractor(value)
    return get_extractor(value)


def as_feature_set(value: str | FeatureSet | FeatureExtractor) -> FeatureSet:
    """``value`` as a :class:`FeatureSet`; raises :class:`FeatureError` unless it names one.

    Accepts the set's own names (``"eGeMAPSv02"``), the registry names of the
    openSMILE extractors (``"egemaps"``) and such extractors.
    """
    if isinstance(value, FeatureSet):
        return value
    if isinstance(value, FeatureExtractor):
        value = value.feature_set
    elif isinstance(value, str) and value in EXTRACTORS:
        value = get_extractor(value).feature_set
    try:
        return FeatureSet(value)
    except ValueError:
        known = ", ".join(member.value for member in FeatureSet)
        raise FeatureError(f"unknown feature set {value!r}; known: {known}") from None


def _ssl_extractor(name: str) -> FeatureExtractor:
    try:
        import transformers  # noqa: F401 - imported first to name the missing extra
    except ImportError as error:
        raise FeatureError(
            f"{name}: self-supervised features need the optional 'ssl' extra (pip install 'crossemo[ssl]'): {error}"
        ) from None
    return cached_extractor(name)


@functools.cache
def _build(name: str) -> FeatureExtractor:
    """The registered extractor ``name``, built once per process (building one can be costly)."""
    extractor = check_extractor(EXTRACTORS[name]())
    if extractor.id != name:
        raise FeatureError(f"EXTRACTORS[{name!r}] builds an extractor with id {extractor.id!r}")
    return extractor
