"""Calibrated probabilities in bundles: the fit, out-of-fold scores, the report, old bundles, refusals."""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, softmax
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC

from crossemo import bundle
from crossemo.bundle import (
    CALIBRATION_FILE,
    CALIBRATION_FILES,
    CALIBRATION_REPORT_FILE,
    MANIFEST,
    RELIABILITY_FILE,
    LinearOvoClassifier,
    PredictionError,
    ScoreCalibration,
    TrainingData,
    load_model,
    write_bundle,
)
from crossemo.bundle.calibration import calibration_folds, expected_calibration_error, out_of_fold_scores
from crossemo.bundle.write import calibrate
from crossemo.config import parse_config
from crossemo.errors import BundleError, ConfigError
from crossemo.features import get_extractor
from crossemo.pipeline import EmotionPipeline
from crossemo.study import method_params
from tests.fixtures import write_garbage, write_tone

pytestmark = pytest.mark.usefixtures("one_thread")

CLASSES = ("angry", "happy", "neutral", "sad")


# --------------------------------------------------------------------------- generated training data


def synthetic_training(tmp: Path, *, classes=CLASSES, speakers: int = 9, per_speaker: int = 12,
                       corpora: tuple[str, ...] = ("ravdess",), seed: int = 0, epochs: int = 4,
                       method_options: dict | None = None):
    """eGeMAPS-shaped training rows with class-dependent means (no audio): the data and a study config."""
    rng = np.random.default_rng(seed)
    extractor = get_extractor("egemaps")
    width = len(extractor.feature_names)
    centres = rng.normal(size=(len(classes), width))
    n = speakers * per_speaker
    labels = np.array([classes[i % len(classes)] for i in range(n)], dtype=object)
    codes = np.array([classes.index(label) for label in labels])
    speaker = np.repeat([f"s{i}" for i in range(speakers)], per_speaker)
    corpus = np.array([corpora[i % len(corpora)] for i in range(speakers)], dtype=object)[
        np.repeat(np.arange(speakers), per_speaker)]
    offset = {name: 3.0 * position for position, name in enumerate(corpora)}  # corpora differ in level
    features = (0.7 * centres[codes] + rng.normal(size=(n, width)) + 10.0
                + np.array([offset[name] for name in corpus])[:, None])
    config = parse_config({
        "train": [{"corpus": name, "path": str(tmp / name)} for name in corpora],
        "protocol": {"folds": 3},
        "model": {"epochs": epochs, "options": method_options or {}},
        "compute": {"jobs": 1},
    })
    data = TrainingData(
        corpus="+".join(corpora), features=features, labels=labels, classes=tuple(classes),
        unlabelled=np.empty((0, width)), extractor={**extractor.describe(), "feature_names": list(extractor.feature_names)},
        outlier_z=6.0, outlier_mean=features.mean(axis=0), outlier_std=features.std(axis=0), files=n,
        outliers_removed=0, corpora=corpus, unlabelled_corpora=np.empty(0, dtype=object), entries=tuple(config.train),
        normalize=config.normalization(next(iter(config.cells()))) if len(corpora) > 1 else "pooled",
        table=pd.DataFrame({"corpus": corpus, "label": labels, "speaker": speaker, "group": speaker}),
    )
    return data, config


def fitted_pipeline(data, config, method: str) -> EmotionPipeline:
    pipeline = EmotionPipeline(method, method_params(config, method, 0), scale_latent=config.protocol.scale_latent,
                               normalize=data.normalize)
    return pipeline.fit(data.features, data.labels, corpora=data.corpora)


def calibrated_bundle(tmp: Path, method: str, **options) -> Path:
    """A bundle of ``method`` on generated rows, with its calibration fitted as ``train_bundle`` fits it."""
    data, config = synthetic_training(tmp, **options)
    pipeline = fitted_pipeline(data, config, method)
    return write_bundle(pipeline, tmp / f"{method}.bundle", data=data, config=config,
                        calibration=calibrate(pipeline, data, config, folds=3))


