"""Statistics (rtbench.measure.stats), calibration workloads and the regression gate (rtbench.gate).

Gate tests use synthetic results documents with seeded lognormal noise, so they are fast and
deterministic. Expected statistics come from closed forms (exact rank-test tails, binomial tables).
"""

import json
import math
import random
import statistics

import pytest
import torch

from rtbench.gate import compare, render
from rtbench.measure.calibration import (
    CALIBRATION_NAME,
    calibration_workload,
    measure_peak_gflops,
)
from rtbench.measure.stats import mann_whitney, median_ci_ranks, settled, summarize
from rtbench.results import SCHEMA, ResultsError, load_results

# ---------------------------------------------------------------- stats


def test_summarize_matches_numpy_percentiles():
    np = pytest.importorskip("numpy")
    rng = random.Random(1)
    for n in (1, 2, 5, 6, 7, 30, 101):
        xs = [rng.lognormvariate(2.0, 0.3) for _ in range(n)]
        s = summarize(xs)
        assert s["samples"] == n
        assert s["median_ms"] == pytest.approx(np.median(xs))
        assert s["p90_ms"] == pytest.approx(np.percentile(xs, 90))
        assert s["p99_ms"] == pytest.approx(np.percentile(xs, 99))
        assert s["iqr_ms"] == pytest.approx(np.percentile(xs, 75) - np.percentile(xs, 25))
        assert s["mean_ms"] == pytest.approx(np.mean(xs))
        assert s["std_ms"] == pytest.approx(np.std(xs, ddof=1) if n > 1 else 0.0)
        assert s["min_ms"] == min(xs)
        assert s["ci95_low_ms"] <= s["median_ms"] <= s["ci95_high_ms"]


def test_summarize_small_n_falls_back_to_min_max_and_rejects_empty():
    s = summarize([3.0, 1.0, 2.0])
    assert (s["ci95_low_ms"], s["ci95_high_ms"]) == (1.0, 3.0)
    assert summarize([4.0])["std_ms"] == 0.0
    with pytest.raises(ValueError):
        summarize([])


def test_median_ci_ranks_match_binomial_table():
    # Classic table values for the 95% order-statistic interval of the median.
    assert median_ci_ranks(5) is None
    assert median_ci_ranks(6) == (1, 6)
    assert median_ci_ranks(10) == (2, 9)
    assert median_ci_ranks(30) == (10, 21)
    assert median_ci_ranks(100) == (40, 61)
    binom = pytest.importorskip("scipy.stats").binom
    for n in (8, 25, 60, 500, 1500, 4000):
        j, k = median_ci_ranks(n)
        assert k == n + 1 - j
        assert 1 - 2 * binom.cdf(j - 1, n, 0.5) >= 0.95  # covers
        assert 1 - 2 * binom.cdf(j, n, 0.5) < 0.95 or n > 1000  # and is the narrowest (exact n)


def test_median_ci_coverage_is_about_95_percent():
    rng = random.Random(7)
    hits, trials = 0, 400
    true_median = math.exp(1.0)  # lognormal(mu=1) has median e^mu
    for _ in range(trials):
        s = summarize([rng.lognormvariate(1.0, 0.5) for _ in range(30)])
        hits += s["ci95_low_ms"] <= true_median <= s["ci95_high_ms"]
    assert 0.92 <= hits / trials <= 0.995  # exact coverage for n=30 is 0.957


def test_mann_whitney_exact_tails_of_separated_samples():
    # Fully separated samples of n and m: U is at its extreme, whose probability under the null is
    # 1 / C(n + m, n) (one ordering of the ranks among all equally likely ones).
    low, high = [1.0, 2.0, 3.0, 4.0, 5.0], [6.0, 7.0, 8.0, 9.0, 10.0]
    assert mann_whitney(low, high, "greater") == pytest.approx(1 / math.comb(10, 5))
    assert mann_whitney(low, high, "two-sided") == pytest.approx(2 / math.comb(10, 5))
    assert mann_whitney(low[:3], high[:3], "greater") == pytest.approx(1 / math.comb(6, 3))
    # 4 vs 4 fully separated is 1/70 = 0.014: no 4-sample run can pass alpha = 0.01.
    assert mann_whitney(low[:4], high[:4], "greater") == pytest.approx(1 / 70)
    assert mann_whitney(low, high, "less") == pytest.approx(1.0)


