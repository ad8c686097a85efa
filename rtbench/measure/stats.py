"""Summary statistics and a rank test for latency samples, in plain Python (no numpy at runtime).

Latency samples are skewed and carry outliers (preemption, page faults), so the summary leads with
the median and a distribution-free confidence interval for it, and run-to-run comparisons use the
Mann-Whitney U test, which assumes no distribution shape.
"""

import math
import statistics
from collections.abc import Sequence
from typing import Literal

Alternative = Literal["two-sided", "greater", "less"]

# Exact binomial sums get slow for very large n (big integers); past this the normal
# approximation of Bin(n, 1/2) is accurate to well under one rank.
_EXACT_CI_MAX_N = 1000


def percentile(sorted_samples: Sequence[float], q: float) -> float:
    """q-th percentile (0..100) of sorted samples, linear interpolation (numpy's default)."""
    n = len(sorted_samples)
    h = (n - 1) * q / 100.0
    lo = math.floor(h)
    hi = min(lo + 1, n - 1)
    return sorted_samples[lo] + (h - lo) * (sorted_samples[hi] - sorted_samples[lo])


def median_ci_ranks(n: int, confidence: float = 0.95) -> tuple[int, int] | None:
    """1-based ranks (j, n+1-j) of the order statistics bracketing the median with >= confidence.

    The number of samples below the true median is Bin(n, 1/2), so
    P(x_(j) <= median <= x_(n+1-j)) = 1 - 2 * P(Bin(n, 1/2) <= j-1). Returns the narrowest such
    symmetric pair, or None when even (min, max) falls short (n < 6 for 95%).
    """
    tail = (1.0 - confidence) / 2.0
    if n < 1 or 0.5**n > tail:
        return None
    if n > _EXACT_CI_MAX_N:
        z = statistics.NormalDist().inv_cdf(1.0 - tail)
        j = max(1, math.floor(n / 2.0 - z * math.sqrt(n) / 2.0))
        return j, n + 1 - j
    # Largest j with P(B <= j-1) <= tail, in exact integer arithmetic: cum / 2^n <= tail.
    total = 2**n
    cum, term, j = 0, 1, 0  # term = C(n, j)
    while (cum + term) <= tail * total:
        cum += term
        j += 1
        term = term * (n - j + 1) // j
    return j, n + 1 - j


def summarize(samples_ms: Sequence[float]) -> dict:
    """Flat summary of latency samples in ms.

    ci95_low_ms / ci95_high_ms: distribution-free 95% CI for the median from order statistics
    (binomial). With n < 6 no order-statistic interval reaches 95%; min and max are returned
    instead, so the interval is then narrower in confidence than its name says.
    Percentiles interpolate linearly (numpy's default); std_ms is the sample std (n-1), 0 for n=1.
    """
    if len(samples_ms) == 0:
        raise ValueError("summarize() needs at least one sample")
    xs = sorted(float(x) for x in samples_ms)
    n = len(xs)
    ranks = median_ci_ranks(n)
    lo_rank, hi_rank = ranks if ranks is not None else (1, n)
    return {
        "median_ms": percentile(xs, 50),
        "ci95_low_ms": xs[lo_rank - 1],
        "ci95_high_ms": xs[hi_rank - 1],
        "p90_ms": percentile(xs, 90),
        "p99_ms": percentile(xs, 99),
        "iqr_ms": percentile(xs, 75) - percentile(xs, 25),
        "mean_ms": statistics.fmean(xs),
        "std_ms": statistics.stdev(xs) if n > 1 else 0.0,
        "min_ms": xs[0],
        "samples": n,
    }


def _midranks(values: list[float]) -> tuple[list[float], list[int]]:
    """1-based ranks with ties sharing their mean rank, and the size of every tie group."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    ties: list[int] = []
    i = 0
    while i < len(order):
        k = i
        while k + 1 < len(order) and values[order[k + 1]] == values[order[i]]:
            k += 1
        mid = (i + k) / 2.0 + 1.0
        for idx in order[i : k + 1]:
            ranks[idx] = mid
        ties.append(k - i + 1)
        i = k + 1
    return ranks, ties


def mann_whitney(
    a: Sequence[float], b: Sequence[float], alternative: Alternative = "two-sided"
) -> tuple[float, float]:
    """Mann-Whitney U test; returns (U of a, p-value).

    U counts the pairs (a_i, b_j) with a_i > b_j, ties counting 1/2 (scipy's statistic for
    `mannwhitneyu(a, b)`). alternative says what b does relative to a:
    "greater": b tends to be larger than a (e.g. current slower than baseline, with a = baseline);
    "less": b tends to be smaller; "two-sided": either.

    p uses the normal approximation with tie and continuity corrections (scipy's
    method="asymptotic"); within about 0.01 of the exact p for n >= 8 per side, which is
    plenty for a gate that asks for p < 0.01 with ~30 samples. All values tied gives p = 1.
    """
    n1, n2 = len(a), len(b)
    if n1 == 0 or n2 == 0:
        raise ValueError("mann_whitney() needs samples on both sides")
    ranks, ties = _midranks([float(x) for x in a] + [float(x) for x in b])
    u_a = sum(ranks[:n1]) - n1 * (n1 + 1) / 2.0
    u_b = n1 * n2 - u_a
    n = n1 + n2
    tie_term = sum(t**3 - t for t in ties)
    var = n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1))) if n > 1 else 0.0
    if var <= 0.0:
        return u_a, 1.0
    mu = n1 * n2 / 2.0
    if alternative == "greater":
        u, factor = u_b, 1.0
    elif alternative == "less":
        u, factor = u_a, 1.0
    elif alternative == "two-sided":
        u, factor = max(u_a, u_b), 2.0
    else:
        raise ValueError(
            f"alternative must be 'two-sided', 'greater' or 'less', not {alternative!r}"
        )
    z = (u - mu - 0.5) / math.sqrt(var)
    p = factor * 0.5 * math.erfc(z / math.sqrt(2.0))  # normal survival function
    return u_a, min(max(p, 0.0), 1.0)


def settled(samples: Sequence[float], window: int, tolerance: float) -> bool:
    """Warm-up check: median of the last `window` samples within `tolerance` (relative) of the
    median of the `window` before them. False until 2 * window samples exist."""
    if window < 1:
        raise ValueError("window must be >= 1")
    if len(samples) < 2 * window:
        return False
    last = statistics.median(samples[-window:])
    prev = statistics.median(samples[-2 * window : -window])
    if prev == 0:
        return last == 0
    return abs(last - prev) <= tolerance * abs(prev)
