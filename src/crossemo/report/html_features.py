"""The report of a study over several feature sets: their results side by side.

``RUN_DIR/report.html`` of a comparison (:mod:`crossemo.study.comparison`) holds one
table (a row per training set, method, corpus and condition; a column per feature
set, the best of each row in bold), a figure of the same numbers and a link to each
set's own full report.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime
from html import escape
from pathlib import Path

import matplotlib
import pandas as pd

from crossemo.fileio import path_to_text, write_atomic_bytes, write_atomic_text
from crossemo.report.canvas import letter, new_figure, panel_grid
from crossemo.report.figures import _RC, PNG_DPI
from crossemo.report.html import STYLE
from crossemo.report.style import condition_name, condition_rank, interval, method_label, method_rank, percent
from crossemo.study.comparison import comparison_table, read_comparison
from crossemo.study.rundir import FIGURES_DIR, REPORT_FILE

FIGURE_STEM = "feature_sets"
SET_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
"""Okabe-Ito colours, one per feature set (in the config's order)."""


def write_comparison_report(run_dir: str | Path, *, write_run_report: Callable[[Path], Path] | None = None) -> Path:
    """Write ``run_dir/report.html`` (and ``figures/feature_sets.png``) of a finished comparison.

    ``write_run_report`` (e.g. :func:`crossemo.report.write_report`) first writes the
    report of each set's run, which the page links to.
    """
    run_dir = Path(run_dir)
    comparison = read_comparison(run_dir)
    if write_run_report is not None:
        for folder in comparison["runs"].values():
            write_run_report(run_dir / folder)
    table = ordered(comparison_table(comparison))
    sets = list(comparison["feature_sets"])
    figure_path = run_dir / FIGURES_DIR / f"{FIGURE_STEM}.png"
    figure_path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic_bytes(figure_path, comparison_figure_png(table, sets))
    path = run_dir / REPORT_FILE
    write_atomic_text(path, comparison_html(table, sets, comparison["runs"], run_dir=run_dir))
    return path


def ordered(table: pd.DataFrame) -> pd.DataFrame:
    """Rows in the report's order: training set, method (paper's first), corpus, condition."""
    keys = table.assign(
        _method=table["method"].map(method_rank), _condition=table["condition"].map(condition_rank)
    )
    keys = keys.sort_values(["train", "_method", "corpus", "_condition", "classes"], kind="stable")
    return keys.drop(columns=["_method", "_condition"]).reset_index(drop=True)


def comparison_html(table: pd.DataFrame, sets: list[str], runs: dict[str, str], *, run_dir: Path,
                    generated: datetime | None = None) -> str:
    """The comparison page (see the module docstring)."""
    generated = generated or datetime.now(UTC)
    widths = table.drop_duplicates("feature_set").set_index("feature_set")["n_features"].to_dict()
    head = "".join(f'<th class="num">{escape(name)}<br><span class="muted">{_width(widths.get(name))}</span></th>'
                   for name in sets)
    rows = []
    keys = ["train", "method", "corpus", "condition", "classes"]
    for key, group in table.groupby(keys, sort=False, dropna=False):
        train, method, corpus, condition, classes = key
        by_set = group.set_index("feature_set")
        best = by_set["balanced_accuracy"].max()
        cells = []
        for name in sets:
            if name not in by_set.index:
                cells.append('<td class="num muted">-</td>')
                continue
            row = by_set.loc[name]
            value = row["balanced_accuracy"]
            css = "num best" if value == best and len(by_set) > 1 else "num"
            cells.append(f'<td class="{css}">{percent(value)} <span class="ci">'
                         f'{interval(row["ci95_low"], row["ci95_high"])}</span></td>')
        rows.append(f"<tr><td>{escape(str(train))}</td><td>{escape(method_label(method))}</td>"
                    f"<td>{escape(str(corpus))}</td><td>{escape(condition_name(condition))}</td>"
                    f'<td class="num">{int(classes)}</td>{"".join(cells)}</tr>')
    links = "".join(f'<li><a href="{escape(runs[name])}/{REPORT_FILE}">{escape(name)}</a>: the full report of '
                    f"the study on this set</li>" for name in sets if name in runs)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>crossemo report: feature sets compared</title>
<style>{STYLE}</style>
</head>
<body>
<main>
<header>
<h1>Feature sets compared: {escape(", ".join(sets))}</h1>
<p class="subtitle">crossemo comparison in <code>{escape(path_to_text(run_dir.name or str(run_dir)))}</code>,
generated {escape(generated.strftime("%Y-%m-%d %H:%M UTC"))}</p>
</header>
<section id="results">
<h2>Balanced accuracy per feature set</h2>
<p>The same study (corpora, folds, seeds, methods, conditions) run once per feature set. Each cell is the
mean balanced accuracy over folds and seeds with its 95% confidence interval; the best set of each row is in
bold. The column heads give the number of features each set has.</p>
<div class="scroll"><table id="table-feature-sets">
<tr><th>training set</th><th>method</th><th>evaluated on</th><th>condition</th><th class="num">classes</th>{head}</tr>
{"".join(rows)}
</table></div>
</section>
<section id="figures">
<h2>Figure</h2>
<figure><img src="{FIGURES_DIR}/{FIGURE_STEM}.png" alt="balanced accuracy per method and feature set">
<figcaption>Mean balanced accuracy per method (bars: feature sets), one panel per evaluated corpus and
condition; the dashed line is chance (one over the number of classes).</figcaption></figure>
</section>
<section id="runs">
<h2>Runs</h2>
<ul>{links}</ul>
</section>
</main>
</body>
</html>
"""


def comparison_figure_png(table: pd.DataFrame, sets: list[str]) -> bytes:
    """Bars of mean balanced accuracy: a panel per (corpus, condition), methods on x, one bar per set."""
    panels = list(table[["corpus", "condition"]].drop_duplicates().itertuples(index=False, name=None))
    methods = sorted(table["method"].unique(), key=method_rank)
    columns = min(3, len(panels))
    with matplotlib.rc_context(_RC):
        figure = new_figure(4.2 * columns, 3.2 * -(-len(panels) // columns))
        width = 0.8 / max(len(sets), 1)
        for position, (ax, (corpus, condition)) in enumerate(zip(panel_grid(figure, len(panels), columns), panels)):
            shown = table[(table["corpus"] == corpus) & (table["condition"] == condition)]
            for index, name in enumerate(sets):
                values = shown[shown["feature_set"] == name].groupby("method")["balanced_accuracy"].mean()
                heights = [100 * values.get(method, float("nan")) for method in methods]
                offsets = [slot + (index - (len(sets) - 1) / 2) * width for slot in range(len(methods))]
                ax.bar(offsets, heights, width=width, color=SET_COLOURS[index % len(SET_COLOURS)], label=name)
            ax.set_xticks(range(len(methods)), [method_label(method) for method in methods], rotation=45, ha="right")
            chance = 100 / shown["classes"].max()
            ax.axhline(chance, color="#888888", linewidth=0.8, linestyle="--", zorder=0)
            ax.set_ylim(0, 100)
            ax.set_ylabel("balanced accuracy (%)")
            ax.set_title(f"{letter(position)} {corpus}, {condition_name(condition)}", loc="left")
        figure.axes[0].legend(fontsize="small", loc="upper right")
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=PNG_DPI, metadata={"Software": None})
    return buffer.getvalue()


def _width(count: object) -> str:
    return f"{int(count):,} features" if isinstance(count, int | float) and count == count else ""
