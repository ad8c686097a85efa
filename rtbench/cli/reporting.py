"""`report`: sweeps and runs merged into one report, measuring nothing; the inputs are read
before the reports (and torch) are imported."""

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from rtbench.cli.app import app, console, console_text, warning
from rtbench.cli.errors import user_errors
from rtbench.cli.options import DEFAULT_RESULTS_DIR, Plots, ResultsDir


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
    html: Annotated[
        bool,
        typer.Option(help="Also write report.html: one self-contained page, interactive plots."),
    ] = False,
) -> None:
    """Merge sweeps and runs into one report (tables, CSV, Parquet, plots), measuring nothing.
    Exit 2 on unusable input, or on runs not measured alike (unless --allow-unlike)."""
    check_inputs(inputs)
    if out is None:
        one_sweep = len(inputs) == 1 and (inputs[0] / "sweep.json").is_file()
        out = (inputs[0] / "report" if one_sweep
               else results_dir / "reports" / f"{dt.datetime.now():%Y%m%d-%H%M%S}")  # fmt: skip
    merged_report(inputs, out, plots, allow_unlike, html)


def check_inputs(inputs: list[Path]) -> None:
    """An error naming the first input that is neither a sweep folder, a run folder nor a results
    file, before the reports (and torch) are imported; collect then reads them for the report."""
    from rtbench.results import ResultsError, load_results
    from rtbench.sweep.store import SweepStore

    for path in inputs:
        if (path / "sweep.json").is_file():
            SweepStore.open(path)
        elif path.is_dir() and not (path / "results.json").is_file():
            raise ResultsError(f"{path}: neither a run folder (results.json) nor a sweep folder")
        else:
            load_results(path / "results.json" if path.is_dir() else path)


def merged_report(
    inputs: list[Path], out: Path, plots: bool, allow_unlike: bool, html: bool = False
) -> None:
    from rtbench.report.merge import check_alike, collect, write_report

    merged = collect(inputs)
    check_alike(merged, allow_unlike)
    renderables, warnings = write_report(merged, out, plots)
    for item in renderables:
        console.print(item)
    for message in warnings:
        warning(message)
    if html:
        from rtbench.files import write_atomic
        from rtbench.report.html import report_page

        write_atomic(out / "report.html", report_page(merged))
    console.print(console_text(f"report: {out}"))
