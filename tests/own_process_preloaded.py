"""A module tests/test_own_process.py asks a spawned process to preload: imported there, it says
so in a file named by the process's pid, in the folder RTBENCH_TEST_IMPORTED names (set by the
test after its own process imported what it needs)."""

import os
from pathlib import Path

_MARKS = os.environ.get("RTBENCH_TEST_IMPORTED")
if _MARKS:
    Path(_MARKS, str(os.getpid())).touch()
