"""`check`: the latency regression gate, as CI runs it (rtbench.check does the work). It speaks
CI's languages too: a JUnit file, a Markdown job summary where $GITHUB_STEP_SUMMARY is set, and
JSON on stdout. Its options and input files are checked before torch is imported."""

import enum
import json
import os
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel, ConfigDict, Field, ValidationError

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
from rtbench.gate import DEFAULT_ALPHA, DEFAULT_THRESHOLD, GateError, Settings
from rtbench.spec import DEFAULT_VARIANTS_DIR
from rtbench.text import quote


class Format(str, enum.Enum):
    text = "text"
    json = "json"


class CheckOptions(BaseModel):
    """The gate's settings and the output format as the command line takes them, declared with
    their limits (rtbench.gate's Settings, a plain dataclass, declares none)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    threshold: float = Field(DEFAULT_THRESHOLD, gt=0, lt=10, allow_inf_nan=False,
                             description="Smallest slowdown (fraction) that fails.")  # fmt: skip
    alpha: float = Field(DEFAULT_ALPHA, gt=0, lt=1, allow_inf_nan=False,
                         description="Mann-Whitney significance.")  # fmt: skip
    allow_growth: bool = Field(False, description="Let params and GMACs grow.")
    format: Format = Field(Format.text, description="text (tables), or json (the report on "
                           "stdout).")  # fmt: skip

    @classmethod
    def make(cls, **values) -> "CheckOptions":
        """The options, or GateError in one line (exit 2), worded as `check` always said it (CI
        scripts match on it) from the declared limits and choices."""
        try:
            return cls(**values)
        except ValidationError as err:
            name = err.errors()[0]["loc"][0]
        if name == "format":
            choices = ", ".join(f.value for f in Format)
            raise GateError(f"--format {quote(values['format'])}: choose from {choices}")
        raise GateError(f"--threshold must be in {_range('threshold')} and --alpha in "
                        f"{_range('alpha')}")  # fmt: skip

    def settings(self) -> Settings:
        return Settings(self.threshold, self.alpha, self.allow_growth)


def _range(name: str) -> str:
    """A declared open interval as people write it: (0, 10)."""
    metadata = CheckOptions.model_fields[name].metadata  # annotated_types' Gt and Lt
    low = next(m.gt for m in metadata if hasattr(m, "gt"))
    high = next(m.lt for m in metadata if hasattr(m, "lt"))
    return f"({low:g}, {high:g})"


def _help(name: str) -> str | None:
    return CheckOptions.model_fields[name].description


@app.command()
@user_errors(code=2)
def check(
    current: Annotated[
        Path | None,
        typer.Argument(help="results.json to check; omitted: measure now, as the baseline was."),
    ] = None,
    baseline: Annotated[Path, typer.Option(help="Baseline results file.")] = DEFAULT_BASELINE,
    threshold: Annotated[float, typer.Option(help=_help("threshold"))] = DEFAULT_THRESHOLD,
    alpha: Annotated[float, typer.Option(help=_help("alpha"))] = DEFAULT_ALPHA,
    allow_growth: Annotated[bool, typer.Option(help=_help("allow_growth"))] = False,
    junit: Annotated[
        Path | None, typer.Option(help="Also write the verdicts as a JUnit XML file.")
    ] = None,
    format: Annotated[str, typer.Option("--format", help=_help("format"))] = Format.text.value,
    variants_dir: VariantsDir = DEFAULT_VARIANTS_DIR,
    results_dir: ResultsDir = DEFAULT_RESULTS_DIR,
    against: Annotated[
        Against,
        typer.Option(help="file: the --baseline file; history: the last stable segment of each "
                     "series in --history (the file's rows where it has none)."),
    ] = Against.file,
    history: HistoryPath = DEFAULT_HISTORY,
) -> None:  # fmt: skip
    """Exit 0 when no variant got slower or bigger than the baseline, 1 on a regression, 3 when
    the gate cannot tell (check again on an idle machine), 2 on unusable input. Latency is
    compared normalized by a calibration workload timed in the same run; when measuring, a
    slower variant is measured again and fails only if the slowdown repeats. A run measured here
    is recorded in the history."""
    from rtbench.files import check_output_file, check_output_location, write_atomic, write_json
    from rtbench.results import load_results
    from rtbench.spec import load_variants

    chosen = CheckOptions.make(threshold=threshold, alpha=alpha, allow_growth=allow_growth,
                               format=format)  # fmt: skip
    settings, format = chosen.settings(), chosen.format
    if junit is not None:
        check_output_file(junit, f"--junit {junit}")  # before minutes of measuring, not after
    say = console.print if format is Format.text else err_console.print  # stdout is the JSON's
    base, label = load_results(baseline), str(baseline)
    given = load_results(current) if current is not None else None
    specs = None
    if current is None:  # measuring: everything is checked before minutes of it, not after
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
    if current is None:
        run_dir: Path | None = None
        again: list[Path] = []

        def measure_and_keep(names: list[str], cfg) -> dict:
            """Each document is written as soon as it is measured: nothing measured is lost."""
            nonlocal run_dir
            if run_dir is not None:
                say(console_text(f"measuring {', '.join(names)} again"))
            document = measure(names, cfg, variants_dir, results_dir / CACHE)
            if run_dir is None:
                run_dir, notes = write_run(document, results_dir, None, plots=False)
                say(console_text(f"current: {run_dir}"))
                for message in notes:
                    warning(message)
            else:
                name = "confirmation" + (f"-{len(again) + 1}" if again else "")
                document["run_id"] = f"{run_dir.name}-{name}"
                again.append(run_dir / f"{name}.json")
                write_json(again[-1], document)
                say(console_text(f"measured again: {again[-1]}"))
            return document

        checked = run_check(base, specs, measure_and_keep, settings)
    else:
        checked = judge(base, given, None, settings)
    report = checked.report
    if format is Format.json:
        typer.echo(json.dumps(as_json(report, label), indent=2))
    else:
        console.print(render(report))
    for message in warnings(report):
        warning(message)
    recorded = [record_runs(history, [d], source, say) for d, source in
                ((checked.current, "check"), *((d, "confirmation") for d in checked.again))
                if d is not None]  # fmt: skip
    if junit is not None:
        write_atomic(junit, junit_xml(report, label))
        say(console_text(f"junit: {junit}"))
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:  # appended, as GitHub asks
            handle.write(markdown_summary(report, label))
    say(console_text(verdict_line(report, label)))
    code = report.outcome.exit_code
    raise typer.Exit(code if code or all(recorded) else 2)  # a history not written: 2
