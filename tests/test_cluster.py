"""Extraction and the experiment grid on a real Dask cluster: one scheduler and two workers on 127.0.0.1.

The cluster is started once per module with the ``dask`` command line, exactly as a
user would start one (``dask scheduler`` / ``dask worker ADDRESS``, workers under a
nanny).  Scheduler and workers run with the repository root as working directory
and on ``PYTHONPATH``, so they can import the task functions defined in this module
(the scheduler unpickles tasks too).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import psutil
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import crossemo.execution as execution
import crossemo.features as features
from crossemo.cli import app
from crossemo.config import load_config, parse_config
from crossemo.corpora import read_corpus
from crossemo.execution import ExecutionError, TaskFailure, map_tasks
from crossemo.features import extract, feature_cache_dir, feature_names
from crossemo.study import run_study
from tests.fixtures import make_corpus

pytestmark = pytest.mark.cluster
distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

REPO = Path(__file__).resolve().parents[1]
DASK = Path(sys.executable).parent / "dask"
NAMES = feature_names()
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 10


# --------------------------------------------------------------------------- tasks the workers run


def die_once(marker: str) -> tuple[str, int]:
    """Kill this worker process the first time (writing its pid to ``marker``); then return the new pid."""
    try:
        handle = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return "survived", os.getpid()
    os.write(handle, str(os.getpid()).encode())
    os.close(handle)
    os._exit(1)  # as a crash in native code would: no exception, no cleanup


def always_die(_: object) -> None:
    """Kill the worker process every time it runs."""
    os._exit(1)


def thread_settings(_: object) -> tuple[str | None, list[int]]:
    """OMP_NUM_THREADS and the thread counts of the BLAS/OpenMP libraries loaded in this process."""
    from threadpoolctl import threadpool_info

    return os.environ.get("OMP_NUM_THREADS"), sorted({pool["num_threads"] for pool in threadpool_info()})


def slow_batch(task: tuple) -> list:
    """The real extraction batch, slowed down so that a worker can be killed in the middle of a run."""
    time.sleep(0.3)
    return features._compute_batch(task)


# --------------------------------------------------------------------------- the cluster


def _start(arguments: list[str], log: Path) -> subprocess.Popen:
    """Start a ``dask`` command in its own process group, logging to ``log``, able to import ``tests``."""
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), environment.get("PYTHONPATH")]))
    with open(log, "wb") as output:
        return subprocess.Popen(
            [str(DASK), *arguments],
            cwd=REPO,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a process group per command: the nanny's worker goes with it
        )


def _group_members(processes: list[subprocess.Popen]) -> list[psutil.Process]:
    """Every live process in the process groups of ``processes`` (nannies' workers included)."""
    groups = {process.pid for process in processes}
    members = []
    for candidate in psutil.process_iter():
        try:
            if os.getpgid(candidate.pid) in groups:
                members.append(candidate)
        except (ProcessLookupError, psutil.Error):
            continue
    return members


def _stop(processes: list[subprocess.Popen]) -> None:
    """Terminate the process groups, killing what is still there after :data:`STOP_TIMEOUT_S`."""
    members = _group_members(processes)
    for process in processes:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    _, alive = psutil.wait_procs(members, timeout=STOP_TIMEOUT_S)
    for member in alive:
        member.kill()
    psutil.wait_procs(alive, timeout=STOP_TIMEOUT_S)
    for process in processes:
        process.wait(timeout=STOP_TIMEOUT_S)  # reap, so no zombie is left either


def _wait_for_file(path: Path, process: subprocess.Popen, log: Path) -> dict:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"dask scheduler exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):  # not written yet, or half written
            time.sleep(0.05)
    pytest.fail(f"dask scheduler wrote no {path.name} within {START_TIMEOUT_S} s")


def _start_scheduler(folder: Path) -> tuple[subprocess.Popen, str]:
    scheduler_file = folder / "scheduler.json"
    log = folder / "scheduler.log"
    process = _start(
        ["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", str(scheduler_file)],
        log,
    )
    try:
        return process, _wait_for_file(scheduler_file, process, log)["address"]
    except BaseException:
        _stop([process])
        raise


@pytest.fixture(scope="module")
def cluster_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Address of a running ``dask scheduler`` with two ``dask worker`` processes (one thread each)."""
    if not DASK.exists():
        pytest.skip(f"the dask command line is not installed next to {sys.executable}")
    folder = tmp_path_factory.mktemp("dask")
    processes: list[subprocess.Popen] = []
    try:
        scheduler, address = _start_scheduler(folder)
        processes.append(scheduler)
        for number in range(2):
            worker_arguments = ["worker", address, "--nworkers", "1", "--nthreads", "1", "--host", "127.0.0.1"]
            worker_arguments += ["--no-dashboard", "--local-directory", str(folder / f"worker{number}")]
            processes.append(_start(worker_arguments, folder / f"worker{number}.log"))
        _wait_for_workers(address, 2)
        yield address
    finally:
        members = _group_members(processes)
        _stop(processes)
        leftovers = [member for member in members if member.is_running() and member.status() != psutil.STATUS_ZOMBIE]
        assert not leftovers, f"cluster processes still running: {leftovers}"


@pytest.fixture
def cluster(cluster_address: str) -> str:
    """The module's cluster, with both workers up (a test before may have killed one; its nanny restarts it)."""
    _wait_for_workers(cluster_address, 2)
    return cluster_address


def _wait_for_workers(address: str, count: int) -> None:
    with distributed.Client(address, timeout=START_TIMEOUT_S, set_as_default=False) as client:
        client.wait_for_workers(count, timeout=START_TIMEOUT_S)


def _worker_pids(address: str) -> dict[str, int]:
    with distributed.Client(address, set_as_default=False) as client:
        return client.run(os.getpid)


# --------------------------------------------------------------------------- data


@pytest.fixture(scope="module")
def corpora(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("corpora")
    return {
        "ravdess": make_corpus("ravdess", root / "ravdess", per_class=2),
        "emodb": make_corpus("emodb", root / "emodb", per_class=1),
        "aesd": make_corpus("aesd", root / "aesd", per_class=2),
    }


@pytest.fixture(scope="module")
def local_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Feature cache of the runs in this process (never written by the cluster)."""
    return tmp_path_factory.mktemp("local-cache")


@pytest.fixture(scope="module")
def local_ravdess(corpora: dict[str, Path], local_cache: Path) -> pd.DataFrame:
    """The fixture RAVDESS extracted in this process, the reference for the cluster."""
    table = read_corpus("ravdess", corpora["ravdess"])
    return extract(table, cache_dir=local_cache, jobs=1, progress=False)


def _is_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _assert_cache_is_whole(cache_dir: Path) -> None:
    """No temporary (torn) shard is left, and every shard reads completely."""
    folder = feature_cache_dir(cache_dir)
    assert not list(folder.glob(".*.tmp"))
    shards = list(folder.glob("*.parquet"))
    assert shards
    for shard in shards:
        table = pq.read_table(shard)
        assert table.column_names == ["sha256", *NAMES]


# --------------------------------------------------------------------------- tests


def test_extraction_on_the_cluster_equals_the_local_one(
    cluster: str, corpora: dict[str, Path], local_ravdess: pd.DataFrame, tmp_path: Path
) -> None:
    table = read_corpus("ravdess", corpora["ravdess"])
    remote = extract(table, cache_dir=tmp_path / "cache", scheduler=cluster, progress=False)

    assert remote.attrs["computed"] == len(table)
    assert remote.attrs["skipped"] == local_ravdess.attrs["skipped"]
    pd.testing.assert_frame_equal(remote, local_ravdess, check_exact=True)
    _assert_cache_is_whole(tmp_path / "cache")


def _study_config(corpora: dict[str, Path], cache_dir: Path, **compute: object) -> object:
    return parse_config(
        {
            "train": {"corpus": "ravdess", "path": str(corpora["ravdess"])},
            "transfer": [
                {"corpus": "emodb", "path": str(corpora["emodb"])},
                {"corpus": "aesd", "path": str(corpora["aesd"])},
            ],
            "protocol": {"folds": 3},
            "model": {"methods": ["dae", "vae_ss"], "epochs": 2},
            "compute": {"cache_dir": str(cache_dir), **compute},
        }
    )


def test_a_study_on_the_cluster_gives_the_local_numbers(
    cluster: str, corpora: dict[str, Path], local_cache: Path, tmp_path: Path
) -> None:
    local = run_study(
        _study_config(corpora, local_cache, jobs=1), tmp_path / "local", progress=False, report=False
    )
    remote = run_study(  # its own cache: every file is extracted on the cluster
        _study_config(corpora, tmp_path / "cluster-cache", scheduler=cluster),
        tmp_path / "cluster",
        progress=False,
        report=False,
    )

    assert len(remote["results"]) == len(local["results"]) > 0
    assert remote["results"] == local["results"]
    assert remote["histories"] == local["histories"]
    assert remote["corpora"] == local["corpora"]
    on_disk = json.loads((tmp_path / "cluster" / "results.json").read_text())
    assert on_disk["results"] == json.loads((tmp_path / "local" / "results.json").read_text())["results"]
    assert on_disk["config"]["compute"]["scheduler"] == cluster


def test_a_task_that_kills_its_worker_is_rerun_elsewhere(cluster: str, tmp_path: Path) -> None:
    marker = tmp_path / "attempted"
    outcomes = dict(map_tasks(die_once, [str(marker)], scheduler=cluster, progress=False))

    assert not isinstance(outcomes[0], TaskFailure), outcomes[0]
    status, pid = outcomes[0]
    assert status == "survived"
    assert pid != int(marker.read_text())  # the first attempt's process is gone; another ran it


def test_a_task_that_kills_every_worker_fails_instead_of_hanging(cluster: str) -> None:
    allowed = dask.config.get("distributed.scheduler.allowed-failures")
    started = time.monotonic()
    outcomes = dict(map_tasks(always_die, [None], scheduler=cluster, progress=False))

    assert isinstance(outcomes[0], TaskFailure)
    assert outcomes[0].kind == "KilledWorker"
    assert f"{allowed + 1} " in outcomes[0].message  # tried on allowed-failures + 1 workers
    assert time.monotonic() - started < START_TIMEOUT_S


def test_killing_a_worker_mid_extraction_loses_nothing_and_keeps_the_cache_whole(
    cluster: str,
    corpora: dict[str, Path],
    local_ravdess: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_map_tasks = features.map_tasks
    killed: list[int] = []

    def map_then_kill_a_busy_worker(*arguments, **options):
        """The real map; after the first result arrives, SIGKILL a worker that is running a task."""
        for position, result in enumerate(real_map_tasks(*arguments, **options)):
            if position == 0:
                with distributed.Client(cluster, set_as_default=False) as client:
                    busy = [worker for worker, keys in client.processing().items() if keys]
                    assert busy, "no worker was running a task after the first result"
                    pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            yield result

    monkeypatch.setattr(features, "_compute_batch", slow_batch)  # workers import it from this module
    monkeypatch.setattr(features, "map_tasks", map_then_kill_a_busy_worker)
    table = read_corpus("ravdess", corpora["ravdess"])
    remote = extract(table, cache_dir=tmp_path / "cache", scheduler=cluster, progress=False)

    assert killed and _is_gone(killed[0])
    assert killed[0] not in _worker_pids(cluster).values()
    assert remote.attrs["skipped"] == []
    pd.testing.assert_frame_equal(remote, local_ravdess, check_exact=True)
    _assert_cache_is_whole(tmp_path / "cache")
    monkeypatch.undo()
    again = extract(table, cache_dir=tmp_path / "cache", jobs=1, progress=False)
    assert (again.attrs["computed"], again.attrs["cached"]) == (0, len(table))
    pd.testing.assert_frame_equal(again[NAMES], local_ravdess[NAMES], check_exact=True)


def test_local_workers_get_one_blas_thread_each_like_dask_workers(cluster: str) -> None:
    local = dict(map_tasks(thread_settings, [0, 1], jobs=2, progress=False))
    remote = dict(map_tasks(thread_settings, [0, 1], scheduler=cluster, progress=False))

    assert local == remote == {0: ("1", [1]), 1: ("1", [1])}


def test_a_cluster_without_workers_is_an_error_not_a_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(execution, "DASK_NO_WORKERS_TIMEOUT_S", 1.0)
    monkeypatch.setattr(execution, "DASK_WATCH_INTERVAL_S", 0.2)
    with distributed.LocalCluster(n_workers=0, processes=False, protocol="tcp", dashboard_address=":0") as empty:
        with pytest.raises(ExecutionError, match="has had no workers for 1 s"):
            list(map_tasks(abs, [-1, 2], scheduler=empty.scheduler_address, progress=False))


def test_losing_the_scheduler_is_an_error_not_a_hang(tmp_path: Path) -> None:
    if not DASK.exists():
        pytest.skip(f"the dask command line is not installed next to {sys.executable}")
    scheduler, address = _start_scheduler(tmp_path)
    # No worker: the task waits until the scheduler is killed under it.
    killer = threading.Timer(1.0, scheduler.kill)
    killer.start()
    try:
        with pytest.raises(ExecutionError, match="lost the connection to the Dask scheduler"):
            list(map_tasks(abs, [-1], scheduler=address, progress=False))
    finally:
        killer.cancel()
        _stop([scheduler])


def test_run_takes_scheduler_and_jobs_from_the_command_line(corpora: dict[str, Path], tmp_path: Path) -> None:
    config_path = tmp_path / "study.toml"
    config_path.write_text(
        f'[train]\ncorpus = "ravdess"\npath = "{corpora["ravdess"]}"\n'
        f'[compute]\njobs = 2\ncache_dir = "{tmp_path / "cache"}"\n'
    )
    overridden = load_config(config_path, scheduler="tcp://127.0.0.1:8786", jobs=1).compute
    assert (overridden.scheduler, overridden.jobs) == ("tcp://127.0.0.1:8786", 1)

    result = CliRunner().invoke(app, ["run", str(config_path), "--out", str(tmp_path / "run"), "--scheduler", "nowhere"])

    assert result.exit_code == 2, result.output
    assert "not a Dask scheduler address 'nowhere'" in result.output
    assert "Traceback" not in result.output
