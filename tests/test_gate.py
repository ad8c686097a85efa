"""The regression gate (rtbench.gate, pure) and the check's sequence of runs (rtbench.check), on
synthetic runs with seeded noise at the two levels real runs have: each call, and each run as a
whole (a run lands a few percent above or below another, for every variant together and for each
on its own). So "unchanged passes" can fail here: a gate that took calls for independent draws
would cry wolf on these runs. Verdicts are asserted on fields, never on wording."""

import json
import math
import random
import statistics
from pathlib import Path

import pytest
import torch
from scipy.stats import mannwhitneyu

from rtbench import gate
from rtbench.check import judge, run_check
from rtbench.gate import GateError, Outcome, Settings, Verdict, compare
from rtbench.measure.calibration import CALIBRATION_NAME
from rtbench.measure.stats import MeanSquares, Spread, spent, welch
from rtbench.report.gate import render, warnings
from rtbench.results import SCHEMA, ResultsError, load_results, load_runs, run_set
from rtbench.runset import MIN_BASELINE_RUNS
from rtbench.sensitivity import detectable
from rtbench.spec import load_variants

VARIANTS = {"A": 2.0, "B": 4.0, "C": 5.0, "D": 4.5, "Ds5": 2.5, "E": 3.0}  # x calibration
PARAMS = {"A": 8_000_000, "B": 9_000_000, "C": 9_000_000, "D": 11_000_000, "Ds5": 11_000_000,
          "E": 18_000_000}  # fmt: skip
BUSY = {"cpu_count": 2, "load_per_core_before": 1.2, "others_cpu_fraction": 0.5}


def make_run(rng: random.Random, slow: dict[str, float] | None = None, machine: float = 1.0,
             shared: float = 1.0, n: int = 20, sigma_call: float = 0.04,
             sigma_run: float = 0.03, sigma_variant: float = 0.015, **config) -> dict:  # fmt: skip
    """One run's results document. Every call has lognormal noise (sigma_call); the run as a whole
    moves every model by one lognormal offset (sigma_run) and each model by one of its own
    (sigma_variant); `machine` scales every timing, calibration too; `shared` every model;
    `slow` single models."""
    slow = slow or {}
    calib_ms = 15.0 * machine
    run_offset = rng.lognormvariate(0.0, sigma_run)

    def samples(center: float) -> list[float]:
        return [center * rng.lognormvariate(0.0, sigma_call) for _ in range(n)]

    calib = samples(calib_ms)
    rows = []
    for v, rel in VARIANTS.items():
        center = rel * calib_ms * slow.get(v, 1.0) * shared * run_offset
        lat = samples(center * rng.lognormvariate(0.0, sigma_variant))
        normalized = [x / c for x, c in zip(lat, calib, strict=True)]
        rows.append({
            "variant": v, "runtime": "eager", "status": "ok", "error": None,
            "params": PARAMS[v], "gmacs": PARAMS[v] / 1e6 * 1.7,
            "latency_median_ms": statistics.median(lat), "latency_samples_ms": lat,
            "latency_normalized": statistics.median(normalized),
            "latency_normalized_samples": normalized,
        })  # fmt: skip
    cfg = {"scope": "detector", "device": "cpu", "dtype": "fp32", "size": 256, "batch": 1}
    cfg |= {"seed": 0, "threads": 2, "deploy": False, "runtimes": ["eager"]} | config
    return {
        "schema": SCHEMA, "run_id": f"run-{rng.random():.6f}",
        "created": "2025-01-01T00:00:00+00:00", "config": cfg,
        "environment": {"torch": torch.__version__},
        "calibration": {"name": CALIBRATION_NAME, "median_ms": statistics.median(calib),
                        "samples_ms": calib},
        "rows": rows,
    }  # fmt: skip


def runs(seed: int, k: int, **kwargs) -> list[dict]:
    rng = random.Random(seed)
    return [make_run(rng, **kwargs) for _ in range(k)]


