"""The four latent models on RAVDESS: speaker-independent 5-fold balanced accuracy.

Four classes (neutral, sad, happy, angry), eGeMAPSv02 functionals, outliers with
|z| > 10 removed over the corpus, folds grouped by actor (``GroupKFold``), features
standardized on each training fold, a linear SVC on each model's latent. Baselines:
the SVC on a 2-D PCA and on all 88 standardized features. Prints, per method, the
mean balanced accuracy over folds with its 95% confidence interval (Student t,
k - 1 degrees of freedom).

    .venv/bin/python benchmarks/models_ravdess.py
    .venv/bin/python benchmarks/models_ravdess.py --set dae.noise_sigma=0.5 --set epochs=100
    .venv/bin/python benchmarks/models_ravdess.py --scale-latent

Features come from :func:`crossemo.features.extract` (its cache); without it they
are computed with openSMILE directly and cached under ``--cache-dir`` (default
``~/.cache/crossemo-bench``), never in the repository.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import stats
from sklearn.decomposition import PCA
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import GroupKFold
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from crossemo.models import MODELS

CLASSES = {"01": "neutral", "04": "sad", "03": "happy", "05": "angry"}
"""RAVDESS emotion code (third field of the file name) -> four-class label."""

BASELINES = ("pca2d", "svc88")


def default_corpora() -> Path:
    """``$CROSSEMO_CORPORA``, else the shared corpora next to the repository."""
    repository = Path(__file__).resolve().parents[1]
    return Path(os.environ.get("CROSSEMO_CORPORA", repository.parent / "shared" / "corpora"))


def ravdess_table(folder: Path) -> pd.DataFrame:
    """``path`` (absolute), ``label`` and ``speaker`` of the four-class speech files."""
    rows = []
    for path in sorted(folder.rglob("*.wav")):
        fields = path.stem.split("-")
        if len(fields) == 7 and fields[1] == "01" and fields[2] in CLASSES:
            rows.append({"path": str(path), "label": CLASSES[fields[2]], "speaker": fields[6]})
    if not rows:
        sys.exit(f"no RAVDESS four-class speech files under {folder}")
    return pd.DataFrame(rows)


def project_features(folder: Path) -> tuple[pd.DataFrame, list[str]] | None:
    """Features through crossemo's own reader and extractor, or None when unavailable."""
    try:
        from crossemo.corpora import read_corpus
        from crossemo.features import extract, feature_names
    except ImportError as error:
        print(f"crossemo.features unavailable ({error}); computing with openSMILE directly")
        return None
    table = read_corpus("ravdess", folder)
    table = table[table["label"].notna()]
    features = extract(table, progress=False)
    for skip in features.attrs.get("skipped", []):
        print(f"skipped {skip['path']}: {skip['reason']}")
    return features, feature_names()


def opensmile_features(folder: Path, cache_dir: Path) -> tuple[pd.DataFrame, list[str]]:
    """Features computed file by file with openSMILE, cached by path, size and mtime."""
    import opensmile

    smile = opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02,
        feature_level=opensmile.FeatureLevel.Functionals,
    )
    names = list(smile.feature_names)
    table = ravdess_table(folder)
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache_file = cache_dir / f"ravdess-egemaps-opensmile{opensmile.__version__}.csv"
    cache = pd.read_csv(cache_file, index_col="key") if cache_file.exists() else None
    keys = [f"{p}|{os.stat(p).st_size}|{os.stat(p).st_mtime_ns}" for p in table["path"]]
    missing = [key for key in keys if cache is None or key not in cache.index]
    if missing:
        print(f"computing eGeMAPS of {len(missing)} files (cache: {cache_file})")
        computed = pd.DataFrame(
            [smile.process_file(key.split("|")[0]).iloc[0].to_numpy() for key in missing],
            index=pd.Index(missing, name="key"),
            columns=names,
        )
        cache = computed if cache is None else pd.concat([cache, computed])
        descriptor, temporary = tempfile.mkstemp(dir=cache_dir, suffix=".csv")
        os.close(descriptor)
        cache.to_csv(temporary)
        os.replace(temporary, cache_file)
    values = cache.loc[keys, names].reset_index(drop=True)
    return pd.concat([table, values], axis=1), names


def outlier_keep(X: np.ndarray, *, z: float = 10.0) -> np.ndarray:
    """Rows whose every feature lies within +/- z standard deviations of the corpus mean."""
    std = X.std(axis=0)
    scores = np.divide(X - X.mean(axis=0), std, out=np.zeros_like(X), where=std > 0)
    return (np.abs(scores) <= z).all(axis=1)


