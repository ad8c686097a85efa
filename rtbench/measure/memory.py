"""Peak memory of one call, as each kind of runtime can honestly report it.

- `torch_cuda_peak`: max bytes torch's CUDA allocator held above what it held before the call;
  it sees only torch's allocations (PyTorch runtimes, and I/O buffers rtbench allocates).
- `process_peak`: growth of the process's peak resident set (VmHWM) over its resident set before
  the call, whatever allocated it (torch, ONNX Runtime, OpenVINO on the CPU). Linux lets us reset
  the peak (`/proc/self/clear_refs`, value 5); elsewhere None rather than a stale high-water mark.
  Memory that an earlier call freed but the C allocator kept would hide growth, so glibc is asked
  to hand it back first (`malloc_trim`); what it still keeps makes the figure a lower bound.
"""

import contextlib
import ctypes
import ctypes.util
import re
from collections.abc import Callable
from pathlib import Path

import torch

_STATUS = Path("/proc/self/status")


def torch_peak_memory(fn: Callable[[], object], device: torch.device) -> int | None:
    """The peak memory of a PyTorch call on `device`: the CUDA allocator's, or the process's."""
    if device.type == "cuda":
        return torch_cuda_peak(fn, device)
    return process_peak(fn)


def torch_cuda_peak(fn: Callable[[], object], device: torch.device) -> int:
    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) - before


def process_peak(fn: Callable[[], object]) -> int | None:
    _trim_heap()
    try:
        Path("/proc/self/clear_refs").write_text("5")
        before = _status_kib("VmRSS")
        fn()
        return max(0, _status_kib("VmHWM") - before) * 1024
    except OSError:
        return None


def _status_kib(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    if match is None:
        raise OSError(f"{field} not in {_STATUS}")
    return int(match.group(1))


def _trim_heap() -> None:
    with contextlib.suppress(OSError, AttributeError, TypeError):  # not glibc: a lower bound
        ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)
