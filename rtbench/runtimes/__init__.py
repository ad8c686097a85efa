"""The runtimes rtbench can time a model in, one registry entry each.

Adding a runtime: a module with a `Runtime` subclass (name, label, devices, the modules and pip
extra it needs, `prepare` returning a `Session`), one line in `RUNTIMES`, its name at the same
place in rtbench.config.RUNTIME_NAMES (what --runtime is checked against before torch is imported;
a test keeps the two equal), and its tests. Runs, reports and the gate take the runtime from each
row; nothing else changes.
"""

import torch

from rtbench.config import RunConfig
from rtbench.runtimes.base import BuiltModel, Runtime, RuntimeUnavailable, Session
from rtbench.runtimes.onnx_runtime import OnnxRuntime
from rtbench.runtimes.openvino_runtime import OpenVino
from rtbench.runtimes.pytorch import Compiled, CudaGraphs, Eager
from rtbench.runtimes.tensorrt_runtime import TensorRT, TensorRTGraphs

RUNTIMES: dict[str, Runtime] = {
    r.name: r
    for r in (
        Eager(),
        Compiled(),
        CudaGraphs(),
        OnnxRuntime(),
        OpenVino(),
        TensorRT(),
        TensorRTGraphs(),
    )
}

__all__ = ["RUNTIMES", "BuiltModel", "Runtime", "RuntimeUnavailable", "Session"]


def get_runtime(name: str) -> Runtime:
    try:
        return RUNTIMES[name]
    except KeyError:
        raise RuntimeUnavailable(
            f"unknown runtime {name!r}; choose from {', '.join(RUNTIMES)}"
        ) from None


def check_runtime(name: str, device: torch.device, cfg: RunConfig) -> Runtime:
    """The runtime, or RuntimeUnavailable saying in one line why it cannot run here."""
    runtime = get_runtime(name)
    reason = runtime.unavailable(device, cfg)
    if reason is not None:
        raise RuntimeUnavailable(reason)
    return runtime


def runtime_label(name: str) -> str:
    """How tables name a runtime; a name this version does not know is shown as it is."""
    runtime = RUNTIMES.get(name)
    return runtime.label if runtime else name
