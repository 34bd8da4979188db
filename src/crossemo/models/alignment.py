"""Distances between two latent batches that target-aware training minimizes: MMD and CORAL.

Both are scale-free: rescaling both batches by the same factor leaves them unchanged,
so training cannot lower them by shrinking the latent (which would also starve the
linear SVC of margin) and one ``alignment_weight`` means the same at any latent scale.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

ALIGNMENTS = ("none", "mmd", "coral")
"""Names a latent model's ``alignment`` accepts; ``"none"`` adds no distance term."""

MMD_BANDWIDTHS = (0.25, 0.5, 1.0, 2.0, 4.0)
"""Multipliers of the pooled mean squared distance that give the Gaussian kernels' widths."""

_EPS = 1e-8


def _squared_distances(points: torch.Tensor) -> torch.Tensor:
    # Expanded form instead of cdist: its gradient is finite at zero distance.
    norms = points.pow(2).sum(dim=1)
    return (norms.unsqueeze(1) + norms.unsqueeze(0) - 2.0 * points @ points.T).clamp_min(0.0)


def mmd(a: torch.Tensor, b: torch.Tensor, *, bandwidths: tuple[float, ...] = MMD_BANDWIDTHS) -> torch.Tensor:
    """Squared maximum mean discrepancy between the rows of ``a`` and ``b``, multi-bandwidth Gaussian kernel.

    MMD^2 = mean_{i,j} k(a_i, a_j) + mean_{i,j} k(b_i, b_j) - 2 mean_{i,j} k(a_i, b_j) (the
    biased estimate, never negative) with k(u, v) = (1 / S) sum_s exp(-||u - v||^2 / (s h)),
    s over ``bandwidths`` and h the mean squared distance between distinct rows of the
    pooled sample [a; b]. h moves with the data (gradient included), which makes the
    distance scale-free.

    >>> a = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> round(float(mmd(a, a)), 6)
    0.0
    >>> float(mmd(a, a + 3.0)) > float(mmd(a, a + 0.5)) > 0.0
    True
    >>> round(float(mmd(10 * a, 10 * a + 5.0)), 6) == round(float(mmd(a, a + 0.5)), 6)
    True
    """
    pooled = torch.cat([a, b])
    n_pooled, n_a = pooled.shape[0], a.shape[0]
    distances = _squared_distances(pooled)
    scale = (distances.sum() / max(n_pooled * (n_pooled - 1), 1)).clamp_min(_EPS)
    kernel = sum(torch.exp(-distances / (width * scale)) for width in bandwidths) / len(bandwidths)
    within_a = kernel[:n_a, :n_a].mean()
    within_b = kernel[n_a:, n_a:].mean()
    across = kernel[:n_a, n_a:].mean()
    return (within_a + within_b - 2.0 * across).clamp_min(0.0)


def _covariance(points: torch.Tensor) -> torch.Tensor:
    centred = points - points.mean(dim=0, keepdim=True)
    return centred.T @ centred / max(points.shape[0] - 1, 1)


def coral(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """CORAL distance between the rows of ``a`` and ``b``: means and covariances, scale-free.

    D = ||m_a - m_b||^2 / v + ||C_a - C_b||_F^2 / v^2, with m the column means, C the
    covariance matrices (n - 1 denominator) and v the pooled sample's variance averaged
    over the columns (trace of its covariance / d, n denominator).

    >>> a = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
    >>> round(float(coral(a, a)), 6)
    0.0
    >>> round(float(coral(a, a + torch.tensor([2.0, 0.0]))), 4)  # 4 / ((2 + 1) / 2)
    2.6667
    >>> round(float(coral(3 * a, 3 * a + torch.tensor([6.0, 0.0]))), 4)  # scale-free
    2.6667
    """
    pooled = torch.cat([a, b])
    variance = pooled.var(dim=0, unbiased=False).mean().clamp_min(_EPS)
    mean_gap = (a.mean(dim=0) - b.mean(dim=0)).pow(2).sum() / variance
    covariance_gap = (_covariance(a) - _covariance(b)).pow(2).sum() / variance.pow(2)
    return mean_gap + covariance_gap


def alignment_distance(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None:
    """The distance called ``name`` (one of :data:`ALIGNMENTS`), ``None`` for ``"none"``.

    >>> alignment_distance("mmd") is mmd, alignment_distance("none")
    (True, None)
    """
    distances = {"none": None, "mmd": mmd, "coral": coral}
    if name not in distances:
        raise ValueError(f"alignment must be one of {ALIGNMENTS}, got {name!r}")
    return distances[name]
