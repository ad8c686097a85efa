"""The regression gate's comparison: two results documents in, verdicts out. Pure: nothing here
measures, prints or writes; rtbench.check runs the measurements around it and rtbench.report.gate
renders what it found.

Latency is compared after normalization: every latency sample of a run is divided by the sample of
the calibration workload (rtbench.measure.calibration) taken in the same interleaved round
(`latency_normalized_samples`), so a machine that is uniformly slower today passes, while a
change that slows the models but not the calibration is flagged.
A change is significant only when the normalized median grew by more than `threshold` AND a
one-sided Mann-Whitney test says current samples tend to be larger (p < alpha): the threshold
guards against the drift normalization does not remove, the test against a lucky pair of medians.
Params and GMACs must match exactly; growth fails unless allowed.

A shared machine defeats that test alone (a busy neighbour moved variants unequally, by up to
30% against the calibration), so: a variant is judged against the calibration and against the
other variants of the run; one slower together with the others is inconclusive when the
calibration is in doubt (a busy machine, or a calibration 1.5x off the baseline's); and a suspect
is measured again (`confirm`): against a reference variant when it stood out, else against the
calibration, past the threshold (twice it at first on a busy machine). Evidence split between
the two is measured once more: a second confirmation fails it; still split, it is inconclusive,
and so is the outcome (exit 3, never a pass), unless a regression anywhere wins (exit 1)."""

import enum
import math
from dataclasses import dataclass, field, replace
from statistics import median

from rtbench import config, results
from rtbench.config import Compare
from rtbench.measure.load import contention_signs
from rtbench.measure.machine import machine_differences
from rtbench.measure.stats import mann_whitney
from rtbench.results import ResultsError

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
# more than the models): past this ratio between the runs' calibration medians, doubt.
CALIBRATION_RATIO_WARN = 1.5
# Below this many samples per side a rank test has little power: said beside the verdict.
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


class Verdict(str, enum.Enum):
    SAME = "same"
    SLOWER = "slower"  # significant and past the threshold (confirmed, when measured again)
    FASTER = "faster"
    UNCONFIRMED = "unconfirmed"  # slower at first, not when measured again: noise
    INCONCLUSIVE = "inconclusive"  # slower with the others while the calibration is in doubt
    GREW = "grew"  # params or GMACs grew (and latency did not fail)
    ERROR = "error"  # failed in the current run
    MISSING = "missing"  # in the baseline, not in the current run
    NEW = "new"  # in the current run only (or failed in the baseline)


class Outcome(str, enum.Enum):
    """The gate's answer, and the exit code `rtbench check` gives it."""

    PASS = "pass"  # exit 0
    REGRESSION = "regression"  # exit 1: slower, grown, failed or missing
    INCONCLUSIVE = "inconclusive"  # exit 3: cannot tell here; check again on an idle machine

    @property
    def exit_code(self) -> int:
        return {"pass": 0, "regression": 1, "inconclusive": 3}[self.value]


@dataclass(frozen=True)
class Settings:
    threshold: float = DEFAULT_THRESHOLD  # smallest slowdown (fraction) that fails
    alpha: float = DEFAULT_ALPHA  # significance of the one-sided rank test
    allow_growth: bool = False  # let params and GMACs grow


DEFAULTS = Settings()


@dataclass(frozen=True)
class Shift:
    """Current latency samples against the baseline's, normalized by `against`."""

    against: str  # "calibration", "others" (their median change), or a reference variant
    change: float  # median ratio - 1: +0.5 is 50% slower
    p: float  # one-sided Mann-Whitney, in the direction of the change
    needed: float  # the threshold it was judged by
    slower: bool  # significant and past `needed`
    faster: bool


@dataclass(frozen=True)
class Doubt:
    """Why a change of a whole run against the calibration cannot be trusted."""

    busy_run: str | None  # "current" / "baseline": other processes took the CPU while timing
    calibration_ratio: float  # current calibration median / the baseline's


