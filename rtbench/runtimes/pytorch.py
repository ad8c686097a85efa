"""PyTorch runtimes: eager, torch.compile, and the replay of a captured CUDA graph.

All three run under eval and `torch.inference_mode()`, with autocast for fp16 / bf16 and the
channels-last memory format when asked, and are clocked on torch's current stream.
"""

from collections.abc import Callable
from contextlib import nullcontext

import torch

from rtbench.config import RunConfig
from rtbench.measure.device import torch_dtype
from rtbench.measure.machine import EMULATED_SLOWDOWN, NATIVE, cpu_flags, native
from rtbench.measure.memory import torch_peak_memory
from rtbench.measure.timing import device_clock
from rtbench.runtimes.base import BuiltModel, Runtime, Session
from rtbench.text import first_line


class Eager(Runtime):
    name = "eager"
    label = "PyTorch eager"
    supports_breakdown = True

    def version(self) -> str:
        return torch.__version__

    def unavailable(self, device: torch.device, cfg: RunConfig) -> str | None:
        if cfg.dtype == "fp16" and device.type == "cpu" and not _cpu_autocast_ok(torch.float16):
            return "fp16 autocast is not supported on this CPU build; use fp32 or bf16"
        if device.type == "cpu" and not cfg.allow_emulated:
            reason = emulated(cfg.dtype)
            if reason:
                return reason
        return super().unavailable(device, cfg)

    def prepare(self, built: BuiltModel) -> Session:
        model, inputs = built.model, built.inputs
        if built.cfg.channels_last:
            model = model.to(memory_format=torch.channels_last)
            inputs = _channels_last(inputs)
        call = self._call(self.wrap(model), built.cfg, built.device)
        step, infer = self._steps(call, inputs, built.device)
        return Session(
            step=step,
            clock=device_clock(built.device),
            peak_memory=lambda: torch_peak_memory(step, built.device),
            settings={"version": self.version(), **self.settings(built.cfg)},
            infer=infer,
        )

    def wrap(self, model: torch.nn.Module) -> Callable:
        return model

    def settings(self, cfg: RunConfig) -> dict:
        amp = None if cfg.dtype == "fp32" else cfg.dtype
        return {"autocast": amp, "channels_last": cfg.channels_last}

    def _call(self, model: Callable, cfg: RunConfig, device: torch.device) -> Callable:
        """The model on given inputs, in inference mode and under autocast for fp16 / bf16."""
        dtype = torch_dtype(cfg.dtype)
        autocast = (
            (lambda: torch.autocast(device.type, dtype=dtype, cache_enabled=self.autocast_cache))
            if dtype != torch.float32
            else nullcontext
        )

        def call(inputs):
            with torch.inference_mode(), autocast():
                return model(inputs)

        return call

    def _steps(self, call: Callable, inputs, device: torch.device) -> tuple[Callable, Callable]:
        """The timed step (on the run's inputs) and `infer` (on a new image, in the inputs'
        memory format)."""
        channels_last = isinstance(inputs, torch.Tensor) and inputs.is_contiguous(
            memory_format=torch.channels_last
        )
        memory = torch.channels_last if channels_last else torch.contiguous_format
        return (lambda: call(inputs)), (lambda image: call(image.contiguous(memory_format=memory)))

    autocast_cache = True


class Compiled(Eager):
    name = "compile"
    label = "PyTorch torch.compile"

    def wrap(self, model: torch.nn.Module) -> Callable:
        return torch.compile(model)

    def settings(self, cfg: RunConfig) -> dict:
        return {**super().settings(cfg), "backend": "inductor"}


class CudaGraphs(Eager):
    name = "cuda-graphs"
    label = "PyTorch CUDA graph replay"
    devices = ("cuda",)
    supports_breakdown = False
    # A graph replays the casts it captured; autocast's cast cache must not outlive the capture.
    autocast_cache = False

    def _steps(self, call: Callable, inputs, device: torch.device) -> tuple[Callable, Callable]:
        """The replay of one captured forward; `infer` copies a new input into the captured
        input's memory, replays, and returns the captured outputs."""
        replay, outputs = _capture_cuda_graph(lambda: call(inputs), device)

        def infer(new):
            inputs.copy_(new)
            replay()
            return outputs

        return replay, infer


def _capture_cuda_graph(step: Callable[[], object], device: torch.device):
    """The replay of `step` captured as a CUDA graph, and the outputs the capture produced
    (each replay writes there)."""
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(3):  # warm-up on a side stream, as capture requires
            step()
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    try:
        with torch.cuda.graph(graph):
            outputs = step()
    except Exception as err:  # noqa: BLE001
        raise RuntimeError(f"cannot be captured as a CUDA graph: {first_line(err)}") from err
    return graph.replay, outputs


def emulated(dtype: str, flags: set[str] | None = None) -> str | None:
    """Why `dtype` should not run on this CPU (its `flags`, read when not given): it has no
    units for it, so torch emulates it."""
    flags = cpu_flags() if flags is None else flags
    if native(dtype, flags) or not flags:  # no flags read: nothing to say
        return None
    units = " or ".join(u.upper() for u in NATIVE[dtype])
    factor, where = EMULATED_SLOWDOWN[dtype]
    return (
        f"--dtype {dtype}: this CPU has no {dtype} units ({units}), so torch emulates it, "
        f"about {factor}x slower than fp32 (a 3x3 convolution measured on {where}); use "
        "--dtype fp32, or --allow-emulated to time it anyway"
    )


def _channels_last(inputs):
    if isinstance(inputs, list):
        return [x.contiguous(memory_format=torch.channels_last) for x in inputs]
    return inputs.contiguous(memory_format=torch.channels_last)


def _cpu_autocast_ok(dtype: torch.dtype) -> bool:
    try:
        with torch.autocast("cpu", dtype=dtype):
            torch.ones(2, 2) @ torch.ones(2, 2)
    except (RuntimeError, AssertionError):
        return False
    return True
