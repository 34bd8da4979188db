"""Latent models that transfer: RAVDESS <-> Emo-DB, within-corpus and target-normalized transfer.

Four classes (neutral, sad, happy, angry), eGeMAPSv02 functionals through crossemo's
reader and extractor, outliers (|z| > 10 within each corpus) removed, speaker-independent
5-fold split of the training corpus.  Per fold, method and alignment:

* the training fold supplies the scaler; the model trains on it (labels for the methods
  that use them) and, target-aware, on ``target=``: a random 20% of the other corpus
  (labels unused) standardized by its own statistics (condition "target_norm");
* a linear SVC on the training latent predicts the held-out fold (within) and the other
  80% of the other corpus, standardized by the 20% share's scaler (target_norm) or by the
  training fold's (unseen);
* log Bhattacharyya distance between the training latent and that 80%'s latent;
* every accuracy also with the SVC on the latent standardized by the training rows
  (``/s``, as ``protocol.scale_latent``), from the same fit.

With ``--speaker-norm`` each method also trains without a target on folds standardized
per speaker and is evaluated on the whole other corpus standardized per speaker (the
study's condition speaker_norm, speakers with fewer than 20 utterances by their corpus).

Rows: each method without a target (the paper's training), and with the target under
alignment none / mmd / coral; PCA 2-D as the reference.  Balanced accuracy is the mean
over folds (95% Student-t half-width in brackets), log BD the mean over folds.

    .venv/bin/python benchmarks/transfer_models.py
    .venv/bin/python benchmarks/transfer_models.py --methods dae_sup vae_sup --set vae_sup.beta_max=0.1
    .venv/bin/python benchmarks/transfer_models.py --set alignment_weight=3 --jobs 2
    .venv/bin/python benchmarks/transfer_models.py --methods dae_sup --variants "no target" --speaker-norm
    .venv/bin/python benchmarks/transfer_models.py --methods dae_sup --variants "no target" --speaker-norm \
        --set dae_sup.input_lda=3 --set dae_sup.noise_sigma=0.3 --set dae_sup.head_mixup=0.4

Features are cached under ``--cache-dir`` (default ``~/.cache/crossemo-bench/features``),
never in the repository or next to the shared corpora.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CLASSES = ("neutral", "sad", "happy", "angry")
CORPORA = ("ravdess", "emodb")
METHODS = ("dae", "vae_ss", "dae_sup", "vae_sup")
ALIGNMENT_ROWS = ("no target", "none", "mmd", "coral")
"""Training variants: without ``target=``, then with it under each alignment."""


def default_corpora() -> Path:
    """``$CROSSEMO_CORPORA``, else the shared corpora next to the repository."""
    repository = Path(__file__).resolve().parents[1]
    return Path(os.environ.get("CROSSEMO_CORPORA", repository.parent / "shared" / "corpora"))


@dataclass(frozen=True)
class Corpus:
    """Four-class rows of one corpus after outlier removal: table, features, labels."""

    name: str
    table: Any
    features: np.ndarray
    labels: np.ndarray


def load_corpus(name: str, folder: Path, cache_dir: Path) -> Corpus:
    """Read, extract (cached) and clean one corpus, restricted to the four classes."""
    from crossemo.corpora import read_corpus
    from crossemo.features import extract, feature_names
    from crossemo.preprocessing import outlier_mask

    table = read_corpus(name, folder)
    table = table[table["label"].isin(CLASSES)]
    table = extract(table, feature_set="egemaps", cache_dir=cache_dir, jobs=2, progress=False)
    features = table[feature_names("egemaps")].to_numpy(dtype=np.float64)
    keep = outlier_mask(features)
    print(f"{name}: {len(table)} four-class utterances, {int((~keep).sum())} outliers (|z| > 10) removed")
    table = table[keep].reset_index(drop=True)
    return Corpus(name, table, features[keep], table["label"].to_numpy(dtype=object))


@dataclass(frozen=True)
class Job:
    """One fit: a method and training variant on one fold of one direction."""

    source: str
    target: str
    method: str
    variant: str
    fold: int
    standardization: str = "corpus"
    """"corpus" (the paper's folds) or "speaker" (condition speaker_norm: every corpus per speaker)."""


def run_job(job: Job, corpora: dict[str, Corpus], params: dict[str, dict[str, Any]], seed: int) -> dict:
    """Fit one model on one fold; within and transfer balanced accuracy, log BD."""
    import torch
    from sklearn.decomposition import PCA
    from sklearn.svm import SVC

    from crossemo.evaluation.consistency import log_bhattacharyya
    from crossemo.evaluation.metrics import balanced_accuracy
    from crossemo.evaluation.protocols import split_folds
    from crossemo.models.registry import get_method
    from crossemo.preprocessing import fit_scaler, speaker_standardize, target_norm_split

    torch.set_num_threads(1)
    source, target = corpora[job.source], corpora[job.target]
    train, test = split_folds(source.table, split="speaker", n_folds=5, seed=seed)[job.fold]
    source_features = source.features
    adapt, evaluated = target_norm_split(len(target.labels), fraction=0.2, seed=seed)
    if job.standardization == "speaker":
        # As the study's speaker_norm: each speaker by its own statistics (speakers never
        # cross folds), the training fold's scaler on top; the whole target corpus evaluated.
        source_features = speaker_standardize(source.features, _speakers(source.table))
        adapt, evaluated = adapt[:0], np.arange(len(target.labels))
        target_sets = {"speaker_norm": speaker_standardize(target.features, _speakers(target.table))}
    scaler = fit_scaler(source_features[train])
    X_train, X_test = scaler.transform(source_features[train]), scaler.transform(source_features[test])
    target_adapt = None
    if job.standardization == "corpus":
        own = fit_scaler(target.features[adapt])
        target_adapt = own.transform(target.features[adapt])
        target_sets = {
            "target_norm": own.transform(target.features[evaluated]),
            "unseen": scaler.transform(target.features[evaluated]),
        }

    start = time.perf_counter()
    if job.method == "pca":
        model = PCA(n_components=2, random_state=seed).fit(X_train)
    else:
        spec = get_method(job.method)
        options = dict(params.get(job.method, {}))
        if job.variant != "no target":
            options["alignment"] = job.variant
        model = spec.build({"seed": seed, **options})
        labels = source.labels[train] if spec.uses_labels else None
        model.fit(X_train, labels, target=None if job.variant == "no target" else target_adapt)
    seconds = time.perf_counter() - start
    Z_train, Z_test = model.transform(X_train), model.transform(X_test)
    Z_targets = {condition: model.transform(rows) for condition, rows in target_sets.items()}
    result = {**job.__dict__, "seconds": seconds}
    # The SVC on the latent as it is, and on the latent standardized by the training rows
    # (protocol.scale_latent): one fit gives both.
    for suffix, latent_scaler in (("", None), ("_scaled", fit_scaler(Z_train))):
        def view(Z, latent_scaler=latent_scaler):
            return Z if latent_scaler is None else latent_scaler.transform(Z)

        svc = SVC(kernel="linear").fit(view(Z_train), source.labels[train])
        result["within" + suffix] = balanced_accuracy(source.labels[test], svc.predict(view(Z_test)))
        for condition, Z_target in Z_targets.items():
            result[f"{condition}{suffix}"] = balanced_accuracy(target.labels[evaluated], svc.predict(view(Z_target)))
    for condition, Z_target in Z_targets.items():
        result[f"{condition}_log_bd"] = log_bhattacharyya(Z_train, Z_target)
    return result


def _speakers(table: Any) -> np.ndarray:
    column = "speaker" if "speaker" in table.columns else "group"
    return table[column].astype(str).to_numpy(dtype=object)


def mean_ci95(values: Sequence[float]) -> tuple[float, float]:
    """Mean and 95% Student-t half-width over folds (k - 1 degrees of freedom)."""
    from crossemo.evaluation.metrics import mean_ci95 as interval

    mean, low, high = interval(values)
    return mean, (high - low) / 2


def parse_settings(settings: Sequence[str], methods: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``["vae_sup.beta_max=0.1", "alignment_weight=3"]`` -> per-method constructor keywords.

    A name without a method prefix applies to every method; values are JSON literals or strings.
    """
    params: dict[str, dict[str, Any]] = {method: {} for method in methods}
    for setting in settings:
        name, _, text = setting.partition("=")
        method, _, parameter = name.rpartition(".")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        for target in [method] if method else methods:
            if target not in params:
                sys.exit(f"unknown method {target!r} in --set {setting}")
            params[target][parameter] = value
    return params


def _cell(rows: list[dict], key: str) -> str:
    if key not in rows[0]:
        return f"{'':>11}"
    mean, ci = mean_ci95([r[key] for r in rows])
    return f"{100 * mean:5.1f} ({100 * ci:3.1f})"


def report(results: list[dict], directions: Sequence[tuple[str, str]], methods: Sequence[str]) -> None:
    """Print one table per direction and standardization: balanced accuracy (%, 95% CI) and log BD.

    Every accuracy twice: the SVC on the latent as it is, and on the standardized latent (``/s``).
    """
    for source, target in directions:
        for standardization, conditions in (("corpus", ("unseen", "target_norm")), ("speaker", ("speaker_norm",))):
            sets = [r for r in results if (r["source"], r["standardization"]) == (source, standardization)]
            if not sets:
                continue
            print(f"\n{source} -> {target}, {standardization} standardization, 5-fold by speaker")
            header = "".join(f" {name:>11} {name[:9] + '/s':>11}" for name in ("within", *conditions))
            bds = "".join(f" {'BD ' + name[:6]:>9}" for name in conditions)
            print(f"  {'method':<9} {'training':<10}{header}{bds} {'fit s':>6}")
            for method in methods:
                for variant in ("no target",) if method == "pca" else ALIGNMENT_ROWS:
                    rows = [r for r in sets if (r["method"], r["variant"]) == (method, variant)]
                    if not rows:
                        continue
                    cells = "".join(f" {_cell(rows, key)} {_cell(rows, key + '_scaled')}" for key in ("within", *conditions))
                    log_bd = "".join(f" {float(np.mean([r[c + '_log_bd'] for r in rows])):9.2f}" for c in conditions)
                    seconds = float(np.mean([r["seconds"] for r in rows]))
                    print(f"  {method:<9} {variant:<10}{cells}{log_bd} {seconds:6.1f}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", type=Path, default=default_corpora())
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "crossemo-bench" / "features")
    parser.add_argument("--methods", nargs="+", default=[*METHODS, "pca"], choices=[*METHODS, "pca"])
    parser.add_argument("--variants", nargs="+", default=list(ALIGNMENT_ROWS), choices=ALIGNMENT_ROWS)
    parser.add_argument("--direction", choices=("both", "ravdess", "emodb"), default="both",
                        help="training corpus (both: RAVDESS -> Emo-DB and Emo-DB -> RAVDESS)")
    parser.add_argument("--set", dest="settings", action="append", default=[],
                        metavar="[METHOD.]PARAM=VALUE", help="a constructor keyword of the methods")
    parser.add_argument("--speaker-norm", action="store_true",
                        help="also train and evaluate under condition speaker_norm (without a target)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="parallel processes, one torch thread each")
    parser.add_argument("--json", type=Path, help="also write every fold's result here")
    args = parser.parse_args(argv)

    corpora = {}
    for name in CORPORA:
        folder = args.corpora / name
        if not folder.is_dir():
            sys.exit(f"{name} not found at {folder} (set --corpora or $CROSSEMO_CORPORA)")
        corpora[name] = load_corpus(name, folder, args.cache_dir)
    params = parse_settings(args.settings, [m for m in args.methods if m != "pca"])
    for method, options in params.items():
        if options:
            print(f"{method}: {options}")
    directions = [(a, b) for a, b in (CORPORA, CORPORA[::-1]) if args.direction in ("both", a)]
    jobs = [
        Job(source, target, method, variant, fold)
        for source, target in directions
        for method in args.methods
        for variant in (("no target",) if method == "pca" else args.variants)
        for fold in range(5)
    ]
    if args.speaker_norm:
        jobs += [
            Job(source, target, method, "no target", fold, "speaker")
            for source, target in directions
            for method in args.methods
            for fold in range(5)
        ]
    results = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_job, job, corpora, params, args.seed) for job in jobs]
        for done, future in enumerate(as_completed(futures), start=1):
            results.append(future.result())
            print(f"\r{done}/{len(jobs)} fits", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    report(results, directions, args.methods)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
