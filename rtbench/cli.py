"""rtbench command line: list, show, runtimes, run, compare, export, baseline, check, sweep,
report.

Commands are thin: they parse options, call plain functions and print. The measuring options that
`run`, `compare` and `baseline` share are declared once, in `MeasureOptions`, and reach the run's
`BenchConfig` field by field in `MeasureOptions.config`. A user error is one line on stderr and
exit code 1 (2 for a usage error and for `check` on unusable input), never a traceback; Ctrl-C
exits 130 and SIGTERM 143, after the files being written are cleaned up; user text is printed as
text, never read as markup.
"""

import datetime as dt
import importlib
import inspect
import signal
import sys
import threading
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from functools import wraps
from pathlib import Path
from typing import Annotated

import torch
import typer
import yaml
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from rtbench.config import BenchConfig, BenchError, check_config
from rtbench.gate import DEFAULT_ALPHA, DEFAULT_THRESHOLD, GateError
from rtbench.measure.timing import TimingPlan
from rtbench.results import ResultsError
from rtbench.spec import DEFAULT_VARIANTS_DIR, SpecError, load_variants, select
from rtbench.text import clip

# click's exceptions, or those of the copy of click that typer >= 0.2x carries: where typer's own
# BadParameter lives.
_click_errors = importlib.import_module(typer.BadParameter.__module__)


class OneLineUsageErrors(typer.core.TyperGroup):
    """Usage errors (an unknown option, a value that is not a number) as one line and exit 2,
    click's convention, instead of typer's multi-line box."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except getattr(_click_errors, "NoArgsIsHelpError", ()):
            return super().main(*args, **kwargs)  # `rtbench` alone: typer's help, as ever
        except _click_errors.UsageError as err:
            hint = f" (see '{err.ctx.command_path} --help')" if err.ctx else ""
            error(err.format_message() + hint)
            sys.exit(err.exit_code)
        except _click_errors.ClickException as err:
            error(err.format_message())
            sys.exit(err.exit_code)
        except typer.Abort:
            error("aborted")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=OneLineUsageErrors,
    help="Benchmark the encoder ablation of RT-DETR (CVPR 2024, Table 3): params, FLOPs, latency.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Piped output (CI logs, files) gets a wide table instead of rich's 80-column fallback.
console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)

DEFAULT_RESULTS_DIR = Path("results")
DEFAULT_BASELINE = DEFAULT_RESULTS_DIR / "baseline-cpu.json"
GATE_SIZE = 256  # the gate runs whole detectors at a reduced size: minutes, not tens of minutes
GATE_ITERS = 20  # samples per variant: enough for the rank test to see a real slowdown clearly
USER_ERRORS = (SpecError, BenchError, ResultsError, OSError)
CACHE = ".cache"  # exported graphs and engines, inside the results folder, reused across runs
ERROR_LIMIT = 500  # characters of an error line; values in it are quoted shorter (rtbench.text)

_CONFIG, _TIMING = BenchConfig(), TimingPlan()
MEASURING = "Measuring"  # the help panel of the shared options


def _option(help: str, *names: str) -> typer.models.OptionInfo:
    return typer.Option(*names, help=help, rich_help_panel=MEASURING)


@dataclass(frozen=True)
class MeasureOptions:
    """The measuring options of `run`, `compare` and `baseline`, with BenchConfig's defaults."""

    scope: Annotated[str, _option("encoder (S3-S5 maps in) or detector (image in).")] = (
        _CONFIG.scope
    )
    device: Annotated[str, _option("cpu, cuda, cuda:N, or auto (cuda when available).")] = "auto"
    runtime: Annotated[
        str, _option("Runtimes to time side by side, comma-separated (see `rtbench runtimes`).")
    ] = ",".join(_CONFIG.runtimes)
    dtype: Annotated[str, _option("fp32, or fp16 / bf16 (autocast in PyTorch).")] = _CONFIG.dtype
    size: Annotated[int, _option("Input side in pixels, a multiple of 32.")] = _CONFIG.size
    batch: Annotated[int, _option("Batch size.")] = _CONFIG.batch
    seed: Annotated[int, _option("Seed of weights and inputs.")] = _CONFIG.seed
    threads: Annotated[int | None, _option("CPU threads (default: torch's choice).")] = (
        _CONFIG.threads
    )
    warmup: Annotated[int, _option("Warm-up calls at least; more until timings settle.")] = (
        _TIMING.warmup
    )
    iters: Annotated[
        int | None, _option("Fixed timed calls per variant; overrides --min-time.")
    ] = _TIMING.iters
    min_time: Annotated[float, _option("Seconds of timed calls per variant (adaptive).")] = (
        _TIMING.min_time_s
    )
    deploy: Annotated[bool, _option("Fold BatchNorm and fuse RepVGG blocks first.")] = (
        _CONFIG.deploy
    )
    channels_last: Annotated[bool, _option("channels_last memory format (PyTorch runtimes).")] = (
        _CONFIG.channels_last
    )
    flops: Annotated[bool, _option("Count FLOPs (fvcore, cross-checked).")] = _CONFIG.flops
    breakdown: Annotated[
        bool, _option("Also time each part alone, in the same rounds (eager, compile).")
    ] = _CONFIG.breakdown
    variants_dir: Annotated[Path, _option("Folder of variant YAML files.", "--variants-dir")] = (
        DEFAULT_VARIANTS_DIR
    )

    def config(self) -> BenchConfig:
        device = self.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        timing = replace(_TIMING, warmup=self.warmup, iters=self.iters, min_time_s=self.min_time)
        runtimes = tuple(name.strip() for name in self.runtime.split(",") if name.strip())
        return BenchConfig(
            scope=self.scope,
            device=device,
            dtype=self.dtype,
            size=self.size,
            batch=self.batch,
            seed=self.seed,
            threads=self.threads,
            deploy=self.deploy,
            channels_last=self.channels_last,
            runtimes=runtimes,
            flops=self.flops,
            breakdown=self.breakdown,
            timing=timing,
        )


