"""The invented languages and their speakers.

Each :class:`LanguageProfile` has its own vowel inventory, consonants and
phonotactics, rhythm (syllable-, stress- or mora-timed), speaker pool
(F0 level, voice quality), degree of emotional expressiveness and recording
channel (gain, band limits, room reverberation, noise floor), so the eGeMAPS
features of one language are shifted against another's.  :func:`make_speakers`
draws a language's speaker pool.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from crossemo.synth.seeding import _rng

SCHWA: tuple[float, float, float] = (500.0, 1500.0, 2500.0)
"""Formants of the reduced vowel used in unstressed syllables."""


@dataclass(frozen=True)
class Consonant:
    """One consonant: its manner, typical duration and acoustic targets."""

    manner: str
    """``stop``, ``fricative``, ``aspirate``, ``nasal`` or ``approximant``."""
    duration_ms: float
    noise_hz: float = 0.0
    """Centre of the frication or burst noise band (stops, fricatives)."""
    noise_bandwidth_hz: float = 0.0
    noise_gain: float = 0.0
    """Amplitude of frication relative to the vowel's RMS."""
    formants: tuple[float, float, float] | None = None
    """F1-F3 targets of voiced consonants (nasals, approximants)."""
    voicing: float = 0.0
    """Amplitude of voicing relative to a vowel."""


CONSONANTS: Mapping[str, Consonant] = MappingProxyType(
    {
        "p": Consonant("stop", 60, noise_hz=1200, noise_bandwidth_hz=1800, noise_gain=0.25),
        "t": Consonant("stop", 55, noise_hz=4500, noise_bandwidth_hz=3000, noise_gain=0.35),
        "k": Consonant("stop", 65, noise_hz=2300, noise_bandwidth_hz=1200, noise_gain=0.35),
        "s": Consonant("fricative", 100, noise_hz=6000, noise_bandwidth_hz=2500, noise_gain=0.3),
        "sh": Consonant("fricative", 100, noise_hz=3200, noise_bandwidth_hz=1800, noise_gain=0.3),
        "f": Consonant("fricative", 90, noise_hz=4500, noise_bandwidth_hz=6000, noise_gain=0.08),
        "h": Consonant("aspirate", 70),
        "m": Consonant("nasal", 65, formants=(270.0, 1000.0, 2300.0), voicing=0.35),
        "n": Consonant("nasal", 60, formants=(270.0, 1600.0, 2600.0), voicing=0.35),
        "l": Consonant("approximant", 55, formants=(360.0, 1200.0, 2700.0), voicing=0.6),
        "r": Consonant("approximant", 50, formants=(420.0, 1300.0, 1700.0), voicing=0.6),
    }
)
"""Consonants the languages draw from (broad IPA-like symbols)."""


@dataclass(frozen=True)
class LanguageProfile:
    """An invented language: phonology, rhythm, speaker pool and recording channel."""

    code: str
    name: str
    vowels: Mapping[str, tuple[float, float, float]]
    """Vowel symbol -> F1-F3 (Hz) for the reference (adult male) vocal tract."""
    onsets: tuple[str, ...]
    codas: tuple[str, ...]
    onset_probability: float
    coda_probability: float
    cluster_probability: float
    """Probability that a stop onset is followed by /l/ or /r/ (when the language has them)."""
    vowel_ms: float
    stress_every: int
    """Every n-th syllable is stressed (lengthened, accented); 0: no lexical stress."""
    stress_lengthening: float
    reduction_probability: float
    """Probability that an unstressed vowel is reduced to schwa (and shortened)."""
    f0_offset_st: float
    """Speaker pool's F0 level relative to the reference, in semitones."""
    effort_offset: float
    """Speaker pool's habitual vocal effort (added to every utterance's effort)."""
    breathiness: float
    """Multiplier of the speaker pool's aspiration noise."""
    expressiveness: float
    """Multiplier of emotional effects (display rules)."""
    highpass_hz: float
    lowpass_hz: float | None
    reverb_s: float
    """Reverberation time (60 dB decay) of the recording room; 0: dry."""
    reverb_mix: float
    gain_db: float
    """Recording gain relative to the reference level (microphone distance, preamp)."""
    noise_floor_dbfs: float

    @property
    def corpus(self) -> str:
        """Corpus name of this language's part of the synthetic corpus."""
        return f"synth_{self.code}"


