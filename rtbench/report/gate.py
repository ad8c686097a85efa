"""The regression gate's findings (rtbench.gate.GateReport) in words: the terminal table, a note
per row saying what decided its verdict, and the warnings beside the verdicts."""

import dataclasses

from rich.table import Table
from rich.text import Text

from rtbench.gate import (
    CALIBRATION_RATIO_WARN,
    Doubt,
    GateReport,
    GateRow,
    Outcome,
    Shift,
    Verdict,
)
from rtbench.report.vocabulary import load_warnings, markdown_table, markdown_text
from rtbench.text import markdown_code, rich_text, xml_text

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
    parts = ["† its exported graph's outputs differ from PyTorch's (--allow-mismatch)"
             if row.mismatched else ""]  # fmt: skip
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
    for n, look in enumerate(row.looks, start=2):
        said = (f"measurement {n} {look.change:+.1%} against {against(look)} "
                f"(p={fmt_p(look.p)}, needed +{look.needed:.0%}")  # fmt: skip
        said += f" as {doubt_text(report.doubt)})" if report.doubt and n == 2 else ")"
        if look.slower:
            said += ": confirmed"
        elif look.change <= report.settings.threshold:
            said += ": not repeated, so noise"
        else:
            said += ": split"
        parts.append(said)
    if row.split:
        parts.append("still split: check again on an idle machine")
    if row.second_error is not None:
        parts.append(f"measuring again failed ({row.second_error}): not confirmed")
    return "; ".join(p for p in parts if p)


def evidence(row: GateRow, report: GateReport) -> str:
    """Every figure behind a row's verdict, then its note: what a JUnit failure carries."""
    parts = []
    for look in (row.vs_calibration, row.vs_others):
        if look is not None:
            parts.append(f"{look.change:+.1%} against {against(look)} (p={fmt_p(look.p)})")
    if row.samples is not None:
        parts.append(f"{row.samples} samples a side")
    said = note(row, report)
    return "; ".join(parts + ([said] if said else []))


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
    if report.machine:
        said = "; ".join(f"{key} {b} / {c}" for key, b, c in sorted(report.machine, key=str))
        out.append(f"the machines differ (baseline / current): {said}; information, not a failure")
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
            rich_text(r.variant),
            rich_text(r.runtime),
            _fmt(r.baseline_norm, ".3f"),
            _fmt(r.current_norm, ".3f"),
            _fmt(None if r.change is None else 100 * r.change, "+.1f"),
            _fmt(others, "+.1f"),
            fmt_p(r.p_value),
            Text(_fmt(r.params_change, "+,"), style=size_style),
            Text(_fmt(r.gmacs_change, "+.4g"), style=size_style),
            Text(r.verdict.value, style=style),
            rich_text(note(r, report)),  # notes quote errors: plain text, never markup
        )
    return table


def verdict_line(report: GateReport, baseline: str) -> str:
    """The gate's last line: what CI greps for."""
    unsure = [f"{r.variant} ({r.runtime})" for r in report.rows
              if r.verdict == Verdict.INCONCLUSIVE]  # fmt: skip
    verdict = {
        Outcome.REGRESSION: "FAIL: regression",
        Outcome.INCONCLUSIVE: "INCONCLUSIVE: check again on an idle machine",
        Outcome.PASS: "pass",
    }[report.outcome]
    if unsure:
        verdict += f"; inconclusive for {', '.join(unsure)}"
    return f"gate: {verdict} (baseline {baseline})"


# ---------------------------------------------------------------------------- CI's languages

GATE_SCHEMA = "rtbench.gate/1"  # `rtbench check --format json`


def _shift_record(shift: Shift | None) -> dict | None:
    return None if shift is None else dataclasses.asdict(shift)


def as_json(report: GateReport, baseline: str) -> dict:
    """The report as data, for machines: every row's verdict and evidence as fields."""
    rows = []
    for r in report.rows:
        rows.append({
            "variant": r.variant, "runtime": r.runtime, "verdict": r.verdict.value,
            "failed": r.failed, "baseline_norm": r.baseline_norm, "current_norm": r.current_norm,
            "vs_calibration": _shift_record(r.vs_calibration),
            "vs_others": _shift_record(r.vs_others), "others_moved": r.others_moved,
            "looks": [_shift_record(look) for look in r.looks], "samples": r.samples,
            "params_change": r.params_change, "gmacs_change": r.gmacs_change, "grew": r.grew,
            "doubted": r.doubted, "error": r.error, "second_error": r.second_error,
            "note": note(r, report),
        })  # fmt: skip
    doubt = report.doubt and dataclasses.asdict(report.doubt)
    return {"schema": GATE_SCHEMA, "outcome": report.outcome.value,
            "exit_code": report.outcome.exit_code, "baseline": baseline,
            "settings": dataclasses.asdict(report.settings), "doubt": doubt,
            "calibration_ms": {"baseline": report.calibration_ms[0],
                               "current": report.calibration_ms[1]},
            "warnings": warnings(report), "rows": rows}  # fmt: skip


