"""The results document (results.json): its schema, declared once as pydantic models, loading,
the upgrade of older versions, and the helpers readers share. Every module that writes or reads
a results document goes through here; docs/results.md documents the keys for users and
docs/results.schema.json (generated from these models, checked by a test) lets other tools
validate our files.

Documents travel through rtbench as JSON data (dicts, as in the file): reports, pandas and the
files all speak it. The models below are their one schema: `parse` validates a document against
them and returns it with its `config` complete (every field of rtbench.config.RunConfig). Keys
a model does not name are kept: nothing measured is lost.

Version history:
- rtbench.results/1: one PyTorch runtime per run, named by config booleans `compile` and
  `cuda_graphs`.
- rtbench.results/2: `config.runtimes` lists the runtimes timed side by side; every row names its
  `runtime` and records `runtime_settings`; rows are identified by (variant, runtime). A /1
  document is upgraded on load (its one runtime from the two booleans).
  Optional keys added since, absent from older /2 documents (which load unchanged):
  `config.breakdown` and each row's `latency_parts` (per-part latency, `--breakdown`), and `load`
  (how busy the machine was); later `config.end_to_end`, `gap_ms`, `allow_emulated`,
  `allow_mismatch`, each row's `latency_end_to_end` and `gpu_throttled_samples`, `protocol`,
  `gpu_while_timing`, and `environment.machine` / `environment.fingerprint`. A row whose exported
  graph disagreed with PyTorch was timed before; since, it is an error row unless allowed.
- rtbench.results/3: with end-to-end latency on (detector scope, no --breakdown), a row's forward
  latency is clocked around the model inside each end-to-end call (`forward_timed: "nested"`),
  not by calls of its own (`"separate"`); `peak` says how `peak_gflops_per_s` was measured (the
  best of several matmul shapes, before the timings; a /2 run timed one matmul after them); and
  `run_time` gives the run's wall time and its phases; later `peak.probe` (the fastest shape read
  through the timing rounds too; the peak is then the better reading), and each peak shape's
  `kernel` (a convolution among the shapes; absent: a matmul), and `peak` null where FLOPs were
  not counted (no peak measured). `config.base` and each
  row's `base` (`--base`: the model the variants' encoder designs were applied to; absent or
  null: Table 3's RT-DETR-R50, as every run before measured). A /2 document loads as it is, its
  rows read as `"separate"`, its `peak`, `run_time` and `base` absent.
"""

import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rtbench.config import BenchError, RunConfig
from rtbench.validation import Loc, dotted, one_line

SCHEMA = "rtbench.results/3"
SCHEMA_V2 = "rtbench.results/2"
SCHEMA_V1 = "rtbench.results/1"
# A run set: {"schema", "created", "runs": [results documents]}, the runs of one workload that a
# baseline holds (the gate compares runs, rtbench.gate); a single results.json reads as one run.
RUNS_SCHEMA = "rtbench.runs/1"
MAX_LATENCY_MS = 3.6e6  # an hour per call: beyond it a figure is corrupt, not slow

# Latency statistics per row, each as f"latency_{key}" (rtbench.measure.stats.summarize's keys).
LATENCY_STATS = ("median_ms", "ci95_low_ms", "ci95_high_ms", "p90_ms", "p95_ms", "p99_ms", "iqr_ms",
                 "mean_ms", "std_ms", "min_ms")  # fmt: skip


class ResultsError(BenchError):
    """A results document that cannot be used; the message is one line naming the file."""


Latency = Annotated[float, Field(gt=0, lt=MAX_LATENCY_MS, allow_inf_nan=False)]
Ratio = Annotated[float, Field(gt=0, allow_inf_nan=False)]  # a latency over another
Fraction = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Samples = Annotated[list[Latency], Field(min_length=1)]


class _Record(BaseModel):
    """Keys a model does not name are kept (a newer writer's, a runtime's own)."""

    model_config = ConfigDict(extra="allow")


