"""CI regression gate: compare two results documents (results.json) variant by variant.

Latency is compared after normalization: every latency sample of a run is divided by the sample of
the calibration workload (rtbench.measure.calibration) taken in the same interleaved round
(`latency_normalized_samples`), so a machine that is uniformly slower today passes, while a
change that slows the models but not the calibration is flagged.
A change is significant only when the normalized median grew by more than `threshold` AND a
one-sided Mann-Whitney test says current samples tend to be larger (p < alpha): the threshold
guards against the drift normalization does not remove, the test against a lucky pair of medians.
Params and GMACs must match exactly; growth fails unless allowed.

A shared machine defeats that test alone: a busy neighbour slows variants unequally, by up to 30%
against the calibration, so one check in three failed unchanged code (issue 11). So:
- Two views. A variant is slower against the calibration, or against the other variants of the
  run (its change over the median change of the others): contention that moves every model
  against the calibration cannot hide a variant that stands out.
- A slower variant is a suspect; but one that moved with the others (they are past the threshold
  too: a block they share slowed) is "inconclusive", and does not fail, when the calibration
  itself is in doubt (the machine was busy, or the calibration ran much longer or shorter than in
  the baseline): then a shared slowdown cannot be told from contention.
- A second measurement. With `remeasure`, the suspects are measured again and fail only if the
  slowdown repeats: one that stood out against a reference variant (the unchanged one most typical
  of the run, timed in the same rounds, so contention hits both alike), one that moved with the
  others against the calibration; on a busy machine, by twice the threshold. Noise rarely
  repeats; a real slowdown always does.

This module holds logic only; the CLI turns a failed report into exit code 1.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import median

from rich.table import Table
from rich.text import Text

from rtbench import results
from rtbench.measure.load import contention_signs
from rtbench.measure.stats import mann_whitney
from rtbench.report.vocabulary import load_warnings
from rtbench.results import ResultsError

# Config fields that change what is measured; runs differing in any of them are not comparable.
# The runtime is compared per row: rows are matched by (variant, runtime).
COMPARED_CONFIG = ("scope", "device", "dtype", "size", "batch", "deploy", "channels_last")
# Config fields that may differ but make the comparison weaker: reported as warnings.
WARNED_CONFIG = ("threads",)

# Measured on the 2-core dev machine, 10 back-to-back gate runs (whole detectors at 256x256, 20
# samples, calib-v2) against one baseline: normalized medians moved -7.3%..+5.2% (CV 1.8-3.5%);
# with calib-v1, a short mix of small ops, they had moved -22%..+4%. 15% keeps a margin for a
# busier machine and still fails a 1.5x slowdown of one variant (+46%) or of the backbone (+22-26%).
DEFAULT_THRESHOLD = 0.15
# One-sided, per variant: with 6 variants the chance of a false "slower" from noise alone stays
# under 6%, and the threshold must also be crossed. 30 vs 30 fully separated samples give
# p ~ 1e-11, so a real regression is never short of evidence; with 5 per side only full
# separation gets under 0.01 (p = 0.006), and with 4 or fewer nothing does.
DEFAULT_ALPHA = 0.01
# On the same machine, runs contended by other jobs had calibration medians 5-6x the quiet
# ones, and normalized latencies 25-45% below the quiet ones (the short calibration ops suffer
# more than the models): past this ratio between the runs' calibration medians, warn.
CALIBRATION_RATIO_WARN = 1.5
# Below this many samples per side a rank test has little power: p is reported, with a note.
MIN_SAMPLES_FOR_P = 8
# The view against the other variants needs this many others: their median then holds when one
# of them changed (with one or two, a variant that got faster would make another look slower).
MIN_OTHERS = 3
# On a busy machine the second measurement must show a change this many times the threshold
# (30%) to confirm: contention alone moved single variants by up to 30% against the calibration
# beside one busy-loop process, while a 1.5x slowdown (+50%) still clears it.
BUSY_CONFIRM_FACTOR = 2.0


class GateError(ResultsError):
    """Input the gate cannot compare; the message is one line meant for the user."""


# variant names -> a results document of those variants, measured as the baseline was
Remeasure = Callable[[list[str]], dict]


@dataclass
class GateRow:
    variant: str
    runtime: str
    baseline_norm: float | None  # variant median / calibration median, baseline run
    current_norm: float | None  # same, current run
    change: float | None  # current_norm / baseline_norm - 1
    p_value: float | None  # one-sided Mann-Whitney, in the direction of `change`
    # slower | faster | same | unconfirmed | inconclusive | grew | error | missing | new
    verdict: str
    params_change: int | None  # current - baseline; None when not comparable
    gmacs_change: float | None  # current - baseline, 0.0 within rel. 1e-9
    note: str = ""
    failed: bool = False
    vs_others: float | None = None  # (1 + change) / the other variants' median (1 + change) - 1
    stands_out: bool = False  # slower against the other variants (significant, past threshold)
    others_moved: bool = False  # the other variants' median change is past the threshold too
    grew: bool = False  # params or GMACs grew


@dataclass
class GateReport:
    rows: list[GateRow]
    failed: bool
    threshold: float = DEFAULT_THRESHOLD
    alpha: float = DEFAULT_ALPHA
    warnings: list[str] = field(default_factory=list)  # non-fatal differences, e.g. thread count
    remeasured: dict | None = None  # the second measurement of the suspects, when one was made


def _usable(document: dict, label: str) -> results.Document:
    """The document upgraded and validated, with what the gate needs beyond a valid document:
    sizes and normalized samples in every row that ran."""
    document = results.validate(results.upgrade(document, label), label)
    for row in results.ok_rows(document):
        where = f"{label}: {row['variant']} ({row['runtime']})"
        if not isinstance(row.get("params"), int) or not results.is_number(row.get("gmacs")):
            raise GateError(f"{where}: needs integer 'params' and numeric 'gmacs' (count FLOPs)")
        if not row.get("latency_normalized_samples"):
            raise GateError(f"{where}: no 'latency_normalized_samples'")
    return document


def _check_comparable(baseline: dict, current: dict) -> list[str]:
    """Raise GateError if the runs measure different things; return warnings for lesser gaps."""
    for key in COMPARED_CONFIG:
        b, c = baseline["config"].get(key, False), current["config"].get(key, False)
        if b != c:
            raise GateError(f"config {key} differs (baseline {b!r}, current {c!r}): not comparable")
    b_cal, c_cal = baseline["calibration"]["name"], current["calibration"]["name"]
    if b_cal != c_cal:
        raise GateError(
            f"calibration differs (baseline {b_cal!r}, current {c_cal!r}): rerun the baseline"
        )
    warnings = [f"{label} run: {line}" for label, document in (("baseline", baseline),
                ("current", current)) for line in load_warnings(document.get("load"))]  # fmt: skip
    b_ms, c_ms = baseline["calibration"]["median_ms"], current["calibration"]["median_ms"]
    if max(b_ms, c_ms) / min(b_ms, c_ms) > CALIBRATION_RATIO_WARN:
        warnings.append(
            f"calibration median {b_ms:.3g} ms in baseline, {c_ms:.3g} ms in current: a different"
            " or busy machine; contention skews normalized latencies by tens of percent"
        )
    for key in WARNED_CONFIG:
        b, c = baseline["config"].get(key), current["config"].get(key)
        if b != c:
            warnings.append(f"config {key} differs (baseline {b!r}, current {c!r})")
    return warnings


def _latency_verdict(
    base: list[float], cur: list[float], threshold: float, alpha: float
) -> tuple[float, float, float, float, str]:
    b_med, c_med = median(base), median(cur)
    change = c_med / b_med - 1.0
    # Test in the direction the medians moved; "greater" = current tends to be larger.
    p = mann_whitney(base, cur, "greater" if change >= 0 else "less")
    verdict = "same"
    if p < alpha:
        # Symmetric in ratio: 1.1x faster is flagged exactly like 1.1x slower.
        if change > threshold:
            verdict = "slower"
        elif b_med / c_med - 1.0 > threshold:
            verdict = "faster"
    return b_med, c_med, change, p, verdict


def _compare_ok_rows(
    key: tuple[str, str],
    b_row: dict,
    c_row: dict,
    threshold: float,
    alpha: float,
    allow_growth: bool,
    others: float | None = None,
) -> GateRow:
    """One row's verdict; `others` is the median ratio (current / baseline normalized median) of
    the run's other variants of the same runtime, None when there are none."""
    base, cur = b_row["latency_normalized_samples"], c_row["latency_normalized_samples"]
    b_med, c_med, change, p, verdict = _latency_verdict(base, cur, threshold, alpha)
    notes = []
    vs_others, stands_out = None, False
    if others is not None:
        _, _, vs_others, p_others, versus = _latency_verdict(
            base, [x / others for x in cur], threshold, alpha
        )
        stands_out = versus == "slower"
        if stands_out and verdict != "slower":
            verdict = "slower"
            notes.append(f"{vs_others:+.1%} against the other variants (p={_fmt_p(p_others)})")
    if min(len(base), len(cur)) < MIN_SAMPLES_FOR_P:
        notes.append(f"only {min(len(base), len(cur))} samples: little power")

    params_change = c_row["params"] - b_row["params"]
    gmacs_change = c_row["gmacs"] - b_row["gmacs"]
    if math.isclose(c_row["gmacs"], b_row["gmacs"], rel_tol=1e-9):
        gmacs_change = 0.0
    grew = params_change > 0 or gmacs_change > 0
    if params_change:
        notes.append(f"params {params_change:+,}")
    if gmacs_change:
        notes.append(f"GMACs {gmacs_change:+.4g}")
    if grew:
        notes.append("growth allowed" if allow_growth else "growth not allowed")

    failed = verdict == "slower" or (grew and not allow_growth)
    if grew and not allow_growth and verdict != "slower":
        # Keep the latency outcome readable when the row fails for its size.
        notes.append(f"latency {verdict} ({change:+.1%})")
        verdict = "grew"
    return GateRow(
        variant=key[0],
        runtime=key[1],
        baseline_norm=b_med,
        current_norm=c_med,
        change=change,
        p_value=p,
        verdict=verdict,
        params_change=params_change,
        gmacs_change=gmacs_change,
        note="; ".join(notes),
        failed=failed,
        vs_others=vs_others,
        stands_out=stands_out,
        grew=grew,
    )


