"""Kernel density sums on a regular grid by B-spline binning and FFT convolution (grid units).

The machinery behind :func:`crossemo.evaluation.consistency.bhattacharyya_distance`'s
default method: everything here is measured in grid cells (node k of an axis sits
at k).  Each point is binned onto the nodes with cubic B-spline weights, which spread
every point alike (:data:`SPLINE_VARIANCE` per axis, no skew), and the binned weights are
convolved by FFT with the rest of the Gaussian kernel.  A kernel under 1.5 cells wide
is binned on a grid twice as fine along the axes that need it; a wide kernel takes its
spectrum in closed form.  Optionally the sum is exponentially tilted (for clouds that
meet only in their tails; see :func:`chernoff_tilt`).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy.fft import fftfreq, irfftn, next_fast_len, rfftfreq, rfftn
from scipy.special import logsumexp

_MARGIN = 2  # nodes beyond the grid on each side that the cubic B-spline of a point near the edge reaches
SPLINE_VARIANCE = 1.0 / 3.0
"""Spread of cubic B-spline binning, in cells squared per axis, wherever the point lies."""

_KERNEL_REACH = math.sqrt(2.0 * 40.0)  # kernel standard deviations kept: beyond them it is below e^-40
_FINE_BELOW = 2.25  # kernel variance (cells squared) below which binning uses a grid twice as fine
ANALYTIC_FROM = 80.0 / math.pi**2
"""Kernel variance (cells squared) from which its spectrum is taken in closed form: the
aliases' share, e^(-pi^2 v / 2), is then below e^-40, as small as the sampled kernel's truncation."""

_TILT_ITERATIONS = 100
_TILT_TOLERANCE = 1e-8  # Newton step, per cell, at which the tilt counts as found


def smoothed_density(
    positions: np.ndarray, kernel: np.ndarray, tilt: np.ndarray, grid_size: int
) -> tuple[np.ndarray, float]:
    r"""The cloud's kernel sum times :math:`e^{\lambda \cdot g}` on the grid (all in cells), and its log scale.

    :math:`e^{-\frac12 o^T K^{-1} o + \lambda \cdot g} = e^{\lambda \cdot x + \frac12 \lambda^T K \lambda}
    e^{-\frac12 (o - K\lambda)^T K^{-1} (o - K\lambda)}` for :math:`o = g - x`: each point
    gets mass :math:`e^{\lambda \cdot x}` and the kernel moves by :math:`K\lambda`.
    The values are the sum divided by ``exp(log_scale)``.
    """
    # A kernel under 1.5 cells wide is resolved on a grid twice as fine, whose every other node is ours:
    # along the fewest axes that make it 1.5 cells wide (a cloud collapsed along one axis: that axis).
    refine = grid_refinement(kernel)
    positions, kernel, tilt = positions * refine, kernel * np.outer(refine, refine), tilt / refine
    sizes = refine * (grid_size - 1) + 1
    exponents = positions @ tilt
    top = float(exponents.max())
    weights = binned(positions, np.exp(exponents - top), sizes)
    # The binning spreads every point by SPLINE_VARIANCE per axis: the kernel makes up the rest.
    shape = kernel - SPLINE_VARIANCE * np.eye(kernel.shape[0])
    centre = kernel @ tilt
    reach = np.ceil(_KERNEL_REACH * np.sqrt(np.diag(shape)))
    limit = sizes - 1 + _MARGIN  # no offset between a binned node and a grid node is larger
    first = np.clip(np.floor(centre - reach), -limit, limit).astype(int)
    last = np.clip(np.ceil(centre + reach), -limit, limit).astype(int)
    # Circular convolution on lengths that keep every wrapped term off the grid nodes.
    lengths = [
        next_fast_len(max(padded, size + _MARGIN + max(high, -low)), real=True)
        for padded, size, low, high in zip(weights.shape, sizes, first, last)
    ]
    if np.linalg.eigvalsh(shape).min() >= ANALYTIC_FROM:
        spectrum, shift = kernel_spectrum(shape, centre, lengths), np.zeros_like(first)
    else:
        values = np.exp(-0.5 * quadratic_form(np.linalg.inv(shape), first - centre, last - centre))
        spectrum, shift = rfftn(values, lengths), first
    circular = irfftn(rfftn(weights, lengths) * spectrum, lengths)
    # Node g collects binned node g + _MARGIN - o for every kernel offset o = shift + k, at index k.
    starts = [_MARGIN - low for low in shift]
    if all(0 <= start and start + size <= length for start, size, length in zip(starts, sizes, lengths)):
        nodes = circular[tuple(slice(start, start + size, step) for start, size, step in zip(starts, sizes, refine))]
    else:  # a moved kernel: the indices wrap
        index = [(np.arange(0, size, step) + start) % n for start, size, step, n in zip(starts, sizes, refine, lengths)]
        nodes = circular[np.ix_(*index)]
    log_scale = top + 0.5 * float(tilt @ kernel @ tilt)
    return np.maximum(nodes, 0.0), log_scale  # rounding leaves tiny negative values in the tails


def kernel_spectrum(shape: np.ndarray, centre: np.ndarray, lengths: list[int]) -> np.ndarray:
    r"""``rfftn`` of the kernel :math:`e^{-\frac12 (t - c)^T S^{-1} (t - c)}` on the integer offsets, wrapped.

    By Poisson summation it is :math:`\sum_m \hat k(\omega + 2\pi m)` with
    :math:`\hat k(\omega) = (2\pi)^{d/2} |S|^{1/2} e^{-\frac12 \omega^T S \omega - i \omega \cdot c}`;
    only :math:`m = 0` is kept, which needs :math:`e^{-\pi^2 \lambda_{min}(S) / 2}` below
    the FFT's rounding (:data:`ANALYTIC_FROM`).
    """
    dimension = len(lengths)
    frequencies = [
        2.0 * np.pi * (rfftfreq(length) if axis == dimension - 1 else fftfreq(length))
        for axis, length in enumerate(lengths)
    ]
    axes = [f.reshape([-1 if axis == i else 1 for axis in range(dimension)]) for i, f in enumerate(frequencies)]
    # -w^T S w / 2 as sum_i w_i (-S_ii w_i / 2 - sum_{j<i} S_ij w_j): few operations on the full grid.
    exponent = 0.0
    for i in range(dimension):
        factor = -0.5 * shape[i, i] * axes[i]
        for j in range(i):
            factor = factor - shape[i, j] * axes[j]
        exponent = exponent + factor * axes[i]
    scale = (2.0 * np.pi) ** (dimension / 2) * math.sqrt(np.linalg.det(shape))
    if not centre.any():
        return scale * np.exp(exponent)
    return scale * np.exp(exponent - 1j * sum(centre[i] * axes[i] for i in range(dimension)))


def grid_refinement(kernel: np.ndarray) -> np.ndarray:
    """Per axis 1 or 2: the cheapest refinement of the grid under which the kernel is at least 1.5 cells wide."""
    dimension = kernel.shape[0]
    candidates = sorted(itertools.product((1, 2), repeat=dimension), key=lambda factors: (math.prod(factors), factors))
    for factors in candidates:
        refine = np.array(factors)
        if np.linalg.eigvalsh(kernel * np.outer(refine, refine)).min() >= _FINE_BELOW:
            return refine
    return refine  # twice as fine along every axis: the floored kernel is then at least 2 cells wide


def quadratic_form(inverse: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """:math:`o^T A o` on the regular block of offsets ``first + k`` up to ``last`` (per axis), by broadcasting."""
    dimension = inverse.shape[0]
    axes = [
        np.arange(hi - lo + 1.0).reshape([-1 if axis == i else 1 for axis in range(dimension)]) + lo
        for i, (lo, hi) in enumerate(zip(first, last))
    ]
    return sum(inverse[i, j] * axes[i] * axes[j] for i in range(dimension) for j in range(dimension))


def binned(positions: np.ndarray, masses: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Cubic B-spline weights of the points on the grid nodes (``sizes`` per axis), plus :data:`_MARGIN` on each side.

    Wherever a point lies, its four weights per axis have its position as mean,
    :data:`SPLINE_VARIANCE` as variance and no skew.
    """
    count, dimension = positions.shape
    padded = [int(size) + 2 * _MARGIN for size in sizes]
    below = np.floor(positions)
    t = positions - below
    t2, t3 = t * t, t * t * t
    spline = np.empty((count, dimension, 4))
    spline[..., 0] = (1.0 - t) ** 3
    spline[..., 1] = 3.0 * t3 - 6.0 * t2 + 4.0
    spline[..., 2] = -3.0 * t3 + 3.0 * t2 + 3.0 * t + 1.0
    spline[..., 3] = t3
    spline /= 6.0
    nodes = below.astype(np.intp)[:, :, np.newaxis] + (np.arange(4) + _MARGIN - 1)  # (n, d, 4)
    # Outer products over the axes: each point's 4^d weights and flat node indices.
    weights, flat = masses[:, np.newaxis], np.zeros((count, 1), dtype=np.intp)
    for axis in range(dimension):
        weights = (weights[:, :, np.newaxis] * spline[:, axis, np.newaxis, :]).reshape(count, -1)
        flat = (flat[:, :, np.newaxis] * padded[axis] + nodes[:, axis, np.newaxis, :]).reshape(count, -1)
    return np.bincount(flat.ravel(), weights.ravel(), minlength=math.prod(padded)).reshape(padded)


