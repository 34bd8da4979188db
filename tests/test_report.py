"""The report package on what a real study run writes.

Every test starts from the session's ``finished_run`` (tests/conftest.py: a real
``run_study(..., report=False)`` over generated RAVDESS -> AESD corpora), copied into
the test's own folder before a report is written or a file is tampered with.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import shutil
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb
from matplotlib.image import imread

import crossemo.report
from crossemo.errors import CrossemoError
from crossemo.models import registry as registry_module
from crossemo.report import FIGURES_DIR, REPORT_FILE, ReportError, load_run, write_report
from crossemo.report.html import build_html
from crossemo.report.style import FALLBACK_COLOURS, method_colour, method_label, method_rank
from crossemo.study import rundir
from crossemo.study.results import read_results

ALL_FIGURES = {"latent_scatter", "circumplex", "balanced_accuracy", "bhattacharyya", "latent_overlap", "confusion",
               "training_curves"}
LATENT_FIGURES = {"latent_scatter", "circumplex", "latent_overlap"}
HOSTILE_NOTE = "<script>alert('x')</script> & more"
NEW_METHOD = "my_new_method"


def copy_run(finished_run, destination: Path) -> Path:
    """A private copy of the real run directory, to report on or tamper with."""
    run_dir = destination / "run"
    shutil.copytree(finished_run.out, run_dir)
    return run_dir


def edit_results(run_dir: Path, edit: Callable[[dict], object]) -> None:
    """Apply ``edit`` to the content of ``run_dir/results.json`` in place."""
    path = run_dir / rundir.RESULTS_FILE
    content = json.loads(path.read_text(encoding="utf-8"))
    edit(content)
    path.write_text(json.dumps(content), encoding="utf-8")


def _pngs(run_dir: Path) -> list[Path]:
    return sorted((run_dir / FIGURES_DIR).glob("*.png"))


def _imgs(html: str) -> list[str]:
    return re.findall(r"<img\b[^>]*>", html)


def _table(html: str, table_id: str) -> str:
    return re.search(rf"<table id='{table_id}'>.*?</table>", html, re.S).group(0)


def _has_colour(png: Path, colour: str) -> bool:
    """Whether ``png`` has at least a few pixels of exactly ``colour`` (bars are drawn flat)."""
    pixels = imread(png)[..., :3]
    target = np.array(to_rgb(colour))
    return int(np.all(np.abs(pixels - target) < 1.5 / 255, axis=-1).sum()) >= 20


@pytest.fixture(scope="module")
def full_run(finished_run, tmp_path_factory) -> tuple[Path, str]:
    run_dir = copy_run(finished_run, tmp_path_factory.mktemp("report"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no figure may fail on a real run
        path = write_report(run_dir)
    return run_dir, path.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- the real run


def test_report_files_come_from_the_run_directory_layout():
    assert crossemo.report.REPORT_FILE == rundir.REPORT_FILE
    assert crossemo.report.FIGURES_DIR == rundir.FIGURES_DIR


def test_report_is_written_and_self_contained(full_run):
    run_dir, html = full_run
    assert (run_dir / REPORT_FILE).is_file()
    assert html.startswith("<!DOCTYPE html>")
    lowered = html.lower()
    assert not re.search(r"""\bsrc\s*=\s*["']?(https?:|//)""", lowered)
    assert "<link" not in lowered and "<script" not in lowered
    assert "@import" not in lowered and "url(" not in lowered
    assert all("src='data:image/png;base64," in img for img in _imgs(html))


def test_every_figure_is_embedded_and_written_as_png_only_unless_svg_is_asked_for(full_run, tmp_path):
    run_dir, html = full_run
    pngs = _pngs(run_dir)
    assert {p.stem for p in pngs} == ALL_FIGURES
    assert len(_imgs(html)) == len(pngs)
    for png in pngs:
        assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        assert not png.with_suffix(".svg").exists()
        assert f"id='img-{png.stem}'" in html
    assert ">SVG</a>" not in html
    assert not list((run_dir / FIGURES_DIR).glob(".*.tmp")), "temporary files left behind"
    assert "Figure skipped" not in html


