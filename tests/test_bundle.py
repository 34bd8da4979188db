"""Model bundles: one pipeline with the study, loading without pickle, refusing tampered bundles, prediction."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pickle
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import opensmile
import pandas as pd
import pytest
import soundfile
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from sklearn.metrics import balanced_accuracy_score
from sklearn.svm import SVC
from typer.testing import CliRunner

import crossemo
from crossemo import bundle
from crossemo.bundle import (
    BundleWarning,
    LinearOvoClassifier,
    Normalization,
    PredictionError,
    predict_files,
    train_bundle,
    training_data,
    write_bundle,
)
from crossemo.cli import app
from crossemo.config import parse_config
from crossemo.errors import BundleError, CrossemoError
from crossemo.features import default_cache_dir, extract_files, feature_cache_dir
from crossemo.pipeline import EmotionPipeline
from crossemo.recordings import RecordingsError, collect_recordings
from crossemo.study import build_tasks, fit_task_pipeline, load_corpora, method_params
from tests.fixtures import real_corpus, write_garbage, write_tone

pytestmark = pytest.mark.usefixtures("one_thread")

EPOCHS = 3


def bundle_config(workspace: SimpleNamespace, **protocol):
    """A study over the shared generated RAVDESS alone (a bundle needs no transfer corpus)."""
    return parse_config(
        {
            "train": {"corpus": "ravdess", "path": str(workspace.ravdess)},
            "protocol": protocol,
            "model": {"epochs": EPOCHS},
            "compute": {"jobs": 1, "cache_dir": str(workspace.cache)},
        }
    )


def fit(data, method: str, config, **options) -> EmotionPipeline:
    """The pipeline a bundle of ``method`` holds, fitted by hand on ``data``."""
    pipeline = EmotionPipeline(method, method_params(config, method, config.protocol.seeds[0]), **options)
    return pipeline.fit(data.features, data.labels, unlabelled=data.unlabelled)


@pytest.fixture(scope="module")
def workspace(corpus_workspace, tmp_path_factory) -> SimpleNamespace:
    """The shared corpora and cache, a study config over RAVDESS and a folder for this module's bundles."""
    return SimpleNamespace(
        root=tmp_path_factory.mktemp("bundle"),
        corpus=corpus_workspace.ravdess,
        cache=corpus_workspace.cache,
        config=bundle_config(corpus_workspace),
        shared=corpus_workspace,
    )


@pytest.fixture(scope="module")
def trained(workspace, one_thread) -> SimpleNamespace:
    """VAE-ss trained once on the fixture corpus: the in-memory pipeline and its bundle."""
    data = training_data(workspace.config, progress=False)
    pipeline = fit(data, "vae_ss", workspace.config)
    path = write_bundle(pipeline, workspace.root / "vae_ss.bundle", data=data, config=workspace.config)
    return SimpleNamespace(data=data, pipeline=pipeline, path=path)


@pytest.fixture()
def bundle_copy(trained, tmp_path) -> Path:
    """A private copy of the trained bundle, to tamper with."""
    return Path(shutil.copytree(trained.path, tmp_path / "copy.bundle"))


def rehash(folder: Path) -> None:
    """Rewrite the manifest so hashes match the files again (a careful forger's bundle)."""
    manifest = json.loads((folder / bundle.MANIFEST).read_text())
    manifest["files"] = {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in bundle.BUNDLE_FILES
    }
    manifest["content_sha256"] = bundle.content_hash(folder, bundle.BUNDLE_FILES)
    (folder / bundle.MANIFEST).write_text(json.dumps(manifest))


def edit_json(folder: Path, name: str, change) -> None:
    document = json.loads((folder / name).read_text())
    change(document)
    (folder / name).write_text(json.dumps(document))


# --------------------------------------------------------------------------- one pipeline with the study


