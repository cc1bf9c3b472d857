"""Salesforce ids (15-char base + 3-char case-safe suffix) and timestamp formatting."""

from __future__ import annotations

import string
from datetime import UTC, date, datetime

_SUFFIX_ALPHABET = string.ascii_uppercase + "012345"
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_ID_CHARS = frozenset(string.ascii_letters + string.digits)

KEY_PREFIXES: dict[str, str] = {
    "Account": "001",
    "Contact": "003",
    "Lead": "00Q",
    "Opportunity": "006",
    "Case": "500",
    "Task": "00T",
    "User": "005",
    "PermissionSet": "0PS",
    "FieldPermissions": "01k",
    "PermissionSetAssignment": "0Pa",
}


def case_safe_suffix(id15: str) -> str:
    """The 3 characters that make a 15-char id case-insensitively unique."""
    suffix = ""
    for chunk in range(3):
        flags = 0
        for bit, char in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                flags |= 1 << bit
        suffix += _SUFFIX_ALPHABET[flags]
    return suffix


def to_18(record_id: str) -> str:
    """Normalise a 15- or 18-char id to 18 chars (unchanged when already 18)."""
    if len(record_id) == 15:
        return record_id + case_safe_suffix(record_id)
    return record_id


def is_well_formed(record_id: str) -> bool:
    """15 or 18 alphanumerics, and an 18-char id's suffix must match its first 15 chars."""
    if len(record_id) not in (15, 18) or not all(c in _ID_CHARS for c in record_id):
        return False
    return len(record_id) == 15 or record_id[15:] == case_safe_suffix(record_id[:15])


def make_id(prefix: str, number: int, pod: str = "5g") -> str:
    """A deterministic 18-char id: key prefix, pod, base-62 counter, checksum."""
    digits = ""
    n = number
    while True:
        n, rem = divmod(n, 62)
        digits = _BASE62[rem] + digits
        if n == 0:
            break
    id15 = (prefix + pod + digits.rjust(10, "0"))[:15]
    return id15 + case_safe_suffix(id15)


def format_datetime(moment: datetime) -> str:
    """``2026-11-20T10:15:00.000+0000``: the wire form, and the stored form (sorts as text)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def format_date(day: date) -> str:
    return day.isoformat()


def parse_datetime(text: str) -> datetime:
    """Parse the datetime forms Salesforce accepts (``Z``, ``+0000``, ``+00:00``, millis)."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    elif len(value) > 5 and value[-5] in "+-" and value[-4:].isdigit():
        value = value[:-2] + ":" + value[-2:]
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
