"""Runtime beside runtime: median latency per variant and runtime, the speed-up over PyTorch eager,
and each runtime's latency ratios to A beside the paper's (TensorRT FP16 on a T4).

Which runtime's ratios come closest to the paper's? Per runtime: the mean absolute difference
between its ratios to A and the paper's, and whether it ranks the variants in the paper's order
(Spearman's rank correlation, scipy). Shown only when a run timed several runtimes.
"""

from io import BytesIO

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from rich.table import Table

from rtbench import results
from rtbench.report.base import Report
from rtbench.report.plots import DPI, PAPER, PAPER_LABEL, SERIES, plain
from rtbench.report.table3 import reference_row
from rtbench.report.ties import spearman
from rtbench.report.vocabulary import (
    PAPER_SHORT,
    cell,
    describe_run,
    markdown_table,
    markdown_text,
    runtime_label,
)
from rtbench.text import latex_escape as escape
from rtbench.text import rich_text


def comparison_frame(document: dict) -> pd.DataFrame:
    """One row per variant: per runtime its median (ms), speed-up over eager and ratio to A."""
    runtimes = results.runtimes_of(document)
    refs = {rt: reference_row(document, rt) for rt in runtimes}
    medians = {(r["variant"], r["runtime"]): r.get("latency_median_ms")
               for r in results.ok_rows(document)}  # fmt: skip
    cis = {(r["variant"], r["runtime"]): (r.get("latency_ci95_low_ms"),
                                          r.get("latency_ci95_high_ms"))
           for r in results.ok_rows(document)}  # fmt: skip
    paper = {r["variant"]: r.get("paper_latency_ms") for r in document["rows"]}
    paper_ref = paper.get("A")
    records = []
    for variant in dict.fromkeys(r["variant"] for r in document["rows"]):
        rec = {"variant": variant}
        for rt in runtimes:
            median = medians.get((variant, rt))
            eager = medians.get((variant, "eager"))
            ref = refs[rt]
            rec[f"{rt}_ms"] = median
            rec[f"{rt}_speedup"] = eager / median if median and eager else None
            ratio = median / ref["latency_median_ms"] if median and ref else None
            rec[f"{rt}_ratio"] = ratio
            # the variant's 95% CI over A's median: the error bar of a ratio plot
            low, high = cis.get((variant, rt), (None, None))
            known = ratio is not None and low is not None and high is not None
            rec[f"{rt}_ratio_low"] = low / ref["latency_median_ms"] if known else None
            rec[f"{rt}_ratio_high"] = high / ref["latency_median_ms"] if known else None
        rec["paper_ratio"] = paper[variant] / paper_ref if paper[variant] and paper_ref else None
        records.append(rec)
    return pd.DataFrame.from_records(records)


def ratio_errors(frame: pd.DataFrame, runtime: str) -> list[list[float]]:
    """Error bar lengths below and above each ratio to A: the variant's 95% CI over A's median
    (0 where unknown)."""
    ratio = frame[f"{runtime}_ratio"].astype(float)
    below = (ratio - frame[f"{runtime}_ratio_low"].astype(float)).clip(lower=0).fillna(0)
    above = (frame[f"{runtime}_ratio_high"].astype(float) - ratio).clip(lower=0).fillna(0)
    return [list(below), list(above)]


def agreement_with_paper(document: dict) -> dict[str, dict]:
    """Per runtime: mean |ratio - paper ratio| over the variants with both, and Spearman's rho
    of the latencies against the paper's (1: the paper's ranking exactly), latencies that tie
    (rtbench.report.ties) ranked alike."""
    frame = comparison_frame(document)
    out = {}
    for rt in results.runtimes_of(document):
        both = frame[frame[f"{rt}_ratio"].notna() & frame["paper_ratio"].notna()]
        ours, paper = both[f"{rt}_ratio"].astype(float), both["paper_ratio"].astype(float)
        mad = float((ours - paper).abs().mean()) if len(both) > 1 else None
        rows = {r["variant"]: r for r in results.ok_rows(document, rt)}
        rho = spearman([rows[v] for v in both["variant"]], list(paper))
        out[rt] = {"variants": len(both), "mean_abs_ratio_diff": mad, "spearman": rho}
    return out


def sped_up(document: dict, runtime: str) -> bool:
    """Whether `runtime` gets a speed-up column: over eager, so neither eager itself (always
    1.00x) nor a run without eager."""
    return runtime != "eager" and "eager" in results.runtimes_of(document)


def comparison_headers(document: dict) -> list[str]:
    headers = ["Variant"]
    for rt in results.runtimes_of(document):
        headers += [f"{rt} ms", *([f"{rt} speed-up"] * sped_up(document, rt)), f"{rt} / A"]
    return [*headers, "paper / A"]


