"""Wall time of a whole study, features cached and not.

    python benchmarks/study.py configs/ravdess.toml [--epochs N] [--jobs N] [--warm-only] [--synthetic N]
                                                    [--command]

Runs the study twice into temporary run directories: first with an empty
feature cache (cold), then again with the cache the first run filled (warm),
and prints each run's wall time with its split into features and fits.  Then,
on the warm cache, it runs the study's fits once per fit and once in batches
(``[compute] batch_fits = false`` and ``true``: the same tasks through
:func:`crossemo.study.fitting.map_fit_tasks`) and prints both wall times, the
ratio and the largest balanced-accuracy difference between the two.  ``--synthetic N``
adds N transfer corpora: the languages of the built-in synthetic corpus, rendered into
the scratch folder (seeds 0, 1, ... for more than three), so ``configs/ravdess.toml
--synthetic 5`` is a study with six transfer corpora.  Then the time per log
Bhattacharyya distance on the study's own latents (each fit's training latent against
its transfer latents), by FFT (the default) and by direct evaluation (the old way),
and the ratio.  ``--command`` also times the whole command as a user runs it,
``crossemo run CONFIG`` in a new process with the warm cache, report included.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from crossemo.config import load_config
from crossemo.study import build_tasks, load_corpora, run_study
from crossemo.study.fitting import map_fit_tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", type=Path)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--warm-only", action="store_true", help="skip the cold-cache run (use the default cache)")
    parser.add_argument("--synthetic", type=int, default=0, help="add this many synthetic transfer corpora")
    parser.add_argument("--command", action="store_true", help="also time `crossemo run CONFIG` (warm cache)")
    arguments = parser.parse_args()
    if arguments.command and arguments.synthetic:
        parser.error("--command times the config as it is: leave out --synthetic")

    with tempfile.TemporaryDirectory(prefix="crossemo-study-") as scratch:
        scratch = Path(scratch)
        config = load_config(arguments.config, epochs=arguments.epochs)
        if arguments.synthetic:
            config = with_synthetic_transfer(config, arguments.synthetic, scratch / "synthetic")
        compute = {"jobs": arguments.jobs}
        if not arguments.warm_only:
            compute["cache_dir"] = scratch / "cache"
        config = config.model_copy(update={"compute": config.compute.model_copy(update=compute)})
        runs = ["warm"] if arguments.warm_only else ["cold", "warm"]
        for name in runs:
            started = time.perf_counter()
            results = run_study(config, scratch / name, progress=False)
            wall = time.perf_counter() - started
            timings = results["timings"]
            print(
                f"{name:5s} cache: {wall:6.1f} s wall  (features {timings['features_s']:.1f} s, "
                f"fits {timings['fits_s']:.1f} s, report {wall - timings['total_s']:.1f} s)"
            )
        outcomes = compare_batching(config)
        compare_bhattacharyya(outcomes)
        if arguments.command:
            time_command(arguments, config.compute.cache_dir, scratch / "command")


def time_command(arguments, cache_dir: Path | None, out: Path) -> None:
    """Wall time of ``crossemo run CONFIG`` in a new process: start-up, study and report."""
    command = [str(Path(sys.executable).with_name("crossemo")), "run", str(arguments.config), "--out", str(out)]
    for option, value in (("--jobs", arguments.jobs), ("--epochs", arguments.epochs), ("--cache-dir", cache_dir)):
        if value is not None:
            command += [option, str(value)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr}")
    print(f"whole command, warm cache: {time.perf_counter() - started:.1f} s wall ({' '.join(command[1:3])})")


def compare_bhattacharyya(outcomes: dict, *, pairs: int = 12) -> None:
    """Time per log BD on the study's latents (training against transfer), FFT against direct."""
    from crossemo.evaluation.consistency import bhattacharyya_distance

    clouds = [
        (outcome["train_latent"], evaluation["latent"])
        for outcome in outcomes.values()
        for evaluation in outcome["evaluations"]
        if evaluation["log_bhattacharyya"] is not None
    ][:pairs]
    if not clouds:
        print("Bhattacharyya distance: no latent with transfer corpora in this study")
        return
    seconds, values = {}, {}
    for method in ("fft", "direct"):
        started = time.perf_counter()
        values[method] = np.array([bhattacharyya_distance(a, b, method=method) for a, b in clouds])
        seconds[method] = (time.perf_counter() - started) / len(clouds)
    gap = float(np.max(np.abs(values["fft"] - values["direct"]) / values["direct"]))
    print(
        f"Bhattacharyya distance ({len(clouds)} latent pairs of this study, d = {clouds[0][0].shape[1]}): "
        f"direct {1000 * seconds['direct']:.1f} ms, FFT {1000 * seconds['fft']:.2f} ms, "
        f"ratio {seconds['direct'] / seconds['fft']:.0f}x, largest relative difference {gap:.1e}"
    )


def with_synthetic_transfer(config, count: int, folder: Path):
    """``config`` with ``count`` more transfer corpora: synthetic languages rendered under ``folder``."""
    from crossemo.settings import CorpusEntry
    from crossemo.synth import synthesize
    from crossemo.synth.languages import DEFAULT_LANGUAGES

    entries = []
    for seed in range(-(-count // len(DEFAULT_LANGUAGES))):
        manifest = synthesize(folder / f"seed{seed}", seed=seed)
        for language in DEFAULT_LANGUAGES:
            if len(entries) < count:
                entries.append(CorpusEntry(corpus="manifest", name=f"synth_{language}_{seed}",
                                           path=manifest.parent / language / "manifest.csv"))
    return config.model_copy(update={"transfer": [*config.transfer, *entries]})


def compare_batching(config) -> dict:
    """Wall time of the study's fits (warm cache) per fit and in batches, the ratio, the largest accuracy gap.

    Returns the batched outcomes by task key.
    """
    tasks = build_tasks(config, load_corpora(config, progress=False))
    walls, accuracies = {}, {}
    for batch_fits in (False, True):
        compute = config.compute.model_copy(update={"batch_fits": batch_fits})
        started = time.perf_counter()
        outcomes = {tasks[position].key: outcome for position, outcome in map_fit_tasks(tasks, compute, progress=False)}
        walls[batch_fits] = time.perf_counter() - started
        accuracies[batch_fits] = {
            (key, e["condition"], e["corpus"]): e["balanced_accuracy"]
            for key, outcome in outcomes.items()
            for e in outcome["evaluations"]
        }
    gap = max(abs(accuracies[True][name] - value) for name, value in accuracies[False].items())
    print(
        f"fits, warm cache ({len(tasks)} fits): batch_fits=false {walls[False]:.1f} s, "
        f"batch_fits=true {walls[True]:.1f} s, ratio {walls[False] / walls[True]:.1f}x, "
        f"largest balanced-accuracy difference {100 * gap:.2f} points"
    )
    return outcomes


if __name__ == "__main__":
    main()