def rehash(folder: Path, *, version: int | None = None) -> None:
    """Rewrite the manifest to match the files present (a careful forger's bundle)."""
    manifest = json.loads((folder / MANIFEST).read_text())
    names = [name for name in (*bundle.BUNDLE_FILES, *CALIBRATION_FILES) if (folder / name).exists()]
    manifest["files"] = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in names}
    manifest["content_sha256"] = bundle.content_hash(folder, names)
    if version is not None:
        manifest["format_version"] = version
    (folder / MANIFEST).write_text(json.dumps(manifest))


@pytest.fixture(scope="module")
def dae_sup_bundle(tmp_path_factory) -> Path:
    return calibrated_bundle(tmp_path_factory.mktemp("calibration"), "dae_sup")


# --------------------------------------------------------------------------- the calibration map


def test_probabilities_sum_to_one_and_rise_with_their_class_score() -> None:
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(600, 3))
    labels = np.array(CLASSES[:3], dtype=object)[scores.argmax(axis=1)]
    # The third class' label is the opposite of its score: the fit must not turn its slope negative.
    flipped = scores[:, 2] > 0.5
    labels[flipped] = "angry"
    calibration = ScoreCalibration.fit(scores, labels, CLASSES[:3])
    assert (calibration.slope >= 0).all()
    probabilities = calibration.predict_proba(scores)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-12)

    sweep = np.linspace(-4, 4, 81)
    for k in range(3):
        rows = np.tile(scores[:5], (len(sweep), 1, 1))
        rows[:, :, k] = sweep[:, None]
        along = calibration.predict_proba(rows.reshape(-1, 3)).reshape(len(sweep), 5, 3)[:, :, k]
        assert (np.diff(along, axis=0) >= -1e-15).all(), f"p_{k} falls while its score rises"
        if calibration.slope[k] > 1e-6:
            assert (np.diff(along, axis=0) > 0).all()


def test_the_fit_recovers_the_scaling_that_generated_the_labels() -> None:
    rng = np.random.default_rng(2)
    slope, intercept = np.array([2.0, 0.5, 1.2]), np.array([0.3, -0.6, 0.3])
    scores = rng.normal(size=(20000, 3))
    truth = softmax(scores * slope + intercept, axis=1)
    labels = np.array([CLASSES[rng.choice(3, p=row)] for row in truth], dtype=object)
    calibration = ScoreCalibration.fit(scores, labels, CLASSES[:3])
    np.testing.assert_allclose(calibration.slope, slope, atol=0.1)
    np.testing.assert_allclose(calibration.intercept, intercept - intercept.mean(), atol=0.1)
    assert expected_calibration_error(calibration.predict_proba(scores), labels_codes(labels)) < 0.02
    overconfident = softmax(3 * (scores * slope + intercept), axis=1)
    assert expected_calibration_error(overconfident, labels_codes(labels)) > 0.1


def labels_codes(labels) -> np.ndarray:
    return np.array([CLASSES.index(label) for label in labels])


def test_for_two_classes_it_is_platt_scaling() -> None:
    rng = np.random.default_rng(3)
    decision = rng.normal(size=400) * 2
    labels = np.where(rng.random(400) < expit(1.5 * decision - 0.4), "happy", "angry").astype(object)
    calibration = ScoreCalibration.fit(np.column_stack([-decision, decision]), labels, ("angry", "happy"))
    # Penalty (a0^2 + a1^2) / 2 at a0 = a1 = w / 2 is w^2 / 4: LogisticRegression's w^2 / (2 C) with C = 2.
    platt = LogisticRegression(C=2.0, tol=1e-10).fit(decision[:, None], labels)
    ours = calibration.predict_proba(np.column_stack([-decision, decision]))[:, 1]
    np.testing.assert_allclose(ours, platt.predict_proba(decision[:, None])[:, 1], atol=1e-4)


def test_unknown_labels_and_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="'fear'"):
        ScoreCalibration.fit(np.zeros((2, 2)), ["fear", "angry"], ("angry", "happy"))
    with pytest.raises(ValueError, match="shape"):
        ScoreCalibration.fit(np.zeros((2, 3)), ["happy", "angry"], ("angry", "happy"))


# --------------------------------------------------------------------------- out-of-fold scores


