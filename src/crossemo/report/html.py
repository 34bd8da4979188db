"""The self-contained HTML page: figures embedded as base64 PNG, styles inline, no scripts.

Every piece of text that comes from a run directory passes through
:func:`html.escape`, so a corpus or file name can never inject markup; and the
page is valid UTF-8 whatever the run holds (:func:`valid_text`: a name with
undecodable bytes, recorded by an older crossemo, is shown with ``\\xNN`` escapes).
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from html import escape

from crossemo.fileio import path_to_text
from crossemo.report.figures import RenderedFigure
from crossemo.report.figures_circumplex import axes_table_html
from crossemo.report.html_corpora import DESIGNS, cells_table, corpora_table
from crossemo.report.run import RunData
from crossemo.report.style import (
    condition_name,
    condition_rank,
    interval,
    is_number,
    method_description,
    method_is_baseline,
    method_label,
    method_rank,
    percent,
)

PAPER_REFERENCE = ("DAE+Linear-SVM (paper)", "eGeMAPS+IEMOCAP", 4, "52.09% (UA)")
"""The seed paper's own Table 1 row, shown for comparison."""

STYLE = """
:root { --ink: #1d1d1f; --muted: #5f6368; --line: #d9dce1; --band: #f5f6f8; --accent: #0072B2; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 64px; }
header { border-bottom: 3px solid var(--accent); margin-bottom: 8px; }
h1 { font-size: 1.7em; margin: 0.2em 0 0.1em; }
h2 { font-size: 1.3em; margin: 1.8em 0 0.5em; padding-bottom: 0.2em; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05em; margin: 1.2em 0 0.4em; }
.subtitle, .muted { color: var(--muted); }
nav { font-size: 0.92em; margin: 10px 0 0; }
nav a { margin-right: 14px; color: var(--accent); text-decoration: none; white-space: nowrap; }
table { border-collapse: collapse; margin: 0.6em 0 1em; font-size: 0.9em; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: var(--band); font-weight: 600; }
#table-results td:not(.note):not(.recall), #table-within td { white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.reference td { color: var(--muted); font-style: italic; }
tr.group-start td { border-top: 2px solid var(--line); }
td.best { font-weight: 700; }
.ci { color: var(--muted); font-size: 0.92em; }
.recall { color: var(--muted); font-size: 0.85em; min-width: 170px; }
.note { font-size: 0.85em; color: #8a4b00; min-width: 140px; }
dl.summary { display: grid; grid-template-columns: max-content 1fr; gap: 2px 18px; margin: 0.5em 0 1em; }
dl.summary dt { font-weight: 600; }
dl.summary dd { margin: 0; }
figure { margin: 1.4em 0 2em; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
figcaption { margin-top: 0.5em; font-size: 0.92em; color: #333; max-width: 980px; }
figcaption a { color: var(--accent); }
.skipped { padding: 8px 12px; background: #fff7e6; border-left: 4px solid #E69F00; font-size: 0.92em; }
details { margin: 0.6em 0; }
summary { cursor: pointer; font-weight: 600; }
pre { background: var(--band); padding: 12px; overflow-x: auto; font-size: 0.82em; border-radius: 4px; }
.scroll { overflow-x: auto; }
footer { margin-top: 3em; color: var(--muted); font-size: 0.85em; }
"""


_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_text(text: str) -> str:
    r"""``text`` that encodes as UTF-8: each lone surrogate (an undecodable byte of a name) escaped.

    >>> valid_text("Actor_01/\udcff.wav <b>")
    'Actor_01/\\xff.wav <b>'
    """
    return _SURROGATE.sub(lambda match: path_to_text(match.group()), text)


def build_html(run: RunData, figures: list[RenderedFigure], *, generated: datetime | None = None,
               cell: str | None = None) -> str:
    """The complete report page for ``run`` with its rendered ``figures``, as valid Unicode.

    ``cell``: the training set the per-training-set figures show (a study with several).
    """
    return valid_text(_page(run, figures, generated=generated, cell=cell))


def _page(run: RunData, figures: list[RenderedFigure], *, generated: datetime | None, cell: str | None) -> str:
    generated = generated or datetime.now(UTC)
    several = len(run.cell_names) > 1
    train = f"{run.design} over {', '.join(run.corpora)}" if several else run.train_corpus
    sections = [
        ("summary", "Run summary", _summary_section(run)),
        ("key-results", "Within-corpus results", _table1_section(run)),
        ("results", "All results", _results_section(run) + axes_table_html(run.for_cell(cell))),
        ("figures", "Figures", _cell_note(run, cell) + _figures_section(figures)),
        ("details", "Configuration, versions, timings", _details_section(run)),
    ]
    nav = "".join(f'<a href="#{anchor}">{escape(title)}</a>' for anchor, title, _ in sections)
    body = "\n".join(f'<section id="{anchor}">\n<h2>{escape(title)}</h2>\n{content}\n</section>'
                     for anchor, title, content in sections)
    notes = "".join(f'<p class="skipped">{escape(note)}</p>' for note in run.notes)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>crossemo report: {escape(train)}</title>
