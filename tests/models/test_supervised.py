"""Supervised latent models (dae_sup, vae_sup) and target-aware training of every latent model."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.svm import SVC
from sklearn.utils.estimator_checks import parametrize_with_checks

from crossemo.errors import ConfigError
from crossemo.evaluation.consistency import log_bhattacharyya
from crossemo.evaluation.metrics import balanced_accuracy
from crossemo.models import (
    DAE,
    MODELS,
    SUPERVISED_MODELS,
    VAE,
    DAESupervised,
    ModelInputError,
    VAEAnnealing,
    VAESemiSupervised,
    VAESupervised,
    load_model_file,
)
from crossemo.models.losses import balanced_class_weights
from crossemo.models.network import LatentAutoencoder
from crossemo.models.registry import SHARED_SETTINGS, estimator_from_state, get_method, model_names
from crossemo.models.supervised import HeadObjective, SoloObjective, lda_projection
from crossemo.models.training import DenoisingObjective, VariationalObjective

pytestmark = pytest.mark.usefixtures("one_thread")

LATENT_MODELS = [*MODELS.values(), *SUPERVISED_MODELS.values()]
CLASSES = np.array(["neutral", "sad", "happy", "angry"])


def _hidden_classes(n: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Classes in 3 columns, 2 shared factors behind 20 nuisance columns: reconstruction favours the factors."""
    rng = np.random.default_rng(seed)
    y = CLASSES[np.arange(n) % 4]
    centres = 1.5 * (np.eye(4, 3) - 0.25)
    informative = centres[np.arange(n) % 4] + 0.4 * rng.normal(size=(n, 3))
    loadings = np.random.default_rng(42).normal(size=(2, 20))  # the same nuisance structure in every draw
    nuisance = rng.normal(size=(n, 2)) @ loadings + 0.2 * rng.normal(size=(n, 20))
    X = np.hstack([informative, nuisance])
    return X / X.std(axis=0), y