def test_svg_figures_on_request_and_removed_once_no_longer_asked_for(finished_run, tmp_path):
    run_dir = copy_run(finished_run, tmp_path)
    html = write_report(run_dir, svg=True).read_text(encoding="utf-8")
    pngs = _pngs(run_dir)
    for png in pngs:
        svg = png.with_suffix(".svg")
        assert svg.is_file() and b"<svg" in svg.read_bytes()[:2000]
        assert f"href='figures/{svg.name}'" in html
    write_report(run_dir)
    assert not list((run_dir / FIGURES_DIR).glob("*.svg")) and len(_pngs(run_dir)) == len(pngs)


def test_figures_drawn_on_two_cores_equal_those_drawn_in_this_process(full_run, tmp_path):
    run_dir, html = full_run
    shared = tmp_path / "run"
    shutil.copytree(run_dir, shared, ignore=shutil.ignore_patterns(FIGURES_DIR))
    shared_html = write_report(shared, jobs=2).read_text(encoding="utf-8")
    assert {p.name: p.read_bytes() for p in _pngs(shared)} == {p.name: p.read_bytes() for p in _pngs(run_dir)}
    assert _imgs(shared_html) == _imgs(html)  # same figures, same order, same embedded bytes


def test_a_figure_that_fails_in_a_worker_is_reported_not_raised(finished_run, tmp_path):
    run_dir = copy_run(finished_run, tmp_path)
    edit_results(run_dir, lambda content: content["results"][0].update(confusion={"neutral": "not a row"}))
    with pytest.warns(RuntimeWarning, match="confusion"):
        html = write_report(run_dir, jobs=2).read_text(encoding="utf-8")
    assert "id='skipped-confusion'" in html and "could not be drawn" in html
    assert {p.stem for p in _pngs(run_dir)} == ALL_FIGURES - {"confusion"}


def test_drawing_the_report_imports_neither_torch_nor_scikit_learn():
    # Report workers import only what drawing needs: torch and scikit-learn would add
    # about 1.5 s to each one's start.
    code = "import sys, crossemo.report.figures; print(sorted({'torch', 'sklearn'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_every_image_has_alt_text_and_class(full_run):
    _, html = full_run
    for img in _imgs(html):
        alt = re.search(r"alt='([^']*)'", img)
        assert alt and len(alt.group(1)) > 20
        assert "class='report-figure'" in img


def test_tables_show_the_numbers_of_results_json(full_run):
    run_dir, html = full_run
    records = read_results(run_dir / rundir.RESULTS_FILE)["results"]
    assert records
    for record in records:
        accuracy = record["balanced_accuracy"]
        low, high = accuracy["ci95"]
        assert f"{100 * accuracy['mean']:.1f}%" in html
        assert f"[{100 * low:.1f}, {100 * high:.1f}]" in html
        if record["log_bhattacharyya"] is not None:
            assert f"{record['log_bhattacharyya']['mean']:.2f}" in html
    within_records = [r for r in records if r["condition"] == "within"]
    assert _table(html, "table-within").count("<tr>") == 1 + len(within_records)  # header + one row each
    assert _table(html, "table-within").count("<tr class='reference'>") == 1  # the paper's row
    assert _table(html, "table-results").count("<tr") == 1 + len(records)


def test_labels_and_order_come_from_the_registry(full_run):
    run_dir, html = full_run
    methods = {record["method"] for record in read_results(run_dir / rundir.RESULTS_FILE)["results"]}
    registered = registry_module.registry()
    assert methods <= set(registered)
    within = _table(html, "table-within")
    labels = re.findall(r"<tr><td>(.*?) \+ linear SVC</td>", within)
    assert labels == [registered[name].label for name in registered if name in methods]


def test_texts_name_the_feature_set_of_results_json(full_run):
    run_dir, html = full_run
    features = read_results(run_dir / rundir.RESULTS_FILE)["features"]
    assert features["n_features"] > 0 and features["feature_set"]
    assert f"embeds the {features['n_features']} {features['feature_set']} features" in html
    assert f"<td>{features['feature_set']}+{load_run(run_dir).train_corpus}</td>" in html
    assert f"<dd>{features['n_features']} {features['feature_set']} ({features['id']}, " in html


