"""Canary's own write-back coming back in a pull: recognised, and not counted as a change.

A push restamps every record it writes, so the next incremental pull reads them all again. Where
the vendor can leave them out by who made the change, the adapter does (Salesforce: the incremental
query skips records last modified by the integration user, ``LastModifiedById``). Where it cannot
(HubSpot, Zendesk), the pulled record comes back and this one rule decides, the same for every vendor:

    a record is Canary's own write when nothing the store keeps of it changed but its modification
    time, and each health field Canary last wrote to it (the push ledger) holds that value still.

Such a record is not a change: the sync counts it as skipped, and nothing about the customer moves.
A person's edit of anything Canary keeps (name, domain, owner, ...) is a change as before, and so is
an edit of one of Canary's own fields (the vendor no longer holds what Canary wrote). A record the
pull read without its health fields (`AccountRecord.health` None) is never taken for Canary's write.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from integrations.values import iso_datetime

STAMP_KEYS = frozenset({"source_updated_at"})
"""What a write restamps on the stored copy of a record: the vendor's modification time."""


def comparable(value: Any) -> str | None:
    """One form for a value as Canary wrote it (text) and as a vendor answers it (a number for a decimal
    field, ``"48.0"`` for a number property, a timestamp with milliseconds): None for empty, a number's
    normalised digits, a timestamp's UTC instant, else the stripped text."""
    if value is None or isinstance(value, bool):
        return None if value is None else str(value).lower()
    text = str(value).strip()
    if not text:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        number = None
    if number is not None and number.is_finite():
        return format(number.normalize(), "f") if number else "0"
    if any(ch.isdigit() for ch in text) and ("T" in text or ":" in text):
        moment = iso_datetime(text)
        if moment is not None:
            return moment.astimezone(dt.UTC).isoformat()
    return text


def is_own_write(changed: Collection[str], health: Mapping[str, Any] | None,
                 written: Mapping[str, str | None]) -> bool:
    """Whether a pulled record is only Canary's own write coming back (see the module doc).

    ``changed``: the stored attributes the record would change; ``health``: Canary's fields as the record
    holds them (`AccountRecord.health`); ``written``: the values the push ledger says Canary last wrote
    to this record, by canonical key (empty when Canary never wrote to it)."""
    if not changed or not set(changed) <= STAMP_KEYS or health is None or not written:
        return False
    return all(comparable(health.get(key)) == comparable(value) for key, value in written.items())
