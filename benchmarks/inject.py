"""Injected slowdowns: proof that the regression gate can fail (benchmarks/gate_injection.py and the
acceptance tests). A slowed forward busy-waits after the real one so that it takes `factor` times
as long; a slowed builder applies that to one variant's whole model or to a part every variant
shares (the backbone, say), and is passed to `run_benchmark(build=...)`."""

import time
from collections.abc import Callable
from dataclasses import dataclass

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


@dataclass(frozen=True)
class SlowedBuilder:
    """A builder whose models are slowed: `variant`'s whole model, or `part` of every model. A
    class, not a closure, so that it pickles into the process each run of a check is measured in
    (rtbench.measure.apart)."""

    factor: float
    variant: str | None = None
    part: str | None = None
    build: Callable[..., nn.Module] = build_model

    def __post_init__(self) -> None:
        if (self.variant is None) == (self.part is None):
            raise ValueError("slow either one variant or one shared part")

    def __call__(self, spec, scope: str, seed: int = 0) -> nn.Module:
        model = self.build(spec, scope, seed)
        if self.part is not None:
            target = model.parts()[self.part]
            target.forward = slowed(target.forward, self.factor)
        elif spec.name == self.variant:
            model.forward = slowed(model.forward, self.factor)
        return model


def slowed_builder(
    factor: float, variant: str | None = None, part: str | None = None, build=build_model
) -> SlowedBuilder:
    """A builder whose models are slowed: `variant`'s whole model, or `part` of every model."""
    return SlowedBuilder(factor, variant, part, build)
