"""`check`: the latency regression gate, as CI runs it (rtbench.check does the work)."""

from pathlib import Path
from typing import Annotated

import typer

from rtbench.cli.app import app, console, console_text, warning
from rtbench.cli.errors import user_errors
from rtbench.cli.history import Against, baseline_for_check, check_history, record_runs
from rtbench.cli.measuring import CACHE, DEFAULT_BASELINE, measure
from rtbench.cli.options import (
    DEFAULT_HISTORY,
    DEFAULT_RESULTS_DIR,
    HistoryPath,
    ResultsDir,
    VariantsDir,
)
from rtbench.gate import DEFAULT_ALPHA, DEFAULT_THRESHOLD, GateError, Settings
from rtbench.spec import DEFAULT_VARIANTS_DIR


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
    against: Annotated[
        Against,
        typer.Option(help="file: the --baseline file; history: the last stable segment of each "
                     "series in --history (the file's rows where it has none)."),
    ] = Against.file,
    history: HistoryPath = DEFAULT_HISTORY,
) -> None:  # fmt: skip
    """Exit 1 when a variant got slower or bigger than the baseline, 0 otherwise, 2 on unusable
    input. Latency is compared normalized by a calibration workload timed in the same run; when
    measuring, a slower variant is measured again and fails only if the slowdown repeats. A run
    measured here is recorded in the history."""
    from rtbench.check import judge, run_check
    from rtbench.files import check_output_location, write_json
    from rtbench.report.gate import render, verdict_line, warnings
    from rtbench.report.write import write_run
    from rtbench.results import load_results
    from rtbench.spec import load_variants

    if not 0 < threshold < 10 or not 0 < alpha < 1:
        raise GateError("--threshold must be in (0, 10) and --alpha in (0, 1)")
    settings = Settings(threshold, alpha, allow_growth)
    base, label = load_results(baseline), str(baseline)
    given = load_results(current) if current is not None else None
    if against is Against.history:
        base, label = baseline_for_check(base, baseline, history, given)
    if current is None:
        check_output_location(results_dir, None)  # before minutes of measuring, not after
        check_history(history)
        run_dir: Path | None = None

        def measure_and_keep(names: list[str], cfg) -> dict:
            """Each document is written as soon as it is measured: nothing measured is lost."""
            nonlocal run_dir
            if run_dir is not None:
                console.print(console_text(f"confirming a slowdown: measuring {', '.join(names)}"
                                           " again"))  # fmt: skip
            document = measure(names, cfg, variants_dir, results_dir / CACHE)
            if run_dir is None:
                run_dir, notes = write_run(document, results_dir, None, plots=False)
                console.print(console_text(f"current: {run_dir}"))
                for message in notes:
                    warning(message)
            else:
                document["run_id"] = f"{run_dir.name}-confirmation"
                write_json(run_dir / "confirmation.json", document)
                console.print(console_text(f"second measurement: {run_dir / 'confirmation.json'}"))
            return document

        checked = run_check(base, load_variants(variants_dir), measure_and_keep, settings)
    else:
        checked = judge(base, given, None, settings)
    report = checked.report
    console.print(render(report))
    for message in warnings(report):
        warning(message)
    console.print(console_text(verdict_line(report, label)))
    recorded = [
        record_runs(history, [d], source)
        for d, source in ((checked.current, "check"), (checked.again, "confirmation"))
        if d is not None
    ]
    if report.failed:
        raise typer.Exit(1)
    if not all(recorded):
        raise typer.Exit(2)
