"""Synthetic results documents with chosen latencies: what the report and sweep tests merge,
so that no assertion depends on a real timing."""


def results_document(
    latencies_ms: dict[tuple[str, str], float],
    size: int = 640,
    batch: int = 1,
    dtype: str = "fp32",
    scope: str = "encoder",
    device_name: str = "Test CPU",
    params: dict[str, int] | None = None,
    run_id: str = "run",
) -> dict:
    """A valid rtbench.results/2 document: one ok row per (variant, runtime) -> median latency,
    three samples around it; `params` per variant when given."""
    runtimes = list(dict.fromkeys(runtime for _, runtime in latencies_ms))
    rows = []
    for (variant, runtime), ms in latencies_ms.items():
        rows.append({
            "variant": variant, "runtime": runtime, "status": "ok", "error": None,
            "scope": scope, "form": "train",
            "params": (params or {}).get(variant), "gmacs": 1.0,
            "latency_median_ms": ms, "latency_ci95_low_ms": 0.9 * ms,
            "latency_ci95_high_ms": 1.1 * ms, "latency_p90_ms": 1.05 * ms,
            "latency_iqr_ms": 0.1 * ms, "latency_samples": 3,
            "latency_samples_ms": [0.9 * ms, ms, 1.1 * ms],
            "latency_normalized": ms / 50.0,
            "latency_normalized_samples": [0.9 * ms / 50, ms / 50, 1.1 * ms / 50],
        })  # fmt: skip
    return {
        "schema": "rtbench.results/2",
        "run_id": run_id,
        "created": "2026-01-01T00:00:00+00:00",
        "config": {"scope": scope, "device": "cpu", "dtype": dtype, "size": size,
                   "batch": batch, "seed": 0, "threads": 2, "deploy": False,
                   "channels_last": False, "runtimes": runtimes, "flops": True},
        "environment": {"device": "cpu", "device_name": device_name, "threads": 2},
        "calibration": {"name": "calib-v2", "median_ms": 50.0},
        "peak_gflops_per_s": 100.0,
        "rows": rows,
    }  # fmt: skip
