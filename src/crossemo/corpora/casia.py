"""CASIA Chinese emotional speech corpus (its public 1,200-file part), Mandarin.

Files are ``<speaker>/<emotion>/<NNN>.wav``, e.g. ``liuchanhg/angry/201.wav``:
four speakers (liuchanhg and zhaoquanyin female, wangzhe and ZhaoZuoxiang
male), six emotion folders, sentence numbers ``NNN`` (201-250 in the public
part).  Copies often wrap it in another folder (``CASIA database/``): the
speaker and the emotion are the nearest folders above the file that carry
those names, matched without regard to case.

This corpus is the exception to reading labels from file names: a file is
only a number, so **the labels live only in the folder names**, and a copy
whose folders were renamed cannot be read.  A number file outside a speaker
or emotion folder is skipped with the reason.
"""

from __future__ import annotations

import os
import re
from pathlib import PurePosixPath

import pandas as pd

from crossemo.corpora.base import Utterance, scan_directory

NAME = "casia"
LANGUAGE = "zh"
TITLE = "CASIA"
LAYOUT = "<speaker>/<angry|fear|happy|neutral|sad|surprise>/<NNN>.wav, e.g. liuchanhg/angry/201.wav"
"""The expected naming scheme, with an example (``scan --list``, layout errors)."""

EMOTIONS: dict[str, tuple[str, str | None]] = {
    "angry": ("angry", "angry"),
    "fear": ("fear", None),
    "happy": ("happy", "happy"),
    "neutral": ("neutral", "neutral"),
    "sad": ("sad", "sad"),
    "surprise": ("surprise", None),
}
"""Emotion folder (lower case) -> (emotion, four-class label)."""

SPEAKERS: dict[str, tuple[str, str]] = {
    "liuchanhg": ("liuchanhg", "female"),
    "wangzhe": ("wangzhe", "male"),
    "zhaoquanyin": ("zhaoquanyin", "female"),
    "zhaozuoxiang": ("ZhaoZuoxiang", "male"),
}
"""Speaker folder (lower case) -> (speaker as the corpus spells it, gender)."""

_NAME = re.compile(r"\d{3}")


def parse(relative: PurePosixPath) -> Utterance | str | None:
    """Facts from a CASIA path: the number names the file, its folders give speaker and emotion."""
    if _NAME.fullmatch(relative.stem) is None:
        return None
    folders = [part.lower() for part in reversed(relative.parent.parts)]
    emotion_folder = next((folder for folder in folders if folder in EMOTIONS), None)
    speaker_folder = next((folder for folder in folders if folder in SPEAKERS), None)
    if emotion_folder is None:
        return f"no CASIA emotion folder ({', '.join(EMOTIONS)}) above the file"
    if speaker_folder is None:
        return f"no CASIA speaker folder ({', '.join(name for name, _ in SPEAKERS.values())}) above the file"
    emotion, label = EMOTIONS[emotion_folder]
    speaker, gender = SPEAKERS[speaker_folder]
    return Utterance(speaker, gender, emotion, label)


def read(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a CASIA folder into a corpus table (see :mod:`crossemo.corpora.base`)."""
    return scan_directory(path, corpus=NAME, title=TITLE, language=LANGUAGE, expected=LAYOUT, parse=parse)
