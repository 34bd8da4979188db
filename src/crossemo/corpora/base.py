"""What every corpus reader returns, and the directory scan they share.

A reader turns a directory in its distributed layout into one table with the
columns of :data:`COLUMNS`, one row per utterance.  ``path`` is relative to the
corpus root (POSIX separators); the absolute root is kept in
``table.attrs["root"]`` and files the reader passed over, with their reason, in
``table.attrs["skipped"]`` (a list of ``{"path", "reason"}`` dicts).  Every path
in a table is text (:func:`crossemo.fileio.path_to_text`): a name with
undecodable bytes, a newline or a quote is kept, escaped reversibly.

``group`` is the unit that must never be split between the training and the
test side of speaker-independent folds: the speaker by default, the session
for IEMOCAP (whose two speakers of a session share dialogs).  The evaluation
protocols read only this column, never the corpus name.

Readers of directory corpora only supply a *parser*: a function from a
``.wav`` file's path (relative to the root) to :class:`Utterance` facts, to a
reason string (the file follows the corpus' naming scheme but is left out), or
to ``None`` (the name is not the corpus' scheme).  :func:`scan_directory` does
the rest: finding files, reading durations from headers, recording skips,
sorting, and raising one clear :class:`~crossemo.errors.CorpusLayoutError`
when nothing usable is found.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import NamedTuple

import pandas as pd

from crossemo.audio import AudioError, audio_info
from crossemo.errors import CorpusLayoutError
from crossemo.fileio import openable_path, path_to_text

LABELS: tuple[str, ...] = ("neutral", "sad", "happy", "angry")
"""The four-class task, in the paper's order.  The three-class task drops neutral."""

COLUMNS: tuple[str, ...] = (
    "path",
    "corpus",
    "language",
    "speaker",
    "gender",
    "emotion",
    "label",
    "group",
    "duration_s",
)

_OPENING_PREFIX = re.compile(r"Error opening '.*': ")  # greedy: the name may hold "': " itself

AUDIO_SUFFIX = ".wav"
"""Readers of directory corpora consider files with this extension, in any letter case."""


class Utterance(NamedTuple):
    """What a file name (and its folders) says about one recording.

    ``group`` is the fold group (see the module docstring); ``None`` means the speaker.
    """

    speaker: str
    gender: str | None
    emotion: str
    label: str | None
    group: str | None = None


Parser = Callable[[PurePosixPath], "Utterance | str | None"]
"""Relative path -> facts, a reason to leave the file out, or ``None`` (not this scheme)."""


def corpus_root(path: str | os.PathLike[str], *, title: str) -> Path:
    """Return ``path`` as an absolute directory, or raise a clear error naming ``title``."""
    root = Path(path).expanduser()
    if not root.exists():
        raise CorpusLayoutError(f"{title} folder not found: {path_to_text(root)}")
    if not root.is_dir():
        raise CorpusLayoutError(f"{title} expects a folder, got a file: {path_to_text(root)}")
    return root.resolve()


def find_files(root: Path, *, suffix: str = AUDIO_SUFFIX) -> list[Path]:
    """All files under ``root`` whose extension is ``suffix`` in any case, sorted.

    Symbolic links to folders are followed once (corpora are often assembled
    from links); a link back into a visited folder is not entered again.
    """
    found: list[Path] = []
    visited: set[str] = set()
    for folder, subfolders, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in visited:
            subfolders.clear()
            continue
        visited.add(real)
        found.extend(Path(folder, name) for name in files if name.lower().endswith(suffix))
    return sorted(found)


def relative_posix(path: Path, root: Path) -> PurePosixPath:
    """``path`` relative to ``root`` with POSIX separators, as text (:func:`path_to_text`)."""
    return PurePosixPath(path_to_text(path.relative_to(root).as_posix()))


