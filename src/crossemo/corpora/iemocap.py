"""IEMOCAP (Interactive Emotional Dyadic Motion Capture), English.

Utterances are ``SessionN/sentences/wav/<dialog>/<utterance>.wav``, e.g.
``Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav``.  Their
categorical labels are lines of the ``EmoEvaluation/<dialog>.txt`` files::

    [6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]

Every ``.txt`` file directly inside a folder named ``EmoEvaluation`` is read
(its ``Categorical``/``Attribute`` subfolders hold per-annotator files in other
formats and are not).  The speaker is the session plus the letter before the
utterance's last number (``Ses01F_impro01_M013`` -> ``Ses01M``); the fold
``group`` is the session (``Ses01``), so speaker-independent folds keep both
speakers of a session (who share its dialogs) on one side, and five folds are
the standard leave-one-session-out.  Whole-dialog recordings (``dialog/wav/Ses01F_impro01.wav``) and
utterances without an evaluation line are skipped with their reason.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

import pandas as pd

from crossemo.corpora.base import Utterance, corpus_root, find_files, scan_directory
from crossemo.errors import CorpusLayoutError

NAME = "iemocap"
LANGUAGE = "en"
TITLE = "IEMOCAP"
LAYOUT = (
    "SessionN/sentences/wav/<dialog>/<utterance>.wav with SessionN/dialog/EmoEvaluation/<dialog>.txt,"
    " e.g. Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav"
)
"""The expected naming scheme, with an example (``scan --list``, layout errors)."""

EMOTIONS: dict[str, tuple[str, str | None]] = {
    "neu": ("neutral", "neutral"),
    "hap": ("happiness", "happy"),
    "exc": ("excited", "happy"),  # merged into happy, as in the standard four-class set
    "sad": ("sadness", "sad"),
    "ang": ("anger", "angry"),
    "fru": ("frustration", None),
    "fea": ("fear", None),
    "sur": ("surprise", None),
    "dis": ("disgust", None),
    "oth": ("other", None),
    "xxx": ("unknown", None),  # annotators did not agree
}
"""Evaluation code -> (emotion, four-class label).  Unlisted codes are kept verbatim, unlabelled."""

EVALUATION_FOLDER = "emoevaluation"
GENDERS = {"F": "female", "M": "male"}

_UTTERANCE = re.compile(r"(?P<session>Ses\d{2})[FM]_\w+?_(?P<gender>[FM])\d+")
_DIALOG = re.compile(r"Ses\d{2}[FM]_\w+")
_EVALUATION_LINE = re.compile(r"\[\s*[\d.]+\s*-\s*[\d.]+\s*\]\s+(?P<utterance>\S+)\s+(?P<code>\S+)")


def read_evaluations(root: Path) -> dict[str, str]:
    """Utterance id -> evaluation code, from every ``EmoEvaluation/*.txt`` under ``root``."""
    codes: dict[str, str] = {}
    for file in find_files(root, suffix=".txt"):
        if file.parent.name.lower() != EVALUATION_FOLDER or file.name.startswith("._"):
            continue
        try:
            text = file.read_text(encoding="utf-8", errors="replace")
        except OSError as error:
            raise CorpusLayoutError(f"cannot read IEMOCAP evaluation file {file}: {error.strerror or error}") from None
        for line in text.splitlines():
            match = _EVALUATION_LINE.match(line.strip())
            if match is not None:
                codes.setdefault(match["utterance"], match["code"].lower())
    return codes


def parse_name(relative: PurePosixPath, *, evaluations: dict[str, str]) -> Utterance | str | None:
    """Facts from an utterance file name and its evaluation code."""
    utterance_id = relative.stem
    match = _UTTERANCE.fullmatch(utterance_id)
    if match is None:
        if _DIALOG.fullmatch(utterance_id):
            return "whole-dialog recording, not an utterance"
        return None
    code = evaluations.get(utterance_id)
    if code is None:
        return "no line for this utterance in the EmoEvaluation files"
    emotion, label = EMOTIONS.get(code, (code, None))
    gender = match["gender"]
    return Utterance(match["session"] + gender, GENDERS[gender], emotion, label, group=match["session"])


def read(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read an IEMOCAP release folder (or one session of it) into a corpus table."""
    root = corpus_root(path, title=TITLE)
    evaluations = read_evaluations(root)
    return scan_directory(
        root,
        corpus=NAME,
        title=TITLE,
        language=LANGUAGE,
        expected=LAYOUT,
        parse=lambda relative: parse_name(relative, evaluations=evaluations),
    )
