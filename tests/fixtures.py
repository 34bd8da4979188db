"""Small generated corpora in each corpus' real naming scheme, for tests.

``make_corpus(name, root)`` writes a clean layout of short tones (sine plus a
little noise; the pitch depends on the four-class label so that classifiers
have something to learn) and returns the path to hand to
:func:`crossemo.corpora.read_corpus`: the corpus folder, or for ``manifest``
the CSV file.  ``odd_cases=True`` adds the quirks of circulating copies
(song files, AIFF behind ``.wav``, misspelt prefixes, unreadable files, ...).
``real_corpus(name)`` returns a real corpus folder or skips the test.

The fixture keeps its own code tables instead of importing the readers', so
reader tests compare against an independent description of each scheme.
"""

from __future__ import annotations

import itertools
import os
import unicodedata
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile

SAMPLE_RATE = 16_000
DURATION_S = 0.5

LABEL_PITCH_HZ = {"neutral": 140.0, "sad": 110.0, "happy": 260.0, "angry": 320.0, None: 200.0}
"""Base pitch of the generated tone per four-class label (``None``: unlabelled emotions)."""

# The fixture's own description of each naming scheme: code -> label, or (folder, label).
EMODB_CODES = {"W": "angry", "L": None, "E": None, "A": None, "F": "happy", "T": "sad", "N": "neutral"}
RAVDESS_CODES = {
    "01": "neutral",
    "02": None,
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": None,
    "07": None,
    "08": None,
}
SAVEE_CODES = {"a": "angry", "d": None, "f": None, "h": "happy", "n": "neutral", "sa": "sad", "su": None}
CAFE_CODES = {
    "C": ("Colère", "angry"),
    "D": ("Dégoût", None),
    "J": ("Joie", "happy"),
    "N": ("Neutre", "neutral"),
    "P": ("Peur", None),
    "S": ("Surprise", None),
    "T": ("Tristesse", "sad"),
}
URDU_CODES = {"A": ("Angry", "angry"), "H": ("Happy", "happy"), "N": ("Neutral", "neutral"), "S": ("Sad", "sad")}
AESD_CODES = {
    "a": ("anger", "angry"),
    "d": ("disgust", None),
    "f": ("fear", None),
    "h": ("happiness", "happy"),
    "s": ("sadness", "sad"),
}
TESS_CODES = {
    "angry": ("angry", "angry"),
    "disgust": ("disgust", None),
    "fear": ("Fear", None),
    "happy": ("happy", "happy"),
    "neutral": ("neutral", "neutral"),
    "ps": ("pleasant_surprised", None),
    "sad": ("Sad", "sad"),
}
TESS_WORDS = ("back", "bar", "base", "bath", "bean", "beg", "bite", "boat", "bone", "book")
IEMOCAP_CODES = {
    "neu": "neutral",
    "hap": "happy",
    "exc": "happy",
    "sad": "sad",
    "ang": "angry",
    "fru": None,
    "xxx": None,
}
MANIFEST_EMOTIONS = {"anger": "angry", "happy": "happy", "sad": "sad", "neutral": "neutral", "calm": None}


def corpora_dir() -> Path:
    """The shared real corpora: ``$CROSSEMO_CORPORA`` or ``<repo>/../shared/corpora``."""
    default = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"
    return Path(os.environ.get("CROSSEMO_CORPORA", default))


def real_corpus(name: str) -> Path:
    """The real corpus folder ``name`` (e.g. ``"ravdess"``), or skip the calling test."""
    folder = corpora_dir() / name
    if not folder.is_dir():
        pytest.skip(f"real corpus {name!r} not available at {folder} (set CROSSEMO_CORPORA)")
    return folder