class LatencyRecord(_Record):
    """A latency beside the row's forward one (a part timed alone, or the end-to-end call): its
    statistics and samples, or its error."""

    error: str | None = None
    median_ms: Latency | None = None  # ... and the other stats of rtbench.measure.stats
    ci95_low_ms: float | None = None
    ci95_high_ms: float | None = None
    samples: int | None = None
    samples_ms: Samples | None = None
    normalized: Ratio | None = None  # end to end: median over the calibration, round by round

    @model_validator(mode="after")
    def _measured_or_failed(self) -> "LatencyRecord":
        if self.error is None and (self.median_ms is None or self.samples_ms is None):
            raise ValueError("a part needs its median and samples, or its error")
        return self


class Row(_Record):
    """One (variant, runtime) of a run; figures that could not be measured are absent or null."""

    variant: str
    base: str | None = None  # `--base`: the model the variant's encoder design was applied to
    runtime: str
    status: Literal["ok", "error"]
    error: str | None = None
    runtime_settings: dict[str, Any] = {}
    description: str | None = None
    spec_file: str | None = None
    scope: str | None = None
    form: Literal["train", "deploy"] | None = None
    paper_ap: float | None = None
    paper_params_m: int | None = None
    paper_latency_ms: float | None = None
    params: int | None = None
    params_m: float | None = None
    params_parts: dict[str, int] | None = None
    gmacs: float | None = None
    gflops: float | None = None
    gmacs_parts: dict[str, float] | None = None
    gmacs_by_op: dict[str, float] | None = None
    gmacs_flop_counter: float | None = None
    flops_crosscheck_diff_pct: float | None = None
    flops_skipped_ops: dict[str, int] | None = None
    flops_uncounted_ops: dict[str, int] | None = None
    peak_memory_bytes: int | None = None
    latency_median_ms: Latency | None = None  # ... and the other LATENCY_STATS
    latency_ci95_low_ms: float | None = None
    latency_ci95_high_ms: float | None = None
    latency_p90_ms: float | None = None
    latency_p95_ms: float | None = None  # absent from documents written before it was reported
    latency_p99_ms: float | None = None
    latency_iqr_ms: float | None = None
    latency_mean_ms: float | None = None
    latency_std_ms: float | None = None
    latency_min_ms: float | None = None
    latency_samples: int | None = None
    latency_samples_ms: Samples | None = None
    latency_warmup_ms: list[float] | None = None
    latency_normalized: Ratio | None = None  # median of the samples over the calibration's
    latency_normalized_samples: Annotated[list[Ratio], Field(min_length=1)] | None = None
    achieved_gflops_per_s: float | None = None
    peak_fraction: float | None = None
    latency_parts: dict[str, LatencyRecord] | None = None  # --breakdown: part -> latency
    latency_end_to_end: LatencyRecord | None = None  # detector scope: a frame to detections
    gpu_throttled_samples: int | None = None  # NVML samples throttled while this row timed
    # how the forward latency was clocked: inside each end-to-end call, or by calls of its own
    forward_timed: Literal["nested", "separate"] = "separate"

    @model_validator(mode="after")
    def _ok_rows_were_timed(self) -> "Row":
        if self.status == "ok":
            for key in ("latency_samples_ms", "latency_normalized_samples"):
                if getattr(self, key) is None:
                    raise ValueError(f"an ok row needs {key}")
        return self


class Calibration(_Record):
    name: str  # bumped whenever the workload changes: runs normalized differently never compare
    median_ms: Latency
    samples_ms: Samples | None = None


class LoadRecord(_Record):
    """How busy the machine was (rtbench.measure.load); a figure the OS does not report is null."""

    cpu_count: int | None = None
    threads: int | None = None  # the run's compute threads (absent before: one per core)
    load_per_core_before: Fraction | None = None  # 1-minute load / cores, as the run started
    load_per_core_after: Fraction | None = None  # same as it ended, the run's threads included
    steal_fraction: Fraction | None = None  # CPU time the hypervisor gave others, while timing
    others_cpu_fraction: Fraction | None = None  # CPU time other processes used, while timing
    calibration_drift: Fraction | None = None  # calibration median, last third / first third
    calibration_spread: Fraction | None = None  # calibration IQR / median


