"""Can the gate fail? Measure as the baseline was with an injected slowdown, then gate as `rtbench
check` does, run after run until the gate decides (a benchmark, not a test).

The slowdown busy-waits after each forward of the chosen part so that the part takes FACTOR times
as long: a whole variant (`--variant E`) or a block every variant shares (`--shared backbone`).

    python benchmarks/gate_injection.py --variant E --factor 1.5
    python benchmarks/gate_injection.py --shared backbone --factor 1.5
"""

import argparse
import sys

from inject import slowed_builder
from rich.console import Console

from rtbench.check import run_check
from rtbench.report.gate import render, verdict_line
from rtbench.results import load_runs
from rtbench.spec import load_variants


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--variant", help="slow this variant's whole model")
    target.add_argument("--shared", choices=("backbone", "decoder"), help="slow a shared part")
    parser.add_argument("--factor", type=float, default=1.5)
    parser.add_argument("--baseline", default="results/baseline-cpu.json")
    args = parser.parse_args()

    baseline = load_runs(args.baseline)
    build = slowed_builder(args.factor, variant=args.variant, part=args.shared)
    report = run_check(baseline, load_variants(), build=build).report
    Console(width=200).print(render(report))
    print(verdict_line(report, args.baseline))
    sys.exit(1 if report.failed else 0)


if __name__ == "__main__":
    main()