def chernoff_tilt(first: np.ndarray, second: np.ndarray, kernel_sum: np.ndarray) -> np.ndarray:
    r"""The tilt at which both tilted KDEs have the same mean (in cells), by damped Newton.

    It minimizes the convex :math:`\log M_p(\lambda) + \log M_q(-\lambda)` (moment-generating functions).
    """
    clouds = (first, -second)  # q tilted by -tilt is -second tilted by +tilt

    def objective(tilt: np.ndarray) -> float:
        return float(sum(logsumexp(cloud @ tilt) for cloud in clouds) + 0.5 * tilt @ kernel_sum @ tilt)

    tilt, value = np.zeros(first.shape[1]), objective(np.zeros(first.shape[1]))
    for _ in range(_TILT_ITERATIONS):
        gradient, hessian = kernel_sum @ tilt, kernel_sum.copy()
        for cloud in clouds:  # the tilted points' mean and covariance
            weights = np.exp(cloud @ tilt - logsumexp(cloud @ tilt))
            centred = cloud - weights @ cloud
            gradient, hessian = gradient + weights @ cloud, hessian + (centred.T * weights) @ centred
        step = np.linalg.solve(hessian, gradient)
        while objective(tilt - step) > value and np.abs(step).max() > _TILT_TOLERANCE:
            step = step / 2.0
        tilt = tilt - step
        value = objective(tilt)
        if np.abs(step).max() <= _TILT_TOLERANCE:
            break
    return tilt
