"""One execution layer: run a function over many items on local worker processes or a Dask cluster.

:func:`map_tasks` is the only entry point.  It yields ``(index, result)`` pairs as
tasks finish, where ``index`` is the item's position in the input.  A task that
raises does not stop the others: its result is a :class:`TaskFailure` carrying
the error as text, and the caller decides what a failure means (feature
extraction turns it into a skip).

Three back ends share that contract:

- ``jobs=1`` (or a single item): runs in this process, in input order, with no
  pool, so it is debuggable and costs nothing to start.
- otherwise a local :class:`concurrent.futures.ProcessPoolExecutor`.  Workers are
  started with ``forkserver`` (``spawn`` where that is unavailable), never
  ``fork``, so ``fn`` must be a top-level, picklable function and its items
  picklable too.  Each worker gets one BLAS/OpenMP thread, as Dask workers do.
  Workers given a ``warm_up`` (the study's fits) pay the
  first fit's warm-up (importing torch and the model code, torch's lazy
  set-up) once, when they start, not in a task.
- ``scheduler="tcp://host:port"``: tasks go to that Dask cluster, each retried up
  to :data:`DASK_RETRIES` times when it raises, and rerun elsewhere when its
  worker dies.  The scheduler and the workers must be able to import ``fn``
  (have crossemo installed: the scheduler unpickles the tasks too), and the
  workers must see the same files the items refer to.  Results come back to
  this process, so whatever the caller writes (feature cache, finished fits) is
  written here, never by a worker.  Dask workers are not warmed up: a plugin
  would block each worker's event loop for seconds and stay registered on the
  cluster after this map; there the first fit of each worker pays it.

With ``share=True`` this process works through the items too, beside ``jobs - 1``
local workers: for work whose imports this process already has (the study's fits,
the report's figures), it starts at once instead of waiting for a worker's start-up.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import queue
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import closing, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from crossemo.errors import CrossemoError

Item = TypeVar("Item")
Result = TypeVar("Result")

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
"""Environment variables that size the thread pools of OpenMP and the BLAS libraries."""

DASK_RETRIES = 2
"""How often a task that fails on a Dask cluster is resubmitted before it counts as failed."""

DASK_CONNECT_TIMEOUT_S = 10
"""How long to wait for a Dask scheduler to answer before giving up."""

DASK_NO_WORKERS_TIMEOUT_S = 120.0
"""How long a cluster may have no worker at all (none started, all dead) before the map gives up."""

DASK_WATCH_INTERVAL_S = 1.0
"""How often, while no task finishes, the client asks the scheduler whether it still has workers."""


class ExecutionError(CrossemoError, RuntimeError):
    """The execution back end cannot run tasks (bad ``jobs``, unreachable scheduler)."""


@dataclass(frozen=True)
class TaskFailure:
    """What a task raised instead of returning a result, as text (picklable, comparable)."""

    kind: str
    """Name of the exception class, e.g. ``"ValueError"``."""
    message: str
    """The exception's message."""
    traceback: str = ""
    """Formatted traceback, as far as it could be recovered (remote ones included)."""

    @classmethod
    def from_exception(cls, error: BaseException) -> TaskFailure:
        """Describe ``error``, including the worker-side traceback a process pool attaches."""
        lines = traceback.format_exception(error)
        return cls(kind=type(error).__name__, message=str(error), traceback="".join(lines))

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}" if self.message else self.kind


