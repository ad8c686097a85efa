"""Series of recorded points and their change points.

A *series* is what can be compared over time: one variant in one runtime, on one machine (its
fingerprint), measured alike (the run configuration's fields tagged WORK and PLACE in
rtbench.config: the same work, on the same device) and normalized by the same calibration
workload. Its points are the runs that measured it, oldest first; a point's value is the run's
calibration-normalized median (`latency_normalized`), so that a machine uniformly slower one day
does not make a step.

Change points come from ruptures (PELT, exact search, with the L1 cost: the sum of absolute
deviations from each segment's median, so that one contended run cannot make a segment of its
own). The series is searched on a log scale (a step is a ratio) in units of its noise, the
scaled median absolute deviation of successive differences (scipy; a step adds one outlier
difference, which it ignores), at least NOISE_FLOOR. A change point costs PENALTY, so it is kept
only where it lowers the cost by more than that; each one found is reported with that decrease
(its *score*: splitting its two neighbouring segments there, ruptures' own cost) and its *step*,
the relative change between the medians of the segments on either side. The last
MAX_POINTS points of a series are searched.
"""

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from statistics import median

import pandas as pd

from rtbench.config import Compare, RunConfig, fields, value_of
from rtbench.history import HistoryError
from rtbench.runset import MIN_BASELINE_RUNS

KEY = ["variant", "runtime", "fingerprint", "calibration", "alike"]
# Chosen on simulated series of 12 and 20 points with 3% noise (the run-to-run spread measured
# on the 2-core machine is 1.8-3.5%), heavy-tailed (Student t, 3 degrees of freedom): penalty 10
# raised no false change point in 200 series of each length and found a 10% step in the middle at
# the right point in 78-93% of them, a 1.5x step in 98-100%.
PENALTY = 10.0
# Points per segment at least: as many as a baseline has runs at least (the gate's
# MIN_BASELINE_RUNS), so that a stable segment is one the gate can judge by; two points are one
# odd pair of runs, and a segment of them let a check adopt a regression two runs after it came.
MIN_SIZE = MIN_BASELINE_RUNS
NOISE_FLOOR = 0.01  # 1%: a series quieter than that (or synthetic) is not more sensitive
MAX_POINTS = 200  # PELT with the L1 cost takes ~0.7 s on 200 points, ~7 s on 500


@dataclass(frozen=True)
class ChangePoint:
    position: int  # index in the series of the first point after the step
    commit: str | None  # that point's commit
    created: str  # when that run started (UTC, ISO-8601)
    before: float  # median value of the segment before the step
    after: float  # median value of the segment after it
    score: float  # how much the split lowers the L1 cost, in units of the noise

    @property
    def step(self) -> float:
        """Relative change of the segment medians: +0.5 is 1.5x slower."""
        return self.after / self.before - 1.0


@dataclass(frozen=True)
class Series:
    key: dict  # KEY -> value
    points: pd.DataFrame  # its ok points, oldest first (store.read_points's columns)
    change_points: tuple[ChangePoint, ...]

    @property
    def segment(self) -> pd.DataFrame:
        """The last stable segment: the points after the last change point (all without one)."""
        start = self.change_points[-1].position if self.change_points else 0
        return self.points.iloc[start:]


@lru_cache(maxsize=1024)
def alike(config_json: str) -> str:
    """What a run measured, as compared over time: its WORK and PLACE settings, as JSON text
    (config_json: results.json's config record as JSON text)."""
    record = RunConfig.from_record(json.loads(config_json), "history").record()
    kinds = (Compare.WORK, Compare.PLACE)
    return json.dumps({name: value_of(record, name, model) for kind in kinds
                       for name, model in fields(kind)}, sort_keys=True)  # fmt: skip


def describe_alike(alike_json: str) -> str:
    """ "scope=detector size=256 ...": a series' configuration for people."""
    return " ".join(f"{k}={v}" for k, v in json.loads(alike_json).items())


