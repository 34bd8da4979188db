"""The one training loop shared by all four models, and the per-batch objectives.

Every random draw (shuffling, input noise, reparameterization noise) comes from one
``torch.Generator`` passed in, so training is reproducible without touching torch's
global random state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch

from crossemo.models.losses import cluster_loss, kl_divergence, reconstruction_loss
from crossemo.models.network import LatentAutoencoder


def standard_normal(
    shape: torch.Size | tuple[int, ...], *, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """N(0, 1) noise drawn on the CPU generator (reproducible on any device), then moved."""
    return torch.randn(shape, generator=generator).to(device)


class Objective(Protocol):
    """Loss of one mini-batch: a dict with ``"loss"`` (optimized) and its named terms."""

    def __call__(
        self,
        network: LatentAutoencoder,
        x: torch.Tensor,
        labels: torch.Tensor | None,
        *,
        beta: float | None,
        generator: torch.Generator,
    ) -> dict[str, torch.Tensor]: ...


@dataclass(frozen=True)
class DenoisingObjective:
    """DAE: MSE between x and decoder(encoder(x + n)), n ~ N(0, noise_sigma^2 I)."""

    noise_sigma: float = 1.0
    reduction: str = "mean"

    def __call__(
        self,
        network: LatentAutoencoder,
        x: torch.Tensor,
        labels: torch.Tensor | None,
        *,
        beta: float | None,
        generator: torch.Generator,
    ) -> dict[str, torch.Tensor]:
        noise = standard_normal(x.shape, generator=generator, device=x.device)
        latent, _ = network.encode(x + self.noise_sigma * noise)
        reconstruction = reconstruction_loss(
            network.decode(latent), x, reduction=self.reduction
        )
        return {"loss": reconstruction, "reconstruction": reconstruction}


@dataclass(frozen=True)
class VariationalObjective:
    """VAE family: L_rec + beta * L_KL (+ gamma * L_clus on mu when gamma > 0)."""

    reduction: str = "mean"
    gamma: float = 0.0

    def __call__(
        self,
        network: LatentAutoencoder,
        x: torch.Tensor,
        labels: torch.Tensor | None,
        *,
        beta: float | None,
        generator: torch.Generator,
    ) -> dict[str, torch.Tensor]:
        mu, logvar = network.encode(x)
        if logvar is None:
            raise TypeError("VariationalObjective needs a variational network")
        eps = standard_normal(mu.shape, generator=generator, device=mu.device)
        z = mu + torch.exp(0.5 * logvar) * eps
        reconstruction = reconstruction_loss(network.decode(z), x, reduction=self.reduction)
        kl = kl_divergence(mu, logvar)
        weight = 1.0 if beta is None else beta
        terms = {"reconstruction": reconstruction, "kl": kl}
        loss = reconstruction + weight * kl
        if self.gamma > 0.0:
            clus = cluster_loss(mu, labels) if labels is not None else mu.sum() * 0.0
            terms["cluster"] = clus
            loss = loss + self.gamma * clus
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
) -> list[dict[str, float]]:
    """Train ``network`` in place with Adam on shuffled mini-batches; return the history.

    Each epoch draws a fresh permutation from ``generator``; the last batch may be
    smaller. The returned history holds one dict per epoch with ``epoch`` (1-based),
    ``beta`` when a schedule is given, and each term the objective reports, averaged
    over the epoch's batches.
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
            terms = objective(network, x[index], batch_labels, beta=beta, generator=generator)
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
