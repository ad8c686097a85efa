"""Run folders and atomic writes: a reader never sees half a file, and no earlier run is touched."""

import json
import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write to a temporary file beside `path`, flush it to disk, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, document: dict) -> None:
    write_atomic(path, json.dumps(document, indent=2, allow_nan=False) + "\n")


def new_run_dir(results_dir: Path, run_id: str) -> Path:
    """A fresh folder results/<run_id>; a taken name gets a numeric suffix, never reused."""
    results_dir.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        candidate = results_dir / (run_id if n == 1 else f"{run_id}-{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(f"{results_dir}: too many runs named {run_id}")
