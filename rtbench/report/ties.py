"""Ties: two latencies that differ by less than the run can resolve have no direction. They tie
where their 95% confidence intervals of the median overlap, or where they differ by less than
TIE_FRACTION (RF-DETR's benchmark calls differences under 5% ties). The claims report says "tie"
instead of a direction for them, and rank correlations rank them alike."""

from scipy import stats

TIE_FRACTION = 0.05


def tied(a: dict, b: dict, median: str = "latency_median_ms") -> bool:
    """Whether two rows' latencies tie (their CIs overlap, or they are within TIE_FRACTION)."""
    ma, mb = a.get(median), b.get(median)
    if not ma or not mb:
        return False
    if abs(ma / mb - 1) < TIE_FRACTION:
        return True
    lo_a, hi_a = a.get("latency_ci95_low_ms"), a.get("latency_ci95_high_ms")
    lo_b, hi_b = b.get("latency_ci95_low_ms"), b.get("latency_ci95_high_ms")
    if None in (lo_a, hi_a, lo_b, hi_b):
        return False
    return lo_a <= hi_b and lo_b <= hi_a


def tie_ranks(rows: list[dict]) -> list[float]:
    """Ranks of the rows' latencies (1 = fastest) where a run of rows that each tie with the next
    shares one rank, the average of their places, as rank statistics rank equal values."""
    order = sorted(range(len(rows)), key=lambda i: rows[i]["latency_median_ms"])
    groups: list[list[int]] = []
    for i in order:
        if groups and tied(rows[groups[-1][-1]], rows[i]):
            groups[-1].append(i)
        else:
            groups.append([i])
    ranks = [0.0] * len(rows)
    place = 1
    for group in groups:
        for i in group:
            ranks[i] = place + (len(group) - 1) / 2
        place += len(group)
    return ranks


def spearman(rows: list[dict], paper: list[float]) -> float | None:
    """Spearman's rho between the rows' tie-aware ranks and the paper's latencies."""
    if len(rows) < 3:
        return None
    rho = float(stats.spearmanr(tie_ranks(rows), paper).statistic)
    return None if rho != rho else rho  # NaN where one side is constant