def test_mann_whitney_direction_and_degenerate_cases():
    a = [float(x) for x in range(10)]
    b = [x + 100 for x in a]
    assert mann_whitney(a, b, "greater") < 1e-3  # current (b) larger
    assert mann_whitney(a, b, "less") > 0.99
    assert mann_whitney([1.0] * 5, [1.0] * 5) == 1.0  # all tied
    with pytest.raises(ValueError):
        mann_whitney([], [1.0])
    with pytest.raises(ValueError):
        mann_whitney([1.0], [2.0], "bigger")


def test_settled():
    assert not settled([1.0, 1.0, 1.0], window=2, tolerance=0.05)  # too few samples
    assert not settled([10.0, 9.0, 5.0, 5.1], window=2, tolerance=0.05)
    assert settled([10.0, 9.0, 5.0, 5.1, 5.0, 5.05], window=2, tolerance=0.05)
    assert settled([0.0, 0.0], window=1, tolerance=0.1)


# ---------------------------------------------------------------- calibration


def test_calibration_workload_is_quick_and_deterministic():
    cpu = torch.device("cpu")
    step = calibration_workload(cpu, torch.float32, seed=0)
    out = step()
    assert all(torch.isfinite(t).all() for t in out)
    assert [tuple(t.shape) for t in out] == [(1, 2048, 8, 8), (1, 8, 256, 32)]
    assert all(torch.equal(x, y) for x, y in zip(out, step(), strict=True))
    again = calibration_workload(cpu, torch.float32, seed=0)()
    assert all(torch.equal(x, y) for x, y in zip(out, again, strict=True))
    assert CALIBRATION_NAME == "calib-v2"


def test_measure_peak_gflops_positive_finite():
    g = measure_peak_gflops(torch.device("cpu"), torch.float32, seconds=0.1)
    assert math.isfinite(g) and g > 0


# ---------------------------------------------------------------- gate

VARIANTS = {"A": 2.0, "B": 4.0, "C": 5.0, "D": 4.5, "Ds5": 2.5, "E": 3.0}  # x calibration
PARAMS = {"A": 8_000_000, "B": 9_000_000, "C": 9_000_000, "D": 11_000_000, "Ds5": 11_000_000}
PARAMS["E"] = 18_000_000


def make_results(
    seed: int,
    machine: float = 1.0,
    slow: dict[str, float] | None = None,
    n: int = 30,
    sigma: float = 0.04,
    **config,
) -> dict:
    """A results document with lognormal noise; `machine` scales every timing (calibration too),
    `slow` scales single variants only."""
    rng = random.Random(seed)
    slow = slow or {}
    calib_ms = 15.0 * machine

    def samples(center: float) -> list[float]:
        return [center * rng.lognormvariate(0.0, sigma) for _ in range(n)]

    calib = samples(calib_ms)
    rows = []
    for v, rel in VARIANTS.items():
        lat = samples(rel * calib_ms * slow.get(v, 1.0))
        rows.append(
            {
                "variant": v,
                "runtime": "eager",
                "status": "ok",
                "error": None,
                "params": PARAMS[v],
                "gmacs": PARAMS[v] / 1e6 * 1.7,
                "latency_median_ms": statistics.median(lat),
                "latency_samples_ms": lat,
                "latency_normalized": statistics.median(lat) / statistics.median(calib),
                "latency_normalized_samples": [x / c for x, c in zip(lat, calib, strict=True)],
            }
        )
    cfg = {"scope": "encoder", "device": "cpu", "dtype": "float32", "size": 640, "batch": 1}
    cfg |= {"seed": 0, "threads": 2, "deploy": False, "runtimes": ["eager"]} | config
    return {
        "schema": SCHEMA,
        "run_id": f"run-{seed}",
        "created": "2025-01-01T00:00:00+00:00",
        "config": cfg,
        "environment": {"torch": torch.__version__},
        "calibration": {
            "name": CALIBRATION_NAME,
            "median_ms": statistics.median(calib),
            "samples_ms": calib,
        },
        "rows": rows,
    }


def verdicts(report) -> dict[str, str]:
    return {r.variant: r.verdict for r in report.rows}


@pytest.mark.parametrize("seed", range(8))
def test_unchanged_run_passes(seed):
    report = compare(make_results(seed), make_results(seed + 100))
    assert not report.failed, verdicts(report)
    assert all(r.params_change == 0 and r.gmacs_change == 0.0 for r in report.rows)


