"""Injected slowdowns: proof that the regression gate can fail (benchmarks/gate_injection.py and the
acceptance tests). A slowed forward busy-waits after the real one so that it takes `factor` times
as long; a slowed builder applies that to one variant's whole model or to a part every variant
shares (the backbone, say), and is passed to `run_benchmark(build=...)`."""

import time
from collections.abc import Callable

from torch import nn

from rtbench.models.build import build_model


def slowed(forward: Callable, factor: float) -> Callable:
    def slow_forward(*args, **kwargs):
        start = time.perf_counter()
        out = forward(*args, **kwargs)
        deadline = start + factor * (time.perf_counter() - start)
        while time.perf_counter() < deadline:
            pass
        return out

    return slow_forward


def slowed_builder(
    factor: float, variant: str | None = None, part: str | None = None, build=build_model
) -> Callable[..., nn.Module]:
    """A builder whose models are slowed: `variant`'s whole model, or `part` of every model."""
    if (variant is None) == (part is None):
        raise ValueError("slow either one variant or one shared part")

    def build_slowed(spec, scope: str, seed: int = 0) -> nn.Module:
        model = build(spec, scope, seed)
        if part is not None:
            target = model.parts()[part]
            target.forward = slowed(target.forward, factor)
        elif spec.name == variant:
            model.forward = slowed(model.forward, factor)
        return model

    return build_slowed
