"""Where the points of a sweep run: this process, a local submitit job, or SLURM through submitit.

- `inline`: this process, one point after another.
- `local`: submitit's LocalExecutor, each point a subprocess job (the code path a cluster job
  takes), submitted one at a time and waited for: submitit's local executor has no parallelism
  limit, and two points timed at once on one machine would disturb each other. The job sees the
  GPUs this process sees (submitit overwrites CUDA_VISIBLE_DEVICES, so they are passed on).
- `slurm`: submitit's SLURM executor, the points as one job array, each job on its own GPUs,
  at most `max_parallel` at a time (`#SBATCH --array=0-N%max_parallel`).

No scheduling of our own: submitit submits, watches and cancels. Ctrl-C cancels the jobs not yet
finished, marks the point that was running as interrupted and keeps every finished point.

A SLURM job's state comes from squeue, not from submitit (which asks sacct): a cluster without
accounting has no sacct, and there submitit never sees a cancelled or killed job end. A job that
ended without its point recording a status (scancel, a time-out, a node failure) gets one from
its SLURM state and reason (`slurm_ending`).
"""

import io
import os
import time
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout, suppress

from rtbench.sweep import SweepError
from rtbench.sweep.point import run_point
from rtbench.sweep.settings import ExecutorSettings
from rtbench.sweep.squeue import (
    GONE,
    SELF_ENDED,
    SlurmQueryError,
    SlurmState,
    slurm_ending,
    slurm_states,
)
from rtbench.sweep.store import FAILED, FINISHED, INTERRUPTED, RUNNING, SweepStore

POLL_S = 0.2  # how often a waiting sweep looks at its jobs' files (results, statuses)
SQUEUE_S = (2.0, 30.0)  # how often it asks squeue: every 2 s at first, at most every 30 s
RESULT_GRACE_S = 15.0  # a job that exited by itself: how long its files may take to show (NFS)
OnPoint = Callable[[str, dict], None]  # (point id, its status record) when a point finishes
Measure = Callable[..., str]  # run_point's signature: (sweep folder, point id, on_event)


def run_sweep(
    store: SweepStore,
    settings: ExecutorSettings,
    on_point: OnPoint,
    on_event=None,
    measure: Measure = run_point,
) -> list[str]:
    """Measure every point of the sweep that is not complete (all of a new sweep), holding the
    sweep's lock; returns the points it ran. A point whose SLURM job from an earlier submission
    still runs is not run twice: SweepError. `measure` measures one point (tests pass their
    own)."""
    with store.lock():
        todo = store.incomplete()
        live = live_slurm_jobs(store, todo)
        if live:
            point_id, state = next(iter(live.items()))
            raise SweepError(
                f"point {point_id} still has SLURM {state} ({len(live)} point(s) in all); "
                "wait for them or scancel them, then resume"
            )
        store.set_executor(settings.record())
        run_points(store, todo, settings, on_point, on_event, measure)
    return todo


def run_points(
    store: SweepStore,
    point_ids: list[str],
    settings: ExecutorSettings,
    on_point: OnPoint,
    on_event: Callable | None = None,
    measure: Measure = run_point,
) -> None:
    """Measure `point_ids` of the sweep, each once, with the executor `settings` names."""
    if not point_ids:
        return
    if settings.name == "inline":
        _inline(store, point_ids, on_point, on_event, measure)
    elif settings.name == "local":
        Local(store, settings).run(point_ids, on_point, measure)
    else:
        slurm = Slurm(store, settings)
        slurm.wait(slurm.submit(point_ids, measure), on_point)


def _inline(
    store: SweepStore, point_ids: list[str], on_point: OnPoint, on_event, measure: Measure
) -> None:
    for point_id in point_ids:
        with suppress(Exception):  # recorded in the point's status; the sweep goes on
            measure(str(store.folder), point_id, on_event)
        on_point(point_id, store.status(point_id))


# ---------------------------------------------------------------------------- submitit


