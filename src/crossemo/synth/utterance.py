"""One utterance end to end: plan, voice, level and the language's recording channel."""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
from scipy import signal as sps

from crossemo.errors import ConfigError
from crossemo.synth.emotions import EMOTIONS, INTENSITY_RANGE, _blend
from crossemo.synth.languages import CONSONANTS, LanguageProfile, Speaker
from crossemo.synth.seeding import _rng
from crossemo.synth.timeline import _plan_segments
from crossemo.synth.voice import Studio, _band_pass, _render_segments

DURATION_RANGE_S: tuple[float, float] = (1.5, 3.5)
"""Length of an utterance, drawn uniformly (a lengthened final syllable may overrun it slightly)."""

REFERENCE_LEVEL_DBFS = -32.0
"""Active speech level of a neutral utterance by an average speaker, before the channel."""


def render_utterance(
    language: LanguageProfile,
    speaker: Speaker,
    emotion: str,
    *,
    rng: np.random.Generator,
    studio: Studio,
) -> np.ndarray:
    """Synthesize one utterance (float32 in [-1, 1]) of ``speaker`` in ``emotion``.

    ``studio`` holds the language's recording room and the filters fixed across
    its utterances (see :func:`make_studio`); it sets the sample rate.
    """
    if emotion not in EMOTIONS:
        raise ConfigError(f"unknown emotion {emotion!r}: choose from {', '.join(EMOTIONS)}")
    intensity = rng.uniform(*INTENSITY_RANGE) * speaker.expressiveness
    expression = _blend(EMOTIONS["neutral"], EMOTIONS[emotion], min(intensity, 1.6))
    duration_s = rng.uniform(*DURATION_RANGE_S)
    rate = speaker.rate * expression.rate * rng.lognormal(0, 0.08)
    segments = _plan_segments(language, speaker, expression, duration_s=duration_s, rate=rate, rng=rng)
    voice = _render_segments(segments, speaker, expression, studio=studio, rng=rng)
    level_db = REFERENCE_LEVEL_DBFS + language.gain_db + speaker.level_db + expression.level_db + rng.normal(0, 1.5)
    voice *= 10 ** (level_db / 20) / max(_active_level(voice, studio.sample_rate), 1e-12)
    return _record(voice, language, studio=studio, rng=rng)


def make_studio(language: LanguageProfile, *, sample_rate: int, seed: int) -> Studio:
    """The recording room (exponentially decaying noise, seeded per language) and filter designs."""
    room = None
    if language.reverb_s > 0:
        rng = _rng(seed, language.code, "room")
        time = np.arange(int(language.reverb_s * sample_rate)) / sample_rate
        response = rng.standard_normal(time.size) * 10 ** (-3 * time / language.reverb_s)
        room = response / np.sqrt(np.sum(response**2))
    nyquist = sample_rate / 2
    lowpass = None
    if language.lowpass_hz is not None and language.lowpass_hz < 0.95 * nyquist:
        lowpass = sps.butter(4, language.lowpass_hz, btype="lowpass", fs=sample_rate, output="sos")
    return Studio(
        sample_rate=sample_rate,
        room=room,
        highpass=sps.butter(2, language.highpass_hz, btype="highpass", fs=sample_rate, output="sos"),
        lowpass=lowpass,
        frication=MappingProxyType(
            {
                symbol: _band_pass(spec.noise_hz, spec.noise_bandwidth_hz, sample_rate)
                for symbol, spec in CONSONANTS.items()
                if spec.noise_gain > 0
            }
        ),
    )


def _active_level(audio: np.ndarray, sample_rate: int) -> float:
    """RMS over 20-ms frames within 30 dB of the loudest frame (active speech level)."""
    frame = max(int(0.02 * sample_rate), 1)
    usable = audio[: audio.size // frame * frame].reshape(-1, frame)
    power = np.mean(usable**2, axis=1)
    active = power > power.max() * 1e-3
    return float(np.sqrt(np.mean(power[active])))


def _record(voice: np.ndarray, language: LanguageProfile, *, studio: Studio, rng: np.random.Generator) -> np.ndarray:
    """The language's recording chain after the level is set: room, band limits, noise floor, limiter."""
    audio = voice
    if studio.room is not None:
        wet = sps.fftconvolve(audio, studio.room)[: audio.size]
        audio = (1 - language.reverb_mix) * audio + language.reverb_mix * wet
    audio = sps.sosfilt(studio.highpass, audio)
    if studio.lowpass is not None:
        audio = sps.sosfilt(studio.lowpass, audio)
    noise = rng.standard_normal(audio.size)
    audio = audio + noise * 10 ** (language.noise_floor_dbfs / 20)
    return _soft_limit(audio).astype(np.float32)


def _soft_limit(audio: np.ndarray, *, knee: float = 0.7, ceiling: float = 0.99) -> np.ndarray:
    """Leave samples below ``knee`` alone and bend larger ones smoothly (tanh) under ``ceiling``."""
    magnitude = np.abs(audio)
    headroom = ceiling - knee
    limited = knee + headroom * np.tanh((magnitude - knee) / headroom)
    return np.where(magnitude > knee, np.sign(audio) * limited, audio)
