"""Sweeps: the grid and its one-line errors, the sweep folder, the inline and the submitit local
executor on real (tiny) points, resume after a point was killed, the SLURM executor up to
submission with fake sbatch / srun / scancel on PATH, and Ctrl-C."""

import _thread
import json
import os
import signal
import stat
import threading
import time

import pandas as pd
import pytest
import typer
from submitit.core.utils import DelayedSubmission
from synthetic import results_document
from typer.testing import CliRunner

from rtbench.cli import app
from rtbench.files import write_json
from rtbench.sweep import SweepError, executors
from rtbench.sweep.executors import live_slurm_jobs, run_sweep, signal_delay_s
from rtbench.sweep.grid import make_grid
from rtbench.sweep.point import job_threads, run_point
from rtbench.sweep.settings import ExecutorSettings
from rtbench.sweep.squeue import GONE, SlurmState, read_squeue, slurm_ending
from rtbench.sweep.store import SweepStore

runner = CliRunner()
TINY = ["--scope", "encoder", "--variants", "A", "--iters", "2", "--warmup", "1", "--no-flops",
        "--min-time", "0.05", "--device", "cpu", "--no-plots"]  # fmt: skip


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_line_error(result, code=1) -> str:
    """The error on stderr (rich wraps a long line at the console's width: joined again)."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and not any(x.startswith("error") for x in lines[1:])
    return " ".join(line.strip() for line in lines)


def tiny_store(tmp_path, sizes=(64, 96), slurm_gpus=None) -> SweepStore:
    values = {"scope": "encoder", "device": "cpu", "variants": ("A",), "sizes": sizes,
              "iters": 2, "warmup": 1, "min_time": 0.05}  # fmt: skip
    if slurm_gpus is not None:
        values.pop("device")
    grid = make_grid(values, {}, "test", slurm_gpus)
    return SweepStore.create(tmp_path / "sweeps", "tiny", grid, ExecutorSettings().record())


# ---------------------------------------------------------------------------- the grid

GRID_ERRORS = [
    ("sizez: [64]\n", "grid.yaml: sizez: unknown field; valid fields: variants, sizes, batches"),
    ("sizes: 64\n", "grid.yaml: sizes: expected a list, got int 64"),
    ("sizes: [64, x]\n", "grid.yaml: sizes[1]: expected int, got text 'x'"),
    ("sizes: [100]\n", "grid.yaml: sizes: --size 100: must be a multiple of 32"),
    ("sizes: [64, 64]\n", "grid.yaml: sizes: a value is listed twice"),
    ("batches: []\n", "grid.yaml: batches: give at least one value"),
    ("variants: [F]\n", "grid.yaml: variants: unknown variant 'F'; valid names: A, B, C"),
    ("dtypes: [fp8]\n", "grid.yaml: dtypes[0]: unknown dtype 'fp8'; choose from fp32, fp16, bf16"),
    ("- 64\n", "grid.yaml: expected a mapping of grid keys"),
    ("sizes: [64\n", "grid.yaml: malformed YAML (line 2, column 1)"),
]


@pytest.mark.parametrize(("text", "message"), GRID_ERRORS)
def test_grid_file_errors_name_file_and_field(tmp_path, text, message):
    (tmp_path / "grid.yaml").write_text(text)
    out = one_line_error(invoke("sweep", tmp_path / "grid.yaml", "--scope", "encoder",
                                "--device", "cpu", "--results-dir", tmp_path / "out"))  # fmt: skip
    assert out.startswith(f"error: {tmp_path}/{message}")
    assert not (tmp_path / "out").exists()  # checked before anything is written


def test_a_flag_overrides_the_file_and_its_errors_name_the_flag(tmp_path):
    (tmp_path / "grid.yaml").write_text("sizes: [64]\nscope: encoder\n")
    out = one_line_error(invoke("sweep", tmp_path / "grid.yaml", "--sizes", "64,100",
                                "--device", "cpu", "--results-dir", tmp_path))  # fmt: skip
    assert out == "error: --sizes: --size 100: must be a multiple of 32"
    out = one_line_error(invoke("sweep", "--sizes", "64,abc", "--results-dir", tmp_path))
    assert out == "error: --sizes: expected int, got text 'abc'"  # as a grid file's would say
    out = one_line_error(invoke("sweep", "--gaps-ms", " 0, 33.3 ,x", "--results-dir", tmp_path))
    assert out == "error: --gaps-ms: expected a number, got text 'x'"


def test_grid_points_and_record_round_trip(tmp_path):
    grid = make_grid({"scope": "encoder", "device": "cpu", "sizes": (64, 96), "batches": (1, 2),
                      "variants": ("A", "E"), "breakdown": True}, {}, "test")  # fmt: skip
    assert [p.id for p in grid.points] == ["s64-b1-fp32", "s64-b2-fp32", "s96-b1-fp32",
                                           "s96-b2-fp32"]  # fmt: skip
    assert grid.swept() == ("size", "batch")
    cfg = grid.config(grid.point("s96-b2-fp32"))
    assert (cfg.size, cfg.batch, cfg.dtype, cfg.breakdown) == (96, 2, "fp32", True)
    assert type(grid).from_record(json.loads(json.dumps(grid.record()))) == grid


# ---------------------------------------------------------------------------- executor options


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--executor", "nope"],
            "--executor: unknown executor 'nope'; choose from inline, local, slurm",
        ),
        (["--executor", "local", "--max-parallel", "2"], "--max-parallel is for --executor slurm"),
        (["--partition", "gpu"], "--partition is for --executor slurm, not inline"),
        (["--executor", "local", "--timeout-min", "0"], "--timeout-min 0: must be at least 1"),
        (["--executor", "slurm", "--gpus-per-job", "-1"], "--gpus-per-job -1: must be at least 0"),
    ],
)
def test_executor_option_errors(tmp_path, options, message):
    out = one_line_error(invoke("sweep", *TINY, *options, "--results-dir", tmp_path))
    assert out.startswith(f"error: {message}")
    assert not any(tmp_path.iterdir())


def test_resume_errors(tmp_path):
    out = one_line_error(invoke("sweep", "--resume", tmp_path))
    assert out == f"error: {tmp_path}: not a sweep folder (no sweep.json)"
    store = tiny_store(tmp_path)
    out = one_line_error(invoke("sweep", "--resume", store.folder, "--sizes", "64"))
    assert out == f"error: --resume measures the grid saved in {store.folder}; drop --sizes"
    out = one_line_error(invoke("sweep", "--resume", store.folder, "--timeout-min", "0"))
    assert out == "error: --timeout-min 0: must be at least 1"  # a flag given now: named so


def test_a_resumed_sweeps_executor_record_is_validated_like_the_flags(tmp_path):
    store = tiny_store(tmp_path)
    record = json.loads((store.folder / "sweep.json").read_text())
    record["executor"] = {**record["executor"], "name": "local", "timeout_min": "ten"}
    (store.folder / "sweep.json").write_text(json.dumps(record))
    out = one_line_error(invoke("sweep", "--resume", store.folder))
    assert out == (f"error: {store.folder}/sweep.json: executor.timeout_min: expected int, got "
                   "text 'ten'")  # fmt: skip


def test_executor_settings_are_declared_once_with_their_limits():
    assert ExecutorSettings().record() == {
        "name": "inline", "timeout_min": 60, "max_parallel": 1, "partition": None,
        "gpus_per_job": None, "cpus_per_job": None, "constraint": None, "account": None,
        "qos": None,
    }  # fmt: skip
    assert ExecutorSettings.make(ExecutorSettings(name="slurm").record()).name == "slurm"
    with pytest.raises(SweepError, match=r"^--max-parallel is for --executor slurm"):
        ExecutorSettings.make({"name": "local", "max_parallel": 2})
    with pytest.raises(SweepError, match=r"^colour: unknown field; valid fields: name, "):
        ExecutorSettings.make({"colour": "red"})
    sweep = typer.main.get_command(app).commands["sweep"]
    helps = {param.name: param.help for param in sweep.params}
    for name, info in ExecutorSettings.model_fields.items():  # each option's help, from the model
        assert helps["executor" if name == "name" else name] == info.description


# ---------------------------------------------------------------------------- the sweep folder


def test_a_point_is_complete_only_when_done_with_loadable_results(tmp_path):
    store = tiny_store(tmp_path, sizes=(32, 64, 96, 128, 160, 192))
    ids = [p.id for p in store.grid.points]
    document = results_document({("A", "eager"): 10.0}, size=32)
    write_json(store.results_path(ids[0]), document)
    store.set_status(ids[0], "done")
    store.set_status(ids[1], "done")  # but no results.json
    store.set_status(ids[2], "failed", error="boom")
    store.set_status(ids[3], "interrupted")
    store.set_status(ids[4], "running", pid=1)  # its process was killed
    assert store.incomplete() == ids[1:]  # ids[5] never started
    lock = pytest.raises(SweepError, match=r"already being run by pid \d+ on ")
    with store.lock(), lock, store.lock():  # a second driver of the same sweep is refused
        pass


def test_inline_sweep_writes_points_status_and_merged_tables(tmp_path):
    result = invoke("sweep", *TINY, "--sizes", "64,96", "--results-dir", tmp_path,
                    "--sweep-id", "mine")  # fmt: skip
    assert result.exit_code == 0, result.output
    folder = tmp_path / "sweeps" / "mine"
    for point in ("s64-b1-fp32", "s96-b1-fp32"):
        status = json.loads((folder / "points" / point / "status.json").read_text())
        assert status["status"] == "done" and status["attempt"] == 1
        document = json.loads((folder / "points" / point / "results.json").read_text())
        assert document["run_id"] == point and document["rows"][0]["status"] == "ok"
        assert "(point " in document["environment"]["command"]
    assert "[2] s96-b1-fp32: done" in result.output
    table = pd.read_csv(folder / "report" / "points.csv")
    assert list(table["size"]) == [64, 96] and list(table["tokens"]) == [84, 189]
    parquet = pd.read_parquet(folder / "report" / "points.parquet")
    assert list(parquet["source"]) == ["mine/s64-b1-fp32", "mine/s96-b1-fp32"]
    fits = pd.read_csv(folder / "report" / "exponents.csv")
    assert list(fits["variant"]) == ["A"] and fits["n"][0] == 2
    again = invoke("sweep", "--resume", folder, "--no-plots")
    assert again.exit_code == 0 and "every point was already complete" in again.output


def test_resume_measures_only_the_point_that_was_killed(tmp_path):
    store = tiny_store(tmp_path)
    done, killed = (p.id for p in store.grid.points)
    write_json(store.results_path(done), results_document({("A", "eager"): 10.0}, size=64))
    store.set_status(done, "done")
    before = store.results_path(done).read_bytes()
    store.set_status(killed, "running", pid=999999, host="elsewhere", attempt=1)
    result = invoke("sweep", "--resume", store.folder, "--no-plots")
    assert result.exit_code == 0, result.output
    assert f"[1] {killed}: done" in result.output and done not in result.output
    assert store.results_path(done).read_bytes() == before  # never measured again
    assert store.status(killed)["status"] == "done" and store.status(killed)["attempt"] == 2


def test_a_failed_point_does_not_stop_the_sweep_and_ctrl_c_keeps_what_finished(tmp_path):
    store = tiny_store(tmp_path, sizes=(64, 96, 128))
    outcomes = iter([RuntimeError("boom"), "ok", KeyboardInterrupt()])

    def fake_run(specs, cfg, on_event=None, cache_dir=None):  # each point's outcome, chosen
        outcome = next(outcomes)
        if isinstance(outcome, BaseException):
            raise outcome
        return results_document({("A", "eager"): 10.0}, size=cfg.size)

    def measure(folder, point_id, on_event=None):
        return run_point(folder, point_id, on_event, run=fake_run)

    seen = []
    with pytest.raises(KeyboardInterrupt):
        run_sweep(store, ExecutorSettings(), lambda p, status: seen.append((p, status)),
                  measure=measure)  # fmt: skip
    first, second, third = (store.status(p.id) for p in store.grid.points)
    assert (first["status"], first["error"]) == ("failed", "boom")
    assert second["status"] == "done" and store.complete("s96-b1-fp32")
    assert third["status"] == "interrupted"
    assert [p for p, _ in seen] == ["s64-b1-fp32", "s96-b1-fp32"]  # the sweep went on


def test_local_executor_runs_a_point_as_a_submitit_job(tmp_path):
    result = invoke("sweep", *TINY, "--sizes", "64", "--executor", "local", "--timeout-min", "5",
                    "--results-dir", tmp_path, "--sweep-id", "local")  # fmt: skip
    assert result.exit_code == 0, result.output
    store = SweepStore.open(tmp_path / "sweeps" / "local")
    status = store.status("s64-b1-fp32")
    job = store.jobs()["s64-b1-fp32"]
    assert status["status"] == "done" and job["executor"] == "local"
    assert status["job_id"] == job["job_id"] and status["pid"] != os.getpid()  # a subprocess
    assert (store.jobs_dir / f"{job['job_id']}_0_log.out").exists()
    assert store.record["executor"]["name"] == "local"


# ---------------------------------------------------------------------------- SLURM, faked


QUEUED = "printf '4242_0|PENDING|Priority\\n4242_1|PENDING|Priority\\n4242_2|PENDING|None\\n'\n"


def fake_slurm(tmp_path, monkeypatch, sbatch_fails: bool = False, squeue: str = QUEUED):
    """sbatch (records its script), srun, squeue (`squeue`: its body; by default the jobs of
    array 4242 are queued) and scancel (records its arguments) on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sbatch = ('echo "sbatch: error: invalid partition specified: gpu" >&2; exit 1\n'
              if sbatch_fails else
              'cp "$1" "$(dirname "$0")/script.sh"; echo "Submitted batch job 4242"\n')  # fmt: skip
    scripts = {"sbatch": sbatch, "srun": "exit 0\n", "squeue": squeue,
               "scancel": 'echo "$@" >> "$(dirname "$0")/scancel.log"\n'}  # fmt: skip
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir


