"""What one benchmark run measures, declared once.

`RunConfig` is the single declaration of a run's settings. Each field carries its type, default,
limits and help text, and two tags:

- `compare`: what a difference in it means when two runs are compared (`Compare`): the work
  measured (runs are not comparable), the place (the gate needs the same machine; merged
  reports put places side by side), a note (said, not refused), or free (how long to sample).
- `sweep`: the grid key under which a sweep takes a list of values for it (sizes, batches, ...).

Everything else is read off this model, never restated: the options of `run`, `compare`,
`baseline` and `sweep` (rtbench.cli.options), the sweep grid's keys and flags
(rtbench.sweep.grid), validation with one-line errors, the `config` record of results.json
(`record` / `from_record`) and its JSON Schema, and the comparability rule the gate and the merged
reports share (`differences`). Adding a measuring option is one field here and the code that
uses it. Fields added later default to what runs did before they existed, so older records load
as what they measured.

Checks that need this machine or the registries (is CUDA there, is the runtime installed, the
smallest input a scope accepts) happen where those live: rtbench.runner.check_run. A runtime's
name is checked here (RUNTIME_NAMES), so that a typo is refused before torch is imported.
"""

import enum
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from rtbench.text import quote
from rtbench.validation import Loc, one_line

DTYPES = ("fp32", "fp16", "bf16")
SCOPES = ("encoder", "detector")
# The names --runtime takes, here so that a wrong one is refused before torch is imported; the
# registry (rtbench.runtimes, which imports torch) must name the same, in this order.
RUNTIME_NAMES = ("eager", "compile", "cuda-graphs", "onnxruntime", "openvino", "tensorrt",
                 "tensorrt-graphs")  # fmt: skip
# Upper bounds far past any real run (Table 3: 640, batch 1), so that a typo of a few extra zeros
# fails at once instead of after every model was built (or with an overflow deep in torch).
MAX_SIZE = 16384  # one 16k image through the detector needs tens of GB already
MAX_BATCH = 4096
MAX_THREADS = 1024  # torch takes a C int; no machine we measure on has more cores
MAX_CALLS = 100_000  # --warmup / --iters: a fixed count past this runs for days
MAX_MIN_TIME_S = 3600.0  # seconds of samples per variant; more would never end a run
MAX_SEED = 2**63 - 1  # torch.manual_seed takes a signed 64-bit value
MAX_NAME = 200  # a variant's name; longer is no name
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d{1,3})?")


class BenchError(Exception):
    """A configuration the run cannot go on with; the message is one line for the user."""


class Compare(str, enum.Enum):
    """What a difference in a setting means when two runs are set side by side."""

    WORK = "work"  # changes what one call computes or how it is paced: not comparable
    PLACE = "place"  # where it ran: the gate needs the same; merged reports compare places
    NOTE = "note"  # may differ; said beside the comparison
    FREE = "free"  # how the figures were sampled or what else was counted: no effect


TAGS = "x-rtbench"  # where the tags live in the JSON Schema (an extension keyword)
NEW = "new"  # validation context of a configuration to measure with, not one read from a record


def setting(
    default: Any,
    help: str,
    *,
    compare: Compare,
    flag: str | None = None,
    key: str | None = None,
    sweep: str | None = None,
    cli: bool = True,
    absent: Any = None,
    **limits: Any,
) -> Any:
    """A field of the run configuration: `flag` names its command-line option (default --name),
    `key` its key in a sweep grid file (default its name), `sweep` the grid key of a list of its
    values; `cli=False` keeps an internal setting off the command line; `absent` is what a
    record written before the field existed measured, where that is not the default."""
    tags = {"compare": compare.value, "flag": flag, "key": key, "sweep": sweep, "cli": cli,
            "absent": absent}  # fmt: skip
    return Field(default, description=help, json_schema_extra={TAGS: tags}, **limits)


def comma_list(value: object) -> object:
    """`--runtime eager,onnxruntime` and a YAML list read alike: text is split at commas, items
    stripped, empty ones dropped; anything else is left as it is."""
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


