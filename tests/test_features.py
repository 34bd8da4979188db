"""Feature extraction: the extractor registry, exact agreement with openSMILE, the content-hashed cache, skips."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import opensmile
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile

import crossemo.features as features
from crossemo.audio import read_audio
from crossemo.errors import CrossemoError
from crossemo.features import (
    EXTRACTORS,
    CacheError,
    FeatureError,
    FeatureExtractor,
    FeatureSet,
    as_feature_set,
    default_cache_dir,
    extract,
    extract_corpus,
    extract_files,
    extraction,
    feature_cache_dir,
    feature_names,
    get_extractor,
)
from crossemo.features import cache as feature_cache
from tests.fixtures import real_corpus

NAMES = feature_names()


def speech_like(seconds: float, sample_rate: int, *, seed: int, channels: int = 1) -> np.ndarray:
    """A voiced-sounding test signal: harmonics on a gliding pitch, a syllable envelope, noise."""
    rng = np.random.default_rng(seed)
    time_s = np.arange(int(seconds * sample_rate)) / sample_rate
    columns = []
    for channel in range(channels):
        pitch = rng.uniform(110, 240) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(1, 4) * time_s))
        phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
        voice = sum(np.sin(k * phase) / k for k in range(1, 8))
        envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * time_s + channel) ** 2
        columns.append(0.2 * envelope * voice + 0.01 * rng.normal(size=time_s.size))
    signal = np.stack(columns, axis=1)
    return signal[:, 0] if channels == 1 else signal


def write_wav(path: Path, signal: np.ndarray, sample_rate: int = 16_000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, signal, sample_rate, subtype="PCM_16")
    return path


def reference_smile() -> opensmile.Smile:
    return opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel.Functionals
    )


def direct(path: Path) -> np.ndarray:
    """The reference: openSMILE on crossemo's mono mix-down of the file."""
    signal, sample_rate = read_audio(path)
    return reference_smile().process_signal(signal, sample_rate).to_numpy()[0]


def table_of(root: Path, names: list[str], **attrs: object) -> pd.DataFrame:
    """A corpus-like table of files under ``root`` (only the columns extraction uses, plus one)."""
    table = pd.DataFrame({"path": names, "speaker": [f"s{i}" for i in range(len(names))]})
    table.attrs = {"root": str(root), **attrs}
    return table


def make_corpus(root: Path, count: int, *, seconds: float = 0.5) -> pd.DataFrame:
    names = [f"spk/utt{i:02d}.wav" for i in range(count)]
    for i, name in enumerate(names):
        write_wav(root / name, speech_like(seconds, 16_000, seed=i))
    return table_of(root, names)


def cached_keys(cache_dir: Path, feature_set: str | FeatureExtractor = "egemaps") -> set[str]:
    folder = feature_cache_dir(cache_dir, feature_set)
    return {key for shard in folder.glob("*.parquet") for key in pd.read_parquet(shard)["sha256"]}


class ToyExtractor(FeatureExtractor):
    """A cheap extractor of three statistics, not in the registry (module level: workers unpickle it)."""

    id = "toy"
    version = "1"
    feature_names = ("rms", "peak", "mean")

    def compute(self, signal: np.ndarray, sample_rate: int) -> np.ndarray:
        return np.array([np.sqrt(np.mean(signal**2)), np.max(np.abs(signal)), np.mean(signal)], dtype=np.float32)


class ToyExtractor2(ToyExtractor):
    """The same id, values that differ, and so a new version."""

    version = "2"

    def compute(self, signal: np.ndarray, sample_rate: int) -> np.ndarray:
        return 2 * super().compute(signal, sample_rate)


class Impostor(ToyExtractor):
    """Claims the default's id, with another version: it must not see eGeMAPS values."""

    id = "egemaps"
    version = "impostor"


def toy_values(path: Path, extractor: FeatureExtractor | None = None) -> np.ndarray:
    signal, sample_rate = read_audio(path)
    return (extractor or ToyExtractor()).compute(signal, sample_rate)


# --- names and options ------------------------------------------------------


def test_feature_names_are_opensmiles_88_egemaps_functionals() -> None:
    smile = reference_smile()

    assert NAMES == list(smile.feature_names)
    assert len(NAMES) == 88 == len(set(NAMES))
    assert len(feature_names("GeMAPSv01b")) == 62


def test_unknown_feature_set_is_a_clear_error_naming_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(FeatureError, match="unknown feature set 'MFCC'") as caught:
        extract_files([tmp_path / "a.wav"], feature_set="MFCC", cache_dir=tmp_path)
    assert isinstance(caught.value, CrossemoError)
    with pytest.raises(FeatureError, match="unknown feature set 'MFCC'") as caught:
        get_extractor("MFCC")
    known = str(caught.value).split("known: ", 1)[1]
    assert [name for name in EXTRACTORS if name in known] == ["egemaps", "gemaps", "compare", "emobase"]
    assert "hf:MODEL" in known
    assert "eGeMAPSv02" in known and "GeMAPSv01b" in known
    assert not list(tmp_path.iterdir())  # nothing was hashed or cached


