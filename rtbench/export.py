"""ONNX export of a variant, cached on disk, and the check that the exported graph computes what
the PyTorch model computes.

The TorchScript exporter (`torch.onnx.export(..., dynamo=False)`) at opset 17 handles every
variant at both scopes (grid sampling needs opset 16, LayerNormalization 17) in one file with
static shapes. The detector's graph has a third output, `cells`: the encoder cells its top-300
query selection picked. Near-tied scores let float rounding pick different cells in two runtimes,
so a row-by-row comparison is not an equality test; replaying the exported graph's cells in the
eager decoder (`Detector.decode(images, cells)`) is.

Exports are cached by a key of everything that changes the graph: the spec, scope, size, batch,
form, dtype, seed (the weights), torch version, exporter and opset.
"""

import dataclasses
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from rtbench.config import RunConfig
from rtbench.digest import content_key
from rtbench.files import atomic_path
from rtbench.spec import VariantSpec
from rtbench.text import first_line

OPSET = 17
EXPORTER = "torchscript"  # torch.onnx.export(dynamo=False)


class ExportError(RuntimeError):
    """An export that failed or does not compute what the model computes; one line."""


class ExportGraph(nn.Module):
    """What is exported: the encoder on three positional maps, or the detector with its cells."""

    def __init__(self, model: nn.Module, scope: str, with_cells: bool = True):
        super().__init__()
        self.model, self.scope, self.with_cells = model, scope, with_cells

    def forward(self, *inputs: Tensor) -> tuple[Tensor, ...]:
        if self.scope == "encoder":
            return tuple(self.model(list(inputs)))  # [B, C, Hl, Wl] x 3
        if self.with_cells:
            return self.model.decode(inputs[0])  # logits, boxes, cells
        return self.model(inputs[0])


def io_names(scope: str, with_cells: bool = True) -> tuple[list[str], list[str]]:
    if scope == "encoder":
        return ["s3", "s4", "s5"], ["p3", "p4", "p5"]
    return ["images"], ["logits", "boxes", *(["cells"] if with_cells else [])]


def as_tuple(inputs: Tensor | list[Tensor]) -> tuple[Tensor, ...]:
    return tuple(inputs) if isinstance(inputs, list) else (inputs,)


@dataclass(frozen=True)
class Exported:
    path: Path
    seconds: float  # time to export and check; the cache hit's lookup time when cached
    cached: bool


def cache_key(spec: VariantSpec, cfg: RunConfig, half: bool, with_cells: bool) -> str:
    """A digest of everything that changes the exported graph."""
    not_in_graph = {"source", "group", "base", "description", "paper"}
    described = spec.model_dump(exclude=not_in_graph)
    facts = {
        "spec": described,
        "scope": cfg.scope,
        "size": cfg.size,
        "batch": cfg.batch,
        "deploy": cfg.deploy,
        "dtype": "fp16" if half else "fp32",
        "seed": cfg.seed,
        "torch": torch.__version__,
        "exporter": EXPORTER,
        "opset": OPSET,
        "with_cells": with_cells,
    }
    return content_key(facts)


def cached_export(
    model: nn.Module,
    inputs: Tensor | list[Tensor],
    spec: VariantSpec,
    cfg: RunConfig,
    cache_dir: Path,
    half: bool = False,
) -> Exported:
    """The model's ONNX file in `cache_dir`, exported (and checked) only when not there yet."""
    start = time.perf_counter()
    key = cache_key(spec, cfg, half, with_cells=True)
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in spec.name)[:40]
    path = cache_dir / f"{safe}-{cfg.scope}-{cfg.size}-{key[:16]}.onnx"
    if path.is_file():
        return Exported(path, time.perf_counter() - start, cached=True)
    with atomic_path(path) as tmp:  # a concurrent reader sees no half-written graph
        export(model, inputs, cfg.scope, tmp, half=half)
    return Exported(path, time.perf_counter() - start, cached=False)


def export(
    model: nn.Module,
    inputs: Tensor | list[Tensor],
    scope: str,
    path: Path,
    half: bool = False,
    with_cells: bool = True,
) -> None:
    """Export `model` (eval, shape caches filled) with static shapes, then run the ONNX checker."""
    import onnx

    graph, args = ExportGraph(model, scope, with_cells).eval(), as_tuple(inputs)
    if half:
        graph, args = graph.half(), tuple(x.half() for x in args)
    names_in, names_out = io_names(scope, with_cells)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter's tracer chatter
            torch.onnx.export(graph, args, str(path), input_names=names_in,
                              output_names=names_out, opset_version=OPSET, dynamo=False,
                              do_constant_folding=True)  # fmt: skip
        onnx.checker.check_model(str(path))
    except Exception as err:  # noqa: BLE001 - one line for the row or the user
        raise ExportError(f"ONNX export failed: {first_line(err)}") from err


