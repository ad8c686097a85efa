"""Machine-normalization workload, independent of rtbench's models.

Shared CI machines drift in speed between runs (other tenants, frequency scaling), so a latency is
only comparable across runs after dividing it by the latency of a fixed workload timed in the
same rounds (docs/design.md, "Measuring": only ratios measured in one run are comparable).

The workload resembles what the detectors spend their time in: a stack of bottleneck convolutions
(1x1, 3x3, 1x1 at four resolutions, as in a ResNet-50 on a 256x256 image) and a fused attention,
written with plain torch ops. calib-v1, a 10 ms mix of small ops, tracked the models worse: its
time moved up to 15% more than theirs between runs on a shared 2-core machine (short parallel ops
suffer more from a preempted core); this one, at 60-80 ms, tracks them within a few percent.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# Part of every results file; bump it whenever calibration_workload changes, so that runs
# normalized by different workloads are refused by the gate instead of compared.
CALIBRATION_NAME = "calib-v2"
STAGES = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))  # (width, blocks, stride)


@dataclass(frozen=True)
class Plan:
    """How big the calibration is on a kind of device, and in what dtype it runs."""

    name: str  # recorded in results.json: runs normalized by different plans never compare
    batch: int
    side: int  # of the 64-channel map the bottlenecks start from (stride 4 of an image 4x as big)
    run_dtype: bool  # in the run's dtype (else float32)


# The CPU's: about 70 ms on 2 cores, float32 whatever the run's dtype (a bf16 the CPU only
# emulates would take 10 s a call). On CUDA that workload is bound by kernel launches (tens of
# microseconds of work per kernel), so a GPU's plan is 32 images of 512x512: ~17 GFLOP per
# convolution, bound by the tensor cores in the run's dtype, as the models are.
PLANS = {"cpu": Plan(CALIBRATION_NAME, 1, 64, False), "cuda": Plan("calib-v2-cuda", 32, 128, True)}


def calibration_plan(device: torch.device) -> Plan:
    return PLANS["cuda" if device.type == "cuda" else "cpu"]


def calibration_dtype(device: torch.device, dtype: torch.dtype) -> torch.dtype:
    return dtype if calibration_plan(device).run_dtype else torch.float32


def calibration_workload(
    device: torch.device, dtype: torch.dtype, seed: int = 0, plan: Plan | None = None
) -> Callable[[], object]:
    """A fixed, deterministic CNN + attention step of `plan`'s size (the device's by default);
    about 60-80 ms on a 2-core CPU in float32.

    Tensors are made once (on the CPU from a seeded generator, then moved, so every device sees
    the same values); the returned callable only computes, under inference_mode, and does not
    synchronize: the caller's timer does (CUDA events or torch.cuda.synchronize).
    """
    plan = plan or calibration_plan(torch.device(device))
    gen = torch.Generator().manual_seed(seed)

    def weight(c_out: int, c_in: int, k: int) -> torch.Tensor:
        return torch.randn(c_out, c_in, k, k, generator=gen) / math.sqrt(c_in * k * k)

    convs = []  # (weight, stride, padding), three per bottleneck
    c_in = 64
    for width, blocks, stride in STAGES:
        for b in range(blocks):
            convs += [
                (weight(width, c_in, 1), 1, 0),
                (weight(width, width, 3), stride if b == 0 else 1, 1),
                (weight(4 * width, width, 1), 1, 0),
            ]
            c_in = 4 * width
    # [B, C, H, W]: stride 4 of a 256 image on the CPU
    image = torch.randn(plan.batch, 64, plan.side, plan.side, generator=gen)
    qkv = torch.randn(3, plan.batch, 8, 256, 32, generator=gen)  # [q|k|v, B, heads, tokens, Dh]
    convs = [(w.to(device=device, dtype=dtype), s, p) for w, s, p in convs]
    image, qkv = image.to(device=device, dtype=dtype), qkv.to(device=device, dtype=dtype)

    def step() -> tuple[torch.Tensor, torch.Tensor]:
        with torch.inference_mode():
            x = image
            for w, stride, padding in convs:
                x = F.relu(F.conv2d(x, w, stride=stride, padding=padding))  # ends [1, 2048, 8, 8]
            attended = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])  # [1, 8, 256, 32]
        return x, attended

    return step