<style>{STYLE}</style>
</head>
<body>
<main>
<header>
<h1>Cross-lingual speech emotion recognition: {escape(train)}</h1>
<p class="subtitle">crossemo report of <code>{escape(path_to_text(run.run_dir.name or str(run.run_dir)))}</code>,
generated {escape(generated.strftime("%Y-%m-%d %H:%M UTC"))}</p>
<nav>{nav}</nav>
</header>
{notes}
{body}
<footer>Written by crossemo {escape(str(run.versions.get("crossemo", "")))}. Balanced accuracy is the
unweighted average recall over the classes present; fractions are shown as percentages.</footer>
</main>
</body>
</html>
"""


# --------------------------------------------------------------------------- sections


def _cell_note(run: RunData, cell: str | None) -> str:
    if len(run.cell_names) <= 1:
        return ""
    shown = cell or run.cell_names[0]
    return (f"<p class='muted'>The figures after the study-wide ones show the training set "
            f"<strong>{escape(shown)}</strong>; <code>crossemo report RUN_DIR --cell NAME</code> draws another "
            f"({escape(', '.join(run.cell_names))}).</p>")


def _summary_section(run: RunData) -> str:
    config = run.config
    protocol = config.get("protocol") or {}
    model = config.get("model") or {}
    transfers = run.transfer_corpora
    methods = [method_label(m) for m in run.methods]
    conditions = protocol.get("conditions") or []
    fraction = protocol.get("target_fraction")
    several = len(run.cell_names) > 1
    items = [
        ("Design", DESIGNS.get(run.design, run.design)) if several else ("Training corpus", train_label(run)),
        ("Training sets", f"{len(run.cell_names)} (see the table below)") if several else
        ("Transfer corpora", ", ".join(transfers) if transfers else "none (within-corpus evaluation only)"),
        ("Methods", ", ".join(methods)),
        ("Classes", _class_sets(run)),
        ("Folds", _folds_text(protocol)),
        ("Conditions", ", ".join(condition_name(c) for c in ["within", *conditions])),
        ("Seeds", ", ".join(str(s) for s in protocol.get("seeds") or []) or "n/a"),
        ("Features", _features_summary(run)),
        ("Latent model", _model_text(model)),
        ("Classifier", "linear SVC on the latent standardised per training fold"
         if protocol.get("scale_latent") else "linear SVC on the latent as it is (as in the paper)"),
    ]
    rows = "".join(f"<dt>{escape(key)}</dt><dd>{escape(value)}</dd>" for key, value in items)
    explanation = (
        f"<p>Each method embeds {escape(run.features_text)}{escape(_baselines_text(run))}; a linear SVC "
        "trained on the training folds' embedding predicts the held-out fold (<em>within corpus</em>) and "
        "every transfer corpus. <em>Unseen</em> transfer corpora "
        "are standardised with the training fold's statistics; <em>target-normalised</em> ones with those of "
        f"a random {escape(percent(fraction, digits=0) if is_number(fraction) else 'share')} of their own "
        "utterances (labels unused), and evaluated on the rest.</p>"
    )
    return f'<dl class="summary">{rows}</dl>\n{explanation}\n<h3>Corpora</h3>\n{corpora_table(run)}{cells_table(run)}'


def _baselines_text(run: RunData) -> str:
    """`` (the baselines: SVC all features, a linear SVC on every feature; ...)`` for the run's baselines."""
    parts = []
    for method in run.methods:
        if not method_is_baseline(method):
            continue
        description = method_description(method)
        parts.append(f"{method_label(method)}, {description}" if description else method_label(method))
    if not parts:
        return ""
    return f" (the baseline{'s' if len(parts) > 1 else ''}: {'; '.join(parts)})"


def train_label(run: RunData) -> str:
    """The training corpora with their languages, e.g. ``ravdess (language: en)``."""
    labels = []
    for name in run.training_corpora:
        language = (run.corpora.get(name) or {}).get("language")
        labels.append(f"{name} (language: {language})" if language else name)
    return " + ".join(labels)


def _class_sets(run: RunData) -> str:
    names = {}
    for record in run.results:
        names.setdefault(int(record["classes"]), record.get("class_names") or [])
    return "; ".join(f"{k}: {', '.join(names[k])}" if names[k] else str(k) for k in run.class_counts) or "n/a"


