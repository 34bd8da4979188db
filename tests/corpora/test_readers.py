"""Each directory corpus reader on small generated layouts in its real naming scheme.

The readers of corpora added later (and CaFE, AESD) have their own ``test_<corpus>.py``
files, which share :func:`facts`, :func:`skipped` and :func:`check_contract` from here;
the shared behaviour at the end covers every directory reader.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from crossemo.corpora import (
    COLUMNS,
    LABELS,
    aesd,
    base,
    cafe,
    casia,
    cremad,
    emodb,
    emovo,
    esd,
    iemocap,
    nemo,
    ravdess,
    savee,
    shemo,
    subesco,
    tess,
    urdu,
)
from crossemo.errors import CorpusLayoutError
from crossemo.fileio import path_from_text
from crossemo.recordings import audio_suffixes
from tests.fixtures import make_corpus, write_garbage, write_tone

FACTS = ["path", "speaker", "gender", "emotion", "label"]


def facts(table: pd.DataFrame) -> list[tuple]:
    """The rows' path, speaker, gender, emotion and label as tuples."""
    return [tuple(row) for row in table[FACTS].itertuples(index=False)]


def skipped(table: pd.DataFrame) -> dict[str, str]:
    return {entry["path"]: entry["reason"] for entry in table.attrs["skipped"]}


def check_contract(table: pd.DataFrame, *, root: Path, corpus: str, language: str | set[str]) -> None:
    """Columns, sorting, attrs and constant columns every reader must honour.

    The fold group is the speaker, except for IEMOCAP, where it is the session.
    ``language`` is the one language, or the set of them for a corpus mixing several.
    """
    assert list(table.columns) == list(COLUMNS)
    sessions = [speaker[:5] for speaker in table["speaker"]]
    assert table["group"].tolist() == (sessions if corpus == "iemocap" else table["speaker"].tolist())
    assert table["path"].tolist() == sorted(table["path"])
    assert table.attrs["root"] == str(root.resolve())
    assert set(table["corpus"]) == {corpus}
    assert set(table["language"]) == (language if isinstance(language, set) else {language})
    assert set(table["label"].dropna()) <= set(LABELS)
    files = [path_from_text(path) for path in table["path"]]  # text, with undecodable bytes escaped
    assert all(not Path(file).is_absolute() and "\\" not in file for file in files)
    assert all((root / file).is_file() for file in files)
    assert table["duration_s"].dtype == float


# Emo-DB ---------------------------------------------------------------------------------------


def test_emodb_rows_come_from_the_file_names(tmp_path: Path) -> None:
    for name in ("03a01Wa.wav", "08b02Ld.wav", "16a05Fc.wav", "12b09Tb.wav"):
        write_tone(tmp_path / "wav" / name)
    write_tone(tmp_path / "other" / "09a07Na.wav", duration_s=1.25)  # a different layout still reads
    write_tone(tmp_path / "wav" / "14a01Xa.wav")  # a letter Emo-DB does not use
    write_tone(tmp_path / "wav" / "notes.wav")
    (tmp_path / "erkennung.txt").write_text("x", encoding="utf-8")

    table = emodb.read(tmp_path)

    check_contract(table, root=tmp_path, corpus="emodb", language="de")
    assert facts(table) == [
        ("other/09a07Na.wav", "Speaker_09", "female", "neutral", "neutral"),
        ("wav/03a01Wa.wav", "Speaker_03", "male", "anger", "angry"),
        ("wav/08b02Ld.wav", "Speaker_08", "female", "boredom", None),
        ("wav/12b09Tb.wav", "Speaker_12", "male", "sadness", "sad"),
        ("wav/16a05Fc.wav", "Speaker_16", "female", "happiness", "happy"),
    ]
    assert table["duration_s"].tolist() == pytest.approx([1.25, 0.5, 0.5, 0.5, 0.5])
    reasons = skipped(table)
    assert set(reasons) == {"wav/14a01Xa.wav", "wav/notes.wav"}
    assert "emotion letter 'X'" in reasons["wav/14a01Xa.wav"]
    assert "does not follow the Emo-DB scheme" in reasons["wav/notes.wav"]


