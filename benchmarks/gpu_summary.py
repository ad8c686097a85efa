"""Helpers of benchmarks/gpu_check.sh.

    python benchmarks/gpu_summary.py available DEVICE DTYPE   # runtimes that can run here
    python benchmarks/gpu_summary.py report RUNS_DIR          # the figures the check is run for

`report` prints E's latency per dtype and runtime (median, 95% CI), the half-precision (fp16 on
a GPU) ratios to A of all six variants beside the paper's (T4, TensorRT FP16) and whether the
rank order matches, and the speed-up of CUDA graph replay over eager.
"""

import sys
from pathlib import Path

import torch
from scipy import stats

from rtbench.config import RunConfig
from rtbench.results import load_results
from rtbench.runtimes import RUNTIMES

PREFERRED = ("eager", "compile", "cuda-graphs", "onnxruntime", "openvino", "tensorrt",
             "tensorrt-graphs")  # fmt: skip


def available(device: str, dtype: str) -> str:
    cfg = RunConfig(device=device, dtype=dtype)
    names = [n for n in PREFERRED if RUNTIMES[n].unavailable(torch.device(device), cfg) is None]
    if device == "cpu":
        names = [n for n in names if n != "compile"]  # minutes of inductor on a small CPU
    return ",".join(names)


def report(runs: Path) -> None:
    print("E detector latency (median, 95% CI of the median), ms")
    for path in sorted(runs.glob("E-*/results.json")):
        doc = load_results(path)
        cfg = doc["config"]
        for row in doc["rows"]:
            if row["status"] != "ok":
                print(f"  {path.parent.name:<18} {row['runtime']:<16} error: {row['error']}")
                continue
            e2e = (row.get("latency_end_to_end") or {}).get("median_ms")
            share = f"  end to end {e2e:9.3f} (pre/post {1 - row['latency_median_ms'] / e2e:.0%})"
            print(f"  {path.parent.name:<18} {row['runtime']:<16} {cfg['dtype']:<5} "
                  f"{row['latency_median_ms']:9.3f} ({row['latency_ci95_low_ms']:.3f}-"
                  f"{row['latency_ci95_high_ms']:.3f}){share if e2e else ''}"
                  f"{throttled(row)}")  # fmt: skip
        gpu = doc.get("gpu_while_timing")
        if gpu:
            print(f"    NVML while timing: SM {gpu['sm_clock_mhz']} MHz, power {gpu['power_w']} W,"
                  f" {gpu['temperature_c']} C, {gpu['throttled_samples']}/{gpu['samples']} "
                  f"samples throttled {gpu['reasons']}")  # fmt: skip
        by_runtime = {r["runtime"]: r.get("latency_median_ms") for r in doc["rows"]}
        if by_runtime.get("eager") and by_runtime.get("cuda-graphs"):
            print(f"    CUDA graphs speed-up over eager: "
                  f"{by_runtime['eager'] / by_runtime['cuda-graphs']:.2f}x")  # fmt: skip
    path = runs / "all-half" / "results.json"
    if not path.is_file():
        return
    doc = load_results(path)
    ok = {r["variant"]: r for r in doc["rows"] if r["status"] == "ok"}
    if "A" not in ok:
        return
    cfg = doc["config"]
    print(f"\n{cfg['dtype']} ratios to A ({cfg['runtimes'][0]}) beside the paper's (T4, TRT FP16)")
    ours, paper = [], []
    for variant, row in ok.items():
        ratio = row["latency_median_ms"] / ok["A"]["latency_median_ms"]
        paper_ratio = row["paper_latency_ms"] / ok["A"]["paper_latency_ms"]
        ours.append(row["latency_median_ms"])
        paper.append(row["paper_latency_ms"])
        print(f"  {variant:<4} {row['latency_median_ms']:8.3f} ms  ratio {ratio:5.2f}  "
              f"paper {row['paper_latency_ms']:5.1f} ms  ratio {paper_ratio:5.2f}")  # fmt: skip
    rank_same = list(stats.rankdata(ours)) == list(stats.rankdata(paper))
    rho = stats.spearmanr(ours, paper).statistic
    print(f"  rank order as the paper's: {'yes' if rank_same else 'no'} (Spearman {rho:.2f})")


def throttled(row: dict) -> str:
    n = row.get("gpu_throttled_samples")
    return f"  THROTTLED in {n} NVML samples" if n else ""


def trtexec(runs: Path) -> int:
    """TensorRT's latency as rtbench timed it against trtexec's GPU compute time for the same
    engine (the one rtbench built and cached): they should agree within 5%."""
    import re
    import subprocess

    for path in sorted(runs.glob("E-*/results.json")):
        for row in load_results(path)["rows"]:
            engine = (row.get("runtime_settings") or {}).get("engine_path")
            if row["runtime"] != "tensorrt" or row["status"] != "ok" or not engine:
                continue
            out = subprocess.run(["trtexec", f"--loadEngine={engine}", "--iterations=200",
                                  "--warmUp=500", "--duration=0", "--useSpinWait"],
                                 capture_output=True, text=True, timeout=300).stdout  # fmt: skip
            found = re.search(r"GPU Compute Time: .*?median = ([0-9.]+) ms", out)
            if not found:
                print(f"{path.parent.name}: trtexec printed no GPU compute time")
                return 1
            theirs, ours = float(found.group(1)), row["latency_median_ms"]
            gap = ours / theirs - 1
            print(
                f"{path.parent.name}: rtbench {ours:.3f} ms, trtexec GPU compute median "
                f"{theirs:.3f} ms: {gap:+.1%} ({'agree' if abs(gap) <= 0.05 else 'DIFFER'})"
            )
            return 0 if abs(gap) <= 0.05 else 1
    print("no TensorRT row with a cached engine")
    return 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["available"]:
        print(available(sys.argv[2], sys.argv[3]))
    elif sys.argv[1:2] == ["report"]:
        report(Path(sys.argv[2]))
    elif sys.argv[1:2] == ["trtexec"]:
        sys.exit(trtexec(Path(sys.argv[2])))
    elif sys.argv[1:2] == ["half"]:  # the half precision this device runs natively, or nothing
        from rtbench.measure.machine import cpu_flags, native

        device = sys.argv[2]
        print(
            "fp16" if device.startswith("cuda") else "bf16" if native("bf16", cpu_flags()) else ""
        )
    else:  # --help: the usage on stdout; anything else: on stderr, exit 2 as argparse does
        asked = sys.argv[1:2] in (["-h"], ["--help"])
        print(f"usage: {__doc__}", file=sys.stdout if asked else sys.stderr)
        sys.exit(0 if asked else 2)
