"""Balanced accuracy, per-class recall, confusion counts and the fold summary."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, confusion_matrix

from crossemo.errors import ConfigError
from crossemo.evaluation.metrics import balanced_accuracy, confusion, mean_ci95, per_class_recall

CLASSES = ["neutral", "sad", "happy", "angry"]


def _random_labels(seed: int, n: int = 60, classes=CLASSES):
    rng = np.random.default_rng(seed)
    return rng.choice(classes, size=n).tolist(), rng.choice(classes, size=n).tolist()


def test_balanced_accuracy_hand_computed():
    true = ["sad", "sad", "sad", "sad", "angry", "angry"]
    predicted = ["sad", "sad", "sad", "angry", "angry", "sad"]
    # recall sad 3/4, angry 1/2
    assert balanced_accuracy(true, predicted) == pytest.approx((0.75 + 0.5) / 2)


@pytest.mark.parametrize("seed", range(5))
def test_balanced_accuracy_equals_sklearn(seed):
    true, predicted = _random_labels(seed)
    assert balanced_accuracy(true, predicted) == balanced_accuracy_score(true, predicted)  # to the bit
    rng = np.random.default_rng(seed)
    numbers, guesses = rng.integers(0, 7, size=500), rng.integers(0, 9, size=500)  # classes only predicted too
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns about the predicted-only classes
        assert balanced_accuracy(numbers, guesses) == balanced_accuracy_score(numbers, guesses)


def test_labels_that_cannot_be_ordered_are_a_clear_error():
    with pytest.raises(ConfigError, match="cannot be compared"):
        balanced_accuracy(["sad", None, 3], ["sad", "sad", "sad"])


def test_extra_predicted_class_is_an_error_without_a_warning():
    # Three-class truth (AESD has no neutral), four-class model.
    true = ["sad", "sad", "happy", "happy", "angry", "angry"]
    predicted = ["neutral", "sad", "happy", "neutral", "angry", "angry"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        score = balanced_accuracy(true, predicted)
    assert score == pytest.approx((0.5 + 0.5 + 1.0) / 3)


def test_balanced_accuracy_accepts_arrays_and_returns_a_float():
    true, predicted = _random_labels(7)
    score = balanced_accuracy(np.array(true), np.array(predicted))
    assert type(score) is float
    assert 0.0 <= score <= 1.0


@pytest.mark.parametrize(
    ("true", "predicted", "message"),
    [(["sad"], ["sad", "angry"], "1 true labels but 2"), ([], [], "empty")],
)
def test_bad_label_sequences(true, predicted, message):
    for metric in (balanced_accuracy, lambda t, p: per_class_recall(t, p, CLASSES)):
        with pytest.raises(ConfigError, match=message):
            metric(true, predicted)


def test_per_class_recall_hand_computed_and_absent_class():
    true = ["sad", "sad", "sad", "sad", "angry", "angry"]
    predicted = ["sad", "sad", "sad", "neutral", "angry", "sad"]
    recalls = per_class_recall(true, predicted, CLASSES)
    assert list(recalls) == CLASSES
    assert recalls == {"neutral": None, "sad": 0.75, "happy": None, "angry": 0.5}


@pytest.mark.parametrize("seed", range(3))
def test_mean_recall_over_present_classes_is_balanced_accuracy(seed):
    true, predicted = _random_labels(seed, classes=["sad", "happy", "angry"])
    recalls = [value for value in per_class_recall(true, predicted, CLASSES).values() if value is not None]
    assert len(recalls) == 3
    assert np.mean(recalls) == pytest.approx(balanced_accuracy(true, predicted))


def test_confusion_hand_computed():
    true = ["sad", "sad", "angry", "happy"]
    predicted = ["sad", "angry", "angry", "sad"]
    matrix = confusion(true, predicted, ["sad", "happy", "angry"])
    assert matrix == {
        "sad": {"sad": 1, "happy": 0, "angry": 1},
        "happy": {"sad": 1, "happy": 0, "angry": 0},
        "angry": {"sad": 0, "happy": 0, "angry": 1},
    }
    assert list(matrix) == ["sad", "happy", "angry"]


@pytest.mark.parametrize("seed", range(3))
def test_confusion_agrees_with_sklearn_and_serializes(seed):
    true, predicted = _random_labels(seed)
    matrix = confusion(true, predicted, CLASSES)
    expected = confusion_matrix(true, predicted, labels=CLASSES)
    assert [[matrix[t][p] for p in CLASSES] for t in CLASSES] == expected.tolist()
    assert json.loads(json.dumps(matrix)) == matrix
    assert all(type(count) is int for row in matrix.values() for count in row.values())


def test_confusion_rejects_labels_outside_the_classes():
    with pytest.raises(ConfigError, match="calm"):
        confusion(["sad", "calm"], ["sad", "sad"], CLASSES)
    with pytest.raises(ConfigError, match="neutral"):
        confusion(["sad", "sad"], ["sad", "neutral"], ["sad", "angry"])


def test_mean_ci95_hand_computed():
    # mean 0.6, s = 0.1, t(0.975, 2) = 4.302652729911275 (tables: 4.303)
    mean, low, high = mean_ci95([0.5, 0.6, 0.7])
    half_width = 4.302652729911275 * 0.1 / math.sqrt(3)
    assert half_width == pytest.approx(0.248414, abs=1e-6)
    assert mean == pytest.approx(0.6)
    assert low == pytest.approx(0.6 - half_width)
    assert high == pytest.approx(0.6 + half_width)


def test_mean_ci95_five_folds():
    values = [0.41, 0.45, 0.38, 0.50, 0.46]
    mean, low, high = mean_ci95(values)
    s = math.sqrt(sum((v - 0.44) ** 2 for v in values) / 4)
    # t(0.975, 4) = 2.776445105197799 (tables: 2.776)
    assert mean == pytest.approx(0.44)
    assert high - mean == pytest.approx(2.776445105197799 * s / math.sqrt(5))
    assert mean - low == pytest.approx(high - mean)


def test_mean_ci95_ignores_nan_and_handles_small_samples():
    assert mean_ci95([0.3, float("nan"), 0.5]) == pytest.approx(mean_ci95([0.3, 0.5]))
    assert mean_ci95([0.7]) == (0.7, 0.7, 0.7)
    assert mean_ci95(np.array([0.2, 0.2, 0.2])) == pytest.approx((0.2, 0.2, 0.2))
    assert all(math.isnan(value) for value in mean_ci95([]))
    assert all(math.isnan(value) for value in mean_ci95([float("nan")]))


def test_mean_ci95_returns_plain_floats():
    result = mean_ci95(np.array([0.1, 0.3], dtype=np.float32))
    assert all(type(value) is float for value in result)
    json.dumps(result)
