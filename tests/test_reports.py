"""Table 3 mirror, paper-claims report, plots and LaTeX table on synthetic results documents."""

import copy
import re

import pytest
from rich.console import Console

from rtbench.report.claims import CLAIMS, claims_markdown, claims_rich_table, evaluate_claims
from rtbench.report.latex import escape, latex_table
from rtbench.report.plots import plot_files
from rtbench.report.table3 import csv_text, markdown, table3_frame
from rtbench.report.write import terminal_report, write_run

PAPER = {  # Table 3: AP, params (M), latency (ms)
    "A": (43.0, 31, 7.2),
    "B": (44.9, 32, 11.1),
    "C": (45.6, 32, 13.3),
    "D": (46.4, 35, 12.2),
    "Ds5": (46.8, 35, 7.9),
    "E": (47.9, 42, 9.3),
}
PNG = b"\x89PNG"


def row(variant: str, latency_ms: float | None, params_m: float, paper: bool = True) -> dict:
    ap, paper_params, paper_latency = PAPER[variant] if paper else (None, None, None)
    return {
        "variant": variant,
        "runtime": "eager",
        "status": "ok",
        "error": None,
        "paper_ap": ap,
        "paper_params_m": paper_params,
        "paper_latency_ms": paper_latency,
        "params": round(params_m * 1e6),
        "params_m": params_m,
        "gmacs": 50.0,
        "gflops": 100.0,
        "latency_median_ms": latency_ms,
        "latency_p90_ms": None if latency_ms is None else latency_ms * 1.1,
        "latency_ci95_low_ms": None if latency_ms is None else latency_ms * 0.98,
        "latency_ci95_high_ms": None if latency_ms is None else latency_ms * 1.02,
        "latency_p99_ms": None if latency_ms is None else latency_ms * 1.2,
        "latency_iqr_ms": None if latency_ms is None else latency_ms * 0.1,
        "latency_samples": None if latency_ms is None else 10,
        "latency_normalized": None if latency_ms is None else latency_ms / 50.0,
        "form": "train",
        "scope": "detector",
    }


def failed(variant: str, paper: bool = True) -> dict:
    out = row(variant, None, 0.0, paper)
    keys = ("params", "params_m", "gmacs", "gflops", "latency_p90_ms")
    out.update(status="error", error="out of memory: test", **dict.fromkeys(keys))
    return out


def document(rows: list[dict], scope: str = "detector") -> dict:
    return {
        "schema": "rtbench.results/1",
        "config": {
            "scope": scope,
            "device": "cpu",
            "dtype": "fp32",
            "size": 640,
            "batch": 1,
            "deploy": False,
            "channels_last": False,
            "runtimes": ["eager"],
        },
        "environment": {"device": "cpu", "device_name": "Test CPU", "threads": 2},
        "calibration": {"name": "calib-test", "median_ms": 50.0},
        "peak_gflops_per_s": 100.0,
        "created": "2026-01-01T00:00:00+00:00",
        "rows": rows,
    }


def paper_like() -> dict:
    """Every variant, latency 100x the paper's and params 1.02x: every claim should agree."""
    return document([row(v, 100 * lat, 1.02 * p) for v, (_, p, lat) in PAPER.items()])


def by_claim(claims: list[dict]) -> dict[str, dict]:
    return {c["claim"]: c for c in claims}


def test_claims_match_a_paper_like_run():
    claims = by_claim(evaluate_claims(paper_like()))
    assert list(claims) == [c.name for c in CLAIMS]
    b = claims["B vs A"]
    assert b["status"] == "ok"
    assert b["paper_ap_delta"] == 1.9
    assert b["latency_change_measured"] == pytest.approx(11.1 / 7.2 - 1)
    assert b["latency_direction_agrees"] and b["latency_size_agrees"]
    assert b["params_change_measured"] == pytest.approx(32 / 31 - 1)
    assert b["params_direction_agrees"] is None  # the paper claims no params change for B
    e = claims["E vs D"]
    assert e["params_change_measured"] == pytest.approx(42 / 35 - 1)
    assert e["params_direction_agrees"] and e["params_size_agrees"]
    assert all(c["direction_agrees"] and c["size_agrees"] for c in claims.values())


def test_claims_direction_and_size_differ():
    rows = [row("A", 1000.0, 31.9), row("B", 800.0, 32.6)]  # B faster than A
    b = by_claim(evaluate_claims(document(rows)))["B vs A"]
    assert b["latency_change_measured"] == pytest.approx(-0.2)
    assert b["latency_direction_agrees"] is False
    assert b["latency_size_agrees"] is False
    assert b["direction_agrees"] is False


