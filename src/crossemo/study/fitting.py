"""One fit of the grid, in a worker: the pipeline on the training fold, evaluated everywhere.

With ``[compute] batch_fits`` a worker gets a batch of fits instead
(:func:`fit_and_evaluate_batch`): their latent models train together as one vectorized
network (:mod:`crossemo.models.batched`), then each pipeline is finished and evaluated
as a single fit is.  :func:`map_fit_tasks` sends either kind to the execution layer.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

import numpy as np

from crossemo.pipeline import EmotionPipeline
from crossemo.settings import Compute
from crossemo.study.tasks import FitTask, batch_groups


def fit_task_pipeline(task: FitTask) -> EmotionPipeline:
    """The task's pipeline fitted on its training fold (with its unlabelled rows, if any)."""
    pipeline = EmotionPipeline(task.method, task.params, scale_latent=task.scale_latent, normalize=task.normalize,
                               class_weight=task.class_weight)
    return pipeline.fit(
        task.train_features,
        task.train_labels,
        corpora=task.train_corpora,
        unlabelled=task.unlabelled_features,
        unlabelled_corpora=task.unlabelled_corpora,
        target=task.target_features,
    )


def fit_and_evaluate(task: FitTask) -> dict:
    """Fit one method on one training fold and evaluate it everywhere (runs in a worker)."""
    started = time.perf_counter()
    with single_thread():
        pipeline = fit_task_pipeline(task)
        outcome = evaluate(task, pipeline)
    outcome.update(key=task.key, history=pipeline.history_, fit_s=time.perf_counter() - started,
                   variant=task.variant)
    return outcome


def fit_and_evaluate_batch(tasks: Sequence[FitTask]) -> list[dict]:
    """Fit and evaluate a batch of tasks (runs in a worker), their latent models trained together.

    Each pipeline first runs up to its latent model's fit, which is recorded instead of
    made; the recorded models train together (:func:`~crossemo.models.batched.fit_batched`:
    each ends bitwise as its own fit would, whatever the batch); then each
    pipeline is fitted again with its trained model handed over, and evaluated as
    :func:`fit_and_evaluate` does.  A fit's ``fit_s`` is its share of the joint training
    plus its own pipeline and evaluation.
    """
    from crossemo.models.batched import fit_batched, record_fit, replaying

    if len(tasks) == 1:  # nothing to train together
        return [fit_and_evaluate(tasks[0])]
    started = time.perf_counter()
    with single_thread():
        recorded = [record_fit(partial(fit_task_pipeline, task)) for task in tasks]
        trained = [fit for fit in recorded if fit is not None]
        fit_batched([fit.estimator for fit in trained], [fit.data for fit in trained])
        share = (time.perf_counter() - started) / max(len(tasks), 1)
        outcomes = []
        for task, fit in zip(tasks, recorded, strict=True):
            own_started = time.perf_counter()
            pipeline = _fit_with(task, None if fit is None else replaying(fit))
            outcome = evaluate(task, pipeline)
            outcome.update(key=task.key, history=pipeline.history_, variant=task.variant,
                           fit_s=share + time.perf_counter() - own_started)
            outcomes.append(outcome)
    return outcomes


def _fit_with(task: FitTask, handler: Callable | None) -> EmotionPipeline:
    """The task's fitted pipeline, its latent model's fit taken over by ``handler`` (if any)."""
    from crossemo.models.base import handling_fits

    if handler is None:
        return fit_task_pipeline(task)
    with handling_fits(handler):
        return fit_task_pipeline(task)