def parse_settings(settings: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``["dae.noise_sigma=0.5", "epochs=100"]`` -> per-model parameter overrides.

    A name without a model prefix applies to every model that has the parameter.
    Values are JSON literals (``0.5``, ``[40, 20, 10]``, ``"sum"``) or bare strings.
    """
    overrides: dict[str, dict[str, Any]] = {name: {} for name in MODELS}
    for setting in settings:
        key, _, raw = setting.partition("=")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        if isinstance(value, list):
            value = tuple(value)
        model, _, parameter = key.rpartition(".")
        targets = [model] if model else list(MODELS)
        for name in targets:
            if name not in MODELS:
                sys.exit(f"unknown model {name!r} in --set {setting}; known: {', '.join(MODELS)}")
            if parameter in MODELS[name]().get_params():
                overrides[name][parameter] = value
            elif model:
                sys.exit(f"{name} has no parameter {parameter!r}")
    return overrides


def mean_ci95(values: Sequence[float]) -> tuple[float, float]:
    """Mean and half-width of the 95% Student-t interval over folds (k - 1 dof)."""
    array = np.asarray(values, dtype=float)
    half = stats.t.ppf(0.975, array.size - 1) * array.std(ddof=1) / math.sqrt(array.size)
    return float(array.mean()), float(half)


def evaluate(
    X: np.ndarray,
    y: np.ndarray,
    speakers: np.ndarray,
    *,
    methods: Sequence[str],
    overrides: dict[str, dict[str, Any]],
    seed: int,
    n_folds: int,
    scale_latent: bool = False,
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Balanced accuracy of every method on every speaker-independent fold, and fit times."""
    scores: dict[str, list[float]] = {method: [] for method in methods}
    seconds: dict[str, float] = dict.fromkeys(methods, 0.0)
    for fold, (train, test) in enumerate(GroupKFold(n_splits=n_folds).split(X, y, speakers)):
        scaler = StandardScaler().fit(X[train])
        X_train, X_test = scaler.transform(X[train]), scaler.transform(X[test])
        for method in methods:
            start = time.perf_counter()
            if method == "svc88":
                Z_train, Z_test = X_train, X_test
            elif method == "pca2d":
                pca = PCA(n_components=2, random_state=seed).fit(X_train)
                Z_train, Z_test = pca.transform(X_train), pca.transform(X_test)
            else:
                model = MODELS[method](seed=seed).set_params(**overrides[method])
                model.fit(X_train, y[train])
                Z_train, Z_test = model.transform(X_train), model.transform(X_test)
            if scale_latent and method != "svc88":
                latent_scaler = StandardScaler().fit(Z_train)
                Z_train, Z_test = latent_scaler.transform(Z_train), latent_scaler.transform(Z_test)
            svc = SVC(kernel="linear").fit(Z_train, y[train])
            scores[method].append(balanced_accuracy_score(y[test], svc.predict(Z_test)))
            seconds[method] += time.perf_counter() - start
        print(f"fold {fold + 1}: " + "  ".join(f"{m} {scores[m][-1]:.3f}" for m in methods), flush=True)
    return scores, seconds


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", type=Path, default=default_corpora())
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "crossemo-bench")
    parser.add_argument("--methods", nargs="+", default=[*MODELS, *BASELINES],
                        choices=[*MODELS, *BASELINES])
    parser.add_argument("--set", dest="settings", action="append", default=[],
                        metavar="[MODEL.]PARAM=VALUE", help="override a model parameter")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--scale-latent", action="store_true",
                        help="standardize each 2-D latent on the training fold before the SVC "
                        "(not in the SPEC protocol)")
    parser.add_argument("--opensmile", action="store_true",
                        help="skip crossemo.features and compute with openSMILE directly")
    args = parser.parse_args(argv)

    folder = args.corpora / "ravdess"
    if not folder.is_dir():
        sys.exit(f"RAVDESS not found at {folder} (set --corpora or $CROSSEMO_CORPORA)")
    torch.set_num_threads(args.threads)
    overrides = parse_settings(args.settings)

    found = None if args.opensmile else project_features(folder)
    table, names = found if found is not None else opensmile_features(folder, args.cache_dir)
    X = table[names].to_numpy(dtype=np.float64)
    keep = outlier_keep(X)
    print(f"{len(table)} four-class utterances, {int((~keep).sum())} outliers (|z| > 10) removed")
    X, y = X[keep], table["label"].to_numpy()[keep]
    speakers = table["speaker"].astype(str).to_numpy()[keep]
    for name, params in overrides.items():
        if params and name in args.methods:
            print(f"{name} overrides: {params}")

    scores, seconds = evaluate(
        X, y, speakers, methods=args.methods, overrides=overrides, seed=args.seed,
        n_folds=args.folds, scale_latent=args.scale_latent,
    )
    scaled = ", latents standardized" if args.scale_latent else ""
    print(f"\nbalanced accuracy, {args.folds}-fold by actor, seed {args.seed}{scaled} (mean +/- 95% CI)")
    for method in args.methods:
        mean, half = mean_ci95(scores[method])
        print(f"  {method:<14} {100 * mean:5.1f}% +/- {100 * half:4.1f}   ({seconds[method]:.0f} s)")


if __name__ == "__main__":
    main()
