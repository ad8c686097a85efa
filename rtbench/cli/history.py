"""`history`: the series recorded over time and their change points (`rtbench history`), and
results files imported into the history (`rtbench history add`). Also what the measuring
commands call to record a run, and the baseline `check --against history` gates against."""

import enum
import json
from pathlib import Path
from typing import Annotated

import typer

from rtbench.cli.app import app, console, console_text, err_console, error
from rtbench.cli.errors import user_errors
from rtbench.cli.options import DEFAULT_HISTORY, HistoryPath
from rtbench.config import BenchError


class Format(str, enum.Enum):
    md = "md"
    csv = "csv"
    json = "json"


class Against(str, enum.Enum):
    file = "file"
    history = "history"


history_app = typer.Typer(
    help="Latency over time: each series with its latest value and change points (md, csv or "
    "json on stdout); `rtbench history add` imports results files.",
    invoke_without_command=True,
)
app.add_typer(history_app, name="history")


@history_app.callback()
@user_errors
def history(
    context: typer.Context,
    history: HistoryPath = DEFAULT_HISTORY,
    format: Annotated[Format, typer.Option("--format", help="md, csv or json.")] = Format.md,
    html: Annotated[
        Path | None,
        typer.Option(help="Also write the series as one self-contained HTML page (plots).",
                     show_default=False),
    ] = None,
) -> None:  # fmt: skip
    """Each series (variant x runtime x machine x configuration) with its latest value and its
    change points: the first commit after each step, the step's size and its score."""
    if context.invoked_subcommand is not None:
        return
    from rtbench.history.series import find_series
    from rtbench.history.store import read_points

    found = find_series(read_points(history))
    if html is not None:
        from rtbench.files import write_atomic
        from rtbench.report.html import history_page

        write_atomic(html, history_page(found, str(history)))
    if found:
        typer.echo(render(found, format), nl=False)
    else:  # notes on stderr: stdout is the listing, for a file or a pipe
        err_console.print(console_text(f"{history}: no series recorded yet"))
    if html is not None:
        err_console.print(console_text(f"html: {html}"))


@history_app.command("add")
@user_errors
def add(
    files: Annotated[
        list[Path], typer.Argument(help="results.json files (any schema version) or run folders.")
    ],
    history: HistoryPath = DEFAULT_HISTORY,
) -> None:
    """Import results files into the history, with the commit each recorded; a file already
    there is not added twice."""
    from rtbench.history.store import add_files

    paths = [f / "results.json" if f.is_dir() else f for f in files]
    recorded = add_files(history, paths)
    console.print(console_text(f"{history}: {recorded.added} added, {recorded.known} already "
                               "there"))  # fmt: skip


def render(found: list, format: Format) -> str:
    from rtbench.history.series import listing, short_commit, summary

    if format is Format.json:
        return json.dumps([summary(s) for s in found], indent=2) + "\n"
    frame = listing(found)
    if format is Format.csv:
        return frame.to_csv(index=False, float_format="%.6g")
    from rtbench.report.vocabulary import markdown_table, markdown_text

    headers = ["variant", "runtime", "machine", "config", "points", "latest", "latest commit",
               "change at commit", "time", "step", "score"]  # fmt: skip
    rows = []
    for r in frame.to_dict("records"):
        cells = [markdown_text(str(r[k])) for k in ("variant", "runtime", "device_name", "config")]
        cells += [
            str(r["points"]),
            f"{r['latest']:.4f}",
            markdown_text(short_commit(r["latest_commit"])),
        ]
        if isinstance(r["change_time"], str):
            commit = markdown_text(short_commit(r["change_commit"]))
            cells += [commit, r["change_time"][:16], f"{r['step']:+.1%}", f"{r['score']:.1f}"]
        else:
            cells += ["none", "-", "-", "-"]
        rows.append(cells)
    title = "# Latency history: the latest normalized median and the change points of each series"
    return "\n".join([title, "", *markdown_table(headers, rows, tuple(headers[:4])), ""])


# ---------------------------------------------------------------------------- recording


def check_history(history: Path) -> None:
    """OSError in one line when the history could not be written there: checked before
    measuring, so minutes of work are not lost at the end."""
    from rtbench.files import check_output_file

    check_output_file(history, f"--history {history}")


def record_runs(history: Path, documents: list[dict], source: str, say=console.print) -> bool:
    """Append measured documents to the history, saying where (with `say`); False (the error
    said in one line) when it could not be written: what was measured is in its results files
    already."""
    from rtbench.history.store import record

    if not documents:
        return True
    try:
        recorded = record(history, documents, source)  # their environment names the branch
    except (BenchError, OSError) as err:
        error(f"history not recorded: {err}")
        return False
    say(console_text(f"history: {history} ({recorded.added} run(s) recorded)"))
    return True


def baseline_for_check(
    fallback: dict, fallback_path: Path, history: Path, current: dict | None, say=console.print
) -> tuple[dict, str]:
    """The baseline `check --against history` gates against, and how to name it: the last stable
    segment of each series of the --baseline file's rows (on the machine and calibration of
    `current`, else of this machine, measuring now); the file's rows where the history has no
    such series, or no history at all. Notes go to `say` (stderr where stdout is JSON)."""
    from rtbench.history.baseline import history_baseline
    from rtbench.history.series import short_commit
    from rtbench.history.store import document_key, fingerprint, read_points

    if not history.is_file():
        say(console_text(f"no history at {history}: gating against {fallback_path}"))
        return fallback, str(fallback_path)
    if current is not None:
        machine, calibration = fingerprint(current["environment"]), current["calibration"]["name"]
        exclude, config = frozenset({document_key(current)}), current["config"]
    else:
        machine, calibration, config = *_this_machine(fallback), None
        exclude = frozenset()
    made = history_baseline(read_points(history), fallback, fingerprint=machine,
                            calibration=calibration, config=config, exclude=exclude)  # fmt: skip
    if not made.series:
        say(console_text(f"{history} has no series of this workload on this machine: "
                                   f"gating against {fallback_path}"))  # fmt: skip
        return made.document, str(fallback_path)
    for (variant, runtime), s in made.series.items():
        segment, since = s.segment, short_commit(s.segment.iloc[0]["git_commit"])
        say(console_text(f"baseline {variant} ({runtime}): {len(segment)} run(s) of the history "
                         f"since {since} ({len(s.change_points)} change point(s))"))  # fmt: skip
    if made.rows_from_file:
        names = ", ".join(f"{v} ({r})" for v, r in made.rows_from_file)
        say(console_text(f"baseline {names}: from {fallback_path} (no series)"))
    return made.document, f"history {history}"


def _this_machine(fallback: dict) -> tuple[str, str]:
    """This machine's fingerprint, and the calibration a run measured now is normalized by."""
    import torch

    from rtbench.check import baseline_config
    from rtbench.history.store import fingerprint
    from rtbench.measure.calibration import CALIBRATION_NAME
    from rtbench.measure.env import capture_environment
    from rtbench.runner import check_run

    device = torch.device(check_run(baseline_config(fallback)).device)
    return fingerprint(capture_environment(device)), CALIBRATION_NAME