def compare(
    baseline: dict,
    current: dict,
    threshold: float = DEFAULT_THRESHOLD,
    alpha: float = DEFAULT_ALPHA,
    allow_growth: bool = False,
    remeasure: Remeasure | None = None,
) -> GateReport:
    """Compare current against baseline; the report fails on any slower, grown, errored or
    missing variant. Variants only in current are listed as "new" and never fail. With
    `remeasure`, a slower variant fails only if a second measurement confirms it."""
    baseline, current = _usable(baseline, "baseline"), _usable(current, "current")
    warnings = _check_comparable(baseline, current)
    b_rows = {results.row_key(r): r for r in baseline["rows"]}
    c_rows = {results.row_key(r): r for r in current["rows"]}
    if not b_rows.keys() & c_rows.keys():
        raise GateError("baseline and current have no (variant, runtime) in common")
    ratios = {
        key: _norm_median(c_rows[key]) / _norm_median(b)
        for key, b in b_rows.items()
        if b["status"] == "ok" and c_rows.get(key, {}).get("status") == "ok"
    }

    rows = []
    for key, b in b_rows.items():
        c = c_rows.get(key)
        if c is None:
            rows.append(_row(key, "missing", failed=True, note="not in the current run"))
        elif b["status"] == "ok" and c["status"] == "ok":
            others = [r for k, r in ratios.items() if k != key and k[1] == key[1]]
            others_ratio = median(others) if len(others) >= MIN_OTHERS else None
            row = _compare_ok_rows(key, b, c, threshold, alpha, allow_growth, others_ratio)
            row.others_moved = bool(others) and median(others) - 1 > threshold
            rows.append(row)
        elif c["status"] == "error":
            # Already broken in the baseline: nothing regressed, but keep it visible.
            was_ok = b["status"] == "ok"
            note = f"{'' if was_ok else 'also in baseline: '}{c.get('error') or 'no message'}"
            rows.append(_row(key, "error", failed=was_ok, note=note))
        else:  # baseline errored, current ok: no reference to hold it against
            rows.append(_row(key, "new", current_norm=_norm_median(c), note="errored in baseline"))
    for key, c in c_rows.items():
        if key not in b_rows:
            norm = _norm_median(c) if c["status"] == "ok" else None
            note = "" if c["status"] == "ok" else f"error: {c.get('error') or 'no message'}"
            rows.append(_row(key, "new", current_norm=norm, note=note))
    report = GateReport(rows, any(r.failed for r in rows), threshold, alpha, warnings)
    doubt = _calibration_doubt(baseline, current)
    if doubt:
        _doubt(report, doubt, allow_growth)
    if remeasure is not None and any(r.verdict == "slower" for r in rows):
        _confirm(report, b_rows, remeasure, allow_growth, doubt)
    return report


