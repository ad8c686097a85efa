"""The words and number formats every report shares: how a run, a runtime, a device and the
paper's protocol are named, and how a figure or a user's text becomes a table cell."""

import math

from rtbench.runtimes import runtime_label

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
    return (
        f"{cfg['scope']} scope, {cfg['size']}x{cfg['size']}, batch {cfg['batch']}, "
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
    """User text (a variant name, an error) safe inside a Markdown table cell: pipes escaped,
    line breaks made spaces, so it can neither split a cell nor end the row."""
    return " ".join(str(text).replace("\\", "\\\\").replace("|", "\\|").split())


def markdown_table(
    headers: list[str], rows: list[list[str]], left: tuple[str, ...] = ()
) -> list[str]:
    """Lines of a Markdown table; columns named in `left` align left, the others right."""
    align = ["---" if h in left else "---:" for h in headers]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(align) + "|"]
    return lines + ["| " + " | ".join(cells) + " |" for cells in rows]
