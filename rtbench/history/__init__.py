"""Latency over time: every run recorded in one embedded database, the series it forms and the
change points in them.

`store.py` owns the database (DuckDB: its versioned schema, appending runs, importing results
files, waiting for another writer), `series.py` groups the recorded rows into series and finds
their change points (ruptures), `baseline.py` makes a baseline document from the last stable
segment of each series, for `rtbench check --against history` to gate against as it gates
against a file. duckdb and ruptures are imported where they are used, so that importing this
package costs nothing.
"""

from rtbench.config import BenchError


class HistoryError(BenchError):
    """A history database that cannot be read or written; one line for the user."""
