"""One benchmark run: build each variant, count params and FLOPs, time all of them interleaved
with a calibration workload, and return the results document (schema in README.md).

A failure inside one variant (out of memory, a model that cannot be captured) is recorded in its
row and the others go on; a bad configuration raises BenchError before any work starts.
"""

import dataclasses
import datetime as dt
import statistics
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch
from rich.progress import Progress
from torch import nn

from rtbench.measure.calibration import CALIBRATION_NAME, calibration_workload, measure_peak_gflops
from rtbench.measure.env import capture_environment
from rtbench.measure.flops import count_flops
from rtbench.measure.memory import peak_memory_bytes
from rtbench.measure.params import count_params, param_parts
from rtbench.measure.stats import summarize
from rtbench.measure.timing import Timed, TimingPlan, measure_interleaved
from rtbench.models.build import SCOPES, build_model, make_inputs
from rtbench.models.decoder import min_square_input
from rtbench.spec import VariantSpec

SCHEMA = "rtbench.results/1"
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
CALIBRATION = "__calibration__"


class BenchError(Exception):
    """A configuration the run cannot go on with; the message is one line for the user."""


@dataclass(frozen=True)
class BenchConfig:
    scope: str = "detector"  # Table 3 rows are whole detectors
    device: str = "cpu"  # cpu, cuda or cuda:N
    dtype: str = "fp32"  # fp16 / bf16 run under autocast
    size: int = 640  # square input side, a multiple of 32
    batch: int = 1
    seed: int = 0  # weights and inputs
    threads: int | None = None  # CPU intra-op threads; None keeps torch's default
    deploy: bool = False  # fold BatchNorm and fuse RepVGG blocks before measuring
    channels_last: bool = False
    compile: bool = False  # torch.compile
    cuda_graphs: bool = False  # capture one forward, time its replay
    flops: bool = True  # count FLOPs (fvcore trace + FlopCounterMode)
    timing: TimingPlan = field(default_factory=TimingPlan)


