"""User text inside rtbench's output. Messages quote it short, so that an error about a value (a
2 MB line of a file given as a spec, a pasted log as an option) stays one readable line; and every
format that shows it (the terminal, Markdown, HTML, LaTeX, XML) gets it through one escaping helper
here, so that a variant named "[/]", "a|b" or "</td>" is shown as itself and never read as markup.

Control characters (an ESC that would drive the terminal, a NUL that XML forbids) are shown as
\\xNN in every format: visible, and harmless everywhere."""

import html
import re

QUOTE_LIMIT = 60  # characters of a quoted value; enough to recognise it

# C0 and C1 controls and DEL, but for tab and newline, which each format handles on its own.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: object) -> str:
    """`text` with each control character but tab and newline written as \\xNN."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def clip(text: str, limit: int = QUOTE_LIMIT) -> str:
    """`text` on one line, at most `limit` characters (an ellipsis marks a cut)."""
    text = printable(" ".join(str(text).splitlines()).replace("\t", " "))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """repr(value), at most `limit` characters: how a message quotes a value it refuses."""
    return clip(repr(value), limit)


def first_line(err: BaseException) -> str:
    """An exception as one line: its message's first line, or its type's name when it has none."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


# ---------------------------------------------------------------------------- the terminal (rich)


def rich_text(text: object, style: str = ""):
    """User text as a rich Text: never read as markup, control characters made visible (rich
    passes an ESC through to the terminal)."""
    from rich.text import Text

    return Text(printable(text), style=style)


# ---------------------------------------------------------------------------- Markdown

# Backslash-escaped: CommonMark lets any ASCII punctuation be escaped, and these can start
# emphasis, code, links, HTML, entities, headings, strikethrough or GitHub's math, or end a cell.
_MARKDOWN = re.compile(r"([\\`*_\[\]<>|#~$&!])")


def markdown_escape(text: object) -> str:
    """User text in Markdown (table3.md, report.md, GitHub's step summary): one line (line breaks
    made spaces), specials backslash-escaped, so it cannot split a table cell, end a row, open a
    code span or a tag, or become a heading."""
    return _MARKDOWN.sub(r"\\\1", " ".join(printable(text).split()))


def markdown_code(text: object) -> str:
    """User text as a Markdown code span (a path, say): shown literally, whatever it holds; its
    fence is longer than any run of backticks inside. Not for table cells (a "|" splits them)."""
    text = " ".join(printable(text).split())
    if not text:
        return ""
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


# ---------------------------------------------------------------------------- HTML


def html_escape(text: object) -> str:
    """User text as HTML text or an attribute's value (quotes escaped too): never markup."""
    return html.escape(printable(text), quote=True)


# ---------------------------------------------------------------------------- LaTeX

LATEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    # Not special, but OT1 prints other glyphs for these, and a row starting with "[" would be
    # read as the optional argument of the previous row's \\.
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    "[": "{[}",
    "]": "{]}",
}


def latex_escape(text: object) -> str:
    """User text in LaTeX: the ten special characters escaped, on one line (a blank line would
    end the paragraph inside a \\caption)."""
    return "".join(LATEX.get(ch, ch) for ch in " ".join(printable(text).split()))


# ---------------------------------------------------------------------------- XML (JUnit)

# What XML 1.0 forbids outside the controls printable() rewrites: surrogates, U+FFFE, U+FFFF.
_NOT_XML = re.compile("[\ud800-\udfff\ufffe\uffff]")


def xml_text(text: object) -> str:
    """User text for xml.etree, which escapes &, <, >, quotes and line breaks itself but writes
    characters XML 1.0 forbids as they are (a file no parser reads): those are rewritten."""
    return _NOT_XML.sub("\ufffd", printable(text))
