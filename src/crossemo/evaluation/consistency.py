r"""Latent consistency across corpora (SPEC section 4): Bhattacharyya distance of KDEs.

Both latent clouds get a Gaussian kernel density estimate
(:class:`scipy.stats.gaussian_kde`, Scott's rule by default), and

.. math::

    \text{BD} = -\log \text{BC}, \qquad \text{BC} = \int \sqrt{p(x)\, q(x)}\, dx

Lower means more similar; identical clouds give 0.  How BC is computed depends
on the latent dimension ``d``:

* ``d <= 3`` (:data:`GRID_MAX_DIMENSIONS`): both densities are evaluated on one
  regular grid covering both clouds and normalized to sum to one, and
  :math:`\text{BC} = \sum_g \sqrt{p(g)\, q(g)}`.  By default (``method="fft"``)
  each cloud is binned onto the grid with cubic B-spline weights, which spread
  every point alike (1/3 cell squared per axis, no skew; the kernel covariance
  gives up that much), and convolved by FFT with the Gaussian kernel (full
  covariance) on the grid offsets, padded so that nothing wraps onto the grid; a
  kernel under 1.5 cells wide is binned on a grid twice as fine (along the axes that
  make it wide enough: a cloud collapsed along one axis refines that axis), and a kernel
  wider than about 2.8 cells takes its spectrum in closed form (the Gaussian's
  Fourier transform) instead of from an FFT of its samples.  Where BC < :data:`TILT_BELOW`
  the clouds meet in both tails, below the FFT's rounding, so both densities are
  recomputed exponentially tilted, :math:`p(g) e^{\lambda \cdot g}` and
  :math:`q(g) e^{-\lambda \cdot g}` (same product), :math:`\lambda` the Chernoff
  saddle point that makes both peak where they meet.  This agrees with the sum
  of every kernel at every grid point (``method="direct"``, the slow reference)
  to about ``1e-4`` of BD on normal, shifted, collapsed and line clouds; only near
  the floor (BD of several hundred) does the direct sum underflow, overstating
  BD by a few ``1e-3``.
* ``d > 3`` (a grid would have ``grid_size ** d`` points): a Monte-Carlo
  estimate with importance sampling from the mixture :math:`m = (p + q) / 2`,
  :math:`\text{BC} = E_{x \sim m}\big[\sqrt{p(x)\, q(x)} / m(x)\big]`, from
  :data:`SAMPLES` draws (half from each KDE) of a generator seeded with
  :data:`SAMPLE_SEED`, so the same clouds always give the same value.  The
  densities are the same KDEs (same bandwidth rule), evaluated exactly.

Degenerate clouds never crash the computation.  A cloud whose covariance is
singular (a single point, all points identical as in a collapsed VAE latent,
points on a line) cannot be fitted by ``gaussian_kde``; and a kernel narrower
than a grid cell is not resolved by the grid sum.  In both cases the kernel
covariance (``factor**2`` times the data covariance, as ``gaussian_kde`` would
use) has its eigenvalues, measured in grid cells, raised to at least one cell,
and the mixture is evaluated with that covariance.  The sample-based estimate
(``d > 3``) applies the same floor, with the cells of the grid the grid method
would use.  The result stays deterministic.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
from scipy.spatial.distance import cdist
from scipy.special import logsumexp
from scipy.stats import gaussian_kde

from crossemo.errors import ConfigError
from crossemo.evaluation.grid_density import chernoff_tilt, smoothed_density

GRID_MAX_DIMENSIONS = 3
"""Largest latent dimension computed on a grid (``grid_size ** d`` points); above it, by sampling."""

SAMPLES = 4096
"""Monte-Carlo draws of the sample-based estimate (``d > 3``), half from each cloud's KDE."""

SAMPLE_SEED = 0
"""Seed of the sample-based estimate's generator: same clouds, same value."""

MIN_COEFFICIENT = 1e-300
"""Floor of the Bhattacharyya coefficient, so disjoint clouds give a finite BD (at most about 690.8)."""

MIN_DISTANCE = 1e-12
"""Floor of BD before the logarithm, so identical clouds give a finite log BD (about -27.6)."""

