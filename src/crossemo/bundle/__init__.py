"""Trained models as bundles that load without running code, and prediction on new recordings.

:func:`train_bundle` fits one registered method on the whole training corpus of a
study with the pipeline a study's fold fits; :func:`write_bundle` writes any fitted
:class:`~crossemo.pipeline.EmotionPipeline` as a folder of plain files;
:func:`load_model` reads one back (JSON and safetensors, never pickle) as a
:class:`TrainedModel` that predicts and embeds recordings.

Modules: :mod:`~crossemo.bundle.format` (the files, manifest, content hash and the
SVC as numbers), :mod:`~crossemo.bundle.write` (training and writing),
:mod:`~crossemo.bundle.load` (loading and every refusal), :mod:`~crossemo.bundle.predict`
(the loaded model at work), :mod:`~crossemo.bundle.calibration` (calibrated class
probabilities from out-of-fold scores) with its report
(:mod:`~crossemo.bundle.calibration_report`), :mod:`~crossemo.bundle.onnx_export`
(:func:`export_onnx`: the bundle as an ONNX graph), :mod:`~crossemo.bundle.segments`
(long recordings predicted per segment, summaries, timeline figures).
"""

from __future__ import annotations

from crossemo.bundle.calibration import CalibrationFit, CalibrationSkipped, ScoreCalibration, fit_calibration
from crossemo.bundle.format import (
    BUNDLE_FILE,
    BUNDLE_FILES,
    BUNDLE_FORMAT,
    BUNDLE_VERSION,
    CALIBRATION_FILE,
    CALIBRATION_FILES,
    CALIBRATION_REPORT_FILE,
    CLASSIFIER_FILE,
    CONFIG_FILE,
    ENCODER_FILE,
    FEATURES_FILE,
    MANIFEST,
    PREPROCESSING_FILE,
    READABLE_VERSIONS,
    RELIABILITY_FILE,
    BundleWarning,
    LinearOvoClassifier,
    bundle_files,
    class_pairs,
    content_hash,
    ovo_vote,
    ovr_scores,
)
from crossemo.bundle.load import load_model, predict_files
from crossemo.bundle.onnx_export import OnnxExportError, export_onnx
from crossemo.bundle.predict import Normalization, PredictionError, TrainedModel, prediction_records
from crossemo.bundle.segments import plot_timelines, predict_segments, segment_summary
from crossemo.bundle.write import TrainingData, train_bundle, training_data, write_bundle

__all__ = [
    "BUNDLE_FILE",
    "BUNDLE_FILES",
    "BUNDLE_FORMAT",
    "BUNDLE_VERSION",
    "CALIBRATION_FILE",
    "CALIBRATION_FILES",
    "CALIBRATION_REPORT_FILE",
    "CLASSIFIER_FILE",
    "CONFIG_FILE",
    "ENCODER_FILE",
    "FEATURES_FILE",
    "MANIFEST",
    "PREPROCESSING_FILE",
    "READABLE_VERSIONS",
    "RELIABILITY_FILE",
    "BundleWarning",
    "CalibrationFit",
    "CalibrationSkipped",
    "LinearOvoClassifier",
    "Normalization",
    "OnnxExportError",
    "PredictionError",
    "ScoreCalibration",
    "TrainedModel",
    "TrainingData",
    "bundle_files",
    "class_pairs",
    "content_hash",
    "export_onnx",
    "fit_calibration",
    "load_model",
    "ovo_vote",
    "ovr_scores",
    "plot_timelines",
    "predict_files",
    "predict_segments",
    "prediction_records",
    "segment_summary",
    "train_bundle",
    "training_data",
    "write_bundle",
]
