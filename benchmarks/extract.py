"""Throughput of feature extraction per feature set: cold cache, warm cache, and a plain openSMILE loop.

    python benchmarks/extract.py FOLDER [--jobs N] [--corpus NAME] [--features NAME ...] [--no-plain]

Finds every ``.wav`` under FOLDER (or reads it as corpus NAME with
``crossemo.corpora.read_corpus``, so the warm figure includes reading the corpus
table), then measures audio-seconds processed per wall-second for

(a) ``crossemo.features.extract`` with a fresh, empty cache folder (cold),
(b) the same call again (warm: hashing and reading the cache only),
(c) a single-process loop of ``opensmile.Smile.process_file`` over the same files.

for each feature set (``--features``, repeatable: default egemaps, gemaps, compare and
emobase; ``hf:MODEL[@LAYER]`` works too, without a plain loop).  Every file is read once
before timing so that no run pays for a cold disk.  Targets on two cores (eGeMAPS):
cold >= 1.7 x the plain loop; warm RAVDESS (688 files) < 5 s.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import opensmile
import pandas as pd
import soundfile

from crossemo.execution import default_jobs
from crossemo.features import OpenSmileExtractor, extract, get_extractor

DEFAULT_SETS = ("egemaps", "gemaps", "compare", "emobase")


def corpus_table(folder: Path, corpus: str | None) -> pd.DataFrame:
    """The files to process as a table (``path`` relative to ``attrs["root"]``)."""
    if corpus is not None:
        from crossemo.corpora import read_corpus

        return read_corpus(corpus, folder)
    files = sorted(path for path in folder.rglob("*") if path.suffix.lower() == ".wav" and path.is_file())
    table = pd.DataFrame({"path": [path.relative_to(folder).as_posix() for path in files]})
    table.attrs["root"] = str(folder)
    return table


def audio_seconds(files: list[Path]) -> float:
    """Total duration of ``files`` from their headers (unreadable files count as 0)."""
    total = 0.0
    for file in files:
        try:
            total += soundfile.info(str(file)).duration
        except RuntimeError:
            pass
    return total


def plain_loop(files: list[Path], feature_set: str) -> tuple[float, float] | None:
    """Wall and CPU seconds of one ``opensmile.Smile`` calling ``process_file`` on each file in turn.

    ``None`` for a set that is not openSMILE's.
    """
    extractor = get_extractor(feature_set)
    if not isinstance(extractor, OpenSmileExtractor):
        return None
    smile = opensmile.Smile(
        feature_set=opensmile.FeatureSet[extractor.opensmile_feature_set],
        feature_level=opensmile.FeatureLevel.Functionals,
    )
    start, start_cpu = time.perf_counter(), time.process_time()
    for file in files:
        try:
            smile.process_file(str(file))
        except Exception:  # the plain loop just skips what it cannot read, like extract does
            pass
    return time.perf_counter() - start, time.process_time() - start_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    parser.add_argument("--corpus", default=None, help="read FOLDER as this corpus (e.g. ravdess)")
    parser.add_argument("--features", action="append", help="feature set (repeatable; default: the openSMILE ones)")
    parser.add_argument("--no-plain", action="store_true", help="skip the plain openSMILE loops")
    args = parser.parse_args()
    folder = args.folder.expanduser().resolve()

    table = corpus_table(folder, args.corpus)
    files = [Path(table.attrs["root"]) / path for path in table["path"]]
    for file in files:  # warm the page cache so that no run pays for the disk
        file.read_bytes()
    seconds = audio_seconds(files)
    jobs = args.jobs or default_jobs()
    print(f"{len(files)} files, {seconds:.1f} s of audio, jobs={jobs}, load average {os.getloadavg()[0]:.2f}")

    print(f"{'set':>10} {'features':>8} {'cold s':>8} {'cold a-s/s':>11} {'warm s':>7} {'warm a-s/s':>11} "
          f"{'plain a-s/s':>11} {'cold/plain':>10}")
    for feature_set in args.features or DEFAULT_SETS:
        measure(feature_set, folder, args, table, files, seconds)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


def measure(feature_set: str, folder: Path, args: argparse.Namespace, table: pd.DataFrame, files: list[Path],
            seconds: float) -> None:
    """One line of figures for ``feature_set``."""
    with tempfile.TemporaryDirectory(prefix="crossemo-bench-") as cache_dir:
        start = time.perf_counter()
        cold = extract(table, feature_set=feature_set, cache_dir=cache_dir, jobs=args.jobs, progress=False)
        cold_s = time.perf_counter() - start

        start = time.perf_counter()
        warm_table = corpus_table(folder, args.corpus)
        warm = extract(warm_table, feature_set=feature_set, cache_dir=cache_dir, jobs=args.jobs, progress=False)
        warm_s = time.perf_counter() - start
    if warm.attrs["computed"]:
        print(f"warning: the warm run of {feature_set} computed {warm.attrs['computed']} files")
    plain = None if args.no_plain else plain_loop(files, feature_set)
    plain_rate = f"{seconds / plain[0]:11.1f}" if plain else f"{'-':>11}"
    ratio = f"{(seconds / cold_s) / (seconds / plain[0]):10.2f}" if plain else f"{'-':>10}"
    width = len(get_extractor(feature_set).feature_names)
    print(f"{feature_set:>10} {width:>8} {cold_s:8.2f} {seconds / cold_s:11.1f} {warm_s:7.2f} "
          f"{seconds / warm_s:11.1f} {plain_rate} {ratio}   ({len(cold.attrs['skipped'])} skipped)", flush=True)


if __name__ == "__main__":
    main()
