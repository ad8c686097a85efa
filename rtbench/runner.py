"""One benchmark run: build each variant, count params and FLOPs once, prepare it in every runtime
asked for, time all of them interleaved with a calibration workload, and return the results
document (rtbench.results). With `breakdown`, each part of each model is timed too, alone on the
inputs it receives in a full forward, in the same rounds as the whole model.

A failure inside one variant or runtime (out of memory, a model that cannot be captured or
exported) is recorded in its row and the others go on; a bad configuration raises BenchError
before any work starts. Progress goes to an optional `on_event` callback; nothing here prints.
"""

import datetime as dt
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from rtbench import results
from rtbench.config import BenchError, RunConfig
from rtbench.measure import load
from rtbench.measure.breakdown import capture_part_inputs
from rtbench.measure.calibration import (
    calibration_dtype,
    calibration_plan,
    calibration_workload,
)
from rtbench.measure.device import torch_device, torch_dtype
from rtbench.measure.env import capture_environment
from rtbench.measure.flops import count_flops
from rtbench.measure.machine import GpuSampler, summarize_samples, throttled_during
from rtbench.measure.params import count_params, model_parts, param_parts
from rtbench.measure.peak import measure_peak, probe_step, with_probe
from rtbench.measure.phases import Phases
from rtbench.measure.pipeline import end_to_end_step, make_frame
from rtbench.measure.protocol import protocol_record
from rtbench.measure.stats import summarize
from rtbench.measure.timing import (
    InnerClock,
    Timed,
    Workload,
    device_clock,
    measure_interleaved,
    wall_clock,
)
from rtbench.models.build import build_model, check_input_size, make_inputs
from rtbench.runtimes import RUNTIMES, BuiltModel, Runtime, check_runtime, get_runtime
from rtbench.spec import VariantSpec
from rtbench.text import first_line

CALIBRATION = ("__calibration__", "")
PEAK_PROBE = ("__peak_probe__", "")
END_TO_END = "end_to_end"  # the key suffix of a row's end-to-end workload
Builder = Callable[[VariantSpec, str, int], nn.Module]  # (spec, scope, seed) -> model in eval mode


@dataclass(frozen=True)
class Event:
    """Progress of a run, for a UI to show: `stage` is "build" or "time"."""

    stage: str
    done: int
    total: int | None  # None while the count is not known
    message: str


def check_run(cfg: RunConfig, on_this_machine: bool = True) -> RunConfig:
    """The configuration checked against the registries (each runtime exists and can do what is
    asked) and the smallest input of its scope, then, `on_this_machine`, against this machine
    (the device exists, each runtime is installed and runs there), before any work starts.
    Returns it with device `auto` resolved; BenchError in one line otherwise. A sweep submitted
    to SLURM from a login node checks only what does not depend on the machine."""
    check_input_size(cfg.scope, cfg.size)
    for name in cfg.runtimes:
        runtime = get_runtime(name)
        if cfg.breakdown and not runtime.supports_breakdown:
            able = " or ".join(r.name for r in RUNTIMES.values() if r.supports_breakdown)
            raise BenchError(f"--breakdown: runtime {name} times whole models only; use {able}")
    if not on_this_machine:
        return cfg
    device = torch_device(cfg.device)
    cfg = cfg.with_(device=str(device))
    for name in cfg.runtimes:
        check_runtime(name, device, cfg)
    return cfg


def run_benchmark(
    specs: list[VariantSpec],
    cfg: RunConfig,
    on_event: Callable[[Event], None] | None = None,
    build: Builder = build_model,
    cache_dir: Path | None = None,
) -> dict:
    """Measure `specs` in every runtime of `cfg`; `build` makes each model (tests and the
    gate-injection benchmark pass their own). Exported graphs and engines are cached in
    `cache_dir`, or in a temporary folder removed after the run."""
    cfg = check_run(cfg)
    device = torch.device(cfg.device)
    with ExitStack() as stack:
        if cache_dir is None:
            cache_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rtbench-")))
        return _run(specs, cfg, device, on_event or (lambda event: None), build, cache_dir)


