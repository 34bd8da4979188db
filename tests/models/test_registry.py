"""The method registry: every consumer reads it, and a new method is one module plus one entry.

The method below lives only in this test: a linear discriminant projection.  Adding it
to the registry (and nowhere else) makes it a method of config validation, studies,
reports, bundles and the CLI.
"""

from __future__ import annotations

import json
import shutil
from types import MappingProxyType

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted
from typer.testing import CliRunner

from crossemo.errors import BundleError, ConfigError
from crossemo.models import registry
from crossemo.models.registry import METHODS, Method, get_method
from crossemo.models.state import StateMixin, check_state_header, state_metadata
from tests.conftest import study_config

pytestmark = pytest.mark.usefixtures("one_thread")


class DiscriminantProjection(StateMixin, TransformerMixin, BaseEstimator):
    """Linear discriminant analysis as a latent: ``(X - mean_) @ scalings_``."""

    model_name = "lda"

    def __init__(self, *, latent_dim: int = 2, shrinkage: float = 0.1) -> None:
        self.latent_dim = latent_dim
        self.shrinkage = shrinkage

    def fit(self, X, y):
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

        X = np.asarray(X, dtype=np.float64)
        labelled = np.array([label is not None for label in y])
        lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage=self.shrinkage).fit(
            X[labelled], np.asarray(y, dtype=object)[labelled].astype(str)
        )
        self.scalings_ = np.ascontiguousarray(lda.scalings_[:, : self.latent_dim])
        self.mean_ = X[labelled].mean(axis=0)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        check_is_fitted(self, "scalings_")
        return (np.asarray(X, dtype=np.float64) - self.mean_) @ self.scalings_

    def to_state(self):
        return {"scalings_": self.scalings_, "mean_": self.mean_}, state_metadata(
            self.model_name, self.get_params(), self.n_features_in_
        )

    @classmethod
    def state_shapes(cls, metadata):
        check_state_header(metadata, model=cls.model_name, cls_name=cls.__name__)
        width, latent = metadata["n_features_in_"], metadata["params"]["latent_dim"]
        return {"scalings_": (width, latent), "mean_": (width,)}

    @classmethod
    def from_state(cls, tensors, metadata):
        model = cls(**metadata["params"])
        model.scalings_, model.mean_ = (np.asarray(tensors[name], dtype=np.float64) for name in ("scalings_", "mean_"))
        model.n_features_in_ = metadata["n_features_in_"]
        return model


LDA = Method("lda", "LDA 2-D", "#117733", DiscriminantProjection, uses_labels=True, description="discriminant axes")


@pytest.fixture()
def with_lda(monkeypatch):
    monkeypatch.setattr(registry, "METHODS", MappingProxyType({**METHODS, LDA.name: LDA}))


def test_builtin_methods_declare_what_they_need():
    assert list(registry.model_names()) == ["dae", "vae", "vae_annealing", "vae_ss", "dae_sup", "vae_sup"]
    assert list(registry.baseline_names()) == ["pca", "svc_features"]
    assert get_method("vae_ss").uses_labels and not get_method("dae").uses_labels
    assert not get_method("svc_features").has_latent
    assert "noise_sigma" in get_method("dae").accepted_options()
    with pytest.raises(ConfigError, match="unknown method 'lda'"):
        get_method("lda")


def test_params_come_from_shared_settings_seed_and_options():
    settings = {"latent_dim": 3, "hidden": [8], "epochs": 4, "batch_size": 8, "learning_rate": 0.01, "device": "cpu"}
    assert get_method("pca").params(settings, seed=7) == {"latent_dim": 3, "seed": 7}
    dae = get_method("dae").params(settings, seed=1, options={"noise_sigma": 0.2})
    assert dae["hidden"] == (8,) and dae["seed"] == 1 and dae["noise_sigma"] == 0.2
    with pytest.raises(ConfigError, match="pca has no option noise_sigma"):
        get_method("pca").params(settings, seed=0, options={"noise_sigma": 1.0})


def test_a_method_may_train_longer_than_the_others_but_not_change_the_latent():
    settings = {"latent_dim": 2, "hidden": [8], "epochs": 4, "batch_size": 8, "learning_rate": 0.01}
    dae_sup = get_method("dae_sup").params(settings, seed=0, options={"epochs": 20, "learning_rate": 0.002})
    assert (dae_sup["epochs"], dae_sup["learning_rate"], dae_sup["batch_size"]) == (20, 0.002, 8)
    assert get_method("dae").params(settings, seed=0)["epochs"] == 4
    for fixed in ("latent_dim", "seed"):
        with pytest.raises(ConfigError, match=f"dae_sup has no option {fixed}"):
            get_method("dae_sup").params(settings, seed=0, options={fixed: 3})
    with pytest.raises(ConfigError, match="pca has no option epochs"):
        get_method("pca").params(settings, seed=0, options={"epochs": 3})


def test_a_method_added_to_the_registry_is_a_config_choice(with_lda, corpus_workspace):
    config = study_config(corpus_workspace, methods=["lda", "dae"], options={"lda": {"shrinkage": 0.5}})
    assert config.model.methods == ["lda", "dae"]
    with pytest.raises(ConfigError, match="lda has no option gamma"):
        study_config(corpus_workspace, methods=["lda"], options={"lda": {"gamma": 1.0}})


def test_a_method_added_to_the_registry_runs_in_a_study_report_and_cli(with_lda, corpus_workspace, tmp_path):
    from crossemo.cli import app
    from crossemo.study import run_study

    config = study_config(corpus_workspace, methods=["lda"])
    results = run_study(config, tmp_path / "run", progress=False, report=True)
    lda = [record for record in results["results"] if record["method"] == "lda"]
    assert {(r["corpus"], r["condition"]) for r in lda} == {
        ("ravdess", "within"), ("aesd", "unseen"), ("aesd", "target_norm")
    }
    assert all(r["log_bhattacharyya"] is not None for r in lda if r["condition"] != "within")
    html = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert "LDA 2-D" in html

    listed = CliRunner().invoke(app, ["methods", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {row["name"]: row for row in json.loads(listed.stdout)["methods"]}
    assert rows["lda"]["needs"] == ["labels"] and rows["lda"]["options"] == ["shrinkage"]


def test_a_method_added_to_the_registry_is_bundled_and_refused_when_reshaped(with_lda, corpus_workspace, tmp_path):
    import crossemo
    from crossemo.bundle import train_bundle
    from crossemo.models.state import read_state_file, write_state_file

    config = study_config(corpus_workspace)
    out = train_bundle(config, "lda", tmp_path / "lda.bundle", progress=False)
    model = crossemo.load_model(out)
    assert model.method == "lda"
    predictions = model.predict(corpus_workspace.ravdess)
    assert predictions["error"].isna().all() and set(predictions["predicted"]) <= set(config.protocol.classes)

    tampered = shutil.copytree(out, tmp_path / "tampered.bundle")
    encoder = next(tampered.glob("*.safetensors"))
    tensors, metadata = read_state_file(encoder)
    tensors["mean_"] = tensors["mean_"][:-1]
    write_state_file(encoder, tensors, metadata)
    manifest = json.loads((tampered / "manifest.json").read_text())
    from crossemo.bundle import bundle_files, content_hash
    from crossemo.fileio import file_sha256

    names = bundle_files(calibrated=(tampered / "calibration.json").exists())
    manifest["files"] = {name: file_sha256(tampered / name) for name in names}
    manifest["content_sha256"] = content_hash(tampered, names)
    (tampered / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="mean_ has shape"):
        crossemo.load_model(tampered)
