"""The command-line options of the run configuration, generated from rtbench.config.RunConfig:
each setting's flag, type, default and help come from its declaration, so a new setting is an
option of `run`, `compare`, `baseline` and `sweep` without a line here. The options every
command shares otherwise (folders, plots) are declared once below too."""

import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer

from rtbench import config
from rtbench.config import RunConfig, TimingPlan, tag
from rtbench.history.store import DEFAULT_PATH as DEFAULT_HISTORY  # noqa: F401 - for commands

MEASURING, GRID = "Measuring", "Grid"  # help panels

DEFAULT_RESULTS_DIR = Path("results")
VariantsDir = Annotated[
    Path, typer.Option("--variants-dir", help="Folder of variant YAML files.", show_default=False)
]
ResultsDir = Annotated[Path, typer.Option("--results-dir", help="Where run folders go.")]
RunId = Annotated[str | None, typer.Option(help="Run folder name (default: time, scope, device).")]
Plots = Annotated[bool, typer.Option(help="Write PNG plots into the run folder.")]
Variants = Annotated[list[str] | None, typer.Argument(help="Variant names, or all (default).")]
HistoryPath = Annotated[
    Path,
    typer.Option(
        "--history", envvar="RTBENCH_HISTORY", help="History database (DuckDB) runs are kept in."
    ),
]
Record = Annotated[bool, typer.Option(help="Also append the run to the history (--history).")]


@dataclass(frozen=True)
class Option:
    """One generated option: the parameter typer sees, and where its value goes."""

    param: str  # the Python parameter name (the grid key, for sweeps)
    name: str  # the RunConfig / TimingPlan field
    model: type  # RunConfig or TimingPlan
    listed: bool  # a sweep dimension: a comma-separated list of values


def generated(grid: bool, only: tuple[str, ...] | None = None) -> list[Option]:
    """The run configuration's options; with `grid`, a sweep's: each dimension a list; with
    `only`, the options of those fields alone."""
    out = []
    for name, model in config.fields():
        t = tag(name, model)
        if not t["cli"] or (only is not None and name not in only):
            continue
        if grid and t["sweep"]:
            out.append(Option(t["sweep"], name, model, listed=True))
        else:
            out.append(Option(t["key"] or name, name, model, listed=False))
    return out


def _flag(option: Option) -> str:
    return tag(option.name, option.model)["flag"] or "--" + option.name.replace("_", "-")


def _parameter(option: Option, default: Any) -> inspect.Parameter:
    info = option.model.model_fields[option.name]
    flag = _flag(option)
    kind, help = _cli_type(info.annotation), info.description
    if option.listed:
        flag, kind = "--" + option.param.replace("_", "-"), str
        help = f"{help.rstrip('.')}: values, comma-separated."
    if isinstance(default, tuple):
        default = ",".join(map(str, default))
    if kind is bool:
        flag = f"{flag}/--no-{flag.removeprefix('--')}"
    panel = GRID if option.listed else MEASURING
    annotation = Annotated[kind, typer.Option(flag, help=help, rich_help_panel=panel)]
    return inspect.Parameter(option.param, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=annotation)  # fmt: skip


def _cli_type(annotation: Any) -> Any:
    """What typer parses: a Literal or a tuple is text (checked by RunConfig, in one line)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return _cli_type(args[0]) | None
    if annotation in (int, float, bool, str):
        return annotation
    return str


@dataclass(frozen=True)
class RunOptions:
    """What the generated options of one command line hold."""

    values: dict[str, Any]  # parameter -> value (the default where not given)
    given: frozenset[str]  # parameters set on the command line, the command's own included
    options: tuple[Option, ...]

    def config(self) -> RunConfig:
        """The run configuration these options ask for (BenchError naming the flag at fault)."""
        data: dict[str, Any] = {"timing": {}}
        for option in self.options:
            target = data["timing"] if option.model is TimingPlan else data
            target[option.name] = self.values[option.param]
        return RunConfig.make(data)


def as_flags(options: RunOptions) -> list[str]:
    """The generated options set on the command line, as flags again: for a command run by
    another rtbench (`baseline --at`). Sweep lists are not made back into flags."""
    out = []
    for option in options.options:
        if option.param not in options.given or option.listed:
            continue
        value = options.values[option.param]
        if isinstance(value, bool):
            out.append(_flag(option) if value else "--no-" + _flag(option).removeprefix("--"))
        elif value is not None:
            text = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
            out += [_flag(option), text]
    return out


def run_options(
    *, grid: bool = False, only: tuple[str, ...] | None = None, **defaults: Any
) -> Callable:
    """Give a command the run configuration's options: typer sees each as a keyword parameter
    (with the default given here, else the declared one), and the command gets one `options`
    argument (RunOptions). With `grid`, the sweep dimensions are lists (--sizes, ...); with
    `only`, just the options of those fields (the others keep their declared values)."""
    options = generated(grid, only)
    unknown = set(only or ()) - {o.name for o in options}
    if unknown:  # a typo in a command's declaration, not a user's input
        raise ValueError(f"run_options(only=...): no option for {sorted(unknown)}")

    def default(option: Option) -> Any:
        if option.param in defaults:
            return defaults[option.param]
        declared = option.model.model_fields[option.name].default
        return (declared,) if option.listed else declared

    shared = [_parameter(o, default(o)) for o in options]

    def decorate(command: Callable) -> Callable:
        own = [p for p in inspect.signature(command).parameters.values() if p.name != "options"]
        context = inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)

        @wraps(command)
        def wrapper(ctx: typer.Context, **kwargs):
            values = {o.param: kwargs.pop(o.param) for o in options}
            given = frozenset(p for p in ctx.params if on_command_line(ctx, p))
            return command(**kwargs, options=RunOptions(values, given, tuple(options)))

        params = own + [context] + shared
        wrapper.__signature__ = inspect.Signature(params)
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper

    return decorate


def on_command_line(context: typer.Context, name: str) -> bool:
    """Whether the user set parameter `name` rather than leaving its default (click's
    ParameterSource, by name)."""
    source = context.get_parameter_source(name)
    return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")
