"""One report from several results documents: the points of a sweep, independent runs (another
machine, another GPU), or both; nothing is measured again.

Measured alike. Side by side, runs must have measured the same work: the settings
rtbench.config tags as the work (scope, input size, batch, dtype, form, memory format, ...), and
each variant the same number of params (the same spec). A sweep's grid dimensions are meant to
differ, so the keys a sweep among the inputs swept are exempt. What may differ freely is where and
how long it ran: the device, the runtimes (rows are matched by variant and runtime), the timing
plan, the versions; differences in the calibration workload or the settings tagged as notes (the
threads) are warned about. Anything else unlike is refused in one line (NotAlike), unless
`allow_unlike`. The gate applies the same declaration, and asks for the same device too.

Files: points.csv and points.parquet (one row per source, variant and runtime), exponents.csv,
speedups.csv when several runtimes ran, report.md, and the plots of rtbench.report.scaling.
"""

import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from rich.table import Table

from rtbench import config, results
from rtbench.config import Compare
from rtbench.files import write_atomic
from rtbench.report import scaling
from rtbench.report.plots import png
from rtbench.report.vocabulary import markdown_table, markdown_text
from rtbench.results import ResultsError, load_results
from rtbench.text import markdown_code, rich_text


class NotAlike(ResultsError):
    """Runs that did not measure the same work; one line for the user."""


@dataclass
class Source:
    """One results document in the merge."""

    label: str  # the run id, or sweep-id/point-id
    document: dict
    series: str  # what an exponent is fitted over: the sweep, or the device of single runs
    sweep: str | None = None


@dataclass
class Missing:
    label: str
    status: str
    reason: str


@dataclass
class Merged:
    inputs: list[str]
    sources: list[Source] = field(default_factory=list)
    missing: list[Missing] = field(default_factory=list)
    swept: tuple[str, ...] = ()  # config keys a sweep among the inputs varies on purpose
    warnings: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------- gathering


def collect(paths: list[Path]) -> Merged:
    """Read every input: a sweep folder (its complete points; the others listed as missing with
    why), a run folder, or a results.json. ResultsError naming the first unusable input."""
    from rtbench.sweep import SweepError

    merged = Merged([str(p) for p in paths])
    seen: set[Path] = set()
    for path in paths:
        if path.resolve() in seen:
            raise ResultsError(f"{path}: given twice")
        seen.add(path.resolve())
        if (path / "sweep.json").is_file():
            try:
                _collect_sweep(path, merged)
            except SweepError as err:
                raise ResultsError(str(err)) from None
        elif path.is_dir() and not (path / "results.json").is_file():
            raise ResultsError(f"{path}: neither a run folder (results.json) nor a sweep folder")
        else:
            document = load_results(path / "results.json" if path.is_dir() else path)
            label = document.get("run_id") or (path.name if path.is_dir() else path.parent.name)
            device = document["environment"].get("device_name") or document["config"]["device"]
            merged.sources.append(Source(label, document, series=device))
    if not merged.sources:
        raise ResultsError("nothing to report: no input has a completed run")
    _unique_labels(merged.sources)
    return merged


def _collect_sweep(folder: Path, merged: Merged) -> None:
    from rtbench.sweep.store import SweepStore

    store = SweepStore.open(folder)
    jobs = store.jobs()
    merged.swept = tuple(dict.fromkeys([*merged.swept, *store.grid.swept()]))
    for point in store.grid.points:
        label = f"{store.sweep_id}/{point.id}"
        if store.complete(point.id):
            document = load_results(store.results_path(point.id))
            merged.sources.append(Source(label, document, store.sweep_id, store.sweep_id))
            continue
        status = store.status(point.id)
        merged.missing.append(Missing(label, status["status"], _why(status, jobs.get(point.id))))


def _why(status: dict, job: dict | None) -> str:
    state = status["status"]
    if state == "pending":
        return (
            f"queued or never run ({job['executor']} job {job['job_id']})"
            if job
            else ("never started")
        )
    if state == "running":
        where = f" (pid {status.get('pid')} on {status.get('host')})" if status.get("pid") else ""
        return f"running{where}, or its process was killed: no results"
    if state == "done":
        return "results.json is missing or unreadable"
    return status.get("error") or state


