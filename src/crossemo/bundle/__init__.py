"""Trained models as bundles that load without running code, and prediction on new recordings.

:func:`train_bundle` fits one registered method on the whole training corpus of a
study with the pipeline a study's fold fits; :func:`write_bundle` writes any fitted
:class:`~crossemo.pipeline.EmotionPipeline` as a folder of plain files;
:func:`load_model` reads one back (JSON and safetensors, never pickle) as a
:class:`TrainedModel` that predicts and embeds recordings.

Modules: :mod:`~crossemo.bundle.format` (the files, manifest, content hash and the
SVC as numbers), :mod:`~crossemo.bundle.write` (training and writing),
:mod:`~crossemo.bundle.load` (loading and every refusal), :mod:`~crossemo.bundle.predict`
(the loaded model at work).
"""

from __future__ import annotations

from crossemo.bundle.format import (
    BUNDLE_FILE,
    BUNDLE_FILES,
    BUNDLE_FORMAT,
    BUNDLE_VERSION,
    CLASSIFIER_FILE,
    CONFIG_FILE,
    ENCODER_FILE,
    FEATURES_FILE,
    MANIFEST,
    PREPROCESSING_FILE,
    BundleWarning,
    LinearOvoClassifier,
    class_pairs,
    content_hash,
    ovo_vote,
    ovr_scores,
)
from crossemo.bundle.load import load_model, predict_files
from crossemo.bundle.predict import Normalization, PredictionError, TrainedModel, prediction_records
from crossemo.bundle.write import TrainingData, train_bundle, training_data, write_bundle

__all__ = [
    "BUNDLE_FILE",
    "BUNDLE_FILES",
    "BUNDLE_FORMAT",
    "BUNDLE_VERSION",
    "CLASSIFIER_FILE",
    "CONFIG_FILE",
    "ENCODER_FILE",
    "FEATURES_FILE",
    "MANIFEST",
    "PREPROCESSING_FILE",
    "BundleWarning",
    "LinearOvoClassifier",
    "Normalization",
    "PredictionError",
    "TrainedModel",
    "TrainingData",
    "class_pairs",
    "content_hash",
    "load_model",
    "ovo_vote",
    "ovr_scores",
    "predict_files",
    "prediction_records",
    "train_bundle",
    "training_data",
    "write_bundle",
]
