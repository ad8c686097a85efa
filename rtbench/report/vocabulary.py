"""The words and number formats every report shares: how a run, a runtime, a device and the
paper's protocol are named, and how a figure or a user's text becomes a table cell."""

import math

from rtbench.measure.load import busy_signs, drift_signs
from rtbench.runtimes import runtime_label
from rtbench.text import markdown_escape

PAPER_PROTOCOL = "NVIDIA T4, TensorRT FP16, batch 1, 640x640"
PAPER_SHORT = "T4, TensorRT FP16"

__all__ = ["PAPER_PROTOCOL", "PAPER_SHORT", "runtime_label"]


def form_label(deploy: bool) -> str:
    return "deploy form (BN folded, RepVGG fused)" if deploy else "training form"


def runtimes_label(document: dict) -> str:
    return ", ".join(runtime_label(name) for name in document["config"]["runtimes"])


def device_label(document: dict) -> str:
    """The device's name, its torch name and the thread count: "Xeon ... (cpu, 2 threads)"."""
    cfg, env = document["config"], document["environment"]
    name = env.get("device_name") or cfg["device"]
    return f"{name} ({env.get('device', cfg['device'])}, {env.get('threads', '?')} threads)"


def describe_run(document: dict, runtime: str | None = None) -> str:
    """What ran, where and how, in one phrase: every report's title or caption uses it. With
    `runtime`, the phrase names that runtime only (a per-runtime table of a multi-runtime run)."""
    cfg = document["config"]
    runtimes = runtime_label(runtime) if runtime else runtimes_label(document)
    on = f"base {cfg['base']}, " if cfg.get("base") else ""  # Table 3's designs elsewhere
    return (
        f"{on}{cfg['scope']} scope, {cfg['size']}x{cfg['size']}, batch {cfg['batch']}, "
        f"{cfg['dtype']}, {form_label(cfg['deploy'])}, {runtimes}, on {device_label(document)}"
    )


def cell(value, fmt: str = "{}") -> str:
    """A figure formatted for a table; "-" where it is missing (None or NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return fmt.format(value)


def percent(fraction: float | None, digits: int = 0) -> str:
    return "-" if fraction is None else f"{100 * fraction:+.{digits}f}%"


def markdown_text(text: str) -> str:
    """User text (a variant name, an error) safe in Markdown, a table cell included: it can
    neither split a cell nor end the row (rtbench.text.markdown_escape)."""
    return markdown_escape(text)


def markdown_table(
    headers: list[str], rows: list[list[str]], left: tuple[str, ...] = ()
) -> list[str]:
    """Lines of a Markdown table; columns named in `left` align left, the others right. Headers
    are text (escaped here: some name a variant or a runtime); cells are Markdown already."""
    align = ["---" if h in left else "---:" for h in headers]
    lines = ["| " + " | ".join(map(markdown_escape, headers)) + " |", "|" + "|".join(align) + "|"]
    return lines + ["| " + " | ".join(cells) + " |" for cells in rows]


_BUSY_WORDS = {
    "load_per_core_before": "load {:.2f} per core as it started",
    "others_cpu_fraction": "other processes used {:.0%} of the CPU while it timed",
    "steal_fraction": "the hypervisor took {:.0%} of the CPU (steal)",
}
_DRIFT_WORDS = {
    "calibration_drift": "the calibration's median in the last third of the run was {:.2f}x the "
    "first third's",
    "calibration_spread": "the calibration's IQR was {:.0%} of its median",
}


def load_warnings(record: dict | None) -> list[str]:
    """What a busy machine or a drifting calibration (results.json's `load`, judged by
    rtbench.measure.load) did to a run's figures, a sentence each; none for a quiet run."""
    out = []
    busy = busy_signs(record)
    if busy:
        signs = "; ".join(_BUSY_WORDS[key].format(value) for key, value in busy.items())
        out.append(
            f"the machine was busy ({signs}): latencies are longer and noisier than on an idle "
            "machine, and variants suffer unequally, so ratios between them (and the claims' "
            "marks) can shift by tens of percent; measure again on an idle machine to rely on them"
        )
    drift = drift_signs(record)
    if drift:
        signs = "; ".join(_DRIFT_WORDS[key].format(value) for key, value in drift.items())
        out.append(
            f"the machine's speed changed within the run ({signs}): interleaving spreads the "
            "change over every variant, but medians and their CIs carry it and ratios between "
            "variants are less certain; the x calib column divides it out round by round"
        )
    return out
