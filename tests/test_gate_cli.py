"""`rtbench baseline` and `rtbench check` through the CLI: the files they read and write, exit
codes, and unusable input. Verdicts are asserted on synthetic samples written into a measured
baseline, so they hold on a busy machine; verdicts on real slowdowns are acceptance tests
(acceptance/test_gate_acceptance.py)."""

import copy
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rtbench.check import run_check
from rtbench.cli import app
from rtbench.results import SCHEMA
from rtbench.spec import load_variants

runner = CliRunner()
SMALL = ["--scope", "encoder", "--size", "64", "--iters", "6", "--min-time", "0.1", "--device",
         "cpu"]  # fmt: skip
SAMPLES = [1.0 + 0.01 * i for i in range(30)]  # deterministic "latencies", spread 1.00-1.29


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def measured_baseline(tmp_path_factory):
    path = tmp_path_factory.mktemp("gate") / "baseline.json"
    result = invoke("baseline", "A", "B", "Ds5", "E", *SMALL, "--out", path)
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture
def baseline_file(tmp_path, measured_baseline):
    """The measured baseline with deterministic samples in place of the measured ones."""
    doc = json.loads(measured_baseline.read_text())
    for row in doc["rows"]:
        row["latency_samples_ms"] = row["latency_normalized_samples"] = list(SAMPLES)
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(doc))
    return path


def test_baseline_file_is_a_results_document(measured_baseline):
    doc = json.loads(measured_baseline.read_text())
    assert doc["schema"] == SCHEMA and doc["config"]["size"] == 64
    assert [r["variant"] for r in doc["rows"]] == ["A", "B", "Ds5", "E"]
    assert all(r["latency_samples"] == 6 and r["runtime"] == "eager" for r in doc["rows"])


@pytest.mark.parametrize("factor", [1.0, 1.1])
def test_unchanged_or_slightly_slower_results_pass(tmp_path, baseline_file, factor):
    # Not the baseline against itself: its samples in another order, as a second run gives them,
    # scaled by `factor` (1.1: 10% slower, inside the 15% threshold).
    doc = json.loads(baseline_file.read_text())
    for row in doc["rows"]:
        row["latency_samples_ms"] = [s * factor for s in reversed(SAMPLES)]
        row["latency_normalized_samples"] = list(row["latency_samples_ms"])
    current = tmp_path / "current.json"
    current.write_text(json.dumps(doc))
    result = invoke("check", current, "--baseline", baseline_file, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["outcome"] == "pass"
    assert [row["variant"] for row in report["rows"]] == ["A", "B", "Ds5", "E"]
    for row in report["rows"]:  # SAMPLES run 1.00-1.29: their median is 1.145
        assert row["verdict"] == "same" and row["baseline_norm"] == pytest.approx(1.145)
        assert row["current_norm"] == pytest.approx(1.145 * factor)
        assert row["vs_calibration"]["change"] == pytest.approx(factor - 1)
    assert "gate: pass" in invoke("check", current, "--baseline", baseline_file).output


def write_modified(tmp_path, baseline_file, scale: dict[str, float], params: int = 0):
    current = copy.deepcopy(json.loads(baseline_file.read_text()))
    for row in current["rows"]:
        factor = scale.get(row["variant"], 1.0)
        for key in ("latency_samples_ms", "latency_normalized_samples"):
            row[key] = [s * factor for s in row[key]]
        row["params"] += params
    path = tmp_path / "current.json"
    path.write_text(json.dumps(current))
    return path


def test_slower_variant_in_a_results_file_fails(tmp_path, baseline_file):
    current = write_modified(tmp_path, baseline_file, {"E": 1.5})
    result = invoke("check", current, "--baseline", baseline_file)
    assert result.exit_code == 1, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("│ E "))
    assert "slower" in row and "gate: FAIL" in result.output


def test_params_growth_fails_unless_allowed(tmp_path, baseline_file):
    current = write_modified(tmp_path, baseline_file, {}, params=10)
    assert invoke("check", current, "--baseline", baseline_file).exit_code == 1
    allowed = invoke("check", current, "--baseline", baseline_file, "--allow-growth")
    assert allowed.exit_code == 0, allowed.output


