"""Loss terms, the annealing schedule and the network shape (SPEC §2)."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch
from torch import nn

from crossemo.models import beta_schedule, cluster_loss, kl_divergence, reconstruction_loss
from crossemo.models.network import LatentAutoencoder

# -- beta schedule ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("epoch", "beta"),
    [(1, 0.0), (2, 0.02), (13, 0.24), (14, 0.25), (25, 0.25), (26, 0.0), (27, 0.02)],
)
def test_beta_schedule_spec_check_values(epoch: int, beta: float) -> None:
    assert beta_schedule(epoch) == pytest.approx(beta, abs=1e-12)


def test_beta_schedule_single_linear_cycle() -> None:
    # M = 1, R = 1: beta rises linearly over the whole run and never saturates.
    betas = [beta_schedule(e, epochs=10, cycles=1, ratio=1.0, beta_max=1.0) for e in range(1, 11)]
    assert betas == pytest.approx([(e - 1) / 10 for e in range(1, 11)])


def test_beta_schedule_short_ramp_restarts_each_cycle() -> None:
    # T = 12, M = 3: cycles of 4 epochs; R = 0.25 reaches beta_max after one epoch.
    betas = [beta_schedule(e, epochs=12, cycles=3, ratio=0.25, beta_max=2.0) for e in range(1, 13)]
    assert betas == pytest.approx([0.0, 2.0, 2.0, 2.0] * 3)


def test_beta_schedule_uneven_cycle_length_follows_real_valued_formula() -> None:
    epochs, cycles, ratio, beta_max = 7, 3, 0.5, 0.25
    period = Fraction(epochs, cycles)
    for epoch in range(1, 15):
        tau = ((epoch - 1) % period) / period
        expected = beta_max / ratio * float(tau) if tau <= ratio else beta_max
        assert beta_schedule(
            epoch, epochs=epochs, cycles=cycles, ratio=ratio, beta_max=beta_max
        ) == pytest.approx(expected)
    # A cycle restarts exactly where (e - 1) is a multiple of 7/3: only e = 1, 8, 15.
    zeros = [e for e in range(1, 16) if beta_schedule(e, epochs=7, cycles=3) == 0.0]
    assert zeros == [1, 8, 15]


@pytest.mark.parametrize(
    "kwargs", [{"epoch": 0}, {"epoch": 1, "ratio": 0.0}, {"epoch": 1, "cycles": 0}]
)
def test_beta_schedule_rejects_invalid_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        beta_schedule(**kwargs)


# -- KL divergence and reconstruction ------------------------------------------------


def test_kl_divergence_matches_closed_form_of_torch_distributions() -> None:
    generator = torch.Generator().manual_seed(3)
    mu = torch.randn(7, 3, generator=generator)
    logvar = torch.randn(7, 3, generator=generator)
    posterior = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    prior = torch.distributions.Normal(torch.zeros(7, 3), torch.ones(7, 3))
    expected = torch.distributions.kl_divergence(posterior, prior).sum(dim=1).mean()
    assert float(kl_divergence(mu, logvar)) == pytest.approx(float(expected), rel=1e-5)


def test_kl_divergence_known_value() -> None:
    # One sample, two dims: mu = (1, 0), variance (1, 2).
    mu = torch.tensor([[1.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(2.0)]])
    expected = 0.5 * 1.0 + 0.5 * (2.0 - 1.0 - math.log(2.0))
    assert float(kl_divergence(mu, logvar)) == pytest.approx(expected, rel=1e-6)


def test_reconstruction_reductions_differ_by_the_feature_count() -> None:
    generator = torch.Generator().manual_seed(0)
    x, x_hat = torch.randn(5, 88, generator=generator), torch.randn(5, 88, generator=generator)
    mean = float(reconstruction_loss(x_hat, x))
    assert mean == pytest.approx(float(((x_hat - x) ** 2).mean()), rel=1e-6)
    assert float(reconstruction_loss(x_hat, x, reduction="sum")) == pytest.approx(88 * mean, rel=1e-5)
    with pytest.raises(ValueError, match="reduction"):
        reconstruction_loss(x_hat, x, reduction="median")


# -- cluster loss --------------------------------------------------------------------


def _two_class_batch() -> tuple[torch.Tensor, torch.Tensor]:
    # Class 0 at (0,0) and (2,0): centroid (1,0), distances 1 and 1.
    # Class 1 at (0,4) and (0,6): centroid (0,5), distances 1 and 1.
    z = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0], [0.0, 6.0]])
    return z, torch.tensor([0, 0, 1, 1])


def test_cluster_loss_hand_computed_two_classes() -> None:
    z, labels = _two_class_batch()
    assert float(cluster_loss(z, labels)) == pytest.approx(4.0 / math.sqrt(26.0), rel=1e-6)


def test_cluster_loss_three_classes_sums_all_pairs() -> None:
    z = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0], [1.0, 0.0]])
    labels = torch.tensor([0, 1, 2, 0])  # class 0 centroid (0.5, 0), two rows at 0.5
    centroids = [(0.5, 0.0), (3.0, 0.0), (0.0, 4.0)]
    inter = sum(math.dist(a, b) for i, a in enumerate(centroids) for b in centroids[i + 1 :])
    assert float(cluster_loss(z, labels)) == pytest.approx(1.0 / inter, rel=1e-6)


def test_cluster_loss_ignores_unlabelled_rows() -> None:
    z, labels = _two_class_batch()
    extra = torch.tensor([[50.0, -3.0], [-7.0, 9.0]])
    with_unlabelled = cluster_loss(torch.cat([z, extra]), torch.cat([labels, torch.tensor([-1, -1])]))
    assert float(with_unlabelled) == pytest.approx(float(cluster_loss(z, labels)))


def test_cluster_loss_is_zero_with_fewer_than_two_classes() -> None:
    z, labels = _two_class_batch()
    assert float(cluster_loss(z[:2], labels[:2])) == 0.0
    assert float(cluster_loss(z, torch.full((4,), -1))) == 0.0
    one_class_and_unlabelled = torch.tensor([0, 0, -1, -1])
    assert float(cluster_loss(z, one_class_and_unlabelled)) == 0.0


def test_cluster_loss_gradients_are_finite_for_singletons_and_coinciding_centroids() -> None:
    z = torch.tensor([[1.0, 1.0], [1.0, 1.0], [3.0, 0.0]], requires_grad=True)
    loss = cluster_loss(z, torch.tensor([0, 1, 2]))  # singleton classes, two centroids equal
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()
    coincide = torch.tensor([[1.0, 1.0], [1.0, 1.0]], requires_grad=True)
    assert torch.isfinite(cluster_loss(coincide, torch.tensor([0, 1])))


def test_cluster_loss_is_scale_invariant() -> None:
    z, labels = _two_class_batch()
    assert float(cluster_loss(10.0 * z, labels)) == pytest.approx(float(cluster_loss(z, labels)))


# -- network -------------------------------------------------------------------------


def _linear_shapes(module: nn.Module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in module.modules() if isinstance(m, nn.Linear)]


def test_network_layers_follow_the_spec() -> None:
    network = LatentAutoencoder(88, 2)
    assert _linear_shapes(network.encoder_body) == [(88, 40), (40, 20), (20, 10)]
    assert _linear_shapes(network.latent_head) == [(10, 2)]
    assert _linear_shapes(network.decoder_body) == [(2, 10), (10, 20), (20, 40)]
    assert _linear_shapes(network.output_layer) == [(40, 88)]
    variational = LatentAutoencoder(88, 3, hidden=(16, 8), variational=True)
    assert _linear_shapes(variational.mu_head) == _linear_shapes(variational.logvar_head) == [(8, 3)]
    mu, logvar = variational.encode(torch.zeros(5, 88))
    assert mu.shape == logvar.shape == (5, 3)
    assert variational.decode(mu).shape == (5, 88)


def test_network_hidden_layers_use_relu_and_latent_is_linear() -> None:
    network = LatentAutoencoder(6, 2, hidden=(4,))
    with torch.no_grad():
        latent, logvar = network.encode(torch.randn(200, 6, generator=torch.Generator().manual_seed(1)))
    assert logvar is None
    assert (latent < 0).any(), "a ReLU on the latent would make it non-negative"
    assert isinstance(network.encoder_body[-1], nn.ReLU)


def test_network_initialization_depends_only_on_the_generator() -> None:
    first = LatentAutoencoder(10, 2, generator=torch.Generator().manual_seed(5))
    torch.randn(3)  # move the global generator in between
    second = LatentAutoencoder(10, 2, generator=torch.Generator().manual_seed(5))
    other = LatentAutoencoder(10, 2, generator=torch.Generator().manual_seed(6))
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(a, b), name
    assert not all(torch.equal(a, c) for a, c in zip(first.state_dict().values(), other.state_dict().values()))