def _clusters(n: int = 160, n_features: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = CLASSES[np.arange(n) % 4]
    return rng.normal(scale=2.0, size=(4, n_features))[np.arange(n) % 4] + rng.normal(size=(n, n_features)), y


def _svc_accuracy(model, X_train, y_train, X_test, y_test) -> float:
    svc = SVC(kernel="linear").fit(model.transform(X_train), y_train)
    return balanced_accuracy(y_test, svc.predict(model.transform(X_test)))


def _float32_row_order(estimator) -> dict[str, str]:
    # The float32 network's matmuls may round a row differently at another position
    # (one ulp, just beyond the check's rtol of 1e-7), depending on the trained weights.
    return {"check_methods_sample_order_invariance": "float32 rounding depends on row position"}


@parametrize_with_checks(
    [cls(epochs=2) for cls in SUPERVISED_MODELS.values()],
    expected_failed_checks=_float32_row_order,
    xfail_strict=False,
)
def test_scikit_learn_estimator_checks(estimator, check) -> None:
    check(estimator)


def test_registered_after_the_papers_four_with_their_needs() -> None:
    assert model_names()[:6] == ("dae", "vae", "vae_annealing", "vae_ss", "dae_sup", "vae_sup")
    for name in ("dae_sup", "vae_sup"):
        method = get_method(name)
        assert method.uses_labels and method.uses_unlabelled and method.has_latent and method.description
        assert "head_weight" in method.accepted_options()
        # Alignment is a study-wide [model] setting every latent model takes.
        assert {"alignment", "alignment_weight"} <= set(SHARED_SETTINGS) & set(inspect.signature(method.estimator).parameters)
    colours = [get_method(name).colour for name in model_names()]
    assert len(set(colours)) == len(colours)
    assert all(cls.accepts_target for cls in LATENT_MODELS)


def test_the_head_separates_classes_the_dae_latent_misses() -> None:
    X, y = _hidden_classes(seed=0)
    X_test, y_test = _hidden_classes(seed=1)
    settings = {"epochs": 30, "batch_size": 32, "seed": 0}
    plain = _svc_accuracy(DAE(**settings).fit(X), X, y, X_test, y_test)
    supervised = _svc_accuracy(DAESupervised(**settings, head_input="clean").fit(X, y), X, y, X_test, y_test)
    assert supervised > plain + 0.2, (plain, supervised)
    # The default head reads noisy input: N(0, 1) on every column blurs these 3 weak
    # informative columns, yet the head still finds the classes.
    noisy = _svc_accuracy(DAESupervised(**settings).fit(X, y), X, y, X_test, y_test)
    assert noisy > plain + 0.15, (plain, noisy)
    variational = _svc_accuracy(VAESupervised(**settings).fit(X, y), X, y, X_test, y_test)
    assert variational > plain + 0.2, (plain, variational)


@pytest.mark.parametrize("alignment", ["mmd", "coral"])
def test_target_aware_training_brings_a_shifted_target_closer(alignment) -> None:
    X, y = _clusters(seed=0)
    shifted, _ = _clusters(seed=1)
    shifted = 1.5 * shifted[:, ::-1] + 2.0  # another corpus: rescaled, columns swapped, offset
    settings = {"epochs": 30, "seed": 0, "alignment": alignment}
    for cls in (DAE, VAESupervised):
        alone = cls(**settings).fit(X, y)
        aware = cls(**settings, alignment_weight=5.0).fit(X, y, target=shifted)
        before = log_bhattacharyya(alone.transform(X), alone.transform(shifted))
        after = log_bhattacharyya(aware.transform(X), aware.transform(shifted))
        assert after < before - 0.5, (cls.__name__, before, after)
        assert "alignment" in aware.history_[-1] and "target_reconstruction" in aware.history_[-1]


@pytest.mark.parametrize("cls", LATENT_MODELS)
def test_same_seed_same_latent_and_alignment_params_idle_without_target(cls) -> None:
    X, y = _clusters()
    target = X[:40] + 1.0
    first = cls(epochs=3, seed=2).fit(X, y, target=target).transform(X)
    torch.manual_seed(99)  # the global generator must not matter
    assert np.array_equal(first, cls(epochs=3, seed=2).fit(X, y, target=target).transform(X))
    assert not np.array_equal(first, cls(epochs=3, seed=3).fit(X, y, target=target).transform(X))
    default = cls(epochs=3, seed=2).fit(X, y)
    idle = cls(epochs=3, seed=2, alignment="coral", alignment_weight=7.0).fit(X, y)
    assert np.array_equal(default.transform(X), idle.transform(X))
    assert default.history_ == idle.history_ and "alignment" not in default.history_[-1]


def test_without_target_the_paper_models_train_as_before() -> None:
    X, y = _clusters()
    # No head weight: the supervised models are their base models, head left aside.
    assert np.array_equal(DAESupervised(epochs=3, head_weight=0.0).fit(X, y).transform(X),
                          DAE(epochs=3).fit(X).transform(X))
    assert np.array_equal(VAESupervised(epochs=3, head_weight=0.0).fit(X, y).transform(X),
                          VAEAnnealing(epochs=3).fit(X).transform(X))
    # A target with alignment "none" still changes training (its rows are reconstructed).
    with_target = VAE(epochs=3, alignment="none").fit(X, target=X[:30] + 1.0)
    assert not np.array_equal(with_target.transform(X), VAE(epochs=3).fit(X).transform(X))
    assert "alignment" not in with_target.history_[-1] and "target_kl" in with_target.history_[-1]


@pytest.mark.parametrize("cls", list(SUPERVISED_MODELS.values()))
def test_save_and_load_round_trip_keeps_the_head(cls, tmp_path) -> None:
    X, y = _clusters()
    model = cls(epochs=3, latent_dim=3, hidden=(10, 5), alignment="coral").fit(X, y, target=X[:30] * 2)
    path = model.save(tmp_path / f"{cls.model_name}.safetensors")
    loaded = cls.load(path)
    assert np.array_equal(loaded.transform(X), model.transform(X))
    assert loaded.get_params() == model.get_params() and loaded.history_ == model.history_
    assert loaded.classes_.tolist() == sorted(set(y))
    head = model.network_.classifier_head.weight
    assert head.shape == (4, 3) and torch.equal(loaded.network_.classifier_head.weight, head)
    tensors, metadata = model.to_state()
    assert cls.state_shapes(metadata) == {name: tuple(t.shape) for name, t in tensors.items()}
    assert type(load_model_file(path)) is cls and type(estimator_from_state(tensors, metadata)) is cls


@pytest.mark.parametrize(
    ("cls", "params", "name"),
    [
        (DAE, {"alignment": "foo"}, "alignment must be one of"),
        (VAESemiSupervised, {"alignment": None}, "alignment must be one of"),
        (VAE, {"alignment_weight": -1}, "alignment_weight must be >= 0"),
        (DAESupervised, {"alignment_weight": float("inf")}, "alignment_weight must be a finite number"),
        (DAESupervised, {"head_weight": -1}, "head_weight must be >= 0"),
        (VAESupervised, {"head_weight": "1"}, "head_weight must be a finite number"),
        (DAESupervised, {"head_input": "sample"}, "head_input must be one of"),
        (VAESupervised, {"balanced_head": "yes"}, "balanced_head must be true or false"),
        (VAESupervised, {"noise_sigma": -0.5}, "noise_sigma must be >= 0"),
        (DAESupervised, {"head_mixup": -0.1}, "head_mixup must be >= 0"),
        (DAESupervised, {"input_lda": 1.5}, "input_lda must be an integer >= 0"),
        (VAESupervised, {"input_lda": True}, "input_lda must be an integer >= 0"),
        (DAESupervised, {"lda_shrinkage": 1.5}, "lda_shrinkage must be <= 1"),
    ],
)
def test_bad_params_fail_check_params_with_a_clear_error(cls, params, name) -> None:
    with pytest.raises(ConfigError, match=name):
        cls(**params).check_params()


def test_target_must_match_the_features() -> None:
    X, y = _clusters()
    with pytest.raises(ModelInputError, match="target has 4 features, X has 10"):
        DAE(epochs=1).fit(X, target=X[:, :4])
    with pytest.raises(ModelInputError, match="NaN"):
        DAE(epochs=1).fit(X, target=np.full((5, 10), np.nan))


@pytest.mark.parametrize("cls", list(SUPERVISED_MODELS.values()))
def test_unlabelled_rows_join_reconstruction_only(cls) -> None:
    X, y = _clusters()
    labels = y.astype(object)
    labels[::3] = None
    labels[1::7] = float("nan")
    model = cls(epochs=3).fit(X, labels)
    assert model.classes_.tolist() == ["angry", "happy", "neutral", "sad"]
    assert all(record["classification"] > 0 for record in model.history_)
    assert not np.array_equal(model.transform(X), cls(epochs=3).fit(X, y).transform(X))
    with pytest.warns(UserWarning, match="cross-entropy is 0"):
        unlabelled = cls(epochs=3).fit(X, [None] * len(X))
    assert unlabelled.network_.classifier_head is None and unlabelled.transform(X).shape == (len(X), 2)


@pytest.mark.parametrize("cls", list(SUPERVISED_MODELS.values()))
def test_the_no_labels_warning_points_at_the_callers_fit(cls) -> None:
    X, _ = _clusters()
    with pytest.warns(UserWarning, match="cross-entropy is 0") as caught:
        cls(epochs=1).fit(X, [None] * len(X))
    assert {Path(record.filename).name for record in caught if "cross-entropy" in str(record.message)} == {
        Path(__file__).name
    }


def test_balanced_class_weights_equalize_the_classes_contributions() -> None:
    codes = np.array([0, 0, 0, 0, 0, 0, 1, 1, -1, -1])
    weights = balanced_class_weights(codes, 3)
    labelled = codes[codes >= 0]
    # Every present class carries the same total weight; an absent class none.
    assert weights[0] * 6 == pytest.approx(weights[1] * 2) and weights[2] == 0.0
    assert weights[labelled].sum() == pytest.approx(len(labelled))


@pytest.mark.parametrize("variational", [False, True])
def test_head_objective_weighs_classes_and_reads_the_chosen_embedding(variational) -> None:
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(12, 6)).astype(np.float32))
    labels = torch.tensor([0, 1, 1, 1, 1, 1, -1, 0, 1, 1, 1, -1])
    network = LatentAutoencoder(6, 2, hidden=(4,), variational=variational,
                                generator=torch.Generator().manual_seed(0), n_classes=2)
    base = VariationalObjective() if variational else DenoisingObjective(noise_sigma=0.5)
    weights = torch.tensor([3.0, 0.5])

    def head_term(objective):
        return objective(network, x, labels, beta=0.1, generator=torch.Generator().manual_seed(1))

    clean = head_term(HeadObjective(base, head_weight=2.0, class_weights=weights))
    embedding, _ = network.encode(x[labels >= 0])
    expected = torch.nn.functional.cross_entropy(network.classify(embedding), labels[labels >= 0], weight=weights)
    assert float(clean["classification"]) == pytest.approx(float(expected), rel=1e-6)
    own = head_term(base)["loss"]
    assert float(clean["loss"]) == pytest.approx(float(own) + 2.0 * float(expected), rel=1e-5)
    unweighted = head_term(HeadObjective(base, head_weight=2.0))["classification"]
    assert float(unweighted) != pytest.approx(float(expected), rel=1e-3)
    noisy = head_term(HeadObjective(base, head_weight=2.0, noisy=True, noise_sigma=0.5))["classification"]
    assert float(noisy) != pytest.approx(float(unweighted), rel=1e-4)
    if not variational:
        silent = head_term(HeadObjective(base, head_weight=2.0, noisy=True, noise_sigma=0.0))["classification"]
        assert float(silent) == pytest.approx(float(unweighted), rel=1e-6)


