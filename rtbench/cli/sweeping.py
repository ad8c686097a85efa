"""`sweep`: a grid of runs through an executor (this process, submitit's local executor, or
SLURM), then the merged report. The grid and the executor settings are checked before torch is
imported (rtbench.sweep.grid, rtbench.sweep.settings)."""

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from rtbench.cli.app import app, console, console_text, err_console, error
from rtbench.cli.errors import user_errors
from rtbench.cli.options import (
    DEFAULT_HISTORY,
    DEFAULT_RESULTS_DIR,
    GRID,
    HistoryPath,
    Plots,
    Record,
    ResultsDir,
    RunOptions,
    VariantsDir,
    run_options,
)
from rtbench.cli.reporting import merged_report
from rtbench.config import tag
from rtbench.spec import DEFAULT_VARIANTS_DIR
from rtbench.sweep.settings import ExecutorSettings, flag
from rtbench.validation import dotted

EXECUTOR = "Executor"  # help panel


def _executor(name: str) -> typer.models.OptionInfo:
    """An executor setting's option, its help and default read off ExecutorSettings: None on the
    command line means not given (--resume keeps the sweep's own)."""
    info = ExecutorSettings.model_fields[name]
    shown = str(info.default) if info.default is not None else False
    return typer.Option(flag((name,)), help=info.description, rich_help_panel=EXECUTOR,
                        show_default=shown)  # fmt: skip


@app.command()
@user_errors
@run_options(grid=True)
def sweep(
    grid_file: Annotated[
        Path | None,
        typer.Argument(
            help="A YAML grid; flags given on the command line override its keys.",
            show_default=False,
        ),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            help="A sweep folder: measure its points that did not complete.", show_default=False
        ),
    ] = None,
    variants: Annotated[
        str, typer.Option(help="Variants, comma-separated, or all.", rich_help_panel=GRID)
    ] = "all",
    variants_dir: VariantsDir = DEFAULT_VARIANTS_DIR,
    executor: Annotated[str | None, _executor("name")] = None,
    timeout_min: Annotated[int | None, _executor("timeout_min")] = None,
    max_parallel: Annotated[int | None, _executor("max_parallel")] = None,
    partition: Annotated[str | None, _executor("partition")] = None,
    gpus_per_job: Annotated[int | None, _executor("gpus_per_job")] = None,
    cpus_per_job: Annotated[int | None, _executor("cpus_per_job")] = None,
    constraint: Annotated[str | None, _executor("constraint")] = None,
    account: Annotated[str | None, _executor("account")] = None,
    qos: Annotated[str | None, _executor("qos")] = None,
    plots: Plots = True,
    results_dir: ResultsDir = DEFAULT_RESULTS_DIR,
    sweep_id: Annotated[
        str | None, typer.Option(help="Sweep folder name (default: time, scope, device).")
    ] = None,
    record: Record = False,
    history: HistoryPath = DEFAULT_HISTORY,
    *,
    options: RunOptions,
) -> None:
    """Measure a grid of configurations, one point (size, batch, dtype, ...) at a time, each
    point a run of all its variants interleaved; results under results/sweeps/<id>/."""
    from rtbench.cli.recording import check_history
    from rtbench.files import check_output_location
    from rtbench.sweep import SweepError
    from rtbench.sweep.store import SweepStore

    if record:
        check_history(history)  # before minutes of measuring, not after

    values = {**options.values, "variants": variants, "variants_dir": str(variants_dir)}
    grid_flags = {key: value for key, value in values.items() if key in options.given}
    executor_flags = {"name": executor, "timeout_min": timeout_min, "max_parallel": max_parallel,
                      "partition": partition, "gpus_per_job": gpus_per_job,
                      "cpus_per_job": cpus_per_job, "constraint": constraint, "account": account,
                      "qos": qos}  # fmt: skip
    chosen = {key: value for key, value in executor_flags.items() if value is not None}
    if resume is not None:
        if grid_file is not None or grid_flags:
            drop = grid_file or "--" + sorted(grid_flags)[0].replace("_", "-")
            raise SweepError(f"--resume measures the grid saved in {resume}; drop {drop}")
        store = SweepStore.open(resume)
        kept = store.record.get("executor") or {}
        if chosen.get("name", kept.get("name")) != kept.get("name"):
            kept = {}  # another executor: its own defaults, and the flags given now
        settings = _executor_settings({**kept, **chosen}, set(chosen), resume / "sweep.json")
    else:
        settings = ExecutorSettings.make(chosen)
        grid = _grid(grid_file, grid_flags, options, settings)
        check_output_location(results_dir / "sweeps", sweep_id)
        name = sweep_id or f"{dt.datetime.now():%Y%m%d-%H%M%S}-{grid.base.scope}-{grid.base.device}"
        store = SweepStore.create(results_dir / "sweeps", name.replace(":", ""), grid,
                                  settings.record())  # fmt: skip
    _drive(store, settings, plots, history if record else None)


