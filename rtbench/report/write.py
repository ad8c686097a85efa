"""Write one run's folder: results.json, table3.md, table3.csv (and more reports as they come)."""

import datetime as dt
from pathlib import Path

from rtbench.report.files import new_run_dir, write_atomic, write_json
from rtbench.report.table3 import csv_text, markdown


def default_run_id(document: dict) -> str:
    created = dt.datetime.fromisoformat(document["created"])
    cfg = document["config"]
    return f"{created:%Y%m%d-%H%M%S}-{cfg['scope']}-{cfg['device'].replace(':', '')}"


def write_run(document: dict, results_dir: Path, run_id: str | None, plots: bool) -> Path:
    run_dir = new_run_dir(results_dir, run_id or default_run_id(document))
    document["run_id"] = run_dir.name
    write_json(run_dir / "results.json", document)
    write_atomic(run_dir / "table3.md", markdown(document))
    write_atomic(run_dir / "table3.csv", csv_text(document))
    return run_dir
