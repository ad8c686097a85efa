"""Per-part latency (`--breakdown`): the inputs captured for each part, the sum-vs-whole
bookkeeping on synthetic numbers, the report, the results keys, and the refusal of runtimes that
time whole models only."""

import json
from contextlib import nullcontext

import pytest
import torch
from conftest import VARIANTS
from rich.console import Console
from typer.testing import CliRunner

from rtbench.cli import app
from rtbench.measure.breakdown import capture_part_inputs
from rtbench.models.build import build_model, make_inputs
from rtbench.report.breakdown import (
    bookkeeping,
    csv_files,
    markdown,
    parts_frame,
    plot_files,
    stacked_bars,
)
from rtbench.report.breakdown import terminal as breakdown_terminal
from rtbench.results import ResultsError, parse

FAST = ["--scope", "encoder", "--size", "64", "--iters", "3", "--warmup", "1",
        "--min-time", "0.05", "--device", "cpu", "--no-plots"]  # fmt: skip
# A detector whose parts take 10, 2, 5, 3 and 20 ms and whose whole takes 45 ms.
PARTS_MS = {"backbone": 10.0, "input_proj": 2.0, "intra": 5.0, "fusion": 3.0, "decoder": 20.0}


def part(median_ms: float) -> dict:
    return {"median_ms": median_ms, "ci95_low_ms": 0.9 * median_ms,
            "ci95_high_ms": 1.1 * median_ms, "samples": 3, "samples_ms": [median_ms] * 3,
            "error": None}  # fmt: skip


def row(variant: str, whole_ms: float, parts_ms: dict[str, float]) -> dict:
    return {
        "variant": variant, "runtime": "eager", "status": "ok", "error": None,
        "gmacs": 10.0, "gmacs_parts": dict.fromkeys(parts_ms, 2.0),
        "latency_median_ms": whole_ms, "latency_ci95_low_ms": whole_ms - 1,
        "latency_ci95_high_ms": whole_ms + 1, "latency_samples_ms": [whole_ms] * 3,
        "latency_normalized_samples": [1.0] * 3,
        "latency_parts": {label: part(ms) for label, ms in parts_ms.items()},
    }  # fmt: skip


def document(*rows: dict) -> dict:
    return {
        "schema": "rtbench.results/2",
        "created": "2026-01-01T00:00:00+00:00",
        "config": {"scope": "detector", "device": "cpu", "dtype": "fp32", "size": 640,
                   "batch": 1, "deploy": False, "channels_last": False, "runtimes": ["eager"],
                   "breakdown": True},
        "environment": {"device": "cpu", "device_name": "Test CPU", "threads": 2},
        "calibration": {"name": "calib-test", "median_ms": 50.0},
        "peak_gflops_per_s": 800.0,
        "rows": list(rows),
    }  # fmt: skip


def test_sum_of_parts_against_the_whole():
    books = bookkeeping(row("E", 45.0, PARTS_MS))
    assert books["sum_ms"] == pytest.approx(40.0)
    assert books["gap_ms"] == pytest.approx(5.0)  # 45 - (10 + 2 + 5 + 3 + 20)
    assert books["gap_share"] == pytest.approx(5.0 / 45.0)
    assert books["encoder_ms"] == pytest.approx(10.0)  # input_proj + intra + fusion
    assert books["encoder_share"] == pytest.approx(10.0 / 45.0)


def test_a_negative_gap_and_an_incomplete_sum():
    assert bookkeeping(row("A", 35.0, PARTS_MS))["gap_ms"] == pytest.approx(-5.0)
    broken = row("E", 45.0, PARTS_MS)
    broken["latency_parts"]["intra"] = {"error": "out of memory: test"}
    books = bookkeeping(broken)
    assert books["sum_ms"] is None and books["gap_ms"] is None and books["encoder_share"] is None


def test_shares_and_compute_rate_per_part():
    frame = parts_frame(document(row("E", 45.0, PARTS_MS)), "eager").set_index("part")
    assert list(frame.index) == list(PARTS_MS)
    assert frame.loc["decoder", "share_of_whole"] == pytest.approx(20.0 / 45.0)
    # 2 GMACs in 20 ms = 100 GMAC/s = 200 GFLOP/s: a quarter of the 800 GFLOP/s peak
    assert frame.loc["decoder", "gmacs_per_s"] == pytest.approx(100.0)
    assert frame.loc["decoder", "peak_fraction"] == pytest.approx(0.25)


