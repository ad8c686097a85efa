"""A sweep's grid: variants x sizes x batches x dtypes, measured in the runtimes named, with the
other measuring settings shared by every point.

The grid comes from a small YAML file (checked like a variant spec: unknown keys, wrong types and
impossible values are one-line errors naming the file and the field), from flags, or from both
(a flag given on the command line overrides the file's key). Every point's configuration is
checked before any point is measured.

    variants: [A, C, E]            # default: every variant of variants_dir
    sizes: [320, 480, 640, 800]
    batches: [1, 4]
    dtypes: [fp32]
    runtimes: [eager]
    scope: detector                # and device, seed, threads, deploy, channels_last, flops,
    min_time: 2.0                  # breakdown, warmup, iters, min_time, variants_dir (relative
                                   # to the file), as the flags of `rtbench compare`
"""

import dataclasses
import itertools
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from rtbench.config import BenchConfig, BenchError, check_config, check_settings
from rtbench.measure.timing import TimingPlan
from rtbench.spec import DEFAULT_VARIANTS_DIR, SpecError, load_variants, parse_fields, select
from rtbench.sweep import SweepError

_CONFIG, _TIMING = BenchConfig(), TimingPlan()
DIMENSIONS = {"sizes": "size", "batches": "batch", "dtypes": "dtype"}  # grid key -> config key


@dataclass(frozen=True)
class GridFile:
    """The keys of a grid file, with the defaults of `rtbench compare`."""

    variants: tuple[str, ...] = ("all",)
    sizes: tuple[int, ...] = (_CONFIG.size,)
    batches: tuple[int, ...] = (_CONFIG.batch,)
    dtypes: tuple[str, ...] = (_CONFIG.dtype,)
    runtimes: tuple[str, ...] = _CONFIG.runtimes
    scope: str = _CONFIG.scope
    device: str = "auto"  # cuda when this machine (or, on SLURM, the job) has a GPU
    seed: int = _CONFIG.seed
    threads: int | None = _CONFIG.threads
    deploy: bool = _CONFIG.deploy
    channels_last: bool = _CONFIG.channels_last
    flops: bool = _CONFIG.flops
    breakdown: bool = _CONFIG.breakdown
    warmup: int = _TIMING.warmup
    iters: int | None = _TIMING.iters
    min_time: float = _TIMING.min_time_s
    variants_dir: str = str(DEFAULT_VARIANTS_DIR)


@dataclass(frozen=True)
class Point:
    size: int
    batch: int
    dtype: str

    @property
    def id(self) -> str:
        """The point's folder name: s640-b1-fp32."""
        return f"s{self.size}-b{self.batch}-{self.dtype}"


@dataclass(frozen=True)
class Grid:
    variants: tuple[str, ...]  # resolved names, in the variants folder's order
    sizes: tuple[int, ...]
    batches: tuple[int, ...]
    dtypes: tuple[str, ...]
    base: BenchConfig  # everything but size, batch and dtype, which each point sets
    variants_dir: Path
    points: tuple[Point, ...] = field(init=False)

    def __post_init__(self) -> None:
        product = itertools.product(self.sizes, self.batches, self.dtypes)
        object.__setattr__(self, "points", tuple(Point(*p) for p in product))

    def point(self, point_id: str) -> Point:
        for point in self.points:
            if point.id == point_id:
                return point
        raise SweepError(f"no point {point_id!r} in this sweep")

    def config(self, point: Point) -> BenchConfig:
        return replace(self.base, size=point.size, batch=point.batch, dtype=point.dtype)

    def swept(self) -> tuple[str, ...]:
        """Config keys that take more than one value in this grid: size, batch, dtype."""
        return tuple(key for name, key in DIMENSIONS.items() if len(getattr(self, name)) > 1)

    def record(self) -> dict:
        """The grid as JSON data (sweep.json); `from_record` reads it back."""
        base = dataclasses.asdict(self.base)
        for key in DIMENSIONS.values():
            base.pop(key)
        base["runtimes"] = list(self.base.runtimes)
        return {"variants": list(self.variants), "sizes": list(self.sizes),
                "batches": list(self.batches), "dtypes": list(self.dtypes),
                "variants_dir": str(self.variants_dir), "config": base}  # fmt: skip

    @classmethod
    def from_record(cls, record: dict) -> "Grid":
        config = dict(record["config"])
        timing = TimingPlan(**config.pop("timing"))
        base = BenchConfig(**config, timing=timing)
        base = replace(base, runtimes=tuple(base.runtimes))
        return cls(tuple(record["variants"]), tuple(record["sizes"]), tuple(record["batches"]),
                   tuple(record["dtypes"]), base, Path(record["variants_dir"]))  # fmt: skip


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
    try:
        parsed = parse_fields(GridFile, data, where)
    except SpecError as err:
        raise SweepError(str(err)) from None
    values = {key: getattr(parsed, key) for key in data}
    if "variants_dir" in values:
        values["variants_dir"] = str(path.parent / values["variants_dir"])
    return values


def make_grid(
    values: dict, sources: dict[str, str], origin: str, slurm_gpus: int | None = None
) -> Grid:
    """Check `values` (GridFile keys; the others take their defaults) and build the grid.

    `sources` names where each key came from ("sweep.yaml: sizes", "--sizes") and `origin` the
    grid as a whole (the file, or "flags"), for errors. Points are checked against this machine,
    unless `slurm_gpus` is given: then the jobs run elsewhere, only what does not depend on the
    machine is checked, and device auto means cuda when the jobs get GPUs.
    """
    g = replace(GridFile(), **values)

    def where(key: str) -> str:
        return sources.get(key, key)

    for key in ("variants", "runtimes", *DIMENSIONS):
        items = getattr(g, key)
        if not items:
            raise SweepError(f"{where(key)}: give at least one value")
        if len(set(items)) != len(items):
            raise SweepError(f"{where(key)}: a value is listed twice")
    try:
        specs = select(load_variants(Path(g.variants_dir)), list(g.variants))
    except SpecError as err:
        raise SweepError(f"{where('variants')}: {err}") from None
    device = g.device
    if device == "auto":
        device = "cuda" if (slurm_gpus if slurm_gpus is not None else _has_cuda()) else "cpu"
    timing = replace(_TIMING, warmup=g.warmup, iters=g.iters, min_time_s=g.min_time)
    base = BenchConfig(
        scope=g.scope, device=device, seed=g.seed, threads=g.threads, deploy=g.deploy,
        channels_last=g.channels_last, runtimes=tuple(g.runtimes), flops=g.flops,
        breakdown=g.breakdown, timing=timing,
    )  # fmt: skip
    grid = Grid(tuple(s.name for s in specs), g.sizes, g.batches, g.dtypes, base,
                Path(g.variants_dir).resolve())  # fmt: skip
    check = check_settings if slurm_gpus is not None else check_config
    _check(check, base, origin)  # the shared settings, at rtbench's default size, batch, dtype
    for name, key in DIMENSIONS.items():  # then each value alone: the error names its key
        for value in getattr(grid, name):
            _check(check, replace(base, **{key: value}), where(name))
    for point in grid.points:  # combinations (fp16 on this CPU, say)
        _check(check, grid.config(point), f"point {point.id}")
    return grid


def _check(check, cfg: BenchConfig, where: str) -> None:
    try:
        check(cfg)
    except BenchError as err:
        raise SweepError(f"{where}: {err}") from None


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()
