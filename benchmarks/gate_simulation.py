"""The gate's operating characteristic, simulated (issue 24): how often `rtbench check` fails,
passes or cannot tell, for unchanged code and for slowdowns of one variant of 0.9x to 1.5x, under
a noise model fitted to real runs of this machine. A benchmark, not a test.

The noise model has the levels real runs have:

    sigma_call     each call's own noise (log scale), around its run's level
    sigma_run      each run as a whole: one offset for every model of the run (not the calibration)
    sigma_variant  each run and model: one offset of its own
    busy           the share of runs with contention: other processes took the CPU; such a run
                   moves every model by busy_shift (normalized latencies fell 25-45% against the
                   calibration beside a busy loop) and each by sigma_busy more, and records the
                   load that puts the calibration in doubt

--fit RUN.json ... fits sigma_call, sigma_run and sigma_variant to results documents of separate
runs of one workload (benchmarks/noise_runs.sh makes them); without it, the figures given. Each
simulated check is rtbench.check.run_check against a baseline of --baseline-runs runs drawn from
the same model, with synthetic runs in place of measured ones; --run-seconds turns runs into the
wall time of a check. Prints the table (Markdown) and writes it, with the model, to --out.

    python benchmarks/gate_simulation.py --fit results/noise/run-*.json --checks 400
"""

import argparse
import json
import math
import random
import statistics
from pathlib import Path

import numpy as np

from rtbench import gate
from rtbench.check import run_check
from rtbench.cli.measuring import BASELINE_RUNS
from rtbench.gate import Outcome, Settings
from rtbench.measure.calibration import CALIBRATION_NAME
from rtbench.results import SCHEMA, load_runs, ok_rows
from rtbench.spec import load_variants

FACTORS = (0.9, 1.0, 1.05, 1.1, 1.15, 1.2, 1.3, 1.5)
BUSY_LOAD = {"cpu_count": 2, "load_per_core_before": 1.0, "others_cpu_fraction": 0.5}


def fit(documents: list[dict]) -> dict:
    """sigma_call, sigma_run, sigma_variant (log scale) of runs of one workload; rows by key."""
    keys = [(r["variant"], r["runtime"]) for r in ok_rows(documents[0])]
    y = np.array([[math.log(statistics.median(_row(d, k)["latency_normalized_samples"]))
                   for k in keys] for d in documents])  # fmt: skip
    calls = [np.log(_row(d, k)["latency_normalized_samples"]) for d in documents for k in keys]
    # a robust spread of the calls around their run's median: noise, not the run's level
    sigma_call = float(np.median([1.4826 * np.median(np.abs(c - np.median(c))) for c in calls]))
    n = float(np.median([len(c) for c in calls]))
    centered = y - y.mean(axis=0)  # each row's own level removed
    offsets = centered.mean(axis=1)  # the run as a whole
    resid = centered - offsets[:, None]
    runs, rows = y.shape
    sigma_run = float(offsets.std(ddof=1)) if runs > 1 else 0.0
    resid_var = float((resid**2).sum() / max(1, (runs - 1) * (rows - 1)))
    median_noise = (1.2533 * sigma_call) ** 2 / n  # what a run's median of n calls carries
    levels = np.exp(y.mean(axis=0)).tolist()
    return {"sigma_call": sigma_call, "sigma_run": sigma_run,
            "sigma_variant": math.sqrt(max(0.0, resid_var - median_noise)), "runs": runs,
            "residual_sd": math.sqrt(resid_var), "median_noise_sd": math.sqrt(median_noise),
            "calls": n, "levels": dict(zip(map("/".join, keys), levels, strict=True))}  # fmt: skip


def _row(document: dict, key: tuple[str, str]) -> dict:
    return next(r for r in document["rows"] if (r["variant"], r["runtime"]) == key)


