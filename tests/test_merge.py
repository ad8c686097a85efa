"""`rtbench report`: merging sweeps and runs, the refusal of runs not measured alike, the long
table, the fitted exponent on synthetic data with a known exponent, and the plots."""

import math

import numpy as np
import pandas as pd
import pytest
from synthetic import results_document
from typer.testing import CliRunner

from rtbench.cli import app
from rtbench.files import write_json
from rtbench.report.merge import NotAlike, check_alike, collect
from rtbench.report.scaling import fit_exponent, tokens
from rtbench.sweep.executors import ExecutorSettings
from rtbench.sweep.grid import make_grid
from rtbench.sweep.store import SweepStore

runner = CliRunner()
PNG = b"\x89PNG"


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def run_folder(tmp_path, name: str, document: dict):
    folder = tmp_path / name
    write_json(folder / "results.json", document)
    return folder


def test_tokens_of_a_size():
    assert tokens(640) == 80 * 80 + 40 * 40 + 20 * 20 == 8400
    assert tokens(320) == 2100 and tokens(800) == 100 * 100 + 50 * 50 + 25 * 25


def test_exponent_of_an_exact_power_law():
    x = np.array([2100.0, 4725.0, 8400.0, 13125.0])
    fit = fit_exponent(x, 0.003 * x**1.7)
    assert fit["k"] == pytest.approx(1.7, abs=1e-9) and fit["n"] == 4
    assert fit["k_stderr"] == pytest.approx(0.0, abs=1e-9)


def test_exponent_standard_error_and_ci_against_the_closed_form():
    x = np.array([2100.0, 4725.0, 8400.0, 13125.0])
    noise = np.array([0.05, -0.08, 0.02, 0.04])  # log-space residual pattern, fixed
    y = 0.01 * x**1.3 * np.exp(noise)
    lx, ly = np.log(x), np.log(y)
    sxx = ((lx - lx.mean()) ** 2).sum()
    slope = ((lx - lx.mean()) * (ly - ly.mean())).sum() / sxx
    residuals = ly - (ly.mean() + slope * (lx - lx.mean()))
    stderr = math.sqrt((residuals**2).sum() / (len(x) - 2) / sxx)
    fit = fit_exponent(x, y)
    assert fit["k"] == pytest.approx(slope) and fit["k_stderr"] == pytest.approx(stderr)
    t_975_2 = 4.302652729911275  # Student's t, 97.5th percentile, 2 degrees of freedom
    assert fit["k_ci95_high"] - fit["k"] == pytest.approx(t_975_2 * stderr)
    two = fit_exponent([100, 400], [1.0, 8.0])  # two sizes: k, but no error estimate
    assert two["k"] == pytest.approx(1.5) and two["k_stderr"] is None
    with pytest.raises(ValueError, match="two different sizes"):
        fit_exponent([100, 100], [1.0, 2.0])


def synthetic_sweep(tmp_path) -> SweepStore:
    """Sizes 64, 96, 128 x batches 1, 2, two runtimes: A grows as tokens^1, C as tokens^1.5,
    compile twice as fast as eager; point s128-b2 failed."""
    grid = make_grid({"scope": "encoder", "device": "cpu", "variants": ("A", "C"),
                      "sizes": (64, 96, 128), "batches": (1, 2),
                      "runtimes": ("eager", "compile")}, {}, "test")  # fmt: skip
    store = SweepStore.create(tmp_path / "sweeps", "grow", grid, ExecutorSettings().record())
    for point in grid.points:
        if point.id == "s128-b2-fp32":
            store.set_status(point.id, "failed", error="out of memory: test")
            continue
        t = tokens(point.size)
        latencies = {}
        for variant, k in (("A", 1.0), ("C", 1.5)):
            ms = 0.01 * t**k * point.batch
            latencies[(variant, "eager")], latencies[(variant, "compile")] = ms, ms / 2
        document = results_document(latencies, size=point.size, batch=point.batch,
                                    run_id=point.id)  # fmt: skip
        write_json(store.results_path(point.id), document)
        store.set_status(point.id, "done")
    return store