class Runs:
    """A fake `Measure`: synthetic runs, one per call, from its own seeded generator; counts its
    calls and the variants and configurations asked for."""

    def __init__(self, seed: int, **kwargs):
        self.rng, self.kwargs, self.asked = random.Random(seed), kwargs, []

    def __call__(self, names: list[str], cfg) -> dict:
        self.asked.append((names, cfg))
        document = make_run(self.rng, **self.kwargs)
        document["rows"] = [r for r in document["rows"] if r["variant"] in names]
        return document


def check(seed: int, baseline: list[dict] | None = None, settings: Settings = gate.DEFAULTS,
          **kwargs):  # fmt: skip
    """A check as `rtbench check` runs it, against an 8-run baseline, runs made by `Runs`."""
    baseline = baseline if baseline is not None else runs(1000 + seed, 8)
    measure = Runs(seed, **kwargs)
    checked = run_check(baseline, load_variants(), measure, settings)
    return checked.report, measure


def row_of(report, variant: str):
    return next(r for r in report.rows if r.variant == variant)


# ---------------------------------------------------------------- the statistics


def test_welch_restates_the_textbook_formula():
    b, c = [1.0, 1.2, 0.9, 1.1], [1.5, 1.4, 1.7]
    d = welch(b, c)
    vb, vc = statistics.variance(b) / 4, statistics.variance(c) / 3
    assert d.estimate == pytest.approx(statistics.mean(c) - statistics.mean(b))
    assert d.se == pytest.approx(math.sqrt(vb + vc))
    assert d.df == pytest.approx((vb + vc) ** 2 / (vb**2 / 3 + vc**2 / 2))
    from scipy import stats as sps  # another executor: scipy's Welch test gives the same p

    p = sps.ttest_ind(c, b, equal_var=False, alternative="greater").pvalue
    assert d.lower(p) == pytest.approx(0.0, abs=1e-9)  # the bound at p touches 0
    with pytest.raises(ValueError):
        welch([1.0], [1.0, 2.0])


def test_a_variance_between_sessions_is_added_once_with_its_own_degrees_of_freedom():
    b, c = [1.0, 1.2, 0.9, 1.1], [1.5, 1.4, 1.7]
    tau2, tau_df = 0.02, 14
    d = welch(b, c, between=Spread(tau2, tau_df))
    vb, vc = statistics.variance(b) / 4, statistics.variance(c) / 3
    assert d.estimate == pytest.approx(statistics.mean(c) - statistics.mean(b))
    assert d.se == pytest.approx(math.sqrt(vb + vc + tau2))  # not divided by runs
    assert d.df == pytest.approx((vb + vc + tau2) ** 2 / (vb**2 / 3 + vc**2 / 2 + tau2**2 / tau_df))


def test_the_session_term_widens_the_calibration_contrast_only():
    """Every model of the current runs reads 5.5% slower against the calibration (the session's
    hour, under the threshold), with little run-to-run noise: taken for runs of one session, a
    row past half the threshold fails; allowing sessions to land 3% apart (sd), none does. The
    contrast against the other variants, which a shared move leaves alone, is the same in both."""
    quiet = {"sigma_call": 0.01, "sigma_run": 0.003, "sigma_variant": 0.003}
    baseline, current = runs(41, 8, **quiet), runs(42, 3, shared=1.055, **quiet)
    within = compare(baseline, current, Settings(session_sd=0.0, session_slope=0.0))
    apart = compare(baseline, current, Settings(session_sd=0.03, session_slope=0.0))
    assert within.failed and not apart.failed
    for one, other in zip(within.rows, apart.rows, strict=True):
        assert one.vs_calibration.change == pytest.approx(other.vs_calibration.change)
        assert other.vs_calibration.high > one.vs_calibration.high  # wider: upper bound up
        assert other.vs_calibration.low < one.vs_calibration.low
        bounds = [(r.vs_others.low, r.vs_others.high) for r in (one, other)]
        assert bounds[0] == bounds[1]


