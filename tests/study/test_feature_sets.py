"""Studies on other feature sets: ComParE, a self-supervised model, and several sets compared."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from crossemo.config import ConfigError, load_config
from crossemo.errors import CrossemoError
from crossemo.report import write_report
from crossemo.report.html_features import write_comparison_report
from crossemo.study import run_study
from crossemo.study.comparison import COMPARISON_FILE, COMPARISON_TABLE, run_folder_name
from tests.conftest import study_config

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_study_runs_on_compare_and_a_self_supervised_model_and_compares_them(corpus_workspace, tmp_path) -> None:
    pytest.importorskip("transformers", reason="the optional 'ssl' extra is not installed")
    from tests.ssl_models import make_speech_model

    model = make_speech_model("wavlm", tmp_path / "wavlm")
    hf = f"hf:{model}@mean"
    config = study_config(corpus_workspace, epochs=1).with_feature_sets(["compare", hf])
    config = config.model_copy(update={"model": config.model.model_copy(update={"methods": ["dae_sup"]})})
    out = tmp_path / "run"

    comparison = run_study(config, out, progress=False, report=False)
    written = []
    write_comparison_report(out, write_run_report=written.append)  # each set's report: drawn as any run's
    assert written == [out / run_folder_name(name) for name in ("compare", hf)]

    assert comparison["feature_sets"] == ["compare", hf]
    for name, width in (("compare", 6373), (hf, 16)):
        run_dir = out / run_folder_name(name)
        results = json.loads((run_dir / "results.json").read_text())
        assert results["features"]["n_features"] == width
        assert results["features"]["name"] == name
    table = pd.read_csv(out / COMPARISON_TABLE)
    assert set(table["feature_set"]) == {"compare", hf}
    # Every (method, corpus, condition) is measured on both sets, so the report can set them side by side.
    counts = table.groupby(["method", "corpus", "condition"])["feature_set"].nunique()
    assert (counts == 2).all() and set(table["method"]) >= {"dae_sup", "svc_features"}
    page = (out / "report.html").read_text()
    assert "Feature sets compared" in page and "6,373 features" in page and hf in page
    assert (out / "figures" / "feature_sets.png").stat().st_size > 0

    with pytest.raises(CrossemoError, match="already holds a finished comparison"):
        run_study(config, out, progress=False)
    with pytest.raises(CrossemoError, match="--cell picks a training set within one run"):
        write_report(out, cell="ravdess")


def test_an_interrupted_comparison_resumes_and_reuses_finished_sets(corpus_workspace, tmp_path, monkeypatch) -> None:
    config = study_config(corpus_workspace, methods=["dae"], epochs=1).with_feature_sets(["egemaps", "gemaps"])
    out = tmp_path / "run"
    import crossemo.study as study

    real = study.run_study
    calls = []

    def failing_on_gemaps(one, run_dir, **options):
        calls.append(one.feature_set)
        if one.feature_set == "gemaps" and len(calls) == 2:
            raise CrossemoError("interrupted")
        return real(one, run_dir, **options)

    monkeypatch.setattr(study, "run_study", failing_on_gemaps)
    with pytest.raises(CrossemoError, match="interrupted"):
        run_study(config, out, progress=False, report=False)
    assert not (out / COMPARISON_FILE).exists() and (out / "egemaps" / "results.json").is_file()

    comparison = run_study(config, out, progress=False, report=False)
    assert calls == ["egemaps", "gemaps", "gemaps"]  # egemaps was finished: read back, not refitted
    assert {record["feature_set"] for record in comparison["results"]} == {"egemaps", "gemaps"}

    # Other settings (not just another worker count) redo a finished set instead of reusing it.
    (out / COMPARISON_FILE).unlink()
    (out / ".feature_sets.json").write_text("{}")
    changed = config.model_copy(update={"protocol": config.protocol.model_copy(update={"seeds": [1]}),
                                        "compute": config.compute.model_copy(update={"jobs": 2})})
    run_study(changed, out, progress=False, report=False)
    assert calls[3:] == ["egemaps", "gemaps"]


def test_feature_sets_are_checked_when_the_config_is_read(tmp_path, corpus_workspace) -> None:
    base = f"""
[train]
corpus = "ravdess"
path = "{corpus_workspace.ravdess}"
"""
    cases = {
        "set = 'mfcc'": "unknown feature set 'mfcc'",
        "set = []": "list at least one feature set",
        "set = ['egemaps', 'egemaps']": "duplicate entries",
        f"set = 'hf:{tmp_path / 'nowhere'}'": "neither a folder nor a model in the local Hugging Face cache",
    }
    for line, message in cases.items():
        path = tmp_path / "study.toml"
        path.write_text(base + "[features]\n" + line + "\n")
        with pytest.raises(ConfigError, match=message):
            load_config(path)
    path.write_text(base + "[features]\nset = ['egemaps', 'compare']\n")
    config = load_config(path)
    assert config.features.sets == ["egemaps", "compare"]
    with pytest.raises(ConfigError, match="lists 2 feature sets"):
        _ = config.feature_set
    assert load_config(path, features=["emobase"]).feature_set == "emobase"


def test_a_relative_model_folder_is_taken_from_the_config_file(tmp_path, corpus_workspace) -> None:
    pytest.importorskip("transformers", reason="the optional 'ssl' extra is not installed")
    from tests.ssl_models import make_speech_model

    make_speech_model("wav2vec2", tmp_path / "models" / "tiny")
    path = tmp_path / "study.toml"
    path.write_text(f'[train]\ncorpus = "ravdess"\npath = "{corpus_workspace.ravdess}"\n'
                    '[features]\nset = "hf:models/tiny@1"\n')
    assert load_config(path).feature_set == f"hf:{(tmp_path / 'models' / 'tiny').resolve()}@1"