def measuring(exclude: tuple[str, ...] = (), **defaults) -> Callable:
    """Give a command the measuring options: typer sees each as a keyword parameter (with the
    default given here, else MeasureOptions'), and the command gets one `options` argument.
    Options in `exclude` are not offered; they keep MeasureOptions' defaults."""
    hints = typing.get_type_hints(MeasureOptions, include_extras=True)
    shared = [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY,
                          default=defaults.get(f.name, f.default), annotation=hints[f.name])
        for f in fields(MeasureOptions) if f.name not in exclude
    ]  # fmt: skip
    names = [p.name for p in shared]

    def decorate(command: Callable) -> Callable:
        own = [p for p in inspect.signature(command).parameters.values() if p.name != "options"]

        @wraps(command)
        def wrapper(**kwargs):
            options = MeasureOptions(**{name: kwargs.pop(name) for name in names})
            return command(**kwargs, options=options)

        params = own + shared
        wrapper.__signature__ = inspect.Signature(params)
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper

    return decorate


class Terminated(KeyboardInterrupt):
    """SIGTERM (what CI runners and SLURM send), raised where the program is so that it unwinds
    like Ctrl-C: a file being written is removed, files already written stay whole."""


def _terminate(signum, frame) -> None:
    raise Terminated


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """SIGTERM raises Terminated while a command runs; only a command installs this, never an
    import, and only the main thread can."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def user_errors(command: Callable | None = None, *, code: int = 1) -> Callable:
    """Turn the errors a user can cause into one line and exit `code`, never a traceback; Ctrl-C
    and SIGTERM into one line and their conventional exit codes, 130 and 143."""

    def decorate(command: Callable) -> Callable:
        @wraps(command)
        def wrapper(*args, **kwargs):
            try:
                with _sigterm_unwinds():
                    return command(*args, **kwargs)
            except USER_ERRORS as err:
                error(str(err))
                raise typer.Exit(code) from None
            except KeyboardInterrupt as err:
                stopped = "terminated (SIGTERM)" if isinstance(err, Terminated) else "interrupted"
                err_console.print(Text(f"{stopped}; files already written are intact"))
                raise typer.Exit(143 if isinstance(err, Terminated) else 130) from None

        return wrapper

    return decorate(command) if command is not None else decorate


def error(message: str) -> None:
    """One line on stderr, however long the message or narrow the terminal."""
    text = Text("error: ", style="red") + Text(clip(message, ERROR_LIMIT))
    err_console.print(text, highlight=False, soft_wrap=True)


def warning(message: str) -> None:
    err_console.print(Text("warning: ", style="yellow") + Text(message), highlight=False)


VariantsDir = Annotated[
    Path, typer.Option("--variants-dir", help="Folder of variant YAML files.", show_default=False)
]
ResultsDir = Annotated[Path, typer.Option("--results-dir", help="Where run folders go.")]
RunId = Annotated[str | None, typer.Option(help="Run folder name (default: time, scope, device).")]
Plots = Annotated[bool, typer.Option(help="Write PNG plots into the run folder.")]
Variants = Annotated[list[str] | None, typer.Argument(help="Variant names, or all (default).")]


@app.command("list")
@user_errors
def list_command(variants_dir: VariantsDir = DEFAULT_VARIANTS_DIR) -> None:
    """The variants found in the variants folder, one line each."""
    for spec in load_variants(variants_dir).values():
        typer.echo(f"{spec.name:<6} {spec.description}")


@app.command()
@user_errors
def show(
    variant: Annotated[str, typer.Argument(help="Variant name, e.g. E.")],
    variants_dir: VariantsDir = DEFAULT_VARIANTS_DIR,
    detector: Annotated[bool, typer.Option(help="Also build the detector for its parts.")] = True,
) -> None:
    """The spec of one variant and its parameters per part."""
    from rtbench.measure.params import count_params, param_parts
    from rtbench.models.build import build_model

    spec = select(load_variants(variants_dir), [variant])[0]
    typer.echo(f"{spec.name}: {spec.description}\nfile: {spec.source}")
    typer.echo(yaml.safe_dump(_spec_record(spec), sort_keys=False, width=1000).rstrip())
    scopes = ("encoder", "detector") if detector else ("encoder",)
    table = Table("part", *(f"{s} params" for s in scopes), title="Parameters")
    try:
        counted = {s: build_model(spec, s) for s in scopes}
    except (RuntimeError, MemoryError) as err:  # a spec too big for this machine
        from rtbench.runner import describe_error

        raise BenchError(f"{spec.name}: cannot build: {describe_error(err)}") from None
    parts = {s: param_parts(m) for s, m in counted.items()}
    for part in parts[scopes[-1]]:
        table.add_row(part, *(_count(parts[s].get(part)) for s in scopes))
    table.add_row(Text("total", style="bold"), *(_count(count_params(m)) for m in counted.values()))
    console.print(table)
    if spec.paper:
        console.print(
            f"Paper (Table 3): AP {spec.paper.ap}, #Params {spec.paper.params_m}M, "
            f"latency {spec.paper.latency_ms} ms (T4, TensorRT FP16)",
            highlight=False,
        )


@app.command()
@user_errors
def runtimes() -> None:
    """The runtimes rtbench knows and whether each can run here, on which device."""
    from rtbench.runtimes import RUNTIMES

    devices = [torch.device("cpu")]
    if torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    table = Table("runtime", "label", "devices", "here", title="Runtimes")
    for name, runtime in RUNTIMES.items():
        here = [runtime.not_installed()] if runtime.not_installed() else []
        for device in devices:
            if here or device.type not in runtime.devices:
                continue
            reason = runtime.unavailable(device, BenchConfig(device=device.type))
            here.append(f"{device.type}: {reason or f'ready ({runtime.version()})'}")
        if not here:
            here.append(f"installed; needs {' or '.join(runtime.devices)}, which is not here")
        table.add_row(name, runtime.label, ", ".join(runtime.devices), Text("\n".join(here)))
    console.print(table)


@app.command()
@user_errors
@measuring()
def run(
    variant: Annotated[str, typer.Option("--variant", "-v", help="Variant name, e.g. E.")],
    plots: Plots = False,
    results_dir: ResultsDir = DEFAULT_RESULTS_DIR,
    run_id: RunId = None,
    *,
    options: MeasureOptions,
) -> None:
    """Measure one variant: params, GMACs/GFLOPs, latency."""
    _benchmark([variant], options, results_dir, run_id, plots)


@app.command()
@user_errors
@measuring()
def compare(
    variants: Variants = None,
    plots: Plots = True,
    results_dir: ResultsDir = DEFAULT_RESULTS_DIR,
    run_id: RunId = None,
    *,
    options: MeasureOptions,
) -> None:
    """Measure several variants interleaved and write the Table 3 mirror under results/."""
    _benchmark(variants or ["all"], options, results_dir, run_id, plots)


@app.command()
@user_errors
def export(
    variant: Annotated[str, typer.Option("--variant", "-v", help="Variant name, e.g. E.")],
    out: Annotated[Path, typer.Option(help="ONNX file to write.")],
    scope: Annotated[str, typer.Option(help="encoder or detector.")] = _CONFIG.scope,
    size: Annotated[int, typer.Option(help="Input side in pixels (static shape).")] = _CONFIG.size,
    batch: Annotated[int, typer.Option(help="Batch size (static shape).")] = _CONFIG.batch,
    seed: Annotated[int, typer.Option(help="Seed of the weights.")] = _CONFIG.seed,
    deploy: Annotated[bool, typer.Option(help="Fold BatchNorm and fuse RepVGG first.")] = False,
    cells: Annotated[
        bool, typer.Option(help="Detector: also output the selected encoder cells.")
    ] = False,
    check: Annotated[
        bool, typer.Option(help="Run the graph in ONNX Runtime and compare with PyTorch.")
    ] = True,
    variants_dir: VariantsDir = DEFAULT_VARIANTS_DIR,
) -> None:
    """Export one variant to ONNX (opset 17, static shapes, fp32), checked by the ONNX checker and
    against PyTorch's outputs, for your own pipeline."""
    from rtbench.export import export_file

    cfg = BenchConfig(scope=scope, size=size, batch=batch, seed=seed, deploy=deploy)
    spec = select(load_variants(variants_dir), [variant])[0]
    report = export_file(spec, cfg, out, with_cells=cells, check=check)
    console.print(Text(report))


