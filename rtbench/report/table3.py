"""The Table 3 mirror: paper figures beside measured ones, per runtime, as a frame, rich tables,
Markdown and CSV; and the latency-detail table beside it.

Latency is compared as a ratio to a reference row (A when present) of the same runtime: absolute
milliseconds on another device and runtime never match the paper's T4 + TensorRT FP16 figures
(docs/design.md, "Table 3").
"""

import math

import pandas as pd
from rich.table import Table

from rtbench import results
from rtbench.report.base import Report
from rtbench.report.vocabulary import (
    PAPER_PROTOCOL,
    cell,
    describe_run,
    load_warnings,
    markdown_table,
    markdown_text,
)
from rtbench.text import rich_text

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
TEXT_COLUMNS = ("Variant", "Status")


def reference_row(document: dict, runtime: str) -> dict | None:
    """The row latencies of `runtime` are compared to: A when it ran, else the first that did."""
    timed = [r for r in results.ok_rows(document, runtime) if r.get("latency_median_ms")]
    return next((r for r in timed if r["variant"] == "A"), timed[0] if timed else None)


def table3_frame(document: dict, runtime: str) -> pd.DataFrame:
    """One runtime's rows, Table 3's columns; attrs["reference"] names the ratio's reference."""
    ref = reference_row(document, runtime)
    detector = document["config"]["scope"] == "detector"
    records = []
    for r in document["rows"]:
        if r["runtime"] != runtime:
            continue
        rec = {key: r.get(key) for key in COLUMNS}
        rec["params_match"] = _params_match(r) if detector else "n/a"
        rec["status"] = "ok" if r["status"] == "ok" else f"error: {r['error']}"
        if mismatched(r):
            rec["status"] = "ok, timed though its outputs differ (†)"
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


def column_headers(frame: pd.DataFrame) -> list[str]:
    ref = frame.attrs.get("reference") or "A"
    return [COLUMNS[c][0].replace("rel. latency", f"latency / {ref}") for c in frame.columns]


def formatted(frame: pd.DataFrame) -> list[list[str]]:
    return [
        [cell(value, COLUMNS[col][1]) for col, value in zip(frame.columns, row, strict=True)]
        for row in frame.itertuples(index=False)
    ]


def title(document: dict, runtime: str) -> str:
    return f"Table 3 mirror: {describe_run(document, runtime)}"


DETAIL_HEADERS = ["Variant", "median ms (95% CI)", "end-to-end ms", "pre/post share", "p90 ms",
                  "p99 ms", "IQR ms", "samples", "x calib", "GFLOP/s", "% of peak",
                  "peak MiB"]  # fmt: skip


def detail_rows(document: dict, runtime: str) -> list[list[str]]:
    """Latency statistics and efficiency per measured variant of one runtime."""
    rows = []
    for r in results.ok_rows(document, runtime):
        if r.get("latency_median_ms") is None:
            continue
        ci = f"{r['latency_median_ms']:.2f} ({r['latency_ci95_low_ms']:.2f}-"
        ci += f"{r['latency_ci95_high_ms']:.2f})"
        memory = r.get("peak_memory_bytes")
        fraction = r.get("peak_fraction")
        e2e = (r.get("latency_end_to_end") or {}).get("median_ms")
        share = 1 - r["latency_median_ms"] / e2e if e2e else None
        rows.append([
            r["variant"] + (" †" if mismatched(r) else ""), ci, cell(e2e, "{:.2f}"),
            cell(None if share is None else 100 * share, "{:.0f}%"),
            cell(r["latency_p90_ms"], "{:.2f}"),
            cell(r["latency_p99_ms"], "{:.2f}"), cell(r["latency_iqr_ms"], "{:.2f}"),
            str(r["latency_samples"]), cell(r["latency_normalized"], "{:.2f}"),
            cell(r.get("achieved_gflops_per_s"), "{:.1f}"),
            cell(None if fraction is None else 100 * fraction, "{:.0f}%"),
            cell(None if memory is None else memory / 2**20, "{:.0f}"),
        ])  # fmt: skip
    return rows


def detail_caption(document: dict) -> str:
    cal = document["calibration"]
    e2e = (
        "End-to-end: a frame in host memory to detections in host memory (see the protocol); "
        "pre/post share: the part of it outside the forward pass. "
        if document["config"]["scope"] == "detector"
        else "No end-to-end latency at encoder scope: its inputs are backbone maps, not an image. "
    )
    nested = any(r.get("forward_timed") == "nested" for r in document["rows"])
    forward = (
        "Forward: clocked around the model inside each end-to-end call (one call, two clocks). "
        if nested
        else ""
    )
    return (
        f"{e2e}{forward}x calib: median of each sample / the calibration workload's sample of the "
        f"same round ({cal['name']}, median {cal['median_ms']:.2f} ms). {peak_text(document)}"
        + (f" {run_time_text(document)}" if document.get("run_time") else "")
    )


def shape_text(shape: dict) -> str:
    """A peak shape as m x k x n, a convolution's kernel named."""
    product = f"{shape['m']}x{shape['k']}x{shape['n']}"
    kernel = shape.get("kernel")
    return product if kernel is None else f"{product} as a {kernel}x{kernel} conv"


