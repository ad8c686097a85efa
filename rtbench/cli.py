"""rtbench command line: list, show, run, compare, baseline, check.

Commands are thin: they parse options, call plain functions and print. A user error is one line
on stderr and exit code 1 (2 for `check` on unusable input), never a traceback.
"""

import sys
from collections.abc import Callable
from dataclasses import replace
from functools import wraps
from pathlib import Path
from typing import Annotated

import torch
import typer
import yaml
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from rtbench.gate import DEFAULT_ALPHA, DEFAULT_THRESHOLD, GateError
from rtbench.measure.timing import TimingPlan
from rtbench.runner import BenchConfig, BenchError, config_from_record
from rtbench.spec import DEFAULT_VARIANTS_DIR, SpecError, load_variants, select

app = typer.Typer(
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

VariantsDir = Annotated[
    Path, typer.Option("--variants-dir", help="Folder of variant YAML files.", show_default=False)
]
ResultsDir = Annotated[Path, typer.Option("--results-dir", help="Where run folders go.")]
RunId = Annotated[str | None, typer.Option(help="Run folder name (default: time, scope, device).")]
Scope = Annotated[str, typer.Option(help="encoder (S3-S5 maps in) or detector (image in).")]
Device = Annotated[str, typer.Option(help="cpu, cuda, cuda:N, or auto (cuda when available).")]
Dtype = Annotated[str, typer.Option(help="fp32, or fp16 / bf16 under autocast.")]
Size = Annotated[int, typer.Option(help="Input side in pixels, a multiple of 32.")]
Batch = Annotated[int, typer.Option(help="Batch size.")]
Seed = Annotated[int, typer.Option(help="Seed of weights and inputs.")]
Threads = Annotated[int | None, typer.Option(help="CPU threads (default: torch's choice).")]
Warmup = Annotated[int, typer.Option(help="Warm-up calls at least; more until timings settle.")]
Iters = Annotated[
    int | None, typer.Option(help="Fixed timed calls per variant; overrides --min-time.")
]
MinTime = Annotated[float, typer.Option(help="Seconds of timed calls per variant (adaptive).")]
Deploy = Annotated[bool, typer.Option(help="Fold BatchNorm and fuse RepVGG blocks first.")]
ChannelsLast = Annotated[bool, typer.Option(help="channels_last memory format.")]
Compile = Annotated[bool, typer.Option(help="torch.compile the model.")]
CudaGraphs = Annotated[bool, typer.Option(help="Time replays of a captured CUDA graph.")]
Flops = Annotated[bool, typer.Option(help="Count FLOPs (fvcore, cross-checked).")]
Plots = Annotated[bool, typer.Option(help="Write PNG plots into the run folder.")]


def user_errors(command: Callable | None = None, *, code: int = 1) -> Callable:
    """Turn the errors a user can cause into one line and exit `code`, never a traceback."""

    def decorate(command: Callable) -> Callable:
        @wraps(command)
        def wrapper(*args, **kwargs):
            try:
                return command(*args, **kwargs)
            except (SpecError, BenchError, GateError, OSError) as err:
                err_console.print(f"[red]error:[/] {err}", highlight=False)
                raise typer.Exit(code) from None
            except KeyboardInterrupt:
                err_console.print("interrupted; files already written are intact")
                raise typer.Exit(130) from None

        return wrapper

    return decorate(command) if command is not None else decorate


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
    counted = {s: build_model(spec, s) for s in scopes}
    parts = {s: param_parts(m) for s, m in counted.items()}
    for part in parts[scopes[-1]]:
        table.add_row(part, *(_count(parts[s].get(part)) for s in scopes))
    table.add_row("[bold]total", *(_count(count_params(m)) for m in counted.values()))
    console.print(table)
    if spec.paper:
        console.print(
            f"Paper (Table 3): AP {spec.paper.ap}, #Params {spec.paper.params_m}M, "
            f"latency {spec.paper.latency_ms} ms (T4, TensorRT FP16)"
        )


@app.command()
@user_errors
def run(
    variant: Annotated[str, typer.Option("--variant", "-v", help="Variant name, e.g. E.")],
    scope: Scope = "detector",
    device: Device = "auto",
    dtype: Dtype = "fp32",
    size: Size = 640,
    batch: Batch = 1,
    seed: Seed = 0,
    threads: Threads = None,
    warmup: Warmup = 3,
    iters: Iters = None,
    min_time: MinTime = 2.0,
    deploy: Deploy = False,
    channels_last: ChannelsLast = False,
    compile: Compile = False,
    cuda_graphs: CudaGraphs = False,
    flops: Flops = True,
    plots: Plots = False,
    variants_dir: VariantsDir = DEFAULT_VARIANTS_DIR,
    results_dir: ResultsDir = DEFAULT_RESULTS_DIR,
    run_id: RunId = None,
) -> None:
    """Measure one variant: params, GMACs/GFLOPs, latency."""
    options = {k: v for k, v in locals().items() if k != "variant"}
    _benchmark([variant], **options)


@app.command()
@user_errors
def compare(
    variants: Annotated[
        list[str] | None, typer.Argument(help="Variant names, or all (default).")
    ] = None,
    scope: Scope = "detector",
    device: Device = "auto",
    dtype: Dtype = "fp32",
    size: Size = 640,
    batch: Batch = 1,
    seed: Seed = 0,
    threads: Threads = None,
    warmup: Warmup = 3,
    iters: Iters = None,
    min_time: MinTime = 2.0,
    deploy: Deploy = False,
    channels_last: ChannelsLast = False,
    compile: Compile = False,
    cuda_graphs: CudaGraphs = False,
    flops: Flops = True,
    plots: Plots = True,
    variants_dir: VariantsDir = DEFAULT_VARIANTS_DIR,
    results_dir: ResultsDir = DEFAULT_RESULTS_DIR,
    run_id: RunId = None,
) -> None:
    """Measure several variants interleaved and write the Table 3 mirror under results/."""
    options = {k: v for k, v in locals().items() if k != "variants"}
    _benchmark(variants or ["all"], **options)


@app.command()
@user_errors
def baseline(
    variants: Annotated[
        list[str] | None, typer.Argument(help="Variant names, or all (default).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Baseline file to write.")] = DEFAULT_BASELINE,
    scope: Scope = "detector",
    device: Device = "cpu",
    dtype: Dtype = "fp32",
    size: Size = GATE_SIZE,
    batch: Batch = 1,
    seed: Seed = 0,
    threads: Threads = None,
    warmup: Warmup = 3,
    iters: Iters = GATE_ITERS,
    min_time: MinTime = 2.0,
    deploy: Deploy = False,
    channels_last: ChannelsLast = False,
    compile: Compile = False,
    cuda_graphs: CudaGraphs = False,
    variants_dir: VariantsDir = DEFAULT_VARIANTS_DIR,
) -> None:
    """Measure the regression gate's workload (reduced size) and write a baseline file."""
    options = {k: v for k, v in locals().items() if k not in ("variants", "out", "variants_dir")}
    from rtbench.report.files import write_json

    document = _measure(variants or ["all"], variants_dir, _config(**options, flops=True))
    document["run_id"] = out.stem
    write_json(out, document)
    _print_report(document)
    console.print(f"baseline: {out}", highlight=False)
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
    input. Latency is compared normalized by a calibration workload timed in the same run."""
    from rtbench.gate import compare as gate_compare
    from rtbench.gate import load_results, render
    from rtbench.report.write import write_run

    if not 0 < threshold < 10 or not 0 < alpha < 1:
        raise GateError("--threshold must be in (0, 10) and --alpha in (0, 1)")
    base = load_results(baseline)
    if current is None:
        names = [row["variant"] for row in base["rows"]]
        specs = load_variants(variants_dir)
        present = [name for name in names if name in specs]  # a deleted variant shows as missing
        document = _measure(present, variants_dir, config_from_record(base["config"]))
        console.print(f"current: {write_run(document, results_dir, None, plots=False)}")
    else:
        document = load_results(current)
    report = gate_compare(base, document, threshold, alpha, allow_growth)
    console.print(render(report))
    for warning in report.warnings:
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    verdict = "FAIL: regression" if report.failed else "pass"
    console.print(f"gate: {verdict} (baseline {baseline})", highlight=False)
    if report.failed:
        raise typer.Exit(1)


def _benchmark(names: list[str], variants_dir: Path, results_dir: Path, run_id: str | None,
               plots: bool, **options) -> None:  # fmt: skip
    from rtbench.report.write import write_run

    document = _measure(names, variants_dir, _config(**options))
    run_dir = write_run(document, results_dir, run_id, plots=plots)
    _print_report(document)
    console.print(f"results: {run_dir}", highlight=False)
    _exit_if_failed(document)


def _measure(names: list[str], variants_dir: Path, cfg: BenchConfig) -> dict:
    from rtbench.runner import run_benchmark

    specs = select(load_variants(variants_dir), names)
    with _progress() as progress:
        return run_benchmark(specs, cfg, progress)


def _exit_if_failed(document: dict) -> None:
    failed = [r for r in document["rows"] if r["status"] != "ok"]
    if failed:
        listed = "; ".join(f"{r['variant']}: {r['error']}" for r in failed)
        err_console.print(f"[red]error:[/] {len(failed)} of {len(document['rows'])} variants "
                          f"failed ({listed})", highlight=False)  # fmt: skip
        raise typer.Exit(1)


def _config(device: str, warmup: int, iters: int | None, min_time: float, **options) -> BenchConfig:
    if warmup < 0 or (iters is not None and iters < 1) or min_time <= 0:
        raise BenchError("--warmup must be >= 0, --iters >= 1 and --min-time > 0")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    timing = replace(TimingPlan(), warmup=warmup, iters=iters, min_time_s=min_time)
    return BenchConfig(device=device, timing=timing, **options)


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )


def _print_report(document: dict) -> None:
    from rtbench.report.claims import claims_rich_table, evaluate_claims
    from rtbench.report.table3 import notes, rich_detail_table, rich_table

    console.print(rich_table(document))
    for line in notes(document)[1:]:
        console.print(line, highlight=False, style="dim")
    console.print(rich_detail_table(document))
    console.print(claims_rich_table(evaluate_claims(document)))


def _spec_record(spec) -> dict:
    from dataclasses import asdict

    record = asdict(spec)
    record.pop("source")
    return record


def _count(n: int | None) -> str:
    return "-" if n is None else f"{n:,} ({n / 1e6:.2f}M)"


def main() -> None:  # pragma: no cover - console entry for `python -m rtbench`
    app(prog_name="rtbench", args=sys.argv[1:])
