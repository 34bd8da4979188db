"""The registry: read_corpus dispatch and validation, summarize and class_by_speaker."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from crossemo.cli import app
from crossemo.corpora import COLUMNS, LABELS, READERS, class_by_speaker, describe_corpora, read_corpus, summarize
from crossemo.errors import CorpusLayoutError, CrossemoError
from tests.fixtures import BUILDERS, make_corpus, write_tone

LANGUAGES = {
    "iemocap": "en",
    "emodb": "de",
    "savee": "en",
    "cafe": "fr",
    "urdu": "ur",
    "aesd": "el",
    "ravdess": "en",
    "tess": "en",
    "cremad": "en",
    "emovo": "it",
    "casia": "zh",
    "nemo": "pl",
    "shemo": "fa",
    "subesco": "bn",
    "esd": "en,zh",  # by speaker
}
"""The directory corpora (SPEC section 5) and the language ``summarize`` reports for each."""


def test_registry_names_every_corpus_and_has_a_fixture_for_each() -> None:
    assert {*LANGUAGES, "manifest"} <= set(READERS)
    assert set(BUILDERS) == {*LANGUAGES, "manifest"}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every directory corpus, generated once with its odd cases, by name."""
    root = tmp_path_factory.mktemp("generated")
    return {name: make_corpus(name, root / name, odd_cases=True) for name in LANGUAGES}


@pytest.mark.parametrize("reader", sorted(LANGUAGES))
def test_no_reader_takes_another_corpus_for_its_own(generated: dict[str, Path], reader: str) -> None:
    # Corpora are recognised by the content of their names (CASIA and ESD: their folders), so
    # reading any other generated corpus finds nothing and names the expected layout.
    module = inspect.getmodule(READERS[reader])
    for name, path in generated.items():
        if name == reader:
            continue
        with pytest.raises(CorpusLayoutError) as raised:
            read_corpus(reader, path)
        message = str(raised.value)
        assert f"no {module.TITLE} files found" in message and message.endswith(module.LAYOUT), (reader, name)


def test_describe_corpora_lists_every_reader_with_language_and_layout() -> None:
    described = {info.name: info for info in describe_corpora()}

    assert list(described) == sorted(READERS)
    for name, language in LANGUAGES.items():
        info = described[name]
        module = inspect.getmodule(READERS[name])
        assert info.layout == module.LAYOUT and "e.g. " in info.layout
        assert info.title == module.TITLE
        if "," in language:
            assert info.language == module.LANGUAGE_NOTE and module.LANGUAGE is None
        else:
            assert info.language == module.LANGUAGE == language
    assert all(info.language and info.layout for info in described.values())


def test_scan_list_prints_every_corpus_as_table_and_json() -> None:
    runner = CliRunner()

    as_json = runner.invoke(app, ["scan", "--list", "--json"])
    as_table = runner.invoke(app, ["scan", "--list"], env={"COLUMNS": "400"})  # one line per corpus

    assert as_json.exit_code == 0, as_json.output
    listed = json.loads(as_json.stdout)["corpora"]
    assert [entry["name"] for entry in listed] == sorted(READERS)
    assert all(set(entry) == {"name", "title", "language", "layout"} for entry in listed)
    assert {entry["name"]: entry["language"] for entry in listed}["subesco"] == "bn"
    assert as_table.exit_code == 0, as_table.output
    for info in describe_corpora():
        assert info.title in as_table.stdout and info.layout in as_table.stdout


def test_scan_of_a_wrong_layout_names_the_expected_scheme(generated: dict[str, Path]) -> None:
    result = CliRunner().invoke(app, ["scan", "shemo", str(generated["subesco"])], env={"COLUMNS": "400"})

    assert result.exit_code == 2
    assert "no ShEMO files found" in result.output and "female/F01A01.wav" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("arguments", [["scan"], ["scan", "emodb"], ["scan", "--list", "emodb"]])
def test_scan_without_a_corpus_or_with_list_and_a_corpus_is_a_usage_error(arguments: list[str]) -> None:
    result = CliRunner().invoke(app, arguments)

    assert result.exit_code == 2
    assert "--list" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("name", sorted(LANGUAGES))
def test_every_generated_corpus_reads_with_its_language(tmp_path: Path, name: str) -> None:
    table = read_corpus(name, make_corpus(name, tmp_path))

    summary = summarize(table)

    assert list(table.columns) == list(COLUMNS)
    assert table["group"].notna().all()
    if name == "iemocap":  # the fold group is the session, shared by its two speakers
        assert table["group"].tolist() == [speaker[:5] for speaker in table["speaker"]]
        assert table["group"].nunique() == 5
    else:
        assert table["group"].tolist() == table["speaker"].tolist()
    assert summary["corpus"] == name
    assert summary["language"] == LANGUAGES[name]
    assert summary["files"] == len(table) > 0
    expected_labels = set(LABELS) - ({"neutral"} if name == "aesd" else set())
    assert {label for label, count in summary["labels"].items() if count} == expected_labels


