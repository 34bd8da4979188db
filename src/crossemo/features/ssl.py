"""Self-supervised speech embeddings through Hugging Face ``transformers``: feature sets ``hf:MODEL``.

``hf:MODEL`` names a model folder (a local path, or the id of a model already in
the Hugging Face cache: nothing is downloaded) holding a wav2vec 2.0, HuBERT,
WavLM or data2vec-audio model, or a Whisper model whose encoder is used.  An
optional ``@LAYER`` picks the hidden state: an index into the model's hidden
states (``0`` is the input to the first transformer layer), ``last`` (the
model's output, the default) or ``mean`` (the average of every transformer
layer's output).  One recording gives the mean over time of that layer's frames.

How values are computed, and why:

- audio is resampled to the model's rate (16 kHz) with ``audresample`` (soxr's
  quality, already installed with opensmile) and prepared by the model's own
  feature extractor (``preprocessor_config.json``: normalization, Whisper's mel
  spectrogram), exactly as a direct ``transformers`` call would;
- long recordings are cut into chunks (20 s, 1,000 frames of a wav2vec 2.0-style
  model, so that attention memory stays bounded; Whisper's own 30 s window),
  :data:`CHUNKS_PER_BATCH` of them per forward pass; the recording's embedding is the
  frame-weighted mean of its chunks' means, so it is the mean over all frames;
- the cache key (the extractor's ``version``) holds a SHA-256 of the model's
  weight and config files (or a hub snapshot's commit), the layer and the
  ``transformers`` version: other weights never reuse cached values.

``transformers`` is an optional dependency (``pip install crossemo[ssl]``); it is
imported when an ``hf:`` set is built.
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path
from typing import Any

import numpy as np

from crossemo.features.base import FeatureError, FeatureExtractor, check_extractor

PREFIX = "hf:"
"""Feature sets named ``hf:MODEL[@LAYER]`` are self-supervised embeddings."""

CHUNK_S = 20.0
"""Longest piece of a recording a wav2vec 2.0-style model sees at once (attention is quadratic in it)."""

WHISPER_CHUNK_S = 30.0
"""Whisper's encoder window: every input is padded to it."""

LAYER_LAST = "last"
LAYER_MEAN = "mean"

CHUNKS_PER_BATCH = 2
"""Chunks of one recording run through the model together: bounded memory, fewer calls."""

WEIGHT_FILES = re.compile(r".*\.(safetensors|bin|pt|pth|msgpack|h5)$|config\.json$|preprocessor_config\.json$")
"""Files of a model folder that determine its outputs (hashed into the cache key)."""


def is_ssl_name(name: object) -> bool:
    """Whether ``name`` names a self-supervised feature set (``hf:...``).

    >>> is_ssl_name("hf:/models/wavlm-base-plus@6"), is_ssl_name("egemaps")
    (True, False)
    """
    return isinstance(name, str) and name.startswith(PREFIX)


def parse_name(name: str) -> tuple[str, str | int]:
    """``hf:MODEL[@LAYER]`` -> ``(MODEL, LAYER)``, the layer an int, ``"last"`` or ``"mean"``.

    >>> parse_name("hf:microsoft/wavlm-base-plus@6")
    ('microsoft/wavlm-base-plus', 6)
    >>> parse_name("hf:/models/w2v@mean")
    ('/models/w2v', 'mean')
    >>> parse_name("hf:/models/w2v")
    ('/models/w2v', 'last')
    """
    if not is_ssl_name(name):
        raise FeatureError(f"not a self-supervised feature set: {name!r} (expected hf:MODEL[@LAYER])")
    model, _, layer = name[len(PREFIX):].rpartition("@")
    if not model or not re.fullmatch(r"-?\d+|last|mean", layer):
        model, layer = name[len(PREFIX):], LAYER_LAST  # an "@" inside a path, not a layer
    if not model.strip():
        raise FeatureError(f"{name!r} names no model: expected hf:MODEL[@LAYER], MODEL a folder or a model id")
    return model, int(layer) if re.fullmatch(r"-?\d+", layer) else layer