@pytest.mark.parametrize(("method", "fold"), [("vae_ss", 0), ("pca", 1), ("svc_features", 2)])
def test_a_bundle_of_a_study_fold_predicts_what_the_study_predicted(finished_run, tmp_path, method, fold) -> None:
    config = finished_run.config
    corpora = load_corpora(config, progress=False)
    task = next(
        task for task in build_tasks(config, corpora)
        if task.method.name == method and task.fold == fold and task.classes == tuple(config.protocol.classes)
    )
    pipeline = fit_task_pipeline(task)
    data = dataclasses.replace(  # the fold's rows, with the training corpus' extractor and statistics
        training_data(config, corpus=corpora[config.train[0].display_name]),
        features=task.train_features,
        labels=task.train_labels,
        unlabelled=np.empty((0, task.train_features.shape[1])),
    )

    model = bundle.load_model(write_bundle(pipeline, tmp_path / method, data=data, config=config))

    latent = model.embed_features(task.test_features)
    predicted = model.classifier.predict(latent)
    assert np.array_equal(latent, pipeline.embed(task.test_features))  # bitwise
    assert predicted.tolist() == pipeline.predict(task.test_features).tolist()
    assert model.method == method and model.info["training"]["params"] == json.loads(json.dumps(task.params))
    if not task.method.has_latent:
        return
    # ... and what the finished run recorded for that fold: the same model, refitted.
    stored = pd.read_parquet(finished_run.out / "latents.parquet")
    stored = stored[(stored["method"] == method) & (stored["fold"] == fold) & (stored["condition"] == "within")
                    & (stored["classes"] == len(task.classes)) & (stored["seed"] == task.seed)]
    assert stored["path"].tolist() == task.test_paths.tolist()
    assert predicted.tolist() == stored["predicted"].tolist()
    latent_columns = [f"z{dimension}" for dimension in range(model.latent_dim)]
    np.testing.assert_allclose(stored[latent_columns].to_numpy(), latent, rtol=1e-6, atol=1e-6)  # stored float32


def test_unlabelled_rows_join_training_when_the_protocol_uses_them(workspace, tmp_path) -> None:
    config = bundle_config(workspace.shared, unlabelled="use")
    data = training_data(config, progress=False)
    assert len(data.unlabelled) > 0 and len(training_data(workspace.config, progress=False).unlabelled) == 0

    used = crossemo.load_model(train_bundle(config, "dae", tmp_path / "use", progress=False))
    dropped = crossemo.load_model(train_bundle(workspace.config, "dae", tmp_path / "drop", progress=False))

    latent = used.embed_features(data.features)
    assert np.array_equal(latent, fit(data, "dae", config).embed(data.features))  # bitwise: the same fit
    assert not np.allclose(latent, dropped.embed_features(data.features))
    assert used.info["training"]["unlabelled_utterances"] == len(data.unlabelled)
    assert dropped.info["training"]["unlabelled_utterances"] == 0
    assert used.info["training"]["utterances"] == dropped.info["training"]["utterances"] == len(data.labels)


# --------------------------------------------------------------------------- round trip


def test_loaded_bundle_reproduces_the_in_memory_pipeline(trained) -> None:
    model = crossemo.load_model(trained.path)
    features = trained.data.features

    latent = model.embed_features(features)

    assert np.array_equal(latent, trained.pipeline.embed(features))  # bitwise
    assert np.array_equal(model.classifier.predict(latent), trained.pipeline.predict(features))
    np.testing.assert_allclose(
        model.classifier.class_scores(latent), trained.pipeline.classifier_.decision_function(latent),
        rtol=0, atol=1e-10,
    )
    assert model.method == "vae_ss"
    assert model.classes == tuple(trained.pipeline.classes_)
    assert model.info["training"]["utterances"] == len(features)
    assert model.info["versions"]["opensmile"] == opensmile.__version__
    assert model.feature_set == "egemaps" and model.info["extractor"]["id"] == "egemaps"


def test_predict_on_files_matches_the_pipeline_on_their_features(trained, workspace) -> None:
    model = crossemo.load_model(trained.path)

    predictions = model.predict(workspace.corpus, jobs=1, cache_dir=workspace.cache, progress=False)

    features = extract_files(predictions["path"], cache_dir=workspace.cache, jobs=1, progress=False)
    values = features[list(model.feature_names)].to_numpy(dtype=np.float64)
    latent_columns = [f"z{dimension}" for dimension in range(model.latent_dim)]
    assert list(predictions.columns) == [
        "path", "predicted", *(f"score_{label}" for label in model.classes),
        *(f"prob_{label}" for label in model.classes), "confidence", *latent_columns, "out_of_range", "uncertain",
        "error",
    ]
    assert predictions["error"].isna().all()
    assert np.array_equal(predictions[latent_columns].to_numpy(), trained.pipeline.embed(values))
    assert predictions["predicted"].tolist() == trained.pipeline.predict(values).tolist()
    # The training files cannot lie beyond |z| = 10 of their own corpus (n < 101 rows).
    assert not predictions["out_of_range"].any()


