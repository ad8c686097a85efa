"""Does `rtbench check` cry wolf on a shared machine, and does it still catch a real slowdown?
(issues 11 and 18; a benchmark, not a test)

Runs --checks checks against one baseline in each condition:

    idle             unchanged code, nothing else running
    neighbour        unchanged code beside a 1-core busy loop (a Python process this script
                     starts and kills)
    memory           unchanged code beside one thread copying 320 MB arrays in a loop (numpy):
                     memory bandwidth taken, where the busy loop takes a core
    slow             --slow-variant made --factor times slower (benchmarks/inject.py), idle;
                     or, with --slow-part, that part of every variant (a shared part)
    slow+neighbour   the same, beside the busy loop
    slow+memory      the same, beside the memory-bound neighbour

and prints, per condition, the false alarms (a check that failed on a variant that was not
slowed), the catches (the slowed variant failed), the inconclusive checks (exit 3: neither), and
the wall time of the checks. Each check is what `rtbench check` does (rtbench.check.run_check):
runs of the baseline's workload, each in a process of its own, until the gate decides. Targets
(issue 24): at most 1 false alarm in 20 unchanged checks per condition across 5 baselines or
more; 1.2x caught 19 in 20 idle and 9 in 10 beside each neighbour; 1.1x 8 in 10 idle; 1.5x always;
inconclusive at most 1 in 20 idle.

The defaults are the CI gate: the committed baseline results/baseline-cpu.json, i.e. 8 runs of
every variant's whole detector at 256x256, 12 samples each, on the CPU; about 2-3 minutes a check
on 2 idle cores. --make-baseline measures a baseline on this machine first (idle, the same
workload unless --size, --iters or --variants say otherwise); --baselines K makes K of them, and
the checks of each condition go round them. Everything goes to --out (default
results/gate-study-<time>/): the baselines made, study.json with every check's verdicts, and
runs/ with every check's runs (rtbench.check.judge judges them again under another rule).

    python benchmarks/gate_study.py                        # against the committed baseline
    python benchmarks/gate_study.py --make-baseline        # against this machine's own baseline
    python benchmarks/gate_study.py --checks 1 --size 128 --variants A E --iters 5   # smoke test
    python benchmarks/gate_study.py --baseline results/gate-study-*/baseline-*.json \
        --conditions slow --factor 1.1 --checks 10      # more checks against baselines made
    python benchmarks/gate_study.py --summary results/gate-study-*/study.json   # the table
"""

import argparse
import datetime as dt
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from inject import slowed_builder

from rtbench.check import measure_runs, run_check
from rtbench.cli.measuring import (
    BASELINE_RUNS,
    DEFAULT_BASELINE,
    GATE_ITERS,
    GATE_SIZE,
    GATE_THREADS,
    GATE_WARMUP_S,
)
from rtbench.config import RunConfig, TimingPlan
from rtbench.files import write_json
from rtbench.gate import DEFAULTS, Settings
from rtbench.models.build import build_model
from rtbench.report.gate import note, warnings
from rtbench.results import load_runs, run_set
from rtbench.spec import load_variants, select

CONDITIONS = ("idle", "neighbour", "memory", "slow", "slow+neighbour", "slow+memory")
NEIGHBOURS = {
    "neighbour": "while True: pass",  # a core taken
    # memory bandwidth taken: one thread copying 320 MB (40M float64) back and forth
    "memory": "import numpy as np\na = np.ones(40_000_000)\nb = np.empty_like(a)\n"
              "while True: np.copyto(b, a); np.copyto(a, b)",
}  # fmt: skip


@contextmanager
def neighbour(kind: str) -> Iterator[None]:
    """A Python process doing `kind`'s work for as long as the block runs."""
    process = subprocess.Popen([sys.executable, "-c", NEIGHBOURS[kind]])
    try:
        time.sleep(1.0)  # let it start spinning before anything is measured
        yield
    finally:
        process.kill()
        process.wait()


