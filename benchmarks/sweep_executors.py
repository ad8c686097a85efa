"""What does a submitit job per point cost? Run the same sweep through the inline and the local
executor, one after the other, and compare wall times (a benchmark, not a test).

Each sweep runs as its own `python -m rtbench sweep` process, timed from start to exit. The time
spent measuring is the sum of the points' `duration_s` (their status files); the rest is the
executor's overhead (process start, imports, submitit's polling) plus the merged report. The
fitted exponents of the two sweeps are printed side by side: the executor must not change them
beyond run-to-run noise.

    python benchmarks/sweep_executors.py                          # all variants, 320..800, CPU
    python benchmarks/sweep_executors.py --variants A,C,E --sizes 320,640
    python benchmarks/sweep_executors.py --scope encoder --sizes 64,128 --iters 3   # a smoke test

Each sweep's folder (results/sweeps/executors-<tag>-<executor>/) holds its merged report:
exponents.csv, report.md and latency_vs_tokens.png.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="320,480,640,800")
    parser.add_argument("--variants", default="all")
    parser.add_argument("--scope", default="detector")
    parser.add_argument("--iters", default="10", help="fixed samples per variant and point")
    parser.add_argument("--results-dir", default="results")
    parser.add_argument("--tag", default=time.strftime("%Y%m%d-%H%M%S"))
    args = parser.parse_args()

    rows, fits = [], {}
    for executor in ("inline", "local"):
        sweep_id = f"executors-{args.tag}-{executor}"
        command = [sys.executable, "-m", "rtbench", "sweep", "--executor", executor,
                   "--device", "cpu", "--scope", args.scope, "--sizes", args.sizes,
                   "--variants", args.variants, "--iters", args.iters, "--no-flops",
                   "--results-dir", args.results_dir,
                   "--sweep-id", sweep_id]  # fmt: skip
        print("$", " ".join(command[1:]), flush=True)
        start = time.perf_counter()
        done = subprocess.run(command, check=False)
        wall = time.perf_counter() - start
        folder = Path(args.results_dir) / "sweeps" / sweep_id
        statuses = [json.loads(p.read_text()) for p in sorted(folder.glob("points/*/status.json"))]
        measuring = sum(s.get("duration_s") or 0.0 for s in statuses)
        points = len(statuses)
        rows.append({"executor": executor, "exit": done.returncode, "points": points,
                     "wall_s": wall, "measuring_s": measuring,
                     "overhead_per_point_s": (wall - measuring) / max(points, 1)})  # fmt: skip
        fits[executor] = pd.read_csv(folder / "report" / "exponents.csv")
    print(pd.DataFrame(rows).to_string(index=False, float_format="%.1f"))
    keys = ["variant", "runtime", "batch", "dtype"]
    both = fits["inline"].merge(fits["local"], on=keys, suffixes=("_inline", "_local"))
    print(both[[*keys, "k_inline", "k_stderr_inline", "k_local", "k_stderr_local"]].to_string(
        index=False, float_format="%.3f"))  # fmt: skip


if __name__ == "__main__":
    main()
