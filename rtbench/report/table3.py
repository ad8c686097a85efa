"""The Table 3 mirror: paper figures beside measured ones, as a frame, a rich table, Markdown, CSV.

Latency is compared as a ratio to a reference row (A when present): absolute milliseconds on
another device and runtime never match the paper's T4 + TensorRT FP16 figures (docs/design.md, "Table 3").
"""

import math

import pandas as pd
from rich.table import Table

COLUMNS = {  # frame column -> (header, format)
    "variant": ("Variant", "{}"),
    "paper_ap": ("AP paper (%)", "{:.1f}"),
    "params_m": ("Params M", "{:.2f}"),
    "paper_params_m": ("Params M paper", "{:.0f}"),
    "params_match": ("Params match", "{}"),
    "gmacs": ("GMACs", "{:.2f}"),
    "gflops": ("GFLOPs (2xMAC)", "{:.2f}"),
    "latency_median_ms": ("Latency ms (median)", "{:.2f}"),
    "latency_p90_ms": ("p90 ms", "{:.2f}"),
    "paper_latency_ms": ("Latency ms paper", "{:.1f}"),
    "rel_latency": ("rel. latency", "{:.2f}"),
    "paper_rel_latency": ("rel. latency paper", "{:.2f}"),
    "status": ("Status", "{}"),
}


def table3_frame(document: dict) -> pd.DataFrame:
    rows = document["rows"]
    ok = [r for r in rows if r["status"] == "ok" and r.get("latency_median_ms")]
    ref = next((r for r in ok if r["variant"] == "A"), ok[0] if ok else None)
    detector = document["config"]["scope"] == "detector"
    records = []
    for r in rows:
        rec = {key: r.get(key) for key in COLUMNS}
        rec["params_match"] = _params_match(r) if detector else "n/a"
        rec["status"] = "ok" if r["status"] == "ok" else f"error: {r['error']}"
        if ref is not None and r.get("latency_median_ms"):
            rec["rel_latency"] = r["latency_median_ms"] / ref["latency_median_ms"]
        if ref is not None and r.get("paper_latency_ms") and ref.get("paper_latency_ms"):
            rec["paper_rel_latency"] = r["paper_latency_ms"] / ref["paper_latency_ms"]
        records.append(rec)
    frame = pd.DataFrame.from_records(records, columns=list(COLUMNS))
    frame.attrs["reference"] = ref["variant"] if ref else None
    return frame


def _params_match(row: dict) -> str:
    if row.get("params") is None or row.get("paper_params_m") is None:
        return "-"
    return "yes" if math.floor(row["params"] / 1e6) == row["paper_params_m"] else "NO"


