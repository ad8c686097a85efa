"""How cost grows: latency against the number of encoder tokens, the fitted exponent, throughput
against batch, and speed-ups between runtimes, from a merged table (rtbench.report.merge).

The encoder attends over the cells of S3, S4 and S5: (s/8)^2 + (s/16)^2 + (s/32)^2 tokens for an
s x s input (8400 at 640). Latency ~ tokens^k is fitted per series (a sweep, or the runs of one
device), variant, runtime, batch and dtype by least squares on log-log data (numpy.polyfit; its
covariance gives k's standard error with n - 2 degrees of freedom, and Student's t its 95% CI).
A part linear in pixels (convolutions) has k = 1; attention over all tokens (variant C) tends to
k = 2 as it comes to dominate.
"""

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from rtbench.models.build import STRIDES
from rtbench.report.plots import MARKERS, SERIES, plain

FIT_GROUP = ["series", "variant", "runtime", "batch", "dtype"]
MAX_PANELS = 12  # more groups than this: the first ones are drawn, the tables hold them all


def tokens(size: int) -> int:
    """Encoder tokens of a size x size input: the cells of S3, S4 and S5."""
    return sum((size // stride) ** 2 for stride in STRIDES)


def fit_exponent(x, y) -> dict:
    """Least-squares fit of log y = log c + k log x: k, its standard error and 95% CI (None
    with two points: a line through two points has no error estimate), and n."""
    x, y = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    n = len(x)
    if n < 2 or np.ptp(x) == 0:
        raise ValueError("an exponent needs at least two different sizes")
    if n < 3:
        k = float(np.polyfit(x, y, 1)[0])
        return {"k": k, "k_stderr": None, "k_ci95_low": None, "k_ci95_high": None, "n": n}
    (k, _), cov = np.polyfit(x, y, 1, cov=True)
    stderr = math.sqrt(cov[0, 0])
    half = stats.t.ppf(0.975, n - 2) * stderr
    return {"k": float(k), "k_stderr": stderr, "k_ci95_low": float(k - half),
            "k_ci95_high": float(k + half), "n": n}  # fmt: skip


def exponents(frame: pd.DataFrame) -> pd.DataFrame:
    """The fitted exponent per series, variant, runtime, batch and dtype with two sizes or more."""
    timed = frame[frame["latency_median_ms"].notna()]
    records = []
    for key, group in timed.groupby(FIT_GROUP, sort=False):
        if group["size"].nunique() < 2:
            continue
        fit = fit_exponent(group["tokens"], group["latency_median_ms"])
        sizes = ",".join(str(s) for s in sorted(group["size"].unique()))
        records.append({**dict(zip(FIT_GROUP, key, strict=True)), **fit, "sizes": sizes})
    columns = [*FIT_GROUP, "k", "k_stderr", "k_ci95_low", "k_ci95_high", "n", "sizes"]
    return pd.DataFrame.from_records(records, columns=columns)


def finding(fits: pd.DataFrame) -> str | None:
    """One sentence: which variant's latency grows fastest and slowest with the tokens."""
    if fits["variant"].nunique() < 2:
        return None
    by_variant = fits.groupby("variant", sort=False)["k"].median().sort_values()
    slow, fast = by_variant.index[0], by_variant.index[-1]
    k = "k" if len(fits) == fits["variant"].nunique() else "median k of its fits"
    return (
        f"Latency grows fastest with the number of tokens for {fast} "
        f"({k} = {by_variant[fast]:.2f}) and slowest for {slow} ({k} = {by_variant[slow]:.2f}); "
        "k = 1 is linear in pixels, k = 2 quadratic (attention over all tokens)."
    )


def speedups(frame: pd.DataFrame) -> pd.DataFrame:
    """Per source (run or point) and variant, each runtime's speed-up over the first runtime of
    that source (reference median / runtime median): measured in the same rounds, so fair."""
    timed = frame[frame["latency_median_ms"].notna()]
    records = []
    for (source, variant), group in timed.groupby(["source", "variant"], sort=False):
        ordered = group.sort_values("runtime_order")
        reference = ordered.iloc[0]
        for row in ordered.iloc[1:].itertuples():
            records.append({
                "source": source, "series": row.series, "size": row.size, "batch": row.batch,
                "dtype": row.dtype, "variant": variant, "reference": reference["runtime"],
                "runtime": row.runtime,
                "speedup": reference["latency_median_ms"] / row.latency_median_ms,
            })  # fmt: skip
    columns = ["source", "series", "size", "batch", "dtype", "variant", "reference", "runtime",
               "speedup"]  # fmt: skip
    return pd.DataFrame.from_records(records, columns=columns)


# ---------------------------------------------------------------------------- plots


def latency_vs_tokens(frame: pd.DataFrame, fits: pd.DataFrame) -> Figure | None:
    """Log-log latency against tokens, a line per variant with its fit and exponent; a panel per
    series, runtime, batch and dtype."""
    keyed = fits.set_index(FIT_GROUP)
    panels = [(key, group) for key, group in frame.groupby(FIT_GROUP[:1] + FIT_GROUP[2:],
              sort=False) if group["size"].nunique() >= 2][:MAX_PANELS]  # fmt: skip
    if not panels:
        return None
    figure, axes = _panels(len(panels))
    for ax, ((series, runtime, batch, dtype), group) in zip(axes, panels, strict=False):
        for i, (variant, rows) in enumerate(group.groupby("variant", sort=False)):
            rows = rows.sort_values("tokens")
            color, marker = SERIES[i % len(SERIES)], MARKERS[i % len(MARKERS)]
            label = plain(variant)
            key = (series, variant, runtime, batch, dtype)
            if key in keyed.index:
                fit = keyed.loc[key]
                k = f"k = {fit['k']:.2f}"
                if not pd.isna(fit["k_stderr"]):
                    k += f" ± {fit['k_stderr']:.2f}"
                label = plain(f"{variant}: {k}")
                xs = np.array([rows["tokens"].min(), rows["tokens"].max()], float)
                anchor = np.exp(np.mean(np.log(rows["latency_median_ms"])) - fit["k"] *
                                np.mean(np.log(rows["tokens"])))  # fmt: skip
                ax.plot(xs, anchor * xs ** fit["k"], "--", color=color, alpha=0.6)
            below = (rows["latency_median_ms"] - rows["latency_ci95_low_ms"]).clip(lower=0)
            above = (rows["latency_ci95_high_ms"] - rows["latency_median_ms"]).clip(lower=0)
            ax.errorbar(rows["tokens"], rows["latency_median_ms"], yerr=[below, above],
                        fmt=marker, color=color, capsize=2, label=label)  # fmt: skip
        sizes = group.drop_duplicates("size").sort_values("size")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ticks = [f"{t}\n{s}px" for t, s in zip(sizes["tokens"], sizes["size"], strict=True)]
        ax.set_xticks(sizes["tokens"], ticks)
        ax.minorticks_off()
        ax.set_xlabel("encoder tokens (input side), log scale")
        ax.set_ylabel("latency, median ms (log scale)")
        ax.set_title(plain(f"{series}\n{runtime}, batch {batch}, {dtype}"), fontsize="small")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="x-small")
    figure.suptitle("Latency vs number of tokens, fitted latency ~ tokens^k", fontsize="medium")
    figure.tight_layout()
    return figure


def throughput_vs_batch(frame: pd.DataFrame) -> Figure | None:
    """Images per second against batch, a line per variant; a panel per series, runtime, size
    and dtype with two batches or more."""
    keys = ["series", "runtime", "size", "dtype"]
    timed = frame[frame["throughput_ips"].notna()]
    panels = [(key, group) for key, group in timed.groupby(keys, sort=False)
              if group["batch"].nunique() >= 2][:MAX_PANELS]  # fmt: skip
    if not panels:
        return None
    figure, axes = _panels(len(panels))
    for ax, ((series, runtime, size, dtype), group) in zip(axes, panels, strict=False):
        for i, (variant, rows) in enumerate(group.groupby("variant", sort=False)):
            rows = rows.sort_values("batch")
            ax.plot(rows["batch"], rows["throughput_ips"], marker=MARKERS[i % len(MARKERS)],
                    color=SERIES[i % len(SERIES)], label=plain(variant))  # fmt: skip
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(group["batch"].unique()), sorted(group["batch"].unique()))
        ax.minorticks_off()
        ax.set_ylim(bottom=0)  # from zero: a gain with batch reads as the ratio it is
        ax.set_xlabel("batch")
        ax.set_ylabel("throughput (images/s)")
        ax.set_title(plain(f"{series}\n{runtime}, {size}x{size}, {dtype}"), fontsize="small")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="x-small")
    figure.suptitle("Throughput vs batch", fontsize="medium")
    figure.tight_layout()
    return figure


