"""Bhattacharyya distance between latent clouds, including degenerate ones and any dimension."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crossemo.errors import ConfigError
from crossemo.evaluation.consistency import (
    GRID_MAX_DIMENSIONS,
    MIN_COEFFICIENT,
    MIN_DISTANCE,
    _sampled_distance,
    bhattacharyya_distance,
    log_bhattacharyya,
)
from crossemo.evaluation.grid_density import ANALYTIC_FROM, grid_refinement, kernel_spectrum, quadratic_form

MAX_DISTANCE = -math.log(MIN_COEFFICIENT)


def _cloud(n: int = 300, d: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d))


@pytest.mark.parametrize("d", [1, 2, 3])
def test_identical_clouds_have_distance_zero(d):
    cloud = _cloud(120, d)
    assert bhattacharyya_distance(cloud, cloud.copy(), grid_size=30 if d == 3 else 100) == 0.0


def test_identical_float32_clouds_have_distance_zero():
    cloud = _cloud().astype(np.float32)
    assert bhattacharyya_distance(cloud, cloud) == 0.0


@pytest.mark.parametrize("d", [1, 2])
def test_distance_grows_monotonically_with_a_mean_shift(d):
    cloud = _cloud(d=d)
    shifts = [0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0]
    distances = [bhattacharyya_distance(cloud, cloud + shift) for shift in shifts]
    assert distances[0] == 0.0
    assert all(later > earlier for earlier, later in zip(distances, distances[1:]))
    assert all(math.isfinite(value) for value in distances)


def test_gaussian_samples_match_the_closed_form():
    # Two Gaussians N(0, 1) and N(1, 1): BD = 1/8. A KDE widens each by a factor
    # (1 + h^2) with Scott's h = n^(-1/5), so BD of the KDEs ~ 1/(8 (1 + h^2)) = 0.119.
    rng = np.random.default_rng(0)
    n = 2000
    a = rng.normal(size=n)
    b = rng.normal(loc=1.0, size=n)
    expected = 1.0 / (8.0 * (1.0 + n ** -0.4))
    assert bhattacharyya_distance(a, b) == pytest.approx(expected, rel=0.2)
    # 2-D, shift (1, 1): BD = |mu|^2 / 8 = 0.25 before widening.
    a2 = rng.normal(size=(n, 2))
    b2 = rng.normal(size=(n, 2)) + 1.0
    expected2 = 2.0 / (8.0 * (1.0 + n ** (-1 / 3)))
    assert bhattacharyya_distance(a2, b2) == pytest.approx(expected2, rel=0.2)


def test_distance_is_symmetric_and_affine_invariant():
    a, b = _cloud(200, seed=1), _cloud(150, seed=2) * [1.0, 2.0] + [0.5, -1.0]
    distance = bhattacharyya_distance(a, b)
    assert distance > 0.0
    assert bhattacharyya_distance(b, a) == pytest.approx(distance, rel=1e-9)
    scale, offset = np.array([3.0, 0.01]), np.array([-7.0, 100.0])
    transformed = bhattacharyya_distance(a * scale + offset, b * scale + offset)
    assert transformed == pytest.approx(distance, rel=1e-6)


def test_disjoint_clouds_give_a_large_finite_distance():
    cloud = _cloud()
    distance = bhattacharyya_distance(cloud, cloud + 1000.0)
    assert math.isfinite(distance)
    assert distance > bhattacharyya_distance(cloud, cloud + 8.0)
    assert distance <= MAX_DISTANCE


def test_collapsed_cloud_gives_a_finite_distance():
    cloud = _cloud()
    collapsed = np.zeros((50, 2))
    distance = bhattacharyya_distance(cloud, collapsed)
    assert math.isfinite(distance) and distance > 0.0
    # Moving the collapsed latent away from the other cloud increases the distance.
    assert bhattacharyya_distance(cloud, collapsed + 3.0) > distance


def test_collapsed_clouds_compare_sensibly():
    here = np.full((40, 2), 0.3)
    assert bhattacharyya_distance(here, np.full((25, 2), 0.3)) < 1e-12
    apart = bhattacharyya_distance(here, np.full((25, 2), 5.0))
    assert math.isfinite(apart) and apart > 1.0


def test_degenerate_fallback_is_continuous():
    # A nearly collapsed cloud behaves like the collapsed one: no jump at the fallback.
    cloud = _cloud()
    collapsed = np.zeros((50, 2))
    jittered = collapsed + np.random.default_rng(5).normal(scale=1e-9, size=collapsed.shape)
    assert bhattacharyya_distance(cloud, jittered) == pytest.approx(
        bhattacharyya_distance(cloud, collapsed), abs=1e-6
    )


@pytest.mark.parametrize(
    "degenerate",
    [
        np.zeros((1, 2)),  # a single point
        np.array([[0.0, 0.0], [1.0, 1.0]]),  # fewer than d + 2 points
        np.column_stack([np.linspace(-1, 1, 60), 2 * np.linspace(-1, 1, 60)]),  # on a line
        np.column_stack([np.linspace(-1, 1, 60), np.full(60, 0.5)]),  # constant coordinate
    ],
)
def test_rank_deficient_clouds_never_crash(degenerate):
    cloud = _cloud()
    for first, second in ((cloud, degenerate), (degenerate, cloud), (degenerate, degenerate + 0.1)):
        distance = bhattacharyya_distance(first, second)
        assert math.isfinite(distance) and distance > 0.0
    assert bhattacharyya_distance(degenerate, degenerate) == 0.0


def test_bandwidth_options():
    a, b = _cloud(200, seed=1), _cloud(200, seed=2) + 0.5
    scott = bhattacharyya_distance(a, b)
    assert bhattacharyya_distance(a, b, bandwidth="scott") == scott
    assert bhattacharyya_distance(a, b, bandwidth="silverman") > 0.0
    # Wider kernels blur the two clouds together.
    assert bhattacharyya_distance(a, b, bandwidth=2.0) < bhattacharyya_distance(a, b, bandwidth=0.2)


def test_grid_resolution_barely_matters_for_smooth_densities():
    a, b = _cloud(200, seed=1), _cloud(200, seed=2) + 0.7
    assert bhattacharyya_distance(a, b, grid_size=60) == pytest.approx(
        bhattacharyya_distance(a, b, grid_size=150), rel=0.02
    )


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        (np.zeros((5, 2)), np.zeros((5, 1)), "differ in dimension"),
        (np.zeros((0, 2)), np.zeros((5, 2)), "non-empty"),
        (np.array([[0.0, np.nan]]), np.zeros((5, 2)), "NaN"),
    ],
)
def test_bad_clouds(a, b, message):
    with pytest.raises(ConfigError, match=message):
        bhattacharyya_distance(a, b)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"grid_size": 1}, "grid_size"),
        ({"grid_size": 10.5}, "grid_size"),
        ({"grid_size": "many"}, "grid_size"),
        ({"bandwidth": "wide"}, "bandwidth"),
        ({"bandwidth": -1.0}, "positive"),
        ({"method": "exact"}, "method"),
    ],
)
def test_bad_options(options, message):
    with pytest.raises(ConfigError, match=message):
        bhattacharyya_distance(_cloud(20), _cloud(20, seed=1), **options)


# The FFT path against the direct reference -------------------------------------------------------


def _line(n: int, slope: float, offset: float = 0.0) -> np.ndarray:
    x = np.random.default_rng(n).normal(size=n)
    return np.column_stack([x, slope * x + offset])


_AGREEMENT_CASES = {
    "1-D normal": (_cloud(400, 1), _cloud(300, 1, seed=1) * 1.3 + 0.5),
    "1-D far apart": (_cloud(200, 1), _cloud(150, 1, seed=1) + 12.0),
    "1-D collapsed": (_cloud(300, 1), np.full((40, 1), 0.7)),
    "2-D normal": (_cloud(800), _cloud(600, seed=1) * [1.2, 0.8] + [0.5, -0.3]),
    "2-D small and large": (_cloud(100, seed=2), _cloud(2000, seed=3) + 0.4),
    "2-D shifted": (_cloud(300), _cloud(300, seed=1) + 4.0),
    "2-D far apart": (_cloud(300), _cloud(200, seed=1) + 9.0),
    "2-D identical": (_cloud(300), _cloud(300)),
    "2-D collapsed": (_cloud(300), np.zeros((50, 2))),
    "2-D collapsed, away": (_cloud(300), np.full((50, 2), 3.0)),
    "2-D single point": (_cloud(300), np.full((1, 2), 0.37)),
    "2-D diagonal line": (_cloud(300), _line(200, 2.0)),
    "2-D constant coordinate": (_cloud(300), np.column_stack([_cloud(500, 1, seed=4)[:, 0], np.full(500, 0.5)])),
    "2-D correlated": (_cloud(500) @ [[1.0, 0.9], [0.0, 0.4]], _cloud(400, seed=1) @ [[1.0, -0.6], [0.0, 0.7]]),
    "3-D normal": (_cloud(400, 3), _cloud(300, 3, seed=1) * 1.2 + 0.6),
    "3-D collapsed": (_cloud(300, 3), np.zeros((30, 3))),
}


@pytest.mark.parametrize("case", list(_AGREEMENT_CASES))
def test_fft_path_agrees_with_the_direct_sum(case):
    a, b = _AGREEMENT_CASES[case]
    grid_size = 20 if a.shape[1] == 3 else 100  # keeps the direct reference quick
    fast = bhattacharyya_distance(a, b, grid_size=grid_size)
    direct = bhattacharyya_distance(a, b, grid_size=grid_size, method="direct")
    assert fast == pytest.approx(direct, rel=1e-3, abs=1e-12)
    assert bhattacharyya_distance(a, b, grid_size=grid_size, method="fft") == fast  # the default


@pytest.mark.parametrize(
    ("shape", "centre"),
    [
        ([[ANALYTIC_FROM]], [0.0]),
        ([[15.0, 4.0], [4.0, 9.0]], [0.0, 0.0]),
        ([[15.0, 4.0], [4.0, 9.0]], [3.3, -7.6]),  # a tilted kernel: moved off the nodes
        ([[12.0, 0.0, 2.0], [0.0, 9.0, 1.0], [2.0, 1.0, 10.0]], [0.4, 0.0, -1.2]),
    ],
)
def test_analytic_kernel_spectrum_is_the_transform_of_the_wrapped_kernel(shape, centre):
    # Wide kernels take their spectrum from Poisson summation instead of an FFT of the sampled
    # kernel: the two agree to rounding, relative to the spectrum's peak (the kernel's sum).
    shape, centre = np.array(shape), np.array(centre)
    lengths = [64, 60, 48][: len(centre)]
    offsets = [np.arange(length) - length // 2 for length in lengths]  # one period, centred on 0
    values = np.exp(-0.5 * quadratic_form(np.linalg.inv(shape), [o[0] - c for o, c in zip(offsets, centre)],
                                           [o[-1] - c for o, c in zip(offsets, centre)]))
    wrapped = np.roll(values, [-(length // 2) for length in lengths], axis=tuple(range(len(lengths))))
    sampled = np.fft.rfftn(wrapped)
    analytic = kernel_spectrum(shape, centre, lengths)
    assert analytic.shape == sampled.shape
    assert np.abs(analytic - sampled).max() <= 1e-12 * abs(sampled.flat[0])
    assert abs(sampled.flat[0]) > 1.0  # not vacuous: the kernel has mass


@pytest.mark.parametrize(
    ("kernel", "expected"),
    [
        ([[9.0, 0.0], [0.0, 16.0]], [1, 1]),  # wide: the grid as it is
        ([[1.0, 0.0], [0.0, 16.0]], [2, 1]),  # collapsed along the first axis: only it is refined
        ([[16.0, 0.0], [0.0, 1.2]], [1, 2]),
        ([[8.0, -7.5], [-7.5, 8.0]], [2, 2]),  # a thin ridge across both axes
        ([[1.0]], [2]),
    ],
)
def test_grid_is_refined_only_along_the_axes_a_narrow_kernel_needs(kernel, expected):
    assert grid_refinement(np.array(kernel)).tolist() == expected


def test_far_apart_clouds_use_the_tails_not_the_rounding():
    # BC of about e^-40, far below the FFT's rounding (1e-16 of the peak) without the tilt.
    a, b = _cloud(300, 1), _cloud(300, 1, seed=1) + 14.0
    direct = bhattacharyya_distance(a, b, method="direct")
    assert direct > 30.0
    assert bhattacharyya_distance(a, b) == pytest.approx(direct, rel=1e-3)
    assert bhattacharyya_distance(b, a) == pytest.approx(direct, rel=1e-3)


def test_log_bhattacharyya_is_the_log_of_the_distance():
    a, b = _cloud(seed=1), _cloud(seed=2) + 1.0
    assert log_bhattacharyya(a, b) == pytest.approx(math.log(bhattacharyya_distance(a, b)))


def test_log_bhattacharyya_floors_zero_distance():
    cloud = _cloud()
    assert log_bhattacharyya(cloud, cloud) == pytest.approx(math.log(MIN_DISTANCE))
    assert log_bhattacharyya(cloud, cloud, floor=1e-6) == pytest.approx(math.log(1e-6))
    assert math.isfinite(log_bhattacharyya(cloud, cloud + 1000.0))
    with pytest.raises(ConfigError, match="positive"):
        log_bhattacharyya(cloud, cloud, floor=0.0)


# More than GRID_MAX_DIMENSIONS dimensions: the sample-based estimate -----------------------------


def _gaussian_distance(first: np.ndarray, second: np.ndarray, factor: float) -> float:
    """Closed-form BD of the Gaussians N(mean, (1 + factor^2) cov) of two clouds.

    A KDE with kernel covariance factor^2 cov of a Gaussian sample is close to
    the Gaussian with the sample covariance plus the kernel covariance.
    """
    mean1, mean2 = first.mean(axis=0), second.mean(axis=0)
    cov1, cov2 = ((1.0 + factor**2) * np.cov(cloud, rowvar=False) for cloud in (first, second))
    average = (cov1 + cov2) / 2.0
    diff = mean2 - mean1
    log_dets = [np.linalg.slogdet(matrix)[1] for matrix in (average, cov1, cov2)]
    return float(diff @ np.linalg.solve(average, diff)) / 8.0 + 0.5 * (log_dets[0] - 0.5 * (log_dets[1] + log_dets[2]))


def test_the_grid_is_used_up_to_three_dimensions():
    assert GRID_MAX_DIMENSIONS == 3


@pytest.mark.parametrize("d", [4, 6])
def test_high_dimensional_identical_clouds_have_distance_zero(d):
    cloud = _cloud(200, d)
    assert abs(bhattacharyya_distance(cloud, cloud.copy())) < 1e-12


@pytest.mark.parametrize("d", [4, 6])
@pytest.mark.parametrize("size", [2.0, 3.0])
def test_high_dimensional_gaussians_match_the_closed_form(d, size):
    # A kernel factor of 1 keeps each KDE close to a Gaussian (Scott's narrower kernels
    # leave a lumpier KDE in 4-6 dimensions, whose BD exceeds the Gaussian formula).
    a = _cloud(1000, d)
    b = _cloud(1000, d, seed=1) + size / math.sqrt(d)
    expected = _gaussian_distance(a, b, factor=1.0)
    assert bhattacharyya_distance(a, b, bandwidth=1.0) == pytest.approx(expected, rel=0.1)
    # The same cloud translated: identical covariances.
    shifted = a + size / math.sqrt(d)
    assert bhattacharyya_distance(a, shifted, bandwidth=1.0) == pytest.approx(
        _gaussian_distance(a, shifted, factor=1.0), rel=0.1
    )


@pytest.mark.parametrize("d", [4, 6])
def test_high_dimensional_distance_grows_with_the_shift(d):
    cloud = _cloud(300, d)
    distances = [bhattacharyya_distance(cloud, cloud + shift) for shift in (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0)]
    assert distances[0] == 0.0
    assert all(later > earlier for earlier, later in zip(distances, distances[1:]))


def test_high_dimensional_distance_is_deterministic_and_symmetric():
    a, b = _cloud(200, 5, seed=1), _cloud(150, 5, seed=2) * 1.5 + 0.3
    distance = bhattacharyya_distance(a, b)
    assert distance > 0.0
    assert bhattacharyya_distance(a, b) == distance
    assert bhattacharyya_distance(a.copy(), b.copy()) == distance
    assert bhattacharyya_distance(b, a) == distance
    scale, offset = np.array([3.0, 0.01, 1.0, 2.0, 5.0]), np.array([-7.0, 100.0, 0.0, 1.0, 1.0])
    assert bhattacharyya_distance(a * scale + offset, b * scale + offset) == pytest.approx(distance, rel=1e-6)


@pytest.mark.parametrize("size", [0.5, 1.0, 2.0])
def test_sample_estimate_agrees_with_the_grid_in_two_dimensions(size):
    a, b = _cloud(300, seed=1), _cloud(300, seed=2) * 1.2 + size
    assert _sampled_distance(a, b) == pytest.approx(bhattacharyya_distance(a, b), rel=0.05)


def test_high_dimensional_degenerate_clouds_never_crash():
    cloud = _cloud(200, 5)
    collapsed = np.zeros((50, 5))
    near = bhattacharyya_distance(cloud, collapsed)
    assert math.isfinite(near) and near > 0.0
    assert bhattacharyya_distance(cloud, collapsed + 3.0) > near
    assert bhattacharyya_distance(collapsed, collapsed) == 0.0
    single = bhattacharyya_distance(cloud, collapsed[:1])
    assert math.isfinite(single) and single > 0.0
    assert bhattacharyya_distance(cloud, cloud + 1000.0) == pytest.approx(MAX_DISTANCE)


def test_log_bhattacharyya_in_any_dimension():
    a, b = _cloud(200, 5, seed=1), _cloud(200, 5, seed=2) + 1.0
    assert log_bhattacharyya(a, b) == pytest.approx(math.log(bhattacharyya_distance(a, b)))
    assert log_bhattacharyya(a, a) == pytest.approx(math.log(MIN_DISTANCE))
