"""Fixtures shared across the test modules: one torch thread, a generated corpus, a real finished run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.fixtures import make_corpus


@pytest.fixture(scope="session")
def one_thread() -> Iterator[None]:
    """Train on one torch thread: bitwise equal latents need the same thread count, and the
    other core stays free for parallel work."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def corpus_workspace(tmp_path_factory) -> SimpleNamespace:
    """Generated RAVDESS (2 per class and actor) and AESD corpora with one feature cache for the session.

    Every module that extracts them shares the cache, so their features are computed once.
    """
    root = tmp_path_factory.mktemp("corpora")
    return SimpleNamespace(
        root=root,
        ravdess=make_corpus("ravdess", root / "ravdess", per_class=2),
        aesd=make_corpus("aesd", root / "aesd", per_class=3),
        cache=root / "cache",
    )


def study_config(workspace: SimpleNamespace, **model):
    """A small study over the shared workspace: RAVDESS -> AESD, 3 folds, two latent models."""
    from crossemo.config import parse_config

    return parse_config(
        {
            "train": {"corpus": "ravdess", "path": str(workspace.ravdess)},
            "transfer": [{"corpus": "aesd", "path": str(workspace.aesd)}],
            "protocol": {"folds": 3},
            "model": {"methods": ["dae", "vae_ss"], "epochs": 2, **model},
            "compute": {"jobs": 1, "cache_dir": str(workspace.cache)},
        }
    )


@pytest.fixture(scope="session")
def finished_run(corpus_workspace, tmp_path_factory, one_thread) -> SimpleNamespace:
    """A real study run (no report) over the shared workspace: its config, run directory and results."""
    from crossemo.study import run_study

    config = study_config(corpus_workspace)
    out: Path = tmp_path_factory.mktemp("study") / "run"
    results = run_study(config, out, progress=False, report=False)
    return SimpleNamespace(config=config, out=out, results=results)
