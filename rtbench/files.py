"""Atomic writes and the folders rtbench writes into: a reader never sees half a file, no earlier
run is touched, and nothing lands outside the folder the user named. Every writer goes through
`atomic_path` (a file another library writes, an ONNX graph say) or `write_atomic` (bytes)."""

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rtbench.text import quote


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` to write to; renamed over `path` when the block ends
    normally, removed when it raises (Ctrl-C and SIGTERM included)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:  # from the moment the file exists: an interrupt removes it
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; results are for others too
        os.close(fd)
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write `data` to `path` atomically, flushed to disk before the rename."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())


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
            f"--run-id {quote(run_id)}: must be a plain folder name (no path separators, "
            "not starting with a dot)"
        )
    prepare_folder(results_dir, f"--results-dir {results_dir}")


def check_output_file(path: Path, label: str) -> None:
    """Raise OSError (one line) when `path` could not be written: checked before measuring."""
    if path.is_dir():
        raise OSError(f"{label}: is a folder; name the file to write")
    prepare_folder(path.parent, label)


def prepare_folder(folder: Path, label: str) -> None:
    """Make `folder` and prove that a file can be created in it (permissions, read-only or
    pseudo file systems, a file in the way), or raise OSError in one line starting with `label`.
    Asking the file system beats predicting it: os.access says yes to root everywhere."""
    for parent in (folder, *folder.parents):
        if parent.exists():
            if not parent.is_dir():
                raise OSError(f"{label}: {parent} is a file, not a folder")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as err:
        raise OSError(f"{label}: cannot write there ({err.strerror or err})") from None


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
