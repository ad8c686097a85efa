"""The gate's operating characteristic, simulated (issue 24): how often `rtbench check` fails,
passes or cannot tell, for unchanged code and for slowdowns of one variant of 0.9x to 1.5x, under
a noise model fitted to real runs of this machine. A benchmark, not a test.

The noise model has the levels real runs have:

    sigma_call     each call's own noise (log scale), around its run's level
    sigma_run      each run as a whole: one offset for every model of the run (not the calibration)
    sigma_variant  each run and model: one offset of its own
    busy           the share of runs with contention (all cores wanted): every model moves by
                   busy_shift, each by sigma_busy more, and the calibration is in doubt

A check's runs are not measured where its baseline's were: hours later, beside other work. From
the unchanged checks of gate_study.py's studies (--condition), each condition gets its own fit:
its runs' noise as above, and how a check's level lands against its baseline's (per row a mean,
and, drawn per check, a part every row shares and one of each row's own).

--fit RUN.json ... fits sigma_call, sigma_run and sigma_variant to results documents of separate
runs of one workload (a baseline's); without it, the baselines of the --condition checks, or the
figures given. Each simulated check is rtbench.check.run_check against a baseline of
--baseline-runs runs drawn from the model, with synthetic runs in place of measured ones (drawn
under each condition, with --condition); --run-seconds turns runs into the wall time of a check.
Prints the tables (Markdown) and writes them, with the models, to --out.

    python benchmarks/gate_simulation.py --fit results/noise/run-*.json --checks 400
    python benchmarks/gate_simulation.py --checks 400 --condition \
        docs/gate-study/2026-12-07/study-1thread-*.json docs/gate-study/2026-12-07[b-i]/study-*.json
"""

import argparse
import json
import math
import random
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

from noise_fit import fit, fit_condition, session_term, unchanged_checks

from rtbench import gate
from rtbench.check import run_check
from rtbench.cli.measuring import BASELINE_RUNS
from rtbench.gate import Outcome, Settings
from rtbench.measure.calibration import CALIBRATION_NAME
from rtbench.results import SCHEMA, load_runs
from rtbench.spec import load_variants

FACTORS = (0.9, 1.0, 1.05, 1.1, 1.15, 1.2, 1.3, 1.5)
BUSY_LOAD = {"cpu_count": 2, "load_per_core_before": 1.0, "others_cpu_fraction": 0.5}
WORDS = {"neighbour": "busy loop", "memory": "memory neighbour"}  # what each is, in the plot


class Model:
    """Synthetic runs of the gate's workload under the noise model."""

    def __init__(self, levels: dict[str, float], sigma_call: float, sigma_run: float,
                 sigma_variant: float, calls: int = 20, busy: float = 0.0,
                 busy_shift: float = -0.35, sigma_busy: float = 0.1) -> None:  # fmt: skip
        self.levels, self.calls = levels, int(calls)
        self.sigma_call, self.sigma_run, self.sigma_variant = sigma_call, sigma_run, sigma_variant
        self.busy, self.busy_shift, self.sigma_busy = busy, busy_shift, sigma_busy

    def run(self, rng: random.Random, slow: dict[str, float] | None = None,
            shift: dict[str, float] | None = None) -> dict:  # fmt: skip
        """A run; `slow` multiplies variants' latency, `shift` adds to rows' log levels."""
        slow, shift = slow or {}, shift or {}
        busy = rng.random() < self.busy
        offset = rng.gauss(0.0, self.sigma_run) + (self.busy_shift if busy else 0.0)
        calib = [15.0 * math.exp(rng.gauss(0.0, self.sigma_call)) for _ in range(self.calls)]
        rows = []
        for key, level in self.levels.items():
            variant, runtime = key.split("/")
            own = rng.gauss(0.0, self.sigma_variant) + (rng.gauss(0, self.sigma_busy) if busy
                                                         else 0.0)  # fmt: skip
            center = level * slow.get(variant, 1.0) * math.exp(offset + own + shift.get(key, 0.0))
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


