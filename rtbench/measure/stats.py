"""Summary statistics and a rank test for latency samples.

Latency samples are skewed and carry outliers (preemption, page faults), so the summary leads with
the median and a distribution-free confidence interval for it. numpy gives the percentiles and
scipy the binomial and t distributions; only the order-statistic interval of the median is put
together here, since neither library offers it as such (scipy's `quantile_test` interval is the
same idea but may pick asymmetric ranks). Runs, not calls, are compared: Welch's t on one figure
per run (the gate, rtbench.gate), the calls inside a run being no independent draws.
"""

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Warm-up goes on while the last calls trend this clearly; a flat series of noise is taken for
# trending 1 time in 20 and then merely warms up a window longer.
TREND_ALPHA = 0.05


def median_ci_ranks(n: int, confidence: float = 0.95) -> tuple[int, int] | None:
    """1-based ranks (j, n+1-j) of the order statistics bracketing the median with >= confidence.

    The number of samples below the true median is Bin(n, 1/2), so
    P(x_(j) <= median <= x_(n+1-j)) = 1 - 2 * P(Bin(n, 1/2) <= j-1). Returns the narrowest such
    symmetric pair, or None when even (min, max) falls short (n < 6 for 95%).
    """
    from scipy import stats as sps  # here: scipy.stats takes most of a second to import

    tail = (1.0 - confidence) / 2.0
    if n < 1:
        return None
    # j = the number of k with P(B <= k) <= tail: the largest j with P(B <= j - 1) <= tail.
    j = int(np.searchsorted(sps.binom.cdf(np.arange(n), n, 0.5), tail, side="right"))
    return (j, n + 1 - j) if j >= 1 else None


def summarize(samples_ms: Sequence[float]) -> dict:
    """Flat summary of latency samples in ms.

    ci95_low_ms / ci95_high_ms: distribution-free 95% CI for the median from order statistics
    (binomial). With n < 6 no order-statistic interval reaches 95%; min and max are returned
    instead, so the interval is then narrower in confidence than its name says.
    Percentiles interpolate linearly (numpy's default); std_ms is the sample std (n-1), 0 for n=1.
    """
    if len(samples_ms) == 0:
        raise ValueError("summarize() needs at least one sample")
    xs = np.sort(np.asarray(samples_ms, dtype=float))
    n = len(xs)
    lo_rank, hi_rank = median_ci_ranks(n) or (1, n)
    p25, p50, p75, p90, p95, p99 = np.percentile(xs, [25, 50, 75, 90, 95, 99])
    return {
        "median_ms": float(p50),
        "ci95_low_ms": float(xs[lo_rank - 1]),
        "ci95_high_ms": float(xs[hi_rank - 1]),
        "p90_ms": float(p90),
        "p95_ms": float(p95),  # what RF-DETR's benchmark reports beside the median
        "p99_ms": float(p99),
        "iqr_ms": float(p75 - p25),
        "mean_ms": float(xs.mean()),
        "std_ms": float(xs.std(ddof=1)) if n > 1 else 0.0,
        "min_ms": float(xs[0]),
        "samples": n,
    }


def settled(
    samples: Sequence[float], window: int, tolerance: float, trend_alpha: float = TREND_ALPHA
) -> bool:
    """Warm-up check: the median of the last `window` samples within `tolerance` (relative) of
    the median of the `window` before them, AND no monotone trend over those 2 * `window` samples
    (Kendall's tau, two-sided, p >= `trend_alpha`). False until 2 * window samples exist.

    Agreeing medians alone pass by chance while timings still fall: two windows of 2 calls of a
    curve that sheds 1% a call agree within 5% nearly always. The trend test sees the slope
    across both windows instead of their ends only."""
    if window < 1:
        raise ValueError("window must be >= 1")
    if len(samples) < 2 * window:
        return False
    last = statistics.median(samples[-window:])
    prev = statistics.median(samples[-2 * window : -window])
    agree = last == 0 if prev == 0 else abs(last - prev) <= tolerance * abs(prev)
    return agree and not trending(samples[-2 * window :], trend_alpha)


def trending(samples: Sequence[float], alpha: float = TREND_ALPHA) -> bool:
    """Whether `samples`, in call order, rise or fall monotonically (Kendall's tau against the
    call index, two-sided p < alpha). Fewer than 4 samples, or all equal: no trend to see."""
    if len(samples) < 4 or len(set(samples)) == 1:
        return False
    from scipy import stats as sps

    p = sps.kendalltau(np.arange(len(samples)), np.asarray(samples, dtype=float)).pvalue
    return bool(p < alpha)


# ---------------------------------------------------------------------------- runs as the unit


@dataclass(frozen=True)
class Spread:
    """How much one row's figure varies from run to run (a variance, log scale), and the degrees
    of freedom of that estimate."""

    variance: float
    df: float


