"""Synthetic histories: results documents of one machine, run after run, with normalized latencies
chosen here, so that series, change points and baselines are asserted on numbers made here and
never on a real timing."""

from statistics import median

from synthetic import results_document

# Run-to-run noise of the normalized medians, in units of 2% (the spread measured on the 2-core
# machine is 1.8-3.5%): a fixed pattern, so that every test sees the same numbers.
NOISE = (0.3, -0.5, 0.8, -0.2, 0.1, -0.9, 0.6, -0.4, 0.2, 0.7, -0.6, 0.0, 0.5, -0.3, 0.9, -0.7,
         0.4, -0.1, -0.8, 0.2)  # fmt: skip
BASE_MS = {"A": 10.0, "Ds5": 11.0, "E": 12.0}
SAMPLES = 10
CALIBRATION_MS = 50.0


def normalized(variant: str, i: int, factor: float = 1.0) -> float:
    """The normalized median of `variant` in run `i`."""
    return BASE_MS[variant] * (1 + 0.02 * NOISE[i % len(NOISE)]) * factor / CALIBRATION_MS


def run_document(i: int, values: dict[str, float], *, size: int = 640, threads: int = 2,
                 device_name: str = "Test CPU", iters: int | None = None) -> dict:  # fmt: skip
    """Run `i` (commit c00, c01, ..., one hour apart) with these normalized medians, SAMPLES
    samples each spread +-4.5% around it."""
    latencies = {(variant, "eager"): value * CALIBRATION_MS for variant, value in values.items()}
    params = {variant: 30_000_000 + n for n, variant in enumerate(BASE_MS)}
    doc = results_document(latencies, size=size, device_name=device_name, params=params,
                           run_id=f"run{i:02d}")  # fmt: skip
    doc["created"] = f"2026-01-{1 + i // 24:02d}T{i % 24:02d}:00:00+00:00"
    doc["environment"].update(git_commit=f"c{i:02d}", git_dirty=False, cpu_model=device_name,
                              cpu_count=2, torch="2.13.0")  # fmt: skip
    doc["config"]["threads"] = threads
    if iters is not None:
        doc["config"]["timing"] = {"iters": iters}
    for row in doc["rows"]:
        norm = values[row["variant"]]
        row["latency_normalized_samples"] = [norm * (1 + 0.01 * (k - 4.5)) for k in range(SAMPLES)]
        row["latency_samples_ms"] = [x * CALIBRATION_MS for x in row["latency_normalized_samples"]]
        row["latency_normalized"] = median(row["latency_normalized_samples"])
        row["latency_median_ms"] = median(row["latency_samples_ms"])
        row["latency_samples"] = SAMPLES
        for key in ("p99_ms", "mean_ms", "std_ms", "min_ms"):  # figures the reports show
            row[f"latency_{key}"] = row["latency_median_ms"]
    return doc


def stepped(n: int = 12, at: int = 6, factor: float = 1.5, variant: str = "E") -> list[dict]:
    """n runs of A, Ds5 and E; `variant` is `factor` times slower from run `at` on."""
    return [run_document(i, {v: normalized(v, i, factor if v == variant and i >= at else 1.0)
                             for v in BASE_MS}) for i in range(n)]  # fmt: skip
