"""The protocol card of a run (results.json's `protocol`, rtbench.measure.protocol): first in
table3.md, last under the terminal tables. Runs written before the card existed have none."""

from rtbench.report.base import Report
from rtbench.text import markdown_escape, rich_text


def card(document: dict) -> str | None:
    return (document.get("protocol") or {}).get("card")


def markdown(document: dict) -> str:
    text = card(document)
    return f"**Protocol.** {markdown_escape(text)}\n" if text else ""


def terminal(document: dict) -> list:
    text = card(document)
    return [rich_text(f"Protocol. {text}", style="dim")] if text else []


CARD = Report("protocol", markdown=markdown)  # first in table3.md
FOOTER = Report("protocol (terminal)", terminal=terminal)  # last under the terminal tables
