"""Where a run's wall time goes: its phases (build, count, peak, warm-up, timing), for
results.json's `run_time` and the report, so that a slow run says what made it slow."""

import time
from collections.abc import Iterator
from contextlib import contextmanager

PHASES = ("build", "count", "peak", "warmup", "timing")  # in the order a run goes through them


class Phases:
    """Seconds per phase, summed over every stretch spent in it; the rest of the run (loading
    specs, the environment, statistics) is `other`."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.seconds = dict.fromkeys(PHASES, 0.0)

    def add(self, phase: str, seconds: float) -> None:
        self.seconds[phase] += seconds

    @contextmanager
    def timing(self, phase: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(phase, time.perf_counter() - started)

    def record(self) -> dict:
        """{"wall_s": the run from its start until now, "phases_s": phase -> seconds, other
        included}."""
        wall = time.perf_counter() - self.started
        phases = {name: round(s, 3) for name, s in self.seconds.items()}
        phases["other"] = round(max(0.0, wall - sum(self.seconds.values())), 3)
        return {"wall_s": round(wall, 3), "phases_s": phases}
