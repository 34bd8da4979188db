"""The task grid of a study: one fit per (cell, class set, fold, seed, method), with everything it needs.

A cell is one training set (one corpus, or several pooled) and the corpora it is
evaluated on (:meth:`~crossemo.config.StudyConfig.cells`).  Folds of a pooled
training set are each corpus' own speaker-independent folds joined fold by fold, so
no speaker crosses folds and every fold holds every training corpus, stratified by
corpus and class.

Training and held-out rows travel raw with the corpus of each row: the fit's own
pipeline standardizes them (one pooled scaler, or each corpus by the statistics of
its own training-fold part: ``protocol.normalize``), as a bundle does.  Transfer rows
under "unseen" travel raw too (the pooled training scaler applies: they have no
statistics of their own); under "target_norm" they travel already standardized by
their own statistics (a random unlabelled share of the corpus).

Two variants of a fit train models of their own:

- ``speaker_norm`` (a condition): every row, training, held-out and transfer, is
  first standardized by its speaker's own statistics (labels unused; a speaker with
  fewer than ``protocol.speaker_min_utterances`` rows by its corpus'), then goes
  through the pipeline as raw rows do; its held-out fold is recorded under the
  condition ``speaker_norm`` with the training corpus' name;
- ``target_adapt`` (``model.target_data = "adapt"``): one fit per transfer corpus,
  trained with the unlabelled share target normalization uses as ``target=`` rows
  (never an evaluated row), evaluated on the rest of that corpus only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np

from crossemo.config import Cell, StudyConfig, config_to_dict
from crossemo.errors import ConfigError
from crossemo.models.registry import Method, get_method
from crossemo.study.data import CorpusData, pool_corpora, unlabelled_rows


@dataclass(frozen=True)
class TransferSet:
    """A transfer corpus restricted to the classes it is evaluated on, under one condition."""

    name: str
    condition: str
    features: np.ndarray  # raw ("unseen") or standardized by the corpus' own statistics ("target_norm")
    labels: np.ndarray
    paths: np.ndarray
    adapt_paths: np.ndarray  # the unlabelled share that supplied the scaler (target_norm only)
    standardized: bool = False


@dataclass(frozen=True)
class FitTask:
    """One fit: everything a worker needs, nothing it has to read from disk."""

    key: str
    method: Method
    classes: tuple[str, ...]
    fold: int
    seed: int
    params: dict
    train_features: np.ndarray
    train_labels: np.ndarray
    train_paths: np.ndarray
    test_features: np.ndarray
    test_labels: np.ndarray
    test_paths: np.ndarray
    transfers: tuple[TransferSet, ...] = field(default=())
    unlabelled_features: np.ndarray | None = None  # extra training input without labels (protocol.unlabelled)
    scale_latent: bool = False
    cell: str = ""  # the training set's name (its corpora joined by "+")
    train_corpora: np.ndarray | None = None  # corpus of every training row
    test_corpora: np.ndarray | None = None  # ... of every held-out row
    unlabelled_corpora: np.ndarray | None = None  # ... of every unlabelled row
    normalize: str = "pooled"  # "pooled" or "corpus" (protocol.normalize)
    class_weight: str | None = None  # the SVC's class_weight ([classifier] class_weight)
    variant: str = ""  # "" (the plain fit), "speaker_norm" or "target_adapt": see the module docstring
    target_features: np.ndarray | None = None  # raw unlabelled rows of the transfer corpus (target_adapt)
    evaluate_within: bool = True  # evaluate the held-out fold (not for target_adapt fits)

    @property
    def train_names(self) -> tuple[str, ...]:
        """The training corpora, in the order of the cell."""
        corpora = self.train_corpora if self.train_corpora is not None else np.array([self.cell])
        return tuple(dict.fromkeys(corpora.tolist()))


def method_params(config: StudyConfig, method: str | Method, seed: int) -> dict:
    """Constructor keywords of ``method``'s estimator from the study's model settings and ``seed``."""
    spec = get_method(method)
    return spec.params(config.model.shared(), seed=seed, options=config.model.options.get(spec.name))


def classifier_class_weight(config: StudyConfig) -> str | None:
    """``[classifier] class_weight`` as scikit-learn's SVC takes it."""
    return None if config.classifier.class_weight == "none" else config.classifier.class_weight


