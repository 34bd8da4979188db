"""AESD: one naming scheme for every release (more actors, zero-padded numbers, second takes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from crossemo.corpora import aesd
from crossemo.errors import CorpusLayoutError
from tests.corpora.test_readers import check_contract, facts, skipped
from tests.fixtures import make_corpus, write_tone


def test_aesd_actors_zero_padding_and_second_takes(tmp_path: Path) -> None:
    layout = {
        "anger/a01 (1).wav": ("Actor_1", None, "anger", "angry"),
        "anger/a06 (5)b.wav": ("Actor_5", None, "anger", "angry"),  # a second take
        "anger/a06 (5).wav": ("Actor_5", None, "anger", "angry"),
        "disgust/d03 (01).wav": ("Actor_1", None, "disgust", None),  # zero-padded: still actor 1
        "disgust/d12 (3).wav": ("Actor_3", None, "disgust", None),
        "fear/f20 (6).wav": ("Actor_6", None, "fear", None),  # later releases: beyond five actors
        "happiness/h05 (06).wav": ("Actor_6", None, "happiness", "happy"),
        "sadness/s19 (4).wav": ("Actor_4", None, "sadness", "sad"),
        "sadness/s02 (12)c.wav": ("Actor_12", None, "sadness", "sad"),
        "copy/h07 (2).wav": ("Actor_2", None, "happiness", "happy"),  # labels come from the name alone
    }
    for name in layout:
        write_tone(tmp_path / name)
    bad = {
        "anger/n01 (1).wav": "emotion letter 'n'",
        "anger/a21 (1).wav": "utterance number 21 is outside 01-20",
        "anger/a02 (0).wav": "actor number '0'",
    }
    for name in bad:
        write_tone(tmp_path / name)
    write_tone(tmp_path / "anger" / "a01 (1)bb.wav")  # not the scheme: one take letter at most

    table = aesd.read(tmp_path)

    check_contract(table, root=tmp_path, corpus="aesd", language="el")
    assert facts(table) == [(path, *fields) for path, fields in sorted(layout.items())]
    assert "neutral" not in set(table["label"])
    reasons = skipped(table)
    assert all(expected in reasons[name] for name, expected in bad.items())
    assert "does not follow the AESD scheme" in reasons["anger/a01 (1)bb.wav"]


def test_aesd_generated_corpus_with_a_later_release_odd_cases(tmp_path: Path) -> None:
    clean = aesd.read(make_corpus("aesd", tmp_path / "clean", per_class=2))
    table = aesd.read(make_corpus("aesd", tmp_path / "odd", per_class=2, odd_cases=True))

    assert len(clean) == 5 * 5 * 2 and clean["speaker"].nunique() == 5
    assert len(table) == 6 * 5 * 2 + 2
    assert sorted(table["speaker"].unique()) == [f"Actor_{actor}" for actor in range(1, 7)]
    assert table["path"].str.contains(r"\(06\)").sum() == 5 * 2  # the sixth actor's names are zero-padded
    takes = table[table["path"].str.endswith(")b.wav")]
    assert facts(takes) == [
        ("anger/a01 (5)b.wav", "Actor_5", None, "anger", "angry"),
        ("sadness/s01 (1)b.wav", "Actor_1", None, "sadness", "sad"),
    ]
    assert table.attrs["skipped"] == []
    assert table["gender"].isna().all()


def test_aesd_wrong_layout_names_the_scheme(tmp_path: Path) -> None:
    write_tone(tmp_path / "anger" / "angry_01.wav")

    with pytest.raises(CorpusLayoutError, match=r"expected .*anger/a01 \(1\)\.wav"):
        aesd.read(tmp_path)
