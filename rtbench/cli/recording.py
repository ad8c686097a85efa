"""Recording measured runs in the history: what `run`, `compare`, `baseline`, `check` and `sweep`
call, the history checked before minutes of measuring and written after them."""

from pathlib import Path

from rtbench.cli.app import console, console_text, error
from rtbench.config import BenchError


def check_history(history: Path) -> None:
    """OSError in one line when the history could not be written there: checked before
    measuring, so minutes of work are not lost at the end."""
    from rtbench.files import check_output_file

    check_output_file(history, f"--history {history}")


def record_runs(history: Path, documents: list[dict], source: str, say=console.print,
                accepted: bool = False) -> bool:  # fmt: skip
    """Append measured documents to the history, saying where (with `say`); False (the error
    said in one line) when it could not be written: what was measured is in its results files
    already."""
    from rtbench.history.store import record

    if not documents:
        return True
    try:
        # their environment names the branch; `accepted`: references for later checks
        recorded = record(history, documents, source, accepted=accepted)
    except (BenchError, OSError) as err:
        error(f"history not recorded: {err}")
        return False
    say(console_text(f"history: {history} ({recorded.added} run(s) recorded)"))
    return True
