"""Write one run's folder: results.json first, then every report's files (table3.md gathers the
reports' Markdown sections). Reports render from the document alone, so a rendering failure
never loses a measured figure: it is returned as a warning and the other reports go on."""

import datetime as dt
from pathlib import Path

from rtbench.files import new_run_dir, write_atomic, write_json
from rtbench.report.registry import REPORTS


def default_run_id(document: dict) -> str:
    created = dt.datetime.fromisoformat(document["created"])
    cfg = document["config"]
    return f"{created:%Y%m%d-%H%M%S}-{cfg['scope']}-{cfg['device'].replace(':', '')}"


def write_run(
    document: dict, results_dir: Path, run_id: str | None, plots: bool
) -> tuple[Path, list[str]]:
    """The run folder written, and a warning per report that failed to render."""
    run_dir = new_run_dir(results_dir, run_id or default_run_id(document))
    document["run_id"] = run_dir.name
    write_json(run_dir / "results.json", document)
    warnings, sections = [], []
    for report in REPORTS:
        if report.plot and not plots:
            continue
        try:
            if report.markdown:
                sections.append(report.markdown(document))
            for name, content in (report.files(document) if report.files else {}).items():
                write_atomic(run_dir / name, content)
        except Exception as err:  # noqa: BLE001 - results.json is safe; say which report failed
            warnings.append(f"the {report.name} report could not be written: {err}")
    write_atomic(run_dir / "table3.md", "\n".join(sections))
    return run_dir, warnings


def terminal_report(document: dict) -> list:
    """Every report's terminal renderables, in order."""
    return [item for report in REPORTS if report.terminal for item in report.terminal(document)]