def _features_summary(run: RunData) -> str:
    """The extractor as results.json records it, e.g. ``88 eGeMAPSv02 (egemaps, eGeMAPSv02-opensmile2.6.0)``."""
    features = run.features
    if not features:
        return "not recorded"
    count = features.get("n_features")
    head = " ".join(str(part) for part in (count, run.feature_set) if part is not None)
    detail = ", ".join(str(features[key]) for key in ("id", "version")
                       if features.get(key) not in (None, "") and features.get(key) != run.feature_set)
    return f"{head} ({detail})" if detail else head or "not recorded"


def _folds_text(protocol: dict) -> str:
    folds, split = protocol.get("folds"), protocol.get("split")
    if folds is None:
        return "n/a"
    kind = {"speaker": "speaker-independent", "utterance": "utterance-level stratified"}.get(split, split or "")
    return f"{folds} ({kind})" if kind else str(folds)


def _model_text(model: dict) -> str:
    parts = []
    if "latent_dim" in model:
        parts.append(f"latent dimension {model['latent_dim']}")
    if "epochs" in model:
        parts.append(f"{model['epochs']} epochs")
    if "batch_size" in model:
        parts.append(f"batch size {model['batch_size']}")
    if "learning_rate" in model:
        parts.append(f"learning rate {model['learning_rate']:g}")
    return ", ".join(parts) or "n/a"


def _accuracy_cell(record: dict, *, best: bool = False) -> str:
    accuracy = record.get("balanced_accuracy") or {}
    low, high = (list(accuracy.get("ci95") or []) + [None, None])[:2]
    ci = interval(low, high)
    ci_html = f" <span class='ci'>{escape(ci)}</span>" if ci else ""
    cls = "num best" if best else "num"
    return f"<td class='{cls}'>{escape(percent(accuracy.get('mean')))}{ci_html}</td>"


def _table1_section(run: RunData) -> str:
    records = run.records(condition="within")
    if not records:
        return "<p class='skipped'>The run has no within-corpus results.</p>"
    feature_set = run.feature_set or "features"
    rows = []
    for record in records:
        folds = [v for v in (record["balanced_accuracy"].get("folds") or []) if is_number(v)]
        rows.append(
            "<tr>"
            f"<td>{escape(method_label(record['method']))} + linear SVC</td>"
            f"<td>{escape(feature_set)}+{escape(record['corpus'])}{_trained_on(record)}</td>"
            f"<td class='num'>{int(record['classes'])}</td>"
            f"{_accuracy_cell(record)}"
            f"<td class='num'>{len(folds)}</td>"
            "</tr>"
        )
    method, features, classes, accuracy = PAPER_REFERENCE
    rows.append(f"<tr class='reference'><td>{escape(method)}</td><td>{escape(features)}</td>"
                f"<td class='num'>{classes}</td><td class='num'>{escape(accuracy)}</td><td></td></tr>")
    header = ("<tr><th>Method</th><th>Features + corpus</th><th class='num'>Classes</th>"
              "<th class='num'>Balanced accuracy (UAR) mean [95% CI]</th><th class='num'>Folds &times; seeds</th></tr>")
    return (
        "<p>Balanced accuracy on the held-out folds of the training corpus, laid out like the paper's "
        "Table 1; the last row is the paper's own result for comparison (different corpus).</p>"
        f"<div class='scroll'><table id='table-within'>{header}{''.join(rows)}</table></div>"
    )


def _trained_on(record: dict) -> str:
    """`` (trained on a+b)`` for a within record of a training set that is not its corpus alone."""
    train = str(record.get("train") or "")
    return f" (trained on {escape(train)})" if train and train != record["corpus"] else ""


def _results_section(run: RunData) -> str:
    cells = {name: position for position, name in enumerate(run.cell_names)}
    records = sorted(run.results, key=lambda r: (cells.get(r.get("train", ""), 0), -int(r["classes"]),
                                                 run.corpus_position(r["corpus"]), condition_rank(r["condition"]),
                                                 method_rank(r["method"])))
    trained_on = len(cells) > 1 or len(run.training_corpora) > 1
    best = _best_per_group(records)
    rows = []
    previous = None
    for record in records:
        group = (record.get("train"), int(record["classes"]), record["corpus"], record["condition"])
        distance = record.get("log_bhattacharyya")
        has_distance = isinstance(distance, dict) and is_number(distance.get("mean"))
        distance_text = f"{distance['mean']:.2f}" if has_distance else "–"
        recall = record.get("per_class_recall") or {}
        recall_text = " · ".join(f"{label} {percent(value, digits=0)}" for label, value in recall.items())
        note = record.get("note")
        row_class = " class='group-start'" if previous is not None and group != previous else ""
        rows.append(
            f"<tr{row_class}>"
            + (f"<td>{escape(str(record.get('train', '')))}</td>" if trained_on else "")
            + f"<td>{escape(method_label(record['method']))}</td>"
            f"<td>{escape(record['corpus'])}</td>"
            f"<td>{escape(condition_name(record['condition']))}</td>"
            f"<td class='num'>{int(record['classes'])}</td>"
            f"{_accuracy_cell(record, best=id(record) in best)}"
            f"<td class='num'>{escape(distance_text)}</td>"
            f"<td class='recall'>{escape(recall_text)}</td>"
            f"<td class='note'>{escape(str(note)) if note else ''}</td>"
            "</tr>"
        )
        previous = group
    header = ("<tr>" + ("<th>Trained on</th>" if trained_on else "")
              + "<th>Method</th><th>Corpus</th><th>Condition</th><th class='num'>Classes</th>"
              "<th class='num'>Balanced accuracy mean [95% CI]</th><th class='num'>log BD</th>"
              "<th>Per-class recall</th><th>Note</th></tr>")
    return (
        "<p>Every method on every corpus and condition. Bold: the best balanced accuracy of its group "
        "(corpus, condition, class set). log BD: mean over folds of the log Bhattacharyya distance "
        "between the training and the transfer corpus' latent (lower is more similar).</p>"
        f"<div class='scroll'><table id='table-results'>{header}{''.join(rows)}</table></div>"
    )


