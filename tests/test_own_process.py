"""Runs measured apart (rtbench.measure.apart): each call in a fresh process; the next call's
process started while the current call runs, importing nothing of the measure until its call
comes (a run makes itself as every run did); none left behind."""

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


def _alive() -> set[int]:
    return {p.pid for p in multiprocessing.active_children()}


def test_each_call_in_a_fresh_process_started_ahead_that_imports_only_when_called(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("RTBENCH_TEST_IMPORTED", str(tmp_path))
    imported = lambda: {int(p.name) for p in tmp_path.iterdir()}  # noqa: E731
    measure = in_own_process(whoami)
    first = measure([], RunConfig())
    assert _wait_for(lambda: len(_alive() - {first["pid"]}) == 1, 30.0), _alive()
    (spare,) = _alive() - {first["pid"]}  # started with the first call, before the second
    time.sleep(0.5)
    assert imported() == {first["pid"]}  # the spare has not imported the measure's module
    second = measure([], RunConfig())
    assert second["pid"] == spare and imported() == {first["pid"], spare}
    assert first["calls"] == second["calls"] == 1  # nothing carried from one run to the next
    assert os.getpid() not in (first["pid"], second["pid"])
    del measure  # and with it the spare the second call started
    gc.collect()
    assert _wait_for(lambda: not multiprocessing.active_children(), 30.0), _alive()