@pytest.mark.parametrize("method", ["dae", "pca", "svc_features"])
def test_other_methods_round_trip(trained, workspace, tmp_path, method) -> None:
    pipeline = fit(trained.data, method, workspace.config)
    path = write_bundle(pipeline, tmp_path / method, data=trained.data, config=workspace.config)

    model = bundle.load_model(path)

    latent = model.embed_features(trained.data.features)
    assert model.method == method
    assert np.array_equal(latent, pipeline.embed(trained.data.features))
    assert np.array_equal(model.classifier.predict(latent), pipeline.predict(trained.data.features))


def test_a_bundle_of_the_svc_on_the_features_predicts_files(trained, workspace, tmp_path) -> None:
    pipeline = fit(trained.data, "svc_features", workspace.config)
    model = bundle.load_model(write_bundle(pipeline, tmp_path / "svc", data=trained.data, config=workspace.config))
    files = sorted(workspace.corpus.rglob("*.wav"))[:5]

    predictions = model.predict(files, jobs=1, cache_dir=workspace.cache, progress=False)

    n_features = len(model.feature_names)
    assert model.latent_dim == n_features  # its "latent" is the standardized features
    values = extract_files(files, cache_dir=workspace.cache, jobs=1, progress=False)[list(model.feature_names)]
    standardized = pipeline.scaler_.transform(values.to_numpy(dtype=np.float64))
    assert np.array_equal(predictions[[f"z{index}" for index in range(n_features)]].to_numpy(), standardized)
    assert predictions["predicted"].tolist() == pipeline.predict(values.to_numpy(dtype=np.float64)).tolist()


def test_a_standardized_latent_is_folded_into_the_classifier(trained, workspace, tmp_path) -> None:
    pipeline = fit(trained.data, "dae", workspace.config, scale_latent=True)
    path = write_bundle(pipeline, tmp_path / "scaled", data=trained.data, config=workspace.config)

    model = bundle.load_model(path)

    latent = model.embed_features(trained.data.features)
    assert np.array_equal(latent, pipeline.embed(trained.data.features))  # the raw latent
    svc_input = pipeline.latent_scaler_.transform(latent)  # standardized for the SVC
    svc = pipeline.classifier_
    np.testing.assert_allclose(
        model.classifier.decision_function(latent), svc_input @ svc.coef_.T + svc.intercept_, atol=1e-9
    )
    assert np.array_equal(model.classifier.predict(latent), pipeline.predict(trained.data.features))
    assert model.info["training"]["scale_latent"] is True


def test_bundle_holds_no_pickle(trained) -> None:
    names = sorted(path.name for path in trained.path.iterdir())
    assert names == sorted([bundle.MANIFEST, *bundle.BUNDLE_FILES])
    for name in names:
        assert b"\x80\x04\x95" not in (trained.path / name).read_bytes()[:4096]  # pickle protocol 4 header


def test_bundles_written_before_the_registry_still_load(trained, workspace, tmp_path) -> None:
    """A PCA state in the old ``crossemo.pca`` format and a features.json naming only the feature set."""
    from safetensors.numpy import save_file as save_numpy

    pipeline = fit(trained.data, "pca", workspace.config)
    path = write_bundle(pipeline, tmp_path / "pca", data=trained.data, config=workspace.config)
    pca = pipeline.model_
    legacy = {
        "format": "crossemo.pca",
        "version": 1,
        "model": "pca",
        "params": {"n_components": pca.latent_dim, "whiten": False},
        "n_features_in_": pca.n_features_in_,
    }
    save_numpy(
        {name: np.ascontiguousarray(getattr(pca, name)) for name in ("components_", "mean_", "explained_variance_")},
        str(path / bundle.ENCODER_FILE),
        metadata={"crossemo": json.dumps(legacy)},
    )
    edit_json(path, bundle.FEATURES_FILE, lambda document: document.pop("extractor"))
    edit_json(path, bundle.BUNDLE_FILE, lambda document: document.update(feature_set="eGeMAPSv02"))
    assert json.loads((path / bundle.FEATURES_FILE).read_text())["feature_set"] == "eGeMAPSv02"
    rehash(path)

    model = bundle.load_model(path)

    assert model.method == "pca" and model.feature_set == "egemaps"
    assert np.array_equal(model.embed_features(trained.data.features), pipeline.embed(trained.data.features))