@dataclass(frozen=True)
class GateRow:
    variant: str
    runtime: str
    verdict: Verdict
    failed: bool
    baseline_norm: float | None = None  # variant median / calibration median, baseline run
    current_norm: float | None = None  # same, current run
    vs_calibration: Shift | None = None
    vs_others: Shift | None = None  # None with fewer than MIN_OTHERS other variants
    others_moved: bool = False  # the others' median change is past the threshold too
    samples: int | None = None  # the smaller sample count of the two runs
    params_change: int | None = None  # current - baseline
    gmacs_change: float | None = None  # current - baseline, 0.0 within rel. 1e-9
    grew: bool = False  # params or GMACs grew
    doubted: bool = False  # inconclusive because the calibration was in doubt
    looks: tuple[Shift, ...] = ()  # the measurements made again, in order
    second_error: str | None = None  # why a measurement made again has no figure
    error: str | None = None  # the run's error (verdict error or new)
    error_in_baseline: bool = False
    mismatched: bool = False  # timed though its exported graph disagrees (--allow-mismatch)

    @property
    def change(self) -> float | None:
        return self.vs_calibration.change if self.vs_calibration else None

    @property
    def p_value(self) -> float | None:
        return self.vs_calibration.p if self.vs_calibration else None

    @property
    def stands_out(self) -> bool:
        """Slower against the other variants of its run (significant, past the threshold)."""
        return self.vs_others is not None and self.vs_others.slower

    @property
    def second(self) -> Shift | None:
        """The latest measurement made again."""
        return self.looks[-1] if self.looks else None

    @property
    def split(self) -> bool:
        """Measured again, slower than the threshold, but not clearly enough to confirm."""
        return self.verdict == Verdict.INCONCLUSIVE and bool(self.looks)

    @property
    def low_power(self) -> bool:
        return self.samples is not None and self.samples < MIN_SAMPLES_FOR_P


@dataclass(frozen=True)
class GateReport:
    rows: tuple[GateRow, ...]
    settings: Settings = DEFAULTS
    doubt: Doubt | None = None
    calibration_ms: tuple[float, float] = (math.nan, math.nan)  # baseline, current
    loads: tuple[dict | None, dict | None] = (None, None)  # baseline, current `load` records
    noted: tuple[tuple[str, object, object], ...] = ()  # config that differs but compares
    machine: tuple[tuple[str, object, object], ...] = ()  # what differs in the machines
    references: dict = field(default_factory=dict)  # runtime -> reference variant (2nd look)

    @property
    def failed(self) -> bool:
        return any(r.failed for r in self.rows)

    @property
    def outcome(self) -> Outcome:
        if self.failed:
            return Outcome.REGRESSION
        if any(r.verdict == Verdict.INCONCLUSIVE for r in self.rows):
            return Outcome.INCONCLUSIVE
        return Outcome.PASS


# ---------------------------------------------------------------------------- first look


def compare(baseline: dict, current: dict, settings: Settings = DEFAULTS) -> GateReport:
    """Every row of both runs with its verdict; the report fails on any slower, grown, errored or
    missing variant. Variants only in current are "new" and never fail."""
    baseline, current = usable(baseline, "baseline"), usable(current, "current")
    noted = _check_comparable(baseline, current)
    b_rows = {results.row_key(r): r for r in baseline["rows"]}
    c_rows = {results.row_key(r): r for r in current["rows"]}
    if not b_rows.keys() & c_rows.keys():
        raise GateError("baseline and current have no (variant, runtime) in common")
    ratios = {key: _norm_median(c_rows[key]) / _norm_median(b) for key, b in b_rows.items()
              if b["status"] == "ok" and c_rows.get(key, {}).get("status") == "ok"}  # fmt: skip
    doubt = _calibration_doubt(baseline, current)
    rows = []
    for key, b in b_rows.items():
        c = c_rows.get(key)
        if c is None:
            rows.append(GateRow(*key, Verdict.MISSING, failed=True))
        elif b["status"] == "ok" and c["status"] == "ok":
            others = [r for k, r in ratios.items() if k != key and k[1] == key[1]]
            row = _judge(key, b, c, settings, median(others) if len(others) >= MIN_OTHERS else None)
            moved = bool(others) and median(others) - 1 > settings.threshold
            row = replace(row, others_moved=moved)
            rows.append(_doubted(row, settings) if doubt else row)
        elif c["status"] == "error":  # already broken in the baseline: no regression, but shown
            was_ok = b["status"] == "ok"
            rows.append(GateRow(*key, Verdict.ERROR, failed=was_ok, error=c.get("error"),
                                error_in_baseline=not was_ok))  # fmt: skip
        else:  # errored in the baseline, ok now: no reference to hold it against
            rows.append(GateRow(*key, Verdict.NEW, failed=False, current_norm=_norm_median(c),
                                error_in_baseline=True))  # fmt: skip
    for key, c in c_rows.items():
        if key not in b_rows:
            ok = c["status"] == "ok"
            rows.append(GateRow(*key, Verdict.NEW, failed=False,
                                current_norm=_norm_median(c) if ok else None,
                                error=None if ok else c.get("error")))  # fmt: skip
    cal = (baseline["calibration"]["median_ms"], current["calibration"]["median_ms"])
    return GateReport(tuple(rows), settings, doubt, cal,
                      (baseline.get("load"), current.get("load")), noted,
                      machine_differences(baseline, current))  # fmt: skip