def _run(
    specs: list[VariantSpec],
    cfg: RunConfig,
    device: torch.device,
    emit: Callable[[Event], None],
    build: Builder,
    cache_dir: Path,
) -> dict:
    start = load.snapshot()  # before this run adds its own load
    phases = Phases()
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # autotuned in the warm-up; recorded in the results
    created = dt.datetime.now(dt.timezone.utc)
    rows, workloads = [], {}
    frame = make_frame(cfg.seed) if cfg.scope == "detector" and cfg.end_to_end else None
    total = len(specs) * len(cfg.runtimes)
    for spec in specs:
        counted: dict | None = None  # params and FLOPs: once per variant, on the PyTorch model
        for runtime_name in cfg.runtimes:
            emit(Event("build", len(rows), total, f"building {spec.name} ({runtime_name})"))
            row = _base_row(spec, runtime_name, cfg)
            runtime = RUNTIMES[runtime_name]
            try:
                with phases.timing("build"):
                    built = _build(spec, cfg, device, build, cache_dir)
                if counted is None:
                    with phases.timing("count"):
                        counted = _count(built.model, built.inputs, cfg)
                row.update(counted)
                with phases.timing("build"):
                    part_inputs = _capture_parts(built) if cfg.breakdown else {}
                    session = runtime.prepare(built)
                    row["runtime_settings"] = session.settings
                    row["peak_memory_bytes"] = session.peak_memory()
            except Exception as err:  # noqa: BLE001 - recorded in the row, the table goes on
                row.update(status="error", error=describe_error(err))
            else:
                key = results.row_key(row)
                nested = frame is not None and session.infer is not None and not cfg.breakdown
                row["forward_timed"] = "nested" if nested else "separate"
                if nested:  # one call, two clocks: the model is clocked inside the frame's call
                    inner = InnerClock(session.clock)
                    e2e = end_to_end_step(frame, cfg.size, cfg.batch, device,
                                          inner.around(session.infer))  # fmt: skip
                    workloads[(*key, END_TO_END)] = Workload(e2e, wall_clock(), runtime.pool,
                                                             inner=(key, inner))  # fmt: skip
                else:
                    workloads[key] = Workload(session.step, session.clock, runtime.pool)
                    if frame is not None and session.infer is not None:  # --breakdown
                        e2e = end_to_end_step(frame, cfg.size, cfg.batch, device, session.infer)
                        workloads[(*key, END_TO_END)] = Workload(e2e, wall_clock(), runtime.pool)
                if cfg.breakdown:
                    row["latency_parts"] = {}
                    workloads.update(_part_workloads(runtime, built, part_inputs, key, row))
            rows.append(row)
    emit(Event("build", total, total, "built"))

    peak = None  # without FLOPs no row is held to a peak (the gate's runs after its first)
    if cfg.flops:
        with phases.timing("peak"):  # before the models' timings, on a machine they leave quiet
            peak = measure_peak(device, torch_dtype(cfg.dtype))
    calibration_step = calibration_workload(
        device, calibration_dtype(device, torch_dtype(cfg.dtype)), cfg.seed
    )
    workloads = {CALIBRATION: Workload(calibration_step, device_clock(device)), **workloads}
    if peak is not None:  # the peak, read through the rounds too
        probe = probe_step(peak, device, torch_dtype(cfg.dtype))
        workloads = {PEAK_PROBE: Workload(probe, device_clock(device)), **workloads}
    sampled = 0

    def on_sample(key) -> None:
        nonlocal sampled
        sampled += 1
        emit(Event("time", sampled, None, f"timing: {sampled} samples"))

    order_seed = random.SystemRandom().randrange(2**32)  # a new order each run, recorded
    timing_start = load.snapshot()
    sampler = GpuSampler(device).start()  # NVML clocks and throttling, on CUDA only
    timing_started = time.perf_counter()
    try:
        timed = measure_interleaved(workloads, cfg.timing, on_sample, describe_error,
                                    cfg.gap_ms / 1000, order_seed)  # fmt: skip
    finally:
        sampler.stop()
    warmup_s = sum(t.warmup_s for t in timed.values())
    phases.add("warmup", warmup_s)
    phases.add("timing", time.perf_counter() - timing_started - warmup_s)
    timing_end = load.snapshot()
    calibration = timed.pop(CALIBRATION)
    probed = timed.pop(PEAK_PROBE, None)
    if peak is not None:
        peak = with_probe(peak, [] if probed is None or probed.error else probed.samples_ms)
    if calibration.error:
        raise BenchError(f"the calibration workload failed: {calibration.error}")
    for row in rows:
        result = timed.get(results.row_key(row))
        if result is None:
            continue
        if result.error:
            row.update(status="error", error=result.error)
            continue
        row.update(_latency_facts(result, calibration, row.get("gflops"),
                                  peak and peak["gflops_per_s"]))  # fmt: skip
        key = results.row_key(row)
        for label, facts in row.get("latency_parts", {}).items():
            if facts is None:  # prepared, so timed: its result is under the row's key + label
                row["latency_parts"][label] = _part_facts(timed[(*key, label)])
        spans = list(result.spans)
        if (*key, END_TO_END) in timed:
            e2e = timed[(*key, END_TO_END)]
            row["latency_end_to_end"] = _part_facts(e2e, calibration)
            spans += e2e.spans
        if sampler.active:
            row["gpu_throttled_samples"] = throttled_during(sampler.samples, spans)
    environment = capture_environment(device)
    gpu_while_timing = summarize_samples(sampler.samples)
    return {
        "schema": results.SCHEMA,
        "run_id": None,  # set when written
        "created": created.isoformat(timespec="seconds"),
        "config": cfg.record(threads=torch.get_num_threads()),
        "environment": environment,
        "protocol": protocol_record(cfg, environment, rows, gpu_while_timing, order_seed),
        "gpu_while_timing": gpu_while_timing,
        "calibration": {
            "name": calibration_plan(device).name,
            **summarize(calibration.samples_ms),
            "samples_ms": calibration.samples_ms,
        },
        "peak_gflops_per_s": peak and peak["gflops_per_s"],
        "peak": peak,
        "load": load.load_record(
            start, timing_start, timing_end, calibration.samples_ms, torch.get_num_threads()
        ),  # fmt: skip
        "run_time": phases.record(),
        "rows": rows,
    }


