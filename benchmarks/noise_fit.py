"""Noise models fitted to real runs of the gate's workload (benchmarks/gate_simulation.py draws
from them): a baseline's runs (`fit`), the unchanged checks of gate_study.py's studies in one
condition (`fit_condition`), and the gate's session term over their sessions (`session_term`).
Log scale throughout; a run's figure is the log of its median normalized latency, as the gate's."""

import json
import math
import statistics
import tarfile
from pathlib import Path

import numpy as np
import scipy.stats

from rtbench.results import load_runs, ok_rows

UNCHANGED = ("idle", "neighbour", "memory")  # gate_study.py's conditions that slow nothing


def _medians(documents: list[dict], keys: list[tuple[str, str]]) -> np.ndarray:
    """Runs x rows: the log of each run's median normalized latency, the gate's run figure."""
    return np.array([[math.log(statistics.median(_row(d, k)["latency_normalized_samples"]))
                      for k in keys] for d in documents])  # fmt: skip


def _call_noise(documents: list[dict], keys: list[tuple[str, str]]) -> tuple[float, float]:
    """sigma_call (a robust spread of the calls around their run's median: noise, not the run's
    level; the mean over every run and row) and the calls a run has (their median). The MAD
    of a dozen normal calls reads low: n / (n - 0.8) corrects it (Croux and Rousseeuw, 1992)."""
    calls = [np.log(_row(d, k)["latency_normalized_samples"]) for d in documents for k in keys]
    mad = scipy.stats.median_abs_deviation
    sigma = float(np.mean([mad(c, scale="normal") * len(c) / (len(c) - 0.8) for c in calls]))
    return sigma, float(np.median([len(c) for c in calls]))


def _run_spread(groups: list[np.ndarray]) -> tuple[float, float]:
    """Pooled over groups of runs (runs x rows, each group's own row levels removed): the
    variance of a run's mean over rows (its offset) and of what is left per run and row."""
    off_ss = res_ss = off_df = res_df = 0.0
    for y in groups:
        centered = y - y.mean(axis=0)
        offsets = centered.mean(axis=1)
        off_ss += float((offsets**2).sum())
        res_ss += float(((centered - offsets[:, None]) ** 2).sum())
        off_df += y.shape[0] - 1
        res_df += (y.shape[0] - 1) * (y.shape[1] - 1)
    return off_ss / max(1.0, off_df), res_ss / max(1.0, res_df)


def fit(documents: list[dict]) -> dict:
    """sigma_call, sigma_run, sigma_variant (log scale) of runs of one workload; rows by key."""
    keys = [(r["variant"], r["runtime"]) for r in ok_rows(documents[0])]
    y = _medians(documents, keys)
    sigma_call, n = _call_noise(documents, keys)
    offset_var, resid_var = _run_spread([y])
    median_noise = (1.2533 * sigma_call) ** 2 / n  # what a run's median of n calls carries
    levels = np.exp(y.mean(axis=0)).tolist()
    return {"sigma_call": sigma_call, "sigma_run": math.sqrt(offset_var),
            "sigma_variant": math.sqrt(max(0.0, resid_var - median_noise)), "runs": len(y),
            "residual_sd": math.sqrt(resid_var), "median_noise_sd": math.sqrt(median_noise),
            "calls": n, "levels": dict(zip(map("/".join, keys), levels, strict=True))}  # fmt: skip


def fit_condition(checks: list[tuple[list[dict], list[dict]]]) -> dict:
    """How runs measured in one condition (idle hours later, beside a neighbour) differ from their
    baselines', from unchanged checks, (baseline runs, current runs) each: the current runs' own
    noise as `fit` has it (each check's level removed), and the shift of a check's level from its
    baseline's, per row: its mean over checks (what the condition does to that variant), and
    across checks the spread of the part every row shares (tau_shared: the hour, the neighbour's
    phase) and of each row's own (tau_row), less what the runs' own noise puts there."""
    keys = [(r["variant"], r["runtime"]) for r in ok_rows(checks[0][0][0])]
    base = [_medians(b, keys) for b, _ in checks]
    cur = [_medians(c, keys) for _, c in checks]
    sigma_call, n = _call_noise([d for _, c in checks for d in c], keys)
    off_c, res_c = _run_spread(cur)
    off_b, res_b = _run_spread(base)
    d = np.array([c.mean(axis=0) - b.mean(axis=0) for b, c in zip(base, cur, strict=True)])
    e = d - d.mean(axis=0)  # each row's mean shift is the condition's, the rest varies by check
    shared = e.mean(axis=1)
    own = e - shared[:, None]
    # what finite runs alone put into a check's shift, on average over the checks
    pairs = list(zip(base, cur, strict=True))
    noise_shared = np.mean([off_c / len(c) + off_b / len(b) for b, c in pairs])
    noise_own = np.mean([res_c / len(c) + res_b / len(b) for b, c in pairs])
    (k, rows), median_noise = d.shape, (1.2533 * sigma_call) ** 2 / n
    tau_row2 = max(0.0, float((own**2).sum()) / ((k - 1) * (rows - 1)) - noise_own)
    tau_shared2 = float(shared.var(ddof=1)) - noise_shared - tau_row2 / rows
    # a row's shift about none (the gate cannot know the condition's), beyond the runs' noise
    excess = float((d**2).mean()) - noise_shared - noise_own
    return {"checks": k, "runs": sum(len(c) for c in cur), "sigma_call": sigma_call,
            "sigma_run": math.sqrt(off_c),
            "sigma_variant": math.sqrt(max(0.0, res_c - median_noise)), "calls": n,
            "shift": dict(zip(map("/".join, keys), d.mean(axis=0).tolist(), strict=True)),
            "tau_shared": math.sqrt(max(0.0, tau_shared2)),
            "tau_row": math.sqrt(tau_row2), "excess": excess}  # fmt: skip


