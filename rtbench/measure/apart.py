"""Runs measured apart: each call of a measure in a process of its own. Light on purpose (no
torch here), so that the CLI can hold it before anything heavy is imported."""

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

from rtbench.config import RunConfig

# (variant names, configuration) -> a results document of them, measured in one run
Measure = Callable[[list[str], RunConfig], dict]


def in_own_process(measure: Measure) -> Measure:
    """`measure`, each call in a new process (spawned: nothing inherited but what is passed) with
    its own build, warm-up, allocator and memory layout, as pyperf's worker processes: runs in
    one process share them and vary less than runs do. `measure` must pickle (a module-level
    function, or a partial of one)."""
    return _Apart(measure)


class _Apart:
    """Each call in a process of its own. The next call's process is spawned, and imports what a
    run needs (torch: 1-2 s), as this call's run starts: it does that while the run builds its
    models, before any timing, then waits idle. A run's process exits in the background. Between
    the runs of a check, 2-3 s of spawning, importing and exiting were waited for each run; now
    for the first only."""

    def __init__(self, measure: Measure) -> None:
        self._measure = measure
        self._ready: ProcessPoolExecutor | None = None

    def __call__(self, names: list[str], cfg: RunConfig) -> dict:
        pool = self._ready or self._spawn()
        self._ready = self._spawn()  # the spare, unused if this run is the last: it exits with us
        try:
            return pool.submit(self._measure, names, cfg).result()
        finally:
            pool.shutdown(wait=False)

    def _spawn(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(max_workers=1, mp_context=context)
        pool.submit(_imported, self._measure)  # unpickling `measure` imports its modules there
        return pool

    def __del__(self) -> None:
        if self._ready is not None:
            self._ready.shutdown(wait=False, cancel_futures=True)


def _imported(measure: Measure) -> None:
    """Nothing: receiving `measure` was the work."""
