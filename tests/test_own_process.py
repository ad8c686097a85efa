"""Runs measured apart (rtbench.measure.apart): each call in a fresh process, the next call's
process spawned and its imports done while the current call runs, none left behind."""

import gc
import multiprocessing
import os
import time

from own_process_probe import whoami

from rtbench.config import RunConfig
from rtbench.measure.apart import in_own_process


def _wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_each_call_in_a_fresh_process_ready_before_the_call_and_none_left(tmp_path, monkeypatch):
    monkeypatch.setenv("RTBENCH_TEST_IMPORTED", str(tmp_path))
    marked = lambda: {int(p.name) for p in tmp_path.iterdir()}  # noqa: E731
    measure = in_own_process(whoami)
    first = measure([], RunConfig())
    # the spare process for the next call was started with the first: it imports on its own
    assert _wait_for(lambda: len(marked()) == 2, 60.0), marked()
    ready = marked() - {first["pid"]}
    second = measure([], RunConfig())
    assert {second["pid"]} == ready  # the call went to the process that had imported already
    assert first["calls"] == second["calls"] == 1  # nothing carried from one run to the next
    assert os.getpid() not in (first["pid"], second["pid"])
    del measure  # and with it the spare the second call started
    gc.collect()
    assert _wait_for(lambda: not multiprocessing.active_children(), 30.0), (
        multiprocessing.active_children()
    )
