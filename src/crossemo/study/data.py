"""A study's corpora: read, extracted through the feature cache, outliers removed (SPEC section 3)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crossemo.config import CELL_SEPARATOR, Cell, CorpusEntry, StudyConfig
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

    entries = config.entries()
    # Read every corpus before extracting any: a wrong layout is reported at once, not after
    # minutes of feature extraction of the corpora before it.
    tables = [read_corpus(entry.corpus, entry.path, **entry.options) for entry in entries]
    corpora = {
        entry.display_name: load_corpus(entry, config, table=table, progress=progress)
        for entry, table in zip(entries, tables)
    }
    for cell in config.cells():
        check_training_classes(config, [corpora[name] for name in cell.train], cell)
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

    extractor = get_extractor(config.feature_set)
    names = list(extractor.feature_names)
    extracted = extract(
        read_corpus(entry.corpus, entry.path, **entry.options) if table is None else table,
        feature_set=config.feature_set,
        cache_dir=config.compute.cache_dir,
        jobs=config.compute.jobs,
        scheduler=config.compute.scheduler,
        progress=progress,
    )
    if extracted.empty:
        raise CrossemoError(f"{entry.display_name}: no usable recordings under {entry.path}")
    features = extracted[names].to_numpy(dtype=np.float64)
    keep = outlier_mask(features, z=config.protocol.outlier_z, max_share=config.protocol.outlier_max_share)
    table = extracted.loc[keep, [c for c in extracted.columns if c not in names]].reset_index(drop=True)
    table["corpus"] = entry.display_name
    # Namespaced by corpus, so two pooled corpora never share a speaker (or session) by accident.
    for column in ("speaker", "group"):
        if column in table.columns:
            values = table[column]
            table[column] = (entry.display_name + "/" + values.astype(str)).where(values.notna(), None)
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


def check_training_classes(config: StudyConfig, train: list[CorpusData], cell: Cell | None = None) -> None:
    """Raise :class:`ConfigError` if a cell's training corpora together lack a class it trains on."""
    cell = cell or config.cells()[0]
    present = set().union(*(set(data.table["label"].dropna()) for data in train))
    for classes in config.class_sets(cell):
        missing = [label for label in classes if label not in present]
        if missing:
            names = ", ".join(data.name for data in train)
            raise ConfigError(
                f"training corpora {names} have no utterances of class(es) {missing}; "
                f"they have {sorted(present)}: drop them from protocol.classes or the entry's classes"
            )


def unlabelled_rows(config: StudyConfig, train: CorpusData, classes: tuple[str, ...]) -> np.ndarray:
    """Training-corpus rows that ``protocol.unlabelled = "use"`` adds as unlabelled input (else none)."""
    if config.protocol.unlabelled != "use":
        return np.empty(0, dtype=int)
    return train.other_rows(classes)


def pool_corpora(corpora: list[CorpusData]) -> CorpusData:
    """Several corpora as one (tables and features stacked; each row keeps its ``corpus``)."""
    if len(corpora) == 1:
        return corpora[0]
    # The pooled outlier reference: the mixture of the corpora's moments, weighted by their files.
    counts = np.array([len(data.table) + data.n_outliers for data in corpora], dtype=np.float64)[:, None]
    means = np.array([data.outlier_mean for data in corpora])
    squares = np.array([data.outlier_std**2 + data.outlier_mean**2 for data in corpora])
    mean = (counts * means).sum(axis=0) / counts.sum()
    std = np.sqrt(np.maximum((counts * squares).sum(axis=0) / counts.sum() - mean**2, 0.0))
    return CorpusData(
        outlier_mean=mean,
        outlier_std=std,
        name=CELL_SEPARATOR.join(data.name for data in corpora),
        table=pd.concat([data.table for data in corpora], ignore_index=True),
        features=np.vstack([data.features for data in corpora]),
        n_outliers=sum(data.n_outliers for data in corpora),
        skipped=[item for data in corpora for item in data.skipped],
        extractor=corpora[0].extractor,
    )
