"""Prediction benchmarks: throughput over many files, and long recordings predicted per segment.

    python benchmarks/predict.py MODEL_DIR FOLDER [--jobs N] [--adapt DIR_OR_MANIFEST]
    python benchmarks/predict.py --long 10 60 [--model MODEL_DIR] [--segment vad] [--jobs N]

Throughput (MODEL_DIR FOLDER): loads the bundle once (timed separately), then runs
``TrainedModel.predict`` on every recording under FOLDER twice with the same fresh,
empty feature cache in a temporary folder: the first run (cold) extracts every file
with openSMILE, the second (warm) only hashes the files' signatures and reads the
cache.  Every file is read once before timing so that no run pays for a cold disk.

Long recordings (--long MINUTES ...): writes, block by block into a temporary folder, a
16 kHz 16-bit recording of each length made of synthetic utterances (``crossemo.synth``)
separated by 0.3-2 s pauses, over a noise floor and a DC offset; then predicts it with
``segment=`` (default ``vad``) in a fresh child process per run, cold (empty feature
cache) and warm (the same cache again), and prints wall time, real-time factor (wall
time / audio duration) and the child's peak resident memory (``ru_maxrss`` of
``resource.getrusage``).  Without --model a small bundle is trained first on a small
synthetic corpus (the model hardly changes the cost: features and segmentation do), in
a child process too: Linux counts the memory of the process a child was started from
(before its ``exec``) in the child's ``ru_maxrss``, so the parent stays small (numpy,
soundfile, the synthesizer) and the figure is the child's own.
A bundle to try for throughput:

    crossemo train configs/ravdess.toml --method dae --out /tmp/ravdess-dae
    python benchmarks/predict.py /tmp/ravdess-dae ../shared/corpora/emodb
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

from crossemo.cli import ARROW_POOL_VARIABLE

SAMPLE_RATE = 16_000
DC_OFFSET = 0.05
NOISE_FLOOR = 0.001  # about -60 dBFS


def throughput(model_dir: Path, folder: Path, jobs: int | None, adapt: Path | None) -> None:
    from crossemo.bundle import load_model
    from crossemo.execution import default_jobs
    from crossemo.recordings import collect_recordings

    started = time.perf_counter()
    model = load_model(model_dir)
    load_s = time.perf_counter() - started
    files = collect_recordings(folder)
    for file in files:  # warm the disk cache: time extraction, not the disk
        Path(file).read_bytes()
    jobs = jobs or default_jobs()
    print(f"{model!r}: loaded in {load_s * 1000:.0f} ms; {len(files)} files, {jobs} job(s)")

    with tempfile.TemporaryDirectory(prefix="crossemo-predict-bench-") as cache:
        for run in ("cold", "warm"):
            started = time.perf_counter()
            predictions = model.predict(files, adapt=adapt, jobs=jobs, cache_dir=cache, progress=False)
            elapsed = time.perf_counter() - started
            failed = int(predictions["error"].notna().sum())
            flagged = int(predictions["out_of_range"].fillna(False).sum())
            print(
                f"{run}: {len(files) / elapsed:8.1f} files/s ({elapsed:.2f} s; {failed} error rows, "
                f"{flagged} out of range; computed {predictions.attrs['computed']}, "
                f"cached {predictions.attrs['cached']})"
            )


def small_bundle(folder: Path) -> Path:
    """A bundle trained on a small synthetic corpus (one language, two speakers), and the corpus' folder."""
    from crossemo.bundle import train_bundle
    from crossemo.config import parse_config
    from crossemo.synth import synthesize
    from crossemo.synth.languages import DEFAULT_LANGUAGES

    manifest = synthesize(folder / "corpus", languages=DEFAULT_LANGUAGES[:1], speakers_per_language=3,
                          utterances_per_emotion_per_speaker=4)
    config = parse_config({"train": {"corpus": "manifest", "path": str(manifest)}, "protocol": {"folds": 3},
                           "model": {"epochs": 20}, "compute": {"jobs": 1, "cache_dir": str(folder / "train-cache")}})
    return train_bundle(config, "dae", folder / "bundle", progress=False)


def utterance_pool(folder: Path) -> list[np.ndarray]:
    """Utterances to build recordings from: the synthetic corpus under ``folder`` (rendered if missing)."""
    from crossemo.synth import synthesize
    from crossemo.synth.languages import DEFAULT_LANGUAGES

    manifest = synthesize(folder / "corpus", languages=DEFAULT_LANGUAGES[:1], speakers_per_language=3,
                          utterances_per_emotion_per_speaker=4)
    pool = [soundfile.read(path, dtype="float32")[0] for path in sorted(manifest.parent.rglob("*.wav"))]
    return [clip for clip in pool if clip.ndim == 1]