def test_run_summary_counts_corpora(full_run):
    run_dir, html = full_run
    corpora = read_results(run_dir / rundir.RESULTS_FILE)["corpora"]
    assert len(corpora) >= 2
    for name, info in corpora.items():
        assert f"<td>{name}</td>" in html
        assert f"{info['utterances']:,}" in html


def test_run_data_holds_the_typed_records(finished_run):
    run = load_run(finished_run.out)
    assert run.schema_version == 3
    assert run.histories and all(set(h) >= {"method", "classes", "fold", "seed", "epochs"} for h in run.histories)
    assert run.features == finished_run.results["features"]
    assert run.methods == sorted(run.methods, key=method_rank)
    assert run.transfer_corpora and run.train_corpus not in run.transfer_corpora


# --------------------------------------------------------------------------- tampered copies


def test_text_from_results_is_escaped(finished_run, tmp_path):
    run_dir = copy_run(finished_run, tmp_path)

    def hostile(content):
        content["results"][-1]["note"] = HOSTILE_NOTE
        first = next(iter(content["corpora"]))
        content["corpora"][first]["skipped"] = [{"path": "/data/broken.wav", "reason": "unreadable <audio>"}]

    edit_results(run_dir, hostile)
    html = build_html(load_run(run_dir), [])  # the text only: no figure needed
    assert HOSTILE_NOTE not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more" in html
    assert "unreadable &lt;audio&gt;" in html
    first = next(iter(read_results(run_dir / rundir.RESULTS_FILE)["corpora"]))
    assert f"1 skipped file(s) in {first}" in html


