"""The protocol card: what a run timed, from where to where, with what clock, how many calls, how
paced, in what precision and runtime, on what machine, in a paragraph a reader can quote. It is
written into results.json (`protocol`) and shown at the top of table3.md, report.md and under the
terminal tables; people who benchmark detectors ask first what was timed."""

from rtbench.config import RunConfig
from rtbench.measure.pipeline import FRAME, TOP, WHERE
from rtbench.measure.stats import TREND_ALPHA


def protocol_record(cfg: RunConfig, environment: dict, rows: list[dict],
                    gpu_while_timing: dict | None,
                    order_seed: int | None = None) -> dict:  # fmt: skip
    """results.json's `protocol`: the facts, and the card that says them; `order_seed` seeded the
    order of the workloads in each round (rtbench.measure.timing.round_orders)."""
    detector = cfg.scope == "detector"
    timing = cfg.timing
    samples = (
        f"{timing.iters} timed calls"
        if timing.iters
        else f"{timing.min_time_s:g} s of timed calls ({timing.min_iters}-{timing.max_iters})"
    )
    versions = {}
    for row in rows:
        version = (row.get("runtime_settings") or {}).get("version")
        versions.setdefault(row["runtime"], version)
    nested = any(row.get("forward_timed") == "nested" for row in rows)
    facts = {
        "forward": (
            f"the {'detector' if detector else 'encoder'} alone, inputs already on "
            f"{cfg.device} ({'an image' if detector else 'the S3-S5 maps'}, batch "
            f"{cfg.batch}, {cfg.size}x{cfg.size})"
            + (
                ", clocked around the model inside each end-to-end call (one call, two clocks)"
                if nested
                else ""
            )
        ),
        "forward_timed": "nested" if nested else "separate",
        "end_to_end": _end_to_end(cfg) if detector and cfg.end_to_end else None,
        "clock": (
            "CUDA events on the runtime's stream"
            if cfg.device.startswith("cuda")
            else "time.perf_counter_ns around each call"
        ),
        "warmup": (
            f"at least {timing.warmup} calls, more until two windows of "
            f"{timing.settle_window} agree within {timing.settle_tolerance:.0%} and show no "
            f"trend (Kendall's tau, p >= {TREND_ALPHA:g})"
        ),
        "samples": (
            f"{samples} per workload"
            + (" (an end-to-end call also gives its forward sample)" if nested else "")
            + ", interleaved in rounds with a calibration workload"
            + ("" if order_seed is None else f", shuffled each round (seed {order_seed})")
        ),
        "order_seed": order_seed,
        "gap_ms": cfg.gap_ms,
        "dtype": cfg.dtype,
        "runtimes": versions,
        "machine": _machine(environment, gpu_while_timing),
    }
    return {**facts, "card": card(facts)}


def _end_to_end(cfg: RunConfig) -> str:
    height, width = FRAME
    return (
        f"a {width}x{height} uint8 frame in host memory, resized (bilinear) to {cfg.size}x"
        f"{cfg.size} and scaled to [0, 1] on the {WHERE['preprocess']}, copied "
        f"{WHERE['copy']}, the model, RT-DETR's post-processing on the "
        f"{WHERE['postprocess']} (sigmoid, top {TOP} over queries x classes, boxes to "
        "pixels), timed by the wall clock"
    )


def _machine(environment: dict, gpu: dict | None) -> str:
    machine = environment.get("machine") or {}
    cpu = machine.get("cpu") or {}
    isa = ", ".join(cpu.get("isa") or []) or "flags unknown"
    governor = cpu.get("governor") or "not shown"
    model = machine.get("cpu_model") or environment.get("cpu_model")
    text = (
        f"{model} ({isa}; torch capability {cpu.get('torch_capability')}; governor "
        f"{governor}), {environment.get('threads')} threads, torch {environment.get('torch')}"
    )
    gpu_state = machine.get("gpu")
    if gpu_state:
        text += (
            f"; {gpu_state.get('name')}, persistence mode {gpu_state.get('persistence_mode')},"
            f" power limit {gpu_state.get('power_limit_w')} W"
        )
    if gpu:
        sm = gpu.get("sm_clock_mhz") or {}
        text += (
            f"; while timing SM clock {sm.get('min')}-{sm.get('max')} MHz, "
            f"{gpu['throttled_samples']} of {gpu['samples']} NVML samples throttled by "
            "power or heat"
        )
    return text


def card(facts: dict) -> str:
    """The paragraph: forward, end to end, clock, calls, pacing, precision, runtimes, machine."""
    gap = facts["gap_ms"]
    pacing = f"{gap:g} ms of sleep between calls" if gap else "calls back to back"
    runtimes = ", ".join(f"{name} {version or ''}".strip()
                         for name, version in facts["runtimes"].items())  # fmt: skip
    text = f"Forward latency: {facts['forward']}, clocked by {facts['clock']}."
    if facts["end_to_end"]:
        text += f" End-to-end latency: {facts['end_to_end']}."
    text += (
        f" Warm-up: {facts['warmup']}; then {facts['samples']}; {pacing}. Precision "
        f"{facts['dtype']}; runtimes: {runtimes}. Machine: {facts['machine']}."
    )
    return text
