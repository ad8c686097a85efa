"""One call, two clocks: with end-to-end latency on, each detector is called once per sample and
its forward latency is clocked inside the end-to-end call; separate forward calls stay where no
end-to-end call exists (encoder scope, --no-end-to-end) and with --breakdown. A tiny detector
that counts its calls stands in for RT-DETR (nothing here depends on a real timing)."""

import pytest
import torch
from torch import nn

from rtbench.config import RunConfig, TimingPlan
from rtbench.results import parse
from rtbench.runner import run_benchmark
from rtbench.spec import load_variants

SPEC = load_variants()["A"]
ITERS, WARMUP = 4, 2


class CountingDetector(nn.Module):
    """Image [B, 3, H, W] -> (logits [B, 150, 2], boxes [B, 150, 4]): 300 candidates, as the
    post-processor's top 300 needs; counts its forward calls."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=16)
        self.calls = 0

    def forward(self, image):
        self.calls += 1
        x = self.conv(image).mean((2, 3))  # [B, 8]
        logits = x[:, :1].unsqueeze(1).expand(-1, 150, 2) + torch.linspace(0, 1, 300).view(150, 2)
        return logits, x[:, :4].unsqueeze(1).expand(-1, 150, 4).sigmoid()


def run(**options):
    models = []

    def build(spec, scope, seed):
        models.append(CountingDetector().eval())
        return models[-1]

    plan = TimingPlan(warmup=WARMUP, iters=ITERS, settle_window=1, settle_tolerance=100.0)
    cfg = RunConfig(**{"device": "cpu", "size": 128, "flops": False, "timing": plan, **options})
    document = run_benchmark([SPEC], cfg, build=build)
    return parse(document), models[0]


def test_end_to_end_calls_the_detector_once_per_sample_and_yields_both_latencies():
    document, model = run()
    (row,) = document["rows"]
    assert row["status"] == "ok", row["error"]
    assert row["forward_timed"] == "nested"
    e2e = row["latency_end_to_end"]
    assert row["latency_samples"] == e2e["samples"] == ITERS
    # the forward is clocked inside each end-to-end call: never longer than its call
    assert all(f <= e for f, e in zip(row["latency_samples_ms"], e2e["samples_ms"], strict=True))
    # the build's shape-cache call, the peak-memory probe's call, then warm-up and samples once
    timed_calls = WARMUP + ITERS
    assert model.calls == 2 + timed_calls
    assert "inside each end-to-end call" in document["protocol"]["card"]


def test_without_end_to_end_the_forward_is_timed_by_calls_of_its_own():
    document, model = run(end_to_end=False)
    (row,) = document["rows"]
    assert row["forward_timed"] == "separate" and row.get("latency_end_to_end") is None
    assert model.calls == 2 + WARMUP + ITERS


def test_with_breakdown_the_forward_and_end_to_end_are_timed_by_calls_of_their_own():
    document, model = run(breakdown=True)
    (row,) = document["rows"]
    assert row["forward_timed"] == "separate"
    assert row["latency_samples"] == row["latency_end_to_end"]["samples"] == ITERS
    # the build's call, the forward that captures each part's input, the peak-memory probe, then
    # two series, each warmed up
    assert model.calls == 3 + 2 * (WARMUP + ITERS)


def test_the_run_records_its_wall_time_its_phases_and_how_its_peak_was_measured():
    document, _ = run(flops=True)
    run_time = document["run_time"]
    phases = run_time["phases_s"]
    assert set(phases) == {"build", "count", "peak", "warmup", "timing", "other"}
    assert all(seconds >= 0 for seconds in phases.values())
    assert sum(phases.values()) == pytest.approx(run_time["wall_s"], abs=0.01)
    peak = document["peak"]
    # read before the timing (each shape) and through it (the fastest shape): the better one
    before = max(peak["shapes"], key=lambda s: s["gflops_per_s"])
    probe = peak["probe"]
    assert (probe["m"], probe["k"], probe["n"]) == (before["m"], before["k"], before["n"])
    assert peak["gflops_per_s"] == max(before["gflops_per_s"], probe["gflops_per_s"])
    assert probe["calls"] == ITERS  # a workload of the rounds, sampled as the models are
    # without FLOPs no row is held to a peak: none is measured (the gate's runs after the first)
    uncounted = run()[0]
    assert uncounted["peak"] is None and uncounted["peak_gflops_per_s"] is None
    assert uncounted["run_time"]["phases_s"]["peak"] == 0.0
    assert all(row["peak_fraction"] is None for row in uncounted["rows"])
    assert document["peak_gflops_per_s"] == peak["gflops_per_s"]
    assert peak["threads"] == torch.get_num_threads() and peak["dtype"] == "float32"