def test_missing_or_malformed_results_json_is_a_clear_error(tmp_path):
    with pytest.raises(ReportError, match=r"no results\.json"):
        write_report(tmp_path)
    with pytest.raises(CrossemoError, match="not found"):
        write_report(tmp_path / "absent")
    (tmp_path / "results.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ReportError, match="not valid JSON"):
        write_report(tmp_path)
    (tmp_path / "results.json").write_text(json.dumps({"results": [{"method": "m"}]}), encoding="utf-8")
    with pytest.raises(ReportError, match="lacks corpus"):
        write_report(tmp_path)
    record = {"method": "m", "corpus": "x", "condition": "within", "classes": "four", "balanced_accuracy": {}}
    (tmp_path / "results.json").write_text(json.dumps({"results": [record]}), encoding="utf-8")
    with pytest.raises(ReportError, match="malformed classes"):
        write_report(tmp_path)


def test_a_malformed_history_is_refused(finished_run, tmp_path):
    run_dir = copy_run(finished_run, tmp_path)
    edit_results(run_dir, lambda content: content["histories"][0].pop("fold"))
    with pytest.raises(ReportError, match="history 0 lacks fold"):
        write_report(run_dir)


def test_run_without_transfer_corpora_renders_and_says_what_it_skipped(finished_run, tmp_path):
    run_dir = copy_run(finished_run, tmp_path)

    def within_only(content):
        content["results"] = [r for r in content["results"] if r["condition"] == "within"]
        content["config"]["transfer"] = []
        content["cells"][0]["transfer"] = []
        content["corpora"] = {name: info for name, info in content["corpora"].items()
                              if name == load_run(finished_run.out).train_corpus}

    edit_results(run_dir, within_only)
    html = write_report(run_dir).read_text(encoding="utf-8")
    stems = {p.stem for p in _pngs(run_dir)}
    assert stems == {"latent_scatter", "circumplex", "balanced_accuracy", "confusion", "training_curves"}
    assert "id='skipped-bhattacharyya'" in html and "no transfer corpora" in html
    assert "id='skipped-latent_overlap'" in html
    assert len(_imgs(html)) == len(stems)
    assert "none (within-corpus evaluation only)" in html


def test_one_dimensional_latent_skips_the_scatter_figures(finished_run, tmp_path):
    run_dir = copy_run(finished_run, tmp_path)
    latents = pd.read_parquet(run_dir / rundir.LATENTS_FILE)
    latents.drop(columns=[c for c in latents.columns if re.fullmatch(r"z[1-9]\d*", c)]).to_parquet(
        run_dir / rundir.LATENTS_FILE, index=False)
    edit_results(run_dir, lambda content: content["config"]["model"].update(latent_dim=1))
    html = write_report(run_dir).read_text(encoding="utf-8")
    stems = {p.stem for p in _pngs(run_dir)}
    assert stems == ALL_FIGURES - LATENT_FIGURES
    assert "one-dimensional" in html


def test_missing_latents_are_noted_and_stale_figures_removed(finished_run, tmp_path):
    run_dir = copy_run(finished_run, tmp_path)
    write_report(run_dir)
    assert (run_dir / FIGURES_DIR / "latent_scatter.png").is_file()
    (run_dir / rundir.LATENTS_FILE).unlink()
    html = write_report(run_dir).read_text(encoding="utf-8")
    for stem in LATENT_FIGURES:
        assert not (run_dir / FIGURES_DIR / f"{stem}.png").exists()
        assert not (run_dir / FIGURES_DIR / f"{stem}.svg").exists()
        assert f"id='skipped-{stem}'" in html
    assert f"{rundir.LATENTS_FILE} is missing" in html
    assert len(_imgs(html)) == len(_pngs(run_dir)) == len(ALL_FIGURES - LATENT_FIGURES)


def test_unreadable_latents_are_noted(finished_run, tmp_path):
    run_dir = copy_run(finished_run, tmp_path)
    (run_dir / rundir.LATENTS_FILE).write_bytes(b"not parquet")
    run = load_run(run_dir)
    assert run.latents is None
    assert any(f"{rundir.LATENTS_FILE} could not be read" in note for note in run.notes)


def test_baselines_only_run_has_no_training_curves(finished_run, tmp_path):
    run_dir = copy_run(finished_run, tmp_path)
    without_latent = {name for name, method in registry_module.registry().items() if not method.has_latent}

    def baselines_only(content):
        content["results"] = [r for r in content["results"] if r["method"] in without_latent]
        content["histories"] = []

    edit_results(run_dir, baselines_only)
    (run_dir / rundir.LATENTS_FILE).unlink()
    html = write_report(run_dir).read_text(encoding="utf-8")
    assert {p.stem for p in _pngs(run_dir)} == {"balanced_accuracy", "confusion"}
    assert "id='skipped-training_curves'" in html and "no training histories" in html
    assert "id='skipped-bhattacharyya'" in html
    assert len(_imgs(html)) == 2


def test_schema_1_results_render_without_training_curves(finished_run, tmp_path):
    run_dir = copy_run(finished_run, tmp_path)

    def version_1(content):
        # How schema 1 stored histories: keyed by a composite name; no features, no version.
        content["histories"] = {f"{h['method']}/{h['classes']}c/fold{h['fold']}/seed{h['seed']}": h["epochs"]
                                for h in content["histories"]}
        del content["schema_version"], content["features"]

    edit_results(run_dir, version_1)
    html = write_report(run_dir).read_text(encoding="utf-8")
    assert {p.stem for p in _pngs(run_dir)} == ALL_FIGURES - {"training_curves"}
    skipped = re.search(r"<p class='skipped' id='skipped-training_curves'>(.*?)</p>", html).group(1)
    assert "schema version 1" in skipped
    assert "embeds the acoustic features" in html  # no extractor recorded: a generic wording
    assert "<dt>Features</dt><dd>not recorded</dd>" in html


def test_missing_numbers_show_as_not_available(finished_run, tmp_path):
    run_dir = copy_run(finished_run, tmp_path)
    content = json.loads((run_dir / rundir.RESULTS_FILE).read_text())
    unknown_ci, unknown_mean = content["results"][:2]
    unknown_ci["balanced_accuracy"]["ci95"] = [float("nan"), float("nan")]
    unknown_mean["balanced_accuracy"]["mean"] = float("nan")
    (run_dir / rundir.RESULTS_FILE).write_text(json.dumps(content), encoding="utf-8")
    html = write_report(run_dir).read_text(encoding="utf-8")
    assert f"{100 * unknown_ci['balanced_accuracy']['mean']:.1f}%</td>" in html  # no interval after it
    assert "<td class='num'>n/a" in html
    assert len(_imgs(html)) == len(_pngs(run_dir))


def test_run_without_any_result_renders_an_empty_report(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"results": []}), encoding="utf-8")
    html = write_report(tmp_path).read_text(encoding="utf-8")
    assert _imgs(html) == [] and _pngs(tmp_path) == []
    assert "The run has no within-corpus results." in html