def _settle(
    store: SweepStore,
    point_id: str,
    job,
    interrupted: bool = False,
    slurm: SlurmState | None = None,
) -> dict:
    """After a job ended: the point's status, corrected when the job died without writing one
    (killed, out of memory, a node failure) or was cancelled. `slurm`: the state SLURM gave a job
    that ended without a result."""
    status = store.status(point_id)
    if status["status"] in FINISHED:
        return status
    if interrupted:
        store.set_status(point_id, INTERRUPTED, error="interrupted (Ctrl-C); the job was cancelled")
    elif slurm is not None:
        outcome, error = slurm_ending(job.job_id, slurm, started=status["status"] == RUNNING)
        where = {key: status[key] for key in ("started", "host", "pid") if key in status}
        store.set_status(point_id, outcome, error=error, job_id=job.job_id, **where,
                         slurm_state=slurm.state, slurm_reason=slurm.reason)  # fmt: skip
    else:
        reason = _job_failure(job)
        store.set_status(point_id, FAILED, error=f"the job ended without a result: {reason}")
    return store.status(point_id)


def _job_failure(job) -> str:
    try:
        err = job.exception()
    except Exception as failure:  # noqa: BLE001 - submitit could not even say why
        err = failure
    text = str(err).strip().splitlines() if err is not None else []
    return text[0] if text else f"state {job.state}"


class Local:
    """Each point a submitit LocalExecutor job, one after another."""

    def __init__(self, store: SweepStore, settings: ExecutorSettings):
        import submitit

        self.store = store
        self.executor = submitit.LocalExecutor(folder=store.jobs_dir)
        gpus = _visible_gpus() if store.grid.base.device.startswith("cuda") else []
        self.executor.update_parameters(
            timeout_min=settings.timeout_min, gpus_per_node=len(gpus), visible_gpus=gpus
        )

    def run(self, point_ids: list[str], on_point: OnPoint, measure: Measure = run_point) -> None:
        for point_id in point_ids:
            job = self.executor.submit(measure, str(self.store.folder), point_id)
            self.store.record_jobs("local", {point_id: job.job_id})
            try:
                while not job.done():
                    _pause()
            except KeyboardInterrupt:
                job.cancel(check=False)  # SIGINT to submitit's controller, which stops the task
                _wait_for(job, 5.0)
                _settle(self.store, point_id, job, interrupted=True)
                raise
            on_point(point_id, _settle(self.store, point_id, job))


