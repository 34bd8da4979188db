"""Wall time of a whole study, features cached and not.

    python benchmarks/study.py configs/ravdess.toml [--epochs N] [--jobs N] [--warm-only] [--synthetic N]

Runs the study twice into temporary run directories: first with an empty
feature cache (cold), then again with the cache the first run filled (warm),
and prints each run's wall time with its split into features and fits.  Then,
on the warm cache, it runs the study's fits once per fit and once in batches
(``[compute] batch_fits = false`` and ``true``: the same tasks through
:func:`crossemo.study.fitting.map_fit_tasks`) and prints both wall times, the
ratio and the largest balanced-accuracy difference between the two.  ``--synthetic N``
adds N transfer corpora: the languages of the built-in synthetic corpus, rendered into
the scratch folder (seeds 0, 1, ... for more than three), so ``configs/ravdess.toml
--synthetic 5`` is a study with six transfer corpora.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

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
    arguments = parser.parse_args()

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
        compare_batching(config)


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


def compare_batching(config) -> None:
    """Wall time of the study's fits (warm cache) per fit and in batches, the ratio, the largest accuracy gap."""
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


if __name__ == "__main__":
    main()
