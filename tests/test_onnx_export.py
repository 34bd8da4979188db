"""ONNX export: onnxruntime reproduces the bundle's predictions; metadata; refusals; the CLI command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from typer.testing import CliRunner

from crossemo.bundle import PREPROCESSING_FILE, OnnxExportError, export_onnx, load_model, write_bundle
from crossemo.bundle.onnx_export import read_metadata
from crossemo.cli import app
from tests.test_bundle_calibration import calibrated_bundle, fitted_pipeline, synthetic_training

pytestmark = pytest.mark.usefixtures("one_thread")


def run_graph(path: Path, features: np.ndarray) -> dict[str, np.ndarray]:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(None, {"features": features}), strict=True))


def generated_features(model, rows: int = 40, seed: int = 5) -> np.ndarray:
    """Rows around the training distribution, a few far outside it."""
    rng = np.random.default_rng(seed)
    spread = rng.normal(size=(rows, len(model.feature_names))) * np.linspace(0.5, 4, rows)[:, None]
    return model.normalization.mean + model.normalization.scale * spread


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("onnx")
    return {
        "dae_sup": calibrated_bundle(root / "a", "dae_sup"),  # an MLP encoder learnt with labels
        "svc_features": calibrated_bundle(root / "b", "svc_features"),  # no latent: the SVC on the features
        "vae_two_classes": calibrated_bundle(root / "c", "vae", classes=("angry", "happy")),  # mu head, binary SVC
        "pca_two_corpora": calibrated_bundle(root / "d", "pca", corpora=("ravdess", "aesd")),  # per-corpus scalers
        # the network reads a linear discriminant projection of the features
        "dae_sup_lda": calibrated_bundle(root / "e", "dae_sup", method_options={"dae_sup": {"input_lda": 3}}),
    }


@pytest.mark.parametrize("name", ["dae_sup", "svc_features", "vae_two_classes", "pca_two_corpora", "dae_sup_lda"])
def test_onnxruntime_reproduces_predict(bundles, tmp_path, name) -> None:
    path = export_onnx(bundles[name], tmp_path / "model.onnx")
    model = load_model(bundles[name])
    features = generated_features(model)

    outputs = run_graph(path, features)
    expected = model.classification_columns(model.embed_features(features))

    probabilities = expected[[f"prob_{label}" for label in model.classes]].to_numpy()
    np.testing.assert_allclose(outputs["probabilities"], probabilities, rtol=0, atol=1e-5)
    np.testing.assert_allclose(outputs["probabilities"].sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(outputs["scores"], expected[[f"score_{label}" for label in model.classes]], atol=1e-5)
    np.testing.assert_allclose(outputs["latent"], model.embed_features(features), atol=1e-5)
    assert outputs["predicted"].tolist() == expected["predicted"].tolist()
    assert len(set(expected["predicted"])) > 1  # the rows exercise more than one class
    if name == "dae_sup_lda":
        assert model.encoder.input_projection_.shape == (len(model.feature_names), 3)


def test_metadata_names_the_features_classes_and_bundle(bundles, tmp_path) -> None:
    path = export_onnx(bundles["dae_sup"], tmp_path / "model.onnx")
    model = load_model(bundles["dae_sup"])
    metadata = read_metadata(onnx.load(str(path)))
    assert metadata["feature_names"] == list(model.feature_names)
    assert metadata["classes"] == list(model.classes)
    assert metadata["feature_set"] == "egemaps" and metadata["method"] == "dae_sup"
    manifest = json.loads((bundles["dae_sup"] / "manifest.json").read_text())
    assert metadata["bundle_content_sha256"] == manifest["content_sha256"]
    assert "pooled training scaler" in metadata["normalization"]


def test_several_training_corpora_export_the_pooled_scaler(bundles, tmp_path) -> None:
    folder = bundles["pca_two_corpora"]
    stored = json.loads((folder / PREPROCESSING_FILE).read_text())
    assert set(stored["corpus_scalers"]) == {"ravdess", "aesd"}
    graph = onnx.load(str(export_onnx(folder, tmp_path / "model.onnx")))
    means = [onnx.numpy_helper.to_array(tensor) for tensor in graph.graph.initializer
             if tensor.name.startswith("scaler_mean")]
    np.testing.assert_array_equal(means[0], stored["scaler"]["mean"])
    assert not np.allclose(means[0], stored["corpus_scalers"]["aesd"]["mean"])


def test_export_refuses_to_overwrite_and_leaves_no_partial_file(bundles, tmp_path) -> None:
    out = tmp_path / "model.onnx"
    out.write_text("keep me")
    with pytest.raises(OnnxExportError, match="exists; choose another file or pass --force"):
        export_onnx(bundles["svc_features"], out)
    assert out.read_text() == "keep me"
    export_onnx(bundles["svc_features"], out, force=True)
    assert onnx.load(str(out)).graph.input[0].name == "features"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.onnx"]
    with pytest.raises(OnnxExportError, match="is a folder"):
        export_onnx(bundles["svc_features"], tmp_path)


def test_a_bundle_without_calibration_is_not_exported(tmp_path) -> None:
    data, config = synthetic_training(tmp_path, speakers=4, per_speaker=8)
    path = write_bundle(fitted_pipeline(data, config, "pca"), tmp_path / "plain.bundle", data=data, config=config)
    with pytest.raises(OnnxExportError, match="no probability calibration"):
        export_onnx(path, tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()


def test_export_command(bundles, tmp_path) -> None:
    out = tmp_path / "cli.onnx"
    result = CliRunner().invoke(app, ["export", str(bundles["dae_sup"]), "--onnx", str(out)])
    assert result.exit_code == 0, result.output
    assert read_metadata(onnx.load(str(out)))["method"] == "dae_sup"
    again = CliRunner().invoke(app, ["export", str(bundles["dae_sup"]), "--onnx", str(out)])
    assert again.exit_code == 2 and "--force" in again.output
    missing = CliRunner().invoke(app, ["export", str(tmp_path / "nowhere"), "--onnx", str(tmp_path / "x.onnx")])
    assert missing.exit_code == 2 and "not a folder" in missing.output


def test_the_graph_gives_predicts_probabilities_for_recordings(bundles, tmp_path) -> None:
    from crossemo.features import extract_files
    from tests.fixtures import write_tone

    files = [str(write_tone(tmp_path / f"{label}.wav", label=label)) for label in ("sad", "angry")]
    model = load_model(bundles["dae_sup"])
    predicted = model.predict(files, cache_dir=tmp_path / "cache", jobs=1, progress=False)
    graph = export_onnx(bundles["dae_sup"], tmp_path / "model.onnx")
    metadata = read_metadata(onnx.load(str(graph)))
    extracted = extract_files(files, feature_set=metadata["feature_set"], cache_dir=tmp_path / "cache", jobs=1,
                              progress=False)
    outputs = run_graph(graph, extracted[metadata["feature_names"]].to_numpy(dtype=np.float64))
    columns = [f"prob_{label}" for label in metadata["classes"]]
    np.testing.assert_allclose(outputs["probabilities"], predicted[columns].to_numpy(dtype=np.float64), atol=1e-5)
    assert outputs["predicted"].tolist() == predicted["predicted"].tolist()
