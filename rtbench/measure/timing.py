"""Latency: a precise clock per device, settled warm-up, adaptive sample counts, and interleaved
rounds so that the drift of a shared machine hits every workload alike.

Each workload brings its clock (its runtime decides): time.perf_counter_ns around each call on the
CPU; on CUDA, events recorded on the stream the runtime enqueues on, after a synchronize so that no
earlier work leaks in. cuDNN autotuning and engine set-up happen in the warm-up.
"""

import bisect
import gc
import math
import random
import statistics
import time
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field

import torch

from rtbench.config import TimingPlan
from rtbench.measure.stats import settled

Clock = Callable[[Callable[[], object]], float]  # calls fn once, returns its latency in ms


def wall_clock() -> Clock:
    """time.perf_counter_ns around the call: for work that is done when the call returns."""

    def clock(fn: Callable[[], object]) -> float:
        t0 = time.perf_counter_ns()
        fn()
        return (time.perf_counter_ns() - t0) / 1e6

    return clock


def cuda_event_clock(device: torch.device, stream: "torch.cuda.Stream | None" = None) -> Clock:
    """CUDA events recorded on `stream` (torch's current stream when None) around the call, after
    a synchronize so that no earlier work leaks in; the runtime that enqueues on its own stream
    (TensorRT) passes that stream."""
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)

    def clock(fn: Callable[[], object]) -> float:
        torch.cuda.synchronize(device)
        on = stream if stream is not None else torch.cuda.current_stream(device)
        start.record(on)
        fn()
        end.record(on)
        end.synchronize()
        return start.elapsed_time(end)

    return clock


def device_clock(device: torch.device) -> Clock:
    """The clock for work torch enqueues on `device`: CUDA events there, the wall clock on CPU."""
    return cuda_event_clock(device) if device.type == "cuda" else wall_clock()


class InnerClock:
    """A second clock inside a workload's step, around one stage of it: the model inside the
    end-to-end pipeline. One call of the step then yields two samples (the step's and the
    stage's), so the model is not called again to time it alone.

    `around(fn)` is the stage as the step calls it; `read()` takes the reading of the last call.
    """

    def __init__(self, clock: Clock):
        self.clock = clock
        self._last_ms: float | None = None

    def around(self, fn: Callable[..., object]) -> Callable[..., object]:
        def timed(*args):
            out = None

            def call():
                nonlocal out
                out = fn(*args)

            self._last_ms = self.clock(call)
            return out

        return timed

    def read(self) -> float:
        ms, self._last_ms = self._last_ms, None
        if ms is None:
            raise RuntimeError("the step did not call its inner stage")
        return ms


@dataclass(frozen=True)
class Workload:
    step: Callable[[], object]  # one call of the timed work, inputs already in place
    clock: Clock  # how that call is clocked
    pool: str = "torch"  # whose worker threads it runs on (a runtime's own thread pool)
    # (key, clock) of a stage clocked inside each call: its samples are reported under that key
    inner: "tuple[Hashable, InnerClock] | None" = None


# Worker threads spin for a while after their work, waiting for more: interleaved with another
# runtime's call, they take its cores. Measured on 2 cores, E's detector at 128 in OpenVINO took
# 29% longer right after an ONNX Runtime call (its pool spins for over 20 ms: ORT's spinning is
# turned off) and 5% longer right after a torch call; 10 ms of quiet before a call on another
# pool removed it. Rounds take the workloads pool by pool, so this pause comes once per pool.
QUIESCE_S = 0.010


def warm_up(
    fn: Callable[[], object], clock: Clock, plan: TimingPlan, gap_s: float = 0.0
) -> list[float]:
    """Untimed-in-the-results calls until timings settle, paced as the timed calls will be;
    returns the warm-up latencies."""
    seen: list[float] = []
    budget = plan.min_time_s if plan.max_warmup_s is None else plan.max_warmup_s
    deadline = time.perf_counter() + budget
    while True:
        seen.append(clock(fn))
        _pause(gap_s)
        enough = len(seen) >= max(plan.warmup, 2 * plan.settle_window)
        if len(seen) >= plan.warmup and time.perf_counter() > deadline:
            return seen
        if enough and settled(seen, plan.settle_window, plan.settle_tolerance):
            return seen


def sample_count(estimate_ms: float, plan: TimingPlan) -> int:
    if plan.iters is not None:
        return plan.iters
    wanted = math.ceil(plan.min_time_s * 1000 / max(estimate_ms, 1e-6))
    return max(plan.min_iters, min(plan.max_iters, wanted))


@dataclass
class Timed:
    samples_ms: list[float]
    warmup_ms: list[float]
    error: str | None = None
    rounds: list[int] = field(default_factory=list)  # the round each sample was taken in
    spans: list[tuple[float, float]] = field(default_factory=list)  # perf_counter, each call
    warmup_s: float = 0.0  # wall time its warm-up took (a phase of the run)

    def relative_to(self, reference: "Timed") -> list[float]:
        """Each sample over the reference's sample from the nearest round (the same round when
        both ran in it), so that a burst of load that hits one round cancels out."""
        out = []
        for sample, r in zip(self.samples_ms, self.rounds, strict=True):
            i = bisect.bisect_left(reference.rounds, r)
            nearest = min((j for j in (i - 1, i) if 0 <= j < len(reference.rounds)),
                          key=lambda j: abs(reference.rounds[j] - r))  # fmt: skip
            out.append(sample / reference.samples_ms[nearest])
        return out


