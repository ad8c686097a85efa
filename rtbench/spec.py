"""Variant specs: one YAML file per encoder variant, validated into a typed, frozen schema
(pydantic models: unknown keys, wrong types and impossible values are one-line errors naming the
file and the field, with the value clipped).

Only `rtbench.models.build` turns a spec into modules; everything else reads the spec as data.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from rtbench.plugins import choices
from rtbench.results import MAX_LATENCY_MS
from rtbench.text import clip, quote
from rtbench.validation import kind, one_line

LEVELS = ("S3", "S4", "S5")  # backbone maps at strides 8, 16, 32
# The built-in names; packages add theirs through the entry point group rtbench.blocks.
INTRA_MODES = ("none", "per_level", "joint")
FUSION_TYPES = ("none", "panet", "ccff", "elan")
BACKBONE_TYPES = ("presnet", "hgnetv2")
DEFAULT_VARIANTS_DIR = Path(__file__).resolve().parent.parent / "variants"
MAX_SPEC_BYTES = 2**20  # a spec is a few hundred bytes; a bigger file is the wrong file
# Widths (channels, FFN) past a 32-bit count need terabytes for one layer, and torch cannot take
# sizes past 64 bits at all: an error here beats a crash (or an overflow per row) after building.
MAX_WIDTH = 2**31 - 1
# Blocks are built one by one before anything runs; past this a build takes minutes and grows
# until the OS kills the process, before any error could be reported (Table 3 uses 1 and 3).
MAX_REPEAT = 100
MAX_PAPER_PARAMS_M = 10**6  # a trillion parameters: far past any detector
MAX_PAPER_GFLOPS = 10**9
MAX_EXPANSION = 16.0  # the family uses 0.5 and 1.0
MAX_QUERIES = 100_000  # DETRs keep 100-900; more cells than a 4k image's maps hold is a typo

Width = Annotated[int, Field(ge=1, le=MAX_WIDTH)]
Repeat = Annotated[int, Field(ge=1, le=MAX_REPEAT)]
Level = Literal["S3", "S4", "S5"]


class SpecError(ValueError):
    """A variant file that cannot be used; the message is one line naming file and field."""


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


def known(kind: str, noun: str, builtin: tuple[str, ...]):
    """A validator of a block's name: a built-in one or a package's (rtbench.plugins)."""

    def check(value: str) -> str:
        names = choices(kind, builtin)
        if value not in names:
            raise ValueError(f"unknown {noun} {quote(value)}; choose from {', '.join(names)}")
        return value

    return AfterValidator(check)


class PaperRef(_Spec):
    ap: float = Field(ge=0, le=100, allow_inf_nan=False)  # COCO val2017 AP (%); Table 3: 12 epochs
    params_m: int = Field(ge=0, le=MAX_PAPER_PARAMS_M)  # #Params (M) as printed: floor
    latency_ms: float = Field(gt=0, lt=MAX_LATENCY_MS, allow_inf_nan=False)  # T4, TRT FP16
    gflops: float | None = Field(None, gt=0, le=MAX_PAPER_GFLOPS, allow_inf_nan=False)  # 640x640


class BackboneSpec(_Spec):
    type: Annotated[str, known("backbone", "type", BACKBONE_TYPES)] = "presnet"  # or hgnetv2
    depth: Literal[18, 34, 50, 101] = 50  # presnet only
    arch: Literal["L", "X"] = "L"  # hgnetv2 only
    freeze_norm: bool = True  # BN affine terms as buffers (R50, R101, L, X); R18/R34 train them

    @model_validator(mode="after")
    def _fields_fit_the_type(self) -> BackboneSpec:
        foreign = {"presnet": "arch", "hgnetv2": "depth"}.get(self.type)
        if foreign in self.model_fields_set:
            raise ValueError(f"backbone.{foreign}: does not apply to backbone type {self.type}")
        return self


class IntraSpec(_Spec):
    mode: Annotated[str, known("intra", "mode", INTRA_MODES)] = "none"  # joint: all levels at once
    levels: Annotated[tuple[Level, ...], Field(strict=False)] = ()  # which levels take part
    shared: bool = True  # per_level: one set of weights serves every level (variant B)
    layers: Repeat = 1  # transformer encoder layers ("one layer of Transformer block")
    heads: int = Field(8, ge=1)
    ffn_dim: Width = 1024
    level_embedding: bool = False  # joint: learned per-level embedding added to positions

    @model_validator(mode="after")
    def _levels_fit_the_mode(self) -> IntraSpec:
        if len(set(self.levels)) != len(self.levels):
            raise ValueError("intra.levels: a level is listed twice")
        if self.mode == "none" and self.levels:
            raise ValueError("intra.levels: must be empty when intra.mode is none")
        if self.mode != "none" and not self.levels:
            raise ValueError(f"intra.levels: name at least one level for mode {self.mode}")
        if self.level_embedding and self.mode != "joint":
            raise ValueError("intra.level_embedding: only applies to mode joint")
        return self


class FusionSpec(_Spec):
    # panet: D, Ds5; ccff: E; elan: D-FINE's RepNCSPELAN4 blocks with SCDown
    type: Annotated[str, known("fusion", "type", FUSION_TYPES)] = "none"
    depth: Repeat = 3  # ccff, elan: RepVGG blocks per CSPRep block: round(3 x depth_mult)
    # ccff: CSPRep hidden width over the encoder's (0.5 in R18, R34, R50-m); elan: its branch
    # width over half the encoder's
    expansion: float = Field(1.0, gt=0, le=MAX_EXPANSION, allow_inf_nan=False)


class DecoderSpec(_Spec):
    """The RT-DETR decoder. Its input width (the reference's feat_channels) is the encoder's
    hidden_dim, by construction: one declaration, so the two cannot disagree."""

    hidden_dim: Annotated[int, Field(ge=4, le=MAX_WIDTH)] = 256  # 256 in the whole family
    layers: Repeat = 6  # trained layers; all count in #Params
    eval_idx: int = Field(-1, ge=-MAX_REPEAT, lt=MAX_REPEAT)  # inference stops here (R50-m: 2)
    queries: int = Field(300, ge=1, le=MAX_QUERIES)  # top-scoring encoder cells kept
    heads: int = Field(8, ge=1, le=MAX_WIDTH)
    ffn_dim: Width = 1024
    num_points: Repeat = 4  # deformable sampling points per head and level

    @model_validator(mode="after")
    def _shapes_fit(self) -> DecoderSpec:
        if not -self.layers <= self.eval_idx < self.layers:
            raise ValueError(f"decoder.eval_idx: not a layer index of {self.layers} layers")
        if self.hidden_dim % self.heads:
            raise ValueError(f"decoder.heads: must divide decoder.hidden_dim ({self.hidden_dim})")
        return self


class VariantSpec(_Spec):
    name: str
    description: str
    paper: PaperRef | None = None  # Table 3 reference values; None for a user's own variant
    in_channels: Annotated[tuple[Width, ...], Field(strict=False)] = (512, 1024, 2048)
    hidden_dim: Annotated[int, Field(ge=4, le=MAX_WIDTH)] = 256
    intra: IntraSpec = IntraSpec()
    fusion: FusionSpec = FusionSpec()
    backbone: BackboneSpec = BackboneSpec()  # detector scope only
    decoder: DecoderSpec = DecoderSpec()  # detector scope only
    source: str = ""  # the file it came from; set by the loader, not by YAML
    group: str = ""  # the subfolder it came from ("family"); "" for the Table 3 rows
    base: str = ""  # the model whose encoder this variant replaced (`--base`); "" for none

    @model_validator(mode="after")
    def _shapes_fit(self) -> VariantSpec:
        if not self.name.strip():
            raise ValueError("name: must not be empty")
        if len(self.in_channels) != len(LEVELS):
            raise ValueError(f"in_channels: need {len(LEVELS)} positive channel counts (S3-S5)")
        if self.hidden_dim % 4:
            raise ValueError("hidden_dim: must be a multiple of 4 (the 2D sin-cos embedding)")
        if self.hidden_dim % self.intra.heads:
            raise ValueError(f"intra.heads: must divide hidden_dim ({self.hidden_dim})")
        return self

    def level_indices(self) -> tuple[int, ...]:
        return tuple(LEVELS.index(level) for level in self.intra.levels)


LOADER_FIELDS = frozenset({"source", "group", "base"})  # set by rtbench, never by a file
# The fields a spec may set: a mapping with none of them is some other file.
SPEC_FIELDS = frozenset(VariantSpec.model_fields) - LOADER_FIELDS


def load_spec(path: Path) -> VariantSpec:
    where = str(path)
    data = _read_yaml(path, where)
    # The file may be any file at all (a wrong path, a link): the errors that say it is not a
    # spec name its shape, never its content.
    if not isinstance(data, dict):
        got = kind(data, quoted=False)
        raise SpecError(f"{where}: expected a mapping of fields, got {got}: not a variant spec")
    if not data.keys() & SPEC_FIELDS:
        raise SpecError(f"{where}: a mapping with no variant spec field: not a variant spec")
    data = {"name": path.stem, **data}
    if reserved := sorted(LOADER_FIELDS & data.keys()):
        raise SpecError(f"{where}: {reserved[0]}: unknown field")
    try:
        spec = VariantSpec.model_validate(data)
    except ValidationError as err:
        raise SpecError(f"{where}: {one_line(err, VariantSpec)}") from None
    return spec.model_copy(update={"source": where})


def _read_yaml(path: Path, where: str) -> object:
    """The YAML document of a file that may be no spec at all: each error names the file and the
    kind of problem, and quotes none of its bytes."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_SPEC_BYTES + 1)
    except OSError as err:
        raise SpecError(f"{where}: cannot read: {err.strerror}") from None
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError(f"{where}: over {MAX_SPEC_BYTES // 2**20} MiB: not a variant spec")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SpecError(f"{where}: not UTF-8 text (byte {err.start}): not a variant spec") from None
    try:
        return yaml.safe_load(text)
    except yaml.reader.ReaderError as err:
        at = err.position + 1
        raise SpecError(f"{where}: not YAML text (character {at} is one YAML forbids)") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = _own_words(err.problem or "")
        said = f"{where}: malformed YAML{at}" + (f": {problem}" if problem else "")
        raise SpecError(said) from None
    except (yaml.YAMLError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
        # A tagged value its constructor refuses (!!int x, a 13th month; the exception quotes
        # the value), or nesting deeper than Python's stack.
        raise SpecError(f"{where}: malformed YAML: a value that cannot be read") from None


# PyYAML's problems quote with %r what they found, which may be the file's bytes ("found undefined
# alias 'hunter2'"); its own quoted words are token names and single indicator characters
# ("expected ',' or ']', but got '<stream end>'"). Only those are kept.
_QUOTED = re.compile(r"""\s*('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")
_OWN = re.compile(r"'(<[a-z ]+>|[ ,:?>\-\[\]{}])'")


def _own_words(problem: str) -> str:
    """A YAML problem without what it quotes from the file: "found character that cannot start
    any token" (the line and column say where)."""
    return clip(_QUOTED.sub(lambda m: m[0] if _OWN.fullmatch(m[1]) else "", problem), 120)


def load_variants(directory: Path = DEFAULT_VARIANTS_DIR) -> dict[str, VariantSpec]:
    """All *.yaml / *.yml specs of a folder and of its subfolders one level down (a subfolder is
    a group: variants/family/), by name: the folder's own first, each in file-name order."""
    if not directory.is_dir():
        raise SpecError(f"{directory}: variants folder not found")
    specs: dict[str, VariantSpec] = {}
    folders = [directory, *sorted((p for p in directory.iterdir() if p.is_dir()), key=_natural)]
    for folder in folders:
        group = "" if folder == directory else folder.name
        for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")], key=_natural):
            spec = load_spec(path).model_copy(update={"group": group})
            if spec.name in specs:
                raise SpecError(
                    f"{path}: name: {quote(spec.name)} is already used by {specs[spec.name].source}"
                )
            specs[spec.name] = spec
    if not specs:
        raise SpecError(f"{directory}: no variant files (*.yaml) found")
    return specs


def select(
    specs: dict[str, VariantSpec], names: list[str], base: str | None = None
) -> list[VariantSpec]:
    """Resolve names; exact match first, then case-insensitive. 'all' is every variant of the
    folder itself (the Table 3 rows, not the family), or every one where it holds none. With
    `base`, each variant's encoder design on that model (`on_base`)."""
    if not names or [n.lower() for n in names] == ["all"]:
        own = [spec for spec in specs.values() if not spec.group]
        chosen = own or list(specs.values())
    else:
        chosen = []
        for name in names:
            spec = _named(specs, name, "variant")
            if spec not in chosen:
                chosen.append(spec)
    if base is None:
        return chosen
    model = _named(specs, base, "base")
    return [on_base(spec, model) for spec in chosen]


def _named(specs: dict[str, VariantSpec], name: str, what: str) -> VariantSpec:
    key = name if name in specs else {n.lower(): n for n in specs}.get(name.lower())
    if key is None:
        raise SpecError(f"unknown {what} {quote(name)}; valid names: {', '.join(specs)}")
    return specs[key]


def on_base(variant: VariantSpec, base: VariantSpec) -> VariantSpec:
    """`variant`'s encoder design on another model (`--base rtdetr-r18`): which levels attend and
    how (intra mode, levels, shared, level embedding) and the fusion type come from the variant;
    everything else (backbone, in_channels, widths, heads, layers, CSPRep depth and expansion,
    decoder) from the base. Table 3's E on a base is the base itself."""
    data = base.model_dump(exclude_unset=True)  # as its file says: no field set twice
    design = variant.intra.model_dump(include={"mode", "levels", "shared", "level_embedding"})
    data.setdefault("intra", {}).update(design)
    data.setdefault("fusion", {})["type"] = variant.fusion.type
    data.update(name=variant.name, description=variant.description, paper=None,
                source=variant.source, group=variant.group, base=base.name)  # fmt: skip
    try:
        return VariantSpec.model_validate(data)
    except ValidationError as err:
        raise SpecError(f"{variant.name} on {base.name}: {one_line(err, VariantSpec)}") from None


def _natural(path: Path) -> tuple[list, str]:
    """File-name order with numbers by value: rtdetr-r18 before rtdetr-r101."""
    pieces = re.split(r"(\d+)", path.stem.lower())
    return ([(int(p), "") if p.isdigit() else (-1, p) for p in pieces], path.stem)