# --- the extractor registry ---------------------------------------------------


def test_registry_names_aliases_and_one_instance_per_process() -> None:
    assert list(EXTRACTORS) == ["egemaps", "gemaps", "compare", "emobase"]
    with pytest.raises(TypeError):
        EXTRACTORS["mine"] = EXTRACTORS["egemaps"]  # type: ignore[index]
    egemaps = get_extractor("egemaps")
    assert get_extractor("eGeMAPSv02") is egemaps is get_extractor(FeatureSet.eGeMAPSv02)
    assert get_extractor("GeMAPSv01b") is get_extractor("gemaps") is not egemaps
    assert (egemaps.id, egemaps.feature_set) == ("egemaps", "eGeMAPSv02")
    assert egemaps.version == f"eGeMAPSv02-opensmile{opensmile.__version__}"
    assert egemaps.describe()["n_features"] == len(egemaps.feature_names) == 88
    # The names bundles and older tables record keep working, both ways round.
    assert as_feature_set("egemaps") is as_feature_set("eGeMAPSv02") is FeatureSet.eGeMAPSv02
    assert as_feature_set(get_extractor("gemaps")) is FeatureSet.GeMAPSv01b
    with pytest.raises(FeatureError, match="unknown feature set 'toy'"):
        as_feature_set(ToyExtractor())


@pytest.mark.parametrize(
    ("name", "smile_set", "count"),
    [
        ("egemaps", opensmile.FeatureSet.eGeMAPSv02, 88),
        ("gemaps", opensmile.FeatureSet.GeMAPSv01b, 62),
        ("compare", opensmile.FeatureSet.ComParE_2016, 6373),
        ("emobase", opensmile.FeatureSet.emobase, 988),
    ],
)
def test_opensmile_extractors_equal_process_signal_on_a_tone(
    tmp_path: Path, name: str, smile_set: opensmile.FeatureSet, count: int
) -> None:
    time_s = np.arange(16_000) / 16_000
    tone = (0.3 * np.sin(2 * np.pi * 220 * time_s) * (1 + 0.2 * np.sin(2 * np.pi * 3 * time_s))).astype(np.float32)
    smile = opensmile.Smile(feature_set=smile_set, feature_level=opensmile.FeatureLevel.Functionals)
    extractor = get_extractor(name)

    expected = smile.process_signal(tone, 16_000).to_numpy()[0]
    assert list(extractor.feature_names) == list(smile.feature_names) == feature_names(name)
    assert len(expected) == count
    np.testing.assert_array_equal(extractor.compute(tone, 16_000), expected)

    path = write_wav(tmp_path / "tone.wav", tone)
    result = extract_files([path], feature_set=name, cache_dir=tmp_path / "cache", jobs=1, progress=False)
    signal, sample_rate = read_audio(path)
    assert list(result.columns) == ["path", *smile.feature_names, "error"]
    assert result.attrs["feature_set"] == smile_set.name
    np.testing.assert_array_equal(result[list(smile.feature_names)].to_numpy()[0],
                                  smile.process_signal(signal, sample_rate).to_numpy()[0])


def test_an_extractor_that_breaks_the_interface_is_refused(tmp_path: Path) -> None:
    class Hyphenated(ToyExtractor):
        id = "toy-2"

    class Repeated(ToyExtractor):
        feature_names = ("rms", "rms", "mean")

    with pytest.raises(FeatureError, match="id 'toy-2' must match"):
        extract_files([tmp_path / "a.wav"], feature_set=Hyphenated(), cache_dir=tmp_path)
    with pytest.raises(FeatureError, match="feature_names are not distinct"):
        feature_names(Repeated())


def test_a_vector_of_the_wrong_length_skips_the_file(tmp_path: Path) -> None:
    class Short(ToyExtractor):
        id = "short"

        def compute(self, signal: np.ndarray, sample_rate: int) -> np.ndarray:
            return super().compute(signal, sample_rate)[:2]

    path = write_wav(tmp_path / "a.wav", speech_like(0.4, 16_000, seed=1))
    result = extract_files([path], feature_set=Short(), cache_dir=tmp_path / "cache", jobs=1, progress=False)

    assert result["error"][0] == "feature extraction failed: short gave (2,) values for 3 features"
    assert not feature_cache_dir(tmp_path / "cache", Short()).exists()


def test_a_table_without_paths_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FeatureError, match="no 'path' column"):
        extract(pd.DataFrame({"file": ["a.wav"]}), cache_dir=tmp_path)


