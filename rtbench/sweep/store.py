"""The sweep folder: what a sweep is and how far it got, in files that survive a crash.

    results/sweeps/<id>/
      sweep.json                 the grid and the executor settings (rtbench.sweep/1)
      points/<point>/status.json that point's status, written by whoever measures it
      points/<point>/results.json   its results document, as `rtbench compare` writes one
      jobs.json                  point -> submitit job id, written by the submitting process
      jobs/                      submitit's folder: job pickles, logs, SLURM batch scripts
      report/                    the merged report (`rtbench report`)

Every file is written atomically (rtbench.files), so a killed process leaves either the
old file or the new one. A point is complete when its status says `done` and its results.json
loads; every other point (never started, failed, interrupted, or `running` in a process that
died) is re-run by `--resume`. One process at a time drives a sweep: it holds an advisory lock
on the folder, released by the kernel when that process ends, however it ends.
"""

import datetime as dt
import fcntl
import json
import os
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rtbench.files import new_run_dir, write_json
from rtbench.results import ResultsError, load_results
from rtbench.sweep import SweepError
from rtbench.sweep.grid import Grid

SCHEMA = "rtbench.sweep/1"
# A point's status: no status file yet means "pending" (never started, or queued: see jobs.json).
PENDING, RUNNING, DONE, FAILED, INTERRUPTED = "pending", "running", "done", "failed", "interrupted"
FINISHED = (DONE, FAILED, INTERRUPTED)  # written by the point itself, or after its job ended


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class SweepStore:
    def __init__(self, folder: Path, record: dict):
        self.folder = folder
        self.record = record
        self.grid = Grid.from_record(record["grid"])

    # ------------------------------------------------------------------ create and open

    @classmethod
    def create(cls, sweeps_dir: Path, sweep_id: str, grid: Grid, executor: dict) -> "SweepStore":
        """A new sweep folder sweeps_dir/<sweep_id> (a taken name gets a suffix, never reused)."""
        folder = new_run_dir(sweeps_dir, sweep_id)
        record = {"schema": SCHEMA, "sweep_id": folder.name, "created": now(),
                  "command": shlex.join(["rtbench", *sys.argv[1:]]), "grid": grid.record(),
                  "executor": executor}  # fmt: skip
        write_json(folder / "sweep.json", record)
        return cls(folder, record)

    @classmethod
    def open(cls, folder: Path) -> "SweepStore":
        path = folder / "sweep.json"
        try:
            record = json.loads(path.read_text())
        except FileNotFoundError:
            raise SweepError(f"{folder}: not a sweep folder (no sweep.json)") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise SweepError(f"{path}: unreadable ({type(err).__name__})") from None
        if not isinstance(record, dict) or record.get("schema") != SCHEMA:
            raise SweepError(f"{path}: not a {SCHEMA} file")
        try:
            return cls(folder, record)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise SweepError(f"{path}: malformed grid ({type(err).__name__}: {err})") from None

    @property
    def sweep_id(self) -> str:
        return self.record["sweep_id"]

    def set_executor(self, executor: dict) -> None:
        self.record["executor"] = executor
        write_json(self.folder / "sweep.json", self.record)

    # ------------------------------------------------------------------ points

    def point_dir(self, point_id: str) -> Path:
        return self.folder / "points" / point_id

    def results_path(self, point_id: str) -> Path:
        return self.point_dir(point_id) / "results.json"

    def status(self, point_id: str) -> dict:
        """The point's status record; {"status": "pending"} when it never started."""
        path = self.point_dir(point_id) / "status.json"
        try:
            record = json.loads(path.read_text())
        except FileNotFoundError:
            return {"status": PENDING}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return {"status": FAILED, "error": f"{path} is unreadable"}
        return record if isinstance(record, dict) and "status" in record else {"status": PENDING}

    def set_status(self, point_id: str, status: str, **facts) -> None:
        """Replace the point's status, keeping what an earlier record said about its attempts."""
        previous = self.status(point_id)
        record = {"point": point_id, "status": status, "updated": now(),
                  "attempt": previous.get("attempt", 0), **facts}  # fmt: skip
        write_json(self.point_dir(point_id) / "status.json", record)

    def complete(self, point_id: str) -> bool:
        """Done and its results load: never measured again."""
        if self.status(point_id)["status"] != DONE:
            return False
        try:
            load_results(self.results_path(point_id))
        except ResultsError:
            return False
        return True

    def incomplete(self) -> list[str]:
        return [p.id for p in self.grid.points if not self.complete(p.id)]

    # ------------------------------------------------------------------ jobs

    def jobs(self) -> dict[str, dict]:
        try:
            return json.loads((self.folder / "jobs.json").read_text())
        except (OSError, ValueError):
            return {}

    def record_jobs(self, executor: str, job_ids: dict[str, str]) -> None:
        jobs = self.jobs()
        for point_id, job_id in job_ids.items():
            jobs[point_id] = {"executor": executor, "job_id": job_id, "submitted": now()}
        write_json(self.folder / "jobs.json", jobs)

    @property
    def jobs_dir(self) -> Path:
        return self.folder / "jobs"

    # ------------------------------------------------------------------ one driver at a time

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the sweep for this process; SweepError if another process holds it."""
        path = self.folder / ".lock"
        with open(path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise SweepError(
                    f"{self.folder}: already being run by {holder}; wait for it or stop it"
                ) from None
            handle.truncate(0)
            handle.write(f"pid {os.getpid()} on {os.uname().nodename}")
            handle.flush()
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
