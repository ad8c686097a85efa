"""`list`, `show`, `runtimes`: what rtbench knows, measuring nothing."""

from typing import Annotated

import typer

from rtbench.cli.app import app, console, console_text
from rtbench.cli.errors import user_errors
from rtbench.cli.options import VariantsDir
from rtbench.config import BenchError
from rtbench.spec import DEFAULT_VARIANTS_DIR, load_variants, select
from rtbench.text import printable


@app.command("list")
@user_errors
def list_command(variants_dir: VariantsDir = DEFAULT_VARIANTS_DIR) -> None:
    """The variants found in the variants folder, one line each, by group: the folder's own (the
    Table 3 rows, what `compare all` runs), then each subfolder's (the family, usable as --base)."""
    groups: dict[str, list] = {}
    for spec in load_variants(variants_dir).values():
        groups.setdefault(spec.group, []).append(spec)
    for group, specs in groups.items():
        if len(groups) > 1:  # a folder without subfolders lists as it always did
            heading = f"{group}/ (a --base, or by name)" if group else "variants (compare all)"
            typer.echo(printable(f"# {heading}"))
        width = max(len(spec.name) for spec in specs)
        for spec in specs:  # no ESC to the terminal
            typer.echo(printable(f"{spec.name:<{max(width, 6)}} {spec.description}"))


@app.command()
@user_errors
def show(
    variant: Annotated[str, typer.Argument(help="Variant name, e.g. E.")],
    variants_dir: VariantsDir = DEFAULT_VARIANTS_DIR,
    detector: Annotated[bool, typer.Option(help="Also build the detector for its parts.")] = True,
    base: Annotated[
        str | None, typer.Option(help="The variant's encoder design on this model (rtdetr-r18).")
    ] = None,
) -> None:
    """The spec of one variant and its parameters per part."""
    # checked before torch is imported
    spec = select(load_variants(variants_dir), [variant], base)[0]
    import yaml
    from rich.table import Table

    from rtbench.measure.params import count_params, param_parts
    from rtbench.models.build import build_model
    from rtbench.runner import describe_error

    typer.echo(printable(f"{spec.name}: {spec.description}\nfile: {spec.source}"))
    record = spec.model_dump(mode="json", exclude={"source", "group"})
    typer.echo(yaml.safe_dump(record, sort_keys=False, width=1000).rstrip())
    scopes = ("encoder", "detector") if detector else ("encoder",)
    table = Table("part", *(f"{s} params" for s in scopes), title="Parameters")
    try:
        counted = {s: build_model(spec, s) for s in scopes}
    except (RuntimeError, MemoryError) as err:  # a spec too big for this machine
        raise BenchError(f"{spec.name}: cannot build: {describe_error(err)}") from None
    parts = {s: param_parts(m) for s, m in counted.items()}
    for part in parts[scopes[-1]]:
        table.add_row(part, *(_count(parts[s].get(part)) for s in scopes))
    table.add_row(
        console_text("total", "bold"), *(_count(count_params(m)) for m in counted.values())
    )
    console.print(table)
    paper = spec.paper
    if paper:
        where = f"{spec.group}, published" if spec.group else "Table 3"
        gflops = f", {paper.gflops:g} GFLOPs" if paper.gflops else ""
        console.print(
            f"Paper ({where}): AP {paper.ap}, #Params {paper.params_m}M{gflops}, "
            f"latency {paper.latency_ms} ms (T4, TensorRT FP16)",
            highlight=False,
        )


def _count(n: int | None) -> str:
    return "-" if n is None else f"{n:,} ({n / 1e6:.2f}M)"


@app.command()
@user_errors
def runtimes() -> None:
    """The runtimes rtbench knows and whether each can run here, on which device."""
    import torch
    from rich.table import Table

    from rtbench.config import RunConfig
    from rtbench.runtimes import RUNTIMES

    devices = [torch.device("cpu")]
    if torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    table = Table("runtime", "label", "devices", "here", title="Runtimes")
    for name, runtime in RUNTIMES.items():
        here = [runtime.not_installed()] if runtime.not_installed() else []
        for device in devices:
            if here or device.type not in runtime.devices:
                continue
            reason = runtime.unavailable(device, RunConfig(device=device.type))
            here.append(f"{device.type}: {reason or f'ready ({runtime.version()})'}")
        if not here:
            here.append(f"installed; needs {' or '.join(runtime.devices)}, which is not here")
        table.add_row(
            name, runtime.label, ", ".join(runtime.devices), console_text("\n".join(here))
        )
    console.print(table)