def map_fit_tasks(tasks: Sequence[FitTask], compute: Compute, *, progress: bool | None = None,
                  ) -> Iterator[tuple[int, Any]]:
    """Run every task on the execution layer; yield ``(position in tasks, outcome or TaskFailure)``.

    ``compute.batch_fits`` sends batches of fits (:func:`~crossemo.study.tasks.batch_groups`)
    as single tasks, locally or on Dask alike, each at most an even share of all the
    study's fits per worker (``compute.jobs``, else this machine's cores) so no worker
    idles; a batch that fails fails each of its fits.  Otherwise one task per fit.
    Locally this process is one of the workers (``share`` of
    :func:`~crossemo.execution.map_tasks`); fits run on one torch thread wherever
    they run, so where a fit runs does not change its result.
    """
    from crossemo.execution import TaskFailure, default_jobs, map_tasks

    # This process fits too (share): it has the data and the imports, and starts at once.
    options = dict(jobs=compute.jobs, scheduler=compute.scheduler, progress=progress, warm_up=warm_up_fits,
                   share=True)
    if not compute.batch_fits:
        yield from map_tasks(fit_and_evaluate, list(tasks), description="fitting models", **options)
        return
    workers = compute.jobs or default_jobs()
    batches = batch_groups(list(tasks), max_size=max(1, math.ceil(len(tasks) / workers)))
    batches.sort(key=len, reverse=True)  # largest first: this process takes the small ones from the end
    items = [[tasks[position] for position in batch] for batch in batches]
    for index, outcome in map_tasks(fit_and_evaluate_batch, items, description="fitting model batches", **options):
        if isinstance(outcome, TaskFailure):
            yield from ((position, outcome) for position in batches[index])
        else:
            yield from zip(batches[index], outcome, strict=True)


def evaluate(task: FitTask, pipeline: EmotionPipeline) -> dict:
    """Predict the held-out fold and every transfer set; measure latent consistency.

    The held-out fold is evaluated per training corpus and, for a pooled training
    set, as a whole (its ``corpus`` then names the training set), under the
    condition ``within`` (a ``speaker_norm`` fit: ``speaker_norm``).  A fit trained
    with target rows (``target_adapt``) is evaluated on its transfer corpus only.
    """
    from crossemo.evaluation.consistency import log_bhattacharyya
    from crossemo.evaluation.metrics import balanced_accuracy

    has_latent = task.method.has_latent
    train_latent = pipeline.train_latent_
    evaluations = []
    names = task.train_names
    pooled = task.cell if len(names) > 1 else None
    sets = []
    if task.evaluate_within:
        test_corpora = task.test_corpora if task.test_corpora is not None else np.full(len(task.test_labels), task.cell)
        test_latent = pipeline.embed(task.test_features, corpora=test_corpora)
        held_out = [(name, test_corpora == name) for name in names]
        if pooled is not None:
            held_out.append((pooled, np.ones(len(test_corpora), dtype=bool)))
        within = task.variant or "within"
        sets = [(within, name, test_latent[rows], task.test_labels[rows], task.test_paths[rows], None)
                for name, rows in held_out]
    sets += [(t.condition, t.name, t.features, t.labels, t.paths, t.standardized) for t in task.transfers]
    for condition, corpus, features, labels, paths, standardized in sets:
        latent = features if standardized is None else pipeline.embed(features, standardized=standardized)
        predicted = pipeline.predict_latent(latent)
        evaluations.append(
            {
                "condition": condition,
                "corpus": corpus,
                "true": labels.tolist(),
                "predicted": predicted.tolist(),
                "balanced_accuracy": balanced_accuracy(labels, predicted),
                "paths": paths.tolist(),
                # The pooled held-out fold repeats the per-corpus rows: its latent is not stored twice.
                "latent": latent.astype(np.float32) if has_latent and corpus != pooled else None,
                "log_bhattacharyya": (
                    float(log_bhattacharyya(train_latent, latent))
                    if has_latent and standardized is not None  # transfer corpora only
                    else None
                ),
            }
        )
    return {
        "train_latent": train_latent.astype(np.float32) if has_latent else None,
        "evaluations": evaluations,
    }


@contextmanager
def single_thread():
    """Train on one torch thread: results then agree bit for bit wherever the fit runs."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def warm_up_fits() -> None:
    """Do in this process what the first model fit would do once: imports and torch's lazy set-up.

    Importing torch and the model, pipeline and evaluation code, then one forward
    and backward pass and an optimizer step of a throwaway network, take seconds
    the first time and little after.  Every global random state it could touch
    (torch's, numpy's, Python's) is restored, so the fits that follow give
    exactly the results they would give without it (they use their own
    ``torch.Generator`` anyway).
    """
    import random

    # Saved before the imports: a module may draw from them when first imported.
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        import torch

        import crossemo.evaluation.consistency  # noqa: F401  (imported here for the warm-up only)
        import crossemo.evaluation.metrics  # noqa: F401

        with torch.random.fork_rng(devices=[]):
            network = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
            optimizer = torch.optim.Adam(network.parameters())
            loss = torch.nn.functional.mse_loss(network(torch.ones(16, 8)), torch.zeros(16, 2))
            loss.backward()
            optimizer.step()
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
