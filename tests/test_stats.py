"""Statistics (rtbench.measure.stats) and the calibration workloads. Expected statistics come from
closed forms (exact rank-test tails, binomial tables)."""

import math
import os
import random

import numpy as np
import pytest
import torch
from scipy.stats import binom

from rtbench.measure.calibration import CALIBRATION_NAME, calibration_workload
from rtbench.measure.peak import CPU_SHAPES, measure_peak, probe_step, with_probe
from rtbench.measure.stats import median_ci_ranks, settled, summarize, trending

# ---------------------------------------------------------------- stats


def test_summarize_matches_numpy_percentiles():
    rng = random.Random(1)
    for n in (1, 2, 5, 6, 7, 30, 101):
        xs = [rng.lognormvariate(2.0, 0.3) for _ in range(n)]
        s = summarize(xs)
        assert s["samples"] == n
        assert s["median_ms"] == pytest.approx(np.median(xs))
        assert s["p90_ms"] == pytest.approx(np.percentile(xs, 90))
        assert s["p95_ms"] == pytest.approx(np.percentile(xs, 95))
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


def test_settled():
    assert not settled([1.0, 1.0, 1.0], window=2, tolerance=0.05)  # too few samples
    assert not settled([10.0, 9.0, 5.0, 5.1], window=2, tolerance=0.05)
    assert settled([10.0, 9.0, 5.0, 5.1, 5.0, 5.05], window=2, tolerance=0.05)
    assert settled([0.0, 0.0], window=1, tolerance=0.1)


def test_settled_refuses_a_curve_still_falling():
    # a warm-up shedding 1% a call: the two windows' medians agree within 5% (4% apart), but the
    # eight calls fall monotonically: Kendall's tau = -1, p = 2/8! = 5e-5
    falling = [100 * 0.99**i for i in range(8)]
    assert abs(falling[-2] / falling[-6] - 1) < 0.05
    assert trending(falling)
    assert not settled(falling, window=4, tolerance=0.05)
    # the same values out of order: no trend, settled
    level = [falling[i] for i in (3, 0, 6, 1, 5, 2, 7, 4)]
    assert not trending(level)
    assert settled(level, window=4, tolerance=0.05)
    assert not trending([5.0] * 8)  # all equal: no trend
    assert not trending([3.0, 2.0, 1.0])  # too few to see one


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


def bottleneck_flops(batch: int, side: int) -> float:
    """The calibration's convolutions in closed form: 2 FLOPs per multiply-add, per output."""
    total, c_in = 0.0, 64
    for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for b in range(blocks):
            total += 2 * batch * side * side * c_in * width  # 1x1 reduce, before the stride
            if b == 0:
                side //= stride  # the 3x3 strides (ResNet-50 v1.5)
            total += 2 * batch * side * side * (9 * width * width + width * 4 * width)
            c_in = 4 * width
    return total


def test_the_cuda_calibration_is_bound_by_compute_in_the_runs_dtype():
    # on a GPU the CPU's workload is a few hundred microseconds of kernel launches; the CUDA plan
    # must give every convolution enough work to keep the tensor cores busy (counted on the meta
    # device by torch's FLOP counter: nothing is computed)
    from torch.utils.flop_counter import FlopCounterMode

    from rtbench.measure.calibration import Plan, calibration_dtype, calibration_plan

    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    plan = calibration_plan(cuda)
    assert plan.name != calibration_plan(cpu).name  # never compared with CPU runs
    assert calibration_dtype(cuda, torch.float16) == torch.float16
    assert calibration_dtype(cpu, torch.bfloat16) == torch.float32  # emulated bf16: 10 s a call
    for device_plan in (plan, calibration_plan(cpu)):
        step = calibration_workload(torch.device("meta"), torch.float16, plan=device_plan)
        with FlopCounterMode(display=False) as counter:
            step()
        convs = bottleneck_flops(device_plan.batch, device_plan.side)
        attention = 4 * device_plan.batch * 8 * 256 * 256 * 32  # QK^T and AV, 2 FLOPs each
        assert counter.get_total_flops() == convs + attention
    per_conv = bottleneck_flops(plan.batch, plan.side) / 48
    assert per_conv > 10e9  # 10 GFLOP a kernel: ~25 us at 400 TFLOP/s, 5x a launch
    assert isinstance(plan, Plan) and plan.run_dtype


# What a CPU core can do at most in fp32: two AVX-512 FMA units (2 x 16 lanes x 2 FLOPs) a cycle,
# at 5 GHz, past any server clock. A figure above it is a counting error (2 n^3 counted twice,
# ms taken for seconds). The floor is loose: beside other test suites on 2 cores, torch's
# threads waiting for each other made a 128x128 product take 22 ms (0.19 GFLOP/s).
MAX_FP32_FLOPS_PER_CORE = 64 * 5e9
MIN_GFLOPS = 0.01