@dataclass(frozen=True)
class Agreement:
    max_abs: float  # largest |exported - eager| over all outputs
    worst: float  # largest |exported - eager| / (atol + rtol * |eager|): within tolerance if <= 1
    rtol: float
    atol: float
    cells_overlap: float | None  # detector: share of the selected cells both picked

    @property
    def ok(self) -> bool:
        return self.worst <= 1.0

    def record(self) -> dict:
        return {**dataclasses.asdict(self), "ok": self.ok}


TOLERANCE = {"fp32": (1e-3, 1e-4), "fp16": (2e-2, 2e-2), "bf16": (5e-2, 5e-2)}  # (rtol, atol)


def agreement(
    model: nn.Module, inputs: Tensor | list[Tensor], scope: str, outputs: list, dtype: str
) -> Agreement:
    """How far an exported graph's `outputs` (in io_names order, as arrays or tensors) are from
    the eager model's, in fp32; at detector scope the eager decoder replays the graph's cells."""
    rtol, atol = TOLERANCE[dtype]
    got = [torch.as_tensor(o).float().cpu() for o in outputs]
    with torch.inference_mode():
        if scope == "encoder":
            expected = [t.float().cpu() for t in model(inputs)]
            overlap = None
        else:
            cells = got[2].to(device=inputs.device, dtype=torch.long)
            _, _, own_cells = model.decode(inputs)
            logits, boxes, _ = model.decode(inputs, cells)
            expected = [logits.float().cpu(), boxes.float().cpu()]
            got = got[:2]
            overlap = _overlap(own_cells.cpu(), cells.cpu())
    max_abs = worst = 0.0
    for a, e in zip(got, expected, strict=True):
        diff = (a - e).abs()
        max_abs = max(max_abs, float(diff.max()))
        worst = max(worst, float((diff / (atol + rtol * e.abs())).max()))
    return Agreement(max_abs, worst, rtol, atol, overlap)


def _overlap(a: Tensor, b: Tensor) -> float:
    shared = sum(len(set(x.tolist()) & set(y.tolist())) for x, y in zip(a, b, strict=True))
    return shared / a.numel()


def export_file(spec: VariantSpec, cfg: RunConfig, out: Path, with_cells: bool, check: bool) -> str:
    """`rtbench export`: build, export to `out` (atomically) and check; one line saying what was
    written and how it was checked."""
    from rtbench.models.build import build_model, check_input_size, make_inputs
    from rtbench.models.deploy import fuse_for_deploy

    check_input_size(cfg.scope, cfg.size)
    if out.is_dir():
        raise OSError(f"--out {out}: is a folder; name the ONNX file to write")
    model = build_model(spec, cfg.scope, cfg.seed)
    inputs = make_inputs(spec, cfg.scope, cfg.size, cfg.batch, cfg.seed)
    if cfg.deploy:
        fuse_for_deploy(model)
    with torch.inference_mode():
        model(inputs)  # fills the shape caches the graph holds as constants
    start = time.perf_counter()
    with atomic_path(out) as tmp:
        export(model, inputs, cfg.scope, tmp, with_cells=with_cells)
    line = f"{out}: {out.stat().st_size / 1e6:.1f} MB, opset {OPSET}, exported in "
    line += f"{time.perf_counter() - start:.1f} s; ONNX checker passed"
    if not check:
        return line
    try:
        import onnxruntime as ort
    except ImportError:
        return line + "; outputs not compared (pip install 'rtbench[onnx]')"
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    feeds = {i.name: x.numpy() for i, x in zip(session.get_inputs(), as_tuple(inputs), strict=True)}
    if cfg.scope == "detector" and not with_cells:
        return (
            line + "; outputs not compared (a detector graph needs --cells for a tie-robust check)"
        )
    result = agreement(model, inputs, cfg.scope, session.run(None, feeds), "fp32")
    verdict = "agree with" if result.ok else "DIFFER from"
    line += (
        f"; outputs {verdict} PyTorch's within rtol {result.rtol:g}, atol {result.atol:g} "
        f"(max |diff| {result.max_abs:.2g})"
    )
    if not result.ok:
        raise ExportError(line)
    return line