def test_report_tables_csv_and_plot():
    a_parts = {k: v for k, v in PARTS_MS.items() if k not in ("intra", "fusion")}
    doc = document(row("A", 35.0, a_parts), row("E", 45.0, PARTS_MS))
    text = markdown(doc)
    assert "| E | gap (whole - sum) | +5.00 | +11.1% |" in text  # 5 / 45
    assert "| E | sum of parts | 40.00 | 89% |" in text
    assert "| A | 2.00 | 35.00 | 6% | 20% |" in text  # latency 2 of 35 ms; GMACs 2 of 10
    console = Console(width=200, record=True)
    for item in breakdown_terminal(doc):
        console.print(item)
    assert "Encoder share of detector latency" in console.export_text()
    csv = csv_files(doc)["breakdown.csv"].splitlines()
    assert csv[0].startswith("runtime,variant,part,median_ms") and len(csv) == 1 + 3 + 5
    assert plot_files(doc)["breakdown.png"].startswith(b"\x89PNG")


def test_every_median_in_the_plot_carries_its_ci():
    """The whole model's CI (45 +- 1 ms) at its mark; each part's (+-10% of it) at the top of
    its segment: the decoder's spans 40 - 2 to 40 + 2 ms, 40 being the sum of E's parts."""
    from matplotlib.container import ErrorbarContainer

    ax = stacked_bars(document(row("E", 45.0, PARTS_MS))).axes[0]
    spans = sorted(
        tuple(round(float(y), 6) for y in segment[:, 1])
        for container in ax.containers
        if isinstance(container, ErrorbarContainer)
        for segment in container.lines[2][0].get_segments()
    )
    tops = [10.0, 12.0, 17.0, 20.0, 40.0]  # backbone, + input_proj, + intra, + fusion, + decoder
    expected = [(t - 0.1 * ms, t + 0.1 * ms) for t, ms in zip(tops, PARTS_MS.values(), strict=True)]
    assert spans == sorted([*expected, (44.0, 46.0)])


def test_a_run_without_breakdown_reports_nothing():
    doc = document(row("E", 45.0, {}))
    assert markdown(doc) == "" and csv_files(doc) == {} and plot_files(doc) == {}


def test_results_keys_are_validated():
    doc = document(row("E", 45.0, PARTS_MS))
    parse(doc)
    doc["rows"][0]["latency_parts"]["intra"]["samples_ms"] = [1.0, -2.0]
    with pytest.raises(ResultsError, match=r"latency_parts.intra.samples_ms\[1\] -2.0: must be"):
        parse(doc)
    doc["rows"][0]["latency_parts"] = ["intra"]
    with pytest.raises(ResultsError, match="latency_parts: expected a mapping"):
        parse(doc)


def test_captured_inputs_are_what_each_part_receives():
    spec = VARIANTS["E"]
    model = build_model(spec, "encoder")
    feats = make_inputs(spec, "encoder", 64, 1)
    captured = capture_part_inputs(model, feats, nullcontext)
    assert list(captured) == ["input_proj", "intra", "fusion"]
    with torch.inference_mode():
        projected = model.input_proj(feats)
        expected = model.intra(projected)
        out = model(feats)
        alone = model.fusion(captured["fusion"])
    for got, want in zip(captured["fusion"], expected, strict=True):
        torch.testing.assert_close(got, want)
    for got, want in zip(alone, out, strict=True):
        torch.testing.assert_close(got, want)  # the last part alone gives the model's output


def test_compare_with_breakdown(tmp_path):
    result = CliRunner().invoke(
        app,
        ["compare", "A", "E", *FAST, "--breakdown", "--no-flops", "--results-dir", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    (run_dir,) = tmp_path.iterdir()
    doc = json.loads((run_dir / "results.json").read_text())
    assert doc["config"]["breakdown"] is True
    parts = {r["variant"]: r["latency_parts"] for r in doc["rows"]}
    assert list(parts["A"]) == ["input_proj"]  # A has no intra-scale or fusion part
    assert list(parts["E"]) == ["input_proj", "intra", "fusion"]
    assert all(p["samples"] == 3 and p["median_ms"] > 0 for p in parts["E"].values())
    assert "Latency per part" in result.output
    assert (run_dir / "breakdown.csv").exists() and "## Latency per part" in (
        run_dir / "table3.md"
    ).read_text()


def test_breakdown_refused_for_a_whole_model_runtime(tmp_path):
    args = ["compare", "A", *FAST, "--breakdown", "--runtime", "cuda-graphs"]
    result = CliRunner().invoke(app, [*args, "--results-dir", str(tmp_path)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip() == (
        "error: --breakdown: runtime cuda-graphs times whole models only; use eager or compile"
    )
    assert not any(tmp_path.iterdir())
