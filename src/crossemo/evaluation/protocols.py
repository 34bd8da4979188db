"""Evaluation protocols (SPEC section 4): within-corpus folds and transfer conditions.

Every fold function returns a list of ``(train_idx, test_idx)`` pairs of sorted
integer arrays; across the list each sample is in exactly one test set.  The
study calls :func:`split_folds` with the corpus table and the configured split;
it reads only table columns, never the corpus name.  Speaker-independent folds
keep each fold *group* (the table's ``group`` column: the speaker, or the
session for IEMOCAP) on one side (:func:`group_kfolds`), which for IEMOCAP's
five sessions and five folds is the standard leave-one-session-out; stratified
utterance folds are an option.
"""

from __future__ import annotations

import warnings
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold, StratifiedKFold

from crossemo.errors import ConfigError

WITHIN = "within"
"""Evaluation on the held-out fold of the training corpus."""

CONDITIONS: tuple[str, ...] = ("unseen", "target_norm")
"""Transfer conditions: the training fold's scaler ("unseen"), or the transfer corpus'
own statistics from a random unlabelled share of it ("target_norm")."""

Folds = list[tuple[np.ndarray, np.ndarray]]

SPLITS: tuple[str, ...] = ("speaker", "utterance")
"""The ``split`` values :func:`split_folds` accepts."""

_UNLABELLED = "\x00unlabelled"  # stratification stratum of samples without a label
_GROUPS = "groups (speakers, or IEMOCAP sessions)"


def _check_n_folds(n_folds: int) -> int:
    if isinstance(n_folds, bool) or not isinstance(n_folds, Integral) or n_folds < 2:
        raise ConfigError(f"the number of folds must be an integer of at least 2, got {n_folds!r}")
    return int(n_folds)


def _strata(labels) -> np.ndarray:
    """Labels as strings for stratification; missing labels form their own stratum."""
    series = pd.Series(np.asarray(labels, dtype=object).ravel())
    return series.where(series.notna(), _UNLABELLED).astype(str).to_numpy()


def _groups(values, *, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=object).ravel()
    missing = int(pd.isna(array).sum())
    if missing:
        raise ConfigError(f"{missing} of {array.size} utterances have no {what}")
    return array.astype(str)


def _as_folds(test_sets, n: int) -> Folds:
    everything = np.arange(n)
    folds = []
    for test in test_sets:
        test = np.sort(np.asarray(test, dtype=np.intp))
        folds.append((np.setdiff1d(everything, test, assume_unique=True), test))
    return folds


def speaker_folds(speakers, *, n_folds: int = 5, labels=None, seed: int = 0) -> Folds:
    """Speaker-independent k-fold split: no speaker is in both train and test.

    Without ``labels``, speakers are assigned largest first to the fold with the
    fewest utterances so far (after a seeded shuffle that breaks ties), which
    balances the fold sizes.  With ``labels``, scikit-learn's
    :class:`~sklearn.model_selection.StratifiedGroupKFold` (shuffled with ``seed``)
    also keeps the class proportions of the folds close; utterances without a
    label form one stratum of their own, and stratification is best effort
    (scikit-learn's warning about rare classes is silenced; when every class is
    rarer than the fold count, the folds are not stratified).

    Args:
        speakers: speaker of every utterance
        n_folds: number of folds, at least 2
        labels: optional class of every utterance, for stratification
        seed: random seed; the same inputs and seed give the same folds

    Raises:
        ConfigError: if a speaker is missing, there are fewer speakers than folds,
            or ``labels`` differs in length from ``speakers``

    Examples:
        >>> speakers = ["a", "a", "b", "c", "c", "c"]
        >>> folds = speaker_folds(speakers, n_folds=3)
        >>> sorted("".join(sorted({speakers[i] for i in test})) for _, test in folds)
        ['a', 'b', 'c']

    """
    n_folds = _check_n_folds(n_folds)
    groups = _groups(speakers, what="speaker")
    return _balanced_folds(groups, n_folds, _checked_strata(labels, groups.size), seed, what="speakers")


def _checked_strata(labels, n: int) -> np.ndarray | None:
    strata = None if labels is None else _strata(labels)
    if strata is not None and strata.size != n:
        raise ConfigError(f"{strata.size} labels for {n} utterances")
    return strata


def _balanced_folds(groups: np.ndarray, n_folds: int, strata: np.ndarray | None, seed: int, *, what: str) -> Folds:
    """:func:`speaker_folds`' algorithm on checked groups; ``what`` names the groups in errors."""
    unique, group_index, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    if unique.size < n_folds:
        raise ConfigError(
            f"speaker-independent {n_folds}-fold cross-validation needs at least {n_folds} {what}, "
            f"but the corpus has {unique.size}; use fewer folds or utterance-level folds"
        )
    # scikit-learn refuses to stratify when every class is rarer than the fold count.
    if strata is not None and np.unique(strata, return_counts=True)[1].max() >= n_folds:
        splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The least populated class in y")
            test_sets = [test for _, test in splitter.split(groups, strata, groups)]
        return _as_folds(test_sets, groups.size)
    order = np.random.default_rng(seed).permutation(unique.size)
    order = order[np.argsort(-sizes[order], kind="stable")]
    fold_of_group = np.empty(unique.size, dtype=np.intp)
    fold_sizes = np.zeros(n_folds, dtype=np.intp)
    for group in order:
        lightest = int(np.argmin(fold_sizes))
        fold_of_group[group] = lightest
        fold_sizes[lightest] += sizes[group]
    fold_of_sample = fold_of_group[group_index]
    return _as_folds((np.flatnonzero(fold_of_sample == fold) for fold in range(n_folds)), groups.size)