@pytest.mark.parametrize(
    ("ratio", "agrees"),
    [(1.54, True), (1.28, True), (1.26, False), (1.80, True), (1.82, False)],
)
def test_size_rule_relative(ratio, agrees):
    """+54% claimed: +27% .. +81% agree (within half the claimed change)."""
    rows = [row("A", 1000.0, 31.9), row("B", 1000.0 * ratio, 32.6)]
    b = by_claim(evaluate_claims(document(rows)))["B vs A"]
    assert b["latency_direction_agrees"] is True
    assert b["latency_size_agrees"] is agrees


@pytest.mark.parametrize(("ratio", "agrees"), [(0.88, True), (0.965, True), (0.98, False)])
def test_size_rule_absolute_floor(ratio, agrees):
    """-8% claimed: half of it is 4 points, so the 5-point floor applies: -13% .. -3% agree."""
    rows = [row("C", 1000.0, 32.6), row("D", 1000.0 * ratio, 35.1)]
    d = by_claim(evaluate_claims(document(rows)))["D vs C"]
    assert d["latency_size_agrees"] is agrees


def test_claims_not_measured():
    rows = [row("A", 1000.0, 31.9), failed("B"), row("D", 1000.0, 35.1)]
    claims = by_claim(evaluate_claims(document(rows)))
    b = claims["B vs A"]
    assert b["status"] == "not measured"
    assert "B failed: out of memory" in b["reason"]
    assert b["latency_change_measured"] is None and b["direction_agrees"] is None
    assert "Ds5 not in run" in claims["Ds5 vs D"]["reason"]
    assert all(c["status"] == "not measured" for c in claims.values())


def test_claims_markdown_and_rich_table():
    text = claims_markdown(evaluate_claims(paper_like()))
    assert text.startswith("## Paper claims (section 5.2), judged on PyTorch eager\n")
    assert "| B vs A | +1.9 AP | latency | +54% | +54.2% | agrees | agrees |" in text
    assert "| E vs D | +1.5 AP | params | +20% | +20.0% | agrees | agrees |" in text
    assert "Test CPU" in text and "PyTorch eager" in text and "TensorRT FP16" in text

    rows = [row("A", 1000.0, 31.9), row("B", 800.0, 32.6)]
    text = claims_markdown(evaluate_claims(document(rows)))
    assert "| B vs A | +1.9 AP | latency | +54% | -20.0% | differs | differs |" in text
    assert "not measured (C not in run)" in text

    console = Console(width=200, record=True)
    console.print(claims_rich_table(evaluate_claims(document(rows))))
    out = console.export_text()
    assert "differs" in out and "n/a" in out and "Test CPU" in out


def test_claims_encoder_scope_note():
    rows = [row("A", 10.0, 1.0), row("B", 15.0, 1.8)]
    text = claims_markdown(evaluate_claims(document(rows, scope="encoder")))
    assert "Encoder scope: the paper's changes are of whole detectors" in text


def test_plots_written():
    doc = paper_like()
    doc["rows"] += [failed("E"), row("E", 900.0, 42.9, paper=False)]  # an error, a user variant
    doc["rows"][-1]["variant"] = "mine"
    files = plot_files(doc)
    assert list(files) == ["latency_vs_ap.png", "params_flops_latency.png"]
    assert all(content.startswith(PNG) for content in files.values())


def test_plots_user_variants_only():
    """No paper AP to plot against: only the bar chart is written."""
    doc = document([row("A", 1000.0, 31.9, paper=False), row("B", None, 32.6, paper=False)])
    files = plot_files(doc)
    assert list(files) == ["params_flops_latency.png"]
    assert files["params_flops_latency.png"].startswith(PNG)


def test_plots_nothing_ran():
    assert plot_files(document([failed("A"), failed("B")])) == {}


def two_runtimes() -> dict:
    """The paper-like run in eager, and in a second runtime 2x faster except C (3x)."""
    doc = paper_like()
    doc["config"]["runtimes"] = ["eager", "onnxruntime"]
    for r in list(doc["rows"]):
        other = copy.deepcopy(r)
        other["runtime"] = "onnxruntime"
        for key in ("latency_median_ms", "latency_ci95_low_ms", "latency_ci95_high_ms"):
            other[key] /= 3.0 if r["variant"] == "C" else 2.0
        doc["rows"].append(other)
    return doc


