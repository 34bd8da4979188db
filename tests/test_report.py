"""The report package: figures and a self-contained HTML page from a run directory.

The run directories here are fabricated by :func:`make_fake_run` in the format
``crossemo.experiment`` writes, with random latents and predictions, so the tests
need no corpus and no model training.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score

from crossemo.errors import CrossemoError
from crossemo.evaluation.metrics import mean_ci95
from crossemo.report import ReportError, write_report

FOUR = ("neutral", "sad", "happy", "angry")
THREE = ("sad", "happy", "angry")
LATENT_METHODS = ("dae", "vae", "vae_annealing", "vae_ss")
ALL_METHODS = (*LATENT_METHODS, "svc_features", "pca")
HOSTILE_NOTE = "<script>alert('x')</script> & more"


def make_fake_run(
    tmp_path: Path,
    *,
    name: str = "run",
    methods: tuple[str, ...] = ALL_METHODS,
    transfers: tuple[tuple[str, tuple[str, ...]], ...] = (("emodb", FOUR), ("aesd", THREE)),
    conditions: tuple[str, ...] = ("unseen", "target_norm"),
    latent_dim: int = 2,
    folds: int = 2,
    seeds: tuple[int, ...] = (0,),
    per_class: int = 12,
    write_latents: bool = True,
    seed: int = 0,
) -> Path:
    """Write a run directory like ``crossemo run`` does, with random latents and predictions.

    ``transfers`` are (corpus name, class set) pairs; a transfer with a smaller class
    set makes the run train that class set too, as ``StudyConfig.class_sets`` does.
    The VAE's latents are collapsed to one point, as posterior collapse would leave
    them, to exercise the degenerate-KDE path.  One record carries a note with markup
    in it, to check escaping.
    """
    rng = np.random.default_rng(seed)
    run_dir = tmp_path / name
    run_dir.mkdir(parents=True)
    train = "ravdess"
    class_sets = [FOUR] + sorted({classes for _, classes in transfers if classes != FOUR}, key=len, reverse=True)
    latent_methods = [m for m in methods if m != "svc_features"]

    def embed(method: str, labels: np.ndarray, shift: float) -> np.ndarray:
        if method == "vae":
            return np.zeros((len(labels), latent_dim))
        centres = {label: rng.normal(0, 2, latent_dim) for label in FOUR}
        return np.array([centres[label] for label in labels]) + rng.normal(shift, 1.0, (len(labels), latent_dim))

    def predict(labels: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
        guesses = rng.choice(classes, size=len(labels))
        return np.where(rng.random(len(labels)) < 0.5, labels, guesses)

    groups: dict[tuple, list[tuple]] = {}
    latent_frames, histories, metric_rows = [], {}, []
    for classes in class_sets:
        evaluations = [("", "within")] + [
            (corpus, condition) for corpus, corpus_classes in transfers if corpus_classes == classes
            for condition in conditions
        ]
        for fit_seed in seeds:
            for fold in range(folds):
                train_labels = np.repeat(classes, per_class)
                for method in methods:
                    if method in latent_methods:
                        latent_frames.append(
                            _frame(method, classes, fold, fit_seed, train, "train",
                                   train_labels, None, embed(method, train_labels, 0.0))
                        )
                    if method in LATENT_METHODS:
                        histories[f"{method}/{len(classes)}c/fold{fold}/seed{fit_seed}"] = _history(method, rng)
                    for corpus, condition in evaluations:
                        n = per_class // 2
                        truth = np.repeat(classes, n)
                        predicted = predict(truth, classes)
                        corpus = corpus or train
                        log_bd = None if condition == "within" or method == "svc_features" else float(
                            rng.normal(0.5, 0.8))
                        groups.setdefault((method, corpus, condition, classes), []).append(
                            (truth, predicted, log_bd))
                        if method in latent_methods:
                            shift = 0.0 if condition == "within" else 1.5
                            latent_frames.append(
                                _frame(method, classes, fold, fit_seed, corpus, condition, truth, predicted,
                                       embed(method, truth, shift))
                            )
                        metric_rows.append({"method": method, "corpus": corpus, "condition": condition,
                                            "classes": len(classes), "fold": fold, "seed": fit_seed, "n": len(truth),
                                            "balanced_accuracy": balanced_accuracy_score(truth, predicted),
                                            "log_bhattacharyya": log_bd})

    records = []
    for (method, corpus, condition, classes), items in groups.items():
        folds_ba = [float(balanced_accuracy_score(truth, predicted)) for truth, predicted, _ in items]
        mean, low, high = mean_ci95(folds_ba)
        log_bds = [log_bd for _, _, log_bd in items if log_bd is not None]
        matrix = {t: {p: 0 for p in classes} for t in classes}
        for truth, predicted, _ in items:
            for t, p in zip(truth, predicted):
                matrix[t][p] += 1
        recall = {t: matrix[t][t] / sum(matrix[t].values()) for t in classes}
        record = {
            "method": method, "corpus": corpus, "condition": condition, "classes": len(classes),
            "class_names": list(classes),
            "balanced_accuracy": {"mean": mean, "ci95": [low, high], "folds": folds_ba},
            "log_bhattacharyya": {"mean": float(np.mean(log_bds)), "folds": log_bds} if log_bds else None,
            "per_class_recall": recall, "confusion": matrix,
        }
        records.append(record)
    records[-1]["note"] = HOSTILE_NOTE

    corpora = {train: _corpus_info("en", rng)}
    corpora.update({corpus: _corpus_info("de", rng) for corpus, _ in transfers})
    results = {
        "results": records,
        "config": {
            "train": {"corpus": train, "path": "/data/ravdess", "name": None, "classes": None},
            "transfer": [{"corpus": corpus, "path": f"/data/{corpus}", "name": None,
                          "classes": list(classes) if classes != FOUR else None} for corpus, classes in transfers],
            "protocol": {"folds": folds, "split": "speaker", "classes": list(FOUR), "conditions": list(conditions),
                         "target_fraction": 0.2, "outlier_z": 10.0, "seeds": list(seeds),
                         "baselines": [m for m in methods if m in ("svc_features", "pca")]},
            "model": {"methods": [m for m in methods if m in LATENT_METHODS], "latent_dim": latent_dim,
                      "epochs": 4, "batch_size": 64, "learning_rate": 0.001},
            "compute": {"jobs": None, "scheduler": None, "cache_dir": None},
        },
        "corpora": corpora,
        "histories": histories,
        "versions": {"python": "3.11", "crossemo": "0.1.0"},
        "timings": {"features_s": 12.5, "fits_s": 80.0, "total_s": 95.0,
                    "fit_s_by_method": {m: float(rng.uniform(1, 20)) for m in methods}},
    }
    (run_dir / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    pd.DataFrame(metric_rows).to_csv(run_dir / "metrics.csv", index=False)
    if write_latents and latent_frames:
        pd.concat(latent_frames, ignore_index=True).to_parquet(run_dir / "latents.parquet", index=False)
    return run_dir


def _frame(method, classes, fold, seed, corpus, condition, labels, predicted, latent) -> pd.DataFrame:
    frame = pd.DataFrame({
        "method": method, "classes": len(classes), "fold": fold, "seed": seed, "corpus": corpus,
        "condition": condition,
        "path": None if predicted is None else [f"/data/{corpus}/{i}.wav" for i in range(len(labels))],
        "label": pd.Series(labels, dtype=object).astype(str),
        "predicted": predicted,
    })
    for dimension in range(latent.shape[1]):
        frame[f"z{dimension}"] = latent[:, dimension].astype(np.float32)
    return frame


def _history(method: str, rng: np.random.Generator) -> list[dict]:
    history = []
    for epoch in range(1, 5):
        entry = {"epoch": epoch, "reconstruction": float(1.0 / epoch + rng.uniform(0, 0.1))}
        if method != "dae":
            entry["kl"] = float(rng.uniform(0.01, 2.0))
        if method in ("vae_annealing", "vae_ss"):
            entry["beta"] = 0.25 * ((epoch - 1) % 2) / 1.0
        if method == "vae_ss":
            entry["cluster"] = float(rng.uniform(0.1, 1.0))
        entry["loss"] = sum(value for key, value in entry.items() if key not in ("epoch", "beta"))
        history.append(entry)
    return history


def _corpus_info(language: str, rng: np.random.Generator) -> dict:
    skipped = [{"path": f"/data/broken_{i}.wav", "reason": "unreadable <audio>"}
               for i in range(int(rng.integers(1, 3)))]
    return {"utterances": int(rng.integers(100, 900)), "labelled": int(rng.integers(50, 100)),
            "outliers_removed": int(rng.integers(0, 5)), "skipped": skipped, "language": language}


def _pngs(run_dir: Path) -> list[Path]:
    return sorted((run_dir / "figures").glob("*.png"))


def _imgs(html: str) -> list[str]:
    return re.findall(r"<img\b[^>]*>", html)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> tuple[Path, str]:
    run_dir = make_fake_run(tmp_path_factory.mktemp("report"))
    path = write_report(run_dir)
    return run_dir, path.read_text(encoding="utf-8")


def test_report_is_written_and_self_contained(full_run):
    run_dir, html = full_run
    assert (run_dir / "report.html").is_file()
    assert html.startswith("<!DOCTYPE html>")
    lowered = html.lower()
    assert not re.search(r"""\bsrc\s*=\s*["']?(https?:|//)""", lowered)
    assert "<link" not in lowered and "<script" not in lowered
    assert "@import" not in lowered and "url(" not in lowered
    assert all("src='data:image/png;base64," in img for img in _imgs(html))


