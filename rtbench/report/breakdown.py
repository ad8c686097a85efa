"""Where the time goes: per-part latency of a `--breakdown` run (backbone, input_proj, intra,
fusion, decoder), each part's share of the whole model, and its GMACs beside its latency.

Every part is timed alone, on the inputs it receives inside the whole model, in the same rounds
as the whole model. The sum of the parts' medians is set against the whole model's median and
the gap is stated, not hidden: it is what happens between and around the parts in the whole
model (Python dispatch, allocations, caches refilled by the next part's weights; on a GPU, the
launch overlap that a part timed alone cannot have). GMAC/s and its fraction of the run's peak
show which part is compute-bound (near the peak) and which is bound by memory or overhead.

The encoder's share of the detector's latency (input_proj + intra + fusion over the whole) is the
paper's argument (RT-DETR, section 4.2: the encoder is the bottleneck).
"""

import pandas as pd
from matplotlib.figure import Figure
from rich.table import Table

from rtbench import results
from rtbench.report.base import Report
from rtbench.report.plots import plain, png
from rtbench.report.vocabulary import cell, describe_run, markdown_table, markdown_text, percent
from rtbench.text import rich_text

ENCODER_PARTS = ("input_proj", "intra", "fusion")
PART_COLORS = {"backbone": "tab:gray", "input_proj": "tab:olive", "intra": "tab:red",
               "fusion": "tab:blue", "decoder": "tab:purple"}  # fmt: skip
GAP_NOTE = (
    "Gap = whole model - sum of its parts, each timed alone on the inputs it receives in the "
    "whole. It is the time between and around the parts (dispatch, allocation, caches refilled "
    "by the next part), not an error: a negative gap means the parts cost more alone than together."
)


def bookkeeping(row: dict) -> dict:
    """Sum of the parts' medians against the whole model's median, for one row with
    `latency_parts`: whole_ms, sum_ms, gap_ms (whole - sum), gap_share (of the whole), and the
    encoder's ms and share of the whole. Sums are None when a part has no latency."""
    whole = row.get("latency_median_ms")
    parts = row.get("latency_parts") or {}
    medians = {label: p.get("median_ms") for label, p in parts.items()}
    complete = bool(medians) and None not in medians.values() and whole is not None
    total = sum(medians.values()) if complete else None
    encoder = [m for label, m in medians.items() if label in ENCODER_PARTS]
    encoder_ms = sum(encoder) if complete and encoder else None
    return {
        "whole_ms": whole,
        "sum_ms": total,
        "gap_ms": whole - total if total is not None else None,
        "gap_share": (whole - total) / whole if total is not None else None,
        "encoder_ms": encoder_ms,
        "encoder_share": encoder_ms / whole if encoder_ms is not None else None,
    }


def parts_frame(document: dict, runtime: str) -> pd.DataFrame:
    """One row per (variant, part) of `runtime`: median, CI, share of the whole, GMACs, GMAC/s
    and its fraction of the run's peak (peak_gflops_per_s is in FLOPs: 2 per MAC)."""
    peak = document.get("peak_gflops_per_s")
    records = []
    for row in _broken_down(document, runtime):
        whole = row.get("latency_median_ms")
        for label, part in row["latency_parts"].items():
            median = part.get("median_ms")
            gmacs = (row.get("gmacs_parts") or {}).get(label)
            rate = gmacs / (median / 1000) if median and gmacs else None
            records.append({
                "runtime": runtime, "variant": row["variant"], "part": label,
                "median_ms": median, "ci95_low_ms": part.get("ci95_low_ms"),
                "ci95_high_ms": part.get("ci95_high_ms"),
                "share_of_whole": median / whole if median and whole else None,
                "gmacs": gmacs, "gmacs_per_s": rate,
                "peak_fraction": 2 * rate / peak if rate and peak else None,
                "whole_ms": whole, "error": part.get("error"),
            })  # fmt: skip
    return pd.DataFrame.from_records(records, columns=FRAME_COLUMNS)


FRAME_COLUMNS = ["runtime", "variant", "part", "median_ms", "ci95_low_ms", "ci95_high_ms",
                 "share_of_whole", "gmacs", "gmacs_per_s", "peak_fraction", "whole_ms",
                 "error"]  # fmt: skip
HEADERS = ["Variant", "part", "median ms (95% CI)", "share of whole", "GMACs", "GMAC/s",
           "% of peak"]  # fmt: skip


def _broken_down(document: dict, runtime: str) -> list[dict]:
    return [r for r in results.ok_rows(document, runtime) if r.get("latency_parts")]


