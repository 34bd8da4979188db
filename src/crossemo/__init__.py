"""crossemo: cross-lingual speech emotion recognition with latent representations."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crossemo.bundle import TrainedModel

__version__ = "0.1.0"


def load_model(path: str | os.PathLike[str], *, features: str | None = None) -> TrainedModel:
    """Load a trained model bundle (see :func:`crossemo.bundle.load_model`).

    The bundle module (and torch) is imported on first use, so ``import crossemo`` stays light.
    """
    from crossemo.bundle import load_model as load_bundle

    return load_bundle(path, features=features)
