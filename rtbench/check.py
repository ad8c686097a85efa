"""`rtbench check`: measure as the baseline was measured, compare, measure the suspects once more,
and give the verdicts. The one check path: the CLI, the acceptance tests, the gate benchmarks and
gpu_check.sh all come through here; only how a measurement is made (`Measure`) differs.

The comparison itself is rtbench.gate (pure); rendering is rtbench.report.gate.
"""

from collections.abc import Callable
from dataclasses import dataclass

from rtbench import gate
from rtbench.config import RunConfig
from rtbench.gate import GateReport, Settings
from rtbench.models.build import build_model
from rtbench.runner import Builder, run_benchmark
from rtbench.spec import VariantSpec, select

# (variant names, configuration) -> a results document of them, measured in one run
Measure = Callable[[list[str], RunConfig], dict]


# Measurements of a suspect after the first: a confirmation, then at most two more where the
# evidence stays split. Each measures the suspects and a reference (two detectors at the gate's
# size: 15-30 s on 2 cores), so a check stays within minutes.
MAX_LOOKS = 3


@dataclass(frozen=True)
class Checked:
    report: GateReport
    current: dict | None  # the run measured now (None when a results file was given)
    again: tuple[dict, ...] = ()  # the suspects measured again, in order

    @property
    def documents(self) -> list[dict]:
        """Every document measured, in order: nothing measured is lost."""
        return [d for d in (self.current, *self.again) if d is not None]


def baseline_config(baseline: dict) -> RunConfig:
    """The configuration to measure again with, as the baseline was measured."""
    return RunConfig.from_record(baseline["config"], "baseline")


def baseline_variants(baseline: dict, available: dict[str, VariantSpec]) -> list[str]:
    """The baseline's variants that still exist; one deleted since shows as missing."""
    names = dict.fromkeys(row["variant"] for row in baseline["rows"])
    return [name for name in names if name in available]


def judge(
    baseline: dict, current: dict, again: Measure | None = None, settings: Settings = gate.DEFAULTS
) -> Checked:
    """Compare `current` with `baseline`; with `again`, measure the suspects again (up to
    MAX_LOOKS times, while their evidence is split) and keep "slower" only where the slowdown
    repeats."""
    report = gate.compare(baseline, current, settings)
    measured: list[dict] = []
    cfg = baseline_config(baseline).with_(flops=False)  # sizes were compared already
    while again is not None and gate.pending(report) and len(measured) < MAX_LOOKS:
        names, _ = gate.second_look(report)
        measured.append(again(names, cfg))
        report = gate.confirm(report, baseline, measured[-1])
    return Checked(report, None, tuple(measured))


def run_check(
    baseline: dict,
    available: dict[str, VariantSpec],
    measure: Measure | None = None,
    settings: Settings = gate.DEFAULTS,
    build: Builder = build_model,
) -> Checked:
    """Measure the baseline's variants as the baseline was measured (with `measure`; by default
    `run_benchmark` with models made by `build`), gate them, and measure suspects once more."""
    if measure is None:

        def measure(names: list[str], cfg: RunConfig) -> dict:
            return run_benchmark(select(available, names), cfg, build=build)

    gate.usable(baseline, "baseline")  # an unusable baseline is refused before measuring
    names = baseline_variants(baseline, available)
    if not names:
        raise gate.GateError("none of the baseline's variants is among the variant files")
    current = measure(names, baseline_config(baseline))
    checked = judge(baseline, current, measure, settings)
    return Checked(checked.report, current, checked.again)
