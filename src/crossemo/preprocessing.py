"""Data preparation (SPEC section 3): outlier removal, scaling, target normalization.

Scaling itself is scikit-learn's :class:`~sklearn.preprocessing.StandardScaler`;
this module adds only what the protocol needs on top of it:

- :func:`outlier_mask` / :func:`remove_outliers`: drop utterances with any
  feature beyond +/-z standard deviations of their own corpus;
- :func:`fit_scaler`: a fitted scaler that is safe on constant columns;
- :func:`target_norm_split`: the "target_norm" condition's split of a transfer
  corpus into the share that supplies its mean and standard deviation (labels
  unused) and the share that is evaluated;
- :func:`speaker_standardize`: the "speaker_norm" condition: each speaker by the
  statistics of its own utterances (labels unused), small speakers by their corpus'.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

from crossemo.errors import ConfigError


def _as_float_array(X, caller: str) -> np.ndarray:
    """``X`` as a float64 array, or a :class:`ConfigError` naming ``caller`` if it is not numeric."""
    try:
        return np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{caller} expects a numeric feature matrix: {error}") from None


OUTLIER_MAX_SHARE = 0.001
"""Share of a row's features that may lie beyond the threshold before the row is an outlier.

Below 1,000 features that is none, the paper's rule (eGeMAPS, GeMAPS, emobase); with
ComParE's 6,373 a row may have 6 extreme values.  Measured on the shared copies, the
any-feature rule drops 18% of RAVDESS and 15% of Emo-DB with ComParE (2.8% and 3.7%
with eGeMAPS): extreme values of single functionals are common among thousands, and
this share brings ComParE's drops back to 3.3% and 2.2%.
"""


def outlier_mask(X, *, z: float = 10.0, max_share: float = OUTLIER_MAX_SHARE) -> np.ndarray:
    r"""Keep-mask of the rows of ``X`` without extreme feature values.

    A row is dropped when more than :math:`\lfloor s \cdot d \rfloor` of its ``d``
    features have a z-score beyond ``+/-z`` (``s = max_share``; with fewer than
    :math:`1/s` features that is any one, the paper's rule):

    .. math::

        z_{ij} = \frac{x_{ij} - \mu_j}{\sigma_j}, \qquad
        \text{keep}_i = \#\{j : |z_{ij}| > z\} \le \lfloor s \cdot d \rfloor

    with :math:`\mu_j` and :math:`\sigma_j` (``ddof=0``) the column's mean and
    standard deviation over the rows of ``X`` itself, so apply it to one corpus
    at a time.  A constant column has z-score 0.  Rows with a non-finite value
    are dropped too (they cannot be standardized); the other rows' statistics
    ignore those values.  Note that with ``ddof=0`` no z-score can exceed
    :math:`\sqrt{n - 1}`, so with the default ``z=10`` a corpus of at most
    101 rows never loses one.

    Args:
        X: features, shape ``(n_samples, n_features)``
        z: threshold on the absolute z-score, positive
        max_share: share of a row's features allowed beyond ``z``, in ``[0, 1)``

    Returns:
        boolean array of shape ``(n_samples,)``, ``True`` for rows to keep

    Raises:
        ConfigError: if ``X`` is not a numeric 2-D matrix or ``z`` is not positive

    Examples:
        >>> X = np.zeros((6, 2))
        >>> X[0, 1] = 6.0
        >>> outlier_mask(X, z=2.0)
        array([False,  True,  True,  True,  True,  True])
        >>> outlier_mask(X, z=3.0)
        array([ True,  True,  True,  True,  True,  True])

    """
    if not z > 0:
        raise ConfigError(f"outlier threshold z must be positive, got {z}")
    if not 0 <= max_share < 1:
        raise ConfigError(f"outlier max_share must be in [0, 1), got {max_share}")
    values = _as_float_array(X, "outlier_mask")
    if values.ndim != 2:
        raise ConfigError(f"outlier_mask expects a 2-D feature matrix, got shape {values.shape}")
    if values.shape[0] == 0:
        return np.ones(0, dtype=bool)
    finite = np.isfinite(values)
    counts = np.maximum(finite.sum(axis=0), 1)
    mean = np.where(finite, values, 0.0).sum(axis=0) / counts
    deviation = np.where(finite, values - mean, 0.0)
    std = np.sqrt((deviation**2).sum(axis=0) / counts)
    scores = np.divide(deviation, std, out=np.zeros_like(deviation), where=std > 0)
    return finite.all(axis=1) & ~beyond_threshold(scores, z=z, max_share=max_share)


def beyond_threshold(scores: np.ndarray, *, z: float, max_share: float = OUTLIER_MAX_SHARE) -> np.ndarray:
    r"""Rows of z-scores with more than :math:`\lfloor s \cdot d \rfloor` of their ``d`` values beyond ``+/-z``.

    The rule of :func:`outlier_mask` (``s = max_share``), for z-scores computed elsewhere
    (a bundle flags new recordings against its training corpus' statistics).

    >>> beyond_threshold(np.array([[0.0, 11.0], [1.0, -2.0]]), z=10.0).tolist()
    [True, False]
    """
    allowed = int(np.floor(max_share * scores.shape[1]))
    return (np.abs(scores) > z).sum(axis=1) > allowed


def remove_outliers(
    table: pd.DataFrame, feature_columns: Sequence[str], *, z: float = 10.0, max_share: float = OUTLIER_MAX_SHARE
) -> tuple[pd.DataFrame, int]:
    """Rows of ``table`` kept by :func:`outlier_mask` on ``feature_columns``, and how many were dropped.

    Apply it to one corpus at a time: the z-scores use the table's own statistics.
    The kept table has a fresh ``RangeIndex``; ``attrs`` are carried over.

    Raises:
        ConfigError: if a feature column is missing

    Examples:
        >>> table = pd.DataFrame({"path": list("abcdef"), "f0": [6.0, 0, 0, 0, 0, 0]})
        >>> kept, n_removed = remove_outliers(table, ["f0"], z=2.0)
        >>> list(kept["path"]), n_removed
        (['b', 'c', 'd', 'e', 'f'], 1)

    """
    columns = list(feature_columns)
    missing = [column for column in columns if column not in table.columns]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise ConfigError(f"feature columns missing from the table: {shown}")
    keep = outlier_mask(table[columns].to_numpy(dtype=np.float64), z=z, max_share=max_share)
    kept = table.loc[keep].reset_index(drop=True)
    kept.attrs = dict(table.attrs)
    return kept, int((~keep).sum())


def fit_scaler(X) -> StandardScaler:
    """A :class:`~sklearn.preprocessing.StandardScaler` fitted to ``X``.

    Transforms ``x -> (x - mean) / std`` with the column statistics of ``X``
    (``ddof=0``).  A constant column gets scale 1, so it maps to 0 instead of
    dividing by zero (scikit-learn's own handling of zero variance).

    Raises:
        ConfigError: if ``X`` is not a non-empty 2-D matrix of finite values

    Examples:
        >>> scaler = fit_scaler([[1.0, 5.0], [3.0, 5.0]])
        >>> scaler.transform([[2.0, 5.0], [3.0, 6.0]])
        array([[0., 0.],
               [1., 1.]])

    """
    values = _as_float_array(X, "fit_scaler")
    if values.ndim != 2 or values.shape[0] == 0:
        raise ConfigError(f"fit_scaler expects a non-empty 2-D feature matrix, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ConfigError("fit_scaler: the features contain NaN or infinite values")
    return StandardScaler().fit(X)


def target_norm_split(n: int, *, fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random split of a transfer corpus of ``n`` rows for the "target_norm" condition.

    The adapt share, ``max(2, floor(fraction * n + 1/2))`` rows (``fraction * n``
    rounded half up) drawn at random, supplies the
    corpus' mean and standard deviation (its labels are not used); the remaining
    rows are evaluated.  The split depends only on ``n``, ``fraction`` and ``seed``.

    Args:
        n: number of rows of the transfer corpus
        fraction: share of rows used for normalization, strictly between 0 and 1
        seed: random seed

    Returns:
        ``(adapt_idx, eval_idx)``, two disjoint sorted integer arrays that together
        cover ``range(n)``

    Raises:
        ConfigError: if ``fraction`` is not in (0, 1) or the corpus is too small to
            leave at least two adapt rows and one evaluated row

    Examples:
        >>> adapt, evaluated = target_norm_split(10, fraction=0.2, seed=0)
        >>> len(adapt), len(evaluated)
        (2, 8)
        >>> sorted([*adapt, *evaluated]) == list(range(10))
        True

    """
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"target_norm fraction must be between 0 and 1 (exclusive), got {fraction}")
    n = int(n)
    # Round half up (Python's round() rounds half to even) so sizes are predictable.
    n_adapt = max(2, math.floor(fraction * n + 0.5))
    if n_adapt >= n:
        raise ConfigError(
            f"target_norm needs at least 2 utterances to normalize with and 1 to evaluate; "
            f"the transfer corpus has {n} (fraction {fraction})"
        )
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[:n_adapt]), np.sort(order[n_adapt:])


def speaker_standardize(X, speakers, *, min_utterances: int = 20) -> np.ndarray:
    r"""Each speaker's rows standardized by that speaker's own statistics (labels unused).

    .. math::

        x'_{ij} = \frac{x_{ij} - \mu_{s(i), j}}{\sigma_{s(i), j}}

    with :math:`\mu_s, \sigma_s` the mean and standard deviation (``ddof=0``; a
    constant column gets scale 1, as :func:`fit_scaler`) over the rows of speaker
    :math:`s`.  A speaker with fewer than ``min_utterances`` rows has too few to
    estimate 88 or more standard deviations: its rows get the statistics of all
    rows of ``X`` instead (apply it to one corpus at a time, so that is the corpus').

    Raises:
        ConfigError: if ``X`` is not a non-empty 2-D finite matrix, ``speakers``
            differs in length, or ``min_utterances`` is not a positive integer

    Examples:
        >>> X = np.array([[1.0], [3.0], [10.0], [14.0], [7.0]])
        >>> speaker_standardize(X, ["a", "a", "b", "b", "c"], min_utterances=2).ravel().tolist()
        [-1.0, 1.0, -1.0, 1.0, 0.0]

    """
    values = _as_float_array(X, "speaker_standardize")
    if values.ndim != 2 or values.shape[0] == 0:
        raise ConfigError(f"speaker_standardize expects a non-empty 2-D feature matrix, got shape {values.shape}")
    owners = np.asarray(speakers, dtype=object).ravel()
    if owners.size != values.shape[0]:
        raise ConfigError(f"{owners.size} speakers for {values.shape[0]} rows")
    if isinstance(min_utterances, bool) or not isinstance(min_utterances, int) or min_utterances < 1:
        raise ConfigError(f"min_utterances must be a positive integer, got {min_utterances!r}")
    result = fit_scaler(values).transform(values)  # the corpus' statistics, for small speakers
    names, index, counts = np.unique(owners.astype(str), return_inverse=True, return_counts=True)
    for position in np.flatnonzero(counts >= min_utterances):
        rows = index == position
        result[rows] = fit_scaler(values[rows]).transform(values[rows])
    return result