def model_folder(model: str) -> tuple[Path, str | None]:
    """The local folder of ``model`` and its hub commit (``None`` for a plain folder).

    A path that exists is used as it is; anything else must be a model id already in
    the Hugging Face cache (``HF_HOME``): machines without internet access copy or
    download the model beforehand (see the README).
    """
    path = Path(model).expanduser()
    if path.is_dir():
        return path.resolve(), None
    if path.exists():
        raise FeatureError(f"hf model {model!r} is a file; give the folder holding config.json and the weights")
    try:
        from huggingface_hub import snapshot_download

        folder = Path(snapshot_download(model, local_files_only=True))
    except Exception as error:  # not an id, or not in the cache: one clear message for both
        raise FeatureError(
            f"hf model {model!r} is neither a folder nor a model in the local Hugging Face cache "
            f"({type(error).__name__}); download it on a machine with internet access "
            "(hf download MODEL --local-dir DIR) and give hf:DIR"
        ) from None
    return folder, folder.name


def cached_extractor(name: str) -> HuggingFaceExtractor:
    """The extractor ``name``, built once per process and state of its model folder.

    The folder's state (:func:`folder_state`) is part of the key, so weights replaced
    in place give a new extractor, hashed anew, never stale values.
    """
    return _build(name, folder_state(parse_name(name)[0]))


@functools.cache
def _build(name: str, state: tuple) -> HuggingFaceExtractor:
    return check_extractor(HuggingFaceExtractor(name))


def folder_state(model: str) -> tuple[tuple[str, int, int], ...]:
    """``(file, size, modification time)`` of each file of ``model``'s folder that determines its outputs.

    Cheap (no reading): it tells whether a folder changed since its weights were hashed.
    """
    folder, _ = model_folder(model)
    return tuple(
        (path.relative_to(folder).as_posix(), stat.st_size, stat.st_mtime_ns)
        for path in _weight_files(folder)
        for stat in (path.stat(),)
    )


def _weight_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file() and WEIGHT_FILES.fullmatch(path.name))


