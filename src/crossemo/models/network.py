"""The fully connected autoencoder shared by all four models (SPEC §2).

Encoder ``n_features -> 40 -> 20 -> 10 -> d`` with ReLU after every hidden layer and a
linear latent; the decoder mirrors it, ``d -> 10 -> 20 -> 40 -> n_features``, with ReLU
after the hidden layers and a linear output. The variational encoder ends in two
linear heads, mu and log-variance, each ``10 -> d``.  The supervised models add a linear
classifier head on the latent (mu for the variational encoder), ``d -> n_classes``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


def _mlp(widths: Sequence[int]) -> nn.Sequential:
    """Linear layers through ``widths`` with a ReLU after each one (the hidden stack)."""
    layers: list[nn.Module] = []
    for width_in, width_out in zip(widths[:-1], widths[1:], strict=True):
        layers += [nn.Linear(width_in, width_out), nn.ReLU()]
    return nn.Sequential(*layers)


class LatentAutoencoder(nn.Module):
    """Mirrored fully connected autoencoder with a deterministic or variational latent.

    Parameters
    ----------
    n_features:
        Input (and reconstruction) width, 88 for eGeMAPS.
    latent_dim:
        Width d of the latent space.
    hidden:
        Encoder hidden widths from input to latent, default ``(40, 20, 10)``; the
        decoder uses them in reverse order.
    variational:
        End the encoder in two heads (mu, log-variance) instead of one latent layer.
    generator:
        Source of the initial weights, so initialization does not touch torch's
        global random state.
    n_classes:
        Add a linear classifier head ``latent_dim -> n_classes`` on the latent.
    head_generator:
        Source of the head's initial weights (default ``generator``, after every other
        weight); a generator of its own leaves ``generator``'s stream as without a head.
    """

    def __init__(
        self,
        n_features: int,
        latent_dim: int,
        *,
        hidden: Sequence[int] = (40, 20, 10),
        variational: bool = False,
        generator: torch.Generator | None = None,
        n_classes: int | None = None,
        head_generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        hidden = tuple(int(width) for width in hidden)
        self.variational = variational
        # nn.Linear initializes itself from the global generator; fork it so building
        # a network leaves the caller's random state alone, then re-draw from ours.
        with torch.random.fork_rng(devices=[]):
            self.encoder_body = _mlp((n_features, *hidden))
            last = hidden[-1] if hidden else n_features
            if variational:
                self.mu_head = nn.Linear(last, latent_dim)
                self.logvar_head = nn.Linear(last, latent_dim)
            else:
                self.latent_head = nn.Linear(last, latent_dim)
            # Decoder: d -> reversed hidden (ReLU after each) -> n_features (linear).
            self.decoder_body = _mlp((latent_dim, *reversed(hidden)))
            self.output_layer = nn.Linear(hidden[0] if hidden else latent_dim, n_features)
            self.classifier_head = None if n_classes is None else nn.Linear(latent_dim, n_classes)
        self.reset_parameters(generator=generator, head_generator=head_generator)

    @staticmethod
    def state_shapes(
        n_features: int,
        latent_dim: int,
        *,
        hidden: Sequence[int] = (40, 20, 10),
        variational: bool = False,
        n_classes: int | None = None,
    ) -> dict[str, tuple[int, ...]]:
        """Names and shapes of the ``state_dict`` of a network built with these arguments.

        >>> LatentAutoencoder.state_shapes(88, 2, hidden=(40,))["encoder_body.0.weight"]
        (40, 88)
        """
        shapes: dict[str, tuple[int, ...]] = {}

        def linear(prefix: str, width_in: int, width_out: int) -> None:
            shapes[f"{prefix}.weight"] = (width_out, width_in)
            shapes[f"{prefix}.bias"] = (width_out,)

        encoder = (n_features, *hidden)
        for position, (width_in, width_out) in enumerate(zip(encoder[:-1], encoder[1:])):
            linear(f"encoder_body.{2 * position}", width_in, width_out)  # ReLUs sit at the odd indices
        last = encoder[-1]
        for head in ("mu_head", "logvar_head") if variational else ("latent_head",):
            linear(head, last, latent_dim)
        decoder = (latent_dim, *reversed(tuple(hidden)))
        for position, (width_in, width_out) in enumerate(zip(decoder[:-1], decoder[1:])):
            linear(f"decoder_body.{2 * position}", width_in, width_out)
        linear("output_layer", decoder[-1], n_features)
        if n_classes is not None:
            linear("classifier_head", latent_dim, n_classes)
        return shapes

    def reset_parameters(
        self, *, generator: torch.Generator | None = None, head_generator: torch.Generator | None = None
    ) -> None:
        """Re-draw every weight with torch's default ``nn.Linear`` scheme from ``generator``.

        The classifier head's come last, from ``head_generator`` when one is given.
        """
        for module in self.modules():
            if isinstance(module, nn.Linear):
                if module is self.classifier_head and head_generator is not None:
                    generator = head_generator
                nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
                bound = 1.0 / math.sqrt(module.in_features)
                nn.init.uniform_(module.bias, -bound, bound, generator=generator)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Return ``(latent, None)``, or ``(mu, logvar)`` for the variational encoder."""
        hidden = self.encoder_body(x)
        if self.variational:
            return self.mu_head(hidden), self.logvar_head(hidden)
        return self.latent_head(hidden), None

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstruct the input features from latent codes ``z``."""
        return self.output_layer(self.decoder_body(z))

    def classify(self, latent: torch.Tensor) -> torch.Tensor:
        """Class logits of latent codes (the embedding: mu for the variational encoder)."""
        if self.classifier_head is None:
            raise TypeError("this network has no classifier head")
        return self.classifier_head(latent)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction through the latent (mu for the variational model, no sampling)."""
        latent, _ = self.encode(x)
        return self.decode(latent)