def _best_per_group(records: list[dict]) -> set[int]:
    """Identities of the records with the highest mean balanced accuracy in their group."""
    best: dict[tuple, dict] = {}
    for record in records:
        mean = (record.get("balanced_accuracy") or {}).get("mean")
        if not is_number(mean):
            continue
        group = (record.get("train"), int(record["classes"]), record["corpus"], record["condition"])
        if group not in best or mean > best[group]["balanced_accuracy"]["mean"]:
            best[group] = record
    return {id(record) for record in best.values()}


def _figures_section(figures: list[RenderedFigure]) -> str:
    parts = []
    number = 0
    for figure in figures:
        if figure.png is None:
            parts.append(f"<h3>{escape(figure.title)}</h3>"
                         f"<p class='skipped' id='skipped-{escape(figure.stem)}'>Figure skipped: "
                         f"{escape(figure.skipped or 'no data')}.</p>")
            continue
        number += 1
        encoded = base64.b64encode(figure.png).decode("ascii")
        svg = f"figures/{figure.svg_path.name}" if figure.svg_path is not None else None
        link = f" <a href='{escape(svg)}'>SVG</a>" if svg else ""
        parts.append(
            f"<figure id='figure-{escape(figure.stem)}'>"
            f"<h3>Figure {number}. {escape(figure.title)}</h3>"
            f"<img class='report-figure' id='img-{escape(figure.stem)}' alt='{escape(figure.title)}: "
            f"{escape(figure.caption)}' src='data:image/png;base64,{encoded}'>"
            f"<figcaption><strong>Figure {number}.</strong> {escape(figure.caption)}{link}</figcaption>"
            "</figure>"
        )
    return "\n".join(parts)


def _details_section(run: RunData) -> str:
    timings = run.timings
    timing_rows = [(label, timings.get(key)) for key, label in
                   (("features_s", "feature extraction"), ("fits_s", "model fits (wall clock)"),
                    ("total_s", "total"))]
    by_method = timings.get("fit_s_by_method") or {}
    timing_rows += [(f"fits of {method_label(m)} (summed over workers)", s) for m, s in by_method.items()]
    timing_html = "".join(f"<tr><td>{escape(label)}</td><td class='num'>{escape(_duration(value))}</td></tr>"
                          for label, value in timing_rows if value is not None)
    version_html = "".join(f"<tr><td>{escape(str(name))}</td><td>{escape(str(version))}</td></tr>"
                           for name, version in run.versions.items())
    config_text = json.dumps(run.config, indent=2, sort_keys=False, default=str)
    return (
        "<h3>Timings</h3>"
        + (f"<table id='table-timings'><tr><th>Stage</th><th class='num'>Time</th></tr>{timing_html}</table>"
           if timing_html else "<p class='muted'>No timings recorded.</p>")
        + "<h3>Versions</h3>"
        + (f"<table id='table-versions'><tr><th>Package</th><th>Version</th></tr>{version_html}</table>"
           if version_html else "<p class='muted'>No versions recorded.</p>")
        + "<h3>Configuration</h3>"
        + f"<details><summary>config (JSON)</summary><pre id='config'>{escape(config_text)}</pre></details>"
    )


def _duration(seconds: object) -> str:
    """Seconds as ``12.3 s``, ``4 min 05 s`` or ``1 h 02 min``.

    >>> _duration(12.34), _duration(245), _duration(3725), _duration(None)
    ('12.3 s', '4 min 05 s', '1 h 02 min', 'n/a')
    """
    if not is_number(seconds):
        return "n/a"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