def _runtimes(document: dict) -> list[str]:
    return [rt for rt in results.runtimes_of(document) if _broken_down(document, rt)]


def table_rows(document: dict, runtime: str) -> list[list[str]]:
    """Each variant's parts, then the sum of parts, the whole model and the gap."""
    frame = parts_frame(document, runtime)
    out = []
    for row in _broken_down(document, runtime):
        variant = row["variant"]
        for p in frame[frame["variant"] == variant].itertuples():
            if isinstance(p.error, str):  # pandas reads the other parts' None as NaN
                out.append([variant, p.part, f"error: {p.error}", "-", "-", "-", "-"])
                continue
            peak = None if pd.isna(p.peak_fraction) else 100 * p.peak_fraction
            out.append([
                variant, p.part, _with_ci(p.median_ms, p.ci95_low_ms, p.ci95_high_ms),
                _share(p.share_of_whole), cell(p.gmacs, "{:.2f}"), cell(p.gmacs_per_s, "{:.1f}"),
                cell(peak, "{:.0f}%"),
            ])  # fmt: skip
        books = bookkeeping(row)
        summed = None if books["sum_ms"] is None else 1 - books["gap_share"]
        whole = _with_ci(
            *(row[f"latency_{k}"] for k in ("median_ms", "ci95_low_ms", "ci95_high_ms"))
        )
        out += [
            [variant, "sum of parts", cell(books["sum_ms"], "{:.2f}"), _share(summed), "", "", ""],
            [variant, "whole model", whole, "100%", cell(row.get("gmacs"), "{:.2f}"), "", ""],
            [variant, "gap (whole - sum)", cell(books["gap_ms"], "{:+.2f}"),
             percent(books["gap_share"], 1), "", "", ""],
        ]  # fmt: skip
    return out


def _with_ci(median: float, low: float, high: float) -> str:
    return f"{median:.2f} ({low:.2f}-{high:.2f})"


def _share(fraction: float | None) -> str:
    return cell(None if fraction is None else 100 * fraction, "{:.0f}%")


ENCODER_HEADERS = ["Variant", "encoder ms", "detector ms", "encoder share of latency",
                   "encoder share of GMACs"]  # fmt: skip


def encoder_rows(document: dict, runtime: str) -> list[list[str]]:
    """Detector scope: the encoder's (input_proj + intra + fusion) share of the whole detector's
    latency per variant, beside its share of the GMACs."""
    if document["config"]["scope"] != "detector":
        return []
    out = []
    for row in _broken_down(document, runtime):
        books = bookkeeping(row)
        gmacs = row.get("gmacs_parts") or {}
        encoder_gmacs = sum(gmacs.get(p, 0.0) for p in ENCODER_PARTS) if gmacs else None
        gmacs_share = encoder_gmacs / row["gmacs"] if encoder_gmacs and row.get("gmacs") else None
        out.append([row["variant"], cell(books["encoder_ms"], "{:.2f}"),
                    f"{row['latency_median_ms']:.2f}", _share(books["encoder_share"]),
                    _share(gmacs_share)])  # fmt: skip
    return out


def title(document: dict, runtime: str) -> str:
    return f"Latency per part: {describe_run(document, runtime)}"


def terminal(document: dict) -> list:
    out = []
    for runtime in _runtimes(document):
        table = Table(title=rich_text(title(document, runtime)), title_justify="left",
                      caption=GAP_NOTE, caption_justify="left")  # fmt: skip
        for header in HEADERS:
            table.add_column(header, justify="left" if header in HEADERS[:2] else "right")
        for cells in table_rows(document, runtime):
            style = "bold" if cells[1] in ("whole model",) else None
            table.add_row(*map(rich_text, cells), style=style)
        out.append(table)
        encoder = encoder_rows(document, runtime)
        if encoder:
            shares = Table(title=rich_text(f"Encoder share of detector latency ({runtime})"),
                           title_justify="left")  # fmt: skip
            for header in ENCODER_HEADERS:
                shares.add_column(header, justify="left" if header == "Variant" else "right")
            for cells in encoder:
                shares.add_row(*map(rich_text, cells))
            out.append(shares)
    return out


