"""The latent axes against arousal and valence, from latents made here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from crossemo.report.figures_circumplex import (
    area_under_curve,
    axes_table_html,
    axis_separation,
    circumplex_figure,
    verdict,
)
from crossemo.report.run import RunData

FOUR = ("neutral", "sad", "happy", "angry")
HIGH_AROUSAL = ("happy", "angry")


def latents_frame(method: str = "dae", classes: tuple[str, ...] = FOUR, folds: int = 2, per_class: int = 60,
                  seed: int = 0) -> pd.DataFrame:
    """Held-out latents of corpus ``a`` where z0 sets arousal apart (its sign flipping from fold to fold)
    and z1 is noise, plus transfer-corpus rows whose z0 says the opposite, which must be left out."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(classes, per_class)
    arousal = np.where(np.isin(labels, HIGH_AROUSAL), 1.0, -1.0)
    parts = []
    for fold in range(folds):
        sign = 1.0 if fold % 2 == 0 else -1.0
        for corpus, condition, direction in (("a", "within", 1.0), ("b", "unseen", -1.0)):
            parts.append(pd.DataFrame({
                "train": "a", "method": method, "classes": len(classes), "fold": fold, "seed": 0,
                "corpus": corpus, "condition": condition, "label": labels,
                "z0": sign * direction * arousal * rng.uniform(1.0, 2.0, len(labels)),
                "z1": rng.normal(size=len(labels)),
            }))
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("seed", range(4))
def test_area_under_curve_equals_scikit_learn_with_ties(seed):
    rng = np.random.default_rng(seed)
    high = rng.integers(0, 6, size=40 + seed).astype(float)  # few values: many ties
    low = rng.integers(0, 5, size=55).astype(float)
    expected = roc_auc_score(np.r_[np.ones(high.size), np.zeros(low.size)], np.r_[high, low])
    assert area_under_curve(high, low) == pytest.approx(expected, rel=1e-12)
    assert area_under_curve(low, high) == pytest.approx(1.0 - expected, rel=1e-12)


def by_axis(records: list[dict]) -> dict[str, dict]:
    return {record["axis"]: record for record in records}


def make_run(latents: pd.DataFrame | None, methods: tuple[str, ...] = ("dae",)) -> RunData:
    results = [{"train": "a", "method": method, "corpus": "a", "condition": "within", "classes": 4}
               for method in methods]
    return RunData(run_dir=Path("."), results=results, config={}, corpora={"a": {}, "b": {}}, histories=[],
                   versions={}, timings={}, latents=latents, cells=[{"train": ["a"], "transfer": ["b"]}])


def test_an_arousal_axis_scores_one_and_a_noise_axis_near_zero():
    records = by_axis(axis_separation(latents_frame(), method="dae", classes=4, corpus_names=["a"]))
    assert set(records) == {"z0", "z1"}
    assert records["z0"]["arousal"] == pytest.approx(1.0)
    assert records["z1"]["arousal"] < 0.2 and records["z1"]["valence"] < 0.25
    assert records["z0"]["n"] == 2 * 4 * 60 and records["z0"]["fits"] == 2
    # Happy and angry are both high on z0: valence is separated only through sad, half of its negative group.
    assert records["z0"]["valence"] == pytest.approx(0.5, abs=0.15)


def test_a_sign_flip_between_folds_does_not_cancel_the_effect():
    frame = latents_frame()
    pooled = frame.assign(fold=0)  # the two folds' opposite axes read as one fit
    assert by_axis(axis_separation(pooled, method="dae", classes=4, corpus_names=["a"]))["z0"]["arousal"] < 0.2
    assert by_axis(axis_separation(frame, method="dae", classes=4, corpus_names=["a"]))["z0"]["arousal"] == 1.0


def test_valence_sets_happy_against_angry_and_sad_leaving_neutral_out():
    frame = latents_frame()
    labels = frame["label"]
    # Neutral far on the positive side: counted among the negative group, it would spoil a perfect score.
    frame["z1"] = np.select([labels == "happy", labels == "neutral"], [1.0, 5.0], -1.0)
    records = by_axis(axis_separation(frame, method="dae", classes=4, corpus_names=["a"]))
    assert records["z1"]["valence"] == 1.0


def test_a_three_class_set_sets_angry_and_happy_against_sad():
    frame = latents_frame(classes=("sad", "happy", "angry"))
    records = by_axis(axis_separation(frame, method="dae", classes=3, corpus_names=["a"]))
    assert records["z0"]["arousal"] == 1.0 and records["z0"]["n"] == 2 * 3 * 60
    assert records["z0"]["valence"] is not None
    assert axis_separation(frame, method="dae", classes=4, corpus_names=["a"]) == []


def test_without_both_groups_a_dimension_is_unknown():
    frame = latents_frame(classes=("neutral", "sad"))
    records = by_axis(axis_separation(frame, method="dae", classes=2, corpus_names=["a"]))
    assert records["z0"]["arousal"] is None and records["z0"]["valence"] is None
    assert verdict(list(records.values())) == "not enough classes to compare arousal and valence"


def test_the_verdict_names_the_dominating_dimension_or_neither():
    assert verdict([{"axis": "z0", "arousal": 0.2, "valence": 0.6}]).endswith("follows valence")
    assert verdict([{"axis": "z0", "arousal": 0.5, "valence": 0.48}]).endswith("about alike")


def test_the_figure_has_a_panel_per_method_with_a_latent():
    latents = pd.concat([latents_frame("dae"), latents_frame("svc_features")], ignore_index=True)
    (result,) = circumplex_figure(make_run(latents, methods=("dae", "svc_features")))
    assert result.stem == "circumplex" and result.skipped is None and result.figure is not None
    axes = [ax for ax in result.figure.axes if ax.get_visible()]
    assert len(axes) == 1  # the feature SVC has no latent
    assert "arousal 1.00" in axes[0].get_xlabel()
    assert "arousal" in result.caption


def test_the_figure_is_skipped_with_a_reason():
    assert circumplex_figure(make_run(None))[0].skipped == "this run has no latents"
    one_dimensional = latents_frame().drop(columns="z1")
    assert "one-dimensional" in circumplex_figure(make_run(one_dimensional))[0].skipped
    features_only = latents_frame("svc_features")
    assert "no method with a latent" in circumplex_figure(make_run(features_only, ("svc_features",)))[0].skipped


def test_the_table_escapes_names_and_names_the_dominating_dimension():
    odd = "<b>odd&model</b>"
    page = axes_table_html(make_run(latents_frame(odd), methods=(odd,)))
    assert odd not in page and "&lt;b&gt;odd&amp;model&lt;/b&gt;" in page
    assert "follows arousal" in page and "(z0)" in page
    assert axes_table_html(make_run(None)) == ""
    assert axes_table_html(make_run(latents_frame("svc_features"), ("svc_features",))) == ""
