"""The environment a result was measured in: enough to tell two runs apart, or why they differ."""

import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

import torch

import rtbench
from rtbench.measure.machine import cpu_model, fingerprint, machine_record

REPO = Path(__file__).resolve().parents[2]


def capture_environment(device: torch.device) -> dict:
    cpu = cpu_model()
    env = {
        "rtbench_version": rtbench.__version__,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "git_branch": _branch(),
        "command": shlex.join(["rtbench", *sys.argv[1:]]),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "hostname": platform.node(),
        "cpu_model": cpu,
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "device": str(device),
        "device_name": cpu,  # the GPU's name on CUDA, below
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "cuda": torch.version.cuda,
    }
    env["machine"] = machine_record(device)
    env["fingerprint"] = fingerprint(env["machine"], {"torch": torch.__version__,
                                                      "cuda": torch.version.cuda})  # fmt: skip
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update(
            device_name=props.name,
            gpu_memory_bytes=props.total_memory,
            gpu_capability=f"{props.major}.{props.minor}",
            cudnn_version=torch.backends.cudnn.version(),
            tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
            tf32_cudnn=torch.backends.cudnn.allow_tf32,
            **_nvidia_smi(device.index or 0),
        )
    return env


def _branch() -> str | None:
    """The branch checked out (None when detached or not a checkout)."""
    name = _git("rev-parse", "--abbrev-ref", "HEAD")
    return name if name and name != "HEAD" else None


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _nvidia_smi(index: int) -> dict:
    fields = "driver_version,clocks.sm,clocks.max.sm,clocks.mem,power.limit,pstate"
    try:
        out = subprocess.run(
            ["nvidia-smi", f"--id={index}", f"--query-gpu={fields}", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return {"gpu_driver": None}
    values = [v.strip() for v in out.split(",")]
    keys = ["gpu_driver", "gpu_clock_sm", "gpu_clock_sm_max", "gpu_clock_mem", "gpu_power_limit",
            "gpu_pstate"]  # fmt: skip
    return dict(zip(keys, values, strict=False))
