"""The `rtbench` Typer application and its consoles. Usage errors (an unknown option, a value
that is not a number) are one line and exit 2, click's convention, instead of typer's box."""

import sys

import typer
from rich.console import Console

from rtbench.text import clip, rich_text

ERROR_LIMIT = 500  # characters of an error line; values in it are quoted shorter (rtbench.text)
# Piped output (CI logs, files) gets a wide table instead of rich's 80-column fallback.
console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)


def error(message: str) -> None:
    """One line on stderr, however long the message or narrow the terminal."""
    text = console_text("error: ", "red") + console_text(clip(message, ERROR_LIMIT))
    err_console.print(text, highlight=False, soft_wrap=True)


def warning(message: str) -> None:
    err_console.print(console_text("warning: ", "yellow") + console_text(message), highlight=False)


def console_text(text: str, style: str = ""):
    """User text as rich Text: printed as it is, never read as markup, control characters (an
    ESC that would drive the terminal) made visible; rtbench.text.rich_text under the name the
    commands use."""
    return rich_text(text, style)


class OneLineUsageErrors(typer.core.TyperGroup):
    """Run the command with click's standalone mode off, so that its usage errors reach us and
    are printed as one line; `rtbench` alone prints the help and exits 2."""

    def main(self, args=None, prog_name=None, standalone_mode: bool = True, **kwargs):
        if not standalone_mode:
            return super().main(args, prog_name, standalone_mode=False, **kwargs)
        args = sys.argv[1:] if args is None else list(args)
        if not args:
            super().main(["--help"], prog_name, standalone_mode=False, **kwargs)
            sys.exit(2)
        try:
            code = super().main(args, prog_name, standalone_mode=False, **kwargs)
        except typer.Abort:
            error("aborted")
            sys.exit(1)
        except Exception as err:
            # click's exceptions (typer carries its own copy of click) say how they end a
            # program: a message and an exit code; a usage error also knows its command.
            if not (hasattr(err, "exit_code") and hasattr(err, "format_message")):
                raise
            context = getattr(err, "ctx", None)
            hint = f" (see '{context.command_path} --help')" if context is not None else ""
            error(err.format_message() + hint)
            sys.exit(err.exit_code)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=OneLineUsageErrors,
    help="Benchmark the encoder ablation of RT-DETR (CVPR 2024, Table 3): params, FLOPs, latency.",
    add_completion=False,
    pretty_exceptions_enable=False,
)
