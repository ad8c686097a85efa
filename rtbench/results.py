"""The results document (results.json): its schema, the keys other modules read, loading,
validation, and the upgrade of older versions. Every module that writes or reads a results
document goes through here; README.md ("Results files") documents the keys for users.

Version history:
- rtbench.results/1: one PyTorch runtime per run, named by config booleans `compile` and
  `cuda_graphs`.
- rtbench.results/2: `config.runtimes` lists the runtimes timed side by side; every row names its
  `runtime` and records `runtime_settings`; rows are identified by (variant, runtime). A /1
  document is upgraded on load (its one runtime from the two booleans).
  Optional keys added since, absent from older /2 documents (which load unchanged):
  `config.breakdown` and each row's `latency_parts` (per-part latency, `--breakdown`), and `load`
  (how busy the machine was).
"""

import json
import math
from pathlib import Path
from typing import Any, TypedDict

SCHEMA = "rtbench.results/2"
SCHEMA_V1 = "rtbench.results/1"
MAX_LATENCY_MS = 3.6e6  # an hour per call: beyond it a figure is corrupt, not slow

# Latency statistics per row, each as f"latency_{key}" (rtbench.measure.stats.summarize's keys).
LATENCY_STATS = ("median_ms", "ci95_low_ms", "ci95_high_ms", "p90_ms", "p99_ms", "iqr_ms",
                 "mean_ms", "std_ms", "min_ms")  # fmt: skip


class ResultsError(Exception):
    """A results document that cannot be used; the message is one line naming the file."""


class TimingRecord(TypedDict):
    warmup: int
    iters: int | None
    min_time_s: float
    min_iters: int
    max_iters: int
    max_warmup_s: float | None
    settle_window: int
    settle_tolerance: float


class ConfigRecord(TypedDict):
    scope: str
    device: str
    dtype: str
    size: int
    batch: int
    seed: int
    threads: int  # the thread count torch actually used
    deploy: bool
    channels_last: bool
    runtimes: list[str]
    flops: bool
    timing: TimingRecord


class PartLatency(TypedDict, total=False):
    """One part of a model timed alone (`--breakdown`): `error` is None, or the only key set."""

    median_ms: float  # ... and the other stats of rtbench.measure.stats.summarize
    ci95_low_ms: float
    ci95_high_ms: float
    samples: int
    samples_ms: list[float]
    error: str | None


class Row(TypedDict, total=False):
    """One (variant, runtime) of a run; figures that could not be measured are None."""

    variant: str
    runtime: str
    runtime_settings: dict[str, Any]
    description: str
    spec_file: str
    status: str  # ok | error
    error: str | None
    scope: str
    form: str  # train | deploy
    paper_ap: float | None
    paper_params_m: int | None
    paper_latency_ms: float | None
    params: int
    params_m: float
    params_parts: dict[str, int]
    gmacs: float
    gflops: float
    gmacs_parts: dict[str, float]
    gmacs_by_op: dict[str, float]
    gmacs_flop_counter: float
    flops_crosscheck_diff_pct: float
    flops_skipped_ops: dict[str, int]
    flops_uncounted_ops: dict[str, int]
    peak_memory_bytes: int | None
    latency_median_ms: float  # ... and the other LATENCY_STATS
    latency_samples: int
    latency_samples_ms: list[float]
    latency_warmup_ms: list[float]
    latency_normalized: float
    latency_normalized_samples: list[float]
    achieved_gflops_per_s: float | None
    peak_fraction: float | None
    latency_parts: dict[str, PartLatency]  # with --breakdown: part label -> its latency


class LoadRecord(TypedDict):
    """How busy the machine was (rtbench.measure.load); a figure the OS does not report is None."""

    cpu_count: int
    load_per_core_before: float | None  # 1-minute load average / cores, as the run started
    load_per_core_after: float | None  # same as it ended, the run's own threads included
    steal_fraction: float | None  # CPU time the hypervisor gave other guests, while timing
    others_cpu_fraction: float | None  # CPU time other processes used, while timing
    calibration_drift: float | None  # calibration median, last third of the run / first third
    calibration_spread: float | None  # calibration IQR / median


class _RequiredKeys(TypedDict):
    schema: str
    run_id: str | None
    created: str  # ISO-8601, UTC
    config: ConfigRecord
    environment: dict[str, Any]
    calibration: dict[str, Any]
    peak_gflops_per_s: float
    rows: list[Row]


class Document(_RequiredKeys, total=False):
    load: LoadRecord  # absent from documents written before it was recorded


def latency_fields(stats: dict, samples_ms: list[float], warmup_ms: list[float]) -> dict:
    """A row's latency keys from a `summarize` record and the raw samples."""
    return {
        **{f"latency_{key}": stats[key] for key in LATENCY_STATS},
        "latency_samples": stats["samples"],
        "latency_samples_ms": samples_ms,
        "latency_warmup_ms": warmup_ms,
    }


def row_key(row: Row) -> tuple[str, str]:
    return row["variant"], row["runtime"]


def ok_rows(document: Document, runtime: str | None = None) -> list[Row]:
    """Rows that ran, in run order; of one runtime when given."""
    return [r for r in document["rows"]
            if r["status"] == "ok" and (runtime is None or r["runtime"] == runtime)]  # fmt: skip


def runtimes_of(document: Document) -> list[str]:
    """The runtimes of a run, in the order they were asked for."""
    return list(document["config"]["runtimes"])


# ------------------------------------------------------------------------------ loading


