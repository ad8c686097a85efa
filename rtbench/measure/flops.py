"""FLOP counting with fvcore, cross-checked by torch.utils.flop_counter.FlopCounterMode.

Units: fvcore counts one multiply-add as one "flop", i.e. MACs; FlopCounterMode counts two per
multiply-add. We report GMACs and GFLOPs = 2 x GMACs, labelled (the paper's 136 GFLOPs for
RT-DETR-R50 are the latter).

Traps handled here (docs/design.md, "Measuring"):
- In torch 2.13 on the CPU both counters count zero for scaled_dot_product_attention; we register
  a handle: QK^T and AV, B*H*Lq*Lk*(Dk + Dv) MACs.
- Bilinear grid sampling (deformable attention) does 4 multiply-adds per output element; fvcore
  has a handle, FlopCounterMode gets ours.
- Normalisation, resampling, pooling and element-wise ops (add, SiLU, GELU, softmax) are not
  counted, by convention, in both counters; every op fvcore saw but did not count is listed, and
  one not known to be free of multiply-adds is reported as `uncounted`, never dropped silently.
"""

from collections import Counter
from math import prod

import torch
from fvcore.nn import FlopCountAnalysis
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from rtbench.measure.params import model_parts, part_paths

NOT_COUNTED_BY_CONVENTION = (
    "aten::batch_norm",
    "aten::layer_norm",
    "aten::group_norm",
    "aten::instance_norm",
    "aten::upsample_nearest2d",
    "aten::upsample_bilinear2d",
    "aten::adaptive_avg_pool2d",
)
# Ops with no multiply-adds in the matrix sense: element-wise maths, reductions, indexing, pooling.
ELEMENTWISE_OR_FREE = {
    f"aten::{op}"
    for ops in (
        ("add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_", "neg", "rsub", "reciprocal"),
        ("pow", "sqrt", "rsqrt", "exp", "log", "log_", "sin", "cos", "tanh", "abs"),
        ("silu", "silu_", "relu", "relu_", "gelu", "sigmoid", "sigmoid_", "softmax", "log_softmax"),
        ("clamp_min", "clamp_max", "clip", "minimum", "maximum", "where", "masked_fill_"),
        ("sum", "mean", "amax", "topk", "sort", "argmax", "max_pool2d", "avg_pool2d"),
        ("repeat", "stack", "split", "split_with_sizes", "unbind", "permute", "transpose"),
        ("reshape", "view", "unsqueeze", "squeeze", "select", "slice", "to", "type_as"),
        ("ones_like", "zeros_like", "zeros", "ones", "all", "any", "lt", "le", "ne"),
        ("logical_and", "linspace", "meshgrid", "scalar_tensor", "_unsafe_view", "expand_as"),
        ("index_select", "unflatten"),
    )
    for op in ops
}


def _zero(inputs, outputs) -> int:
    return 0


def sdpa_macs(q_shape, k_shape, v_shape) -> int:
    """QK^T plus AV for q [.., Lq, Dk], k [.., Lk, Dk], v [.., Lk, Dv] (batch and heads lead)."""
    *lead, lq, dk = q_shape
    lk, dv = k_shape[-2], v_shape[-1]
    return prod(lead) * lq * lk * (dk + dv)


def _fvcore_sdpa(inputs, outputs) -> int:
    shapes = [value.type().sizes() for value in inputs[:3]]
    return sdpa_macs(*shapes)


def _counter_sdpa(q_shape, k_shape, v_shape, *args, out_shape=None, **kwargs) -> int:
    return 2 * sdpa_macs(q_shape, k_shape, v_shape)  # FlopCounterMode's unit: 2 per MAC


def _counter_grid_sample(*args, out_shape=None, **kwargs) -> int:
    return 2 * 4 * prod(out_shape)  # bilinear: 4 weighted corners per output element


def _counter_extra_formulas() -> dict:
    aten = torch.ops.aten
    formulas = {aten.grid_sampler_2d: _counter_grid_sample}
    cpu_sdpa = getattr(aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    if cpu_sdpa is not None:
        formulas[cpu_sdpa] = _counter_sdpa
    return formulas


def count_flops(model: nn.Module, inputs) -> dict:
    """Flat record: gmacs, gflops, per-part GMACs, the cross-check and the skipped ops."""
    args = (inputs,)
    with torch.inference_mode(False), torch.no_grad():
        analysis = FlopCountAnalysis(model, args)
        analysis.set_op_handle("aten::scaled_dot_product_attention", _fvcore_sdpa)
        # fvcore's own handles for these would count them; a zero handle keeps the convention
        analysis.set_op_handle(**dict.fromkeys(NOT_COUNTED_BY_CONVENTION, _zero))
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        analysis.tracer_warnings("none")
        macs = analysis.total()
        by_module = analysis.by_module()
        skipped = Counter(analysis.unsupported_ops())
        by_op = {op: count / 1e9 for op, count in sorted(analysis.by_operator().items()) if count}

        counter = FlopCounterMode(display=False, custom_mapping=_counter_extra_formulas())
        with counter:
            model(inputs)
        counter_macs = counter.get_total_flops() / 2

    paths = part_paths(model)
    parts = {label: by_module.get(paths[label], 0) / 1e9 if label in paths else 0.0
             for label in model_parts(model)}  # fmt: skip
    uncounted = {op: n for op, n in sorted(skipped.items()) if op not in ELEMENTWISE_OR_FREE}
    diff = (counter_macs - macs) / macs * 100 if macs else 0.0
    return {
        "gmacs": macs / 1e9,
        "gflops": 2 * macs / 1e9,
        "gmacs_parts": parts,
        "gmacs_by_op": by_op,
        "gmacs_flop_counter": counter_macs / 1e9,
        "flops_crosscheck_diff_pct": diff,
        "flops_skipped_ops": dict(sorted(skipped.items())),
        "flops_uncounted_ops": uncounted,
    }
