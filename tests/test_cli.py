"""The command line: each verb's output and its errors (one line, exit 2, no traceback)."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest
from typer.testing import CliRunner

from crossemo.cli import app
from crossemo.features import feature_names
from tests.fixtures import make_corpus


@pytest.fixture()
def runner():
    return CliRunner()


def test_scan_json_has_the_documented_keys(runner, tmp_path):
    root = make_corpus("emodb", tmp_path / "emodb", per_class=1)
    result = runner.invoke(app, ["scan", "emodb", str(root), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary) == {"corpus", "language", "files", "labelled", "labels", "emotions", "speakers", "skipped"}
    assert summary["corpus"] == "emodb" and summary["language"] == "de"
    assert summary["labelled"] == sum(summary["labels"].values())
    assert summary["files"] == sum(summary["emotions"].values())


def test_scan_table_lists_speakers(runner, tmp_path):
    root = make_corpus("ravdess", tmp_path / "ravdess", per_class=1)
    result = runner.invoke(app, ["scan", "ravdess", str(root)])
    assert result.exit_code == 0, result.output
    assert "Actor_01" in result.stdout and "neutral" in result.stdout


def test_wrong_layout_is_one_clear_error(runner, tmp_path):
    root = make_corpus("emodb", tmp_path / "emodb", per_class=1)
    result = runner.invoke(app, ["scan", "ravdess", str(root)])
    assert result.exit_code == 2
    assert "RAVDESS" in result.output and "Traceback" not in result.output


def test_extract_writes_features_and_reports_skips(runner, tmp_path):
    root = make_corpus("tess", tmp_path / "tess", per_class=1, odd_cases=True)
    out = tmp_path / "tess.parquet"
    result = runner.invoke(
        app, ["extract", "tess", str(root), "--out", str(out), "--jobs", "1",
              "--cache-dir", str(tmp_path / "cache"), "--json"],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    table = pd.read_parquet(out)
    assert summary["extracted"] == len(table) > 0
    assert set(feature_names()) <= set(table.columns)
    assert all({"path", "reason"} <= set(item) for item in summary["skipped"])


def test_extract_takes_another_feature_set_and_refuses_an_unknown_one(runner, tmp_path):
    root = make_corpus("emodb", tmp_path / "emodb", per_class=1)
    out = tmp_path / "emodb.parquet"
    command = ["extract", "emodb", str(root), "--out", str(out), "--jobs", "1", "--cache-dir", str(tmp_path / "c")]
    result = runner.invoke(app, [*command, "--features", "gemaps", "--json"])
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out)
    assert set(feature_names("gemaps")) <= set(table.columns) and not set(feature_names()) <= set(table.columns)

    result = runner.invoke(app, [*command, "--features", "mfcc", "--force"])
    assert result.exit_code == 2 and "unknown feature set 'mfcc'" in result.output
    assert "Traceback" not in result.output


def test_run_reports_a_malformed_config_without_traceback(runner, tmp_path):
    config = tmp_path / "study.toml"
    config.write_text("[train]\ncorpus = 'emodb'\npath = 'x'\n[model]\nepoch = 3\n")
    result = runner.invoke(app, ["run", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "model.epoch: unknown key" in result.output and "Traceback" not in result.output


def test_run_reports_a_missing_corpus_path(runner, tmp_path):
    config = tmp_path / "study.toml"
    config.write_text("[train]\ncorpus = 'emodb'\npath = 'absent'\n")
    result = runner.invoke(app, ["run", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "train[0].path" in result.output and "does not exist" in result.output


def test_unusable_paths_are_one_clear_error(runner, tmp_path):
    root = make_corpus("emodb", tmp_path / "emodb", per_class=1)
    config = tmp_path / "study.toml"
    config.write_text(f"[train]\ncorpus = 'emodb'\npath = '{root}'\n")
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    cases = [
        (["run", str(tmp_path), "--out", str(tmp_path / "run")], "cannot read config file"),
        (["run", str(config), "--out", str(blocker / "run")], "cannot create the run directory"),
        (["synth", "--out", str(blocker / "corpus")], "cannot write the synthetic corpus"),
        (["demo", "--out", str(blocker)], "cannot write the synthetic corpus"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and "Traceback" not in result.output
    assert blocker.read_text() == "not a folder"


def test_the_summary_table_shows_the_feature_set_only_when_a_study_compares_several(capsys):
    from crossemo.cli_output import print_summary

    record = {"classes": 4, "method": "dae", "corpus": "emodb", "condition": "unseen",
              "balanced_accuracy": {"mean": 0.5, "ci95": [0.4, 0.6]}, "log_bhattacharyya": {"mean": -1.0}}
    print_summary({"results": [record]})
    single = capsys.readouterr().out
    assert "50.0 [40.0, 60.0]" in single and "features" not in single
    print_summary({"feature_sets": ["egemaps", "gemaps"], "results": [{**record, "feature_set": "gemaps"}]})
    several = capsys.readouterr().out
    assert "features" in several and "gemaps" in several


def test_the_command_line_defaults_arrow_to_the_system_allocator_but_keeps_a_users_choice(runner, monkeypatch):
    from crossemo.cli import ARROW_POOL_VARIABLE

    monkeypatch.delenv(ARROW_POOL_VARIABLE, raising=False)
    assert runner.invoke(app, ["methods", "--json"]).exit_code == 0
    assert os.environ[ARROW_POOL_VARIABLE] == "system"
    monkeypatch.setenv(ARROW_POOL_VARIABLE, "jemalloc")
    assert runner.invoke(app, ["methods", "--json"]).exit_code == 0
    assert os.environ[ARROW_POOL_VARIABLE] == "jemalloc"