def test_single_variant_slowdown_fails():
    report = compare(make_results(0), make_results(1, slow={"D": 1.5}))
    assert report.failed
    v = verdicts(report)
    assert v.pop("D") == "slower"
    assert set(v.values()) == {"same"}
    row = next(r for r in report.rows if r.variant == "D")
    assert row.change == pytest.approx(0.5, abs=0.05) and row.p_value < 1e-6


def test_shared_block_slowdown_flags_every_variant():
    report = compare(make_results(0), make_results(1, slow=dict.fromkeys(VARIANTS, 1.5)))
    assert report.failed
    assert set(verdicts(report).values()) == {"slower"}


def test_uniformly_slower_machine_passes():
    report = compare(make_results(0), make_results(1, machine=1.5))
    assert not report.failed, verdicts(report)


def test_speedup_is_reported_and_passes():
    report = compare(make_results(0), make_results(1, slow={"B": 0.6}))
    assert not report.failed
    assert verdicts(report)["B"] == "faster"


def test_small_drift_below_threshold_passes():
    # 8% slower with tight noise is statistically clear but under the default 15% threshold.
    base, cur = make_results(0, sigma=0.01), make_results(1, sigma=0.01, slow={"E": 1.08})
    report = compare(base, cur)
    row = next(r for r in report.rows if r.variant == "E")
    assert row.p_value < 0.01 and row.verdict == "same" and not report.failed
    strict = compare(base, cur, threshold=0.05)
    assert strict.failed and verdicts(strict)["E"] == "slower"


def test_very_different_calibration_is_a_warning():
    report = compare(make_results(0), make_results(1, machine=4.0))
    assert not report.failed and any("calibration median" in w for w in report.warnings)
    assert not compare(make_results(0), make_results(1)).warnings


def test_params_growth_fails_unless_allowed():
    current = make_results(1)
    current["rows"][-1]["params"] += 1000  # E
    current["rows"][-1]["gmacs"] += 0.25
    report = compare(make_results(0), current)
    assert report.failed
    row = next(r for r in report.rows if r.variant == "E")
    assert (row.verdict, row.params_change) == ("grew", 1000)
    assert row.gmacs_change == pytest.approx(0.25)
    allowed = compare(make_results(0), current, allow_growth=True)
    assert not allowed.failed
    assert next(r for r in allowed.rows if r.variant == "E").params_change == 1000


def test_params_shrink_is_reported_not_failed():
    current = make_results(1)
    current["rows"][0]["params"] -= 5
    report = compare(make_results(0), current)
    assert not report.failed and report.rows[0].params_change == -5


def test_missing_error_and_new_variants():
    current = make_results(1)
    current["rows"] = [r for r in current["rows"] if r["variant"] != "C"]
    current["rows"].append(dict(current["rows"][0], variant="F"))
    report = compare(make_results(0), current)
    v = verdicts(report)
    assert (v["C"], v["F"]) == ("missing", "new")
    assert report.failed

    only_new = make_results(1)
    only_new["rows"].append(dict(only_new["rows"][0], variant="F"))
    assert not compare(make_results(0), only_new).failed

    broken = make_results(1)
    broken["rows"][1] = {"variant": "B", "runtime": "eager", "status": "error",
                         "error": "RuntimeError: boom"}  # fmt: skip
    report = compare(make_results(0), broken)
    assert report.failed and verdicts(report)["B"] == "error"
    # Broken in both runs is not a regression.
    assert not compare(broken, broken).failed


