"""The regression gate's decision: runs of the baseline and runs of the current code in, verdicts
out. Pure: nothing here measures, prints or writes; rtbench.check measures the runs and asks here
after each one, rtbench.report.gate renders what was found (the why: docs/design.md).

The unit is the run (a process with its own build and warm-up): each gives one figure per row,
the log of its median calibration-normalized sample. A row is judged against the calibration (the
figure; a slowdown of every variant moves it too) and against the other variants (the figure less
the median of the run's others; needs MIN_OTHERS). Each contrast is Welch's t of the baseline's
runs against the current ones, each side's run-to-run variance pooled over the rows of its runs;
the calibration contrast also carries how far sessions land apart (Settings.session_variance).
After each current run from the second on (a look), a row is slower when a contrast's lower bound
is above 0 and its estimate past half the threshold (ALPHA spent over the looks, split over every
contrast of every row); same (faster: below 0 too) when every upper bound is under the threshold
(BETA spent alike); else undecided, and another run is measured until the runs or the budget run
out: inconclusive (exit 3), never a pass. A decided row keeps its verdict (busy runs, doubt:
`compare`). Params and GMACs must match; growth fails unless allowed.
"""

import enum
import math
from dataclasses import dataclass, replace
from statistics import median

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rtbench import results
from rtbench.measure.machine import machine_differences
from rtbench.measure.stats import Difference, Spread, spent, welch
from rtbench.runset import (
    GateError,
    busy_runs,
    calibration_median,
    check_comparable,
    figures,
    levels,
    mean_squares,
    pooled_table,
    usable,
    usable_baseline,
)
from rtbench.validation import one_line

DEFAULT_THRESHOLD = 0.10  # the smallest slowdown a check must fail (fraction)
DEFAULT_ALPHA = 0.05  # false alarms: at most 1 check in 20, all rows and looks together
DEFAULT_BETA = 0.05  # a row that grew by exactly the threshold passes at most 1 time in 20
DEFAULT_MAX_RUNS = 8  # current runs a check measures at most (looks at 2, 3, ... of them)
# Seconds a check may measure for: a run of the gate's workload takes 35-50 s on an idle 2-core
# AMD EPYC, so 8 fit. A run starts only when, as long as the last one, it ends within the budget.
DEFAULT_BUDGET_S = 400.0
# Runs contended by other jobs had calibration medians 5-6x the quiet ones: past this ratio,
# doubt. Not 1.5: the 2-core Xeon's quiet runs took 46 ms and 75 ms at different hours, every
# model's normalized level within 2.5% between them; 1.5 left every such check undecided.
CALIBRATION_RATIO_WARN = 2.0
# Sessions apart (Settings.session_variance): fitted by benchmarks/noise_fit.py to 15 sessions of
# unchanged one-thread checks on a 2-core AMD EPYC, 2 parameters: 13 df.
DEFAULT_SESSION_SD = 0.0075
DEFAULT_SESSION_SLOPE = 0.08
SESSION_DF = 13


class Verdict(str, enum.Enum):
    SAME = "same"  # within the threshold, shown
    FASTER = "faster"  # within the threshold, and faster by half of it or more
    SLOWER = "slower"  # slower, shown
    INCONCLUSIVE = "inconclusive"  # not decided (yet): never a pass
    GREW = "grew"  # params or GMACs grew (and latency did not fail)
    ERROR = "error"  # failed in a current run
    MISSING = "missing"  # in the baseline, not in the current runs
    NEW = "new"  # in the current runs only (or failed in the baseline)


class Outcome(str, enum.Enum):
    """The gate's answer, and the exit code `rtbench check` gives it."""

    PASS = "pass"  # exit 0
    REGRESSION = "regression"  # exit 1: slower, grown, failed or missing
    INCONCLUSIVE = "inconclusive"  # exit 3: cannot tell within the budget

    @property
    def exit_code(self) -> int:
        return {"pass": 0, "regression": 1, "inconclusive": 3}[self.value]