def weights_digest(folder: Path) -> str:
    """SHA-256 over the names and contents of the files that determine a model's outputs."""
    digest = hashlib.sha256()
    files = _weight_files(folder)
    if not files:
        raise FeatureError(f"hf model folder {folder} holds no config.json or weights")
    for path in files:
        digest.update(path.relative_to(folder).as_posix().encode())
        with path.open("rb") as handle:
            for block in iter(functools.partial(handle.read, 1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


class HuggingFaceExtractor(FeatureExtractor):
    """Mean-pooled hidden states of a self-supervised speech model (see the module docstring).

    ``name`` is the feature set's full name, ``hf:MODEL[@LAYER]``; ``device`` is
    ``"cuda"`` when a GPU is available, else ``"cpu"``, unless given.
    """

    def __init__(self, name: str, *, device: str | None = None) -> None:
        import torch
        import transformers

        self._name = name
        self.model_name, self.layer = parse_name(name)
        folder, commit = model_folder(self.model_name)
        self.folder = folder
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        for needed, what in (("config.json", "the model's configuration"),
                             ("preprocessor_config.json", "its feature extractor's settings")):
            if not (folder / needed).is_file():
                raise FeatureError(f"hf model folder {folder} holds no {needed} ({what}); save the model with "
                                   "save_pretrained and its feature extractor (or processor) into the folder")
        bars = transformers.utils.logging.is_progress_bar_enabled()
        transformers.utils.logging.disable_progress_bar()  # one bar per worker and model would clutter the terminal
        try:
            self._processor = transformers.AutoFeatureExtractor.from_pretrained(folder, local_files_only=True)
            model = transformers.AutoModel.from_pretrained(folder, local_files_only=True)
        except Exception as error:  # missing files, an unknown architecture: name the folder
            raise FeatureError(f"cannot load hf model from {folder}: {_short(error)}") from None
        finally:
            if bars:
                transformers.utils.logging.enable_progress_bar()
        self.whisper = getattr(model.config, "model_type", "") == "whisper"
        self._model = (model.get_encoder() if self.whisper else model).to(self.device).eval()
        self.sample_rate = int(getattr(self._processor, "sampling_rate", 16_000))
        n_layers = int(model.config.num_hidden_layers if not self.whisper else model.config.encoder_layers)
        if isinstance(self.layer, int) and not -(n_layers + 1) <= self.layer <= n_layers:
            raise FeatureError(f"{name}: layer {self.layer} out of range; the model has hidden states 0..{n_layers}")
        if isinstance(self.layer, int) and self.layer < 0:
            self.layer += n_layers + 1  # one name per hidden state: -1 is the last index's
        width = int(model.config.hidden_size if not self.whisper else model.config.d_model)
        # Named by architecture and layer, not by folder: a model that moves keeps its names and
        # cache (the version, a hash of the weights, tells models of one architecture apart).
        stem = re.sub(r"[^A-Za-z0-9_.]+", "_", str(model.config.model_type)).strip("_.") or "model"
        self.id = f"hf_{stem}_{self.layer}"
        identity = commit or weights_digest(folder)[:16]
        self.version = f"{identity}-layer{self.layer}-transformers{transformers.__version__}"
        self.feature_names = tuple(f"{stem}_{self.layer}_{index:04d}" for index in range(width))

    @property
    def feature_set(self) -> str:
        return self._name

    @property
    def name(self) -> str:
        return self._name

    def compute(self, signal: np.ndarray, sample_rate: int) -> np.ndarray:
        import torch

        audio = self._resampled(signal, sample_rate)
        chunk = int((WHISPER_CHUNK_S if self.whisper else CHUNK_S) * self.sample_rate)
        pieces = [audio[start:start + chunk] for start in range(0, len(audio), chunk)]
        # A tail shorter than a second carries too few frames to stand alone: join it to its chunk
        # (not for Whisper, whose window would cut what is longer).
        if len(pieces) > 1 and len(pieces[-1]) < self.sample_rate and not self.whisper:
            pieces[-2] = np.concatenate(pieces[-2:])
            pieces.pop()
        # Equal lengths batch without padding, so no attention mask is needed (base wav2vec 2.0
        # models take none) and every frame is a real one: full chunks together, the tail alone.
        full = pieces[:-1]
        groups = [full[start:start + CHUNKS_PER_BATCH] for start in range(0, len(full), CHUNKS_PER_BATCH)]
        groups.append(pieces[-1:])
        total = np.zeros(len(self.feature_names), dtype=np.float64)
        frames = 0
        with torch.inference_mode():
            for group in groups:
                for pooled, count in self._pooled(group):
                    total += pooled * count
                    frames += count
        return (total / max(frames, 1)).astype(np.float32)

    def _resampled(self, signal: np.ndarray, sample_rate: int) -> np.ndarray:
        if sample_rate == self.sample_rate:
            return np.asarray(signal, dtype=np.float32)
        import audresample

        return audresample.resample(np.asarray(signal, dtype=np.float32), sample_rate, self.sample_rate)[0]

    def _pooled(self, pieces: list[np.ndarray]) -> list[tuple[np.ndarray, int]]:
        """Per chunk (all of one length): the mean of the chosen layer over its frames, and their count."""
        inputs = self._processor(pieces, sampling_rate=self.sample_rate, return_tensors="pt")
        inputs = {key: value.to(self.device) for key, value in inputs.items() if key != "attention_mask"}
        hidden = self._layer(self._model(**inputs, output_hidden_states=True))
        # Whisper pads every input to 30 s: 100 mel frames per second, halved by its second convolution.
        count = hidden.shape[1] if not self.whisper else min(hidden.shape[1], _ceil_div(len(pieces[0]) * 50,
                                                                                         self.sample_rate))
        means = hidden[:, :max(count, 1)].mean(dim=1).double().cpu().numpy()
        return [(row, max(count, 1)) for row in means]

    def _layer(self, outputs: Any) -> Any:
        if self.layer == LAYER_LAST:
            return outputs.last_hidden_state
        states = outputs.hidden_states
        if self.layer == LAYER_MEAN:
            return sum(states[1:]) / (len(states) - 1)
        return states[self.layer]

    def describe(self) -> dict[str, Any]:
        import transformers

        return {**super().describe(), "library": "transformers", "library_version": transformers.__version__,
                "model": self.model_name, "layer": self.layer, "pooling": "mean over time",
                "sample_rate": self.sample_rate}

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle the name: a worker builds the model once per process (cached_extractor).
        return (cached_extractor, (self._name,))


def _short(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)
