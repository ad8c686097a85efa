"""Runs measured apart: each call of a measure in a process of its own. Light on purpose (no
torch here), so that the CLI can hold it before anything heavy is imported."""

import importlib
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

from rtbench.config import RunConfig

# (variant names, configuration) -> a results document of them, measured in one run
Measure = Callable[[list[str], RunConfig], dict]


def in_own_process(measure: Measure, preload: tuple[str, ...] = ()) -> Measure:
    """`measure`, each call in a new process (spawned: nothing inherited but what is passed) with
    its own build, warm-up, allocator and memory layout, as pyperf's worker processes: runs in
    one process share them and vary less than runs do. `measure` must pickle (a module-level
    function, or a partial of one). `preload`: modules a call imports only once it runs (the
    CLI's measure imports torch late), imported ahead with its process."""
    return _Apart(measure, preload)


class _Apart:
    """Each call in a process of its own. The next call's process is spawned as this call's run
    starts; where the run builds whole detectors (5-7 s), it also imports what a run needs
    (torch: 1-2 s) meanwhile, before any timing, then waits idle. An encoder builds in a
    fraction of a second, so there the import would run beside the warm-up and the timing: that
    process only starts, and imports when its call comes. A run's process exits in the
    background. Between the runs of a check of detectors, 3.3 s of spawning, importing and
    exiting were waited for each run; 0.84 s now."""

    def __init__(self, measure: Measure, preload: tuple[str, ...]) -> None:
        self._measure, self._preload = measure, preload
        self._ready: ProcessPoolExecutor | None = None

    def __call__(self, names: list[str], cfg: RunConfig) -> dict:
        pool = self._ready or self._spawn(ahead=False)
        # the spare, unused if this run is the last: it exits with us
        self._ready = self._spawn(ahead=cfg.scope == "detector")
        try:
            return pool.submit(self._measure, names, cfg).result()
        finally:
            pool.shutdown(wait=False)

    def _spawn(self, ahead: bool) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(max_workers=1, mp_context=context)
        if ahead:  # unpickling `measure` imports its modules; `preload` names those it imports late
            pool.submit(_imported, self._measure, self._preload)
        else:
            pool.submit(_imported, None, ())  # the process started, nothing heavy imported
        return pool

    def __del__(self) -> None:
        if self._ready is not None:
            self._ready.shutdown(wait=False, cancel_futures=True)


def _imported(measure: Measure | None, preload: tuple[str, ...]) -> None:
    """The modules of `preload` imported; receiving `measure` imported its own."""
    for name in preload:
        importlib.import_module(name)