def comparison_rows(document: dict) -> list[list[str]]:
    frame = comparison_frame(document)
    rows = []
    for rec in frame.to_dict("records"):
        cells = [rec["variant"]]
        for rt in results.runtimes_of(document):
            speedup = [cell(rec[f"{rt}_speedup"], "{:.2f}x")] * sped_up(document, rt)
            cells += [cell(rec[f"{rt}_ms"], "{:.2f}"), *speedup, cell(rec[f"{rt}_ratio"], "{:.2f}")]
        rows.append([*cells, cell(rec["paper_ratio"], "{:.2f}")])
    return rows


def _summary(document: dict) -> list[str]:
    lines = []
    for rt, fit in agreement_with_paper(document).items():
        mad, rho = fit["mean_abs_ratio_diff"], fit["spearman"]
        lines.append(
            f"- {runtime_label(rt)}: mean |ratio to A - paper's| = {cell(mad, '{:.3f}')}, "
            f"Spearman's rho against the paper's latencies (ties ranked alike) = "
            f"{cell(rho, '{:.2f}')} "
            f"({fit['variants']} variants)"
        )
    return [
        f"Speed-up: the eager median / this runtime's median. Ratios: to A of the same runtime; "
        f"paper: {PAPER_SHORT}.",
        *lines,
    ]


def _several(document: dict) -> bool:
    return len(results.runtimes_of(document)) > 1


def terminal(document: dict) -> list:
    if not _several(document):
        return []
    title = rich_text(f"Runtimes side by side: {describe_run(document)}")
    table = Table(title=title, title_justify="left")
    for header in comparison_headers(document):  # runtime names: text, not markup
        table.add_column(rich_text(header), justify="left" if header == "Variant" else "right")
    for cells in comparison_rows(document):
        table.add_row(*map(rich_text, cells))
    return [table, *(rich_text(line, style="dim") for line in _summary(document))]


def markdown(document: dict) -> str:
    if not _several(document):
        return ""
    rows = [[markdown_text(c) for c in row] for row in comparison_rows(document)]
    lines = [
        "## Runtimes side by side",
        "",
        *markdown_table(comparison_headers(document), rows, ("Variant",)),
    ]
    return "\n".join([*lines, "", *map(markdown_text, _summary(document)), ""])


def files(document: dict) -> dict[str, str | bytes]:
    if not _several(document):
        return {}
    return {
        "runtimes.csv": comparison_frame(document).to_csv(index=False, float_format="%.6g"),
        "runtimes.tex": _latex(document),
    }


def _latex(document: dict) -> str:
    headers = [escape(h) for h in comparison_headers(document)]
    body = [" & ".join(escape(c).replace("-", "--") if c == "-" else escape(c) for c in row)
            + " \\\\" for row in comparison_rows(document)]  # fmt: skip
    return "\n".join([
        "% rtbench: runtimes side by side; needs \\usepackage{booktabs}",
        "\\begin{table}[t]",
        "\\centering",
        f"\\caption{{Latency per runtime, measured with rtbench: {escape(describe_run(document))}."
        f" Speed-up over PyTorch eager; ratios to variant A of the same runtime; paper: "
        f"{escape(PAPER_SHORT)}.}}",
        "\\label{tab:rtbench-runtimes}",
        "\\begin{tabular}{l" + "r" * (len(headers) - 1) + "}",
        "\\toprule",
        " & ".join(headers) + " \\\\",
        "\\midrule",
        *body,
        "\\bottomrule",
        "\\end{tabular}",
        "\\end{table}",
        "",
    ])  # fmt: skip


def plot(document: dict) -> dict[str, bytes]:
    """Grouped bars: each runtime's latency ratio to A per variant, beside the paper's."""
    if not _several(document):
        return {}
    frame = comparison_frame(document)
    runtimes = results.runtimes_of(document)
    series = [(runtime_label(rt), frame[f"{rt}_ratio"], SERIES[i % len(SERIES)],
               ratio_errors(frame, rt)) for i, rt in enumerate(runtimes)]  # fmt: skip
    if frame["paper_ratio"].notna().any():
        series.append((PAPER_LABEL, frame["paper_ratio"], PAPER, None))
    if all(values.isna().all() for _, values, _, _ in series):
        return {}
    figure = Figure(figsize=(max(6, 1.6 * len(frame)), 4.5))
    ax = figure.add_subplot()
    width = 0.8 / len(series)
    for i, (label, values, color, errors) in enumerate(series):
        x = [j + (i - (len(series) - 1) / 2) * width for j in range(len(frame))]
        ax.bar(x, values.astype(float).fillna(0), width, label=plain(label), color=color,
               yerr=errors, capsize=2 if errors else 0)  # fmt: skip
    ax.set_xticks(range(len(frame)), [plain(v) for v in frame["variant"]])
    ax.axhline(1.0, color="0.6", linewidth=0.8)
    ax.set_ylabel("latency / A (same runtime); bars: the variant's 95% CI / A's median")
    ax.set_title(plain(f"Latency ratios per runtime\n{describe_run(document)}"), fontsize="medium")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    FigureCanvasAgg(figure)
    buffer = BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return {"runtimes.png": buffer.getvalue()}


REPORT = Report("runtimes", terminal=terminal, markdown=markdown, files=files)
PLOT = Report("runtimes plot", files=plot, plot=True)