def test_every_runtime_gets_its_own_mirror_ratios_and_claims():
    doc = two_runtimes()
    eager, ort = table3_frame(doc, "eager"), table3_frame(doc, "onnxruntime")
    assert list(eager["variant"]) == list(ort["variant"]) == list(PAPER)
    c = {f.attrs["reference"]: f.set_index("variant")["rel_latency"]["C"] for f in (eager, ort)}
    assert eager["rel_latency"][2] == pytest.approx(13.3 / 7.2)  # ratios within one runtime
    assert ort["rel_latency"][2] == pytest.approx(13.3 / 7.2 * 2 / 3)
    assert list(c) == ["A"]
    text = markdown(doc)
    assert text.count("# Table 3 mirror") == 2 and "onnxruntime" in text
    csv = csv_text(doc).splitlines()
    assert csv[0].endswith(",runtime") and len(csv) == 1 + 2 * len(PAPER)
    eager_claims = by_claim(evaluate_claims(doc, "eager"))
    ort_claims = by_claim(evaluate_claims(doc, "onnxruntime"))
    assert eager_claims["C vs B"]["latency_change_measured"] == pytest.approx(13.3 / 11.1 - 1)
    assert ort_claims["C vs B"]["latency_change_measured"] == pytest.approx(13.3 / 11.1 * 2 / 3 - 1)
    assert ort_claims["C vs B"]["runtime"] == "onnxruntime"
    files = plot_files(doc)
    expected = ["params_flops_latency-eager.png", "params_flops_latency-onnxruntime.png"]
    assert sorted(files) == sorted(["latency_vs_ap.png", *expected])


HOSTILE = "[bold]x[/bold] | $y_1$ [/x]\nz"  # rich markup, a table pipe, mathtext, a newline


def test_user_text_is_never_markup(tmp_path):
    doc = paper_like()
    doc["rows"].append(row("E", 900.0, 42.9, paper=False))
    doc["rows"][-1]["variant"] = HOSTILE
    doc["rows"].append(failed("D", paper=False))
    doc["rows"][-1].update(variant="bad", error="boom [/red] | broken\nline")
    console = Console(width=400, record=True)
    for item in terminal_report(doc):
        console.print(item)
    out = console.export_text()
    assert "[bold]x[/bold]" in out and "boom [/red]" in out
    run_dir, warnings = write_run(doc, tmp_path, "hostile", plots=True)
    assert warnings == []
    table = (run_dir / "table3.md").read_text()
    line = next(x for x in table.splitlines() if "bold" in x and x.startswith("| "))
    # pipe, brackets, math and emphasis escaped, newline folded: the row stays one row
    assert r"| \[bold\]x\[/bold\] \| \$y\_1\$ \[/x\] z |" in line
    header = next(x for x in table.splitlines() if x.startswith("| Variant"))
    cells = re.split(r"(?<!\\)\|", line)  # split on unescaped pipes only
    assert len(cells) == header.count("|") + 1  # as many cells as the header: one row
    assert (run_dir / "latency_vs_ap.png").read_bytes().startswith(PNG)


def test_latex_table():
    doc = paper_like()
    doc["rows"].append(row("E", 900.0, 42.9, paper=False))
    doc["rows"][-1]["variant"] = "my_E&50%"
    text = latex_table(doc, "eager")
    for command in ("\\begin{table}", "\\toprule", "\\midrule", "\\bottomrule", "\\caption{"):
        assert command in text
    assert "my\\_E\\&50\\%" in text and "my_E" not in text
    body = text.split("\\midrule\n")[1].split("\\bottomrule")[0]
    assert len(body.strip().splitlines()) == len(doc["rows"])
    assert body.startswith("A & 43.0 & 31.62 & 31 & 100.0 & 720.0 & 7.2 & 1.00 & 1.00 \\\\")
    assert "Test CPU" in text and "detector scope" in text and "from the paper" in text


def test_latex_escape():
    assert escape("a_b&c%d#e$f{g}h~i^j\\k") == (
        r"a\_b\&c\%d\#e\$f\{g\}h\textasciitilde{}i\textasciicircum{}j\textbackslash{}k"
    )


