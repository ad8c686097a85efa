"""The paper's claims of section 5.2 (RT-DETR, CVPR 2024), held against one run's measurements.

Each claim compares a variant with a reference variant: an AP gain (from the paper; rtbench does
not train), a latency change and, for E vs D, a params change. rtbench measures the latency and
params changes and marks whether each has the claimed direction and roughly the claimed size.

Size rule (`size_agrees`): a measured change m agrees with a claimed change c (both fractions,
+0.54 for +54%) when |m - c| <= max(SIZE_RELATIVE * |c|, SIZE_ABSOLUTE), i.e. within +-50% of the
claimed change, or within 5 percentage points for small claims (-8% accepts -13% .. -3%).

The paper's latency is TensorRT FP16 on a T4; the measured one is this run's runtime on this run's
device, so only the direction is expected to carry over reliably. Each runtime of a run is judged
on its own. Latencies that tie (their CIs overlap, or they differ by under 5%:
rtbench.report.ties) have no direction: the claim's direction is marked "tie", neither agreeing
nor differing.
"""

from dataclasses import dataclass

from rich.table import Table

from rtbench import results
from rtbench.report.base import Report
from rtbench.report.ties import TIE_FRACTION, tied
from rtbench.report.vocabulary import (
    PAPER_PROTOCOL,
    PAPER_SHORT,
    describe_run,
    markdown_table,
    markdown_text,
    percent,
    runtime_label,
)
from rtbench.text import rich_text

SIZE_RELATIVE = 0.5  # a measured change within +-50% of the claimed change agrees in size ...
SIZE_ABSOLUTE = 0.05  # ... or within 5 percentage points, for claims of a few percent


@dataclass(frozen=True)
class Claim:
    variant: str
    reference: str
    ap_delta: float  # AP points, COCO val2017 (the paper's figure)
    latency_change: float  # fraction: +0.54 is 54% slower, -0.35 is 35% faster
    params_change: float | None  # fraction, where the paper states one
    sentence: str  # the paper's statement, paraphrased

    @property
    def name(self) -> str:
        return f"{self.variant} vs {self.reference}"


CLAIMS = (
    Claim("B", "A", 1.9, 0.54, None,
          "Adding single-scale Transformer encoders (B) gains 1.9 AP over A, "
          "at 54% more latency."),
    Claim("C", "B", 0.7, 0.20, None,
          "Multi-scale attention over all levels' tokens at once (C) gains 0.7 AP over B, "
          "at 20% more latency."),
    Claim("D", "C", 0.8, -0.08, None,
          "Decoupling intra-scale interaction from cross-scale fusion (D) gains 0.8 AP over C "
          "and cuts latency by 8%."),
    Claim("Ds5", "D", 0.4, -0.35, None,
          "Restricting intra-scale interaction to S5 (Ds5) is 35% faster than D "
          "and gains 0.4 AP."),
    Claim("E", "D", 1.5, -0.24, 0.20,
          "The efficient hybrid encoder (E: AIFI + CCFF) gains 1.5 AP over D with 20% more "
          "params and 24% less latency."),
)  # fmt: skip


def evaluate_claims(document: dict, runtime: str | None = None) -> list[dict]:
    """One flat record per claim, judged on one runtime's rows (the run's first runtime unless
    named): the paper's figures, the measured changes and the marks.

    A claim whose variant or reference is absent or failed has status "not measured" and None
    figures. A mark is None where it does not apply (no latency measured, no params claimed).
    """
    runtime = runtime or results.runtimes_of(document)[0]
    ok = {}
    failed = {}
    for row in document["rows"]:
        if row["runtime"] != runtime:
            continue
        if row["status"] == "ok":
            ok.setdefault(row["variant"], row)
        else:
            failed.setdefault(row["variant"], row.get("error") or "failed")
    context = {
        "scope": document["config"]["scope"],
        "runtime": runtime,
        "measured_on": describe_run(document, runtime),
    }
    records = []
    for claim in CLAIMS:
        record = {
            "claim": claim.name,
            "variant": claim.variant,
            "reference": claim.reference,
            "sentence": claim.sentence,
            "paper_ap_delta": claim.ap_delta,
            "latency_change_claimed": claim.latency_change,
            "params_change_claimed": claim.params_change,
            **context,
        }
        missing = [v for v in (claim.variant, claim.reference) if v not in ok]
        if missing:
            reasons = [f"{v} failed: {failed[v]}" if v in failed else f"{v} not in run"
                       for v in missing]  # fmt: skip
            records.append({**record, **_unmeasured(), "reason": "; ".join(reasons)})
            continue
        row, ref = ok[claim.variant], ok[claim.reference]
        latency = _change(row.get("latency_median_ms"), ref.get("latency_median_ms"))
        params = _change(row.get("params"), ref.get("params"))
        lat_dir, lat_size = _marks(latency, claim.latency_change)
        tie = tied(row, ref)
        if tie:
            lat_dir = None  # no direction to agree or differ with
        par_dir, par_size = _marks(params, claim.params_change)
        record.update(
            status="ok",
            reason=None,
            latency_tie=tie,
            latency_change_measured=latency,
            latency_direction_agrees=lat_dir,
            latency_size_agrees=lat_size,
            params_change_measured=params,
            params_direction_agrees=par_dir,
            params_size_agrees=par_size,
            direction_agrees=_all(lat_dir, par_dir),
            size_agrees=_all(lat_size, par_size),
        )
        records.append(record)
    return records


def size_agrees(measured: float, claimed: float) -> bool:
    return abs(measured - claimed) <= max(SIZE_RELATIVE * abs(claimed), SIZE_ABSOLUTE)