# --------------------------------------------------------------------------- the SVC without scikit-learn objects


@pytest.mark.parametrize("n_classes", [2, 3, 4])
def test_reimplemented_svc_equals_scikit_learn(n_classes) -> None:
    labels = np.array(["angry", "happy", "neutral", "sad"][:n_classes], dtype=object)
    ties = 0
    for seed in range(6):  # several fits, so that regions where the one-vs-one votes tie occur
        rng = np.random.default_rng(seed)
        codes = rng.integers(0, n_classes, 300)
        X = rng.normal(scale=0.5, size=(n_classes, 2))[codes] + rng.normal(size=(300, 2))
        grid = rng.normal(scale=3.0, size=(4000, 2))
        ovo = SVC(kernel="linear", decision_function_shape="ovo").fit(X, labels[codes])
        ovr = SVC(kernel="linear", decision_function_shape="ovr").fit(X, labels[codes])
        document = json.loads(json.dumps(LinearOvoClassifier.from_svc(ovo).to_json()))

        classifier = LinearOvoClassifier.from_json(document, latent_dim=2)

        decision = classifier.decision_function(grid)
        np.testing.assert_allclose(decision, ovo.decision_function(grid), rtol=0, atol=1e-10)
        assert classifier.predict(grid).tolist() == ovo.predict(grid).tolist()
        scores = classifier.class_scores(grid)
        if n_classes == 2:
            np.testing.assert_allclose(scores[:, 1], ovr.decision_function(grid), rtol=0, atol=1e-10)
            continue
        np.testing.assert_allclose(scores, ovr.decision_function(grid), rtol=0, atol=1e-10)
        votes = np.zeros((len(grid), n_classes))
        for column, (i, j) in enumerate(bundle.class_pairs(n_classes)):
            votes[:, i] += decision[:, column] > 0
            votes[:, j] += decision[:, column] <= 0
        ties += int(((votes == votes.max(axis=1, keepdims=True)).sum(axis=1) > 1).sum())
    if n_classes > 2:
        assert ties > 0  # the predictions compared include tied votes (lowest class index wins)


def test_out_of_range_uses_the_reference_statistics() -> None:
    normalization = Normalization(
        mean=np.zeros(3), scale=np.ones(3), reference_mean=np.array([0.0, 10.0, 5.0]),
        reference_std=np.array([1.0, 2.0, 0.0]), z=3.0, source="test", recordings=0,
    )
    rows = np.array([[2.9, 10.0, 5.0], [0.0, 16.1, 5.0], [0.0, 10.0, 1e6]])
    assert normalization.out_of_range(rows).tolist() == [False, True, False]  # zero std never counts


# --------------------------------------------------------------------------- refusing bad bundles