_PADDING_KERNELS = 3.0  # grid reaches this many kernel standard deviations beyond the clouds
_PADDING_RANGE = 0.1  # ...and at least this share of the clouds' joint range
_MIN_PADDING = 1e-9  # ...and at least this much relative to the coordinates' magnitude
TILT_BELOW = 1e-3
"""BC below which the FFT method recomputes the densities exponentially tilted (their tails meet)."""

METHODS = ("fft", "direct")
"""Ways of computing the grid sum (``d <= 3``): binned and convolved by FFT, or KDE point by point."""

_CHUNK = 1 << 20  # grid-point x sample pairs evaluated at once in the fallback
def bhattacharyya_distance(
    a, b, *, grid_size: int = 100, bandwidth: str | float | None = None, method: str = "fft"
) -> float:
    r"""Bhattacharyya distance between the kernel density estimates of two point clouds.

    .. math::

        \text{BD}(a, b) = -\log \max\Big(\sum_{g \in G} \sqrt{p(g)\, q(g)},\ 10^{-300}\Big)

    where :math:`p` and :math:`q` are the Gaussian KDEs of ``a`` and ``b``, for
    ``d <= 3`` evaluated on the regular grid :math:`G` (``grid_size`` points per axis,
    spanning both clouds plus a margin on each side: the largest of three kernel
    standard deviations, 10% of the joint range, and ``1e-9`` times the
    coordinates' magnitude, at least ``1e-9``) and normalized so that each sums to
    one.  The floor on the coefficient keeps the distance of disjoint clouds
    finite.  A coefficient near one is computed as
    :math:`1 - \tfrac12 \sum_g (\sqrt{p(g)} - \sqrt{q(g)})^2`, the same value for
    normalized densities without the cancellation, so identical clouds give
    exactly 0.  For ``d > 3`` the sum is replaced by a seeded Monte-Carlo estimate
    of the same integral from :data:`SAMPLES` draws (see the module docstring);
    it is deterministic, symmetric only up to its sampling error (a few percent
    of BD), and ``grid_size`` then only sets the cell size below which
    degenerate kernels are widened.  See the module docstring for degenerate
    clouds.

    Args:
        a: reference cloud, shape ``(n, d)`` (or ``(n,)`` for ``d = 1``)
        b: other cloud, shape ``(m, d)``, same ``d``
        grid_size: grid points per axis, at least 2 (the grid has
            ``grid_size ** d`` points: use a coarser one for ``d = 3``)
        bandwidth: ``gaussian_kde``'s ``bw_method``: ``None`` or ``"scott"``,
            ``"silverman"``, or a float kernel factor
        method: for ``d <= 3``, ``"fft"`` (binned and convolved, the default) or
            ``"direct"`` (every KDE evaluated at every grid point: the slow
            reference); see the module docstring

    Returns:
        BD, in ``[0, 690.8]``

    Raises:
        ConfigError: if a cloud is empty, not numeric or not finite, the dimensions differ,
            or an option is invalid

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> cloud = rng.normal(size=(200, 2))
        >>> bhattacharyya_distance(cloud, cloud)
        0.0
        >>> 0.0 < bhattacharyya_distance(cloud, cloud + 1.0) < bhattacharyya_distance(cloud, cloud + 2.0)
        True
        >>> fast, direct = (bhattacharyya_distance(cloud, cloud + 1.0, method=m) for m in METHODS)
        >>> abs(fast - direct) < 1e-3 * direct
        True
        >>> wide = rng.normal(size=(200, 5))  # d > 3: sample-based
        >>> bhattacharyya_distance(wide, wide)
        0.0
        >>> 0.0 < bhattacharyya_distance(wide, wide + 1.0) < bhattacharyya_distance(wide, wide + 2.0)
        True

    """
    first, second = _cloud(a, "a"), _cloud(b, "b")
    if first.shape[1] != second.shape[1]:
        raise ConfigError(f"the clouds differ in dimension: {first.shape[1]} and {second.shape[1]}")
    if isinstance(grid_size, bool) or not isinstance(grid_size, Integral) or grid_size < 2:
        raise ConfigError(f"grid_size must be an integer of at least 2, got {grid_size!r}")
    if method not in METHODS:
        raise ConfigError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if first.shape[1] > GRID_MAX_DIMENSIONS:
        return _sampled_distance(first, second, grid_size=int(grid_size), bandwidth=bandwidth)
    if method == "direct":
        return _direct_grid_distance(first, second, grid_size=int(grid_size), bandwidth=bandwidth)
    return _fft_grid_distance(first, second, grid_size=int(grid_size), bandwidth=bandwidth)


