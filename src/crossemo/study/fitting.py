"""One fit of the grid, in a worker: the pipeline on the training fold, evaluated everywhere."""

from __future__ import annotations

import time
from contextlib import contextmanager

import numpy as np

from crossemo.pipeline import EmotionPipeline
from crossemo.study.tasks import FitTask


def fit_task_pipeline(task: FitTask) -> EmotionPipeline:
    """The task's pipeline fitted on its training fold (with its unlabelled rows, if any)."""
    pipeline = EmotionPipeline(task.method, task.params, scale_latent=task.scale_latent)
    return pipeline.fit(task.train_features, task.train_labels, unlabelled=task.unlabelled_features)


def fit_and_evaluate(task: FitTask) -> dict:
    """Fit one method on one training fold and evaluate it everywhere (runs in a worker)."""
    started = time.perf_counter()
    with single_thread():
        pipeline = fit_task_pipeline(task)
        outcome = evaluate(task, pipeline)
    outcome.update(key=task.key, history=pipeline.history_, fit_s=time.perf_counter() - started)
    return outcome


def evaluate(task: FitTask, pipeline: EmotionPipeline) -> dict:
    """Predict the held-out fold and every transfer set; measure latent consistency."""
    from crossemo.evaluation.consistency import log_bhattacharyya
    from crossemo.evaluation.metrics import balanced_accuracy

    has_latent = task.method.has_latent
    train_latent = pipeline.train_latent_
    evaluations = []
    sets = [("within", "", task.test_features, task.test_labels, task.test_paths, False)]
    sets += [(t.condition, t.name, t.features, t.labels, t.paths, t.standardized) for t in task.transfers]
    for condition, corpus, features, labels, paths, standardized in sets:
        latent = pipeline.embed(features, standardized=standardized)
        predicted = pipeline.predict_latent(latent)
        evaluations.append(
            {
                "condition": condition,
                "corpus": corpus,
                "true": labels.tolist(),
                "predicted": predicted.tolist(),
                "balanced_accuracy": balanced_accuracy(labels, predicted),
                "paths": paths.tolist(),
                "latent": latent.astype(np.float32) if has_latent else None,
                "log_bhattacharyya": (
                    float(log_bhattacharyya(train_latent, latent))
                    if has_latent and condition != "within"
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
