"""PNG plots of one run: paper AP against latency, and params / GFLOPs / latency per variant.

Figures are drawn on matplotlib's Agg canvas directly (no pyplot, no display, no global backend
switch) and written atomically. A plot with nothing to draw is skipped, not written empty.
"""

import math
from io import BytesIO
from pathlib import Path

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from rtbench.report.files import write_atomic
from rtbench.report.table3 import describe_run, runtime, table3_frame

MEASURED, PAPER = "tab:blue", "tab:orange"
PAPER_LABEL = "paper (T4, TensorRT FP16)"
DPI = 120
NUMERIC = (
    "paper_ap",
    "params_m",
    "paper_params_m",
    "gflops",
    "latency_median_ms",
    "paper_latency_ms",
)


def write_plots(document: dict, run_dir: Path) -> list[Path]:
    """Write the plots that have data into run_dir; the paths written."""
    written = []
    for name, draw in (
        ("latency_vs_ap.png", latency_vs_ap),
        ("params_flops_latency.png", params_flops_latency),
    ):
        figure = draw(document)
        if figure is None:
            continue
        path = run_dir / name
        write_atomic(path, _png(figure))
        written.append(path)
    return written


def latency_vs_ap(document: dict) -> Figure | None:
    """Paper AP (y) against measured and paper latency (x), one labelled point per variant.

    The x axis is logarithmic: measured latency (PyTorch, e.g. ~1 s on a CPU) and the paper's
    (TensorRT on a T4, ~10 ms) differ by up to two orders of magnitude, and on a log axis equal
    ratios are equal distances, so the spread of the two series compares directly. Twin x axes
    would also fit both, but their relative offset would be arbitrary and invite wrong readings.
    """
    frame = _ok_frame(document)
    frame = frame[frame["paper_ap"].notna() & frame["latency_median_ms"].notna()]
    if frame.empty:
        return None
    figure = Figure(figsize=(8, 5.5))
    ax = figure.add_subplot()
    ax.errorbar(
        frame["latency_median_ms"],
        frame["paper_ap"],
        xerr=_ci_err(frame, document),
        fmt="o",
        color=MEASURED,
        capsize=3,
        label=f"measured median, 95% CI ({_device(document)})",
    )
    paper = frame[frame["paper_latency_ms"].notna()]
    ax.plot(paper["paper_latency_ms"], paper["paper_ap"], "s", color=PAPER, label=PAPER_LABEL)
    for r in frame.itertuples():
        points = [r.latency_median_ms]
        if not math.isnan(r.paper_latency_ms):
            points.append(r.paper_latency_ms)
            ax.plot(points, [r.paper_ap] * 2, ":", color="0.7", zorder=0)  # pairs the two points
        for x in points:
            ax.annotate(r.variant, (x, r.paper_ap), xytext=(6, 4), textcoords="offset points")
    ax.set_xscale("log")
    ax.margins(x=0.15, y=0.1)
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("AP (%), COCO val2017, from the paper")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize="small")
    ax.set_title(f"Paper AP vs latency\n{describe_run(document)}", fontsize="medium")
    return figure