@dataclass(frozen=True)
class MeanSquares:
    """A two-way table of run figures, runs x rows (y = row level + run offset + residual), as
    its mean squares: between runs (n - 1 df) and residual ((n - 1)(J - 1) df)."""

    runs: float
    residual: float
    n: int  # runs
    j: int  # rows

    @classmethod
    def of(cls, table: Sequence[Sequence[float]]) -> "MeanSquares":
        y = np.asarray(table, dtype=float)
        n, j = y.shape
        if n < 2:
            raise ValueError("mean squares need two runs")
        run_means = y.mean(axis=1, keepdims=True)
        resid = y - run_means - y.mean(axis=0, keepdims=True) + y.mean()
        ms_runs = j * float(((run_means - y.mean()) ** 2).sum()) / (n - 1)
        ms_resid = float((resid**2).sum()) / ((n - 1) * (j - 1)) if j > 1 else 0.0
        return cls(ms_runs, ms_resid, n, j)

    def spread(self, runs: int | None = None) -> Spread:
        """The variance of one row's figure in one run, from every row at once:
        E[MS_runs] = s_e^2 + J s_o^2 and E[MS_resid] = s_e^2, so MS_runs / J + (J - 1) / J
        MS_resid estimates s_o^2 + s_e^2 without bias (also when a run's residuals are equally
        correlated, as rows taken against the other rows' median are); its degrees of freedom
        by Satterthwaite. With `runs`, the df the same mean squares would have over that many
        runs (planning). One row (J = 1): the row's own variance, n - 1 df."""
        n = self.n if runs is None else runs
        parts = [(self.runs / self.j, n - 1),
                 ((self.j - 1) / self.j * self.residual, (n - 1) * (self.j - 1))]  # fmt: skip
        variance = sum(v for v, _ in parts)
        spread = sum(v * v / df for v, df in parts if v > 0)
        return Spread(variance, variance * variance / spread if spread > 0 else math.inf)


@dataclass(frozen=True)
class Difference:
    """Welch's comparison of two groups of run-level figures (one value per run, logs of
    normalized medians): the difference of the means, its standard error and degrees of freedom
    (Welch-Satterthwaite), and how many runs each side had."""

    estimate: float  # mean(current) - mean(baseline)
    se: float
    df: float
    baseline_runs: int
    current_runs: int

    def lower(self, error: float) -> float:
        """One-sided lower confidence bound, wrong with probability `error`."""
        return self.estimate - self._t(error) * self.se

    def upper(self, error: float) -> float:
        """One-sided upper confidence bound, wrong with probability `error`."""
        return self.estimate + self._t(error) * self.se

    def _t(self, error: float) -> float:
        from scipy import stats as sps

        return float(sps.t.ppf(1.0 - error, self.df)) if self.se > 0 else 0.0


def welch(baseline: Sequence[float], current: Sequence[float],
          spreads: "tuple[Spread | None, Spread | None]" = (None, None),
          between: Spread | None = None) -> Difference:  # fmt: skip
    """Welch's unequal-variance comparison of run-level figures: valid when runs are independent
    (separate processes), whatever the calls inside one run do; needs two runs a side. Each
    side's run-to-run variance is its own sample variance (n - 1 df), or the Spread given for
    it (pooled over the rows of the same runs: rtbench.gate). `between`: a variance of the
    difference itself that more runs do not shrink (how far one session lands from another),
    added once, with its own degrees of freedom."""
    b, c = np.asarray(baseline, dtype=float), np.asarray(current, dtype=float)
    if len(b) < 2 or len(c) < 2:
        raise ValueError("welch() needs two runs a side")
    sides = [(s or Spread(float(x.var(ddof=1)), len(x) - 1), len(x))
             for s, x in zip(spreads, (b, c), strict=True)]  # fmt: skip
    se, df = standard_error(sides + ([(between, 1)] if between else []))
    return Difference(float(c.mean() - b.mean()), se, df, len(b), len(c))


def standard_error(sides: Sequence[tuple[Spread, int]]) -> tuple[float, float]:
    """The standard error of a difference of means, each side's (spread, runs), and its degrees
    of freedom (Welch-Satterthwaite)."""
    parts = [(spread.variance / n, spread.df) for spread, n in sides]
    se = math.sqrt(sum(v for v, _ in parts))
    spread = sum(v * v / df for v, df in parts if v > 0)
    return se, (se**4 / spread if se > 0 and spread > 0 else math.inf)


def spent(total: float, look: int, last: int, first: int = 2) -> float:
    """The share of an error rate `total` that the look after `look` runs may spend, in a
    sequence of looks at first, first + 1, ..., last runs: total * (look/last)^2 cumulated
    (a power-family spending function, rho = 2). Spending each look's share at that look bounds
    the error over all looks by `total` (the union bound), however many looks are made; early
    looks spend little, so a check that goes the whole way keeps most of its power."""
    if not first <= look <= last:
        raise ValueError(f"look {look} outside {first}..{last}")
    before = 0.0 if look == first else ((look - 1) / last) ** 2
    return total * ((look / last) ** 2 - before)