def test_runtime_comparison_against_the_paper():
    from rtbench.report.runtimes import agreement_with_paper, comparison_frame, files, terminal

    doc = two_runtimes()
    frame = comparison_frame(doc).set_index("variant")
    assert frame.loc["C", "onnxruntime_speedup"] == pytest.approx(3.0)
    assert frame.loc["E", "onnxruntime_speedup"] == pytest.approx(2.0)
    assert frame.loc["E", "paper_ratio"] == pytest.approx(9.3 / 7.2)
    fit = agreement_with_paper(doc)
    assert fit["eager"]["mean_abs_ratio_diff"] == pytest.approx(0.0, abs=1e-12)
    assert fit["eager"]["spearman"] == pytest.approx(1.0)
    # ONNX Runtime: only C's ratio moved, by a third. C (1330 / 3 = 443 ms) and E (930 / 2 = 465
    # ms) are within 5%: a tie, ranked 3.5 each. Ours A 1, Ds5 2, C 3.5, E 3.5, B 5, D 6 against
    # the paper's A 1, Ds5 2, E 3, B 4, D 5, C 6: Pearson's r of the two rankings.
    assert fit["onnxruntime"]["mean_abs_ratio_diff"] == pytest.approx(13.3 / 7.2 / 3 / 6)
    ours, paper = [1, 2, 3.5, 3.5, 5, 6], [1, 2, 6, 3, 4, 5]
    cov = sum((a - 3.5) * (b - 3.5) for a, b in zip(ours, paper, strict=True))
    spread = (sum((a - 3.5) ** 2 for a in ours) * sum((b - 3.5) ** 2 for b in paper)) ** 0.5
    assert fit["onnxruntime"]["spearman"] == pytest.approx(cov / spread)
    assert set(files(doc)) == {"runtimes.csv", "runtimes.tex"}
    assert terminal(paper_like()) == [] and files(paper_like()) == {}  # one runtime: no table


def test_a_busy_machine_is_warned_about_under_the_table():
    quiet = {"cpu_count": 2, "load_per_core_before": 0.05, "load_per_core_after": 1.0,
             "steal_fraction": 0.0, "others_cpu_fraction": 0.01, "calibration_drift": 1.02,
             "calibration_spread": 0.04}  # fmt: skip
    doc = paper_like()
    assert "WARNING" not in markdown(doc)  # written before load was recorded
    doc["load"] = quiet
    assert "WARNING" not in markdown(doc)
    doc["load"] = dict(quiet, load_per_core_before=1.5, others_cpu_fraction=0.4,
                       calibration_drift=1.3, calibration_spread=0.25)  # fmt: skip
    text = markdown(doc)
    busy = next(line for line in text.splitlines() if "the machine was busy" in line)
    assert busy.startswith("- WARNING: ")
    assert "load 1.50 per core as it started" in busy
    assert "other processes used 40% of the CPU while it timed" in busy
    assert "ratios between them" in busy and "steal" not in busy
    drift = next(line for line in text.splitlines() if "speed changed within the run" in line)
    assert "last third of the run was 1.30x the first third's" in drift
    assert "IQR was 25% of its median" in drift
    console = Console(width=400, record=True)
    for item in terminal_report(doc):
        console.print(item)
    assert "the machine was busy" in console.export_text()


def test_latencies_the_run_cannot_tell_apart_are_ties():
    from rtbench.report.runtimes import agreement_with_paper
    from rtbench.report.ties import tie_ranks

    doc = paper_like()
    rows = {r["variant"]: r for r in doc["rows"]}
    # Ds5 within 3% of D: a tie by size. The claim "Ds5 35% faster than D" has no direction.
    for key in ("latency_median_ms", "latency_ci95_low_ms", "latency_ci95_high_ms"):
        rows["Ds5"][key] = rows["D"][key] * 0.97
    claims = by_claim(evaluate_claims(doc))
    ds5 = claims["Ds5 vs D"]
    assert ds5["latency_tie"] is True and ds5["latency_direction_agrees"] is None
    assert claims["E vs D"]["latency_tie"] is False and claims["E vs D"]["direction_agrees"]
    assert "| Ds5 vs D | +0.4 AP | latency | -35% | -3.0% | tie |" in claims_markdown(
        evaluate_claims(doc)
    )
    # Ranked fastest first, A < E < B < Ds5 = D < C: the tied pair shares rank (4 + 5) / 2.
    order = [rows[v] for v in PAPER]
    assert tie_ranks(order) == [1, 3, 6, 4.5, 4.5, 2]
    # Spearman of those ranks against the paper's latencies, restated: the paper ranks
    # A, Ds5, E, B, D, C = 1..6, so d = A 0, B 1 (3 vs 4), C 0, D -0.5, Ds5 2.5, E 0 ...
    paper_rank = {"A": 1, "Ds5": 2, "E": 3, "B": 4, "D": 5, "C": 6}
    ours = dict(zip(PAPER, [1, 3, 6, 4.5, 4.5, 2], strict=True))
    mean = 3.5
    cov = sum((ours[v] - mean) * (paper_rank[v] - mean) for v in PAPER)
    var_ours = sum((ours[v] - mean) ** 2 for v in PAPER)
    var_paper = sum((paper_rank[v] - mean) ** 2 for v in PAPER)
    expected = cov / (var_ours * var_paper) ** 0.5  # Pearson of ranks, ties averaged
    assert agreement_with_paper(two_runtimes_of(doc))["eager"]["spearman"] == pytest.approx(
        expected
    )


