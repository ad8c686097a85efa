"""The machine's practical peak, the denominator of every row's `peak_fraction`.

One matmul timed once, after minutes of model timings, read lower than what a model then reached
(E's detector at 106% of it on 2 shared cores): a single shape need not be the fastest the
library has, and a single reading takes whatever load came with it. So the peak is the best of a
few shapes (square, and the tall-skinny products convolutions lower to), each timed several times
with the best call kept, in the run's dtype and threads, before the models are timed. Counting 2
FLOPs per multiply-add (2 m k n), as the rows' `gflops` do.

A reading of a second or two is not enough either: on a shared host the machine's speed drifts by
tens of percent within a run, for seconds at a time. On 2 quiet cores of an Intel Xeon the reading
before timing gave 312 and 317 GFLOP/s in two runs and 198-233 in four others, every shape alike,
while the models ran at the same speed in all of them: one OpenVINO row read 112% of a 220
GFLOP/s reading. So the fastest shape is also called through the timing rounds, interleaved with
the models (`probe_step`), and the peak is the best of both readings (`with_probe`): the models
cannot meet a fast spell the peak missed.
"""

import time
from collections.abc import Callable

import torch

# (m, k, n): two squares (a larger product runs closer to the units' limit), and the shapes of
# 1x1 and 3x3 convolutions on 80x80, 40x40 and 20x20 maps (pixels x in-channels*kernel x
# out-channels) as a detector at 640 runs them.
CPU_SHAPES = ((1024, 1024, 1024), (2048, 2048, 2048), (6400, 256, 256), (1600, 2304, 256),
              (400, 4608, 512))  # fmt: skip
CUDA_SHAPES = ((4096, 4096, 4096), (8192, 8192, 8192), (25600, 1152, 256), (6400, 4608, 512))
REPEATS = 5  # timed calls per shape; the fastest is kept (load only ever slows a call)
# A dtype the CPU only emulates (100x slower) gets smaller shapes, not a longer wait: a shape is
# halved until a small probe's rate says one call takes under this.
MAX_CALL_S = 0.5
PROBE = 256


def measure_peak(device: torch.device, dtype: torch.dtype, repeats: int = REPEATS) -> dict:
    """{"gflops_per_s": the best of every shape, "shapes": per shape its best, and how it was
    measured}: results.json's `peak`."""
    device = torch.device(device)
    cuda = device.type == "cuda"
    shapes = CUDA_SHAPES if cuda else CPU_SHAPES
    per_shape = []
    with torch.inference_mode():
        rate = float("inf") if cuda else _probe_flops_per_s(device, dtype)  # GPUs: native
        for m, k, n in shapes:
            while 2.0 * m * k * n / rate > MAX_CALL_S and min(m, k, n) >= 128:
                m, k, n = m // 2, k // 2, n // 2  # an emulated dtype: smaller, not longer
            a, b, out = _operands(m, k, n, device, dtype)
            product = lambda a=a, b=b, out=out: torch.mm(a, b, out=out)  # noqa: E731
            _best_call_s(product, device, 3 if cuda else 1)  # warm-up: handles, caches
            seconds = _best_call_s(product, device, repeats)
            per_shape.append(
                {"m": m, "k": k, "n": n, "gflops_per_s": 2.0 * m * k * n / seconds / 1e9}
            )
    return {
        "gflops_per_s": max(s["gflops_per_s"] for s in per_shape),
        "dtype": str(dtype).removeprefix("torch."),
        "threads": None if cuda else torch.get_num_threads(),
        "repeats": repeats,
        "shapes": per_shape,
        "when": "before timing",
        "method": (
            f"torch.mm of {len(per_shape)} shapes (m x k x n), each called {repeats} times after "
            "a warm-up, the fastest call kept; the best shape's GFLOP/s (2 m k n FLOPs)"
        ),
    }


def probe_step(peak: dict, device: torch.device, dtype: torch.dtype) -> Callable[[], object]:
    """One call of the reading's fastest shape, to be timed through the rounds with the models."""
    best = max(peak["shapes"], key=lambda s: s["gflops_per_s"])
    a, b, out = _operands(best["m"], best["k"], best["n"], torch.device(device), dtype)

    return lambda: torch.mm(a, b, out=out)  # plain tensors: no autograd to switch off


def with_probe(peak: dict, samples_ms: list[float]) -> dict:
    """The peak, read before the timing and through it (`probe_step`'s calls, in ms): the best of
    the two readings, both recorded."""
    if not samples_ms:
        return peak
    best = max(peak["shapes"], key=lambda s: s["gflops_per_s"])
    m, k, n = best["m"], best["k"], best["n"]
    rate = 2.0 * m * k * n / (min(samples_ms) / 1000) / 1e9
    probe = {"m": m, "k": k, "n": n, "calls": len(samples_ms), "gflops_per_s": rate}
    return {
        **peak,
        "gflops_per_s": max(peak["gflops_per_s"], rate),
        "probe": probe,
        "when": "before timing, and through it",
        "method": peak["method"]
        + (
            f"; then the fastest shape called {len(samples_ms)} times through the timing rounds, "
            "its fastest call kept; the better of the two readings"
        ),
    }


def _probe_flops_per_s(device: torch.device, dtype: torch.dtype) -> float:
    """A rough rate from a small square product: what sizes the shapes for a slow dtype."""
    a, b, out = _operands(PROBE, PROBE, PROBE, device, dtype)
    seconds = _best_call_s(lambda: torch.mm(a, b, out=out), device, 2)
    return 2.0 * PROBE**3 / max(seconds, 1e-9)


def _best_call_s(product: Callable[[], object], device: torch.device, calls: int) -> float:
    best = float("inf")
    for _ in range(calls):
        _sync(device)
        started = time.perf_counter()
        product()
        _sync(device)
        best = min(best, time.perf_counter() - started)
    return best


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _operands(m: int, k: int, n: int, device: torch.device, dtype: torch.dtype):
    gen = torch.Generator().manual_seed(0)
    a = torch.randn((m, k), generator=gen).to(device=device, dtype=dtype)
    b = torch.randn((k, n), generator=gen).to(device=device, dtype=dtype)
    return a, b, torch.empty((m, n), device=device, dtype=dtype)
