"""The study protocol: folds, conditions, outputs, resuming, refusing to overwrite."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import StandardScaler

from crossemo.config import parse_config
from crossemo.errors import ConfigError, CorpusLayoutError, CrossemoError
from crossemo.study import CorpusData, build_tasks, fit_and_evaluate, fit_task_pipeline, fitting, run_study
from tests.fixtures import make_corpus

pytestmark = pytest.mark.usefixtures("one_thread")

LABELS = ("neutral", "sad", "happy", "angry")


def _corpus(name: str, *, speakers: int, per_speaker: int, seed: int, labels=LABELS) -> CorpusData:
    """A corpus table with random features; labels cycle through ``labels``."""
    rng = np.random.default_rng(seed)
    n = speakers * per_speaker
    table = pd.DataFrame(
        {
            "path": [f"{name}/{i:04d}.wav" for i in range(n)],
            "corpus": name,
            "language": "xx",
            "speaker": [f"s{i // per_speaker}" for i in range(n)],
            "gender": None,
            "emotion": [labels[i % len(labels)] for i in range(n)],
            "label": [labels[i % len(labels)] for i in range(n)],
            "group": [f"s{i // per_speaker}" for i in range(n)],
            "duration_s": 1.0,
        }
    )
    return CorpusData(name=name, table=table, features=rng.normal(3.0, 2.0, (n, 5)), n_outliers=0, skipped=[])


def _config(**protocol) -> object:
    return parse_config(
        {
            "train": {"corpus": "ravdess", "path": "/train"},
            "transfer": [{"corpus": "emodb", "path": "/transfer"}],
            "protocol": {"folds": 3, **protocol},
            "model": {"methods": ["dae"], "epochs": 1},
        }
    )


@pytest.fixture()
def corpora():
    return {
        "ravdess": _corpus("ravdess", speakers=6, per_speaker=8, seed=1),
        "emodb": _corpus("emodb", speakers=4, per_speaker=10, seed=2),
    }


def test_folds_never_share_a_speaker_and_cover_every_utterance(corpora):
    speaker_of = dict(zip(corpora["ravdess"].table["path"], corpora["ravdess"].table["speaker"]))
    tasks = [task for task in build_tasks(_config(), corpora) if task.method.name == "dae"]
    assert len(tasks) == 3
    tested = []
    for task in tasks:
        train_speakers = {speaker_of[path] for path in task.train_paths}
        test_speakers = {speaker_of[path] for path in task.test_paths}
        assert train_speakers.isdisjoint(test_speakers)
        tested.extend(task.test_paths)
    assert sorted(tested) == sorted(corpora["ravdess"].table["path"])


def test_training_fold_scaler_standardizes_train_test_and_unseen(corpora):
    task = next(task for task in build_tasks(_config(), corpora) if task.method.name == "pca")
    data = corpora["ravdess"]
    rows = data.table["path"].isin(task.train_paths).to_numpy()
    np.testing.assert_array_equal(task.train_features, data.features[rows])  # raw: the fit standardizes
    unseen = next(t for t in task.transfers if t.condition == "unseen")
    assert not unseen.standardized and len(unseen.adapt_paths) == 0
    np.testing.assert_array_equal(unseen.features, corpora["emodb"].features)

    pipeline = fit_task_pipeline(task)
    scaler = StandardScaler().fit(data.features[rows])
    np.testing.assert_allclose(pipeline.scaler_.mean_, scaler.mean_)
    np.testing.assert_allclose(pipeline.embed(unseen.features), pipeline.model_.transform(scaler.transform(unseen.features)))


def test_target_norm_never_sees_the_evaluated_share(corpora):
    tasks = build_tasks(_config(target_fraction=0.2), corpora)
    transfer = corpora["emodb"]
    for task in tasks:
        adapted = next(t for t in task.transfers if t.condition == "target_norm")
        assert set(adapted.adapt_paths).isdisjoint(adapted.paths)
        assert len(adapted.adapt_paths) + len(adapted.paths) == len(transfer.table)
        assert len(adapted.adapt_paths) == pytest.approx(0.2 * len(transfer.table), abs=1)
        # The scaler comes from the adaptation share alone, labels unused.
        adapt_rows = transfer.table["path"].isin(adapted.adapt_paths).to_numpy()
        eval_rows = transfer.table["path"].isin(adapted.paths).to_numpy()
        own = StandardScaler().fit(transfer.features[adapt_rows])
        np.testing.assert_allclose(adapted.features, own.transform(transfer.features[eval_rows]))


def test_every_method_and_baseline_is_a_task(corpora):
    tasks = build_tasks(_config(seeds=[0, 1]), corpora)
    methods = sorted({task.method.name for task in tasks})
    assert methods == ["dae", "pca", "svc_features"]
    assert len(tasks) == 3 * 3 * 2  # methods x folds x seeds
    assert len({task.key for task in tasks}) == len(tasks)


def test_fewer_speakers_than_folds_is_a_config_error(corpora):
    corpora["ravdess"] = _corpus("ravdess", speakers=2, per_speaker=8, seed=1)
    with pytest.raises(ConfigError, match="speaker"):
        build_tasks(_config(), corpora)


# --------------------------------------------------------------------------- end to end


def _study(tmp_path, **model):
    train = make_corpus("ravdess", tmp_path / "ravdess", per_class=2)
    transfer = make_corpus("aesd", tmp_path / "aesd", per_class=3)
    return parse_config(
        {
            "train": {"corpus": "ravdess", "path": str(train)},
            "transfer": [{"corpus": "aesd", "path": str(transfer)}],
            "protocol": {"folds": 3},
            "model": {"methods": ["dae", "vae_ss"], "epochs": 2, **model},
            "compute": {"jobs": 1, "cache_dir": str(tmp_path / "cache")},
        }
    )


def test_run_writes_results_metrics_latents_and_config(finished_run):
    out, results = finished_run.out, finished_run.results
    stored = json.loads((out / "results.json").read_text())
    assert stored["results"] == json.loads(json.dumps(results["results"]))
    keys = {(r["method"], r["corpus"], r["condition"]) for r in stored["results"]}
    for method in ("dae", "vae_ss", "svc_features", "pca"):
        assert (method, "ravdess", "within") in keys
        assert (method, "aesd", "unseen") in keys
        assert (method, "aesd", "target_norm") in keys
    for record in stored["results"]:
        accuracy = record["balanced_accuracy"]
        assert len(accuracy["folds"]) == 3
        assert accuracy["ci95"][0] <= accuracy["mean"] <= accuracy["ci95"][1]
        assert all(0.0 <= value <= 1.0 for value in accuracy["folds"])
        assert accuracy["mean"] == pytest.approx(np.mean(accuracy["folds"]))
        assert record["classes"] == 4
        if record["condition"] == "within" or record["method"] == "svc_features":
            assert record["log_bhattacharyya"] is None
        else:
            assert np.isfinite(record["log_bhattacharyya"]["mean"])
    metrics = pd.read_csv(out / "metrics.csv")
    assert len(metrics) == 4 * 3 * 3  # methods x (within + 2 conditions) x folds
    latents = pd.read_parquet(out / "latents.parquet")
    assert {"z0", "z1", "fold", "method", "corpus", "condition"} <= set(latents.columns)
    assert "svc_features" not in set(latents["method"])
    assert set(latents["condition"]) == {"train", "within", "unseen", "target_norm"}
    assert json.loads((out / "config.json").read_text())["model"]["epochs"] == 2
    assert not (out / ".tasks").exists()


def test_transfer_without_a_class_is_scored_on_the_classes_it_has(finished_run):
    results = finished_run.results
    aesd = [r for r in results["results"] if r["corpus"] == "aesd"]
    assert aesd and all("no neutral" in r["note"] for r in aesd)
    assert all(r["per_class_recall"]["neutral"] is None for r in aesd)


def test_rerun_refuses_without_force(finished_run):
    config, out = finished_run.config, finished_run.out
    before = (out / "results.json").read_bytes()
    with pytest.raises(CrossemoError, match="--force"):
        run_study(config, out, progress=False, report=False)
    assert (out / "results.json").read_bytes() == before


def test_interrupted_run_resumes_from_finished_fits(tmp_path, monkeypatch):
    config = _study(tmp_path, methods=["dae"])
    # One task per fit, so a failure can be placed between fits (batched resume: test_batched_study).
    config = config.model_copy(update={"compute": config.compute.model_copy(update={"batch_fits": False})})
    out = tmp_path / "run"
    real_fit = fitting.fit_and_evaluate
    calls = []

    def failing_after_two(task):
        calls.append(task.key)
        if len(calls) > 2:
            raise RuntimeError("worker lost")
        return real_fit(task)

    monkeypatch.setattr(fitting, "fit_and_evaluate", failing_after_two)
    with pytest.raises(CrossemoError, match="run the same command again"):
        run_study(config, out, progress=False, report=False)
    assert not (out / "results.json").exists()
    finished = set(calls[:2])

    calls.clear()
    monkeypatch.setattr(fitting, "fit_and_evaluate", lambda task: calls.append(task.key) or real_fit(task))
    run_study(config, out, progress=False, report=False)
    assert finished.isdisjoint(calls)
    assert len(calls) == 3 * 3 - 2  # (dae + 2 baselines) x 3 folds, less the two finished


def test_training_corpus_without_a_requested_class_is_a_config_error(tmp_path):
    train = make_corpus("aesd", tmp_path / "aesd", per_class=2)
    config = parse_config(
        {
            "train": {"corpus": "aesd", "path": str(train)},
            "compute": {"jobs": 1, "cache_dir": str(tmp_path / "cache")},
        }
    )
    with pytest.raises(ConfigError, match="neutral"):
        run_study(config, tmp_path / "run", progress=False, report=False)


def test_a_transfer_class_set_trains_its_own_models(corpora):
    corpora["aesd"] = _corpus("aesd", speakers=4, per_speaker=9, seed=3, labels=("sad", "happy", "angry"))
    config = parse_config(
        {
            "train": {"corpus": "ravdess", "path": "/train"},
            "transfer": [
                {"corpus": "emodb", "path": "/transfer"},
                {"corpus": "aesd", "path": "/aesd", "classes": ["sad", "happy", "angry"]},
            ],
            "protocol": {"folds": 3},
            "model": {"methods": ["dae"], "epochs": 1},
        }
    )
    tasks = build_tasks(config, corpora)
    four = [task for task in tasks if len(task.classes) == 4]
    three = [task for task in tasks if len(task.classes) == 3]
    assert len(four) == len(three) == 3 * 3
    assert all({t.name for t in task.transfers} == {"emodb"} for task in four)
    assert all({t.name for t in task.transfers} == {"aesd"} for task in three)
    for task in three:
        assert set(task.train_labels) == {"sad", "happy", "angry"}
        assert set(task.test_labels) <= {"sad", "happy", "angry"}


def test_a_transfer_with_the_wrong_layout_fails_before_any_extraction(tmp_path, monkeypatch):
    from crossemo import features

    train = make_corpus("ravdess", tmp_path / "ravdess", per_class=1)
    elsewhere = make_corpus("emodb", tmp_path / "emodb", per_class=1)
    config = parse_config(
        {
            "train": {"corpus": "ravdess", "path": str(train)},
            "transfer": [{"corpus": "ravdess", "path": str(elsewhere), "name": "other"}],
            "compute": {"jobs": 1, "cache_dir": str(tmp_path / "cache")},
        }
    )
    monkeypatch.setattr(features, "extract", lambda *args, **kwargs: pytest.fail("extracted before reading all"))
    with pytest.raises(CorpusLayoutError, match="RAVDESS"):
        run_study(config, tmp_path / "run", progress=False, report=False)


def test_unlabelled_utterances_join_training_without_held_out_speakers(corpora):
    corpora["ravdess"] = _corpus("ravdess", speakers=6, per_speaker=10, seed=1, labels=(*LABELS, None))
    table = corpora["ravdess"].table
    speaker_of = dict(zip(table["path"], table["speaker"]))
    unlabelled_speakers = table.loc[table["label"].isna(), "speaker"]

    dropped = build_tasks(_config(), corpora)
    used = build_tasks(_config(unlabelled="use"), corpora)

    assert all(task.unlabelled_features is None for task in dropped)
    for task in used:
        held_out = {speaker_of[path] for path in task.test_paths}
        expected = int((~unlabelled_speakers.isin(held_out)).sum())
        assert len(task.unlabelled_features) == expected > 0
        assert set(task.train_labels) <= set(LABELS)  # the SVC still sees labelled utterances only
    outcome = fit_and_evaluate(next(task for task in used if task.method.name == "dae"))
    assert len(outcome["train_latent"]) == len(used[0].train_labels)


def test_a_four_dimensional_latent_is_measured_end_to_end(corpora):
    config = parse_config(
        {
            "train": {"corpus": "ravdess", "path": "/train"},
            "transfer": [{"corpus": "emodb", "path": "/transfer"}],
            "protocol": {"folds": 3, "baselines": ["pca"]},
            "model": {"methods": ["dae"], "epochs": 1, "latent_dim": 4},
        }
    )
    outcome = fit_and_evaluate(build_tasks(config, corpora)[0])
    assert outcome["train_latent"].shape[1] == 4
    transfers = [e for e in outcome["evaluations"] if e["condition"] != "within"]
    assert transfers and all(np.isfinite(e["log_bhattacharyya"]) for e in transfers)


def test_results_follow_the_schema_and_read_back(finished_run):
    from crossemo.study import read_results
    from crossemo.study.results import SCHEMA_VERSION

    stored = read_results(finished_run.out / "results.json")
    assert stored["schema_version"] == SCHEMA_VERSION
    histories = stored["histories"]
    # One history per latent-model fit (baselines have none): 2 models x 3 folds x 1 seed.
    assert sorted((h["method"], h["fold"]) for h in histories) == sorted(
        (method, fold) for method in ("dae", "vae_ss") for fold in range(3)
    )
    assert all(len(h["epochs"]) == 2 and h["classes"] == 4 and h["seed"] == 0 for h in histories)
    assert stored["features"]["n_features"] == 88


def test_a_malformed_results_file_is_refused_with_its_reason(tmp_path):
    from crossemo.study import ResultsError, read_results

    path = tmp_path / "results.json"
    path.write_text(json.dumps({"results": [{"method": "dae", "corpus": "x", "condition": "within"}]}))
    with pytest.raises(ResultsError, match="lacks classes, balanced_accuracy"):
        read_results(path)
    path.write_text(json.dumps({"results": [], "histories": [{"method": "dae"}]}))
    with pytest.raises(ResultsError, match="history 0 lacks"):
        read_results(path)
