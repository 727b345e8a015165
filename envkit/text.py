"""Text fit for a message: a user's value cut and made inert, and plurals.

Shared by errors (which may not import the input bounds in limits) and every renderer.
"""

from __future__ import annotations

import unicodedata
from typing import Any

#: How much of a user's value a message shows.
MAX_SHOWN = 60


def clip(value: Any, limit: int = MAX_SHOWN) -> str:
    """``value`` as text fit for a message: at most ``limit`` characters (the rest is
    ``...``), control characters escaped. It is cut before it is formatted: a container is
    rendered only as far as the limit needs (it may be an alias bomb), a huge number is
    described rather than converted."""
    if isinstance(value, str):
        text = value[: limit + 1]
    elif isinstance(value, bool) or value is None or isinstance(value, float):
        text = repr(value)
    elif isinstance(value, int):
        text = str(value) if abs(value) < 10 ** 30 else f"a {value.bit_length()}-bit number"
    elif isinstance(value, (dict, list, tuple, set, frozenset)):
        text = _preview(value, limit + 1)
    else:
        text = str(value)[: limit + 1]
    text = printable(text[: limit + 1], newlines=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _preview(value: Any, budget: int) -> str:
    """The start of a container's text, stopping once ``budget`` characters are written."""
    out: list[str] = []
    used = 0

    def emit(text: str) -> None:
        nonlocal used
        out.append(text)
        used += len(text)

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            items: Any = v.items()
            emit("{")
        elif isinstance(v, (list, tuple, set, frozenset)):
            items = v
            emit("[")
        else:
            emit(clip(v, budget))
            return
        for i, item in enumerate(items):
            if used > budget:
                break
            if i:
                emit(", ")
            if isinstance(v, dict):
                emit(clip(item[0], budget) + ": ")
                item = item[1]
            walk(item)
        emit("}" if isinstance(v, dict) else "]")

    walk(value)
    return "".join(out)


def printable(text: str, newlines: bool = True) -> str:
    """``text`` with terminal control characters (C0, DEL, C1, bidi and other format
    characters) written as escapes such as ``\\x1b``, so printing it cannot move the cursor,
    recolour the terminal or reorder what is shown. ``newlines`` keeps line breaks and tabs."""
    if text.isprintable() and (newlines or "\n" not in text):
        return text
    keep = "\n\t" if newlines else ""
    return "".join(ch if ch in keep or _shown(ch) else ch.encode("unicode_escape").decode()
                   for ch in text)


def _shown(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category[0] != "C" and category not in ("Zl", "Zp")


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``1 stack``, ``2 stacks`` (``many`` for an irregular plural)."""
    return f"{count} {noun if count == 1 else (many or noun + 's')}"