def test_check_measures_as_the_baseline_was_and_confirms_a_slowdown(tmp_path, measured_baseline):
    # Wiring: a fresh measurement of the same workload, gated against a real baseline in which E
    # took a billionth of the calibration, so that today's E is slower by a margin no machine's
    # noise reaches (10x was not: a neighbour taking half the CPU made the others move too): E is
    # measured again, the slowdown repeats, and the second measurement is kept too.
    doc = json.loads(measured_baseline.read_text())
    doc["rows"][-1]["latency_normalized_samples"] = [1e-9 * x for x in SAMPLES]
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(doc))
    results_dir = tmp_path / "runs"
    result = invoke("check", "--baseline", baseline, "--results-dir", results_dir)
    assert result.exit_code == 1, result.output
    (run_dir,) = results_dir.iterdir()
    doc = json.loads((run_dir / "results.json").read_text())
    assert doc["config"]["size"] == 64 and doc["config"]["runtimes"] == ["eager"]
    assert [r["variant"] for r in doc["rows"]] == ["A", "B", "Ds5", "E"]
    again = json.loads((run_dir / "confirmation.json").read_text())
    assert "E" in {r["variant"] for r in again["rows"]} and again["config"]["flops"] is False
    e_line = next(line for line in result.output.splitlines() if line.startswith("│ E "))
    assert "slower" in e_line and "gate: FAIL" in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such results file"),
        ("{not json", "not valid JSON"),
        ('{"schema": "other/9"}', "schema is 'other/9'"),
        (b"\xff\xfe\x00binary", "not UTF-8"),
    ],
)
def test_unusable_input_exits_2(tmp_path, baseline_file, content, message):
    current = tmp_path / "current.json"
    if isinstance(content, bytes):
        current.write_bytes(content)
    elif content is not None:
        current.write_text(content)
    result = invoke("check", current, "--baseline", baseline_file)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("key", "value"), [("size", 128), ("dtype", "bf16"), ("channels_last", True)]
)
def test_runs_of_different_configuration_are_not_comparable(tmp_path, baseline_file, key, value):
    doc = json.loads(baseline_file.read_text())
    doc["config"][key] = value
    current = tmp_path / "current.json"
    current.write_text(json.dumps(doc))
    result = invoke("check", current, "--baseline", baseline_file)
    assert result.exit_code == 2 and f"config {key} differs" in result.output


def test_another_runtime_is_not_the_same_row(tmp_path, baseline_file):
    doc = json.loads(baseline_file.read_text())
    doc["config"]["runtimes"] = ["compile"]
    for row in doc["rows"]:
        row["runtime"] = "compile"
    current = tmp_path / "current.json"
    current.write_text(json.dumps(doc))
    result = invoke("check", current, "--baseline", baseline_file)
    assert result.exit_code == 2 and "no (variant, runtime) in common" in result.output


def test_bad_threshold_exits_2(baseline_file):
    result = invoke("check", baseline_file, "--baseline", baseline_file, "--threshold", "0")
    assert result.exit_code == 2 and "--threshold" in result.output


def test_run_check_measures_as_the_baseline_and_confirms_suspects(measured_baseline):
    """rtbench.check.run_check, the one check path (the CLI, the acceptance tests and the gate
    benchmarks): a baseline whose E took a billionth of the calibration makes E slower for
    certain, so E (with any other suspect and a reference variant) is measured a second time,
    without FLOPs, and the slowdown holds."""
    doc = json.loads(measured_baseline.read_text())
    for row in doc["rows"]:
        if row["variant"] == "E":
            row["latency_normalized_samples"] = [1e-9 * x for x in SAMPLES]
    checked = run_check(doc, load_variants())
    report, current, (again,) = checked.report, checked.current, checked.again
    assert [r["variant"] for r in current["rows"]] == ["A", "B", "Ds5", "E"]
    assert {k: current["config"][k] for k in ("scope", "size")} == {"scope": "encoder", "size": 64}
    assert checked.documents == [current, again] and again["config"]["flops"] is False
    names = [r["variant"] for r in again["rows"]]
    assert "E" in names and set(names) <= {"A", "B", "Ds5", "E"}
    assert report.failed and {r.variant: r.verdict for r in report.rows}["E"] == "slower"


def test_run_check_measures_once_when_nothing_is_slower(measured_baseline):
    doc = json.loads(measured_baseline.read_text())
    # One variant (no view against the others) that took 100x as long in the baseline: faster.
    doc["rows"] = [row for row in doc["rows"] if row["variant"] == "A"]
    doc["rows"][0]["latency_normalized_samples"] = [100 * x for x in SAMPLES]
    checked = run_check(doc, load_variants())
    assert [r["variant"] for r in checked.current["rows"]] == ["A"]
    assert checked.again == () and not checked.report.failed


