"""Within-corpus folds: speaker- (group-) independent, utterance-level, leave one session out."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from crossemo.errors import ConfigError
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

LABELS = ["neutral", "sad", "happy", "angry"]


def _corpus(seed: int, n_speakers: int = 12):
    """Speakers with unequal numbers of utterances, each with a label."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(5, 40, size=n_speakers)
    speakers = np.repeat([f"spk{i:02d}" for i in range(n_speakers)], sizes)
    labels = rng.choice(LABELS, size=speakers.size)
    return speakers, labels


def _assert_partition(folds, n: int, n_folds: int):
    assert len(folds) == n_folds
    tested = np.concatenate([test for _, test in folds])
    assert sorted(tested.tolist()) == list(range(n))  # every sample tested exactly once
    for train, test in folds:
        assert len(test) > 0
        assert not set(train) & set(test)
        assert len(train) + len(test) == n
        assert (np.diff(train) > 0).all() and (np.diff(test) > 0).all()


def _assert_speaker_independent(folds, speakers):
    for train, test in folds:
        assert not set(speakers[train]) & set(speakers[test])


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("stratified", [False, True])
def test_speaker_folds_partition_and_never_share_a_speaker(seed, stratified):
    speakers, labels = _corpus(seed)
    folds = speaker_folds(speakers, n_folds=5, labels=labels if stratified else None, seed=seed)
    _assert_partition(folds, speakers.size, 5)
    _assert_speaker_independent(folds, speakers)


@pytest.mark.parametrize("seed", range(4))
def test_speaker_folds_are_balanced_in_size(seed):
    speakers, _ = _corpus(seed, n_speakers=20)
    sizes = [len(test) for _, test in speaker_folds(speakers, n_folds=5, seed=seed)]
    largest_speaker = max(Counter(speakers).values())
    # Greedy largest-first assignment keeps folds within one speaker of each other.
    assert max(sizes) - min(sizes) <= largest_speaker


def test_speaker_folds_equal_speakers_give_equal_folds():
    # RAVDESS-like: 24 actors with the same number of utterances.
    speakers = np.repeat([f"Actor_{i:02d}" for i in range(1, 25)], 28)
    folds = speaker_folds(speakers, n_folds=5)
    assert sorted(len({*speakers[test]}) for _, test in folds) == [4, 5, 5, 5, 5]


def test_speaker_folds_stratified_keeps_class_proportions():
    rng = np.random.default_rng(0)
    speakers = np.repeat([f"s{i}" for i in range(20)], 30)
    labels = np.tile(np.repeat(LABELS, [12, 6, 6, 6]), 20)
    rng.shuffle(labels)
    for _, test in speaker_folds(speakers, n_folds=5, labels=labels):
        share = np.mean(labels[test] == "neutral")
        assert share == pytest.approx(0.4, abs=0.1)


def test_speaker_folds_deterministic_per_seed_and_vary_across_seeds():
    speakers = np.repeat([f"s{i}" for i in range(10)], 8)
    labels = np.tile(LABELS, 20)
    for given in (None, labels):
        first = speaker_folds(speakers, labels=given, seed=3)
        again = speaker_folds(speakers, labels=given, seed=3)
        assert all(np.array_equal(a[1], b[1]) for a, b in zip(first, again))
        tests = {
            tuple(sorted(tuple(test) for _, test in speaker_folds(speakers, labels=given, seed=seed)))
            for seed in range(5)
        }
        assert len(tests) > 1


def test_speaker_folds_allow_unlabelled_utterances():
    speakers, labels = _corpus(1)
    labels = labels.astype(object)
    labels[::3] = None
    folds = speaker_folds(speakers, n_folds=4, labels=labels)
    _assert_partition(folds, speakers.size, 4)
    _assert_speaker_independent(folds, speakers)


def test_too_few_speakers_is_a_config_error():
    speakers = ["OAF"] * 10 + ["YAF"] * 10
    with pytest.raises(ConfigError, match="at least 5 speakers, but the corpus has 2"):
        speaker_folds(speakers, n_folds=5)
    with pytest.raises(ConfigError, match="has 2"):
        speaker_folds(speakers, n_folds=5, labels=["sad"] * 20)


def test_missing_speaker_is_a_config_error():
    with pytest.raises(ConfigError, match="1 of 6 utterances have no speaker"):
        speaker_folds(["a", "b", None, "c", "d", "e"], n_folds=2)


@pytest.mark.parametrize("n_folds", [1, 0, 2.5, True, "five"])
def test_invalid_fold_count(n_folds):
    with pytest.raises(ConfigError, match="number of folds"):
        speaker_folds(list("abcdef"), n_folds=n_folds)
    with pytest.raises(ConfigError, match="number of folds"):
        utterance_folds(["sad"] * 10, n_folds=n_folds)


def test_label_length_mismatch():
    with pytest.raises(ConfigError, match="3 labels for 6 utterances"):
        speaker_folds(list("abcdef"), n_folds=2, labels=["sad"] * 3)


@pytest.mark.parametrize("seed", range(3))
def test_utterance_folds_stratified_partition(seed):
    _, labels = _corpus(seed)
    folds = utterance_folds(labels, n_folds=5, seed=seed)
    _assert_partition(folds, labels.size, 5)
    for label in LABELS:
        counts = [int(np.sum(labels[test] == label)) for _, test in folds]
        assert max(counts) - min(counts) <= 1


