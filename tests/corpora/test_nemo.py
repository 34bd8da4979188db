"""nEMO: emotion from the name, speaker and gender from data.tsv (leading spaces and all)."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile

from crossemo.corpora import nemo
from crossemo.errors import CorpusLayoutError
from tests.corpora.test_readers import check_contract, facts, skipped
from tests.fixtures import make_corpus, write_tone

HEADER = "file_id\temotion\traw_text\tnormalized_text\tspeaker_id\tgender\tage"


def write_tsv(root: Path, *rows: str) -> None:
    (root / "data.tsv").write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")


def test_nemo_names_and_data_tsv(tmp_path: Path) -> None:
    layout = {
        "samples/WR0_anger_12.wav": ("WR0", "male", "anger", "angry"),
        "samples/SB0_happiness_0.wav": ("SB0", "female", "happiness", "happy"),
        "samples/SB0_neutral_3.wav": ("SB0", "female", "neutral", "neutral"),
        "samples/KL0_sadness_1.wav": ("KL0", "female", "sadness", "sad"),
        "samples/KL0_fear_2.wav": ("KL0", "female", "fear", None),
        "samples/MJ0_surprised_7.wav": ("MJ0", None, "surprised", None),  # empty gender cell
        "samples/ZZ1_anger_1.wav": ("ZZ1", None, "anger", "angry"),  # not in data.tsv: speaker from the name
        "other/WR0_sadness_4.wav": ("WR0", "male", "sadness", "sad"),
    }
    for name in layout:
        write_tone(tmp_path / name, duration_s=0.3, sample_rate=24_000)
    write_tone(tmp_path / "samples" / "WR0_anger_13.wav")  # data.tsv says fear
    write_tone(tmp_path / "samples" / "WR0_boredom_1.wav")
    write_tsv(
        tmp_path,
        'WR0_anger_12\tanger\t"Nie," rzekł.\tnie rzekł\t   WR0\tmale\t23',
        "SB0_happiness_0.wav\thappiness\tTak.\ttak\t SB0\tfemale\t25",  # a file id with its extension
        "SB0_neutral_3\tneutral\tTak.\ttak\tSB0\tFemale\t25",
        "KL0_sadness_1\tsadness\tTak.\ttak\tKL0\tf\t30",
        "KL0_fear_2\tfear\tTak.\ttak\tKL0\tfemale\t30",
        "MJ0_surprised_7\tsurprised\tTak.\ttak\tMJ0\t\t41",
        "WR0_sadness_4\tsadness\tTak.\ttak\tWR0\tmale\t23",
        "WR0_anger_13\tfear\tTak.\ttak\tWR0\tmale\t23",
        "WR0_anger_99\tanger\tTak.\ttak\tWR0\tmale\t23",  # listed, not present: nothing to read
    )

    table = nemo.read(tmp_path)

    check_contract(table, root=tmp_path, corpus="nemo", language="pl")
    assert facts(table) == [(path, *fields) for path, fields in sorted(layout.items())]
    reasons = skipped(table)
    assert set(reasons) == {"samples/WR0_anger_13.wav", "samples/WR0_boredom_1.wav"}
    assert "data.tsv gives emotion 'fear', the file name 'anger'" in reasons["samples/WR0_anger_13.wav"]
    assert "unknown nEMO emotion 'boredom'" in reasons["samples/WR0_boredom_1.wav"]


def test_nemo_generated_corpus_24_khz_with_leading_spaces(tmp_path: Path) -> None:
    root = make_corpus("nemo", tmp_path, per_class=2, odd_cases=True)
    assert "\t  WR0\t" in (root / "data.tsv").read_text(encoding="utf-8")

    table = nemo.read(root)

    assert soundfile.info(str(root / table["path"][0])).samplerate == 24_000
    assert len(table) == 4 * 6 * 2 + 1
    assert table.groupby("speaker")["gender"].first().to_dict() == {
        "KL0": "female", "MJ0": "male", "SB0": "female", "WR0": "male", "ZZ9": None,
    }
    assert table.attrs["skipped"] == []


def test_nemo_reads_without_data_tsv(tmp_path: Path) -> None:
    write_tone(tmp_path / "samples" / "WR0_anger_12.wav")

    table = nemo.read(tmp_path)

    assert facts(table) == [("samples/WR0_anger_12.wav", "WR0", None, "anger", "angry")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("file_id\temotion\tspeaker\nWR0_anger_12\tanger\tWR0\n", "lacks the column.*speaker_id, gender"),
        (HEADER + "\nWR0_anger_12\tanger\tx\tx\tWR0\tdiverse\t23\n", "line 2: gender 'diverse' is not male"),
        (HEADER + "\nWR0_anger_12\tanger\tx\ttab\tx\tWR0\tmale\t23\n", "does not match"),  # a cell split by a tab
    ],
)
def test_a_bad_data_tsv_is_one_clear_error(tmp_path: Path, content: str, message: str) -> None:
    write_tone(tmp_path / "samples" / "WR0_anger_12.wav")
    (tmp_path / "data.tsv").write_text(content, encoding="utf-8")

    with pytest.raises(CorpusLayoutError, match=f"nEMO file .*data.tsv.*{message}"):
        nemo.read(tmp_path)
