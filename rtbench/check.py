"""`rtbench check`: measure runs as the baseline's were measured, one at a time, each in a process
of its own, and ask the gate after each until it decides or the budget runs out. The one check
path: the CLI, the acceptance tests, the gate benchmarks and gpu_check.sh all come through here;
only how a run is measured (`Measure`) differs.

The decision itself is rtbench.gate (pure); rendering is rtbench.report.gate.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from rtbench import gate
from rtbench.config import RunConfig
from rtbench.gate import GateReport, Settings
from rtbench.measure.apart import Measure, in_own_process
from rtbench.models.build import build_model
from rtbench.runner import Builder, run_benchmark
from rtbench.spec import VariantSpec, select


@dataclass(frozen=True)
class Checked:
    report: GateReport
    runs: tuple[dict, ...] = ()  # the current runs measured, in order: nothing measured is lost


def baseline_config(baseline: list[dict]) -> RunConfig:
    """The configuration to measure again with, as the baseline's first run was measured."""
    return RunConfig.from_record(baseline[0]["config"], "baseline")


def baseline_variants(baseline: list[dict], available: dict[str, VariantSpec]) -> list[str]:
    """The baseline's variants that still exist; one deleted since shows as missing."""
    names = dict.fromkeys(row["variant"] for row in baseline[0]["rows"])
    return [name for name in names if name in available]


def judge(baseline: list[dict], current: list[dict], settings: Settings = gate.DEFAULTS) -> Checked:
    """The gate over runs measured already, look by look as a live check would have looked."""
    report = None
    for n in range(1, len(current) + 1):
        report = gate.compare(baseline, current[:n], settings, report)
        if report.decided:
            break
    if report is None:
        raise gate.GateError("no current run to compare")
    return Checked(gate.stop(report, f"{len(current)} run(s) given"), tuple(current))


def run_check(
    baseline: list[dict],
    available: dict[str, VariantSpec],
    measure: Measure | None = None,
    settings: Settings = gate.DEFAULTS,
    build: Builder = build_model,
    clock: Callable[[], float] = time.monotonic,
) -> Checked:
    """Measure runs of the baseline's variants as the baseline was measured (with `measure`; by
    default `run_benchmark` with models made by `build`, in a process of its own) until the gate
    decides, settings.max_runs runs were measured, or the next run would end past
    settings.budget_s."""
    if measure is None:
        measure = measure_runs(available, build)
    gate.usable_baseline(baseline)  # an unusable baseline is refused before measuring
    names = baseline_variants(baseline, available)
    if not names:
        raise gate.GateError("none of the baseline's variants is among the variant files")
    cfg = baseline_config(baseline)
    runs: list[dict] = []
    report = None
    started = clock()
    while True:
        began = clock()
        # sizes are compared on the first run; the later ones time only
        runs.append(measure(names, cfg if not runs else cfg.with_(flops=False)))
        report = gate.compare(baseline, runs, settings, report)
        if report.decided:
            break
        if len(runs) >= settings.max_runs:
            report = gate.stop(report, f"{len(runs)} runs measured, the most a check makes")
            break
        if clock() - started + (clock() - began) > settings.budget_s:
            budget = settings.budget_s
            report = gate.stop(report, f"another run would end past the {budget:g} s budget")
            break
    return Checked(report, tuple(runs))


def measure_runs(available: dict[str, VariantSpec], build: Builder = build_model) -> Measure:
    """Runs of the named variants, each measured by `run_benchmark` with models made by `build`
    in a process of its own; `build` must pickle."""
    return in_own_process(partial(_measure, available, build))


def _measure(available: dict[str, VariantSpec], build: Builder, names: list[str],
             cfg: RunConfig) -> dict:  # fmt: skip
    return run_benchmark(select(available, names, cfg.base), cfg, build=build)
