"""Wall time of per-fit against batched training of latent models, on one torch thread.

    python benchmarks/batched_training.py [--methods dae dae_sup:target ...] [--folds 5]
                                          [--seeds 2 1] [--rows 540] [--features 88]
                                          [--epochs 50] [--repeats 2]

Generated data of RAVDESS's size (88 features, 540 utterances, 8 classes, 24
speakers): for each method, the fits of ``folds`` speaker-independent folds times
``seeds`` seeds (each fold trains on the other folds' rows, so fits differ in
rows), trained one by one with ``fit`` and all together with
:func:`crossemo.models.batched.fit_batched`.  Prints both wall times (the best of
``repeats`` runs, alternating the two paths, as other load on the machine only slows
them), the ratio and the largest difference between the two trainings' latents of
the training rows.  A method written ``name:target`` trains target-aware (half as
many unlabelled target rows).  ``--seeds 2 1`` runs every method with batches of 10
and of 5 fits (5 folds, one seed: a typical study's batch).
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


def _run(method: str, fits: list, epochs: int, repeats: int) -> tuple[float, float, float]:
    """Best per-fit and batched wall times of ``fits``, and the largest latent difference."""
    models = {**MODELS, **SUPERVISED_MODELS}
    estimators = [models[method](epochs=epochs, seed=seed) for seed, _ in fits]
    datasets = [data for _, data in fits]
    # First-call warm-up of both paths, not timed.
    fit_batched([copy.deepcopy(estimator) for estimator in estimators[:2]], datasets[:2])
    copy.deepcopy(estimators[0]).fit(*datasets[0][:2], target=datasets[0][2])
    per_fit = together = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        solo = [
            copy.deepcopy(estimator).fit(X, y, target=target) for estimator, (X, y, target) in zip(estimators, datasets)
        ]
        per_fit = min(per_fit, time.perf_counter() - started)
        started = time.perf_counter()
        batched = fit_batched([copy.deepcopy(estimator) for estimator in estimators], datasets)
        together = min(together, time.perf_counter() - started)
    gap = max(
        float(np.abs(one.transform(X) - other.transform(X)).max())
        for one, other, (X, _, _) in zip(solo, batched, datasets)
    )
    return per_fit, together, gap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=["dae", "dae_sup", "vae_ss", "vae_sup", "dae_sup:target"])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[2, 1], help="seeds per batch, one run each")
    parser.add_argument("--rows", type=int, default=540)
    parser.add_argument("--features", type=int, default=88)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=2, help="timed runs of each path; the best counts")
    arguments = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{'method':15s} {'fits':>4s} {'per-fit s':>9s} {'batched s':>9s} {'ratio':>6s}  largest latent difference")
    for seeds in arguments.seeds:
        for name in arguments.methods:
            method, _, variant = name.partition(":")
            fits = generated_fits(
                arguments.rows,
                arguments.features,
                arguments.folds,
                seeds,
                target=variant == "target",
                rng=np.random.default_rng(0),
            )
            per_fit, together, gap = _run(method, fits, arguments.epochs, arguments.repeats)
            print(
                f"{name:15s} {len(fits):4d} {per_fit:9.2f} {together:9.2f} {per_fit / together:5.1f}x  {gap:.1e}",
                flush=True,
            )


if __name__ == "__main__":
    main()
