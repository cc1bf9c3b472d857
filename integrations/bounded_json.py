"""JSON from untrusted requests, with its size and nesting depth checked before it is parsed.

Python's parser recurses once per nested array or object: a payload nested tens of thousands
deep ends in `RecursionError` (a 500 and a traceback) instead of a clear refusal. `loads_bounded`
measures the depth first with one linear scan (strings skipped, so brackets inside them do not
count) and refuses anything deeper than ``max_depth`` or longer than ``max_bytes``.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 32
"""Deeper than any payload a vendor sends (a Canvas context is about 6 levels deep)."""
MAX_BYTES = 256 * 1024

_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*+"?|[\[\]{}]', re.DOTALL)
"""A string (possessive, and an unclosed one runs to the end: linear time) or a bracket."""


class JSONRefused(ValueError):
    """The text is not JSON, or is too large or too deeply nested; the message says which."""


def nesting_depth(text: str, stop_above: int | None = None) -> int:
    """The deepest nesting of arrays and objects in ``text`` (brackets inside strings are ignored).

    With ``stop_above`` the scan ends as soon as the depth passes it.
    """
    depth = deepest = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_above is not None and deepest > stop_above:
                    break
        elif token in ("]", "}"):
            depth -= 1
    return deepest


def loads_bounded(data: str | bytes, *, max_depth: int = MAX_DEPTH, max_bytes: int = MAX_BYTES) -> Any:
    """``json.loads`` for untrusted input; raises `JSONRefused` instead of parsing something abusive."""
    if len(data) > max_bytes:
        raise JSONRefused(f"larger than {max_bytes} bytes")
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise JSONRefused("not UTF-8") from None
    if nesting_depth(text, stop_above=max_depth) > max_depth:
        raise JSONRefused(f"nested deeper than {max_depth} levels")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise JSONRefused("not valid JSON") from None
