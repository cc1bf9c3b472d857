"""Decode a collector request body so that no single message can make the whole body unreadable.

Python's JSON parser fails the whole document on a value nested deeper than the interpreter's
recursion limit (``RecursionError``) or on an integer longer than 4,300 digits (``ValueError``),
which would lose every valid message of a batch for one bad one. Bodies are decoded with msgspec's
compiled parser first (it gives what the plain parser gives for every body it accepts, and refuses
NaN, Infinity, numbers out of range, lone surrogates, byte-order marks and other encodings); a body
it refuses goes to the plain parser, which decides as it always did; only when that one fails for
one of those reasons is the body decoded again carefully: a scan of the raw text replaces every
value opening deeper than `SPLICE_DEPTH` by a `TOO_DEEP` marker and huge integers become
`HUGE_NUMBER`, so per-message validation (`collector.messages`) rejects exactly the messages that
hold them, by their batch index.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

import msgspec

MAX_NESTING = 32
"""Levels of objects and arrays a message may have, the message object itself being level 1."""
SPLICE_DEPTH = MAX_NESTING + 2
"""Absolute depth kept by the careful decode: the batch object and its list sit above each message."""
MAX_INT_DIGITS = 40


class Marker:
    """A value a message may not hold; validation names `reason` for the message that has one."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"<Marker {self.reason!r}>"


TOO_DEEP = Marker(f"nested deeper than {MAX_NESTING} levels of objects and arrays")
HUGE_NUMBER = Marker(f"a number longer than {MAX_INT_DIGITS} digits")
NOT_A_NUMBER = Marker("NaN and Infinity are not JSON numbers")

# A string (escapes included), a bracket, or a quote that opens a string never closed.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]|"', re.S)
_CLOSING = {"]": "[", "}": "{"}
# Stands in for a spliced-out value; the random key cannot be sent on purpose.
_SPLICE_KEY = "canary-too-deep-" + secrets.token_hex(16)
_SPLICE_TEXT = json.dumps({_SPLICE_KEY: 0})


def _constant(name: str) -> Marker:
    return NOT_A_NUMBER


def _int(text: str) -> int | Marker:
    return int(text) if len(text.lstrip("-")) <= MAX_INT_DIGITS else HUGE_NUMBER


def _pairs(pairs: list[tuple[str, Any]]) -> Any:
    if len(pairs) == 1 and pairs[0][0] == _SPLICE_KEY:
        return TOO_DEEP
    return dict(pairs)


def decode(body: bytes) -> Any:
    """The JSON value of ``body``; raises ``ValueError`` (or ``UnicodeDecodeError``) if it is not JSON."""
    try:
        return _fast_decode(body)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        pass  # not plain UTF-8 JSON within range: the plain parser decides, and words the error
    try:
        return json.loads(body, parse_constant=_constant)
    except RecursionError:
        pass
    except ValueError as exc:
        if "integer string conversion" not in str(exc):
            raise
    return _decode_carefully(body.decode(json.detect_encoding(body)))


_fast_decode = msgspec.json.Decoder().decode


def _decode_carefully(text: str) -> Any:
    return json.loads(splice_deep_values(text), parse_constant=_constant, parse_int=_int,
                      object_pairs_hook=_pairs)


def splice_deep_values(text: str, depth: int = SPLICE_DEPTH) -> str:
    """``text`` with every object or array that opens deeper than ``depth`` replaced by a marker.

    Brackets are matched by kind, so a malformed body stays malformed (``ValueError``).
    """
    stack: list[str] = []
    pieces: list[str] = []
    kept_from = 0
    splice_start = -1
    for token in _TOKENS.finditer(text):
        kind = token.group()
        if kind[0] == '"':
            if len(kind) == 1:
                raise ValueError(f"unterminated string starting at character {token.start()}")
            continue
        if kind in "[{":
            stack.append(kind)
            if len(stack) == depth + 1 and splice_start < 0:
                splice_start = token.start()
            continue
        if not stack or stack.pop() != _CLOSING[kind]:
            raise ValueError(f"unexpected {kind!r} at character {token.start()}")
        if len(stack) == depth and splice_start >= 0:
            pieces += [text[kept_from:splice_start], _SPLICE_TEXT]
            kept_from, splice_start = token.end(), -1
    if stack:
        raise ValueError("the body ends inside an object or array")
    pieces.append(text[kept_from:])
    return "".join(pieces)