def test_every_figure_is_embedded_and_written_as_png_and_svg(full_run):
    run_dir, html = full_run
    pngs = _pngs(run_dir)
    assert {p.stem for p in pngs} == {
        "latent_scatter", "balanced_accuracy", "bhattacharyya", "latent_overlap",
        "confusion_4c", "confusion_3c", "training_curves",
    }
    assert len(_imgs(html)) == len(pngs)
    for png in pngs:
        assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        svg = png.with_suffix(".svg")
        assert svg.is_file() and b"<svg" in svg.read_bytes()[:2000]
        assert f"id='img-{png.stem}'" in html
    assert not list((run_dir / "figures").glob(".*.tmp")), "temporary files left behind"


def test_every_image_has_alt_text_and_class(full_run):
    _, html = full_run
    for img in _imgs(html):
        alt = re.search(r"alt='([^']*)'", img)
        assert alt and len(alt.group(1)) > 20
        assert "class='report-figure'" in img


def test_tables_show_the_numbers_of_results_json(full_run):
    run_dir, html = full_run
    records = json.loads((run_dir / "results.json").read_text())["results"]
    for record in records:
        accuracy = record["balanced_accuracy"]
        low, high = accuracy["ci95"]
        assert f"{100 * accuracy['mean']:.1f}%" in html
        assert f"[{100 * low:.1f}, {100 * high:.1f}]" in html
        if record["log_bhattacharyya"] is not None:
            assert f"{record['log_bhattacharyya']['mean']:.2f}" in html
    within = re.search(r"<table id='table-within'>.*?</table>", html, re.S).group(0)
    within_records = [r for r in records if r["condition"] == "within"]
    assert within.count("<tr>") == 1 + len(within_records)  # header + one row per within record
    full = re.search(r"<table id='table-results'>.*?</table>", html, re.S).group(0)
    assert full.count("<tr") == 1 + len(records)


