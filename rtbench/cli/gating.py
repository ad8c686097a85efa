"""`check`: the latency regression gate, as CI runs it (rtbench.check does the work). It speaks
CI's languages too: a JUnit file, a Markdown job summary where $GITHUB_STEP_SUMMARY is set, and
JSON on stdout. Its options and input files are checked before torch is imported."""

import enum
import json
import os
from functools import partial
from pathlib import Path
from typing import Annotated

import typer

from rtbench.cli.app import app, console, console_text, err_console, warning
from rtbench.cli.errors import user_errors
from rtbench.cli.history_baseline import Against, baseline_for_check
from rtbench.cli.measuring import CACHE, DEFAULT_BASELINE, measure
from rtbench.cli.options import (
    DEFAULT_HISTORY,
    DEFAULT_RESULTS_DIR,
    HistoryPath,
    ResultsDir,
    VariantsDir,
)
from rtbench.cli.recording import check_history, record_runs
from rtbench.gate import DEFAULTS, Outcome, Settings
from rtbench.measure.apart import in_own_process
from rtbench.spec import DEFAULT_VARIANTS_DIR

FLAGS = {"threshold": "--threshold", "alpha": "--alpha", "beta": "--beta",
         "max_runs": "--max-runs", "budget_s": "--budget", "session_sd": "--session-sd",
         "session_slope": "--session-slope", "allow_growth": "--allow-growth"}  # fmt: skip


class Format(str, enum.Enum):
    text = "text"
    json = "json"


def _help(name: str) -> str | None:
    return Settings.model_fields[name].description


@app.command()
@user_errors(code=2)
def check(
    current: Annotated[
        Path | None,
        typer.Argument(help="Runs to check (a run set, or one results.json); omitted: measure "
                       "runs now, as the baseline's were."),
    ] = None,
    baseline: Annotated[Path, typer.Option(help="Baseline: a run set (`rtbench baseline`).")] = (
        DEFAULT_BASELINE),
    threshold: Annotated[float, typer.Option(help=_help("threshold"))] = DEFAULTS.threshold,
    alpha: Annotated[float, typer.Option(help=_help("alpha"))] = DEFAULTS.alpha,
    beta: Annotated[float, typer.Option(help=_help("beta"))] = DEFAULTS.beta,
    max_runs: Annotated[int, typer.Option(help=_help("max_runs"))] = DEFAULTS.max_runs,
    budget: Annotated[float, typer.Option(help=_help("budget_s"))] = DEFAULTS.budget_s,
    session_sd: Annotated[float, typer.Option(help=_help("session_sd"))] = DEFAULTS.session_sd,
    session_slope: Annotated[
        float, typer.Option(help=_help("session_slope"))] = DEFAULTS.session_slope,
    allow_growth: Annotated[bool, typer.Option(help=_help("allow_growth"))] = False,
    junit: Annotated[
        Path | None, typer.Option(help="Also write the verdicts as a JUnit XML file.")
    ] = None,
    format: Annotated[Format, typer.Option(
        "--format", help="text (tables), or json (the report on stdout).")] = Format.text,
    variants_dir: VariantsDir = DEFAULT_VARIANTS_DIR,
    results_dir: ResultsDir = DEFAULT_RESULTS_DIR,
    against: Annotated[
        Against,
        typer.Option(help="file: the --baseline file; history: the accepted runs of the last "
                     "stable segment of each series in --history (the file's where it has none)."),
    ] = Against.file,
    history: HistoryPath = DEFAULT_HISTORY,
) -> None:  # fmt: skip
    """Exit 0 when no variant got slower than the threshold or bigger than the baseline, 1 on a
    regression, 3 when the gate cannot tell within its budget (never a pass), 2 on unusable
    input. The unit is the run: runs are measured one at a time, each in a process of its own,
    and compared with the baseline's runs after each, until the evidence decides. Latency is
    normalized by a calibration workload timed in the same run. Runs measured here are recorded
    in the history, accepted when the check passes."""
    from rtbench.files import check_output_file, check_output_location, write_atomic, write_json
    from rtbench.results import load_runs
    from rtbench.spec import load_variants

    settings = Settings.make(FLAGS, threshold=threshold, alpha=alpha, beta=beta,
                             max_runs=max_runs, budget_s=budget, session_sd=session_sd,
                             session_slope=session_slope, allow_growth=allow_growth)  # fmt: skip
    if junit is not None:
        check_output_file(junit, f"--junit {junit}")  # before minutes of measuring, not after
    say = console.print if format is Format.text else err_console.print  # stdout is the JSON's
    base, label = load_runs(baseline), str(baseline)
    given = load_runs(current) if current is not None else None
    specs = None
    if given is None:  # measuring: everything is checked before minutes of it, not after
        specs = load_variants(variants_dir)
        check_output_location(results_dir, None)
        check_history(history)
    # Every input is checked: what needs torch may be imported now.
    from rtbench.check import judge, run_check
    from rtbench.report.gate import (
        as_json,
        junit_xml,
        markdown_summary,
        render,
        verdict_line,
        warnings,
    )
    from rtbench.report.write import write_run

    if against is Against.history:
        base, label = baseline_for_check(base, baseline, history, given, say)
    if given is None:
        kept: list[Path] = []
        one_run = in_own_process(partial(measure, variants_dir=variants_dir,
                                         cache_dir=results_dir / CACHE))  # fmt: skip

        def measure_and_keep(names: list[str], cfg) -> dict:
            """Each run is written as soon as it is measured: nothing measured is lost."""
            say(console_text(f"run {len(kept) + 1}: measuring {', '.join(names)}"))
            document = one_run(names, cfg)
            if not kept:
                run_dir, notes = write_run(document, results_dir, None, plots=False)
                kept.append(run_dir / "results.json")
                for message in notes:
                    warning(message)
            else:
                document["run_id"] = f"{kept[0].parent.name}-run-{len(kept) + 1}"
                kept.append(kept[0].parent / f"run-{len(kept) + 1}.json")
                write_json(kept[-1], document)
            say(console_text(f"run {len(kept)}: {kept[-1]}"))
            return document

        checked = run_check(base, specs, measure_and_keep, settings)
    else:
        checked = judge(base, given, settings)
    report = checked.report
    if format is Format.json:
        typer.echo(json.dumps(as_json(report, label), indent=2))
    else:
        console.print(render(report))
    for message in warnings(report):
        warning(message)
    commit = base[0]["environment"].get("git_commit")
    if report.outcome is Outcome.INCONCLUSIVE and commit and against is Against.file:
        # what decides in any hour: the baseline's code measured now, beside this code's runs
        say(console_text(f"to judge this hour against this hour: rtbench baseline --at "
                         f"{commit[:12]} --out <file>, then check against <file>"))  # fmt: skip
    recorded = True
    if given is None:  # accepted as a reference for later checks only when it passed
        accepted = report.outcome.exit_code == 0
        recorded = record_runs(history, list(checked.runs), "check", say, accepted=accepted)
    if junit is not None:
        write_atomic(junit, junit_xml(report, label))
        say(console_text(f"junit: {junit}"))
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:  # appended, as GitHub asks
            handle.write(markdown_summary(report, label))
    say(console_text(verdict_line(report, label)))
    code = report.outcome.exit_code
    raise typer.Exit(code if code or recorded else 2)  # a history not written: 2