@app.command()
@user_errors
@measuring(device="cpu", size=GATE_SIZE, iters=GATE_ITERS)
def baseline(
    variants: Variants = None,
    out: Annotated[Path, typer.Option(help="Baseline file to write.")] = DEFAULT_BASELINE,
    *,
    options: MeasureOptions,
) -> None:
    """Measure the regression gate's workload (reduced size) and write a baseline file."""
    from rtbench.report.files import check_output_file, write_json

    check_output_file(out, f"--out {out}")  # before minutes of measuring, not after
    cfg = replace(options.config(), flops=True)  # the gate compares sizes too
    document = _measure(variants or ["all"], options.variants_dir, cfg, cache_dir=None)
    document["run_id"] = out.stem
    write_json(out, document)
    _print_report(document)
    console.print(Text(f"baseline: {out}"))
    _exit_if_failed(document)


@app.command()
@user_errors(code=2)
def check(
    current: Annotated[
        Path | None,
        typer.Argument(help="results.json to check; omitted: measure now, as the baseline was."),
    ] = None,
    baseline: Annotated[Path, typer.Option(help="Baseline results file.")] = DEFAULT_BASELINE,
    threshold: Annotated[
        float, typer.Option(help="Smallest slowdown (fraction) that fails.")
    ] = DEFAULT_THRESHOLD,
    alpha: Annotated[float, typer.Option(help="Mann-Whitney significance.")] = DEFAULT_ALPHA,
    allow_growth: Annotated[bool, typer.Option(help="Let params and GMACs grow.")] = False,
    variants_dir: VariantsDir = DEFAULT_VARIANTS_DIR,
    results_dir: ResultsDir = DEFAULT_RESULTS_DIR,
) -> None:
    """Exit 1 when a variant got slower or bigger than the baseline, 0 otherwise, 2 on unusable
    input. Latency is compared normalized by a calibration workload timed in the same run; when
    measuring, a slower variant is measured again and fails only if the slowdown repeats."""
    from rtbench.gate import compare as gate_compare
    from rtbench.gate import render
    from rtbench.report.files import check_output_location, write_json
    from rtbench.report.write import write_run
    from rtbench.results import load_results
    from rtbench.runner import config_from_record

    if not 0 < threshold < 10 or not 0 < alpha < 1:
        raise GateError("--threshold must be in (0, 10) and --alpha in (0, 1)")
    base = load_results(baseline)
    remeasure = None
    if current is None:
        check_output_location(results_dir, None)  # before minutes of measuring, not after
        names = list(dict.fromkeys(row["variant"] for row in base["rows"]))
        specs = load_variants(variants_dir)
        present = [name for name in names if name in specs]  # a deleted variant shows as missing
        cfg = config_from_record(base["config"])
        document = _measure(present, variants_dir, cfg, results_dir / CACHE)
        run_dir, warnings = write_run(document, results_dir, None, plots=False)
        console.print(Text(f"current: {run_dir}"))
        for message in warnings:
            warning(message)

        def remeasure(variants: list[str]) -> dict:
            console.print(Text(f"confirming a slowdown: measuring {', '.join(variants)} again"))
            again = replace(cfg, flops=False)  # sizes were compared already
            return _measure(variants, variants_dir, again, results_dir / CACHE)
    else:
        document = load_results(current)
    report = gate_compare(base, document, threshold, alpha, allow_growth, remeasure)
    if report.remeasured is not None:  # nothing measured is lost
        report.remeasured["run_id"] = f"{run_dir.name}-confirmation"
        write_json(run_dir / "confirmation.json", report.remeasured)
        console.print(Text(f"second measurement: {run_dir / 'confirmation.json'}"))
    console.print(render(report))
    for message in report.warnings:
        warning(message)
    verdict = "FAIL: regression" if report.failed else "pass"
    unsure = [f"{r.variant} ({r.runtime})" for r in report.rows if r.verdict == "inconclusive"]
    if unsure:
        verdict += f"; inconclusive for {', '.join(unsure)}: check again on an idle machine"
    console.print(Text(f"gate: {verdict} (baseline {baseline})"))
    if report.failed:
        raise typer.Exit(1)


