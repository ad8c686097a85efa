"""The real-time DETR family (variants/family/) counted at 640x640 beside its published figures.

    python benchmarks/family_figures.py [--size 640] [--json out.json]

Params: every parameter of the detector (frozen norms' affine terms are buffers). GFLOPs: fvcore's
multiply-adds x 2, as rtbench counts them (rtbench.measure.flops), FlopCounterMode's beside it.
Each model takes a few seconds to count on a 2-core CPU; the tests count params only.
"""

import argparse
import json
import math
import time
from pathlib import Path

import torch

from rtbench.measure.flops import count_flops
from rtbench.measure.params import param_parts
from rtbench.models.build import build_model, make_inputs
from rtbench.spec import load_variants


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=640)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    rows = []
    header = "| model | #Params (M) | published | GFLOPs | published | diff | FlopCounterMode |"
    print(header + "\n|---|---|---|---|---|---|---|")
    for spec in load_variants().values():
        if spec.group != "family":
            continue
        started = time.perf_counter()
        model = build_model(spec, "detector")
        parts = param_parts(model)
        flops = count_flops(model, make_inputs(spec, "detector", args.size, 1))
        params = sum(parts.values())
        gflops, paper = flops["gflops"], spec.paper
        diff = (gflops - paper.gflops) / paper.gflops * 100
        rows.append({"name": spec.name, "params": params, "params_parts": parts,
                     "gflops": gflops, "gflops_flop_counter": 2 * flops["gmacs_flop_counter"],
                     "gmacs_by_op": flops["gmacs_by_op"], "gmacs_parts": flops["gmacs_parts"],
                     "paper_params_m": paper.params_m, "paper_gflops": paper.gflops,
                     "seconds": time.perf_counter() - started})  # fmt: skip
        print(f"| {spec.name} | {params / 1e6:.2f} ({math.floor(params / 1e6)}) | "
              f"{paper.params_m} | {gflops:.1f} | {paper.gflops:g} | {diff:+.1f}% | "
              f"{2 * flops['gmacs_flop_counter']:.1f} |", flush=True)  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
