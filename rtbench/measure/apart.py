"""Runs measured apart: each call of a measure in a process of its own. Light on purpose (no
torch here), so that the CLI can hold it before anything heavy is imported."""

import multiprocessing
import threading
import weakref
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
        self._exiting: list[ProcessPoolExecutor] = []
        # Before concurrent.futures' own exit hook (hooks run last registered first): a pool
        # still exiting in the background when the interpreter ends races that hook, which then
        # prints "Exception ignored ... Bad file descriptor" (seen once in a dozen checks).
        threading._register_atexit(_close, weakref.ref(self))

    def __call__(self, names: list[str], cfg: RunConfig) -> dict:
        self._join()  # the last run's process: long gone by now
        pool = self._ready or self._start()
        self._ready = self._start()  # the spare, unused if this run is the last
        try:
            return pool.submit(self._measure, names, cfg).result()
        finally:
            pool.shutdown(wait=False)
            self._exiting.append(pool)

    @staticmethod
    def _start() -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        pool.submit(_started)  # the process starts now, not when its call comes
        return pool

    def _join(self) -> None:
        while self._exiting:
            self._exiting.pop().shutdown(wait=True)

    def close(self) -> None:
        """Every process of ours ended: the spare's, and the last run's."""
        self._join()
        if self._ready is not None:
            self._ready.shutdown(wait=True, cancel_futures=True)
            self._ready = None

    def __del__(self) -> None:
        self.close()


def _close(apart: "weakref.ref[_Apart]") -> None:
    if (alive := apart()) is not None:
        alive.close()


def _started() -> None:
    """Nothing: the process is up."""
