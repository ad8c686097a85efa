"""Acceptance: the gate on real timings, with slowdowns injected into the models (`make
acceptance`; CI runs it). A verdict on real timings depends on the machine, so these tests are kept
out of the default suite (`make test`).

They gate as `rtbench check` does in CI (rtbench.check.run_check): whole detectors at 256x256 as
`rtbench baseline` measures them, each run in a process of its own, against a baseline of
BASELINE_RUNS runs, runs measured until the gate decides. The baseline is measured here, or, with
RTBENCH_ACCEPTANCE_BASELINE naming a run set of that workload (.ci/run names the one its gate
step checks against: the committed baseline's code, measured here minutes before), read from
it: its rows of these variants, measured before, as a check meets its baseline.

A test that a slowdown is caught never skips: where a check misses it while other processes took
the CPU, it checks again (at most ATTEMPTS times) and fails if the slowdown is never caught; on
an idle machine one miss fails it.
Only "unchanged code passes" may skip, on a busy machine, or where it could not tell while the
host ran the calibration over 10% slower than in the baseline (a slow hour: the gate then says it
cannot tell, by design), saying why; a false alarm is never skipped on an idle host.
"""

import os
from pathlib import Path

import pytest
from inject import slowed_builder

from rtbench.check import measure_runs, run_check
from rtbench.cli.measuring import (
    BASELINE_RUNS,
    GATE_ITERS,
    GATE_SIZE,
    GATE_THREADS,
    GATE_WARMUP_S,
)
from rtbench.config import RunConfig, TimingPlan
from rtbench.gate import GateReport, Outcome, Verdict
from rtbench.measure.load import contention_signs
from rtbench.report.gate import SLOWER_HOST, note
from rtbench.results import load_runs
from rtbench.spec import load_variants

VARIANTS = load_variants()
NAMES = ["A", "Ds5", "E"]  # the smallest encoder, the cheapest of D's family, the paper's design
CFG = RunConfig(
    scope="detector",
    size=GATE_SIZE,
    device="cpu",
    end_to_end=False,
    threads=GATE_THREADS,
    timing=TimingPlan(iters=GATE_ITERS, min_time_s=GATE_WARMUP_S),
)  # `baseline`'s

ATTEMPTS = 3  # checks of a slowdown on a busy machine before it counts as missed


@pytest.fixture(scope="module")
def baseline():
    given = os.environ.get("RTBENCH_ACCEPTANCE_BASELINE")
    if not given:
        measure = measure_runs(VARIANTS)
        return [measure(NAMES, CFG) for _ in range(BASELINE_RUNS)]
    runs = load_runs(Path(given))
    workload = lambda cfg: (cfg["scope"], cfg["size"], cfg["threads"])  # noqa: E731
    for run in runs:  # the gate's workload, or these tests would check something else
        assert workload(run["config"]) == workload(CFG.model_dump()), f"{given}: not the gate's"
    return [{**run, "rows": [r for r in run["rows"] if r["variant"] in NAMES]} for run in runs]


def check(baseline: list[dict], build=None) -> tuple[GateReport, dict[str, float]]:
    """The gate as `rtbench check` runs it, and the contention seen while it measured."""
    measure = measure_runs(VARIANTS, build) if build else None
    checked = run_check(baseline, VARIANTS, measure)
    busy = {k: round(v, 2) for d in [*baseline, *checked.runs]
            for k, v in contention_signs(d.get("load")).items()}  # fmt: skip
    return checked.report, busy


def describe(report: GateReport) -> str:
    rows = [f"{r.variant}: {r.verdict.value} {100 * (r.change or 0):+.1f}% {note(r, report)}"
            for r in report.rows]  # fmt: skip
    return f"{report.outcome.value} after {report.runs[1]} runs; " + "; ".join(rows)


def caught_within_attempts(baseline: list[dict], build, caught) -> None:
    """Check until `caught(report)`; another check only while the machine is measured busy."""
    seen = []
    for _ in range(ATTEMPTS):
        report, busy = check(baseline, build)
        if caught(report):
            return
        seen.append(f"[{'busy ' + str(busy) if busy else 'idle'}] {describe(report)}")
        if not busy:
            break
    pytest.fail("the slowdown was not caught: " + " | ".join(seen))


def test_unchanged_code_passes(baseline):
    report, busy = check(baseline)
    if report.outcome != Outcome.PASS and busy:
        pytest.skip(f"the machine was busy while timing {busy}: {describe(report)}")
    slower = report.calibration_ms[1] / report.calibration_ms[0]
    if report.outcome == Outcome.INCONCLUSIVE and slower > SLOWER_HOST:
        # the host's slow hour: models move against the calibration by a few percent each, and
        # the gate says it cannot tell (by design); a false alarm still fails below
        pytest.skip(f"the calibration read {slower - 1:.0%} slower than the baseline's: "
                    f"{describe(report)}")  # fmt: skip
    assert report.outcome == Outcome.PASS, describe(report)


def test_a_slowdown_of_one_variant_is_caught(baseline):
    def caught(report: GateReport) -> bool:
        verdict = {r.variant: r.verdict for r in report.rows}
        return report.outcome == Outcome.REGRESSION and verdict["E"] == Verdict.SLOWER

    caught_within_attempts(baseline, slowed_builder(1.5, variant="E"), caught)


def test_a_slowdown_of_a_shared_block_is_caught(baseline):
    # Doubling the backbone's time added 50-66% to each detector at 256x256 on the dev machine.
    # The check stops at the first regression it is sure of, so not every row need be decided;
    # on a busy machine such a shared slowdown is inconclusive (it moves every model against the
    # calibration, as contention does): checked again until caught.
    def caught(report: GateReport) -> bool:
        return report.outcome == Outcome.REGRESSION and all(
            r.verdict in (Verdict.SLOWER, Verdict.INCONCLUSIVE) for r in report.rows
        )

    caught_within_attempts(baseline, slowed_builder(2.0, part="backbone"), caught)