def two_runtimes_of(doc: dict) -> dict:
    doc = copy.deepcopy(doc)
    doc["config"]["runtimes"] = ["eager", "onnxruntime"]
    doc["rows"] += [dict(copy.deepcopy(r), runtime="onnxruntime") for r in doc["rows"]]
    return doc


def test_a_speed_up_column_only_where_there_is_something_to_speed_up_over():
    from rtbench.report.runtimes import comparison_headers, comparison_rows

    one = paper_like()
    assert comparison_headers(one) == ["Variant", "eager ms", "eager / A", "paper / A"]
    assert all(len(r) == 4 and not r[2].endswith("x") for r in comparison_rows(one))
    two = two_runtimes()
    headers = comparison_headers(two)
    assert [h for h in headers if "speed-up" in h] == ["onnxruntime speed-up"]
    c = next(r for r in comparison_rows(two) if r[0] == "C")
    assert c[headers.index("onnxruntime speed-up")] == "3.00x"  # 1330 ms / (1330 / 3) ms


def test_ratio_error_bars_are_the_variants_ci_over_as_median():
    from rtbench.report.runtimes import comparison_frame, ratio_errors

    doc = paper_like()  # CIs are 0.98x and 1.02x the medians (row above), 100x the paper's
    frame = comparison_frame(doc)
    below, above = ratio_errors(frame, "eager")
    a = 100 * 7.2  # A's median, ms
    for i, variant in enumerate(frame["variant"]):
        median = 100 * PAPER[variant][2]
        assert below[i] == pytest.approx(0.02 * median / a)
        assert above[i] == pytest.approx(0.02 * median / a)


def test_the_run_time_and_how_the_peak_was_measured_are_in_the_report():
    from rtbench.report.table3 import detail_caption

    doc = paper_like()
    assert "one large matmul" in detail_caption(doc)  # an older run: said as it was
    assert "No peak: FLOPs not counted." in detail_caption(doc | {"peak_gflops_per_s": None})
    doc["peak"] = {"gflops_per_s": 80.0, "dtype": "float32", "threads": 2, "repeats": 5,
                   "when": "before timing", "method": "-",
                   "shapes": [{"m": 1024, "k": 1024, "n": 1024, "gflops_per_s": 60.0},
                              {"m": 6400, "k": 256, "n": 256, "gflops_per_s": 80.0}]}  # fmt: skip
    doc["run_time"] = {"wall_s": 100.0, "phases_s": {"build": 20.0, "timing": 80.0}}
    caption = detail_caption(doc)
    assert "80.0 GFLOP/s, the best of 2 matmul shapes in float32 (6400x256x256 fastest)" in caption
    assert "Run time: 100.0 s (build 20.0 s, timing 80.0 s)." in caption
    # read through the timing too: both readings said, the better one the peak
    doc["peak"] |= {"gflops_per_s": 95.0, "when": "before timing, and through it",
                    "probe": {"m": 6400, "k": 256, "n": 256, "calls": 16,
                              "gflops_per_s": 95.0}}  # fmt: skip
    caption = detail_caption(doc)
    assert ("Peak: 95.0 GFLOP/s, the best of 2 matmul shapes in float32 (6400x256x256 fastest), "
            "each the fastest of 5 calls, before timing, and through it: 80.0 GFLOP/s before, "
            "95.0 through the timing (the fastest of 16 calls interleaved with the models).")  \
        in caption  # fmt: skip
    # convolutions among the shapes (since they were): said, and the kernel of the fastest
    doc["peak"]["shapes"][1]["kernel"] = 3
    assert (
        "the best of 2 matmul and conv shapes in float32 (6400x256x256 as a 3x3 conv fastest)"
    ) in detail_caption(doc)