def test_the_session_term_grows_where_the_calibration_read_slower():
    """The same +5.5% of every model, where the host ran 25% slower for the calibration too: a
    session in a slow hour, where models slowed more than the calibration. With a term of 15% of
    that move (log), sd 0.15 x log(1.25) = 3.3%, nothing fails; where the calibration read as the
    baseline's, the same slope adds nothing and a row fails."""
    quiet = {"sigma_call": 0.01, "sigma_run": 0.003, "sigma_variant": 0.003}
    settings = Settings(session_sd=0.0, session_slope=0.15)
    baseline = runs(41, 8, **quiet)
    slow_hour = compare(baseline, runs(42, 3, shared=1.055, machine=1.25, **quiet), settings)
    as_before = compare(baseline, runs(42, 3, shared=1.055, **quiet), settings)
    assert not slow_hour.failed and as_before.failed
    assert slow_hour.session_sd == pytest.approx(0.15 * math.log(1.25), rel=0.05)
    assert as_before.session_sd < 0.002
    busy = [r | {"load": BUSY} for r in runs(43, 2, shared=1.055, machine=3.0, **quiet)]
    with_busy = compare(baseline, runs(42, 2, shared=1.055, **quiet) + busy, settings)
    assert with_busy.left_out == ((), (3, 4))  # and the term is of the runs the contrast judges
    assert with_busy.session_sd < 0.002 and with_busy.calibration_ms[1] > 2 * 15.0
    said = [w for w in warnings(slow_hour) if "slower than in the baseline" in w]
    assert len(said) == 1 and "3.4% apart" in said[0]  # expm1(0.0335)
    assert not any("slower than in the baseline" in w for w in warnings(as_before))


def test_mean_squares_restate_the_two_way_table():
    table = [[1.0, 1.3, 0.7, 1.1], [1.4, 1.5, 1.2, 1.6], [0.8, 1.2, 0.5, 1.0]]  # runs x rows
    n, j = 3, 4
    grand = sum(map(sum, table)) / (n * j)
    run_mean = [sum(r) / j for r in table]
    row_mean = [sum(r[k] for r in table) / n for k in range(j)]
    ms_runs = j * sum((m - grand) ** 2 for m in run_mean) / (n - 1)
    ms_resid = sum((table[i][k] - run_mean[i] - row_mean[k] + grand) ** 2
                   for i in range(n) for k in range(j)) / ((n - 1) * (j - 1))  # fmt: skip
    squares = MeanSquares.of(table)
    assert (squares.runs, squares.residual) == (pytest.approx(ms_runs), pytest.approx(ms_resid))
    a, b = ms_runs / j, (j - 1) / j * ms_resid  # s_o^2 + s_e^2, and Satterthwaite's df
    spread = squares.spread()
    assert spread.variance == pytest.approx(a + b)
    assert spread.df == pytest.approx((a + b) ** 2 / (a**2 / (n - 1) + b**2 / ((n - 1) * (j - 1))))
    assert squares.spread(runs=8).df > spread.df  # planning: the same squares over more runs
    one = MeanSquares.of([[r[0]] for r in table]).spread()  # one row: its own variance
    assert one.variance == pytest.approx(statistics.variance([r[0] for r in table]))
    assert one.df == pytest.approx(n - 1)


def _two_level(rng, runs: int, rows: int, sigma_run: float, sigma_row: float):
    """runs x rows: one offset per run that every row shares, and each row's own noise."""
    return rng.normal(0, sigma_run, (runs, 1)) + rng.normal(0, sigma_row, (runs, rows))