LANGUAGES: Mapping[str, LanguageProfile] = MappingProxyType(
    {
        "xa": LanguageProfile(
            code="xa",
            name="Synthetic A (five vowels, syllable-timed, studio)",
            vowels=MappingProxyType(
                {
                    "i": (280.0, 2250.0, 2950.0),
                    "e": (450.0, 1900.0, 2600.0),
                    "a": (720.0, 1300.0, 2500.0),
                    "o": (480.0, 880.0, 2500.0),
                    "u": (310.0, 800.0, 2300.0),
                }
            ),
            onsets=("p", "t", "k", "s", "f", "m", "n", "l"),
            codas=("n", "s", "l"),
            onset_probability=0.9,
            coda_probability=0.12,
            cluster_probability=0.05,
            vowel_ms=95.0,
            stress_every=3,
            stress_lengthening=1.15,
            reduction_probability=0.0,
            f0_offset_st=0.0,
            effort_offset=0.0,
            breathiness=1.0,
            expressiveness=1.0,
            highpass_hz=60.0,
            lowpass_hz=None,
            reverb_s=0.0,
            reverb_mix=0.0,
            gain_db=0.0,
            noise_floor_dbfs=-72.0,
        ),
        "xb": LanguageProfile(
            code="xb",
            name="Synthetic B (eight vowels, stress-timed, closed syllables, small room)",
            vowels=MappingProxyType(
                {
                    "i": (270.0, 2290.0, 3010.0),
                    "ɪ": (390.0, 1990.0, 2550.0),
                    "ɛ": (530.0, 1840.0, 2480.0),
                    "æ": (660.0, 1720.0, 2410.0),
                    "ɑ": (730.0, 1090.0, 2440.0),
                    "ɔ": (570.0, 840.0, 2410.0),
                    "ʊ": (440.0, 1020.0, 2240.0),
                    "y": (280.0, 1750.0, 2150.0),
                }
            ),
            onsets=("p", "t", "k", "s", "sh", "f", "h", "m", "n", "l", "r"),
            codas=("t", "k", "s", "n", "r", "l"),
            onset_probability=0.95,
            coda_probability=0.5,
            cluster_probability=0.3,
            vowel_ms=85.0,
            stress_every=2,
            stress_lengthening=1.6,
            reduction_probability=0.6,
            f0_offset_st=-3.0,
            effort_offset=-0.15,
            breathiness=0.8,
            expressiveness=0.95,
            highpass_hz=150.0,
            lowpass_hz=5000.0,
            reverb_s=0.2,
            reverb_mix=0.15,
            gain_db=-4.0,
            noise_floor_dbfs=-66.0,
        ),
        "xc": LanguageProfile(
            code="xc",
            name="Synthetic C (five vowels, mora-timed, open syllables, reverberant)",
            vowels=MappingProxyType(
                {
                    "i": (300.0, 2200.0, 3000.0),
                    "e": (480.0, 1850.0, 2550.0),
                    "a": (750.0, 1200.0, 2550.0),
                    "o": (500.0, 900.0, 2450.0),
                    "ɯ": (350.0, 1350.0, 2400.0),
                }
            ),
            onsets=("k", "t", "s", "sh", "h", "m", "n", "r"),
            codas=("n",),
            onset_probability=0.8,
            coda_probability=0.08,
            cluster_probability=0.0,
            vowel_ms=70.0,
            stress_every=0,
            stress_lengthening=1.0,
            reduction_probability=0.0,
            f0_offset_st=2.0,
            effort_offset=0.2,
            breathiness=1.3,
            expressiveness=1.1,
            highpass_hz=80.0,
            lowpass_hz=7000.0,
            reverb_s=0.35,
            reverb_mix=0.3,
            gain_db=3.0,
            noise_floor_dbfs=-52.0,
        ),
    }
)
"""The built-in languages, by code."""


DEFAULT_LANGUAGES: tuple[str, ...] = ("xa", "xb", "xc")


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker's habitual voice."""

    speaker_id: str
    gender: str
    f0_hz: float
    accent_range_st: float
    tract_scale: float
    """Formant scaling from vocal tract length (1: the reference adult male)."""
    open_quotient: float
    effort: float
    breathiness: float
    jitter: float
    shimmer: float
    creak: float
    rate: float
    level_db: float
    expressiveness: float


def make_speakers(language: LanguageProfile, count: int, *, seed: int) -> tuple[Speaker, ...]:
    """The speaker pool of ``language``: ``count`` speakers alternating female, male."""
    speakers = []
    for index in range(count):
        rng = _rng(seed, language.code, "speaker", index)
        female = index % 2 == 0
        f0_reference, tract_reference, oq_reference, breath_reference = (
            (205.0, 1.17, 0.65, 0.12) if female else (115.0, 1.0, 0.55, 0.07)
        )
        speakers.append(
            Speaker(
                speaker_id=f"{language.code}_spk{index + 1:02d}",
                gender="female" if female else "male",
                f0_hz=f0_reference * 2 ** ((language.f0_offset_st + rng.normal(0, 1.5)) / 12),
                accent_range_st=2.5 * rng.lognormal(0, 0.2),
                tract_scale=tract_reference * rng.lognormal(0, 0.035),
                open_quotient=float(np.clip(oq_reference + rng.normal(0, 0.05), 0.4, 0.8)),
                effort=language.effort_offset + rng.normal(0, 0.25),
                breathiness=breath_reference * language.breathiness * rng.lognormal(0, 0.35),
                jitter=0.008 * rng.lognormal(0, 0.3),
                shimmer=0.05 * rng.lognormal(0, 0.3),
                creak=0.0 if female else abs(rng.normal(0, 0.03)),
                rate=rng.lognormal(0, 0.1),
                level_db=rng.normal(0, 2.0),
                expressiveness=language.expressiveness * rng.lognormal(0, 0.25),
            )
        )
    return tuple(speakers)
