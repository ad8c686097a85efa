"""benchmarks/gpu_check.sh, the GPU acceptance script, run on the CPU at a small size so that it
never rots between the rare sessions that have a GPU (a few minutes; `make acceptance`)."""

import os
import subprocess
import sys
import tarfile
from pathlib import Path

from rtbench.measure.machine import cpu_flags, native

ROOT = Path(__file__).resolve().parents[1]


def test_the_script_runs_every_step_on_the_cpu(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "PYTHON": sys.executable}  # this Python's rtbench
    done = subprocess.run(
        ["bash", "benchmarks/gpu_check.sh", "--device", "cpu", "--size", "128"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    summary = (tmp_path / "summary.txt").read_text()
    assert done.returncode == 0, summary + done.stdout[-3000:] + done.stderr[-3000:]
    # bf16 only where this CPU has bf16 units: elsewhere torch would emulate it ~170x slower
    half = ["run-E-bf16"] if native("bf16", cpu_flags()) else []
    for name in ("cuda-tests", "run-E-fp32", *half, "compare-all-half", "compare-all-breakdown",
                 "timer-agreement", "paced-200ms"):  # fmt: skip
        assert f"{name} " in summary
    assert "gate-baseline " not in summary  # the gate's steps run on a GPU only
    assert ("run-E-bf16 " in summary) == bool(half)
    assert "failed steps: 0" in summary and "E detector latency" in summary
    assert "end to end" in summary  # the forward and end-to-end latencies side by side
    with tarfile.open(tmp_path / "runs.tar.gz") as archive:
        names = archive.getnames()
    assert any(n.endswith("E-fp32/results.json") for n in names)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.tar.gz", "summary.txt"]
