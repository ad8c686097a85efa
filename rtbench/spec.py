"""Variant specs: one YAML file per encoder variant, validated into a typed, frozen schema.

Only `rtbench.models.build` turns a spec into modules; everything else reads the spec as data.
Unknown keys, wrong types and impossible values are errors naming the file and the field.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from rtbench.results import MAX_LATENCY_MS
from rtbench.text import clip, quote

LEVELS = ("S3", "S4", "S5")  # backbone maps at strides 8, 16, 32
INTRA_MODES = ("none", "per_level", "joint")
FUSION_TYPES = ("none", "panet", "ccff")
DEFAULT_VARIANTS_DIR = Path(__file__).resolve().parent.parent / "variants"
MAX_SPEC_BYTES = 2**20  # a spec is a few hundred bytes; a bigger file is the wrong file
# Widths (channels, FFN) past a 32-bit count need terabytes for one layer, and torch cannot take
# sizes past 64 bits at all: an error here beats a crash (or an overflow per row) after building.
MAX_WIDTH = 2**31 - 1
# Blocks are built one by one before anything runs; past this a build takes minutes and grows
# until the OS kills the process, before any error could be reported (Table 3 uses 1 and 3).
MAX_REPEAT = 100
MAX_PAPER_PARAMS_M = 10**6  # a trillion parameters: far past any detector


class SpecError(ValueError):
    """A variant file that cannot be used; the message is one line naming file and field."""


@dataclass(frozen=True)
class PaperRef:
    ap: float  # COCO val2017 AP (%), 12 epochs, Table 3
    params_m: int  # #Params (M) as printed: truncated to whole millions
    latency_ms: float  # T4, TensorRT FP16, batch 1, 640x640


@dataclass(frozen=True)
class IntraSpec:
    mode: str = "none"  # none | per_level (each level alone) | joint (all levels' tokens at once)
    levels: tuple[str, ...] = ()  # which of S3, S4, S5 take part
    shared: bool = True  # per_level: one set of weights serves every level (variant B)
    layers: int = 1  # transformer encoder layers ("one layer of Transformer block")
    heads: int = 8
    ffn_dim: int = 1024
    level_embedding: bool = False  # joint: learned per-level embedding added to positions


@dataclass(frozen=True)
class FusionSpec:
    type: str = "none"  # none | panet (conv FPN+PAN, D and Ds5) | ccff (CSPRep blocks, E)
    depth: int = 3  # ccff: RepVGG blocks per CSPRep block


@dataclass(frozen=True)
class VariantSpec:
    name: str
    description: str
    paper: PaperRef | None = None  # Table 3 reference values; None for a user's own variant
    in_channels: tuple[int, ...] = (512, 1024, 2048)  # S3, S4, S5 of ResNet-50-vd
    hidden_dim: int = 256
    intra: IntraSpec = field(default_factory=IntraSpec)
    fusion: FusionSpec = field(default_factory=FusionSpec)
    source: str = ""  # the file it came from; set by the loader, not by YAML

    def level_indices(self) -> tuple[int, ...]:
        return tuple(LEVELS.index(level) for level in self.intra.levels)


def load_spec(path: Path) -> VariantSpec:
    where = str(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_SPEC_BYTES + 1)
        if len(raw) > MAX_SPEC_BYTES:
            raise SpecError(f"{where}: over {MAX_SPEC_BYTES // 2**20} MiB: not a variant spec")
        data = yaml.safe_load(raw.decode("utf-8"))
    except OSError as err:
        raise SpecError(f"{where}: cannot read: {err.strerror}") from None
    except UnicodeDecodeError as err:
        raise SpecError(f"{where}: not UTF-8 text (byte {err.start}): not a variant spec") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = clip(getattr(err, "problem", None) or "invalid YAML")
        raise SpecError(f"{where}: malformed YAML{at}: {problem}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{where}: expected a mapping of fields, got {_kind(data)}")
    data = {"name": path.stem, **data}
    if "source" in data:
        raise SpecError(f"{where}: source: unknown field")
    spec = _parse(VariantSpec, data, where, "")
    spec = dataclasses.replace(spec, source=where)
    _check_values(spec, where)
    return spec


def load_variants(directory: Path = DEFAULT_VARIANTS_DIR) -> dict[str, VariantSpec]:
    """All *.yaml / *.yml specs of a folder, by name, in file-name order."""
    if not directory.is_dir():
        raise SpecError(f"{directory}: variants folder not found")
    specs: dict[str, VariantSpec] = {}
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")], key=_natural):
        spec = load_spec(path)
        if spec.name in specs:
            raise SpecError(
                f"{path}: name: {quote(spec.name)} is already used by {specs[spec.name].source}"
            )
        specs[spec.name] = spec
    if not specs:
        raise SpecError(f"{directory}: no variant files (*.yaml) found")
    return specs


def select(specs: dict[str, VariantSpec], names: list[str]) -> list[VariantSpec]:
    """Resolve names ('all' for every variant); exact match first, then case-insensitive."""
    if not names or [n.lower() for n in names] == ["all"]:
        return list(specs.values())
    by_lower = {name.lower(): name for name in specs}
    chosen = []
    for name in names:
        key = name if name in specs else by_lower.get(name.lower())
        if key is None:
            raise SpecError(f"unknown variant {quote(name)}; valid names: {', '.join(specs)}")
        if specs[key] not in chosen:
            chosen.append(specs[key])
    return chosen


def _natural(path: Path) -> tuple[str, str]:
    return (path.stem.lower(), path.stem)


def parse_fields(cls: type, data: object, where: str):
    """A typed dataclass from a YAML mapping, checked as variant files are: unknown keys and
    wrong types are SpecErrors naming `where` and the field (sweep grids use it too)."""
    return _parse(cls, data, where, "")


def _parse(cls: type, data: object, where: str, prefix: str):
    if not isinstance(data, dict):
        raise SpecError(f"{where}: {prefix.rstrip('.')}: expected a mapping, got {_kind(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if not isinstance(key, str):
            raise SpecError(f"{where}: {prefix}{quote(key)}: a field name must be text")
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise SpecError(
            f"{where}: {prefix}{clip(unknown[0])}: unknown field; valid fields: {', '.join(fields)}"
        )
    values = {}
    for name, value in data.items():
        values[name] = _coerce(hints[name], value, where, prefix + name)
    missing = [
        f.name
        for f in fields.values()
        if f.name not in values
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise SpecError(f"{where}: {prefix}{missing[0]}: required field is missing")
    return cls(**values)


def _coerce(hint, value, where: str, path: str):
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return None if value is None else _coerce(options[0], value, where, path)
    if dataclasses.is_dataclass(hint):
        return _parse(hint, value, where, path + ".")
    if origin is tuple:
        item = typing.get_args(hint)[0]
        if not isinstance(value, list):
            raise SpecError(f"{where}: {path}: expected a list, got {_kind(value)}")
        return tuple(_coerce(item, v, where, f"{path}[{i}]") for i, v in enumerate(value))
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
    }[hint]
    if not ok:
        raise SpecError(f"{where}: {path}: expected {hint.__name__}, got {_kind(value)}")
    if hint is float:
        try:
            value = float(value)
        except OverflowError:
            value = math.inf
        if not math.isfinite(value):
            raise SpecError(f"{where}: {path}: expected a finite number, got {_kind(value)}")
    return value


def _check_values(spec: VariantSpec, where: str) -> None:
    def fail(path: str, why: str) -> typing.NoReturn:
        raise SpecError(f"{where}: {path}: {why}")

    def count(path: str, value: int, low: int = 1, high: int = MAX_WIDTH) -> None:
        if value < low:
            fail(path, f"must be at least {low}")
        if value > high:
            fail(path, f"must be at most {high:,}")

    intra, fusion = spec.intra, spec.fusion
    if not spec.name.strip():
        fail("name", "must not be empty")
    if len(spec.in_channels) != len(LEVELS):
        fail("in_channels", f"need {len(LEVELS)} positive channel counts (S3, S4, S5)")
    for i, channels in enumerate(spec.in_channels):
        count(f"in_channels[{i}]", channels)
    count("hidden_dim", spec.hidden_dim, 4)
    if spec.hidden_dim % 4:
        fail("hidden_dim", "must be a positive multiple of 4 (the 2D sin-cos embedding)")
    if intra.mode not in INTRA_MODES:
        fail(
            "intra.mode", f"unknown mode {quote(intra.mode)}; choose from {', '.join(INTRA_MODES)}"
        )
    for level in intra.levels:
        if level not in LEVELS:
            fail("intra.levels", f"unknown level {quote(level)}; choose from {', '.join(LEVELS)}")
    if len(set(intra.levels)) != len(intra.levels):
        fail("intra.levels", "a level is listed twice")
    if intra.mode == "none" and intra.levels:
        fail("intra.levels", "must be empty when intra.mode is none")
    if intra.mode != "none" and not intra.levels:
        fail("intra.levels", f"name at least one level for mode {intra.mode}")
    if intra.level_embedding and intra.mode != "joint":
        fail("intra.level_embedding", "only applies to mode joint")
    count("intra.layers", intra.layers, high=MAX_REPEAT)
    if intra.heads < 1 or spec.hidden_dim % intra.heads:
        fail("intra.heads", f"must divide hidden_dim ({spec.hidden_dim})")
    count("intra.ffn_dim", intra.ffn_dim)
    if fusion.type not in FUSION_TYPES:
        fail(
            "fusion.type",
            f"unknown type {quote(fusion.type)}; choose from {', '.join(FUSION_TYPES)}",
        )
    count("fusion.depth", fusion.depth, high=MAX_REPEAT)
    if spec.paper is not None:
        if not 0 <= spec.paper.ap <= 100:
            fail("paper.ap", "must be a percentage between 0 and 100")
        count("paper.params_m", spec.paper.params_m, 0, MAX_PAPER_PARAMS_M)
        if not 0 < spec.paper.latency_ms < MAX_LATENCY_MS:
            fail("paper.latency_ms", "must be a positive latency (milliseconds, under an hour)")


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: f"text {quote(value)}"}.get(
        type(value), f"{type(value).__name__} {quote(value)}"
    )