def _build(
    spec: VariantSpec, cfg: RunConfig, device: torch.device, build: Builder, cache_dir: Path
) -> BuiltModel:
    model = build(spec, cfg.scope, cfg.seed)
    inputs = make_inputs(spec, cfg.scope, cfg.size, cfg.batch, cfg.seed)
    if cfg.deploy:
        from rtbench.models.deploy import fuse_for_deploy

        fuse_for_deploy(model)
    model, inputs = model.to(device), _to(inputs, device)
    with torch.inference_mode():
        model(inputs)  # fills shape caches (positions, anchors) before counting and timing
    return BuiltModel(spec, model, inputs, cfg, device, cache_dir)


def _capture_parts(built: BuiltModel) -> dict[str, object]:
    """Each part's input in a full forward, under the autocast the runtimes time with."""
    dtype = torch_dtype(built.cfg.dtype)
    if dtype == torch.float32:
        return capture_part_inputs(built.model, built.inputs, nullcontext)
    return capture_part_inputs(
        built.model, built.inputs, lambda: torch.autocast(built.device.type, dtype=dtype)
    )


def _part_workloads(
    runtime: Runtime, built: BuiltModel, part_inputs: dict, key: tuple, row: dict
) -> dict:
    """A workload per part, keyed (variant, runtime, part), timed in the same rounds as the whole
    model; a part that cannot be prepared gets its error in the row, the others go on."""
    parts, workloads = model_parts(built.model), {}
    for label, inputs in part_inputs.items():
        row["latency_parts"][label] = None  # filled in once timed, in data-flow order
        try:
            session = runtime.prepare_part(built, parts[label], inputs)
        except Exception as err:  # noqa: BLE001 - recorded for this part, the others go on
            row["latency_parts"][label] = {"error": describe_error(err)}
        else:
            workloads[(*key, label)] = Workload(session.step, session.clock, runtime.pool)
    return workloads


def _part_facts(result: Timed, calibration: Timed | None = None) -> dict:
    """A latency record (a part's, or the end-to-end one with its median over the
    calibration's, round by round)."""
    if result.error:
        return {"error": result.error}
    facts = {**summarize(result.samples_ms), "samples_ms": result.samples_ms, "error": None}
    if calibration is not None:
        facts["normalized"] = statistics.median(result.relative_to(calibration))
    return facts


def _count(model: nn.Module, inputs, cfg: RunConfig) -> dict:
    params = count_params(model)
    facts = {"params": params, "params_m": params / 1e6, "params_parts": param_parts(model)}
    if cfg.flops:
        facts.update(count_flops(model, inputs))
    return facts


def _latency_facts(
    result: Timed, calibration: Timed, gflops: float | None, peak: float | None
) -> dict:
    stats = summarize(result.samples_ms)
    normalized = result.relative_to(calibration)
    achieved = gflops / (stats["median_ms"] / 1000) if gflops else None
    return {
        **results.latency_fields(stats, result.samples_ms, result.warmup_ms),
        "latency_normalized": statistics.median(normalized),
        "latency_normalized_samples": normalized,
        "achieved_gflops_per_s": achieved,
        "peak_fraction": achieved / peak if achieved and peak else None,
    }


def describe_error(err: BaseException) -> str:
    """One line for a row's `error`; allocation failures on any device read "out of memory"."""
    text = first_line(err)
    oom = isinstance(err, torch.cuda.OutOfMemoryError | MemoryError) or any(
        marker in text for marker in ("out of memory", "can't allocate memory", "bad_alloc")
    )
    if oom:
        return f"out of memory: {text}"
    if isinstance(err, RuntimeError):
        return text
    return f"{type(err).__name__}: {text}"


def _base_row(spec: VariantSpec, runtime: str, cfg: RunConfig) -> dict:
    paper = spec.paper
    return {
        "variant": spec.name,
        "base": spec.base or None,  # the model the variant's encoder design was applied to
        "runtime": runtime,
        "runtime_settings": {},
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


def _to(inputs, device: torch.device):
    if isinstance(inputs, list):
        return [x.to(device) for x in inputs]
    return inputs.to(device)