def test_emodb_generated_corpus_has_every_speaker_and_emotion(tmp_path: Path) -> None:
    table = emodb.read(make_corpus("emodb", tmp_path, per_class=2, odd_cases=True))

    assert len(table) == 10 * 7 * 2
    assert table["speaker"].nunique() == 10
    assert table.groupby("gender")["speaker"].nunique().to_dict() == {"female": 5, "male": 5}
    assert table["label"].value_counts().to_dict() == {label: 20 for label in LABELS}
    assert list(skipped(table)) == ["wav/silence_reference.wav"]


# RAVDESS --------------------------------------------------------------------------------------


def test_ravdess_rows_skips_and_song_option(tmp_path: Path) -> None:
    names = {
        "Actor_01/03-01-01-01-01-01-01.wav": ("Actor_01", "male", "neutral", "neutral"),
        "Actor_01/03-01-02-02-01-02-01.wav": ("Actor_01", "male", "calm", None),
        "Actor_02/03-01-03-01-02-01-02.wav": ("Actor_02", "female", "happy", "happy"),
        "Actor_02/03-01-04-02-01-01-02.wav": ("Actor_02", "female", "sad", "sad"),
        "Actor_23/03-01-05-01-01-01-23.wav": ("Actor_23", "male", "angry", "angry"),
        "Actor_24/03-01-08-02-02-02-24.wav": ("Actor_24", "female", "surprised", None),
    }
    for name in names:
        write_tone(tmp_path / name)
    song = "Actor_01/03-02-03-02-01-01-01.wav"
    write_tone(tmp_path / song)
    write_tone(tmp_path / "Actor_01/01-01-05-01-01-01-01.wav")  # full-AV modality code
    write_tone(tmp_path / "Actor_01/03-01-09-01-01-01-01.wav")  # no such emotion
    write_garbage(tmp_path / "Actor_02/03-01-05-01-01-01-02.wav")
    write_tone(tmp_path / "Actor_02/take2.WAV")  # upper-case extension, unrelated name
    (tmp_path / "README.md").write_text("x", encoding="utf-8")

    table = ravdess.read(tmp_path)

    check_contract(table, root=tmp_path, corpus="ravdess", language="en")
    assert facts(table) == [(path, *fields) for path, fields in sorted(names.items())]
    reasons = skipped(table)
    assert set(reasons) == {
        song,
        "Actor_01/01-01-05-01-01-01-01.wav",
        "Actor_01/03-01-09-01-01-01-01.wav",
        "Actor_02/03-01-05-01-01-01-02.wav",
        "Actor_02/take2.WAV",
    }
    assert "song" in reasons[song] and "include_song" in reasons[song]
    assert "not audio-only" in reasons["Actor_01/01-01-05-01-01-01-01.wav"]
    assert "emotion code 09" in reasons["Actor_01/03-01-09-01-01-01-01.wav"]
    assert reasons["Actor_02/03-01-05-01-01-01-02.wav"].startswith("unreadable audio")
    assert "Actor_NN/03-01-EE-II-SS-RR-AA.wav" in reasons["Actor_02/take2.WAV"]

    with_song = ravdess.read(tmp_path, include_song=True)
    assert len(with_song) == len(names) + 1
    assert facts(with_song[with_song["path"] == song]) == [(song, "Actor_01", "male", "happy", "happy")]
    assert song not in skipped(with_song)


def test_ravdess_generated_corpus_odd_cases(tmp_path: Path) -> None:
    table = ravdess.read(make_corpus("ravdess", tmp_path, per_class=2, odd_cases=True))

    assert len(table) == 6 * 8 * 2
    assert table["speaker"].nunique() == 6
    assert len(skipped(table)) == 5
    assert sum("song file" in reason for reason in skipped(table).values()) == 2


# SAVEE ----------------------------------------------------------------------------------------


