"""The machine's state while timing, and the fingerprint that tells two machines apart.

CPU: the instruction-set features that decide speed (AVX2, AVX-512 and its bf16/fp16/VNNI
extensions, AMX), torch's detected CPU capability, the frequency governor and scaling
frequencies where the OS shows them. Two "AMD EPYC" machines read the same model name with and
without AVX-512 bf16 units, and bf16 is emulated about 170x slower on the second (a 3x3
convolution, 256 channels at 80x80: 22 s against 0.13 s in fp32, measured on an AVX2-only EPYC).

NVIDIA GPU, through NVML (nvidia-ml-py): SM and memory clocks, power draw and limit, temperature
and the clock event ("throttle") reasons, sampled in a background thread while timing;
persistence mode and application clocks recorded once. Samples taken while power or heat held
the clocks down are counted per row (rtbench.runner), and a warning says so. On a CUDA device
without a usable NVML (no nvidia-ml-py, one too old, a failing driver), one NvmlWarning says
that sampling is off or stopped; the run goes on without it.
"""

from __future__ import annotations

import hashlib
import json
import platform
import threading
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where a device is asked about: comparing records needs none
    import torch

# The flags of /proc/cpuinfo worth recording: what decides how fast a dtype runs.
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw",
             "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16",
             "amx_int8", "amx_fp16", "asimd", "sve", "bf16")  # fmt: skip
# Flags that make a 16-bit float native on the CPU (torch's kernels use these units); without
# one, torch emulates it in fp32 arithmetic with conversions around every op.
NATIVE = {"bf16": ("avx512_bf16", "amx_bf16", "bf16"), "fp16": ("avx512_fp16", "amx_fp16")}
# Measured: a 3x3 convolution (256 channels, 80x80) under autocast against fp32, on 2 cores.
EMULATED_SLOWDOWN = {"bf16": (170, "an AVX2-only EPYC"),
                     "fp16": (88, "an EPYC with AVX512_BF16 but no AVX512_FP16")}  # fmt: skip
_CPUFREQ = Path("/sys/devices/system/cpu/cpu0/cpufreq")


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU's feature flags (/proc/cpuinfo's "flags", or "Features" on ARM)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def native(dtype: str, flags: set[str]) -> bool:
    """Whether the CPU computes `dtype` in its own units (fp32 always)."""
    return dtype == "fp32" or bool(flags & set(NATIVE.get(dtype, ())))


def cpu_state(flags: set[str] | None = None) -> dict:
    """What decides the CPU's speed, as far as the OS shows it."""
    flags = cpu_flags() if flags is None else flags
    state = {
        "isa": sorted(f for f in ISA_FLAGS if f in flags),
        "torch_capability": _torch_capability(),
        "native": {dtype: native(dtype, flags) for dtype in ("bf16", "fp16")},
        "governor": _read(_CPUFREQ / "scaling_governor"),
    }
    for name, key in (("scaling_cur_freq", "cur"), ("scaling_min_freq", "min"),
                      ("scaling_max_freq", "max")):  # fmt: skip
        khz = _read(_CPUFREQ / name)
        state[f"freq_{key}_mhz"] = int(khz) / 1000 if khz and khz.isdigit() else None
    return state


def _torch_capability() -> str | None:
    import torch

    try:
        return torch.backends.cpu.get_cpu_capability()
    except (AttributeError, RuntimeError):
        return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def fingerprint(machine: dict, versions: dict) -> str:
    """A short key of the machine and the software that times on it: the same key, the same
    machine as far as speed goes (CPU model and ISA, torch's capability, the GPU, versions)."""
    facts = {"cpu": machine.get("cpu_model"), "isa": machine.get("cpu", {}).get("isa"),
             "capability": machine.get("cpu", {}).get("torch_capability"),
             "gpu": (machine.get("gpu") or {}).get("name"), "versions": versions}  # fmt: skip
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------- GPU

# NVML's clock event reasons (nvmlClocksEventReason*): which of them mean power or heat.
REASONS = {0x1: "gpu_idle", 0x2: "applications_clocks", 0x4: "sw_power_cap",
           0x8: "hw_slowdown", 0x10: "sync_boost", 0x20: "sw_thermal", 0x40: "hw_thermal",
           0x80: "hw_power_brake", 0x100: "display_clocks"}  # fmt: skip
