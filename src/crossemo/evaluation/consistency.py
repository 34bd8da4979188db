r"""Latent consistency across corpora (SPEC section 4): Bhattacharyya distance of KDEs.

Both latent clouds get a Gaussian kernel density estimate
(:class:`scipy.stats.gaussian_kde`, Scott's rule by default), both densities are
evaluated on one regular grid covering both clouds and normalized to sum to
one, and

.. math::

    \text{BD} = -\log \sum_{g} \sqrt{p(g)\, q(g)}

Lower means more similar; identical clouds give 0.

Degenerate clouds never crash the computation.  A cloud whose covariance is
singular (a single point, all points identical as in a collapsed VAE latent,
points on a line) cannot be fitted by ``gaussian_kde``; and a kernel narrower
than a grid cell is not resolved by the grid sum.  In both cases the kernel
covariance (``factor**2`` times the data covariance, as ``gaussian_kde`` would
use) has its eigenvalues, measured in grid cells, raised to at least one cell,
and the mixture is evaluated directly.  The result stays deterministic.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
from scipy.spatial.distance import cdist
from scipy.stats import gaussian_kde

from crossemo.errors import ConfigError

MAX_DIMENSIONS = 3
"""Largest latent dimension supported: the grid has ``grid_size ** d`` points."""

MIN_COEFFICIENT = 1e-300
"""Floor of the Bhattacharyya coefficient, so disjoint clouds give a finite BD (at most about 690.8)."""

MIN_DISTANCE = 1e-12
"""Floor of BD before the logarithm, so identical clouds give a finite log BD (about -27.6)."""

_PADDING_KERNELS = 3.0  # grid reaches this many kernel standard deviations beyond the clouds
_PADDING_RANGE = 0.1  # ...and at least this share of the clouds' joint range
_MIN_PADDING = 1e-9  # ...and at least this much relative to the coordinates' magnitude
_CHUNK = 1 << 20  # grid-point x sample pairs evaluated at once in the fallback


def bhattacharyya_distance(a, b, *, grid_size: int = 100, bandwidth: str | float | None = None) -> float:
    r"""Bhattacharyya distance between the kernel density estimates of two point clouds.

    .. math::

        \text{BD}(a, b) = -\log \max\Big(\sum_{g \in G} \sqrt{p(g)\, q(g)},\ 10^{-300}\Big)

    where :math:`p` and :math:`q` are the Gaussian KDEs of ``a`` and ``b``
    evaluated on the regular grid :math:`G` (``grid_size`` points per axis,
    spanning both clouds plus a margin on each side: the largest of three kernel
    standard deviations, 10% of the joint range, and ``1e-9`` times the
    coordinates' magnitude, at least ``1e-9``) and normalized so that each sums to
    one.  The
    floor on the coefficient keeps the distance of disjoint clouds finite.  A
    coefficient near one is computed as
    :math:`1 - \tfrac12 \sum_g (\sqrt{p(g)} - \sqrt{q(g)})^2`, the same value for
    normalized densities without the cancellation, so identical clouds give
    exactly 0.  See the module docstring for degenerate clouds.

    Args:
        a: reference cloud, shape ``(n, d)`` (or ``(n,)`` for ``d = 1``)
        b: other cloud, shape ``(m, d)``, same ``d``
        grid_size: grid points per axis, at least 2 (the grid has
            ``grid_size ** d`` points: use a coarser one for ``d = 3``)
        bandwidth: ``gaussian_kde``'s ``bw_method``: ``None`` or ``"scott"``,
            ``"silverman"``, or a float kernel factor

    Returns:
        BD, in ``[0, 690.8]``

    Raises:
        ConfigError: if a cloud is empty, not numeric or not finite, the dimensions differ or
            exceed :data:`MAX_DIMENSIONS`, or an option is invalid

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> cloud = rng.normal(size=(200, 2))
        >>> bhattacharyya_distance(cloud, cloud)
        0.0
        >>> 0.0 < bhattacharyya_distance(cloud, cloud + 1.0) < bhattacharyya_distance(cloud, cloud + 2.0)
        True

    """
    first, second = _cloud(a, "a"), _cloud(b, "b")
    if first.shape[1] != second.shape[1]:
        raise ConfigError(f"the clouds differ in dimension: {first.shape[1]} and {second.shape[1]}")
    if isinstance(grid_size, bool) or not isinstance(grid_size, Integral) or grid_size < 2:
        raise ConfigError(f"grid_size must be an integer of at least 2, got {grid_size!r}")
    covariances = [_kernel_covariance(cloud, bandwidth) for cloud in (first, second)]

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
    axes = [np.linspace(lo, hi, int(grid_size)) for lo, hi in zip(low - padding, high + padding)]
    spacing = np.array([axis[1] - axis[0] for axis in axes])
    grid = np.stack([mesh.ravel() for mesh in np.meshgrid(*axes, indexing="ij")], axis=1)

    densities = [
        _density_on_grid(cloud, covariance, grid, spacing, bandwidth)
        for cloud, covariance in zip((first, second), covariances)
    ]
    root_p, root_q = (np.sqrt(density / density.sum()) for density in densities)
    # sqrt(p) * sqrt(q) rather than sqrt(p * q): the product of two small densities underflows.
    coefficient = float(np.sum(root_p * root_q))
    if coefficient > 0.5:
        # Near 1, use 1 - BC = sum((sqrt p - sqrt q)^2) / 2 (exact for normalized p, q):
        # no cancellation, and identical clouds give exactly 0.
        return -math.log1p(-0.5 * float(np.sum((root_p - root_q) ** 2)))
    return -math.log(max(coefficient, MIN_COEFFICIENT))


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
    if array.shape[1] > MAX_DIMENSIONS:
        raise ConfigError(
            f"cloud {name} has {array.shape[1]} dimensions; the grid-based Bhattacharyya distance "
            f"supports at most {MAX_DIMENSIONS}"
        )
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