def _unique_labels(sources: list[Source]) -> None:
    counts: dict[str, int] = {}
    for source in sources:
        counts[source.label] = counts.get(source.label, 0) + 1
        if counts[source.label] > 1:
            source.label = f"{source.label} ({counts[source.label]})"


# ---------------------------------------------------------------------------- alike


def check_alike(merged: Merged, allow_unlike: bool = False) -> None:
    """NotAlike unless every source measured the same work (see the module's docstring);
    lesser differences become warnings. With `allow_unlike`, differences are warnings too."""
    first = merged.sources[0]
    problems, seen = [], set()
    for other in merged.sources[1:]:
        for key, a, b in config.differences(first.document["config"], other.document["config"],
                                            Compare.WORK):  # fmt: skip
            if key not in merged.swept and key not in seen:
                seen.add(key)
                problems.append(f"{key} differs ({first.label}: {a!r}, {other.label}: {b!r})")
    params: dict[str, tuple[str, int]] = {}
    for source in merged.sources:
        for row in results.ok_rows(source.document):
            if row.get("params") is None:
                continue
            seen = params.setdefault(row["variant"], (source.label, row["params"]))
            if seen[1] != row["params"]:
                problems.append(
                    f"variant {row['variant']} has {seen[1]:,} params in {seen[0]} and "
                    f"{row['params']:,} in {source.label}: not the same model"
                )
                break
    if problems and not allow_unlike:
        raise NotAlike(f"not measured alike: {problems[0]}; pass --allow-unlike to merge anyway")
    merged.warnings += [f"merged although unlike: {p}" for p in problems]
    for key, _ in config.fields(Compare.NOTE):
        values = {s.document["config"].get(key) for s in merged.sources}
        if len(values) > 1:
            merged.warnings.append(f"config {key} differs between runs: {sorted(map(str, values))}")
    names = {s.document["calibration"]["name"] for s in merged.sources}
    if len(names) > 1:
        merged.warnings.append(
            f"calibration workloads differ ({', '.join(sorted(names))}): "
            "latency_normalized is comparable only between runs with the same one"
        )


# ---------------------------------------------------------------------------- the long table

COLUMNS = ["source", "sweep", "series", "run_id", "created", "device", "device_name", "threads",
           "scope", "size", "batch", "dtype", "form", "channels_last", "tokens", "runtime",
           "runtime_order", "variant", "status", "error", "params_m", "gmacs",
           "latency_median_ms", "latency_ci95_low_ms", "latency_ci95_high_ms", "latency_p90_ms",
           "latency_iqr_ms", "latency_samples", "latency_normalized", "throughput_ips",
           "achieved_gflops_per_s", "peak_memory_bytes", "calibration",
           "calibration_median_ms"]  # fmt: skip


def long_table(merged: Merged) -> pd.DataFrame:
    """One row per source, variant and runtime; with --breakdown, part_<name>_ms columns."""
    records = []
    for source in merged.sources:
        doc, cfg = source.document, source.document["config"]
        env = doc["environment"]
        for row in doc["rows"]:
            median = row.get("latency_median_ms")
            record = {
                "source": source.label, "sweep": source.sweep, "series": source.series,
                "run_id": doc.get("run_id"), "created": doc.get("created"),
                "device": env.get("device", cfg["device"]), "device_name": env.get("device_name"),
                "threads": cfg.get("threads"), "scope": cfg["scope"], "size": cfg["size"],
                "batch": cfg["batch"], "dtype": cfg["dtype"],
                "form": "deploy" if cfg["deploy"] else "train",
                "channels_last": cfg.get("channels_last", False),
                "tokens": scaling.tokens(cfg["size"]), "runtime": row["runtime"],
                "runtime_order": _order(cfg["runtimes"], row["runtime"]),
                "calibration": doc["calibration"]["name"],
                "calibration_median_ms": doc["calibration"]["median_ms"],
                "throughput_ips": cfg["batch"] * 1000 / median if median else None,
                **{key: row.get(key) for key in COLUMNS if key in row},
            }  # fmt: skip
            for label, part in (row.get("latency_parts") or {}).items():
                record[f"part_{label}_ms"] = part.get("median_ms")
            records.append(record)
    frame = pd.DataFrame.from_records(records)
    parts = [c for c in frame.columns if c.startswith("part_")]
    return frame.reindex(columns=COLUMNS + parts)