def usable(document: dict, label: str) -> dict:
    """The document upgraded and validated, with what the gate needs beyond a valid document:
    sizes in every row that ran."""
    document = results.parse(document, label)
    for row in results.ok_rows(document):
        if not isinstance(row.get("params"), int) or not results.is_number(row.get("gmacs")):
            raise GateError(f"{label}: {row['variant']} ({row['runtime']}): needs integer "
                            "'params' and numeric 'gmacs' (count FLOPs)")  # fmt: skip
    return document


def _check_comparable(baseline: dict, current: dict) -> tuple:
    """GateError if the runs measured different work or on another device; the config that may
    differ (rtbench.config's NOTE fields) and does, to be said beside the verdicts."""
    for key, b, c in config.differences(baseline["config"], current["config"], Compare.WORK,
                                         Compare.PLACE):  # fmt: skip
        raise GateError(f"config {key} differs (baseline {b!r}, current {c!r}): not comparable")
    b_cal, c_cal = baseline["calibration"]["name"], current["calibration"]["name"]
    if b_cal != c_cal:
        raise GateError(
            f"calibration differs (baseline {b_cal!r}, current {c_cal!r}): rerun the baseline"
        )
    return tuple(config.differences(baseline["config"], current["config"], Compare.NOTE))


def shift(base: list[float], cur: list[float], against: str, settings: Settings,
          needed: float | None = None) -> Shift:  # fmt: skip
    """The change of `cur` over `base` and whether it is significant past `needed` (the
    threshold by default), in either direction: 1.1x faster counts like 1.1x slower."""
    needed = settings.threshold if needed is None else needed
    b_med, c_med = median(base), median(cur)
    change = c_med / b_med - 1.0
    p = mann_whitney(base, cur, "greater" if change >= 0 else "less")
    significant = p < settings.alpha
    return Shift(against, change, p, needed, slower=significant and change > needed,
                 faster=significant and b_med / c_med - 1.0 > needed)  # fmt: skip


def _judge(key: tuple[str, str], b: dict, c: dict, settings: Settings,
           others: float | None) -> GateRow:  # fmt: skip
    """One row's verdict; `others` is the median ratio (current / baseline normalized median) of
    the run's other variants of the same runtime, None when there are too few."""
    base, cur = b["latency_normalized_samples"], c["latency_normalized_samples"]
    vs_cal = shift(base, cur, "calibration", settings)
    vs_others = shift(base, [x / others for x in cur], "others", settings) if others else None
    slower = vs_cal.slower or (vs_others is not None and vs_others.slower)
    verdict = Verdict.SLOWER if slower else Verdict.FASTER if vs_cal.faster else Verdict.SAME
    params_change = c["params"] - b["params"]
    gmacs_change = 0.0 if math.isclose(c["gmacs"], b["gmacs"], rel_tol=1e-9) else (
        c["gmacs"] - b["gmacs"])  # fmt: skip
    grew = params_change > 0 or gmacs_change > 0
    too_big = grew and not settings.allow_growth
    if too_big and not slower:
        verdict = Verdict.GREW
    agreement = (c.get("runtime_settings") or {}).get("agreement") or {}
    return GateRow(*key, verdict, failed=slower or too_big, baseline_norm=median(base),
                   mismatched=agreement.get("ok") is False,
                   current_norm=median(cur), vs_calibration=vs_cal, vs_others=vs_others,
                   samples=min(len(base), len(cur)), params_change=params_change,
                   gmacs_change=gmacs_change, grew=grew)  # fmt: skip


def _calibration_doubt(baseline: dict, current: dict) -> Doubt | None:
    """Why a change of the run as a whole against the calibration cannot be trusted, if it
    cannot: contention (or another machine) moves the models against the calibration by tens of
    percent, as a shared slowdown would."""
    ratio = current["calibration"]["median_ms"] / baseline["calibration"]["median_ms"]
    busy = next((label for label, document in (("current", current), ("baseline", baseline))
                 if contention_signs(document.get("load"))), None)  # fmt: skip
    if busy or max(ratio, 1 / ratio) > CALIBRATION_RATIO_WARN:
        return Doubt(busy, ratio)
    return None