def measure_interleaved(
    workloads: dict[Hashable, Workload],
    plan: TimingPlan,
    on_sample: Callable[[Hashable], None] = lambda key: None,
    describe_error: Callable[[BaseException], str] = str,
    gap_s: float = 0.0,
    order_seed: int = 0,
) -> dict[Hashable, Timed]:
    """Time every workload in interleaved rounds (A B C ... C A B ...), each with its own clock,
    in an order shuffled each round (round_orders, seeded by `order_seed`).

    Each workload's samples are spread evenly over the rounds, so a fast workload that needs more
    samples than a slow one still sees the whole run's drift. A workload that raises is recorded
    with its error and dropped; the others go on. With `gap_s`, every call (warm-up included) is
    followed by that long a sleep, untimed: calls paced as a camera feeds frames. Before a call
    on another thread pool than the last one's, QUIESCE_S of quiet, untimed. A workload with an
    `inner` clock also yields that stage's samples, from the same calls, under the inner key.
    """
    results: dict[Hashable, Timed] = {}
    wanted: dict[Hashable, int] = {}
    for key, work in workloads.items():
        inner_warm: list[float] = []
        started = time.perf_counter()
        try:
            warm = warm_up(work.step, _with_inner(work, inner_warm), plan, gap_s)
        except Exception as err:  # noqa: BLE001 - recorded in the row, the table goes on
            results[key] = Timed([], [], describe_error(err))
            if work.inner:
                results[work.inner[0]] = Timed([], [], describe_error(err))
            continue
        spent = time.perf_counter() - started
        results[key] = Timed([], warm, warmup_s=spent)
        if work.inner:  # the same calls: the warm-up time is counted once, on the outer key
            results[work.inner[0]] = Timed([], inner_warm)
        wanted[key] = sample_count(statistics.median(warm[-plan.settle_window :]), plan)
    rounds = max(wanted.values(), default=0)
    pools = {key: workloads[key].pool for key in wanted}
    gc.collect()
    gc.disable()  # a collection inside a timed call would land on one unlucky workload
    try:
        pool = None
        for r, order in enumerate(round_orders(pools, rounds, order_seed)):
            for key in order:
                n, timed = wanted[key], results[key]
                if timed.error is not None:
                    continue
                due = (r + 1) * n // rounds - r * n // rounds  # Bresenham spread
                if due and pool not in (None, workloads[key].pool):
                    _pause(QUIESCE_S)  # the previous pool's threads stop spinning first
                pool = workloads[key].pool if due else pool
                inner = workloads[key].inner
                for _ in range(due):
                    started = time.perf_counter()
                    try:
                        ms = workloads[key].clock(workloads[key].step)
                        inner_ms = inner[1].read() if inner else None
                    except Exception as err:  # noqa: BLE001
                        timed.error = describe_error(err)
                        if inner:
                            results[inner[0]].error = timed.error
                        break
                    span = (started, time.perf_counter())
                    for into, value in (
                        (timed, ms),
                        (results[inner[0]] if inner else None, inner_ms),
                    ):
                        if into is not None:
                            into.samples_ms.append(value)
                            into.spans.append(span)
                            into.rounds.append(r)
                    on_sample(key)
                    _pause(gap_s)
    finally:
        gc.enable()
    return results


def _with_inner(work: Workload, readings: list[float]) -> Clock:
    """The workload's clock, also keeping its inner stage's reading of each call."""
    if work.inner is None:
        return work.clock

    def clock(fn: Callable[[], object]) -> float:
        ms = work.clock(fn)
        readings.append(work.inner[1].read())
        return ms

    return clock


def round_orders(pools: dict[Hashable, str], rounds: int, seed: int) -> Iterator[list[Hashable]]:
    """The order of the workloads in each round: pools in a shuffled order, and the workloads of
    each pool together (QUIESCE_S once per pool) in a shuffled order, a new shuffle every round.

    A fixed order puts the carry-over of one call (caches, the allocator, clock frequency) on
    the same neighbour every round; shuffled, it spreads over all of them. Seeded, so that a run's
    order (its seed is in results.json's protocol) can be made again."""
    rng = random.Random(seed)
    by_pool: dict[str, list[Hashable]] = {}
    for key, pool in pools.items():
        by_pool.setdefault(pool, []).append(key)
    for _ in range(rounds):
        names = list(by_pool)
        rng.shuffle(names)
        order = []
        for pool in names:
            keys = list(by_pool[pool])
            rng.shuffle(keys)
            order += keys
        yield order


def _pause(seconds: float) -> None:
    if seconds > 0:
        time.sleep(seconds)