def test_savee_codes_speaker_folders_and_flat_prefixes(tmp_path: Path) -> None:
    for name in ("DC/a01.wav", "DC/sa02.wav", "JE/su15.wav", "JK/n30.wav", "KL/h03.wav", "KL/d01.wav", "JE/f07.wav"):
        write_tone(tmp_path / "AudioData" / name)
    write_tone(tmp_path / "flat" / "JK_sa03.wav")  # re-distributed flat copies carry the speaker as prefix
    write_tone(tmp_path / "AudioData" / "misc" / "a02.wav")  # no speaker folder
    write_tone(tmp_path / "AudioData" / "DC" / "x01.wav")

    table = savee.read(tmp_path)

    check_contract(table, root=tmp_path, corpus="savee", language="en")
    assert facts(table) == [
        ("AudioData/DC/a01.wav", "DC", "male", "anger", "angry"),
        ("AudioData/DC/sa02.wav", "DC", "male", "sadness", "sad"),
        ("AudioData/JE/f07.wav", "JE", "male", "fear", None),
        ("AudioData/JE/su15.wav", "JE", "male", "surprise", None),
        ("AudioData/JK/n30.wav", "JK", "male", "neutral", "neutral"),
        ("AudioData/KL/d01.wav", "KL", "male", "disgust", None),
        ("AudioData/KL/h03.wav", "KL", "male", "happiness", "happy"),
        ("flat/JK_sa03.wav", "JK", "male", "sadness", "sad"),
    ]
    reasons = skipped(table)
    assert "speaker unknown" in reasons["AudioData/misc/a02.wav"]
    assert "does not follow the SAVEE scheme" in reasons["AudioData/DC/x01.wav"]


# URDU -----------------------------------------------------------------------------------------


def test_urdu_speaker_gender_and_emotion_from_names(tmp_path: Path) -> None:
    layout = {
        "Angry/SM1_F10_A01.wav": ("SM1", "male", "angry", "angry"),
        "Happy/SF12_F3_H07.wav": ("SF12", "female", "happy", "happy"),
        "Neutral/SM27_F1_N02.wav": ("SM27", "male", "neutral", "neutral"),
        "Sad/SF1_F22_S11.wav": ("SF1", "female", "sad", "sad"),
        "elsewhere/SM1_F11_S02.wav": ("SM1", "male", "sad", "sad"),  # label from the name, not the folder
    }
    for name in layout:
        write_tone(tmp_path / name)
    write_tone(tmp_path / "Angry" / "SM1_F10_Q01.wav")

    table = urdu.read(tmp_path)

    check_contract(table, root=tmp_path, corpus="urdu", language="ur")
    assert facts(table) == [(path, *fields) for path, fields in sorted(layout.items())]
    assert "emotion letter 'Q'" in skipped(table)["Angry/SM1_F10_Q01.wav"]


# TESS -----------------------------------------------------------------------------------------


def test_tess_prefixes_aiff_content_and_emotions(tmp_path: Path) -> None:
    layout = {
        "OAF_angry/OAF_back_angry.wav": ("OAF", "female", "angry", "angry"),
        "OAF_neutral/OA_bite_neutral.wav": ("OAF", "female", "neutral", "neutral"),
        "YAF_Fear/YAF_bar_fear.wav": ("YAF", "female", "fear", None),
        "YAF_pleasant_surprised/YAF_base_ps.wav": ("YAF", "female", "pleasant_surprise", None),
        "YAF_sad/YAF_bath_sad.wav": ("YAF", "female", "sad", "sad"),
        "YAF_happy/YAF_bean_happy.wav": ("YAF", "female", "happy", "happy"),
        "OAF_disgust/OAF_beg_disgust.wav": ("OAF", "female", "disgust", None),
    }
    for name in layout:
        write_tone(tmp_path / name)
    aiff = "OAF_happy/OAF_youth_happy.wav"
    write_tone(tmp_path / aiff, duration_s=0.75, sample_rate=24_414, audio_format="AIFF", subtype="FLOAT")
    layout[aiff] = ("OAF", "female", "happy", "happy")
    assert (tmp_path / aiff).read_bytes()[8:12] == b"AIFC"
    write_tone(tmp_path / "OAF_angry" / "XAF_back_angry.wav")

    table = tess.read(tmp_path)

    check_contract(table, root=tmp_path, corpus="tess", language="en")
    assert facts(table) == [(path, *fields) for path, fields in sorted(layout.items())]
    assert table.set_index("path").loc[aiff, "duration_s"] == pytest.approx(0.75, abs=1e-4)
    assert "neither OAF nor YAF" in skipped(table)["OAF_angry/XAF_back_angry.wav"]


