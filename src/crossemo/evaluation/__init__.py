"""Evaluation: protocols (folds, conditions), metrics, latent consistency (SPEC section 4)."""

from __future__ import annotations

from crossemo.evaluation.consistency import bhattacharyya_distance, log_bhattacharyya
from crossemo.evaluation.metrics import balanced_accuracy, confusion, mean_ci95, per_class_recall
from crossemo.evaluation.protocols import (
    CONDITIONS,
    WITHIN,
    group_folds,
    session_folds,
    speaker_folds,
    utterance_folds,
)

__all__ = [
    "CONDITIONS",
    "WITHIN",
    "balanced_accuracy",
    "bhattacharyya_distance",
    "confusion",
    "group_folds",
    "log_bhattacharyya",
    "mean_ci95",
    "per_class_recall",
    "session_folds",
    "speaker_folds",
    "utterance_folds",
]
