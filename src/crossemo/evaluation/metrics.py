"""Classification metrics and the fold summary (SPEC section 4).

Small pure functions: each takes the true and predicted labels of one
evaluation (or the per-fold values of one metric) and returns plain Python
values that serialize to JSON.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence

import numpy as np
from scipy import stats
from sklearn.metrics import confusion_matrix as _confusion_matrix

from crossemo.errors import ConfigError


def _paired_labels(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    """Both label sequences as 1-D arrays of equal, non-zero length."""
    true = np.asarray(y_true, dtype=object).ravel()
    predicted = np.asarray(y_pred, dtype=object).ravel()
    if true.size != predicted.size:
        raise ConfigError(f"{true.size} true labels but {predicted.size} predictions")
    if true.size == 0:
        raise ConfigError("cannot score an empty set of predictions")
    return true, predicted


def balanced_accuracy(y_true, y_pred) -> float:
    r"""Balanced accuracy: mean recall over the classes present in the truth.

    .. math::

        \text{BA} = \frac{1}{|C|} \sum_{c \in C}
        \frac{|\{i : y_i = c,\ \hat y_i = c\}|}{|\{i : y_i = c\}|}

    with :math:`C` the set of classes in ``y_true``.  Equal to
    :func:`sklearn.metrics.balanced_accuracy_score`.  A predicted class that
    never occurs in the truth (a four-class model predicting neutral on a
    corpus without neutral) counts as an error and adds no term; scikit-learn's
    warning about it is silenced because that case is expected here.

    Raises:
        ConfigError: if the sequences differ in length or are empty, or hold labels
            that cannot be ordered together (a missing label among strings, mixed types)

    Examples:
        >>> balanced_accuracy(["sad", "sad", "sad", "angry"], ["sad", "sad", "angry", "angry"])
        0.8333333333333333
        >>> balanced_accuracy(["sad", "angry"], ["neutral", "angry"])
        0.5

    """
    true, predicted = _paired_labels(y_true, y_pred)
    try:
        classes, rows = np.unique(true, return_inverse=True)  # sorted, as scikit-learn orders them
    except TypeError as error:  # None or mixed types cannot be sorted
        raise ConfigError(f"labels cannot be compared (missing or mixed-type labels?): {error}") from None
    # Computed here, not by scikit-learn's function: a study scores thousands of these, and its
    # input checks cost a hundred times the arithmetic.  Same operations, same value to the bit.
    hits = np.bincount(rows, weights=true == predicted, minlength=classes.size)
    return float(np.mean(hits / np.bincount(rows, minlength=classes.size)))


def per_class_recall(y_true, y_pred, classes: Sequence[Hashable]) -> dict[Hashable, float | None]:
    r"""Recall of each class in ``classes``; ``None`` for a class absent from the truth.

    .. math::

        R_c = \frac{|\{i : y_i = c,\ \hat y_i = c\}|}{|\{i : y_i = c\}|}

    Raises:
        ConfigError: if the sequences differ in length or are empty

    Examples:
        >>> per_class_recall(["sad", "sad", "angry"], ["sad", "happy", "angry"], ["sad", "happy", "angry"])
        {'sad': 0.5, 'happy': None, 'angry': 1.0}

    """
    true, predicted = _paired_labels(y_true, y_pred)
    recalls: dict[Hashable, float | None] = {}
    for label in classes:
        rows = true == label
        recalls[label] = float(np.mean(predicted[rows] == label)) if rows.any() else None
    return recalls


def confusion(y_true, y_pred, classes: Sequence[Hashable]) -> dict[Hashable, dict[Hashable, int]]:
    """Confusion counts as nested dicts: ``result[true_class][predicted_class]``.

    Every class of ``classes`` appears as a row and as a column (zeros included),
    in that order, and counts are plain ``int`` so the result serializes to JSON.

    Raises:
        ConfigError: if the sequences differ in length or are empty, or a label
            (true or predicted) is not one of ``classes``

    Examples:
        >>> confusion(["sad", "sad", "angry"], ["sad", "angry", "angry"], ["sad", "angry"])
        {'sad': {'sad': 1, 'angry': 1}, 'angry': {'sad': 0, 'angry': 1}}

    """
    true, predicted = _paired_labels(y_true, y_pred)
    order = list(classes)
    unknown = sorted({str(label) for label in (*true, *predicted) if label not in order})
    if unknown:
        raise ConfigError(f"labels not among the classes {order}: {', '.join(unknown)}")
    indices = {label: position for position, label in enumerate(order)}
    counts = _confusion_matrix(
        [indices[label] for label in true],
        [indices[label] for label in predicted],
        labels=list(range(len(order))),
    )
    return {
        label: {other: int(counts[row, column]) for column, other in enumerate(order)}
        for row, label in enumerate(order)
    }


def mean_ci95(
    values: Iterable[float], *, bounds: tuple[float, float] | None = (0.0, 1.0)
) -> tuple[float, float, float]:
    r"""Mean and two-sided 95% confidence interval (Student t) of per-fold values.

    .. math::

        \bar v \pm t_{0.975,\,k-1} \, \frac{s}{\sqrt{k}}, \qquad
        s = \sqrt{\frac{1}{k-1} \sum_{i=1}^{k} (v_i - \bar v)^2}

    over the :math:`k` finite values (NaN is ignored), clipped to ``bounds``, the
    range the values can take (a fraction such as a balanced accuracy by default;
    ``None`` for unbounded values): with few, spread folds the t interval reaches
    beyond it, and no accuracy lies below 0 or above 1.  With a single value the
    interval has no width: ``(v, v, v)``; with none, all three are NaN.

    Returns:
        ``(mean, low, high)``

    Examples:
        >>> mean, low, high = mean_ci95([0.5, 0.6, 0.7])
        >>> round(mean, 6), round(low, 6), round(high, 6)
        (0.6, 0.351586, 0.848414)
        >>> mean_ci95([0.4, float("nan")])
        (0.4, 0.4, 0.4)
        >>> mean_ci95([0.1, 0.9])  # the t interval with 1 degree of freedom is [-4.6, 5.6]
        (0.5, 0.0, 1.0)
        >>> [round(value, 2) for value in mean_ci95([0.1, 0.9], bounds=None)]
        [0.5, -4.58, 5.58]

    """
    array = np.asarray(list(values), dtype=np.float64).ravel()
    array = array[~np.isnan(array)]
    k = array.size
    if k == 0:
        return (math.nan, math.nan, math.nan)
    mean = float(array.mean())
    if k == 1:
        return (mean, mean, mean)
    half_width = float(stats.t.ppf(0.975, k - 1) * array.std(ddof=1) / math.sqrt(k))
    low, high = mean - half_width, mean + half_width
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return (mean, low, high)