def test_the_cli_and_run_check_tolerate_a_deleted_variant_alike(tmp_path, measured_baseline):
    # Both gate through rtbench.check: a variant deleted since the baseline is missing, and fails.
    doc = json.loads(measured_baseline.read_text())
    doc["rows"] = [row for row in doc["rows"] if row["variant"] in ("A", "B")]
    doc["rows"][0]["latency_normalized_samples"] = [100 * x for x in SAMPLES]  # A: faster
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(doc))
    variants = tmp_path / "variants"
    variants.mkdir()
    (variants / "A.yaml").write_text(Path(load_variants()["A"].source).read_text())
    checked = run_check(doc, load_variants(variants))
    verdict = {r.variant: r.verdict for r in checked.report.rows}
    assert verdict == {"A": "faster", "B": "missing"} and checked.report.failed
    result = invoke("check", "--baseline", baseline, "--variants-dir", variants,
                    "--results-dir", tmp_path / "runs")  # fmt: skip
    assert result.exit_code == 1 and "not in the current run" in result.output


def test_a_failing_check_speaks_junit_json_and_a_step_summary(tmp_path, baseline_file):
    import junitparser

    current = write_modified(tmp_path, baseline_file, {"E": 1.5})
    junit, summary = tmp_path / "gate.xml", tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    result = runner.invoke(app, ["check", str(current), "--baseline", str(baseline_file),
                                 "--junit", str(junit), "--format", "json"],
                           env={"GITHUB_STEP_SUMMARY": str(summary)})  # fmt: skip
    assert result.exit_code == 1
    report = json.loads(result.stdout)  # stdout is the JSON alone
    assert (report["outcome"], report["exit_code"]) == ("regression", 1)
    rows = {row["variant"]: row for row in report["rows"]}
    # every E sample was scaled by 1.5, so its median ratio is 1.5 exactly
    assert rows["E"]["verdict"] == "slower" and rows["E"]["vs_calibration"]["change"] == 0.5
    assert {rows[v]["verdict"] for v in ("A", "B", "Ds5")} == {"same"}
    # a JUnit reader that is not ours
    suite = next(iter(junitparser.JUnitXml.fromfile(str(junit))))
    cases = {case.name: case for case in suite}
    assert sorted(cases) == ["A", "B", "Ds5", "E"] and suite.failures == 1
    (failure,) = cases["E"].result
    assert isinstance(failure, junitparser.Failure) and failure.type == "slower"
    assert "+50.0%" in failure.message and not cases["A"].result
    text = summary.read_text()
    assert text.startswith("earlier step\n### rtbench check: FAIL: regression")  # appended
    assert "| E | eager | +50.0% |" in text and "**slower**" in text


def test_cannot_tell_is_its_own_exit_code_never_a_pass(tmp_path, baseline_file):
    # Every variant 1.5x slower while other processes took 40% of the CPU: a shared slowdown
    # cannot be told from contention, so the gate says "inconclusive" (exit 3), and CI retries.
    current = write_modified(tmp_path, baseline_file, {v: 1.5 for v in ("A", "B", "Ds5", "E")})
    doc = json.loads(current.read_text())
    doc["load"] = {"cpu_count": 2, "load_per_core_before": 0.9, "others_cpu_fraction": 0.4}
    current.write_text(json.dumps(doc))
    junit = tmp_path / "gate.xml"
    result = invoke("check", current, "--baseline", baseline_file, "--junit", junit)
    assert result.exit_code == 3, result.output
    assert "gate: INCONCLUSIVE: check again on an idle machine" in result.output
    import junitparser

    suite = next(iter(junitparser.JUnitXml.fromfile(str(junit))))
    kinds = {case.name: [type(r).__name__ for r in case.result] for case in suite}
    assert kinds == dict.fromkeys(("A", "B", "Ds5", "E"), ["Skipped"])
    assert all(case.result[0].type == "inconclusive" for case in suite)


def test_format_must_be_known(baseline_file):
    result = invoke("check", baseline_file, "--baseline", baseline_file, "--format", "yaml")
    assert result.exit_code == 2 and "--format 'yaml': choose from text, json" in result.output