class Model:
    """Synthetic runs of the gate's workload under the noise model."""

    def __init__(self, levels: dict[str, float], sigma_call: float, sigma_run: float,
                 sigma_variant: float, calls: int = 20, busy: float = 0.0,
                 busy_shift: float = -0.35, sigma_busy: float = 0.1) -> None:  # fmt: skip
        self.levels, self.calls = levels, int(calls)
        self.sigma_call, self.sigma_run, self.sigma_variant = sigma_call, sigma_run, sigma_variant
        self.busy, self.busy_shift, self.sigma_busy = busy, busy_shift, sigma_busy

    def run(self, rng: random.Random, slow: dict[str, float] | None = None) -> dict:
        slow = slow or {}
        busy = rng.random() < self.busy
        offset = rng.gauss(0.0, self.sigma_run) + (self.busy_shift if busy else 0.0)
        calib = [15.0 * math.exp(rng.gauss(0.0, self.sigma_call)) for _ in range(self.calls)]
        rows = []
        for key, level in self.levels.items():
            variant, runtime = key.split("/")
            own = rng.gauss(0.0, self.sigma_variant) + (rng.gauss(0, self.sigma_busy) if busy
                                                         else 0.0)  # fmt: skip
            center = level * slow.get(variant, 1.0) * math.exp(offset + own)
            norm = [center * math.exp(rng.gauss(0.0, self.sigma_call)) for _ in range(self.calls)]
            raw = [x * c for x, c in zip(norm, calib, strict=True)]
            rows.append({"variant": variant, "runtime": runtime, "status": "ok", "error": None,
                         "params": 1, "gmacs": 1.0, "latency_median_ms": statistics.median(raw),
                         "latency_samples_ms": raw, "latency_normalized_samples": norm,
                         "latency_normalized": statistics.median(norm)})  # fmt: skip
        cfg = {"scope": "detector", "device": "cpu", "size": 256, "runtimes": ["eager"]}
        return {"schema": SCHEMA, "created": "2026-01-01T00:00:00+00:00", "config": cfg,
                "environment": {}, "load": BUSY_LOAD if busy else None,
                "calibration": {"name": CALIBRATION_NAME, "median_ms": statistics.median(calib)},
                "rows": rows}  # fmt: skip


def simulate(model: Model, factor: float, checks: int, baseline_runs: int, seed: int,
             settings: Settings, variant: str) -> dict:  # fmt: skip
    rng = random.Random(seed)
    variants = load_variants()
    counts = {o: 0 for o in Outcome}
    used = []
    slowed_failed = others_failed = 0  # whose failure a failed check was
    for _ in range(checks):
        baseline = [model.run(rng) for _ in range(baseline_runs)]
        checked = run_check(
            baseline, variants, lambda names, cfg: model.run(rng, {variant: factor}), settings
        )
        counts[checked.report.outcome] += 1
        used.append(len(checked.runs))
        failed = {r.variant for r in checked.report.rows if r.failed}
        slowed_failed += variant in failed
        others_failed += bool(failed - {variant})
    return {
        "factor": factor,
        "checks": checks,
        **{o.value: counts[o] for o in Outcome},
        "slowed_failed": slowed_failed,
        "others_failed": others_failed,
        "mean_runs": statistics.mean(used),
        "max_runs": max(used),
    }