def test_run_summary_counts_corpora_and_skipped_files(full_run):
    run_dir, html = full_run
    corpora = json.loads((run_dir / "results.json").read_text())["corpora"]
    for name, info in corpora.items():
        assert f"<td>{name}</td>" in html
        assert f"{info['utterances']:,}" in html
        if info["skipped"]:
            assert f"{len(info['skipped'])} skipped file(s) in {name}" in html


def test_text_from_results_is_escaped(full_run):
    _, html = full_run
    assert HOSTILE_NOTE not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more" in html
    assert "unreadable &lt;audio&gt;" in html


def test_missing_results_json_is_a_clear_error(tmp_path):
    with pytest.raises(ReportError, match=r"no results\.json"):
        write_report(tmp_path)
    with pytest.raises(CrossemoError, match="not found"):
        write_report(tmp_path / "absent")
    (tmp_path / "results.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ReportError, match="not valid JSON"):
        write_report(tmp_path)
    (tmp_path / "results.json").write_text(json.dumps({"results": [{"method": "dae"}]}), encoding="utf-8")
    with pytest.raises(ReportError, match="lacks corpus"):
        write_report(tmp_path)
    record = {"method": "dae", "corpus": "x", "condition": "within", "classes": "four", "balanced_accuracy": {}}
    (tmp_path / "results.json").write_text(json.dumps({"results": [record]}), encoding="utf-8")
    with pytest.raises(ReportError, match="malformed classes"):
        write_report(tmp_path)


def test_run_without_transfer_corpora_renders_and_says_what_it_skipped(tmp_path):
    run_dir = make_fake_run(tmp_path, transfers=(), methods=("dae", "vae_ss", "pca"))
    html = write_report(run_dir).read_text(encoding="utf-8")
    stems = {p.stem for p in _pngs(run_dir)}
    assert {"latent_scatter", "balanced_accuracy", "confusion", "training_curves"} <= stems
    assert not {"bhattacharyya", "latent_overlap"} & stems
    assert "id='skipped-bhattacharyya'" in html and "no transfer corpora" in html
    assert len(_imgs(html)) == len(stems)
    assert "none (within-corpus evaluation only)" in html


def test_one_dimensional_latent_skips_the_scatter_figures(tmp_path):
    run_dir = make_fake_run(tmp_path, latent_dim=1, methods=("dae", "svc_features"), transfers=(("emodb", FOUR),))
    html = write_report(run_dir).read_text(encoding="utf-8")
    stems = {p.stem for p in _pngs(run_dir)}
    assert "latent_scatter" not in stems and "latent_overlap" not in stems
    assert "one-dimensional" in html
    assert {"balanced_accuracy", "bhattacharyya", "confusion", "training_curves"} <= stems


def test_rewriting_a_report_removes_figures_it_no_longer_draws(tmp_path):
    run_dir = make_fake_run(tmp_path, methods=("dae",), transfers=(("emodb", FOUR),), conditions=("unseen",))
    write_report(run_dir)
    assert (run_dir / "figures" / "latent_scatter.png").is_file()
    (run_dir / "latents.parquet").unlink()
    html = write_report(run_dir).read_text(encoding="utf-8")
    assert not (run_dir / "figures" / "latent_scatter.png").exists()
    assert not (run_dir / "figures" / "latent_scatter.svg").exists()
    assert "latents.parquet is missing" in html
    assert len(_imgs(html)) == len(_pngs(run_dir))


def test_baselines_only_run_has_no_training_curves(tmp_path):
    run_dir = make_fake_run(tmp_path, methods=("svc_features",), transfers=(("emodb", FOUR),), write_latents=False)
    html = write_report(run_dir).read_text(encoding="utf-8")
    stems = {p.stem for p in _pngs(run_dir)}
    assert stems == {"balanced_accuracy", "confusion"}
    assert "id='skipped-training_curves'" in html
    assert len(_imgs(html)) == 2


def test_missing_numbers_show_as_not_available(tmp_path):
    run_dir = make_fake_run(tmp_path, methods=("dae",), transfers=(("emodb", FOUR),), conditions=("unseen",))
    content = json.loads((run_dir / "results.json").read_text())
    unknown_ci, unknown_mean = content["results"][:2]
    unknown_ci["balanced_accuracy"]["ci95"] = [float("nan"), float("nan")]
    unknown_mean["balanced_accuracy"]["mean"] = float("nan")
    (run_dir / "results.json").write_text(json.dumps(content), encoding="utf-8")
    html = write_report(run_dir).read_text(encoding="utf-8")
    assert f"{100 * unknown_ci['balanced_accuracy']['mean']:.1f}%</td>" in html  # no interval after it
    assert "<td class='num'>n/a" in html
    assert len(_imgs(html)) == len(_pngs(run_dir))


def test_run_without_any_result_renders_an_empty_report(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"results": []}), encoding="utf-8")
    html = write_report(tmp_path).read_text(encoding="utf-8")
    assert _imgs(html) == [] and _pngs(tmp_path) == []
    assert "The run has no within-corpus results." in html


def test_a_figure_that_cannot_be_drawn_is_reported_not_raised(tmp_path):
    run_dir = make_fake_run(tmp_path, methods=("dae",), transfers=(), write_latents=False)
    content = json.loads((run_dir / "results.json").read_text())
    content["results"][0]["confusion"] = {"neutral": "not a row"}
    (run_dir / "results.json").write_text(json.dumps(content), encoding="utf-8")
    with pytest.warns(RuntimeWarning, match="confusion"):
        html = write_report(run_dir).read_text(encoding="utf-8")
    assert "id='skipped-confusion'" in html and "could not be drawn" in html
    assert {p.stem for p in _pngs(run_dir)} == {"balanced_accuracy", "training_curves"}
