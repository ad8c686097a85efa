"""Does the forward latency clocked inside an end-to-end call (one call, two clocks) agree with
the forward latency timed by calls of its own? A benchmark, not a test.

For each runtime, one detector is prepared once and timed two ways in the same interleaved
rounds (rtbench.measure.timing, shuffled order, same threads): `separate`, the runtime's step on
inputs already in place, as `--no-end-to-end` and `--breakdown` time it; and `nested`, its clock
around the model inside each end-to-end call, as `compare` times it with end-to-end on. They
agree when each median lies inside the other's 95% CI; the median ratio nested / separate says
by how much they differ.

    python benchmarks/nested_agreement.py --runtime eager,compile,onnxruntime,openvino
    python benchmarks/nested_agreement.py --variant E --size 640 --iters 20 --json out.json
"""

import argparse
import json
import tempfile
from pathlib import Path

import torch

from rtbench.config import RunConfig, TimingPlan
from rtbench.measure.pipeline import end_to_end_step, make_frame
from rtbench.measure.stats import summarize
from rtbench.measure.timing import InnerClock, Workload, measure_interleaved, wall_clock
from rtbench.models.build import build_model, make_inputs
from rtbench.runtimes import RUNTIMES, BuiltModel, check_runtime
from rtbench.spec import load_variants, select


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", default="eager,compile,onnxruntime,openvino")
    parser.add_argument("--variant", default="A")
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--iters", type=int, default=30, help="samples per series")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    spec = select(load_variants(), [args.variant])[0]
    cfg = RunConfig(device="cpu", size=args.size, threads=args.threads, seed=args.seed)
    plan = TimingPlan(warmup=3, iters=args.iters)
    frame = make_frame(args.seed)
    workloads, keep = {}, []
    with tempfile.TemporaryDirectory(prefix="rtbench-nested-") as cache:
        for name in args.runtime.split(","):
            check_runtime(name, device, cfg)
            model = build_model(spec, "detector", args.seed)
            inputs = make_inputs(spec, "detector", args.size, 1, args.seed)
            with torch.inference_mode():
                model(inputs)  # shape caches, as the runner fills them
            runtime = RUNTIMES[name]
            session = runtime.prepare(BuiltModel(spec, model, inputs, cfg, device, Path(cache)))
            keep.append(session)
            inner = InnerClock(session.clock)
            e2e = end_to_end_step(frame, args.size, 1, device, inner.around(session.infer))
            workloads[(name, "separate")] = Workload(session.step, session.clock, runtime.pool)
            workloads[(name, "end_to_end")] = Workload(
                e2e, wall_clock(), runtime.pool, inner=((name, "nested"), inner)
            )
        timed = measure_interleaved(workloads, plan, order_seed=args.seed)
    figures = []
    for name in args.runtime.split(","):
        sep, nest = (summarize(timed[(name, kind)].samples_ms) for kind in ("separate", "nested"))
        e2e = summarize(timed[(name, "end_to_end")].samples_ms)
        figures.append({
            "runtime": name, "separate": sep, "nested": nest, "end_to_end": e2e,
            "ratio": nest["median_ms"] / sep["median_ms"],
            "agree": _inside(nest, sep) and _inside(sep, nest),
        })  # fmt: skip
    print(f"{spec.name}, detector {args.size}x{args.size}, {args.threads} threads, "
          f"{args.iters} samples per series; median ms (95% CI)")  # fmt: skip
    print("| runtime | separate | nested | nested / separate | each median in the other's CI "
          "| end to end |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for f in figures:
        print(
            f"| {f['runtime']} | {_ci(f['separate'])} | {_ci(f['nested'])} | "
            f"{f['ratio']:.3f} | {'yes' if f['agree'] else 'no'} | {_ci(f['end_to_end'])} |"
        )
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                         "figures": figures}, indent=2))  # fmt: skip


def _inside(a: dict, b: dict) -> bool:
    return b["ci95_low_ms"] <= a["median_ms"] <= b["ci95_high_ms"]


def _ci(s: dict) -> str:
    return f"{s['median_ms']:.1f} ({s['ci95_low_ms']:.1f}-{s['ci95_high_ms']:.1f})"


if __name__ == "__main__":
    main()
