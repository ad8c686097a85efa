"""The real-time DETR family (variants/family/) counted at 640x640 beside its published figures.

    python benchmarks/family_figures.py [--size 640] [--json out.json]

Params: every parameter of the detector (frozen norms' affine terms are buffers). GFLOPs: fvcore's
multiply-adds x 2, as rtbench counts them (rtbench.measure.flops), on the training form and on the
deploy form (RepVGG branches merged: the 1x1 branch's MACs are gone), and the deploy form less the
attention products (QK^T and AV, which many counters skip). Each model takes tens of seconds to
count on a 2-core CPU; the tests count params, and MACs at small sizes.
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
from rtbench.models.deploy import fuse_for_deploy
from rtbench.spec import load_variants


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=640)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    rows = []
    header = ("| model | #Params (M) | published | GFLOPs | deploy form | less attention | "
              "published | diff (train / deploy / less attn.) |")  # fmt: skip
    print(header + "\n|---|---|---|---|---|---|---|---|")
    for spec in load_variants().values():
        if spec.group != "family":
            continue
        started = time.perf_counter()
        model = build_model(spec, "detector")
        parts = param_parts(model)
        images = make_inputs(spec, "detector", args.size, 1)
        flops = count_flops(model, images)
        deployed = count_flops(fuse_for_deploy(model), images)
        params = sum(parts.values())
        paper = spec.paper
        gflops, deploy = flops["gflops"], deployed["gflops"]
        attention = 2 * deployed["gmacs_by_op"].get("scaled_dot_product_attention", 0.0)
        figures = (gflops, deploy, deploy - attention)
        diffs = " / ".join(f"{(g - paper.gflops) / paper.gflops * 100:+.1f}%" for g in figures)
        rows.append({"name": spec.name, "params": params, "params_parts": parts,
                     "gflops": gflops, "gflops_deploy": deploy, "gflops_attention": attention,
                     "gflops_flop_counter": 2 * flops["gmacs_flop_counter"],
                     "gmacs_by_op": flops["gmacs_by_op"], "gmacs_parts": flops["gmacs_parts"],
                     "paper_params_m": paper.params_m, "paper_gflops": paper.gflops,
                     "seconds": time.perf_counter() - started})  # fmt: skip
        print(f"| {spec.name} | {params / 1e6:.2f} ({math.floor(params / 1e6)}) | "
              f"{paper.params_m} | {gflops:.1f} | {deploy:.1f} | {deploy - attention:.1f} | "
              f"{paper.gflops:g} | {diffs} |", flush=True)  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
