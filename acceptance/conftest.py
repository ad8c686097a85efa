"""The acceptance tests inject slowdowns with benchmarks/inject.py: test support, kept out of the
rtbench package."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