def test_read_corpus_accepts_any_case_and_passes_include_song(tmp_path: Path) -> None:
    write_tone(tmp_path / "Actor_01" / "03-01-01-01-01-01-01.wav")
    write_tone(tmp_path / "Actor_01" / "03-02-01-01-01-01-01.wav")

    assert len(read_corpus("RAVDESS", tmp_path)) == 1
    assert len(read_corpus(" ravdess ", tmp_path, include_song=True)) == 2


def test_include_song_is_ignored_by_corpora_without_songs(tmp_path: Path) -> None:
    write_tone(tmp_path / "wav" / "03a01Wa.wav")

    assert len(read_corpus("emodb", tmp_path, include_song=True)) == 1


def test_unknown_corpus_lists_the_known_names(tmp_path: Path) -> None:
    with pytest.raises(CorpusLayoutError) as raised:
        read_corpus("crema-d", tmp_path)

    message = str(raised.value)
    assert "unknown corpus 'crema-d'" in message
    assert all(name in message for name in READERS)


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusLayoutError, match="emodb path not found: .*absent"):
        read_corpus("emodb", tmp_path / "absent")
    with pytest.raises(CorpusLayoutError, match="manifest path not found"):
        read_corpus("manifest", tmp_path / "absent.csv")


def test_a_corpus_read_as_another_is_one_crossemo_error(tmp_path: Path) -> None:
    root = make_corpus("emodb", tmp_path)

    with pytest.raises(CrossemoError, match="no RAVDESS files found.*70 audio files with other names"):
        read_corpus("ravdess", root)


def test_summarize_is_the_scan_json_object(tmp_path: Path) -> None:
    table = read_corpus("ravdess", make_corpus("ravdess", tmp_path, per_class=2, odd_cases=True))

    summary = summarize(table)

    assert list(summary) == ["corpus", "language", "files", "labelled", "labels", "emotions", "speakers", "skipped"]
    assert json.loads(json.dumps(summary)) == summary
    assert summary["files"] == 6 * 8 * 2
    assert summary["labelled"] == 6 * 4 * 2
    assert summary["labels"] == {label: 12 for label in LABELS}
    assert list(summary["labels"]) == list(LABELS)
    assert summary["emotions"] == {
        emotion: 12
        for emotion in ("angry", "calm", "disgust", "fearful", "happy", "neutral", "sad", "surprised")
    }
    assert list(summary["emotions"]) == sorted(summary["emotions"])
    assert summary["speakers"] == 6
    assert summary["skipped"] == table.attrs["skipped"] and len(summary["skipped"]) == 5
    assert all(set(entry) == {"path", "reason"} for entry in summary["skipped"])


def test_summarize_joins_several_languages_and_corpora(tmp_path: Path) -> None:
    for name in ("a.wav", "b.wav", "c.wav"):
        write_tone(tmp_path / name)
    (tmp_path / "manifest.csv").write_text(
        "path,emotion,language,corpus,speaker\na.wav,sad,fr,one,x\nb.wav,calm,en,two,x\nc.wav,anger,,,y\n",
        encoding="utf-8",
    )

    summary = summarize(read_corpus("manifest", tmp_path / "manifest.csv"))

    assert summary["language"] == "en,fr"
    assert summary["corpus"] == "manifest,one,two"
    assert summary["labels"] == {"neutral": 0, "sad": 1, "happy": 0, "angry": 1}
    assert summary["labelled"] == 2 and summary["files"] == 3 and summary["speakers"] == 2


def test_class_by_speaker_counts_labels_and_unlabelled(tmp_path: Path) -> None:
    names = [
        "wav/03a01Wa.wav", "wav/03a02Wa.wav", "wav/03a01La.wav",
        "wav/08a01Na.wav", "wav/08a01Ta.wav", "wav/08a01Fa.wav", "wav/08a01Ea.wav", "wav/08a01Aa.wav",
    ]
    for name in names:
        write_tone(tmp_path / name)

    counts = class_by_speaker(read_corpus("emodb", tmp_path))

    expected = pd.DataFrame(
        [[0, 0, 0, 2, 1], [1, 1, 1, 0, 2]],
        index=pd.Index(["Speaker_03", "Speaker_08"], name="speaker"),
        columns=[*LABELS, "unlabelled"],
    )
    pd.testing.assert_frame_equal(counts, expected)


def test_summary_of_an_empty_table_keeps_its_shape() -> None:
    # The feature layer summarizes what survives extraction, which may be nothing.
    table = pd.DataFrame(columns=list(COLUMNS))
    table.attrs["skipped"] = [{"path": "a.wav", "reason": "silent audio"}]

    summary = summarize(table)

    assert summary == {
        "corpus": None,
        "language": None,
        "files": 0,
        "labelled": 0,
        "labels": {label: 0 for label in LABELS},
        "emotions": {},
        "speakers": 0,
        "skipped": [{"path": "a.wav", "reason": "silent audio"}],
    }
    assert list(class_by_speaker(table).columns) == [*LABELS, "unlabelled"]
