"""The audformat reader: finding the emotion table and columns, options, genders, refusals, skips."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from crossemo.cli import app
from crossemo.config import ConfigError, config_to_dict, parse_config
from crossemo.corpora import COLUMNS, read_corpus
from crossemo.corpora.audformat_db import read
from crossemo.errors import CorpusLayoutError
from tests.fixtures import write_tone

audformat = pytest.importorskip("audformat")

FILES = ["wav/a.wav", "wav/b.wav", "wav/c.wav", "wav/d.wav"]


def make_db(root: Path, *, languages: list[str] | None = None, speaker_in_files: bool = True) -> audformat.Database:
    """Four files of two speakers; emotion table ``emotion``, speaker in ``files`` or beside the emotion."""
    for file in FILES:
        write_tone(root / file)
    db = audformat.Database("tiny", languages=languages or ["en"])
    db.schemes["speaker"] = audformat.Scheme("str", labels={"s1": {"gender": "F"}, "s2": {"age": 40}})
    index = audformat.filewise_index(FILES)
    db["emotion"] = audformat.Table(index)
    db["emotion"]["emotion"] = audformat.Column()
    db["emotion"]["emotion"].set(["Anger", "neu", "boredom", None])
    if speaker_in_files:
        db["files"] = audformat.Table(index)
    target = db["files" if speaker_in_files else "emotion"]
    target["who"] = audformat.Column(scheme_id="speaker")
    target["who"].set(["s1", "s1", "s2", "s2"])
    return db


def test_defaults_find_emotion_speaker_gender_and_language(tmp_path: Path) -> None:
    make_db(tmp_path, languages=["German"]).save(str(tmp_path))

    table = read_corpus("audformat", tmp_path)

    assert list(table.columns) == list(COLUMNS)
    assert table["path"].tolist() == FILES
    assert table["emotion"].tolist()[:3] == ["anger", "neu", "boredom"] and pd.isna(table["emotion"].iloc[3])
    assert table["label"].tolist() == ["angry", "neutral", None, None]
    assert table["speaker"].tolist() == ["s1", "s1", "s2", "s2"]  # the scheme, in another table
    assert table["gender"].tolist() == ["female", "female", None, None]  # from the scheme's labels
    assert set(table["language"]) == {"de"} and set(table["corpus"]) == {"tiny"}
    assert table["group"].tolist() == table["speaker"].tolist()


def test_speaker_beside_the_emotion_and_gender_from_a_misc_table(tmp_path: Path) -> None:
    db = make_db(tmp_path, languages=["en", "de"], speaker_in_files=False)
    db["speaker"] = audformat.MiscTable(pd.Index(["s1", "s2"], name="speaker", dtype="string"))
    db["speaker"]["gender"] = audformat.Column()
    db["speaker"]["gender"].set(["female", "male"])
    db.schemes["speaker"] = audformat.Scheme("str", labels="speaker")
    db.save(str(tmp_path))

    table = read(tmp_path)

    assert table["gender"].tolist() == ["female", "female", "male", "male"]
    assert table["language"].isna().all()  # two languages: none is the corpus'
    assert read(tmp_path, language="xx")["language"].tolist() == ["xx"] * 4


def test_options_choose_the_table_and_columns(tmp_path: Path) -> None:
    db = make_db(tmp_path)
    index = audformat.filewise_index(FILES[:2])
    db["emotion.test"] = audformat.Table(index)
    db["emotion.test"]["emotion"] = audformat.Column()
    db["emotion.test"]["emotion"].set(["happy", "sad"])
    db["emotion.test"]["actor"] = audformat.Column()
    db["emotion.test"]["actor"].set(["x", "y"])
    db["emotion.test"]["sex"] = audformat.Column()
    db["emotion.test"]["sex"].set(["m", "female"])
    db.save(str(tmp_path))

    with pytest.raises(CorpusLayoutError, match=r"several tables .*\(emotion, emotion\.test\).*option table"):
        read(tmp_path)
    chosen = read(tmp_path, table="emotion.test", speaker="actor", gender="sex")
    assert chosen["label"].tolist() == ["happy", "sad"]
    assert chosen["speaker"].tolist() == ["x", "y"] and chosen["gender"].tolist() == ["male", "female"]

    both = read(tmp_path, table="emotion.test, emotion")  # a file listed again keeps its first listing
    assert both["emotion"].tolist()[:3] == ["happy", "sad", "boredom"] and pd.isna(both["emotion"].iloc[3])
    assert [entry["reason"] for entry in both.attrs["skipped"]] == ["listed again in table 'emotion'; the first listing is kept"] * 2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"table": "nope"}, r"has no table 'nope'; tables: emotion, files"),
        ({"emotion": "mood"}, r"table 'emotion' .* has no column 'mood' \(columns: emotion\): give the option emotion"),
        ({"speaker": "actor"}, r"has no column 'actor'.*option speaker"),
        ({"table": ""}, r"option table: expected names"),
    ],
)
def test_bad_options_are_clear_errors(tmp_path: Path, options: dict, message: str) -> None:
    make_db(tmp_path).save(str(tmp_path))

    with pytest.raises(CorpusLayoutError, match=message):
        read(tmp_path, **options)


def test_numbers_and_segments_are_refused(tmp_path: Path) -> None:
    db = make_db(tmp_path)
    db["emotion"]["arousal"] = audformat.Column()
    db["emotion"]["arousal"].set([0.1, 0.2, 0.3, 0.4])
    segments = audformat.segmented_index(FILES[:1], [0.0], [0.2])
    db["turns"] = audformat.Table(segments)
    db["turns"]["emotion"] = audformat.Column()
    db["turns"]["emotion"].set(["anger"])
    db.save(str(tmp_path))

    with pytest.raises(CorpusLayoutError, match="holds numbers .*not emotion categories"):
        read(tmp_path, table="emotion", emotion="arousal")
    with pytest.raises(CorpusLayoutError, match="table 'turns' .* is segmented"):
        read(tmp_path, table="turns")


def test_missing_and_unreadable_files_are_skipped(tmp_path: Path) -> None:
    make_db(tmp_path).save(str(tmp_path))
    (tmp_path / FILES[0]).unlink()
    (tmp_path / FILES[1]).write_bytes(b"not audio")

    table = read(tmp_path)

    assert table["path"].tolist() == FILES[2:]
    reasons = {entry["path"]: entry["reason"] for entry in table.attrs["skipped"]}
    assert reasons[FILES[0]] == "listed in table 'emotion' but not found"
    assert reasons[FILES[1]].startswith("unreadable audio")


def test_folders_that_are_no_database(tmp_path: Path) -> None:
    with pytest.raises(CorpusLayoutError, match="no db.yaml in"):
        read(tmp_path)
    (tmp_path / "db.yaml").write_text("name: [unclosed\n")
    with pytest.raises(CorpusLayoutError, match="cannot load the audformat database"):
        read(tmp_path)


def test_config_options_are_checked_when_read(tmp_path: Path) -> None:
    entry = {"corpus": "audformat", "path": str(tmp_path), "options": {"table": "emotion", "colum": "x"}}

    with pytest.raises(ConfigError, match=r"unknown option\(s\) 'colum' for corpus 'audformat'; its options: table, emotion"):
        parse_config({"train": entry})
    config = parse_config({"train": {**entry, "options": {"table": "emotion", "speaker": "who"}}})
    assert config.entries()[0].options == {"table": "emotion", "speaker": "who"}
    assert config_to_dict(config)["train"][0]["options"] == {"table": "emotion", "speaker": "who"}
    # Without options an entry dumps as before options existed (the keys of finished fits stay valid).
    assert "options" not in config_to_dict(parse_config({"train": {"corpus": "emodb", "path": "x"}}))["train"][0]
    with pytest.raises(CorpusLayoutError, match=r"unknown option\(s\) 'split' for corpus 'emodb'; its options: none"):
        read_corpus("emodb", tmp_path, split="train")


def test_scan_takes_reader_options(tmp_path: Path) -> None:
    make_db(tmp_path).save(str(tmp_path))
    runner = CliRunner()

    result = runner.invoke(app, ["scan", "audformat", str(tmp_path), "--json", "--option", "table=emotion",
                                 "--option", "language=fr"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["files"], summary["labelled"], summary["language"]) == (4, 2, "fr")

    for bad, message in ((["--option", "table"], "--option expects KEY=VALUE"),
                         (["--option", "speed=2"], "unknown option(s) 'speed'")):
        result = runner.invoke(app, ["scan", "audformat", str(tmp_path), *bad])
        assert result.exit_code == 2 and message in result.output, result.output