def _calibration_doubt(baseline: dict, current: dict) -> str | None:
    """Why a change of the run as a whole against the calibration cannot be trusted, if it
    cannot: contention (or another machine) moves the models against the calibration by tens of
    percent, as a shared slowdown would."""
    for label, document in (("current", current), ("baseline", baseline)):
        if contention_signs(document.get("load")):
            return f"the machine was busy during the {label} run"
    b_ms, c_ms = baseline["calibration"]["median_ms"], current["calibration"]["median_ms"]
    if max(b_ms, c_ms) / min(b_ms, c_ms) > CALIBRATION_RATIO_WARN:
        return f"the calibration ran {c_ms / b_ms:.2g}x as long as in the baseline"
    return None


def _doubt(report: GateReport, doubt: str, allow_growth: bool) -> None:
    """Slower rows that moved with the other variants (they did not stand out, and the others
    moved past the threshold too) are inconclusive when the calibration is in doubt: a shared
    slowdown cannot be told from contention."""
    for row in report.rows:
        if row.verdict == "slower" and not row.stands_out and row.others_moved:
            row.verdict, row.failed = "inconclusive", row.grew and not allow_growth
            row.note = _join(
                row.note, f"slower with the others against the calibration, but {doubt}"
            )
    report.failed = any(r.failed for r in report.rows)