def test_slurm_batch_script_and_ctrl_c(tmp_path, monkeypatch):
    bin_dir = fake_slurm(tmp_path, monkeypatch)
    # The user presses Ctrl-C while the array is queued, once the jobs are on record (the sweep
    # is then waiting for them): Python's own SIGINT path, without an OS signal that a native
    # thread pool of an earlier test could receive instead of the main thread.
    jobs = tmp_path / "sweeps" / "cluster" / "jobs.json"

    done = threading.Event()  # the command returned: no Ctrl-C may land on the test run itself

    def press_ctrl_c():
        while not jobs.exists() and not done.wait(0.05):
            pass
        if not done.wait(0.3):
            _thread.interrupt_main(signal.SIGINT)

    ctrl_c = threading.Thread(target=press_ctrl_c, daemon=True)
    ctrl_c.start()
    try:
        result = invoke("sweep", *TINY, "--device", "auto", "--sizes", "64,96,128",
                        "--executor", "slurm", "--partition", "gpu", "--timeout-min", "30",
                        "--gpus-per-job", "1", "--cpus-per-job", "8", "--constraint", "a100",
                        "--account", "proj", "--qos", "normal", "--max-parallel", "2",
                        "--results-dir", tmp_path, "--sweep-id", "cluster")  # fmt: skip
    finally:
        done.set()
        ctrl_c.join()
    assert result.exit_code == 130, result.output
    folder = tmp_path / "sweeps" / "cluster"
    lines = (bin_dir / "script.sh").read_text().splitlines()
    for line in (
        "--partition=gpu",
        "--time=30",
        "--gpus-per-node=1",
        "--cpus-per-task=8",
        "--constraint=a100",
        "--account=proj",
        "--qos=normal",
        "--array=0-2%2",
        "--job-name=rtbench-cluster",
        "--signal=USR2@90",
        f"--output={folder}/jobs/%A_%a_0_log.out",
    ):
        assert f"#SBATCH {line}" in lines  # fmt: skip
    store = SweepStore.open(folder)
    assert store.grid.base.device == "cuda"  # auto on SLURM: the jobs have GPUs
    assert [job["job_id"] for job in store.jobs().values()] == ["4242_0", "4242_1", "4242_2"]
    assert (bin_dir / "scancel.log").read_text().split() == ["4242_0", "4242_1", "4242_2"]
    assert store.incomplete() == [p.id for p in store.grid.points]  # nothing lost, nothing done
    assert "go on with: rtbench sweep --resume" in result.output