def speedup_bars(table: pd.DataFrame) -> Figure | None:
    """A panel per runtime compared with a reference: per variant a bar per point."""
    if table.empty:
        return None
    panels = list(table.groupby(["reference", "runtime"], sort=False))[:MAX_PANELS]
    figure, axes = _panels(len(panels))
    for ax, ((reference, runtime), group) in zip(axes, panels, strict=False):
        variants = list(dict.fromkeys(group["variant"]))
        sources = list(dict.fromkeys(group["source"]))
        width = 0.8 / len(sources)
        for i, source in enumerate(sources):
            rows = group[group["source"] == source].set_index("variant")
            xs = [v + (i - (len(sources) - 1) / 2) * width for v in range(len(variants))]
            ax.bar(xs, [rows["speedup"].get(v, math.nan) for v in variants], width,
                   color=SERIES[i % len(SERIES)], label=plain(source))  # fmt: skip
        ax.axhline(1.0, color="0.3", linewidth=0.8)
        ax.set_xticks(range(len(variants)), [plain(v) for v in variants])
        ax.set_ylabel(plain(f"speed-up over {reference} (x)"))
        ax.set_title(plain(f"{runtime} vs {reference}"), fontsize="small")
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2)
    figure.suptitle("Runtime speed-ups per variant (same rounds)", fontsize="medium")
    figure.tight_layout()
    return figure


def _panels(n: int) -> tuple[Figure, list]:
    columns = min(n, 3)
    rows = math.ceil(n / columns)
    figure = Figure(figsize=(5.5 * columns, 4.5 * rows))
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return figure, list(axes[:n])
