"""rtbench command line: list, show, runtimes, run, compare, export, baseline, check, sweep,
report, history.

Commands are thin: they parse options, call plain functions and print. One module per group of
commands (recording.py and history_baseline.py hold what several of them share); each imports
what it uses when it runs, so that `rtbench --help` and `rtbench list` answer without loading
torch or matplotlib, and bad input is refused before torch is imported. The measuring options
are generated from the run configuration's declaration (rtbench.cli.options). Errors a user can
cause are one line and a documented exit code (rtbench.cli.errors); user text is printed as
text, never read as markup.
"""

import sys

# isort: off
from rtbench.cli import info, measuring, gating, sweeping, reporting, history  # noqa: F401 - registers, in order

# isort: on
from rtbench.cli.app import app

__all__ = ["app", "main"]


def main() -> None:  # pragma: no cover - console entry for `python -m rtbench`
    app(prog_name="rtbench", args=sys.argv[1:])