def params_flops_latency(document: dict) -> Figure | None:
    """Three panels, one unit each: params (measured beside paper), GFLOPs, latency.

    In the latency panel the paper's bars use a right axis scaled so that the reference variant
    (A) has bars of equal height: equal heights then mean equal latency relative to A.
    """
    frame = _ok_frame(document)
    if frame.empty:
        return None
    ref = frame.attrs.get("reference")
    x = list(range(len(frame)))
    variants = list(frame["variant"])
    width = 0.4
    figure = Figure(figsize=(15, 5))
    params_ax, flops_ax, latency_ax = figure.subplots(1, 3)

    paired = frame["paper_params_m"].notna().any()
    shift = width / 2 if paired else 0
    bars = params_ax.bar(
        [i - shift for i in x], frame["params_m"], width, color=MEASURED, label="measured"
    )
    _label(params_ax, bars, frame["params_m"], "{:.1f}")
    if paired:
        bars = params_ax.bar(
            [i + shift for i in x],
            frame["paper_params_m"],
            width,
            color=PAPER,
            label="paper (truncated to whole M)",
        )
        _label(params_ax, bars, frame["paper_params_m"], "{:.0f}")
    params_ax.set_title("#Params (M)")
    _legend_below(params_ax)

    if frame["gflops"].notna().any():
        bars = flops_ax.bar(x, frame["gflops"], width, color=MEASURED)
        _label(flops_ax, bars, frame["gflops"], "{:.1f}")
    else:
        flops_ax.text(
            0.5, 0.5, "FLOPs not counted in this run", ha="center", transform=flops_ax.transAxes
        )
    flops_ax.set_title("GFLOPs (2 x multiply-adds)")

    _latency_panel(latency_ax, frame, ref, width, document)
    for ax in (params_ax, flops_ax, latency_ax):
        ax.set_xticks(x, variants)
        ax.grid(True, axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    figure.suptitle(
        f"Params, GFLOPs and latency per variant\n{describe_run(document)}", fontsize="medium"
    )
    figure.tight_layout()
    return figure


def _latency_panel(ax, frame: pd.DataFrame, ref: str | None, width: float, document: dict) -> None:
    """Measured median (left axis) beside the paper's latency (right axis, when known)."""
    paper = frame["paper_latency_ms"].notna().any()
    shift = width / 2 if paper else 0
    x = list(range(len(frame)))
    ax.set_title("Latency (ms)")
    if frame["latency_median_ms"].isna().all():
        ax.text(0.5, 0.5, "latency not measured", ha="center", transform=ax.transAxes)
        return
    bars = ax.bar(
        [i - shift for i in x],
        frame["latency_median_ms"].fillna(0),
        width,
        yerr=_ci_err(frame, document),
        capsize=3,
        color=MEASURED,
        label="measured median, 95% CI (ms, left axis)",
    )
    _label(ax, bars, frame["latency_median_ms"], "{:.0f}", inside=True)
    ax.set_ylabel("measured latency (ms)", color=MEASURED)
    if not paper:
        _legend_below(ax)
        return
    right = ax.twinx()
    bars = right.bar(
        [i + shift for i in x],
        frame["paper_latency_ms"].fillna(0),
        width,
        color=PAPER,
        label=f"{PAPER_LABEL} (ms, right axis)",
    )
    _label(right, bars, frame["paper_latency_ms"], "{:.1f}", inside=True)
    right.set_ylabel("paper latency (ms)", color=PAPER)
    row = frame[frame["variant"] == ref]
    known = row[["latency_median_ms", "paper_latency_ms"]].notna().all(axis=None)
    if not row.empty and known:
        # Paper ms per measured ms at the reference; the same scale on both axes from 0.
        scale = row["paper_latency_ms"].iloc[0] / row["latency_median_ms"].iloc[0]
        top = max(ax.get_ylim()[1], right.get_ylim()[1] / scale)
        ax.set_ylim(0, top)
        right.set_ylim(0, top * scale)
        ax.set_title(f"Latency (ms); axes scaled so that {ref}'s two bars are equally tall")
    _legend_below(ax, extra=right)


def _label(ax, bars, values: pd.Series, fmt: str, inside: bool = False) -> None:
    """Value labels on bars; none on a missing figure (drawn as an empty bar)."""
    labels = ["" if pd.isna(v) else fmt.format(v) for v in values]
    style = {"label_type": "center", "rotation": 90, "color": "white"} if inside else {}
    ax.bar_label(bars, labels=labels, fontsize="x-small", **style)


def _legend_below(ax, extra=None) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if extra is not None:
        more = extra.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.08), fontsize="small")


def _ok_frame(document: dict) -> pd.DataFrame:
    """table3_frame's rows that ran, numeric columns as floats (None -> NaN)."""
    frame = table3_frame(document)
    ok = frame[frame["status"] == "ok"].reset_index(drop=True)
    ok = ok.astype({c: float for c in NUMERIC})
    ok.attrs.update(frame.attrs)
    return ok


def _ci_err(frame: pd.DataFrame, document: dict) -> list[list[float]]:
    """Error bar lengths below and above each median, from the 95% CI (0 where unknown)."""
    ci = {
        r["variant"]: (r.get("latency_ci95_low_ms"), r.get("latency_ci95_high_ms"))
        for r in document["rows"]
    }
    below, above = [], []
    for r in frame.itertuples():
        low, high = ci.get(r.variant, (None, None))
        below.append(max(r.latency_median_ms - low, 0) if low is not None else 0)
        above.append(max(high - r.latency_median_ms, 0) if high is not None else 0)
    return [[0 if math.isnan(e) else e for e in side] for side in (below, above)]


def _device(document: dict) -> str:
    env, cfg = document["environment"], document["config"]
    return f"{env.get('device_name', cfg['device'])}, {runtime(cfg)}"


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()