@dataclass(frozen=True)
class Condition:
    """Where the current runs are measured, as `fit_condition` found it: their own noise
    (`model`) and how a check's level lands against its baseline's (`shift`: the mean per row,
    plus, drawn per check, a part every row shares and one of each row's own)."""

    model: Model
    shift: dict[str, float]
    tau_shared: float
    tau_row: float

    @classmethod
    def fitted(cls, fitted: dict, levels: dict[str, float]) -> "Condition":
        model = Model(levels, fitted["sigma_call"], fitted["sigma_run"], fitted["sigma_variant"],
                      fitted["calls"])  # fmt: skip
        return cls(model, fitted["shift"], fitted["tau_shared"], fitted["tau_row"])

    def draw(self, rng: random.Random) -> dict[str, float]:
        shared = rng.gauss(0.0, self.tau_shared)
        return {k: m + shared + rng.gauss(0.0, self.tau_row) for k, m in self.shift.items()}


def simulate(model: Model, factor: float, checks: int, baseline_runs: int, seed: int,
             settings: Settings, variant: str,
             condition: Condition | None = None) -> dict:  # fmt: skip
    """`checks` checks of `variant` slowed by `factor`, each against a baseline drawn from
    `model`; the current runs from `condition` (the same model, unshifted, without one)."""
    rng = random.Random(seed)
    variants = load_variants()
    counts = {o: 0 for o in Outcome}
    used = []
    slowed_failed = others_failed = 0  # whose failure a failed check was
    for _ in range(checks):
        baseline = [model.run(rng) for _ in range(baseline_runs)]
        current, shift = (condition.model, condition.draw(rng)) if condition else (model, None)
        checked = run_check(baseline, variants,
                            lambda names, cfg, current=current, shift=shift:
                            current.run(rng, {variant: factor}, shift),
                            settings)  # fmt: skip
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