def _executor_settings(values: dict, given: set[str], record: Path) -> ExecutorSettings:
    """The settings of a resumed sweep: its record's, the flags given now over them; an error
    names the flag, or the record's key."""
    return ExecutorSettings.make(values, lambda loc: flag(loc) if not loc or loc[0] in given
                                 else f"{record}: executor.{dotted(loc)}")  # fmt: skip


def _grid(grid_file: Path | None, flags: dict, options: RunOptions, settings: ExecutorSettings):
    """The grid from the file, with the flags given on the command line over its keys."""
    from rtbench.sweep.grid import make_grid, read_grid_file, read_grid_flags

    values = read_grid_file(grid_file) if grid_file else {}
    sources = {key: f"{grid_file}: {key}" for key in values}
    generated = {o.param: o for o in options.options}
    for key in flags:  # an error names the flag: --sizes, --runtime, --min-time
        option = generated.get(key)
        declared = tag(option.name, option.model)["flag"] if option and not option.listed else None
        sources[key] = declared or "--" + key.replace("_", "-")
    values.update(read_grid_flags(flags, sources))
    slurm_gpus = None
    if settings.name == "slurm":
        device = values.get("device", "auto")
        slurm_gpus = (
            settings.gpus_per_job
            if settings.gpus_per_job is not None
            else (0 if device == "cpu" else 1)
        )
    return make_grid(values, sources, str(grid_file or "the command line"), slurm_gpus)


def _drive(store, settings, plots: bool, history: Path | None = None) -> None:
    """Run the sweep's incomplete points, one line per finished point, then the merged report
    (and record the complete points in `history`, when given). Exit 1 when a point or a row
    failed or the history could not be written, 130 on Ctrl-C (finished points are kept)."""
    from rtbench.sweep.executors import run_sweep

    total = len(store.grid.points)
    console.print(console_text(f"sweep: {store.folder} ({total} points, {settings.name} executor)"))
    finished = 0

    def on_point(point_id: str, status: dict) -> None:
        nonlocal finished
        finished += 1
        line = f"[{finished}] {point_id}: {status['status']}"
        if status.get("duration_s") is not None:
            line += f" in {status['duration_s']:.1f} s"
        if status.get("error"):
            line += f": {status['error']}"
        if status.get("rows_failed"):
            line += f" ({len(status['rows_failed'])} rows failed: {status['rows_failed'][0]})"
        console.print(console_text(line, "" if status["status"] == "done" else "red"))

    try:
        ran = run_sweep(store, settings, on_point)
    except KeyboardInterrupt:
        kept = total - len(store.incomplete())
        err_console.print(console_text(f"interrupted: {kept} of {total} points complete, kept in "
                                       f"{store.folder}; go on with: rtbench sweep --resume "
                                       f"{store.folder}"))  # fmt: skip
        raise typer.Exit(130) from None
    if not ran:
        console.print(console_text("every point was already complete: nothing measured"))
    incomplete = store.incomplete()
    if len(incomplete) < total:
        merged_report([store.folder], store.folder / "report", plots, allow_unlike=False)
    recorded = history is None or _record(store, history)
    rows_failed = any(store.status(p.id).get("rows_failed") for p in store.grid.points)
    if incomplete or rows_failed or not recorded:
        if incomplete:
            error(f"{len(incomplete)} of {total} points did not complete ({incomplete[0]}, ...); "
                  f"rtbench sweep --resume {store.folder} measures them again")  # fmt: skip
        raise typer.Exit(1)


def _record(store, history: Path) -> bool:
    """The complete points' results in the history (a point recorded before is not again)."""
    from rtbench.cli.recording import record_runs
    from rtbench.results import load_results

    done = [p.id for p in store.grid.points if store.complete(p.id)]
    return record_runs(history, [load_results(store.results_path(p)) for p in done], "sweep")