def test_the_peak_is_the_best_of_its_shapes_and_what_the_machine_can_do():
    peak = measure_peak(torch.device("cpu"), torch.float32, repeats=2)
    g = peak["gflops_per_s"]
    assert math.isfinite(g)
    assert MIN_GFLOPS < g < (os.cpu_count() or 1) * MAX_FP32_FLOPS_PER_CORE / 1e9
    # each shape as declared, or halved where one call would take too long (a busy machine):
    # a matmul's every side, a convolution's side (a quarter of its pixels) and its channels
    kinds = {s["kernel"] for s in peak["shapes"]}
    assert None in kinds and {1, 3} <= kinds  # matmuls and the convolutions models run
    for shape, (m, k, n, kernel) in zip(peak["shapes"], CPU_SHAPES, strict=True):
        halvings = (n // shape["n"]).bit_length() - 1
        per_side = 4 if kernel else 2
        assert (shape["m"], shape["k"], shape["n"], shape["kernel"]) == (
            m // per_side**halvings,
            k >> halvings,
            n >> halvings,
            kernel,
        )
    assert g == max(s["gflops_per_s"] for s in peak["shapes"])
    assert peak["threads"] == torch.get_num_threads() and peak["repeats"] == 2


def test_the_peak_read_through_the_timing_is_kept_when_it_is_the_better_reading():
    """A 1000^3 product is 2 GFLOP: its fastest call of 8 ms reads 250 GFLOP/s, above the 200
    read before; a fastest call of 20 ms (100 GFLOP/s) leaves the 200 as the peak."""
    before = {"gflops_per_s": 200.0, "dtype": "float32", "threads": 2, "repeats": 5,
              "when": "before timing", "method": "m",
              "shapes": [{"m": 100, "k": 100, "n": 100, "gflops_per_s": 50.0},
                         {"m": 1000, "k": 1000, "n": 1000, "gflops_per_s": 200.0}]}  # fmt: skip
    faster = with_probe(before, [10.0, 8.0, 12.0])
    assert faster["gflops_per_s"] == pytest.approx(250.0)
    assert faster["probe"] == {"m": 1000, "k": 1000, "n": 1000, "kernel": None, "calls": 3,
                               "gflops_per_s": pytest.approx(250.0)}  # fmt: skip
    assert faster["shapes"] == before["shapes"] and "3 times" in faster["method"]
    slower = with_probe(before, [20.0, 25.0])
    assert slower["gflops_per_s"] == 200.0
    assert slower["probe"]["gflops_per_s"] == pytest.approx(100.0)
    assert with_probe(before, []) == before  # the probe failed: the reading before stands


def test_the_peak_probe_multiplies_the_fastest_shape():
    before = {"shapes": [{"m": 64, "k": 32, "n": 16, "gflops_per_s": 9.0},
                         {"m": 8, "k": 8, "n": 8, "gflops_per_s": 1.0}]}  # fmt: skip
    step = probe_step(before, torch.device("cpu"), torch.float32)
    out = step()
    a, b, _ = (cell.cell_contents for cell in step.__closure__)  # its operands, multiplied
    assert a.shape == (64, 32) and b.shape == (32, 16)
    assert torch.allclose(out, a @ b)


def test_a_convolution_shape_is_the_product_it_lowers_to():
    """The fastest shape a 3x3 convolution of a 4x4 map (m 16 pixels, k 2 channels x 9, n 5):
    its output equals the unfolded input (16 pixels x 18 taps) times the weights (18 x 5)."""
    before = {"shapes": [{"m": 16, "k": 18, "n": 5, "kernel": 3, "gflops_per_s": 9.0}]}
    step = probe_step(before, torch.device("cpu"), torch.float32)
    out = step()
    closure = dict(zip(step.__code__.co_freevars, (c.cell_contents for c in step.__closure__),
                       strict=True))  # fmt: skip
    x, w = closure["x"], closure["w"]
    assert x.shape == (1, 2, 4, 4) and w.shape == (5, 2, 3, 3) and out.shape == (1, 5, 4, 4)
    columns = torch.nn.functional.unfold(x, 3, padding=1)[0].T  # 16 x 18, as im2col lays it out
    expected = (columns @ w.reshape(5, 18).T).T.reshape(1, 5, 4, 4)
    assert torch.allclose(out, expected, atol=1e-5)


def test_a_slow_dtype_gets_smaller_peak_shapes_not_a_longer_wait(monkeypatch):
    from rtbench.measure import peak

    monkeypatch.setattr(peak, "_probe_flops_per_s", lambda device, dtype, kernel: 1e9)  # 1 GFLOP/s
    shapes = peak.measure_peak(torch.device("cpu"), torch.float32, repeats=1)["shapes"]
    # halved until 2 m k n / 1e9 s <= MAX_CALL_S (0.5 s), worked out by hand:
    # 1024^3 2.1 s -> 512^3 0.27 s; 2048^3 17 s -> 1024 -> 512; 6400x256x256 0.84 s -> half;
    # 1600x2304x256 and 400x4608x512 1.9 s -> half (0.24 s); a convolution halves its side and
    # its channels: 80x80 map 256 -> 256 (0.84 s) -> 40x40 128 -> 128; 40x40 256x9 -> 256 and
    # 20x20 512x9 -> 512 (1.9 s) -> 20x20 128x9 -> 128 and 10x10 256x9 -> 256 (0.12 s)
    assert [(s["m"], s["k"], s["n"]) for s in shapes] == [
        (512, 512, 512), (512, 512, 512), (3200, 128, 128), (800, 1152, 128), (200, 2304, 256),
        (1600, 128, 128), (400, 1152, 128), (100, 2304, 256)
    ]  # fmt: skip