@pytest.mark.parametrize("planted", ["model.pkl", "weights.pt", "latent.npy", ".hidden.pickle"])
def test_unlisted_files_are_refused(bundle_copy, planted) -> None:
    if planted.endswith(".npy"):
        np.save(bundle_copy / planted, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    else:
        (bundle_copy / planted).write_bytes(pickle.dumps({"weights": [1, 2, 3]}))

    with pytest.raises(BundleError, match=f"does not list: {planted}"):
        bundle.load_model(bundle_copy)


def test_missing_file_is_refused(bundle_copy) -> None:
    (bundle_copy / bundle.CLASSIFIER_FILE).unlink()

    with pytest.raises(BundleError, match="incomplete: missing classifier.json"):
        bundle.load_model(bundle_copy)


def test_edited_weights_are_refused(bundle_copy) -> None:
    path = bundle_copy / bundle.ENCODER_FILE
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
    tensors = load_file(str(path))
    tensors["encoder_body.0.weight"] = tensors["encoder_body.0.weight"] + 0.01
    save_file(tensors, str(path), metadata=metadata)

    with pytest.raises(BundleError, match=r"modified after it was written: encoder\.safetensors"):
        bundle.load_model(bundle_copy)


def test_wrong_tensor_shapes_are_refused_even_when_rehashed(bundle_copy) -> None:
    path = bundle_copy / bundle.ENCODER_FILE
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
    tensors = load_file(str(path))
    tensors["encoder_body.0.weight"] = tensors["encoder_body.0.weight"][:, :87].contiguous()
    save_file(tensors, str(path), metadata=metadata)
    rehash(bundle_copy)

    with pytest.raises(BundleError, match=r"encoder\.safetensors does not fit the vae_ss state .*"
                                          r"encoder_body\.0\.weight has shape \(40, 87\), expected \(40, 88\)"):
        bundle.load_model(bundle_copy)


def test_a_state_of_another_method_is_refused(bundle_copy) -> None:
    edit_json(bundle_copy, bundle.BUNDLE_FILE, lambda document: document.update(method="vae"))
    rehash(bundle_copy)

    with pytest.raises(BundleError, match="holds model 'vae_ss', bundle.json says 'vae'"):
        bundle.load_model(bundle_copy)


def test_edited_feature_names_are_refused(bundle_copy) -> None:
    def swap(document):
        document["names"][0], document["names"][1] = document["names"][1], document["names"][0]

    edit_json(bundle_copy, bundle.FEATURES_FILE, swap)
    with pytest.raises(BundleError, match="modified after it was written: features.json"):
        bundle.load_model(bundle_copy)

    rehash(bundle_copy)
    with pytest.raises(BundleError, match=r"feature names differ .*installed egemaps extractor.*"
                                          r"#0: bundle 'F0semitoneFrom27\.5Hz_sma3nz_stddevNorm'"):
        bundle.load_model(bundle_copy)


def test_unknown_feature_extractor_is_refused(bundle_copy) -> None:
    edit_json(bundle_copy, bundle.FEATURES_FILE, lambda document: document["extractor"].update(id="wav2vec", name="wav2vec"))
    rehash(bundle_copy)

    with pytest.raises(BundleError, match="features.json: unknown feature set 'wav2vec'"):
        bundle.load_model(bundle_copy)


def test_wrong_classifier_shape_is_refused(bundle_copy) -> None:
    edit_json(bundle_copy, bundle.CLASSIFIER_FILE, lambda document: document["coef"].pop())
    rehash(bundle_copy)

    with pytest.raises(BundleError, match=r"classifier\.json coef: shape \(5, 2\), expected \(6, 2\)"):
        bundle.load_model(bundle_copy)


def test_other_package_versions_warn_but_load(bundle_copy) -> None:
    edit_json(bundle_copy, bundle.BUNDLE_FILE, lambda document: document["versions"].update(crossemo="99.0.0"))
    edit_json(bundle_copy, bundle.FEATURES_FILE,
              lambda document: document["extractor"].update(version="eGeMAPSv02-opensmile0.0.1"))
    rehash(bundle_copy)

    with pytest.warns(BundleWarning) as caught:
        model = bundle.load_model(bundle_copy)
    messages = " | ".join(str(warning.message) for warning in caught)
    assert "crossemo 99.0.0" in messages and "eGeMAPSv02-opensmile0.0.1" in messages
    assert model.method == "vae_ss"


def test_newer_format_and_non_bundles_are_refused(bundle_copy, tmp_path) -> None:
    edit_json(bundle_copy, bundle.MANIFEST, lambda document: document.update(format_version=bundle.BUNDLE_VERSION + 1))
    with pytest.raises(BundleError, match=f"format version {bundle.BUNDLE_VERSION + 1}"):
        bundle.load_model(bundle_copy)
    with pytest.raises(BundleError, match="no manifest.json"):
        bundle.load_model(tmp_path)
    with pytest.raises(BundleError, match="not a folder"):
        bundle.load_model(tmp_path / "nowhere")


# --------------------------------------------------------------------------- prediction inputs


def test_bad_recordings_give_error_rows(trained, workspace, tmp_path) -> None:
    good = sorted(workspace.corpus.rglob("*.wav"))[0]
    garbage = write_garbage(tmp_path / "garbage.wav")
    silent = tmp_path / "silent.wav"
    soundfile.write(silent, np.zeros(16_000, dtype=np.float32), 16_000)
    short = write_tone(tmp_path / "short.wav", label="sad", duration_s=0.1)
    missing = tmp_path / "missing.wav"
    out = tmp_path / "predictions.csv"

    predictions = predict_files(trained.path, [good, garbage, silent, short, missing], out=out,
                                jobs=1, cache_dir=workspace.cache, progress=False)

    errors = predictions["error"].tolist()
    assert errors[0] is None and predictions["predicted"].iloc[0] in trained.pipeline.classes_
    assert errors[1].startswith("unreadable") and errors[2].startswith("silent")
    assert errors[3].startswith("too short") and errors[4].startswith("unreadable")
    assert predictions["predicted"].iloc[1:].isna().all() and predictions["z0"].iloc[1:].isna().all()
    written = pd.read_csv(out)
    assert written.columns.tolist() == predictions.columns.tolist() and len(written) == 5
    assert written["error"].notna().tolist() == [False, True, True, True, True]


def test_predict_files_does_not_overwrite_without_force(trained, workspace, tmp_path) -> None:
    files = sorted(workspace.corpus.rglob("*.wav"))[:2]
    out = tmp_path / "predictions.csv"
    out.write_text("keep me\n")

    with pytest.raises(PredictionError, match=r"predictions\.csv exists.*--force"):
        predict_files(trained.path, files, out=out, jobs=1, cache_dir=workspace.cache, progress=False)
    assert out.read_text() == "keep me\n"
    with pytest.raises(PredictionError, match="is a folder"):
        predict_files(trained.path, files, out=tmp_path, jobs=1, cache_dir=workspace.cache, progress=False)

    predict_files(trained.path, files, out=out, force=True, jobs=1, cache_dir=workspace.cache, progress=False)
    assert len(pd.read_csv(out)) == 2


def test_collect_recordings_reads_folders_and_lists(tmp_path) -> None:
    write_tone(tmp_path / "a" / "one.wav")
    write_tone(tmp_path / "a" / "deep" / "two.FLAC", audio_format="FLAC")
    (tmp_path / "a" / "notes.txt").write_text("not audio")
    manifest = tmp_path / "list.csv"
    manifest.write_text("Path,emotion\na/one.wav,sad\nb/absent.wav,\n")

    found = collect_recordings([tmp_path / "a", manifest])

    assert [Path(path).name for path in found] == ["two.FLAC", "one.wav", "one.wav", "absent.wav"]
    assert all(Path(path).is_absolute() for path in found)
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecordingsError, match="no audio files"):
        collect_recordings(tmp_path / "empty")
    (tmp_path / "bad.csv").write_text("file,emotion\nx.wav,sad\n")
    with pytest.raises(RecordingsError, match="no 'path' column"):
        collect_recordings(tmp_path / "bad.csv")


