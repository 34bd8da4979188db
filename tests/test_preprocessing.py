"""Outlier removal, scaling and the target_norm split (SPEC section 3)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from crossemo.errors import ConfigError, CrossemoError
from crossemo.preprocessing import fit_scaler, outlier_mask, remove_outliers, target_norm_split


def _single_spike(n_rows: int, value: float = 12.0) -> np.ndarray:
    """Zeros with one non-zero entry: that entry's z-score (ddof=0) is sqrt(n_rows - 1)."""
    X = np.zeros((n_rows, 3))
    X[:, 2] = np.arange(n_rows) % 2  # an ordinary column that never trips the threshold
    X[7, 0] = value
    return X


def test_single_spike_dropped_exactly_when_its_z_score_exceeds_the_threshold():
    # sqrt(99) = 9.95 <= 10 keeps the row; sqrt(101) = 10.05 > 10 drops it.
    assert outlier_mask(_single_spike(100)).all()
    keep = outlier_mask(_single_spike(102))
    assert keep.dtype == bool and keep.shape == (102,)
    assert np.flatnonzero(~keep).tolist() == [7]


def test_threshold_applies_in_both_directions():
    keep = outlier_mask(_single_spike(102, value=-12.0))
    assert np.flatnonzero(~keep).tolist() == [7]
    assert outlier_mask(_single_spike(102), z=11.0).all()


def test_mask_matches_scipy_zscore_on_random_data():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 6))
    X[[5, 50, 300], [0, 3, 5]] = [40.0, -35.0, 60.0]
    expected = (np.abs(stats.zscore(X, axis=0, ddof=0)) <= 4.0).all(axis=1)
    keep = outlier_mask(X, z=4.0)
    np.testing.assert_array_equal(keep, expected)
    assert (~keep).sum() >= 3


def test_constant_column_never_drops_a_row():
    X = _single_spike(102)
    X[:, 1] = 3.5
    keep = outlier_mask(X)
    assert np.flatnonzero(~keep).tolist() == [7]


def test_non_finite_rows_dropped_and_ignored_in_the_statistics():
    X = _single_spike(102)
    X[20, 1] = np.nan
    X[30, 2] = np.inf
    keep = outlier_mask(X)
    assert np.flatnonzero(~keep).tolist() == [7, 20, 30]


def test_empty_matrix_gives_empty_mask():
    assert outlier_mask(np.zeros((0, 4))).shape == (0,)


@pytest.mark.parametrize("bad", [np.zeros(5), np.zeros((2, 2, 2))])
def test_mask_rejects_wrong_shapes(bad):
    with pytest.raises(ConfigError, match="2-D"):
        outlier_mask(bad)


@pytest.mark.parametrize("z", [0.0, -1.0, float("nan")])
def test_mask_rejects_non_positive_threshold(z):
    with pytest.raises(ConfigError, match="positive"):
        outlier_mask(np.zeros((3, 2)), z=z)


def test_remove_outliers_keeps_rows_metadata_and_counts():
    X = _single_spike(102)
    table = pd.DataFrame(X, columns=["f0", "f1", "f2"])
    table.insert(0, "path", [f"{i}.wav" for i in range(len(table))])
    table.attrs["skipped"] = [{"path": "x.wav", "reason": "empty"}]
    kept, n_removed = remove_outliers(table, ["f0", "f1", "f2"])
    assert n_removed == 1
    assert len(kept) == 101
    assert "7.wav" not in set(kept["path"])
    assert kept.index.tolist() == list(range(101))
    assert kept.attrs["skipped"] == table.attrs["skipped"]


def test_remove_outliers_names_missing_columns():
    table = pd.DataFrame({"f0": [1.0, 2.0]})
    with pytest.raises(ConfigError, match="f9"):
        remove_outliers(table, ["f0", "f9"])


def test_fit_scaler_standardizes_with_population_statistics():
    rng = np.random.default_rng(0)
    X = rng.normal(loc=[1.0, -4.0, 10.0], scale=[2.0, 0.5, 3.0], size=(50, 3))
    scaler = fit_scaler(X)
    np.testing.assert_allclose(scaler.mean_, X.mean(axis=0))
    np.testing.assert_allclose(scaler.scale_, X.std(axis=0, ddof=0))
    Z = scaler.transform(X)
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Z.std(axis=0), 1.0)