def direction_agrees(measured: float, claimed: float) -> bool:
    return _sign(measured) == _sign(claimed)


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def _change(value: float | None, reference: float | None) -> float | None:
    if value is None or not reference:
        return None
    return value / reference - 1


def _marks(measured: float | None, claimed: float | None) -> tuple[bool | None, bool | None]:
    if measured is None or claimed is None:
        return None, None
    return direction_agrees(measured, claimed), size_agrees(measured, claimed)


def _all(*marks: bool | None) -> bool | None:
    given = [m for m in marks if m is not None]
    return all(given) if given else None


def _unmeasured() -> dict:
    return {
        "status": "not measured",
        "latency_tie": None,
        "latency_change_measured": None,
        "latency_direction_agrees": None,
        "latency_size_agrees": None,
        "params_change_measured": None,
        "params_direction_agrees": None,
        "params_size_agrees": None,
        "direction_agrees": None,
        "size_agrees": None,
    }


# Rendering: one line per (claim, quantity) the paper states a change for.

HEADERS = ("Claim", "AP gain (paper)", "Change in", "Paper", "Measured", "Direction", "Size")
QUANTITIES = ("latency", "params")


def _lines(claims: list[dict]) -> list[tuple[list[str], str, bool | None]]:
    """Cells of the text columns, the direction's word and the size mark, per table line."""
    out = []
    for c in claims:
        for quantity in QUANTITIES:
            claimed = c[f"{quantity}_change_claimed"]
            if claimed is None:
                continue
            if c["status"] == "ok":
                measured = percent(c[f"{quantity}_change_measured"], digits=1)
            else:
                measured = f"not measured ({c['reason']})"
            cells = [c["claim"], f"{c['paper_ap_delta']:+.1f} AP", quantity, percent(claimed),
                     measured]  # fmt: skip
            direction = c[f"{quantity}_direction_agrees"]
            word = "tie" if quantity == "latency" and c["latency_tie"] else _mark(direction)
            out.append((cells, word, c[f"{quantity}_size_agrees"]))
    return out


def _mark(agrees: bool | None) -> str:
    return "n/a" if agrees is None else ("agrees" if agrees else "differs")


_WORD_AGREES = {"agrees": True, "differs": False}


def notes(claims: list[dict]) -> list[str]:
    where = claims[0]["measured_on"] if claims else "this run's device"
    out = [
        f"- Measured: {where}. Paper: {PAPER_PROTOCOL}. Absolute latency never matches across "
        "devices and runtimes; even the ratios can differ, since TensorRT fuses and schedules "
        "kernels its own way.",
        "- AP gains are the paper's (COCO val2017, 12 epochs); rtbench does not train.",
        "- Change = measured median latency (or params) of the variant / that of the reference "
        "- 1, both from this run and runtime.",
        f"- Size agrees when |measured - paper| <= max({SIZE_RELATIVE:.0%} of |paper|, "
        f"{100 * SIZE_ABSOLUTE:.0f} percentage points). Direction agrees when the signs match; "
        f"a tie (the CIs overlap, or the latencies differ by under {TIE_FRACTION:.0%}) has no "
        "direction.",
    ]
    if claims and claims[0]["scope"] != "detector":
        out.append(
            f"- {claims[0]['scope'].capitalize()} scope: the paper's changes are of whole "
            "detectors (backbone and decoder included), so sizes are not expected to agree here."
        )
    out += [f"- {c['claim']} (paper, paraphrased): {c['sentence']}" for c in claims]
    return out


def claims_markdown(claims: list[dict]) -> str:
    runtime = runtime_label(claims[0]["runtime"]) if claims else ""
    rows = [[*map(markdown_text, cells), direction, _mark(size)]
            for cells, direction, size in _lines(claims)]  # fmt: skip
    lines = [f"## Paper claims (section 5.2), judged on {markdown_text(runtime)}", ""]
    lines += markdown_table(list(HEADERS), rows, ("Claim", "Change in", "Direction", "Size"))
    lines += ["", *map(markdown_text, notes(claims))]
    return "\n".join(lines) + "\n"


MARK_STYLE = {True: "green", False: "red", None: "dim"}


def claims_rich_table(claims: list[dict]) -> Table:
    where = claims[0]["measured_on"] if claims else "this run's device"
    runtime = runtime_label(claims[0]["runtime"]) if claims else "this run's runtime"
    title = f"Paper claims (section 5.2), measured on {where}"
    table = Table(
        title=rich_text(title),  # names the device and runtime: text, not markup
        min_width=min(len(title), 160),  # the title on one line where the console is wide enough
        caption=rich_text(
            f"Paper latency: {PAPER_SHORT}; measured: {runtime} on this device. "
            "AP gains are the paper's."
        ),
        title_justify="left",
        caption_justify="left",
    )
    for header in HEADERS:
        justify = "right" if header in ("AP gain (paper)", "Paper", "Measured") else "left"
        table.add_column(header, justify=justify)
    for cells, direction, size in _lines(claims):
        marks = [rich_text(direction, style=MARK_STYLE[_WORD_AGREES.get(direction)]),
                 rich_text(_mark(size), style=MARK_STYLE[size])]  # fmt: skip
        table.add_row(*map(rich_text, cells), *marks)
    return table


def _per_runtime(document: dict) -> list[list[dict]]:
    return [evaluate_claims(document, runtime) for runtime in results.runtimes_of(document)]


REPORT = Report(
    "claims",
    terminal=lambda d: [claims_rich_table(c) for c in _per_runtime(d)],
    markdown=lambda d: "\n".join(claims_markdown(c) for c in _per_runtime(d)),
)