GRID, EXECUTOR = "Grid", "Executor"  # help panels of `sweep`
# Flags of `sweep` that set a key of the grid (rtbench.sweep.grid.GridFile): parameter -> key.
GRID_FLAGS = {"variants": "variants", "sizes": "sizes", "batches": "batches", "dtypes": "dtypes",
              "runtime": "runtimes", "scope": "scope", "device": "device", "seed": "seed",
              "threads": "threads", "deploy": "deploy", "channels_last": "channels_last",
              "flops": "flops", "breakdown": "breakdown", "warmup": "warmup", "iters": "iters",
              "min_time": "min_time", "variants_dir": "variants_dir"}  # fmt: skip
LIST_FLAGS = {"variants": str, "sizes": int, "batches": int, "dtypes": str, "runtime": str}


def _grid(help: str) -> typer.models.OptionInfo:
    return typer.Option(help=help, rich_help_panel=GRID)


def _executor(help: str, default: str | None = None) -> typer.models.OptionInfo:
    return typer.Option(help=help, rich_help_panel=EXECUTOR, show_default=default or False)


@app.command()
@user_errors
@measuring(exclude=("size", "batch", "dtype"))
def sweep(
    ctx: typer.Context,
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
    variants: Annotated[str, _grid("Variants, comma-separated, or all.")] = "all",
    sizes: Annotated[str, _grid("Input sides, comma-separated (multiples of 32).")] = "640",
    batches: Annotated[str, _grid("Batch sizes, comma-separated.")] = "1",
    dtypes: Annotated[str, _grid("fp32, fp16, bf16, comma-separated.")] = "fp32",
    executor: Annotated[
        str | None,
        _executor(
            "inline (this process), local (a submitit subprocess job per "
            "point) or slurm (a submitit job array).",
            "inline",
        ),
    ] = None,
    timeout_min: Annotated[
        int | None, _executor("Time limit of one point's job, minutes (local, slurm).", "60")
    ] = None,
    max_parallel: Annotated[
        int | None, _executor("SLURM: points measured at once, each on its own GPUs.", "1")
    ] = None,
    partition: Annotated[str | None, _executor("SLURM partition.")] = None,
    gpus_per_job: Annotated[
        int | None, _executor("SLURM: GPUs per job.", "1 on cuda, else 0")
    ] = None,
    cpus_per_job: Annotated[int | None, _executor("SLURM: CPUs per job.")] = None,
    constraint: Annotated[str | None, _executor("SLURM constraint (a GPU type, say).")] = None,
    account: Annotated[str | None, _executor("SLURM account.")] = None,
    qos: Annotated[str | None, _executor("SLURM quality of service.")] = None,
    plots: Plots = True,
    results_dir: ResultsDir = DEFAULT_RESULTS_DIR,
    sweep_id: Annotated[
        str | None, typer.Option(help="Sweep folder name (default: time, scope, device).")
    ] = None,
    *,
    options: MeasureOptions,
) -> None:
    """Measure a grid of configurations, one point (size, batch, dtype) at a time, each point a
    run of all its variants interleaved; results under results/sweeps/<id>/."""
    from rtbench.report.files import check_output_location
    from rtbench.sweep import SweepError
    from rtbench.sweep.store import SweepStore

    given = {name for name in ctx.params if _on_command_line(ctx, name)}
    executor_flags = {"name": executor, "timeout_min": timeout_min, "max_parallel": max_parallel,
                      "partition": partition, "gpus_per_job": gpus_per_job,
                      "cpus_per_job": cpus_per_job, "constraint": constraint, "account": account,
                      "qos": qos}  # fmt: skip
    chosen = {key: value for key, value in executor_flags.items() if value is not None}
    if resume is not None:
        grid_flags = sorted(given & set(GRID_FLAGS))
        if grid_file is not None or grid_flags:
            drop = grid_file or "--" + grid_flags[0].replace("_", "-")
            raise SweepError(f"--resume measures the grid saved in {resume}; drop {drop}")
        store = SweepStore.open(resume)
        kept = store.record.get("executor") or {}
        if chosen.get("name", kept.get("name")) != kept.get("name"):
            kept = {}  # another executor: its own defaults, and the flags given now
        settings = _executor_settings({**kept, **chosen}, set(chosen))
    else:
        settings = _executor_settings(chosen, set(chosen))
        flags = {**asdict(options), "variants": variants, "sizes": sizes, "batches": batches,
                 "dtypes": dtypes}  # fmt: skip
        grid = _sweep_grid(grid_file, given, flags, settings)
        check_output_location(results_dir / "sweeps", sweep_id)
        name = sweep_id or f"{dt.datetime.now():%Y%m%d-%H%M%S}-{grid.base.scope}-{grid.base.device}"
        store = SweepStore.create(results_dir / "sweeps", name.replace(":", ""), grid,
                                  settings.record())  # fmt: skip
    _drive(store, settings, plots)