class Settings(BaseModel):
    """The check's settings, declared once with their limits: `rtbench check`'s options."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    threshold: float = Field(
        DEFAULT_THRESHOLD,
        gt=0,
        lt=10,
        allow_inf_nan=False,
        description="Smallest slowdown (fraction) a check must fail.",
    )
    alpha: float = Field(
        DEFAULT_ALPHA,
        gt=0,
        lt=0.5,
        allow_inf_nan=False,
        description="False alarms: at most this share of checks of unchanged "
        "code fail, all rows and runs together.",
    )
    beta: float = Field(
        DEFAULT_BETA,
        gt=0,
        lt=0.5,
        allow_inf_nan=False,
        description="At most this share of rows slower by exactly the threshold pass.",
    )
    max_runs: int = Field(
        DEFAULT_MAX_RUNS, ge=2, le=100, description="Current runs a check measures at most."
    )
    budget_s: float = Field(
        DEFAULT_BUDGET_S,
        gt=0,
        allow_inf_nan=False,
        description="Seconds of measuring; undecided when they run out.",
    )
    session_sd: float = Field(
        DEFAULT_SESSION_SD,
        ge=0,
        lt=1,
        allow_inf_nan=False,
        description="How far one session's rows land from another's against the calibration "
        "(sd, fraction): added to that contrast's variance, since more runs do not remove it.",
    )
    session_slope: float = Field(
        DEFAULT_SESSION_SLOPE,
        ge=0,
        lt=10,
        allow_inf_nan=False,
        description="And more, this much of how far slower the check's calibration reads than "
        "the baseline's (log): a host slowed by other work slows models more than it.",
    )
    allow_growth: bool = Field(False, description="Let params and GMACs grow.")

    def session_variance(self, calibration_ratio: float) -> float:
        """How far a session lands from another against the calibration, a variance (log scale)
        more runs do not shrink: sd^2 + (slope x r)^2, r how much slower (log) the check's
        calibration read than the baseline's (`calibration_ratio`): in the host's slow hours the
        models slowed more than the calibration did."""
        slower = max(0.0, math.log(calibration_ratio))
        return math.log1p(self.session_sd) ** 2 + (self.session_slope * slower) ** 2

    @property
    def limit(self) -> float:
        """The threshold on the log scale the contrasts are in."""
        return math.log1p(self.threshold)

    @classmethod
    def make(cls, flags: dict[str, str], **values) -> "Settings":
        """The settings, or GateError in one line naming the flag (`flags`: field -> flag)."""
        try:
            return cls(**values)
        except ValidationError as err:
            where = lambda loc: flags.get(str(loc[0]), str(loc[0]))  # noqa: E731
            raise GateError(one_line(err, cls, where, show_value=True)) from None


DEFAULTS = Settings()


@dataclass(frozen=True)
class Contrast:
    """One row's current runs against the baseline's, on one contrast, at one look."""

    against: str  # "calibration" or "others"
    change: float  # exp(estimate) - 1: +0.5 is 50% slower
    low: float  # the lower bound the failure was judged by, as a change
    high: float  # the upper bound the pass was judged by, as a change
    fails: bool
    passes: bool
    baseline_runs: int
    current_runs: int
    judged: bool = True  # False: shown, but it may neither fail nor pass (calibration in doubt)


@dataclass(frozen=True)
class Doubt:
    """Why the contrast against the calibration cannot be trusted."""

    busy_run: str | None  # "current" / "baseline": other processes took the CPU while timing
    calibration_ratio: float  # current calibration median / the baseline's


@dataclass(frozen=True)
class GateRow:
    variant: str
    runtime: str
    verdict: Verdict
    failed: bool
    baseline_norm: float | None = None  # median over runs of the run's normalized median
    current_norm: float | None = None
    vs_calibration: Contrast | None = None
    vs_others: Contrast | None = None  # None with fewer than MIN_OTHERS other variants
    decided_at: int | None = None  # the current runs when the latency verdict was reached
    params_change: int | None = None  # current - baseline
    gmacs_change: float | None = None  # current - baseline, 0.0 within rel. 1e-9
    grew: bool = False
    doubted: bool = False  # slower against the calibration while it was in doubt
    error: str | None = None
    error_in_baseline: bool = False
    mismatched: bool = False  # timed though its exported graph disagrees (--allow-mismatch)

    @property
    def change(self) -> float | None:
        return self.vs_calibration.change if self.vs_calibration else None

    @property
    def decided(self) -> bool:
        return self.verdict != Verdict.INCONCLUSIVE


@dataclass(frozen=True)
class GateReport:
    rows: tuple[GateRow, ...]
    settings: Settings = DEFAULTS
    runs: tuple[int, int] = (0, 0)  # baseline runs, current runs
    doubt: Doubt | None = None
    calibration_ms: tuple[float, float] = (math.nan, math.nan)  # medians over runs
    loads: tuple[tuple[dict | None, ...], tuple[dict | None, ...]] = ((), ())
    noted: tuple[tuple[str, object, object], ...] = ()  # config that differs but compares
    machine: tuple[tuple[str, object, object], ...] = ()  # what differs in the machines
    stopped: str | None = None  # why the check stopped before every row was decided
    # runs (1-based, baseline's and current) busy while timing: left out of the calibration
    # contrast, which the quiet ones judge (with fewer than 2 quiet runs a side: doubt instead)
    left_out: tuple[tuple[int, ...], tuple[int, ...]] = ((), ())
    session_sd: float = 0.0  # the session term the calibration contrast carried (sd, log scale)

    @property
    def failed(self) -> bool:
        return any(r.failed for r in self.rows)

    @property
    def decided(self) -> bool:
        """Nothing more to measure: a row failed, or every row is decided."""
        return self.failed or all(r.decided for r in self.rows)

    @property
    def outcome(self) -> Outcome:
        if self.failed:
            return Outcome.REGRESSION
        return Outcome.PASS if self.decided else Outcome.INCONCLUSIVE


# ---------------------------------------------------------------------------- a look


def compare(
    baseline: list[dict],
    current: list[dict],
    settings: Settings = DEFAULTS,
    before: GateReport | None = None,
) -> GateReport:
    """Every row's verdict after len(current) current runs; rows decided at an earlier look
    (`before`) keep their verdict. Variants only in current are "new" and never fail."""
    baseline = usable_baseline(baseline)
    current = [usable(r, f"current run {i}", i == 1) for i, r in enumerate(current, 1)]
    if not current:
        raise GateError("no current run to compare")
    noted = ()
    for i, run in enumerate(current, 1):
        noted = noted or check_comparable(baseline[0], run, f"current run {i}")
    b_rows = {results.row_key(r): r for r in baseline[0]["rows"]}
    c_rows = {results.row_key(r): r for r in current[0]["rows"]}
    if not b_rows.keys() & c_rows.keys():
        raise GateError("baseline and current have no (variant, runtime) in common")
    level = levels(baseline)
    b_figs, c_figs = figures(baseline, level), figures(current, level)
    # Busy runs are left out of the calibration contrast while 2 quiet runs a side remain;
    # otherwise they stay in and that contrast is in doubt (it can neither fail nor pass; so is
    # it with the calibration 2x off), and a row fails on the others alone.
    busy = (busy_runs(baseline), busy_runs(current))
    quiet = tuple([f for i, f in enumerate(figs, 1) if i not in out]
                  for figs, out in zip((b_figs, c_figs), busy, strict=True))  # fmt: skip
    enough = min(map(len, quiet)) >= 2
    left_out = busy if enough else ((), ())
    doubted_side = None if enough else ("current" if busy[1] else "baseline" if busy[0] else None)
    calibration = (calibration_median(baseline), calibration_median(current))
    judged = [calibration_median(runs, out)  # the runs the calibration contrast judges
              for runs, out in zip((baseline, current), left_out, strict=True)]  # fmt: skip
    doubt = _doubt(calibration[1] / calibration[0], doubted_side)
    session = settings.session_variance(judged[1] / judged[0])
    sides = {0: quiet if enough else (b_figs, c_figs), 1: (b_figs, c_figs)}
    tested = [key for key in b_rows if key in c_rows and b_rows[key]["status"] == "ok"]
    n_tests = max(1, sum(1 + any(key in f[1] for f in c_figs) for key in tested))
    kept = {(r.variant, r.runtime): r for r in (before.rows if before else ()) if r.decided}
    tables = {part: tuple(mean_squares(figs, tested, part) for figs in pair)
              for part, pair in sides.items()}  # fmt: skip
    rows = []
    for key, b in b_rows.items():
        errors = [r for run in current for r in run["rows"] if results.row_key(r) == key
                  and r["status"] != "ok"]  # fmt: skip
        if key not in c_rows:
            rows.append(GateRow(*key, Verdict.MISSING, failed=True))
        elif errors:  # already broken in the baseline: no regression, but shown
            was_ok = b["status"] == "ok"
            rows.append(GateRow(*key, Verdict.ERROR, failed=was_ok, error=errors[0].get("error"),
                                error_in_baseline=not was_ok))  # fmt: skip
        elif b["status"] != "ok":  # errored in the baseline, ok now: nothing to hold it against
            rows.append(GateRow(*key, Verdict.NEW, failed=False, error_in_baseline=True))
        elif key in kept:
            rows.append(kept[key])
        else:
            rows.append(_judge(key, b, current, sides, settings, n_tests, doubt, tables, session))
    for key, c in c_rows.items():
        if key not in b_rows:
            ok = c["status"] == "ok"
            rows.append(GateRow(*key, Verdict.NEW, failed=False,
                                error=None if ok else c.get("error")))  # fmt: skip
    return GateReport(tuple(rows), settings, (len(baseline), len(current)), doubt, calibration,
                      (tuple(r.get("load") for r in baseline),
                       tuple(r.get("load") for r in current)), noted,
                      machine_differences(baseline[0], current[0]), left_out=left_out,
                      session_sd=math.sqrt(session))  # fmt: skip


def _judge(key, b_row: dict, current: list[dict], sides: dict, settings: Settings,
           n_tests: int, doubt: Doubt | None, tables: dict, session: float) -> GateRow:  # fmt: skip
    """`sides`: per contrast, the baseline's and the current figures it compares (the
    calibration's without runs left out as busy); `tables`: their mean squares; `session`: the
    variance between sessions the calibration contrast carries too."""
    n = len(current)
    b_figs, c_figs = sides[1]

    def contrast(part: int, against: str) -> Contrast | None:
        base, cur = ([f[part][key] for f in figs if key in f[part]] for figs in sides[part])
        if part == 1 and (len(base) < 2 or len(cur) < 2):
            return None
        pairs = zip(tables[part], (base, cur), strict=True)
        found = (pooled_table(side, key, values) for side, values in pairs)
        spreads = tuple(None if t is None else t.spread() for t in found)
        between = Spread(session, SESSION_DF) if part == 0 else None
        return _contrast(against, base, cur, settings, n_tests, n, spreads, between)

    vs_cal, vs_oth = contrast(0, "calibration"), contrast(1, "others")
    if doubt is not None and vs_cal is not None:
        vs_cal = replace(vs_cal, judged=False)
    contrasts = [c for c in (vs_cal, vs_oth) if c is not None]
    judged = [c for c in contrasts if c.judged]
    doubted = doubt is not None and vs_cal is not None and vs_cal.fails
    if any(c.fails and c.judged for c in contrasts):
        verdict = Verdict.SLOWER
    elif judged and len(judged) == len(contrasts) and all(c.passes for c in judged):
        faster = all(c.change < math.expm1(-settings.limit / 2) for c in judged)
        verdict = Verdict.FASTER if faster else Verdict.SAME
    else:
        verdict = Verdict.INCONCLUSIVE
    first = next(r for r in current[0]["rows"] if results.row_key(r) == key)
    sized = [r for run in current for r in run["rows"]
             if results.row_key(r) == key and r.get("params") is not None]  # fmt: skip
    params_change = gmacs_change = None
    grew = False
    if sized:
        params_change = sized[0]["params"] - b_row["params"]
        gmacs_change = 0.0 if math.isclose(sized[0]["gmacs"], b_row["gmacs"], rel_tol=1e-9) else (
            sized[0]["gmacs"] - b_row["gmacs"])  # fmt: skip
        grew = params_change > 0 or gmacs_change > 0
    too_big = grew and not settings.allow_growth
    if too_big and verdict != Verdict.SLOWER:
        verdict = Verdict.GREW
    agreement = (first.get("runtime_settings") or {}).get("agreement") or {}
    norm = [math.exp(v) for v in (f[0].get(key) for f in b_figs) if v is not None]
    cur = [math.exp(v) for v in (f[0].get(key) for f in c_figs) if v is not None]
    return GateRow(*key, verdict, failed=verdict == Verdict.SLOWER or too_big,
                   baseline_norm=median(norm) if norm else None,
                   current_norm=median(cur) if cur else None, vs_calibration=vs_cal,
                   vs_others=vs_oth, decided_at=n if verdict != Verdict.INCONCLUSIVE else None,
                   params_change=params_change, gmacs_change=gmacs_change, grew=grew,
                   doubted=doubted, mismatched=agreement.get("ok") is False)  # fmt: skip


def _contrast(against: str, base: list[float], cur: list[float], settings: Settings,
              n_tests: int, n: int, spreads: tuple = (None, None),
              between: Spread | None = None) -> Contrast | None:  # fmt: skip
    """The contrast at the look after `n` current runs; None before a second run of each side."""
    if len(base) < 2 or len(cur) < 2 or n < 2:
        return None
    look = min(n, settings.max_runs)
    alpha = spent(settings.alpha / n_tests, look, settings.max_runs)
    beta = spent(settings.beta, look, settings.max_runs)
    d: Difference = welch(base, cur, spreads, between)
    low, high = d.lower(alpha), d.upper(beta)
    return Contrast(against, math.expm1(d.estimate), math.expm1(low), math.expm1(high),
                    fails=low > 0 and d.estimate > settings.limit / 2,
                    passes=high < settings.limit, baseline_runs=len(base),
                    current_runs=len(cur))  # fmt: skip


def _doubt(ratio: float, busy: str | None) -> Doubt | None:
    """`ratio`: current calibration over the baseline's; `busy`: the side left with busy runs."""
    if busy or max(ratio, 1 / ratio) > CALIBRATION_RATIO_WARN:
        return Doubt(busy, ratio)
    return None


def stop(report: GateReport, why: str) -> GateReport:
    """The report of a check that measures no more: undecided rows stay inconclusive."""
    return report if report.decided else replace(report, stopped=why)