def write_recording(path: Path, minutes: float, pool: list[np.ndarray], *, seed: int = 0) -> float:
    """Write ``minutes`` of utterances from ``pool`` and pauses (16 kHz, 16 bit) one piece at a time; its seconds."""
    rng = np.random.default_rng(seed)
    total = int(minutes * 60 * SAMPLE_RATE)
    written = 0
    with soundfile.SoundFile(path, "w", samplerate=SAMPLE_RATE, channels=1, subtype="PCM_16") as handle:
        while written < total:
            pause = np.zeros(int(rng.uniform(0.3, 2.0) * SAMPLE_RATE), dtype=np.float32)
            piece = np.concatenate([pause, pool[rng.integers(len(pool))]])[: total - written]
            piece = piece + DC_OFFSET + NOISE_FLOOR * rng.standard_normal(piece.size).astype(np.float32)
            handle.write(piece)
            written += piece.size
    return written / SAMPLE_RATE


def measure(model_dir: str, recording: str, segment: str, cache: str, jobs: int) -> None:
    """Child side: predict ``recording`` per segment; print wall time, rows and peak RSS as JSON."""
    from crossemo.bundle import load_model

    model = load_model(model_dir)
    started = time.perf_counter()
    predictions = model.predict([recording], segment=segment, cache_dir=cache, jobs=jobs, progress=False)
    wall = time.perf_counter() - started
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    with open("/proc/self/status") as status:  # the high-water mark of this process' own memory, as a check
        high_water = next((int(line.split()[1]) for line in status if line.startswith("VmHWM:")), 0)
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"wall_s": wall, "segments": len(predictions), "errors": int(predictions["error"].notna().sum()),
                      "computed": predictions.attrs["computed"], "cached": predictions.attrs["cached"],
                      "peak_rss_mib": own / 1024, "peak_rss_workers_mib": children / 1024,
                      "vm_hwm_mib": high_water / 1024}))


def long_recordings(minutes: list[float], model_dir: Path | None, segment: str, jobs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="crossemo-long-bench-") as temporary:
        folder = Path(temporary)
        started = time.perf_counter()
        if model_dir is None:  # trained in a child: torch and its kind never enter this process
            trained = subprocess.run([sys.executable, __file__, "--train", str(folder)], capture_output=True,
                                     text=True, check=False)
            if trained.returncode:
                raise SystemExit(f"training the bundle failed:\n{trained.stderr}")
            model_dir = Path(trained.stdout.strip().splitlines()[-1])
        pool = utterance_pool(folder)
        print(f"bundle {model_dir}; {len(pool)} utterances to draw from ({time.perf_counter() - started:.1f} s); "
              f"segment={segment}, jobs={jobs}")
        print(f"{'audio':>8} {'run':>5} {'segments':>8} {'wall':>9} {'RTF':>7} {'peak RSS':>10} {'VmHWM':>9}")
        for length in minutes:
            recording = folder / f"long-{length:g}min.wav"
            seconds = write_recording(recording, length, pool)
            cache = folder / f"cache-{length:g}"
            for run in ("cold", "warm"):
                command = [sys.executable, __file__, "--measure", str(model_dir), str(recording), segment, str(cache),
                           str(jobs)]
                # The allocator the command line sets (crossemo.cli.ARROW_POOL_VARIABLE) unless one is given.
                environment = {ARROW_POOL_VARIABLE: "system", **os.environ}
                result = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)
                if result.returncode:
                    raise SystemExit(f"the measuring child failed:\n{result.stderr}")
                figures = json.loads(result.stdout.strip().splitlines()[-1])
                peak = max(figures["peak_rss_mib"], figures["peak_rss_workers_mib"])
                print(f"{length:>5g} min {run:>5} {figures['segments']:>8} {figures['wall_s']:>8.1f}s "
                      f"{figures['wall_s'] / seconds:>7.4f} {peak:>7.0f} MiB {figures['vm_hwm_mib']:>5.0f} MiB"
                      + (f"  ({figures['errors']} error rows)" if figures["errors"] else ""))
            recording.unlink()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--measure":
        model_dir, recording, segment, cache, jobs = sys.argv[2:7]
        measure(model_dir, recording, segment, cache, int(jobs))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--train":
        print(small_bundle(Path(sys.argv[2])))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", type=Path, nargs="?", help="bundle written by `crossemo train`")
    parser.add_argument("folder", type=Path, nargs="?", help="recordings to predict (folder, file or CSV manifest)")
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores; --long: 1)")
    parser.add_argument("--adapt", type=Path, default=None, help="unlabelled recordings to normalize with")
    parser.add_argument("--long", type=float, nargs="+", metavar="MINUTES",
                        help="benchmark generated recordings of these lengths per segment instead")
    parser.add_argument("--model", type=Path, default=None, help="--long: bundle to use (default: train a small one)")
    parser.add_argument("--segment", default="vad", help="--long: segmentation (default vad)")
    args = parser.parse_args()
    if args.long:
        long_recordings(args.long, args.model or args.model_dir, args.segment, args.jobs or 1)
    elif args.model_dir is None or args.folder is None:
        parser.error("give MODEL_DIR FOLDER, or --long MINUTES ...")
    else:
        throughput(args.model_dir, args.folder, args.jobs, args.adapt)


if __name__ == "__main__":
    main()
