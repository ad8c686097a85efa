"""What one benchmark run measures: its configuration, the defaults, and the checks made before any
work starts. The CLI's measuring options map one to one onto these fields (rtbench.cli)."""

import math
from dataclasses import dataclass, field

import torch

from rtbench.measure.timing import TimingPlan
from rtbench.text import quote

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
MAX_SEED = 2**63 - 1  # torch.manual_seed takes a signed 64-bit value
# Upper bounds far past any real run (Table 3: 640, batch 1), so that a typo of a few extra zeros
# fails at once instead of after every model was built (or with an overflow deep in torch).
MAX_SIZE = 16384  # one 16k image through the detector needs tens of GB already
MAX_BATCH = 4096
MAX_THREADS = 1024  # torch takes a C int; no machine we measure on has more cores
MAX_CALLS = 100_000  # --warmup / --iters: a fixed count past this runs for days
MAX_MIN_TIME_S = 3600.0  # seconds of samples per variant; more would never end a run


class BenchError(Exception):
    """A configuration the run cannot go on with; the message is one line for the user."""


@dataclass(frozen=True)
class BenchConfig:
    scope: str = "detector"  # Table 3 rows are whole detectors
    device: str = "cpu"  # cpu, cuda or cuda:N
    dtype: str = "fp32"  # fp16 / bf16: autocast in PyTorch, the engine's precision elsewhere
    size: int = 640  # square input side, a multiple of 32
    batch: int = 1
    seed: int = 0  # weights and inputs
    threads: int | None = None  # CPU intra-op threads; None keeps torch's default
    deploy: bool = False  # fold BatchNorm and fuse RepVGG blocks before measuring
    channels_last: bool = False
    runtimes: tuple[str, ...] = ("eager",)  # timed side by side in the same rounds
    flops: bool = True  # count FLOPs (fvcore trace + FlopCounterMode)
    breakdown: bool = False  # also time each part alone (backbone, input_proj, ...), same rounds
    timing: TimingPlan = field(default_factory=TimingPlan)


def check_config(cfg: BenchConfig) -> torch.device:
    """Validate the configuration against this machine, before any work; the device to run on."""
    from rtbench.runtimes import check_runtime

    check_settings(cfg)
    device = _device(cfg.device)
    for name in cfg.runtimes:
        check_runtime(name, device, cfg)
    return device


def check_settings(cfg: BenchConfig) -> None:
    """The checks that do not depend on this machine: a sweep submitted to SLURM from a login
    node without a GPU is checked with these before any job is queued."""
    from rtbench.models.build import SCOPES, min_input_size
    from rtbench.runtimes import RUNTIMES, get_runtime

    if cfg.scope not in SCOPES:
        raise BenchError(f"unknown scope {quote(cfg.scope)}; choose from {', '.join(SCOPES)}")
    if cfg.dtype not in DTYPES:
        raise BenchError(f"unknown dtype {quote(cfg.dtype)}; choose from {', '.join(DTYPES)}")
    if cfg.size < 32 or cfg.size % 32:
        raise BenchError(f"--size {cfg.size}: must be a positive multiple of 32 (stride of S5)")
    if cfg.size > MAX_SIZE:
        raise BenchError(f"--size {quote(cfg.size)}: must be at most {MAX_SIZE}")
    smallest = min_input_size(cfg.scope)
    if cfg.size < smallest:
        raise BenchError(
            f"--size {cfg.size} is too small at {cfg.scope} scope: the decoder keeps the top 300 "
            f"encoder cells; use --size {smallest} or more"
        )
    if not 1 <= cfg.batch <= MAX_BATCH:
        raise BenchError(f"--batch {quote(cfg.batch)}: must be between 1 and {MAX_BATCH}")
    if cfg.threads is not None and not 1 <= cfg.threads <= MAX_THREADS:
        raise BenchError(f"--threads {quote(cfg.threads)}: must be between 1 and {MAX_THREADS}")
    if not 0 <= cfg.seed <= MAX_SEED:
        raise BenchError(f"--seed {quote(cfg.seed)}: must be between 0 and 2**63 - 1")
    _check_timing(cfg.timing)
    if not cfg.runtimes:
        raise BenchError("no runtime given; name at least one with --runtime")
    if len(set(cfg.runtimes)) != len(cfg.runtimes):
        raise BenchError(f"--runtime {','.join(cfg.runtimes)}: a runtime is named twice")
    for name in cfg.runtimes:
        runtime = get_runtime(name)
        if cfg.breakdown and not runtime.supports_breakdown:
            able = " or ".join(r.name for r in RUNTIMES.values() if r.supports_breakdown)
            raise BenchError(f"--breakdown: runtime {name} times whole models only; use {able}")


def _check_timing(plan: TimingPlan) -> None:
    if not 0 <= plan.warmup <= MAX_CALLS or (
        plan.iters is not None and not 1 <= plan.iters <= MAX_CALLS
    ):
        raise BenchError(f"--warmup must be >= 0 and --iters >= 1, both at most {MAX_CALLS:,}")
    if not (math.isfinite(plan.min_time_s) and 0 < plan.min_time_s <= MAX_MIN_TIME_S):
        raise BenchError(
            f"--min-time {quote(plan.min_time_s)}: must be a positive number of seconds, "
            f"at most {MAX_MIN_TIME_S:g}"
        )


def _device(name: str) -> torch.device:
    try:
        device = torch.device(name)
    except RuntimeError:
        raise BenchError(f"unknown device {quote(name)}; use cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise BenchError("CUDA was asked for but no CUDA GPU is available; use --device cpu")
        if (device.index or 0) >= torch.cuda.device_count():
            raise BenchError(f"{quote(name)}: only {torch.cuda.device_count()} CUDA device(s)")
    elif device.type != "cpu":
        raise BenchError(f"unsupported device {quote(name)}; use cpu, cuda or cuda:N")
    return device
