"""The regression gate's findings (rtbench.gate.GateReport) in words: the terminal table, a note
per row saying what decided its verdict, the warnings beside the verdicts, and CI's languages
(JSON, a Markdown job summary, JUnit XML)."""

import dataclasses
import math

from rich.table import Table
from rich.text import Text

from rtbench.gate import (
    CALIBRATION_RATIO_WARN,
    Contrast,
    Doubt,
    GateReport,
    GateRow,
    Outcome,
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
    Verdict.INCONCLUSIVE: "yellow",
}
_TITLE = {Outcome.PASS: "pass", Outcome.REGRESSION: "FAIL: regression",
          Outcome.INCONCLUSIVE: "INCONCLUSIVE: cannot tell within the budget"}  # fmt: skip


def _fmt(x: float | None, spec: str) -> str:
    if x is None:
        return "-"
    return "0" if x == 0 and "+" in spec else format(x, spec)  # no "+0" for "unchanged"


def _percent(contrast: Contrast | None) -> str:
    return "-" if contrast is None else f"{contrast.change:+.1%}"


def interval(contrast: Contrast | None) -> str:
    """+12.0% (+4.1% .. +20.3%): the estimate between the bounds it was judged by."""
    if contrast is None:
        return "-"
    return f"{contrast.change:+.1%} ({contrast.low:+.1%} .. {contrast.high:+.1%})"


def doubt_text(doubt: Doubt) -> str:
    if doubt.busy_run:
        return f"the machine was busy during a {doubt.busy_run} run"
    return f"the calibration ran {doubt.calibration_ratio:.2g}x as long as in the baseline"


def _against(contrast: Contrast) -> str:
    return {"calibration": "the calibration", "others": "the other variants"}[contrast.against]


def note(row: GateRow, report: GateReport) -> str:
    """What decided the row's verdict, in one line."""
    limit = report.settings.threshold
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
    contrasts = [c for c in (row.vs_calibration, row.vs_others) if c is not None]
    if row.verdict == Verdict.SLOWER:
        for c in contrasts:
            if c.fails and c.judged:
                parts.append(f"{c.change:+.1%} against {_against(c)}, above 0 at {c.low:+.1%} "
                             f"after {c.current_runs} runs")  # fmt: skip
    elif row.verdict in (Verdict.SAME, Verdict.FASTER):
        worst = max(c.high for c in contrasts)
        parts.append(f"at most {worst:+.1%}, under the {limit:.0%} threshold, after "
                     f"{row.decided_at} runs")  # fmt: skip
    elif row.verdict == Verdict.INCONCLUSIVE and contrasts:
        open_ = [c for c in contrasts if c.judged and not c.passes]
        if open_:
            c = max(open_, key=lambda c: c.high)
            parts.append(f"could still be {c.high:+.1%} against {_against(c)}, past the "
                         f"{limit:.0%} threshold")  # fmt: skip
    elif row.verdict == Verdict.INCONCLUSIVE:
        parts.append("a second run is needed to judge")
    if row.doubted and report.doubt:
        parts.append(f"slower against the calibration, but {doubt_text(report.doubt)}")
    elif report.doubt and row.verdict == Verdict.INCONCLUSIVE:
        parts.append(f"the calibration cannot pass it: {doubt_text(report.doubt)}")
    if row.params_change:
        parts.append(f"params {row.params_change:+,}")
    if row.gmacs_change:
        parts.append(f"GMACs {row.gmacs_change:+.4g}")
    if row.grew:
        parts.append("growth allowed" if report.settings.allow_growth else "growth not allowed")
    return "; ".join(p for p in parts if p)


def evidence(row: GateRow, report: GateReport) -> str:
    """Every figure behind a row's verdict, then its note: what a JUnit failure carries."""
    parts = [
        f"{interval(c)} against {_against(c)} ({c.baseline_runs} baseline runs, "
        f"{c.current_runs} current)"
        for c in (row.vs_calibration, row.vs_others)
        if c
    ]
    said = note(row, report)
    return "; ".join(parts + ([said] if said else []))


SLOWER_HOST = 1.10  # a calibration this much slower than the baseline's is said: a slow hour


def warnings(report: GateReport) -> list[str]:
    """What weakens the comparison without stopping it: a busy machine, a calibration that ran
    much longer or shorter, settings that differ, a check stopped before deciding."""
    out = []
    for label, loads in zip(("baseline", "current"), report.loads, strict=True):
        for i, load in enumerate(loads, 1):
            out += [f"{label} run {i}: {line}" for line in load_warnings(load)]
    for label, runs in zip(("baseline", "current"), report.left_out, strict=True):
        out += [f"{label} run {i}: left out of the contrast against the calibration (busy while "
                "it timed); the quiet runs judge it" for i in runs]  # fmt: skip
    b_ms, c_ms = report.calibration_ms
    if max(b_ms, c_ms) / min(b_ms, c_ms) > CALIBRATION_RATIO_WARN:
        out.append(
            f"calibration median {b_ms:.3g} ms in baseline, {c_ms:.3g} ms in current: a different"
            " or busy machine; contention skews normalized latencies by tens of percent"
        )
    elif c_ms > SLOWER_HOST * b_ms:
        out.append(
            f"the calibration read {c_ms / b_ms - 1:.0%} slower than in the baseline (the host is "
            "slower now, or busy): the models slowed more than it in such hours, so sessions are "
            f"judged {math.expm1(report.session_sd):.1%} apart (sd) against the calibration; the "
            "check may need more runs, or be unable to tell"
        )
    out += [f"config {key} differs (baseline {b!r}, current {c!r})" for key, b, c in report.noted]
    if report.machine:
        said = "; ".join(f"{key} {b} / {c}" for key, b, c in sorted(report.machine, key=str))
        out.append(f"the machines differ (baseline / current): {said}; information, not a failure")
    if report.stopped:
        out.append(f"stopped undecided: {report.stopped}")
    return out