def make_baseline(args, specs: dict) -> list[dict]:
    """A baseline as `rtbench baseline` makes it: BASELINE_RUNS runs, each in its own process."""
    names = [spec.name for spec in select(specs, args.variants or ["all"])]  # `all`: Table 3
    timing = TimingPlan(iters=args.iters or GATE_ITERS, min_time_s=GATE_WARMUP_S)
    cfg = RunConfig(device="cpu", size=args.size or GATE_SIZE, timing=timing, end_to_end=False,
                    threads=args.threads or GATE_THREADS)  # `baseline`'s  # fmt: skip
    print(f"measuring a baseline: {', '.join(names)} at {cfg.size}x{cfg.size}, {timing.iters} "
          f"samples each, {cfg.threads} thread(s), {BASELINE_RUNS} runs", flush=True)  # fmt: skip
    measure = measure_runs(specs)
    return [measure(names, cfg if i == 0 else cfg.with_(flops=False))
            for i in range(BASELINE_RUNS)]  # fmt: skip


def describe(report) -> str:
    flagged = [r for r in report.rows if r.verdict in ("slower", "inconclusive")]
    words = [f"{r.variant} {100 * (r.change or 0):+.0f}% ({r.verdict.value})" for r in flagged]
    return f"{report.runs[1]} runs; " + (", ".join(words) or "nothing slower")


def tally(failed: set[str], slowed: set[str]) -> tuple[bool, bool]:
    """(false alarm, caught) of a check whose `failed` variants failed where `slowed` were slowed
    (none in an unchanged condition): a failure of anything not slowed is a false alarm."""
    return bool(failed - slowed), bool(failed & slowed)


def checks_of(study: dict) -> list[dict]:
    """A study's checks, each with the slowdown it was measured under and what it slowed (older
    studies kept both once, for every slow condition)."""
    slow = lambda c: c["condition"].startswith("slow")  # noqa: E731
    return [{"factor": study["factor"] if slow(c) else 1.0,
             "slowed": study.get("slow_variant", "E") if slow(c) else "-", **c}
            for c in study["checks"]]  # fmt: skip