def test_an_empty_folder_to_predict_is_a_prediction_error(trained, tmp_path) -> None:
    (tmp_path / "empty").mkdir()

    with pytest.raises(PredictionError, match="no audio files"):
        crossemo.load_model(trained.path).predict(tmp_path / "empty", progress=False)


def test_adapt_normalizes_with_the_new_domain(trained, workspace, tmp_path) -> None:
    model = crossemo.load_model(trained.path)
    files = sorted(workspace.corpus.rglob("*.wav"))
    adapt = tmp_path / "adapt.csv"
    # A skewed share of the corpus (high-pitched emotions only) has other statistics than the whole.
    chosen = [path for path in files if path.name.split("-")[2] in ("03", "05")]
    adapt.write_text("path\n" + "\n".join(str(path) for path in chosen) + "\n")

    plain = model.embed(files[:6], jobs=1, cache_dir=workspace.cache, progress=False)
    adapted = model.predict(files[:6], adapt=adapt, jobs=1, cache_dir=workspace.cache, progress=False)

    assert plain.columns.tolist() == ["path", "z0", "z1", "error"]
    assert not np.allclose(plain[["z0", "z1"]].to_numpy(), adapted[["z0", "z1"]].to_numpy())
    assert adapted.attrs["normalization"] == {"source": str(adapt), "recordings": len(chosen)}
    features = extract_files(chosen, cache_dir=workspace.cache, jobs=1, progress=False)
    own = model.adapt_normalization(features[list(model.feature_names)].to_numpy())  # float32 as cached
    values = features[list(model.feature_names)].to_numpy(dtype=np.float64)
    np.testing.assert_array_equal(own.mean, values.mean(axis=0))