def _confirm(
    report: GateReport, b_rows: dict, remeasure: Remeasure, allow_growth: bool, doubt: str | None
) -> None:
    """Measure the slower rows once more and keep "slower" only where the second measurement
    agrees: a row that stood out from the other variants against a reference row of its runtime
    (the unchanged row most typical of the run, timed in the same rounds), else against the
    calibration; past the threshold, or twice the threshold when the calibration is in doubt."""
    threshold = report.threshold * (BUSY_CONFIRM_FACTOR if doubt else 1.0)
    suspects = [r for r in report.rows if r.verdict == "slower"]
    references = {}  # runtime -> the key of its reference row
    for runtime in dict.fromkeys(r.runtime for r in suspects if r.stands_out):
        # typical of the run: not slower, same size, its change within the threshold of the others'
        steady = [r for r in report.rows if r.runtime == runtime and r.vs_others is not None
                  and r.verdict != "slower" and not r.grew
                  and abs(r.vs_others) <= report.threshold]  # fmt: skip
        if steady:
            reference = min(steady, key=lambda r: abs(r.vs_others))
            references[runtime] = (reference.variant, runtime)
    names = [r.variant for r in suspects] + [key[0] for key in references.values()]
    again = results.validate(results.upgrade(remeasure(list(dict.fromkeys(names)))), "re-measured")
    report.remeasured = again
    a_rows = {results.row_key(r): r for r in again["rows"]}
    for row in suspects:
        key = (row.variant, row.runtime)
        reference = references.get(row.runtime) if row.stands_out else None
        second = a_rows.get(key, {})
        if second.get("status") != "ok":
            error = second.get("error") or "not measured"
            row.note = _join(row.note, f"second measurement failed ({error}): not confirmed")
            continue
        base, cur = b_rows[key]["latency_normalized_samples"], second["latency_normalized_samples"]
        against = "the calibration"
        if reference is not None and a_rows.get(reference, {}).get("status") == "ok":
            base = _scaled(base, _norm_median(b_rows[reference]))
            cur = _scaled(cur, _norm_median(a_rows[reference]))
            against = reference[0]
        _, _, change, p, verdict = _latency_verdict(base, cur, threshold, report.alpha)
        measured = f"second measurement {change:+.1%} against {against} (p={_fmt_p(p)})"
        if doubt:
            measured += f", needed +{threshold:.0%} as {doubt}"
        if verdict == "slower":
            row.note = _join(row.note, f"{measured}: confirmed")
        else:
            row.verdict, row.failed = "unconfirmed", row.grew and not allow_growth
            row.note = _join(row.note, f"{measured}: not repeated, so noise")
    report.failed = any(r.failed for r in report.rows)


