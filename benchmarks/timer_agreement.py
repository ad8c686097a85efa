"""Does rtbench's timer agree with torch.utils.benchmark.Timer? (a benchmark, not a test)

Times the same model, same input and thread count, in one process, alternating the two timers a
few times so that machine drift hits both alike, and prints each median and their ratio.

    python benchmarks/timer_agreement.py --variant E --scope encoder --size 640
"""

import argparse
import statistics

import torch
import torch.utils.benchmark as tb

from rtbench.measure.timing import TimingPlan, measure_interleaved
from rtbench.models.build import build_model, make_inputs
from rtbench.spec import load_variants, select


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="E")
    parser.add_argument("--scope", default="encoder", choices=("encoder", "detector"))
    parser.add_argument("--size", type=int, default=640)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--min-time", type=float, default=2.0, help="seconds per timer, per trial")
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    spec = select(load_variants(), [args.variant])[0]
    model = build_model(spec, args.scope)
    inputs = make_inputs(spec, args.scope, args.size, 1)

    def step():
        with torch.inference_mode():
            return model(inputs)

    plan = TimingPlan(min_time_s=args.min_time)
    ours, theirs = [], []
    for trial in range(args.trials):
        timed = measure_interleaved({"model": step}, torch.device("cpu"), plan)["model"]
        ours.append(statistics.median(timed.samples_ms))
        timer = tb.Timer(stmt="step()", globals={"step": step}, num_threads=args.threads)
        theirs.append(timer.blocked_autorange(min_run_time=args.min_time).median * 1e3)
        print(f"trial {trial + 1}: rtbench {ours[-1]:.3f} ms, torch.utils.benchmark "
              f"{theirs[-1]:.3f} ms, ratio {ours[-1] / theirs[-1]:.3f}")  # fmt: skip
    ratio = statistics.median(ours) / statistics.median(theirs)
    print(f"{spec.name} {args.scope} {args.size}px, {args.threads} threads: rtbench median "
          f"{statistics.median(ours):.3f} ms, torch.utils.benchmark median "
          f"{statistics.median(theirs):.3f} ms, ratio {ratio:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
