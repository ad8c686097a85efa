"""A sweep's grid: variants x the values of each sweep dimension (sizes, batches, dtypes, ...),
measured in the runtimes named, with the other measuring settings shared by every point.

The grid's keys are read off rtbench.config.RunConfig: each setting tagged `sweep` is a
dimension, a list under its grid key; every other setting of the command line is a key of its
own, as the flag of `rtbench compare` names it. The grid comes from a small YAML file (unknown
keys, wrong types and impossible values are one-line errors naming the file and the key), from
flags, or from both (a flag given on the command line overrides the file's key). Every point's
configuration is checked before any point is measured.

    variants: [A, C, E]            # default: every variant of variants_dir
    sizes: [320, 480, 640, 800]    # the dimensions; each defaults to `rtbench compare`'s value
    batches: [1, 4]
    dtypes: [fp32]
    runtimes: [eager]
    scope: detector                # and device, seed, threads, deploy, ... as the flags of
    min_time: 2.0                  # `rtbench compare`; variants_dir is relative to the file
"""

import itertools
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from rtbench import config
from rtbench.config import BenchError, RunConfig, TimingPlan, comma_list, tag
from rtbench.spec import DEFAULT_VARIANTS_DIR, SpecError, load_variants, select
from rtbench.sweep import SweepError
from rtbench.validation import dotted, one_line

# Point ids of every sweep folder name these dimensions, always (s640-b1-fp32); a dimension added
# since is named only where it leaves its default, so that older sweep folders keep their ids.
ALWAYS_IN_ID = {"size": "s{}", "batch": "b{}", "dtype": "{}"}


def dimensions() -> dict[str, str]:
    """Grid key -> the RunConfig field it lists values of, in declaration order."""
    return {tag(name)["sweep"]: name for name, model in config.fields()
            if model is RunConfig and tag(name)["sweep"]}  # fmt: skip


def settings() -> dict[str, tuple[str, type[BaseModel]]]:
    """Grid key -> (field, declaring model) of every other setting the command line offers."""
    out = {}
    for name, model in config.fields():
        t = tag(name, model)
        if t["cli"] and not t["sweep"]:
            out[t["key"] or name] = (name, model)
    return out


@cache
def grid_file_model() -> type[BaseModel]:
    """The keys of a grid file as a model (types only: values are checked as RunConfig's)."""
    lax = Field(strict=False)  # YAML gives lists where a tuple is declared
    fields: dict[str, Any] = {"variants": (Annotated[tuple[str, ...], lax], ("all",))}
    for key, name in dimensions().items():
        info = RunConfig.model_fields[name]
        fields[key] = (Annotated[tuple[info.annotation, ...], lax], (info.default,))
    for key, (name, model) in settings().items():
        info = model.model_fields[name]
        kind = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        fields[key] = (kind, info.default)
    fields["variants_dir"] = (str, str(DEFAULT_VARIANTS_DIR))
    return create_model("GridFile", __config__=ConfigDict(extra="forbid", strict=True), **fields)


@dataclass(frozen=True)
class Point:
    values: tuple[tuple[str, Any], ...]  # (field, value) per dimension, in declaration order

    def __getattr__(self, name: str) -> Any:
        """A dimension's value by its field's name: point.size."""
        for field_name, value in self.values:
            if field_name == name:
                return value
        raise AttributeError(name)

    @property
    def id(self) -> str:
        """The point's folder name: s640-b1-fp32 (and, say, -gap_ms200 off a default)."""
        parts = []
        for name, value in self.values:
            if name in ALWAYS_IN_ID:
                parts.append(ALWAYS_IN_ID[name].format(value))
            elif value != RunConfig.model_fields[name].default:
                parts.append(f"{name}{value:g}" if isinstance(value, float) else f"{name}{value}")
        return "-".join(parts)


@dataclass(frozen=True)
class Grid:
    variants: tuple[str, ...]  # resolved names, in the variants folder's order
    axes: dict[str, tuple]  # dimension field -> its values
    base: RunConfig  # every other setting; each point sets the dimensions
    variants_dir: Path
    points: tuple[Point, ...] = field(init=False)

    def __post_init__(self) -> None:
        names = list(self.axes)
        product = itertools.product(*self.axes.values())
        points = tuple(Point(tuple(zip(names, values, strict=True))) for values in product)
        object.__setattr__(self, "points", points)

    def point(self, point_id: str) -> Point:
        for point in self.points:
            if point.id == point_id:
                return point
        raise SweepError(f"no point {point_id!r} in this sweep")

    def config(self, point: Point) -> RunConfig:
        return self.base.with_(**dict(point.values))

    def swept(self) -> tuple[str, ...]:
        """Config keys that take more than one value in this grid."""
        return tuple(name for name, values in self.axes.items() if len(values) > 1)

    def record(self) -> dict:
        """The grid as JSON data (sweep.json); `from_record` reads it back."""
        base = self.base.record()
        for name in self.axes:
            base.pop(name)
        axes = {key: list(self.axes[name]) for key, name in dimensions().items()}
        return {"variants": list(self.variants), **axes, "variants_dir": str(self.variants_dir),
                "config": base}  # fmt: skip

    @classmethod
    def from_record(cls, record: dict) -> "Grid":
        """A grid from sweep.json; a dimension added since the sweep was made has its default."""
        axes = {name: tuple(record.get(key, [RunConfig.model_fields[name].default]))
                for key, name in dimensions().items()}  # fmt: skip
        base = RunConfig.from_record(record["config"], "sweep.json")
        return cls(tuple(record["variants"]), axes, base, Path(record["variants_dir"]))


