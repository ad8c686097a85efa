"""`run`, `compare`, `baseline` and `export`: measure variants (or export one), write the files,
print the reports. The progress bar is drawn from the runner's events."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from rtbench.cli.app import app, console, console_text, err_console, error, warning
from rtbench.cli.errors import user_errors
from rtbench.cli.options import (
    DEFAULT_HISTORY,
    DEFAULT_RESULTS_DIR,
    HistoryPath,
    Plots,
    Record,
    ResultsDir,
    RunId,
    RunOptions,
    Variants,
    VariantsDir,
    run_options,
)
from rtbench.config import BenchError, RunConfig
from rtbench.measure.apart import in_own_process
from rtbench.runset import MIN_BASELINE_RUNS
from rtbench.spec import DEFAULT_VARIANTS_DIR
from rtbench.text import printable

DEFAULT_BASELINE = DEFAULT_RESULTS_DIR / "baseline-cpu.json"
GATE_SIZE = 256  # the gate runs whole detectors at a reduced size: minutes, not tens of minutes
# The gate's runs: 12 samples a variant (a run's median to about 1%, below the 2-4% runs move
# by), warm-up capped at 1 s a workload (eager CPU models settle in a call or two), forward
# latency only, on one thread (below). A run of the six detectors then takes 40-50 s on a 2-core
# AMD EPYC (about 25 s on its 2 threads).
GATE_ITERS = 12
GATE_WARMUP_S = 1.0
# One thread, where the machine has more cores: the cores left spare take a neighbour's work
# (another CI job, a busy loop) instead of it stealing time from a thread every parallel op waits
# for. On 2 cores beside a busy loop, runs of 2 threads took 5x as long and their figures spread
# 10x as much as idle (nothing decided in 8 minutes); runs of 1 thread moved by under 2% and
# caught E slowed 1.2x in 3 minutes (docs/design.md, "The regression gate").
GATE_THREADS = 1
BASELINE_RUNS = 8  # runs a baseline holds: fewer left 1 check in 5 of unchanged code undecided
CACHE = ".cache"  # exported graphs and engines, inside the results folder, reused across runs


@app.command()
@user_errors
@run_options()
def run(
    variant: Annotated[str, typer.Option("--variant", "-v", help="Variant name, e.g. E.")],
    plots: Plots = False,
    results_dir: ResultsDir = DEFAULT_RESULTS_DIR,
    run_id: RunId = None,
    variants_dir: VariantsDir = DEFAULT_VARIANTS_DIR,
    record: Record = False,
    history: HistoryPath = DEFAULT_HISTORY,
    *,
    options: RunOptions,
) -> None:
    """Measure one variant: params, GMACs/GFLOPs, latency."""
    benchmark([variant], options.config(), variants_dir, results_dir, run_id, plots,
              history if record else None, "run")  # fmt: skip


@app.command()
@user_errors
@run_options()
def compare(
    variants: Variants = None,
    plots: Plots = True,
    results_dir: ResultsDir = DEFAULT_RESULTS_DIR,
    run_id: RunId = None,
    variants_dir: VariantsDir = DEFAULT_VARIANTS_DIR,
    record: Record = False,
    history: HistoryPath = DEFAULT_HISTORY,
    *,
    options: RunOptions,
) -> None:
    """Measure several variants interleaved and write the Table 3 mirror under results/."""
    benchmark(variants or ["all"], options.config(), variants_dir, results_dir, run_id, plots,
              history if record else None, "compare")  # fmt: skip


@app.command()
@user_errors
@run_options(
    device="cpu",
    size=GATE_SIZE,
    iters=GATE_ITERS,
    min_time=GATE_WARMUP_S,
    end_to_end=False,
    threads=GATE_THREADS,
)
def baseline(
    variants: Variants = None,
    out: Annotated[Path, typer.Option(help="Baseline file to write (a run set).")] = (
        DEFAULT_BASELINE),
    runs: Annotated[int, typer.Option(
        min=MIN_BASELINE_RUNS, max=100, help="Runs to measure, each in a process of its own: "
        "the gate compares runs, and their spread is what a check holds a change against.")] = (
        BASELINE_RUNS),
    variants_dir: VariantsDir = DEFAULT_VARIANTS_DIR,
    history: HistoryPath = DEFAULT_HISTORY,
    at: Annotated[str | None, typer.Option(
        "--at", metavar="COMMIT", help="Measure that commit's code instead (checked out apart, "
        "here and now): a check against it is not judged across hours.")] = None,
    *,
    options: RunOptions,
) -> None:  # fmt: skip
    """Measure the regression gate's workload (reduced size) in several runs and write them as a
    baseline; say the smallest slowdown a check against it can catch, and refuse it (exit 1,
    written aside as <out>.refused.json) when that is more than the gate's threshold. The runs
    are recorded in the history, accepted. FLOPs are counted in the first run (the gate compares
    GMACs): --no-flops is refused. With --at, the code of another commit measures it."""
    from functools import partial

    from rtbench.cli.recording import check_history, record_runs
    from rtbench.files import check_output_file, write_json
    from rtbench.gate import DEFAULTS as GATE
    from rtbench.results import run_set
    from rtbench.sensitivity import detectable

    if not options.values["flops"]:  # a baseline without GMACs would let any growth pass
        raise BenchError("--no-flops: a baseline counts FLOPs (the gate compares GMACs); drop it")
    cfg = options.config()
    check_output_file(out, f"--out {out}")  # before minutes of measuring, not after
    check_history(history)
    aside = out.with_name(out.stem + ".refused.json")  # runs that are no baseline: kept here
    if at is not None:
        from rtbench.cli.baseline_at import baseline_at

        given = options.given
        documents = baseline_at(
            at,
            out,
            aside,
            variants,
            runs if "runs" in given else None,
            variants_dir if "variants_dir" in given else None,
            options,
        )
        if not record_runs(history, documents, "baseline", accepted=True):
            raise typer.Exit(1)
        return
    one_run = in_own_process(partial(measure, variants_dir=variants_dir, cache_dir=None))
    documents: list[dict] = []
    complete = False
    try:
        for i in range(1, runs + 1):
            console.print(console_text(f"run {i} of {runs}"))
            cfg_i = cfg if i == 1 else cfg.with_(flops=False)
            documents.append(one_run(variants or ["all"], cfg_i))
            documents[-1]["run_id"] = f"{out.stem}-run-{i}"
            if any(r["status"] != "ok" for r in documents[-1]["rows"]):
                break
        else:
            complete = True
    finally:  # a failed row, Ctrl-C: nothing measured is lost
        if documents and not complete:
            write_json(aside, run_set(documents, documents[0]["created"]))
            console.print(console_text(f"the {len(documents)} run(s) measured: {aside}"))
    exit_if_failed(documents[-1])
    document = run_set(documents, documents[0]["created"])
    print_report(documents[0])
    seen = detectable(documents, GATE)
    blind = {key: change for key, change in seen.items() if change > GATE.threshold}
    for (variant, runtime), change in seen.items():
        console.print(console_text(f"{variant} ({runtime}): a check catches {change:+.1%} or "
                                   f"more (4 times in 5, {GATE.max_runs} runs)"))  # fmt: skip
    if blind:
        write_json(aside, document)
        names = ", ".join(f"{v} ({r}) {c:+.1%}" for (v, r), c in blind.items())
        error(
            f"refused: the runs spread too much to catch a {GATE.threshold:.0%} slowdown "
            f"of {names}; measure on an idle machine, or more runs (written to {aside})"
        )
        raise typer.Exit(1)
    write_json(out, document)
    console.print(console_text(f"baseline: {out} ({runs} runs)"))
    if not record_runs(history, documents, "baseline", accepted=True):
        raise typer.Exit(1)


@app.command()
@user_errors
@run_options(only=("scope", "size", "batch", "seed", "deploy", "base"))
def export(
    variant: Annotated[str, typer.Option("--variant", "-v", help="Variant name, e.g. E.")],
    out: Annotated[Path, typer.Option(help="ONNX file to write.")],
    cells: Annotated[
        bool, typer.Option(help="Detector: also output the selected encoder cells.")
    ] = False,
    check: Annotated[
        bool, typer.Option(help="Run the graph in ONNX Runtime and compare with PyTorch.")
    ] = True,
    variants_dir: VariantsDir = DEFAULT_VARIANTS_DIR,
    *,
    options: RunOptions,
) -> None:
    """Export one variant to ONNX (opset 17, static shapes, fp32), checked by the ONNX checker and
    against PyTorch's outputs, for your own pipeline."""
    from rtbench.spec import load_variants, select

    cfg = options.config().with_(device="cpu")
    spec = select(load_variants(variants_dir), [variant], cfg.base)[0]
    from rtbench.export import export_file  # torch: after every input was checked

    console.print(console_text(export_file(spec, cfg, out, with_cells=cells, check=check)))


