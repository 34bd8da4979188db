"""The built-in synthetic corpus: layout, determinism, idempotence, emotion and language effects."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from crossemo import synth
from crossemo.corpora import manifest as manifest_reader
from crossemo.corpora.base import LABELS
from crossemo.errors import ConfigError

SMALL = {"languages": ("xa", "xc"), "speakers_per_language": 2, "utterances_per_emotion_per_speaker": 3}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 languages x 2 speakers x 4 emotions x 3 utterances = 48 files."""
    return synth.synthesize(tmp_path_factory.mktemp("synth") / "corpus", **SMALL)


def read_rows(manifest: Path) -> list[dict[str, str]]:
    with manifest.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def tree_digest(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def active_level_db(audio: np.ndarray, sample_rate: int) -> float:
    """Mean power (dB) of the 20-ms frames within 30 dB of the loudest one."""
    frame = int(0.02 * sample_rate)
    power = np.mean(audio[: audio.size // frame * frame].reshape(-1, frame) ** 2, axis=1)
    return float(10 * np.log10(np.mean(power[power > power.max() * 1e-3])))


def median_f0(audio: np.ndarray, sample_rate: int) -> float:
    """Median autocorrelation F0 (Hz) over loud, periodic 40-ms frames."""
    frame, hop = int(0.04 * sample_rate), int(0.01 * sample_rate)
    starts = np.arange(0, audio.size - frame, hop)
    frames = audio[starts[:, None] + np.arange(frame)] * np.hanning(frame)
    energy = np.sum(frames**2, axis=1)
    spectrum = np.fft.rfft(frames, n=2 * frame, axis=1)
    autocorrelation = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, :frame]
    autocorrelation /= np.maximum(autocorrelation[:, :1], 1e-12)
    low, high = int(sample_rate / 500), int(sample_rate / 70)
    lags = low + np.argmax(autocorrelation[:, low:high], axis=1)
    strength = autocorrelation[np.arange(len(lags)), lags]
    periodic = (energy > energy.max() * 0.03) & (strength > 0.5)
    return float(np.median(sample_rate / lags[periodic]))


def high_band_ratio_db(audio: np.ndarray, sample_rate: int) -> float:
    """Energy above 1 kHz relative to energy below it, in dB (a spectral tilt measure)."""
    power = np.abs(np.fft.rfft(audio)) ** 2
    frequency = np.fft.rfftfreq(audio.size, 1 / sample_rate)
    return float(10 * np.log10(power[frequency >= 1000].sum() / power[(frequency > 50) & (frequency < 1000)].sum()))


def measures(corpus: Path) -> list[dict[str, object]]:
    """Level, pitch (semitones re. 1 Hz) and tilt of every recording, with its manifest row."""
    rows = []
    for row in read_rows(corpus):
        audio, sample_rate = soundfile.read(corpus.parent / row["path"])
        rows.append(
            {
                **row,
                "level": active_level_db(audio, sample_rate),
                "f0_st": 12 * np.log2(median_f0(audio, sample_rate)),
                "tilt": high_band_ratio_db(audio, sample_rate),
            }
        )
    return rows


def emotion_means(rows: list[dict[str, object]], measure: str) -> dict[str, float]:
    """Mean of ``measure`` per emotion after removing each speaker's mean (speaker-normalized)."""
    by_speaker: dict[str, list[float]] = {}
    for row in rows:
        by_speaker.setdefault(row["speaker"], []).append(row[measure])
    centred = {speaker: np.mean(values) for speaker, values in by_speaker.items()}
    return {
        emotion: float(np.mean([row[measure] - centred[row["speaker"]] for row in rows if row["emotion"] == emotion]))
        for emotion in LABELS
    }


def test_layout_manifests_and_audio(corpus: Path) -> None:
    root = corpus.parent
    rows = read_rows(corpus)
    assert list(rows[0]) == list(synth.MANIFEST_COLUMNS)
    assert len(rows) == 2 * 2 * 4 * 3
    assert {row["language"] for row in rows} == {"xa", "xc"}
    assert {row["corpus"] for row in rows} == {"synth_xa", "synth_xc"}
    for emotion in LABELS:
        assert sum(row["emotion"] == emotion for row in rows) == 12
    genders = {row["speaker"]: row["gender"] for row in rows}
    assert sorted(genders.values()) == ["female", "female", "male", "male"]
    for row in rows:
        assert row["path"].startswith(f"{row['language']}/{row['speaker']}/")
        info = soundfile.info(root / row["path"])
        assert (info.samplerate, info.channels, info.subtype, info.format) == (16000, 1, "PCM_16", "WAV")
        assert 1.5 <= info.duration <= 3.6
    for code in ("xa", "xc"):
        per_language = read_rows(root / code / "manifest.csv")
        assert len(per_language) == 24
        assert all((root / code / row["path"]).is_file() for row in per_language)
        assert {row["language"] for row in per_language} == {code}
    record = json.loads((root / "synth.json").read_text())
    assert record["parameters"]["languages"] == ["xa", "xc"]
    assert record["files"] == 48
    assert not list(root.parent.glob(".corpus.*")), "staging folder left behind"


def test_per_language_manifest_reads_as_a_corpus(corpus: Path) -> None:
    table = manifest_reader.read(corpus.parent / "xc" / "manifest.csv")
    assert len(table) == 24
    assert set(table["label"]) == set(LABELS)
    assert set(table["corpus"]) == {"synth_xc"}
    assert set(table["gender"]) == {"female", "male"}
    assert table["duration_s"].between(1.5, 3.6).all()


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    tiny = {"languages": ("xb",), "speakers_per_language": 1, "utterances_per_emotion_per_speaker": 1}
    first = synth.synthesize(tmp_path / "one", seed=3, **tiny)
    second = synth.synthesize(tmp_path / "two", seed=3, **tiny)
    other = synth.synthesize(tmp_path / "three", seed=4, **tiny)
    digest = tree_digest(first.parent)
    assert len(digest) == 4 + 3  # four recordings, two manifests, synth.json
    assert digest == tree_digest(second.parent)
    other_digest = tree_digest(other.parent)
    wavs = [name for name in digest if name.endswith(".wav")]
    assert all(digest[name] != other_digest[name] for name in wavs)


def test_second_call_rewrites_nothing_and_new_parameters_regenerate(tmp_path: Path) -> None:
    tiny = {"languages": ("xa",), "speakers_per_language": 1, "utterances_per_emotion_per_speaker": 1}
    manifest = synth.synthesize(tmp_path / "corpus", **tiny)
    stamps = {path: path.stat().st_mtime_ns for path in manifest.parent.rglob("*")}
    assert synth.synthesize(tmp_path / "corpus", **tiny) == manifest
    assert {path: path.stat().st_mtime_ns for path in manifest.parent.rglob("*")} == stamps

    more = {**tiny, "utterances_per_emotion_per_speaker": 2}
    synth.synthesize(tmp_path / "corpus", **more)
    assert len(read_rows(manifest)) == 8
    assert json.loads((manifest.parent / "synth.json").read_text())["files"] == 8
    assert sorted(path.name for path in tmp_path.iterdir()) == ["corpus"]


def test_incomplete_corpus_is_regenerated(tmp_path: Path) -> None:
    tiny = {"languages": ("xa",), "speakers_per_language": 1, "utterances_per_emotion_per_speaker": 1}
    manifest = synth.synthesize(tmp_path / "corpus", **tiny)
    digest = tree_digest(manifest.parent)
    victim = manifest.parent / read_rows(manifest)[0]["path"]
    victim.unlink()
    synth.synthesize(tmp_path / "corpus", **tiny)
    assert tree_digest(manifest.parent) == digest


def test_failed_run_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def failing(*args: object, **kwargs: object) -> np.ndarray:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return np.zeros(16000, dtype=np.float32)

    monkeypatch.setattr(synth.corpus, "render_utterance", failing)  # where synthesize looks it up
    with pytest.raises(RuntimeError, match="disk full"):
        synth.synthesize(tmp_path / "corpus", languages=("xa",), speakers_per_language=1)
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_overwrite_a_folder_that_is_not_a_synthetic_corpus(tmp_path: Path) -> None:
    precious = tmp_path / "corpus" / "notes.txt"
    precious.parent.mkdir()
    precious.write_text("mine")
    with pytest.raises(ConfigError, match="holds no synthetic corpus"):
        synth.synthesize(tmp_path / "corpus", languages=("xa",), speakers_per_language=1)
    assert precious.read_text() == "mine"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["corpus"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"languages": ("xa", "klingon")}, "unknown synthetic languages"),
        ({"languages": "xa"}, "not one string"),
        ({"languages": ()}, "none given"),
        ({"emotions": ("neutral", "bored")}, "unknown emotions"),
        ({"emotions": ("sad", "sad")}, "repeat"),
        ({"speakers_per_language": 0}, "speakers_per_language"),
        ({"utterances_per_emotion_per_speaker": 1.5}, "utterances_per_emotion_per_speaker"),
        ({"sample_rate": 4000}, "sample_rate"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_parameters_are_reported(tmp_path: Path, options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        synth.synthesize(tmp_path / "corpus", **options)
    assert not (tmp_path / "corpus").exists()


@pytest.mark.parametrize("sample_rate", [8000, 22050])
def test_other_sample_rates(sample_rate: int) -> None:
    language = synth.LANGUAGES["xb"]
    studio = synth.make_studio(language, sample_rate=sample_rate, seed=0)
    speaker = synth.make_speakers(language, 2, seed=0)[1]
    audio = synth.render_utterance(language, speaker, "angry", rng=np.random.default_rng(0), studio=studio)
    assert audio.dtype == np.float32 and np.all(np.isfinite(audio))
    assert 1.5 * sample_rate <= audio.size <= 3.6 * sample_rate
    assert 0.01 < np.max(np.abs(audio)) < 1


def test_speaker_pools_differ_by_gender_and_language() -> None:
    speakers = {code: synth.make_speakers(synth.LANGUAGES[code], 6, seed=0) for code in synth.LANGUAGES}
    for pool in speakers.values():
        female = [speaker.f0_hz for speaker in pool if speaker.gender == "female"]
        male = [speaker.f0_hz for speaker in pool if speaker.gender == "male"]
        assert len(female) == len(male) == 3
        assert min(female) > max(male)
    mean_f0 = {code: np.mean([np.log(speaker.f0_hz) for speaker in pool]) for code, pool in speakers.items()}
    assert mean_f0["xc"] > mean_f0["xa"] > mean_f0["xb"]


def test_emotions_move_level_pitch_and_tilt_in_the_documented_directions(corpus: Path) -> None:
    rows = measures(corpus)
    level = emotion_means(rows, "level")
    assert level["angry"] > level["happy"] > level["neutral"] > level["sad"]
    pitch = emotion_means(rows, "f0_st")
    assert min(pitch["angry"], pitch["happy"]) > pitch["neutral"] > pitch["sad"]
    tilt = emotion_means(rows, "tilt")
    assert tilt["angry"] > tilt["neutral"]
    assert min(tilt["angry"], tilt["happy"]) > tilt["sad"]


def test_languages_differ_in_recording_channel(corpus: Path) -> None:
    floors: dict[str, list[float]] = {"xa": [], "xc": []}
    for row in read_rows(corpus):
        audio, sample_rate = soundfile.read(corpus.parent / row["path"])
        frame = int(0.02 * sample_rate)
        power = np.mean(audio[: audio.size // frame * frame].reshape(-1, frame) ** 2, axis=1)
        floors[row["language"]].append(10 * np.log10(np.percentile(power, 5)))
    assert np.mean(floors["xc"]) > max(floors["xa"]) + 10


def test_languages_differ_in_vowels_and_rhythm() -> None:
    """Same speaker, same emotion, same random draws: only the language's phonology differs."""
    speaker = synth.make_speakers(synth.LANGUAGES["xa"], 1, seed=0)[0]
    plans = {
        code: [
            synth._plan_segments(
                synth.LANGUAGES[code],
                speaker,
                synth.EMOTIONS["neutral"],
                duration_s=3.0,
                rate=1.0,
                rng=np.random.default_rng(index),
            )
            for index in range(20)
        ]
        for code in ("xa", "xb", "xc")
    }

    def vowels(code: str) -> list[synth._Segment]:
        return [segment for plan in plans[code] for segment in plan if segment.kind == "vowel"]

    def consonant_share(code: str) -> float:
        speech = [s for plan in plans[code] for s in plan if s.kind not in ("silence", "pause")]
        return sum(s.duration_s for s in speech if s.kind != "vowel") / sum(s.duration_s for s in speech)

    assert {segment.symbol for segment in vowels("xa")} == set(synth.LANGUAGES["xa"].vowels)
    assert {segment.symbol for segment in vowels("xb")} > {"ə", "y", "æ"}
    assert "ɯ" in {segment.symbol for segment in vowels("xc")}
    # Mora timing: more, shorter vowels in xc; stress timing: more varied vowel durations in xb.
    assert len(vowels("xc")) > len(vowels("xa"))
    variation = {code: np.std(np.log([s.duration_s for s in vowels(code)])) for code in plans}
    assert variation["xb"] > variation["xa"]
    assert consonant_share("xb") > consonant_share("xc")