def test_render_has_one_row_per_variant():
    from rich.console import Console

    current = make_results(1, slow={"D": 1.5})
    current["rows"] = current["rows"][1:]
    table = render(compare(make_results(0), current))
    assert table.row_count == len(VARIANTS)
    console = Console(record=True, width=200)
    console.print(table)
    text = console.export_text()
    assert "slower" in text and "missing" in text


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(schema="rtbench.results/0"), "schema"),
        (lambda d: d.update(schema="rtbench.results/9"), "schema"),
        (lambda d: d["config"].update(size=512), "size"),
        (lambda d: d["config"].update(dtype="float16"), "dtype"),
        (lambda d: d["config"].update(deploy=True), "deploy"),
        (lambda d: d["calibration"].update(name="calib-v0"), "calibration"),
        (lambda d: d.pop("rows"), "rows"),
        (lambda d: d["rows"][0].pop("latency_samples_ms"), "latency_samples_ms"),
        (
            lambda d: d.update(rows=[dict(r, variant=r["variant"] + "x") for r in d["rows"]]),
            "common",
        ),
        (lambda d: d.update(rows=[dict(r, runtime="compile") for r in d["rows"]]), "common"),
        (lambda d: d["rows"][0].update(latency_normalized_samples=[0.0] * 30), "positive"),
        (lambda d: d["rows"][0].update(latency_samples_ms=[-1.0] * 30), "positive"),
        (lambda d: d["rows"][0].update(latency_samples_ms=[1e12] * 30), "positive"),
        (lambda d: d["calibration"].update(median_ms=0), "calibration median_ms"),
        (lambda d: d["rows"][0].update(gmacs=None), "gmacs"),
        (lambda d: d["rows"].append(dict(d["rows"][0])), "twice"),
    ],
)
def test_unusable_input_raises_gate_error(mutate, message):
    current = make_results(1)
    mutate(current)
    with pytest.raises(ResultsError, match=message) as err:
        compare(make_results(0), current)
    assert "\n" not in str(err.value)


def test_thread_count_difference_is_a_warning():
    report = compare(make_results(0), make_results(1, threads=4))
    assert not report.failed and any("threads" in w for w in report.warnings)


def test_load_results(tmp_path):
    good = tmp_path / "results.json"
    good.write_text(json.dumps(make_results(0)))
    assert load_results(good)["run_id"] == "run-0"
    with pytest.raises(ResultsError, match="no such results file"):
        load_results(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ResultsError, match="not valid JSON"):
        load_results(bad)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"schema": "something/else"}))
    with pytest.raises(ResultsError, match="schema"):
        load_results(wrong)
    nan = tmp_path / "nan.json"
    marked = make_results(0)
    marked["calibration"]["median_ms"] = 123.25
    nan.write_text(json.dumps(marked).replace("123.25", "NaN"))
    with pytest.raises(ResultsError, match="NaN"):
        load_results(nan)


def version_1(document: dict, runtime_flags: dict) -> dict:
    """The same document as rtbench.results/1 wrote it: no runtimes, two runtime booleans."""
    old = json.loads(json.dumps(document))
    old["schema"] = "rtbench.results/1"
    del old["config"]["runtimes"]
    old["config"] |= runtime_flags
    for row in old["rows"]:
        del row["runtime"]
    return old


@pytest.mark.parametrize(
    ("flags", "runtime"),
    [
        ({"compile": False, "cuda_graphs": False}, "eager"),
        ({"compile": True, "cuda_graphs": False}, "compile"),
        ({"compile": False, "cuda_graphs": True}, "cuda-graphs"),
    ],
)
def test_version_1_documents_load_and_gate(tmp_path, flags, runtime):
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(version_1(make_results(0), flags)))
    loaded = load_results(path)
    assert loaded["schema"] == SCHEMA and loaded["config"]["runtimes"] == [runtime]
    assert {row["runtime"] for row in loaded["rows"]} == {runtime}
    assert "compile" not in loaded["config"] and loaded["config"]["channels_last"] is False
    current = make_results(1)
    for row in current["rows"]:
        row["runtime"] = runtime
    assert not compare(loaded, current).failed


# ---------------------------------------------------------------- gate: a second measurement


class Remeasured:
    """A fake second measurement: a synthetic run of the variants asked for, with `slow` applied;
    remembers what it was asked."""

    def __init__(self, slow: dict[str, float] | None = None, seed: int = 2, **changes):
        self.slow, self.seed, self.changes, self.asked = slow, seed, changes, []

    def __call__(self, names: list[str]) -> dict:
        self.asked.append(names)
        document = make_results(self.seed, slow=self.slow)
        document["rows"] = [dict(r, **self.changes.get(r["variant"], {}))
                            for r in document["rows"] if r["variant"] in names]  # fmt: skip
        return document


def row_of(report, variant: str):
    return next(r for r in report.rows if r.variant == variant)


def everything(factor: float, **single: float) -> dict[str, float]:
    return {v: single.get(v, factor) for v in VARIANTS}