def test_the_pooled_bound_holds_its_error_rate_where_runs_move_every_row():
    """The upper bound of a row's change, its run-to-run spread pooled over the 6 rows of the
    same runs, is wrong about as often as it says (drawn with numpy: a run offset that every row
    shares, a current side spread 1.5x the baseline's), and narrower than the row's own."""
    import numpy as np

    rng = np.random.default_rng(7)
    misses, own_misses, width, own_width, trials = 0, 0, [], [], 3000
    for _ in range(trials):
        b = _two_level(rng, 8, 6, 0.013, 0.02)
        c = _two_level(rng, 3, 6, 0.02, 0.03)
        d = welch(b[:, 0], c[:, 0], (MeanSquares.of(b).spread(), MeanSquares.of(c).spread()))
        own = welch(b[:, 0], c[:, 0])
        misses += d.upper(0.05) < 0  # the true change is 0
        own_misses += own.upper(0.05) < 0
        width.append(d.upper(0.005) - d.estimate)  # a look's share of the error
        own_width.append(own.upper(0.005) - own.estimate)
    assert 0.035 < misses / trials < 0.065  # 0.05 said; binomial sd 0.004
    assert 0.035 < own_misses / trials < 0.065
    assert np.median(width) < 0.7 * np.median(own_width)


def test_a_pair_of_runs_that_agree_by_chance_does_not_narrow_a_rows_bound():
    """E reads +15% in two current runs that agree exactly: its own variance says the change is
    certain, while the other rows of the same runs say how much a row moves from run to run (4%
    each, on its own). Against the calibration, E is not failed at the first look on that pair
    (nor passed: it is past the threshold)."""

    def e_figure(run: dict) -> float:
        row = next(r for r in run["rows"] if r["variant"] == "E")
        return math.log(statistics.median(row["latency_normalized_samples"]))

    baseline, current = runs(31, 8, sigma_variant=0.04), runs(32, 2, sigma_variant=0.04)
    scale = math.exp(statistics.mean(map(e_figure, baseline)) - e_figure(current[0])) * 1.15
    first = next(r for r in current[0]["rows"] if r["variant"] == "E")
    same = [x * scale for x in first["latency_normalized_samples"]]
    for run in current:
        next(r for r in run["rows"] if r["variant"] == "E")["latency_normalized_samples"] = same
    own = welch(list(map(e_figure, baseline)), list(map(e_figure, current)))
    assert own.estimate == pytest.approx(math.log(1.15))
    assert own.lower(spent(0.05 / 12, 2, 8)) > 0  # taken alone, E's pair fails it
    e = row_of(compare(baseline, current), "E").vs_calibration
    assert e.change == pytest.approx(0.15)
    assert not e.fails and not e.passes
    assert e.low < 0


def test_spending_adds_up_to_the_total_and_grows_look_by_look():
    shares = [spent(0.05, n, 8) for n in range(2, 9)]
    assert sum(shares) == pytest.approx(0.05)
    assert shares[0] == pytest.approx(0.05 * 4 / 64)  # (2/8)^2 at the first look
    assert shares == sorted(shares)
    with pytest.raises(ValueError):
        spent(0.05, 9, 8)


# ---------------------------------------------------------------- the run as the unit


def test_unchanged_code_passes_where_calls_taken_for_draws_would_cry_wolf():
    # 30 checks of unchanged code, with run-to-run offsets of 3% (all variants) and 1.5% (each)
    outcomes, call_level_alarms = [], 0
    for seed in range(30):
        report, _ = check(seed)
        outcomes.append(report.outcome)
        baseline, current = runs(1000 + seed, 8), runs(seed, 1)[0]
        pooled = [x for run in baseline for x in run["rows"][5]["latency_normalized_samples"]]
        calls = current["rows"][5]["latency_normalized_samples"]
        call_level_alarms += mannwhitneyu(calls, pooled).pvalue < 0.01
    assert outcomes.count(Outcome.REGRESSION) <= 1  # alpha 0.05 over every row and look
    assert outcomes.count(Outcome.PASS) >= 27
    assert call_level_alarms >= 8  # the calls' rank test "sees" a change in E that is not there


