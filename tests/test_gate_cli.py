"""`rtbench baseline` and `rtbench check` through the CLI: the files they read and write, exit
codes, and unusable input. Verdicts are asserted on deterministic samples written into a measured
baseline's runs (run-level offsets included), so they hold on a busy machine; verdicts on real
slowdowns are acceptance tests (acceptance/test_gate_acceptance.py)."""

import copy
import json
import math
import statistics
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rtbench.cli import app
from rtbench.results import RUNS_SCHEMA, SCHEMA, run_set

runner = CliRunner()
SMALL = ["--scope", "encoder", "--size", "64", "--iters", "6", "--min-time", "0.1", "--device",
         "cpu"]  # fmt: skip
SAMPLES = [1.0 + 0.01 * i for i in range(10)]  # deterministic "latencies", 1.00-1.09
BASE_OFFSETS = [0.0, 0.01, -0.01, 0.02, -0.02]  # each baseline run as a whole, relative
CURRENT_OFFSETS = [0.02, -0.01, 0.0, -0.02, 0.01]  # the same spread, in another order
NAMES = ["A", "B", "Ds5", "E"]


def invoke(*args, **kwargs):
    return runner.invoke(app, [str(a) for a in args], **kwargs)


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """A baseline of 3 runs, measured by `rtbench baseline` (each run a process of its own). Tiny
    encoders timed 6 times spread too much for a 10% slowdown to be seen, unless the machine is
    very quiet: then the runs are refused, and written aside (exit 1)."""
    folder = tmp_path_factory.mktemp("gate")
    path = folder / "baseline.json"
    result = invoke("baseline", *NAMES, *SMALL, "--runs", 3, "--out", path,
                    "--history", folder / "history.duckdb")  # fmt: skip
    if result.exit_code == 1:
        assert "refused: the runs spread too much to catch a 10% slowdown" in result.output
        assert not path.exists()
        path = folder / "baseline.refused.json"
    assert result.exit_code in (0, 1) and path.exists(), result.output
    return path, result.output


def runs_of(measured_path, offsets, scale=None, params: int = 0, load=None) -> list[dict]:
    """The measured baseline's first run, again once per offset: every row's samples SAMPLES
    times (1 + offset) times its `scale`."""
    first = json.loads(measured_path.read_text())["runs"][0]
    out = []
    for i, offset in enumerate(offsets):
        run = copy.deepcopy(first)
        run["run_id"] = f"run-{i}"
        run["load"] = load
        for row in run["rows"]:
            factor = (1 + offset) * (scale or {}).get(row["variant"], 1.0)
            row["latency_samples_ms"] = [s * factor for s in SAMPLES]
            row["latency_normalized_samples"] = list(row["latency_samples_ms"])
            row["params"] += params
        out.append(run)
    return out


def change(n: int) -> float:
    """The change of every row against the calibration after n current runs, in closed form:
    the difference of the mean log offsets of the two sides (a row's samples share them)."""
    base = statistics.fmean(math.log(1 + o) for o in BASE_OFFSETS)
    current = statistics.fmean(math.log(1 + o) for o in CURRENT_OFFSETS[:n])
    return math.exp(current - base) - 1


def write(path, runs: list[dict]):
    path.write_text(json.dumps(run_set(runs, runs[0]["created"])))
    return path


@pytest.fixture
def baseline_file(tmp_path, measured):
    return write(tmp_path / "baseline.json", runs_of(measured[0], BASE_OFFSETS))


def current_file(tmp_path, measured, **kwargs):
    return write(tmp_path / "current.json", runs_of(measured[0], CURRENT_OFFSETS, **kwargs))


def test_the_baseline_is_a_run_set_and_says_what_it_can_see(measured):
    path, output = measured
    document = json.loads(path.read_text())
    assert document["schema"] == RUNS_SCHEMA and len(document["runs"]) == 3
    first, *later = document["runs"]
    assert first["schema"] == SCHEMA and first["config"]["size"] == 64
    assert [r["variant"] for r in first["rows"]] == NAMES
    assert all(isinstance(r["params"], int) for r in first["rows"])  # sizes: the first run
    assert all(run["config"]["flops"] is False for run in later)  # the later ones time only
    assert len({run["protocol"]["order_seed"] for run in document["runs"]}) == 3
    # one thread (the gate's workload): a neighbour takes a spare core, not a thread's time
    assert {(run["config"]["threads"], run["load"]["threads"]) for run in document["runs"]} == {
        (1, 1)
    }
    assert "A (eager): a check catches" in output


