"""The baseline `check --against history` gates against: the last stable segment of each series in
the history (rtbench.history.baseline makes it), or the --baseline file where there is none."""

import enum
from pathlib import Path

from rtbench.cli.app import console, console_text


class Against(str, enum.Enum):
    file = "file"
    history = "history"


def baseline_for_check(
    fallback: dict, fallback_path: Path, history: Path, current: dict | None, say=console.print
) -> tuple[dict, str]:
    """The baseline `check --against history` gates against, and how to name it: the last stable
    segment of each series of the --baseline file's rows (on the machine and calibration of
    `current`, else of this machine, measuring now); the file's rows where the history has no
    such series, or no history at all. Notes go to `say` (stderr where stdout is JSON)."""
    from rtbench.history.baseline import history_baseline
    from rtbench.history.series import short_commit
    from rtbench.history.store import document_key, machine_key, read_points

    if not history.is_file():
        say(console_text(f"no history at {history}: gating against {fallback_path}"))
        return fallback, str(fallback_path)
    if current is not None:
        machine, calibration = machine_key(current["environment"]), current["calibration"]["name"]
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
    """The key of this machine's series, and the calibration a run measured now is normalized
    by."""
    import torch

    from rtbench.check import baseline_config
    from rtbench.history.store import machine_key
    from rtbench.measure.calibration import CALIBRATION_NAME
    from rtbench.measure.env import capture_environment
    from rtbench.runner import check_run

    device = torch.device(check_run(baseline_config(fallback)).device)
    return machine_key(capture_environment(device)), CALIBRATION_NAME
