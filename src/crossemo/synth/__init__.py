"""Built-in synthetic multilingual emotional speech corpus.

A small source-filter synthesizer, written from scratch with numpy and scipy,
speaks random syllable sequences in a few invented "languages" with four
emotions, so the whole study can run on a machine without any corpus.

The voice
    A glottal flow pulse train (Rosenberg shape: raised-cosine opening, quarter
    cosine closing) driven by an F0 contour, with per-cycle jitter (period) and
    shimmer (amplitude) and optional period doubling (creak); its derivative
    (glottal source plus lip radiation) excites a cascade of five second-order
    formant resonators whose frequencies glide between segment targets.
    Aspiration noise (breathiness, /h/, stop aspiration) enters at the glottis
    and is shaped by the same tract; frication and stop bursts are band-pass
    noise added at the mouth.  A one-pole low-pass sets the spectral tilt.

Emotion
    Moves the correlates reported by Banse & Scherer (1996), Scherer (2003) and
    Juslin & Laukka (2003), scaled by a random per-utterance intensity: angry
    and happy are high arousal (higher and wider F0, faster, louder, flatter
    tilt, shorter pauses), sad low arousal (low narrow F0, slow, soft, steep
    tilt, breathy, more jitter), neutral in between.  Happy has the highest and
    most variable F0 with rising accents and a laxer voice; angry the highest
    level, flattest tilt, abrupt onsets, falling accents and a rough voice
    (shimmer, creak).

Languages
    Each :class:`LanguageProfile` has its own vowel inventory, consonants and
    phonotactics, rhythm (syllable-, stress- or mora-timed), speaker pool
    (F0 level, voice quality), degree of emotional expressiveness and recording
    channel (gain, band limits, room reverberation, noise floor), so the eGeMAPS
    features of one language are shifted against another's.

Every utterance draws its own random generator from ``(seed, language,
speaker, emotion, index)``, so a corpus is byte-identical for a given seed and
one utterance does not depend on which others are generated.

Modules: :mod:`~crossemo.synth.languages` (consonants, languages, speaker
pools), :mod:`~crossemo.synth.emotions` (emotion profiles and blending),
:mod:`~crossemo.synth.timeline` (syllables, pauses and pitch targets of one
utterance), :mod:`~crossemo.synth.voice` (the source-filter voice),
:mod:`~crossemo.synth.utterance` (one utterance through the recording
channel), :mod:`~crossemo.synth.corpus` (writing the corpus, manifests,
idempotence), :mod:`~crossemo.synth.seeding` (per-utterance generators).
"""

from __future__ import annotations

from crossemo.synth.corpus import (
    GENERATOR_VERSION,
    MANIFEST_COLUMNS,
    MANIFEST_NAME,
    MIN_SAMPLE_RATE,
    PARAMETERS_NAME,
    synthesize,
)
from crossemo.synth.emotions import EMOTIONS, INTENSITY_RANGE, MULTIPLICATIVE, EmotionProfile
from crossemo.synth.languages import (
    CONSONANTS,
    DEFAULT_LANGUAGES,
    LANGUAGES,
    SCHWA,
    Consonant,
    LanguageProfile,
    Speaker,
    make_speakers,
)
from crossemo.synth.timeline import _plan_segments as _plan_segments
from crossemo.synth.timeline import _Segment as _Segment
from crossemo.synth.utterance import DURATION_RANGE_S, REFERENCE_LEVEL_DBFS, make_studio, render_utterance
from crossemo.synth.voice import BLOCK_S, FORMANT_BANDWIDTHS, UPPER_FORMANTS, Studio

__all__ = [
    "BLOCK_S",
    "CONSONANTS",
    "DEFAULT_LANGUAGES",
    "DURATION_RANGE_S",
    "EMOTIONS",
    "FORMANT_BANDWIDTHS",
    "GENERATOR_VERSION",
    "INTENSITY_RANGE",
    "LANGUAGES",
    "MANIFEST_COLUMNS",
    "MANIFEST_NAME",
    "MIN_SAMPLE_RATE",
    "MULTIPLICATIVE",
    "PARAMETERS_NAME",
    "REFERENCE_LEVEL_DBFS",
    "SCHWA",
    "UPPER_FORMANTS",
    "Consonant",
    "EmotionProfile",
    "LanguageProfile",
    "Speaker",
    "Studio",
    "make_speakers",
    "make_studio",
    "render_utterance",
    "synthesize",
]