def scan_directory(
    path: str | os.PathLike[str],
    *,
    corpus: str,
    title: str,
    language: str,
    expected: str,
    parse: Parser,
) -> pd.DataFrame:
    """Read every ``.wav`` file under ``path`` with ``parse`` into a corpus table.

    ``corpus`` is the registry name written in each row, ``title`` the corpus'
    human name used in messages, ``expected`` a one-line description of the
    naming scheme for the error raised when no file matches it.  Durations come
    from the headers (:func:`crossemo.audio.audio_info`); unreadable files are
    skipped with the reason.
    """
    root = corpus_root(path, title=title)
    rows: list[dict[str, object]] = []
    skipped: list[dict[str, str]] = []
    candidates: list[dict[str, str]] = []  # skips of files that follow the naming scheme
    for file in find_files(root):
        relative = relative_posix(file, root)
        if relative.name.startswith("._"):
            skipped.append(skip(relative, "macOS resource-fork file (._ prefix), not audio"))
            continue
        parsed = parse(relative)
        if parsed is None:
            skipped.append(skip(relative, f"name does not follow the {title} scheme {expected}"))
            continue
        if isinstance(parsed, str):
            candidates.append(skip(relative, parsed))
            continue
        try:
            duration_s, _ = file_audio_info(file)
        except AudioError as error:
            candidates.append(skip(relative, audio_reason(error)))
            continue
        rows.append(
            {
                "path": str(relative),
                "corpus": corpus,
                "language": language,
                **parsed._asdict(),
                "group": parsed.group if parsed.group is not None else parsed.speaker,
                "duration_s": duration_s,
            }
        )
    if not rows:
        raise empty_corpus_error(
            title=title, root=root, expected=expected, candidates=candidates, others=len(skipped)
        )
    return make_table(rows, root=root, skipped=skipped + candidates)


def file_audio_info(file: Path) -> tuple[float, int]:
    """:func:`crossemo.audio.audio_info` of any file the file system names (see :func:`openable_path`)."""
    with openable_path(file) as name:
        return audio_info(name)


def skip(path: PurePosixPath | str, reason: str) -> dict[str, str]:
    """One entry of ``table.attrs["skipped"]`` (``path`` already as text)."""
    return {"path": str(path), "reason": reason}


def audio_reason(error: AudioError) -> str:
    """An audio error as a skip reason, without libsndfile's "Error opening '<path>': " prefix.

    The path is already the skip entry's key; dropping it lets equal reasons be counted together.

    >>> audio_reason(AudioError("unreadable audio: Error opening '/a/b.wav': Format not recognised."))
    'unreadable audio: Format not recognised.'
    """
    return _OPENING_PREFIX.sub("", str(error))


def empty_corpus_error(
    *, title: str, root: Path, expected: str, candidates: list[dict[str, str]], others: int
) -> CorpusLayoutError:
    """The error for a folder that yields no usable utterance, saying why.

    ``candidates`` are the skip entries of files that followed the naming
    scheme, ``others`` the number of files that did not.
    """
    if not candidates:
        found = f" ({others} .wav files with other names)" if others else ""
        return CorpusLayoutError(f"no {title} files found under {path_to_text(root)}{found}: expected {expected}")
    reasons = Counter(entry["reason"] for entry in candidates).most_common()
    listed = "; ".join(f"{count} x {reason}" for reason, count in reasons[:3])
    more = f"; and {len(reasons) - 3} other reasons" if len(reasons) > 3 else ""
    return CorpusLayoutError(
        f"no usable {title} files under {path_to_text(root)}: all {len(candidates)} candidate files were skipped ({listed}{more})"
    )


def make_table(
    rows: list[Mapping[str, object]], *, root: Path, skipped: list[dict[str, str]]
) -> pd.DataFrame:
    """Rows -> a table with exactly :data:`COLUMNS`, sorted by path, attrs set.

    A row without a ``group`` (or with an empty one) gets its speaker as group.
    """
    table = pd.DataFrame(list(rows), columns=list(COLUMNS))
    table["group"] = table["group"].astype(object).where(table["group"].notna(), table["speaker"])
    table = table.sort_values("path", kind="stable", ignore_index=True)
    table["duration_s"] = table["duration_s"].astype(float)
    for column in ("gender", "label"):  # keep missing values as None, not NaN
        table[column] = table[column].astype(object).where(table[column].notna(), None)
    table.attrs["root"] = path_to_text(root)
    table.attrs["skipped"] = sorted(skipped, key=lambda entry: entry["path"])
    return table