class PeakShape(_Record):
    """An m x k by k x n product; with a `kernel`, the convolution it stands for (m pixels, k =
    channels in x kernel^2, n channels out); absent or null: a matmul (every run before)."""

    m: int
    k: int
    n: int
    kernel: int | None = None
    gflops_per_s: Annotated[float, Field(gt=0)]


class PeakProbe(PeakShape):
    """The fastest shape, called through the timing rounds: its fastest call's rate."""

    calls: Annotated[int, Field(ge=1)]


class PeakRecord(_Record):
    """How `peak_gflops_per_s` was measured (rtbench.measure.peak)."""

    gflops_per_s: Annotated[float, Field(gt=0)]
    dtype: str
    threads: int | None = None  # CPU threads (None on CUDA)
    repeats: int
    shapes: list[PeakShape]
    probe: PeakProbe | None = None  # absent: read before the timing only
    when: str
    method: str


class RunTime(_Record):
    """The run's wall time, from its start to its results, and its phases (measure.phases)."""

    wall_s: Annotated[float, Field(ge=0)]
    phases_s: dict[str, Annotated[float, Field(ge=0)]]


class ResultsDocument(_Record):
    """results.json."""

    # a /2 document is a valid /3 one: /3 only added optional keys
    schema_: Literal["rtbench.results/3", "rtbench.results/2"] = Field(SCHEMA, alias="schema")
    run_id: str | None = None
    created: str  # ISO-8601, UTC
    config: RunConfig
    environment: dict[str, Any]
    calibration: Calibration
    peak_gflops_per_s: float | None = None
    load: LoadRecord | None = None  # absent from documents written before it was recorded
    peak: PeakRecord | None = None  # since /3
    run_time: RunTime | None = None  # since /3
    protocol: dict[str, Any] | None = None  # what was timed, and how: rtbench.measure.protocol
    gpu_while_timing: dict[str, Any] | None = None  # NVML: clocks, power, throttled samples
    rows: list[Row]

    @model_validator(mode="after")
    def _rows_once(self) -> "ResultsDocument":
        seen = set()
        for row in self.rows:
            if (row.variant, row.runtime) in seen:
                raise ValueError(f"row ({row.variant}, {row.runtime}) appears twice")
            seen.add((row.variant, row.runtime))
        return self


def json_schema() -> dict:
    """The JSON Schema of results.json (docs/results.schema.json is this, written out)."""
    schema = ResultsDocument.model_json_schema(by_alias=True)
    schema["$id"] = f"https://rtbench.dev/schemas/{SCHEMA}.json"  # names the version it checks
    return schema


# ------------------------------------------------------------------------------ reading


def row_key(row: dict) -> tuple[str, str]:
    return row["variant"], row["runtime"]


def ok_rows(document: dict, runtime: str | None = None) -> list[dict]:
    """Rows that ran, in run order; of one runtime when given."""
    return [r for r in document["rows"]
            if r["status"] == "ok" and (runtime is None or r["runtime"] == runtime)]  # fmt: skip


def runtimes_of(document: dict) -> list[str]:
    """The runtimes of a run, in the order they were asked for."""
    return list(document["config"]["runtimes"])


def latency_fields(stats: dict, samples_ms: list[float], warmup_ms: list[float]) -> dict:
    """A row's latency keys from a `summarize` record and the raw samples."""
    return {
        **{f"latency_{key}": stats[key] for key in LATENCY_STATS},
        "latency_samples": stats["samples"],
        "latency_samples_ms": samples_ms,
        "latency_warmup_ms": warmup_ms,
    }


def is_number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


# ------------------------------------------------------------------------------ loading


