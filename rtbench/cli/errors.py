"""What a command does with what goes wrong: an error a user can cause is one line on stderr and a
documented exit code, never a traceback; Ctrl-C exits 130 and SIGTERM 143, after the file being
written is removed (files already written stay whole)."""

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps

import typer

from rtbench.cli.app import err_console, error
from rtbench.config import BenchError
from rtbench.spec import SpecError

USER_ERRORS = (SpecError, BenchError, OSError)  # results, gate, sweep and runtime errors included


class Terminated(KeyboardInterrupt):
    """SIGTERM (what CI runners and SLURM send), raised where the program is so that it unwinds
    like Ctrl-C: a file being written is removed, files already written stay whole."""


def _terminate(signum, frame) -> None:
    raise Terminated


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """SIGTERM raises Terminated while a command runs; only a command installs this, never an
    import, and only the main thread can."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def user_errors(command: Callable | None = None, *, code: int = 1) -> Callable:
    """Turn the errors a user can cause into one line and exit `code`, never a traceback; Ctrl-C
    and SIGTERM into one line and their conventional exit codes, 130 and 143."""

    def decorate(command: Callable) -> Callable:
        @wraps(command)
        def wrapper(*args, **kwargs):
            try:
                with _sigterm_unwinds():
                    return command(*args, **kwargs)
            except USER_ERRORS as err:
                error(str(err))
                raise typer.Exit(code) from None
            except KeyboardInterrupt as err:
                from rich.text import Text

                stopped = "terminated (SIGTERM)" if isinstance(err, Terminated) else "interrupted"
                err_console.print(Text(f"{stopped}; files already written are intact"))
                raise typer.Exit(143 if isinstance(err, Terminated) else 130) from None

        return wrapper

    return decorate(command) if command is not None else decorate
