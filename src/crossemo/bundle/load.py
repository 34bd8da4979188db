"""Loading a bundle without running code from it, and refusing one that is not what it claims.

:func:`load_model` reads JSON and safetensors only, never pickle, so a bundle from a
stranger cannot run code.  It refuses, with a :class:`~crossemo.errors.BundleError`
saying what is wrong, a bundle with a file the manifest does not list (a planted
``.pkl``), a missing file, a file whose sha256 differs from the manifest (edited
weights), tensors whose shapes do not fit the state's own metadata (checked against
the method's ``state_shapes`` before any estimator is built), and feature names that
differ from the installed extractor's.  A different crossemo major version or
feature extractor version only warns (:class:`~crossemo.bundle.format.BundleWarning`).
The hashes detect accidental or careless edits; anyone can recompute them, so they do
not prove who wrote a bundle.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crossemo.bundle.calibration import UNCALIBRATED_NOTE, ScoreCalibration
from crossemo.bundle.format import (
    BUNDLE_FILE,
    BUNDLE_FILES,
    BUNDLE_FORMAT,
    CALIBRATION_FILE,
    CALIBRATION_FILES,
    CLASSIFIER_FILE,
    CONFIG_FILE,
    ENCODER_FILE,
    FEATURES_FILE,
    MANIFEST,
    PREPROCESSING_FILE,
    READABLE_VERSIONS,
    BundleWarning,
    LinearOvoClassifier,
    bundle_files,
    content_hash,
    float_array,
    read_json,
    string_list,
)
from crossemo.bundle.predict import (
    ERROR_COLUMN,
    Normalization,
    PredictionError,
    TrainedModel,
    checked_min_confidence,
)
from crossemo.errors import BundleError, ConfigError
from crossemo.preprocessing import OUTLIER_MAX_SHARE
from crossemo.recordings import Sources


def load_model(path: str | os.PathLike[str], *, features: str | None = None) -> TrainedModel:
    """Load the bundle in folder ``path`` without running any code from it.

    The bundle predicts with the feature set it was trained on.  ``features`` names
    that set anew: the same set (say, a self-supervised model folder that moved:
    ``hf:NEW_FOLDER@6`` holding the same weights); any other set is refused.

    Raises :class:`BundleError` naming what does not match: unlisted, missing or
    edited files, malformed documents, tensor shapes that do not fit the recorded
    architecture, feature names other than the installed extractor's.  Warns
    (:class:`BundleWarning`) when the bundle was written with another crossemo
    major version or feature extractor version.
    """
    from crossemo.models.registry import get_method

    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise BundleError(f"no bundle at {folder}: not a folder")
    manifest = checked_manifest(folder)
    description = read_json(folder, BUNDLE_FILE)
    try:
        method = get_method(description.get("method"))
    except ConfigError as error:
        raise BundleError(f"{BUNDLE_FILE}: {error}") from None
    classes = tuple(string_list(description, "classes", BUNDLE_FILE))
    latent_dim = description.get("latent_dim")
    if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
        raise BundleError(f"{BUNDLE_FILE}: latent_dim must be a positive integer, got {latent_dim!r}")

    features_document = read_json(folder, FEATURES_FILE)
    extractor, names = checked_features(features_document, override=features)
    training = description.get("training")
    utterances = training.get("utterances", 0) if isinstance(training, dict) else 0
    normalization = read_normalization(read_json(folder, PREPROCESSING_FILE), len(names), recordings=utterances)
    encoder = load_encoder(folder / ENCODER_FILE, method=method, n_features=len(names), latent_dim=latent_dim)
    classifier = LinearOvoClassifier.from_json(read_json(folder, CLASSIFIER_FILE), latent_dim=latent_dim)
    if classifier.classes != classes:
        raise BundleError(
            f"{CLASSIFIER_FILE} classes {list(classifier.classes)} differ from {BUNDLE_FILE} classes {list(classes)}"
        )
    calibration = None
    if CALIBRATION_FILE in manifest["files"]:
        calibration = read_calibration(read_json(folder, CALIBRATION_FILE), classes)
    recorded = description.get("calibration")
    if calibration is None:  # bundles of format version 1 predate calibration and say nothing of it
        reason = recorded.get("reason") if isinstance(recorded, dict) else None
        recorded = {"fitted": False, "reason": reason if isinstance(reason, str) else UNCALIBRATED_NOTE}
    warn_about_versions(description.get("versions"), features_document.get("extractor"), extractor, folder)
    info = {
        **description,
        "calibration": recorded,
        "extractor": extractor.describe(),
        "config": read_json(folder, CONFIG_FILE),
        "path": str(folder.resolve()),
        "content_sha256": manifest["content_sha256"],
    }
    return TrainedModel(
        method=method.name,
        classes=classes,
        feature_set=extractor.name,
        feature_names=names,
        normalization=normalization,
        encoder=encoder,
        classifier=classifier,
        info=info,
        calibration=calibration,
    )


def predict_files(
    model_dir: str | os.PathLike[str],
    paths: Sources,
    *,
    out: str | os.PathLike[str] | None = None,
    force: bool = False,
    adapt: Sources | None = None,
    adapt_by_speaker: bool = False,
    jobs: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
    min_confidence: float | None = None,
    segment: str | None = None,
    plot: str | os.PathLike[str] | None = None,
    features: str | None = None,
) -> pd.DataFrame:
    """Load the bundle ``model_dir``, predict ``paths`` and write the table to CSV ``out`` (atomically).

    ``segment`` and ``plot`` are those of :meth:`TrainedModel.predict` (one row per
    segment; timeline figures, existing ones replaced only with ``force``);
    ``features`` that of :func:`load_model`.

    ``adapt``, ``adapt_by_speaker`` and ``min_confidence`` are those of :meth:`TrainedModel.predict`.  An
    existing ``out`` is replaced only with ``force``; that is checked before any work.
    When no recording could be predicted, :class:`PredictionError` says why (for the
    first one) and nothing is written.
    """
    from crossemo.fileio import check_new_file, path_to_text, write_atomic_text

    target = None if out is None else check_new_file(out, force=force, option="--out", kind="CSV file",
                                                     error=PredictionError)
    checked_min_confidence(min_confidence)
    model = load_model(model_dir, features=features)
    if segment is not None or plot is not None:
        from crossemo.bundle.segments import predict_with_segments

        predictions = predict_with_segments(model, paths, segment, plot=plot, force=force, adapt=adapt,
                                            adapt_by_speaker=adapt_by_speaker, jobs=jobs, cache_dir=cache_dir,
                                            progress=progress, min_confidence=min_confidence)
    else:
        predictions = model.predict(paths, adapt=adapt, adapt_by_speaker=adapt_by_speaker, jobs=jobs,
                                    cache_dir=cache_dir, progress=progress, min_confidence=min_confidence)
    errors = predictions[ERROR_COLUMN]
    if errors.notna().all():
        raise PredictionError(
            f"nothing predicted: none of the {len(predictions)} recording(s) is usable "
            f"(e.g. {predictions['path'].iloc[0]}: {errors.iloc[0]})"
        )
    if target is not None:
        try:
            write_atomic_text(target, predictions.to_csv(index=False))
        except OSError as error:
            raise PredictionError(f"cannot write {path_to_text(target)}: {error.strerror or error}") from None
    return predictions


# --------------------------------------------------------------------------- the checks


def checked_manifest(folder: Path) -> dict[str, Any]:
    """The manifest, after checking the folder holds exactly its files with their recorded hashes."""
    from crossemo.fileio import file_sha256

    if not (folder / MANIFEST).is_file():
        raise BundleError(f"{folder} is not a crossemo bundle: it has no {MANIFEST}")
    manifest = read_json(folder, MANIFEST)
    if manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{folder}/{MANIFEST}: format is {manifest.get('format')!r}, not {BUNDLE_FORMAT!r}")
    version = manifest.get("format_version")
    if isinstance(version, bool) or version not in READABLE_VERSIONS:
        raise BundleError(
            f"{folder} is bundle format version {version!r}; this crossemo reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}"
        )
    listed = manifest.get("files")
    if not isinstance(listed, dict) or not all(isinstance(value, str) for value in listed.values()):
        raise BundleError(f"{folder}/{MANIFEST}: 'files' must map file names to sha256 hex digests")
    known = bundle_files(calibrated=version >= 2)  # version 1 had no calibration files
    unknown = sorted(set(listed) - set(known))
    if unknown:
        raise BundleError(f"{folder}/{MANIFEST} lists files that are no part of a bundle: {', '.join(unknown)}")
    unlisted = sorted(set(BUNDLE_FILES) - set(listed))
    if unlisted:
        raise BundleError(f"{folder}/{MANIFEST} does not list {', '.join(unlisted)}")
    calibration = [name for name in CALIBRATION_FILES if name in listed]
    if calibration and len(calibration) != len(CALIBRATION_FILES):
        absent = sorted(set(CALIBRATION_FILES) - set(calibration))
        raise BundleError(f"{folder}/{MANIFEST} lists {', '.join(calibration)} without {', '.join(absent)}: "
                          "a calibrated bundle has all the calibration files")
    names = bundle_files(calibrated=bool(calibration))

    present = {entry.name: entry for entry in os.scandir(folder)}
    planted = sorted(name for name in present if name != MANIFEST and name not in listed)
    if planted:
        raise BundleError(
            f"{folder} holds files its manifest does not list: {', '.join(planted)}. A bundle is loaded only "
            "when it holds exactly the listed files; refusing to load it (do not open those files: "
            "a pickle or torch file can run code)"
        )
    missing = sorted(name for name in listed if name not in present)
    if missing:
        raise BundleError(f"{folder} is incomplete: missing {', '.join(missing)} (listed in {MANIFEST})")
    irregular = sorted(name for name, entry in present.items() if entry.is_symlink() or not entry.is_file())
    if irregular:
        raise BundleError(f"{folder}: {', '.join(irregular)} must be plain files (not links or folders)")
    edited = [
        f"{name} (sha256 {actual[:12]}..., manifest records {listed[name][:12]}...)"
        for name in names
        if (actual := file_sha256(folder / name)) != listed[name]
    ]
    if edited:
        raise BundleError(f"{folder} was modified after it was written: {'; '.join(edited)}")
    if manifest.get("content_sha256") != content_hash(folder, names):
        raise BundleError(f"{folder}/{MANIFEST}: content_sha256 does not match the files it lists")
    return manifest


def checked_features(document: Mapping[str, Any], *, override: str | None = None) -> tuple[Any, tuple[str, ...]]:
    """The installed extractor the bundle names, and its feature names (refused unless they are the bundle's).

    ``features.json`` names the extractor by ``extractor.name`` (``extractor.id`` before
    self-supervised sets); bundles written before extractors were recorded name it by
    ``feature_set`` only (e.g. ``"eGeMAPSv02"``).
    """
    from crossemo.features import FeatureError, get_extractor
    from crossemo.features.ssl import is_ssl_name

    names = string_list(document, "names", FEATURES_FILE)
    recorded = document.get("extractor")
    # "name" rebuilds any extractor (an hf: model's id does not say where the model is); older
    # bundles recorded the registry name as "id", the oldest only "feature_set".
    if isinstance(recorded, dict):
        name = recorded.get("name") or recorded.get("id")
    else:
        name = document.get("feature_set")
    if override is not None:
        extractor = same_feature_set(override, recorded, name)
    else:
        try:
            extractor = get_extractor(name)
        except FeatureError as error:
            hint = (" (if the model moved, pass --features naming its new folder: hf:FOLDER[@LAYER])"
                    if is_ssl_name(name) else "")
            raise BundleError(f"{FEATURES_FILE}: {error}{hint}") from None
    installed = list(extractor.feature_names)
    if names != installed:
        differences = [
            f"#{index}: bundle {ours!r}, installed {theirs!r}"
            for index, (ours, theirs) in enumerate(zip(names, installed))
            if ours != theirs
        ]
        shown = "; ".join(differences[:3]) + (f"; and {len(differences) - 3} more" if len(differences) > 3 else "")
        raise BundleError(
            f"{FEATURES_FILE}: the bundle's {len(names)} feature names differ from the {len(installed)} of the "
            f"installed {extractor.id} extractor ({extractor.version})"
            + (f" ({shown})" if shown else "")
            + ": the model would be fed the wrong features"
        )
    return extractor, tuple(names)


def same_feature_set(override: str, recorded: Any, recorded_name: Any) -> Any:
    """The extractor ``override`` names, if it is the set the bundle was trained on (else :class:`BundleError`).

    Same set: the same extractor id and, for a self-supervised model, the same weights
    (the hash or hub commit its version starts with); a model folder may have moved.
    """
    from crossemo.features import FeatureError, get_extractor

    try:
        extractor = get_extractor(override)
    except FeatureError as error:
        raise BundleError(f"--features: {error}") from None
    if not isinstance(recorded, dict):  # the oldest bundles: only openSMILE's two sets by name
        recorded = {"id": get_extractor(recorded_name).id if isinstance(recorded_name, str) else None}
    if extractor.id != recorded.get("id"):
        raise BundleError(f"this bundle was trained on {recorded_name} features; it cannot use {override} "
                          f"(its model expects the {recorded_name} feature columns)")
    weights = str(recorded.get("version", "")).split("-layer")[0]
    if "-layer" in str(recorded.get("version", "")) and extractor.version.split("-layer")[0] != weights:
        raise BundleError(f"{override} holds other weights than the model the bundle was trained on "
                          f"(weights {weights}, here {extractor.version.split('-layer')[0]})")
    return extractor


def read_calibration(document: Mapping[str, Any], classes: tuple[str, ...]) -> ScoreCalibration:
    """The :class:`ScoreCalibration` in ``calibration.json`` (its ``calibration`` object), checked against ``classes``."""
    fitted = document.get("calibration")
    if not isinstance(fitted, dict):
        raise BundleError(f"{CALIBRATION_FILE}: needs the object 'calibration'")
    return ScoreCalibration.from_json(fitted, classes=classes, where=CALIBRATION_FILE)


def read_normalization(document: Mapping[str, Any], n_features: int, *, recordings: int) -> Normalization:
    """The training scaler and outlier reference of ``preprocessing.json``, every shape checked."""
    scaler, outliers = document.get("scaler"), document.get("outliers")
    if not isinstance(scaler, dict) or not isinstance(outliers, dict):
        raise BundleError(f"{PREPROCESSING_FILE}: needs the objects 'scaler' and 'outliers'")
    shape = (n_features,)
    scale = float_array(scaler.get("scale"), shape, f"{PREPROCESSING_FILE} scaler.scale")
    if (scale <= 0).any():
        raise BundleError(f"{PREPROCESSING_FILE} scaler.scale: every value must be positive")
    std = float_array(outliers.get("std"), shape, f"{PREPROCESSING_FILE} outliers.std")
    if (std < 0).any():
        raise BundleError(f"{PREPROCESSING_FILE} outliers.std: negative values")
    z = outliers.get("z")
    if isinstance(z, bool) or not isinstance(z, (int, float)) or not np.isfinite(z) or z <= 0:
        raise BundleError(f"{PREPROCESSING_FILE} outliers.z must be a positive number, got {z!r}")
    # Bundles before the width-aware rule record no share: theirs was any one feature of <= 88.
    share = outliers.get("max_share", OUTLIER_MAX_SHARE)
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share < 1:
        raise BundleError(f"{PREPROCESSING_FILE} outliers.max_share must be a number in [0, 1), got {share!r}")
    return Normalization(
        mean=float_array(scaler.get("mean"), shape, f"{PREPROCESSING_FILE} scaler.mean"),
        scale=scale,
        reference_mean=float_array(outliers.get("mean"), shape, f"{PREPROCESSING_FILE} outliers.mean"),
        reference_std=std,
        z=float(z),
        max_share=float(share),
        source="training",
        recordings=int(recordings) if isinstance(recordings, int) else 0,
    )


def load_encoder(path: Path, *, method: Any, n_features: int, latent_dim: int) -> Any:
    """The method's fitted estimator from its state file, its tensors checked before it is built.

    The state must name the bundle's method and input width; its tensors must have
    exactly the names and shapes ``method.estimator.state_shapes(metadata)`` expects;
    the rebuilt estimator must give ``latent_dim`` values per row.
    """
    from crossemo.models.registry import estimator_from_state
    from crossemo.models.state import check_state, read_state_file

    tensors, metadata = read_state_file(path)
    if metadata.get("model") != method.name:
        raise BundleError(f"{ENCODER_FILE} holds model {metadata.get('model')!r}, {BUNDLE_FILE} says {method.name!r}")
    if metadata.get("n_features_in_") != n_features:
        raise BundleError(
            f"{ENCODER_FILE} expects {metadata.get('n_features_in_')!r} input features, "
            f"{FEATURES_FILE} lists {n_features}"
        )
    try:
        expected = method.estimator.state_shapes(metadata)
    except BundleError as error:
        raise BundleError(f"{ENCODER_FILE}: {error}") from None
    check_state(tensors, expected, what=f"{ENCODER_FILE} does not fit the {method.name} state it describes")
    encoder = estimator_from_state(tensors, metadata)  # weights on the CPU, whatever device trained them
    width = np.asarray(encoder.transform(np.zeros((1, n_features)))).shape[1]
    if width != latent_dim:
        raise BundleError(f"{ENCODER_FILE} gives {width} latent values per row, {BUNDLE_FILE} says {latent_dim}")
    return encoder


def warn_about_versions(recorded: Any, recorded_extractor: Any, extractor: Any, folder: Path) -> None:
    """Warn when the bundle was written by another crossemo major version or feature extractor version."""
    from crossemo.study.results import package_versions

    if not isinstance(recorded, dict):
        warnings.warn(f"bundle {folder} records no package versions", BundleWarning, stacklevel=3)
        recorded = {}
    installed = package_versions()
    ours, theirs = str(recorded.get("crossemo", "?")), installed["crossemo"]
    if recorded and ours.split(".")[0] != theirs.split(".")[0]:
        warnings.warn(
            f"bundle {folder} was written by crossemo {ours}; this is crossemo {theirs} (another major version)",
            BundleWarning,
            stacklevel=3,
        )
    described = extractor.describe()
    if isinstance(recorded_extractor, dict):
        ours, theirs = str(recorded_extractor.get("version", "?")), str(described["version"])
    elif described.get("library"):  # written before extractors were recorded: the library's version
        library = described["library"]
        ours, theirs = f"{library} {recorded.get(library, '?')}", f"{library} {described.get('library_version', '?')}"
    else:
        return
    if ours != theirs:
        warnings.warn(
            f"bundle {folder} was trained on features of {ours}; {theirs} is installed, "
            "so feature values may differ slightly",
            BundleWarning,
            stacklevel=3,
        )
