"""CaFE: neutral names without intensity, twelve actors, both editions, garbled folder names."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import pytest
import soundfile

from crossemo.corpora import LABELS, cafe
from crossemo.errors import CorpusLayoutError
from crossemo.fileio import path_to_text
from tests.corpora.test_readers import check_contract, facts, skipped
from tests.fixtures import make_cafe, make_corpus, write_tone

RAW_BYTES_FOLDER = os.fsdecode(b"Col\x8are")  # "Colère" with è as cp850 writes it, not UTF-8


def by_stem(table) -> dict[str, tuple]:
    """File name stem -> (speaker, gender, emotion, label)."""
    return {Path(row[0]).stem: tuple(row[1:]) for row in facts(table)}


def test_cafe_reads_every_emotion_neutral_without_intensity_and_garbled_folders(tmp_path: Path) -> None:
    layout = {
        "Colère/Fort/01-C-2-3.wav": ("Actor_01", "male", "anger", "angry"),
        "Dégoût/Faible/02-D-1-1.wav": ("Actor_02", "female", "disgust", None),
        "Joie/Fort/03-J-2-6.wav": ("Actor_03", "male", "happiness", "happy"),
        "Neutre/03-N-1.wav": ("Actor_03", "male", "neutral", "neutral"),
        "Neutre/12-N-6.wav": ("Actor_12", "female", "neutral", "neutral"),
        "Peur/Faible/05-P-1-4.wav": ("Actor_05", "male", "fear", None),
        "Surprise/Fort/06-S-2-5.wav": ("Actor_06", "female", "surprise", None),
        "Tristesse/Faible/11-T-1-1.wav": ("Actor_11", "male", "sadness", "sad"),
        "ColŠre/Faible/08-C-1-2.wav": ("Actor_08", "female", "anger", "angry"),
        unicodedata.normalize("NFD", "Colère") + "/Faible/02-C-1-1.wav": ("Actor_02", "female", "anger", "angry"),
        "elsewhere/07-T-2-2.wav": ("Actor_07", "male", "sadness", "sad"),  # labels come from the name alone
    }
    for name in layout:
        write_tone(tmp_path / name, sample_rate=48_000)
    garbled = write_tone(tmp_path / RAW_BYTES_FOLDER / "Fort" / "10-C-2-4.wav", sample_rate=48_000)
    layout[path_to_text(garbled.relative_to(tmp_path).as_posix())] = ("Actor_10", "female", "anger", "angry")
    bad = {
        "Colère/Fort/01-X-2-3.wav": "emotion letter 'X'",
        "Colère/01-C-3.wav": "needs an intensity field",
        "Colère/Fort/01-C-3-3.wav": "intensity 3",
        "Colère/Fort/01-C-2-7.wav": "sentence 7 is outside 1-6",
        "Colère/Fort/13-C-2-1.wav": "actor 13 is outside 01-12",
    }
    for name in bad:
        write_tone(tmp_path / name)

    table = cafe.read(tmp_path)

    check_contract(table, root=tmp_path, corpus="cafe", language="fr")
    assert facts(table) == [(path, *fields) for path, fields in sorted(layout.items())]
    reasons = skipped(table)
    assert set(reasons) == set(bad)
    assert all(expected in reasons[name] for name, expected in bad.items())


def test_cafe_192k_edition_reads_its_24_bit_aiff_files(tmp_path: Path) -> None:
    root = make_cafe(tmp_path / "192k", per_class=2, edition="192k")
    aiff = sorted(root.rglob("*.aiff"))
    info = soundfile.info(str(aiff[0]))
    assert (info.format, info.subtype, info.samplerate) == ("AIFF", "PCM_24", 192_000)
    assert {path.relative_to(root).parts[0] for path in aiff} == {"CaFE_192k_1", "CaFE_192k_2"}

    table = cafe.read(root)
    wav = cafe.read(make_cafe(tmp_path / "48k", per_class=2))

    check_contract(table, root=root, corpus="cafe", language="fr")
    assert len(table) == len(aiff) == 12 * 7 * 2
    assert table["duration_s"].tolist() == pytest.approx([0.1] * len(table))
    # Both editions hold the same utterances with the same facts: only folder and extension differ.
    assert by_stem(table) == by_stem(wav)


def test_cafe_generated_corpus_has_twelve_actors_and_its_neutral_files(tmp_path: Path) -> None:
    table = cafe.read(make_corpus("cafe", tmp_path, per_class=2, odd_cases=True))

    assert len(table) == 12 * 7 * 2
    assert table.groupby("gender")["speaker"].nunique().to_dict() == {"female": 6, "male": 6}
    assert table["label"].value_counts().to_dict() == {label: 12 * 2 for label in LABELS}
    assert sorted(table.loc[table["emotion"] == "neutral", "path"].map(lambda path: Path(path).stem))[:3] == [
        "01-N-1", "01-N-2", "02-N-1",
    ]
    assert any(path.startswith("ColŠre/") for path in table["path"])
    assert any(path.startswith("Col\\x8are/") for path in table["path"])
    # The one utterance present in both editions is read once; the other copy is skipped, saying so.
    assert table["path"].map(lambda path: Path(path).stem).is_unique
    (copy, reason), = skipped(table).items()
    assert Path(copy).stem == "01-J-1-1" and "same CaFE utterance as" in reason and "another edition" in reason


def test_cafe_with_only_malformed_names_lists_the_reasons(tmp_path: Path) -> None:
    write_tone(tmp_path / "Colère" / "01-C-1.wav")
    write_tone(tmp_path / "Joie" / "01-J-2.wav")

    with pytest.raises(CorpusLayoutError, match=r"all 2 candidate files were skipped \(1 x CaFE emotion C needs"):
        cafe.read(tmp_path)