def _visible_gpus() -> list[int]:
    """The GPUs this process sees, as indices submitit can pass on to a local job."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        import torch

        return list(range(torch.cuda.device_count()))
    try:
        return [int(x) for x in visible.split(",") if x.strip()]
    except ValueError:
        raise SweepError(
            "CUDA_VISIBLE_DEVICES names GPUs by UUID; the local executor needs their indices"
        ) from None


def _wait_for(job, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not job.done() and time.monotonic() < deadline:
        time.sleep(POLL_S)


def _pause() -> None:
    """Between two looks at the jobs (where a waiting sweep notices Ctrl-C)."""
    time.sleep(POLL_S)


class Slurm:
    """The points as one SLURM job array through submitit; each job measures one point."""

    def __init__(self, store: SweepStore, settings: ExecutorSettings):
        import submitit

        self.store = store
        try:
            self.executor = submitit.AutoExecutor(folder=store.jobs_dir, cluster="slurm")
        except RuntimeError as err:  # no srun on PATH: not a SLURM machine
            raise SweepError(f"--executor slurm: {err}") from None
        on_gpu = store.grid.base.device.startswith("cuda")
        gpus = settings.gpus_per_job if settings.gpus_per_job is not None else int(on_gpu)
        parameters = {
            "name": f"rtbench-{store.sweep_id}",
            "timeout_min": settings.timeout_min,
            "slurm_array_parallelism": settings.max_parallel,
            "slurm_signal_delay_s": signal_delay_s(settings.timeout_min),
        }
        if gpus:
            parameters["gpus_per_node"] = gpus
        if settings.cpus_per_job:
            parameters["cpus_per_task"] = settings.cpus_per_job
        for key in ("partition", "constraint", "account", "qos"):
            if getattr(settings, key):
                parameters[f"slurm_{key}"] = getattr(settings, key)
        self.executor.update_parameters(**parameters)

    def submit(self, point_ids: list[str], measure: Measure = run_point) -> dict[str, object]:
        """Point id -> its job, all submitted as one array (one sbatch call)."""
        import submitit

        # Absolute: a job starts in the submitting directory only where the node has it.
        folder = str(self.store.folder.absolute())
        echoed = io.StringIO()  # submitit echoes sbatch's output; an error carries it anyway
        try:
            with redirect_stdout(echoed), redirect_stderr(echoed):
                jobs = self.executor.map_array(measure, [folder] * len(point_ids), point_ids)
        except (submitit.core.utils.FailedJobError, submitit.core.utils.FailedSubmissionError,
                OSError) as err:  # fmt: skip
            lines = str(err).strip().splitlines() or [type(err).__name__]
            raise SweepError(f"sbatch failed: {lines[-1]}") from None
        submitted = dict(zip(point_ids, jobs, strict=True))
        self.store.record_jobs("slurm", {p: job.job_id for p, job in submitted.items()})
        return submitted

    def wait(self, jobs: dict[str, object], on_point: OnPoint) -> None:
        """Until every job ended: its function returned (submitit's result file), or squeue says
        it ended or no longer knows it (then the point's status says what SLURM said)."""
        waiting = dict(jobs)
        start = next_look = time.monotonic()
        exited: dict[str, float] = {}  # point -> when SLURM first said its job exited by itself
        try:
            while waiting:
                states = None
                if time.monotonic() >= next_look:
                    waited = time.monotonic() - start
                    next_look = time.monotonic() + min(SQUEUE_S[1], max(SQUEUE_S[0], waited / 10))
                    with suppress(SlurmQueryError, OSError):  # a busy controller: ask again later
                        states = slurm_states([job.job_id for job in waiting.values()])
                for point_id, job in list(waiting.items()):
                    finished = _has_result(job)  # its function returned or raised
                    slurm = None if finished or states is None else states.get(job.job_id, GONE)
                    if not finished and (slurm is None or not slurm.ended):
                        continue
                    if slurm is not None and slurm.state in SELF_ENDED:  # its result may be late
                        since = exited.setdefault(point_id, time.monotonic())
                        if time.monotonic() - since < RESULT_GRACE_S:
                            continue
                    del waiting[point_id]
                    on_point(point_id, _settle(self.store, point_id, job, slurm=slurm))
                if waiting:
                    _pause()
        except KeyboardInterrupt:
            for job in waiting.values():
                job.cancel(check=False)  # scancel
            for point_id, job in waiting.items():
                if self.store.status(point_id)["status"] == RUNNING:
                    _settle(self.store, point_id, job, interrupted=True)
            raise


def _has_result(job) -> bool:
    """Whether submitit's result file is there; its folder is touched first, as submitit does, so
    that NFS does not answer from a cached listing."""
    folder = job.paths.folder
    with suppress(OSError):
        folder.chmod(folder.stat().st_mode)
    return job.paths.result_pickle.exists()


def signal_delay_s(timeout_min: int) -> int:
    """How long before the time limit SLURM warns a job (submitit: USR2, then the point fails as
    timed out): submitit's 90 s, or a quarter of a limit under 6 minutes. 90 s of a 1-minute
    limit would end every point as it starts (SLURM sends the signal at once)."""
    return min(90, timeout_min * 60 // 4)


def live_slurm_jobs(store: SweepStore, point_ids: list[str]) -> dict[str, str]:
    """Point -> SLURM state, for points whose job (from jobs.json) has not ended: resuming them
    would measure a point twice at once. SweepError when SLURM cannot say."""
    jobs = {p: j for p, j in store.jobs().items() if p in point_ids and j["executor"] == "slurm"}
    if not jobs:
        return {}
    try:
        states = slurm_states([job["job_id"] for job in jobs.values()])
    except FileNotFoundError:  # no SLURM here: resumed on another machine, nothing to ask
        return {}
    except SlurmQueryError as err:
        raise SweepError(
            f"cannot tell whether this sweep's SLURM jobs still run ({err}); resume when "
            "squeue answers"
        ) from None
    live = {}
    for point_id, job in jobs.items():
        state = states.get(job["job_id"], GONE)
        if not state.ended:
            live[point_id] = f"job {job['job_id']} {state.state}"
    return live