def test_a_figure_that_cannot_be_drawn_is_reported_not_raised(finished_run, tmp_path):
    run_dir = copy_run(finished_run, tmp_path)
    edit_results(run_dir, lambda content: content["results"][0].update(confusion={"neutral": "not a row"}))
    with pytest.warns(RuntimeWarning, match="confusion"):
        html = write_report(run_dir).read_text(encoding="utf-8")
    assert "id='skipped-confusion'" in html and "could not be drawn" in html
    assert {p.stem for p in _pngs(run_dir)} == ALL_FIGURES - {"confusion"}


# --------------------------------------------------------------------------- the registry


def _add_unregistered_method(run_dir: Path, source: str) -> None:
    """Record every result, history and latent of ``source`` a second time as :data:`NEW_METHOD`."""

    def duplicate(content):
        content["results"] += [{**r, "method": NEW_METHOD} for r in content["results"] if r["method"] == source]
        content["histories"] += [{**h, "method": NEW_METHOD} for h in content["histories"]
                                 if h["method"] == source]

    edit_results(run_dir, duplicate)
    latents = pd.read_parquet(run_dir / rundir.LATENTS_FILE)
    extra = latents[latents["method"] == source].assign(method=NEW_METHOD)
    pd.concat([latents, extra], ignore_index=True).to_parquet(run_dir / rundir.LATENTS_FILE, index=False)


def test_a_method_missing_from_the_registry_still_renders(finished_run, tmp_path):
    run_dir = copy_run(finished_run, tmp_path)
    source = next(name for name, method in registry_module.registry().items()
                  if method.has_latent and name in {h["method"] for h in finished_run.results["histories"]})
    _add_unregistered_method(run_dir, source)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        html = write_report(run_dir).read_text(encoding="utf-8")
    assert {p.stem for p in _pngs(run_dir)} == ALL_FIGURES
    assert f"<td>{NEW_METHOD}</td>" in html  # its identifier is its label
    assert load_run(run_dir).methods[-1] == NEW_METHOD  # ranked after every registered method
    colour = method_colour(NEW_METHOD)
    assert colour in FALLBACK_COLOURS
    assert colour.lower() not in {method.colour.lower() for method in registry_module.registry().values()}
    assert _has_colour(run_dir / FIGURES_DIR / "balanced_accuracy.png", colour)


def test_style_falls_back_for_unknown_methods():
    registered = list(registry_module.registry())
    assert method_label(NEW_METHOD) == NEW_METHOD
    assert method_colour(NEW_METHOD) == method_colour(NEW_METHOD)
    assert sorted([NEW_METHOD, *reversed(registered)], key=method_rank) == [*registered, NEW_METHOD]


def test_report_labels_colours_and_order_are_read_from_the_registry(finished_run, tmp_path, monkeypatch):
    run_dir = copy_run(finished_run, tmp_path)
    original = registry_module.registry()
    used = {record["method"] for record in finished_run.results["results"]}
    first = next(name for name in original if name in used)
    changed = dataclasses.replace(original[first], label="My DAE", colour="#123456")
    # The changed method moves to the end of the display order.
    substitute = {name: method for name, method in original.items() if name != first}
    substitute[first] = changed
    monkeypatch.setattr(registry_module, "METHODS", MappingProxyType(substitute))
    html = write_report(run_dir).read_text(encoding="utf-8")
    assert "<td>My DAE + linear SVC</td>" in html and f"<td>{original[first].label}</td>" not in html
    labels = re.findall(r"<tr><td>(.*?) \+ linear SVC</td>", _table(html, "table-within"))
    assert labels[-1] == "My DAE" and len(labels) == len(used)
    assert _has_colour(run_dir / FIGURES_DIR / "balanced_accuracy.png", "#123456")


def test_the_report_package_names_no_method():
    """Methods are the registry's: no report module spells a registered name (docstrings aside)."""
    names = set(registry_module.registry())
    package = Path(crossemo.report.__file__).parent
    for module in sorted(package.glob("*.py")):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body
                      and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                assert node.value not in names, f"{module.name}:{node.lineno} names the method {node.value!r}"
