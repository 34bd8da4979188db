"""Several training corpora, leave-one-corpus-out and the cross-corpus matrix, on the synthetic corpus."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from crossemo.config import parse_config
from crossemo.errors import ConfigError

LANGUAGES = ("xa", "xb", "xc")


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory, corpus_workspace) -> SimpleNamespace:
    """Three synthetic languages, four speakers each, and a feature cache shared with the session."""
    from crossemo.synth import synthesize

    root = tmp_path_factory.mktemp("synthetic")
    synthesize(root, languages=LANGUAGES, speakers_per_language=4, utterances_per_emotion_per_speaker=2)
    return SimpleNamespace(manifests={lang: root / lang / "manifest.csv" for lang in LANGUAGES},
                           cache=corpus_workspace.cache)


def _entries(synthetic, names=LANGUAGES) -> list[dict]:
    return [{"corpus": "manifest", "path": str(synthetic.manifests[name]), "name": name} for name in names]


def _config(synthetic, **protocol) -> dict:
    return {
        "protocol": {"folds": 2, **protocol},
        "model": {"methods": ["dae"], "epochs": 2},
        "compute": {"jobs": 1, "cache_dir": str(synthetic.cache)},
    }


def test_loco_study_keeps_speakers_corpora_and_held_out_apart(synthetic, tmp_path, one_thread):
    from crossemo.study import build_tasks, load_corpora, run_study

    config = parse_config({"corpus": _entries(synthetic), **_config(synthetic, design="loco", single_source=False)})
    cells = config.cells()
    assert [cell.transfer for cell in cells] == [(name,) for name in LANGUAGES]
    corpora = load_corpora(config, progress=False)
    speaker_of = {path: speaker for data in corpora.values()
                  for path, speaker in zip(data.table["path"], data.table["speaker"])}
    tasks = build_tasks(config, corpora)
    assert {task.cell for task in tasks} == {cell.name for cell in cells}
    for task in tasks:
        cell = next(cell for cell in cells if cell.name == task.cell)
        train_speakers = {speaker_of[path] for path in task.train_paths}
        assert not train_speakers & {speaker_of[path] for path in task.test_paths}, "a speaker crosses folds"
        assert set(task.train_corpora) == set(cell.train) == set(task.test_corpora), "a fold lacks a corpus"
        assert task.normalize == "corpus"  # the default for several training corpora
        evaluated = {transfer.name for transfer in task.transfers}
        assert evaluated == set(cell.transfer) and not evaluated & set(task.train_corpora)
        transfer_paths = {path for transfer in task.transfers for path in transfer.paths}
        assert not transfer_paths & set(task.train_paths)

    results = run_study(config, tmp_path / "run", progress=False, report=False)
    assert [cell["train"] for cell in results["cells"]] == [list(cell.train) for cell in cells]
    for cell in cells:
        records = [record for record in results["results"] if record["train"] == cell.name]
        transferred = {record["corpus"] for record in records if record["condition"] != "within"}
        within = {record["corpus"] for record in records if record["condition"] == "within"}
        assert transferred == set(cell.transfer)
        assert within == {*cell.train, cell.name}  # per training corpus, and pooled
        conditions = {record["condition"] for record in records if record["corpus"] in cell.transfer}
        assert conditions == {"unseen", "target_norm"}
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert set(metrics["train"]) == {cell.name for cell in cells}


def test_pooled_within_accuracy_counts_every_held_out_row(synthetic, tmp_path, one_thread):
    from crossemo.study import build_tasks, fit_and_evaluate, load_corpora

    config = parse_config({"train": _entries(synthetic, ("xa", "xb")), **_config(synthetic)})
    corpora = load_corpora(config, progress=False)
    task = next(task for task in build_tasks(config, corpora) if task.method.name == "pca")
    outcome = fit_and_evaluate(task)
    within = {item["corpus"]: item for item in outcome["evaluations"] if item["condition"] == "within"}
    assert set(within) == {"xa", "xb", "xa+xb"}
    assert len(within["xa+xb"]["true"]) == len(within["xa"]["true"]) + len(within["xb"]["true"])
    assert within["xa+xb"]["latent"] is None and within["xa"]["latent"] is not None


def test_matrix_trains_each_corpus_alone_and_loco_adds_it(synthetic):
    config = parse_config({"corpus": _entries(synthetic), **_config(synthetic, design="matrix")})
    cells = config.cells()
    assert [cell.train for cell in cells] == [(name,) for name in LANGUAGES]
    for cell in cells:
        assert set(cell.transfer) == set(LANGUAGES) - set(cell.train)
        assert config.normalization(cell) == "pooled"
    loco = parse_config({"corpus": _entries(synthetic), **_config(synthetic, design="loco")}).cells()
    assert loco[len(LANGUAGES):] == cells  # single-source cells beside the leave-one-out ones
    assert [len(cell.train) for cell in loco[: len(LANGUAGES)]] == [2, 2, 2]


def test_corpus_normalization_removes_a_corpus_offset(one_thread):
    from crossemo.pipeline import EmotionPipeline

    rng = np.random.default_rng(0)
    labels = np.array(["sad", "angry"] * 60, dtype=object)
    signal = np.where(labels == "angry", 1.0, -1.0)[:, None] * np.ones((1, 6)) + rng.normal(size=(120, 6))
    corpora = np.array(["a"] * 60 + ["b"] * 60, dtype=object)
    shifted = signal + np.where(corpora == "b", 25.0, 0.0)[:, None]  # one corpus recorded far louder
    pooled = EmotionPipeline("svc_features", {}, normalize="pooled").fit(shifted, labels, corpora=corpora)
    per_corpus = EmotionPipeline("svc_features", {}, normalize="corpus").fit(shifted, labels, corpora=corpora)
    assert set(per_corpus.corpus_scalers_) == {"a", "b"}
    np.testing.assert_allclose(per_corpus.corpus_scalers_["b"].mean_ - per_corpus.corpus_scalers_["a"].mean_,
                               25.0, atol=0.5)
    standardized = per_corpus.embed(shifted, corpora=corpora)
    np.testing.assert_allclose(standardized[corpora == "b"].mean(axis=0), 0.0, atol=1e-9)
    # Rows of an unknown corpus, and rows without corpora, get the pooled training scaler.
    np.testing.assert_allclose(per_corpus.embed(shifted[:5]), pooled.embed(shifted[:5]))
    np.testing.assert_allclose(per_corpus.embed(shifted[:5], corpora=["c"] * 5), pooled.embed(shifted[:5]))
    accuracy = (per_corpus.predict(shifted, corpora=corpora) == labels).mean()
    assert accuracy > 0.9


def test_training_entries_and_designs_are_validated(tmp_path):
    entry = {"corpus": "emodb", "path": str(tmp_path)}
    single = parse_config({"train": entry})
    assert [cell.train for cell in single.cells()] == [("emodb",)]
    assert single.normalization(single.cells()[0]) == "pooled"
    pooled = parse_config({"train": [entry, {"corpus": "ravdess", "path": str(tmp_path)}]})
    assert pooled.cells()[0].name == "emodb+ravdess"
    assert pooled.normalization(pooled.cells()[0]) == "corpus"
    forced = parse_config({"train": [entry, {"corpus": "ravdess", "path": str(tmp_path)}],
                           "protocol": {"normalize": "pooled"}})
    assert forced.normalization(forced.cells()[0]) == "pooled"
    bad = [
        ({"corpus": [entry, {**entry, "name": "other"}]}, "need protocol.design"),
        ({"train": entry, "protocol": {"design": "loco"}}, "takes [[corpus]] entries"),
        ({"corpus": [entry], "protocol": {"design": "matrix"}}, "at least two [[corpus]] entries"),
        ({"train": [entry, {**entry, "name": "a+b"}]}, "may not contain"),
        ({"train": {**entry, "classes": ["sad", "happy"]},
          "transfer": [{"corpus": "ravdess", "path": str(tmp_path), "classes": ["angry", "neutral"]}]},
         "shares fewer than two classes"),
        ({"train": [{**entry, "path": 3}]}, "train[0].path"),
        ({"train": entry, "protocol": {"conditions": []}}, "protocol.conditions"),
        ({"train": entry, "model": {"methods": []}}, "no method to train"),
    ]
    for data, message in bad:
        with pytest.raises(ConfigError) as caught:
            parse_config(data)
        assert message in str(caught.value), (data, str(caught.value))


def test_a_byte_order_mark_is_read(tmp_path):
    from crossemo.config import load_config

    path = Path(tmp_path) / "study.toml"
    path.write_bytes("\ufeff[train]\ncorpus = 'emodb'\npath = '.'\n".encode())
    assert load_config(path).train[0].corpus == "emodb"
