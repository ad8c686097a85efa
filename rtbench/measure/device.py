"""The device and number format a run computes in, as torch names them."""

import torch

from rtbench.config import BenchError
from rtbench.text import quote

TORCH_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def torch_dtype(name: str) -> torch.dtype:
    return TORCH_DTYPES[name]


def resolve_device(name: str) -> str:
    """`auto` as this machine reads it: cuda when a CUDA GPU is visible, else cpu."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def torch_device(name: str) -> torch.device:
    """The device to run on, or BenchError in one line when this machine has none such."""
    try:
        device = torch.device(resolve_device(name))
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