def markdown(document: dict) -> str:
    lines = []
    for runtime in _runtimes(document):
        cells = [[markdown_text(c) for c in row] for row in table_rows(document, runtime)]
        lines += [f"## {markdown_text(title(document, runtime))}", ""]
        lines += markdown_table(HEADERS, cells, ("Variant", "part"))
        lines += ["", GAP_NOTE, ""]
        encoder = [[markdown_text(c) for c in row] for row in encoder_rows(document, runtime)]
        if encoder:
            lines += [f"### Encoder share of detector latency ({markdown_text(runtime)})", ""]
            lines += markdown_table(ENCODER_HEADERS, encoder, ("Variant",))
            lines.append("")
    return "\n".join(lines)


def csv_files(document: dict) -> dict[str, str]:
    frames = [parts_frame(document, runtime) for runtime in _runtimes(document)]
    if not frames:
        return {}
    frame = pd.concat(frames, ignore_index=True)
    return {"breakdown.csv": frame.to_csv(index=False, float_format="%.6g")}


def stacked_bars(document: dict) -> Figure | None:
    """Per runtime a panel: per variant a bar stacked from its parts' medians, the gap on top
    (hatched; below the top of the parts when negative) and the whole model's median marked.
    Every median carries its 95% CI as an error bar: a part's at the top of its segment, the
    whole model's at its mark."""
    runtimes = _runtimes(document)
    if not runtimes:
        return None
    figure = Figure(figsize=(max(6.0, 2.0 + 1.2 * len(document["rows"])), 5))
    axes = figure.subplots(1, len(runtimes), squeeze=False)[0]
    for ax, runtime in zip(axes, runtimes, strict=True):
        rows = _broken_down(document, runtime)
        labels = [plain(r["variant"]) for r in rows]
        bottoms = [0.0] * len(rows)
        for part, color in PART_COLORS.items():
            heights = [(r["latency_parts"].get(part) or {}).get("median_ms") or 0.0 for r in rows]
            if any(heights):
                ax.bar(labels, heights, 0.6, bottom=bottoms, color=color, label=part)
                bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
                have = [i for i, r in enumerate(rows) if r["latency_parts"].get(part)]
                cis = [_ci_bar(rows[i]["latency_parts"][part]) for i in have]
                ax.errorbar([labels[i] for i in have], [bottoms[i] for i in have],
                            yerr=list(zip(*cis, strict=True)), fmt="none", ecolor="0.2",
                            elinewidth=0.8, capsize=2)  # fmt: skip
        wholes = [r["latency_median_ms"] for r in rows]
        gaps = [w - b for w, b in zip(wholes, bottoms, strict=True)]
        ax.bar(labels, gaps, 0.6, bottom=bottoms, color="none", edgecolor="0.3", hatch="//",
               label="gap (whole - sum)")  # fmt: skip
        ax.scatter(labels, wholes, marker="_", s=900, color="black", zorder=3,
                   label="whole model (median, 95% CI)")  # fmt: skip
        whole_cis = [_ci_bar(_whole(r)) for r in rows]
        ax.errorbar(labels, wholes, yerr=list(zip(*whole_cis, strict=True)), fmt="none",
                    ecolor="black", elinewidth=1.2, capsize=4, zorder=4)  # fmt: skip
        for x, row in enumerate(rows):
            share = bookkeeping(row)["encoder_share"]
            if share is not None and document["config"]["scope"] == "detector":
                ax.annotate(f"encoder {100 * share:.0f}%", (x, wholes[x]), xytext=(0, 6),
                            textcoords="offset points", ha="center",
                            fontsize="x-small")  # fmt: skip
        ax.set_ylabel("latency (ms, medians)")
        ax.set_title(plain(runtime))
        ax.grid(True, axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        ax.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=4)
    figure.suptitle(plain(f"Latency per part\n{describe_run(document)}"), fontsize="medium")
    figure.tight_layout()
    return figure


def _ci_bar(record: dict) -> tuple[float, float]:
    """How far a median's 95% CI reaches below and above it (0 where unknown)."""
    median, low, high = (record.get(k) for k in ("median_ms", "ci95_low_ms", "ci95_high_ms"))
    if median is None or low is None or high is None:
        return 0.0, 0.0
    return max(0.0, median - low), max(0.0, high - median)


def _whole(row: dict) -> dict:
    """The whole model's median and CI, keyed as a part's are."""
    return {key: row.get(f"latency_{key}") for key in ("median_ms", "ci95_low_ms", "ci95_high_ms")}


def plot_files(document: dict) -> dict[str, bytes]:
    figure = stacked_bars(document)
    return {} if figure is None else {"breakdown.png": png(figure)}


REPORT = Report("breakdown", terminal=terminal, markdown=markdown, files=csv_files)
PLOT = Report("breakdown plot", files=plot_files, plot=True)  # skipped with --no-plots
