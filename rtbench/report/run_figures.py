"""The interactive figures of one run in the HTML report: latency per variant with its 95% CI
(forward, and end to end where timed), the paper's AP against the measured latency beside the
paper's own (Figure 1 / Table 3 as a plot), and the ratios to A with their error bars.

Every latency drawn carries its 95% CI of the median as an error bar: a bar without one reads as
more certain than a shared machine allows. Plotly reads a subset of HTML in labels, so every user
text goes through `esc`.
"""

import pandas as pd

from rtbench import results
from rtbench.report import runtimes
from rtbench.report.vocabulary import PAPER_SHORT, runtime_label
from rtbench.text import html_escape as esc

PAPER_COLOR = "#999"


def latency_figure(go, document: dict):
    """Median latency per variant and runtime, 95% CI as error bars; end to end beside it."""
    fig = go.Figure()
    for rt in results.runtimes_of(document):
        rows = results.ok_rows(document, rt)
        names = [esc(r["variant"]) for r in rows]
        fig.add_bar(x=names, y=[r["latency_median_ms"] for r in rows],
                    error_y=_error(rows, "latency_median_ms", "latency_ci95_low_ms",
                                   "latency_ci95_high_ms"),
                    name=esc(f"{runtime_label(rt)}: forward"),
                    hovertemplate="%{x}: %{y:.2f} ms")  # fmt: skip
        e2e = [(r, r.get("latency_end_to_end") or {}) for r in rows]
        e2e = [(r, e) for r, e in e2e if e.get("median_ms") is not None]
        if e2e:
            fig.add_bar(x=[esc(r["variant"]) for r, _ in e2e],
                        y=[e["median_ms"] for _, e in e2e],
                        error_y=_error([e for _, e in e2e], "median_ms", "ci95_low_ms",
                                       "ci95_high_ms"),
                        name=esc(f"{runtime_label(rt)}: end to end"),
                        hovertemplate="%{x}: %{y:.2f} ms")  # fmt: skip
    fig.update_layout(barmode="group", title="Latency per variant: median, 95% CI as error bars",
                      yaxis_title="latency, median ms")  # fmt: skip
    return fig


def ap_latency_figure(go, document: dict):
    """The paper's AP (y) against latency (x, log: equal ratios are equal distances), measured
    with its 95% CI per runtime beside the paper's; None when no row has a paper AP."""
    fig = go.Figure()
    paper = {}
    for rt in results.runtimes_of(document):
        rows = [r for r in results.ok_rows(document, rt) if r.get("paper_ap") is not None]
        if not rows:
            continue
        fig.add_scatter(x=[r["latency_median_ms"] for r in rows], y=[r["paper_ap"] for r in rows],
                        mode="markers+text", text=[esc(r["variant"]) for r in rows],
                        textposition="top right", name=esc(f"measured ({runtime_label(rt)})"),
                        error_x=_error(rows, "latency_median_ms", "latency_ci95_low_ms",
                                       "latency_ci95_high_ms"),
                        hovertemplate="%{text}: %{x:.2f} ms, AP %{y}")  # fmt: skip
        paper.update({r["variant"]: (r["paper_latency_ms"], r["paper_ap"])
                      for r in rows if r.get("paper_latency_ms") is not None})  # fmt: skip
    if not fig.data:
        return None
    if paper:
        names = list(paper)
        fig.add_scatter(x=[paper[v][0] for v in names], y=[paper[v][1] for v in names],
                        mode="markers+text", text=[esc(v) for v in names],
                        textposition="top right", name=esc(f"paper ({PAPER_SHORT})"),
                        marker={"symbol": "square", "color": PAPER_COLOR},
                        hovertemplate="%{text}: %{x:.2f} ms, AP %{y}")  # fmt: skip
    fig.update_xaxes(type="log", title="latency, ms (log scale)")
    fig.update_yaxes(title="AP (%), COCO val2017, from the paper")
    fig.update_layout(title="Paper AP vs latency: measured (95% CI) beside the paper's")
    return fig


def ratio_figure(go, document: dict):
    """Each runtime's latency ratio to A per variant, the variant's CI over A's median as error
    bars, beside the paper's ratios."""
    frame = runtimes.comparison_frame(document)
    names = [esc(v) for v in frame["variant"]]
    fig = go.Figure()
    for rt in results.runtimes_of(document):
        below, above = runtimes.ratio_errors(frame, rt)
        fig.add_bar(x=names, y=frame[f"{rt}_ratio"], name=esc(runtime_label(rt)),
                    error_y={"type": "data", "symmetric": False, "array": above,
                             "arrayminus": below},
                    customdata=frame[f"{rt}_ms"], hovertemplate="%{x}: %{y:.2f} x A, "
                    "%{customdata:.2f} ms")  # fmt: skip
    if frame["paper_ratio"].notna().any():
        fig.add_bar(x=names, y=frame["paper_ratio"], name=esc(f"paper ({PAPER_SHORT})"),
                    marker_color=PAPER_COLOR, hovertemplate="%{x}: %{y:.2f} x A")  # fmt: skip
    fig.update_layout(
        barmode="group",
        title="Latency relative to A, per runtime",
        yaxis_title="latency / A (error bars: the variant's 95% CI / A's median)",
    )
    return fig


def _error(records: list[dict], median: str, low: str, high: str) -> dict:
    """A plotly error bar from each record's CI (0 where unknown)."""
    below = [_gap(r.get(median), r.get(low)) for r in records]
    above = [_gap(r.get(high), r.get(median)) for r in records]
    return {"type": "data", "symmetric": False, "array": above, "arrayminus": below}


def _gap(a, b) -> float:
    return 0.0 if a is None or b is None or pd.isna(a) or pd.isna(b) else max(a - b, 0.0)
