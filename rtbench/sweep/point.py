"""Measure one point of a sweep: what the inline executor calls and what a submitit job runs.

The point records its own status as it goes (running, then done, failed or interrupted), so the
sweep folder tells the truth even when the process that submitted it is gone. A job killed
outright (SIGKILL, a node failure) leaves `running` behind, which `--resume` treats as not done.
Under submitit, a SLURM preemption arrives as SystemExit after submitit has requeued the job and
a time-out as submitit's UncompletedJobError: recorded as interrupted and failed. In a SLURM job
given CPUs (--cpus-per-job), a grid without `threads` measures with that many threads.
"""

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

from rtbench.config import MAX_THREADS
from rtbench.files import write_json
from rtbench.runner import describe_error, run_benchmark
from rtbench.spec import load_variants, select
from rtbench.sweep.store import DONE, FAILED, INTERRUPTED, RUNNING, SweepStore, now


def run_point(
    folder: str, point_id: str, on_event: Callable | None = None, run: Callable = run_benchmark
) -> str:
    """Measure `point_id` of the sweep in `folder` into its results.json (with `run`, the runner;
    tests pass their own); returns its status. Failures are recorded in the status file, then
    raised, so that a job fails visibly."""
    store = SweepStore.open(Path(folder))
    grid = store.grid
    point = grid.point(point_id)
    attempt = store.status(point_id).get("attempt", 0) + 1
    started, t0 = now(), time.monotonic()
    where = {"host": socket.gethostname(), "pid": os.getpid(), "job_id": _job_id()}
    store.set_status(point_id, RUNNING, started=started, attempt=attempt, **where)
    facts = {"started": started, "attempt": attempt, **where}
    try:
        cfg = grid.config(point)
        specs = select(load_variants(grid.variants_dir), list(grid.variants), cfg.base)
        # Exports and engines are kept in the sweep folder: a resumed point does not export again.
        cache = store.folder / ".cache"
        threads = job_threads(cfg.threads, os.environ)
        cfg = cfg if threads == cfg.threads else cfg.with_(threads=threads)
        document = run(specs, cfg, on_event, cache_dir=cache)
        document["run_id"] = point_id
        # In a job, sys.argv is submitit's; the command that asked for this point is the sweep's.
        document["environment"]["command"] = f"{store.record.get('command')} (point {point_id})"
        write_json(store.results_path(point_id), document)
    except (KeyboardInterrupt, SystemExit) as err:
        why = "interrupted" if isinstance(err, KeyboardInterrupt) else "preempted or stopped"
        store.set_status(point_id, INTERRUPTED, error=why, **facts, **_took(t0))
        raise
    except Exception as err:
        store.set_status(point_id, FAILED, error=describe_error(err), **facts, **_took(t0))
        raise
    failed = [f"{r['variant']} ({r['runtime']}): {r['error']}" for r in document["rows"]
              if r["status"] != "ok"]  # fmt: skip
    store.set_status(point_id, DONE, rows_failed=failed, **facts, **_took(t0))
    return DONE


def job_threads(threads: int | None, environ) -> int | None:
    """The CPU threads to measure with: the grid's, else in a SLURM job the CPUs it was given
    (SLURM_CPUS_PER_TASK), else torch's choice. torch counts the node's cores unless the job is
    bound to its CPUs, and a cluster need not bind (TaskPlugin=task/none)."""
    if threads is not None:
        return threads
    given = environ.get("SLURM_CPUS_PER_TASK", "")
    return min(int(given), MAX_THREADS) if given.isdigit() and int(given) > 0 else None


def _took(t0: float) -> dict:
    return {"finished": now(), "duration_s": round(time.monotonic() - t0, 3)}


def _job_id() -> str | None:
    """The submitit job id inside a job (SLURM's array id, or the local controller's pid)."""
    if "SUBMITIT_EXECUTOR" not in os.environ:
        return None
    import submitit

    return str(submitit.JobEnvironment().job_id)