def default_jobs() -> int:
    """Number of cores this process may run on (its CPU affinity where the OS reports it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


def map_tasks(
    fn: Callable[[Item], Result],
    items: Iterable[Item],
    *,
    jobs: int | None = None,
    scheduler: str | None = None,
    progress: bool | None = None,
    description: str = "",
    warm_up: Callable[[], None] | None = None,
    share: bool = False,
) -> Iterator[tuple[int, Result | TaskFailure]]:
    """Apply ``fn`` to every item; yield ``(index, result or TaskFailure)`` as tasks finish.

    ``jobs`` is the number of local worker processes (``None``: all cores; ``1``:
    run in this process).  ``scheduler`` (a Dask scheduler address such as
    ``"tcp://host:7786"``) sends the tasks to that cluster instead and ignores
    ``jobs``.  ``progress`` shows a progress bar on stderr (``None``: only when
    stderr is a terminal); ``description`` labels it.  ``warm_up`` runs once in each
    local worker process before its first task (the study's fits pass their imports
    and torch's lazy set-up: :func:`crossemo.study.fitting.warm_up_fits`).
    ``share`` (local workers only) makes this process one of the ``jobs``: the
    workers take the items from the front, this process from the back, so put the
    longest items first; ``fn`` must then give the same result here as in a worker.

    Completion order is arbitrary except in process, where it is input order.
    Stopping the iteration early cancels the tasks not yet started.  A malformed
    ``scheduler`` address raises :class:`ExecutionError` at once; an unreachable
    or lost scheduler, or a cluster without workers for
    :data:`DASK_NO_WORKERS_TIMEOUT_S`, raises it while iterating (results already
    yielded stay valid).

    >>> sorted(map_tasks(abs, [-2, 3], jobs=1, progress=False))
    [(0, 2), (1, 3)]
    """
    items = list(items)
    if jobs is not None and jobs < 1:
        raise ExecutionError(f"jobs must be at least 1, got {jobs}")
    workers = min(jobs or default_jobs(), len(items))
    if scheduler is not None:
        _check_scheduler_address(scheduler)
        results = _map_dask(fn, items, scheduler)
    elif workers <= 1:
        results = _map_in_process(fn, items)
    elif share:
        results = _map_shared(fn, items, workers=workers - 1, warm_up=warm_up)
    else:
        results = _map_processes(fn, items, workers=workers, warm_up=warm_up)
    show = sys.stderr.isatty() if progress is None else progress
    return _with_progress(results, total=len(items), description=description, enabled=show and bool(items))


def _with_progress(
    results: Iterator[tuple[int, Any]], *, total: int, description: str, enabled: bool
) -> Iterator[tuple[int, Any]]:
    with _progress_bar(total, description, enabled=enabled) as advance, closing(results):
        # closing(): stopping early shuts the pool or the client down at once
        for index, result in results:
            advance()
            yield index, result


def _map_in_process(fn: Callable[[Item], Result], items: list[Item]) -> Iterator[tuple[int, Any]]:
    for index, item in enumerate(items):
        try:
            result = fn(item)
        except Exception as error:  # one item's failure must not end the map
            result = TaskFailure.from_exception(error)
        yield index, result


def _local_pool(workers: int, warm_up: Callable[[], None] | None) -> ProcessPoolExecutor:
    """``workers`` local processes, one thread each, each warmed up once by ``warm_up``."""
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=_worker_context(), initializer=_start_worker, initargs=(warm_up,)
    )


def _map_processes(fn: Callable[[Item], Result], items: list[Item], *, workers: int,
                   warm_up: Callable[[], None] | None = None) -> Iterator[tuple[int, Any]]:
    pool = _local_pool(workers, warm_up)
    try:
        index_of: dict[Future, int] = {pool.submit(fn, item): index for index, item in enumerate(items)}
        pending = set(index_of)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield index_of[future], _outcome(future)
    finally:
        # Reached on normal exit, on an exception and when the consumer stops early.
        pool.shutdown(wait=True, cancel_futures=True)


def _map_shared(fn: Callable[[Item], Result], items: list[Item], *, workers: int,
                warm_up: Callable[[], None] | None = None) -> Iterator[tuple[int, Any]]:
    """``workers`` processes take items from the front, this process from the back; each item once."""
    pool = _local_pool(workers, warm_up)
    try:
        futures = [pool.submit(fn, item) for item in items]
        pending = dict(enumerate(futures))
        for index in reversed(range(len(items))):
            for finished in [i for i, future in pending.items() if future.done()]:
                yield finished, _outcome(pending.pop(finished))
            if index in pending and pending[index].cancel():  # no worker has it yet: do it here
                del pending[index]
                yield index, next(_map_in_process(fn, [items[index]]))[1]
        index_of = {future: index for index, future in pending.items()}
        while index_of:
            done, _ = wait(index_of, return_when=FIRST_COMPLETED)
            for future in done:
                yield index_of.pop(future), _outcome(future)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def start_workers_early(modules: Sequence[str], *, jobs: int | None = None) -> None:
    """Start the process local workers fork from now, with ``modules`` imported in it.

    Workers that :func:`map_tasks` starts later then begin with those imports done
    (torch, matplotlib: seconds each) instead of paying them one by one, and the
    imports run while this process goes on (reading corpora, say).  Does nothing
    with ``forkserver`` unavailable, for ``jobs=1``, or once that process runs: its
    imports are fixed when it starts.  A module that fails to import there is
    skipped; the worker imports it itself.
    """
    context = _worker_context()
    if (jobs or default_jobs()) <= 1 or context.get_start_method() != "forkserver":
        return
    from multiprocessing import forkserver

    context.set_forkserver_preload(["__main__", *modules])
    forkserver.ensure_running()


def _check_scheduler_address(scheduler: str) -> None:
    """Raise :class:`ExecutionError` unless ``scheduler`` reads as ``PROTOCOL://HOST:PORT``."""
    from distributed.comm.addressing import parse_address, parse_host_port  # only clusters need it

    expected = "expected an address such as tcp://HOST:PORT"
    try:
        protocol, location = parse_address(scheduler.strip())
        if protocol in {"tcp", "tls", "ws", "wss"}:
            # Checked here: a half-built Client would complain at exit instead.
            host, port = parse_host_port(location)
            if not host or not 0 < port < 65536:
                raise ValueError(f"host {host!r}, port {port}")
    except ValueError as error:
        raise ExecutionError(f"not a Dask scheduler address {scheduler!r}: {expected} ({error})") from None


def _map_dask(fn: Callable[[Item], Result], items: list[Item], scheduler: str) -> Iterator[tuple[int, Any]]:
    """Run the items on the cluster; yield each result as it arrives, then release it there.

    A worker that dies (even killed by its task) costs nothing finished: the
    scheduler reruns its tasks elsewhere, and a task that brings down
    ``distributed.scheduler.allowed-failures`` + 1 workers becomes a
    ``KilledWorker`` failure.  Losing the scheduler, or a cluster left without
    workers for :data:`DASK_NO_WORKERS_TIMEOUT_S`, raises :class:`ExecutionError`
    rather than waiting for ever.
    """
    from distributed import Client  # imported here: costly, and only clusters need it

    try:
        client = Client(scheduler.strip(), timeout=DASK_CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError) as error:
        raise ExecutionError(f"cannot reach Dask scheduler at {scheduler}: {error}") from None
    try:
        futures = client.map(fn, items, retries=DASK_RETRIES, pure=False)
        finished: queue.SimpleQueue[int] = queue.SimpleQueue()
        for index, future in enumerate(futures):
            future.add_done_callback(functools.partial(_put_index, finished, index))
        watch = _WorkerWatch(client, scheduler)
        for _ in futures:
            index = _next_finished(finished, watch)
            yield index, _dask_outcome(futures[index], scheduler)
            futures[index].release()  # the cluster may drop the result now
    finally:
        client.close()


def _put_index(finished: queue.SimpleQueue[int], index: int, _future: Any) -> None:
    finished.put(index)


def _next_finished(finished: queue.SimpleQueue[int], watch: _WorkerWatch) -> int:
    """Wait for the next finished task, checking the cluster still has workers while waiting."""
    while True:
        try:
            return finished.get(timeout=DASK_WATCH_INTERVAL_S)
        except queue.Empty:
            watch.check()


@dataclass
class _WorkerWatch:
    """Raises when the cluster has had no worker for :data:`DASK_NO_WORKERS_TIMEOUT_S` in a row."""

    client: Any
    scheduler: str
    without_workers_since: float | None = None

    def check(self) -> None:
        try:
            workers = self.client.nthreads()
        except OSError:  # connection trouble: the futures get cancelled, and that is reported
            return
        if workers:
            self.without_workers_since = None
            return
        now = time.monotonic()
        if self.without_workers_since is None:
            self.without_workers_since = now
        elif now - self.without_workers_since >= DASK_NO_WORKERS_TIMEOUT_S:
            raise ExecutionError(
                f"the Dask scheduler at {self.scheduler} has had no workers for "
                f"{DASK_NO_WORKERS_TIMEOUT_S:g} s; start some with `dask worker {self.scheduler}` "
                "and run again (finished work is kept)"
            )


def _dask_outcome(future: Any, scheduler: str) -> Any:
    """The task's result or :class:`TaskFailure`; losing the scheduler fails the whole map."""
    from distributed.client import FutureCancelledError

    try:
        return future.result()
    except FutureCancelledError as error:
        if error.reason == "scheduler-connection-lost":
            raise ExecutionError(
                f"lost the connection to the Dask scheduler at {scheduler}; "
                "finished work is kept, run again to resume"
            ) from None
        return TaskFailure.from_exception(error)
    except Exception as error:
        return TaskFailure.from_exception(error)


def _outcome(future: Any) -> Any:
    """The future's result, or a :class:`TaskFailure` if the task raised (or its worker died)."""
    try:
        return future.result()
    except Exception as error:
        return TaskFailure.from_exception(error)


def _start_worker(warm_up: Callable[[], None] | None) -> None:
    """Pool initializer: one thread each, then the warm-up of the tasks' function, once per process."""
    _one_thread_each()
    if warm_up is not None:
        warm_up()


def _one_thread_each() -> None:
    """Pool initializer: one BLAS/OpenMP thread per worker process, as Dask's nanny gives its workers.

    ``jobs`` processes are meant to use ``jobs`` cores; if each one's BLAS also
    starts a thread per core they fight over them (fits on 2 cores took about
    twice as long).
    """
    for variable in THREAD_VARIABLES:  # for libraries loaded from now on (torch, on the first fit)
        os.environ[variable] = "1"
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    threadpool_limits(limits=1)  # for those already loaded, e.g. numpy's BLAS via the forkserver


def _worker_context() -> multiprocessing.context.BaseContext:
    # Never fork: the parent may hold threads (progress bar, Dask, BLAS) whose locks a fork copies.
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    return multiprocessing.get_context(method)


@contextmanager
def _progress_bar(total: int, description: str, *, enabled: bool) -> Iterator[Callable[[], None]]:
    """Yield a function that advances a rich progress bar by one task (a no-op when disabled)."""
    if not enabled:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(description or "tasks", total=total)
        yield lambda: bar.advance(task)