def test_resume_refuses_a_point_whose_slurm_job_still_runs(tmp_path, monkeypatch):
    # squeue, not sacct: a cluster without an accounting database has no sacct.
    fake_slurm(
        tmp_path, monkeypatch, squeue="printf '4242_0|COMPLETED|None\\n4242_1|RUNNING|None\\n'"
    )
    store = tiny_store(tmp_path)
    store.record_jobs("slurm", {"s96-b1-fp32": "4242_1"})
    out = one_line_error(invoke("sweep", "--resume", store.folder))
    assert out == ("error: point s96-b1-fp32 still has SLURM job 4242_1 RUNNING (1 point(s) in "
                   "all); wait for them or scancel them, then resume")  # fmt: skip
    assert store.status("s64-b1-fp32")["status"] == "pending"  # nothing was measured


def test_slurm_submission_errors(tmp_path, monkeypatch):
    fake_slurm(tmp_path, monkeypatch, sbatch_fails=True)
    args = ["sweep", *TINY, "--sizes", "64", "--executor", "slurm", "--results-dir", tmp_path]
    out = one_line_error(invoke(*args))
    assert out == "error: sbatch failed: sbatch: error: invalid partition specified: gpu"
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    out = one_line_error(invoke(*args))
    assert out.startswith('error: --executor slurm: Could not detect "srun"')