def write_tone(
    path: Path,
    *,
    label: str | None = None,
    duration_s: float = DURATION_S,
    sample_rate: int = SAMPLE_RATE,
    audio_format: str | None = None,
    subtype: str | None = None,
) -> Path:
    """Write a short voiced-like tone to ``path`` (parents created) and return it.

    The signal is deterministic per file name and its two parent folders: a sine at the label's pitch
    (plus a per-file offset) with a slow vibrato, a second harmonic and noise.
    ``audio_format="AIFF", subtype="FLOAT"`` writes AIFF-C content whatever
    the file's extension.
    """
    rng = np.random.default_rng(zlib.crc32("/".join(path.parts[-3:]).encode()))
    time = np.arange(int(round(duration_s * sample_rate))) / sample_rate
    pitch = LABEL_PITCH_HZ[label] * (1 + 0.05 * rng.standard_normal())
    phase = 2 * np.pi * np.cumsum(pitch * (1 + 0.03 * np.sin(2 * np.pi * 5 * time))) / sample_rate
    envelope = np.minimum(1.0, np.minimum(time, time[::-1]) / 0.05)
    signal = envelope * (0.3 * np.sin(phase) + 0.1 * np.sin(2 * phase)) + 0.02 * rng.standard_normal(time.size)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, signal.astype(np.float32), sample_rate, format=audio_format, subtype=subtype)
    return path


