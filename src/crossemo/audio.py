"""Reading audio robustly: any format soundfile reads, mono mix-down, clear errors.

libsndfile recognises a file by its header, not its name, so AIFF-C content
behind a ``.wav`` name (as in circulating TESS copies) reads like any other file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

from crossemo.errors import CrossemoError

MIN_DURATION_S = 0.25
"""Shortest signal eGeMAPS functionals are computed for: shorter ones give NaN features."""

SILENCE_PEAK = 1e-4
"""Peak amplitude (full scale = 1) below which a recording counts as silent."""


class AudioError(CrossemoError):
    """A recording that cannot be used: unreadable, empty, silent or too short."""


def audio_info(path: str | Path) -> tuple[float, int]:
    """Return ``(duration_s, sample_rate)`` from the header without decoding samples."""
    try:
        info = soundfile.info(str(path))
    except Exception as error:  # libsndfile raises several types for bad headers
        raise AudioError(f"unreadable audio: {_short(error)}") from None
    if info.samplerate <= 0:
        raise AudioError("unreadable audio: no sample rate in header")
    return info.frames / info.samplerate, int(info.samplerate)


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Read ``path`` as a mono float32 signal in [-1, 1] and its sample rate.

    Channels are averaged.  Raises :class:`AudioError` for files that cannot be
    decoded, hold no samples, are digitally silent or shorter than
    :data:`MIN_DURATION_S`.
    """
    try:
        signal, sample_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as error:
        raise AudioError(f"unreadable audio: {_short(error)}") from None
    check_signal(signal, sample_rate)
    return signal.mean(axis=1), int(sample_rate)


def check_signal(signal: np.ndarray, sample_rate: int) -> None:
    """Raise :class:`AudioError` if ``signal`` is empty, silent, too short or not finite."""
    if signal.size == 0:
        raise AudioError("empty audio: no samples")
    duration = signal.shape[0] / sample_rate
    if duration < MIN_DURATION_S:
        raise AudioError(f"too short: {duration:.3f} s < {MIN_DURATION_S} s needed for eGeMAPS")
    if not np.all(np.isfinite(signal)):
        raise AudioError("corrupt audio: non-finite samples")
    if float(np.max(np.abs(signal))) < SILENCE_PEAK:
        raise AudioError("silent audio: peak amplitude below -80 dBFS")


def _short(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[-1] if text else type(error).__name__
