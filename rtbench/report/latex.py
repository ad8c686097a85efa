"""The Table 3 mirror as a booktabs LaTeX table that a paper can \\input.

Needs \\usepackage{booktabs} in the preamble. The numbers are table3_frame's; only the layout
and the escaping are LaTeX's.
"""

from rtbench.report.table3 import cell, runtime, table3_frame

ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
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


def escape(text: str) -> str:
    return "".join(ESCAPES.get(ch, ch) for ch in text)


def latex_table(document: dict) -> str:
    frame = table3_frame(document)
    ref = escape(frame.attrs.get("reference") or "A")
    lines = [
        "% rtbench: Table 3 mirror; needs \\usepackage{booktabs}",
        "\\begin{table}[t]",
        "\\centering",
        f"\\caption{{{caption(document, frame.attrs.get('reference'))}}}",
        "\\label{tab:rtbench-table3}",
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


def caption(document: dict, reference: str | None) -> str:
    """The caption, as LaTeX: where and how it was measured, where the paper's figures come from."""
    cfg, env = document["config"], document["environment"]
    form = "deploy form (BatchNorm folded, RepVGG fused)" if cfg["deploy"] else "training form"
    device = escape(f"{env.get('device_name', cfg['device'])} ({cfg['device']}")
    text = (
        f"Encoder ablation of RT-DETR (Table 3 of the paper) measured with rtbench on {device}, "
        f"{escape(cfg['dtype'])}, {runtime(cfg)}): {escape(cfg['scope'])} scope, "
        f"{cfg['size']}$\\times${cfg['size']} input, batch {cfg['batch']}, {form}. "
        "AP and the paper's latency (NVIDIA T4, TensorRT FP16) come from the paper; rtbench "
        "does not train. GFLOPs count 2 per multiply-add. Latency: measured median; relative "
        f"latency is to variant {escape(reference or '--')} of the same run."
    )
    failed = [escape(r["variant"]) for r in document["rows"] if r["status"] != "ok"]
    if failed:
        text += f" $^\\dagger$Failed in this run: {', '.join(failed)}."
    return text


def _cell(value, fmt: str) -> str:
    text = cell(value, fmt)
    return "--" if text == "-" else text  # table3 marks a missing figure "-"
