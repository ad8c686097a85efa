"""Acceptance: the gate on real timings, with slowdowns injected into the models (`make
acceptance`; CI runs it on an idle machine). A verdict on real timings depends on the machine's
load, so these tests are kept out of the default suite (`make test`)."""

import pytest

from rtbench.config import BenchConfig
from rtbench.gate import compare
from rtbench.measure.inject import slowed_builder
from rtbench.measure.timing import TimingPlan
from rtbench.models.build import build_model
from rtbench.runner import run_benchmark
from rtbench.spec import load_variants, select

SPECS = select(load_variants(), ["A", "E"])


def measure(scope: str, size: int, iters: int, build=build_model) -> dict:
    cfg = BenchConfig(scope=scope, size=size, device="cpu",
                      timing=TimingPlan(iters=iters, min_time_s=0.5))  # fmt: skip
    return run_benchmark(SPECS, cfg, build=build)


@pytest.fixture(scope="module")
def encoder_baseline():
    return measure("encoder", 64, 30)


def verdicts(report) -> dict[str, str]:
    return {r.variant: r.verdict for r in report.rows}


def test_unchanged_code_passes(encoder_baseline):
    report = compare(encoder_baseline, measure("encoder", 64, 30))
    assert not report.failed, verdicts(report)


def test_measured_slowdown_of_one_variant_fails(encoder_baseline):
    current = measure("encoder", 64, 30, slowed_builder(1.5, variant="E"))
    report = compare(encoder_baseline, current)
    assert report.failed and verdicts(report)["E"] == "slower", verdicts(report)


def test_measured_slowdown_of_a_shared_block_flags_every_variant():
    baseline = measure("detector", 256, 16)
    current = measure("detector", 256, 16, slowed_builder(1.5, part="backbone"))
    report = compare(baseline, current)
    assert report.failed and set(verdicts(report).values()) == {"slower"}, verdicts(report)