def session_term(sessions: dict[tuple[str, str], list]) -> dict:
    """The gate's session term (rtbench.gate's DEFAULT_SESSION_SD and DEFAULT_SESSION_SLOPE): how
    far the unchanged rows of a check land from their baselines' against the calibration, beyond
    what the check's own runs put there (its excess: the mean over rows of the shift squared,
    less the runs' variance of it), fitted as sd^2 + (slope x r)^2 by least squares, r how much
    slower (log) the check's calibration read than its baseline's (0 where faster: the host's
    slow hours, when the models slowed more than the calibration did). Each session (one study's
    checks in one condition, 2 at least) weighs alike: the hour is what varies, and a batch of 25
    checks is still one hour."""
    found, weights = [], []
    for pairs in (p for p in sessions.values() if len(p) > 1):
        for base, cur in pairs:
            keys = [(r["variant"], r["runtime"]) for r in ok_rows(base[0])]
            b, c = _medians(base, keys), _medians(cur, keys)
            noise = b.var(axis=0, ddof=1).mean() / len(b) + c.var(axis=0, ddof=1).mean() / len(c)
            slower = math.log(_calibration(cur) / _calibration(base))
            shift = c.mean(axis=0) - b.mean(axis=0)
            found.append((float((shift**2).mean()) - noise, max(0.0, slower)))
            weights.append(1.0 / len(pairs))
    excess, r = np.array(found).T
    w = np.sqrt(weights)
    design = np.vstack([np.ones_like(r), r**2]).T
    (sd2, slope2), *_ = np.linalg.lstsq(design * w[:, None], excess * w, rcond=None)
    return {
        "sd": math.sqrt(max(0.0, sd2)),
        "slope": math.sqrt(max(0.0, slope2)),
        "sessions": sum(len(p) > 1 for p in sessions.values()),
        "checks": len(found),
    }


def _calibration(runs: list[dict]) -> float:
    return statistics.median(r["calibration"]["median_ms"] for r in runs)


def _row(document: dict, key: tuple[str, str]) -> dict:
    return next(r for r in document["rows"] if (r["variant"], r["runtime"]) == key)


def unchanged_checks(studies: list[Path], into: Path) -> tuple[dict[str, list], list[dict], dict]:
    """The unchanged checks of gate_study.py's study files by condition, (baseline runs, current
    runs) each, read from the runs.tar.xz beside each study file (unpacked under `into`, each in
    a folder of its own: two studies may name their checks alike); every baseline's runs; and
    the checks by session (the study's folder, a batch of one sitting, and the condition).
    A study records where its files were: each is found as the file that ends like it."""
    roots = {}
    for study in studies:
        root = roots.setdefault(study.parent, into / str(len(roots)))
        if not root.exists():
            with tarfile.open(study.parent / "runs.tar.xz") as tar:
                tar.extractall(root, filter="data")
    everywhere = [f for root in roots.values() for f in root.rglob("*.json")]
    by_condition: dict[str, list] = {}
    by_session: dict[tuple[str, str], list] = {}
    baselines: dict[Path, list[dict]] = {}
    for study in studies:
        own = list(roots[study.parent].rglob("*.json"))
        for check in json.loads(study.read_text())["checks"]:
            if check["condition"] not in UNCHANGED:
                continue
            base = _locate(check["baseline"], everywhere)
            baselines.setdefault(base, load_runs(base))
            current = load_runs(_locate(check["runs_file"], own))
            pair = (baselines[base], current)
            by_condition.setdefault(check["condition"], []).append(pair)
            by_session.setdefault((study.parent.name, check["condition"]), []).append(pair)
    return by_condition, [d for runs in baselines.values() for d in runs], by_session


def _locate(stored: str, files: list[Path]) -> Path:
    """The one file whose path ends with the most of `stored`'s parts, its folder at least."""

    def common(file: Path) -> int:
        n = 0
        for a, b in zip(reversed(file.parts), reversed(Path(stored).parts), strict=False):
            if a != b:
                break
            n += 1
        return n

    scored = sorted(((common(f), f) for f in files), reverse=True)
    if not scored or scored[0][0] < 2 or (len(scored) > 1 and scored[1][0] == scored[0][0]):
        raise SystemExit(f"gate_simulation: no one file ends like {stored}")
    return scored[0][1]