class _Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class TimingPlan(_Settings):
    """How many calls are made and timed per workload (rtbench.measure.timing)."""

    warmup: int = setting(3, "Warm-up calls at least; more until timings settle.",
                          compare=Compare.FREE, ge=0, le=MAX_CALLS)  # fmt: skip
    iters: int | None = setting(None, "Fixed timed calls per variant; overrides --min-time.",
                                compare=Compare.FREE, ge=1, le=MAX_CALLS)  # fmt: skip
    min_time_s: float = setting(2.0, "Seconds of timed calls per variant (adaptive).",
                                compare=Compare.FREE, flag="--min-time", key="min_time", gt=0,
                                le=MAX_MIN_TIME_S, allow_inf_nan=False)  # fmt: skip
    # Not on the command line: the adaptive plan's guard rails, recorded with every run.
    # 16, not 10: on 2 CPU cores a detector call takes 0.3-1 s, so min_iters sets the count, and
    # a 95% CI of a median of 10 calls spans its 2nd to 9th, of 16 its 4th to 13th.
    min_iters: int = setting(16, "Fewest samples (a median and its CI need some).",
                             compare=Compare.FREE, cli=False, ge=1)  # fmt: skip
    max_iters: int = setting(500, "Most samples (a fast model must not run for ever).",
                             compare=Compare.FREE, cli=False, ge=1)  # fmt: skip
    max_warmup_s: float | None = setting(None, "Warm-up time limit; None: min_time_s.",
                                         compare=Compare.FREE, cli=False, gt=0)  # fmt: skip
    settle_window: int = setting(4, "Warm-up has settled when two windows' medians agree...",
                                 compare=Compare.FREE, cli=False, ge=1)  # fmt: skip
    settle_tolerance: float = setting(0.05, "...within this fraction, and show no trend.",
                                      compare=Compare.FREE, cli=False, gt=0)  # fmt: skip


class RunConfig(_Settings):
    """What a run measures and how; see the module docstring."""

    scope: Literal["encoder", "detector"] = setting(
        "detector", "encoder (S3-S5 maps in) or detector (image in).", compare=Compare.WORK
    )
    device: str = setting(
        "auto", "cpu, cuda, cuda:N, or auto (cuda when available).", compare=Compare.PLACE
    )
    base: str | None = setting(
        None,
        "Apply the variants' encoder designs to this model (a family spec: rtdetr-r18), keeping "
        "its backbone, widths and decoder; the default is Table 3's RT-DETR-R50.",
        compare=Compare.WORK,
        min_length=1,
        max_length=MAX_NAME,
    )
    runtimes: Annotated[tuple[str, ...], BeforeValidator(comma_list), Field(strict=False)] = (
        setting(
            ("eager",),
            "Runtimes to time side by side, comma-separated (see `rtbench runtimes`).",
            compare=Compare.FREE,
            flag="--runtime",
            min_length=1,
        )
    )
    size: int = setting(
        640,
        "Input side in pixels, a multiple of 32.",
        compare=Compare.WORK,
        sweep="sizes",
        ge=32,
        le=MAX_SIZE,
        multiple_of=32,
    )
    batch: int = setting(
        1, "Batch size.", compare=Compare.WORK, sweep="batches", ge=1, le=MAX_BATCH
    )
    dtype: Literal["fp32", "fp16", "bf16"] = setting(
        "fp32", "fp32, or fp16 / bf16 (autocast in PyTorch).", compare=Compare.WORK, sweep="dtypes"
    )
    seed: int = setting(0, "Seed of weights and inputs.", compare=Compare.FREE, ge=0, le=MAX_SEED)
    threads: int | None = setting(
        None, "CPU threads (default: torch's choice).", compare=Compare.NOTE, ge=1, le=MAX_THREADS
    )
    deploy: bool = setting(
        False, "Fold BatchNorm and fuse RepVGG blocks first.", compare=Compare.WORK
    )
    channels_last: bool = setting(
        False, "channels_last memory format (PyTorch runtimes).", compare=Compare.WORK
    )
    flops: bool = setting(True, "Count FLOPs (fvcore, cross-checked).", compare=Compare.FREE)
    breakdown: bool = setting(
        False,
        "Also time each part alone, in the same rounds (eager, compile).",
        compare=Compare.FREE,
    )
    end_to_end: bool = setting(
        True,
        "Also time an image end to end: resize on the host, copy, the model, post-processing, "
        "results on the host (detector scope).",
        compare=Compare.FREE,
        absent=False,  # runs before this setting timed the forward pass only
    )
    gap_ms: float = setting(
        0.0,
        "Sleep between timed calls, ms (a 30 FPS camera: 33); untimed.",
        compare=Compare.WORK,
        sweep="gaps_ms",
        ge=0,
        le=60_000,
        allow_inf_nan=False,
    )
    allow_emulated: bool = setting(
        False,
        "Run a dtype this CPU only emulates (bf16 or fp16 without native units: 88-170x slower).",
        compare=Compare.FREE,
    )
    allow_mismatch: bool = setting(
        False,
        "Time an exported graph whose outputs disagree with PyTorch's (then marked).",
        compare=Compare.FREE,
    )
    timing: TimingPlan = Field(default_factory=TimingPlan, description="Samples per workload.")

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if not DEVICE_PATTERN.fullmatch(value):
            raise ValueError(f"unknown device {quote(value)}; use cpu, cuda, cuda:N or auto")
        return value

    @field_validator("runtimes")
    @classmethod
    def _known_runtimes_once(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"{','.join(value)}: a runtime is named twice")
        # Only a new configuration: a results file may name a runtime of another version.
        unknown = [name for name in value if name not in RUNTIME_NAMES]
        if unknown and (info.context or {}).get(NEW):
            raise ValueError(f"unknown runtime {quote(unknown[0])}; choose from "
                             f"{', '.join(RUNTIME_NAMES)}")  # fmt: skip
        return value

    # ------------------------------------------------------------------ making and recording

    @classmethod
    def make(cls, values: dict, where: Callable[[Loc], str] | None = None) -> "RunConfig":
        """A validated configuration, or BenchError in one line naming the flag at fault (or
        what `where` calls the field)."""
        try:
            return cls.model_validate(values, context={NEW: True})
        except ValidationError as err:
            raise BenchError(one_line(err, cls, where or flag_of, show_value=True)) from None

    def with_(self, **changes: Any) -> "RunConfig":
        """A copy with `changes`, validated (timing fields by their own names)."""
        timing = {k: changes.pop(k) for k in list(changes) if k in TimingPlan.model_fields}
        data = self.model_dump()
        data.update(changes)
        data["timing"] = {**data["timing"], **timing}
        return RunConfig.make(data)

    def record(self, threads: int | None = None) -> dict:
        """results.json's `config`: every field, with the thread count torch actually used."""
        data = self.model_dump(mode="json")
        if threads is not None:
            data["threads"] = threads
        return data

    @classmethod
    def from_record(cls, record: object, label: str = "results") -> "RunConfig":
        """The configuration a results document was measured with, to measure again alike;
        fields added since it was written take the values runs had before them, and keys no
        field declares (a retired setting) are left to the document."""
        if isinstance(record, dict):
            record = {k: v for k, v in record.items() if k in cls.model_fields}
            for name in cls.model_fields.keys() - record.keys():
                if name != "timing" and tag(name)["absent"] is not None:
                    record[name] = tag(name)["absent"]
            if isinstance(record.get("timing"), dict):
                known = TimingPlan.model_fields
                record["timing"] = {k: v for k, v in record["timing"].items() if k in known}
        try:
            return cls.model_validate(record, strict=False)
        except ValidationError as err:
            raise BenchError(f"{label}: config: {one_line(err, cls)}") from None


