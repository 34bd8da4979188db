"""Seeded random generators: one independent stream per ``(seed, keys...)``, whatever else is generated."""

from __future__ import annotations

import zlib

import numpy as np


def _rng(seed: int, *keys: object) -> np.random.Generator:
    """A generator seeded from ``seed`` and stable hashes of ``keys`` (names or numbers)."""
    entropy = [seed] + [zlib.crc32(str(key).encode("utf-8")) for key in keys]
    return np.random.default_rng(np.random.SeedSequence(entropy))
