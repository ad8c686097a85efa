"""The timer's bookkeeping (not its speed): interleaving, adaptive counts, warm-up, failures."""

from pathlib import Path

import torch

from rtbench.config import TimingPlan
from rtbench.measure.memory import torch_peak_memory
from rtbench.measure.timing import (
    InnerClock,
    Timed,
    Workload,
    measure_interleaved,
    sample_count,
    wall_clock,
)

CPU = torch.device("cpu")


def on_wall_clock(steps: dict) -> dict[str, Workload]:
    return {name: Workload(step, wall_clock()) for name, step in steps.items()}


def test_samples_are_interleaved_and_spread_over_the_rounds():
    order: list[str] = []
    workloads = {name: (lambda n=name: order.append(n)) for name in ("a", "b", "c")}
    plan = TimingPlan(warmup=0, iters=4, settle_window=1, settle_tolerance=10.0)
    timed = measure_interleaved(on_wall_clock(workloads), plan)
    assert all(len(t.samples_ms) == 4 for t in timed.values())
    rounds = [order[-12:][i : i + 3] for i in range(0, 12, 3)]  # after the warm-up calls
    assert all(sorted(r) == ["a", "b", "c"] for r in rounds)  # each workload once a round


def test_the_order_is_shuffled_each_round_and_seeded():
    # a fixed order puts one call's carry-over on the same neighbour every round
    def timed_order(seed: int) -> list[list[str]]:
        order: list[str] = []
        steps = {name: (lambda n=name: order.append(n)) for name in ("cal", "a", "b", "c")}
        plan = TimingPlan(warmup=0, iters=24, settle_window=1, settle_tolerance=10.0)
        measure_interleaved(on_wall_clock(steps), plan, order_seed=seed)
        return [order[-96:][i : i + 4] for i in range(0, 96, 4)]

    rounds = timed_order(7)
    assert all(sorted(r) == ["a", "b", "c", "cal"] for r in rounds)
    assert {r[0] for r in rounds} == {"cal", "a", "b", "c"}  # each comes first in some round
    assert len({tuple(r) for r in rounds}) > 6  # 24 rounds of 24 possible orders
    assert timed_order(7) == rounds  # the same seed, the same order
    assert timed_order(8) != rounds


def fixed_clock(ms: float):
    """A fake clock: `ms` per call, whatever the call takes, so counts never depend on load."""

    def clock(fn) -> float:
        fn()
        return ms

    return clock


def test_fast_workload_gets_more_samples_spread_evenly():
    workloads = {"slow": Workload(lambda: None, fixed_clock(10.0)),
                 "fast": Workload(lambda: None, fixed_clock(0.001))}  # fmt: skip
    plan = TimingPlan(warmup=1, min_time_s=0.05, min_iters=3, max_iters=40)
    timed = measure_interleaved(workloads, plan)
    assert len(timed["fast"].samples_ms) == 40  # 0.05 s / 1 us, capped at the ceiling
    assert len(timed["slow"].samples_ms) == 5  # 0.05 s / 10 ms
    assert timed["slow"].rounds == [7, 15, 23, 31, 39]  # one in every 8 of the 40 rounds


def test_sample_count_floor_and_ceiling():
    plan = TimingPlan(min_time_s=1.0, min_iters=5, max_iters=100)
    assert sample_count(1000.0, plan) == 5
    assert sample_count(0.001, plan) == 100
    assert sample_count(50.0, plan) == 20
    assert sample_count(50.0, TimingPlan(iters=7)) == 7


def test_warm_up_stops_once_settled():
    calls = []
    plan = TimingPlan(warmup=2, iters=1, settle_window=2, settle_tolerance=100.0)
    timed = measure_interleaved({"x": Workload(lambda: calls.append(1), fixed_clock(1.0))}, plan)
    assert len(timed["x"].warmup_ms) == 4  # two windows, then settled
    assert len(calls) == 5


def test_a_failing_workload_is_recorded_and_the_others_go_on():
    count = {"n": 0}

    def flaky():
        count["n"] += 1
        if count["n"] > 6:
            raise RuntimeError("CUDA out of memory. Tried to allocate 1 GiB")

    plan = TimingPlan(warmup=1, iters=5, settle_window=1, settle_tolerance=10.0)
    timed = measure_interleaved(on_wall_clock({"flaky": flaky, "fine": lambda: None}), plan)
    assert timed["flaky"].error.startswith("CUDA out of memory")
    assert len(timed["fine"].samples_ms) == 5


