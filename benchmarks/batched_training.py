"""Wall time of per-fit against batched training of latent models, on one torch thread.

    python benchmarks/batched_training.py [--methods dae dae_sup] [--folds 5] [--seeds 2]
                                          [--rows 540] [--features 88] [--epochs 50] [--target]

Generated data of RAVDESS's size (88 features, 540 utterances, 8 classes, 24
speakers): for each method, the fits of ``folds`` speaker-independent folds times
``seeds`` seeds (each fold trains on the other folds' rows, so fits differ in
rows), trained one by one with ``fit`` and all together with
:func:`crossemo.models.batched.fit_batched`.  Prints both wall times, the ratio and
the largest difference between the two trainings' latents of the training rows.
``--target`` trains target-aware (half as many unlabelled target rows).
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import torch

from crossemo.models.batched import fit_batched
from crossemo.models.estimators import MODELS
from crossemo.models.supervised import SUPERVISED_MODELS


def generated_fits(
    rows: int, features: int, folds: int, seeds: int, *, target: bool, rng: np.random.Generator
) -> list[tuple[int, tuple[np.ndarray, np.ndarray, np.ndarray | None]]]:
    """``(seed, (X, y, target))`` of every fold and seed: class-shifted normal rows, folds by speaker."""
    classes = rng.integers(0, 8, size=rows)
    centres = rng.normal(scale=0.7, size=(8, features))
    X = (rng.normal(size=(rows, features)) + centres[classes]).astype(np.float32)
    speakers = rng.integers(0, 24, size=rows)
    target_rows = rng.normal(size=(rows // 2, features)).astype(np.float32) if target else None
    fits = []
    for fold in range(folds):
        train = speakers % folds != fold
        for seed in range(seeds):
            fits.append((seed, (X[train], classes[train], target_rows)))
    return fits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=["dae", "dae_sup"])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--rows", type=int, default=540)
    parser.add_argument("--features", type=int, default=88)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--target", action="store_true", help="train target-aware")
    arguments = parser.parse_args()
    torch.set_num_threads(1)
    models = {**MODELS, **SUPERVISED_MODELS}
    fits = generated_fits(
        arguments.rows,
        arguments.features,
        arguments.folds,
        arguments.seeds,
        target=arguments.target,
        rng=np.random.default_rng(0),
    )
    for method in arguments.methods:
        estimators = [models[method](epochs=arguments.epochs, seed=seed) for seed, _ in fits]
        datasets = [data for _, data in fits]
        # First-call warm-up of both paths, not timed.
        fit_batched([copy.deepcopy(estimator) for estimator in estimators[:2]], datasets[:2])
        copy.deepcopy(estimators[0]).fit(*datasets[0][:2], target=datasets[0][2])

        started = time.perf_counter()
        solo = [
            copy.deepcopy(estimator).fit(X, y, target=target) for estimator, (X, y, target) in zip(estimators, datasets)
        ]
        per_fit = time.perf_counter() - started

        started = time.perf_counter()
        batched = fit_batched([copy.deepcopy(estimator) for estimator in estimators], datasets)
        together = time.perf_counter() - started

        gap = max(
            float(np.abs(one.transform(X) - other.transform(X)).max())
            for one, other, (X, _, _) in zip(solo, batched, datasets)
        )
        print(
            f"{method:8s} {len(fits)} fits: per-fit {per_fit:6.2f} s, batched {together:6.2f} s, "
            f"ratio {per_fit / together:5.1f}x, largest latent difference {gap:.1e}"
        )


if __name__ == "__main__":
    main()