def plot(table: list[dict], measured: list[str], path: Path, variant: str) -> None:
    """Share of checks failed, passed and undecided against the slowdown; measured checks as
    points with their 95% (Wilson) intervals."""
    from matplotlib.figure import Figure
    from scipy.stats import binomtest

    figure = Figure(figsize=(6.4, 3.6), dpi=120)
    ax = figure.add_subplot()
    x = [r["factor"] for r in table]
    for key, label, style in (("regression", "fails (simulated)", "-o"),
                              ("pass", "passes (simulated)", "--s"),
                              ("inconclusive", "cannot tell (simulated)", ":^")):  # fmt: skip
        ax.plot(x, [r[key] / r["checks"] for r in table], style, label=label, markersize=4)
    for item in measured:
        factor, counts = item.split(":")
        failed, checks = map(int, counts.split("/"))
        ci = binomtest(failed, checks).proportion_ci(method="wilson")
        share = failed / checks
        ax.errorbar([float(factor)], [share], yerr=[[share - ci.low], [ci.high - share]],
                    fmt="kD", markersize=5, capsize=3,
                    label="fails (measured)" if item == measured[0] else None)  # fmt: skip
    ax.axvline(1.1, color="grey", linewidth=0.8)
    ax.set_xlabel(f"slowdown of {variant} (x)")
    ax.set_ylabel("share of checks")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7, loc="center right")
    ax.set_title("rtbench check: its operating characteristic", fontsize=9)
    figure.tight_layout()
    figure.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fit", nargs="*", type=Path, default=[], help="results documents")
    parser.add_argument("--sigma-call", type=float, default=0.04)
    parser.add_argument("--sigma-run", type=float, default=0.03)
    parser.add_argument("--sigma-variant", type=float, default=0.015)
    parser.add_argument("--busy", type=float, default=0.0, help="share of runs with contention")
    parser.add_argument("--checks", type=int, default=200, help="checks per factor")
    parser.add_argument("--baseline-runs", type=int, default=BASELINE_RUNS)
    parser.add_argument("--variant", default="E")
    parser.add_argument("--factors", type=float, nargs="*", default=list(FACTORS))
    parser.add_argument("--run-seconds", type=float, default=35.0, help="wall time of one run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--beta", type=float, default=gate.DEFAULTS.beta)
    parser.add_argument("--max-runs", type=int, default=gate.DEFAULTS.max_runs)
    parser.add_argument("--out", type=Path, default=None, help="write the table and model (JSON)")
    parser.add_argument("--plot", type=Path, help="write the power curve (PNG)")
    parser.add_argument(
        "--merge",
        nargs="*",
        type=Path,
        default=[],
        help="tables written by --out to plot with this one",
    )
    parser.add_argument(
        "--measured",
        nargs="*",
        default=[],
        help="measured checks beside the curve, FACTOR:FAILED/CHECKS each",
    )
    args = parser.parse_args()
    if args.fit:
        documents = [d for path in args.fit for d in load_runs(path)]
        fitted = fit(documents)
    else:
        fitted = {"sigma_call": args.sigma_call, "sigma_run": args.sigma_run,
                  "sigma_variant": args.sigma_variant, "calls": 20,
                  "levels": {f"{v}/eager": x for v, x in
                             {"A": 2.8, "B": 3.0, "C": 3.4, "D": 3.2, "Ds5": 3.0,
                              "E": 3.3}.items()}}  # fmt: skip
    model = Model(fitted["levels"], fitted["sigma_call"], fitted["sigma_run"],
                  fitted["sigma_variant"], fitted["calls"], args.busy)  # fmt: skip
    settings = Settings(beta=args.beta, max_runs=args.max_runs)
    table = [simulate(model, f, args.checks, args.baseline_runs, args.seed + i, settings,
                      args.variant) for i, f in enumerate(args.factors)]  # fmt: skip
    for path in args.merge:
        table += json.loads(path.read_text())["table"]
    table.sort(key=lambda r: r["factor"])
    print(
        f"noise model: sigma_call {fitted['sigma_call']:.4f}, sigma_run "
        f"{fitted['sigma_run']:.4f}, sigma_variant {fitted['sigma_variant']:.4f}, busy "
        f"{args.busy:g}; baseline {args.baseline_runs} runs; {args.checks} checks a row\n"
    )
    print(
        "| slowdown of " + args.variant + " | fail | " + args.variant + " failed | another "
        "failed | pass | inconclusive | mean runs | mean check time |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in table:
        n = r["checks"]
        print(
            f"| {r['factor']:.2f}x | {r['regression'] / n:.1%} | "
            f"{r.get('slowed_failed', '-')} | {r.get('others_failed', '-')} | "
            f"{r['pass'] / n:.1%} | "
            f"{r['inconclusive'] / n:.1%} | {r['mean_runs']:.1f} | "
            f"{r['mean_runs'] * args.run_seconds / 60:.1f} min |"
        )
    if args.plot:
        plot(table, args.measured, args.plot, args.variant)
    if args.out:
        args.out.write_text(json.dumps({"model": fitted, "busy": args.busy,
                                        "baseline_runs": args.baseline_runs,
                                        "table": table}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