def test_utterance_folds_shuffle_deterministically():
    labels = np.repeat(["sad", "angry"], 50)
    first = utterance_folds(labels, seed=0)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(first, utterance_folds(labels, seed=0)))
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(first, utterance_folds(labels, seed=1)))
    # Shuffled: the first test fold is not a contiguous block of each class.
    assert np.diff(first[0][1]).max() > 1


def test_utterance_folds_rare_classes_and_missing_labels():
    labels = ["sad", "angry", "happy", None, "neutral", "calm"]
    folds = utterance_folds(labels, n_folds=3)
    _assert_partition(folds, len(labels), 3)


def test_utterance_folds_too_few_utterances():
    with pytest.raises(ConfigError, match="at least 5 utterances, got 3"):
        utterance_folds(["sad", "sad", "angry"], n_folds=5)


def _iemocap_table(n_sessions: int = 5, per_speaker: int = 6) -> pd.DataFrame:
    """An IEMOCAP-like corpus table: two speakers per session, group = session."""
    rng = np.random.default_rng(0)
    rows = [
        {"speaker": f"Ses0{session}{gender}", "group": f"Ses0{session}", "label": rng.choice(LABELS)}
        for session in range(1, n_sessions + 1)
        for gender in "FM"
        for _ in range(per_speaker)
    ]
    return pd.DataFrame(rows).sample(frac=1.0, random_state=1).reset_index(drop=True)  # sessions interleaved


def test_split_folds_leave_one_session_out_for_iemocap():
    table = _iemocap_table()
    for seed in (0, 1):
        folds = split_folds(table, split="speaker", n_folds=5, seed=seed)
        _assert_partition(folds, len(table), 5)
        groups = table["group"].to_numpy()
        for number, (train, test) in enumerate(folds, start=1):
            assert set(groups[test]) == {f"Ses0{number}"}
            assert f"Ses0{number}" not in set(groups[train])


def test_split_folds_never_share_a_group_with_fewer_folds_than_groups():
    table = _iemocap_table()
    folds = split_folds(table, split="speaker", n_folds=3, seed=0)
    _assert_partition(folds, len(table), 3)
    _assert_speaker_independent(folds, table["group"].to_numpy())
    _assert_speaker_independent(folds, table["speaker"].to_numpy())  # both speakers of a session together


@pytest.mark.parametrize("seed", range(3))
def test_split_folds_on_speaker_groups_are_the_speaker_folds(seed):
    speakers, labels = _corpus(seed)
    table = pd.DataFrame({"speaker": speakers, "group": speakers, "label": labels})
    folds = split_folds(table, split="speaker", n_folds=5, seed=seed)
    expected = speaker_folds(speakers, n_folds=5, labels=labels, seed=seed)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, expected))
    _assert_speaker_independent(folds, speakers)
    # A table without a group column (or with empty group cells) falls back to the speaker.
    for other in (table.drop(columns="group"), table.assign(group=None)):
        again = split_folds(other, split="speaker", n_folds=5, seed=seed)
        assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again))


def test_split_folds_by_utterance_ignore_groups():
    table = _iemocap_table()
    folds = split_folds(table, split="utterance", n_folds=5, seed=2)
    expected = utterance_folds(table["label"].to_numpy(dtype=object), n_folds=5, seed=2)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, expected))


def test_split_folds_errors():
    assert SPLITS == ("speaker", "utterance")
    table = _iemocap_table(n_sessions=2)
    with pytest.raises(ConfigError, match=r"at least 5 groups \(speakers, or IEMOCAP sessions\), but the corpus has 2"):
        split_folds(table, split="speaker", n_folds=5, seed=0)
    with pytest.raises(ConfigError, match="unknown split 'session'"):
        split_folds(table, split="session", n_folds=2, seed=0)
    with pytest.raises(ConfigError, match="no group"):
        split_folds(table.drop(columns="speaker").assign(group=None), split="speaker", n_folds=2, seed=0)


def test_group_kfolds_leave_one_group_out_when_groups_equal_folds():
    groups = ["b", "a", "c", "a", "b", "c", "c"]
    folds = group_kfolds(groups, n_folds=3, labels=["sad"] * 7, seed=4)
    assert [test.tolist() for _, test in folds] == [[1, 3], [0, 4], [2, 5, 6]]
    with pytest.raises(ConfigError, match="3 labels for 7 utterances"):
        group_kfolds(groups, n_folds=3, labels=["sad"] * 3)
    with pytest.raises(ConfigError, match=r"at least 4 groups \(speakers, or IEMOCAP sessions\)"):
        group_kfolds(groups, n_folds=4)
    with pytest.raises(ConfigError, match=r"1 of 3 utterances have no group \(speaker, or IEMOCAP session\)"):
        group_kfolds(["a", None, "b"], n_folds=2)


def test_group_folds_need_two_groups():
    _assert_partition(group_folds(["x", "y", "x", "z"]), 4, 3)
    with pytest.raises(ConfigError, match="at least 2 groups, got 1"):
        group_folds(["x", "x"])


def test_condition_names():
    assert CONDITIONS == ("unseen", "target_norm")
    assert WITHIN == "within"
    assert WITHIN not in CONDITIONS