def test_dae_sup_head_reads_the_noisy_embedding_by_default() -> None:
    X, y = _clusters()
    assert DAESupervised().head_input == "noisy" and VAESupervised().head_input == "clean"
    noisy = DAESupervised(epochs=3).fit(X, y)
    clean = DAESupervised(epochs=3, head_input="clean").fit(X, y)
    assert not np.array_equal(noisy.transform(X), clean.transform(X))
    balanced = DAESupervised(epochs=3, balanced_head=True).fit(X[:130], y[:130])
    assert not np.array_equal(balanced.transform(X), DAESupervised(epochs=3).fit(X[:130], y[:130]).transform(X))


def test_head_mixup_mixes_rows_and_labels_and_trains_per_fit() -> None:
    from crossemo.models.batched_objectives import batched_objective

    X, y = _clusters()
    plain = DAESupervised(epochs=3).fit(X, y)
    mixed = DAESupervised(epochs=3, head_mixup=0.4).fit(X, y)
    assert not np.array_equal(plain.transform(X), mixed.transform(X))
    assert np.array_equal(mixed.transform(X), DAESupervised(epochs=3, head_mixup=0.4).fit(X, y).transform(X))
    # The batched path knows no mixup: the objective comes wrapped and batched training declines it.
    objective = mixed._objective()
    assert isinstance(objective, SoloObjective) and objective.inner.mixup == pytest.approx(0.4)
    assert batched_objective(objective, with_target=False) is None
    assert isinstance(plain._objective(), HeadObjective)
    # A soft-label cross-entropy: the head term of mixed rows differs from the hard one and stays finite.
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(12, 6)).astype(np.float32))
    labels = torch.tensor([0, 1, 1, 0, 1, 0, -1, 0, 1, 1, 0, -1])
    network = LatentAutoencoder(6, 2, hidden=(4,), generator=torch.Generator().manual_seed(0), n_classes=2)

    def head_term(mixup):
        objective = HeadObjective(DenoisingObjective(noise_sigma=0.0), head_weight=1.0, mixup=mixup)
        return float(objective(network, x, labels, beta=None, generator=torch.Generator().manual_seed(1))["classification"])

    assert np.isfinite(head_term(0.4)) and head_term(0.4) != pytest.approx(head_term(0.0), rel=1e-4)


