"""The machine's practical peak, the denominator of every row's `peak_fraction`.

One matmul timed once, after minutes of model timings, read lower than what a model then reached
(E's detector at 106% of it on 2 shared cores): a single shape need not be the fastest the
library has, and a single reading takes whatever load came with it. So the peak is the best of a
few products, each timed several times with the best call kept, in the run's dtype and threads,
before the models are timed. Counting 2 FLOPs per multiply-add (2 m k n), as the rows' `gflops` do.

The products are matmuls *and convolutions*, because a model's FLOPs are mostly convolutions and
a library need not run both at one speed: PyTorch's CPU matmul is MKL's, its convolutions are
oneDNN's, and on an AMD EPYC with AVX-512 MKL's sgemm ran at 180-190 GFLOP/s on 2 threads while
oneDNN's convolutions of the same sizes ran at 350-420 (E's detector read 105% of a matmul-only
peak there, and 42-51% of this one). A convolution is recorded as the product it lowers to: m =
pixels, k = in-channels x kernel^2, n = out-channels, with its `kernel` (none: a matmul).

A reading of a second or two is not enough either: on a shared host the machine's speed drifts by
tens of percent within a run, for seconds at a time. On 2 quiet cores of an Intel Xeon the reading
before timing gave 312 and 317 GFLOP/s in two runs and 198-233 in four others, every shape alike,
while the models ran at the same speed in all of them: one OpenVINO row read 112% of a 220
GFLOP/s reading. So the fastest product is also called through the timing rounds, interleaved
with the models (`probe_step`), and the peak is the best of both readings (`with_probe`): the
models cannot meet a fast spell the peak missed.
"""

import math
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

# (m, k, n, kernel): kernel None is an m x k by k x n matmul; 1 or 3 a convolution of a square
# map of m pixels, k / kernel^2 channels in and n out (padding keeps the size), batch 1.
# Two squares (a larger product runs closer to the units' limit), the tall-skinny products the
# convolutions of a detector at 640 lower to (80x80, 40x40 and 20x20 maps), and those
# convolutions as the library runs them.
CPU_SHAPES = ((1024, 1024, 1024, None), (2048, 2048, 2048, None), (6400, 256, 256, None),
              (1600, 2304, 256, None), (400, 4608, 512, None),
              (6400, 256, 256, 1), (1600, 2304, 256, 3), (400, 4608, 512, 3))  # fmt: skip
CUDA_SHAPES = ((4096, 4096, 4096, None), (8192, 8192, 8192, None), (25600, 1152, 256, None),
               (6400, 4608, 512, None), (25600, 2304, 256, 3), (6400, 4608, 512, 3))  # fmt: skip
REPEATS = 5  # timed calls per shape; the fastest is kept (load only ever slows a call)
# A dtype the CPU only emulates (100x slower) gets smaller shapes, not a longer wait: a shape is
# halved until a small probe's rate says one call takes under this.
MAX_CALL_S = 0.5


def measure_peak(device: torch.device, dtype: torch.dtype, repeats: int = REPEATS) -> dict:
    """{"gflops_per_s": the best of every shape, "shapes": per shape its best, and how it was
    measured}: results.json's `peak`."""
    device = torch.device(device)
    cuda = device.type == "cuda"
    per_shape = []
    with torch.inference_mode():
        rates = {}  # per kind of product: a library may emulate one and not the other
        for m, k, n, kernel in CUDA_SHAPES if cuda else CPU_SHAPES:
            if kernel not in rates:  # GPUs: native
                rates[kernel] = float("inf") if cuda else _probe_flops_per_s(device, dtype, kernel)
            while 2.0 * m * k * n / rates[kernel] > MAX_CALL_S and min(m, k, n) >= 128:
                m, k, n = _halved(m, k, n, kernel)  # an emulated dtype: smaller, not longer
            product = _product(m, k, n, kernel, device, dtype)
            _best_call_s(product, device, 3 if cuda else 1)  # warm-up: handles, caches
            seconds = _best_call_s(product, device, repeats)
            per_shape.append({"m": m, "k": k, "n": n, "kernel": kernel,
                              "gflops_per_s": 2.0 * m * k * n / seconds / 1e9})  # fmt: skip
    return {
        "gflops_per_s": max(s["gflops_per_s"] for s in per_shape),
        "dtype": str(dtype).removeprefix("torch."),
        "threads": None if cuda else torch.get_num_threads(),
        "repeats": repeats,
        "shapes": per_shape,
        "when": "before timing",
        "method": (
            f"torch.mm and conv2d, {len(per_shape)} shapes (m x k x n; a convolution as the "
            f"product it lowers to), each called {repeats} times after a warm-up, the fastest "
            "call kept; the best shape's GFLOP/s (2 m k n FLOPs)"
        ),
    }


def probe_step(peak: dict, device: torch.device, dtype: torch.dtype) -> Callable[[], object]:
    """One call of the reading's fastest shape, to be timed through the rounds with the models."""
    best = max(peak["shapes"], key=lambda s: s["gflops_per_s"])
    return _product(best["m"], best["k"], best["n"], best.get("kernel"), torch.device(device),
                    dtype)  # fmt: skip


def with_probe(peak: dict, samples_ms: list[float]) -> dict:
    """The peak, read before the timing and through it (`probe_step`'s calls, in ms): the best of
    the two readings, both recorded."""
    if not samples_ms:
        return peak
    best = max(peak["shapes"], key=lambda s: s["gflops_per_s"])
    m, k, n = best["m"], best["k"], best["n"]
    rate = 2.0 * m * k * n / (min(samples_ms) / 1000) / 1e9
    probe = {"m": m, "k": k, "n": n, "kernel": best.get("kernel"), "calls": len(samples_ms),
             "gflops_per_s": rate}  # fmt: skip
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


def _halved(m: int, k: int, n: int, kernel: int | None) -> tuple[int, int, int]:
    if kernel is None:
        return m // 2, k // 2, n // 2
    return m // 4, k // 2, n // 2  # a convolution: half the side, half the channels in and out


def _product(m: int, k: int, n: int, kernel: int | None, device: torch.device,
             dtype: torch.dtype) -> Callable[[], object]:  # fmt: skip
    """The call that computes the m x k x n product: a matmul, or the convolution it stands for."""
    gen = torch.Generator().manual_seed(0)
    if kernel is None:
        a = torch.randn((m, k), generator=gen).to(device=device, dtype=dtype)
        b = torch.randn((k, n), generator=gen).to(device=device, dtype=dtype)
        out = torch.empty((m, n), device=device, dtype=dtype)
        return lambda: torch.mm(a, b, out=out)  # plain tensors: no autograd to switch off
    side = math.isqrt(m)
    channels = k // kernel**2
    x = torch.randn((1, channels, side, side), generator=gen).to(device=device, dtype=dtype)
    w = torch.randn((n, channels, kernel, kernel), generator=gen).to(device=device, dtype=dtype)
    return lambda: F.conv2d(x, w, padding=kernel // 2)


def _probe_flops_per_s(device: torch.device, dtype: torch.dtype, kernel: int | None) -> float:
    """A rough rate from a small product of the kind (a 256^3 matmul, or a convolution of a 16x16
    map, 128 channels in and out): what sizes the shapes for a slow dtype."""
    m, k, n = (256, 256, 256) if kernel is None else (256, 128 * kernel**2, 128)
    seconds = _best_call_s(_product(m, k, n, kernel, device, dtype), device, 2)
    return 2.0 * m * k * n / max(seconds, 1e-9)


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