THROTTLING = {"sw_power_cap", "hw_slowdown", "sw_thermal", "hw_thermal", "hw_power_brake"}
SAMPLE_S = 0.1  # NVML updates its counters every few tens of ms
# What the sampler reads, checked before it starts: an old nvidia-ml-py lacks the newer names
# (nvmlDeviceGetCurrentClocksEventReasons came with 12.535.77).
SAMPLER_NEEDS = ("nvmlDeviceGetClockInfo", "nvmlDeviceGetPowerUsage", "nvmlDeviceGetTemperature",
                 "nvmlDeviceGetCurrentClocksEventReasons", "NVML_CLOCK_SM", "NVML_CLOCK_MEM",
                 "NVML_TEMPERATURE_GPU")  # fmt: skip


class NvmlWarning(RuntimeWarning):
    """NVML sampling is off or stopped on a CUDA device: the run's GPU record is incomplete."""


def reasons(mask: int) -> list[str]:
    """NVML's reason bitmask as names."""
    return [name for bit, name in REASONS.items() if mask & bit]


def throttled(mask: int) -> bool:
    """Power or heat held the clocks down (idle and application clocks do not count)."""
    return bool(THROTTLING & set(reasons(mask)))


def _nvml():
    """pynvml, initialised; None where there is no NVIDIA driver or no nvidia-ml-py."""
    try:
        return _init_nvml()
    except Exception:  # noqa: BLE001 - no driver, no library: no record
        return None


def _init_nvml():
    """pynvml, initialised; raises what stops that (no nvidia-ml-py, no driver)."""
    import pynvml

    pynvml.nvmlInit()
    return pynvml


def _handle(nvml, device: torch.device):
    import torch

    uuid = getattr(torch.cuda.get_device_properties(device), "uuid", None)
    if uuid is not None:
        try:
            return nvml.nvmlDeviceGetHandleByUUID(f"GPU-{uuid}")
        except Exception:  # noqa: BLE001 - fall back to the index
            pass
    return nvml.nvmlDeviceGetHandleByIndex(device.index or 0)


def gpu_state(device: torch.device) -> dict | None:
    """The GPU's settings that decide its speed, read once; None without NVML."""
    nvml = _nvml() if device.type == "cuda" else None
    if nvml is None:
        return None
    try:
        handle = _handle(nvml, device)
    except Exception:  # noqa: BLE001 - NVML does not know this GPU: no record (the sampler warns)
        return None
    state = {"name": _call(nvml.nvmlDeviceGetName, handle)}
    state["persistence_mode"] = _call(nvml.nvmlDeviceGetPersistenceMode, handle)
    for key, kind in (("sm", nvml.NVML_CLOCK_SM), ("mem", nvml.NVML_CLOCK_MEM)):
        state[f"application_clock_{key}_mhz"] = _call(nvml.nvmlDeviceGetApplicationsClock,
                                                      handle, kind)  # fmt: skip
        state[f"max_clock_{key}_mhz"] = _call(nvml.nvmlDeviceGetMaxClockInfo, handle, kind)
    limit = _call(nvml.nvmlDeviceGetEnforcedPowerLimit, handle)
    state["power_limit_w"] = None if limit is None else limit / 1000
    return state


def _call(fn, *args):
    try:
        value = fn(*args)
    except Exception:  # noqa: BLE001 - a query this GPU or driver does not support
        return None
    return value.decode() if isinstance(value, bytes) else value


