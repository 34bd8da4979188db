"""Target-aware bundles (train --adapt) and per-speaker standardization at prediction (--adapt-by-speaker)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import crossemo
from crossemo.bundle import PredictionError, train_bundle
from crossemo.cli import app
from crossemo.config import parse_config
from crossemo.errors import ConfigError
from crossemo.features import extract_files
from crossemo.preprocessing import outlier_mask
from crossemo.recordings import collect_recordings, collect_speaker_recordings

pytestmark = pytest.mark.usefixtures("one_thread")

MIN_UTTERANCES = 5  # the generated RAVDESS has 16 recordings per actor: each gets its own statistics


@pytest.fixture(scope="module")
def workspace(corpus_workspace, tmp_path_factory) -> SimpleNamespace:
    """A study over the shared generated RAVDESS, and a dae bundle trained on it without and with AESD as target."""
    config = parse_config(
        {
            "train": {"corpus": "ravdess", "path": str(corpus_workspace.ravdess)},
            "protocol": {"speaker_min_utterances": MIN_UTTERANCES},
            "model": {"epochs": 2},
            "compute": {"jobs": 1, "cache_dir": str(corpus_workspace.cache)},
        }
    )
    root = tmp_path_factory.mktemp("bundle_adapt")
    plain = train_bundle(config, "dae", root / "plain", progress=False)
    adapted = train_bundle(config, "dae", root / "adapted", adapt=corpus_workspace.aesd, progress=False)
    return SimpleNamespace(root=root, config=config, shared=corpus_workspace, plain=plain, adapted=adapted)


def features_of(files, workspace) -> np.ndarray:
    extracted = extract_files(files, cache_dir=workspace.shared.cache, jobs=1, progress=False)
    return extracted[list(crossemo.load_model(workspace.plain).feature_names)].to_numpy(dtype=np.float64)


def speaker_list(workspace, path: Path, *, speakers: bool = True) -> Path:
    """A CSV list of the generated RAVDESS recordings, with each actor as the speaker."""
    files = collect_recordings(workspace.shared.ravdess)
    table = pd.DataFrame({"path": files})
    if speakers:
        table["speaker"] = [Path(file).parent.name for file in files]
    table.to_csv(path, index=False)
    return path


# --------------------------------------------------------------------------- train --adapt


def test_a_bundle_trained_with_target_recordings_differs_and_records_them(workspace) -> None:
    plain, adapted = crossemo.load_model(workspace.plain), crossemo.load_model(workspace.adapted)
    aesd = collect_recordings(workspace.shared.aesd)
    target = features_of(aesd, workspace)
    target = target[outlier_mask(target, z=workspace.config.protocol.outlier_z)]
    ravdess = features_of(collect_recordings(workspace.shared.ravdess), workspace)

    recorded = adapted.info["training"]["target"]
    assert recorded == {
        "recordings": len(target),
        "features_sha256": hashlib.sha256(np.ascontiguousarray(target).tobytes()).hexdigest(),
    }
    assert len(target) == len(aesd) and adapted.target_recordings == len(target)
    assert plain.info["training"]["target"] is None and plain.target_recordings == 0
    assert not np.allclose(plain.embed_features(ravdess), adapted.embed_features(ravdess))
    assert str(workspace.shared.aesd) not in json.dumps(adapted.info["training"])  # counted, not listed


def test_adapt_is_refused_before_extraction_for_baselines_and_too_few_recordings(workspace, monkeypatch) -> None:
    def no_extraction(*args, **kwargs):
        raise AssertionError("extracted before refusing")

    monkeypatch.setattr("crossemo.features.extract_files", no_extraction)
    monkeypatch.setattr("crossemo.bundle.write.training_data", no_extraction)
    one = collect_recordings(workspace.shared.aesd)[:1]

    with pytest.raises(ConfigError, match=r"method pca cannot train with recordings of the target domain \(--adapt\)"):
        train_bundle(workspace.config, "pca", workspace.root / "pca", adapt=workspace.shared.aesd, progress=False)
    with pytest.raises(ConfigError, match="at least 2 usable recordings of the target domain.* names 1"):
        train_bundle(workspace.config, "dae", workspace.root / "one", adapt=one, progress=False)
    config = workspace.root / "study.toml"
    config.write_text(f'[train]\ncorpus = "ravdess"\npath = "{workspace.shared.ravdess}"\n')
    refused = CliRunner().invoke(app, ["train", str(config), "--method", "svc_features",
                                       "--adapt", str(workspace.shared.aesd), "--out", str(workspace.root / "svc")])
    assert refused.exit_code == 2 and "svc_features cannot train" in refused.output
    assert "Traceback" not in refused.output and not (workspace.root / "svc").exists()


# --------------------------------------------------------------------------- predict --adapt-by-speaker


def test_per_speaker_standardization_removes_a_speaker_offset(workspace) -> None:
    model = crossemo.load_model(workspace.plain)
    found = collect_speaker_recordings(speaker_list(workspace, workspace.root / "speakers.csv"))
    features = features_of([path for path, _ in found], workspace)
    speakers = np.array([speaker for _, speaker in found], dtype=object)
    shifted = features.copy()
    # A speaker whose recording chain adds a constant to every feature: five training standard deviations.
    shifted[speakers == "Actor_02"] += 5 * model.normalization.scale

    assert model.speaker_min_utterances == MIN_UTTERANCES
    np.testing.assert_allclose(
        model.embed_features(shifted, speakers=speakers), model.embed_features(features, speakers=speakers),
        atol=1e-8,
    )
    assert np.array_equal(model.predict_features(shifted, speakers=speakers),
                          model.predict_features(features, speakers=speakers))
    assert not np.array_equal(model.predict_features(shifted), model.predict_features(features))
    with pytest.raises(PredictionError, match="normalization or speakers"):
        model.embed_features(features, normalization=model.normalization, speakers=speakers)
    with pytest.raises(PredictionError, match="3 speakers for 96 feature rows"):
        model.embed_features(features, speakers=speakers[:3])


def test_cli_predict_adapt_by_speaker(workspace, tmp_path) -> None:
    runner = CliRunner()
    model = crossemo.load_model(workspace.plain)
    listed = speaker_list(workspace, tmp_path / "speakers.csv")
    common = ["--json", "--jobs", "1", "--cache-dir", str(workspace.shared.cache)]

    by_speaker = runner.invoke(app, ["predict", str(workspace.plain), str(listed), "--adapt-by-speaker", *common])
    unnamed = runner.invoke(app, ["predict", str(workspace.plain), str(speaker_list(
        workspace, tmp_path / "paths.csv", speakers=False)), "--adapt-by-speaker", *common])
    both = runner.invoke(app, ["predict", str(workspace.plain), str(listed), "--adapt-by-speaker",
                               "--adapt", str(workspace.shared.aesd), *common])
    hinted = runner.invoke(app, ["predict", str(workspace.adapted), str(workspace.shared.ravdess / "Actor_01"),
                                 *common])

    assert by_speaker.exit_code == 0, by_speaker.output
    records = pd.DataFrame(json.loads(by_speaker.stdout))
    found = collect_speaker_recordings(listed)
    speakers = [speaker for _, speaker in found]
    latent = model.embed_features(features_of([path for path, _ in found], workspace), speakers=speakers)
    np.testing.assert_allclose(records[[f"z{axis}" for axis in range(model.latent_dim)]].to_numpy(), latent)
    assert not records["out_of_range"].any() and records["error"].isna().all()
    assert unnamed.exit_code == 2 and "'speaker' column; 96 of 96 have no speaker" in unnamed.output
    assert both.exit_code == 2 and "exclude each other" in both.output
    assert "Traceback" not in unnamed.output + both.output
    assert hinted.exit_code == 0 and "pass them with --adapt" in hinted.output