def read_grid_file(path: Path) -> dict:
    """The keys a grid file sets (type-checked), with `variants_dir` made relative to the file."""
    where = str(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as err:
        raise SweepError(f"{where}: cannot read: {err.strerror}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise SweepError(f"{where}: malformed YAML{at}") from None
    if not isinstance(data, dict):
        raise SweepError(f"{where}: expected a mapping of grid keys")
    model = grid_file_model()
    try:
        parsed = model.model_validate(data)
    except ValidationError as err:
        raise SweepError(f"{where}: {one_line(err, model)}") from None
    values = {key: getattr(parsed, key) for key in data}
    if "variants_dir" in values:
        values["variants_dir"] = str(path.parent / values["variants_dir"])
    return values


def read_grid_flags(flags: dict, sources: dict[str, str]) -> dict:
    """The keys the command line sets (type-checked), as a grid file gives them: a list's text
    split at commas (config.comma_list), each item read as the key's type ("640" is 640)."""
    model = grid_file_model()
    listed = ("variants", *dimensions())
    data = {key: comma_list(value) if key in listed else value for key, value in flags.items()}
    try:
        parsed = model.model_validate(data, strict=False)  # text, unlike a YAML file's values
    except ValidationError as err:
        raise SweepError(one_line(err, model, lambda loc: _source(sources, loc))) from None
    return {key: getattr(parsed, key) for key in data}


def make_grid(
    values: dict, sources: dict[str, str], origin: str, slurm_gpus: int | None = None
) -> Grid:
    """Check `values` (grid keys; the others take their defaults) and build the grid.

    `sources` names where each key came from ("sweep.yaml: sizes", "--sizes") and `origin` the
    grid as a whole (the file, or "the command line"), for errors. Points are checked against
    this machine, unless `slurm_gpus` is given: then the jobs run elsewhere, only what does not
    depend on the machine is checked, and device auto means cuda when the jobs get GPUs.
    """
    model = grid_file_model()
    try:
        g = model.model_validate(values)
    except ValidationError as err:
        where = one_line(err, model, lambda loc: _source(sources, loc))
        raise SweepError(f"{origin}: {where}") from None
    for key in ("variants", *dimensions()):
        items = getattr(g, key)
        if not items:
            raise SweepError(f"{_source(sources, (key,))}: give at least one value")
        if len(set(items)) != len(items):
            raise SweepError(f"{_source(sources, (key,))}: a value is listed twice")
    try:
        specs = select(load_variants(Path(g.variants_dir)), list(g.variants))
    except SpecError as err:
        raise SweepError(f"{_source(sources, ('variants',))}: {err}") from None
    shared: dict[str, Any] = {"timing": {}}
    for key, (name, declared) in settings().items():
        (shared["timing"] if declared is TimingPlan else shared)[name] = getattr(g, key)
    if shared["device"] == "auto" and slurm_gpus is not None:
        shared["device"] = "cuda" if slurm_gpus else "cpu"
    base = _config(lambda: RunConfig.make(shared, lambda loc: _setting_source(sources, loc)))
    axes = {name: tuple(getattr(g, key)) for key, name in dimensions().items()}
    for key, name in dimensions().items():  # each value alone, before torch: the error names it
        for value in axes[name]:
            _config(lambda: base.with_(**{name: value}), _source(sources, (key,)))  # noqa: B023
    from rtbench.runner import check_run  # torch: after every check that does without it

    on_machine = slurm_gpus is None
    base = _config(lambda: check_run(base, on_machine), origin)  # auto resolved here
    for key, name in dimensions().items():  # each value alone: the error names its key
        for value in axes[name]:
            where = _source(sources, (key,))
            one = _config(lambda: base.with_(**{name: value}), where)  # noqa: B023
            _config(lambda: check_run(one, on_machine), where)  # noqa: B023
    grid = Grid(tuple(s.name for s in specs), axes, base, Path(g.variants_dir).resolve())
    for point in grid.points:  # combinations (fp16 on this CPU, say)
        _config(lambda: check_run(grid.config(point), on_machine), f"point {point.id}")  # noqa: B023
    return grid


def _config(make, where: str | None = None):
    try:
        return make()
    except BenchError as err:
        raise SweepError(f"{where}: {err}" if where else str(err)) from None


def _source(sources: dict[str, str], loc) -> str:
    return sources.get(loc[0], dotted(loc)) if loc else ""


def _setting_source(sources: dict[str, str], loc) -> str:
    """Where a setting of the shared configuration came from, by its RunConfig path."""
    for key, (name, _) in settings().items():
        if name in loc:
            return sources.get(key, config.flag_of(loc))
    return config.flag_of(loc)
