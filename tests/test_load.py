"""How busy the machine was (rtbench.measure.load): counters, the record in results.json, the
thresholds, and the warning under the Table 3 mirror. Synthetic counters: nothing here depends
on this machine's load."""

import os

import pytest

from rtbench.measure.load import (
    Snapshot,
    busy_signs,
    calibration_drift,
    contention_signs,
    drift_signs,
    load_record,
    parse_proc_stat,
)
from rtbench.results import ResultsError, parse

# /proc/stat's first line: user nice system idle iowait irq softirq steal guest guest_nice
PROC_STAT = "cpu  100 5 50 800 20 1 2 22 7 0\ncpu0 50 2 25 400 10 0 1 11 3 0\nintr 12345\n"
QUIET = {"load_per_core_before": 0.05, "others_cpu_fraction": 0.02, "steal_fraction": 0.0,
         "calibration_drift": 1.01, "calibration_spread": 0.03}  # fmt: skip


def test_proc_stat_totals_exclude_guest_time():
    # all = 100+5+50+800+20+1+2+22 (guest is already inside user); idle + iowait = 820
    assert parse_proc_stat(PROC_STAT) == (1000, 820, 22)
    assert parse_proc_stat("intr 1\n") is None


def test_load_record_shares_of_the_cpu_while_timing():
    tick = os.sysconf("SC_CLK_TCK")
    start = Snapshot(0.0, 3.0, (0, 0, 0), 0.0)
    timing_start = Snapshot(5.0, 2.0, (10_000, 6_000, 100), 4.0)
    # 1000 ticks pass: 400 idle, 100 stolen, so 500 busy, of which this process ran 200.
    timing_end = Snapshot(10.0, 5.0, (11_000, 6_400, 200), 4.0 + 200 / tick)
    record = load_record(start, timing_start, timing_end, [1.0, 1.0, 1.0])
    cores = os.cpu_count()
    assert record["cpu_count"] == cores
    assert record["load_per_core_before"] == pytest.approx(3.0 / cores)
    assert record["load_per_core_after"] == pytest.approx(5.0 / cores)
    assert record["steal_fraction"] == pytest.approx(0.1)
    assert record["others_cpu_fraction"] == pytest.approx(0.3)
    assert (record["calibration_drift"], record["calibration_spread"]) == (1.0, 0.0)


def test_load_record_where_the_os_reports_nothing():
    nothing = Snapshot(0.0, None, None, 0.0)
    record = load_record(nothing, nothing, nothing, [])
    assert record["load_per_core_before"] is None and record["steal_fraction"] is None
    assert record["others_cpu_fraction"] is None and record["calibration_drift"] is None
    assert busy_signs(record) == {} and drift_signs(record) == {}


def test_calibration_drift_and_spread():
    samples = [10.0, 10.0, 10.0, 11.0, 11.0, 11.0, 12.0, 12.0, 12.0]  # round order: slowing down
    drift = calibration_drift(samples)
    assert drift["calibration_drift"] == pytest.approx(12 / 10)
    # sorted, the 25th and 75th percentiles sit exactly on the 3rd and 7th of 9 samples
    assert drift["calibration_spread"] == pytest.approx((12 - 10) / 11)
    assert calibration_drift([5.0, 6.0])["calibration_drift"] is None


@pytest.mark.parametrize(
    ("changes", "busy", "drifted"),
    [
        ({}, set(), set()),
        # a high load as the run started, but nobody else ran while it timed: what ran before
        ({"load_per_core_before": 0.3}, set(), set()),
        (
            {"load_per_core_before": 0.3, "others_cpu_fraction": None},
            {"load_per_core_before"},
            set(),
        ),  # fmt: skip
        (
            {"load_per_core_before": 0.3, "steal_fraction": 0.06},
            {"load_per_core_before", "steal_fraction"},
            set(),
        ),  # fmt: skip
        ({"others_cpu_fraction": 0.5}, {"others_cpu_fraction"}, set()),
        ({"others_cpu_fraction": 0.2}, set(), set()),
        ({"steal_fraction": 0.06}, {"steal_fraction"}, set()),
        ({"calibration_drift": 1.15}, set(), {"calibration_drift"}),
        ({"calibration_drift": 0.88}, set(), {"calibration_drift"}),  # 1/0.88 = 1.136: faster
        ({"calibration_drift": 0.95}, set(), set()),
        ({"calibration_spread": 0.31}, set(), {"calibration_spread"}),
    ],
)
def test_thresholds(changes, busy, drifted):
    record = QUIET | changes
    assert set(busy_signs(record)) == busy and set(drift_signs(record)) == drifted
    # what the gate trusts: measured while timing, not the load left by whatever ran before
    assert set(contention_signs(record)) == busy - {"load_per_core_before"}


@pytest.mark.parametrize(
    ("cores", "threads", "others", "busy"),
    [
        # a thread on every core: the others' share itself, as always
        (2, 2, 0.30, True),
        (2, None, 0.30, True),  # threads not recorded (older runs): one per core
        # one thread on 2 cores, a busy loop on the other: the spare core took it all
        (2, 1, 0.50, False),
        # one thread, others wanting 1.3 of the 2 cores: 0.3 of a core competes with the thread
        (2, 1, 0.65, True),
        # 2 threads on 8 cores, others on 6.4 of them: 0.4 over the 6 spare, 0.2 per thread
        (8, 2, 0.80, False),
        # others on 7 of 8: one core over, half of it per thread
        (8, 2, 0.875, True),
    ],
)
def test_only_what_the_spare_cores_could_not_take_competes(cores, threads, others, busy):
    """A run on fewer threads than cores leaves cores spare for other work; the limit (a quarter)
    applies to what competes with each of its threads: (others x cores - spare cores) / threads."""
    record = QUIET | {"cpu_count": cores, "threads": threads, "others_cpu_fraction": others}
    assert ("others_cpu_fraction" in contention_signs(record)) == busy
    assert ("others_cpu_fraction" in busy_signs(record)) == busy
    # steal is taken from every vCPU alike: spare cores do not absorb it
    assert "steal_fraction" in contention_signs(record | {"steal_fraction": 0.06})


def test_the_load_record_names_the_threads_it_ran_on():
    nothing = Snapshot(0.0, None, None, 0.0)
    assert load_record(nothing, nothing, nothing, [], threads=1)["threads"] == 1
    assert load_record(nothing, nothing, nothing, [])["threads"] is None


def test_older_documents_without_load_still_validate_and_a_bad_load_does_not():
    document = {
        "schema": "rtbench.results/2",
        "created": "2026-01-01T00:00:00+00:00",
        "environment": {},
        "config": {"scope": "encoder", "device": "cpu", "dtype": "fp32", "size": 64, "batch": 1,
                   "deploy": False, "runtimes": ["eager"]},
        "calibration": {"name": "calib-v2", "median_ms": 70.0},
        "rows": [],
    }  # fmt: skip
    parsed = parse(dict(document))
    assert "load" not in parsed and parsed["rows"] == [] and parsed["config"]["size"] == 64
    assert parse(dict(document, load=QUIET))["load"] == QUIET
    with pytest.raises(ResultsError, match="load.steal_fraction: expected a number"):
        parse(dict(document, load=dict(QUIET, steal_fraction="lots")))
    with pytest.raises(ResultsError, match="load: expected a mapping"):
        parse(dict(document, load=[1, 2]))