def benchmark(
    names: list[str], cfg: RunConfig, variants_dir: Path, results_dir: Path, run_id: str | None,
    plots: bool, history: Path | None = None, source: str = "run",
) -> None:  # fmt: skip
    """`run` and `compare`: measure, write the run folder, print the reports; and record the run
    in `history` as `source` when given."""
    from rtbench.cli.recording import check_history, record_runs
    from rtbench.files import check_output_location

    check_output_location(results_dir, run_id)  # before minutes of measuring, not after
    if history is not None:
        check_history(history)
    document = measure(names, cfg, variants_dir, results_dir / CACHE)
    from rtbench.report.write import write_run  # torch: after the inputs were checked

    run_dir, warnings = write_run(document, results_dir, run_id, plots=plots)
    print_report(document)
    for message in warnings:
        warning(message)
    console.print(console_text(f"results: {run_dir}"))
    recorded = history is None or record_runs(history, [document], source)
    exit_if_failed(document)
    if not recorded:
        raise typer.Exit(1)


def measure(names: list[str], cfg: RunConfig, variants_dir: Path, cache_dir: Path | None) -> dict:
    """Measure the named variants with a progress bar; every option is checked first."""
    from rtbench.spec import load_variants, select

    specs = select(load_variants(variants_dir), names, cfg.base)
    from rtbench.runner import check_run, run_benchmark  # torch: after the specs were read

    cfg = check_run(cfg)  # before the progress bar: a bad option is one line, nothing else
    with progress() as on_event:
        return run_benchmark(specs, cfg, on_event, cache_dir=cache_dir)


@contextmanager
def progress() -> Iterator[Callable]:
    """A transient progress bar on stderr, fed by the runner's events."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=None)

        def on_event(event) -> None:
            # Messages name variants: shown as text (markup=False above), controls made visible.
            bar.update(task, description=printable(event.message), completed=event.done,
                       total=event.total)  # fmt: skip

        yield on_event


def exit_if_failed(document: dict) -> None:
    failed = [r for r in document["rows"] if r["status"] != "ok"]
    if failed:
        listed = "; ".join(f"{r['variant']} ({r['runtime']}): {r['error']}" for r in failed)
        error(f"{len(failed)} of {len(document['rows'])} rows failed ({listed})")
        raise typer.Exit(1)


def print_report(document: dict) -> None:
    from rtbench.report.write import terminal_report

    for item in terminal_report(document):
        console.print(item)
