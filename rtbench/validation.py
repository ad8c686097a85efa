"""A pydantic validation error as the one line a user reads: where (the field's path, or the flag
that set it) and what is wrong, with the offending value quoted short.

Every declared input goes through pydantic (variant specs, sweep grids, the run configuration,
results files); this is the one place its errors become rtbench's wording.
"""

import typing
from collections.abc import Callable

from pydantic import BaseModel, ValidationError

from rtbench.text import clip, quote

Loc = tuple[str | int, ...]


def dotted(loc: Loc) -> str:
    """A field path as a user writes it: intra.levels[0]; a name is clipped (user text)."""
    out = ""
    for part in loc:
        name = clip(str(part))
        out += f"[{part}]" if isinstance(part, int) else (f".{name}" if out else name)
    return out


def kind(value: object, quoted: bool = True) -> str:
    """What a value is, for "expected X, got ..." messages; the value quoted short unless not
    `quoted` (it came from a file that may be no spec at all: never echo its content)."""
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str):
        return f"text {quote(value)}" if quoted else "text"
    return f"{type(value).__name__} {quote(value)}" if quoted else type(value).__name__


_EXPECTED = {
    "int": "int",
    "bool": "bool",
    "string": "str",
    "float": "a number",
    "tuple": "a list",
    "list": "a list",
    "dict": "a mapping",
    "model": "a mapping",
    "model_attributes": "a mapping",
}


def reason(error: dict, model: type[BaseModel] | None = None) -> str:
    """What one pydantic error says, in rtbench's words."""
    kind_, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    loc = error["loc"]
    base = kind_.removesuffix("_type").removesuffix("_parsing").removesuffix("_from_float")
    if kind_ == "missing":
        return "required field is missing"
    if kind_ == "extra_forbidden":
        valid = fields_at(model, loc[:-1]) if model else []
        return "unknown field" + (f"; valid fields: {', '.join(valid)}" if valid else "")
    if kind_ == "invalid_key":
        return "a field name must be text"
    if kind_ == "finite_number" or (kind_ == "float_type" and isinstance(value, int)):
        return "expected a finite number"  # an int too large for a float, too
    if base in _EXPECTED and kind_ != base:
        return f"expected {_EXPECTED[base]}, got {kind(value)}"
    if kind_ == "literal_error":
        names = [p for p in loc if isinstance(p, str)]
        noun = names[-1] if names else "value"
        if isinstance(loc[-1], int):  # an item of a list: levels[0] is a level
            noun = noun.removesuffix("s")
        choices = ctx.get("expected", "").replace("'", "").replace(" or ", ", ")
        return f"unknown {noun} {quote(value)}; choose from {choices}"
    if kind_ in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        word, key = {
            "greater_than_equal": ("at least", "ge"),
            "less_than_equal": ("at most", "le"),
            "greater_than": ("more than", "gt"),
            "less_than": ("less than", "lt"),
        }[kind_]
        return f"must be {word} {_number(ctx[key])}"
    if kind_ == "multiple_of":
        return f"must be a multiple of {ctx['multiple_of']}"
    if kind_ == "too_short":
        return f"give at least {ctx.get('min_length', 1)} value"
    if kind_ in ("value_error", "assertion_error") and "error" in ctx:
        return clip(str(ctx["error"]), 300)
    return clip(error["msg"][0].lower() + error["msg"][1:], 300)


# Errors about a value's range: the message does not quote it, so the place does ("--size 100").
_RANGE = ("greater_than_equal", "less_than_equal", "greater_than", "less_than", "multiple_of",
          "finite_number")  # fmt: skip


def _number(x: object) -> str:
    """A bound as a reader writes it: 16,384; 0; 0.5; 3,600,000."""
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e18:
        x = int(x)
    return f"{x:,}" if isinstance(x, int) else f"{x:g}"


def one_line(
    err: ValidationError,
    model: type[BaseModel] | None = None,
    where: Callable[[Loc], str] = dotted,
    show_value: bool = False,
) -> str:
    """The first error as "<where>: <reason>"; `where` names a location (a flag, say), followed
    by the value when `show_value` and the reason does not quote it."""
    first = err.errors(include_url=False)[0]
    loc = first["loc"]
    if first["type"] == "invalid_key":  # the key itself ends the path, whatever its type
        place = where(loc[:-1])
        place = f"{place}.{clip(str(loc[-1]))}" if place else clip(str(loc[-1]))
    else:
        place = where(loc)
    if show_value and first["type"] in _RANGE:
        place += f" {clip(str(first.get('input')), 40)}"
    return f"{place}: {reason(first, model)}" if place else reason(first, model)


def fields_at(model: type[BaseModel] | None, loc: Loc) -> list[str]:
    """The field names of the (nested) model at `loc`, for "valid fields: ..." hints."""
    for part in loc:
        if model is None or isinstance(part, int):
            return []
        field = model.model_fields.get(part)
        model = _model_of(field.annotation) if field else None
    return list(model.model_fields) if model else []


def _model_of(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None