def test_a_slowdown_that_repeats_fails():
    again = Remeasured(slow={"E": 1.5})
    report = compare(make_results(0), make_results(1, slow={"E": 1.5}), remeasure=again)
    (asked,) = again.asked
    assert asked[0] == "E" and len(asked) == 2  # the suspect and one reference
    e = row_of(report, "E")
    assert report.failed and e.verdict == "slower" and e.failed
    assert f"against {asked[1]}" in e.note and "confirmed" in e.note
    assert set(verdicts(report).values()) == {"slower", "same"}
    assert {r["variant"] for r in report.remeasured["rows"]} == set(asked)  # kept for the files


@pytest.mark.parametrize(
    "first",
    [{"D": 1.3}, {"D": 1.25, "Ds5": 1.31}],  # the false alarm of issue 11: D +24%, Ds5 +31%
)
def test_a_slowdown_that_does_not_repeat_passes(first):
    report = compare(make_results(0), make_results(1, slow=first), remeasure=Remeasured())
    assert not report.failed
    for variant in first:
        row = row_of(report, variant)
        assert row.verdict == "unconfirmed" and not row.failed
        assert "not repeated" in row.note


def test_a_slowdown_hidden_by_contention_against_the_calibration_is_still_caught():
    # A busy machine slowed the calibration more than the models (every variant 0.7x against
    # it): E's 1.5x slowdown reads +5% against the calibration, +50% against the other variants.
    contended = everything(0.7, E=0.7 * 1.5)
    again = Remeasured(slow=contended)
    report = compare(make_results(0), make_results(1, slow=contended), remeasure=again)
    e = row_of(report, "E")
    assert e.change == pytest.approx(0.05, abs=0.04)
    assert e.vs_others == pytest.approx(0.5, abs=0.06)
    assert report.failed and e.verdict == "slower" and "confirmed" in e.note
    assert len(again.asked[0]) == 2  # confirmed against a variant of the same run


def test_a_shared_slowdown_is_confirmed_against_the_calibration():
    again = Remeasured(slow=everything(1.5))
    report = compare(make_results(0), make_results(1, slow=everything(1.5)), remeasure=again)
    assert again.asked == [list(VARIANTS)]  # no variant stayed put to serve as a reference
    assert report.failed and set(verdicts(report).values()) == {"slower"}
    assert all("against the calibration" in r.note for r in report.rows)


def test_a_shared_slowdown_that_does_not_repeat_passes():
    report = compare(make_results(0), make_results(1, slow=everything(1.5)), remeasure=Remeasured())
    assert not report.failed and set(verdicts(report).values()) == {"unconfirmed"}


BUSY = {"cpu_count": 2, "load_per_core_before": 0.9, "others_cpu_fraction": 0.4}


@pytest.mark.parametrize("busy", ["current", "baseline"])
def test_on_a_busy_machine_a_shared_slowdown_is_inconclusive(busy):
    documents = {"baseline": make_results(0), "current": make_results(1, slow=everything(1.5))}
    documents[busy]["load"] = BUSY
    again = Remeasured(slow=everything(1.5))
    report = compare(documents["baseline"], documents["current"], remeasure=again)
    assert again.asked == [] and not report.failed  # measuring again would not tell
    assert set(verdicts(report).values()) == {"inconclusive"}
    assert all(f"busy during the {busy} run" in r.note for r in report.rows)


def test_on_a_busy_machine_a_variant_that_stands_out_is_still_confirmed():
    current = make_results(1, slow={"E": 1.5})
    current["load"] = BUSY
    again = Remeasured(slow={"E": 1.5})
    report = compare(make_results(0), current, remeasure=again)
    assert report.failed and row_of(report, "E").verdict == "slower" and len(again.asked[0]) == 2


@pytest.mark.parametrize(("load", "verdict"), [(None, "slower"), (BUSY, "unconfirmed")])
def test_on_a_busy_machine_confirming_takes_twice_the_threshold(load, verdict):
    current = make_results(1, slow={"E": 1.22})  # +22% twice: past 15%, short of 30%
    if load:
        current["load"] = load
    report = compare(make_results(0), current, remeasure=Remeasured(slow={"E": 1.22}))
    assert row_of(report, "E").verdict == verdict
    needed = "needed +30% as the machine was busy during the current run"
    assert (needed in row_of(report, "E").note) == bool(load)