def _percent(shift: Shift | None) -> str:
    return "-" if shift is None else f"{shift.change:+.1%}"


def markdown_summary(report: GateReport, baseline: str) -> str:
    """A job summary (GitHub's $GITHUB_STEP_SUMMARY): the outcome, then a row per variant."""
    title = {Outcome.PASS: "pass", Outcome.REGRESSION: "FAIL: regression",
             Outcome.INCONCLUSIVE: "inconclusive: check again on an idle machine"}  # fmt: skip
    lines = [f"### rtbench check: {title[report.outcome]}", "",
             f"Baseline {markdown_code(baseline)}; threshold "
             f"{report.settings.threshold:.0%}, alpha {report.settings.alpha:g}; latency "
             "normalized by the calibration workload of the same run.", ""]  # fmt: skip
    cells = []
    for r in report.rows:
        looks = ", ".join(f"{look.change:+.1%}" for look in r.looks) or "-"
        mark = "**" if r.failed else ""
        cells.append([markdown_text(r.variant), markdown_text(r.runtime),
                      _percent(r.vs_calibration), _percent(r.vs_others), fmt_p(r.p_value),
                      looks, f"{mark}{r.verdict.value}{mark}",
                      markdown_text(note(r, report)) or "-"])  # fmt: skip
    headers = ["variant", "runtime", "vs calibration", "vs others", "p", "measured again",
               "verdict", "why"]  # fmt: skip
    lines += markdown_table(headers, cells, ("variant", "runtime", "verdict", "why"))
    lines += [""] + [f"- warning: {markdown_text(w)}" for w in warnings(report)]
    return "\n".join(lines).rstrip() + "\n"


def junit_xml(report: GateReport, baseline: str) -> str:
    """A JUnit file: a testcase per variant and runtime; a regression is a failure carrying its
    evidence, an inconclusive row is skipped with type "inconclusive", an error row an error."""
    from xml.etree import ElementTree as ET

    failures = sum(r.failed and r.verdict != Verdict.ERROR for r in report.rows)
    errors = sum(r.failed and r.verdict == Verdict.ERROR for r in report.rows)
    skipped = sum(r.verdict == Verdict.INCONCLUSIVE for r in report.rows)
    counts = {"tests": len(report.rows), "failures": failures, "errors": errors,
              "skipped": skipped}  # fmt: skip
    suite = ET.Element("testsuite", name="rtbench check", **{k: str(v) for k, v in counts.items()})
    properties = ET.SubElement(suite, "properties")
    for name, value in (("outcome", report.outcome.value), ("baseline", baseline),
                        ("threshold", report.settings.threshold),
                        ("alpha", report.settings.alpha)):  # fmt: skip
        ET.SubElement(properties, "property", name=name, value=xml_text(value))
    for r in report.rows:
        # ElementTree escapes markup; xml_text rewrites what XML 1.0 forbids (a NUL, ESC).
        case = ET.SubElement(suite, "testcase", classname=xml_text(f"rtbench.gate.{r.runtime}"),
                             name=xml_text(r.variant))  # fmt: skip
        found = xml_text(evidence(r, report))
        summary = f"{r.verdict.value}: {_percent(r.vs_calibration)} against the calibration"
        if r.failed:
            kind = "error" if r.verdict == Verdict.ERROR else "failure"
            ET.SubElement(case, kind, message=summary, type=r.verdict.value).text = found
        elif r.verdict == Verdict.INCONCLUSIVE:
            ET.SubElement(case, "skipped", message=f"{summary}; {found}", type="inconclusive")
        else:
            ET.SubElement(case, "system-out").text = f"{r.verdict.value}: {found}"
    tree = ET.ElementTree(ET.Element("testsuites"))
    tree.getroot().append(suite)
    ET.indent(tree)
    return ET.tostring(tree.getroot(), encoding="unicode", xml_declaration=True) + "\n"