# IEMOCAP --------------------------------------------------------------------------------------


def write_iemocap_dialog(root: Path, dialog: str, codes: dict[str, str], *, listed: list[str] | None = None) -> None:
    """One dialog: utterance wavs for ``codes`` and the evaluation lines of ``listed`` (default: all)."""
    session = root / f"Session{int(dialog[3:5])}"
    lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
    for number, (utterance, code) in enumerate(codes.items()):
        write_tone(session / "sentences" / "wav" / dialog / f"{utterance}.wav")
        if listed is None or utterance in listed:
            lines += [
                f"[{number + 1.5:.4f} - {number + 2.0:.4f}]\t{utterance}\t{code}\t[2.5000, 2.5000, 2.5000]",
                "C-E1:\tNeutral state;\t()",
                "A-E2:\tval 3; act 2; dom  2;\t()",
                "",
            ]
    evaluation = session / "dialog" / "EmoEvaluation"
    evaluation.mkdir(parents=True, exist_ok=True)
    (evaluation / f"{dialog}.txt").write_text("\n".join(lines), encoding="utf-8")
    # Per-annotator files in another format live in subfolders and must be ignored.
    (evaluation / "Categorical").mkdir(exist_ok=True)
    (evaluation / "Categorical" / f"{dialog}_e2_cat.txt").write_text(
        "".join(f"{utterance} :Anger; ()\n" for utterance in codes), encoding="utf-8"
    )


def test_iemocap_labels_speakers_and_skips(tmp_path: Path) -> None:
    write_iemocap_dialog(
        tmp_path,
        "Ses01F_impro01",
        {
            "Ses01F_impro01_F000": "neu",
            "Ses01F_impro01_M013": "exc",
            "Ses01F_impro01_F001": "xxx",
            "Ses01F_impro01_M002": "fru",
            "Ses01F_impro01_F002": "sad",
        },
        listed=["Ses01F_impro01_F000", "Ses01F_impro01_M013", "Ses01F_impro01_F001", "Ses01F_impro01_M002"],
    )
    write_iemocap_dialog(
        tmp_path,
        "Ses03M_script01_1b",
        {"Ses03M_script01_1b_F004": "hap", "Ses03M_script01_1b_M010": "ang", "Ses03M_script01_1b_M011": "sur"},
    )
    write_tone(tmp_path / "Session1" / "dialog" / "wav" / "Ses01F_impro01.wav", duration_s=1.0)

    table = iemocap.read(tmp_path)

    check_contract(table, root=tmp_path, corpus="iemocap", language="en")
    wav = "Session{}/sentences/wav/{}/{}.wav"
    assert facts(table) == [
        (wav.format(1, "Ses01F_impro01", "Ses01F_impro01_F000"), "Ses01F", "female", "neutral", "neutral"),
        (wav.format(1, "Ses01F_impro01", "Ses01F_impro01_F001"), "Ses01F", "female", "unknown", None),
        (wav.format(1, "Ses01F_impro01", "Ses01F_impro01_M002"), "Ses01M", "male", "frustration", None),
        (wav.format(1, "Ses01F_impro01", "Ses01F_impro01_M013"), "Ses01M", "male", "excited", "happy"),
        (wav.format(3, "Ses03M_script01_1b", "Ses03M_script01_1b_F004"), "Ses03F", "female", "happiness", "happy"),
        (wav.format(3, "Ses03M_script01_1b", "Ses03M_script01_1b_M010"), "Ses03M", "male", "anger", "angry"),
        (wav.format(3, "Ses03M_script01_1b", "Ses03M_script01_1b_M011"), "Ses03M", "male", "surprise", None),
    ]
    assert {speaker[:5] for speaker in table["speaker"]} == {"Ses01", "Ses03"}
    assert table["group"].tolist() == ["Ses01"] * 4 + ["Ses03"] * 3
    reasons = skipped(table)
    assert set(reasons) == {
        wav.format(1, "Ses01F_impro01", "Ses01F_impro01_F002"),
        "Session1/dialog/wav/Ses01F_impro01.wav",
    }
    assert "no line" in reasons[wav.format(1, "Ses01F_impro01", "Ses01F_impro01_F002")]
    assert "whole-dialog" in reasons["Session1/dialog/wav/Ses01F_impro01.wav"]