def test_a_job_that_slurm_ended_gets_a_status_from_squeue(tmp_path, monkeypatch):
    # No result and no status from the jobs: one cancelled as it ran, one past its time limit
    # before it started. squeue says so (sacct, which submitit asks, may not exist). The sweep
    # folder is given relative: the jobs get it absolute (they may start elsewhere).
    fake_slurm(tmp_path, monkeypatch,
               squeue="printf '4242_0|CANCELLED|None\\n4242_1|TIMEOUT|TimeLimit\\n'\n")  # fmt: skip
    monkeypatch.chdir(tmp_path)
    store = tiny_store(tmp_path)
    store.folder = store.folder.relative_to(tmp_path)
    first, second = (p.id for p in store.grid.points)
    store.set_status(first, "running", pid=1, host="node1", attempt=1)
    seen = []
    run_sweep(store, ExecutorSettings(name="slurm"), lambda p, status: seen.append((p, status)))
    statuses = dict(seen)
    cancelled, timed_out = statuses[first], statuses[second]
    assert cancelled["status"] == "interrupted" and cancelled["slurm_state"] == "CANCELLED"
    assert cancelled["host"] == "node1" and cancelled["attempt"] == 1  # where it ran, kept
    assert cancelled["error"] == (
        "job 4242_0 was cancelled (scancel, by a user or an administrator) before the point "
        "finished (SLURM state CANCELLED)"
    )
    assert timed_out == store.status(second)  # recorded in the sweep folder
    assert timed_out["status"] == "failed" and timed_out["slurm_reason"] == "TimeLimit"
    assert timed_out["error"] == (
        "job 4242_1 reached its time limit (--timeout-min) before the point started "
        "(SLURM state TIMEOUT, reason TimeLimit)"
    )
    submitted = DelayedSubmission.load(store.jobs_dir / "4242_0_submitted.pkl")
    assert submitted.args == (str(tmp_path / store.folder), first)


