"""The cross-corpus matrix and leave-one-corpus-out figures, from result records made here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crossemo.report.figures_corpora import cross_corpus_matrix_figure, loco_figure, loco_values, matrix_values
from crossemo.report.run import ReportError, RunData

CORPORA = ("a", "b", "c")


def record(train: str, corpus: str, condition: str, accuracy: float, method: str = "dae") -> dict:
    return {"train": train, "method": method, "corpus": corpus, "condition": condition, "classes": 4,
            "class_names": ["neutral", "sad", "happy", "angry"],
            "balanced_accuracy": {"mean": accuracy, "ci95": [accuracy, accuracy], "folds": [accuracy]}}


def loco_run() -> RunData:
    """A leave-one-corpus-out study over a, b, c, with its single-source cells."""
    records = []
    cells = []
    for held_out in CORPORA:
        train = "+".join(name for name in CORPORA if name != held_out)
        cells.append({"train": train.split("+"), "transfer": [held_out]})
        records.append(record(train, held_out, "target_norm", 0.6))
        records += [record(train, name, "within", 0.7) for name in (*train.split("+"), train)]
    for index, trained in enumerate(CORPORA):
        cells.append({"train": [trained], "transfer": [n for n in CORPORA if n != trained]})
        records.append(record(trained, trained, "within", 0.8))
        records += [record(trained, other, "target_norm", 0.3 + 0.1 * index)
                    for other in CORPORA if other != trained]
    return RunData(run_dir=Path("."), results=records, config={"protocol": {"design": "loco"}},
                   corpora={name: {} for name in CORPORA}, histories=[], versions={}, timings={},
                   latents=None, design="loco", cells=cells)


def test_matrix_values_hold_the_diagonal_and_the_means():
    names, values = matrix_values(loco_run(), "dae", "target_norm", 4)
    assert names == list(CORPORA)
    np.testing.assert_allclose(np.diag(values)[:3], 80.0)
    np.testing.assert_allclose(values[:3, 3], [30.0, 40.0, 50.0])  # row means over the other corpora
    np.testing.assert_allclose(values[3, 0], 45.0)  # column a: trained on b (40) and c (50)
    np.testing.assert_allclose(values[3, 3], 40.0)
    # The pooled (leave-one-out) training sets are not rows of the matrix.
    assert values.shape == (4, 4)


def test_loco_values_set_each_held_out_corpus_beside_its_single_sources():
    values = loco_values(loco_run(), "dae", "target_norm", 4)
    assert set(values) == set(CORPORA)
    assert values["a"] == {"loco": 60.0, "single_mean": 45.0, "single_best": 50.0}


def test_study_figures_are_drawn_or_skipped_with_a_reason():
    run = loco_run()
    (matrix,) = cross_corpus_matrix_figure(run)
    (loco,) = loco_figure(run)
    assert matrix.figure is not None and loco.figure is not None
    single = run.for_cell("a")
    assert loco_figure(RunData(**{**single.__dict__, "design": "transfer", "config": {}}))[0].skipped
    assert "fewer than two corpora" in cross_corpus_matrix_figure(single)[0].skipped


def test_a_cell_view_holds_one_training_set():
    run = loco_run()
    view = run.for_cell("b+c")
    assert {item["train"] for item in view.results} == {"b+c"}
    assert view.train_corpus == "b+c" and view.training_corpora == ["b", "c"]
    assert view.transfer_corpora == ["a"]
    with pytest.raises(ReportError, match="no training set"):
        run.for_cell("a+z")
