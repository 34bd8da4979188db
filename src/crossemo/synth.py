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
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from types import MappingProxyType

import numpy as np
import scipy.fft
import soundfile
from scipy import signal as sps

from crossemo.corpora.base import LABELS
from crossemo.errors import ConfigError
from crossemo.fileio import write_atomic_text

GENERATOR_VERSION = 1
"""Bumped whenever the generator's output changes, so stale corpora are regenerated."""

MANIFEST_NAME = "manifest.csv"
PARAMETERS_NAME = "synth.json"
MANIFEST_COLUMNS: tuple[str, ...] = ("path", "emotion", "speaker", "gender", "language", "corpus")

MIN_SAMPLE_RATE = 8000
DURATION_RANGE_S: tuple[float, float] = (1.5, 3.5)
"""Length of an utterance, drawn uniformly (a lengthened final syllable may overrun it slightly)."""

BLOCK_S = 0.01
"""Time step at which the formant filters are updated."""

SCHWA: tuple[float, float, float] = (500.0, 1500.0, 2500.0)
"""Formants of the reduced vowel used in unstressed syllables."""

UPPER_FORMANTS: tuple[float, float] = (3500.0, 4500.0)
"""F4 and F5 of the reference (adult male) vocal tract."""

FORMANT_BANDWIDTHS: tuple[float, ...] = (70.0, 90.0, 140.0, 220.0, 300.0)

REFERENCE_LEVEL_DBFS = -32.0
"""Active speech level of a neutral utterance by an average speaker, before the channel."""


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


@dataclass(frozen=True)
class Studio:
    """What stays fixed across one language's recordings at one sample rate."""

    sample_rate: int
    room: np.ndarray | None
    """Impulse response of the recording room (unit energy), ``None`` for a dry recording."""
    highpass: np.ndarray
    lowpass: np.ndarray | None
    frication: Mapping[str, np.ndarray]
    """Consonant symbol -> band-pass (second-order sections) shaping its frication or burst noise."""


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