def test_report_of_a_sweep(tmp_path):
    store = synthetic_sweep(tmp_path)
    result = invoke("report", store.folder)
    assert result.exit_code == 0, result.output
    out = store.folder / "report"
    frame = pd.read_parquet(out / "points.parquet")
    assert len(frame) == 5 * 2 * 2  # 5 points that completed x 2 variants x 2 runtimes
    assert frame.equals(pd.read_parquet(out / "points.parquet"))
    assert set(frame["throughput_ips"].round(6)) >= {round(1000 / (0.01 * 84), 6)}
    fits = pd.read_csv(out / "exponents.csv")
    c = fits[(fits["variant"] == "C") & (fits["runtime"] == "eager") & (fits["batch"] == 1)]
    assert c["k"].iloc[0] == pytest.approx(1.5) and c["n"].iloc[0] == 3
    b2 = fits[(fits["variant"] == "A") & (fits["batch"] == 2)]
    assert b2["n"].iloc[0] == 2 and b2["k"].iloc[0] == pytest.approx(1.0)  # 128 is missing
    speedups = pd.read_csv(out / "speedups.csv")
    assert np.allclose(speedups["speedup"], 2.0)
    assert set(speedups["runtime"]) == {"compile"} and set(speedups["reference"]) == {"eager"}
    text = (out / "report.md").read_text()
    assert "| grow/s128-b2-fp32 | failed | out of memory: test |" in text
    assert "fastest with the number of tokens for C (median k of its fits = 1.50)" in text
    assert "size swept: [64, 96, 128], batch swept: [1, 2]" in text
    for name in ("latency_vs_tokens.png", "throughput_vs_batch.png", "speedups.png"):
        assert (out / name).read_bytes().startswith(PNG)
    assert "Missing points" in result.output


def test_runs_from_two_machines_side_by_side(tmp_path):
    params = {"A": 1_000_000, "C": 2_000_000}
    one = results_document({("A", "eager"): 10.0, ("C", "eager"): 20.0}, params=params,
                           device_name="CPU one", run_id="one")  # fmt: skip
    two = results_document({("A", "eager"): 1.0, ("C", "eager"): 3.0}, params=params,
                           device_name="GPU two", run_id="two")  # fmt: skip
    result = invoke("report", run_folder(tmp_path, "one", one), run_folder(tmp_path, "two", two),
                    "--out", tmp_path / "merged", "--no-plots")  # fmt: skip
    assert result.exit_code == 0, result.output
    text = (tmp_path / "merged" / "report.md").read_text()
    assert "| runtime | variant | one | two |" in text and "| eager | C | 20.00 | 3.00 |" in text
    assert "Devices: CPU one (cpu); GPU two (cpu)" in text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"size": 320}, "not measured alike: size differs (one: 640, two: 320)"),
        ({"deploy": True}, "not measured alike: deploy differs (one: False, two: True)"),
        (
            {"params": 5},
            "not measured alike: variant A has 1,000,000 params in one and 5 in two: "
            "not the same model",
        ),
    ],
)
def test_runs_not_measured_alike_are_refused(tmp_path, change, message):
    one = results_document({("A", "eager"): 10.0}, params={"A": 1_000_000}, run_id="one")
    two = results_document({("A", "eager"): 10.0}, params={"A": change.pop("params", 1_000_000)},
                           run_id="two")  # fmt: skip
    two["config"].update(change)
    folders = [run_folder(tmp_path, "one", one), run_folder(tmp_path, "two", two)]
    result = invoke("report", *folders, "--out", tmp_path / "merged", "--no-plots")
    assert result.exit_code == 2 and "Traceback" not in result.output
    text = " ".join(line.strip() for line in result.stderr.strip().splitlines())
    assert text == f"error: {message}; pass --allow-unlike to merge anyway"
    assert not (tmp_path / "merged").exists()
    allowed = invoke("report", *folders, "--out", tmp_path / "merged", "--no-plots",
                     "--allow-unlike")  # fmt: skip
    assert allowed.exit_code == 0 and "merged although unlike" in allowed.output


def test_a_sweep_may_differ_in_what_it_swept_only(tmp_path):
    store = synthetic_sweep(tmp_path)
    merged = collect([store.folder])
    check_alike(merged)  # sizes and batches differ: swept
    merged.sources[1].document["config"]["deploy"] = True
    with pytest.raises(NotAlike, match="deploy differs"):
        check_alike(merged)


def test_unusable_inputs(tmp_path):
    (tmp_path / "empty").mkdir()
    result = invoke("report", tmp_path / "empty")
    assert result.exit_code == 2
    assert "neither a run folder (results.json) nor a sweep folder" in result.stderr
    result = invoke("report", tmp_path / "nope.json")
    assert result.exit_code == 2 and "no such results file" in result.stderr