def load_results(path: str | Path) -> dict:
    """Read, upgrade and validate a results.json; ResultsError with one line if unusable."""
    return parse(_read_json(Path(path)), str(path))


def run_set(documents: list[dict], created: str) -> dict:
    """Several runs of one workload in one file (RUNS_SCHEMA: a baseline of the gate), each run a
    results document as it was measured."""
    return {"schema": RUNS_SCHEMA, "created": created, "runs": documents}


def load_runs(path: str | Path) -> list[dict]:
    """The runs of a run set, or of a results.json (one run), each upgraded and validated;
    ResultsError with one line if unusable."""
    data = _read_json(Path(path))
    if not isinstance(data, dict) or data.get("schema") != RUNS_SCHEMA:
        return [parse(data, str(path))]
    runs = data.get("runs")
    if not isinstance(runs, list) or not runs:
        raise ResultsError(f"{path}: a run set without runs")
    return [parse(run, f"{path} run {i}") for i, run in enumerate(runs, 1)]


def _read_json(path: Path) -> object:
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
    return document


def _reject_constant(name: str):
    raise ValueError(f"not a results file: JSON has {name}, which rtbench never writes")


def parse(document: object, label: str = "results") -> dict:
    """The document upgraded to the current schema and validated, with its config complete;
    ResultsError naming the first problem, in one line."""
    document = upgrade(document, label)
    try:
        config = RunConfig.from_record(document.get("config"), label)
    except BenchError as err:
        raise ResultsError(str(err)) from None
    try:
        checked = ResultsDocument.model_validate({**document, "config": config})
    except ValidationError as err:
        where = lambda loc: _where(document, loc)  # noqa: E731
        raise ResultsError(f"{label}: {one_line(err, ResultsDocument, where, True)}") from None
    return {**document, "config": {**document["config"], **checked.config.record()}}


def _where(document: dict, loc: Loc) -> str:
    """rows[3] (E, eager).latency_samples_ms[0]: a row named by its variant and runtime."""
    if len(loc) >= 2 and loc[0] == "rows" and isinstance(loc[1], int):
        row = document["rows"][loc[1]]
        named = f"rows[{loc[1]}]"
        if isinstance(row, dict):
            named += f" ({row.get('variant')}, {row.get('runtime')})"
        rest = dotted(loc[2:])
        return f"{named} {rest}" if rest else named
    return dotted(loc)


def upgrade(document: object, label: str = "results") -> dict:
    """The document in the current schema; older versions are converted, newer ones refused."""
    if not isinstance(document, dict):
        raise ResultsError(f"{label}: not a results document (expected a JSON object)")
    schema = document.get("schema")
    if schema == SCHEMA:
        return document
    if schema == SCHEMA_V2:  # what /3 added is optional; its forward rows were timed separately
        return {**document, "schema": SCHEMA}
    if schema == SCHEMA_V1:
        return _upgrade_v1(document, label)
    known = ", ".join(repr(s) for s in (SCHEMA, SCHEMA_V2, SCHEMA_V1))
    raise ResultsError(f"{label}: schema is {_short(schema)}, expected one of {known}")


def _upgrade_v1(document: dict, label: str) -> dict:
    config = document.get("config")
    rows = document.get("rows")
    if not isinstance(config, dict) or not isinstance(rows, list):
        raise ResultsError(f"{label}: missing 'config' or 'rows'")
    config = dict(config)
    compiled, graphs = config.pop("compile", False), config.pop("cuda_graphs", False)
    runtime = "cuda-graphs" if graphs else "compile" if compiled else "eager"
    config["runtimes"] = [runtime]
    torch_version = (document.get("environment") or {}).get("torch")
    settings = {"version": torch_version, "upgraded_from": SCHEMA_V1}
    rows = [{**r, "runtime": runtime, "runtime_settings": settings} if isinstance(r, dict) else r
            for r in rows]  # fmt: skip
    return {**document, "schema": SCHEMA, "config": config, "rows": rows}  # /2 loads as /3


def _short(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
