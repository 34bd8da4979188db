"""The one training loop shared by every latent model, and the per-batch objectives.

Every random draw (shuffling, target batches, input noise, reparameterization noise)
comes from one ``torch.Generator`` passed in, so training is reproducible without
touching torch's global random state.

Optional parts of an objective (each absent by default, leaving the paper's losses
and random draws unchanged): a classifier head's cross-entropy on the labelled rows'
embedding, and, when a batch of target rows is given, their reconstruction (and KL)
plus an alignment distance between the training and target embeddings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F

from crossemo.models.alignment import alignment_distance
from crossemo.models.losses import UNLABELLED, cluster_loss, kl_divergence, reconstruction_loss
from crossemo.models.network import LatentAutoencoder


def standard_normal(
    shape: torch.Size | tuple[int, ...], *, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """N(0, 1) noise drawn on the CPU generator (reproducible on any device), then moved."""
    return torch.randn(shape, generator=generator).to(device)


class Objective(Protocol):
    """Loss of one mini-batch: a dict with ``"loss"`` (optimized) and its named terms.

    ``target`` is a batch of unlabelled rows of the corpus to transfer to, or ``None``.
    """

    def __call__(
        self,
        network: LatentAutoencoder,
        x: torch.Tensor,
        labels: torch.Tensor | None,
        *,
        beta: float | None,
        generator: torch.Generator,
        target: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]: ...


def classification_loss(network: LatentAutoencoder, embedding: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the classifier head over the labelled rows (0 when the batch has none)."""
    labelled = labels != UNLABELLED
    if not bool(labelled.any()):
        return embedding.sum() * 0.0  # stays in the graph
    return F.cross_entropy(network.classify(embedding[labelled]), labels[labelled])


@dataclass(frozen=True)
class SharedTerms:
    """The optional terms every objective adds: classifier head and target alignment."""

    head_weight: float = 0.0
    alignment: str = "none"
    alignment_weight: float = 0.0

    def add(
        self,
        network: LatentAutoencoder,
        terms: dict[str, torch.Tensor],
        embedding: torch.Tensor,
        labels: torch.Tensor | None,
        target_embedding: torch.Tensor | None,
    ) -> torch.Tensor:
        """Add the head and alignment terms to ``terms``; return their weighted sum."""
        extra = embedding.sum() * 0.0
        if self.head_weight > 0.0 and network.classifier_head is not None and labels is not None:
            terms["classification"] = classification_loss(network, embedding, labels)
            extra = extra + self.head_weight * terms["classification"]
        distance = alignment_distance(self.alignment)
        if target_embedding is not None and distance is not None:
            terms["alignment"] = distance(embedding, target_embedding)
            extra = extra + self.alignment_weight * terms["alignment"]
        return extra


