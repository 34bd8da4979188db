"""Writing the synthetic corpus: audio files, manifests, parameters record, idempotence.

Every utterance draws its own random generator from ``(seed, language,
speaker, emotion, index)``, so a corpus is byte-identical for a given seed and
one utterance does not depend on which others are generated.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import soundfile

from crossemo.corpora.base import LABELS
from crossemo.errors import ConfigError
from crossemo.fileio import write_atomic_text
from crossemo.synth.emotions import EMOTIONS
from crossemo.synth.languages import DEFAULT_LANGUAGES, LANGUAGES, make_speakers
from crossemo.synth.seeding import _rng
from crossemo.synth.utterance import make_studio, render_utterance

GENERATOR_VERSION = 1
"""Bumped whenever the generator's output changes, so stale corpora are regenerated."""

MANIFEST_NAME = "manifest.csv"
PARAMETERS_NAME = "synth.json"
MANIFEST_COLUMNS: tuple[str, ...] = ("path", "emotion", "speaker", "gender", "language", "corpus")

MIN_SAMPLE_RATE = 8000


def synthesize(
    out: str | os.PathLike[str],
    *,
    languages: Sequence[str] = DEFAULT_LANGUAGES,
    speakers_per_language: int = 6,
    utterances_per_emotion_per_speaker: int = 8,
    emotions: Sequence[str] = LABELS,
    sample_rate: int = 16000,
    seed: int = 0,
) -> Path:
    """Write the synthetic corpus to ``out`` and return the path of its ``manifest.csv``.

    Layout: ``out/<language>/<speaker>/<speaker>_<emotion>_<NN>.wav`` (16-bit PCM),
    ``out/manifest.csv`` (columns :data:`MANIFEST_COLUMNS`, paths relative to
    it), one ``out/<language>/manifest.csv`` per language (paths relative to
    that folder; corpus ``synth_<language>``), and ``out/synth.json`` holding
    the parameters.  Speakers alternate female, male.

    The same parameters give the same bytes.  If ``out`` already holds a
    complete corpus made with the same parameters nothing is written.  The
    corpus is built in a temporary sibling folder and moved into place when
    complete, replacing an earlier synthetic corpus there; a folder that is not
    a synthetic corpus is never overwritten (:class:`ConfigError`).
    """
    out = Path(out)
    parameters = _checked_parameters(
        languages=languages,
        speakers_per_language=speakers_per_language,
        utterances_per_emotion_per_speaker=utterances_per_emotion_per_speaker,
        emotions=emotions,
        sample_rate=sample_rate,
        seed=seed,
    )
    manifest = out / MANIFEST_NAME
    if _is_complete(out, parameters):
        return manifest
    if out.exists() and not out.is_dir():
        raise ConfigError(f"cannot write the synthetic corpus to {out}: it is a file")
    if out.is_dir() and any(out.iterdir()) and not (out / PARAMETERS_NAME).is_file():
        raise ConfigError(
            f"{out} is not empty and holds no synthetic corpus ({PARAMETERS_NAME} missing): "
            "choose a new or empty folder"
        )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # a file where a folder should be, no permission
        raise ConfigError(
            f"cannot write the synthetic corpus to {out} ({error.strerror}: {error.filename})"
        ) from None
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        os.chmod(staging, 0o755)  # mkdtemp's private 0o700 would carry over to the corpus
        rows = _write_audio(staging, parameters)
        _write_manifests(staging, rows, parameters["languages"])
        _write_json(staging / PARAMETERS_NAME, _parameters_record(parameters, len(rows)))
        if _is_complete(out, parameters):  # a concurrent run finished first
            shutil.rmtree(staging)
        else:
            _move_into_place(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _is_complete(out: str | os.PathLike[str], parameters: Mapping[str, object]) -> bool:
    """Whether ``out`` holds a complete synthetic corpus made with ``parameters``.

    ``parameters`` as :func:`synthesize` records them (languages and emotions as lists).
    """
    out = Path(out)
    try:
        record = json.loads((out / PARAMETERS_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if record != _parameters_record(parameters, record.get("files")):
        return False
    try:
        with (out / MANIFEST_NAME).open(newline="", encoding="utf-8") as handle:
            paths = [row["path"] for row in csv.DictReader(handle)]
    except (OSError, KeyError, csv.Error):
        return False
    return len(paths) == record["files"] and all((out / path).is_file() for path in paths)


def _checked_parameters(
    *,
    languages: Sequence[str],
    speakers_per_language: int,
    utterances_per_emotion_per_speaker: int,
    emotions: Sequence[str],
    sample_rate: int,
    seed: int,
) -> dict[str, object]:
    """The parameters as a JSON-ready dict, or a :class:`ConfigError` naming the bad one."""
    if isinstance(languages, str) or isinstance(emotions, str):
        raise ConfigError("languages and emotions must be sequences of names, not one string")
    languages, emotions = list(languages), list(emotions)
    unknown = [code for code in languages if code not in LANGUAGES]
    if not languages or unknown:
        raise ConfigError(
            f"unknown synthetic languages {unknown or '(none given)'}: choose from {', '.join(LANGUAGES)}"
        )
    unknown = [name for name in emotions if name not in EMOTIONS]
    if not emotions or unknown:
        raise ConfigError(f"unknown emotions {unknown or '(none given)'}: choose from {', '.join(EMOTIONS)}")
    for name, values in (("languages", languages), ("emotions", emotions)):
        if len(set(values)) != len(values):
            raise ConfigError(f"{name} repeat an entry: {values}")
    for name, value, minimum in (
        ("speakers_per_language", speakers_per_language, 1),
        ("utterances_per_emotion_per_speaker", utterances_per_emotion_per_speaker, 1),
        ("sample_rate", sample_rate, MIN_SAMPLE_RATE),
        ("seed", seed, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return {
        "languages": languages,
        "speakers_per_language": int(speakers_per_language),
        "utterances_per_emotion_per_speaker": int(utterances_per_emotion_per_speaker),
        "emotions": emotions,
        "sample_rate": int(sample_rate),
        "seed": int(seed),
    }


def _parameters_record(parameters: Mapping[str, object], files: object) -> dict[str, object]:
    """What ``synth.json`` holds: generator identity, parameters, number of files."""
    return {
        "generator": "crossemo.synth",
        "version": GENERATOR_VERSION,
        "parameters": dict(parameters),
        "files": files,
    }


def _write_audio(root: Path, parameters: Mapping[str, object]) -> list[dict[str, str]]:
    """Render and write every utterance under ``root``; return the manifest rows."""
    seed = int(parameters["seed"])
    sample_rate = int(parameters["sample_rate"])
    rows = []
    for code in parameters["languages"]:
        language = LANGUAGES[code]
        studio = make_studio(language, sample_rate=sample_rate, seed=seed)
        for speaker in make_speakers(language, int(parameters["speakers_per_language"]), seed=seed):
            folder = root / code / speaker.speaker_id
            folder.mkdir(parents=True)
            for emotion in parameters["emotions"]:
                for index in range(int(parameters["utterances_per_emotion_per_speaker"])):
                    rng = _rng(seed, code, speaker.speaker_id, emotion, index)
                    audio = render_utterance(language, speaker, emotion, rng=rng, studio=studio)
                    name = f"{speaker.speaker_id}_{emotion}_{index + 1:02d}.wav"
                    soundfile.write(folder / name, audio, sample_rate, subtype="PCM_16", format="WAV")
                    rows.append(
                        {
                            "path": f"{code}/{speaker.speaker_id}/{name}",
                            "emotion": emotion,
                            "speaker": speaker.speaker_id,
                            "gender": speaker.gender,
                            "language": code,
                            "corpus": language.corpus,
                        }
                    )
    return rows


def _write_manifests(root: Path, rows: list[dict[str, str]], languages: Sequence[str]) -> None:
    """One manifest for the whole corpus and one per language (paths relative to each)."""
    _write_csv(root / MANIFEST_NAME, rows)
    for code in languages:
        prefix = f"{code}/"
        _write_csv(
            root / code / MANIFEST_NAME,
            [{**row, "path": row["path"][len(prefix) :]} for row in rows if row["language"] == code],
        )


def _write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic_text(path, text.getvalue())


def _write_json(path: Path, record: Mapping[str, object]) -> None:
    write_atomic_text(path, json.dumps(record, indent=2, ensure_ascii=False) + "\n")


def _move_into_place(staging: Path, out: Path) -> None:
    """Rename ``staging`` to ``out``, replacing an earlier synthetic corpus or empty folder there."""
    if out.is_dir() and any(out.iterdir()):
        retired = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
        os.replace(out, retired / out.name)
        os.replace(staging, out)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(staging, out)  # rename(2) replaces an empty directory
