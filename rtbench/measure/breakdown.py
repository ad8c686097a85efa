"""Per-part latency: the inputs each part of a model really receives, captured from one full
forward, so that a part can be timed alone on them (`--breakdown`).

A part is what the model's `parts()` names (backbone, input_proj, intra, fusion, decoder); each is
called once per forward on what the previous part returned. Forward pre-hooks copy each part's
input during one forward run as the timed step runs it (inference mode, and autocast when asked),
so a part timed alone sees the same shapes, dtypes and values as inside the whole model.
"""

from collections.abc import Callable
from contextlib import AbstractContextManager

import torch
from torch import nn

from rtbench.measure.params import model_parts


def capture_part_inputs(
    model: nn.Module, inputs, context: Callable[[], AbstractContextManager]
) -> dict[str, object]:
    """Part label -> a copy of the one argument it received in `model(inputs)`, in data-flow
    order, for the parts the model has; `context` wraps the forward (autocast, say)."""
    parts = {label: m for label, m in model_parts(model).items() if m is not None}
    captured: dict[str, object] = {}

    def hook(label: str) -> Callable:
        def pre_hook(module: nn.Module, args: tuple) -> None:
            if len(args) != 1 or label in captured:
                raise RuntimeError(f"part {label} must be called once, on one argument")
            captured[label] = _copy(args[0])

        return pre_hook

    handles = [m.register_forward_pre_hook(hook(label)) for label, m in parts.items()]
    try:
        with torch.inference_mode(), context():
            model(inputs)
    finally:
        for handle in handles:
            handle.remove()
    missing = [label for label in parts if label not in captured]
    if missing:
        raise RuntimeError(f"part {missing[0]} was not called in a forward of the model")
    return {label: captured[label] for label in parts}


def _copy(value):
    """A copy a part may not alter in place: tensors cloned (memory format kept), lists rebuilt."""
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, list | tuple):
        return type(value)(_copy(v) for v in value)
    return value