def study_methods(config: StudyConfig) -> list[Method]:
    """The methods a study fits: its latent models, then the protocol's baselines."""
    return [get_method(name) for name in (*config.model.methods, *config.protocol.baselines)]


def build_tasks(config: StudyConfig, corpora: dict[str, CorpusData]) -> list[FitTask]:
    """Every (cell, class set, fold, seed, method) fit of the study."""
    tasks: list[FitTask] = []
    for cell in config.cells():
        tasks.extend(_cell_tasks(config, cell, corpora))
    return tasks


def _cell_tasks(config: StudyConfig, cell: Cell, corpora: dict[str, CorpusData]) -> list[FitTask]:
    train = pool_corpora([corpora[name] for name in cell.train])
    methods = study_methods(config)
    groups = _groups(train.table)
    corpus_of_row = train.table["corpus"].to_numpy(dtype=object)
    speaker_of_row = _speakers(train.table)
    conditions = config.protocol.conditions
    tasks: list[FitTask] = []
    for classes in config.class_sets(cell):
        rows = train.class_rows(classes)
        # A corpus with its own `classes` adds its rows of those only.
        row_labels, row_corpora = train.table["label"].to_numpy(dtype=object)[rows], corpus_of_row[rows]
        own = np.zeros(rows.size, dtype=bool)
        for name in cell.train:
            mine = row_corpora == name
            own[mine] = np.isin(row_labels[mine], config.corpus_classes(name))
        rows = rows[own]
        table = train.table.iloc[rows].reset_index(drop=True)
        features = train.features[rows]
        labels = table["label"].to_numpy(dtype=object)
        paths = table["path"].to_numpy(dtype=object)
        extra = unlabelled_rows(config, train, classes)
        transfers = [corpora[name] for name in cell.transfer if config.transfer_classes(cell, name) == classes]
        by_speaker_norm = "speaker_norm" in conditions
        speaker_sets = tuple(speaker_norm_set(data, classes, config) for data in transfers) if by_speaker_norm else ()
        for seed in config.protocol.seeds:
            # The target_norm sets do not depend on the fold: their scaler is their own.
            adapted = {
                data.name: target_norm_set(data, classes, config, seed)
                for data in transfers
                if "target_norm" in conditions or config.model.target_data == "adapt"
            }
            # Target-aware fits: each transfer corpus' unlabelled share, and its rest evaluated apart.
            targets = {
                name: (_adapt_rows(corpora[name], evaluated), replace(evaluated, condition="target_adapt"))
                for name, evaluated in adapted.items()
                if config.model.target_data == "adapt"
            }
            unseen = {data.name: unseen_set(data, classes) for data in transfers}
            plain_sets = tuple(
                unseen[data.name] if condition == "unseen" else adapted[data.name]
                for data in transfers
                for condition in conditions
                if condition in ("unseen", "target_norm")
            )
            for fold, (train_idx, test_idx) in enumerate(pooled_folds(table, config, seed)):
                unlabelled = None
                if extra.size:
                    unlabelled = extra
                    if config.protocol.split == "speaker":
                        # Group independence holds for them too: none of the held-out groups.
                        held_out = set(groups[rows[test_idx]])
                        unlabelled = extra[~np.isin(groups[extra], list(held_out))]
                common = dict(
                    classes=classes,
                    fold=fold,
                    seed=seed,
                    train_features=features[train_idx],
                    train_labels=labels[train_idx],
                    train_paths=paths[train_idx],
                    test_features=features[test_idx],
                    test_labels=labels[test_idx],
                    test_paths=paths[test_idx],
                    unlabelled_features=None if unlabelled is None else train.features[unlabelled],
                    scale_latent=config.protocol.scale_latent,
                    cell=cell.name,
                    train_corpora=corpus_of_row[rows[train_idx]],
                    test_corpora=corpus_of_row[rows[test_idx]],
                    unlabelled_corpora=None if unlabelled is None else corpus_of_row[unlabelled],
                    normalize=config.normalization(cell),
                    class_weight=classifier_class_weight(config),
                )
                by_speaker = {}
                if by_speaker_norm:
                    by_speaker = _speaker_standardized(
                        common, config, speakers=(speaker_of_row[rows[train_idx]], speaker_of_row[rows[test_idx]],
                                                  None if unlabelled is None else speaker_of_row[unlabelled]),
                    )
                keyed = partial(task_key, config, classes=classes, fold=fold, seed=seed, cell=cell.name)
                for method in methods:
                    params = method_params(config, method, seed)
                    tasks.append(FitTask(key=keyed(method.name), method=method, params=params, transfers=plain_sets,
                                         **common))
                    if by_speaker_norm:
                        tasks.append(FitTask(key=keyed(method.name, variant="speaker_norm"), method=method,
                                             params=params,
                                             transfers=speaker_sets, variant="speaker_norm",
                                             **{**common, **by_speaker}))
                    for name, (target_rows, evaluated) in targets.items() if method.takes_target else ():
                        tasks.append(FitTask(
                            key=keyed(method.name, variant="target_adapt", target=name), method=method,
                            params=params, transfers=(evaluated,), variant="target_adapt",
                            target_features=target_rows, evaluate_within=False, **common,
                        ))
    return tasks


