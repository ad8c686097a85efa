"""The baseline `check --against history` gates against: the accepted runs of the history since
the last change point (rtbench.history.baseline makes them), or the --baseline file's runs where
there are too few."""

import enum
from pathlib import Path

from rtbench.cli.app import console, console_text


class Against(str, enum.Enum):
    file = "file"
    history = "history"


def baseline_for_check(
    fallback: list[dict], fallback_path: Path, history: Path, current: list[dict] | None,
    say=console.print,
) -> tuple[list[dict], str]:  # fmt: skip
    """The baseline runs `check --against history` gates against, and how to name them: the
    accepted runs of the history since the last change point of the --baseline file's rows (on
    the machine and calibration of `current`, else of this machine, measuring now); the file's
    runs where there are too few, or no history at all. Notes go to `say` (stderr where stdout is
    JSON)."""
    from rtbench.history.baseline import history_baseline
    from rtbench.history.series import short_commit
    from rtbench.history.store import document_key, machine_key, read_points

    if not history.is_file():
        say(console_text(f"no history at {history}: gating against {fallback_path}"))
        return fallback, str(fallback_path)
    if current is not None:
        first = current[0]
        machine, calibration = machine_key(first["environment"]), first["calibration"]["name"]
        exclude, config = frozenset(map(document_key, current)), first["config"]
    else:
        machine, calibration, config = *_this_machine(fallback), None
        exclude = frozenset()
    made = history_baseline(read_points(history), fallback, fingerprint=machine,
                            calibration=calibration, config=config, exclude=exclude)  # fmt: skip
    if not made.from_history:
        say(console_text(f"{history}: {made.why_not}: gating against {fallback_path}"))
        return made.runs, str(fallback_path)
    since = short_commit(made.runs[0]["environment"].get("git_commit"))
    changes = sum(len(s.change_points) for s in made.series.values())
    say(console_text(f"baseline: {len(made.runs)} accepted run(s) of the history since {since} "
                     f"({changes} change point(s) in its series)"))  # fmt: skip
    return made.runs, f"history {history}"


def _this_machine(fallback: list[dict]) -> tuple[str, str]:
    """The key of this machine's series, and the calibration a run measured now is normalized
    by."""
    import torch

    from rtbench.check import baseline_config
    from rtbench.history.store import machine_key
    from rtbench.measure.calibration import calibration_plan
    from rtbench.measure.env import capture_environment
    from rtbench.runner import check_run

    device = torch.device(check_run(baseline_config(fallback)).device)
    return machine_key(capture_environment(device)), calibration_plan(device).name
