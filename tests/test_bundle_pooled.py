"""A bundle trained on several corpora at once: each corpus' statistics stored, predictions as the pipeline's."""

from __future__ import annotations

import json

import numpy as np

from crossemo.bundle import PREPROCESSING_FILE, load_model, train_bundle, training_data
from crossemo.config import parse_config


def test_a_bundle_trained_on_two_corpora_keeps_each_corpus_statistics(corpus_workspace, tmp_path, one_thread):
    from crossemo.pipeline import EmotionPipeline
    from crossemo.study import method_params

    config = parse_config(
        {
            "train": [
                {"corpus": "ravdess", "path": str(corpus_workspace.ravdess)},
                {"corpus": "aesd", "path": str(corpus_workspace.aesd)},  # no neutral: adds the other three
            ],
            "model": {"methods": ["dae"], "epochs": 2},
            "compute": {"jobs": 1, "cache_dir": str(corpus_workspace.cache)},
        }
    )
    data = training_data(config, progress=False)
    assert data.corpus == "ravdess+aesd" and data.normalize == "corpus"
    assert set(data.corpora) == {"ravdess", "aesd"}
    assert set(data.labels[data.corpora == "aesd"]) == {"sad", "happy", "angry"}
    assert set(data.labels) == {"neutral", "sad", "happy", "angry"}

    path = train_bundle(config, "pca", tmp_path / "pooled.bundle")
    stored = json.loads((path / PREPROCESSING_FILE).read_text())["corpus_scalers"]
    assert set(stored) == {"ravdess", "aesd"}
    for name in ("ravdess", "aesd"):
        np.testing.assert_allclose(stored[name]["mean"], data.features[data.corpora == name].mean(axis=0))

    # What the bundle predicts for a new recording is what the pipeline gives rows it has no
    # statistics of: the pooled training scaler (the study's "unseen" condition).
    pipeline = EmotionPipeline("pca", method_params(config, "pca", 0), normalize="corpus").fit(
        data.features, data.labels, corpora=data.corpora
    )
    model = load_model(path)
    np.testing.assert_array_equal(model.predict_features(data.features[:20]), pipeline.predict(data.features[:20]))
    info = json.loads((path / "bundle.json").read_text())["training"]
    assert info["corpus"] == "ravdess+aesd" and info["normalize"] == "corpus"
