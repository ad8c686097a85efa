"""What a report is: a name and up to three renderings of a results document."""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Report:
    name: str
    terminal: Callable[[dict], list] | None = None  # rich renderables, in order
    markdown: Callable[[dict], str] | None = None  # a section of table3.md
    files: Callable[[dict], dict[str, str | bytes]] | None = None  # file name -> content
    plot: bool = False  # its files are plots: skipped with --no-plots