def test_on_a_busy_machine_a_slowdown_the_others_do_not_share_is_measured_again():
    # Two variants: no view against the others, but A did not move, so E's +50% is no shared
    # slowdown; it is confirmed against the calibration, past twice the threshold.
    base, current = make_results(0), make_results(1, slow={"E": 1.5})
    for document in (base, current):
        document["rows"] = [r for r in document["rows"] if r["variant"] in ("A", "E")]
    current["load"] = BUSY
    again = Remeasured(slow={"E": 1.5})
    report = compare(base, current, remeasure=again)
    assert again.asked == [["E"]] and report.failed
    assert "against the calibration" in row_of(report, "E").note


def test_a_high_load_as_the_run_started_alone_is_no_doubt():
    # Load before a run includes whatever ran just before it (a test suite, an earlier check):
    # only what other processes took while timing puts the calibration in doubt.
    current = make_results(1, slow=everything(1.5))
    current["load"] = {"cpu_count": 2, "load_per_core_before": 1.5, "others_cpu_fraction": 0.01}
    again = Remeasured(slow=everything(1.5))
    report = compare(make_results(0), current, remeasure=again)
    assert again.asked == [list(VARIANTS)] and report.failed


def test_a_calibration_that_ran_much_longer_puts_a_shared_slowdown_in_doubt():
    current = make_results(1, slow=everything(1.5))
    current["calibration"]["median_ms"] *= 3  # another machine, or a very busy one
    report = compare(make_results(0), current)
    assert not report.failed and "calibration ran 3x as long" in report.rows[0].note


def test_a_faster_variant_makes_no_other_look_slower():
    # With one other variant, "the others" would be the faster one: that view needs three.
    base, current = make_results(0), make_results(1, slow={"E": 0.6})
    for document in (base, current):
        document["rows"] = [r for r in document["rows"] if r["variant"] in ("A", "E")]
    report = compare(base, current)
    assert verdicts(report) == {"A": "same", "E": "faster"}
    assert row_of(report, "A").vs_others is None


def test_the_reference_is_a_variant_typical_of_the_run():
    again = Remeasured(slow={"D": 1.5, "B": 0.6})
    report = compare(make_results(0), make_results(1, slow={"D": 1.5, "B": 0.6}), remeasure=again)
    (asked,) = again.asked
    assert asked[0] == "D" and asked[1] not in ("D", "B")  # not the variant that got faster
    assert report.failed and row_of(report, "D").verdict == "slower"


def test_nothing_is_measured_again_without_a_suspect():
    again = Remeasured()
    report = compare(make_results(0), make_results(1, slow={"B": 0.6}), remeasure=again)
    assert again.asked == [] and report.remeasured is None and not report.failed


def test_a_failed_second_measurement_confirms_nothing_and_keeps_the_failure():
    broken = {"E": {"status": "error", "error": "out of memory: test"}}
    report = compare(make_results(0), make_results(1, slow={"E": 1.5}),
                     remeasure=Remeasured(slow={"E": 1.5}, **broken))  # fmt: skip
    e = row_of(report, "E")
    assert report.failed and e.verdict == "slower" and "second measurement failed" in e.note


def test_a_broken_reference_falls_back_to_the_calibration():
    again = Remeasured(slow={"E": 1.5})
    again.changes = {v: {"status": "error", "error": "boom"} for v in VARIANTS if v != "E"}
    report = compare(make_results(0), make_results(1, slow={"E": 1.5}), remeasure=again)
    e = row_of(report, "E")
    assert report.failed and "against the calibration" in e.note and "confirmed" in e.note


def test_growth_still_fails_when_the_slowdown_does_not_repeat():
    current = make_results(1, slow={"E": 1.5})
    current["rows"][-1]["params"] += 10
    report = compare(make_results(0), current, remeasure=Remeasured())
    e = row_of(report, "E")
    assert e.verdict == "unconfirmed" and e.failed and report.failed


def test_a_busy_machine_is_a_warning_of_the_gate():
    current = make_results(1)
    current["load"] = {"cpu_count": 2, "load_per_core_before": 1.2, "others_cpu_fraction": 0.5}
    report = compare(make_results(0), current)
    assert not report.failed
    assert any(w.startswith("current run: the machine was busy") for w in report.warnings)


def test_the_committed_baseline_still_loads():
    from pathlib import Path

    baseline = load_results(Path(__file__).parents[1] / "results" / "baseline-cpu.json")
    assert baseline["config"]["runtimes"] == ["eager"]
    assert [row["variant"] for row in baseline["rows"]] == ["A", "B", "C", "D", "Ds5", "E"]
    assert not compare(baseline, baseline).failed