def test_a_slowdown_of_one_variant_fails_it_alone():
    for seed in range(10):
        report, measure = check(seed, slow={"E": 1.5})
        assert report.outcome == Outcome.REGRESSION
        assert row_of(report, "E").verdict == Verdict.SLOWER
        assert all(not r.failed for r in report.rows if r.variant != "E")
        assert len(measure.asked) <= 4  # a clear slowdown is decided early


def test_a_slowdown_of_a_fifth_is_caught_and_one_of_a_tenth_mostly():
    caught = {f: sum(check(s, slow={"E": f})[0].outcome == Outcome.REGRESSION for s in range(20))
              for f in (1.1, 1.2)}  # fmt: skip
    assert caught[1.2] >= 19
    assert caught[1.1] >= 14


def test_a_faster_variant_never_fails_and_makes_no_other_look_slower():
    for seed in range(10):
        report, _ = check(seed, slow={"E": 0.6})
        assert report.outcome == Outcome.PASS
        assert row_of(report, "E").verdict == Verdict.FASTER


def test_a_shared_slowdown_fails_every_variant_against_the_calibration():
    report, _ = check(0, shared=1.4)
    assert report.outcome == Outcome.REGRESSION
    assert all(r.vs_calibration.fails for r in report.rows if r.decided_at)


def test_a_uniformly_slower_machine_passes():
    report, _ = check(0, machine=1.3)  # the calibration slows as much as the models
    assert report.outcome == Outcome.PASS


def test_a_host_that_runs_everything_faster_by_hours_passes_and_one_far_off_is_in_doubt():
    """Quiet runs of one machine took 46 and 75 ms for the calibration at different hours, the
    models alike: a check then must still pass. At 2.5x the calibration is in doubt and nothing
    passes (contention, or another machine)."""
    faster = run_check(runs(1000, 8), load_variants(), Runs(0, machine=1 / 1.63))
    assert faster.report.outcome == Outcome.PASS and faster.report.doubt is None
    far = run_check(runs(1000, 8), load_variants(), Runs(0, machine=1 / 2.5))
    assert far.report.doubt is not None and far.report.outcome == Outcome.INCONCLUSIVE


def test_on_a_busy_machine_a_shared_slowdown_is_inconclusive_never_a_pass_nor_a_failure():
    loaded = Runs(0, shared=1.4)

    def busy(names, cfg):
        return {**loaded(names, cfg), "load": BUSY}

    checked = run_check(runs(1000, 8), load_variants(), busy)
    assert checked.report.outcome == Outcome.INCONCLUSIVE
    assert all(r.doubted for r in checked.report.rows)
    assert len(checked.runs) == gate.DEFAULTS.max_runs
    assert "stopped undecided" in " ".join(warnings(checked.report))


def test_a_busy_run_among_quiet_ones_is_left_out_of_the_calibration_contrast():
    """One current run timed while other work took the CPU, and contention moved every model
    +40% against the calibration in it: that run is left out of the calibration contrast (the
    others contrast keeps it), the quiet runs pass the check, and the report names the run. With
    it left in, the calibration contrast would read about +40% / 3 runs = +13%."""
    quiet = runs(5, 4)
    busy = make_run(random.Random(6), shared=1.4)
    busy["load"] = BUSY
    current = [quiet[0], busy, quiet[1], quiet[2], quiet[3]]
    report = judge(runs(1000, 8), current).report
    assert report.outcome == Outcome.PASS and report.doubt is None
    assert report.left_out == ((), (2,))
    assert any("current run 2: left out" in w for w in warnings(report))
    for row in report.rows:  # at the second run one quiet run is all: nothing passes there
        assert row.decided_at >= 3
        assert row.vs_calibration.current_runs == row.vs_others.current_runs - 1
        assert abs(row.vs_calibration.change) < 0.05
    alone = judge(runs(1000, 8), [quiet[0], busy]).report  # one quiet run: doubt, as before
    assert alone.doubt is not None and alone.doubt.busy_run == "current"
    assert alone.left_out == ((), ())