def test_adapt_needs_two_usable_recordings(trained, workspace, tmp_path) -> None:
    model = crossemo.load_model(trained.path)
    files = sorted(workspace.corpus.rglob("*.wav"))
    bad = write_garbage(tmp_path / "bad.wav")

    with pytest.raises(PredictionError, match=r"at least 2 usable recordings .* gave 1 of 2 \(.*bad\.wav: unreadable"):
        model.predict(files[:2], adapt=iter([files[0], bad]), jobs=1, cache_dir=workspace.cache, progress=False)


# --------------------------------------------------------------------------- training entry point and CLI


def test_train_bundle_refuses_to_overwrite_without_force(workspace, tmp_path) -> None:
    out = tmp_path / "model"
    first = train_bundle(workspace.config, "dae", out, epochs=1, progress=False)
    hash_before = crossemo.load_model(first).info["content_sha256"]

    with pytest.raises(BundleError, match="already holds a bundle.*--force"):
        train_bundle(workspace.config, "dae", out, epochs=1, progress=False)
    train_bundle(workspace.config, "pca", out, force=True, progress=False)

    replaced = crossemo.load_model(out)
    assert replaced.method == "pca" and replaced.info["content_sha256"] != hash_before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model"]  # no staging folders left
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(BundleError, match="not a crossemo bundle"):
        train_bundle(workspace.config, "dae", other, force=True, progress=False)
    assert (other / "notes.txt").read_text() == "keep me"
    with pytest.raises(CrossemoError, match="unknown method"):
        train_bundle(workspace.config, "svm", tmp_path / "x", progress=False)


