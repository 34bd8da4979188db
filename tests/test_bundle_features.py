"""Bundles on other feature sets: they remember their set, predict with it, and refuse another."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import crossemo
from crossemo.bundle import train_bundle
from crossemo.cli import app
from crossemo.errors import BundleError
from crossemo.features import extract_files, feature_names
from tests.test_bundle import bundle_config

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_bundle_remembers_its_feature_set_and_predicts_with_it(corpus_workspace, tmp_path) -> None:
    out = train_bundle(bundle_config(corpus_workspace), "dae_sup", tmp_path / "gemaps.bundle", progress=False,
                       features="gemaps", calibration_folds=None)
    model = crossemo.load_model(out)
    assert model.feature_set == "gemaps" and list(model.feature_names) == feature_names("gemaps")
    predictions = model.predict(corpus_workspace.ravdess, jobs=1, cache_dir=corpus_workspace.cache)
    assert predictions["error"].isna().all() and predictions["predicted"].notna().all()

    with pytest.raises(BundleError, match="trained on gemaps features; it cannot use egemaps"):
        crossemo.load_model(out, features="egemaps")


def test_a_self_supervised_bundle_finds_its_model_where_it_was_moved(corpus_workspace, tmp_path) -> None:
    pytest.importorskip("transformers", reason="the optional 'ssl' extra is not installed")
    import shutil

    from tests.ssl_models import make_speech_model

    folder = make_speech_model("wavlm", tmp_path / "models" / "wavlm")
    name = f"hf:{folder}@1"
    out = train_bundle(bundle_config(corpus_workspace), "dae_sup", tmp_path / "ssl.bundle", progress=False,
                       features=name, calibration_folds=None)
    model = crossemo.load_model(out)
    assert model.feature_set == name
    files = sorted(corpus_workspace.ravdess.rglob("*.wav"))[:4]
    expected = model.predict(files, jobs=1, cache_dir=tmp_path / "cache")
    features = extract_files(files, feature_set=name, jobs=1, cache_dir=tmp_path / "cache", progress=False)
    assert list(features.columns[1:-1]) == list(model.feature_names)

    moved = shutil.move(folder, tmp_path / "elsewhere")
    with pytest.raises(BundleError, match="pass --features"):
        crossemo.load_model(out)
    relocated = crossemo.load_model(out, features=f"hf:{moved}@1")
    again = relocated.predict(files, jobs=1, cache_dir=tmp_path / "cache")
    assert list(again["predicted"]) == list(expected["predicted"])

    runner = CliRunner()
    result = runner.invoke(app, ["predict", str(out), str(files[0]), "--json", "--features", f"hf:{moved}@1",
                                 "--jobs", "1", "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    other = make_speech_model("wavlm", tmp_path / "other", seed=5)
    result = runner.invoke(app, ["predict", str(out), str(files[0]), "--json", "--features", f"hf:{other}@1"])
    assert result.exit_code == 2 and "other weights" in result.output and "Traceback" not in result.output
