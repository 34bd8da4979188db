"""Emotion profiles and their blending with neutral by a per-utterance intensity.

Emotion moves the correlates reported by Banse & Scherer (1996), Scherer (2003)
and Juslin & Laukka (2003): angry and happy are high arousal (higher and wider
F0, faster, louder, flatter tilt, shorter pauses), sad low arousal (low narrow
F0, slow, soft, steep tilt, breathy, more jitter), neutral in between.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from types import MappingProxyType


@dataclass(frozen=True)
class EmotionProfile:
    """How an emotion, at full intensity, sets the voice (neutral is the reference)."""

    f0_shift_st: float
    f0_range: float
    """Multiplier of the speaker's pitch-accent range."""
    rate: float
    """Multiplier of the syllable rate."""
    level_db: float
    effort: float
    """Vocal effort: flattens the tilt, shortens the glottal closing phase, raises F1."""
    breathiness: float
    jitter: float
    shimmer: float
    creak: float
    """Depth of alternate-cycle amplitude modulation (period doubling, roughness)."""
    pause: float
    """Multiplier of pause durations."""
    accent_slope_st_s: float
    """Pitch movement within accented syllables (positive: rising), semitones per second."""
    final_rise_probability: float
    onset_ms: float
    """Time constant of voicing onsets and offsets (small: abrupt)."""


MULTIPLICATIVE = frozenset({"f0_range", "rate", "breathiness", "jitter", "shimmer", "pause", "onset_ms"})
"""Emotion fields blended geometrically between neutral and the emotion; the others linearly."""

# One emotion per block, laid out as a table.
# fmt: off
EMOTIONS: Mapping[str, EmotionProfile] = MappingProxyType(
    {
        "neutral": EmotionProfile(
            f0_shift_st=0.0, f0_range=1.0, rate=1.0, level_db=0.0, effort=0.0, breathiness=1.0,
            jitter=1.0, shimmer=1.0, creak=0.0, pause=1.0, accent_slope_st_s=-4.0,
            final_rise_probability=0.1, onset_ms=12.0,
        ),
        "sad": EmotionProfile(
            f0_shift_st=-2.0, f0_range=0.55, rate=0.75, level_db=-6.0, effort=-0.8, breathiness=2.5,
            jitter=1.7, shimmer=1.3, creak=0.04, pause=1.8, accent_slope_st_s=-6.0,
            final_rise_probability=0.05, onset_ms=25.0,
        ),
        "happy": EmotionProfile(
            f0_shift_st=5.0, f0_range=1.7, rate=1.15, level_db=4.0, effort=0.7, breathiness=1.0,
            jitter=1.0, shimmer=1.0, creak=0.0, pause=0.7, accent_slope_st_s=6.0,
            final_rise_probability=0.4, onset_ms=10.0,
        ),
        "angry": EmotionProfile(
            f0_shift_st=4.5, f0_range=1.45, rate=1.15, level_db=6.5, effort=1.0, breathiness=0.8,
            jitter=1.3, shimmer=1.4, creak=0.08, pause=0.6, accent_slope_st_s=-8.0,
            final_rise_probability=0.0, onset_ms=5.0,
        ),
    }
)
"""Emotion profiles, after the vocal correlates in Scherer (2003) and Juslin & Laukka (2003)."""
# fmt: on

INTENSITY_RANGE: tuple[float, float] = (0.45, 1.0)
"""Per-utterance emotion intensity: 0 is neutral, 1 the full profile."""


def _blend(neutral: EmotionProfile, target: EmotionProfile, intensity: float) -> EmotionProfile:
    """The profile ``intensity`` of the way from ``neutral`` to ``target`` (geometric for ratios)."""
    values = {}
    for field in fields(EmotionProfile):
        start, end = getattr(neutral, field.name), getattr(target, field.name)
        if field.name in MULTIPLICATIVE:
            values[field.name] = start * (end / start) ** intensity
        else:
            values[field.name] = start + (end - start) * intensity
    return replace(neutral, **values)
