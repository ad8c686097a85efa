"""The regression gate's findings (rtbench.gate.GateReport) in words: the terminal table, a note
per row saying what decided its verdict, and the warnings beside the verdicts."""

from rich.table import Table
from rich.text import Text

from rtbench.gate import CALIBRATION_RATIO_WARN, Doubt, GateReport, GateRow, Shift, Verdict
from rtbench.report.vocabulary import load_warnings

_VERDICT_STYLE = {
    Verdict.SLOWER: "bold red",
    Verdict.GREW: "bold red",
    Verdict.MISSING: "bold red",
    Verdict.FASTER: "green",
    Verdict.NEW: "cyan",
    Verdict.SAME: "",
    Verdict.UNCONFIRMED: "yellow",
    Verdict.INCONCLUSIVE: "yellow",
}


def fmt_p(p: float | None) -> str:
    if p is None:
        return "-"
    return "<1e-4" if p < 1e-4 else f"{p:.2g}"


def _fmt(x: float | None, spec: str) -> str:
    if x is None:
        return "-"
    return "0" if x == 0 and "+" in spec else format(x, spec)  # no "+0" for "unchanged"


def doubt_text(doubt: Doubt) -> str:
    if doubt.busy_run:
        return f"the machine was busy during the {doubt.busy_run} run"
    return f"the calibration ran {doubt.calibration_ratio:.2g}x as long as in the baseline"


def against(shift: Shift) -> str:
    return {"calibration": "the calibration", "others": "the other variants"}.get(
        shift.against, shift.against
    )


def note(row: GateRow, report: GateReport) -> str:
    """What decided the row's verdict, in one line."""
    parts = []
    if row.verdict == Verdict.MISSING:
        parts.append("not in the current run")
    if row.error is not None or row.error_in_baseline:
        if row.verdict == Verdict.ERROR:
            prefix = "also in baseline: " if row.error_in_baseline else ""
            parts.append(prefix + (row.error or "no message"))
        elif row.verdict == Verdict.NEW:
            parts.append("errored in baseline" if row.error_in_baseline else f"error: {row.error}")
    if row.stands_out and not (row.vs_calibration and row.vs_calibration.slower):
        parts.append(f"{row.vs_others.change:+.1%} against the other variants "
                     f"(p={fmt_p(row.vs_others.p)})")  # fmt: skip
    if row.low_power:
        parts.append(f"only {row.samples} samples: little power")
    if row.params_change:
        parts.append(f"params {row.params_change:+,}")
    if row.gmacs_change:
        parts.append(f"GMACs {row.gmacs_change:+.4g}")
    if row.grew:
        parts.append("growth allowed" if report.settings.allow_growth else "growth not allowed")
        if row.verdict == Verdict.GREW and row.change is not None:
            latency = "same" if not row.vs_calibration.faster else "faster"
            parts.append(f"latency {latency} ({row.change:+.1%})")
    if row.doubted and report.doubt:
        parts.append(f"slower with the others against the calibration, but "
                     f"{doubt_text(report.doubt)}")  # fmt: skip
    if row.second_error is not None:
        parts.append(f"second measurement failed ({row.second_error}): not confirmed")
    if row.second is not None:
        said = (f"second measurement {row.second.change:+.1%} against {against(row.second)} "
                f"(p={fmt_p(row.second.p)})")  # fmt: skip
        if report.doubt:
            said += f", needed +{row.second.needed:.0%} as {doubt_text(report.doubt)}"
        confirmed = row.verdict == Verdict.SLOWER
        parts.append(f"{said}: {'confirmed' if confirmed else 'not repeated, so noise'}")
    return "; ".join(parts)


def warnings(report: GateReport) -> list[str]:
    """What weakens the comparison without stopping it: a busy machine, a calibration that ran
    much longer or shorter, settings that differ."""
    out = [f"{label} run: {line}" for label, load in zip(("baseline", "current"), report.loads,
           strict=True) for line in load_warnings(load)]  # fmt: skip
    b_ms, c_ms = report.calibration_ms
    if max(b_ms, c_ms) / min(b_ms, c_ms) > CALIBRATION_RATIO_WARN:
        out.append(
            f"calibration median {b_ms:.3g} ms in baseline, {c_ms:.3g} ms in current: a different"
            " or busy machine; contention skews normalized latencies by tens of percent"
        )
    out += [f"config {key} differs (baseline {b!r}, current {c!r})" for key, b, c in report.noted]
    return out


def render(report: GateReport) -> Table:
    """The report as a rich table; latencies in units of the calibration median (x calib)."""
    settings = report.settings
    table = Table(
        title=f"regression gate: threshold {settings.threshold:.0%}, alpha {settings.alpha:g}",
        caption="latency normalized by the calibration workload of the same run",
    )
    for header in ("variant", "runtime"):
        table.add_column(header)
    for header in ("baseline (x calib)", "current (x calib)", "change (%)", "vs others (%)", "p",
                   "params Δ", "GMACs Δ"):  # fmt: skip
        table.add_column(header, justify="right")
    table.add_column("verdict")
    table.add_column("note")
    for r in report.rows:
        style = _VERDICT_STYLE.get(r.verdict, "")
        if r.verdict == Verdict.ERROR:
            style = "bold red" if r.failed else "yellow"
        size_style = "red" if (r.params_change or 0) > 0 or (r.gmacs_change or 0) > 0 else ""
        others = None if r.vs_others is None else 100 * r.vs_others.change
        table.add_row(
            Text(r.variant),
            Text(r.runtime),
            _fmt(r.baseline_norm, ".3f"),
            _fmt(r.current_norm, ".3f"),
            _fmt(None if r.change is None else 100 * r.change, "+.1f"),
            _fmt(others, "+.1f"),
            fmt_p(r.p_value),
            Text(_fmt(r.params_change, "+,"), style=size_style),
            Text(_fmt(r.gmacs_change, "+.4g"), style=size_style),
            Text(r.verdict.value, style=style),
            Text(note(r, report)),  # notes quote errors: plain text, never markup
        )
    return table


def verdict_line(report: GateReport, baseline: str) -> str:
    """The gate's last line: what CI greps for."""
    verdict = "FAIL: regression" if report.failed else "pass"
    unsure = [f"{r.variant} ({r.runtime})" for r in report.rows
              if r.verdict == Verdict.INCONCLUSIVE]  # fmt: skip
    if unsure:
        verdict += f"; inconclusive for {', '.join(unsure)}: check again on an idle machine"
    return f"gate: {verdict} (baseline {baseline})"
