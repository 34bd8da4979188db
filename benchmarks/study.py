"""Wall time of a whole study, features cached and not.

    python benchmarks/study.py configs/ravdess.toml [--epochs N] [--jobs N]

Runs the study twice into temporary run directories: first with an empty
feature cache (cold), then again with the cache the first run filled (warm),
and prints each run's wall time with its split into features and fits.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from crossemo.config import load_config
from crossemo.study import run_study


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", type=Path)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--warm-only", action="store_true", help="skip the cold-cache run (use the default cache)")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="crossemo-study-") as scratch:
        scratch = Path(scratch)
        config = load_config(arguments.config, epochs=arguments.epochs)
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


if __name__ == "__main__":
    main()
