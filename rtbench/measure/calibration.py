"""Machine-normalization workloads, independent of rtbench's models.

Shared CI machines drift in speed between runs (other tenants, frequency scaling), so a latency is
only comparable across runs after dividing it by the latency of a fixed workload timed in the
same run (DESIGN.md section 6: only ratios measured in one run are comparable). The workload mixes
the op kinds the encoder variants spend their time in: a 3x3 conv with BatchNorm-like affine and
SiLU, a token-wise linear with LayerNorm and GELU, and fused attention.
"""

import math
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

# Part of every results file; bump it whenever calibration_workload changes, so that runs
# normalized by different workloads are refused by the gate instead of compared.
CALIBRATION_NAME = "calib-v1"


def _randn(shape: tuple[int, ...], gen: torch.Generator, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(shape, generator=gen) * scale


def calibration_workload(
    device: torch.device, dtype: torch.dtype, seed: int = 0
) -> Callable[[], object]:
    """A fixed, deterministic CNN + attention step; about 10-30 ms on a 2-core CPU in float32.

    Tensors are made once (on the CPU from a seeded generator, then moved, so every device sees
    the same values); the returned callable only computes, under inference_mode, and does not
    synchronize: the caller's timer does (CUDA events or torch.cuda.synchronize).
    """
    gen = torch.Generator().manual_seed(seed)
    c, hw, tokens, d, heads = 64, 80, 1024, 256, 8
    t = {
        "image": _randn((1, c, hw, hw), gen),  # [B, C, H, W], a stride-8 map of a 640 image
        "conv_w": _randn((c, c, 3, 3), gen, 1.0 / math.sqrt(9 * c)),
        "bn_scale": 1.0 + 0.1 * _randn((1, c, 1, 1), gen),
        "bn_shift": 0.1 * _randn((1, c, 1, 1), gen),
        "tokens": _randn((tokens, d), gen),  # [L, D], the 32x32 map of a 1024 image
        "lin_w": _randn((d, d), gen, 1.0 / math.sqrt(d)),
        "q": _randn((1, heads, tokens, d // heads), gen),  # [B, H, L, Dh]
        "k": _randn((1, heads, tokens, d // heads), gen),
        "v": _randn((1, heads, tokens, d // heads), gen),
    }
    t = {name: x.to(device=device, dtype=dtype) for name, x in t.items()}

    def step() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        with torch.inference_mode():
            y = F.conv2d(t["image"], t["conv_w"], padding=1)  # [1, 64, 80, 80]
            y = F.silu(y * t["bn_scale"] + t["bn_shift"])
            z = t["tokens"] @ t["lin_w"]  # [1024, 256]
            z = F.gelu(F.layer_norm(z, (d,)))
            a = F.scaled_dot_product_attention(t["q"], t["k"], t["v"])  # [1, 8, 1024, 32]
        return y, z, a

    return step


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_peak_gflops(device: torch.device, dtype: torch.dtype, seconds: float = 0.5) -> float:
    """Achieved GFLOP/s of a large square matmul, counting 2 FLOPs per multiply-add (2 * n^3).

    n = 1024 on CPU (about 10-50 ms each on 2 cores, so `seconds` holds several) and 4096 on CUDA
    (large enough to keep tensor cores busy). At least 3 timed matmuls even if `seconds` is short.
    """
    device = torch.device(device)
    n = 4096 if device.type == "cuda" else 1024
    gen = torch.Generator().manual_seed(0)
    a = torch.randn((n, n), generator=gen).to(device=device, dtype=dtype)
    b = torch.randn((n, n), generator=gen).to(device=device, dtype=dtype)
    out = torch.empty((n, n), device=device, dtype=dtype)
    with torch.inference_mode():
        for _ in range(3 if device.type == "cuda" else 1):  # warm-up: cuBLAS handles, caches
            torch.mm(a, b, out=out)
        _sync(device)
        count, start = 0, time.perf_counter()
        while True:
            torch.mm(a, b, out=out)
            count += 1
            if count % 4 == 0 or device.type != "cuda":
                # On CUDA launches are async: only sync every few calls to keep the queue full.
                _sync(device)
                elapsed = time.perf_counter() - start
                if count >= 3 and elapsed >= seconds:
                    break
    return 2.0 * n**3 * count / elapsed / 1e9