def caption(report: GateReport) -> str:
    s = report.settings
    return (f"{report.runs[1]} current runs against {report.runs[0]} baseline runs (at most "
            f"{s.max_runs}); latency normalized by the calibration workload of the same run; "
            f"threshold {s.threshold:.0%}, false alarms at most {s.alpha:g} a check, a change "
            f"of the threshold passed at most {s.beta:g}; sessions apart by "
            f"{math.expm1(report.session_sd):.1%} (sd) against the calibration")  # fmt: skip


def render(report: GateReport) -> Table:
    """The report as a rich table; latencies in units of the calibration median (x calib)."""
    table = Table(title=f"regression gate: {_TITLE[report.outcome]}", caption=caption(report),
                  caption_justify="left")  # fmt: skip
    for header in ("variant", "runtime"):
        table.add_column(header)
    for header in ("baseline (x calib)", "current (x calib)", "vs calibration (bounds)",
                   "vs others (bounds)", "params Δ", "GMACs Δ"):  # fmt: skip
        table.add_column(header, justify="right")
    table.add_column("verdict")
    table.add_column("note")
    for r in report.rows:
        style = _VERDICT_STYLE.get(r.verdict, "")
        if r.verdict == Verdict.ERROR:
            style = "bold red" if r.failed else "yellow"
        size_style = "red" if (r.params_change or 0) > 0 or (r.gmacs_change or 0) > 0 else ""
        table.add_row(
            rich_text(r.variant),
            rich_text(r.runtime),
            _fmt(r.baseline_norm, ".3f"),
            _fmt(r.current_norm, ".3f"),
            interval(r.vs_calibration),
            interval(r.vs_others),
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
    verdict = _TITLE[report.outcome]
    if unsure and report.outcome != Outcome.REGRESSION:
        verdict += f"; undecided: {', '.join(unsure)}"
    return f"gate: {verdict} after {report.runs[1]} runs (baseline {baseline})"


# ---------------------------------------------------------------------------- CI's languages

GATE_SCHEMA = "rtbench.gate/2"  # `rtbench check --format json`; /2: runs as the unit


def _record(contrast: Contrast | None) -> dict | None:
    return None if contrast is None else dataclasses.asdict(contrast)


def as_json(report: GateReport, baseline: str) -> dict:
    """The report as data, for machines: every row's verdict and evidence as fields."""
    rows = []
    for r in report.rows:
        rows.append({
            "variant": r.variant, "runtime": r.runtime, "verdict": r.verdict.value,
            "failed": r.failed, "baseline_norm": r.baseline_norm, "current_norm": r.current_norm,
            "vs_calibration": _record(r.vs_calibration), "vs_others": _record(r.vs_others),
            "decided_at": r.decided_at, "params_change": r.params_change,
            "gmacs_change": r.gmacs_change, "grew": r.grew, "doubted": r.doubted,
            "error": r.error, "note": note(r, report),
        })  # fmt: skip
    doubt = report.doubt and dataclasses.asdict(report.doubt)
    return {"schema": GATE_SCHEMA, "outcome": report.outcome.value,
            "exit_code": report.outcome.exit_code, "baseline": baseline,
            "runs": {"baseline": report.runs[0], "current": report.runs[1]},
            "settings": report.settings.model_dump(), "doubt": doubt,
            "stopped": report.stopped,
            "calibration_ms": {"baseline": report.calibration_ms[0],
                               "current": report.calibration_ms[1]},
            "session_sd": report.session_sd,
            "warnings": warnings(report), "rows": rows}  # fmt: skip


def markdown_summary(report: GateReport, baseline: str) -> str:
    """A job summary (GitHub's $GITHUB_STEP_SUMMARY): the outcome, then a row per variant."""
    said = markdown_text(caption(report))
    lines = [f"### rtbench check: {_TITLE[report.outcome]}", "",
             f"Baseline {markdown_code(baseline)}; {said}.", ""]  # fmt: skip
    cells = []
    for r in report.rows:
        mark = "**" if r.failed else ""
        cells.append([markdown_text(r.variant), markdown_text(r.runtime),
                      markdown_text(interval(r.vs_calibration)),
                      markdown_text(interval(r.vs_others)), f"{mark}{r.verdict.value}{mark}",
                      markdown_text(note(r, report)) or "-"])  # fmt: skip
    headers = ["variant", "runtime", "vs calibration", "vs others", "verdict", "why"]
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
    s = report.settings
    for name, value in (("outcome", report.outcome.value), ("baseline", baseline),
                        ("threshold", s.threshold), ("alpha", s.alpha), ("beta", s.beta),
                        ("session_sd", s.session_sd), ("session_slope", s.session_slope),
                        ("baseline_runs", report.runs[0]),
                        ("current_runs", report.runs[1])):  # fmt: skip
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