def _on_command_line(ctx: typer.Context, name: str) -> bool:
    """Whether the user set `name` (rather than its default): click's ParameterSource, by name
    (typer may bring its own copy of click)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")


def _executor_settings(values: dict, given: set[str]):
    from rtbench.sweep import SweepError
    from rtbench.sweep.executors import ExecutorSettings

    try:
        settings = ExecutorSettings(**values)
    except TypeError as err:
        raise SweepError(f"sweep.json: malformed executor settings ({err})") from None
    settings.check(given)
    return settings


def _sweep_grid(grid_file: Path | None, given: set[str], flags: dict, settings):
    """The grid from the file, with the flags given on the command line over its keys."""
    from rtbench.sweep.grid import make_grid, read_grid_file

    values = read_grid_file(grid_file) if grid_file else {}
    sources = {key: f"{grid_file}: {key}" for key in values}
    for name, key in GRID_FLAGS.items():
        if name not in given:
            continue
        flag, value = "--" + name.replace("_", "-"), flags[name]
        if name in LIST_FLAGS:
            value = _items(value, flag, LIST_FLAGS[name])
        values[key] = str(value) if isinstance(value, Path) else value
        sources[key] = flag
    slurm_gpus = None
    if settings.name == "slurm":
        device = values.get("device", "auto")
        slurm_gpus = (
            settings.gpus_per_job
            if settings.gpus_per_job is not None
            else (0 if device == "cpu" else 1)
        )
    return make_grid(values, sources, str(grid_file or "the command line"), slurm_gpus)


def _items(text: str, flag: str, kind: type) -> tuple:
    items = [item.strip() for item in text.split(",") if item.strip()]
    try:
        return tuple(kind(item) for item in items)
    except ValueError:
        bad = next(item for item in items if not item.lstrip("-").isdigit())
        raise BenchError(f"{flag}: {bad!r} is not a whole number") from None


def _drive(store, settings, plots: bool) -> None:
    """Run the sweep's incomplete points, one line per finished point, then the merged report.
    Exit 1 when a point or a row failed, 130 on Ctrl-C (finished points are kept)."""
    from rtbench.sweep.executors import run_sweep

    total = len(store.grid.points)
    console.print(Text(f"sweep: {store.folder} ({total} points, {settings.name} executor)"))
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
        console.print(Text(line), style=None if status["status"] == "done" else "red")

    try:
        ran = run_sweep(store, settings, on_point)
    except KeyboardInterrupt:
        kept = total - len(store.incomplete())
        err_console.print(Text(f"interrupted: {kept} of {total} points complete, kept in "
                               f"{store.folder}; go on with: rtbench sweep --resume "
                               f"{store.folder}"))  # fmt: skip
        raise typer.Exit(130) from None
    if not ran:
        console.print(Text("every point was already complete: nothing measured"))
    incomplete = store.incomplete()
    if len(incomplete) < total:
        _merged_report([store.folder], store.folder / "report", plots, allow_unlike=False)
    rows_failed = any(store.status(p.id).get("rows_failed") for p in store.grid.points)
    if incomplete or rows_failed:
        if incomplete:
            error(f"{len(incomplete)} of {total} points did not complete ({incomplete[0]}, ...); "
                  f"rtbench sweep --resume {store.folder} measures them again")  # fmt: skip
        raise typer.Exit(1)


@app.command()
@user_errors(code=2)
def report(
    inputs: Annotated[
        list[Path], typer.Argument(help="Sweep folders, run folders or results.json files.")
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            help="Report folder (default: SWEEP/report for one sweep, else "
            "results/reports/<time>).",
            show_default=False,
        ),
    ] = None,
    allow_unlike: Annotated[
        bool, typer.Option(help="Merge runs that did not measure the same work.")
    ] = False,
    plots: Plots = True,
    results_dir: ResultsDir = DEFAULT_RESULTS_DIR,
) -> None:
    """Merge sweeps and runs into one report (tables, CSV, Parquet, plots), measuring nothing.
    Exit 2 on unusable input, or on runs not measured alike (unless --allow-unlike)."""
    if out is None:
        one_sweep = len(inputs) == 1 and (inputs[0] / "sweep.json").is_file()
        out = (inputs[0] / "report" if one_sweep
               else results_dir / "reports" / f"{dt.datetime.now():%Y%m%d-%H%M%S}")  # fmt: skip
    _merged_report(inputs, out, plots, allow_unlike)


def _merged_report(inputs: list[Path], out: Path, plots: bool, allow_unlike: bool) -> None:
    from rtbench.report.merge import check_alike, collect, write_report

    merged = collect(inputs)
    check_alike(merged, allow_unlike)
    renderables, warnings = write_report(merged, out, plots)
    for item in renderables:
        console.print(item)
    for message in warnings:
        warning(message)
    console.print(Text(f"report: {out}"))


def _benchmark(
    names: list[str], options: MeasureOptions, results_dir: Path, run_id: str | None, plots: bool
) -> None:
    from rtbench.report.files import check_output_location
    from rtbench.report.write import write_run

    check_output_location(results_dir, run_id)  # before minutes of measuring, not after
    document = _measure(names, options.variants_dir, options.config(), results_dir / CACHE)
    run_dir, warnings = write_run(document, results_dir, run_id, plots=plots)
    _print_report(document)
    for message in warnings:
        warning(message)
    console.print(Text(f"results: {run_dir}"))
    _exit_if_failed(document)


def _measure(
    names: list[str], variants_dir: Path, cfg: BenchConfig, cache_dir: Path | None
) -> dict:
    from rtbench.runner import run_benchmark

    specs = select(load_variants(variants_dir), names)
    check_config(cfg)  # before the progress bar: a bad option is one line, nothing else
    with _progress() as on_event:
        return run_benchmark(specs, cfg, on_event, cache_dir=cache_dir)


@contextmanager
def _progress() -> Iterator[Callable]:
    """A transient progress bar on stderr, fed by the runner's events."""
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task("starting", total=None)

        def on_event(event) -> None:
            progress.update(task, description=event.message, completed=event.done,
                            total=event.total)  # fmt: skip

        yield on_event


def _exit_if_failed(document: dict) -> None:
    failed = [r for r in document["rows"] if r["status"] != "ok"]
    if failed:
        listed = "; ".join(f"{r['variant']} ({r['runtime']}): {r['error']}" for r in failed)
        error(f"{len(failed)} of {len(document['rows'])} rows failed ({listed})")
        raise typer.Exit(1)


def _print_report(document: dict) -> None:
    from rtbench.report.write import terminal_report

    for item in terminal_report(document):
        console.print(item)


def _spec_record(spec) -> dict:
    from dataclasses import asdict

    record = asdict(spec)
    record.pop("source")
    return record


def _count(n: int | None) -> str:
    return "-" if n is None else f"{n:,} ({n / 1e6:.2f}M)"


def main() -> None:  # pragma: no cover - console entry for `python -m rtbench`
    app(prog_name="rtbench", args=sys.argv[1:])