@dataclass(frozen=True)
class DenoisingObjective:
    """DAE: MSE between x and decoder(encoder(x + n)), n ~ N(0, noise_sigma^2 I).

    The target rows' reconstruction is added the same way; the head and the alignment
    act on the clean embedding encoder(x), the one the SVC sees.
    """

    noise_sigma: float = 1.0
    reduction: str = "mean"
    shared: SharedTerms = SharedTerms()

    def __call__(
        self,
        network: LatentAutoencoder,
        x: torch.Tensor,
        labels: torch.Tensor | None,
        *,
        beta: float | None,
        generator: torch.Generator,
        target: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        rows = x if target is None else torch.cat([x, target])
        noise = standard_normal(rows.shape, generator=generator, device=rows.device)
        latent, _ = network.encode(rows + self.noise_sigma * noise)
        decoded = network.decode(latent)
        n_train = x.shape[0]
        reconstruction = reconstruction_loss(decoded[:n_train], x, reduction=self.reduction)
        terms = {"reconstruction": reconstruction}
        loss = reconstruction
        if target is not None:
            terms["target_reconstruction"] = reconstruction_loss(decoded[n_train:], target, reduction=self.reduction)
            loss = loss + terms["target_reconstruction"]
        if self.shared.head_weight > 0.0 or target is not None:
            clean, _ = network.encode(rows)
            target_clean = None if target is None else clean[n_train:]
            loss = loss + self.shared.add(network, terms, clean[:n_train], labels, target_clean)
        return {"loss": loss, **terms}


@dataclass(frozen=True)
class VariationalObjective:
    """VAE family: L_rec + beta * L_KL (+ gamma * L_clus on mu when gamma > 0).

    Target rows add their own L_rec + beta * L_KL; the head and the alignment act on mu.
    """

    reduction: str = "mean"
    gamma: float = 0.0
    shared: SharedTerms = SharedTerms()

    def __call__(
        self,
        network: LatentAutoencoder,
        x: torch.Tensor,
        labels: torch.Tensor | None,
        *,
        beta: float | None,
        generator: torch.Generator,
        target: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        rows = x if target is None else torch.cat([x, target])
        mu, logvar = network.encode(rows)
        if logvar is None:
            raise TypeError("VariationalObjective needs a variational network")
        eps = standard_normal(mu.shape, generator=generator, device=mu.device)
        decoded = network.decode(mu + torch.exp(0.5 * logvar) * eps)
        n_train = x.shape[0]
        weight = 1.0 if beta is None else beta
        reconstruction = reconstruction_loss(decoded[:n_train], x, reduction=self.reduction)
        kl = kl_divergence(mu[:n_train], logvar[:n_train])
        terms = {"reconstruction": reconstruction, "kl": kl}
        loss = reconstruction + weight * kl
        if self.gamma > 0.0:
            train_mu = mu[:n_train]
            clus = cluster_loss(train_mu, labels) if labels is not None else train_mu.sum() * 0.0
            terms["cluster"] = clus
            loss = loss + self.gamma * clus
        if target is not None:
            terms["target_reconstruction"] = reconstruction_loss(decoded[n_train:], target, reduction=self.reduction)
            terms["target_kl"] = kl_divergence(mu[n_train:], logvar[n_train:])
            loss = loss + terms["target_reconstruction"] + weight * terms["target_kl"]
        if self.shared.head_weight > 0.0 or target is not None:
            target_mu = None if target is None else mu[n_train:]
            loss = loss + self.shared.add(network, terms, mu[:n_train], labels, target_mu)
        return {"loss": loss, **terms}


def train_network(
    network: LatentAutoencoder,
    x: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    objective: Objective,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    generator: torch.Generator,
    beta_for_epoch: Callable[[int], float] | None = None,
    target: torch.Tensor | None = None,
) -> list[dict[str, float]]:
    """Train ``network`` in place with Adam on shuffled mini-batches; return the history.

    Each epoch draws a fresh permutation from ``generator``; the last batch may be
    smaller. With ``target`` (unlabelled rows of the corpus to transfer to), every step
    also draws as many target rows as the batch has (at most all of them, without
    replacement) from ``generator`` and hands them to the objective. The returned
    history holds one dict per epoch with ``epoch`` (1-based), ``beta`` when a schedule
    is given, and each term the objective reports, averaged over the epoch's batches.
    """
    optimizer = torch.optim.Adam(network.parameters(), lr=learning_rate)
    n_samples = x.shape[0]
    history: list[dict[str, float]] = []
    network.train()
    for epoch in range(1, epochs + 1):
        beta = None if beta_for_epoch is None else beta_for_epoch(epoch)
        order = torch.randperm(n_samples, generator=generator).to(x.device)
        sums: dict[str, float] = {}
        n_batches = 0
        for start in range(0, n_samples, batch_size):
            index = order[start : start + batch_size]
            batch_labels = None if labels is None else labels[index]
            target_batch = None
            if target is not None:
                picked = torch.randperm(target.shape[0], generator=generator)[: index.shape[0]]
                target_batch = target[picked.to(target.device)]
            terms = objective(network, x[index], batch_labels, beta=beta, generator=generator, target=target_batch)
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            optimizer.step()
            for name, value in terms.items():
                sums[name] = sums.get(name, 0.0) + float(value.detach())
            n_batches += 1
        record: dict[str, float] = {"epoch": epoch}
        if beta is not None:
            record["beta"] = beta
        record.update({name: total / n_batches for name, total in sums.items()})
        history.append(record)
    network.eval()
    return history
