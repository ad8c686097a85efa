"""Parameter counts, total and per part (backbone / input_proj / intra / fusion / decoder)."""

from torch import nn


def count_params(module: nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def model_parts(model: nn.Module) -> dict[str, nn.Module | None]:
    """The parts a model names (`parts()`; rtbench's encoders and detectors have one), else none."""
    parts = getattr(model, "parts", None)
    return parts() if callable(parts) else {}


def part_paths(model: nn.Module) -> dict[str, str]:
    """Part label -> module path inside `model`, for the parts it has."""
    paths = {id(module): name for name, module in model.named_modules()}
    return {label: paths[id(m)] for label, m in model_parts(model).items() if m is not None}


def param_parts(model: nn.Module) -> dict[str, int]:
    """Parts a variant lacks (no fusion in A, B, C) count 0."""
    return {label: count_params(m) for label, m in model_parts(model).items()}
