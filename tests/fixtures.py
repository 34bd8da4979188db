"""Small generated corpora in each corpus' real naming scheme, for tests.

``make_corpus(name, root)`` writes a clean layout of short tones (sine plus a
little noise; the pitch depends on the four-class label so that classifiers
have something to learn) and returns the path to hand to
:func:`crossemo.corpora.read_corpus`: the corpus folder, or for ``manifest``
the CSV file.  ``odd_cases=True`` adds the quirks of circulating copies
(song files, AIFF behind ``.wav``, misspelt prefixes, unreadable files, garbled
folder names, wrapping and split folders, leading spaces in side tables, ...).
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
RAVDESS_CODES = {"01": "neutral", "02": None, "03": "happy", "04": "sad", "05": "angry", "06": None, "07": None, "08": None}
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
IEMOCAP_CODES = {"neu": "neutral", "hap": "happy", "exc": "happy", "sad": "sad", "ang": "angry", "fru": None, "xxx": None}
MANIFEST_EMOTIONS = {"anger": "angry", "happy": "happy", "sad": "sad", "neutral": "neutral", "calm": None}
EMOVO_CODES = {"dis": None, "gio": "happy", "neu": "neutral", "pau": None, "rab": "angry", "sor": None, "tri": "sad"}
EMOVO_SENTENCES = ("b1", "b2", "b3", "d1", "d2", "l1", "l2", "l3", "l4", "n1", "n2", "n3", "n4", "n5")
CASIA_SPEAKERS = {"liuchanhg": "female", "wangzhe": "male", "zhaoquanyin": "female", "ZhaoZuoxiang": "male"}
CASIA_CODES = {"angry": "angry", "fear": None, "happy": "happy", "neutral": "neutral", "sad": "sad", "surprise": None}
NEMO_CODES = {"anger": "angry", "fear": None, "happiness": "happy", "neutral": "neutral", "sadness": "sad", "surprised": None}
NEMO_SPEAKERS = {"WR0": "male", "SB0": "female", "KL0": "female", "MJ0": "male"}
CREMAD_CODES = {"ANG": "angry", "DIS": None, "FEA": None, "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
CREMAD_SENTENCES = ("TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI")  # XX level; IEO has levels
CREMAD_ACTORS = {"1001": "Male", "1002": "Female", "1090": "Female", "1091": "Male"}
SHEMO_CODES = {"A": "angry", "H": "happy", "N": "neutral", "S": "sad", "W": None, "F": None}
SUBESCO_CODES = {
    "ANGRY": "angry", "DISGUST": None, "FEAR": None, "HAPPY": "happy", "NEUTRAL": "neutral", "SAD": "sad", "SURPRISE": None,
}
SUBESCO_SPEAKERS = ("F_01_MONIKA", "F_02_NIPA", "M_01_RAFI", "M_02_SAKIB")
ESD_CODES = {"Neutral": ("neutral", 1), "Angry": ("angry", 351), "Happy": ("happy", 701), "Sad": ("sad", 1051),
             "Surprise": (None, 1401)}
"""ESD emotion folder -> (label, first utterance number of that emotion)."""
ESD_SPEAKERS = {"0001": "zh", "0010": "zh", "0011": "en", "0020": "en"}
SHORT_S = 0.3
"""Duration of the newer corpora's files (still above the 0.25 s eGeMAPS needs)."""


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
    channels: int = 1,
) -> Path:
    """Write a short voiced-like tone to ``path`` (parents created) and return it.

    The signal is deterministic per file name and its two parent folders: a sine at the label's pitch
    (plus a per-file offset) with a slow vibrato, a second harmonic and noise.
    ``audio_format="AIFF", subtype="FLOAT"`` writes AIFF-C content whatever
    the file's extension; ``channels=2`` writes the tone on both channels, the second one quieter.
    """
    rng = np.random.default_rng(zlib.crc32(os.fsencode("/".join(path.parts[-3:]))))
    time = np.arange(int(round(duration_s * sample_rate))) / sample_rate
    pitch = LABEL_PITCH_HZ[label] * (1 + 0.05 * rng.standard_normal())
    phase = 2 * np.pi * np.cumsum(pitch * (1 + 0.03 * np.sin(2 * np.pi * 5 * time))) / sample_rate
    envelope = np.minimum(1.0, np.minimum(time, time[::-1]) / 0.05)
    signal = envelope * (0.3 * np.sin(phase) + 0.1 * np.sin(2 * phase)) + 0.02 * rng.standard_normal(time.size)
    if channels > 1:
        signal = np.stack([signal * 0.8**channel for channel in range(channels)], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    # as bytes, so that names with undecodable bytes (garbled unzips) can be written too
    soundfile.write(os.fsencode(path), signal.astype(np.float32), sample_rate, format=audio_format, subtype=subtype)
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


def make_cafe(root: Path, *, per_class: int = 1, odd_cases: bool = False, edition: str = "48k") -> Path:
    """CaFE, 12 actors: ``<Émotion>/<Intensité>/AA-E-I-S.wav``, neutral ``Neutre/AA-N-S.wav``.

    ``edition="192k"`` writes the other edition: 24-bit 192 kHz ``.aiff`` files, actors 01-06 in
    ``CaFE_192k_1/`` and 07-12 in ``CaFE_192k_2/`` (how the two parts split is this fixture's choice).
    Odd: the anger folder garbled for some actors (``ColŠre`` as some unzip tools write it, the raw
    byte 0x8A, the NFD form of macOS), and in the 48k edition a 192k copy of one utterance.
    """
    if edition not in ("48k", "192k"):
        raise ValueError(f"CaFE editions are 48k and 192k, not {edition!r}")
    for actor in range(1, 13):
        for letter, (folder, label) in CAFE_CODES.items():
            # neutral has neither intensity folder nor intensity field
            intensities = (None,) if letter == "N" else (1, 2)
            variants = list(itertools.product(intensities, range(1, 7)))
            _check_per_class(per_class, len(variants), "CaFE", letter)
            if odd_cases and letter == "C":
                folder = ("ColŠre", os.fsdecode(b"Col\x8are"), unicodedata.normalize("NFD", folder))[actor % 3]
            for intensity, sentence in variants[:per_class]:
                fields = (f"{actor:02d}", letter, *([] if intensity is None else [str(intensity)]), str(sentence))
                stem = "-".join(fields)
                strength = () if intensity is None else ("Faible" if intensity == 1 else "Fort",)
                if edition == "192k":
                    part = f"CaFE_192k_{1 if actor <= 6 else 2}"
                    write_tone(root.joinpath(part, folder, *strength, stem + ".aiff"), label=label,
                               duration_s=0.1, sample_rate=192_000, audio_format="AIFF", subtype="PCM_24")
                else:
                    write_tone(root.joinpath(folder, *strength, stem + ".wav"), label=label, duration_s=SHORT_S,
                               sample_rate=48_000)
    if odd_cases and edition == "48k":
        write_tone(root / "CaFE_192k_1" / "Joie" / "Faible" / "01-J-1-1.aiff", label="happy", duration_s=0.1,
                   sample_rate=192_000, audio_format="AIFF", subtype="PCM_24")
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
    """AESD: ``<emotion>/<e><NN> (<actor>).wav`` for actors 1-5 (v1.0).

    Odd, as in later releases: a sixth actor whose numbers are zero-padded (``a01 (06).wav``) and
    second takes with a letter after the parenthesis (``a01 (5)b.wav``, ``s01 (1)b.wav``).
    """
    for actor in range(1, 7 if odd_cases else 6):
        number = f"{actor:02d}" if actor == 6 else str(actor)
        for letter, (folder, label) in AESD_CODES.items():
            for index in range(per_class):
                write_tone(root / folder / f"{letter}{index + 1:02d} ({number}).wav", label=label)
    if odd_cases:
        write_tone(root / "anger" / "a01 (5)b.wav", label="angry")
        write_tone(root / "sadness" / "s01 (1)b.wav", label="sad")
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


def make_emovo(root: Path, *, per_class: int = 1, odd_cases: bool = False) -> Path:
    """EMOVO: ``EMOVO/<f1..m3>/<emo>-<speaker>-<sentence>.wav``, 48 kHz stereo as distributed.

    Odd: a file moved out of its speaker folder (still read), an unknown emotion code, a note.
    """
    for speaker in ("f1", "f2", "f3", "m1", "m2", "m3"):
        for code, label in EMOVO_CODES.items():
            _check_per_class(per_class, len(EMOVO_SENTENCES), "EMOVO", code)
            for sentence in EMOVO_SENTENCES[:per_class]:
                write_tone(root / "EMOVO" / speaker / f"{code}-{speaker}-{sentence}.wav", label=label,
                           duration_s=SHORT_S, sample_rate=48_000, channels=2)
    if odd_cases:
        write_tone(root / "EMOVO" / "extra" / "tri-m2-n5.wav", label="sad", duration_s=SHORT_S, sample_rate=48_000,
                   channels=2)
        write_tone(root / "EMOVO" / "f1" / "xxx-f1-b1.wav", duration_s=SHORT_S)
        (root / "EMOVO" / "leggimi.txt").write_text("EMOVO\n", encoding="utf-8")
    return root


def make_casia(root: Path, *, per_class: int = 1, odd_cases: bool = False) -> Path:
    """CASIA: ``<speaker>/<emotion>/<NNN>.wav``, NNN from 201.

    Odd: everything inside a wrapping ``CASIA database/`` folder, and a number file outside any
    emotion folder.
    """
    base = root / "CASIA database" if odd_cases else root
    for speaker in CASIA_SPEAKERS:
        for emotion, label in CASIA_CODES.items():
            _check_per_class(per_class, 50, "CASIA", emotion)
            for index in range(per_class):
                write_tone(base / speaker / emotion / f"{201 + index}.wav", label=label, duration_s=SHORT_S)
    if odd_cases:
        write_tone(base / "wangzhe" / "250.wav", duration_s=SHORT_S)
    return root


def make_nemo(root: Path, *, per_class: int = 1, odd_cases: bool = False) -> Path:
    """nEMO: ``samples/<SPK>_<emotion>_<N>.wav`` at 24 kHz, with ``data.tsv``.

    Odd: ``speaker_id`` cells with leading spaces, a sample ``data.tsv`` does not list, a listed
    sample that is missing, and a quote character in a transcript.
    """
    lines = ["file_id\temotion\traw_text\tnormalized_text\tspeaker_id\tgender\tage"]
    for speaker, gender in NEMO_SPEAKERS.items():
        for emotion, label in NEMO_CODES.items():
            for index in range(per_class):
                stem = f"{speaker}_{emotion}_{index}"
                write_tone(root / "samples" / f"{stem}.wav", label=label, duration_s=SHORT_S, sample_rate=24_000)
                listed = f"  {speaker}" if odd_cases else speaker
                lines.append(f"{stem}\t{emotion}\t\"Tak,\" powiedział.\ttak powiedział\t{listed}\t{gender}\t30")
    if odd_cases:
        write_tone(root / "samples" / "ZZ9_sadness_0.wav", label="sad", duration_s=SHORT_S, sample_rate=24_000)
        lines.append("WR0_anger_999\tanger\tnie\tnie\tWR0\tmale\t30")
    (root / "data.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def make_cremad(root: Path, *, per_class: int = 1, odd_cases: bool = False) -> Path:
    """CREMA-D: ``AudioWAV/<actor>_<sentence>_<emotion>_XX.wav`` with ``VideoDemographics.csv``.

    Odd: the sentence IEO at levels LO, MD and HI, an actor the demographics do not list, an
    unknown emotion code and an unreadable file.
    """
    for actor in CREMAD_ACTORS:
        for code, label in CREMAD_CODES.items():
            _check_per_class(per_class, len(CREMAD_SENTENCES), "CREMA-D", code)
            for sentence in CREMAD_SENTENCES[:per_class]:
                write_tone(root / "AudioWAV" / f"{actor}_{sentence}_{code}_XX.wav", label=label, duration_s=SHORT_S)
    demographics = ["ActorID,Age,Sex,Race,Ethnicity"]
    demographics += [f"{actor},{30 + index},{sex},Caucasian,Not Hispanic" for index, (actor, sex) in
                     enumerate(CREMAD_ACTORS.items())]
    (root / "VideoDemographics.csv").write_text("\n".join(demographics) + "\n", encoding="utf-8")
    if odd_cases:
        for level in ("LO", "MD", "HI"):
            write_tone(root / "AudioWAV" / f"1001_IEO_ANG_{level}.wav", label="angry", duration_s=SHORT_S)
        write_tone(root / "AudioWAV" / "1050_DFA_SAD_XX.wav", label="sad", duration_s=SHORT_S)
        write_tone(root / "AudioWAV" / "1001_DFA_XYZ_XX.wav", duration_s=SHORT_S)
        write_garbage(root / "AudioWAV" / "1002_IEO_SAD_XX.wav")
    return root


def make_shemo(root: Path, *, per_class: int = 1, odd_cases: bool = False) -> Path:
    """ShEMO: ``<female|male>/<G><SS><E><NN>.wav`` for speakers F01, F02, M01, M02; odd: an unknown letter."""
    for speaker in ("F01", "F02", "M01", "M02"):
        for letter, label in SHEMO_CODES.items():
            for index in range(per_class):
                folder = "female" if speaker[0] == "F" else "male"
                write_tone(root / folder / f"{speaker}{letter}{index + 1:02d}.wav", label=label, duration_s=SHORT_S)
    if odd_cases:
        write_tone(root / "female" / "F01X01.wav", duration_s=SHORT_S)
    return root


def make_subesco(root: Path, *, per_class: int = 1, odd_cases: bool = False) -> Path:
    """SUBESCO: ``<G>_<SS>_<NAME>_S_<sentence>_<EMOTION>_<take>.wav`` in one folder; odd: an unknown emotion word."""
    for speaker in SUBESCO_SPEAKERS:
        for emotion, label in SUBESCO_CODES.items():
            for index in range(per_class):
                write_tone(root / "SUBESCO" / f"{speaker}_S_{index + 1}_{emotion}_1.wav", label=label,
                           duration_s=SHORT_S)
    if odd_cases:
        write_tone(root / "SUBESCO" / "M_01_RAFI_S_1_BORED_1.wav", duration_s=SHORT_S)
    return root


def make_esd(root: Path, *, per_class: int = 1, odd_cases: bool = False) -> Path:
    """ESD: ``<speaker>/<Emotion>/<speaker>_<NNNNNN>.wav`` plus ``<speaker>/<speaker>.txt``.

    Speakers 0001 and 0010 (Mandarin), 0011 and 0020 (English).  Odd: speaker 0011's files in
    ``train/``, ``evaluation/`` and ``test/`` folders under each emotion, a README and a file
    outside any emotion folder.
    """
    splits = ("train", "evaluation", "test")
    for speaker, language in ESD_SPEAKERS.items():
        transcript = []
        for emotion, (label, first) in ESD_CODES.items():
            for index in range(per_class):
                stem = f"{speaker}_{first + index:06d}"
                split = (splits[index % 3],) if odd_cases and speaker == "0011" else ()
                write_tone(root.joinpath(speaker, emotion, *split, f"{stem}.wav"), label=label, duration_s=SHORT_S)
                transcript.append(f"{stem}\t{'打远一看' if language == 'zh' else 'Author of the danger trail.'}\t{emotion}")
        (root / speaker / f"{speaker}.txt").write_text("\n".join(transcript) + "\n", encoding="utf-8")
    if odd_cases:
        (root / "README.md").write_text("ESD\n", encoding="utf-8")
        write_tone(root / "0020" / "0020_001751.wav", duration_s=SHORT_S)
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
    "emovo": make_emovo,
    "casia": make_casia,
    "nemo": make_nemo,
    "cremad": make_cremad,
    "shemo": make_shemo,
    "subesco": make_subesco,
    "esd": make_esd,
    "manifest": make_manifest,
}


def make_corpus(name: str, root: Path, *, per_class: int = 1, odd_cases: bool = False) -> Path:
    """Write a generated corpus ``name`` under ``root``; return the path its reader takes."""
    return BUILDERS[name](Path(root), per_class=per_class, odd_cases=odd_cases)