def synthesize(
    out: str | os.PathLike[str],
    *,
    languages: Sequence[str] = DEFAULT_LANGUAGES,
    speakers_per_language: int = 6,
    utterances_per_emotion_per_speaker: int = 8,
    emotions: Sequence[str] = LABELS,
    sample_rate: int = 16000,
    seed: int = 0,
) -> Path:
    """Write the synthetic corpus to ``out`` and return the path of its ``manifest.csv``.

    Layout: ``out/<language>/<speaker>/<speaker>_<emotion>_<NN>.wav`` (16-bit PCM),
    ``out/manifest.csv`` (columns :data:`MANIFEST_COLUMNS`, paths relative to
    it), one ``out/<language>/manifest.csv`` per language (paths relative to
    that folder; corpus ``synth_<language>``), and ``out/synth.json`` holding
    the parameters.  Speakers alternate female, male.

    The same parameters give the same bytes.  If ``out`` already holds a
    complete corpus made with the same parameters nothing is written.  The
    corpus is built in a temporary sibling folder and moved into place when
    complete, replacing an earlier synthetic corpus there; a folder that is not
    a synthetic corpus is never overwritten (:class:`ConfigError`).
    """
    out = Path(out)
    parameters = _checked_parameters(
        languages=languages,
        speakers_per_language=speakers_per_language,
        utterances_per_emotion_per_speaker=utterances_per_emotion_per_speaker,
        emotions=emotions,
        sample_rate=sample_rate,
        seed=seed,
    )
    manifest = out / MANIFEST_NAME
    if _is_complete(out, parameters):
        return manifest
    if out.exists() and not out.is_dir():
        raise ConfigError(f"cannot write the synthetic corpus to {out}: it is a file")
    if out.is_dir() and any(out.iterdir()) and not (out / PARAMETERS_NAME).is_file():
        raise ConfigError(
            f"{out} is not empty and holds no synthetic corpus ({PARAMETERS_NAME} missing): "
            "choose a new or empty folder"
        )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # a file where a folder should be, no permission
        raise ConfigError(
            f"cannot write the synthetic corpus to {out} ({error.strerror}: {error.filename})"
        ) from None
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        os.chmod(staging, 0o755)  # mkdtemp's private 0o700 would carry over to the corpus
        rows = _write_audio(staging, parameters)
        _write_manifests(staging, rows, parameters["languages"])
        _write_json(staging / PARAMETERS_NAME, _parameters_record(parameters, len(rows)))
        if _is_complete(out, parameters):  # a concurrent run finished first
            shutil.rmtree(staging)
        else:
            _move_into_place(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _is_complete(out: str | os.PathLike[str], parameters: Mapping[str, object]) -> bool:
    """Whether ``out`` holds a complete synthetic corpus made with ``parameters``.

    ``parameters`` as :func:`synthesize` records them (languages and emotions as lists).
    """
    out = Path(out)
    try:
        record = json.loads((out / PARAMETERS_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if record != _parameters_record(parameters, record.get("files")):
        return False
    try:
        with (out / MANIFEST_NAME).open(newline="", encoding="utf-8") as handle:
            paths = [row["path"] for row in csv.DictReader(handle)]
    except (OSError, KeyError, csv.Error):
        return False
    return len(paths) == record["files"] and all((out / path).is_file() for path in paths)


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


# --- corpus writing ----------------------------------------------------------------


def _checked_parameters(
    *,
    languages: Sequence[str],
    speakers_per_language: int,
    utterances_per_emotion_per_speaker: int,
    emotions: Sequence[str],
    sample_rate: int,
    seed: int,
) -> dict[str, object]:
    """The parameters as a JSON-ready dict, or a :class:`ConfigError` naming the bad one."""
    if isinstance(languages, str) or isinstance(emotions, str):
        raise ConfigError("languages and emotions must be sequences of names, not one string")
    languages, emotions = list(languages), list(emotions)
    unknown = [code for code in languages if code not in LANGUAGES]
    if not languages or unknown:
        raise ConfigError(
            f"unknown synthetic languages {unknown or '(none given)'}: choose from {', '.join(LANGUAGES)}"
        )
    unknown = [name for name in emotions if name not in EMOTIONS]
    if not emotions or unknown:
        raise ConfigError(f"unknown emotions {unknown or '(none given)'}: choose from {', '.join(EMOTIONS)}")
    for name, values in (("languages", languages), ("emotions", emotions)):
        if len(set(values)) != len(values):
            raise ConfigError(f"{name} repeat an entry: {values}")
    for name, value, minimum in (
        ("speakers_per_language", speakers_per_language, 1),
        ("utterances_per_emotion_per_speaker", utterances_per_emotion_per_speaker, 1),
        ("sample_rate", sample_rate, MIN_SAMPLE_RATE),
        ("seed", seed, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return {
        "languages": languages,
        "speakers_per_language": int(speakers_per_language),
        "utterances_per_emotion_per_speaker": int(utterances_per_emotion_per_speaker),
        "emotions": emotions,
        "sample_rate": int(sample_rate),
        "seed": int(seed),
    }


def _parameters_record(parameters: Mapping[str, object], files: object) -> dict[str, object]:
    """What ``synth.json`` holds: generator identity, parameters, number of files."""
    return {
        "generator": "crossemo.synth",
        "version": GENERATOR_VERSION,
        "parameters": dict(parameters),
        "files": files,
    }


def _write_audio(root: Path, parameters: Mapping[str, object]) -> list[dict[str, str]]:
    """Render and write every utterance under ``root``; return the manifest rows."""
    seed = int(parameters["seed"])
    sample_rate = int(parameters["sample_rate"])
    rows = []
    for code in parameters["languages"]:
        language = LANGUAGES[code]
        studio = make_studio(language, sample_rate=sample_rate, seed=seed)
        for speaker in make_speakers(language, int(parameters["speakers_per_language"]), seed=seed):
            folder = root / code / speaker.speaker_id
            folder.mkdir(parents=True)
            for emotion in parameters["emotions"]:
                for index in range(int(parameters["utterances_per_emotion_per_speaker"])):
                    rng = _rng(seed, code, speaker.speaker_id, emotion, index)
                    audio = render_utterance(language, speaker, emotion, rng=rng, studio=studio)
                    name = f"{speaker.speaker_id}_{emotion}_{index + 1:02d}.wav"
                    soundfile.write(folder / name, audio, sample_rate, subtype="PCM_16", format="WAV")
                    rows.append(
                        {
                            "path": f"{code}/{speaker.speaker_id}/{name}",
                            "emotion": emotion,
                            "speaker": speaker.speaker_id,
                            "gender": speaker.gender,
                            "language": code,
                            "corpus": language.corpus,
                        }
                    )
    return rows


def _write_manifests(root: Path, rows: list[dict[str, str]], languages: Sequence[str]) -> None:
    """One manifest for the whole corpus and one per language (paths relative to each)."""
    _write_csv(root / MANIFEST_NAME, rows)
    for code in languages:
        prefix = f"{code}/"
        _write_csv(
            root / code / MANIFEST_NAME,
            [{**row, "path": row["path"][len(prefix) :]} for row in rows if row["language"] == code],
        )


def _write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic_text(path, text.getvalue())


def _write_json(path: Path, record: Mapping[str, object]) -> None:
    write_atomic_text(path, json.dumps(record, indent=2, ensure_ascii=False) + "\n")


def _move_into_place(staging: Path, out: Path) -> None:
    """Rename ``staging`` to ``out``, replacing an earlier synthetic corpus or empty folder there."""
    if out.is_dir() and any(out.iterdir()):
        retired = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
        os.replace(out, retired / out.name)
        os.replace(staging, out)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(staging, out)  # rename(2) replaces an empty directory


def _rng(seed: int, *keys: object) -> np.random.Generator:
    """A generator seeded from ``seed`` and stable hashes of ``keys`` (names or numbers)."""
    entropy = [seed] + [zlib.crc32(str(key).encode("utf-8")) for key in keys]
    return np.random.default_rng(np.random.SeedSequence(entropy))


# --- one utterance -----------------------------------------------------------------


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


def _render_segments(
    segments: list[_Segment],
    speaker: Speaker,
    expression: EmotionProfile,
    *,
    studio: Studio,
    rng: np.random.Generator,
) -> np.ndarray:
    """The dry voice for a timeline, normalized so that vowels have unit RMS before frication."""
    sample_rate = studio.sample_rate
    durations = np.array([segment.duration_s for segment in segments])
    edges = np.round(np.concatenate([[0.0], np.cumsum(durations)]) * sample_rate).astype(int)
    lengths = np.diff(edges)
    n = int(edges[-1])
    starts_s = edges[:-1] / sample_rate
    kinds = [segment.kind for segment in segments]

    def track(values: Sequence[float]) -> np.ndarray:
        return np.repeat(np.asarray(values, dtype=float), lengths)

    effort = speaker.effort + expression.effort + rng.normal(0, 0.15)
    breathiness = speaker.breathiness * expression.breathiness * rng.lognormal(0, 0.25)

    # Excitation: glottal pulses under a smoothed voicing envelope, plus aspiration noise.
    voicing = _smooth(track([segment.voicing for segment in segments]), expression.onset_ms / 1000, sample_rate)
    f0 = _f0_track(segments, starts_s, speaker, expression, n=n, sample_rate=sample_rate, rng=rng)
    flow, flow_derivative = _glottal_source(
        f0,
        open_quotient=float(np.clip(speaker.open_quotient - 0.12 * effort, 0.3, 0.85)),
        closing_fraction=float(np.clip(0.3 - 0.1 * effort, 0.1, 0.5)),
        jitter=speaker.jitter * expression.jitter,
        shimmer=speaker.shimmer * expression.shimmer,
        creak=speaker.creak + expression.creak,
        sample_rate=sample_rate,
        rng=rng,
    )
    voiced = voicing > 0.5
    flow_derivative /= np.sqrt(np.mean(flow_derivative[voiced] ** 2)) if voiced.any() else 1.0
    aspiration = _smooth(track([0.35 if kind == "aspiration" else 0.0 for kind in kinds]), 0.005, sample_rate)
    noise = rng.standard_normal(n)
    excitation = voicing * flow_derivative + noise * (aspiration + breathiness * voicing * (0.4 + 0.6 * flow))

    # Vocal tract: formant glides between segment targets, updated every block.
    voice = _vocal_tract(
        excitation,
        _formant_tracks(segments, starts_s, speaker, effort, n=n, sample_rate=sample_rate),
        bandwidth_scale=1 + 2.0 * breathiness,
        sample_rate=sample_rate,
    )
    vowel_samples = track([kind == "vowel" for kind in kinds]) > 0.5
    voice /= max(np.sqrt(np.mean(voice[vowel_samples] ** 2)), 1e-12)

    # Frication and bursts at the mouth, louder with vocal effort.
    frication_gain = 10 ** (0.2 * effort)
    for segment, start, length in zip(segments, edges[:-1], lengths, strict=True):
        if segment.kind in ("fricative", "burst") and length > 0:
            noise = sps.sosfilt(studio.frication[segment.symbol], rng.standard_normal(length))
            if segment.kind == "burst":  # a transient: twice as strong, decaying
                envelope = 2.0 * np.exp(-np.arange(length) / max(length / 3, 1))
            else:
                envelope = _ramps(length, int(0.01 * sample_rate))
            gain = frication_gain * CONSONANTS[segment.symbol].noise_gain
            voice[start : start + length] += gain * envelope * noise

    # Spectral tilt: lax voices lose high frequencies, pressed ones keep them.
    pole = float(np.clip(0.5 - 0.3 * effort, 0.0, 0.9))
    return sps.lfilter([1 - pole], [1, -pole], voice)


def _f0_track(
    segments: list[_Segment],
    starts_s: np.ndarray,
    speaker: Speaker,
    expression: EmotionProfile,
    *,
    n: int,
    sample_rate: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """F0 in Hz per sample: vowel pitch targets joined linearly, smoothed, with slow drift."""
    times, pitches = [], []
    for segment, start in zip(segments, starts_s, strict=True):
        if segment.f0_st is not None:
            times += [start, start + segment.duration_s]
            pitches += list(segment.f0_st)
    time = np.arange(n) / sample_rate
    semitones = np.interp(time, times, pitches)
    # Slow random pitch drift: white noise at 20 Hz, interpolated.
    knots = int(time[-1] * 20) + 2
    drift = np.interp(time, np.arange(knots) / 20, rng.normal(0, 0.25, knots))
    semitones = _smooth(semitones, 0.03, sample_rate) + drift
    level_st = expression.f0_shift_st + rng.normal(0, 1.0)
    return speaker.f0_hz * 2 ** ((semitones + level_st) / 12)


def _glottal_source(
    f0: np.ndarray,
    *,
    open_quotient: float,
    closing_fraction: float,
    jitter: float,
    shimmer: float,
    creak: float,
    sample_rate: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Rosenberg glottal flow (peak 1) and its derivative for an F0 track.

    Jitter perturbs each cycle's period, shimmer its amplitude (log-normal),
    creak alternates the amplitude of successive cycles.  The opening phase
    takes ``(1 - closing_fraction)`` of the open quotient, the closing phase
    the rest: a short closing phase means an abrupt closure, a flat spectrum.
    """
    nominal_phase = np.cumsum(f0) / sample_rate
    cycles = int(nominal_phase[-1]) + 2
    period_factor = np.clip(1 + jitter * rng.standard_normal(cycles), 0.7, 1.3)
    phase = np.cumsum(f0 / period_factor[nominal_phase.astype(int)]) / sample_rate
    cycle = phase.astype(int)
    within = phase - cycle
    opening = open_quotient * (1 - closing_fraction)
    closing = open_quotient * closing_fraction
    flow = np.where(
        within < opening,
        0.5 * (1 - np.cos(np.pi * within / opening)),
        np.where(within < open_quotient, np.cos(0.5 * np.pi * (within - opening) / closing), 0.0),
    )
    count = int(cycle[-1]) + 1
    amplitude = np.exp(shimmer * rng.standard_normal(count)) * (1 + creak * (-1.0) ** np.arange(count))
    flow *= amplitude[cycle]
    return flow, np.diff(flow, prepend=flow[0])


def _formant_tracks(
    segments: list[_Segment],
    starts_s: np.ndarray,
    speaker: Speaker,
    effort: float,
    *,
    n: int,
    sample_rate: int,
) -> np.ndarray:
    """Formant frequencies (blocks x 5) at block centres: targets held mid-segment, linear glides."""
    times, targets = [], []
    for segment, start in zip(segments, starts_s, strict=True):
        if segment.formants is not None:
            hold = (0.25, 0.75) if segment.kind == "vowel" else (0.5,)
            times += [start + fraction * segment.duration_s for fraction in hold]
            targets += [segment.formants] * len(hold)
    block = max(int(BLOCK_S * sample_rate), 1)
    centres = (np.arange(0, n, block) + block / 2) / sample_rate
    targets_array = np.asarray(targets)
    lower = np.stack([np.interp(centres, times, targets_array[:, k]) for k in range(3)], axis=1)
    lower[:, 0] *= 1 + 0.06 * effort  # wider jaw opening with effort raises F1
    upper = np.broadcast_to(UPPER_FORMANTS, (centres.size, 2))
    return np.concatenate([lower, upper], axis=1) * speaker.tract_scale


def _vocal_tract(
    excitation: np.ndarray, formants: np.ndarray, *, bandwidth_scale: float, sample_rate: int
) -> np.ndarray:
    """Filter ``excitation`` through cascaded unity-gain resonators whose formants change per block.

    Each block of excitation (``formants`` has one row per block) is convolved
    with the impulse response of its own cascade, computed in the frequency
    domain, and the ringing tails are overlap-added: a linear time-varying
    filter without a Python loop over blocks.  The FFT spans six blocks, long
    enough for the narrowest formant's ringing to decay (> 60 dB).
    """
    block = max(int(BLOCK_S * sample_rate), 1)
    span = 6 * block
    n_blocks = formants.shape[0]
    blocks = np.zeros((n_blocks, block))
    blocks.reshape(-1)[: excitation.size] = excitation
    bandwidths = np.asarray(FORMANT_BANDWIDTHS) * np.array(
        [bandwidth_scale, 1 + 0.3 * (bandwidth_scale - 1), 1.0, 1.0, 1.0]
    )
    radius = np.exp(-np.pi * bandwidths / sample_rate)
    feedback_1 = 2 * radius * np.cos(2 * np.pi * formants / sample_rate)  # blocks x formants
    feedback_2 = np.broadcast_to(-(radius**2), formants.shape)
    audible = formants < 0.45 * sample_rate  # formants near Nyquist are left out rather than aliased
    feedback_1, feedback_2 = np.where(audible, feedback_1, 0.0), np.where(audible, feedback_2, 0.0)
    # The cascade is gain / A(z), A the product of the sections' denominators 1 - f1 z^-1 - f2 z^-2.
    denominator = np.zeros((n_blocks, 2 * formants.shape[1] + 1))
    denominator[:, 0] = 1.0
    for k in range(formants.shape[1]):
        shifted_1 = np.roll(denominator, 1, axis=1)
        shifted_2 = np.roll(denominator, 2, axis=1)
        shifted_1[:, 0] = 0.0
        shifted_2[:, :2] = 0.0
        denominator = denominator - feedback_1[:, k, None] * shifted_1 - feedback_2[:, k, None] * shifted_2
    gain = np.prod(1 - feedback_1 - feedback_2, axis=1)
    response = gain[:, None] / scipy.fft.rfft(denominator, n=span, axis=1)
    ringing = scipy.fft.irfft(scipy.fft.rfft(blocks, n=span, axis=1) * response, n=span, axis=1)
    output = np.zeros((n_blocks + 5) * block)
    for offset in range(6):  # block i's ringing lands on output blocks i .. i + 5
        tail = ringing[:, offset * block : (offset + 1) * block]
        output[offset * block : (offset + n_blocks) * block] += tail.reshape(-1)
    return output[: excitation.size]


def _band_pass(centre_hz: float, bandwidth_hz: float, sample_rate: int) -> np.ndarray:
    """Second-order Butterworth band-pass around ``centre_hz``, kept below Nyquist."""
    nyquist = sample_rate / 2
    low = max(centre_hz - bandwidth_hz / 2, 100.0)
    high = min(centre_hz + bandwidth_hz / 2, 0.95 * nyquist)
    if low >= high:
        low = 0.5 * high
    return sps.butter(2, [low, high], btype="bandpass", fs=sample_rate, output="sos")


def _ramps(length: int, ramp: int) -> np.ndarray:
    """An envelope of ``length`` samples rising and falling over ``ramp`` samples (raised cosine)."""
    envelope = np.ones(length)
    ramp = min(ramp, length // 2)
    if ramp > 0:
        rise = 0.5 * (1 - np.cos(np.pi * np.arange(ramp) / ramp))
        envelope[:ramp] = rise
        envelope[length - ramp :] = rise[::-1]
    return envelope


def _smooth(values: np.ndarray, time_constant_s: float, sample_rate: int) -> np.ndarray:
    """Zero-phase one-pole smoothing (forward then backward) with the given time constant."""
    pole = np.exp(-1 / max(time_constant_s * sample_rate, 1e-6))
    forward = sps.lfilter([1 - pole], [1, -pole], values)
    return sps.lfilter([1 - pole], [1, -pole], forward[::-1])[::-1]


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
