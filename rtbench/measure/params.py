"""Parameter counts, total and per part: backbone / input_proj / intra / fusion / decoder."""

from torch import nn


def count_params(module: nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def part_paths(model: nn.Module) -> dict[str, str]:
    """Part label -> module path; the encoder is the model itself or its `encoder` child."""
    nested = hasattr(model, "encoder") and hasattr(model, "backbone")
    prefix = "encoder." if nested else ""
    parts = {"backbone": "backbone"} if nested else {}
    parts |= {name: prefix + name for name in ("input_proj", "intra", "fusion")}
    if nested:
        parts["decoder"] = "decoder"
    return parts


def param_parts(model: nn.Module) -> dict[str, int]:
    """Parts a variant lacks (no fusion in A, B, C) count 0."""
    modules = dict(model.named_modules())
    return {label: count_params(modules.get(path)) for label, path in part_paths(model).items()}
