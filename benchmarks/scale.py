"""Wall time of one small study on 1 and 2 local worker processes and on a 2-worker Dask cluster.

    python benchmarks/scale.py [--config STUDY.toml] [--epochs N] [--workers N] [--keep DIR]

Without ``--config`` a small synthetic corpus is generated (``crossemo.synth``,
6 speakers per language, 8 utterances per emotion and speaker) and the demo
study is run on it.  Features are extracted once beforehand, so the timings are
about the experiment grid (every (method, fold, seed) fit).  The study then runs
three ways: ``compute.jobs = 1``, ``compute.jobs = N`` and on a Dask cluster of N
``dask worker`` processes (one thread each) started on 127.0.0.1 beforehand and
stopped afterwards (so, as with any running cluster, starting it is not timed,
while the local pool's start is part of its run).  With ``--repeat R`` each setup
runs R times, in interleaved rounds, and its fastest run counts.  It prints each
wall time, the fitting time inside it, the ratios, whether the ``results.json``
numbers agree exactly, and the load average (the machine may be busy with other
work).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from crossemo.config import StudyConfig, load_config, parse_config
from crossemo.study import load_corpora, run_study

START_TIMEOUT_S = 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, help="study TOML (default: a small synthetic study)")
    parser.add_argument("--epochs", type=int, default=50, help="model.epochs (default: 50)")
    parser.add_argument("--workers", type=int, default=2, help="local processes and Dask workers (default: 2)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per setup; the fastest counts (default: 1)")
    parser.add_argument("--keep", type=Path, help="write corpus, cache and runs here instead of a temporary folder")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="crossemo-scale-") as scratch:
        folder = arguments.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        config = _study(arguments.config, folder, epochs=arguments.epochs)
        print(f"load average before: {_load()}")
        started = time.perf_counter()
        load_corpora(config, progress=False)  # fills the cache: the runs below only read it
        print(f"features extracted once in {time.perf_counter() - started:.1f} s")

        runs: dict[str, dict] = {}
        every_result: list[dict] = []
        with dask_cluster(folder / "dask", workers=arguments.workers) as address:
            setups = {
                "local-1": {"jobs": 1},
                f"local-{arguments.workers}": {"jobs": arguments.workers},
                f"dask-{arguments.workers}": {"scheduler": address},
            }
            for _ in range(arguments.repeat):  # rounds interleave the setups, so load spikes hit them alike
                for name, compute in setups.items():
                    run = _timed_run(config, folder / name, **compute)
                    every_result.append(run["results"])
                    if name not in runs or run["wall_s"] < runs[name]["wall_s"]:
                        runs[name] = run
        print(f"load average after:  {_load()}")

        _print_table(runs, workers=arguments.workers, fits=_fit_count(config))
        _print_agreement(every_result)


def _study(config_path: Path | None, folder: Path, *, epochs: int) -> StudyConfig:
    if config_path is not None:
        config = load_config(config_path, epochs=epochs)
    else:
        from crossemo.demo import demo_config
        from crossemo.synth import synthesize

        synthesize(folder / "corpus", speakers_per_language=6, utterances_per_emotion_per_speaker=8)
        config = parse_config(demo_config(folder / "corpus", epochs=epochs))
    compute = config.compute.model_copy(update={"cache_dir": folder / "cache"})
    return config.model_copy(update={"compute": compute})


def _timed_run(config: StudyConfig, out: Path, *, jobs: int | None = None, scheduler: str | None = None) -> dict:
    compute = config.compute.model_copy(update={"jobs": jobs, "scheduler": scheduler})
    config = config.model_copy(update={"compute": compute})
    started = time.perf_counter()
    results = run_study(config, out, force=True, progress=False, report=False)
    return {"wall_s": time.perf_counter() - started, "results": results}


def _fit_count(config: StudyConfig) -> int:
    """Tasks of the grid: one per (class set, fold, seed, method or baseline)."""
    methods = len(config.model.methods) + len(config.protocol.baselines)
    return len(config.class_sets()) * config.protocol.folds * len(config.protocol.seeds) * methods


def _print_table(runs: dict[str, dict], *, workers: int, fits: int) -> None:
    print(f"\n{fits} fits; wall time of run_study (features cached), its fitting part, and the fits' own times summed:")
    for name, run in runs.items():
        timings = run["results"]["timings"]
        summed = sum(timings["fit_s_by_method"].values())
        print(f"  {name:8s} {run['wall_s']:7.2f} s wall   {timings['fits_s']:7.2f} s fitting   {summed:7.2f} s summed")
    one, local, remote = (runs[name]["wall_s"] for name in ("local-1", f"local-{workers}", f"dask-{workers}"))
    print(f"speedup local-1 / local-{workers}:  {one / local:.2f}x")
    print(f"speedup local-1 / dask-{workers}:   {one / remote:.2f}x")
    print(f"dask-{workers} / local-{workers} wall:    {remote / local:.2f}")


def _print_agreement(every_result: list[dict]) -> None:
    reference, *others = every_result
    same = all(
        results["results"] == reference["results"] and results["histories"] == reference["histories"]
        for results in others
    )
    print(f"results.json numbers identical across all {len(every_result)} runs: {'yes' if same else 'NO'}")


def _load() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg()) + f" (1, 5, 15 min; {os.cpu_count()} cores)"


@contextmanager
def dask_cluster(folder: Path, *, workers: int) -> Iterator[str]:
    """A ``dask scheduler`` and ``workers`` ``dask worker`` processes on 127.0.0.1; yields the address."""
    from distributed import Client

    dask = Path(sys.executable).parent / "dask"
    folder.mkdir(parents=True, exist_ok=True)
    scheduler_file = folder / "scheduler.json"
    scheduler_file.unlink(missing_ok=True)
    processes = [
        _start([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                "--scheduler-file", scheduler_file], folder / "scheduler.log")
    ]
    try:
        address = _read_address(scheduler_file, processes[0])
        for number in range(workers):
            processes.append(
                _start([dask, "worker", address, "--nworkers", "1", "--nthreads", "1", "--host", "127.0.0.1",
                        "--no-dashboard", "--local-directory", folder / f"worker{number}"],
                       folder / f"worker{number}.log")
            )
        with Client(address, timeout=START_TIMEOUT_S, set_as_default=False) as client:
            client.wait_for_workers(workers, timeout=START_TIMEOUT_S)
        yield address
    finally:
        for process in processes:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)  # the group: a nanny's worker goes with it
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _start(command: list, log: Path) -> subprocess.Popen:
    with open(log, "wb") as output:
        return subprocess.Popen([str(part) for part in command], stdin=subprocess.DEVNULL, stdout=output,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _read_address(scheduler_file: Path, scheduler: subprocess.Popen) -> str:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and scheduler.poll() is None:
        try:
            return json.loads(scheduler_file.read_text())["address"]
        except (FileNotFoundError, json.JSONDecodeError):
            time.sleep(0.05)
    raise SystemExit(f"dask scheduler did not start; see {scheduler_file.parent / 'scheduler.log'}")


if __name__ == "__main__":
    main()