def batch_groups(tasks: list[FitTask], *, max_size: int | None = None) -> list[list[int]]:
    """Positions of ``tasks`` in batches whose latent models can train together (``[compute] batch_fits``).

    A batch holds fits of one latent method, cell, class set and variant: its folds and
    seeds, and for target-aware fits every transfer corpus; at most ``max_size`` of them
    (``None``: no limit), in task order.  A method that is no latent model
    (:class:`~crossemo.models.base.LatentModel`) gets one batch per fit.
    """
    from crossemo.models.base import LatentModel

    if max_size is not None and max_size < 1:
        raise ValueError(f"max_size must be at least 1, got {max_size}")
    groups: dict[tuple, list[int]] = {}
    for position, task in enumerate(tasks):
        if issubclass(task.method.estimator, LatentModel):
            key: tuple = (task.method.name, task.cell, task.classes, task.variant)
        else:
            key = ("alone", position)
        groups.setdefault(key, []).append(position)
    size = max_size or len(tasks) or 1
    return [members[start : start + size] for members in groups.values() for start in range(0, len(members), size)]


def _adapt_rows(data: CorpusData, evaluated: TransferSet) -> np.ndarray:
    """Raw features of the unlabelled share ``evaluated``'s scaler came from (never an evaluated row)."""
    positions = {path: row for row, path in enumerate(data.table["path"])}
    return data.features[[positions[path] for path in evaluated.adapt_paths]]


def _speakers(table) -> np.ndarray:
    column = "speaker" if "speaker" in table.columns else "group"
    return table[column].astype(str).to_numpy(dtype=object)


def _speaker_standardized(common: dict, config: StudyConfig, *, speakers: tuple) -> dict:
    """The fold's rows standardized per speaker, each corpus apart (its statistics are the fallback)."""
    from crossemo.preprocessing import speaker_standardize

    minimum = config.protocol.speaker_min_utterances

    def standardize(features, corpora, owners):
        result = np.empty_like(features)
        for name in dict.fromkeys(corpora.tolist()):
            mine = corpora == name
            result[mine] = speaker_standardize(features[mine], owners[mine], min_utterances=minimum)
        return result

    train_speakers, test_speakers, extra_speakers = speakers
    changed = {
        "train_features": standardize(common["train_features"], common["train_corpora"], train_speakers),
        "test_features": standardize(common["test_features"], common["test_corpora"], test_speakers),
    }
    if common["unlabelled_features"] is not None and len(common["unlabelled_features"]):
        changed["unlabelled_features"] = standardize(
            common["unlabelled_features"], common["unlabelled_corpora"], extra_speakers
        )
    return changed


