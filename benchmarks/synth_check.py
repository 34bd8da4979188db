"""Check that the synthetic corpus makes emotion learnable, not trivial, and shifted across languages.

Synthesizes the default corpus (into a temporary folder unless ``--out`` is
given), extracts eGeMAPSv02 functionals with openSMILE and prints:

- generation time;
- within each language: balanced accuracy of a linear SVC on the 88
  standardized features, leave-two-speakers-out (speaker-independent folds),
  and the pooled confusion matrix;
- across languages (train on all of one language, test on another): with the
  training language's standardization ("unseen") and with the target's own
  standardization from a random 20 % of it, evaluated on the other 80 %
  ("target_norm").

Usage::

    .venv/bin/python benchmarks/synth_check.py [--out DIR] [--seed 0] [--jobs 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import balanced_accuracy_score, confusion_matrix
from sklearn.model_selection import GroupKFold
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from crossemo.corpora.base import LABELS
from crossemo.synth import synthesize

TARGET_NORM_FRACTION = 0.2


def egemaps(path: str) -> np.ndarray:
    """The 88 eGeMAPSv02 functionals of one file."""
    import opensmile

    smile = opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel.Functionals
    )
    return smile.process_file(path).to_numpy()[0]


def features_of(manifest: Path, *, jobs: int) -> pd.DataFrame:
    """Manifest rows with their 88 features (cached next to the manifest)."""
    cache = manifest.with_name("egemaps.parquet")
    table = pd.read_csv(manifest)
    if cache.is_file():
        cached = pd.read_parquet(cache)
        if cached["path"].tolist() == table["path"].tolist():
            return cached
    paths = [str(manifest.parent / path) for path in table["path"]]
    with ProcessPoolExecutor(jobs) as pool:
        rows = list(pool.map(egemaps, paths, chunksize=16))
    features = pd.DataFrame(np.vstack(rows), columns=[f"f{i:02d}" for i in range(len(rows[0]))])
    table = pd.concat([table, features], axis=1)
    table.to_parquet(cache)
    return table


def feature_matrix(table: pd.DataFrame) -> np.ndarray:
    return table[[column for column in table.columns if column.startswith("f") and column[1:].isdigit()]].to_numpy()


def linear_svc(train_x: np.ndarray, train_y: np.ndarray) -> SVC:
    return SVC(kernel="linear").fit(train_x, train_y)


def within_language(table: pd.DataFrame) -> tuple[list[float], np.ndarray]:
    """Balanced accuracy per leave-two-speakers-out fold and the pooled confusion matrix."""
    x, y, speakers = feature_matrix(table), table["emotion"].to_numpy(), table["speaker"].to_numpy()
    folds = GroupKFold(n_splits=len(set(speakers)) // 2)
    scores, confusion = [], np.zeros((len(LABELS), len(LABELS)), dtype=int)
    for train, test in folds.split(x, y, speakers):
        scaler = StandardScaler().fit(x[train])
        model = linear_svc(scaler.transform(x[train]), y[train])
        predicted = model.predict(scaler.transform(x[test]))
        scores.append(balanced_accuracy_score(y[test], predicted))
        confusion += confusion_matrix(y[test], predicted, labels=list(LABELS))
    return scores, confusion


def across_languages(train: pd.DataFrame, test: pd.DataFrame, *, seed: int) -> dict[str, float]:
    """Balanced accuracy on ``test`` of a model trained on ``train``, under both conditions."""
    scaler = StandardScaler().fit(feature_matrix(train))
    model = linear_svc(scaler.transform(feature_matrix(train)), train["emotion"].to_numpy())
    x, y = feature_matrix(test), test["emotion"].to_numpy()
    order = np.random.default_rng(seed).permutation(len(test))
    norm, held = order[: int(TARGET_NORM_FRACTION * len(test))], order[int(TARGET_NORM_FRACTION * len(test)) :]
    target_scaler = StandardScaler().fit(x[norm])
    return {
        "unseen": balanced_accuracy_score(y, model.predict(scaler.transform(x))),
        "target_norm": balanced_accuracy_score(y[held], model.predict(target_scaler.transform(x[held]))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="corpus folder (kept); default: a temporary folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="processes for feature extraction")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        out = args.out or Path(temporary) / "synth"
        started, started_cpu = time.perf_counter(), time.process_time()
        manifest = synthesize(out, seed=args.seed)
        print(
            f"generation: {time.perf_counter() - started:.1f} s wall, {time.process_time() - started_cpu:.1f} s CPU "
            f"(about 0 if the corpus was already there) -> {manifest}"
        )
        started = time.perf_counter()
        table = features_of(manifest, jobs=args.jobs)
        print(f"eGeMAPS: {len(table)} files, {time.perf_counter() - started:.1f} s")
    languages = sorted(table["language"].unique())
    by_language = {code: table[table["language"] == code].reset_index(drop=True) for code in languages}

    print("\nwithin language, linear SVC on 88 standardized features, leave-2-speakers-out:")
    pooled = np.zeros((len(LABELS), len(LABELS)), dtype=int)
    for code, part in by_language.items():
        scores, confusion = within_language(part)
        pooled += confusion
        print(f"  {code}: balanced accuracy {np.mean(scores):.3f} (folds {', '.join(f'{s:.2f}' for s in scores)})")
    print("  pooled confusion (rows truth, columns predicted):")
    print("  " + " ".join(f"{label:>8}" for label in ("", *LABELS)))
    for label, row in zip(LABELS, pooled, strict=True):
        print("  " + " ".join(f"{value:>8}" for value in (label, *row)))

    print("\nacross languages (train all of one language, test another):")
    for source in languages:
        for target in languages:
            if source != target:
                scores = across_languages(by_language[source], by_language[target], seed=args.seed)
                print(f"  {source} -> {target}: unseen {scores['unseen']:.3f}  target_norm {scores['target_norm']:.3f}")


if __name__ == "__main__":
    main()
