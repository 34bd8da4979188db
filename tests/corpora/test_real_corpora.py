"""The readers on the real corpora in ../shared/corpora (skipped when absent).

Expected counts follow from the corpora's documentation, and each test also
re-derives them from the file names with a plain listing, independent of the
readers.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from crossemo.corpora import LABELS, class_by_speaker, read_corpus, summarize
from tests.fixtures import real_corpus

pytestmark = pytest.mark.corpus


def wav_names(root: Path) -> list[str]:
    return sorted(path.name for path in root.rglob("*") if path.suffix.lower() == ".wav")


def test_ravdess_subset() -> None:
    root = real_corpus("ravdess")
    names = wav_names(root)
    started = time.perf_counter()

    table = read_corpus("ravdess", root)

    elapsed = time.perf_counter() - started
    summary = summarize(table)
    # README: every neutral, happy, sad and angry speech file of 24 actors (4 neutral and
    # 8 of each other emotion per actor) plus one file of each other emotion for actors 01-04.
    assert summary["files"] == len(names) == 24 * (4 + 8 + 8 + 8) + 4 * 4 == 688
    assert summary["labels"] == {"neutral": 24 * 4, "sad": 24 * 8, "happy": 24 * 8, "angry": 24 * 8}
    assert summary["labelled"] == 672
    codes = Counter(name.split("-")[2] for name in names)
    assert summary["labels"] == {"neutral": codes["01"], "sad": codes["04"], "happy": codes["03"], "angry": codes["05"]}
    assert {summary["emotions"][emotion] for emotion in ("calm", "fearful", "disgust", "surprised")} == {4}
    assert summary["speakers"] == 24 and summary["skipped"] == []
    assert summary["language"] == "en"
    by_speaker = class_by_speaker(table)
    assert by_speaker[list(LABELS)].to_dict("list") == {
        "neutral": [4] * 24, "sad": [8] * 24, "happy": [8] * 24, "angry": [8] * 24,
    }
    assert by_speaker["unlabelled"].tolist() == [4] * 4 + [0] * 20
    assert table.groupby("gender")["speaker"].nunique().to_dict() == {"female": 12, "male": 12}
    assert table["duration_s"].between(1.0, 10.0).all()
    assert table["group"].tolist() == table["speaker"].tolist()
    assert elapsed < 5.0, f"reading 688 headers took {elapsed:.2f} s"


def test_emodb() -> None:
    root = real_corpus("emodb")
    names = wav_names(root)

    table = read_corpus("emodb", root)

    summary = summarize(table)
    assert summary["files"] == len(names) == 535
    assert summary["emotions"] == {
        "anger": 127, "boredom": 81, "disgust": 46, "fear": 69, "happiness": 71, "neutral": 79, "sadness": 62,
    }
    letters = Counter(name[5] for name in names)
    assert summary["labels"] == {
        "neutral": letters["N"], "sad": letters["T"], "happy": letters["F"], "angry": letters["W"],
    }
    assert summary["labelled"] == 127 + 71 + 62 + 79
    assert summary["speakers"] == 10 and summary["skipped"] == []
    assert summary["language"] == "de"
    genders = table.groupby("speaker")["gender"].first()
    male = ["Speaker_03", "Speaker_10", "Speaker_11", "Speaker_12", "Speaker_15"]
    assert sorted(genders[genders == "male"].index) == male
    # The original distribution: utterances of 1.2 to 9.0 s (shortest 12a02Ac, longest 08b03Tc).
    durations = table.set_index("path")["duration_s"]
    assert durations.between(1.2, 9.0).all()
    assert durations.min() == pytest.approx(1.2255, abs=1e-3) and durations.idxmin() == "wav/12a02Ac.wav"
    assert durations.max() == pytest.approx(8.978, abs=1e-3) and durations.idxmax() == "wav/08b03Tc.wav"
    assert table["group"].tolist() == table["speaker"].tolist()
