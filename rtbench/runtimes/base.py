"""What a runtime is to rtbench: a way to run a built model, with its own clock and memory figure.

A runtime takes a `BuiltModel` (the PyTorch model of one variant, its inputs and the run's
configuration) and returns a `Session`: the call that is timed, the clock that times it, how peak
memory is read, and the settings worth recording beside its figures.
"""

import dataclasses
import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch
from torch import Tensor, nn

from rtbench.config import BenchError, RunConfig
from rtbench.measure.timing import Clock
from rtbench.spec import VariantSpec


class RuntimeUnavailable(BenchError):
    """A runtime that is not installed here or cannot run on the device; one line for the user."""


@dataclass
class BuiltModel:
    """One variant as built for a run: eval mode, on the device, shape caches filled."""

    spec: VariantSpec
    model: nn.Module
    inputs: Tensor | list[Tensor]
    cfg: RunConfig
    device: torch.device
    cache_dir: Path  # where exports and engines are kept between runs

    @property
    def threads(self) -> int:
        """The CPU threads every runtime of the run gets: --threads, else torch's count."""
        return self.cfg.threads or torch.get_num_threads()


@dataclass
class Session:
    """A model prepared by one runtime."""

    step: Callable[[], object]  # one inference, inputs already in place; what is timed
    clock: Clock  # how one step is clocked (its stream on CUDA)
    peak_memory: Callable[[], int | None]  # bytes one step needs at peak; None where unknown
    settings: dict = field(default_factory=dict)  # recorded per row: versions, threads, precision
    keep: object = None  # what the step needs alive beyond its closure (engines, bindings)
    # The model on a new input already on the device (the end-to-end path): its outputs, in
    # the model's order (logits and boxes first at detector scope); None where not offered.
    infer: Callable[[object], list] | None = None


class Runtime(ABC):
    name: ClassVar[str]  # what --runtime takes
    label: ClassVar[str]  # how tables name it
    devices: ClassVar[tuple[str, ...]] = ("cpu", "cuda")
    modules: ClassVar[tuple[str, ...]] = ()  # importable modules it needs beyond torch
    extra: ClassVar[str | None] = None  # the pip extra that installs them: rtbench[extra]
    supports_breakdown: ClassVar[bool] = False  # can time a part of the model alone (--breakdown)
    pool: ClassVar[str] = "torch"  # whose CPU worker threads run it (rtbench.measure.timing)

    def not_installed(self) -> str | None:
        """Why this runtime cannot run on this machine at all, naming the pip extra; or None."""
        missing = [m for m in self.modules if importlib.util.find_spec(m) is None]
        if missing:
            return (
                f"runtime {self.name} needs the {missing[0]} package, which is not installed: "
                f"pip install 'rtbench[{self.extra}]'"
            )
        return None

    def unavailable(self, device: torch.device, cfg: RunConfig) -> str | None:
        """Why this runtime cannot run here with `cfg`, in one line; None when it can."""
        missing = self.not_installed()
        if missing:
            return missing
        if device.type not in self.devices:
            return f"runtime {self.name} runs on {' or '.join(self.devices)}, not {device.type}"
        return None

    def version(self) -> str | None:
        """The version of the library that does the work."""
        return None

    @abstractmethod
    def prepare(self, built: BuiltModel) -> Session:
        """The timed step of `built` in this runtime; may take the model over."""

    def prepare_part(self, built: BuiltModel, part: nn.Module, inputs) -> Session:
        """The timed step of one part of `built.model` on the inputs it receives inside the whole
        model (captured from a full forward). Only for runtimes with `supports_breakdown`; by
        default the part is prepared as a model of its own."""
        if not self.supports_breakdown:
            raise NotImplementedError(f"runtime {self.name} times whole models only")
        return self.prepare(dataclasses.replace(built, model=part, inputs=inputs))
