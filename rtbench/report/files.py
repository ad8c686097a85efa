"""Run folders and atomic writes: a reader never sees half a file, and no earlier run is touched."""

import json
import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write to a temporary file beside `path`, flush it to disk, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; results are for others to read too
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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: Path, document: dict) -> None:
    write_atomic(path, json.dumps(document, indent=2, allow_nan=False) + "\n")


def check_output_location(results_dir: Path, run_id: str | None) -> None:
    """Raise OSError (one line) when a run folder could not be made there: checked before
    measuring, so minutes of work are not lost at the end. A run id is one plain folder name, so
    a run folder never lands outside the results folder."""
    plain = run_id is None or (
        run_id.strip() and not run_id.startswith(".") and not any(c in run_id for c in "/\\\0")
    )
    if not plain:
        raise OSError(
            f"--run-id {run_id!r}: must be a plain folder name (no path separators, "
            "not starting with a dot)"
        )
    for folder in (results_dir, *results_dir.parents):
        if folder.exists():
            if not folder.is_dir():
                raise OSError(f"--results-dir {results_dir}: {folder} is a file, not a folder")
            if not os.access(folder, os.W_OK | os.X_OK):
                raise OSError(f"--results-dir {results_dir}: {folder} is not writable")
            return


def new_run_dir(results_dir: Path, run_id: str) -> Path:
    """A fresh folder results/<run_id>; a taken name gets a numeric suffix, never reused."""
    check_output_location(results_dir, run_id)
    results_dir.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        candidate = results_dir / (run_id if n == 1 else f"{run_id}-{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(f"{results_dir}: too many runs named {run_id}")
