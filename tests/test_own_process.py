"""Runs measured apart (rtbench.measure.apart): each call in a fresh process; the next call's
process spawned while the current call runs, with its imports done ahead only where a run
builds whole detectors (seconds of building, no timing); none left behind."""

import gc
import multiprocessing
import os
import time

from own_process_probe import whoami

from rtbench.config import RunConfig
from rtbench.measure.apart import in_own_process

PRELOAD = ("own_process_preloaded",)  # marks, in a file named by its pid, the process it is in


def _wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _marked(folder) -> set[int]:
    return {int(p.name) for p in folder.iterdir()}


def test_detector_runs_go_to_a_process_that_imported_ahead(tmp_path, monkeypatch):
    monkeypatch.setenv("RTBENCH_TEST_IMPORTED", str(tmp_path))
    measure = in_own_process(whoami, preload=PRELOAD)
    first = measure([], RunConfig(scope="detector"))
    # the spare process for the next call was started with the first: it preloads on its own
    assert _wait_for(lambda: len(_marked(tmp_path)) == 1, 60.0), _marked(tmp_path)
    ready = _marked(tmp_path)
    second = measure([], RunConfig(scope="detector"))
    assert {second["pid"]} == ready  # the call went to the process that had preloaded already
    assert first["pid"] not in ready  # the first run's own process did not wait for a preload
    assert first["calls"] == second["calls"] == 1  # nothing carried from one run to the next
    assert os.getpid() not in (first["pid"], second["pid"])
    del measure  # and with it the spare the second call started
    gc.collect()
    assert _wait_for(lambda: not multiprocessing.active_children(), 30.0), (
        multiprocessing.active_children()
    )


def test_encoder_runs_import_nothing_ahead_beside_a_run(tmp_path, monkeypatch):
    # an encoder builds in a fraction of a second: an import ahead would run beside its timing
    monkeypatch.setenv("RTBENCH_TEST_IMPORTED", str(tmp_path))
    measure = in_own_process(whoami, preload=PRELOAD)
    first = measure([], RunConfig(scope="encoder"))
    second = measure([], RunConfig(scope="encoder"))
    assert first["pid"] != second["pid"] and first["calls"] == second["calls"] == 1
    assert _marked(tmp_path) == set()
