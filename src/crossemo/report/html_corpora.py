"""The report's corpus tables: every corpus with its role, language and size; the training sets."""

from __future__ import annotations

from html import escape

from crossemo.report.run import RunData

MAX_SKIPPED_LISTED = 200
"""Skipped files listed per corpus; the rest are counted."""

DESIGNS = {
    "transfer": "train on the training corpora, evaluate on the transfer corpora",
    "loco": "leave one corpus out: each corpus evaluated by a model trained on all the others",
    "matrix": "cross-corpus matrix: each corpus trained alone and evaluated on every other",
}


def roles(run: RunData) -> dict[str, str]:
    """Each corpus' role in the study: training, transfer, or both (``loco`` and ``matrix``)."""
    trained = {name for cell in run.cells for name in cell.get("train") or []} or {run.train_corpus}
    evaluated = {name for cell in run.cells for name in cell.get("transfer") or []} or set(run.transfer_corpora)
    result = {}
    for name in run.corpora:
        if name in trained and name in evaluated:
            result[name] = "training and transfer"
        else:
            result[name] = "training" if name in trained else "transfer"
    return result


def cells_table(run: RunData) -> str:
    """The study's training sets with the corpora each is evaluated on (empty for one plain set)."""
    if len(run.cells) <= 1 and len(run.training_corpora) <= 1:
        return ""
    rows = "".join(
        f"<tr><td>{escape(' + '.join(cell.get('train') or []))}</td>"
        f"<td>{escape(', '.join(cell.get('transfer') or []) or '–')}</td>"
        f"<td>{escape(str(cell.get('normalize', '')))}</td></tr>"
        for cell in run.cells
    )
    return (
        "<h3>Training sets</h3>"
        f"<p>Design: {escape(DESIGNS.get(run.design, run.design))}. Normalization 'corpus': each "
        "training corpus standardized by the statistics of its own training-fold part; unseen transfer "
        "corpora by the pooled training fold's.</p>"
        "<div class='scroll'><table id='table-cells'><tr><th>Trained on</th><th>Evaluated on</th>"
        f"<th>Normalization</th></tr>{rows}</table></div>"
    )


def corpora_table(run: RunData) -> str:
    names = [*run.training_corpora, *run.transfer_corpora]
    names += [name for name in run.corpora if name not in names]
    role_of = roles(run)
    classes_by_corpus: dict[str, set[int]] = {}
    for record in run.results:
        classes_by_corpus.setdefault(record["corpus"], set()).add(int(record["classes"]))
    rows = []
    details = []
    for name in names:
        info = run.corpora.get(name) or {}
        skipped = info.get("skipped") or []
        role = role_of.get(name, "transfer")
        evaluated = ", ".join(str(k) for k in sorted(classes_by_corpus.get(name, ()), reverse=True)) or "–"
        rows.append(
            "<tr>"
            f"<td>{escape(name)}</td><td>{role}</td><td>{escape(str(info.get('language') or '–'))}</td>"
            f"<td class='num'>{count_text(info.get('utterances'))}</td>"
            f"<td class='num'>{count_text(info.get('labelled'))}</td>"
            f"<td class='num'>{count_text(info.get('outliers_removed'))}</td>"
            f"<td class='num'>{len(skipped)}</td>"
            f"<td class='num'>{escape(evaluated)}</td>"
            "</tr>"
        )
        if skipped:
            details.append(skipped_details(name, skipped))
    header = (
        "<tr><th>Corpus</th><th>Role</th><th>Language</th><th class='num'>Utterances</th>"
        "<th class='num'>Labelled</th><th class='num'>Outliers removed</th>"
        "<th class='num'>Skipped files</th><th class='num'>Classes evaluated</th></tr>"
    )
    note = ("<p class='muted'>Utterances are counted after outlier removal (any feature beyond "
            f"&plusmn;{escape(str((run.config.get('protocol') or {}).get('outlier_z', 10)))} standard "
            "deviations of its corpus).</p>")
    return f"<div class='scroll'><table>{header}{''.join(rows)}</table></div>{note}{''.join(details)}"


def count_text(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else "–"


def skipped_details(name: str, skipped: list) -> str:
    items = []
    for entry in skipped[:MAX_SKIPPED_LISTED]:
        entry = entry if isinstance(entry, dict) else {"path": str(entry)}
        items.append(f"<tr><td>{escape(str(entry.get('path', '')))}</td>"
                     f"<td>{escape(str(entry.get('reason', '')))}</td></tr>")
    more = len(skipped) - MAX_SKIPPED_LISTED
    tail = f"<p class='muted'>and {more} more (see results.json)</p>" if more > 0 else ""
    return (f"<details><summary>{len(skipped)} skipped file(s) in {escape(name)}</summary>"
            f"<div class='scroll'><table><tr><th>File</th><th>Reason</th></tr>{''.join(items)}</table></div>"
            f"{tail}</details>")
