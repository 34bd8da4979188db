"""Study config validation: every malformed config gets one clear ConfigError."""

from __future__ import annotations

from pathlib import Path

import pytest

from crossemo.config import apply_overrides, check_paths, load_config, parse_config
from crossemo.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(text, encoding="utf-8")
    return path


MINIMAL = """
[train]
corpus = "emodb"
path = "data/emodb"
"""


def test_minimal_config_takes_spec_defaults(tmp_path):
    config = load_config(_write(tmp_path, MINIMAL))
    assert config.train[0].path == (tmp_path / "data" / "emodb").resolve()
    assert config.transfer == []
    assert config.protocol.folds == 5
    assert config.protocol.classes == ["neutral", "sad", "happy", "angry"]
    assert config.protocol.conditions == ["unseen", "target_norm"]
    assert config.protocol.target_fraction == 0.2
    assert config.protocol.outlier_z == 10
    assert config.model.methods == ["dae", "vae", "vae_annealing", "vae_ss", "dae_sup", "vae_sup"]
    assert (config.model.latent_dim, config.model.epochs, config.model.batch_size) == (2, 50, 64)
    assert config.model.learning_rate == pytest.approx(1e-3)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (MINIMAL + "[model]\nepoch = 3\n", "model.epoch: unknown key"),
        ("[train]\ncorpus = 'emodb'\n", "train.path: required key is missing"),
        ("[train]\ncorpus = 'nope'\npath = '.'\n", "unknown corpus reader 'nope'"),
        (MINIMAL + "[protocol]\nclasses = ['neutral', 'bored']\n", "unknown classes ['bored']"),
        (MINIMAL + "[protocol]\nclasses = ['sad']\n", "at least two distinct classes"),
        (MINIMAL + "[protocol]\nfolds = 1\n", "protocol.folds"),
        (MINIMAL + "[protocol]\nsplit = 'session'\n", "protocol.split"),
        (MINIMAL + "[model]\nmethods = ['dae', 'gan']\n", "model.methods"),
        (MINIMAL + "[model]\nmethods = ['pca']\n", "unknown method(s) ['pca']"),
        (MINIMAL + "[protocol]\nbaselines = ['dae']\n", "unknown baseline(s) ['dae']"),
        (MINIMAL + "[protocol]\nseeds = [-1]\n", "seeds must lie in 0"),
        (MINIMAL + "[protocol]\nseeds = [99999999999]\n", "seeds must lie in 0"),
        (MINIMAL + "[model]\nhidden = [40, 0]\n", "hidden widths must be positive"),
        (MINIMAL + "[model]\nlatent_dim = 88\n", "must be smaller than the 88 features"),
        (MINIMAL + "[model.options.dae]\nnoise_sigma = 'loud'\n", "options.dae: noise_sigma"),
        (MINIMAL + "[model.options.vae_annealing]\nratio = 2.0\n", "ratio must be in (0, 1]"),
        (MINIMAL + "[model.options.gan]\ndepth = 2\n", "options for unknown method(s) ['gan']"),
        (MINIMAL + "[features]\nset = 'mfcc'\n", "features.set"),
        (MINIMAL + "[[transfer]]\ncorpus = 'emodb'\npath = 'x'\n", "emodb appears more than once"),
        ("[train\n", "is not valid TOML"),
    ],
)
def test_malformed_configs_are_named(tmp_path, text, message):
    with pytest.raises(ConfigError, match=None) as caught:
        load_config(_write(tmp_path, text))
    assert message in str(caught.value)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.toml")


def test_entry_names_let_two_manifests_share_a_study(tmp_path):
    text = MINIMAL + (
        "[[transfer]]\ncorpus = 'manifest'\npath = 'a.csv'\nname = 'alpha'\n"
        "[[transfer]]\ncorpus = 'manifest'\npath = 'b.csv'\nname = 'beta'\n"
    )
    config = load_config(_write(tmp_path, text))
    assert [entry.display_name for entry in config.transfer] == ["alpha", "beta"]