def test_held_out_scores_come_from_a_model_without_that_fold(tmp_path) -> None:
    data, config = synthetic_training(tmp_path, speakers=6, per_speaker=8)
    pipeline = fitted_pipeline(data, config, "svc_features")
    folds = calibration_folds(data, config, 3)
    for train, test in folds:  # speaker-independent
        assert not set(data.table["speaker"].iloc[train]) & set(data.table["speaker"].iloc[test])
    scores, refit = out_of_fold_scores(pipeline, data, folds)
    assert refit == "classifier"  # the features baseline learns no latent from labels
    train, test = folds[1]
    svc = SVC(kernel="linear").fit(pipeline.train_latent_[train], data.labels[train])
    expected = LinearOvoClassifier.from_svc(svc).class_scores(pipeline.embed(data.features[test]))
    np.testing.assert_allclose(scores[test], expected, atol=1e-9)
    full = LinearOvoClassifier.from_svc(pipeline.classifier_).class_scores(pipeline.embed(data.features[test]))
    assert not np.allclose(scores[test], full)


def test_a_bundle_stores_its_calibration_and_report(dae_sup_bundle) -> None:
    manifest = json.loads((dae_sup_bundle / MANIFEST).read_text())
    assert manifest["format_version"] == bundle.BUNDLE_VERSION == 2
    assert set(CALIBRATION_FILES) <= set(manifest["files"])
    description = json.loads((dae_sup_bundle / "bundle.json").read_text())["calibration"]
    assert description["fitted"] is True and description["refit"] == "pipeline" and description["folds"] == 3
    stored = json.loads((dae_sup_bundle / CALIBRATION_FILE).read_text())
    assert sum(stored["reliability"]["count"]) == description["rows"]
    report = (dae_sup_bundle / CALIBRATION_REPORT_FILE).read_text()
    assert f"**{description['expected_calibration_error']:.4f}**" in report and RELIABILITY_FILE in report
    assert (dae_sup_bundle / RELIABILITY_FILE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    model = load_model(dae_sup_bundle)
    np.testing.assert_array_equal(model.calibration.slope, stored["calibration"]["slope"])
    assert model.info["calibration"]["expected_calibration_error"] == description["expected_calibration_error"]


def test_classification_columns(dae_sup_bundle) -> None:
    model = load_model(dae_sup_bundle)
    rng = np.random.default_rng(4)
    features = model.normalization.mean + model.normalization.scale * rng.normal(size=(30, len(model.feature_names)))
    latent = model.embed_features(features)
    columns = model.classification_columns(latent, min_confidence=0.6)
    assert isinstance(columns.index, pd.RangeIndex) and len(columns) == 30
    probabilities = columns[[f"prob_{label}" for label in model.classes]].to_numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-12)
    scores = columns[[f"score_{label}" for label in model.classes]].to_numpy()
    np.testing.assert_array_equal(scores, model.classifier.class_scores(latent))
    np.testing.assert_array_equal(columns["predicted"], model.classifier.predict(latent))
    np.testing.assert_array_equal(columns["confidence"], probabilities.max(axis=1))
    np.testing.assert_array_equal(columns["uncertain"], probabilities.max(axis=1) < 0.6)
    assert not model.classification_columns(latent)["uncertain"].any()
    assert len(model.classification_columns(np.empty((0, model.latent_dim)))) == 0
    for bad in (0, 1, 1.5, -0.1, True, "0.5", float("nan")):
        with pytest.raises(PredictionError, match="strictly between 0 and 1"):
            model.classification_columns(latent, min_confidence=bad)
    with pytest.raises(PredictionError, match=f"shape \\(n, {model.latent_dim}\\)"):
        model.classification_columns(np.zeros((2, model.latent_dim + 1)))