def test_unchanged_runs_pass(tmp_path, measured, baseline_file):
    current = current_file(tmp_path, measured)
    result = invoke("check", current, "--baseline", baseline_file, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["outcome"] == "pass" and report["runs"]["baseline"] == 5
    n = report["runs"]["current"]  # the runs the check needed to decide, in the file's order
    assert 2 <= n <= 5
    for row in report["rows"]:
        assert row["verdict"] == "same" and row["decided_at"] <= n
        assert row["vs_calibration"]["change"] == pytest.approx(change(row["decided_at"]))
    assert "gate: pass" in invoke("check", current, "--baseline", baseline_file).output


def test_a_slower_variant_fails_and_speaks_junit_json_and_a_step_summary(
    tmp_path, measured, baseline_file
):
    import junitparser

    current = current_file(tmp_path, measured, scale={"E": 1.5})
    junit, summary = tmp_path / "gate.xml", tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    result = invoke("check", current, "--baseline", baseline_file, "--junit", junit,
                    "--format", "json", env={"GITHUB_STEP_SUMMARY": str(summary)})  # fmt: skip
    assert result.exit_code == 1
    report = json.loads(result.stdout)  # stdout is the JSON alone
    assert (report["outcome"], report["exit_code"]) == ("regression", 1)
    rows = {row["variant"]: row for row in report["rows"]}
    assert rows["E"]["verdict"] == "slower"
    e_change = rows["E"]["vs_calibration"]["change"]
    assert e_change == pytest.approx(1.5 * (1 + change(rows["E"]["decided_at"])) - 1)
    assert not any(rows[v]["failed"] for v in ("A", "B", "Ds5"))
    suite = next(iter(junitparser.JUnitXml.fromfile(str(junit))))  # a reader that is not ours
    cases = {case.name: case for case in suite}
    assert sorted(cases) == NAMES and suite.failures == 1
    (failure,) = cases["E"].result
    assert isinstance(failure, junitparser.Failure) and failure.type == "slower"
    assert f"{e_change:+.1%}" in failure.message
    text = summary.read_text()
    assert text.startswith("earlier step\n### rtbench check: FAIL: regression")  # appended
    assert f"| E | eager | {e_change:+.1%}" in text and "**slower**" in text


def test_params_growth_fails_unless_allowed(tmp_path, measured, baseline_file):
    current = current_file(tmp_path, measured, params=10)
    assert invoke("check", current, "--baseline", baseline_file).exit_code == 1
    allowed = invoke("check", current, "--baseline", baseline_file, "--allow-growth")
    assert allowed.exit_code == 0, allowed.output


def test_one_current_run_cannot_pass_even_three_times_slower(tmp_path, measured, baseline_file):
    current = tmp_path / "one.json"
    current.write_text(json.dumps(runs_of(measured[0], [0.0], scale={"E": 3.0})[0]))
    result = invoke("check", current, "--baseline", baseline_file)
    assert result.exit_code == 3, result.output
    assert "gate: INCONCLUSIVE" in result.output


def test_cannot_tell_names_the_baseline_of_this_hour(tmp_path, measured):
    runs = runs_of(measured[0], BASE_OFFSETS)
    for run in runs:
        run["environment"]["git_commit"] = "0123456789abcdef" * 2 + "01234567"
    baseline = write(tmp_path / "baseline.json", runs)
    current = tmp_path / "one.json"
    current.write_text(json.dumps(runs_of(measured[0], [0.0])[0]))
    result = invoke("check", current, "--baseline", baseline)
    assert result.exit_code == 3, result.output
    assert "rtbench baseline --at 0123456789ab --out <file>" in result.output


def test_a_baseline_of_one_run_is_refused(tmp_path, measured):
    old = tmp_path / "old.json"  # a results.json, as baselines were written before run sets
    old.write_text(json.dumps(json.loads(measured[0].read_text())["runs"][0]))
    result = invoke("check", old, "--baseline", old)
    assert result.exit_code == 2 and "1 run(s)" in result.output
    assert "rtbench baseline" in result.output


def test_cannot_tell_is_its_own_exit_code_never_a_pass(tmp_path, measured, baseline_file):
    # every variant 1.5x slower while other processes took 40% of the CPU: a shared slowdown
    # cannot be told from contention, so the gate says "inconclusive" (exit 3)
    busy = {"cpu_count": 2, "load_per_core_before": 0.9, "others_cpu_fraction": 0.4}
    current = current_file(tmp_path, measured, scale=dict.fromkeys(NAMES, 1.5), load=busy)
    junit = tmp_path / "gate.xml"
    result = invoke("check", current, "--baseline", baseline_file, "--junit", junit)
    assert result.exit_code == 3, result.output
    assert "gate: INCONCLUSIVE" in result.output
    import junitparser

    suite = next(iter(junitparser.JUnitXml.fromfile(str(junit))))
    kinds = {case.name: [type(r).__name__ for r in case.result] for case in suite}
    assert kinds == dict.fromkeys(NAMES, ["Skipped"])


def test_check_measures_runs_until_it_decides(tmp_path, measured):
    # Wiring: runs measured now, each in its own process, against the measured baseline whose E
    # took a billionth of the calibration in every run: E is slower for certain, decided at the
    # first look (two runs), both runs kept.
    document = json.loads(measured[0].read_text())
    for run in document["runs"]:
        for row in run["rows"]:
            if row["variant"] == "E":
                row["latency_normalized_samples"] = [1e-9 * x for x in SAMPLES]
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(document))
    results_dir = tmp_path / "runs"
    result = invoke("check", "--baseline", baseline, "--results-dir", results_dir,
                    "--history", tmp_path / "history.duckdb")  # fmt: skip
    assert result.exit_code == 1, result.output
    (run_dir,) = results_dir.iterdir()
    first = json.loads((run_dir / "results.json").read_text())
    second = json.loads((run_dir / "run-2.json").read_text())
    assert first["config"]["size"] == 64 and [r["variant"] for r in first["rows"]] == NAMES
    assert first["config"]["flops"] is True and second["config"]["flops"] is False
    assert "gate: FAIL: regression after 2 runs" in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such results file"),
        ("{not json", "not valid JSON"),
        ('{"schema": "other/9"}', "schema is 'other/9'"),
        (b"\xff\xfe\x00binary", "not UTF-8"),
        ('{"schema": "rtbench.runs/1", "runs": []}', "a run set without runs"),
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
def test_runs_of_different_configuration_are_not_comparable(tmp_path, measured, baseline_file,
                                                            key, value):  # fmt: skip
    runs = runs_of(measured[0], CURRENT_OFFSETS)
    for run in runs:
        run["config"][key] = value
    result = invoke("check", write(tmp_path / "current.json", runs), "--baseline", baseline_file)
    assert result.exit_code == 2 and f"config {key} differs" in result.output