def _order(runtimes: list[str], runtime: str) -> int:
    return runtimes.index(runtime) if runtime in runtimes else len(runtimes)


# ---------------------------------------------------------------------------- rendering


def describe_alike(merged: Merged, frame: pd.DataFrame, escape=str) -> str:
    """What the sources share and where they ran; `escape` is applied to each value (the
    results files' text) but not to rtbench's own words and brackets."""
    same = [f"{key} {escape(frame[key].iloc[0])}" for key in ("scope", "form", "channels_last")]
    for key in ("size", "batch", "dtype"):
        values = sorted(frame[key].unique().tolist())
        kind = "swept" if key in merged.swept else "differs" if len(values) > 1 else None
        listed = "[" + ", ".join(escape(repr(v)) for v in values) + "]"
        same.append(f"{key} {escape(values[0])}" if kind is None else f"{key} {kind}: {listed}")
    devices = sorted({f"{d} ({n})" for d, n in zip(frame["device_name"], frame["device"],
                                                   strict=True)})  # fmt: skip
    return f"Measured alike: {', '.join(same)}. Devices: {'; '.join(map(escape, devices))}."


def markdown(merged: Merged, frame: pd.DataFrame, fits: pd.DataFrame, speed: pd.DataFrame) -> str:
    n_points = sum(s.sweep is not None for s in merged.sources)
    lines = [f"# Merged report: {len(merged.sources)} runs ({n_points} sweep points)", "",
             "Inputs: " + ", ".join(map(markdown_code, merged.inputs)), "",
             describe_alike(merged, frame, markdown_text), ""]  # fmt: skip
    lines += [f"- WARNING: {markdown_text(w)}" for w in merged.warnings]
    cards: dict[str, list[str]] = {}
    for source in merged.sources:
        text = (source.document.get("protocol") or {}).get("card")
        if text:
            cards.setdefault(text, []).append(source.label)
    for text, labels in cards.items():
        which = "" if len(cards) == 1 else f" ({markdown_text(', '.join(labels))})"
        lines += ["", f"**Protocol{which}.** {markdown_text(text)}"]
    if merged.missing:
        lines += ["", "## Missing points", ""]
        cells = [[markdown_text(m.label), markdown_text(m.status), markdown_text(m.reason)]
                 for m in merged.missing]  # fmt: skip
        lines += markdown_table(["point", "status", "why"], cells, ("point", "status", "why"))
    lines += ["", "## How latency grows with the number of tokens", ""]
    if fits.empty:
        lines.append("No series has two sizes or more: no exponent to fit.")
    else:
        sentence = scaling.finding(fits)
        lines += [markdown_text(sentence), ""] if sentence else []
        cells = [list(map(markdown_text, row)) for row in exponent_rows(fits)]
        lines += markdown_table(EXPONENT_HEADERS, cells, ("series", "variant", "runtime", "dtype",
                                "sizes"))  # fmt: skip
        lines += ["", "latency ~ tokens^k, least squares on log-log medians; tokens = "
                  "(s/8)^2 + (s/16)^2 + (s/32)^2 (8400 at 640)."]  # fmt: skip
    lines += ["", "## Latency, median ms", ""]
    lines += _pivot_markdown(frame, "latency_median_ms", "{:.2f}")
    if frame["batch"].nunique() > 1:
        lines += ["", "## Throughput, images/s", ""]
        lines += _pivot_markdown(frame, "throughput_ips", "{:.1f}")
    if not speed.empty:
        lines += ["", "## Runtime speed-ups (reference runtime median / runtime median)", ""]
        table = speed.pivot_table(index=["runtime", "variant"], columns="source",
                                  values="speedup", sort=False)  # fmt: skip
        lines += _frame_markdown(table, "{:.2f}")
    parts = [c for c in frame.columns if c.startswith("part_")]
    encoder = [c for c in ("part_input_proj_ms", "part_intra_ms", "part_fusion_ms") if c in parts]
    if encoder and (frame["scope"] == "detector").all():
        share = frame[encoder].fillna(0).sum(axis=1) / frame["latency_median_ms"]
        lines += ["", "## Encoder share of detector latency (--breakdown)", ""]
        table = frame.assign(share=share.where(frame[encoder].notna().any(axis=1))).pivot_table(
            index=["runtime", "variant"], columns="source", values="share", sort=False
        )
        lines += _frame_markdown(table * 100, "{:.0f}%")
    return "\n".join(lines) + "\n"


