"""The run directory: a user's folder is never written into without --force."""

from __future__ import annotations

import pytest

from crossemo.config import apply_overrides
from crossemo.errors import CrossemoError
from crossemo.study.rundir import TASKS_DIR, prepare_run_dir


def test_a_foreign_folder_is_refused_without_force(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(CrossemoError, match="holds no crossemo run"):
        prepare_run_dir(folder, force=False)
    prepare_run_dir(folder, force=True)
    assert (folder / "holiday.jpg").exists()  # --force writes into it, deletes nothing of the user's


def test_new_empty_and_interrupted_run_folders_are_accepted(tmp_path):
    prepare_run_dir(tmp_path / "new", force=False)
    (tmp_path / "empty").mkdir()
    prepare_run_dir(tmp_path / "empty", force=False)
    interrupted = tmp_path / "interrupted"
    (interrupted / TASKS_DIR).mkdir(parents=True)
    prepare_run_dir(interrupted, force=False)


def test_the_cache_folder_is_a_command_line_override():
    data = apply_overrides({"compute": {"jobs": 2}}, cache_dir="/tmp/features")
    assert data["compute"] == {"jobs": 2, "cache_dir": "/tmp/features"}
