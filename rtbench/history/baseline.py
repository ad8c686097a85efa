"""Baseline runs made from the history, for `rtbench check --against history`: the gate then
compares the current runs with them exactly as with a baseline file's runs.

Only accepted runs count (a baseline's, a passing check's, or those of a commit `rtbench history
accept` accepted): a failing check's runs never become the reference, so a regression is not
adopted because it was measured. Each row of the --baseline file (the gate's workload) must have
a series in the history on this machine (its key), measured alike and normalized by the same
calibration; the baseline is then the accepted runs since the latest change point of any of
those series, each run a results document of its points. With fewer than the gate needs
(rtbench.runset.MIN_BASELINE_RUNS), or a row without a series, the file's runs are the baseline.
"""

import json
from dataclasses import dataclass, field

import pandas as pd

from rtbench import results
from rtbench.history.series import Series, alike, find_series, iso_utc
from rtbench.runset import MIN_BASELINE_RUNS


@dataclass(frozen=True)
class FromHistory:
    runs: list[dict]  # the baseline's runs: the history's, else the file's
    series: dict[tuple[str, str], Series] = field(default_factory=dict)  # every row's series
    why_not: str | None = None  # why the file's runs are the baseline, when they are

    @property
    def from_history(self) -> bool:
        return self.why_not is None


def history_baseline(
    points: pd.DataFrame,
    fallback: list[dict],
    *,
    fingerprint: str,
    calibration: str,
    config: dict | None = None,
    exclude: frozenset[str] = frozenset(),
) -> FromHistory:
    """The baseline runs: the accepted runs of the history (`points`, store.read_points) since the
    latest change point of the series of `fallback`'s rows, on machine `fingerprint`, normalized
    by `calibration` and measured alike with `config` (default: the fallback's); `fallback`'s
    runs where that cannot be. Runs whose doc_key is in `exclude` (those being checked) are left
    out."""
    fallback = [results.parse(run, "baseline") for run in fallback]
    wanted = alike(json.dumps(config if config is not None else fallback[0]["config"]))
    points = points[points["accepted"].astype(bool) & ~points["doc_key"].isin(exclude)]
    found = {(s.key["variant"], s.key["runtime"]): s for s in find_series(points)
             if (s.key["fingerprint"], s.key["calibration"], s.key["alike"])
             == (fingerprint, calibration, wanted)}  # fmt: skip
    keys = [results.row_key(r) for r in fallback[0]["rows"]]
    missing = [f"{v} ({r})" for v, r in keys if (v, r) not in found]
    if missing:
        why = f"no accepted runs of {', '.join(missing)} on this machine"
        return FromHistory(fallback, found, why)
    used = {key: found[key] for key in keys}
    # the runs every row's last stable segment holds: those since the latest change point
    ids = set.intersection(*(set(s.segment["id"]) for s in used.values()))
    if len(ids) < MIN_BASELINE_RUNS:
        why = (f"{len(ids)} accepted run(s) since the last change point, the gate needs "
               f"{MIN_BASELINE_RUNS}")  # fmt: skip
        return FromHistory(fallback, used, why)
    in_workload = pd.Series(list(zip(points["variant"], points["runtime"], strict=True)),
                            index=points.index).isin(keys)  # fmt: skip
    chosen = points[points["id"].isin(ids) & (points["status"] == "ok") & in_workload]
    sizes = _sizes(used)
    ordered = chosen.sort_values(["created", "id"]).groupby("id", sort=False)
    runs = [_document(group, fingerprint, sizes, keys) for _, group in ordered]
    return FromHistory([results.parse(r, "history baseline") for r in runs], used)


def _document(points: pd.DataFrame, fingerprint: str, sizes: dict, keys: list) -> dict:
    """One recorded run, as a results document of its points, rows in the order of `keys`."""
    run = points.iloc[0]
    rows = []
    order = {key: i for i, key in enumerate(keys)}
    for p in sorted(points.itertuples(), key=lambda p: order[(p.variant, p.runtime)]):
        params, gmacs = sizes.get((p.variant, p.runtime), (None, None))
        rows.append({
            "variant": p.variant, "runtime": p.runtime, "status": "ok", "error": None,
            "params": params, "gmacs": gmacs, "latency_median_ms": p.latency_median_ms,
            "latency_samples": len(p.latency_samples_ms),
            "latency_samples_ms": list(p.latency_samples_ms),
            "latency_normalized": p.latency_normalized,
            "latency_normalized_samples": list(p.latency_normalized_samples),
        })  # fmt: skip
    load = json.loads(run["load"]) if run["load"] else None
    return {
        "schema": results.SCHEMA, "run_id": run["run_id"] or f"history-{run['id']}",
        "created": iso_utc(run["created"]), "config": json.loads(run["config"]),
        "environment": {**json.loads(run["machine"]), "fingerprint": fingerprint,
                        "git_commit": run["git_commit"], "source": "history"},
        "calibration": {"name": run["calibration"],
                        "median_ms": float(run["calibration_median_ms"])},
        "load": load, "rows": rows,
    }  # fmt: skip


def _sizes(series: dict[tuple[str, str], Series]) -> dict:
    """Params and GMACs of each row, from its series' latest point that counted them: every run
    of the baseline carries them (the gate compares sizes with its first run)."""
    out = {}
    for key, s in series.items():
        sized = s.points[s.points["params"].notna() & s.points["gmacs"].notna()]
        if not sized.empty:  # never counted: the gate says so (it needs sizes)
            out[key] = (int(sized.iloc[-1]["params"]), float(sized.iloc[-1]["gmacs"]))
    return out