def test_iemocap_generated_corpus_and_one_session(tmp_path: Path) -> None:
    root = make_corpus("iemocap", tmp_path, odd_cases=True)

    table = iemocap.read(root)
    session = iemocap.read(root / "Session2")

    assert len(table) == 5 * 2 * 2 * 7  # sessions x dialogs x speakers x codes
    assert table["speaker"].nunique() == 10
    assert table["label"].value_counts().to_dict() == {"happy": 40, "neutral": 20, "sad": 20, "angry": 20}
    assert len(skipped(table)) == 4  # per session-1 dialog: the dialog wav and an unlisted utterance
    assert set(session["speaker"]) == {"Ses02F", "Ses02M"}
    assert sorted(table["group"].unique()) == ["Ses01", "Ses02", "Ses03", "Ses04", "Ses05"]
    assert set(session["group"]) == {"Ses02"}
    assert session.attrs["root"] == str((root / "Session2").resolve())


def test_iemocap_without_evaluation_files_says_why(tmp_path: Path) -> None:
    write_tone(tmp_path / "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav")

    with pytest.raises(CorpusLayoutError, match="no usable IEMOCAP files.*no line for this utterance"):
        iemocap.read(tmp_path)


# Shared behaviour ------------------------------------------------------------------------------

READERS_AND_EXAMPLES = [
    (emodb.read, "Emo-DB", "03a01Wa.wav"),
    (ravdess.read, "RAVDESS", "Actor_NN/03-01-EE-II-SS-RR-AA.wav"),
    (savee.read, "SAVEE", "AudioData/<DC|JE|JK|KL>"),
    (cafe.read, "CaFE", "Colère/Fort/01-C-2-3.wav"),
    (urdu.read, "URDU", "SM1_F10_A01.wav"),
    (aesd.read, "AESD", "a01 (1).wav"),
    (tess.read, "TESS", "<OAF|YAF>_<word>_"),
    (iemocap.read, "IEMOCAP", "EmoEvaluation"),
    (emovo.read, "EMOVO", "EMOVO/f1/gio-f1-b1.wav"),
    (casia.read, "CASIA", "liuchanhg/angry/201.wav"),
    (nemo.read, "nEMO", "samples/WR0_anger_12.wav"),
    (cremad.read, "CREMA-D", "AudioWAV/1001_DFA_ANG_XX.wav"),
    (shemo.read, "ShEMO", "female/F01A01.wav"),
    (subesco.read, "SUBESCO", "F_01_MONIKA_S_1_ANGRY_1.wav"),
    (esd.read, "ESD", "0011/Angry/0011_000351.wav"),
]


@pytest.mark.parametrize(("read", "title", "example"), READERS_AND_EXAMPLES)
def test_wrong_layout_is_one_clear_error(tmp_path: Path, read, title: str, example: str) -> None:
    write_tone(tmp_path / "recordings" / "take_001.wav")
    (tmp_path / "README.txt").write_text("not a corpus", encoding="utf-8")

    with pytest.raises(CorpusLayoutError) as raised:
        read(tmp_path)

    message = str(raised.value)
    assert f"no {title} files found under {tmp_path.resolve()}" in message
    assert "1 audio files with other names" in message
    assert example in message


