"""Prediction per segment: the same row as a file for a short recording, cached segments, summaries, figures."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import soundfile
from typer.testing import CliRunner

from crossemo.bundle import load_model, predict_files, train_bundle
from crossemo.bundle.segments import NO_SEGMENTS, _span_features, segment_summary
from crossemo.cli import app
from crossemo.config import parse_config
from crossemo.features import file_sha256
from crossemo.features.cache import FeatureCache
from crossemo.features.extractors import get_extractor
from crossemo.segmentation import SegmentationError
from tests.fixtures import make_corpus
from tests.test_segmentation import bursts_and_tones

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> SimpleNamespace:
    """A small bundle trained on a generated manifest corpus, its cache, a long recording and a short one."""
    root = tmp_path_factory.mktemp("segments")
    corpus = make_corpus("manifest", root / "corpus", per_class=3)
    cache = root / "cache"
    config = parse_config({"train": {"corpus": "manifest", "path": str(corpus)}, "protocol": {"folds": 3},
                           "model": {"epochs": 2}, "compute": {"jobs": 1, "cache_dir": str(cache)}})
    bundle = train_bundle(config, "dae", root / "bundle", progress=False)
    long_file = root / "long.wav"
    spans = bursts_and_tones(long_file)
    return SimpleNamespace(root=root, model=load_model(bundle), bundle=bundle, cache=cache, long=long_file,
                           spans=spans, short=sorted((corpus.parent / "audio" / "s1").glob("*.wav"))[0])


def test_a_segment_that_cannot_be_read_gets_its_reason_and_the_others_their_features(workspace, monkeypatch):
    real_read = soundfile.SoundFile.read

    def read(handle, frames, **options):
        if handle.tell() == 16000:  # the second segment's stretch is damaged
            raise soundfile.LibsndfileError(0, prefix="Error reading: ")
        return real_read(handle, frames, **options)

    monkeypatch.setattr(soundfile.SoundFile, "read", read)
    spans = [("first", 0, 16000), ("second", 16000, 32000), ("third", 32000, 48000)]
    results = dict(_span_features(("egemaps", str(workspace.long), spans)))
    assert isinstance(results["second"], str) and "16000-32000 could not be read" in results["second"]
    assert all(isinstance(results[key], np.ndarray) and np.isfinite(results[key]).all() for key in ("first", "third"))


@pytest.mark.parametrize("segment", ["vad", "energy", "window:3:1.5", "window:0.5:0.25"])
def test_a_short_recording_gives_todays_file_row(workspace, segment):
    if segment == "vad":
        pytest.importorskip("onnxruntime")
    files = workspace.model.predict([workspace.short], cache_dir=workspace.cache, progress=False)
    segments = workspace.model.predict([workspace.short], cache_dir=workspace.cache, progress=False,
                                       segment=segment)
    # Not longer than a segment: the whole file is the one segment, as it is without segmentation.
    assert segments[["start_s", "end_s"]].values.tolist() == [[0.0, soundfile.info(workspace.short).duration]]
    assert list(segments.columns) == ["path", "start_s", "end_s", *files.columns.drop("path")]
    pd.testing.assert_frame_equal(segments[files.columns], files)
    assert segments.attrs["cached"] == 1 and segments.attrs["computed"] == 0  # the file's own cache entry


def test_segments_of_a_long_recording_are_the_features_of_their_samples(workspace):
    model = workspace.model
    predictions = model.predict([workspace.long], cache_dir=workspace.cache, progress=False, segment="energy:1.5")
    assert predictions["error"].isna().all() and (predictions["path"] == str(workspace.long)).all()
    lengths = predictions["end_s"] - predictions["start_s"]
    assert lengths.max() == pytest.approx(1.5) and lengths.min() >= 0.25
    assert predictions["start_s"].min() == pytest.approx(workspace.spans[0][0], abs=0.05)
    assert predictions["end_s"].max() == pytest.approx(workspace.spans[-1][1], abs=0.05)

    signal, rate = soundfile.read(workspace.long, dtype="float32")
    row = predictions.iloc[len(predictions) // 2]
    start, end = round(row["start_s"] * rate), round(row["end_s"] * rate)
    features = get_extractor(model.feature_set).compute(signal[start:end], rate)[None, :]
    latent = model.embed_features(features)
    assert np.allclose(row[[f"z{index}" for index in range(model.latent_dim)]].to_numpy(dtype=float), latent[0],
                       atol=1e-5)
    cache = FeatureCache.open(workspace.cache, get_extractor(model.feature_set))
    key = f"{file_sha256(workspace.long)}:{start}:{end}"
    assert np.allclose(cache.read([key]).loc[key].to_numpy(dtype=float), features[0], rtol=1e-6)


def test_segment_features_are_cached_by_content_and_bounds(workspace, tmp_path):
    model = workspace.model
    first = model.predict([workspace.long], cache_dir=tmp_path, progress=False, segment="window:2:1")
    assert first.attrs["computed"] == len(first) and first.attrs["cached"] == 0
    copy = tmp_path / "renamed.wav"
    shutil.copyfile(workspace.long, copy)
    again = model.predict([copy], cache_dir=tmp_path, progress=False, segment="window:2:1")
    assert again.attrs["computed"] == 0 and again.attrs["cached"] == len(first)
    pd.testing.assert_frame_equal(again.drop(columns="path"), first.drop(columns="path"))
    other = model.predict([copy], cache_dir=tmp_path, progress=False, segment="window:2.5:2.5")
    assert other.attrs["computed"] > 0  # other bounds, other keys


def test_a_recording_without_speech_gets_one_row_saying_so(workspace):
    pytest.importorskip("onnxruntime")
    predictions = workspace.model.predict([workspace.long], cache_dir=workspace.cache, progress=False,
                                          segment="vad:0.5")
    if predictions["error"].notna().all():
        assert len(predictions) == 1 and predictions["error"].iloc[0].startswith(NO_SEGMENTS)
        assert predictions["end_s"].iloc[0] == pytest.approx(12.0)
    else:  # a tone's abrupt onset may pass for a syllable (see test_segmentation): never the tones themselves
        assert (predictions["end_s"] - predictions["start_s"]).sum() < 1.0


def test_summary_shares_time_once_per_emotion(workspace):
    predictions = workspace.model.predict([workspace.long, workspace.short], cache_dir=workspace.cache,
                                          progress=False, segment="energy:1:0.5")
    summary = segment_summary(predictions)
    assert summary["path"].tolist() == [str(workspace.long), str(workspace.short)]
    shares = summary[[f"share_{label}" for label in workspace.model.classes]]
    assert np.allclose(shares.sum(axis=1) + summary["share_uncertain"], 1.0)
    sound_s = sum(end - start for start, end in workspace.spans)
    long_row = summary.iloc[0]
    assert long_row["duration_s"] == pytest.approx(12.0)
    assert long_row["speech_s"] == pytest.approx(sound_s, abs=0.08 * len(workspace.spans))  # padding, frames
    counts = predictions.groupby("path", sort=False)["predicted"].agg(lambda labels: labels.value_counts().index[0])
    assert long_row["dominant"] in workspace.model.classes and counts.iloc[1] == summary["dominant"].iloc[1]


def test_min_confidence_marks_uncertain_time(workspace):
    predictions = workspace.model.predict([workspace.long], cache_dir=workspace.cache, progress=False,
                                          segment="window:3:3", min_confidence=0.99)
    assert predictions["uncertain"].all()
    assert segment_summary(predictions)["share_uncertain"].iloc[0] == pytest.approx(1.0)
    assert segment_summary(predictions)["dominant"].iloc[0] is None


def test_timeline_figures_are_written_and_not_overwritten(workspace, tmp_path):
    folder = tmp_path / "plots"
    out = tmp_path / "rows.csv"
    options = {"cache_dir": workspace.cache, "segment": "energy", "plot": folder, "out": out}
    predict_files(workspace.bundle, [workspace.long, workspace.short], **options)
    figures = sorted(path.name for path in folder.iterdir())
    assert figures == ["001_long.png", f"002_{workspace.short.stem}.png"]
    assert (folder / "001_long.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(SegmentationError, match="001_long.png exists"):
        predict_files(workspace.bundle, [workspace.long], **{**options, "out": tmp_path / "other.csv"})
    predict_files(workspace.bundle, [workspace.long], **options, force=True)


def test_refusals(workspace):
    model = workspace.model
    with pytest.raises(SegmentationError, match="plot"):
        model.predict([workspace.long], plot=workspace.root / "figures")
    with pytest.raises(SegmentationError, match="adapt_by_speaker"):
        model.predict([workspace.long], segment="vad", adapt_by_speaker=True)
    with pytest.raises(SegmentationError, match="cannot read segmentation 'windows:3'"):
        model.predict([workspace.long], segment="windows:3")


def test_cli_writes_segment_rows_and_the_summary(workspace, tmp_path):
    out, summary = tmp_path / "rows.csv", tmp_path / "summary.csv"
    arguments = ["predict", str(workspace.bundle), str(workspace.long), "--segment", "window:3:1.5", "--out", str(out),
                 "--summary", str(summary), "--cache-dir", str(workspace.cache)]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    rows, table = pd.read_csv(out), pd.read_csv(summary)
    assert len(rows) == 7 and rows["start_s"].tolist()[:2] == [0.0, 1.5]
    assert table["segments"].tolist() == [7] and table["speech_s"].tolist() == [pytest.approx(12.0)]
    again = CliRunner().invoke(app, [*arguments[:6], str(tmp_path / "new.csv"), *arguments[7:]])
    assert again.exit_code == 2 and "summary.csv exists" in again.output
    assert not (tmp_path / "new.csv").exists()
    alone = CliRunner().invoke(app, ["predict", str(workspace.bundle), str(workspace.long), "--json", "--plot",
                                     str(tmp_path / "figures")])
    assert alone.exit_code == 2 and "give --segment too" in alone.output


def test_a_bare_segment_option_means_vad_and_a_path_after_it_stays_a_path(workspace, tmp_path):
    from crossemo.cli import SEGMENT_MODE
    from crossemo.segmentation import MODES

    assert all(SEGMENT_MODE.fullmatch(mode) for mode in MODES) and not SEGMENT_MODE.fullmatch("calls/a.wav")
    common = ["--json", "--cache-dir", str(workspace.cache)]
    bare = CliRunner().invoke(app, ["predict", str(workspace.bundle), "--segment", str(workspace.long), *common])
    named = CliRunner().invoke(app, ["predict", str(workspace.bundle), str(workspace.long), "--segment", "vad",
                                     *common])
    assert bare.exit_code == named.exit_code == 0, bare.output
    rows = json.loads(bare.stdout)
    assert rows == json.loads(named.stdout) and rows and "start_s" in rows[0]