def plot(tables: dict[str, list[dict]], measured: list[str], path: Path, variant: str) -> None:
    """Share of checks failed (and, for one table, passed and undecided) against the slowdown;
    measured checks as points with their 95% (Wilson) intervals, [CONDITION@]FACTOR:FAILED/CHECKS
    each, in their condition's colour and nudged apart."""
    from matplotlib.figure import Figure
    from scipy.stats import binomtest

    figure = Figure(figsize=(6.4, 3.6), dpi=120)
    ax = figure.add_subplot()
    colours = dict(zip(tables, ("C0", "C1", "C2", "C3", "C4"), strict=False))
    for name, table in tables.items():
        x = [r["factor"] for r in table]
        lines = (("regression", "fails", "-o"),) if len(tables) > 1 else (
            ("regression", "fails", "-o"), ("pass", "passes", "--s"),
            ("inconclusive", "cannot tell", ":^"))  # fmt: skip
        for key, label, style in lines:
            ax.plot(x, [r[key] / r["checks"] for r in table], style, markersize=4,
                    color=colours[name] if len(tables) > 1 else None,
                    label=f"{label} ({WORDS.get(name, name) + ', ' if name else ''}"
                          "simulated)")  # fmt: skip
    for k, item in enumerate(measured):
        where, _, counts = item.rpartition(":")
        name, _, factor = where.rpartition("@")
        failed, checks = map(int, counts.split("/"))
        ci = binomtest(failed, checks).proportion_ci(method="wilson")
        share = failed / checks
        nudge = 0.01 * (list(tables).index(name) - (len(tables) - 1) / 2) if name in tables else 0
        ax.errorbar([float(factor) + nudge], [share], yerr=[[share - ci.low], [ci.high - share]],
                    fmt="D", color=colours.get(name, "k"), markeredgecolor="k", markersize=5,
                    capsize=3, label="fails (measured)" if k == 0 else None)  # fmt: skip
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
    parser.add_argument("--session-sd", type=float, default=gate.DEFAULTS.session_sd)
    parser.add_argument("--session-slope", type=float, default=gate.DEFAULTS.session_slope)
    parser.add_argument("--out", type=Path, default=None, help="write the table and model (JSON)")
    parser.add_argument("--plot", type=Path, help="write the power curve (PNG)")
    parser.add_argument(
        "--measured",
        nargs="*",
        default=[],
        help="measured checks beside the curves, [CONDITION@]FACTOR:FAILED/CHECKS each",
    )
    parser.add_argument("--condition", nargs="*", type=Path, default=[], metavar="STUDY_JSON",
                        help="gate_study.py's study files (runs.tar.xz beside each): fit how "
                        "the runs of their unchanged checks differ from their baselines', per "
                        "condition, and simulate each condition's checks against baselines of "
                        "the model (--fit's, or else fitted to the checks' baselines)")  # fmt: skip
    args = parser.parse_args()
    conditions, documents = {}, [d for path in args.fit for d in load_runs(path)]
    if args.condition:
        with tempfile.TemporaryDirectory() as tmp:
            by_condition, baselines, sessions = unchanged_checks(args.condition, Path(tmp))
        conditions = {name: fit_condition(pairs) for name, pairs in by_condition.items()}
        term = session_term(sessions)
        print(
            f"session term: sd {term['sd']:.4f}, slope {term['slope']:.3f} over "
            f"{term['sessions']} sessions, {term['checks']} checks (the gate's: "
            f"{gate.DEFAULT_SESSION_SD}, {gate.DEFAULT_SESSION_SLOPE}, df {gate.SESSION_DF})"
        )
        documents = documents or baselines
    if documents:
        fitted = fit(documents)
    else:
        fitted = {"sigma_call": args.sigma_call, "sigma_run": args.sigma_run,
                  "sigma_variant": args.sigma_variant, "calls": 20,
                  "levels": {f"{v}/eager": x for v, x in
                             {"A": 2.8, "B": 3.0, "C": 3.4, "D": 3.2, "Ds5": 3.0,
                              "E": 3.3}.items()}}  # fmt: skip
    model = Model(fitted["levels"], fitted["sigma_call"], fitted["sigma_run"],
                  fitted["sigma_variant"], fitted["calls"], args.busy)  # fmt: skip
    settings = Settings(
        beta=args.beta,
        max_runs=args.max_runs,
        session_sd=args.session_sd,
        session_slope=args.session_slope,
    )
    print(
        f"noise model: sigma_call {fitted['sigma_call']:.4f}, sigma_run "
        f"{fitted['sigma_run']:.4f}, sigma_variant {fitted['sigma_variant']:.4f}, busy "
        f"{args.busy:g}; baseline {args.baseline_runs} runs; {args.checks} checks a row"
    )
    tables = {}
    for name, found in conditions.items() or [("", None)]:
        condition = Condition.fitted(found, fitted["levels"]) if found else None
        if found:
            print(f"\n{name}: {found['checks']} checks, {found['runs']} runs: sigma_call "
                  f"{found['sigma_call']:.4f}, sigma_run {found['sigma_run']:.4f}, "
                  f"sigma_variant {found['sigma_variant']:.4f}; a check's shift: per row "
                  + ", ".join(f"{k.split('/')[0]} {v:+.4f}" for k, v in found["shift"].items())
                  + f"; shared by every row sd {found['tau_shared']:.4f}, each row's own sd "
                  f"{found['tau_row']:.4f} (beyond the runs' noise)")  # fmt: skip
        table = [simulate(model, f, args.checks, args.baseline_runs, args.seed + i, settings,
                          args.variant, condition) for i, f in enumerate(args.factors)]  # fmt: skip
        tables[name] = sorted(table, key=lambda r: r["factor"])
        print(_markdown(tables[name], args.variant, args.run_seconds))
    if args.plot:
        plot(tables, args.measured, args.plot, args.variant)
    if args.out:
        out = {"model": fitted, "busy": args.busy, "baseline_runs": args.baseline_runs}
        if conditions:
            out["conditions"] = {name: {"fit": conditions[name], "table": tables[name]}
                                 for name in conditions}  # fmt: skip
        else:
            out["table"] = tables[""]
        args.out.write_text(json.dumps(out, indent=2))


def _markdown(table: list[dict], variant: str, run_seconds: float) -> str:
    lines = [
        f"\n| slowdown of {variant} | fail | {variant} failed | another failed | pass | "
        "inconclusive | mean runs | mean check time |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in table:
        n = r["checks"]
        lines.append(
            f"| {r['factor']:.2f}x | {r['regression'] / n:.1%} | "
            f"{r.get('slowed_failed', '-')} | {r.get('others_failed', '-')} | "
            f"{r['pass'] / n:.1%} | {r['inconclusive'] / n:.1%} | "
            f"{r['mean_runs']:.1f} | {r['mean_runs'] * run_seconds / 60:.1f} min |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
