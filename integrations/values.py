"""Scalars as vendors send them, read one way for every vendor: numbers, text and timestamps.

Every function takes a raw JSON value (or a CSV cell) and returns the Python value or None when
the input is missing, empty or malformed; none of them raises. Booleans are never numbers or text
here (JSON ``true`` is not ``1`` nor ``"True"``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
ROLE_WORDS: Mapping[str, str] = {
    "executive_sponsor": "executive_sponsor",
    "exec_sponsor": "executive_sponsor",
    "executive": "executive_sponsor",
    "sponsor": "executive_sponsor",
    "economic_buyer": "executive_sponsor",
    "champion": "champion",
    "admin": "admin",
    "administrator": "admin",
    "user": "user",
    "end_user": "user",
}
"""A contact's role at the customer as people write it in any vendor (normalised key) -> canonical role."""


def decimal_or_none(value: Any) -> Decimal | None:
    """A finite decimal (``"1200.50"``, ``1200.5``), or None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def int_or_none(value: Any) -> int | None:
    """An integer, truncating a decimal (``"12.7"`` -> 12, ``"1e3"`` -> 1000), or None."""
    number = decimal_or_none(value)
    return int(number) if number is not None else None


def text_or_none(value: Any) -> str | None:
    """Text with surrounding whitespace removed; None for a missing, empty or boolean value."""
    if type(value) is str:  # the common case first: a pull maps hundreds of thousands of these
        return value.strip() or None
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    return text or None


def lowered_email(value: Any) -> str | None:
    """An e-mail address as people are matched on it (trimmed, lower case); None when it is not one."""
    text = text_or_none(value)
    return text.lower() if text and "@" in text else None


def iso_datetime(value: Any) -> dt.datetime | None:
    """An ISO 8601 timestamp (``Z``, ``+00:00`` or ``+0000``; naive means UTC) as aware UTC, or None."""
    if type(value) is str:  # the common case first: a UTC stamp as every vendor sends it, parsed once
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if moment.tzinfo is dt.UTC:
                return moment
    elif not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    if text[-1] == "z":
        text = text[:-1] + "Z"
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    zone = moment.tzinfo
    if zone is dt.UTC:  # ``Z`` and ``+00:00`` parse to the UTC singleton: nothing to convert
        return moment
    return moment.replace(tzinfo=dt.UTC) if zone is None else moment.astimezone(dt.UTC)


def iso_date(value: Any) -> dt.date | None:
    """The day of ``YYYY-MM-DD`` or of a longer ISO timestamp, or None."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def from_epoch_millis(millis: int) -> dt.datetime:
    return EPOCH + dt.timedelta(milliseconds=millis)


def to_epoch_millis(moment: dt.datetime) -> int:
    return (moment - EPOCH) // dt.timedelta(milliseconds=1)


_ROLE_SEPARATORS = re.compile(r"[\s\-/]+")
_roles: dict[str, str] = {}
"""Roles as written -> canonical, as met (a workspace writes a handful of them, on thousands of contacts)."""


def canonical_role(value: Any) -> str:
    """A free-form role ("Executive Sponsor", "exec-sponsor", " Champion ") as executive_sponsor | champion |
    admin | user; anything else, or nothing, is ``user``."""
    if type(value) is str:
        found = _roles.get(value)
        if found is not None:
            return found
    text = text_or_none(value)
    key = _ROLE_SEPARATORS.sub("_", text.lower()) if text else ""
    role = ROLE_WORDS.get(key, "user")
    if type(value) is str and len(value) <= 64 and len(_roles) < 10_000:
        _roles[value] = role
    return role
