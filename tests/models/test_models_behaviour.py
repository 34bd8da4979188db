"""What the paper reports about the models, on a synthetic 88-feature set.

Four classes sit at the corners of a square in a 2-D subspace of the 88 features,
hidden in isotropic noise on every feature; the features are standardized, as the
models expect.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from crossemo.models import DAE, VAE, VAEAnnealing, VAESemiSupervised

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def four_classes() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train and test halves of 400 samples, 100 per class, standardized on train."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 100)
    corners = 2.0 * np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]])
    subspace = np.linalg.qr(rng.normal(size=(88, 2)))[0].T * np.sqrt(88)
    signal = corners[y] + 0.5 * rng.normal(size=(len(y), 2))
    X = signal @ subspace + rng.normal(size=(len(y), 88))
    train, test = np.arange(len(y)) % 2 == 0, np.arange(len(y)) % 2 == 1
    scaler = StandardScaler().fit(X[train])
    return scaler.transform(X[train]), y[train], scaler.transform(X[test]), y[test]


def _latent_accuracy(model, data) -> float:
    X_train, y_train, X_test, y_test = data
    model.fit(X_train, y_train)
    svc = SVC(kernel="linear").fit(model.transform(X_train), y_train)
    return balanced_accuracy_score(y_test, svc.predict(model.transform(X_test)))


def test_the_synthetic_classes_are_linearly_separable(four_classes) -> None:
    X_train, y_train, X_test, y_test = four_classes
    svc = SVC(kernel="linear").fit(X_train, y_train)
    assert balanced_accuracy_score(y_test, svc.predict(X_test)) > 0.95


@pytest.mark.parametrize(
    "model",
    # Under the default "mean" reconstruction the VAEs' KL term wins (see the collapse
    # test), so the summed reconstruction shows their loop learning to reconstruct.
    [DAE(epochs=20), VAE(epochs=20, reconstruction="sum"), VAEAnnealing(epochs=20, reconstruction="sum")],
    ids=["dae", "vae-sum", "vae_annealing-sum"],
)
def test_training_lowers_the_reconstruction_loss(model, four_classes) -> None:
    history = model.fit(four_classes[0]).history_
    assert history[-1]["reconstruction"] < 0.8 * history[0]["reconstruction"]


def test_vae_vanilla_posterior_collapses_under_default_scaling(four_classes) -> None:
    model = VAE().fit(four_classes[0])
    assert model.history_[-1]["kl"] < 0.05
    assert model.history_[0]["kl"] > 2 * model.history_[-1]["kl"]


def test_vae_ss_latent_separates_classes_far_better_than_vae_vanilla(four_classes) -> None:
    vanilla = _latent_accuracy(VAE(), four_classes)
    semi_supervised = _latent_accuracy(VAESemiSupervised(), four_classes)
    assert vanilla < 0.45  # chance is 0.25
    assert semi_supervised > 0.8
    assert semi_supervised > vanilla + 0.3


def test_dae_latent_is_discriminative(four_classes) -> None:
    assert _latent_accuracy(DAE(), four_classes) > 0.8
