"""Does `rtbench check` ever fail a variant that got faster? (issue 24; a benchmark, offline)

A variant that got faster is a baseline measured with it slower. So this measures nothing: it
takes a gate study's kept runs (benchmarks/gate_study.py writes every check's runs to runs/),
pools the runs of the checks with one variant slowed by F into baselines of --baseline-runs runs
each (that variant 1/F as fast in the checks' eyes), and judges every unchanged check's runs
against them in turn, look by look as the live check would have looked (rtbench.check.judge).
A check whose kept runs leave a row undecided is counted apart: the live check would have
measured more runs than were kept.

    python benchmarks/gate_faster.py --slowed study/slow-1.2/runs/*.json \
        --unchanged study/idle/runs/*.json
"""

import argparse
from collections import deque
from pathlib import Path

from rtbench.check import judge
from rtbench.gate import Verdict
from rtbench.results import load_runs, ok_rows


def pooled(run_sets: list[list[dict]], size: int) -> list[list[dict]]:
    """The runs of `run_sets`, in order, cut into baselines of `size` runs; each baseline starts
    with a run that counted sizes (a check counts them in its first run only); a short rest is
    dropped."""
    runs = [run for runs in run_sets for run in runs]
    is_sized = lambda run: all(r.get("gmacs") is not None for r in ok_rows(run))  # noqa: E731
    sized = deque(run for run in runs if is_sized(run))
    timed = deque(run for run in runs if not is_sized(run))
    baselines = []
    while sized and len(sized) + len(timed) >= size:
        baseline = [sized.popleft()]
        while len(baseline) < size:
            baseline.append((timed or sized).popleft())
        baselines.append(baseline)
    return baselines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--slowed",
        type=Path,
        nargs="+",
        required=True,
        help="runs of checks with one variant slowed (gate_study's runs/)",
    )
    parser.add_argument(
        "--unchanged", type=Path, nargs="+", required=True, help="runs of unchanged checks"
    )
    parser.add_argument("--baseline-runs", type=int, default=8)
    args = parser.parse_args()
    baselines = pooled([load_runs(f) for f in sorted(args.slowed)], args.baseline_runs)
    if not baselines:
        parser.error(f"fewer than {args.baseline_runs} slowed runs: no baseline")
    print(f"{len(baselines)} baselines of {args.baseline_runs} slowed runs; "
          f"{len(args.unchanged)} unchanged checks judged against them in turn")  # fmt: skip
    tally = {"pass": 0, "regression": 0, "undecided": 0}
    for i, file in enumerate(sorted(args.unchanged)):
        report = judge(baselines[i % len(baselines)], load_runs(file)).report
        outcome = {"inconclusive": "undecided"}.get(report.outcome.value, report.outcome.value)
        tally[outcome] += 1
        rows = ", ".join(f"{r.variant} {100 * (r.change or 0):+.1f}% {r.verdict.value}"
                         for r in report.rows if r.verdict != Verdict.SAME)  # fmt: skip
        print(f"{file.name}: {outcome} after {report.runs[1]} runs; {rows or 'all same'}")
    print(f"\npassed {tally['pass']}, failed {tally['regression']}, undecided at the runs kept "
          f"{tally['undecided']}")  # fmt: skip


if __name__ == "__main__":
    main()
