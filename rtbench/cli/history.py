"""`history`: the series recorded over time, each once with its change points (`rtbench history`),
and results files imported into the history (`rtbench history add`). Runs are recorded by the
measuring commands through rtbench.cli.recording; `check --against history` gets its baseline
from rtbench.cli.history_baseline."""

import enum
import json
from pathlib import Path
from typing import Annotated

import typer

from rtbench.cli.app import app, console, console_text, err_console
from rtbench.cli.errors import user_errors
from rtbench.cli.options import DEFAULT_HISTORY, HistoryPath
from rtbench.text import printable


class Format(str, enum.Enum):
    md = "md"
    csv = "csv"
    json = "json"


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
    """Each series (variant x runtime x machine x configuration) once, with its latest value and
    its change points: in md and csv how many and the last one (the first commit after the step,
    the step's size and its score), in json and --html every one."""
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
    accept: Annotated[bool, typer.Option(
        "--accept", help="Accept them as references for `check --against history`.")] = False,
) -> None:  # fmt: skip
    """Import results files into the history, with the commit each recorded; a file already
    there is not added twice."""
    from rtbench.history.store import add_files

    paths = [f / "results.json" if f.is_dir() else f for f in files]
    recorded = add_files(history, paths, accepted=accept)
    console.print(console_text(f"{history}: {recorded.added} added, {recorded.known} already "
                               "there"))  # fmt: skip


@history_app.command("accept")
@user_errors
def accept(
    commit: Annotated[str, typer.Argument(help="The commit (4 hex digits or more) whose runs to "
                                          "accept.")],
    history: HistoryPath = DEFAULT_HISTORY,
) -> None:  # fmt: skip
    """Accept every recorded run of a commit as a reference for `check --against history`: a
    change meant to alter speed, whose check failed. Baselines and passing checks are accepted
    when recorded; nothing else is."""
    from rtbench.history.store import accept as accept_commit

    full, count = accept_commit(history, commit)
    console.print(console_text(f"{history}: {count} run(s) of {full[:12]} accepted"))


def render(found: list, format: Format) -> str:
    """The listing: every change point in JSON; in CSV and Markdown one row per series, with its
    count of change points and the last one (the start of the segment the gate compares with)."""
    from rtbench.history.series import listing, short_commit, summary

    if format is Format.json:
        return json.dumps([summary(s) for s in found], indent=2) + "\n"
    frame = listing(found)
    if format is Format.csv:
        text = frame.map(lambda x: printable(x) if isinstance(x, str) else x)  # no ESC out
        return text.to_csv(index=False, float_format="%.6g")
    from rtbench.report.vocabulary import markdown_table, markdown_text

    headers = ["variant", "runtime", "machine", "config", "points", "latest", "latest commit",
               "change points", "last change at commit", "time", "step", "score"]  # fmt: skip
    rows = []
    for r in frame.to_dict("records"):
        cells = [markdown_text(str(r[k])) for k in ("variant", "runtime", "device_name", "config")]
        latest_commit = markdown_text(short_commit(r["latest_commit"]))
        cells += [str(r["points"]), f"{r['latest']:.4f}", latest_commit, str(r["change_points"])]
        if r["change_points"]:
            commit = markdown_text(short_commit(r["change_commit"]))
            cells += [commit, r["change_time"][:16], f"{r['step']:+.1%}", f"{r['score']:.1f}"]
        else:
            cells += ["none", "-", "-", "-"]
        rows.append(cells)
    title = ("# Latency history: each series' latest normalized median and its last change point "
             "(all of them: --format json or --html)")  # fmt: skip
    return "\n".join([title, "", *markdown_table(headers, rows, tuple(headers[:4])), ""])
