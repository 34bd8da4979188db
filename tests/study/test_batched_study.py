"""``[compute] batch_fits``: a study's fits trained in batches give the per-fit results."""

from __future__ import annotations

import numpy as np
import pytest

from crossemo.config import parse_config
from crossemo.execution import TaskFailure
from crossemo.models import DAE, ModelInputError
from crossemo.models.base import handling_fits
from crossemo.models.batched import record_fit, replaying, train_batched
from crossemo.study import build_tasks, load_corpora
from crossemo.study.fitting import fit_task_pipeline, map_fit_tasks
from crossemo.study.tasks import batch_groups

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def grid(corpus_workspace):
    """The tasks of a small target-aware study (3 folds x 2 seeds, dae and vae_ss, an SVC baseline)."""
    config = parse_config(
        {
            "train": {"corpus": "ravdess", "path": str(corpus_workspace.ravdess)},
            "transfer": [{"corpus": "aesd", "path": str(corpus_workspace.aesd)}],
            "protocol": {"folds": 3, "seeds": [0, 1], "baselines": ["svc_features"]},
            "model": {"methods": ["dae", "vae_ss"], "epochs": 3, "target_data": "adapt"},
            "compute": {"jobs": 1, "cache_dir": str(corpus_workspace.cache)},
        }
    )
    return config, build_tasks(config, load_corpora(config, progress=False))


def _outcomes(tasks, config, *, batch_fits: bool) -> dict[str, dict]:
    compute = config.compute.model_copy(update={"batch_fits": batch_fits})
    outcomes = {}
    for position, outcome in map_fit_tasks(tasks, compute, progress=False):
        assert not isinstance(outcome, TaskFailure), str(outcome)
        assert outcome["key"] == tasks[position].key
        outcomes[outcome["key"]] = outcome
    return outcomes


def _latents(outcome: dict) -> list[np.ndarray]:
    return [outcome["train_latent"], *(e["latent"] for e in outcome["evaluations"] if e["latent"] is not None)]


def test_batched_study_fits_match_per_fit_ones(grid, monkeypatch):
    config, tasks = grid
    assert {task.variant for task in tasks} == {"", "target_adapt"}
    per_fit = _outcomes(tasks, config, batch_fits=False)
    trained_together = []

    def counting(plans):
        trained_together.append(len(plans))
        return train_batched(plans)

    monkeypatch.setattr("crossemo.models.batched.train_batched", counting)
    batched = _outcomes(tasks, config, batch_fits=True)
    # Two latent methods x (plain, target-aware), each 3 folds x 2 seeds (one transfer corpus).
    assert sorted(trained_together) == [6, 6, 6, 6]
    assert per_fit.keys() == batched.keys() == {task.key for task in tasks}
    for key, alone in per_fit.items():
        together = batched[key]
        assert [(e["condition"], e["corpus"]) for e in alone["evaluations"]] == [
            (e["condition"], e["corpus"]) for e in together["evaluations"]
        ]
        # Batched training gives each fit its solo weights bit for bit (one thread): the same everything.
        for first, second in zip(alone["evaluations"], together["evaluations"]):
            assert first["predicted"] == second["predicted"], key
            assert first["balanced_accuracy"] == second["balanced_accuracy"], key
        if alone["train_latent"] is not None:
            for first, second in zip(_latents(alone), _latents(together)):
                assert np.array_equal(first, second), key
            assert len(together["history"]) == config.model.epochs


def test_resuming_a_batched_study_gives_the_same_fits(grid):
    """Fits left over after an interruption train in other batches, with the same results bit for bit."""
    config, tasks = grid
    latent_tasks = [task for task in tasks if task.method.name == "dae"]
    everything = _outcomes(latent_tasks, config, batch_fits=True)
    left_over = latent_tasks[1::3]
    resumed = _outcomes(left_over, config, batch_fits=True)
    for task in left_over:
        for first, second in zip(_latents(everything[task.key]), _latents(resumed[task.key])):
            assert np.array_equal(first, second)


def test_batches_hold_one_latent_method_and_variant(grid):
    _, tasks = grid
    batches = batch_groups(tasks)
    assert sorted(position for batch in batches for position in batch) == list(range(len(tasks)))
    for batch in batches:
        members = [tasks[position] for position in batch]
        assert len({(task.method.name, task.variant, task.classes) for task in members}) == 1
        if members[0].method.name == "svc_features":
            assert len(members) == 1
    dae_plain = [task for task in tasks if task.method.name == "dae" and not task.variant]
    assert [len(batch) for batch in batch_groups(dae_plain)] == [6]  # 3 folds x 2 seeds
    assert [len(batch) for batch in batch_groups(dae_plain, max_size=4)] == [4, 2]


def test_a_replayed_fit_must_be_the_recorded_one(grid):
    _, tasks = grid
    task = next(task for task in tasks if task.method.name == "dae" and not task.variant)
    recorded = record_fit(lambda: fit_task_pipeline(task))
    assert isinstance(recorded.estimator, DAE) and not hasattr(recorded.estimator, "network_")
    X, y, target = recorded.data
    recorded.estimator.fit(X, y, target=target)
    with handling_fits(replaying(recorded)):
        replayed = DAE(**recorded.estimator.get_params()).fit(X, y, target=target)
        assert np.array_equal(replayed.transform(X), recorded.estimator.transform(X))
        with pytest.raises(ModelInputError, match="not the one batched training trained"):
            DAE(**recorded.estimator.get_params()).fit(X, y, target=target)  # served once only
    with handling_fits(replaying(recorded)), pytest.raises(ModelInputError, match="not the one"):
        DAE(**recorded.estimator.get_params()).fit(X[1:], y)
