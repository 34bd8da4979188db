"""Saving fitted estimators without pickle: tensors and JSON metadata in one safetensors file.

Every estimator a method of the registry builds follows one protocol:
``to_state() -> (tensors, metadata)``, ``from_state(tensors, metadata)``,
``state_shapes(metadata) -> {tensor name: shape}`` (what a well-formed state holds,
so a reader can refuse a reshaped file before building anything), and ``save`` /
``load`` from :class:`StateMixin`.  ``metadata["model"]`` names the method, so
:func:`crossemo.models.registry.estimator_from_state` can rebuild any of them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from crossemo.errors import BundleError
from crossemo.fileio import write_atomic

STATE_FORMAT = "crossemo.latent-model"
STATE_VERSION = 1
STATE_METADATA_KEY = "crossemo"


def read_state_file(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors and JSON metadata of a safetensors file crossemo wrote; :class:`BundleError` if unreadable."""
    try:
        with safe_open(str(path), framework="pt") as handle:  # one read for header and tensors
            header = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
        metadata = json.loads(header[STATE_METADATA_KEY])
    except (OSError, SafetensorError, KeyError, json.JSONDecodeError) as error:
        raise BundleError(f"cannot read model file {path}: {error}") from error
    if not isinstance(metadata, dict):
        raise BundleError(f"cannot read model file {path}: metadata is not an object")
    return tensors, metadata


def write_state_file(
    path: str | os.PathLike[str], tensors: Mapping[str, torch.Tensor | np.ndarray], metadata: Mapping[str, Any]
) -> Path:
    """Write ``tensors`` (torch or numpy) and ``metadata`` to one safetensors file, atomically."""
    as_torch = {
        name: (torch.from_numpy(np.ascontiguousarray(value)) if isinstance(value, np.ndarray) else value)
        .detach()
        .cpu()
        .contiguous()
        for name, value in tensors.items()
    }
    header = {STATE_METADATA_KEY: json.dumps(dict(metadata))}
    return write_atomic(path, lambda temporary: save_file(as_torch, temporary, metadata=header))


def check_state(tensors: Mapping[str, Any], expected: Mapping[str, tuple[int, ...]], *, what: str) -> None:
    """Raise :class:`BundleError` unless ``tensors`` holds exactly the ``expected`` names and shapes."""
    problems = [f"{name} missing" for name in expected if name not in tensors]
    problems += [f"unexpected tensor {name}" for name in tensors if name not in expected]
    problems += [
        f"{name} has shape {tuple(tensors[name].shape)}, expected {tuple(shape)}"
        for name, shape in expected.items()
        if name in tensors and tuple(tensors[name].shape) != tuple(shape)
    ]
    if problems:
        raise BundleError(f"{what}: " + "; ".join(problems))


def check_state_header(metadata: Mapping[str, Any], *, model: str, cls_name: str) -> None:
    """Raise :class:`BundleError` unless ``metadata`` is a state of this format naming ``model``."""
    if metadata.get("format") != STATE_FORMAT or metadata.get("version") != STATE_VERSION:
        raise BundleError(
            f"not a {STATE_FORMAT} v{STATE_VERSION} state: "
            f"format={metadata.get('format')!r}, version={metadata.get('version')!r}"
        )
    if metadata.get("model") != model:
        raise BundleError(f"state holds model {metadata.get('model')!r}, cannot load it as {cls_name}")


def state_metadata(model: str, params: Mapping[str, Any], n_features_in: int, **extra: Any) -> dict[str, Any]:
    """The metadata every state carries: format, version, model name, parameters, input width."""
    return {
        "format": STATE_FORMAT,
        "version": STATE_VERSION,
        "model": model,
        "params": {name: list(value) if isinstance(value, tuple) else value for name, value in params.items()},
        "n_features_in_": int(n_features_in),
        **extra,
    }


class StateMixin:
    """``save`` and ``load`` for estimators that implement ``to_state`` / ``from_state``."""

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write weights and metadata to one safetensors file, atomically; return its path."""
        tensors, metadata = self.to_state()  # type: ignore[attr-defined]
        return write_state_file(path, tensors, metadata)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Self:
        """Read an estimator written by :meth:`save`."""
        tensors, metadata = read_state_file(path)
        return cls.from_state(tensors, metadata)  # type: ignore[attr-defined]