def resolve_device(cfg: BenchConfig) -> torch.device:
    """Validate the configuration against this machine; the device to run on."""
    if cfg.scope not in SCOPES:
        raise BenchError(f"unknown scope {cfg.scope!r}; choose from {', '.join(SCOPES)}")
    if cfg.dtype not in DTYPES:
        raise BenchError(f"unknown dtype {cfg.dtype!r}; choose from {', '.join(DTYPES)}")
    if cfg.size < 32 or cfg.size % 32:
        raise BenchError(f"--size {cfg.size}: must be a positive multiple of 32 (stride of S5)")
    if cfg.batch < 1:
        raise BenchError(f"--batch {cfg.batch}: must be at least 1")
    if cfg.threads is not None and cfg.threads < 1:
        raise BenchError(f"--threads {cfg.threads}: must be at least 1")
    smallest = min_square_input()  # the decoder's own rule: enough valid cells for its queries
    if cfg.scope == "detector" and cfg.size < smallest:
        raise BenchError(
            f"--size {cfg.size} is too small at detector scope: the decoder keeps the top 300 "
            f"encoder cells; use --size {smallest} or more"
        )
    try:
        device = torch.device(cfg.device)
    except RuntimeError:
        raise BenchError(f"unknown device {cfg.device!r}; use cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise BenchError("CUDA was asked for but no CUDA GPU is available; use --device cpu")
        if (device.index or 0) >= torch.cuda.device_count():
            raise BenchError(f"{cfg.device}: only {torch.cuda.device_count()} CUDA device(s)")
    elif device.type != "cpu":
        raise BenchError(f"unsupported device {cfg.device!r}; use cpu, cuda or cuda:N")
    if cfg.cuda_graphs and device.type != "cuda":
        raise BenchError("--cuda-graphs needs --device cuda")
    if cfg.dtype == "fp16" and device.type == "cpu" and not _cpu_autocast_ok(torch.float16):
        raise BenchError("fp16 autocast is not supported on this CPU build; use fp32 or bf16")
    return device


def run_benchmark(
    specs: list[VariantSpec], cfg: BenchConfig, progress: Progress | None = None
) -> dict:
    device = resolve_device(cfg)
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # autotuned in the warm-up; recorded in the results
    created = dt.datetime.now(dt.timezone.utc)
    rows, steps = [], {}
    task = progress.add_task("building", total=len(specs)) if progress else None
    for spec in specs:
        if progress:
            progress.update(task, description=f"building {spec.name}")
        row = _base_row(spec, cfg)
        try:
            step, facts = _prepare(spec, cfg, device)
        except Exception as err:  # noqa: BLE001 - recorded in the row, the table goes on
            row.update(status="error", error=describe_error(err))
        else:
            row.update(facts)
            steps[spec.name] = step
        rows.append(row)
        if progress:
            progress.advance(task)

    dtype = DTYPES[cfg.dtype]
    workloads = {CALIBRATION: calibration_workload(device, torch.float32, cfg.seed), **steps}
    sampled = 0
    if progress:
        progress.update(task, description="timing (interleaved rounds)", total=None, completed=0)

    def on_sample(name: str) -> None:
        nonlocal sampled
        sampled += 1
        if progress:
            progress.update(task, completed=sampled, description=f"timing: {sampled} samples")

    timed = measure_interleaved(workloads, device, cfg.timing, on_sample, describe_error)
    calibration = timed.pop(CALIBRATION)
    if calibration.error:
        raise BenchError(f"the calibration workload failed: {calibration.error}")
    calib = summarize(calibration.samples_ms)
    peak = measure_peak_gflops(device, dtype)
    for row in rows:
        result = timed.get(row["variant"])
        if result is None:
            continue
        if result.error:
            row.update(status="error", error=result.error)
            continue
        row.update(_latency_facts(result, calibration, row.get("gflops"), peak))
    return {
        "schema": SCHEMA,
        "run_id": None,  # set when written
        "created": created.isoformat(timespec="seconds"),
        "config": _config_record(cfg),
        "environment": capture_environment(device),
        "calibration": {
            "name": CALIBRATION_NAME,
            **calib,
            "samples_ms": calibration.samples_ms,
        },
        "peak_gflops_per_s": peak,
        "rows": rows,
    }


def _latency_facts(result: Timed, calibration: Timed, gflops: float | None, peak: float) -> dict:
    stats = summarize(result.samples_ms)
    normalized = result.relative_to(calibration)
    achieved = gflops / (stats["median_ms"] / 1000) if gflops else None
    return {
        **{f"latency_{key}": value for key, value in stats.items() if key.endswith("_ms")},
        "latency_samples": stats["samples"],
        "latency_samples_ms": result.samples_ms,
        "latency_warmup_ms": result.warmup_ms,
        "latency_normalized": statistics.median(normalized),
        "latency_normalized_samples": normalized,
        "achieved_gflops_per_s": achieved,
        "peak_fraction": achieved / peak if achieved else None,
    }


def _prepare(spec: VariantSpec, cfg: BenchConfig, device: torch.device):
    """Build, count and make the timed step of one variant."""
    model = build_model(spec, cfg.scope, cfg.seed)
    inputs = make_inputs(spec, cfg.scope, cfg.size, cfg.batch, cfg.seed)
    if cfg.deploy:
        from rtbench.models.deploy import fuse_for_deploy

        fuse_for_deploy(model)
    model, inputs = model.to(device), _to(inputs, device)
    with torch.inference_mode():
        model(inputs)  # fills shape caches (positions, anchors) before counting and timing
    params = count_params(model)
    facts = {"params": params, "params_m": params / 1e6, "params_parts": param_parts(model)}
    if cfg.flops:
        facts.update(count_flops(model, inputs))
    step = make_step(model, inputs, cfg, device)
    facts["peak_memory_bytes"] = peak_memory_bytes(step, device)
    return step, facts


def make_step(
    model: nn.Module, inputs, cfg: BenchConfig, device: torch.device
) -> Callable[[], object]:
    """The call that is timed: eval, inference_mode, and the requested GPU options."""
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
        inputs = _to(inputs, device, torch.channels_last)
    if cfg.compile:
        model = torch.compile(model)
    dtype = DTYPES[cfg.dtype]
    # A graph replays the casts it captured; autocast's cast cache must not outlive the capture.
    cache = not cfg.cuda_graphs
    autocast = (
        (lambda: torch.autocast(device.type, dtype=dtype, cache_enabled=cache))
        if dtype != torch.float32
        else nullcontext
    )

    def step():
        with torch.inference_mode(), autocast():
            return model(inputs)

    if not cfg.cuda_graphs:
        return step
    return _capture_cuda_graph(step, device)


def _capture_cuda_graph(step: Callable[[], object], device: torch.device):
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(3):  # warm-up on a side stream, as capture requires
            step()
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    try:
        with torch.cuda.graph(graph):
            step()
    except Exception as err:  # noqa: BLE001
        raise RuntimeError(f"cannot be captured as a CUDA graph: {describe_error(err)}") from err
    return graph.replay


def describe_error(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if isinstance(err, (torch.cuda.OutOfMemoryError, MemoryError)) or "out of memory" in text:
        return f"out of memory: {text}"
    if isinstance(err, RuntimeError):
        return text
    return f"{type(err).__name__}: {text}"


def _base_row(spec: VariantSpec, cfg: BenchConfig) -> dict:
    paper = spec.paper
    return {
        "variant": spec.name,
        "description": spec.description,
        "spec_file": spec.source,
        "status": "ok",
        "error": None,
        "scope": cfg.scope,
        "form": "deploy" if cfg.deploy else "train",
        "paper_ap": paper.ap if paper else None,
        "paper_params_m": paper.params_m if paper else None,
        "paper_latency_ms": paper.latency_ms if paper else None,
    }


def config_from_record(record: dict) -> BenchConfig:
    """The configuration a results document was measured with, to measure again alike."""
    fields = {f.name for f in dataclasses.fields(BenchConfig)} - {"timing"}
    timing_fields = {f.name for f in dataclasses.fields(TimingPlan)}
    try:
        timing = TimingPlan(**{k: v for k, v in record["timing"].items() if k in timing_fields})
        return BenchConfig(**{k: v for k, v in record.items() if k in fields}, timing=timing)
    except (KeyError, TypeError, AttributeError) as err:
        raise BenchError(f"the results file's config cannot be reused: {err}") from None


def _config_record(cfg: BenchConfig) -> dict:
    record = dataclasses.asdict(cfg)
    record["threads"] = torch.get_num_threads()
    return record


def _to(inputs, device: torch.device, memory_format=torch.contiguous_format):
    if isinstance(inputs, list):
        return [x.to(device, memory_format=memory_format) for x in inputs]
    return inputs.to(device, memory_format=memory_format)


def _cpu_autocast_ok(dtype: torch.dtype) -> bool:
    try:
        with torch.autocast("cpu", dtype=dtype):
            torch.ones(2, 2) @ torch.ones(2, 2)
    except (RuntimeError, AssertionError):
        return False
    return True
