"""The runs the gate compares (rtbench.gate): a baseline's and a check's, each a results document
measured in a process of its own. Here they are validated (sizes where the gate compares them,
the same work on the same kind of device) and reduced to the gate's figures: per run and row, the
log of the median calibration-normalized latency, and the same against the run's other variants.
"""

import math
import statistics
from statistics import median

from rtbench import config, results
from rtbench.config import Compare
from rtbench.measure.load import contention_signs
from rtbench.measure.stats import MeanSquares
from rtbench.results import ResultsError

MIN_BASELINE_RUNS = 3  # below it the run-to-run spread is not known enough to judge anything
MIN_OTHERS = 3  # the median of 3 others holds when one of them changed


class GateError(ResultsError):
    """Input the gate cannot compare; the message is one line meant for the user."""


def usable(document: dict, label: str, sized: bool = True) -> dict:
    """The document upgraded and validated, with what the gate needs beyond a valid document:
    where `sized` (the first run of a side: the later ones time only), sizes in every row that
    ran."""
    document = results.parse(document, label)
    for row in results.ok_rows(document) if sized else ():
        if not isinstance(row.get("params"), int) or not results.is_number(row.get("gmacs")):
            raise GateError(f"{label}: {row['variant']} ({row['runtime']}): needs integer "
                            "'params' and numeric 'gmacs' (count FLOPs)")  # fmt: skip
    return document


def usable_baseline(runs: list[dict], label: str = "baseline") -> list[dict]:
    """The baseline's runs, validated: enough of them, measured alike."""
    if len(runs) < MIN_BASELINE_RUNS:
        raise GateError(f"{label}: {len(runs)} run(s); the gate compares runs and needs "
                        f"{MIN_BASELINE_RUNS}: remake it with `rtbench baseline`")  # fmt: skip
    runs = [usable(r, f"{label} run {i}", i == 1) for i, r in enumerate(runs, 1)]
    for i, run in enumerate(runs[1:], 2):
        check_comparable(runs[0], run, f"{label} run {i}")
    return runs


def levels(runs: list[dict]) -> dict[tuple[str, str], float]:
    """Each row's level over `runs` (the baseline's): the mean of its runs' log normalized
    medians."""
    own = [_log_medians(run) for run in runs]
    keys = {key for figure in own for key in figure}
    return {key: statistics.fmean(f[key] for f in own if key in f) for key in keys}


def figures(runs: list[dict], level: dict[tuple[str, str], float]) -> list[tuple[dict, dict]]:
    """Each run's figures per row key: its log normalized median; and the same less the run's
    shift, the median over the run's other variants of that runtime of their figure less their
    `level` (with MIN_OTHERS others). Taken against levels, a variant that got faster moves that
    median by little; against raw figures it would move it to the next variant's level and make
    the others look slower."""
    out = []
    for run in runs:
        own = _log_medians(run)
        others = {}
        for key, value in own.items():
            rest = [v - level[k] for k, v in own.items()
                    if k != key and k[1] == key[1] and k in level]  # fmt: skip
            if len(rest) >= MIN_OTHERS:
                others[key] = value - median(rest)
        out.append((own, others))
    return out


def _log_medians(run: dict) -> dict[tuple[str, str], float]:
    return {results.row_key(r): math.log(median(r["latency_normalized_samples"]))
            for r in results.ok_rows(run)}  # fmt: skip


def check_comparable(baseline: dict, current: dict, label: str) -> tuple:
    """GateError if the runs measured different work or on another device; the config that may
    differ (rtbench.config's NOTE fields) and does, to be said beside the verdicts."""
    for key, b, c in config.differences(baseline["config"], current["config"], Compare.WORK,
                                         Compare.PLACE):  # fmt: skip
        raise GateError(f"{label}: config {key} differs (baseline {b!r}, {c!r}): not comparable")
    b_cal, c_cal = baseline["calibration"]["name"], current["calibration"]["name"]
    if b_cal != c_cal:
        raise GateError(f"{label}: calibration differs (baseline {b_cal!r}, {c_cal!r}): "
                        "remake the baseline")  # fmt: skip
    return tuple(config.differences(baseline["config"], current["config"], Compare.NOTE))


def mean_squares(figs: list[tuple[dict, dict]], keys: list[tuple],
                 part: int) -> dict[str, tuple[frozenset, MeanSquares]]:  # fmt: skip
    """Per runtime, the mean squares of the table of one contrast's figures (`part` 0: against
    the calibration, 1: against the others) over its rows that every run has
    (rtbench.measure.stats.MeanSquares), and those rows: a run's spread is estimated from all of
    them at once."""
    out = {}
    for runtime in {k[1] for k in keys}:
        rows = [k for k in keys if k[1] == runtime and all(k in f[part] for f in figs)]
        if rows and len(figs) >= 2:
            table = [[f[part][k] for k in rows] for f in figs]
            out[runtime] = frozenset(rows), MeanSquares.of(table)
    return out


def pooled_table(tables: dict[str, tuple[frozenset, MeanSquares]], key: tuple,
                 values: list[float]) -> MeanSquares | None:  # fmt: skip
    """The mean squares that hold this row's `values` (mean_squares), or None where the row is
    not in every run's table (its own variance is used then)."""
    rows, table = tables.get(key[1], ((), None))
    return table if key in rows and table.n == len(values) else None


def busy_runs(runs: list[dict]) -> tuple[int, ...]:
    """The runs (1-based) that other work contended while they timed."""
    return tuple(i for i, r in enumerate(runs, 1) if contention_signs(r.get("load")))


def calibration_median(runs: list[dict], left_out: tuple[int, ...] = ()) -> float:
    """The median over `runs` (but the 1-based `left_out`) of their calibration medians."""
    return median(r["calibration"]["median_ms"] for i, r in enumerate(runs, 1) if i not in left_out)