def _scaled(samples: list[float], by: float) -> list[float]:
    return [x / by for x in samples]


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def _norm_median(row: dict) -> float:
    return median(row["latency_normalized_samples"])


def _row(
    key: tuple[str, str],
    verdict: str,
    *,
    failed: bool = False,
    current_norm: float | None = None,
    note: str = "",
) -> GateRow:
    variant, runtime = key
    return GateRow(variant, runtime, None, current_norm, None, None, verdict, None, None, note,
                   failed)  # fmt: skip


_VERDICT_STYLE = {
    "slower": "bold red",
    "grew": "bold red",
    "missing": "bold red",
    "faster": "green",
    "new": "cyan",
    "same": "",
    "unconfirmed": "yellow",
    "inconclusive": "yellow",
}


def _fmt(x: float | None, spec: str) -> str:
    if x is None:
        return "-"
    return "0" if x == 0 and "+" in spec else format(x, spec)  # no "+0" for "unchanged"


def _fmt_p(p: float | None) -> str:
    if p is None:
        return "-"
    return "<1e-4" if p < 1e-4 else f"{p:.2g}"


def render(report: GateReport) -> Table:
    """The report as a rich table; latencies in units of the calibration median (x calib)."""
    table = Table(
        title=f"regression gate: threshold {report.threshold:.0%}, alpha {report.alpha:g}",
        caption="latency normalized by the calibration workload of the same run",
    )
    table.add_column("variant")
    table.add_column("runtime")
    table.add_column("baseline (x calib)", justify="right")
    table.add_column("current (x calib)", justify="right")
    table.add_column("change (%)", justify="right")
    table.add_column("vs others (%)", justify="right")
    table.add_column("p", justify="right")
    table.add_column("params Δ", justify="right")
    table.add_column("GMACs Δ", justify="right")
    table.add_column("verdict")
    table.add_column("note")
    for r in report.rows:
        style = _VERDICT_STYLE.get(r.verdict, "")
        if r.verdict == "error":
            style = "bold red" if r.failed else "yellow"
        size_style = "red" if (r.params_change or 0) > 0 or (r.gmacs_change or 0) > 0 else ""
        table.add_row(
            Text(r.variant),
            Text(r.runtime),
            _fmt(r.baseline_norm, ".3f"),
            _fmt(r.current_norm, ".3f"),
            _fmt(None if r.change is None else 100 * r.change, "+.1f"),
            _fmt(None if r.vs_others is None else 100 * r.vs_others, "+.1f"),
            _fmt_p(r.p_value),
            Text(_fmt(r.params_change, "+,"), style=size_style),
            Text(_fmt(r.gmacs_change, "+.4g"), style=size_style),
            Text(r.verdict, style=style),
            Text(r.note),  # notes quote errors: plain text, never markup
        )
    return table
