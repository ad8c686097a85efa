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
    """Each call in a process of its own. The next call's process is started as this call's run
    starts and waits idle, having imported nothing heavy: the run it will hold imports torch and
    builds its models itself, as every run did. (Importing torch there ahead, beside the current
    run's build, saved 2.5 s a run, but it is a change to how a run is made that the gate study
    has not yet shown to be neutral.) A run's process exits in the background."""

    def __init__(self, measure: Measure) -> None:
        self._measure = measure
        self._ready: ProcessPoolExecutor | None = None

    def __call__(self, names: list[str], cfg: RunConfig) -> dict:
        pool = self._ready or self._start()
        self._ready = self._start()  # the spare, unused if this run is the last: it exits with us
        try:
            return pool.submit(self._measure, names, cfg).result()
        finally:
            pool.shutdown(wait=False)

    @staticmethod
    def _start() -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        pool.submit(_started)  # the process starts now, not when its call comes
        return pool

    def __del__(self) -> None:
        if self._ready is not None:
            self._ready.shutdown(wait=False, cancel_futures=True)


def _started() -> None:
    """Nothing: the process is up."""
