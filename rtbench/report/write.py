"""Write one run's folder: results.json, table3.md (with the paper-claims report), table3.csv,
table3.tex, and the PNG plots."""

import datetime as dt
from pathlib import Path

from rtbench.report.claims import claims_markdown, evaluate_claims
from rtbench.report.files import new_run_dir, write_atomic, write_json
from rtbench.report.latex import latex_table
from rtbench.report.plots import write_plots
from rtbench.report.table3 import csv_text, markdown


def default_run_id(document: dict) -> str:
    created = dt.datetime.fromisoformat(document["created"])
    cfg = document["config"]
    return f"{created:%Y%m%d-%H%M%S}-{cfg['scope']}-{cfg['device'].replace(':', '')}"


def write_run(document: dict, results_dir: Path, run_id: str | None, plots: bool) -> Path:
    """results.json goes first: if a report fails to render, the figures are already safe."""
    run_dir = new_run_dir(results_dir, run_id or default_run_id(document))
    document["run_id"] = run_dir.name
    write_json(run_dir / "results.json", document)
    claims = claims_markdown(evaluate_claims(document))
    write_atomic(run_dir / "table3.md", markdown(document) + "\n" + claims)
    write_atomic(run_dir / "table3.csv", csv_text(document))
    write_atomic(run_dir / "table3.tex", latex_table(document))
    if plots:
        write_plots(document, run_dir)
    return run_dir