def test_a_table_with_an_empty_path_cell_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FeatureError, match="not a file path: nan"):
        extract(pd.DataFrame({"path": ["a.wav", np.nan]}), cache_dir=tmp_path)


def test_default_cache_dir_prefers_crossemo_then_xdg_then_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CROSSEMO_CACHE_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("CROSSEMO_CACHE_DIR")
    assert default_cache_dir() == tmp_path / "xdg" / "crossemo"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "crossemo"
    assert feature_cache_dir().name == f"egemaps-eGeMAPSv02-opensmile{opensmile.__version__}"


def test_cache_dir_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CROSSEMO_CACHE_DIR", str(tmp_path / "env-cache"))
    path = write_wav(tmp_path / "a.wav", speech_like(0.4, 16_000, seed=1))

    extract_files([path], jobs=1, progress=False)

    assert cached_keys(tmp_path / "env-cache") == {features.file_sha256(path)}


# --- agreement with openSMILE -------------------------------------------------


def test_mono_file_matches_opensmile_process_signal_and_process_file(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "mono.wav", speech_like(1.0, 16_000, seed=0))
    smile = reference_smile()

    result = extract_files([path], cache_dir=tmp_path / "cache", jobs=1, progress=False)

    values = result[NAMES].to_numpy()[0]
    assert result[NAMES].dtypes.unique().tolist() == [np.dtype(np.float32)]
    np.testing.assert_array_equal(values, direct(path))
    np.testing.assert_array_equal(values, smile.process_file(str(path)).to_numpy()[0])


def test_stereo_is_mixed_down_before_extraction(tmp_path: Path) -> None:
    stereo = speech_like(1.0, 16_000, seed=3, channels=2)
    path = write_wav(tmp_path / "stereo.wav", stereo)
    smile = reference_smile()
    signal, sample_rate = soundfile.read(path, dtype="float32", always_2d=True)

    values = extract_files([path], cache_dir=tmp_path / "cache", jobs=1, progress=False)[NAMES].to_numpy()[0]

    np.testing.assert_array_equal(values, smile.process_signal(signal.mean(axis=1), sample_rate).to_numpy()[0])
    first_channel_only = smile.process_file(str(path)).to_numpy()[0]  # openSMILE's own default
    assert not np.array_equal(values, first_channel_only)


@pytest.mark.parametrize("sample_rate", [8_000, 44_100])
def test_other_sample_rates_match_opensmile(tmp_path: Path, sample_rate: int) -> None:
    path = write_wav(tmp_path / f"sr{sample_rate}.wav", speech_like(0.6, sample_rate, seed=5), sample_rate)

    result = extract_files([path], cache_dir=tmp_path / "cache", jobs=1, progress=False)

    assert result["error"].tolist() == [None]
    np.testing.assert_array_equal(result[NAMES].to_numpy()[0], direct(path))


@pytest.mark.corpus
def test_real_ravdess_file_matches_opensmile(tmp_path: Path) -> None:
    path = sorted(real_corpus("ravdess").rglob("*.wav"))[0]
    smile = reference_smile()

    values = extract_files([path], cache_dir=tmp_path, jobs=1, progress=False)[NAMES].to_numpy()[0]

    np.testing.assert_array_equal(values, direct(path))
    np.testing.assert_array_equal(values, smile.process_file(str(path)).to_numpy()[0])


# --- the table contract -------------------------------------------------------


def test_extract_keeps_rows_index_and_attrs_and_adds_the_features(tmp_path: Path) -> None:
    table = make_corpus(tmp_path / "corpus", 3)
    table.index = [10, 20, 30]
    table.attrs["skipped"] = [{"path": "readme.txt", "reason": "not audio"}]

    result = extract(table, cache_dir=tmp_path / "cache", jobs=1, progress=False)

    assert list(result.columns) == ["path", "speaker", *NAMES]
    assert list(result.index) == [10, 20, 30]
    assert result["speaker"].tolist() == ["s0", "s1", "s2"]
    assert result.attrs["root"] == table.attrs["root"]
    assert result.attrs["skipped"] == [{"path": "readme.txt", "reason": "not audio"}]
    assert result.attrs["feature_set"] == FeatureSet.eGeMAPSv02.value
    assert result.attrs["extractor"] == get_extractor("egemaps").describe()
    assert result.attrs["extractor"]["version"] == f"eGeMAPSv02-opensmile{opensmile.__version__}"
    assert result.attrs["extractor"]["n_features"] == 88
    np.testing.assert_array_equal(result.loc[20, NAMES].to_numpy(), direct(tmp_path / "corpus" / table.loc[20, "path"]))