def pooled_folds(table, config: StudyConfig, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Folds of a (pooled) training table: each corpus' own folds, joined fold by fold.

    Each corpus is split as a single corpus would be (speaker-independent and
    stratified by class, or by utterance), so every fold holds every training
    corpus, stratified by corpus and class, and no speaker crosses folds (speakers
    are namespaced by corpus).  Indices are positions in ``table``.
    """
    from crossemo.evaluation.protocols import split_folds

    corpus = table["corpus"].to_numpy(dtype=object)
    test_sets: list[list[np.ndarray]] = [[] for _ in range(config.protocol.folds)]
    for name in dict.fromkeys(corpus.tolist()):
        rows = np.flatnonzero(corpus == name)
        try:
            folds = split_folds(
                table.iloc[rows], split=config.protocol.split, n_folds=config.protocol.folds, seed=seed
            )
        except ConfigError as error:
            raise ConfigError(f"training corpus {name}: {error}") from None
        for fold, (_, test) in enumerate(folds):
            test_sets[fold].append(rows[test])
    everything = np.arange(len(table))
    folds = []
    for parts in test_sets:
        test = np.sort(np.concatenate(parts))
        folds.append((np.setdiff1d(everything, test, assume_unique=True), test))
    return folds


def _groups(table) -> np.ndarray:
    column = "group" if "group" in table.columns else "speaker"
    return table[column].astype(str).to_numpy(dtype=object)


def _class_rows(data: CorpusData, classes: tuple[str, ...]) -> np.ndarray:
    rows = data.class_rows(classes)
    if rows.size == 0:
        raise ConfigError(f"transfer corpus {data.name} has no utterances of the classes {list(classes)}")
    return rows


def unseen_set(data: CorpusData, classes: tuple[str, ...]) -> TransferSet:
    """Condition "unseen": the whole transfer corpus, raw (the pooled training fold's scaler applies)."""
    rows = _class_rows(data, classes)
    paths = data.table["path"].to_numpy(dtype=object)
    return TransferSet(
        name=data.name,
        condition="unseen",
        features=data.features[rows],
        labels=data.table["label"].to_numpy(dtype=object)[rows],
        paths=paths[rows],
        adapt_paths=paths[rows[:0]],
    )


def target_norm_set(data: CorpusData, classes: tuple[str, ...], config: StudyConfig, seed: int) -> TransferSet:
    """Condition "target_norm": a random share (labels unused) supplies the scaler; the rest is evaluated."""
    from crossemo.preprocessing import fit_scaler, target_norm_split

    rows = _class_rows(data, classes)
    adapt, evaluated = target_norm_split(rows.size, fraction=config.protocol.target_fraction, seed=seed)
    adapt_rows, eval_rows = rows[adapt], rows[evaluated]
    own = fit_scaler(data.features[adapt_rows])
    paths = data.table["path"].to_numpy(dtype=object)
    return TransferSet(
        name=data.name,
        condition="target_norm",
        features=own.transform(data.features[eval_rows]),
        labels=data.table["label"].to_numpy(dtype=object)[eval_rows],
        paths=paths[eval_rows],
        adapt_paths=paths[adapt_rows],
        standardized=True,
    )


def speaker_norm_set(data: CorpusData, classes: tuple[str, ...], config: StudyConfig) -> TransferSet:
    """Condition "speaker_norm": the whole transfer corpus, each speaker by its own statistics."""
    from crossemo.preprocessing import speaker_standardize

    rows = _class_rows(data, classes)
    paths = data.table["path"].to_numpy(dtype=object)
    return TransferSet(
        name=data.name,
        condition="speaker_norm",
        features=speaker_standardize(data.features[rows], _speakers(data.table)[rows],
                                     min_utterances=config.protocol.speaker_min_utterances),
        labels=data.table["label"].to_numpy(dtype=object)[rows],
        paths=paths[rows],
        adapt_paths=paths[rows[:0]],
    )


def task_key(config: StudyConfig, method: str, classes: tuple[str, ...], fold: int, seed: int,
             *, cell: str = "", variant: str = "", target: str = "") -> str:
    """A stable name for a fit: changes whenever anything that affects its result changes."""
    # Where the fit runs (compute) does not change its result, so it is not part of the name.
    settings = config_to_dict(config)
    settings.pop("compute", None)
    identity = {"config": settings, "cell": cell, "method": method, "classes": classes, "fold": fold, "seed": seed}
    if variant:
        identity.update(variant=variant, target=target)
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    prefix = f"{method}-{variant}" if variant else method
    return f"{prefix}-{len(classes)}c-f{fold}-s{seed}-{digest}"