def write_garbage(path: Path) -> Path:
    """Write a file that has a ``.wav`` name but no audio header."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not audio at all" * 8)
    return path


def _check_per_class(per_class: int, available: int, corpus: str, code: str) -> None:
    if not 1 <= per_class <= available:
        raise ValueError(f"{corpus} has {available} distinct names for emotion {code}, asked for {per_class}")


# Each builder writes a clean layout (``per_class`` files per speaker and emotion)
# plus, with ``odd_cases``, the quirks named in its docstring.


def make_emodb(root: Path, *, per_class: int = 1, odd_cases: bool = False) -> Path:
    """Emo-DB: ``wav/SSTTTEV.wav``; odd: documentation files, an unrelated wav."""
    for speaker in ("03", "08", "09", "10", "11", "12", "13", "14", "15", "16"):
        for letter, label in EMODB_CODES.items():
            for index in range(per_class):
                write_tone(root / "wav" / f"{speaker}a{index + 1:02d}{letter}a.wav", label=label)
    if odd_cases:
        (root / "erklaerung.txt").write_text("Emo-DB Erklärung\n", encoding="utf-8")
        write_tone(root / "wav" / "silence_reference.wav")
    return root


def make_ravdess(root: Path, *, per_class: int = 1, actors: int = 6, odd_cases: bool = False) -> Path:
    """RAVDESS speech: ``Actor_NN/03-01-EE-II-SS-RR-AA.wav``.

    Odd: song files (vocal channel 02), a full-AV modality code, an unreadable
    file, a non-matching name and a README.
    """
    for actor in range(1, actors + 1):
        for code, label in RAVDESS_CODES.items():
            intensities = (1,) if code == "01" else (1, 2)  # neutral has no strong intensity
            variants = list(itertools.product((1, 2), (1, 2), intensities))
            _check_per_class(per_class, len(variants), "RAVDESS", code)
            for repetition, statement, intensity in variants[:per_class]:
                name = f"03-01-{code}-{intensity:02d}-{statement:02d}-{repetition:02d}-{actor:02d}.wav"
                write_tone(root / f"Actor_{actor:02d}" / name, label=label)
    if odd_cases:
        write_tone(root / "Actor_01" / "03-02-03-01-01-01-01.wav", label="happy")
        write_tone(root / "Actor_02" / "03-02-01-01-01-01-02.wav", label="neutral")
        write_tone(root / "Actor_01" / "01-01-05-01-01-01-01.wav", label="angry")
        write_garbage(root / "Actor_02" / f"03-01-04-02-02-02-{actors + 1:02d}.wav")  # no clean name clashes
        write_tone(root / "Actor_01" / "take2.WAV")
        (root / "README.txt").write_text("RAVDESS subset\n", encoding="utf-8")
    return root


def make_savee(root: Path, *, per_class: int = 1, odd_cases: bool = False) -> Path:
    """SAVEE: ``AudioData/<DC|JE|JK|KL>/<code><NN>.wav``; odd: an info file, a stray folder."""
    for speaker in ("DC", "JE", "JK", "KL"):
        for code, label in SAVEE_CODES.items():
            for index in range(per_class):
                write_tone(root / "AudioData" / speaker / f"{code}{index + 1:02d}.wav", label=label)
    if odd_cases:
        (root / "AudioData" / "Info.txt").write_text("SAVEE\n", encoding="utf-8")
        write_tone(root / "AudioData" / "extra" / "a01.wav", label="angry")
    return root


def make_cafe(root: Path, *, per_class: int = 1, odd_cases: bool = False) -> Path:
    """CaFE: ``<Émotion>/<Intensité>/AA-E-I-S.wav``; odd: a folder name in NFD (as unzipped on macOS)."""
    for actor in range(1, 7):
        for letter, (folder, label) in CAFE_CODES.items():
            intensities = (1,) if letter == "N" else (1, 2)  # neutral has no intensity folder
            variants = list(itertools.product(intensities, range(1, 7)))
            _check_per_class(per_class, len(variants), "CaFE", letter)
            for intensity, sentence in variants[:per_class]:
                name = f"{actor:02d}-{letter}-{intensity}-{sentence}.wav"
                strength = () if letter == "N" else ("Faible" if intensity == 1 else "Fort",)
                write_tone(root.joinpath(folder, *strength, name), label=label)
    if odd_cases:
        decomposed = unicodedata.normalize("NFD", "Colère")
        write_tone(root / decomposed / "Fort" / "01-C-2-6.wav", label="angry")
    return root


def make_urdu(root: Path, *, per_class: int = 1, odd_cases: bool = False) -> Path:
    """URDU: ``<Angry|Happy|Neutral|Sad>/SGX_FXX_EYY.wav`` for speakers SM1, SF1, SM2, SF2; odd: none needed."""
    file_number = 0
    for speaker in ("SM1", "SF1", "SM2", "SF2"):
        for letter, (folder, label) in URDU_CODES.items():
            for index in range(per_class):
                file_number += 1
                write_tone(root / folder / f"{speaker}_F{file_number}_{letter}{index + 1:02d}.wav", label=label)
    if odd_cases:
        write_tone(root / "Angry" / "SM1_F99_X01.wav")
    return root


def make_aesd(root: Path, *, per_class: int = 1, odd_cases: bool = False) -> Path:
    """AESD: ``<emotion>/<e><NN> (<actor>).wav`` for actors 1-5; odd: a take suffix ``b``."""
    for actor in range(1, 6):
        for letter, (folder, label) in AESD_CODES.items():
            for index in range(per_class):
                write_tone(root / folder / f"{letter}{index + 1:02d} ({actor}).wav", label=label)
    if odd_cases:
        write_tone(root / "anger" / "a01 (1)b.wav", label="angry")
    return root


def make_tess(root: Path, *, per_class: int = 1, odd_cases: bool = False) -> Path:
    """TESS: ``<OAF|YAF>_<emotion>/<OAF|YAF>_<word>_<emotion>.wav``.

    Odd: AIFF-C content behind a ``.wav`` name and a misspelt ``OA_`` prefix.
    """
    for speaker in ("OAF", "YAF"):
        for emotion, (folder, label) in TESS_CODES.items():
            _check_per_class(per_class, len(TESS_WORDS), "TESS", emotion)
            for word in TESS_WORDS[:per_class]:
                write_tone(root / f"{speaker}_{folder}" / f"{speaker}_{word}_{emotion}.wav", label=label)
    if odd_cases:
        write_tone(root / "OAF_angry" / "OAF_youth_angry.wav", label="angry", audio_format="AIFF", subtype="FLOAT")
        write_tone(root / "OAF_neutral" / "OA_bite_neutral.wav", label="neutral")
    return root


def make_iemocap(root: Path, *, per_class: int = 1, odd_cases: bool = False) -> Path:
    """IEMOCAP: five sessions, one improvised and one scripted dialog each.

    Each dialog has ``per_class`` utterances per speaker and code (neu, hap,
    exc, sad, ang, fru, xxx), listed in ``dialog/EmoEvaluation/<dialog>.txt``
    with the annotators' detail lines and a ``Categorical`` subfolder in
    another format.  Odd: an utterance missing from its evaluation file, and
    the whole-dialog recording under ``dialog/wav``.
    """
    for session in range(1, 6):
        session_dir = root / f"Session{session}"
        for dialog in (f"Ses{session:02d}F_impro01", f"Ses{session:02d}M_script01_1"):
            lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
            start = 1.0
            for speaker in ("F", "M"):
                for number, (code, label) in enumerate(
                    (code, label) for code, label in IEMOCAP_CODES.items() for _ in range(per_class)
                ):
                    utterance = f"{dialog}_{speaker}{number:03d}"
                    write_tone(session_dir / "sentences" / "wav" / dialog / f"{utterance}.wav", label=label)
                    lines += [
                        f"[{start:.4f} - {start + DURATION_S:.4f}]\t{utterance}\t{code}\t[2.5000, 3.0000, 2.5000]",
                        f"C-E2:\t{code.title()};\t()",
                        "A-E3:\tval 3; act 2; dom  3;\t()",
                        "",
                    ]
                    start += 1.0
            evaluation = session_dir / "dialog" / "EmoEvaluation"
            evaluation.mkdir(parents=True, exist_ok=True)
            (evaluation / f"{dialog}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
            (evaluation / "Categorical").mkdir(exist_ok=True)
            (evaluation / "Categorical" / f"{dialog}_e1_cat.txt").write_text(
                f"{dialog}_F000 :Neutral state; ()\n", encoding="utf-8"
            )
            if odd_cases and session == 1:
                write_tone(session_dir / "dialog" / "wav" / f"{dialog}.wav")
                write_tone(session_dir / "sentences" / "wav" / dialog / f"{dialog}_F900.wav")
    return root


def make_manifest(root: Path, *, per_class: int = 1, odd_cases: bool = False) -> Path:
    """A CSV manifest ``root/manifest.csv`` over ``root/audio/<speaker>/<n>.wav``; returns the CSV.

    Three speakers (one female, one male, one without gender) with emotions
    anger, happy, sad, neutral, calm.  Odd: a listed file that does not exist.
    """
    lines = ["path,emotion,speaker,gender,language"]
    for speaker, gender in (("s1", "female"), ("s2", "male"), ("s3", "")):
        for emotion, label in MANIFEST_EMOTIONS.items():
            for index in range(per_class):
                relative = f"audio/{speaker}/{emotion}_{index + 1:02d}.wav"
                write_tone(root / relative, label=label)
                lines.append(f"{relative},{emotion},{speaker},{gender},en")
    if odd_cases:
        lines.append("audio/s1/missing.wav,anger,s1,female,en")
    csv_path = root / "manifest.csv"
    csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return csv_path


BUILDERS: dict[str, Callable[..., Path]] = {
    "emodb": make_emodb,
    "ravdess": make_ravdess,
    "savee": make_savee,
    "cafe": make_cafe,
    "urdu": make_urdu,
    "aesd": make_aesd,
    "tess": make_tess,
    "iemocap": make_iemocap,
    "manifest": make_manifest,
}


def make_corpus(name: str, root: Path, *, per_class: int = 1, odd_cases: bool = False) -> Path:
    """Write a generated corpus ``name`` under ``root``; return the path its reader takes."""
    return BUILDERS[name](Path(root), per_class=per_class, odd_cases=odd_cases)