def test_missing_paths_are_listed_together(tmp_path):
    text = MINIMAL + "[[transfer]]\ncorpus = 'savee'\npath = 'nowhere'\n"
    config = load_config(_write(tmp_path, text))
    with pytest.raises(ConfigError) as caught:
        check_paths(config)
    assert "train[0].path" in str(caught.value) and "transfer[0].path" in str(caught.value)


def test_overrides_replace_file_values(tmp_path):
    config = load_config(_write(tmp_path, MINIMAL), epochs=3, methods=["dae"], seeds=[1, 2])
    assert config.model.epochs == 3
    assert config.model.methods == ["dae"]
    assert config.protocol.seeds == [1, 2]


def test_class_sets_follow_transfer_overrides():
    config = parse_config(
        {
            "train": {"corpus": "iemocap", "path": "/x"},
            "transfer": [
                {"corpus": "emodb", "path": "/y"},
                {"corpus": "aesd", "path": "/z", "classes": ["angry", "sad", "happy"]},
            ],
        }
    )
    assert config.class_sets() == [("neutral", "sad", "happy", "angry"), ("sad", "happy", "angry")]
    # Classes come back in the canonical order whatever order the file used.
    assert config.transfer[1].classes == ["sad", "happy", "angry"]


@pytest.mark.parametrize("name", ["ravdess.toml", "paper.toml"])
def test_shipped_configs_are_valid(name):
    config = load_config(REPO / "configs" / name)
    assert config.model.methods == ["dae", "vae", "vae_annealing", "vae_ss"]
    assert config.transfer


def test_per_method_options_reach_the_model_and_are_checked(tmp_path):
    from crossemo.study import method_params as model_params

    text = MINIMAL + "[model.options.dae]\nnoise_sigma = 0.5\n[model.options.vae_ss]\ngamma = 0.1\n"
    config = load_config(_write(tmp_path, text))
    assert model_params(config, "dae", 0)["noise_sigma"] == 0.5
    assert model_params(config, "vae_ss", 0)["gamma"] == 0.1
    assert "gamma" not in model_params(config, "vae", 0)

    bad = MINIMAL + "[model.options.vae]\ngamma = 0.1\n"
    with pytest.raises(ConfigError, match="vae has no option gamma"):
        load_config(_write(tmp_path, bad))


def test_a_gpu_asked_for_where_there_is_none_fails_when_read(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    with pytest.raises(ConfigError, match="no CUDA device"):
        load_config(_write(tmp_path, MINIMAL + "[model]\ndevice = 'cuda'\n"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[model.options]\ndae = 3\n", "model.options.dae"),
        ("model = 3\n", "model"),
        ("features = 3\n", "features"),
        ("protocol = 3\n", "protocol"),
    ],
)
def test_overrides_leave_a_section_that_is_no_table_to_validation(tmp_path, text, message):
    # Overriding into it would be a traceback; the config's own error says what is wrong.
    path = _write(tmp_path, text + MINIMAL)
    with pytest.raises(ConfigError, match=message):
        load_config(path, epochs=2, features=["egemaps"], folds=3)


def test_an_epochs_override_wins_over_a_methods_own_epochs():
    data = {"model": {"epochs": 50, "options": {"dae_sup": {"epochs": 200, "input_lda": 3}, "dae": {"noise_sigma": 0.5}}}}
    assert apply_overrides(data)["model"]["options"]["dae_sup"]["epochs"] == 200
    overridden = apply_overrides(data, epochs=2)["model"]
    assert overridden["epochs"] == 2
    assert overridden["options"] == {"dae_sup": {"input_lda": 3}, "dae": {"noise_sigma": 0.5}}
    assert data["model"]["options"]["dae_sup"]["epochs"] == 200  # the caller's data is left alone
