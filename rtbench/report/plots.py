"""PNG plots of one run: paper AP against latency, and params / GFLOPs / latency per variant.

Figures are drawn on matplotlib's Agg canvas directly (no pyplot, no display, no global backend
switch). A plot with nothing to draw is skipped, not written empty. User text (variant names) is
escaped so that matplotlib never reads it as mathtext.
"""

import math
from io import BytesIO

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from rtbench import results
from rtbench.report.base import Report
from rtbench.report.table3 import table3_frame
from rtbench.report.vocabulary import PAPER_SHORT, describe_run, runtime_label
from rtbench.text import printable

MEASURED, PAPER = "tab:blue", "tab:orange"
SERIES = ("tab:blue", "tab:green", "tab:purple", "tab:red", "tab:brown", "tab:cyan")
MARKERS = ("o", "^", "D", "v", "P", "X")
PAPER_LABEL = f"paper ({PAPER_SHORT})"
DPI = 120
NUMERIC = (
    "paper_ap",
    "params_m",
    "paper_params_m",
    "gflops",
    "latency_median_ms",
    "paper_latency_ms",
)


def plot_files(document: dict) -> dict[str, bytes]:
    """The plots that have data, as PNG bytes by file name. With several runtimes, one
    params/GFLOPs/latency figure per runtime (file name suffixed with the runtime)."""
    runtimes = results.runtimes_of(document)
    figures = {"latency_vs_ap.png": latency_vs_ap(document)}
    for runtime in runtimes:
        suffix = "" if len(runtimes) == 1 else f"-{runtime}"
        figures[f"params_flops_latency{suffix}.png"] = params_flops_latency(document, runtime)
    return {name: png(figure) for name, figure in figures.items() if figure is not None}


def plain(text: str) -> str:
    """User text for a matplotlib label: a "$" would start mathtext, so it is escaped; control
    characters are written as \\xNN (the font has no glyph for them)."""
    return printable(text).replace("$", r"\$")


def latency_vs_ap(document: dict) -> Figure | None:
    """Paper AP (y) against measured and paper latency (x), one labelled point per variant and
    runtime.

    The x axis is logarithmic: measured latency (e.g. ~1 s on a CPU) and the paper's (TensorRT on
    a T4, ~10 ms) differ by up to two orders of magnitude, and on a log axis equal ratios are equal
    distances, so the spread of the series compares directly. Twin x axes would also fit both,
    but their relative offset would be arbitrary and invite wrong readings.
    """
    frames = {}
    for runtime in results.runtimes_of(document):
        frame = _ok_frame(document, runtime)
        frame = frame[frame["paper_ap"].notna() & frame["latency_median_ms"].notna()]
        if not frame.empty:
            frames[runtime] = frame
    if not frames:
        return None
    figure = Figure(figsize=(8, 5.5))
    ax = figure.add_subplot()
    paper_points = {}
    for i, (runtime, frame) in enumerate(frames.items()):
        color = SERIES[i % len(SERIES)]
        ax.errorbar(
            frame["latency_median_ms"],
            frame["paper_ap"],
            xerr=_ci_err(frame, document, runtime),
            fmt=MARKERS[i % len(MARKERS)],
            color=color,
            capsize=3,
            label=plain(f"measured median, 95% CI ({runtime_label(runtime)})"),
        )
        for r in frame.itertuples():
            points = [r.latency_median_ms]
            if not math.isnan(r.paper_latency_ms):
                paper_points[r.variant] = (r.paper_latency_ms, r.paper_ap)
                points.append(r.paper_latency_ms)
                ax.plot(points, [r.paper_ap] * 2, ":", color="0.7", zorder=0)  # pairs the points
            ax.annotate(plain(r.variant), (r.latency_median_ms, r.paper_ap), xytext=(6, 4),
                        textcoords="offset points")  # fmt: skip
    if paper_points:
        xs, ys = zip(*paper_points.values(), strict=True)
        ax.plot(xs, ys, "s", color=PAPER, label=PAPER_LABEL)
        for variant, point in paper_points.items():
            ax.annotate(plain(variant), point, xytext=(6, 4), textcoords="offset points")
    ax.set_xscale("log")
    ax.margins(x=0.15, y=0.1)
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("AP (%), COCO val2017, from the paper")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize="small")
    ax.set_title(plain(f"Paper AP vs latency\n{describe_run(document)}"), fontsize="medium")
    return figure


def params_flops_latency(document: dict, runtime: str) -> Figure | None:
    """Three panels, one unit each: params (measured beside paper), GFLOPs, latency.

    In the latency panel the paper's bars use a right axis scaled so that the reference variant
    (A) has bars of equal height: equal heights then mean equal latency relative to A.
    """
    frame = _ok_frame(document, runtime)
    if frame.empty:
        return None
    ref = frame.attrs.get("reference")
    x = list(range(len(frame)))
    variants = [plain(v) for v in frame["variant"]]
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

    _latency_panel(latency_ax, frame, ref, width, document, runtime)
    for ax in (params_ax, flops_ax, latency_ax):
        ax.set_xticks(x, variants)
        ax.grid(True, axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    title = f"Params, GFLOPs and latency per variant\n{describe_run(document, runtime)}"
    figure.suptitle(plain(title), fontsize="medium")
    figure.tight_layout()
    return figure


def _latency_panel(
    ax, frame: pd.DataFrame, ref: str | None, width: float, document: dict, runtime: str
) -> None:
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
        yerr=_ci_err(frame, document, runtime),
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
        ax.set_title(plain(f"Latency (ms); axes scaled so that {ref}'s two bars are equally tall"))
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


def _ok_frame(document: dict, runtime: str) -> pd.DataFrame:
    """table3_frame's rows that ran, numeric columns as floats (None -> NaN)."""
    frame = table3_frame(document, runtime)
    ok = frame[frame["status"] == "ok"].reset_index(drop=True)
    ok = ok.astype({c: float for c in NUMERIC})
    ok.attrs.update(frame.attrs)
    return ok


def _ci_err(frame: pd.DataFrame, document: dict, runtime: str) -> list[list[float]]:
    """Error bar lengths below and above each median, from the 95% CI (0 where unknown)."""
    ci = {
        r["variant"]: (r.get("latency_ci95_low_ms"), r.get("latency_ci95_high_ms"))
        for r in document["rows"]
        if r["runtime"] == runtime
    }
    below, above = [], []
    for r in frame.itertuples():
        low, high = ci.get(r.variant, (None, None))
        below.append(max(r.latency_median_ms - low, 0) if low is not None else 0)
        above.append(max(high - r.latency_median_ms, 0) if high is not None else 0)
    return [[0 if math.isnan(e) else e for e in side] for side in (below, above)]


def png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


REPORT = Report("plots", files=plot_files, plot=True)
