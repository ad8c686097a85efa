"""Acceptance: the gate on real timings, with slowdowns injected into the models (`make
acceptance`; CI runs it). A verdict on real timings depends on the machine, so these tests are kept
out of the default suite (`make test`).

They gate as `rtbench check` does in CI: whole detectors at 256x256, 20 samples, and a variant that
looks slower measured once more (`remeasure`). Timing encoders at 64x64 (a few ms each) and judging
one measurement, as they once did, failed unchanged code on a noisy CI machine (its calibration's
IQR was 16% of its median).
"""

import pytest
from inject import slowed_builder

from rtbench.check import run_check
from rtbench.config import RunConfig, TimingPlan
from rtbench.gate import GateReport
from rtbench.measure.load import contention_signs
from rtbench.models.build import build_model
from rtbench.report.gate import note
from rtbench.runner import run_benchmark
from rtbench.spec import load_variants, select

VARIANTS = load_variants()
NAMES = ["A", "Ds5", "E"]  # the smallest encoder, the cheapest of D's family, the paper's design
CFG = RunConfig(scope="detector", size=256, device="cpu", timing=TimingPlan(iters=20))


def check(baseline: dict, build=build_model) -> tuple[GateReport, list[dict]]:
    """The gate as `rtbench check` runs it, with every document it judged."""
    checked = run_check(baseline, VARIANTS, build=build)
    return checked.report, [baseline, *checked.documents]


@pytest.fixture(scope="module")
def baseline():
    return run_benchmark(select(VARIANTS, NAMES), CFG)


def verdicts(report) -> dict[str, str]:
    return {r.variant: r.verdict for r in report.rows}


def describe(report) -> str:
    rows = [f"{r.variant}: {r.verdict} {100 * (r.change or 0):+.1f}% {note(r, report)}"
            for r in report.rows]  # fmt: skip
    return "; ".join(rows)


def expect(right: bool, report: GateReport, documents: list[dict]) -> None:
    """Fail on a wrong verdict, unless another process took the CPU while timing: beside a busy
    loop on 2 cores the calibration's IQR reached 48% of its median and a 1.5x slowdown of E
    (+39%) was not significant, so a verdict then says nothing about the gate: skip, saying why."""
    if right:
        return
    busy = {k: round(v, 2) for d in documents for k, v in contention_signs(d.get("load")).items()}
    if busy:
        pytest.skip(f"the machine was busy while timing {busy}: {describe(report)}")
    pytest.fail(describe(report))


def test_unchanged_code_passes(baseline):
    report, documents = check(baseline)
    expect(not report.failed, report, documents)


def test_measured_slowdown_of_one_variant_fails(baseline):
    report, documents = check(baseline, slowed_builder(1.5, variant="E"))
    expect(report.failed and verdicts(report)["E"] == "slower", report, documents)


def test_measured_slowdown_of_a_shared_block_flags_every_variant(baseline):
    # Doubling the backbone's time added 50-66% to each detector at 256x256 on the dev machine,
    # three times the threshold or more; 1.5x added 28-34%, and a noisy CI machine once called E
    # unchanged at that.
    report, documents = check(baseline, slowed_builder(2.0, part="backbone"))
    found = set(verdicts(report).values())
    # A slowdown every variant shares moves them all against the calibration, as contention does:
    # where the machine was measured busy, the gate says "inconclusive" (check again when idle)
    # instead of failing. It never calls a variant unchanged.
    doubted = all(r.doubted for r in report.rows if r.verdict == "inconclusive")
    right = found <= {"slower", "inconclusive"} and report.failed == ("slower" in found)
    expect(right and doubted, report, documents)