def test_peak_memory_sees_a_large_allocation():
    peak = torch_peak_memory(lambda: torch.ones(64, 1024, 1024).sum(), CPU)  # 256 MiB
    if not Path("/proc/self/clear_refs").exists():  # no resettable high-water mark: no figure
        assert peak is None
        return
    assert peak is not None and 200 * 2**20 <= peak < 1024 * 2**20


def test_each_workload_is_timed_by_its_own_clock():
    def counting_clock(fn):  # a fake clock: 1000 ms per call, whatever the call takes
        fn()
        return 1000.0

    plan = TimingPlan(warmup=1, iters=3, settle_window=1, settle_tolerance=10.0)
    workloads = {"wall": Workload(lambda: None, wall_clock()),
                 "fake": Workload(lambda: None, counting_clock)}  # fmt: skip
    timed = measure_interleaved(workloads, plan)
    assert timed["fake"].samples_ms == [1000.0] * 3
    assert all(s < 1000.0 for s in timed["wall"].samples_ms)


def test_relative_to_pairs_samples_with_the_nearest_reference_round():
    reference = Timed([10.0, 20.0, 40.0], [], rounds=[0, 2, 4])
    timed = Timed([10.0, 30.0, 40.0, 80.0], [], rounds=[0, 1, 3, 4])
    assert timed.relative_to(reference) == [1.0, 3.0, 2.0, 2.0]  # round 1 -> 0, 3 -> 2 (first)


def test_rounds_take_the_workloads_pool_by_pool():
    # another runtime's threads spin after their call and would take the next call's cores:
    # workloads of one pool run together, with a pause before the next pool (QUIESCE_S)
    order: list[str] = []
    workloads = {
        name: Workload(lambda n=name: order.append(n), wall_clock(), pool)
        for name, pool in (("a", "torch"), ("b", "onnxruntime"), ("c", "torch"))
    }
    plan = TimingPlan(warmup=0, iters=10, settle_window=1, settle_tolerance=10.0)
    measure_interleaved(workloads, plan)
    rounds = ["".join(order[-30:][i : i + 3]) for i in range(0, 30, 3)]  # after the warm-up
    assert set(rounds) <= {"acb", "cab", "bac", "bca"}  # a and c (torch) always together
    assert len(set(rounds)) > 1  # and shuffled, pools and their workloads


def test_one_call_two_clocks_each_call_yields_both_samples():
    """A workload with an inner clock: the step runs once per sample and its stage's readings
    come back as a series of their own, from the same calls, rounds and warm-up."""
    calls = []
    inner = InnerClock(fixed_clock(3.0))
    stage = inner.around(lambda x: calls.append(x) or x + 1)
    outputs = []
    workloads = {"e2e": Workload(lambda: outputs.append(stage(41)), fixed_clock(10.0),
                                 inner=("forward", inner)),
                 "other": Workload(lambda: None, fixed_clock(5.0))}  # fmt: skip
    plan = TimingPlan(warmup=2, iters=6, settle_window=1, settle_tolerance=100.0)
    timed = measure_interleaved(workloads, plan)
    outer, forward = timed["e2e"], timed["forward"]
    assert outer.samples_ms == [10.0] * 6 and forward.samples_ms == [3.0] * 6
    assert len(forward.warmup_ms) == len(outer.warmup_ms) == 2
    assert forward.rounds == outer.rounds and forward.spans == outer.spans
    assert len(calls) == 2 + 6 and set(outputs) == {42}  # one stage call per step call


def test_a_step_that_skips_its_inner_stage_is_an_error_for_both_series():
    inner = InnerClock(fixed_clock(3.0))
    workloads = {"e2e": Workload(lambda: None, fixed_clock(10.0), inner=("forward", inner))}
    timed = measure_interleaved(workloads, TimingPlan(warmup=1, iters=2, settle_window=1))
    assert timed["e2e"].error == timed["forward"].error == "the step did not call its inner stage"
