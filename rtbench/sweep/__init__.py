"""Sweeps: a grid of configurations measured point by point, through an executor, into a folder
that survives crashes.

A *point* is one configuration (size, batch, dtype) of the grid, measured as one ordinary run:
all its variants and runtimes interleaved, so ratios inside a point stay fair. Points never run
concurrently on one device. `grid.py` turns a YAML file and flags into a validated grid,
`store.py` owns the sweep folder (the grid, a status per point, each point's results.json),
`point.py` measures one point (what a job runs), `settings.py` declares where points run (the
executor and its job settings), `executors.py` runs points in this process or as submitit jobs
(a local subprocess, or SLURM). Importing point.py or executors.py imports torch (the runner);
the grid and the settings are checked without it, up to the checks against this machine.
"""

from rtbench.config import BenchError


class SweepError(BenchError):
    """A grid, a sweep folder or an executor setting that cannot be used; one line for the user."""
