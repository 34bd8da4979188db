"""The execution layer: in process, local worker processes, and a Dask cluster."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import crossemo.execution as execution
from crossemo.errors import CrossemoError
from crossemo.execution import ExecutionError, TaskFailure, map_tasks


def square_or_fail(value: int) -> int:
    """Square of ``value``; negative values raise (a task that fails)."""
    if value < 0:
        raise ValueError(f"negative input {value}")
    return value * value


def worker_pid(_: object) -> int:
    return os.getpid()


WARM_UPS: list[int] = []
"""Process ids of the warm-ups run in this process (in a worker: by the pool initializer)."""


def record_warm_up() -> None:
    WARM_UPS.append(os.getpid())


def warm_ups_so_far(_: object) -> tuple[int, int]:
    """This worker's pid and how many warm-ups it has run."""
    return os.getpid(), len(WARM_UPS)


def exit_abruptly(value: int) -> int:
    """Kill the worker process for 0 (as a crash in native code would), else return ``value``."""
    if value == 0:
        os._exit(1)
    return value


def fail_first_attempt(marker: str) -> str:
    """Raise on the first call for ``marker`` (a file path), succeed on the next."""
    path = Path(marker)
    if not path.exists():
        path.write_text("attempted")
        raise OSError("transient failure")
    return "recovered"


@pytest.mark.parametrize("jobs", [1, 2])
def test_every_item_yields_its_result_or_its_failure(jobs: int) -> None:
    items = [3, -1, 0, 5, -7, 2]
    outcomes = dict(map_tasks(square_or_fail, items, jobs=jobs, progress=False))

    assert sorted(outcomes) == list(range(len(items)))
    for index, value in enumerate(items):
        if value < 0:
            failure = outcomes[index]
            assert isinstance(failure, TaskFailure)
            assert failure.kind == "ValueError"
            assert failure.message == f"negative input {value}"
            assert "square_or_fail" in failure.traceback  # where it failed, also from a worker
            assert str(failure) == f"ValueError: negative input {value}"
        else:
            assert outcomes[index] == value * value


def test_in_process_runs_here_in_input_order() -> None:
    outcomes = list(map_tasks(worker_pid, ["a", "b", "c"], jobs=1, progress=False))

    assert [index for index, _ in outcomes] == [0, 1, 2]
    assert {pid for _, pid in outcomes} == {os.getpid()}


def test_worker_processes_are_not_this_process() -> None:
    pids = {pid for _, pid in map_tasks(worker_pid, range(8), jobs=2, progress=False)}

    assert os.getpid() not in pids


def test_a_single_item_runs_in_process_whatever_jobs_says() -> None:
    [(index, pid)] = map_tasks(worker_pid, ["only"], jobs=4, progress=False)

    assert (index, pid) == (0, os.getpid())


def test_no_items_yields_nothing() -> None:
    assert list(map_tasks(square_or_fail, [], jobs=2, progress=False)) == []


def test_stopping_early_returns_promptly_and_leaves_nothing_running() -> None:
    tasks = map_tasks(square_or_fail, range(50), jobs=2, progress=False)
    first_index, first = next(tasks)
    tasks.close()

    assert first == first_index**2


def test_a_dying_worker_fails_tasks_instead_of_the_map() -> None:
    outcomes = dict(map_tasks(exit_abruptly, [0, 1, 2, 3], jobs=2, progress=False))

    assert sorted(outcomes) == [0, 1, 2, 3]
    assert isinstance(outcomes[0], TaskFailure)
    assert outcomes[0].kind == "BrokenProcessPool"
    assert all(outcome == index or isinstance(outcome, TaskFailure) for index, outcome in outcomes.items())


def test_jobs_below_one_is_a_clear_error_at_once() -> None:
    with pytest.raises(ExecutionError, match="jobs must be at least 1") as caught:
        map_tasks(square_or_fail, [1], jobs=0)
    assert isinstance(caught.value, CrossemoError)


def test_progress_bar_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    outcomes = dict(map_tasks(square_or_fail, [1, 2, 3], jobs=1, progress=True, description="squaring"))

    captured = capsys.readouterr()
    assert outcomes == {0: 1, 1: 4, 2: 9}
    assert "squaring" in captured.err
    assert "3/3" in captured.err
    assert captured.out == ""