def peak_text(document: dict) -> str:
    """How the peak that % of peak divides by was measured."""
    peak = document.get("peak")
    if not peak and document.get("peak_gflops_per_s") is None:
        return "No peak: FLOPs not counted."
    if not peak:  # a /2 run: one matmul, timed after the models
        return f"Peak: {document['peak_gflops_per_s']:.1f} GFLOP/s (one large matmul, same run)."
    best = max(peak["shapes"], key=lambda s: s["gflops_per_s"])
    before = best["gflops_per_s"]
    kinds = "matmul" if all(s.get("kernel") is None for s in peak["shapes"]) else "matmul and conv"
    text = (
        f"Peak: {peak['gflops_per_s']:.1f} GFLOP/s, the best of {len(peak['shapes'])} {kinds} "
        f"shapes in {peak['dtype']} ({shape_text(best)} fastest), each the "
        f"fastest of {peak['repeats']} calls, {peak['when']}"
    )
    probe = peak.get("probe")
    if not probe:
        return text + "."
    return text + (
        f": {before:.1f} GFLOP/s before, {probe['gflops_per_s']:.1f} through the timing (the "
        f"fastest of {probe['calls']} calls interleaved with the models)."
    )


def run_time_text(document: dict) -> str:
    """The run's wall time and where it went."""
    run_time = document["run_time"]
    phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in run_time["phases_s"].items())
    return f"Run time: {run_time['wall_s']:.1f} s ({phases})."


def mismatched(row: dict) -> bool:
    """Timed although its exported graph's outputs differ from PyTorch's (--allow-mismatch)."""
    check = (row.get("runtime_settings") or {}).get("agreement")
    return bool(check) and not check["ok"]


def notes(document: dict, runtime: str) -> list[str]:
    cfg = document["config"]
    ref = table3_frame(document, runtime).attrs.get("reference")
    out = [
        f"- Paper columns: Table 3 of RT-DETR (CVPR 2024); latency on {PAPER_PROTOCOL}. "
        "Compare latency ratios, not milliseconds.",
        f"- Latency ratios are to variant {ref} of this run and runtime."
        if ref
        else "- No latency measured.",
        "- GMACs: multiply-adds counted by fvcore; GFLOPs = 2 x GMACs (the paper's unit). "
        "Norms, resampling, pooling and element-wise ops are not counted, by convention.",
    ]
    if cfg["scope"] == "detector":
        out.append("- Params match: measured params truncated to whole millions equal the paper's.")
    else:
        out.append("- Encoder scope: params exclude backbone and decoder, so no match is expected.")
    for r in document["rows"]:
        if r["runtime"] != runtime:
            continue
        if r.get("flops_uncounted_ops"):
            out.append(
                f"- WARNING: {r['variant']}: ops not counted that may do multiply-adds: "
                f"{r['flops_uncounted_ops']}"
            )
        settings = r.get("runtime_settings") or {}
        asked, used = settings.get("precision_requested"), settings.get("precision_used")
        if asked and used and asked != used:
            out.append(
                f"- WARNING: {r['variant']}: {asked} was asked for but the runtime computed in "
                f"{used} (this CPU lacks {asked} units): these are {used} latencies."
            )
        check = settings.get("agreement")
        if check and not check["ok"]:
            out.append(
                f"- WARNING: {r['variant']} †: the exported graph's outputs differ from PyTorch's "
                f"beyond rtol {check['rtol']:g}, atol {check['atol']:g} (max |diff| "
                f"{check['max_abs']:.3g}), timed anyway (--allow-mismatch): its latency is of a "
                "different computation."
            )
        if r.get("gpu_throttled_samples"):
            out.append(
                f"- WARNING: {r['variant']}: power or heat held the GPU's clocks down in "
                f"{r['gpu_throttled_samples']} NVML samples while it was timed."
            )
    out += [f"- WARNING: {line}." for line in load_warnings(document.get("load"))]
    return out


def terminal(document: dict) -> list:
    out = []
    for runtime in results.runtimes_of(document):
        frame = table3_frame(document, runtime)
        # Titles and headers name devices, runtimes and the reference variant: Text, not markup.
        table = Table(title=rich_text(title(document, runtime)), title_justify="left")
        for header in column_headers(frame):
            justify = "left" if header in TEXT_COLUMNS else "right"
            table.add_column(rich_text(header), justify=justify)
        for cells in formatted(frame):
            table.add_row(*map(rich_text, cells), style=None if cells[-1] == "ok" else "red")
        out.append(table)
        out += [rich_text(line, style="dim") for line in notes(document, runtime)]
        detail = Table(title=rich_text(f"Latency detail and efficiency ({runtime})"),
                       title_justify="left", caption=rich_text(detail_caption(document)),
                       caption_justify="left")  # fmt: skip
        for header in DETAIL_HEADERS:
            detail.add_column(header, justify="left" if header == "Variant" else "right")
        for cells in detail_rows(document, runtime):
            detail.add_row(*map(rich_text, cells))
        out.append(detail)
    return out


def markdown(document: dict) -> str:
    lines = []
    for runtime in results.runtimes_of(document):
        frame = table3_frame(document, runtime)
        cells = [[markdown_text(c) for c in row] for row in formatted(frame)]
        lines += [f"# {markdown_text(title(document, runtime))}", ""]
        lines += markdown_table(column_headers(frame), cells, TEXT_COLUMNS)
        lines += ["", "Notes:", *map(markdown_text, notes(document, runtime)), ""]
        lines += [f"## Latency detail and efficiency ({markdown_text(runtime)})", ""]
        detail = [[markdown_text(c) for c in row] for row in detail_rows(document, runtime)]
        lines += markdown_table(DETAIL_HEADERS, detail, ("Variant",))
        lines += ["", markdown_text(detail_caption(document)), ""]
    return "\n".join(lines)


def csv_text(document: dict) -> str:
    """Every runtime's mirror in one table, the runtime in the last column."""
    frames = [table3_frame(document, runtime).assign(runtime=runtime)
              for runtime in results.runtimes_of(document)]  # fmt: skip
    return pd.concat(frames, ignore_index=True).to_csv(index=False, float_format="%.6g")


REPORT = Report(
    "table3", terminal=terminal, markdown=markdown, files=lambda d: {"table3.csv": csv_text(d)}
)