def cell(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return fmt.format(value)


def _headers(frame: pd.DataFrame) -> list[str]:
    ref = frame.attrs.get("reference") or "A"
    return [COLUMNS[c][0].replace("rel. latency", f"latency / {ref}") for c in frame.columns]


def formatted(frame: pd.DataFrame) -> list[list[str]]:
    return [
        [cell(value, COLUMNS[col][1]) for col, value in zip(frame.columns, row, strict=True)]
        for row in frame.itertuples(index=False)
    ]


def describe_run(document: dict) -> str:
    """What ran, where and how, in one phrase: every report's title or caption uses it."""
    cfg, env = document["config"], document["environment"]
    form = "deploy form (BN folded, RepVGG fused)" if cfg["deploy"] else "training form"
    return (
        f"{cfg['scope']} scope, {cfg['size']}x{cfg['size']}, batch {cfg['batch']}, "
        f"{cfg['dtype']}, {form}, {runtime(cfg)}, on {env['device_name']} ({env['device']}, "
        f"{env['threads']} threads)"
    )


def runtime(config: dict) -> str:
    if config.get("cuda_graphs"):
        return "PyTorch CUDA graph replay"
    return "PyTorch torch.compile" if config.get("compile") else "PyTorch eager"


def title(document: dict) -> str:
    return f"Table 3 mirror: {describe_run(document)}"


def rich_table(document: dict) -> Table:
    frame = table3_frame(document)
    table = Table(title=title(document), title_justify="left")
    for header in _headers(frame):
        table.add_column(header, justify="left" if header in ("Variant", "Status") else "right")
    for cells in formatted(frame):
        style = None if cells[-1] == "ok" else "red"
        table.add_row(*cells, style=style)
    return table


DETAIL_HEADERS = ["Variant", "median ms (95% CI)", "p90 ms", "p99 ms", "IQR ms", "samples",
                  "x calib", "GFLOP/s", "% of peak", "peak MiB"]  # fmt: skip


def detail_rows(document: dict) -> list[list[str]]:
    """Latency statistics and efficiency per measured variant."""
    rows = []
    for r in document["rows"]:
        if r["status"] != "ok" or r.get("latency_median_ms") is None:
            continue
        ci = f"{r['latency_median_ms']:.2f} ({r['latency_ci95_low_ms']:.2f}-"
        ci += f"{r['latency_ci95_high_ms']:.2f})"
        memory = r.get("peak_memory_bytes")
        fraction = r.get("peak_fraction")
        rows.append([
            r["variant"], ci, cell(r["latency_p90_ms"], "{:.2f}"),
            cell(r["latency_p99_ms"], "{:.2f}"), cell(r["latency_iqr_ms"], "{:.2f}"),
            str(r["latency_samples"]), cell(r["latency_normalized"], "{:.2f}"),
            cell(r.get("achieved_gflops_per_s"), "{:.1f}"),
            cell(None if fraction is None else 100 * fraction, "{:.0f}%"),
            cell(None if memory is None else memory / 2**20, "{:.0f}"),
        ])  # fmt: skip
    return rows


def detail_caption(document: dict) -> str:
    cal = document["calibration"]
    return (
        f"x calib: median of each sample / the calibration workload's sample of the same round "
        f"({cal['name']}, median {cal['median_ms']:.2f} ms). "
        f"Peak: {document['peak_gflops_per_s']:.1f} GFLOP/s (large matmul, same run)."
    )


def rich_detail_table(document: dict) -> Table:
    table = Table(title="Latency detail and efficiency", title_justify="left",
                  caption=detail_caption(document), caption_justify="left")  # fmt: skip
    for header in DETAIL_HEADERS:
        table.add_column(header, justify="left" if header == "Variant" else "right")
    for cells in detail_rows(document):
        table.add_row(*cells)
    return table


def markdown(document: dict) -> str:
    frame = table3_frame(document)
    headers = _headers(frame)
    lines = [f"# {title(document)}", "", *_markdown_table(headers, formatted(frame))]
    lines += ["", *notes(document), "", "## Latency detail and efficiency", ""]
    lines += _markdown_table(DETAIL_HEADERS, detail_rows(document))
    lines += ["", detail_caption(document)]
    return "\n".join(lines) + "\n"


def _markdown_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    align = ["---" if h in ("Variant", "Status") else "---:" for h in headers]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(align) + "|"]
    return lines + ["| " + " | ".join(cells) + " |" for cells in rows]


def notes(document: dict) -> list[str]:
    cfg = document["config"]
    ref = table3_frame(document).attrs.get("reference")
    out = [
        "Notes:",
        "- Paper columns: Table 3 of RT-DETR (CVPR 2024); latency on a T4, TensorRT FP16, batch 1, "
        "640x640. Compare latency ratios, not milliseconds.",
        f"- Latency ratios are to variant {ref} of this run." if ref else "- No latency measured.",
        "- GMACs: multiply-adds counted by fvcore; GFLOPs = 2 x GMACs (the paper's unit). "
        "Norms, resampling, pooling and element-wise ops are not counted, by convention.",
    ]
    if cfg["scope"] == "detector":
        out.append("- Params match: measured params truncated to whole millions equal the paper's.")
    else:
        out.append("- Encoder scope: params exclude backbone and decoder, so no match is expected.")
    uncounted = {r["variant"]: r["flops_uncounted_ops"] for r in document["rows"]
                 if r.get("flops_uncounted_ops")}  # fmt: skip
    for variant, ops in uncounted.items():
        out.append(f"- WARNING: {variant}: ops not counted that may do multiply-adds: {ops}")
    return out


def csv_text(document: dict) -> str:
    return table3_frame(document).to_csv(index=False, float_format="%.6g")
