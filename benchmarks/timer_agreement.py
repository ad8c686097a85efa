"""Does rtbench's timer agree with torch.utils.benchmark.Timer (and, on a GPU, with Triton's
do_bench)? A benchmark, not a test.

Times the same model, same input and thread count, in one process. rtbench's clock and
torch.utils.benchmark alternate call by call (one rtbench sample, one `timeit(1)`, and so on), so
that the drift of a shared machine hits both alike; the per-pair ratio then says how far the
timers disagree. On CUDA, triton.testing.do_bench (which flushes the L2 cache between calls and
reports the median of many) is run in the same process when Triton is installed.

    python benchmarks/timer_agreement.py --variant E --scope encoder --size 640
    python benchmarks/timer_agreement.py --variant E --scope detector --device cuda --dtype fp16
"""

import argparse
import statistics

import torch
import torch.utils.benchmark as tb

from rtbench.measure.device import TORCH_DTYPES
from rtbench.measure.stats import summarize
from rtbench.measure.timing import device_clock
from rtbench.models.build import build_model, make_inputs
from rtbench.spec import load_variants, select


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="E")
    parser.add_argument("--scope", default="encoder", choices=("encoder", "detector"))
    parser.add_argument("--size", type=int, default=640)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="fp32", choices=tuple(TORCH_DTYPES))
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--pairs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    spec = select(load_variants(), [args.variant])[0]
    model = build_model(spec, args.scope).to(device)
    inputs = make_inputs(spec, args.scope, args.size, 1)
    inputs = [x.to(device) for x in inputs] if isinstance(inputs, list) else inputs.to(device)
    dtype = TORCH_DTYPES[args.dtype]

    def step():
        with (
            torch.inference_mode(),
            torch.autocast(device.type, dtype, enabled=dtype != torch.float32),
        ):
            return model(inputs)

    clock = device_clock(device)
    timer = tb.Timer(stmt="step()", globals={"step": step}, num_threads=args.threads)
    for _ in range(args.warmup):
        step()
    ours, theirs = [], []
    for _ in range(args.pairs):
        ours.append(clock(step))
        theirs.append(timer.timeit(1).median * 1e3)
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
    a, b, r = summarize(ours), summarize(theirs), summarize(ratios)
    print(f"{spec.name}, {args.scope} scope, {args.size}px, {device}, {args.dtype}, "
          f"{args.threads} threads, {args.pairs} alternating pairs")  # fmt: skip
    print(f"  rtbench               median {a['median_ms']:.3f} ms  IQR {a['iqr_ms']:.3f}")
    print(f"  torch.utils.benchmark median {b['median_ms']:.3f} ms  IQR {b['iqr_ms']:.3f}")
    print(f"  ratio of medians {a['median_ms'] / b['median_ms']:.4f}; per-pair ratio median "
          f"{r['median_ms']:.4f} (95% CI {r['ci95_low_ms']:.4f}-{r['ci95_high_ms']:.4f}), "
          f"mean {statistics.fmean(ratios):.4f}")  # fmt: skip
    if device.type == "cuda":
        try:
            from triton.testing import do_bench
        except ImportError:
            print("  triton.testing.do_bench: Triton is not installed")
            return
        triton_ms = do_bench(step, warmup=100, rep=1000, return_mode="median")
        print(
            f"  triton do_bench       median {triton_ms:.3f} ms (L2 flushed between calls); "
            f"rtbench / triton {a['median_ms'] / triton_ms:.4f}"
        )


if __name__ == "__main__":
    main()