def test_on_a_busy_machine_a_variant_that_stands_out_still_fails():
    loaded = Runs(0, slow={"E": 1.5})
    checked = run_check(runs(1000, 8), load_variants(),
                        lambda names, cfg: {**loaded(names, cfg), "load": BUSY})  # fmt: skip
    assert row_of(checked.report, "E").verdict == Verdict.SLOWER
    assert row_of(checked.report, "E").vs_others.fails


# ---------------------------------------------------------------- never a pass it cannot judge


def test_one_current_run_never_passes_even_three_times_slower():
    baseline = runs(1000, 8)
    checked = judge(baseline, runs(0, 1, slow={"E": 3.0}))
    assert checked.report.outcome == Outcome.INCONCLUSIVE
    assert row_of(checked.report, "E").verdict == Verdict.INCONCLUSIVE


def test_a_baseline_of_too_few_runs_is_refused():
    with pytest.raises(GateError, match="1 run.*rtbench baseline"):
        compare(runs(1000, 1), runs(0, 3))
    with pytest.raises(GateError, match="2 run"):
        run_check(runs(1000, 2), load_variants(), Runs(0))


def test_the_check_stops_at_its_budget_inconclusive():
    now = [0.0]

    def clock() -> float:
        return now[0]

    made = Runs(0, sigma_variant=0.06)  # too spread to decide in two runs

    def slow_runs(names, cfg):
        now[0] += 100.0  # each run takes 100 s
        return made(names, cfg)

    settings = Settings(budget_s=250.0)
    checked = run_check(runs(1000, 8), load_variants(), slow_runs, settings, clock=clock)
    assert len(checked.runs) == 2  # a third would end at 300 s, past the 250 s budget
    assert checked.report.outcome == Outcome.INCONCLUSIVE
    assert "250 s budget" in checked.report.stopped


def test_a_change_near_the_threshold_stays_undecided_at_the_most_runs():
    # 1.1x, exactly the threshold, with wide run-to-run spread: it may fail, never pass
    for seed in range(10):
        report, measure = check(seed, slow={"E": 1.1}, sigma_variant=0.06)
        assert row_of(report, "E").verdict != Verdict.SAME
        assert report.outcome != Outcome.PASS


def test_decided_rows_keep_their_verdict_at_later_looks():
    baseline, current = runs(1000, 8), runs(0, 4)
    first = compare(baseline, current[:3])
    decided = [r for r in first.rows if r.decided]
    assert decided
    later = compare(baseline, current, before=first)
    for row in decided:
        assert row_of(later, row.variant) == row


def test_the_first_run_measures_sizes_and_the_later_ones_time_only():
    report, measure = check(0)
    assert measure.asked[0][1].flops is True and all(not cfg.flops for _, cfg in measure.asked[1:])
    assert report.runs == (8, len(measure.asked))


# ---------------------------------------------------------------- sizes, errors, rows


def test_params_growth_fails_at_the_first_run_unless_allowed():
    baseline = runs(1000, 8)
    grown = Runs(0)

    def measure(names, cfg):
        document = grown(names, cfg)
        document["rows"][0]["params"] += 1000
        return document

    checked = run_check(baseline, load_variants(), measure)
    assert len(checked.runs) == 1 and row_of(checked.report, "A").verdict == Verdict.GREW
    allowed = run_check(baseline, load_variants(), measure, Settings(allow_growth=True))
    assert allowed.report.outcome == Outcome.PASS