def test_fit_scaler_is_safe_on_constant_columns():
    X = np.column_stack([np.arange(5.0), np.full(5, 7.0)])
    Z = fit_scaler(X).transform(np.array([[2.0, 7.0], [2.0, 9.0]]))
    assert np.isfinite(Z).all()
    np.testing.assert_allclose(Z[:, 1], [0.0, 2.0])


@pytest.mark.parametrize("bad", [np.zeros((0, 3)), np.zeros(3), np.array([[1.0, np.nan], [0.0, 1.0]])])
def test_fit_scaler_rejects_bad_input(bad):
    with pytest.raises(ConfigError):
        fit_scaler(bad)


@pytest.mark.parametrize(("n", "n_adapt"), [(535, 107), (688, 138), (10, 2), (5, 2), (3, 2)])
def test_target_norm_split_sizes(n, n_adapt):
    adapt, evaluated = target_norm_split(n, fraction=0.2, seed=0)
    assert len(adapt) == n_adapt
    assert len(evaluated) == n - n_adapt


def test_target_norm_split_is_a_disjoint_sorted_partition():
    adapt, evaluated = target_norm_split(97, fraction=0.2, seed=4)
    assert not set(adapt) & set(evaluated)
    assert sorted([*adapt, *evaluated]) == list(range(97))
    assert (np.diff(adapt) > 0).all() and (np.diff(evaluated) > 0).all()
    assert adapt.dtype.kind == "i" and evaluated.dtype.kind == "i"


def test_target_norm_split_is_deterministic_per_seed_and_random_across_seeds():
    first = target_norm_split(200, seed=1)
    again = target_norm_split(200, seed=1)
    other = target_norm_split(200, seed=2)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])
    # A random draw, not the first rows of the corpus.
    assert first[0].tolist() != list(range(40))


def test_target_norm_split_other_fractions():
    adapt, evaluated = target_norm_split(100, fraction=0.5, seed=0)
    assert len(adapt) == len(evaluated) == 50
    # 12.5 rounds half up.
    assert len(target_norm_split(100, fraction=0.125)[0]) == 13


@pytest.mark.parametrize("n", [0, 1, 2])
def test_target_norm_split_too_small_corpus(n):
    with pytest.raises(ConfigError, match=f"has {n}") as caught:
        target_norm_split(n)
    assert isinstance(caught.value, CrossemoError)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.2, 1.5])
def test_target_norm_split_rejects_bad_fraction(fraction):
    with pytest.raises(ConfigError, match="fraction"):
        target_norm_split(100, fraction=fraction)


def test_speaker_standardize_falls_back_to_corpus_statistics_below_the_threshold():
    from crossemo.preprocessing import speaker_standardize

    rng = np.random.default_rng(0)
    big = rng.normal(5.0, 2.0, size=(30, 3))
    small = rng.normal(-5.0, 2.0, size=(4, 3))
    features = np.vstack([big, small])
    speakers = ["big"] * 30 + ["small"] * 4
    result = speaker_standardize(features, speakers, min_utterances=10)
    np.testing.assert_allclose(result[:30].mean(axis=0), 0.0, atol=1e-12)  # its own statistics
    corpus = (small - features.mean(axis=0)) / features.std(axis=0)
    np.testing.assert_allclose(result[30:], corpus)  # the corpus' statistics: too few of its own
    own = speaker_standardize(features, speakers, min_utterances=4)
    np.testing.assert_allclose(own[30:].mean(axis=0), 0.0, atol=1e-12)  # at the threshold: its own


def test_wide_feature_sets_tolerate_a_few_extreme_values_per_row() -> None:
    from crossemo.preprocessing import OUTLIER_MAX_SHARE
    from crossemo.settings import Protocol

    assert Protocol().outlier_max_share == OUTLIER_MAX_SHARE  # the config's default is the function's
    rng = np.random.default_rng(0)
    narrow, wide = rng.normal(size=(400, 88)), rng.normal(size=(400, 3000))
    narrow[0, 5] = wide[0, 5] = 1e6  # one extreme value
    wide[1, :4] = 1e6  # four: more than floor(0.001 * 3000) = 3
    # Below 1,000 features any one extreme value drops the row, as the paper does.
    assert np.flatnonzero(~outlier_mask(narrow, z=10.0)).tolist() == [0]
    assert np.flatnonzero(~outlier_mask(wide, z=10.0)).tolist() == [1]
    assert np.flatnonzero(~outlier_mask(wide, z=10.0, max_share=0.0)).tolist() == [0, 1]
    with pytest.raises(ConfigError, match=r"max_share must be in \[0, 1\)"):
        outlier_mask(wide, max_share=1.0)