def test_a_job_that_exited_without_a_result_is_given_time_for_it(tmp_path, monkeypatch):
    # COMPLETED in squeue, but no result file yet: on NFS it may show late; then the point fails.
    fake_slurm(tmp_path, monkeypatch, squeue="printf '4242|COMPLETED|None\\n'\n")
    monkeypatch.setattr(executors, "RESULT_GRACE_S", 0.5)
    store = tiny_store(tmp_path, sizes=(64,))
    t0 = time.monotonic()
    run_sweep(store, ExecutorSettings(name="slurm"), lambda p, status: None)
    assert time.monotonic() - t0 >= 0.5
    assert store.status("s64-b1-fp32")["error"] == (
        "job 4242 exited before the point started (SLURM state COMPLETED)"
    )


@pytest.mark.parametrize(
    ("state", "started", "outcome", "error"),
    [
        (SlurmState("CANCELLED by 1000"), True, "interrupted",  # sacct's form
         "job 7_1 was cancelled (scancel, by a user or an administrator) before the point "
         "finished (SLURM state CANCELLED by 1000)"),
        (SlurmState("PREEMPTED"), True, "interrupted",
         "job 7_1 was preempted before the point finished (SLURM state PREEMPTED)"),
        (SlurmState("NODE_FAIL", "NodeDown"), False, "failed",
         "job 7_1 lost its node (a node failure) before the point started (SLURM state "
         "NODE_FAIL, reason NodeDown)"),
        (SlurmState("OUT_OF_MEMORY"), True, "failed",
         "job 7_1 ran out of memory before the point finished (SLURM state OUT_OF_MEMORY)"),
        (GONE, True, "failed",
         "job 7_1 left the SLURM queue before the point finished (SLURM state UNKNOWN, reason "
         "no longer in the queue)"),
        (SlurmState("SOMETHING_NEW"), True, "failed",
         "job 7_1 ended (SOMETHING_NEW) before the point finished (SLURM state SOMETHING_NEW)"),
    ],
)  # fmt: skip
def test_slurm_ending_names_the_state_and_reason(state, started, outcome, error):
    assert slurm_ending("7_1", state, started) == (outcome, error)