# ---------------------------------------------------------------------- reading the declaration


def tag(name: str, model: type[BaseModel] = RunConfig) -> dict:
    """The tags a field was declared with (compare, flag, key, sweep, cli)."""
    return dict((model.model_fields[name].json_schema_extra or {})[TAGS])


def flag_of(loc: Loc) -> str:
    """The command-line flag of a field, from its path in RunConfig: ("timing", "min_time_s")
    -> "--min-time"; what is not a field keeps its dotted path."""
    model: type[BaseModel] = RunConfig
    for part in loc:
        if not isinstance(part, str) or part not in model.model_fields:
            break
        if part == "timing":
            model = TimingPlan
            continue
        return tag(part, model).get("flag") or "--" + part.replace("_", "-")
    return ".".join(map(str, loc))


def fields(compare: Compare | None = None) -> list[tuple[str, type[BaseModel]]]:
    """Every setting as (name, the model declaring it), RunConfig's then TimingPlan's, in
    declaration order; only those tagged `compare` when given."""
    out = [(n, RunConfig) for n in RunConfig.model_fields if n != "timing"]
    out += [(n, TimingPlan) for n in TimingPlan.model_fields]
    return [(n, m) for n, m in out if compare is None or tag(n, m)["compare"] == compare]


def value_of(record: dict, name: str, model: type[BaseModel] = RunConfig) -> Any:
    return (record.get("timing") or {}).get(name) if model is TimingPlan else record.get(name)


def differences(a: dict, b: dict, *kinds: Compare) -> list[tuple[str, Any, Any]]:
    """(field, a's value, b's value) for each field of the given kinds that differs between two
    config records (results.json's `config`, as loaded: every field present)."""
    out = []
    for kind in kinds:
        for name, model in fields(kind):
            va, vb = value_of(a, name, model), value_of(b, name, model)
            if va != vb:
                out.append((name, va, vb))
    return out