def _doubted(row: GateRow, settings: Settings) -> GateRow:
    """A slower row that moved with the other variants (it did not stand out, and the others
    moved past the threshold too) is inconclusive when the calibration is in doubt: a shared
    slowdown cannot be told from contention."""
    if row.verdict == Verdict.SLOWER and not row.stands_out and row.others_moved:
        return replace(row, verdict=Verdict.INCONCLUSIVE, doubted=True,
                       failed=row.grew and not settings.allow_growth)  # fmt: skip
    return row


# ---------------------------------------------------------------------------- second look


def pending(report: GateReport) -> list[GateRow]:
    """The rows to measure (again): suspects of the first look, and rows whose evidence is
    split (slower than the threshold, not clearly enough to confirm)."""
    return [r for r in report.rows if r.second_error is None
            and ((r.verdict == Verdict.SLOWER and not r.looks) or r.split)]  # fmt: skip


def second_look(report: GateReport) -> tuple[list[str], dict[str, str]]:
    """What to measure again: the pending rows, and per runtime a reference variant for those
    that stood out (the unchanged row most typical of the run: not slower, same size, its change
    within the threshold of the others'). Returns (variant names, runtime -> reference)."""
    suspects = pending(report)
    references = {}
    for runtime in dict.fromkeys(r.runtime for r in suspects if r.stands_out):
        steady = [r for r in report.rows if r.runtime == runtime and r.vs_others is not None
                  and not r.vs_others.slower and not r.vs_calibration.slower and not r.grew
                  and abs(r.vs_others.change) <= report.settings.threshold]  # fmt: skip
        if steady:
            references[runtime] = min(steady, key=lambda r: abs(r.vs_others.change)).variant
    names = [r.variant for r in suspects] + list(references.values())
    return list(dict.fromkeys(names)), references


def confirm(report: GateReport, baseline: dict, again: dict) -> GateReport:
    """The report after the pending rows were measured again (`again`, a results document of
    them and their references), each against its reference variant when it stood out from the
    others (else against the calibration):

    - confirmed (slower) when the change is significant and past the bar: the threshold, or
      twice the threshold for a first confirmation while the calibration is in doubt (a busy
      machine moves single variants by up to 30%); a second confirmation needs the threshold
      only, since noise rarely repeats three times;
    - noise (unconfirmed) when the change is within the threshold;
    - split (inconclusive, measured again while the check allows) otherwise.

    A row whose measurement failed keeps its verdict: nothing showed it was noise."""
    settings = report.settings
    again = results.parse(again, "second measurement")
    b_rows = {results.row_key(r): r for r in results.parse(baseline, "baseline")["rows"]}
    a_rows = {results.row_key(r): r for r in again["rows"]}
    to_measure = {(r.variant, r.runtime) for r in pending(report)}
    _, references = second_look(report)
    rows = []
    for row in report.rows:
        key = (row.variant, row.runtime)
        if key not in to_measure:
            rows.append(row)
            continue
        measured = a_rows.get(key, {})
        if measured.get("status") != "ok":
            rows.append(replace(row, second_error=measured.get("error") or "not measured"))
            continue
        base, cur = (
            b_rows[key]["latency_normalized_samples"],
            measured["latency_normalized_samples"],
        )
        against = "calibration"
        reference = (references.get(row.runtime), row.runtime) if row.stands_out else None
        if reference and reference[0] and a_rows.get(reference, {}).get("status") == "ok":
            base = [x / _norm_median(b_rows[reference]) for x in base]
            cur = [x / _norm_median(a_rows[reference]) for x in cur]
            against = reference[0]
        busy = report.doubt is not None and not row.looks
        needed = settings.threshold * (BUSY_CONFIRM_FACTOR if busy else 1.0)
        look = shift(base, cur, against, settings, needed)
        looks = (*row.looks, look)
        if look.slower:
            rows.append(replace(row, looks=looks, verdict=Verdict.SLOWER, failed=True))
            continue
        verdict = Verdict.UNCONFIRMED if look.change <= settings.threshold else Verdict.INCONCLUSIVE
        rows.append(replace(row, looks=looks, verdict=verdict,
                            failed=row.grew and not settings.allow_growth))  # fmt: skip
    return replace(report, rows=tuple(rows), references=references)


def _norm_median(row: dict) -> float:
    return median(row["latency_normalized_samples"])
