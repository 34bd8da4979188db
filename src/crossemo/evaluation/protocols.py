"""Evaluation protocols (SPEC section 4): within-corpus folds and transfer conditions.

Every fold function returns a list of ``(train_idx, test_idx)`` pairs of sorted
integer arrays; across the list each sample is in exactly one test set.  Which
function applies is the experiment layer's decision: speaker-independent folds
by default, leave one session out for IEMOCAP, stratified utterance folds as an
option.
"""

from __future__ import annotations

import re
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

_UNLABELLED = "\x00unlabelled"  # stratification stratum of samples without a label
_SESSION = re.compile(r"^(Ses\d+)")


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
    unique, group_index, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    if unique.size < n_folds:
        raise ConfigError(
            f"speaker-independent {n_folds}-fold cross-validation needs at least {n_folds} speakers, "
            f"but the corpus has {unique.size}; use fewer folds or utterance-level folds"
        )
    strata = None if labels is None else _strata(labels)
    if strata is not None and strata.size != groups.size:
        raise ConfigError(f"{strata.size} labels for {groups.size} utterances")
    # scikit-learn refuses to stratify when every class is rarer than the fold count.
    if strata is not None and np.unique(strata, return_counts=True)[1].max() >= n_folds:
        splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The least populated class in y")
            test_sets = [test for _, test in splitter.split(groups, strata, groups)]
        return _as_folds(test_sets, groups.size)
    order = np.random.default_rng(seed).permutation(unique.size)
    order = order[np.argsort(-sizes[order], kind="stable")]
    fold_of_speaker = np.empty(unique.size, dtype=np.intp)
    fold_sizes = np.zeros(n_folds, dtype=np.intp)
    for speaker in order:
        lightest = int(np.argmin(fold_sizes))
        fold_of_speaker[speaker] = lightest
        fold_sizes[lightest] += sizes[speaker]
    fold_of_sample = fold_of_speaker[group_index]
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


def session_folds(speakers) -> Folds:
    """IEMOCAP's leave-one-session-out folds; the session is the speaker's ``SesNN`` prefix.

    Raises:
        ConfigError: if a speaker id does not start with ``Ses`` and digits, or
            there are fewer than two sessions

    Examples:
        >>> [test.tolist() for _, test in session_folds(["Ses01F", "Ses02M", "Ses01M"])]
        [[0, 2], [1]]

    """
    array = _groups(speakers, what="speaker")
    sessions = []
    for speaker in array:
        match = _SESSION.match(speaker)
        if match is None:
            raise ConfigError(f"speaker {speaker!r} is not an IEMOCAP speaker id such as 'Ses01F'")
        sessions.append(match.group(1))
    return group_folds(sessions)
