"""A measure for tests/test_own_process.py, in a module of its own that imports nothing heavy:
imported in a process, it says so in a file named by the process's pid, in the folder that
RTBENCH_TEST_IMPORTED names (set by the test after its own process imported this)."""

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
