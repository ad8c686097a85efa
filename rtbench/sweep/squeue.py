"""What SLURM says of a job, read from squeue rather than sacct: a cluster without an accounting
database has no sacct, and there submitit never sees a cancelled or killed job end. A job that
ended without its point recording a status (scancel, a time-out, a node failure) gets one from
its state and reason (`slurm_ending`)."""

import subprocess
from dataclasses import dataclass

from rtbench.sweep.store import FAILED, INTERRUPTED


class SlurmQueryError(Exception):
    """squeue did not answer (the controller is down or busy): the jobs' states are unknown."""


@dataclass(frozen=True)
class SlurmState:
    """A job's state and reason as squeue prints them (CANCELLED, None; PENDING, Priority)."""

    state: str
    reason: str | None = None

    @property
    def ended(self) -> bool:
        return self.state.split()[0] in SLURM_ENDINGS


GONE = SlurmState("UNKNOWN", "no longer in the queue")  # ended past squeue's memory (MinJobAge)

# The states in which a SLURM job runs no more, and what they mean for its point; any other state
# (PENDING, RUNNING, COMPLETING, REQUEUED, SUSPENDED, ...) is a job that may still run.
SLURM_ENDINGS = {
    "CANCELLED": "was cancelled (scancel, by a user or an administrator)",
    "PREEMPTED": "was preempted",
    "TIMEOUT": "reached its time limit (--timeout-min)",
    "NODE_FAIL": "lost its node (a node failure)",
    "BOOT_FAIL": "could not start (its node failed to boot)",
    "OUT_OF_MEMORY": "ran out of memory",
    "DEADLINE": "reached its deadline",
    "FAILED": "failed",
    "COMPLETED": "exited",
    "REVOKED": "was revoked",
    "SPECIAL_EXIT": "ended in a special exit",
    "UNKNOWN": "left the SLURM queue",
}
SLURM_INTERRUPTED = ("CANCELLED", "PREEMPTED")  # stopped from outside, not a failure to measure
SELF_ENDED = ("COMPLETED", "FAILED")  # the job's own process ended: its result file is due
NO_REASON = ("", "None", "(null)")  # squeue's reason for a job that has none


def slurm_ending(job_id: str, slurm: SlurmState, started: bool) -> tuple[str, str]:
    """The status (failed or interrupted) and the one-line error of a point whose SLURM job ended
    without the point recording one; `started`: the point had said it was running."""
    name = slurm.state.split()[0]
    outcome = INTERRUPTED if name in SLURM_INTERRUPTED else FAILED
    when = "before the point finished" if started else "before the point started"
    said = f"SLURM state {slurm.state}" + (f", reason {slurm.reason}" if slurm.reason else "")
    meaning = SLURM_ENDINGS.get(name, f"ended ({slurm.state})")
    return outcome, f"job {job_id} {meaning} {when} ({said})"


def read_squeue(text: str) -> dict[str, SlurmState]:
    """Job id -> state from `squeue --array --format=%i|%T|%r` lines."""
    states = {}
    for line in text.splitlines():
        job_id, _, rest = line.strip().partition("|")
        state, _, reason = rest.partition("|")
        reason = reason.strip()
        if job_id and state:
            states[job_id] = SlurmState(state.strip(), None if reason in NO_REASON else reason)
    return states


def slurm_states(job_ids: list[str]) -> dict[str, SlurmState]:
    """The state of every job of `job_ids` (array tasks, "1234_5") that SLURM still knows: queued,
    running, or ended in the last minutes (MinJobAge, 5 by default); a job missing from the answer
    has ended. From squeue, which needs no accounting database. SlurmQueryError when squeue fails;
    FileNotFoundError when there is no squeue."""
    arrays = sorted({job_id.split("_")[0] for job_id in job_ids})
    command = ["squeue", "--noheader", "--array", "--states=all", "--format=%i|%T|%r",
               f"--jobs={','.join(arrays)}"]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise SlurmQueryError("squeue: no answer in 60 s") from None
    if done.returncode != 0:
        if "Invalid job id" in done.stderr:  # none of them is known any more: all ended
            return {}
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        raise SlurmQueryError(lines[-1])
    return read_squeue(done.stdout)