def find_series(points: pd.DataFrame) -> list["Series"]:
    """Every series among the recorded points (store.read_points), in order of first appearance,
    with its change points."""
    ok = points[(points["status"] == "ok") & points["latency_normalized"].notna()]
    ok = ok.assign(alike=ok["config"].map(alike))
    out = []
    for key, group in ok.groupby(KEY, sort=False):
        group = group.sort_values(["created", "id"]).reset_index(drop=True)
        out.append(Series(dict(zip(KEY, key, strict=True)), group, _change_points(group)))
    return out


def _change_points(points: pd.DataFrame) -> tuple[ChangePoint, ...]:
    values = [float(x) for x in points["latency_normalized"]]
    offset = max(0, len(values) - MAX_POINTS)
    found = detect(values[offset:])
    edges = [offset, *(offset + position for position, _ in found), len(values)]
    out = []
    for i, (_, score) in enumerate(found, start=1):
        before, at, after = edges[i - 1], edges[i], edges[i + 1]
        point = points.iloc[at]
        out.append(ChangePoint(at, point["git_commit"], iso_utc(point["created"]),
                               median(values[before:at]), median(values[at:after]),
                               score))  # fmt: skip
    return tuple(out)


def detect(values: list[float]) -> list[tuple[int, float]]:
    """Change points of a series of positive values: (index of the first point after each step,
    its score), oldest first; see the module's docstring."""
    import numpy as np
    from scipy.stats import median_abs_deviation

    try:
        import ruptures
    except ImportError:
        raise HistoryError("change points need ruptures, which is not installed (pip install "
                           "ruptures)") from None  # fmt: skip

    if len(values) < 2 * MIN_SIZE:
        return []
    y = np.log(np.asarray(values, dtype=float))
    noise = max(float(median_abs_deviation(np.diff(y), scale="normal")) / math.sqrt(2),
                NOISE_FLOOR)  # fmt: skip
    search = ruptures.Pelt(model="l1", min_size=MIN_SIZE, jump=1).fit((y / noise).reshape(-1, 1))
    edges = [0, *search.predict(pen=PENALTY)]
    cost = search.cost.error
    return [(b, float(cost(a, c) - cost(a, b) - cost(b, c)))
            for a, b, c in zip(edges, edges[1:], edges[2:], strict=False)]  # fmt: skip


def iso_utc(value) -> str:
    """A recorded time (UTC, stored without a zone) as ISO-8601 with its zone."""
    return pd.Timestamp(value).tz_localize("UTC").isoformat()


def short_commit(commit: object) -> str:
    """A commit as people read it in a listing or a plot: its first 16 characters."""
    return commit[:16] if isinstance(commit, str) and commit else "unknown"


# ---------------------------------------------------------------------------- the listing

LISTING = ["variant", "runtime", "device_name", "fingerprint", "config", "calibration", "points",
           "first", "last", "latest", "latest_commit", "change_points", "change_commit",
           "change_time", "step", "score"]  # fmt: skip


def summary(s: Series) -> dict:
    """A series for people and other tools: what it is, its latest value, its change points."""
    first, last = s.points.iloc[0], s.points.iloc[-1]
    return {
        "variant": s.key["variant"], "runtime": s.key["runtime"],
        "device_name": json.loads(last["machine"]).get("device_name"),
        "fingerprint": s.key["fingerprint"], "config": describe_alike(s.key["alike"]),
        "calibration": s.key["calibration"], "points": len(s.points),
        "first": iso_utc(first["created"]), "last": iso_utc(last["created"]),
        "latest": float(last["latency_normalized"]), "latest_commit": last["git_commit"],
        "change_points": [{"commit": c.commit, "time": c.created, "step": c.step,
                           "score": c.score, "position": c.position} for c in s.change_points],
    }  # fmt: skip


def listing(found: list[Series]) -> pd.DataFrame:
    """One row per series: how many change points it has, and the last one (where its stable
    segment, the baseline of `check --against history`, starts); change columns empty where it
    has none. Every change point is in `summary` (--format json) and the HTML page."""
    records = []
    for s in found:
        row = summary(s)
        changes = row.pop("change_points")
        last = changes[-1] if changes else {}
        records.append({**row, "change_points": len(changes), "change_commit": last.get("commit"),
                        "change_time": last.get("time"), "step": last.get("step"),
                        "score": last.get("score")})  # fmt: skip
    return pd.DataFrame.from_records(records, columns=LISTING)
