"""User text inside rtbench's own messages: quoted short, so that an error about a value (a 2 MB
line of a file given as a spec, a pasted log as an option) stays one readable line."""

QUOTE_LIMIT = 60  # characters of a quoted value; enough to recognise it


def clip(text: str, limit: int = QUOTE_LIMIT) -> str:
    """`text` on one line, at most `limit` characters (an ellipsis marks a cut)."""
    text = " ".join(str(text).splitlines())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """repr(value), at most `limit` characters: how a message quotes a value it refuses."""
    return clip(repr(value), limit)


def first_line(err: BaseException) -> str:
    """An exception as one line: its message's first line, or its type's name when it has none."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
