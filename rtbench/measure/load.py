"""How busy the machine was during a run: its load average per core before the run and after it,
the share of the CPU that other processes and the hypervisor (steal) took while timing, and how
much the calibration workload drifted within the run.

Latency on a shared machine is not the model's alone: with rtbench's threads on every core, any
other runnable thread makes one of them wait, and a parallel op waits for its slowest thread. A
busy machine made latencies 6-9x the idle figures and flipped two of section 5.2's claims; a
busy-loop neighbour moved single variants by up to 30% against the calibration (issue 11). With
fewer threads than cores (the gate's runs take one), the cores left spare absorb other work
first: only what they cannot take competes. The record says so in results.json; reports and the
gate word it (rtbench.report.vocabulary).
"""

import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Past these the machine was busy. Load and the others' CPU share are per core, so they read
# alike on 2 cores and on 64: a quarter means that, on average, one core in four ran someone
# else's work, so each of rtbench's threads (one per core) waited for a core often enough to
# move medians by several percent and single variants by tens of percent. With fewer threads
# than cores, the limit applies to what the spare cores could not take, per rtbench thread: a
# busy loop beside a one-thread run on 2 cores moved no variant by more than 2% (issue 24).
BUSY_LOAD_PER_CORE = 0.25
BUSY_OTHERS_CPU = 0.25
BUSY_STEAL = 0.05  # 5% of the CPU taken by the hypervisor for other guests: a shared host
_WHILE_TIMING = {"others_cpu_fraction", "steal_fraction"}  # measured while timing, not before
# Past these the calibration drifted: its median moved by more than 10% between the first and the
# last third of the run, or its IQR exceeds 10% of its median. The gate flags changes of 15%; a
# drift of 10% within one run uses up most of that (on an idle machine both stay at a few %).
DRIFT_RATIO = 0.10
DRIFT_SPREAD = 0.10


@dataclass(frozen=True)
class Snapshot:
    """The machine's counters at one moment."""

    wall_s: float
    load_1min: float | None  # os.getloadavg()[0]; None where the OS has none
    cpu_ticks: tuple[int, int, int] | None  # (all, idle + iowait, steal) of /proc/stat's "cpu"
    own_cpu_s: float  # CPU seconds of this process, every thread


def snapshot() -> Snapshot:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    try:
        ticks = parse_proc_stat(Path("/proc/stat").read_text())
    except OSError:
        ticks = None
    return Snapshot(time.monotonic(), load, ticks, usage.ru_utime + usage.ru_stime)


def parse_proc_stat(text: str) -> tuple[int, int, int] | None:
    """(all, idle + iowait, steal) ticks of the machine from /proc/stat's first line: user, nice,
    system, idle, iowait, irq, softirq, steal (guest time is already inside user and nice)."""
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu" and len(fields) >= 9:
            ticks = [int(x) for x in fields[1:9]]
            idle, iowait, steal = ticks[3], ticks[4], ticks[7]
            return sum(ticks), idle + iowait, steal
    return None


def load_record(
    start: Snapshot,
    timing_start: Snapshot,
    timing_end: Snapshot,
    calibration_ms: list[float],
    threads: int | None = None,
) -> dict:
    """results.json's `load`: load per core as the run started (before building anything) and as
    it ended; steal and the other processes' share of the CPU over the timing; calibration drift;
    the threads the run computed on. The load after the run includes the run's own threads; the
    CPU shares do not."""
    cores = os.cpu_count() or 1
    record = {
        "cpu_count": cores,
        "threads": threads,
        "load_per_core_before": _per_core(start.load_1min, cores),
        "load_per_core_after": _per_core(timing_end.load_1min, cores),
        "steal_fraction": None,
        "others_cpu_fraction": None,
        **calibration_drift(calibration_ms),
    }
    if timing_start.cpu_ticks and timing_end.cpu_ticks:
        before, after = timing_start.cpu_ticks, timing_end.cpu_ticks
        total, idle, steal = (b - a for a, b in zip(before, after, strict=True))
        if total > 0:
            own = (timing_end.own_cpu_s - timing_start.own_cpu_s) * os.sysconf("SC_CLK_TCK")
            record["steal_fraction"] = steal / total
            record["others_cpu_fraction"] = max(0.0, total - idle - steal - own) / total
    return record


def calibration_drift(samples_ms: list[float]) -> dict:
    """The calibration's median in the last third of its samples over that in the first third
    (samples are in round order), and its IQR over its median; None with fewer than 3 samples."""
    xs = np.asarray(samples_ms, dtype=float)
    third = len(xs) // 3
    if third < 1:
        return {"calibration_drift": None, "calibration_spread": None}
    p25, p50, p75 = np.percentile(xs, [25, 50, 75])
    return {
        "calibration_drift": float(np.median(xs[-third:]) / np.median(xs[:third])),
        "calibration_spread": float((p75 - p25) / p50),
    }


def busy_signs(record: dict | None) -> dict[str, float]:
    """The measures of a `load` record past their thresholds, by key: empty for a quiet run (or
    a document written before rtbench recorded load)."""
    record = record or {}
    limits = {
        "load_per_core_before": BUSY_LOAD_PER_CORE,
        "others_cpu_fraction": BUSY_OTHERS_CPU,
        "steal_fraction": BUSY_STEAL,
    }
    shares = {k: record.get(k) for k in limits}
    for key in ("load_per_core_before", "others_cpu_fraction"):  # steal takes from every vCPU
        shares[key] = competing_share(shares[key], record)
    signs = {k: record[k] for k, limit in limits.items() if (shares[k] or 0.0) > limit}
    if record.get("others_cpu_fraction") is not None and not signs.keys() & _WHILE_TIMING:
        # Measured while timing, nobody else ran: a high load as the run started was what ran
        # just before it (the previous command of a script), not contention.
        return {}
    return signs


def competing_share(share: float | None, record: dict) -> float | None:
    """Of other work's `share` of all cores, what competed with the run's threads, per thread:
    the part the cores it left spare could not take. With a thread on every core (or the threads
    not recorded, as before they were), the share itself."""
    cores, threads = record.get("cpu_count"), record.get("threads")
    if share is None or not cores or not threads or threads >= cores:
        return share
    return max(0.0, share * cores - (cores - threads)) / threads


def contention_signs(record: dict | None) -> dict[str, float]:
    """The busy signs measured while timing: other processes' CPU share and steal. Unlike the load
    average as a run starts, they exclude the run's own work and what ran just before it (a test
    suite, an earlier check), so the gate trusts these alone."""
    signs = busy_signs(record)
    return {k: v for k, v in signs.items() if k in _WHILE_TIMING}


def drift_signs(record: dict | None) -> dict[str, float]:
    """The calibration measures of a `load` record past their thresholds, by key."""
    record = record or {}
    signs = {}
    ratio, spread = record.get("calibration_drift"), record.get("calibration_spread")
    if ratio is not None and max(ratio, 1.0 / ratio) - 1.0 > DRIFT_RATIO:  # slower or faster
        signs["calibration_drift"] = ratio
    if spread is not None and spread > DRIFT_SPREAD:
        signs["calibration_spread"] = spread
    return signs


def _per_core(load: float | None, cores: int) -> float | None:
    return None if load is None else load / cores
