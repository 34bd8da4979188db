"""Throughput of prediction with a trained bundle: files per second, cold and warm feature cache.

    python benchmarks/predict.py MODEL_DIR FOLDER [--jobs N] [--adapt DIR_OR_MANIFEST]

Loads the bundle once (timed separately), then runs ``TrainedModel.predict`` on
every recording under FOLDER twice with the same fresh, empty feature cache in a
temporary folder: the first run (cold) extracts every file with openSMILE, the
second (warm) only hashes the files' signatures and reads the cache.  Every file
is read once before timing so that no run pays for a cold disk.  A bundle to try:

    crossemo train configs/ravdess.toml --method dae --out /tmp/ravdess-dae
    python benchmarks/predict.py /tmp/ravdess-dae ../shared/corpora/emodb
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from crossemo.bundle import load_model
from crossemo.execution import default_jobs
from crossemo.recordings import collect_recordings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", type=Path, help="bundle written by `crossemo train`")
    parser.add_argument("folder", type=Path, help="recordings to predict (folder, file or CSV manifest)")
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    parser.add_argument("--adapt", type=Path, default=None, help="unlabelled recordings to normalize with")
    args = parser.parse_args()

    started = time.perf_counter()
    model = load_model(args.model_dir)
    load_s = time.perf_counter() - started
    files = collect_recordings(args.folder)
    for file in files:  # warm the disk cache: time extraction, not the disk
        Path(file).read_bytes()
    jobs = args.jobs or default_jobs()
    print(f"{model!r}: loaded in {load_s * 1000:.0f} ms; {len(files)} files, {jobs} job(s)")

    with tempfile.TemporaryDirectory(prefix="crossemo-predict-bench-") as cache:
        for run in ("cold", "warm"):
            started = time.perf_counter()
            predictions = model.predict(files, adapt=args.adapt, jobs=jobs, cache_dir=cache, progress=False)
            elapsed = time.perf_counter() - started
            failed = int(predictions["error"].notna().sum())
            flagged = int(predictions["out_of_range"].fillna(False).sum())
            print(
                f"{run}: {len(files) / elapsed:8.1f} files/s ({elapsed:.2f} s; {failed} error rows, "
                f"{flagged} out of range; computed {predictions.attrs['computed']}, "
                f"cached {predictions.attrs['cached']})"
            )


if __name__ == "__main__":
    main()
