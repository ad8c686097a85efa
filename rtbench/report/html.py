"""One self-contained HTML page: `rtbench report --html` (runs and sweeps: the Table 3 mirror, the
runtimes side by side, how cost grows) and `rtbench history --html` (each series over time, its
change points marked). Plots are plotly figures, interactive where it helps (the figures under
the pointer, zoom, a click on a legend entry hides that variant), and plotly.js is embedded in
the page, so that it opens anywhere with no network.

User text (variant names, errors, device names, branches, labels) is HTML-escaped wherever it
appears, in plot labels too: plotly reads a subset of HTML in its labels, and shows an escaped
character as the character itself.
"""

import pandas as pd

from rtbench import results
from rtbench.config import BenchError
from rtbench.history.series import short_commit
from rtbench.report import merge, run_figures, runtimes, scaling, table3
from rtbench.text import first_line, html_escape

PLOT_CONFIG = {"displaylogo": False, "responsive": True}
CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; }
th { background: #f2f2f2; } td.r { text-align: right; } td.l { text-align: left; }
tr.error td { color: #b00; } .note { color: #555; font-size: 0.9em; } .warn { color: #a60; }
details { margin: 0.8em 0; } summary { font-weight: bold; cursor: pointer; }
.figure { margin: 0.5em 0 1.5em; }
"""


def esc(text: object) -> str:
    """User text as HTML text: never markup, in the page or in a plot's labels."""
    return html_escape(text)


def graph_objects():
    """plotly.graph_objects; BenchError in one line where plotly is not installed."""
    try:
        import plotly.graph_objects
    except ImportError:
        raise BenchError(
            "--html needs plotly, which is not installed (pip install plotly)"
        ) from None
    return plotly.graph_objects


def page(title: str, body: list[str]) -> str:
    """The whole page: the styles and plotly.js inline, then `body` (HTML fragments)."""
    graph_objects()  # one line, not a traceback, where plotly is missing
    from plotly.offline import get_plotlyjs

    return "\n".join(["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
                      f"<title>{esc(title)}</title>", f"<style>{CSS}</style>",
                      f"<script>{get_plotlyjs()}</script>", "</head>", "<body>",
                      f"<h1>{esc(title)}</h1>", *body, "</body>", "</html>", ""])  # fmt: skip


def figure(fig) -> str:
    fig.update_layout(template="plotly_white", margin={"t": 60, "b": 50}, height=430)
    div = fig.to_html(full_html=False, include_plotlyjs=False, config=PLOT_CONFIG)
    return f'<div class="figure">{div}</div>'


def table(headers: list[str], rows: list[list[str]], left: tuple[str, ...] = (),
          errors: list[bool] | None = None) -> str:  # fmt: skip
    """A table of text cells (escaped here); `left` names the columns aligned left."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cells = "".join(f'<td class="{"l" if h in left else "r"}">{esc(c)}</td>'
                        for h, c in zip(headers, row, strict=True))  # fmt: skip
        css = ' class="error"' if errors and errors[i] else ""
        body.append(f"<tr{css}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _notes(lines: list[str]) -> str:
    items = "".join(f"<li>{esc(line.removeprefix('- '))}</li>" for line in lines)
    return f'<ul class="note">{items}</ul>'


# ---------------------------------------------------------------------------- runs and sweeps


def report_page(merged: "merge.Merged") -> str:
    """The merged report of runs and sweep points as one page."""
    frame = merge.long_table(merged)
    body = [f"<p>{esc(merge.describe_alike(merged, frame))}</p>"]
    body += [f'<p class="warn">warning: {esc(w)}</p>' for w in merged.warnings]
    if merged.missing:
        body += ["<h2>Missing points</h2>",
                 table(["point", "status", "why"], [[m.label, m.status, m.reason]
                       for m in merged.missing], ("point", "status", "why"))]  # fmt: skip
    body.append("<h2>Runs: the Table 3 mirror and the runtimes side by side</h2>")
    for source in merged.sources:
        try:
            section = _mirror(source.document) + _runtimes(source.document)
        except Exception as err:  # noqa: BLE001 - the other runs and plots are still shown
            section = f'<p class="warn">could not be rendered: {esc(first_line(err))}</p>'
        body.append(f"<details open><summary>{esc(source.label)}</summary>{section}</details>")
    body += ["<h2>How cost grows</h2>", *_scaling(frame)]
    return page(f"rtbench report: {len(merged.sources)} run(s)", body)


def _mirror(document: dict) -> str:
    out = []
    for runtime in results.runtimes_of(document):
        frame = table3.table3_frame(document, runtime)
        cells = table3.formatted(frame)
        out += [f"<h3>{esc(table3.title(document, runtime))}</h3>",
                table(table3.column_headers(frame), cells, table3.TEXT_COLUMNS,
                      [row[-1] != "ok" for row in cells]),
                _notes(table3.notes(document, runtime)),
                table(table3.DETAIL_HEADERS, table3.detail_rows(document, runtime), ("Variant",)),
                f'<p class="note">{esc(table3.detail_caption(document))}</p>']  # fmt: skip
    return "".join(out)


def _runtimes(document: dict) -> str:
    """Latency per variant (CIs as error bars), paper AP against latency, and, with several
    runtimes, their ratios to A beside the paper's: a table and grouped bars."""
    go = graph_objects()

    out = [figure(run_figures.latency_figure(go, document))]
    ap = run_figures.ap_latency_figure(go, document)
    out += [figure(ap)] if ap is not None else []
    rows = runtimes.comparison_rows(document)
    side_by_side = table(runtimes.comparison_headers(document), rows, ("Variant",))
    out += [f"<h3>Runtimes side by side</h3>{side_by_side}",
            figure(run_figures.ratio_figure(go, document))]  # fmt: skip
    return "".join(out)


def _scaling(frame: pd.DataFrame) -> list[str]:
    """The exponents, latency against tokens, throughput against batch, the speed-ups."""
    fits = scaling.exponents(frame)
    if fits.empty:
        out = ["<p>No series has two sizes or more: no exponent to fit (a sweep over --sizes "
               "draws latency against the number of tokens).</p>"]  # fmt: skip
    else:
        sentence = scaling.finding(fits)
        left = ("series", "variant", "runtime", "dtype", "sizes")
        out = [
            f"<p>{esc(sentence or '')}</p>",
            table(merge.EXPONENT_HEADERS, _fit_rows(fits), left),
        ]
    timed = frame[frame["latency_median_ms"].notna()]
    out += [figure(fig) for fig in _tokens_figures(timed, fits)]
    out += [figure(fig) for fig in _batch_figures(timed)]
    out += [figure(fig) for fig in _speedup_figures(scaling.speedups(frame))]
    return out


def _panels(frame: pd.DataFrame, keys: list[str], swept: str) -> list:
    """(key, rows) per group of `keys` with two values of `swept` or more (as many as the
    matplotlib plots draw)."""
    groups = frame.groupby(keys, sort=False)
    return [(key, rows) for key, rows in groups if rows[swept].nunique() >= 2][: scaling.MAX_PANELS]


def _tokens_figures(timed: pd.DataFrame, fits: pd.DataFrame) -> list:
    go = graph_objects()

    exponent = {(f.series, f.variant, f.runtime, f.batch, f.dtype): f.k for f in fits.itertuples()}
    out = []
    for (series, runtime, batch, dtype), group in _panels(
        timed, ["series", "runtime", "batch", "dtype"], "size"
    ):
        fig = go.Figure()
        for variant, rows in group.groupby("variant", sort=False):
            rows = rows.sort_values("tokens")
            k = exponent.get((series, variant, runtime, batch, dtype))
            median = rows["latency_median_ms"]
            fig.add_scatter(
                x=rows["tokens"],
                y=median,
                mode="lines+markers",
                name=esc(variant if k is None else f"{variant}: k = {k:.2f}"),
                customdata=rows["size"],
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": rows["latency_ci95_high_ms"] - median,
                    "arrayminus": median - rows["latency_ci95_low_ms"],
                },
                hovertemplate="%{customdata}px, %{x} tokens: %{y:.2f} ms",
            )
        sizes = group.drop_duplicates("size").sort_values("size")
        ticks = [f"{t}<br>{s}px" for t, s in zip(sizes["tokens"], sizes["size"], strict=True)]
        fig.update_xaxes(type="log", title="encoder tokens (input side), log scale",
                         tickvals=sizes["tokens"], ticktext=ticks)  # fmt: skip
        fig.update_yaxes(type="log", title="latency, median ms (log scale)")
        title = f"Latency vs tokens: {series}, {runtime}, batch {batch}, {dtype}"
        fig.update_layout(title=esc(title))
        out.append(fig)
    return out


def _batch_figures(timed: pd.DataFrame) -> list:
    go = graph_objects()

    out = []
    for (series, runtime, size, dtype), group in _panels(
        timed, ["series", "runtime", "size", "dtype"], "batch"
    ):
        fig = go.Figure()
        for variant, rows in group.groupby("variant", sort=False):
            rows = rows.sort_values("batch")
            fig.add_scatter(
                x=rows["batch"], y=rows["throughput_ips"], mode="lines+markers", name=esc(variant)
            )
        batches = sorted(group["batch"].unique())
        fig.update_xaxes(type="log", title="batch (log scale)", tickvals=batches)
        fig.update_yaxes(title="throughput (images/s)", rangemode="tozero")
        title = f"Throughput vs batch: {series}, {runtime}, {size}x{size}, {dtype}"
        fig.update_layout(title=esc(title))
        out.append(fig)
    return out


def _speedup_figures(speed: pd.DataFrame) -> list:
    go = graph_objects()

    out = []
    for (reference, runtime), group in list(speed.groupby(["reference", "runtime"], sort=False))[
        : scaling.MAX_PANELS
    ]:
        fig = go.Figure()
        for source, rows in group.groupby("source", sort=False):
            fig.add_bar(x=[esc(v) for v in rows["variant"]], y=rows["speedup"], name=esc(source))
        fig.update_layout(
            barmode="group",
            yaxis_title=esc(f"speed-up over {reference} (x)"),
            title=esc(f"Speed-up of {runtime} over {reference}, per variant"),
        )
        out.append(fig)
    return out


def _fit_rows(fits: pd.DataFrame) -> list[list[str]]:
    rows = []
    for f in fits.itertuples():
        error = "-" if pd.isna(f.k_stderr) else f"{f.k_stderr:.3f}"
        ci = "-" if pd.isna(f.k_ci95_low) else f"{f.k_ci95_low:.2f} to {f.k_ci95_high:.2f}"
        rows.append([f.series, f.variant, f.runtime, str(f.batch), f.dtype, f"{f.k:.2f}", error,
                     ci, f.sizes])  # fmt: skip
    return rows


# ---------------------------------------------------------------------------- history


def history_page(found: list, database: str) -> str:
    """Every series of the history over time (one figure per machine, configuration and runtime,
    a line per variant), segment medians dashed, change points marked; and the listing."""
    go = graph_objects()
    from plotly.colors import qualitative

    from rtbench.history.series import describe_alike, summary

    rows = []
    for s in found:
        info = summary(s)
        changes = "; ".join(f"{short_commit(c['commit'])} {c['step']:+.1%} (score {c['score']:.1f})"
                            for c in info["change_points"]) or "none"  # fmt: skip
        rows.append([info["variant"], info["runtime"], info["device_name"], info["config"],
                     str(info["points"]), f"{info['latest']:.4f}", changes])  # fmt: skip
    headers = ["variant", "runtime", "machine", "config", "points", "latest", "change points"]
    body = [
        f"<p>{esc(database)}: {len(found)} series. A point is a run; its value, the run's "
        "median latency over the calibration workload's in the same rounds.</p>",
        table(headers, rows, ("variant", "runtime", "machine", "config", "change points")),
    ]
    groups: dict[tuple, list] = {}
    for s in found:
        key = (s.key["fingerprint"], s.key["alike"], s.key["calibration"], s.key["runtime"])
        groups.setdefault(key, []).append(s)
    for (_, alike, calibration, runtime), members in groups.items():
        fig = go.Figure()
        for i, s in enumerate(members):
            color = qualitative.Plotly[i % len(qualitative.Plotly)]
            fig.add_trace(_series_trace(go, s, color))
            for shape in _segments(go, s, color):
                fig.add_trace(shape)
        device = summary(members[0])["device_name"]
        fig.update_layout(
            title=esc(f"{runtime} on {device}: {describe_alike(alike)}, {calibration}"),
            hovermode="closest",
            yaxis_title="latency / calibration (median, log scale)",
            yaxis_type="log",
            xaxis_title="run time",
        )
        body.append(figure(fig))
    return page("rtbench history: latency over time", body)


def _series_trace(go, s, color: str):
    points = s.points
    text = [
        esc(f"{short_commit(c)} {b or ''} {source} {pd.Timestamp(t):%Y-%m-%d %H:%M}")
        for c, b, source, t in zip(
            points["git_commit"],
            points["git_branch"],
            points["source"],
            points["created"],
            strict=True,
        )
    ]
    return go.Scatter(x=points["created"], y=points["latency_normalized"], mode="lines+markers",
                      name=esc(s.key["variant"]), legendgroup=esc(s.key["variant"]),
                      line={"color": color}, text=text,
                      hovertemplate="%{text}<br>%{y:.4f}")  # fmt: skip


def _segments(go, s, color: str) -> list:
    """Each segment's median as a dashed line, and a marker on the first point after each
    change point, with its step and score."""
    points, changes = s.points, s.change_points
    edges = [0, *(c.position for c in changes), len(points)]
    out = []
    for a, b in zip(edges, edges[1:], strict=False):
        level = points["latency_normalized"].iloc[a:b].median()
        out.append(go.Scatter(x=[points["created"].iloc[a], points["created"].iloc[b - 1]],
                              y=[level, level], mode="lines", showlegend=False,
                              legendgroup=esc(s.key["variant"]), hoverinfo="skip",
                              line={"color": color, "dash": "dash", "width": 1}))  # fmt: skip
    if changes:
        text = [esc(f"change point: {c.step:+.1%}, score {c.score:.1f}, first commit after: "
                    f"{short_commit(c.commit)}") for c in changes]  # fmt: skip
        at = [c.position for c in changes]
        out.append(go.Scatter(x=points["created"].iloc[at], y=points["latency_normalized"].iloc[at],
                              mode="markers", name=esc(f"{s.key['variant']}: change point"),
                              legendgroup=esc(s.key["variant"]), text=text,
                              hovertemplate="%{text}<extra></extra>",
                              marker={"symbol": "x", "size": 15, "color": color,
                                      "line": {"width": 2, "color": "black"}}))  # fmt: skip
    return out
