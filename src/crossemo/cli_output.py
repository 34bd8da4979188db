"""What the command-line verbs share: the console, safe terminal text, tables, option parsing.

Kept apart from :mod:`crossemo.cli` so that the typer layer stays a list of verbs,
each one call of the Python API.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from crossemo.errors import CrossemoError

_UNPRINTABLE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def console() -> Console:
    return Console(stderr=True)


def printable(text: str, *, newlines: bool = True) -> str:
    """``text`` safe for a terminal: control characters (but newlines, if allowed) and
    undecodable bytes (surrogates) as ``\\xNN``."""

    def code(match: re.Match[str]) -> str:
        character = match.group()
        value = ord(character)
        if newlines and character == "\n":
            return character
        if 0xDC80 <= value <= 0xDCFF:  # an undecodable byte, as os.fsdecode gives it
            return f"\\x{value - 0xDC00:02x}"
        return f"\\x{value:02x}" if value < 0x80 else "\ufffd"

    return _UNPRINTABLE.sub(code, text)


def print_json(data: dict) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def reader_options(values: list[str] | None) -> dict[str, str | bool]:
    """``--option KEY=VALUE`` arguments as the reader's keyword arguments (each key once).

    The values ``true`` and ``false`` (any case) are booleans (``include_song=true``), others text.
    """
    from crossemo.errors import CorpusLayoutError

    options: dict[str, str | bool] = {}
    for value in values or []:
        key, equals, text = value.partition("=")
        key = key.strip()
        if not equals or not key.isidentifier():
            raise CorpusLayoutError(f"--option expects KEY=VALUE (e.g. --option table=emotion), got {value!r}")
        if key in options:
            raise CorpusLayoutError(f"--option {key} given twice")
        text = text.strip()
        options[key] = {"true": True, "false": False}.get(text.lower(), text)
    return options


def print_corpora(corpora: list, *, as_json: bool) -> None:
    """The readers of ``scan --list``: a table, or ``{"corpora": [{name, title, language, layout}, ...]}``."""
    if as_json:
        print_json({"corpora": [info._asdict() for info in corpora]})
        return
    view = Table(title=f"{len(corpora)} corpora")
    for column in ("name", "corpus", "language", "layout"):
        view.add_column(column, overflow="fold")
    for info in corpora:
        view.add_row(*(escape(text) for text in (info.name, info.title, info.language, info.layout)))
    Console().print(view)


def skip_line(item: dict) -> str:
    """A skip record on one terminal line: its path is text already, its reason may hold anything."""
    return escape(f"{printable(str(item['path']), newlines=False)}: {printable(str(item['reason']), newlines=False)}")


def shown(path: Path) -> str:
    """A path for a terminal line (see :func:`crossemo.fileio.path_to_text`), markup escaped."""
    from crossemo.fileio import path_to_text

    return escape(path_to_text(path))


def print_summary(results: dict) -> None:
    """A table of mean balanced accuracy per method, corpus and condition."""
    view = Table(title="balanced accuracy, % (mean over folds [95% CI])")
    several_sets = "feature_sets" in results
    for column in ("features",) * several_sets + ("classes", "method", "corpus", "condition", "accuracy", "log BD"):
        view.add_column(column, no_wrap=True)
    for record in results["results"]:
        accuracy = record["balanced_accuracy"]
        low, high = accuracy["ci95"]
        log_bd = record["log_bhattacharyya"]
        view.add_row(
            *([escape(record["feature_set"])] if several_sets else []),
            str(record["classes"]), record["method"], record["corpus"], record["condition"],
            f"{100 * accuracy['mean']:.1f} [{100 * low:.1f}, {100 * high:.1f}]",
            "" if log_bd is None else f"{log_bd['mean']:.2f}",
        )
    Console().print(view)


def split_list(text: str | None, kind=str):
    if text is None:
        return None
    try:
        return [kind(part.strip()) for part in text.split(",") if part.strip()]
    except ValueError:
        raise CrossemoError(f"cannot read {text!r} as a comma-separated list of {kind.__name__}") from None


def print_segment_summary(predictions, summary: Path | None) -> None:
    """Print the per-recording summary of segment predictions; write it to ``summary`` (CSV) when given."""
    from crossemo.bundle.segments import segment_summary
    from crossemo.fileio import write_atomic_text

    table = segment_summary(predictions)
    shares = [column for column in table.columns if column.startswith("share_")]
    view = Table(title="share of speech time per predicted emotion")
    for column in ("recording", "speech", *(column.removeprefix("share_") for column in shares)):
        view.add_column(column, no_wrap=column != "recording")
    for _, row in table.iterrows():
        speech = "-" if row["error"] is not None else f"{row['speech_s']:.1f} s of {row['duration_s']:.1f} s"
        view.add_row(escape(printable(Path(row["path"]).name, newlines=False)), speech,
                     *("" if row[column] != row[column] else f"{100 * row[column]:.0f}%" for column in shares))
    console().print(view)
    if summary is not None:
        try:
            write_atomic_text(summary, table.to_csv(index=False))
        except OSError as error:
            raise CrossemoError(f"cannot write {printable(str(summary))}: {error.strerror or error}") from None
        console().print(f"summary -> {shown(summary)}", highlight=False)