def test_input_lda_projects_the_input_and_survives_saving(tmp_path) -> None:
    X, y = _hidden_classes()
    model = DAESupervised(epochs=3, input_lda=3, noise_sigma=0.3).fit(X, y)
    assert model.n_features_in_ == X.shape[1] and model.input_projection_.shape == (X.shape[1], 3)
    assert model.network_.encoder_body[0].in_features == 3  # the network reads the projection
    assert model.transform(X).shape == (len(X), 2)
    # The projection is scikit-learn's shrinkage LDA (eigen solver) cut to classes - 1 columns.
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    _, codes = np.unique(y, return_inverse=True)
    reference = LinearDiscriminantAnalysis(solver="eigen", shrinkage=0.6).fit(X, codes).transform(X)
    assert np.allclose(X @ lda_projection(X, codes, 5, 0.6).astype(np.float64), reference, atol=1e-4)
    # Saved and loaded, the same latent; the state declares the projection's shape.
    loaded = DAESupervised.load(model.save(tmp_path / "lda.safetensors"))
    assert np.array_equal(loaded.transform(X), model.transform(X))
    tensors, metadata = model.to_state()
    assert DAESupervised.state_shapes(metadata) == {name: tuple(t.shape) for name, t in tensors.items()}
    assert np.array_equal(estimator_from_state(tensors, metadata).transform(X), model.transform(X))
    # Off by default: no projection, the state as before.
    plain = DAESupervised(epochs=3).fit(X, y)
    assert plain.input_projection_ is None and "input_projection" not in plain.to_state()[0]
    assert "projected_width" not in plain.to_state()[1]
    # A target is projected too; labels of one class cannot fit an LDA.
    VAESupervised(epochs=2, input_lda=2).fit(X, y, target=X[:40] + 0.5)
    with pytest.raises(ModelInputError, match="two classes"):
        DAESupervised(epochs=2, input_lda=3).fit(X, np.full(len(X), "sad"))


def test_input_lda_and_mixup_fit_alike_batched_and_alone() -> None:
    from crossemo.models.batched import fit_batched

    X, y = _hidden_classes()
    settings = [{"input_lda": 3, "noise_sigma": 0.3}, {"input_lda": 2, "head_mixup": 0.4}, {"input_lda": 3}]
    alone = [DAESupervised(epochs=3, **params).fit(X, y).transform(X) for params in settings]
    batched = fit_batched([DAESupervised(epochs=3, **params) for params in settings], [(X, y, None)] * len(settings))
    for model, expected in zip(batched, alone, strict=True):
        assert model.n_features_in_ == X.shape[1]
        assert np.allclose(model.transform(X), expected, atol=1e-5)
