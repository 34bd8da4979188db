"""Loss terms of the four models (SPEC §2): reconstruction, KL divergence, cluster loss."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

RECONSTRUCTIONS = ("mean", "sum")
UNLABELLED = -1


def reconstruction_loss(
    reconstruction: torch.Tensor, target: torch.Tensor, *, reduction: str = "mean"
) -> torch.Tensor:
    """Squared reconstruction error of a batch.

    ``"mean"``: (1 / (B F)) * sum_b sum_f (x_hat - x)^2, averaged over features and batch
    (the SPEC default). ``"sum"``: (1 / B) * sum_b sum_f (x_hat - x)^2, summed over
    features and averaged over the batch.

    >>> x = torch.zeros(2, 4); x_hat = torch.ones(2, 4)
    >>> float(reconstruction_loss(x_hat, x)), float(reconstruction_loss(x_hat, x, reduction="sum"))
    (1.0, 4.0)
    """
    if reduction == "mean":
        return F.mse_loss(reconstruction, target, reduction="mean")
    if reduction == "sum":
        return (reconstruction - target).pow(2).sum(dim=1).mean()
    raise ValueError(f"reduction must be one of {RECONSTRUCTIONS}, got {reduction!r}")


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL divergence of N(mu, exp(logvar)) from N(0, I), averaged over the batch.

    KL = -1/2 * sum_over_latent_dims(1 + logvar - mu^2 - exp(logvar)), then the mean over
    the rows of the batch.

    >>> float(kl_divergence(torch.zeros(3, 2), torch.zeros(3, 2)))
    0.0
    >>> float(kl_divergence(torch.tensor([[1.0, 1.0]]), torch.zeros(1, 2)))
    1.0
    """
    per_sample = -0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)
    return per_sample.mean()


def cluster_loss(z: torch.Tensor, labels: torch.Tensor, *, eps: float = 1e-8) -> torch.Tensor:
    """Ratio of intra-class to inter-class latent distances over the labelled rows.

    L_clus = D_intra / D_inter with D_intra = sum_k sum_{i in k} ||z_i - c_k|| and
    D_inter = sum_{k < j} ||c_k - c_j||, where c_k is the mean z of class k in the batch
    and the norms are Euclidean (not squared). Rows labelled ``-1`` are unlabelled and
    ignored; with fewer than two classes present the loss is 0. D_inter is clamped
    below at ``eps`` so coinciding centroids do not divide by zero.

    >>> z = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0], [0.0, 6.0], [9.0, 9.0]])
    >>> labels = torch.tensor([0, 0, 1, 1, -1])
    >>> round(float(cluster_loss(z, labels)), 4)  # (1 + 1 + 1 + 1) / ||(1, 0) - (0, 5)||
    0.7845
    >>> float(cluster_loss(z[:2], labels[:2]))  # one class only
    0.0
    """
    labelled = labels != UNLABELLED
    z, labels = z[labelled], labels[labelled]
    classes, codes = torch.unique(labels, return_inverse=True)
    if classes.numel() < 2:
        # Multiply rather than return a fresh zero so the result stays in z's graph.
        return z.sum() * 0.0
    counts = torch.bincount(codes, minlength=classes.numel()).to(z.dtype)
    centroids = torch.zeros(classes.numel(), z.shape[1], dtype=z.dtype, device=z.device)
    centroids = centroids.index_add(0, codes, z) / counts.unsqueeze(1)
    intra = torch.linalg.vector_norm(z - centroids[codes], dim=1).sum()
    inter = torch.pdist(centroids).sum()
    return intra / inter.clamp_min(eps)


def balanced_class_weights(codes: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-class weights n / (K n_k) over the labelled codes (``-1`` is unlabelled), float32.

    n is the number of labelled rows, n_k those of class k and K the number of classes
    with rows.  Weighted by them, every class contributes alike to a cross-entropy,
    whatever its count, and the weights of the rows sum to n (scikit-learn's
    ``class_weight="balanced"``); a class without rows gets 0.

    >>> balanced_class_weights(np.array([0, 0, 0, 1, -1]), 2).tolist()
    [0.6666666865348816, 2.0]
    """
    codes = np.asarray(codes)
    counts = np.bincount(codes[codes != UNLABELLED], minlength=n_classes).astype(np.float64)
    total = counts.sum()
    with np.errstate(divide="ignore"):
        weights = np.where(counts > 0, total / (np.count_nonzero(counts) * counts), 0.0)
    return weights.astype(np.float32)
