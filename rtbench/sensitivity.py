"""What a baseline can see: per row, the smallest slowdown a check against it would catch
(`rtbench baseline` prints it and refuses a baseline that cannot see the threshold). It plans
with the check's own test (rtbench.gate): the same figures, the same pooled spread, the same
share of alpha."""

import math
import statistics

from rtbench import results
from rtbench.gate import DEFAULTS, Settings
from rtbench.measure.stats import Spread, spent, standard_error
from rtbench.runset import figures, levels, mean_squares, pooled_table, usable_baseline


def detectable(baseline: list[dict], settings: Settings = DEFAULTS) -> dict[tuple, float]:
    """Per row of a baseline, the smallest slowdown of that variant alone (fraction) a check
    would catch 4 times in 5 after settings.max_runs current runs as spread as the baseline's
    (the check's test at the last look's share of alpha: the run-to-run spread pooled over the
    rows, the current runs' degrees of freedom those of the same mean squares over that many
    runs; the better of the two contrasts; at least half the threshold, below which nothing
    fails)."""
    baseline = usable_baseline(baseline)
    from scipy import stats as sps

    figs = figures(baseline, levels(baseline))
    keys = [results.row_key(r) for r in results.ok_rows(baseline[0])]
    n, n_tests = settings.max_runs, 2 * max(1, len(keys))
    alpha = spent(settings.alpha / n_tests, n, n)
    tables = [mean_squares(figs, keys, part) for part in (0, 1)]
    out = {}
    for key in keys:
        best = math.inf  # a slowdown of one variant fails on either contrast
        for part in (0, 1):
            values = [f[part][key] for f in figs if key in f[part]]
            if len(values) < 2:
                continue
            table = pooled_table(tables[part], key, values)
            if table is not None:
                base, cur = table.spread(), table.spread(runs=n)
            else:
                base = Spread(statistics.variance(values), len(values) - 1)
                cur = Spread(base.variance, n - 1)
            se, df = standard_error([(base, len(values)), (cur, n)])
            needed = (sps.t.ppf(1 - alpha, df) + sps.t.ppf(0.8, df)) * se
            best = min(best, max(needed, settings.limit / 2))
        out[key] = math.expm1(best)
    return out
