"""The scikit-learn contract of the four latent models, determinism, labels, saving."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.utils.estimator_checks import parametrize_with_checks

from crossemo.errors import BundleError, ConfigError, CrossemoError
from crossemo.models import (
    DAE,
    MODELS,
    VAE,
    ModelInputError,
    VAEAnnealing,
    VAESemiSupervised,
    load_model_file,
)

FAST = {"epochs": 3}


pytestmark = pytest.mark.usefixtures("one_thread")


def _data(n: int = 120, n_features: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.array(["neutral", "sad", "happy", "angry"])[np.arange(n) % 4]
    means = rng.normal(scale=2.0, size=(4, n_features))
    X = means[np.arange(n) % 4] + rng.normal(size=(n, n_features))
    return X, y


@parametrize_with_checks([cls(epochs=2) for cls in MODELS.values()])
def test_scikit_learn_estimator_checks(estimator, check) -> None:
    check(estimator)


def test_registry_names() -> None:
    assert dict(MODELS) == {
        "dae": DAE,
        "vae": VAE,
        "vae_annealing": VAEAnnealing,
        "vae_ss": VAESemiSupervised,
    }


@pytest.mark.parametrize("cls", list(MODELS.values()))
def test_latent_has_configured_dimension_and_history(cls) -> None:
    X, y = _data()
    model = cls(latent_dim=3, hidden=(8, 4), epochs=4)
    assert model.fit(X, y) is model
    latent = model.transform(X)
    assert latent.shape == (len(X), 3) and latent.dtype == np.float64
    assert np.isfinite(latent).all()
    assert model.n_features_in_ == X.shape[1]
    assert [record["epoch"] for record in model.history_] == [1, 2, 3, 4]
    assert list(model.get_feature_names_out()) == [f"{cls.__name__.lower()}{i}" for i in range(3)]


def test_history_records_the_terms_of_each_model() -> None:
    X, y = _data()
    keys = {name: set(cls(**FAST).fit(X, y).history_[0]) for name, cls in MODELS.items()}
    assert keys["dae"] == {"epoch", "loss", "reconstruction"}
    assert keys["vae"] == keys["vae_annealing"] == {"epoch", "beta", "loss", "reconstruction", "kl"}
    assert keys["vae_ss"] == keys["vae"] | {"cluster"}
    annealed = VAEAnnealing(epochs=6, cycles=2).fit(X).history_
    assert [r["beta"] for r in annealed] == pytest.approx([0.0, 1 / 6, 0.25, 0.0, 1 / 6, 0.25])
    assert all(r["beta"] == 1.0 for r in VAE(**FAST).fit(X).history_)


@pytest.mark.parametrize("cls", list(MODELS.values()))
def test_clone_keeps_parameters_and_drops_learned_state(cls) -> None:
    model = cls(latent_dim=3, hidden=(16, 8), epochs=2, seed=7).fit(*_data())
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    assert not hasattr(copy, "network_")
    copy.set_params(latent_dim=4)
    assert copy.latent_dim == 4 and model.latent_dim == 3


@pytest.mark.parametrize("cls", list(MODELS.values()))
def test_composes_in_a_pipeline_with_string_labels(cls) -> None:
    X, y = _data()
    pipeline = make_pipeline(StandardScaler(), cls(**FAST), SVC(kernel="linear"))
    predictions = pipeline.fit(X, y).predict(X)
    assert set(predictions) <= set(y)


@pytest.mark.parametrize("cls", list(MODELS.values()))
def test_same_seed_gives_bitwise_identical_latent(cls) -> None:
    X, y = _data()
    first = cls(epochs=5, seed=3).fit(X, y).transform(X)
    torch.manual_seed(123)  # the global generator must not matter
    second = cls(epochs=5, seed=3).fit(X, y).transform(X)
    other = cls(epochs=5, seed=4).fit(X, y).transform(X)
    assert np.array_equal(first, second)
    assert not np.array_equal(first, other)


def test_fit_leaves_torch_global_random_state_alone() -> None:
    X, y = _data()
    before = torch.get_rng_state()
    VAESemiSupervised(**FAST).fit(X, y).transform(X)
    DAE(**FAST, eval_noise=True).fit(X).transform(X)
    assert torch.equal(before, torch.get_rng_state())


def test_vae_ss_accepts_strings_with_none_and_nan_as_missing() -> None:
    X, y = _data()
    labels = y.astype(object)
    labels[::3] = None
    labels[1::5] = float("nan")
    model = VAESemiSupervised(**FAST).fit(X, labels)
    assert model.classes_.tolist() == ["angry", "happy", "neutral", "sad"]
    assert all(record["cluster"] > 0 for record in model.history_)


def test_vae_ss_integer_labels_with_minus_one_and_float_nan() -> None:
    X, _ = _data()
    codes = np.arange(len(X)) % 3
    with_minus_one = np.where(np.arange(len(X)) % 4 == 0, -1, codes)
    assert VAESemiSupervised(**FAST).fit(X, with_minus_one).classes_.tolist() == [0, 1, 2]
    with_nan = np.where(np.arange(len(X)) % 4 == 0, np.nan, codes.astype(float))
    assert VAESemiSupervised(**FAST).fit(X, with_nan).classes_.tolist() == [0.0, 1.0, 2.0]


def test_vae_ss_string_labels_with_none_train_like_codes_with_minus_one() -> None:
    X, y = _data()
    labels = y.astype(object)
    labels[::2] = None
    codes = np.searchsorted(np.unique(y), y)
    codes[::2] = -1
    from_strings = VAESemiSupervised(**FAST).fit(X, labels).transform(X)
    assert np.array_equal(from_strings, VAESemiSupervised(**FAST).fit(X, codes).transform(X))
    fully_labelled = VAESemiSupervised(**FAST).fit(X, y).transform(X)
    assert not np.array_equal(from_strings, fully_labelled)


def test_vae_ss_without_labels_trains_exactly_like_vae_annealing() -> None:
    X, _ = _data()
    with pytest.warns(UserWarning):
        unlabelled = VAESemiSupervised(**FAST).fit(X, [None] * len(X)).transform(X)
    assert np.array_equal(unlabelled, VAEAnnealing(**FAST).fit(X).transform(X))


def test_vae_ss_without_labels_warns_and_trains_with_zero_cluster_loss() -> None:
    X, _ = _data()
    with pytest.warns(UserWarning, match="cluster loss is 0"):
        model = VAESemiSupervised(**FAST).fit(X)
    assert all(record["cluster"] == 0.0 for record in model.history_)
    with pytest.warns(UserWarning):
        VAESemiSupervised(**FAST).fit(X, [None] * len(X))


def test_other_models_ignore_y() -> None:
    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fitted = VAEAnnealing(**FAST).fit(X, y).transform(X)
    assert np.array_equal(fitted, VAEAnnealing(**FAST).fit(X).transform(X))


def test_dae_embeds_clean_input_unless_eval_noise() -> None:
    X, _ = _data()
    clean = DAE(**FAST).fit(X)
    noisy = DAE(**FAST, eval_noise=True).fit(X)
    assert np.array_equal(clean.network_.state_dict()["output_layer.weight"],
                          noisy.network_.state_dict()["output_layer.weight"])
    with torch.no_grad():
        expected = clean.network_.encode(torch.from_numpy(X.astype(np.float32)))[0].numpy()
    assert np.array_equal(clean.transform(X), expected.astype(np.float64))
    assert not np.array_equal(noisy.transform(X), clean.transform(X))
    assert np.array_equal(noisy.transform(X), noisy.transform(X))


def test_reconstruction_sum_changes_training() -> None:
    X, _ = _data()
    mean = VAE(**FAST).fit(X).history_[-1]["reconstruction"]
    summed = VAE(**FAST, reconstruction="sum").fit(X).history_[-1]["reconstruction"]
    assert summed > 5 * mean  # summed over 12 features instead of averaged


@pytest.mark.parametrize("cls", list(MODELS.values()))
def test_save_and_load_round_trip_gives_identical_transform(cls, tmp_path) -> None:
    X, y = _data()
    model = cls(epochs=3, latent_dim=3, hidden=(10, 5)).fit(X, y)
    path = model.save(tmp_path / f"{cls.__name__}.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary left
    loaded = cls.load(path)
    assert np.array_equal(loaded.transform(X), model.transform(X))
    assert loaded.get_params() == model.get_params()
    assert loaded.history_ == model.history_
    if hasattr(model, "classes_"):
        assert loaded.classes_.tolist() == model.classes_.tolist()
    assert type(load_model_file(path)) is cls


def test_save_keeps_feature_names_of_a_dataframe(tmp_path) -> None:
    pandas = pytest.importorskip("pandas")
    X, _ = _data()
    frame = pandas.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    model = DAE(**FAST).fit(frame)
    loaded = DAE.load(model.save(tmp_path / "dae.safetensors"))
    assert list(loaded.feature_names_in_) == list(frame.columns)
    assert np.array_equal(loaded.transform(frame), model.transform(frame))


def test_state_holds_tensors_and_json_metadata() -> None:
    import json

    model = VAESemiSupervised(**FAST).fit(*_data())
    tensors, metadata = model.to_state()
    assert all(isinstance(t, torch.Tensor) for t in tensors.values())
    decoded = json.loads(json.dumps(metadata))
    assert decoded["model"] == "vae_ss" and decoded["n_features_in_"] == 12
    assert decoded["params"]["hidden"] == [40, 20, 10]
    assert decoded["classes_"] == ["angry", "happy", "neutral", "sad"]


def test_load_rejects_wrong_model_and_unreadable_files(tmp_path) -> None:
    path = DAE(**FAST).fit(_data()[0]).save(tmp_path / "dae.safetensors")
    with pytest.raises(BundleError, match="dae"):
        VAE.load(path)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a safetensors file")
    with pytest.raises(BundleError):
        DAE.load(broken)
    with pytest.raises(BundleError):
        DAE.load(tmp_path / "missing.safetensors")
    tensors, metadata = DAE.load(path).to_state()
    tensors.pop("output_layer.bias")
    with pytest.raises(BundleError, match="inconsistent"):
        DAE.from_state(tensors, metadata)


@pytest.mark.parametrize(
    ("X", "message"),
    [
        (np.array([[0.0, np.nan], [1.0, 2.0], [3.0, 4.0]]), "NaN"),
        (np.array([[0.0, np.inf], [1.0, 2.0], [3.0, 4.0]]), "infinity"),
        (np.zeros(10), "2D array"),
        (np.zeros((1, 5)), "minimum of 2"),
        (np.array([["a", "b"], ["c", "d"]]), "convert"),
    ],
)
def test_bad_features_raise_a_clear_model_input_error(X, message) -> None:
    with pytest.raises(ModelInputError, match=message) as caught:
        DAE(**FAST).fit(X)
    assert isinstance(caught.value, CrossemoError) and isinstance(caught.value, ValueError)


def test_transform_checks_fitted_and_feature_count() -> None:
    X, _ = _data()
    with pytest.raises(NotFittedError):
        DAE().transform(X)
    model = DAE(**FAST).fit(X)
    with pytest.raises(ModelInputError, match="features"):
        model.transform(X[:, :5])
    assert model.transform(X[:1]).shape == (1, 2)


@pytest.mark.parametrize(
    ("cls", "params", "name"),
    [
        (DAE, {"latent_dim": 0}, "latent_dim"),
        (DAE, {"hidden": (40, -1)}, "hidden"),
        (DAE, {"epochs": 2.5}, "epochs"),
        (DAE, {"learning_rate": 0.0}, "learning_rate"),
        (DAE, {"reconstruction": "median"}, "reconstruction"),
        (DAE, {"device": "tpu-please"}, "device"),
        (DAE, {"noise_sigma": -1.0}, "noise_sigma"),
        (VAEAnnealing, {"ratio": 1.5}, "ratio"),
        (VAEAnnealing, {"cycles": 0}, "cycles"),
        (VAESemiSupervised, {"gamma": float("nan")}, "gamma"),
    ],
)
def test_bad_hyper_parameters_raise_config_error_at_fit(cls, params, name) -> None:
    model = cls(**params)  # __init__ only stores
    with pytest.raises(ConfigError, match=name):
        model.fit(_data()[0], _data()[1])


def test_labels_of_wrong_length_or_mixed_types_are_rejected() -> None:
    X, y = _data()
    with pytest.raises(ModelInputError, match="one label per row"):
        VAESemiSupervised(**FAST).fit(X, y[:-1])
    mixed = y.astype(object)
    mixed[0] = 3
    with pytest.raises(ModelInputError, match="mix types"):
        VAESemiSupervised(**FAST).fit(X, mixed)


def test_auto_device_trains() -> None:
    X, _ = _data()
    assert DAE(**FAST, device="auto").fit(X).transform(X).shape == (len(X), 2)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present on this machine")
def test_cuda_without_cuda_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="CUDA is not available"):
        DAE(**FAST, device="cuda").fit(_data()[0])


def test_a_state_trained_for_a_gpu_loads_on_the_cpu() -> None:
    from crossemo.models import DAE

    features = np.random.default_rng(0).normal(size=(40, 6))
    model = DAE(epochs=1, seed=0).fit(features)
    tensors, metadata = model.to_state()
    metadata["params"]["device"] = "cuda"  # as a bundle trained on a GPU records it

    loaded = DAE.from_state(tensors, metadata)

    assert loaded.device == "cpu"
    assert np.array_equal(loaded.transform(features), model.transform(features))
