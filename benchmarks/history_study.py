"""Latency over time on this machine (a benchmark, not a test): a baseline, then CHECKS checks as
`rtbench check` runs them, each check's runs recorded in a history (accepted when it passed);
from check SLOW_FROM on, one variant is slowed FACTOR times (benchmarks/inject.py). Then the
change points the history finds.

Every check measures the same code, so each is recorded under a commit id of its own made up here
(the real commit + "+checkNN"), as if each were a new commit.

    python benchmarks/history_study.py --history /tmp/h.duckdb --checks 12 --slow-from 7
    python benchmarks/history_study.py --history /tmp/flat.duckdb --checks 20 --slow-from 0
"""

import argparse
import time
from pathlib import Path

from inject import slowed_builder

from rtbench.check import measure_runs, run_check
from rtbench.config import RunConfig
from rtbench.history.series import find_series, summary
from rtbench.history.store import read_points, record
from rtbench.models.build import build_model
from rtbench.runner import check_run
from rtbench.spec import load_variants


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=Path, required=True)
    parser.add_argument("--checks", type=int, default=12)
    parser.add_argument("--slow-from", type=int, default=7, help="first slowed check; 0: none")
    parser.add_argument("--variant", default="E")
    parser.add_argument("--factor", type=float, default=1.5)
    parser.add_argument("--variants", default="A,Ds5,E")
    parser.add_argument("--scope", default="encoder")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--baseline-runs", type=int, default=5)
    args = parser.parse_args()

    available = load_variants()
    cfg = check_run(RunConfig.make({"scope": args.scope, "size": args.size, "device": "cpu",
                                    "timing": {"iters": args.iters}}))  # fmt: skip
    started = time.monotonic()
    measure = measure_runs(available)
    names = args.variants.split(",")
    baseline = [measure(names, cfg if k == 0 else cfg.with_(flops=False))
                for k in range(args.baseline_runs)]  # fmt: skip
    record(args.history, [_as_commit(run, 0) for run in baseline], "baseline", accepted=True)
    for i in range(1, args.checks + 1):
        slowed = args.slow_from and i >= args.slow_from
        build = slowed_builder(args.factor, variant=args.variant) if slowed else build_model
        checked = run_check(baseline, available, build=build)
        passed = checked.report.outcome.exit_code == 0  # only a passing check's runs are accepted
        record(args.history, [_as_commit(run, i) for run in checked.runs], "check",
               accepted=passed)  # fmt: skip
        verdicts = " ".join(f"{r.variant}:{r.verdict.value}" for r in checked.report.rows)
        last = checked.runs[-1]
        values = " ".join(f"{r['variant']}={r['latency_normalized']:.3f}"
                          for r in last["rows"] if r["status"] == "ok")  # fmt: skip
        others = (last.get("load") or {}).get("others_cpu_fraction")
        busy = "?" if others is None else f"{others:.0%}"
        print(f"check {i:2d} ({'slowed' if slowed else 'as is'}): {verdicts} after "
              f"{len(checked.runs)} runs; last run normalized {values}; calibration "
              f"{last['calibration']['median_ms']:.0f} ms, others took {busy} of the CPU "
              f"[{time.monotonic() - started:.0f} s]", flush=True)  # fmt: skip
    for series in find_series(read_points(args.history)):
        s = summary(series)
        changes = (
            "; ".join(
                f"at {c['commit']} (point {c['position'] + 1}) step {c['step']:+.1%}"
                f" score {c['score']:.1f}"
                for c in s["change_points"]
            )
            or "none"
        )
        print(f"{s['variant']}: {s['points']} points, latest {s['latest']:.4f}; change points: "
              f"{changes}")  # fmt: skip


def _as_commit(document: dict, i: int) -> dict:
    real = document["environment"].get("git_commit") or "unknown"
    document["environment"]["git_commit"] = f"{real[:7]}+check{i:02d}"
    return document


if __name__ == "__main__":
    main()