def summary(checks: list[dict]) -> str:
    """Per condition and slowdown: false alarms, catches, inconclusive checks, check times."""
    lines = ["| condition | slowed | slowdown | checks | baselines | false alarms | caught "
             "| inconclusive | median s | max s |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    groups: dict[tuple[str, str, float], list[dict]] = {}
    for check in checks:
        key = (check["condition"], check.get("slowed", "-"), check["factor"])
        groups.setdefault(key, []).append(check)
    for (condition, slowed, factor), done in groups.items():
        seconds = sorted(c["seconds"] for c in done)
        caught = f"{sum(c['caught'] for c in done)}" if condition.startswith("slow") else "-"
        lines.append(
            f"| {condition} | {slowed} | {factor:g}x | {len(done)} "
            f"| {len({c['baseline'] for c in done})} "
            f"| {sum(c['false_alarm'] for c in done)} | {caught} "
            f"| {sum(c['inconclusive'] for c in done)} | {seconds[len(seconds) // 2]:.0f} "
            f"| {seconds[-1]:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=10, help="checks per condition")
    parser.add_argument("--conditions", nargs="+", choices=CONDITIONS, default=list(CONDITIONS))
    parser.add_argument("--baseline", type=Path, nargs="+",
                        help="baseline file(s), the committed one when none is given or made; "
                        "with baselines made, these join them")  # fmt: skip
    parser.add_argument("--make-baseline", action="store_true",
                        help="measure a baseline on this machine first (idle)")  # fmt: skip
    parser.add_argument("--size", type=int, help="baseline input side (implies --make-baseline)")
    parser.add_argument("--iters", type=int, help="baseline samples (implies --make-baseline)")
    parser.add_argument("--variants", nargs="+", help="baseline variants (implies --make-baseline)")
    parser.add_argument("--threads", type=int,
                        help=f"baseline CPU threads (default {GATE_THREADS}, the gate's; implies "
                        "--make-baseline); the checks measure as their baseline did")  # fmt: skip
    parser.add_argument("--slow-variant", default="E", help="the variant slowed in slow conditions")
    parser.add_argument("--slow-part", choices=("backbone", "decoder"),
                        help="slow this part of every variant instead (a shared part): caught "
                        "when any variant fails")  # fmt: skip
    parser.add_argument("--factor", type=float, default=1.5)
    parser.add_argument("--baselines", type=int, default=1,
                        help="independently made baselines (implies --make-baseline when > 1); "
                        "the checks of a condition go round them")  # fmt: skip
    parser.add_argument("--budget", type=float, default=DEFAULTS.budget_s,
                        help="each check's budget, seconds (rtbench check --budget)")  # fmt: skip
    parser.add_argument("--max-runs", type=int, default=DEFAULTS.max_runs,
                        help="each check's most runs (rtbench check --max-runs)")  # fmt: skip
    parser.add_argument("--out", type=Path, help="folder for the baseline made and study.json")
    parser.add_argument("--summary", type=Path, nargs="+", metavar="STUDY_JSON",
                        help="measure nothing: the table of study.json files written")  # fmt: skip
    args = parser.parse_args()
    if args.summary:
        studies = [json.loads(path.read_text()) for path in args.summary]
        print(summary([check for study in studies for check in checks_of(study)]))
        return

    started = dt.datetime.now()
    out = args.out or Path("results") / f"gate-study-{started:%Y%m%d-%H%M%S}"
    (out / "runs").mkdir(parents=True, exist_ok=True)
    specs = load_variants()
    making = (args.make_baseline or args.size or args.iters or args.variants or args.threads
              or args.baselines > 1)  # fmt: skip
    files = list(args.baseline or ([] if making else [DEFAULT_BASELINE]))
    if making:
        made = [out / f"baseline-{k + 1}.json" for k in range(args.baselines)]
        files += made
        for file in made:
            runs = make_baseline(args, specs)
            write_json(file, run_set(runs, runs[0]["created"]))
    baselines = [load_runs(file) for file in files]
    if args.slow_variant not in {row["variant"] for row in baselines[0][0]["rows"]}:
        parser.error(f"--slow-variant {args.slow_variant} is not in the baseline")

    settings = Settings(budget_s=args.budget, max_runs=args.max_runs)
    slowed_what = f"{args.slow_part} (shared)" if args.slow_part else args.slow_variant
    study = {"baselines": list(map(str, files)), "slow_variant": slowed_what,
             "factor": args.factor, "settings": settings.model_dump(), "checks": []}  # fmt: skip
    slow = (slowed_builder(args.factor, part=args.slow_part) if args.slow_part
            else slowed_builder(args.factor, variant=args.slow_variant))  # fmt: skip
    for condition in args.conditions:
        is_slow = condition.startswith("slow")
        build = slow if is_slow else build_model
        kind = condition.removeprefix("slow").removeprefix("+")
        with neighbour(kind) if kind in NEIGHBOURS else nullcontext():
            for i in range(args.checks):
                baseline = baselines[i % len(baselines)]
                start = time.monotonic()
                checked = run_check(baseline, specs, settings=settings, build=build)
                seconds = time.monotonic() - start
                report = checked.report
                # the runs too: a later rule can judge them again (rtbench.check.judge)
                runs_file = out / "runs" / f"{condition}-{i + 1}.json"
                write_json(runs_file, run_set(list(checked.runs), checked.runs[0]["created"]))
                verdict = {r.variant: r.verdict.value for r in report.rows}
                # a shared part slows every variant: any of them failing is a catch
                meant = {r.variant for r in report.rows} if args.slow_part else {args.slow_variant}
                false_alarm, caught = tally({r.variant for r in report.rows if r.failed},
                                            meant if is_slow else set())  # fmt: skip
                record = {
                    "condition": condition,
                    "factor": args.factor if is_slow else 1.0,
                    "baseline": str(files[i % len(files)]),
                    "runs_file": str(runs_file),
                    "runs": report.runs[1],
                    "outcome": report.outcome.value,
                    "failed": report.failed,
                    "slowed": slowed_what if is_slow else "-",
                    "false_alarm": false_alarm,
                    "caught": caught,
                    "inconclusive": report.outcome.value == "inconclusive",
                    "seconds": seconds,
                    "verdicts": verdict,
                    # change against the calibration and against the others, at the last look
                    "changes": {
                        r.variant: [r.change, r.vs_others and r.vs_others.change]
                        for r in report.rows
                    },  # fmt: skip
                    "notes": {r.variant: note(r, report) for r in report.rows},
                    "warnings": warnings(report),
                }
                study["checks"].append(record)
                print(f"{condition} {i + 1}/{args.checks}: {report.outcome.value} in "
                      f"{seconds:.0f} s; "
                      f"{describe(report)}", flush=True)  # fmt: skip
                write_json(out / "study.json", study)  # after every check: nothing is lost

    print("\n" + summary(study["checks"]))
    total = (dt.datetime.now() - started).total_seconds()
    print(f"\nwall time {total / 60:.1f} min; every check in {out / 'study.json'}")


if __name__ == "__main__":
    main()
