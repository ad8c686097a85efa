"""Does rtbench's timer agree with torch.utils.benchmark.Timer? (a benchmark, not a test)

Times the same model, same input and thread count, in one process. The two timers alternate call
by call (one rtbench sample, one torch.utils.benchmark `timeit(1)`, and so on), so that the drift
of a shared machine hits both alike; the per-pair ratio then says how far the timers disagree.

    python benchmarks/timer_agreement.py --variant E --scope encoder --size 640
"""

import argparse
import statistics

import torch
import torch.utils.benchmark as tb

from rtbench.measure.stats import summarize
from rtbench.measure.timing import wall_clock
from rtbench.models.build import build_model, make_inputs
from rtbench.spec import load_variants, select


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="E")
    parser.add_argument("--scope", default="encoder", choices=("encoder", "detector"))
    parser.add_argument("--size", type=int, default=640)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--pairs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    spec = select(load_variants(), [args.variant])[0]
    model = build_model(spec, args.scope)
    inputs = make_inputs(spec, args.scope, args.size, 1)

    def step():
        with torch.inference_mode():
            return model(inputs)

    clock = wall_clock()
    timer = tb.Timer(stmt="step()", globals={"step": step}, num_threads=args.threads)
    for _ in range(args.warmup):
        step()
    ours, theirs = [], []
    for _ in range(args.pairs):
        ours.append(clock(step))
        theirs.append(timer.timeit(1).median * 1e3)
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
    a, b, r = summarize(ours), summarize(theirs), summarize(ratios)
    print(f"{spec.name}, {args.scope} scope, {args.size}px, {args.threads} threads, "
          f"{args.pairs} alternating pairs")  # fmt: skip
    print(f"  rtbench               median {a['median_ms']:.2f} ms  IQR {a['iqr_ms']:.2f}")
    print(f"  torch.utils.benchmark median {b['median_ms']:.2f} ms  IQR {b['iqr_ms']:.2f}")
    print(f"  ratio of medians {a['median_ms'] / b['median_ms']:.4f}; per-pair ratio median "
          f"{r['median_ms']:.4f} (95% CI {r['ci95_low_ms']:.4f}-{r['ci95_high_ms']:.4f}), "
          f"mean {statistics.fmean(ratios):.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