def test_predict_fills_probabilities_for_usable_recordings_only(dae_sup_bundle, tmp_path) -> None:
    model = load_model(dae_sup_bundle)
    tone = write_tone(tmp_path / "tone.wav")
    broken = write_garbage(tmp_path / "broken.wav")
    with pytest.raises(PredictionError, match="strictly between"):
        bundle.predict_files(dae_sup_bundle, [tone], min_confidence=2.0)
    table = model.predict([tone, broken], cache_dir=tmp_path / "cache", jobs=1, progress=False, min_confidence=0.99)
    probabilities = [f"prob_{label}" for label in model.classes]
    assert table.attrs["calibrated"] is True
    good, bad = table.iloc[0], table.iloc[1]
    assert good[probabilities].sum() == pytest.approx(1.0) and good["confidence"] == max(good[probabilities])
    assert bool(good["uncertain"]) == (good["confidence"] < 0.99)
    assert isinstance(bad["error"], str) and bad[[*probabilities, "confidence", "uncertain"]].isna().all()


# --------------------------------------------------------------------------- old bundles and refusals


@pytest.fixture()
def version_one(dae_sup_bundle, tmp_path) -> Path:
    """The calibrated bundle rewritten as format version 1 (before calibration)."""
    folder = Path(shutil.copytree(dae_sup_bundle, tmp_path / "old.bundle"))
    for name in CALIBRATION_FILES:
        (folder / name).unlink()
    description = json.loads((folder / "bundle.json").read_text())
    del description["calibration"]
    (folder / "bundle.json").write_text(json.dumps(description))
    rehash(folder, version=1)
    return folder


def test_version_one_bundles_load_without_probabilities(version_one) -> None:
    model = load_model(version_one)
    assert model.calibration is None
    assert model.info["calibration"] == {"fitted": False, "reason": bundle.calibration.UNCALIBRATED_NOTE}
    columns = model.classification_columns(np.zeros((3, model.latent_dim)))
    assert columns[[f"prob_{label}" for label in model.classes]].isna().all().all()
    assert columns["predicted"].notna().all() and not columns["uncertain"].any()
    with pytest.raises(PredictionError, match="no probability calibration"):
        model.classification_columns(np.zeros((3, model.latent_dim)), min_confidence=0.5)


def test_version_one_cannot_list_calibration_files(version_one, dae_sup_bundle) -> None:
    for name in CALIBRATION_FILES:
        shutil.copy(dae_sup_bundle / name, version_one / name)
    rehash(version_one, version=1)
    with pytest.raises(BundleError, match="no part of a bundle: calibration"):
        load_model(version_one)


def test_tampered_calibration_is_refused(dae_sup_bundle, tmp_path) -> None:
    folder = Path(shutil.copytree(dae_sup_bundle, tmp_path / "tampered.bundle"))
    stored = json.loads((folder / CALIBRATION_FILE).read_text())
    stored["calibration"]["slope"][0] = -1.0
    (folder / CALIBRATION_FILE).write_text(json.dumps(stored))
    with pytest.raises(BundleError, match="modified after it was written: calibration.json"):
        load_model(folder)
    rehash(folder)
    with pytest.raises(BundleError, match="slope: every value must be >= 0"):
        load_model(folder)
    (folder / RELIABILITY_FILE).unlink()
    rehash(folder)
    with pytest.raises(BundleError, match="without calibration.png"):
        load_model(folder)


def test_too_few_speakers_write_an_uncalibrated_bundle_saying_why(tmp_path) -> None:
    data, config = synthetic_training(tmp_path, speakers=2, per_speaker=12)
    pipeline = fitted_pipeline(data, config, "pca")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reason = calibrate(pipeline, data, config, folds=3)
    assert isinstance(reason, str) and "3 folds" in reason
    assert any("without probability calibration" in str(warning.message) for warning in caught)
    path = write_bundle(pipeline, tmp_path / "pca.bundle", data=data, config=config, calibration=reason)
    assert not any((path / name).exists() for name in CALIBRATION_FILES)
    model = load_model(path)
    assert model.calibration is None and model.info["calibration"] == {"fitted": False, "reason": reason}


@pytest.mark.parametrize("folds", [1, 0, True, 2.5])
def test_train_bundle_refuses_a_bad_fold_count_before_any_work(tmp_path, folds) -> None:
    config = parse_config({"train": {"corpus": "ravdess", "path": str(tmp_path / "nowhere")}})
    with pytest.raises(ConfigError, match="calibration_folds must be an integer of at least 2"):
        bundle.train_bundle(config, "pca", tmp_path / "out", calibration_folds=folds)
