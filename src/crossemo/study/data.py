"""A study's corpora: read, extracted through the feature cache, outliers removed (SPEC section 3)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crossemo.config import CorpusEntry, StudyConfig
from crossemo.errors import ConfigError, CrossemoError


@dataclass(frozen=True)
class CorpusData:
    """One corpus after feature extraction and outlier removal."""

    name: str
    table: pd.DataFrame
    features: np.ndarray
    n_outliers: int
    skipped: list[dict]
    outlier_mean: np.ndarray | None = None  # the whole corpus' statistics the outlier check used
    outlier_std: np.ndarray | None = None
    extractor: dict | None = None  # the feature extractor's description (id, version, features)

    @property
    def feature_names(self) -> list[str]:
        return list((self.extractor or {}).get("feature_names", []))

    def class_rows(self, classes: tuple[str, ...]) -> np.ndarray:
        """Row positions whose label is one of ``classes``."""
        return np.flatnonzero(self.table["label"].isin(classes).to_numpy())

    def other_rows(self, classes: tuple[str, ...]) -> np.ndarray:
        """Row positions outside ``classes`` (other emotions, no label): unlabelled training input."""
        return np.flatnonzero(~self.table["label"].isin(classes).to_numpy())


def load_corpora(config: StudyConfig, *, progress: bool | None = None) -> dict[str, CorpusData]:
    """Read, extract (through the cache) and clean every corpus of ``config``."""
    from crossemo.corpora import read_corpus

    entries = [config.train, *config.transfer]
    # Read every corpus before extracting any: a wrong layout is reported at once, not after
    # minutes of feature extraction of the corpora before it.
    tables = [read_corpus(entry.corpus, entry.path) for entry in entries]
    corpora = {
        entry.display_name: load_corpus(entry, config, table=table, progress=progress)
        for entry, table in zip(entries, tables)
    }
    check_training_classes(config, corpora[config.train.display_name])
    return corpora


def load_corpus(
    entry: CorpusEntry,
    config: StudyConfig,
    *,
    table: pd.DataFrame | None = None,
    progress: bool | None = None,
) -> CorpusData:
    """One corpus of a study: read, extract through the cache, drop outliers (SPEC section 3).

    ``table`` is the corpus as :func:`~crossemo.corpora.read_corpus` returns it; read here when not given.
    """
    from crossemo.corpora import read_corpus
    from crossemo.features import extract, get_extractor
    from crossemo.preprocessing import outlier_mask

    extractor = get_extractor(config.features.set)
    names = list(extractor.feature_names)
    extracted = extract(
        read_corpus(entry.corpus, entry.path) if table is None else table,
        feature_set=config.features.set,
        cache_dir=config.compute.cache_dir,
        jobs=config.compute.jobs,
        scheduler=config.compute.scheduler,
        progress=progress,
    )
    if extracted.empty:
        raise CrossemoError(f"{entry.display_name}: no usable recordings under {entry.path}")
    features = extracted[names].to_numpy(dtype=np.float64)
    keep = outlier_mask(features, z=config.protocol.outlier_z)
    table = extracted.loc[keep, [c for c in extracted.columns if c not in names]].reset_index(drop=True)
    table["corpus"] = entry.display_name
    return CorpusData(
        name=entry.display_name,
        table=table,
        features=features[keep],
        n_outliers=int((~keep).sum()),
        skipped=list(extracted.attrs.get("skipped", [])),
        outlier_mean=features.mean(axis=0),
        outlier_std=features.std(axis=0),
        extractor={**extractor.describe(), "feature_names": names},
    )


def check_training_classes(config: StudyConfig, train: CorpusData) -> None:
    """Raise :class:`ConfigError` if the training corpus lacks a class the study trains on."""
    present = set(train.table["label"].dropna())
    for classes in config.class_sets():
        missing = [label for label in classes if label not in present]
        if missing:
            raise ConfigError(
                f"training corpus {train.name} has no utterances of class(es) {missing}; "
                f"it has {sorted(present)}: drop them from protocol.classes"
            )


def unlabelled_rows(config: StudyConfig, train: CorpusData, classes: tuple[str, ...]) -> np.ndarray:
    """Training-corpus rows that ``protocol.unlabelled = "use"`` adds as unlabelled input (else none)."""
    if config.protocol.unlabelled != "use":
        return np.empty(0, dtype=int)
    return train.other_rows(classes)