def load_results(path: str | Path) -> Document:
    """Read, upgrade and validate a results.json; ResultsError with one line if unusable."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such results file") from None
    except IsADirectoryError:
        raise ResultsError(f"{path}: is a folder, not a results file") from None
    except UnicodeDecodeError:
        raise ResultsError(f"{path}: not a results file (not UTF-8 text)") from None
    except OSError as err:
        raise ResultsError(f"{path}: cannot read ({err.strerror})") from None
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as err:
        raise ResultsError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None
    except ValueError as err:
        raise ResultsError(f"{path}: {err}") from None
    return validate(upgrade(document, str(path)), str(path))


def _reject_constant(name: str):
    raise ValueError(f"not a results file: JSON has {name}, which rtbench never writes")


def upgrade(document: object, label: str = "results") -> Document:
    """The document in the current schema; older versions are converted, newer ones refused."""
    if not isinstance(document, dict):
        raise ResultsError(f"{label}: not a results document (expected a JSON object)")
    schema = document.get("schema")
    if schema == SCHEMA:
        return document
    if schema == SCHEMA_V1:
        return _upgrade_v1(document, label)
    raise ResultsError(f"{label}: schema is {_short(schema)}, expected {SCHEMA!r} or {SCHEMA_V1!r}")


def _upgrade_v1(document: dict, label: str) -> Document:
    config = document.get("config")
    rows = document.get("rows")
    if not isinstance(config, dict) or not isinstance(rows, list):
        raise ResultsError(f"{label}: missing 'config' or 'rows'")
    config = dict(config)
    compiled, graphs = config.pop("compile", False), config.pop("cuda_graphs", False)
    runtime = "cuda-graphs" if graphs else "compile" if compiled else "eager"
    config["runtimes"] = [runtime]
    config.setdefault("channels_last", False)
    torch_version = (document.get("environment") or {}).get("torch")
    settings = {"version": torch_version, "upgraded_from": SCHEMA_V1}
    rows = [{**r, "runtime": runtime, "runtime_settings": settings} if isinstance(r, dict) else r
            for r in rows]  # fmt: skip
    return {**document, "schema": SCHEMA, "config": config, "rows": rows}


def validate(document: dict, label: str = "results") -> Document:
    """Check what readers rely on; ResultsError naming the first problem, in one line."""
    config = document.get("config")
    if not isinstance(config, dict):
        raise ResultsError(f"{label}: missing 'config'")
    for key in ("scope", "device", "dtype", "size", "batch", "deploy", "runtimes"):
        if key not in config:
            raise ResultsError(f"{label}: config lacks {key!r}")
    if not isinstance(config["runtimes"], list) or not all(
        isinstance(r, str) for r in config["runtimes"]
    ):
        raise ResultsError(f"{label}: config runtimes must be a list of names")
    calibration = document.get("calibration")
    if not isinstance(calibration, dict) or not isinstance(calibration.get("name"), str):
        raise ResultsError(f"{label}: missing 'calibration' or its 'name'")
    if not _latency(calibration.get("median_ms")):
        raise ResultsError(f"{label}: calibration median_ms must be a positive latency")
    load = document.get("load", {})
    if not isinstance(load, dict) or not all(
        load.get(key) is None or (is_number(load[key]) and load[key] >= 0)
        for key in LoadRecord.__annotations__
    ):
        raise ResultsError(f"{label}: 'load' must map its keys to non-negative numbers or null")
    rows = document.get("rows")
    if not isinstance(rows, list):
        raise ResultsError(f"{label}: missing 'rows' list")
    seen: set[tuple[str, str]] = set()
    for i, row in enumerate(rows):
        _validate_row(row, f"{label}: row {i}", seen)
    return document


def _validate_row(row: object, where: str, seen: set) -> None:
    if not isinstance(row, dict) or not isinstance(row.get("variant"), str):
        raise ResultsError(f"{where} has no 'variant'")
    if not isinstance(row.get("runtime"), str):
        raise ResultsError(f"{where} has no 'runtime'")
    where = f"{where} ({_short(row['variant'])}, {_short(row['runtime'])})"
    if row_key(row) in seen:
        raise ResultsError(f"{where} appears twice")
    seen.add(row_key(row))
    if row.get("status") not in ("ok", "error"):
        raise ResultsError(f"{where}: status must be 'ok' or 'error'")
    if row["status"] == "error":
        return
    for key in ("latency_samples_ms", "latency_normalized_samples"):
        samples = row.get(key)
        if not isinstance(samples, list) or not samples or not all(map(_latency, samples)):
            raise ResultsError(
                f"{where}: {key!r} must be a non-empty list of positive, finite latencies"
            )
    _validate_parts(row.get("latency_parts", {}), where)


def _validate_parts(parts: object, where: str) -> None:
    if not isinstance(parts, dict):
        raise ResultsError(f"{where}: 'latency_parts' must map part names to latencies")
    for label, part in parts.items():
        if not isinstance(part, dict):
            raise ResultsError(f"{where}: part {_short(label)} must be an object")
        if part.get("error") is not None:
            continue
        samples = part.get("samples_ms")
        if not _latency(part.get("median_ms")) or not isinstance(samples, list) or not samples:
            raise ResultsError(f"{where}: part {_short(label)} needs a median and its samples")
        if not all(map(_latency, samples)):
            raise ResultsError(f"{where}: part {_short(label)} has an impossible latency sample")


def is_number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _latency(x: object) -> bool:
    return is_number(x) and 0 < x < MAX_LATENCY_MS


def _short(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