def test_read_squeue_states_and_which_have_ended():
    states = read_squeue("12_0|CANCELLED|None\n12_1|PENDING|JobArrayTaskLimit\n"
                         "13|COMPLETING|(null)\n\n14_2|RUNNING|\n")  # fmt: skip
    assert states == {"12_0": SlurmState("CANCELLED"),
                      "12_1": SlurmState("PENDING", "JobArrayTaskLimit"),
                      "13": SlurmState("COMPLETING"), "14_2": SlurmState("RUNNING")}  # fmt: skip
    assert [s.ended for s in states.values()] == [True, False, False, False]
    assert GONE.ended and SlurmState("TIMEOUT").ended and not SlurmState("REQUEUED").ended


@pytest.mark.parametrize(
    ("squeue", "live"),
    [
        ("printf '4242_1|PENDING|Priority\\n'", {"s96-b1-fp32": "job 4242_1 PENDING"}),
        ("printf '4242_1|CANCELLED|None\\n'", {}),
        # every job id unknown to SLURM (ended long ago): nothing runs
        ("echo 'slurm_load_jobs error: Invalid job id specified' >&2; exit 1", {}),
    ],
)
def test_live_slurm_jobs_from_squeue(tmp_path, monkeypatch, squeue, live):
    fake_slurm(tmp_path, monkeypatch, squeue=squeue + "\n")
    store = tiny_store(tmp_path)
    store.record_jobs("slurm", {"s96-b1-fp32": "4242_1"})
    assert live_slurm_jobs(store, ["s64-b1-fp32", "s96-b1-fp32"]) == live


def test_resume_refuses_when_squeue_cannot_say(tmp_path, monkeypatch):
    error = "slurm_load_jobs error: Unable to contact slurm controller (connect failure)"
    fake_slurm(tmp_path, monkeypatch, squeue=f"echo '{error}' >&2; exit 1\n")
    store = tiny_store(tmp_path)
    store.record_jobs("slurm", {"s96-b1-fp32": "4242_1"})
    out = one_line_error(invoke("sweep", "--resume", store.folder))
    assert out == (f"error: cannot tell whether this sweep's SLURM jobs still run ({error}); "
                   "resume when squeue answers")  # fmt: skip


@pytest.mark.parametrize(
    ("threads", "environ", "expected"),
    [
        (None, {}, None),  # torch's choice
        (None, {"SLURM_CPUS_PER_TASK": "4"}, 4),
        (2, {"SLURM_CPUS_PER_TASK": "4"}, 2),  # the grid's threads win
        (None, {"SLURM_CPUS_PER_TASK": ""}, None),
        (None, {"SLURM_CPUS_PER_TASK": "0"}, None),
        (None, {"SLURM_CPUS_PER_TASK": "4(x2)"}, None),
    ],
)
def test_a_slurm_job_measures_with_the_cpus_it_was_given(threads, environ, expected):
    assert job_threads(threads, environ) == expected


def test_slurm_warns_a_job_in_the_last_quarter_of_a_short_limit():
    # 90 s before the end, as submitit does, only where the limit leaves room for it.
    assert [signal_delay_s(m) for m in (1, 2, 5, 6, 60)] == [15, 30, 75, 90, 90]
