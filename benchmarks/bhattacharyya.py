"""Time per call of the Bhattacharyya distance: FFT (default) against direct evaluation, d = 1, 2, 3.

    python benchmarks/bhattacharyya.py [--repeat N] [--grid-size-3d G]

For each latent dimension and a few typical cloud sizes (two normal clouds, the
second shifted, wider and of another size, as a training and a transfer latent)
it times ``bhattacharyya_distance(..., method="fft")`` and ``method="direct"``
on the default grid (100 points per axis; for d = 3 ``--grid-size-3d``, as the
direct path would otherwise take minutes) and prints the best of N calls of
each, the speed-up and the relative difference of the two values.  A last line
gives the smallest speed-up and the largest relative difference.  Run it on an
otherwise idle machine: both paths use one core.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from crossemo.evaluation.consistency import bhattacharyya_distance

SIZES = (400, 800, 1500)
"""Points in the reference cloud; the other cloud has 3/4 as many."""


def best_time(first: np.ndarray, second: np.ndarray, *, method: str, grid_size: int, repeat: int) -> tuple[float, float]:
    """Fastest of ``repeat`` calls in seconds, and the distance."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        value = bhattacharyya_distance(first, second, grid_size=grid_size, method=method)
        times.append(time.perf_counter() - started)
    return min(times), value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="calls per path and case; the fastest counts")
    parser.add_argument("--grid-size-3d", type=int, default=40, help="grid points per axis for d = 3 (default: 40)")
    arguments = parser.parse_args()

    rng = np.random.default_rng(0)
    print(f"{'d':>2} {'grid':>5} {'n':>5} {'m':>5} {'fft ms':>9} {'direct ms':>10} {'speed-up':>9} {'BD':>9} {'rel diff':>9}")
    speedups, differences = [], []
    for dimension in (1, 2, 3):
        grid_size = arguments.grid_size_3d if dimension == 3 else 100
        for size in SIZES:
            train = rng.normal(size=(size, dimension))
            transfer = 1.2 * rng.normal(size=(3 * size // 4, dimension)) + 0.8
            fft_s, fft_value, direct_s, direct_value = (
                part
                for method in ("fft", "direct")
                for part in best_time(train, transfer, method=method, grid_size=grid_size, repeat=arguments.repeat)
            )
            speedup = direct_s / fft_s
            difference = abs(fft_value - direct_value) / direct_value
            speedups.append(speedup)
            differences.append(difference)
            print(
                f"{dimension:>2} {grid_size:>5} {size:>5} {transfer.shape[0]:>5} {1e3 * fft_s:>9.2f} "
                f"{1e3 * direct_s:>10.1f} {speedup:>8.0f}x {direct_value:>9.4f} {difference:>9.1e}"
            )
    print(f"smallest speed-up {min(speedups):.0f}x, largest relative difference {max(differences):.1e}")


if __name__ == "__main__":
    main()