def test_missing_error_and_new_variants():
    baseline = runs(1000, 8)
    current = runs(0, 3)
    for run in current:
        run["rows"] = [r for r in run["rows"] if r["variant"] != "A"]
        run["rows"][0] = {**run["rows"][0], "status": "error", "error": "boom"}
        run["rows"].append({**run["rows"][1], "variant": "F"})
    report = judge(baseline, current).report
    verdicts = {r.variant: r.verdict for r in report.rows}
    assert verdicts["A"] == Verdict.MISSING and verdicts["B"] == Verdict.ERROR
    assert verdicts["F"] == Verdict.NEW and report.outcome == Outcome.REGRESSION


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(schema="rtbench.results/9"), "schema"),
        (lambda d: d["config"].update(size=512), "size"),
        (lambda d: d["config"].update(dtype="fp16"), "dtype"),
        (lambda d: d["calibration"].update(name="calib-v0"), "calibration"),
        (lambda d: d["rows"][0].update(latency_normalized_samples=[0.0] * 20),
         r"rows\[0\] \(A, eager\) latency_normalized_samples\[0\] 0.0: must be more than 0"),
        (lambda d: d["rows"][0].update(gmacs=None), "gmacs"),
        (lambda d: d.update(rows=[dict(r, variant=r["variant"] + "x") for r in d["rows"]]),
         "common"),
    ],
)  # fmt: skip
def test_unusable_input_raises_one_line(mutate, message):
    current = runs(0, 2)
    for run in current:
        mutate(run)
    with pytest.raises(ResultsError, match=message) as err:
        compare(runs(1000, 8), current)
    assert "\n" not in str(err.value)


def test_a_thread_count_difference_is_noted_not_refused():
    report = compare(runs(1000, 8), runs(0, 3, threads=4))
    assert report.noted == (("threads", 2, 4),)
    assert any("threads" in w for w in warnings(report))


def test_render_has_one_row_per_variant():
    from rich.console import Console

    report, _ = check(0, slow={"E": 1.5})
    console = Console(record=True, width=250)
    console.print(render(report))
    text = console.export_text()
    assert render(report).row_count == len(VARIANTS) and "slower" in text


# ---------------------------------------------------------------- what a baseline can see


def test_detectable_is_half_the_threshold_for_runs_without_spread():
    quiet = runs(1000, 5, sigma_call=0.0, sigma_run=0.0, sigma_variant=0.0)
    seen = detectable(quiet)
    half = math.expm1(math.log1p(gate.DEFAULTS.threshold) / 2)  # the estimate must pass T/2
    assert all(v == pytest.approx(half) for v in seen.values())


def test_detectable_grows_with_the_spread_of_the_runs():
    calm, wild = detectable(runs(1000, 8)), detectable(runs(1000, 5, sigma_variant=0.1))
    assert max(calm.values()) <= gate.DEFAULTS.threshold < max(wild.values())


# ---------------------------------------------------------------- files


def test_run_sets_and_single_results_files_load_as_runs(tmp_path):
    made = runs(1000, 3)
    (tmp_path / "set.json").write_text(json.dumps(run_set(made, made[0]["created"])))
    (tmp_path / "one.json").write_text(json.dumps(made[0]))
    assert [r["run_id"] for r in load_runs(tmp_path / "set.json")] == [r["run_id"] for r in made]
    assert len(load_runs(tmp_path / "one.json")) == 1
    assert load_results(tmp_path / "one.json")["run_id"] == made[0]["run_id"]
    (tmp_path / "empty.json").write_text(json.dumps({"schema": "rtbench.runs/1", "runs": []}))
    with pytest.raises(ResultsError, match="without runs"):
        load_runs(tmp_path / "empty.json")
    broken = run_set(made, "now")
    broken["runs"][1]["config"]["size"] = -1
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    with pytest.raises(ResultsError, match="run 2"):
        load_runs(tmp_path / "broken.json")


def test_the_committed_baseline_loads_and_holds_runs():
    baseline = load_runs(Path(__file__).parents[1] / "results" / "baseline-cpu.json")
    assert len(baseline) >= MIN_BASELINE_RUNS
    assert [row["variant"] for row in baseline[0]["rows"]] == ["A", "B", "C", "D", "Ds5", "E"]
    assert max(detectable(baseline).values()) <= gate.DEFAULTS.threshold