class GpuSampler:
    """NVML read every SAMPLE_S seconds in a background thread between start() and stop():
    (time.perf_counter(), SM MHz, memory MHz, power W, temperature C, reason mask) each.
    Without a usable NVML it warns once (NvmlWarning) and samples nothing, or stops sampling
    and keeps what it read: the thread never dies with a traceback."""

    def __init__(self, device: torch.device):
        self.samples: list[tuple[float, int, int, float, int, int]] = []
        self._nvml = self._handle = None
        if device.type == "cuda":
            try:
                nvml = _init_nvml()
                missing = [name for name in SAMPLER_NEEDS if not hasattr(nvml, name)]
                if missing:
                    raise AttributeError(f"pynvml has no {', '.join(missing)}; too old")
                self._handle, self._nvml = _handle(nvml, device), nvml
            except Exception as err:  # noqa: BLE001 - whatever stops NVML, the run goes on
                _warn(
                    f"NVML sampling off ({type(err).__name__}: {err}); GPU clocks and "
                    "throttling need rtbench[gpu] (nvidia-ml-py) and the NVIDIA driver"
                )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def active(self) -> bool:
        return self._nvml is not None

    def start(self) -> GpuSampler:
        if self.active:
            self._thread.start()
        return self

    def stop(self) -> None:
        if self.active:
            self._stop.set()
            self._thread.join()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.samples.append(self._sample())
                self._stop.wait(SAMPLE_S)
        except Exception as err:  # noqa: BLE001 - a failing driver: say so once, keep the samples
            _warn(f"NVML sampling stopped after {len(self.samples)} samples "
                  f"({type(err).__name__}: {err})")  # fmt: skip

    def _sample(self) -> tuple:
        n, h = self._nvml, self._handle
        # A query this GPU does not answer reads None; any other NVML error ends the sampling.
        unsupported = getattr(n, "NVMLError_NotSupported", ())

        def read(fn, *args):
            try:
                return fn(*args)
            except unsupported:
                return None

        milliwatts = read(n.nvmlDeviceGetPowerUsage, h)
        return (time.perf_counter(), read(n.nvmlDeviceGetClockInfo, h, n.NVML_CLOCK_SM),
                read(n.nvmlDeviceGetClockInfo, h, n.NVML_CLOCK_MEM),
                None if milliwatts is None else milliwatts / 1000,
                read(n.nvmlDeviceGetTemperature, h, n.NVML_TEMPERATURE_GPU),
                read(n.nvmlDeviceGetCurrentClocksEventReasons, h) or 0)  # fmt: skip


def _warn(message: str) -> None:
    warnings.warn(message, NvmlWarning, stacklevel=2)


def summarize_samples(samples: list[tuple]) -> dict | None:
    """What the GPU did while timing: clock, power and temperature ranges, and how many of the
    samples were taken while power or heat held the clocks down, by reason."""
    if not samples:
        return None
    _, sm, mem, power, temp, masks = zip(*samples, strict=True)
    counts: dict[str, int] = {}
    for mask in masks:
        for name in reasons(mask):
            counts[name] = counts.get(name, 0) + 1
    return {"samples": len(samples), "sm_clock_mhz": _span(sm), "mem_clock_mhz": _span(mem),
            "power_w": _span(power), "temperature_c": _span(temp),
            "throttled_samples": sum(throttled(m) for m in masks), "reasons": counts}  # fmt: skip


def throttled_during(samples: list[tuple], spans: list[tuple[float, float]]) -> int:
    """How many samples fell inside one of `spans` (a row's timed calls) while throttled."""
    return sum(throttled(s[5]) and any(a <= s[0] <= b for a, b in spans) for s in samples)


def _span(values) -> dict | None:
    known = [v for v in values if v is not None]
    return {"min": min(known), "max": max(known)} if known else None


def machine_record(device: torch.device) -> dict:
    """results.json's environment.machine: the CPU's state, and the GPU's on CUDA."""
    return {"cpu_model": cpu_model(), "cpu": cpu_state(), "gpu": gpu_state(device),
            "platform": platform.machine()}  # fmt: skip


def cpu_model() -> str:
    for line in (_read(Path("/proc/cpuinfo")) or "").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_differences(baseline: dict, current: dict) -> tuple:
    """What differs between the machines and software the runs timed on (CPU, its ISA, the
    GPU, torch, each runtime's version): information beside the verdicts, not a failure."""
    b_env, c_env = baseline["environment"], current["environment"]

    def facts(document: dict, env: dict) -> dict:
        machine = env.get("machine") or {}
        found = {
            "cpu": env.get("cpu_model"),
            "isa": (machine.get("cpu") or {}).get("isa"),
            "gpu": (machine.get("gpu") or {}).get("name"),
            "torch": env.get("torch"),
        }
        for row in document["rows"]:
            version = (row.get("runtime_settings") or {}).get("version")
            found.setdefault(f"{row['runtime']} version", version)
        return found

    b, c = facts(baseline, b_env), facts(current, c_env)
    return tuple((key, b[key], c[key]) for key in b.keys() & c.keys()
                 if b[key] is not None and c[key] is not None and b[key] != c[key])  # fmt: skip