def test_another_runtime_is_not_the_same_row(tmp_path, measured, baseline_file):
    runs = runs_of(measured[0], CURRENT_OFFSETS)
    for run in runs:
        run["config"]["runtimes"] = ["compile"]
        for row in run["rows"]:
            row["runtime"] = "compile"
    result = invoke("check", write(tmp_path / "current.json", runs), "--baseline", baseline_file)
    assert result.exit_code == 2 and "no (variant, runtime) in common" in result.output


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [("--threshold", "0", "--threshold 0.0: must be more than 0"),
     ("--alpha", "0.7", "--alpha 0.7: must be less than 0.5"),
     ("--max-runs", "1", "--max-runs 1: must be at least 2"),
     ("--budget", "nan", "--budget"),
     ("--format", "yaml", "'yaml' is not one of 'text', 'json'")],
)  # fmt: skip
def test_bad_options_exit_2_in_one_line(baseline_file, flag, value, message):
    result = invoke("check", baseline_file, "--baseline", baseline_file, flag, value)
    assert result.exit_code == 2 and message in result.output, result.output


def test_a_baseline_whose_run_fails_keeps_what_it_measured(tmp_path):
    # R18's maps fit no ResNet-50-vd: its detector row fails in the first run; the run is kept
    # aside, no baseline is written, exit 1
    variants = tmp_path / "variants"
    variants.mkdir()
    (variants / "A.yaml").write_text(
        (Path(__file__).parents[1] / "variants" / "A.yaml").read_text()
    )
    (variants / "R18.yaml").write_text(
        "description: smaller backbone maps\nin_channels: [128, 256, 512]\n"
        "intra: {mode: per_level, levels: [S5]}\nfusion: {type: ccff}\n"
    )
    out = tmp_path / "baseline.json"
    result = invoke("baseline", "A", "R18", "--scope", "detector", "--size", "128", "--iters", "2",
                    "--min-time", "0.1", "--variants-dir", variants, "--out", out,
                    "--history", tmp_path / "h.duckdb")  # fmt: skip
    assert result.exit_code == 1, result.output
    assert not out.exists()
    kept = json.loads((tmp_path / "baseline.refused.json").read_text())
    assert kept["schema"] == RUNS_SCHEMA and len(kept["runs"]) == 1
    rows = {r["variant"]: r["status"] for r in kept["runs"][0]["rows"]}
    assert rows == {"A": "ok", "R18": "error"}
