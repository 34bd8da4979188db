"""The plan of one utterance: a timeline of segments (syllables, pauses, silences) with pitch targets."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from crossemo.synth.emotions import EmotionProfile
from crossemo.synth.languages import CONSONANTS, SCHWA, LanguageProfile, Speaker


@dataclass(frozen=True)
class _Segment:
    """One stretch of the utterance's timeline."""

    kind: str
    """``silence``, ``pause``, ``vowel``, ``closure``, ``burst``, ``aspiration``, ``fricative``, ``voiced``."""
    duration_s: float
    symbol: str = ""
    formants: tuple[float, float, float] | None = None
    voicing: float = 0.0
    f0_st: tuple[float, float] | None = None
    """Pitch (semitones re. the utterance's F0 level) at the start and end of a vowel."""


def _plan_segments(
    language: LanguageProfile,
    speaker: Speaker,
    expression: EmotionProfile,
    *,
    duration_s: float,
    rate: float,
    rng: np.random.Generator,
) -> list[_Segment]:
    """The utterance as a timeline: silences, phrases of CV(C) syllables, pauses, pitch targets."""
    lead_s = rng.uniform(0.08, 0.2)
    budget_s = duration_s - lead_s - rng.uniform(0.08, 0.2)
    accent_range = speaker.accent_range_st * expression.f0_range
    vowels = list(language.vowels)
    segments = [_Segment("silence", lead_s)]
    used_s = 0.0
    syllable_index = 0
    phrase_left = int(rng.integers(3, 8))
    while True:
        stressed = (language.stress_every > 0 and syllable_index % language.stress_every == 0) or rng.random() < 0.15
        syllable = _syllable(language, vowels, stressed=stressed, rate=rate, rng=rng)
        phrase_left -= 1
        vowel_index = next(i for i, segment in enumerate(syllable) if segment.kind == "vowel")
        vowel = syllable[vowel_index]
        # Declination over the utterance, accents on stressed syllables, small scatter elsewhere.
        level = -1.2 * (used_s / max(budget_s, 1e-3)) * accent_range
        if stressed:
            level += accent_range * rng.uniform(0.5, 1.0)
        else:
            level += accent_range * rng.normal(0, 0.25)
        slope = expression.accent_slope_st_s * (rng.uniform(0.5, 1.5) if stressed else 0.3)
        half = slope * vowel.duration_s / 2
        syllable[vowel_index] = replace(vowel, f0_st=(level - half, level + half))
        syllable_s = sum(segment.duration_s for segment in syllable)
        pause_s = 0.0
        if phrase_left == 0:
            pause_s = 0.2 * expression.pause * rng.lognormal(0, 0.3)
            phrase_left = int(rng.integers(3, 8))
        if syllable_index >= 3 and used_s + syllable_s > budget_s:
            break
        segments.extend(syllable)
        used_s += syllable_s
        if pause_s and used_s + pause_s < budget_s:
            segments.append(_Segment("pause", pause_s))
            used_s += pause_s
        syllable_index += 1
    used_s += _shape_final_syllable(segments, expression, accent_range, rng)
    segments.append(_Segment("silence", max(duration_s - lead_s - used_s, 0.05)))
    return segments


def _syllable(
    language: LanguageProfile,
    vowels: list[str],
    *,
    stressed: bool,
    rate: float,
    rng: np.random.Generator,
) -> list[_Segment]:
    """Segments of one syllable: optional onset (cluster), vowel, optional coda."""
    consonant_scale = rate**-0.6  # consonants compress less than vowels when speaking fast
    segments: list[_Segment] = []
    if rng.random() < language.onset_probability:
        onset = str(rng.choice(language.onsets))
        segments.extend(_consonant(onset, consonant_scale, rng))
        liquids = [symbol for symbol in ("l", "r") if symbol in language.onsets]
        if CONSONANTS[onset].manner == "stop" and liquids and rng.random() < language.cluster_probability:
            segments.extend(_consonant(str(rng.choice(liquids)), consonant_scale, rng))
    symbol = str(rng.choice(vowels))
    formants = language.vowels[symbol]
    vowel_s = language.vowel_ms / 1000 / rate * rng.lognormal(0, 0.15)
    if stressed:
        vowel_s *= language.stress_lengthening
    elif rng.random() < language.reduction_probability:
        symbol, formants, vowel_s = "ə", SCHWA, vowel_s * 0.6
    segments.append(_Segment("vowel", vowel_s, symbol=symbol, formants=formants, voicing=1.0))
    if rng.random() < language.coda_probability:
        segments.extend(_consonant(str(rng.choice(language.codas)), consonant_scale, rng))
    return segments


def _consonant(symbol: str, scale: float, rng: np.random.Generator) -> list[_Segment]:
    """Segments of one consonant, its duration scaled by ``scale`` and jittered."""
    spec = CONSONANTS[symbol]
    duration_s = spec.duration_ms / 1000 * scale * rng.lognormal(0, 0.15)
    if spec.manner == "stop":
        return [
            _Segment("closure", duration_s * 0.6, symbol=symbol),
            _Segment("burst", 0.008, symbol=symbol),
            _Segment("aspiration", duration_s * 0.4, symbol=symbol),
        ]
    if spec.manner == "fricative":
        return [_Segment("fricative", duration_s, symbol=symbol)]
    if spec.manner == "aspirate":
        return [_Segment("aspiration", duration_s, symbol=symbol)]
    return [_Segment("voiced", duration_s, symbol=symbol, formants=spec.formants, voicing=spec.voicing)]


def _shape_final_syllable(
    segments: list[_Segment], expression: EmotionProfile, accent_range: float, rng: np.random.Generator
) -> float:
    """Lengthen the last vowel and give it a final fall or rise; return the added duration."""
    index = max(i for i, segment in enumerate(segments) if segment.kind == "vowel")
    vowel = segments[index]
    start, _ = vowel.f0_st
    movement = accent_range * rng.uniform(0.6, 1.2)
    end = start + movement if rng.random() < expression.final_rise_probability else start - movement
    segments[index] = replace(vowel, duration_s=vowel.duration_s * 1.4, f0_st=(start, end))
    return 0.4 * vowel.duration_s
