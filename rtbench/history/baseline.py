"""A baseline document made from the history, for `rtbench check --against history`: the gate then
compares the current run with the last stable segment of each series (the points after its last
change point) exactly as it compares it with a baseline file, its second measurement included.

Each row of the --baseline file (the gate's workload: its variants and configuration) whose
series the history has, on this machine (the fingerprint), measured alike and normalized by the
same calibration, becomes a row whose samples pool those of the segment's points (normalized and
raw alike), with params and GMACs from the series' latest point that counted them; a row whose
series the history lacks stays the file's. The document's config is the latest such point's, and
its calibration median the median of the segment runs' calibration medians.
"""

import json
from dataclasses import dataclass, field
from statistics import median

import pandas as pd

from rtbench import results
from rtbench.history.series import Series, alike, find_series, iso_utc


@dataclass(frozen=True)
class FromHistory:
    document: dict  # the baseline document
    series: dict[tuple[str, str], Series] = field(default_factory=dict)  # rows from the history

    @property
    def rows_from_file(self) -> list[tuple[str, str]]:
        return [results.row_key(r) for r in self.document["rows"]
                if results.row_key(r) not in self.series]  # fmt: skip


def history_baseline(
    points: pd.DataFrame,
    fallback: dict,
    *,
    fingerprint: str,
    calibration: str,
    config: dict | None = None,
    exclude: frozenset[str] = frozenset(),
) -> FromHistory:
    """The baseline document: `fallback`'s rows, each replaced by the last stable segment of its
    series where the history (`points`, store.read_points) has one on machine `fingerprint`,
    normalized by `calibration` and measured alike with `config` (default: the fallback's).
    Runs whose doc_key is in `exclude` (the run being checked) are left out."""
    fallback = results.parse(fallback, "baseline")
    wanted = alike(json.dumps(config if config is not None else fallback["config"]))
    points = points[~points["doc_key"].isin(exclude)]
    found = {(s.key["variant"], s.key["runtime"]): s for s in find_series(points)
             if (s.key["fingerprint"], s.key["calibration"], s.key["alike"])
             == (fingerprint, calibration, wanted)}  # fmt: skip
    used = {key: found[key] for key in map(results.row_key, fallback["rows"]) if key in found}
    if not used:
        return FromHistory(fallback)
    rows = [_row(used[results.row_key(r)]) if results.row_key(r) in used else r
            for r in fallback["rows"]]  # fmt: skip
    segments = pd.concat([s.segment for s in used.values()])
    latest = segments.sort_values(["created", "id"]).iloc[-1]
    calibrations = segments.drop_duplicates("id")["calibration_median_ms"]
    document = {
        "schema": results.SCHEMA,
        "run_id": "history",
        "created": iso_utc(latest["created"]),
        "config": json.loads(latest["config"]),
        "environment": {**json.loads(latest["machine"]), "fingerprint": fingerprint,
                        "git_commit": latest["git_commit"], "source": "history"},
        "calibration": {"name": calibration, "median_ms": float(median(calibrations))},
        "rows": rows,
    }  # fmt: skip
    return FromHistory(results.parse(document, "history baseline"), used)


def _row(s: Series) -> dict:
    segment = s.segment
    sized = s.points[s.points["params"].notna() & s.points["gmacs"].notna()]
    if sized.empty:  # never counted (every point from a run without FLOPs): the gate says so
        params = gmacs = None
    else:
        params, gmacs = int(sized.iloc[-1]["params"]), float(sized.iloc[-1]["gmacs"])
    normalized = _pooled(segment["latency_normalized_samples"])
    raw = _pooled(segment["latency_samples_ms"])
    return {
        "variant": s.key["variant"], "runtime": s.key["runtime"], "status": "ok", "error": None,
        "params": params, "gmacs": gmacs,
        "latency_median_ms": median(raw), "latency_samples": len(raw), "latency_samples_ms": raw,
        "latency_normalized": median(normalized), "latency_normalized_samples": normalized,
        "history": {"points": len(segment), "since_commit": segment.iloc[0]["git_commit"],
                    "change_points": len(s.change_points)},
    }  # fmt: skip


def _pooled(column: pd.Series) -> list[float]:
    return [float(x) for samples in column if samples is not None for x in samples]