def _direct_grid_distance(
    first: np.ndarray, second: np.ndarray, *, grid_size: int, bandwidth: str | float | None
) -> float:
    """BD from both KDEs evaluated at every point of a regular grid (the reference for ``d <= 3``)."""
    covariances = [_kernel_covariance(cloud, bandwidth) for cloud in (first, second)]
    low, high = _grid_bounds(first, second, covariances)
    axes = [np.linspace(lo, hi, int(grid_size)) for lo, hi in zip(low, high)]
    spacing = np.array([axis[1] - axis[0] for axis in axes])
    grid = np.stack([mesh.ravel() for mesh in np.meshgrid(*axes, indexing="ij")], axis=1)

    densities = [
        _density_on_grid(cloud, covariance, grid, spacing, bandwidth)
        for cloud, covariance in zip((first, second), covariances)
    ]
    return _normalized_distance(*densities)


def _normalized_distance(p: np.ndarray, q: np.ndarray) -> float:
    """BD of two densities on the same grid, each normalized to sum to one."""
    root_p, root_q = np.sqrt(p / p.sum()), np.sqrt(q / q.sum())
    # sqrt(p) * sqrt(q) rather than sqrt(p * q): the product of two small densities underflows.
    coefficient = float(np.sum(root_p * root_q))
    if coefficient > 0.5:
        # Near 1, use 1 - BC = sum((sqrt p - sqrt q)^2) / 2 (exact for normalized p, q):
        # no cancellation, and identical clouds give exactly 0.
        return -math.log1p(-0.5 * float(np.sum((root_p - root_q) ** 2)))
    return -math.log(max(coefficient, MIN_COEFFICIENT))


def _fft_grid_distance(
    first: np.ndarray, second: np.ndarray, *, grid_size: int, bandwidth: str | float | None
) -> float:
    """BD on the same grid as :func:`_direct_grid_distance`, the KDEs binned and convolved by FFT."""
    covariances = [_kernel_covariance(cloud, bandwidth) for cloud in (first, second)]
    low, high = _grid_bounds(first, second, covariances)
    spacing = np.array([np.linspace(lo, hi, grid_size)[1] - lo for lo, hi in zip(low, high)])
    # Everything below in grid cells: node k of an axis sits at k.
    kernels = [_floored_covariance(covariance, spacing) / np.outer(spacing, spacing) for covariance in covariances]
    positions = [(cloud - low) / spacing for cloud in (first, second)]
    untilted = np.zeros(first.shape[1])
    p, q = (smoothed_density(cloud, kernel, untilted, grid_size)[0] for cloud, kernel in zip(positions, kernels))
    distance = _normalized_distance(p, q)
    if distance <= -math.log(TILT_BELOW):
        return distance
    # The overlap is in both tails, where the FFT's rounding (about 1e-16 of the peak) dominates:
    # tilt p by exp(tilt . g) and q by exp(-tilt . g), so that both peak there; sqrt(p q) is unchanged.
    tilt = chernoff_tilt(*positions, kernels[0] + kernels[1])
    (tilted_p, scale_p), (tilted_q, scale_q) = (
        smoothed_density(cloud, kernel, sign * tilt, grid_size)
        for cloud, kernel, sign in zip(positions, kernels, (1, -1))
    )
    overlap = float(np.sum(np.sqrt(tilted_p) * np.sqrt(tilted_q)))
    if overlap <= 0.0:
        return -math.log(MIN_COEFFICIENT)
    log_coefficient = math.log(overlap) + 0.5 * (scale_p + scale_q - math.log(p.sum()) - math.log(q.sum()))
    return -max(log_coefficient, math.log(MIN_COEFFICIENT))