EXPONENT_HEADERS = ["series", "variant", "runtime", "batch", "dtype", "k", "std. error",
                    "95% CI", "sizes"]  # fmt: skip


def exponent_rows(fits: pd.DataFrame) -> list[list[str]]:
    rows = []
    for fit in fits.itertuples():
        error = "-" if pd.isna(fit.k_stderr) else f"{fit.k_stderr:.3f}"
        ci = "-" if pd.isna(fit.k_ci95_low) else f"{fit.k_ci95_low:.2f} to {fit.k_ci95_high:.2f}"
        rows.append([fit.series, fit.variant, fit.runtime, str(fit.batch), fit.dtype,
                     f"{fit.k:.2f}", error, ci, fit.sizes])  # fmt: skip
    return rows


def _pivot_markdown(frame: pd.DataFrame, value: str, fmt: str) -> list[str]:
    table = frame.pivot_table(index=["runtime", "variant"], columns="source", values=value,
                              sort=False)  # fmt: skip
    return _frame_markdown(table, fmt)


def _frame_markdown(table: pd.DataFrame, fmt: str) -> list[str]:
    headers = ["runtime", "variant", *map(str, table.columns)]  # escaped by markdown_table
    cells = [
        [markdown_text(runtime), markdown_text(variant),
         *("-" if pd.isna(v) else fmt.format(v) for v in values)]
        for (runtime, variant), values in zip(table.index, table.values, strict=True)
    ]  # fmt: skip
    return markdown_table(headers, cells, ("runtime", "variant"))


def terminal(merged: Merged, frame: pd.DataFrame, fits: pd.DataFrame) -> list:
    out = [rich_text(describe_alike(merged, frame))]
    out += [rich_text(f"warning: {w}", style="yellow") for w in merged.warnings]
    if merged.missing:
        table = Table("point", "status", "why", title="Missing points", title_justify="left")
        for m in merged.missing:
            table.add_row(rich_text(m.label), rich_text(m.status), rich_text(m.reason))
        out.append(table)
    if not fits.empty:
        table = Table(*EXPONENT_HEADERS, title="Latency ~ tokens^k", title_justify="left")
        for row in exponent_rows(fits):
            table.add_row(*map(rich_text, row))
        out.append(table)
        sentence = scaling.finding(fits)
        if sentence:
            out.append(rich_text(sentence))
    return out


# ---------------------------------------------------------------------------- files


def write_report(merged: Merged, out_dir: Path, plots: bool = True) -> tuple[list, list[str]]:
    """Write the merged report into `out_dir` (files replaced atomically); returns the terminal
    renderables and a warning per plot that could not be drawn."""
    frame = long_table(merged)
    fits = scaling.exponents(frame)
    speed = scaling.speedups(frame)
    parquet = io.BytesIO()
    frame.to_parquet(parquet, index=False)
    files: dict[str, str | bytes] = {
        "points.csv": frame.to_csv(index=False, float_format="%.6g"),
        "points.parquet": parquet.getvalue(),
        "exponents.csv": fits.to_csv(index=False, float_format="%.6g"),
        "report.md": markdown(merged, frame, fits, speed),
    }
    if not speed.empty:
        files["speedups.csv"] = speed.to_csv(index=False, float_format="%.6g")
    warnings = []
    if plots:
        figures = {
            "latency_vs_tokens.png": lambda: scaling.latency_vs_tokens(frame, fits),
            "throughput_vs_batch.png": lambda: scaling.throughput_vs_batch(frame),
            "speedups.png": lambda: scaling.speedup_bars(speed),
        }
        for name, draw in figures.items():
            try:
                figure = draw()
            except Exception as err:  # noqa: BLE001 - the tables are written; say which plot failed
                warnings.append(f"{name} could not be drawn: {err}")
                continue
            if figure is not None:
                files[name] = png(figure)
    for name, content in files.items():
        write_atomic(out_dir / name, content)
    return terminal(merged, frame, fits), warnings
