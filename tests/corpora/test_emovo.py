"""EMOVO: emotion, speaker and sentence from the file name; 48 kHz stereo originals."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile

from crossemo.audio import read_audio
from crossemo.corpora import LABELS, emovo
from tests.corpora.test_readers import check_contract, facts, skipped
from tests.fixtures import make_corpus, write_tone


def test_emovo_rows_come_from_the_file_names(tmp_path: Path) -> None:
    layout = {
        "EMOVO/f1/gio-f1-b1.wav": ("f1", "female", "joy", "happy"),
        "EMOVO/f2/dis-f2-d2.wav": ("f2", "female", "disgust", None),
        "EMOVO/f3/neu-f3-n5.wav": ("f3", "female", "neutral", "neutral"),
        "EMOVO/m1/pau-m1-l4.wav": ("m1", "male", "fear", None),
        "EMOVO/m2/rab-m2-b3.wav": ("m2", "male", "anger", "angry"),
        "EMOVO/m3/sor-m3-l1.wav": ("m3", "male", "surprise", None),
        "EMOVO/m3/tri-m3-n1.wav": ("m3", "male", "sadness", "sad"),
        "EMOVO/f1/tri-m1-d1.wav": ("m1", "male", "sadness", "sad"),  # the name decides, not the folder
    }
    for name in layout:
        write_tone(tmp_path / name, duration_s=0.3, sample_rate=48_000, channels=2)
    bad = {
        "EMOVO/f1/xyz-f1-b1.wav": "emotion code 'xyz'",
        "EMOVO/f1/gio-f4-b1.wav": "speaker 'f4'",
        "EMOVO/f1/gio-f1-b4.wav": "sentence code 'b4'",
    }
    for name in bad:
        write_tone(tmp_path / name, duration_s=0.3)
    write_tone(tmp_path / "EMOVO" / "f1" / "gio_f1_b1.wav")

    table = emovo.read(tmp_path)

    check_contract(table, root=tmp_path, corpus="emovo", language="it")
    assert facts(table) == [(path, *fields) for path, fields in sorted(layout.items())]
    reasons = skipped(table)
    assert all(expected in reasons[name] for name, expected in bad.items())
    assert "does not follow the EMOVO scheme" in reasons["EMOVO/f1/gio_f1_b1.wav"]


def test_emovo_generated_corpus_is_48_khz_stereo_and_reads_as_mono(tmp_path: Path) -> None:
    root = make_corpus("emovo", tmp_path, per_class=2, odd_cases=True)

    table = emovo.read(root)

    first = root / table["path"][0]
    formats = {(info.samplerate, info.channels) for info in (soundfile.info(str(root / path)) for path in table["path"])}
    assert formats == {(48_000, 2)}
    signal, sample_rate = read_audio(first)
    assert signal.ndim == 1 and sample_rate == 48_000
    assert table["duration_s"].tolist() == pytest.approx([0.3] * len(table))
    assert len(table) == 6 * 7 * 2 + 1  # plus the file moved out of its speaker folder
    assert table.groupby("gender")["speaker"].nunique().to_dict() == {"female": 3, "male": 3}
    assert table["label"].value_counts().to_dict() == {"sad": 13, "neutral": 12, "happy": 12, "angry": 12}
    assert set(table["label"].dropna()) == set(LABELS)
    assert list(skipped(table)) == ["EMOVO/f1/xxx-f1-b1.wav"]
