"""The Table 3 mirror as a booktabs LaTeX table that a paper can \\input.

Needs \\usepackage{booktabs} in the preamble. The numbers are table3_frame's; only the layout
and the escaping are LaTeX's.
"""

from rtbench import results
from rtbench.report.base import Report
from rtbench.report.table3 import table3_frame
from rtbench.report.vocabulary import cell, device_label, form_label, runtime_label
from rtbench.text import latex_escape as escape  # the one LaTeX escaping, named for callers

CELLS = (  # frame column, format; "--" where a figure is missing
    ("paper_ap", "{:.1f}"),
    ("params_m", "{:.2f}"),
    ("paper_params_m", "{:.0f}"),
    ("gflops", "{:.1f}"),
    ("latency_median_ms", "{:.1f}"),
    ("paper_latency_ms", "{:.1f}"),
    ("rel_latency", "{:.2f}"),
    ("paper_rel_latency", "{:.2f}"),
)


def latex_table(document: dict, runtime: str) -> str:
    frame = table3_frame(document, runtime)
    ref = escape(frame.attrs.get("reference") or "A")
    lines = [
        "% rtbench: Table 3 mirror; needs \\usepackage{booktabs}",
        "\\begin{table}[t]",
        "\\centering",
        f"\\caption{{{caption(document, runtime, frame.attrs.get('reference'))}}}",
        f"\\label{{tab:rtbench-table3-{_label(runtime)}}}",
        "\\begin{tabular}{lrrrrrrrr}",
        "\\toprule",
        " & AP (\\%) & \\multicolumn{2}{c}{\\#Params (M)} & GFLOPs"
        " & \\multicolumn{2}{c}{Latency (ms)} & \\multicolumn{2}{c}{Latency / " + ref + "} \\\\",
        "\\cmidrule(lr){3-4} \\cmidrule(lr){6-7} \\cmidrule(lr){8-9}",
        "Variant & paper & measured & paper & measured & measured & paper & measured & paper \\\\",
        "\\midrule",
    ]
    for row in frame.itertuples(index=False):
        name = escape(row.variant) + ("$^\\dagger$" if row.status != "ok" else "")
        cells = [_cell(getattr(row, column), fmt) for column, fmt in CELLS]
        lines.append(" & ".join([name, *cells]) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(lines) + "\n"


def caption(document: dict, runtime: str, reference: str | None) -> str:
    """The caption, as LaTeX: where and how it was measured, where the paper's figures come from."""
    cfg = document["config"]
    text = (
        f"Encoder ablation of RT-DETR (Table 3 of the paper) measured with rtbench on "
        f"{escape(device_label(document))}, {escape(cfg['dtype'])}, "
        f"{escape(runtime_label(runtime))}: {escape(cfg['scope'])} scope, "
        f"{cfg['size']}$\\times${cfg['size']} input, batch {cfg['batch']}, "
        f"{escape(form_label(cfg['deploy']))}. "
        "AP and the paper's latency (NVIDIA T4, TensorRT FP16) come from the paper; rtbench "
        "does not train. GFLOPs count 2 per multiply-add. Latency: measured median; relative "
        f"latency is to variant {escape(reference or '--')} of the same run."
    )
    failed = [escape(r["variant"]) for r in document["rows"]
              if r["runtime"] == runtime and r["status"] != "ok"]  # fmt: skip
    if failed:
        text += f" $^\\dagger$Failed in this run: {', '.join(failed)}."
    return text


def _cell(value, fmt: str) -> str:
    text = cell(value, fmt)
    return "--" if text == "-" else text  # table3 marks a missing figure "-"


def _label(runtime: str) -> str:
    return "".join(ch if ch.isascii() and ch.isalnum() else "-" for ch in runtime)


def latex_files(document: dict) -> dict[str, str]:
    """table3.tex: one table per runtime, each with its own label."""
    tables = [latex_table(document, runtime) for runtime in results.runtimes_of(document)]
    return {"table3.tex": "\n".join(tables)}


REPORT = Report("latex", files=latex_files)
