"""Can the gate fail? Run `rtbench check` with an injected slowdown (a benchmark, not a test).

The slowdown busy-waits after each forward of the chosen part so that the part takes FACTOR times
as long: a whole variant (`--variant E`) or a block every variant shares (`--shared backbone`).

    python benchmarks/gate_injection.py --variant E --factor 1.5
    python benchmarks/gate_injection.py --shared backbone --factor 1.5
"""

import argparse
import sys
import time

import rtbench.runner
from rtbench.cli import app


def slowed(forward, factor: float):
    def slow_forward(*args):
        start = time.perf_counter()
        out = forward(*args)
        deadline = start + factor * (time.perf_counter() - start)
        while time.perf_counter() < deadline:
            pass
        return out

    return slow_forward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--variant", help="slow this variant's whole model")
    target.add_argument("--shared", choices=("backbone", "decoder"), help="slow a shared part")
    parser.add_argument("--factor", type=float, default=1.5)
    parser.add_argument("--baseline", default="results/baseline-cpu.json")
    args = parser.parse_args()
    build = rtbench.runner.build_model

    def build_slowed(spec, scope, seed=0):
        model = build(spec, scope, seed)
        if args.shared:
            part = getattr(model, args.shared)
            part.forward = slowed(part.forward, args.factor)
        elif spec.name == args.variant:
            model.forward = slowed(model.forward, args.factor)
        return model

    rtbench.runner.build_model = build_slowed
    sys.exit(app(["check", "--baseline", args.baseline, "--results-dir", "/tmp/rtbench-injected"],
                 standalone_mode=False))  # fmt: skip


if __name__ == "__main__":
    main()