def test_a_failed_write_leaves_nothing_behind(trained, workspace, tmp_path, monkeypatch) -> None:
    out = tmp_path / "model"

    def broken_save(path):
        raise OSError("disk full")

    monkeypatch.setattr(trained.pipeline.model_, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        write_bundle(trained.pipeline, out, data=trained.data, config=workspace.config)
    assert list(tmp_path.iterdir()) == []


def test_cli_train_and_predict(workspace, tmp_path) -> None:
    runner = CliRunner()
    config = tmp_path / "study.toml"
    config.write_text(
        f'[train]\ncorpus = "ravdess"\npath = "{workspace.corpus}"\n'
        f'[compute]\njobs = 1\ncache_dir = "{workspace.cache}"\n'
    )
    model_dir = tmp_path / "model"

    trained = runner.invoke(app, ["train", str(config), "--method", "dae", "--epochs", "2", "--out", str(model_dir)])
    again = runner.invoke(app, ["train", str(config), "--method", "dae", "--epochs", "2", "--out", str(model_dir)])
    out = tmp_path / "predictions.csv"
    predict_args = ["predict", str(model_dir), str(workspace.corpus / "Actor_01"), "--out", str(out), "--json",
                    "--jobs", "1", "--cache-dir", str(workspace.cache)]
    predicted = runner.invoke(app, predict_args)
    repeated = runner.invoke(app, predict_args)
    broken = runner.invoke(app, ["predict", str(tmp_path), str(workspace.corpus), "--json"])

    assert trained.exit_code == 0, trained.output
    assert again.exit_code == 2 and "--force" in again.output and "Traceback" not in again.output
    assert predicted.exit_code == 0, predicted.output
    records = json.loads(predicted.stdout)
    table = pd.read_csv(out)
    assert len(records) == len(table) == len(list((workspace.corpus / "Actor_01").glob("*.wav")))
    assert set(records[0]) == set(table.columns) and records[0]["error"] is None
    assert repeated.exit_code == 2 and "--force" in repeated.output
    assert broken.exit_code == 2 and "no manifest.json" in broken.output

    uncalibrated = tmp_path / "uncalibrated"
    plain = runner.invoke(app, ["train", str(config), "--method", "dae", "--epochs", "2", "--calibration-folds", "0",
                                "--out", str(uncalibrated)])
    assert plain.exit_code == 0, plain.output
    assert (model_dir / "calibration.json").is_file() and not (uncalibrated / "calibration.json").exists()
    one_fold = runner.invoke(app, ["train", str(config), "--calibration-folds", "1", "--out", str(tmp_path / "x")])
    assert one_fold.exit_code == 2 and "calibration_folds must be an integer of at least 2" in one_fold.output


# --------------------------------------------------------------------------- the shared real corpora


@pytest.mark.corpus
@pytest.mark.filterwarnings("ignore:removing unreadable cache shard")  # an older cache layout in the user cache
def test_ravdess_bundle_predicts_emodb_with_and_without_adapt(tmp_path) -> None:
    ravdess, emodb = real_corpus("ravdess"), real_corpus("emodb")
    # Start from a copy of the user's feature cache (if any), so the test is quick once the corpora
    # were extracted and still writes only under tmp_path.
    cache = tmp_path / "cache"
    for folder in (feature_cache_dir(default_cache_dir()), default_cache_dir() / "file-hashes"):
        if folder.is_dir():
            shutil.copytree(folder, cache / folder.relative_to(default_cache_dir()))
    config = parse_config({
        "train": {"corpus": "ravdess", "path": str(ravdess)},
        "compute": {"jobs": 2, "cache_dir": str(cache)},
    })
    model = crossemo.load_model(train_bundle(config, "dae", tmp_path / "dae", progress=False))
    from crossemo.corpora import read_corpus
    from crossemo.preprocessing import target_norm_split

    table = read_corpus("emodb", emodb)
    table = table[table["label"].isin(model.classes)].reset_index(drop=True)
    files = [str(Path(table.attrs["root"]) / path) for path in table["path"]]
    adapt_rows, eval_rows = target_norm_split(len(files), fraction=0.2, seed=0)  # the paper's condition 2
    adapt = [files[row] for row in adapt_rows]
    evaluated = [files[row] for row in eval_rows]

    unseen = model.predict(evaluated, jobs=2, cache_dir=cache, progress=False)
    adapted = model.predict(evaluated, adapt=adapt, jobs=2, cache_dir=cache, progress=False)

    for predictions in (unseen, adapted):
        assert predictions.shape == (len(evaluated), 1 + 2 * len(model.classes) + model.latent_dim + 5)
        assert predictions["error"].isna().all()
    assert not np.allclose(unseen[["z0", "z1"]].to_numpy(), adapted[["z0", "z1"]].to_numpy())
    truth = table["label"].to_numpy()[eval_rows]
    accuracy = {
        name: balanced_accuracy_score(truth, predictions["predicted"])
        for name, predictions in (("unseen", unseen), ("adapt", adapted))
    }
    # SPEC section 6 and the paper: target normalization helps considerably across corpora.
    assert accuracy["adapt"] > max(accuracy["unseen"], 1 / len(model.classes)), accuracy


def test_out_of_range_follows_the_width_aware_outlier_rule() -> None:
    rng = np.random.default_rng(1)
    width = 3000  # a ComParE-sized set: floor(0.001 * 3000) = 3 extreme values allowed
    training = rng.normal(size=(200, width))
    normalization = Normalization(mean=training.mean(0), scale=training.std(0), reference_mean=training.mean(0),
                                  reference_std=training.std(0), z=10.0, source="training", recordings=200)
    new = rng.normal(size=(3, width))
    new[1, :3] = 50.0  # three extreme values: within the share
    new[2, :4] = 50.0  # four: beyond it
    assert normalization.out_of_range(new).tolist() == [False, False, True]
    strict = dataclasses.replace(normalization, max_share=0.0)
    assert strict.out_of_range(new).tolist() == [False, True, True]
