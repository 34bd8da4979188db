"""What every feature extractor is: the interface, its checks and the error type.

Kept apart from :mod:`~crossemo.features.extractors` (the registry) so that
extractors living in their own modules (:mod:`~crossemo.features.ssl`) need not
import the registry that names them.
"""

from __future__ import annotations

import abc
import re
from typing import Any, ClassVar

import numpy as np

from crossemo.errors import CrossemoError

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.]*")
"""What an extractor id may look like: it names a cache folder, ``<id>-<version>``, so no ``-``."""


class FeatureError(CrossemoError, ValueError):
    """Feature extraction was asked for something it cannot do.

    An unknown feature set, a table without paths (or a path cell that is empty), an output
    file it cannot write.
    """


class FeatureExtractor(abc.ABC):
    """One way to turn a mono float32 signal into a fixed-length feature vector.

    Subclasses set ``id``, ``version`` and ``feature_names`` (class attributes or in
    ``__init__``) and implement :meth:`compute`.  ``compute`` may raise for input it
    cannot handle: that file is then skipped with the error as its reason.
    """

    id: str
    """Stable name: part of the cache folder, so it never changes for the same features."""
    version: str
    """Changes whenever the values would (a new library release, other parameters)."""
    feature_names: tuple[str, ...]
    """Column names, in the order :meth:`compute` returns the values."""
    dtype: ClassVar[np.dtype] = np.dtype(np.float32)
    """How values are stored in tables and in the cache."""

    @property
    def feature_set(self) -> str:
        """The name tables record as ``attrs["feature_set"]``; the ``id`` unless a subclass knows better."""
        return self.id

    @property
    def name(self) -> str:
        """The name :func:`get_extractor` builds this extractor from (the registry name, the ``id``)."""
        return self.id

    @abc.abstractmethod
    def compute(self, signal: np.ndarray, sample_rate: int) -> np.ndarray:
        """The feature vector (1-D, ``len(feature_names)`` values) of a mono float32 signal."""

    def describe(self) -> dict[str, Any]:
        """What to record about the extractor in results and bundles (JSON-able)."""
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "feature_set": self.feature_set,
            "n_features": len(self.feature_names),
            "dtype": np.dtype(self.dtype).name,
        }

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} {self.version}>"


def check_extractor(extractor: FeatureExtractor) -> FeatureExtractor:
    """``extractor`` if its ``id``, ``version``, ``feature_names`` and ``dtype`` are usable, else FeatureError."""
    where = f"feature extractor {type(extractor).__name__}"
    identifier = getattr(extractor, "id", None)
    if not isinstance(identifier, str) or not ID_PATTERN.fullmatch(identifier):
        raise FeatureError(f"{where}: id {identifier!r} must match {ID_PATTERN.pattern}")
    version = getattr(extractor, "version", None)
    if not isinstance(version, str) or not version:
        raise FeatureError(f"{where}: version must be a non-empty string, not {version!r}")
    names = getattr(extractor, "feature_names", None)
    if (
        isinstance(names, str)
        or not isinstance(names, tuple | list)
        or not names
        or not all(isinstance(name, str) and name for name in names)
    ):
        raise FeatureError(f"{where}: feature_names must be a non-empty sequence of names")
    if len(set(names)) != len(names):
        raise FeatureError(f"{where}: feature_names are not distinct")
    if np.dtype(extractor.dtype).kind != "f":
        raise FeatureError(f"{where}: dtype must be a floating-point type, not {extractor.dtype}")
    return extractor