def _grid_bounds(
    first: np.ndarray, second: np.ndarray, covariances: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper corners of the grid: both clouds plus a margin on each side."""
    both = np.vstack([first, second])
    low, high = both.min(axis=0), both.max(axis=0)
    kernel_std = np.sqrt(np.maximum(np.diag(covariances[0]), np.diag(covariances[1])))
    # The last term keeps grid cells far above float resolution when both clouds sit on
    # (nearly) one value of an axis; differences below it count as ties.
    padding = np.maximum.reduce(
        [
            _PADDING_KERNELS * kernel_std,
            _PADDING_RANGE * (high - low),
            _MIN_PADDING * np.maximum.reduce([np.ones_like(low), np.abs(low), np.abs(high)]),
        ]
    )
    return low - padding, high + padding


def _sampled_distance(
    first: np.ndarray,
    second: np.ndarray,
    *,
    grid_size: int = 100,
    bandwidth: str | float | None = None,
    samples: int = SAMPLES,
    seed: int = SAMPLE_SEED,
) -> float:
    r"""BD from a Monte-Carlo estimate of BC, importance-sampled from :math:`m = (p + q)/2` (``d > 3``).

    ``samples // 2`` draws come from each KDE (a random point of the cloud plus
    kernel noise), so the average of the two halves' means estimates
    :math:`E_m[\sqrt{pq}/m]`.  Both halves use a generator seeded with ``seed``,
    so swapping the clouds swaps the halves and gives exactly the same value.
    With :math:`t = (\log p - \log q)/2` the ratio is :math:`1/\cosh t`, computed
    without overflow; near BC = 1 the mean of :math:`1 - 1/\cosh t` is used, so
    identical clouds give exactly 0.  Kernels narrower than a cell of the grid
    the grid method would use (``grid_size`` points per axis) are widened to it,
    as there.  Works for any ``d``; takes validated ``(n, d)`` float arrays.
    """
    covariances = [_kernel_covariance(cloud, bandwidth) for cloud in (first, second)]
    low, high = _grid_bounds(first, second, covariances)
    spacing = np.array([np.linspace(lo, hi, grid_size)[1] - lo for lo, hi in zip(low, high)])
    factors = [np.linalg.cholesky(_floored_covariance(covariance, spacing)) for covariance in covariances]
    count = max(1, samples // 2)

    ratios, complements = [], []  # per half: mean of 1/cosh(t) and of 1 - 1/cosh(t)
    for cloud, lower in zip((first, second), factors):
        rng = np.random.default_rng(seed)
        centres = cloud[rng.integers(0, cloud.shape[0], size=count)]
        points = centres + rng.standard_normal((count, cloud.shape[1])) @ lower.T
        log_p, log_q = (_log_mixture(other, factor, points) for other, factor in zip((first, second), factors))
        half = 0.5 * np.abs(log_p - log_q)  # |t|
        decay = np.exp(-half)
        damping = 1.0 + decay * decay
        ratios.append(float(np.mean(2.0 * decay / damping)))
        complements.append(float(np.mean(np.expm1(-half) ** 2 / damping)))
    coefficient = 0.5 * (ratios[0] + ratios[1])
    if coefficient > 0.5:
        return -math.log1p(-0.5 * (complements[0] + complements[1]))
    return -math.log(max(coefficient, MIN_COEFFICIENT))


def _floored_covariance(covariance: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """``covariance`` with eigenvalues, in grid cells, raised to at least one cell."""
    cells = np.outer(spacing, spacing)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance / cells)
    if eigenvalues.min() >= 1.0:
        return covariance
    return (eigenvectors * np.maximum(eigenvalues, 1.0)) @ eigenvectors.T * cells


def _log_mixture(cloud: np.ndarray, lower: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Log density, normalized, of the Gaussian mixture with kernel covariance ``lower @ lower.T`` at ``points``."""
    centres, weights = np.unique(cloud, axis=0, return_counts=True)
    whitened_points = np.linalg.solve(lower, points.T).T
    whitened_centres = np.linalg.solve(lower, centres.T).T
    constant = (
        -math.log(cloud.shape[0])
        - 0.5 * cloud.shape[1] * math.log(2.0 * math.pi)
        - float(np.sum(np.log(np.diag(lower))))
    )
    log_density = np.empty(points.shape[0])
    step = max(1, _CHUNK // centres.shape[0])
    for start in range(0, points.shape[0], step):
        squared = cdist(whitened_points[start : start + step], whitened_centres, "sqeuclidean")
        log_density[start : start + step] = logsumexp(-0.5 * squared, b=weights, axis=1)
    return log_density + constant


def log_bhattacharyya(
    a, b, *, grid_size: int = 100, bandwidth: str | float | None = None, floor: float = MIN_DISTANCE
) -> float:
    r"""Natural logarithm of :func:`bhattacharyya_distance`, as plotted in the paper's Fig. 4.

    .. math::

        \log \max(\text{BD}(a, b),\ \text{floor})

    ``log 0`` would be ``-inf``; the floor (default :data:`MIN_DISTANCE`, about the
    numerical resolution of the grid sum) keeps means over folds finite.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> cloud = rng.normal(size=(100, 2))
        >>> round(log_bhattacharyya(cloud, cloud), 2)
        -27.63
        >>> log_bhattacharyya(cloud, cloud + 3.0) > log_bhattacharyya(cloud, cloud + 1.0)
        True

    """
    if not floor > 0:
        raise ConfigError(f"the floor of the Bhattacharyya distance must be positive, got {floor}")
    distance = bhattacharyya_distance(a, b, grid_size=grid_size, bandwidth=bandwidth)
    return math.log(max(distance, floor))


def _cloud(values, name: str) -> np.ndarray:
    """A latent cloud as a finite ``(n, d)`` float array."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"cloud {name} is not a numeric (n, d) array: {error}") from None
    if array.ndim == 1:
        array = array[:, np.newaxis]
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ConfigError(f"cloud {name} must be a non-empty (n, d) array, got shape {np.shape(values)}")
    if not np.isfinite(array).all():
        raise ConfigError(f"cloud {name} contains NaN or infinite values")
    return array


def _kernel_factor(n: int, dimension: int, bandwidth: str | float | None) -> float:
    """``gaussian_kde``'s bandwidth factor for ``n`` unweighted points."""
    if bandwidth is None or bandwidth == "scott":
        return n ** (-1.0 / (dimension + 4))
    if bandwidth == "silverman":
        return (n * (dimension + 2) / 4.0) ** (-1.0 / (dimension + 4))
    if isinstance(bandwidth, bool) or not isinstance(bandwidth, Real):
        raise ConfigError(
            f"bandwidth must be None, 'scott', 'silverman' or a positive number, got {bandwidth!r}"
        )
    if not bandwidth > 0:
        raise ConfigError(f"bandwidth must be positive, got {bandwidth}")
    return float(bandwidth)


def _kernel_covariance(cloud: np.ndarray, bandwidth: str | float | None) -> np.ndarray:
    """The kernel covariance ``gaussian_kde`` would use (zero for a single point)."""
    n, dimension = cloud.shape
    factor = _kernel_factor(n, dimension, bandwidth)
    if n < 2:
        return np.zeros((dimension, dimension))
    return factor**2 * np.atleast_2d(np.cov(cloud, rowvar=False))


def _density_on_grid(
    cloud: np.ndarray,
    covariance: np.ndarray,
    grid: np.ndarray,
    spacing: np.ndarray,
    bandwidth: str | float | None,
) -> np.ndarray:
    """The cloud's KDE at every grid point, up to a constant factor."""
    cells = np.outer(spacing, spacing)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance / cells)
    if eigenvalues.min() >= 1.0:
        try:
            density = gaussian_kde(cloud.T, bw_method=bandwidth).evaluate(grid.T)
        except (np.linalg.LinAlgError, ValueError):
            pass  # numerically singular after all: widen below
        else:
            if np.isfinite(density).all() and density.sum() > 0:
                return density
    widened = (eigenvectors * np.maximum(eigenvalues, 1.0)) @ eigenvectors.T * cells
    return _mixture_on_grid(cloud, widened, grid)


def _mixture_on_grid(cloud: np.ndarray, covariance: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Sum of Gaussian kernels N(g; x_i, covariance) at every grid point g, without the constant."""
    points, weights = np.unique(cloud, axis=0, return_counts=True)
    # Whiten with the Cholesky factor L (covariance = L L^T): distances become Euclidean.
    lower = np.linalg.cholesky(covariance)
    whitened_grid = np.linalg.solve(lower, grid.T).T
    whitened_points = np.linalg.solve(lower, points.T).T
    density = np.zeros(grid.shape[0])
    step = max(1, _CHUNK // grid.shape[0])
    for start in range(0, points.shape[0], step):
        squared = cdist(whitened_grid, whitened_points[start : start + step], "sqeuclidean")
        density += np.exp(-0.5 * squared) @ weights[start : start + step]
    return density