@pytest.mark.parametrize(("read", "title", "example"), READERS_AND_EXAMPLES)
def test_missing_folder_and_file_instead_of_folder(tmp_path: Path, read, title: str, example: str) -> None:
    with pytest.raises(CorpusLayoutError, match=f"{title} folder not found"):
        read(tmp_path / "absent")
    file = write_tone(tmp_path / "single.wav")
    with pytest.raises(CorpusLayoutError, match="expects a folder"):
        read(file)


def test_all_files_unreadable_is_an_error_with_the_reasons(tmp_path: Path) -> None:
    write_garbage(tmp_path / "wav" / "03a01Wa.wav")
    write_garbage(tmp_path / "wav" / "03a02Wa.wav")

    with pytest.raises(CorpusLayoutError, match=r"all 2 candidate files were skipped \(2 x unreadable audio"):
        emodb.read(tmp_path)


def test_only_song_files_is_an_error_pointing_to_the_option(tmp_path: Path) -> None:
    write_tone(tmp_path / "Actor_01" / "03-02-01-01-01-01-01.wav")

    with pytest.raises(CorpusLayoutError, match="include_song=True"):
        ravdess.read(tmp_path)
    assert len(ravdess.read(tmp_path, include_song=True)) == 1


def test_macos_resource_forks_are_skipped_with_their_reason(tmp_path: Path) -> None:
    write_tone(tmp_path / "wav" / "03a01Wa.wav")
    write_garbage(tmp_path / "__MACOSX" / "wav" / "._03a01Wa.wav")

    table = emodb.read(tmp_path)

    assert table["path"].tolist() == ["wav/03a01Wa.wav"]
    assert "resource-fork" in skipped(table)["__MACOSX/wav/._03a01Wa.wav"]


def test_every_audio_extension_soundfile_reads_is_scanned(tmp_path: Path) -> None:
    write_tone(tmp_path / "wav" / "03a01Wa.wav")
    write_tone(tmp_path / "flac" / "03a02Wa.flac")
    write_tone(tmp_path / "aiff" / "08a01Na.AIFF", audio_format="AIFF", subtype="PCM_24")
    write_tone(tmp_path / "aiff" / "08a02Na.aif", audio_format="AIFF")
    write_tone(tmp_path / "ogg" / "09a01Ta.ogg")  # not a format corpora are distributed in: not looked at

    table = emodb.read(tmp_path)

    assert table["path"].tolist() == ["aiff/08a01Na.AIFF", "aiff/08a02Na.aif", "flac/03a02Wa.flac", "wav/03a01Wa.wav"]
    assert table["label"].tolist() == ["neutral", "neutral", "angry", "angry"]
    assert table["duration_s"].tolist() == pytest.approx([0.5] * 4)
    assert table.attrs["skipped"] == []
    assert set(base.audio_suffixes()) == {".wav", ".aiff", ".aif", ".flac"}
    assert set(base.audio_suffixes()) <= set(audio_suffixes())  # what a corpus holds, prediction reads too


def test_symlinked_folders_are_followed_once(tmp_path: Path) -> None:
    write_tone(tmp_path / "store" / "03a01Wa.wav")
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "wav").symlink_to(tmp_path / "store", target_is_directory=True)
    (tmp_path / "store" / "loop").symlink_to(root, target_is_directory=True)

    table = emodb.read(root)

    assert table["path"].tolist() == ["wav/03a01Wa.wav"]


def test_reading_twice_gives_the_same_table(tmp_path: Path) -> None:
    root = make_corpus("tess", tmp_path, per_class=2, odd_cases=True)

    first, second = tess.read(root), tess.read(root)

    pd.testing.assert_frame_equal(first, second)
    assert first.attrs == second.attrs
    assert first["duration_s"].tolist() == pytest.approx([0.5] * len(first))
