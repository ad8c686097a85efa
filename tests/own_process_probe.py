"""A measure for tests/test_own_process.py, in a module of its own that imports nothing heavy: a
spawned process imports it as the measure is unpickled, and says so in a file named by its pid
(in the folder RTBENCH_TEST_IMPORTED names; the test sets it after its own process imported
this)."""

import os
from pathlib import Path

_MARKS = os.environ.get("RTBENCH_TEST_IMPORTED")
if _MARKS:
    Path(_MARKS, str(os.getpid())).touch()
_CALLS = 0


def whoami(names: list[str], cfg: object) -> dict:
    global _CALLS
    _CALLS += 1
    return {"pid": os.getpid(), "calls": _CALLS}
