"""Speaker normalization and target-aware training in the task grid, on generated feature tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crossemo.config import parse_config
from crossemo.study import CorpusData, build_tasks, fit_and_evaluate

CLASSES = ("neutral", "sad", "happy", "angry")


def corpus_data(name: str, *, speakers: int, per_class: int, offset: float, seed: int,
                shift: float = 0.0) -> CorpusData:
    """A corpus of 6 features: a weak class signal under a strong random offset per speaker.

    Feature 0 is a unique row id (the corpus' number times 10**6 plus the row), so tests can
    follow rows; it carries no class information.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for speaker in range(speakers):
        bias = rng.normal(0.0, offset, size=5)
        for position, label in enumerate(CLASSES):
            for _ in range(per_class):
                signal = np.zeros(5)
                signal[position] = 1.5
                rows.append((f"{name}/s{speaker:02d}", label, bias + signal + rng.normal(0.0, 0.5, size=5) + shift))
    table = pd.DataFrame({
        "path": [f"/{name}/{index}.wav" for index in range(len(rows))],
        "speaker": [speaker for speaker, _, _ in rows],
        "label": [label for _, label, _ in rows],
        "corpus": name,
        "language": "xx",
    })
    ids = seed * 10**6 + np.arange(len(rows), dtype=np.float64)
    features = np.column_stack([ids, np.array([values for _, _, values in rows])])
    return CorpusData(name=name, table=table, features=features, n_outliers=0, skipped=[],
                      outlier_mean=features.mean(axis=0), outlier_std=features.std(axis=0),
                      extractor={"id": "test", "feature_names": [f"f{i}" for i in range(6)]})


def config(tmp_path, **model):
    return parse_config({
        "train": {"corpus": "manifest", "path": str(tmp_path), "name": "source"},
        "transfer": [{"corpus": "manifest", "path": str(tmp_path), "name": "target"}],
        "protocol": {"folds": 3, "conditions": ["unseen", "target_norm", "speaker_norm"], "baselines": []},
        "model": {"methods": ["dae"], "epochs": 2, **model},
    })


@pytest.fixture(scope="module")
def corpora():
    return {
        "source": corpus_data("source", speakers=9, per_class=6, offset=4.0, seed=1),
        "target": corpus_data("target", speakers=6, per_class=6, offset=4.0, seed=2, shift=3.0),
    }


def test_speaker_norm_removes_a_per_speaker_offset(tmp_path, corpora, one_thread):
    study = parse_config({**config(tmp_path).model_dump(mode="json"),
                          "model": {"methods": ["dae"]}, "protocol": {
                              "folds": 3, "conditions": ["speaker_norm"], "baselines": ["svc_features"]}})
    tasks = [task for task in build_tasks(study, corpora) if task.method.name == "svc_features"]
    accuracy: dict[tuple[str, str], list[float]] = {}
    for task in tasks:
        for item in fit_and_evaluate(task)["evaluations"]:
            accuracy.setdefault((item["condition"], item["corpus"]), []).append(item["balanced_accuracy"])
    plain = np.mean(accuracy[("within", "source")])
    normalized = np.mean(accuracy[("speaker_norm", "source")])
    across = np.mean(accuracy[("speaker_norm", "target")])
    assert normalized > plain + 0.15, (plain, normalized)
    assert across > 0.7


def test_evaluated_rows_never_reach_training(tmp_path, corpora):
    study = config(tmp_path, target_data="adapt")
    tasks = build_tasks(study, corpora)
    variants = {task.variant for task in tasks}
    assert variants == {"", "speaker_norm", "target_adapt"}
    path_of_id = {}
    for data in corpora.values():
        path_of_id.update(zip(data.features[:, 0], data.table["path"]))
    for task in tasks:
        trained = set(task.train_paths)
        if task.target_features is not None:
            trained |= {path_of_id[row_id] for row_id in task.target_features[:, 0]}
        evaluated = set(task.test_paths) if task.evaluate_within else set()
        for transfer in task.transfers:
            evaluated |= set(transfer.paths)
            assert not set(transfer.adapt_paths) & set(transfer.paths)
        assert not trained & evaluated, task.key
        if task.variant == "target_adapt":
            (transfer,) = task.transfers
            assert transfer.condition == "target_adapt"
            targets = {path_of_id[row_id] for row_id in task.target_features[:, 0]}
            assert targets == set(transfer.adapt_paths)


def test_target_adapt_fits_train_with_the_target_and_are_recorded_apart(tmp_path, corpora, one_thread):
    study = config(tmp_path, target_data="adapt")
    task = next(task for task in build_tasks(study, corpora) if task.variant == "target_adapt")
    outcome = fit_and_evaluate(task)
    assert [item["condition"] for item in outcome["evaluations"]] == ["target_adapt"]
    assert outcome["evaluations"][0]["log_bhattacharyya"] is not None


def test_speaker_norm_without_transfer_corpora_still_evaluates_within(tmp_path, corpora):
    study = parse_config({"train": {"corpus": "manifest", "path": str(tmp_path), "name": "source"},
                          "protocol": {"folds": 3, "conditions": ["speaker_norm"]},
                          "model": {"methods": ["dae"], "epochs": 2}})
    tasks = build_tasks(study, {"source": corpora["source"]})
    assert {task.variant for task in tasks} == {"", "speaker_norm"}