def test_bad_files_are_skipped_with_their_reason_and_never_cached(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    good = write_wav(root / "good.wav", speech_like(0.5, 16_000, seed=7))
    (root / "garbage.wav").write_bytes(np.random.default_rng(0).bytes(4000))
    (root / "empty.wav").write_bytes(b"")
    write_wav(root / "no_samples.wav", np.zeros(0))
    write_wav(root / "zeros.wav", np.zeros(16_000))
    write_wav(root / "short.wav", speech_like(0.1, 16_000, seed=8))
    names = ["good.wav", "garbage.wav", "empty.wav", "no_samples.wav", "zeros.wav", "short.wav", "missing.wav"]
    cache = tmp_path / "cache"

    result = extract(table_of(root, names), cache_dir=cache, jobs=1, progress=False)

    assert result["path"].tolist() == ["good.wav"]
    reasons = {entry["path"]: entry["reason"] for entry in result.attrs["skipped"]}
    assert sorted(reasons) == sorted(names[1:])
    assert reasons["garbage.wav"].startswith("unreadable audio:")
    assert reasons["empty.wav"].startswith("unreadable audio:")
    assert reasons["missing.wav"].startswith("unreadable audio:")
    assert reasons["no_samples.wav"].startswith(("empty audio", "unreadable audio"))
    assert reasons["zeros.wav"].startswith("silent audio")
    assert reasons["short.wav"].startswith("too short")
    assert cached_keys(cache) == {features.file_sha256(good)}

    again = extract(table_of(root, names), cache_dir=cache, jobs=1, progress=False)
    assert again.attrs["skipped"] == result.attrs["skipped"]
    assert again.attrs["cached"] == 1


@pytest.mark.filterwarnings("ignore:Segment too short")
def test_nan_features_are_skipped_and_not_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "corpus"
    table = make_corpus(root, 2)

    def first_20_ms(path: str) -> tuple[np.ndarray, int]:
        # Shorter than openSMILE's analysis window: it fills every functional with NaN.
        signal, sample_rate = read_audio(path)
        return (signal[: sample_rate // 50], sample_rate) if path.endswith("utt01.wav") else (signal, sample_rate)

    monkeypatch.setattr(extraction, "read_audio", first_20_ms)
    result = extract(table, cache_dir=tmp_path / "cache", jobs=1, progress=False)

    assert result["path"].tolist() == ["spk/utt00.wav"]
    [entry] = result.attrs["skipped"]
    assert entry["path"] == "spk/utt01.wav"
    assert entry["reason"].startswith(f"NaN features: {NAMES[0]}, ")
    assert entry["reason"].endswith("and 83 more")
    assert cached_keys(tmp_path / "cache") == {features.file_sha256(root / "spk/utt00.wav")}


def test_extract_files_reports_every_path_in_order_with_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = write_wav(tmp_path / "a.wav", speech_like(0.4, 16_000, seed=11))
    silent = write_wav(tmp_path / "b.wav", np.zeros(8_000))
    monkeypatch.chdir(tmp_path)  # relative paths are made absolute against the working directory

    result = extract_files(["b.wav", good, "nowhere.wav"], cache_dir=tmp_path / "cache", jobs=1, progress=False)

    assert list(result.columns) == ["path", *NAMES, "error"]
    assert result["path"].tolist() == [str(silent), str(good), str(tmp_path / "nowhere.wav")]
    assert result["error"][1] is None
    assert result["error"][0].startswith("silent audio")
    assert result["error"][2].startswith("unreadable audio:")
    assert result.loc[[0, 2], NAMES].isna().all().all()
    np.testing.assert_array_equal(result.loc[1, NAMES].to_numpy(), direct(good))


# --- the cache ----------------------------------------------------------------


def test_second_run_computes_nothing_and_gives_the_same_table(tmp_path: Path) -> None:
    table = make_corpus(tmp_path / "corpus", 4)
    cache = tmp_path / "cache"

    first = extract(table, cache_dir=cache, jobs=1, progress=False)
    second = extract(table, cache_dir=cache, jobs=1, progress=False)

    assert (first.attrs["computed"], first.attrs["cached"]) == (4, 0)
    assert (second.attrs["computed"], second.attrs["cached"]) == (0, 4)
    pd.testing.assert_frame_equal(first, second)


def test_cache_is_keyed_by_content_not_by_name(tmp_path: Path) -> None:
    table = make_corpus(tmp_path / "corpus", 2)
    cache = tmp_path / "cache"
    extract(table, cache_dir=cache, jobs=1, progress=False)
    copy = tmp_path / "elsewhere" / "renamed.wav"
    copy.parent.mkdir()
    copy.write_bytes((tmp_path / "corpus" / "spk/utt01.wav").read_bytes())

    result = extract_files([copy], cache_dir=cache, jobs=1, progress=False)

    assert (result.attrs["computed"], result.attrs["cached"]) == (0, 1)


def test_changed_file_content_is_recomputed(tmp_path: Path) -> None:
    table = make_corpus(tmp_path / "corpus", 3)
    cache = tmp_path / "cache"
    extract(table, cache_dir=cache, jobs=1, progress=False)
    changed = tmp_path / "corpus" / "spk/utt01.wav"
    write_wav(changed, speech_like(0.5, 16_000, seed=99))  # same size, new content

    result = extract(table, cache_dir=cache, jobs=1, progress=False)

    assert (result.attrs["computed"], result.attrs["cached"]) == (1, 2)
    np.testing.assert_array_equal(result.loc[1, NAMES].to_numpy(), direct(changed))


def test_unchanged_files_are_not_rehashed_and_touched_ones_are(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = make_corpus(tmp_path / "corpus", 3)
    cache = tmp_path / "cache"
    extract(table, cache_dir=cache, jobs=1, progress=False)
    hashed: list[str] = []
    real_sha256 = features.file_sha256
    monkeypatch.setattr(feature_cache, "file_sha256", lambda path: hashed.append(path) or real_sha256(path))

    extract(table, cache_dir=cache, jobs=1, progress=False)
    assert hashed == []

    touched = tmp_path / "corpus" / "spk/utt02.wav"
    os.utime(touched, ns=(1_000_000_000, 1_000_000_000))
    result = extract(table, cache_dir=cache, jobs=1, progress=False)
    assert hashed == [str(touched)]
    assert (result.attrs["computed"], result.attrs["cached"]) == (0, 3)  # same content: still cached


def test_new_content_behind_an_old_modification_time_is_recomputed(tmp_path: Path) -> None:
    table = make_corpus(tmp_path / "corpus", 2)
    cache = tmp_path / "cache"
    extract(table, cache_dir=cache, jobs=1, progress=False)
    changed = tmp_path / "corpus" / "spk/utt00.wav"
    before = changed.stat()
    write_wav(changed, speech_like(0.5, 16_000, seed=123))
    os.utime(changed, ns=(before.st_atime_ns, before.st_mtime_ns))  # as cp -p or a careless tool would
    assert changed.stat().st_size == before.st_size

    result = extract(table, cache_dir=cache, jobs=1, progress=False)

    assert result.attrs["computed"] == 1
    np.testing.assert_array_equal(result.loc[0, NAMES].to_numpy(), direct(changed))


def test_duplicate_content_is_computed_once(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    table = make_corpus(root, 2)
    (root / "copy.wav").write_bytes((root / "spk/utt00.wav").read_bytes())
    table = table_of(root, [*table["path"], "copy.wav"])

    result = extract(table, cache_dir=tmp_path / "cache", jobs=1, progress=False)

    assert result.attrs["computed"] == 2
    np.testing.assert_array_equal(result.loc[0, NAMES].to_numpy(), result.loc[2, NAMES].to_numpy())


def test_a_run_over_more_files_only_computes_the_new_ones(tmp_path: Path) -> None:
    table = make_corpus(tmp_path / "corpus", 5)
    cache = tmp_path / "cache"
    extract(table.iloc[:2], cache_dir=cache, jobs=1, progress=False)

    result = extract(table, cache_dir=cache, jobs=1, progress=False)

    assert (result.attrs["computed"], result.attrs["cached"]) == (3, 2)


def test_each_extractor_id_and_version_has_its_own_cache_folder(tmp_path: Path) -> None:
    table = make_corpus(tmp_path / "corpus", 3)
    paths = [tmp_path / "corpus" / path for path in table["path"]]
    cache = tmp_path / "cache"
    egemaps = extract(table, cache_dir=cache, jobs=1, progress=False)

    toy = extract(table, feature_set=ToyExtractor(), cache_dir=cache, jobs=1, progress=False)

    assert (toy.attrs["computed"], toy.attrs["cached"]) == (3, 0)  # nothing taken from eGeMAPS
    assert list(toy.columns) == ["path", "speaker", "rms", "peak", "mean"]
    assert toy[["rms", "peak", "mean"]].dtypes.unique().tolist() == [np.dtype(np.float32)]
    np.testing.assert_array_equal(toy[["rms", "peak", "mean"]].to_numpy(), np.vstack([toy_values(p) for p in paths]))
    assert toy.attrs["feature_set"] == "toy"
    assert toy.attrs["extractor"] == {"id": "toy", "name": "toy", "version": "1", "feature_set": "toy", "n_features": 3,
                                      "dtype": "float32"}
    assert feature_cache_dir(cache, ToyExtractor()) == cache / "features" / "toy-1"
    assert cached_keys(cache, ToyExtractor()) == cached_keys(cache) == {features.file_sha256(p) for p in paths}

    again = extract(table, feature_set=ToyExtractor(), cache_dir=cache, jobs=1, progress=False)
    assert (again.attrs["computed"], again.attrs["cached"]) == (0, 3)
    pd.testing.assert_frame_equal(again, toy)

    newer = extract(table, feature_set=ToyExtractor2(), cache_dir=cache, jobs=1, progress=False)
    assert (newer.attrs["computed"], newer.attrs["cached"]) == (3, 0)  # a new version: recomputed
    np.testing.assert_array_equal(newer["rms"].to_numpy(), 2 * toy["rms"].to_numpy())

    impostor = extract(table, feature_set=Impostor(), cache_dir=cache, jobs=1, progress=False)
    assert (impostor.attrs["computed"], impostor.attrs["cached"]) == (3, 0)
    np.testing.assert_array_equal(impostor[["rms", "peak", "mean"]].to_numpy(), toy[["rms", "peak", "mean"]].to_numpy())

    folders = sorted(folder.name for folder in (cache / "features").iterdir())
    assert folders == sorted([feature_cache_dir(cache).name, "toy-1", "toy-2", "egemaps-impostor"])
    last = extract(table, cache_dir=cache, jobs=1, progress=False)
    assert (last.attrs["computed"], last.attrs["cached"]) == (0, 3)
    pd.testing.assert_frame_equal(last, egemaps)


def test_a_version_unfit_for_a_folder_name_gets_a_distinct_safe_one(tmp_path: Path) -> None:
    class Slashed(ToyExtractor):
        version = "1.0/beta"

    class Underscored(ToyExtractor):
        version = "1.0_beta"

    slashed = feature_cache_dir(tmp_path, Slashed())
    assert slashed.parent == tmp_path / "features"
    assert slashed.name.startswith("toy-1.0_beta-")
    assert feature_cache_dir(tmp_path, Underscored()).name == "toy-1.0_beta"


def test_workers_get_a_registered_extractor_by_name_and_another_one_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = make_corpus(tmp_path / "corpus", 2, seconds=0.3)
    real_map = features.map_tasks
    sent = []

    def recording_map(fn, items, **options):
        sent.extend(reference for reference, _ in items)
        return real_map(fn, items, **options)

    monkeypatch.setattr(features, "map_tasks", recording_map)
    toy = ToyExtractor()
    extract(table, cache_dir=tmp_path / "cache", jobs=1, progress=False)
    extract(table, feature_set="eGeMAPSv02", cache_dir=tmp_path / "other", jobs=1, progress=False)
    extract(table, feature_set=toy, cache_dir=tmp_path / "cache", jobs=1, progress=False)

    assert sent == ["egemaps", "egemaps", toy]
    assert features._compute_batch(("egemaps", [("k", str(tmp_path / "corpus" / table["path"][0]))]))[0][0] == "k"


def test_an_unregistered_extractor_runs_in_worker_processes(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(extraction, "POOL_MIN_FILES", 0)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(Path(__file__).parents[1]),
                                                                  os.environ.get("PYTHONPATH")])))
    table = make_corpus(tmp_path / "corpus", 4, seconds=0.3)

    serial = extract(table, feature_set=ToyExtractor(), cache_dir=tmp_path / "serial", jobs=1, progress=False)
    parallel = extract(table, feature_set=ToyExtractor(), cache_dir=tmp_path / "parallel", jobs=2, progress=False)

    assert parallel.attrs["computed"] == 4
    pd.testing.assert_frame_equal(serial, parallel)


STRING_TYPES = pytest.mark.parametrize("string_type", [pa.large_string(), pa.string()], ids=["large", "plain"])


def shard_by_hand(folder: Path, columns: dict[str, list], string_type: pa.DataType) -> Path:
    """A shard whose text columns are ``string_type``.

    A merge through pandas' string columns used to write ``large_string``, an append
    of Python lists ``string`` (and pandas 2 ``string`` where pandas 3 writes ``large_string``).
    """
    table = pa.table(
        {name: pa.array(values, type=string_type if isinstance(values[0], str) else None)
         for name, values in columns.items()}
    )
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / "0-compacted.parquet")
    return folder / "0-compacted.parquet"


@STRING_TYPES
def test_a_file_hash_shard_of_other_string_types_reads_with_later_ones(tmp_path: Path, string_type) -> None:
    cache = tmp_path / "cache"
    old = write_wav(tmp_path / "old.wav", speech_like(0.4, 16_000, seed=40))
    status = old.stat()
    shard = shard_by_hand(
        cache / "file-hashes",
        {"path": [str(old)], "size": [status.st_size], "mtime_ns": [status.st_mtime_ns],
         "ctime_ns": [status.st_ctime_ns], "sha256": [features.file_sha256(old)]},
        string_type,
    )
    assert pq.read_schema(shard).field("path").type == string_type
    new = write_wav(tmp_path / "new.wav", speech_like(0.4, 16_000, seed=41))

    first = extract_files([old, new], cache_dir=cache, jobs=1, progress=False)  # appends a "string" shard
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # both shards read: none dropped as unreadable
        second = extract_files([old, new], cache_dir=cache, jobs=1, progress=False)

    assert len(list((cache / "file-hashes").glob("*.parquet"))) == 2
    assert first["error"].tolist() == second["error"].tolist() == [None, None]
    assert (second.attrs["computed"], second.attrs["cached"]) == (0, 2)
    store = feature_cache.FeatureCache.open(cache, get_extractor("egemaps")).hashes
    assert store.read().schema == feature_cache.HASH_SCHEMA
    assert sorted(store.read().column("path").to_pylist()) == sorted([str(old), str(new)])


@STRING_TYPES
def test_a_feature_shard_of_other_string_types_reads_with_later_ones(tmp_path: Path, string_type) -> None:
    cache = tmp_path / "cache"
    old = write_wav(tmp_path / "old.wav", speech_like(0.4, 16_000, seed=42))
    values = toy_values(old)
    shard_by_hand(
        feature_cache_dir(cache, ToyExtractor()),
        {"sha256": [features.file_sha256(old)], **{name: [v] for name, v in zip(ToyExtractor.feature_names, values)}},
        string_type,
    )
    new = write_wav(tmp_path / "new.wav", speech_like(0.4, 16_000, seed=43))

    extract_files([new], feature_set=ToyExtractor(), cache_dir=cache, jobs=1, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        both = extract_files([old, new], feature_set=ToyExtractor(), cache_dir=cache, jobs=1, progress=False)

    assert (both.attrs["computed"], both.attrs["cached"]) == (0, 2)
    np.testing.assert_array_equal(both.loc[0, ["rms", "peak", "mean"]].to_numpy(np.float32), values)


def test_the_shard_store_casts_what_it_writes_to_its_schema(tmp_path: Path) -> None:
    store = feature_cache.FeatureCache.open(tmp_path, get_extractor("egemaps")).hashes
    large = pa.table({"sha256": pa.array(["b"], pa.large_string()), "ctime_ns": [3], "mtime_ns": [2], "size": [1],
                      "path": pa.array(["/a"], pa.large_string())})

    store.append(large)

    [shard] = store.shards()
    assert pq.read_schema(shard).remove_metadata() == feature_cache.HASH_SCHEMA
    assert store.read().to_pylist() == [{"path": "/a", "size": 1, "mtime_ns": 2, "ctime_ns": 3, "sha256": "b"}]


def test_an_interrupted_run_keeps_its_finished_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = make_corpus(tmp_path / "corpus", 6, seconds=0.3)
    cache = tmp_path / "cache"
    monkeypatch.setattr(extraction, "MAX_BATCH", 2)
    real_map_tasks = features.map_tasks

    def interrupted_after_two_batches(*args: object, **kwargs: object):
        for done, outcome in enumerate(real_map_tasks(*args, **kwargs)):
            if done == 2:
                raise KeyboardInterrupt
            yield outcome

    monkeypatch.setattr(features, "map_tasks", interrupted_after_two_batches)
    with pytest.raises(KeyboardInterrupt):
        extract(table, cache_dir=cache, jobs=1, progress=False)
    monkeypatch.setattr(features, "map_tasks", real_map_tasks)

    resumed = extract(table, cache_dir=cache, jobs=1, progress=False)

    assert (resumed.attrs["computed"], resumed.attrs["cached"]) == (2, 4)


def test_many_shards_are_merged_without_losing_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = make_corpus(tmp_path / "corpus", 7, seconds=0.3)
    cache = tmp_path / "cache"
    monkeypatch.setattr(extraction, "MAX_BATCH", 1)
    monkeypatch.setattr(feature_cache, "MAX_SHARDS", 3)

    first = extract(table, cache_dir=cache, jobs=1, progress=False)

    assert len(list(feature_cache_dir(cache).glob("*.parquet"))) == 1
    assert len(cached_keys(cache)) == 7
    second = extract(table, cache_dir=cache, jobs=1, progress=False)
    assert second.attrs["computed"] == 0
    pd.testing.assert_frame_equal(first, second)


def test_an_unreadable_cache_shard_is_removed_with_one_warning(tmp_path: Path) -> None:
    table = make_corpus(tmp_path / "corpus", 2)
    cache = tmp_path / "cache"
    extract(table, cache_dir=cache, jobs=1, progress=False)
    broken = feature_cache_dir(cache) / "0-broken.parquet"
    broken.write_bytes(b"not parquet")

    with pytest.warns(UserWarning, match="removing unreadable cache shard"):
        result = extract(table, cache_dir=cache, jobs=1, progress=False)

    assert (result.attrs["computed"], result.attrs["cached"]) == (0, 2)
    assert not broken.exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second run is quiet
        extract(table, cache_dir=cache, jobs=1, progress=False)


def test_an_unwritable_cache_is_a_clear_error(tmp_path: Path) -> None:
    table = make_corpus(tmp_path / "corpus", 1)
    in_the_way = tmp_path / "cache"
    in_the_way.write_text("a file where the cache folder should be")

    with pytest.raises(CacheError, match="cannot write the feature cache in .*cache") as caught:
        extract(table, cache_dir=in_the_way, jobs=1, progress=False)
    assert isinstance(caught.value, CrossemoError)


def test_no_temporary_files_are_left_behind(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    extract(make_corpus(tmp_path / "corpus", 2), cache_dir=cache, jobs=1, progress=False)

    leftovers = [path for path in cache.rglob("*") if path.name.endswith(".tmp")]
    assert leftovers == []


# --- parallel -------------------------------------------------------------------


def test_two_workers_give_the_same_result_as_one(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(extraction, "POOL_MIN_FILES", 0)  # a pool even for a handful of files
    table = make_corpus(tmp_path / "corpus", 6, seconds=0.3)

    serial = extract(table, cache_dir=tmp_path / "serial", jobs=1, progress=False)
    parallel = extract(table, cache_dir=tmp_path / "parallel", jobs=2, progress=False)

    assert parallel.attrs["computed"] == 6
    pd.testing.assert_frame_equal(serial, parallel)
    assert cached_keys(tmp_path / "serial") == cached_keys(tmp_path / "parallel")


@pytest.mark.cluster
def test_a_dask_cluster_gives_the_same_result_as_in_process(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    table = make_corpus(tmp_path / "corpus", 4, seconds=0.3)
    serial = extract(table, cache_dir=tmp_path / "serial", jobs=1, progress=False)

    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, protocol="tcp", dashboard_address=None
    ) as cluster:
        clustered = extract(table, cache_dir=tmp_path / "dask", scheduler=cluster.scheduler_address, progress=False)

    assert clustered.attrs["computed"] == 4
    pd.testing.assert_frame_equal(serial, clustered)


# --- the CLI's one call -----------------------------------------------------------


def test_extract_corpus_writes_parquet_and_summarises(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    for i in range(3):
        write_wav(root / f"clip{i}.wav", speech_like(0.4, 16_000, seed=20 + i))
    write_wav(root / "silent.wav", np.zeros(8_000))
    manifest = root / "manifest.csv"
    manifest.write_text(
        "path,emotion,speaker\nclip0.wav,angry,a\nclip1.wav,sad,a\nclip2.wav,happy,b\nsilent.wav,neutral,b\n"
    )
    out = tmp_path / "out" / "features.parquet"

    summary = extract_corpus("manifest", manifest, out, jobs=1, cache_dir=tmp_path / "cache", progress=False)

    assert summary["extracted"] == 3
    assert summary["files"] == 3
    assert summary["out"] == str(out)
    assert {"path": "silent.wav", "reason": summary["skipped"][-1]["reason"]} in summary["skipped"]
    assert summary["skipped"][-1]["reason"].startswith("silent audio")
    written = pd.read_parquet(out)
    assert written["path"].tolist() == ["clip0.wav", "clip1.wav", "clip2.wav"]
    assert written.attrs["root"] == str(root.resolve())
    np.testing.assert_array_equal(written.loc[0, NAMES].to_numpy(np.float32), direct(root / "clip0.wav"))
    assert [path.name for path in out.parent.iterdir()] == ["features.parquet"]


def test_extract_corpus_with_an_unwritable_output_is_a_clear_error(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    write_wav(root / "clip.wav", speech_like(0.4, 16_000, seed=30))
    (root / "manifest.csv").write_text("path,emotion\nclip.wav,angry\n")
    (tmp_path / "taken").write_text("a file, not a folder")

    with pytest.raises(FeatureError, match="cannot write .*taken"):
        extract_corpus("manifest", root, tmp_path / "taken" / "x.parquet", jobs=1, cache_dir=tmp_path / "cache")


def test_a_handful_of_files_runs_in_this_process(tmp_path: Path, monkeypatch) -> None:
    table = make_corpus(tmp_path / "corpus", 3, seconds=0.3)
    real_map = features.map_tasks
    jobs_asked = []

    def recording_map(fn, items, **options):
        jobs_asked.append(options["jobs"])
        return real_map(fn, items, **options)

    monkeypatch.setattr(features, "map_tasks", recording_map)
    result = extract(table, cache_dir=tmp_path / "cache", jobs=2, progress=False)

    assert jobs_asked == [1]  # no worker processes for three files
    assert result.attrs["computed"] == 3
