"""Evaluation: protocols (folds, conditions), metrics, latent consistency (SPEC section 4)."""

from __future__ import annotations

from crossemo.evaluation.consistency import bhattacharyya_distance, log_bhattacharyya
from crossemo.evaluation.metrics import balanced_accuracy, confusion, mean_ci95, per_class_recall
from crossemo.evaluation.protocols import (
    CONDITIONS,
    SPLITS,
    WITHIN,
    group_folds,
    group_kfolds,
    speaker_folds,
    split_folds,
    utterance_folds,
)

__all__ = [
    "CONDITIONS",
    "SPLITS",
    "WITHIN",
    "balanced_accuracy",
    "bhattacharyya_distance",
    "confusion",
    "group_folds",
    "group_kfolds",
    "log_bhattacharyya",
    "mean_ci95",
    "per_class_recall",
    "speaker_folds",
    "split_folds",
    "utterance_folds",
]