def utterance_folds(labels, *, n_folds: int = 5, seed: int = 0) -> Folds:
    """Stratified, shuffled k-fold split over utterances (speakers may be in both sides).

    The sibling code's protocol, as an option.  Utterances without a label form
    one stratum of their own; stratification is best effort when a class has
    fewer utterances than folds.

    Raises:
        ConfigError: if there are fewer utterances than folds

    Examples:
        >>> folds = utterance_folds(["sad", "angry"] * 5, n_folds=5, seed=0)
        >>> [len(test) for _, test in folds]
        [2, 2, 2, 2, 2]

    """
    n_folds = _check_n_folds(n_folds)
    strata = _strata(labels)
    if strata.size < n_folds:
        raise ConfigError(
            f"{n_folds}-fold cross-validation needs at least {n_folds} utterances, got {strata.size}"
        )
    if np.unique(strata, return_counts=True)[1].max() < n_folds:
        # Every class is rarer than the fold count: scikit-learn refuses; plain shuffling.
        strata = np.zeros(strata.size, dtype=np.intp)
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class in y")
        test_sets = [test for _, test in splitter.split(strata, strata)]
    return _as_folds(test_sets, strata.size)


def group_folds(groups) -> Folds:
    """Leave one group out: one fold per distinct group, in sorted group order.

    Raises:
        ConfigError: if a group is missing or there are fewer than two groups

    Examples:
        >>> [test.tolist() for _, test in group_folds(["x", "y", "x"])]
        [[0, 2], [1]]

    """
    array = _groups(groups, what="group")
    n_groups = np.unique(array).size
    if n_groups < 2:
        raise ConfigError(f"leave-one-group-out needs at least 2 groups, got {n_groups}")
    return _as_folds((test for _, test in LeaveOneGroupOut().split(array, groups=array)), array.size)


def group_kfolds(groups, *, n_folds: int = 5, labels=None, seed: int = 0) -> Folds:
    """Group-independent k-fold split: no group is in both train and test.

    ``groups`` is a corpus table's ``group`` column: the speaker, or the session
    for IEMOCAP.  When there are exactly ``n_folds`` distinct groups, each fold
    leaves one group out, in sorted group order (:func:`group_folds`: IEMOCAP's
    leave-one-session-out for five folds); ``labels`` and ``seed`` then play no
    part.  Otherwise the groups are split as :func:`speaker_folds` splits
    speakers (balanced sizes, stratified by ``labels`` when given, seeded).

    Raises:
        ConfigError: if a group is missing, there are fewer groups than folds,
            or ``labels`` differs in length from ``groups``

    Examples:
        >>> sessions = ["Ses01", "Ses02", "Ses03", "Ses01", "Ses02", "Ses03"]
        >>> [test.tolist() for _, test in group_kfolds(sessions, n_folds=3)]
        [[0, 3], [1, 4], [2, 5]]
        >>> len(group_kfolds(list("aabbccdd"), n_folds=2))
        2

    """
    n_folds = _check_n_folds(n_folds)
    array = _groups(groups, what="group (speaker, or IEMOCAP session)")
    strata = _checked_strata(labels, array.size)
    if np.unique(array).size == n_folds:
        return group_folds(array)
    return _balanced_folds(array, n_folds, strata, seed, what=_GROUPS)


def split_folds(table: pd.DataFrame, *, split: str, n_folds: int, seed: int) -> Folds:
    """The within-corpus folds of a corpus table for the configured ``split``.

    ``"speaker"``: :func:`group_kfolds` over the table's ``group`` column (its
    ``speaker`` for tables or rows without one), stratified by ``label``.
    ``"utterance"``: :func:`utterance_folds` over ``label``.  Indices are
    positions in ``table``.

    Raises:
        ConfigError: for an unknown ``split``, a missing column, or the errors
            of the fold functions (e.g. fewer groups than folds)

    Examples:
        >>> table = pd.DataFrame({
        ...     "speaker": ["Ses01F", "Ses01M", "Ses02F", "Ses02M"],
        ...     "group": ["Ses01", "Ses01", "Ses02", "Ses02"],
        ...     "label": ["sad", "angry", "sad", "angry"],
        ... })
        >>> [test.tolist() for _, test in split_folds(table, split="speaker", n_folds=2, seed=0)]
        [[0, 1], [2, 3]]

    """
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; expected one of: {', '.join(SPLITS)}")
    if "label" not in table.columns:
        raise ConfigError("the corpus table has no label column")
    labels = table["label"].to_numpy(dtype=object)
    if split == "utterance":
        return utterance_folds(labels, n_folds=n_folds, seed=seed)
    if "group" not in table.columns and "speaker" not in table.columns:
        raise ConfigError("speaker-independent folds need a group or speaker column in the corpus table")
    groups = table["group"] if "group" in table.columns else table["speaker"]
    if "group" in table.columns and "speaker" in table.columns:
        groups = groups.astype(object).where(groups.notna(), table["speaker"])
    return group_kfolds(groups.to_numpy(dtype=object), n_folds=n_folds, labels=labels, seed=seed)