@pytest.mark.cluster
def test_dask_scheduler_gives_the_same_contract_and_retries(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, protocol="tcp", dashboard_address=None
    ) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://")
        outcomes = dict(map_tasks(square_or_fail, [4, -2, 3], scheduler=address, progress=False))
        marker = str(tmp_path / "marker")
        [(_, recovered)] = map_tasks(fail_first_attempt, [marker], scheduler=address, progress=False)

    assert outcomes[0] == 16
    assert outcomes[2] == 9
    assert isinstance(outcomes[1], TaskFailure)
    assert outcomes[1].kind == "ValueError"
    assert "negative input -2" in outcomes[1].message
    assert recovered == "recovered"  # the first attempt raised; Dask retried it


@pytest.mark.parametrize("address", ["nonsense", "tcp://localhost"])
def test_a_malformed_scheduler_address_is_a_clear_error(address: str) -> None:
    with pytest.raises(ExecutionError, match="not a Dask scheduler address"):
        list(map_tasks(square_or_fail, [1], scheduler=address))


@pytest.mark.cluster
def test_an_unreachable_scheduler_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(execution, "DASK_CONNECT_TIMEOUT_S", 0.5)
    with pytest.raises(ExecutionError, match="cannot reach Dask scheduler at tcp://127.0.0.1:9"):
        list(map_tasks(square_or_fail, [1], scheduler="tcp://127.0.0.1:9"))


def test_each_worker_warms_up_once_before_its_tasks() -> None:
    outcomes = [outcome for _, outcome in map_tasks(warm_ups_so_far, range(12), jobs=2, progress=False,
                                                    warm_up=record_warm_up)]

    assert {count for _, count in outcomes} == {1}  # before the first task, never again
    assert os.getpid() not in {pid for pid, _ in outcomes}
    assert WARM_UPS == []  # not in this process


def test_the_warm_up_leaves_every_global_random_state_alone() -> None:
    import random

    import numpy as np
    import torch

    from crossemo.study.fitting import warm_up_fits

    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    before = (random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state().clone())
    warm_up_fits()
    after = (random.getstate(), np.random.get_state()[1], torch.get_rng_state())

    assert after[0] == before[0]
    assert np.array_equal(after[1], before[1])
    assert torch.equal(after[2], before[2])


# --------------------------------------------------------------------------- share=True


def test_shared_map_gives_every_result_once_with_failures_as_task_failures():
    results = dict(map_tasks(square_or_fail, [3, -1, 2, 4, 5], jobs=2, progress=False, share=True))
    assert sorted(results) == [0, 1, 2, 3, 4]
    assert [results[i] for i in (0, 2, 3, 4)] == [9, 4, 16, 25]
    assert isinstance(results[1], TaskFailure) and "negative input -1" in results[1].message


def test_shared_map_works_in_this_process_beside_a_worker():
    pids = dict(map_tasks(worker_pid, range(6), jobs=2, progress=False, share=True))
    # The first item goes to the worker at once; the last is left for this process,
    # which starts on it while the worker is still starting.
    assert pids[0] != os.getpid() and pids[5] == os.getpid()


def test_shared_map_warms_up_its_workers_only():
    WARM_UPS.clear()
    seen = dict(map_tasks(warm_ups_so_far, range(6), jobs=2, progress=False, share=True, warm_up=record_warm_up))
    assert WARM_UPS == []  # this process: its first task pays, as in process
    assert all(count == 1 for pid, count in seen.values() if pid != os.getpid())


# --------------------------------------------------------------------------- start_workers_early

_EARLY = """
from crossemo.execution import map_tasks, start_workers_early
from probe import imported

if __name__ == "__main__":
    if {early}:
        start_workers_early(["colorsys"], jobs=2)
    print(sorted(dict(map_tasks(imported, ["colorsys", "colorsys"], jobs=2, progress=False)).values()))
"""


@pytest.mark.parametrize("early", [True, False])
def test_workers_started_early_have_the_modules_imported(tmp_path, early):
    # A fresh interpreter: the server workers fork from is started once per process.
    (tmp_path / "probe.py").write_text("import sys\n\ndef imported(name):\n    return name in sys.modules\n")
    script = tmp_path / "early.py"
    script.write_text(_EARLY.format(early=early))
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.strip() == str([early, early])
