"""SOQL built safely, and the incremental cursor over ``SystemModstamp``.

Nothing here formats caller input into a query: object and field names come from this
package's own constants (checked against a strict pattern all the same), ids are quoted
and escaped, datetimes are formatted in SOQL's literal syntax from parsed values.

The cursor is the position of the last record delivered in ``ORDER BY SystemModstamp, Id``
order. Many records may share one stamp (a data load, a mass update), so the next query
starts *at* that stamp (``>=``) and skips the ids at the boundary already delivered, which
the cursor remembers (up to `MAX_SEEN`)::

    WHERE SystemModstamp >= T AND Id NOT IN ('A', 'B', ...) ORDER BY SystemModstamp, Id

This also catches a record edited later within the same second that lands on ``T`` with a
lower Id. When more than `MAX_SEEN` records share the boundary stamp, the cursor keeps only
the last Id: the delivered ones are then exactly those ordered before it, so::

    WHERE SystemModstamp >= T AND (SystemModstamp > T OR Id > 'LAST') ORDER BY SystemModstamp, Id

Either way nothing is lost (the boundary stamp is read again), nothing is duplicated (the
delivered ids are excluded), the walk cannot loop (the position only moves forward), and a
run with nothing new is one query that returns nothing — even with thousands of records at
the boundary. The top-level ``SystemModstamp >= T`` keeps the query selective on the index.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from integrations.errors import FatalError
from integrations.salesforce.mapping import format_datetime, parse_datetime

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f",
            '"': '\\"'}


class BadCursor(FatalError):
    """A saved cursor this adapter did not write (or a damaged one); a full sync starts over."""


def soql_name(name: str) -> str:
    """An object or field API name, refused unless it is a plain identifier."""
    if not _NAME.match(name):
        raise ValueError(f"not a Salesforce API name: {name!r}")
    return name


def soql_string(value: str) -> str:
    """A quoted SOQL string literal with Salesforce's backslash escapes."""
    return "'" + "".join(_ESCAPES.get(ch, ch) for ch in value) + "'"


def soql_datetime(moment: dt.datetime) -> str:
    """An aware datetime as a SOQL datetime literal (UTC, ``Z``; milliseconds only when not zero)."""
    if moment.tzinfo is None:
        raise ValueError("SOQL datetimes must be timezone-aware")
    moment = moment.astimezone(dt.UTC)
    millis = moment.microsecond // 1000
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"


def soql_in(values: Sequence[str]) -> str:
    return "(" + ", ".join(soql_string(v) for v in values) + ")"


MAX_SEEN = 200
"""Boundary ids kept in the cursor; above this the cursor keeps only the last id (see module doc)."""


@dataclass(frozen=True)
class ModstampCursor:
    """Position after the last delivered record: its ``SystemModstamp``, its ``Id``, and the ids seen at that stamp."""

    stamp: dt.datetime | None = None
    last_id: str | None = None
    seen: frozenset[str] | None = frozenset()
    """Ids delivered at ``stamp``; None once there were more than `MAX_SEEN` of them."""

    def dump(self) -> str | None:
        if self.stamp is None:
            return None
        seen = None if self.seen is None else sorted(self.seen)
        return json.dumps({"v": 1, "stamp": format_datetime(self.stamp), "last_id": self.last_id, "seen": seen},
                          separators=(",", ":"))

    @classmethod
    def load(cls, text: str | None) -> ModstampCursor:
        if text is None or text == "":
            return cls()
        try:
            data: Any = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict) or data.get("v") != 1:
            raise BadCursor(f"salesforce: the saved cursor {text[:80]!r} was not written by this adapter; "
                            "run a full sync")
        stamp = parse_datetime(data.get("stamp"))
        last_id = data.get("last_id")
        seen = data.get("seen", [])
        valid_seen = seen is None or (isinstance(seen, list) and len(seen) <= MAX_SEEN
                                      and all(isinstance(i, str) and _ID.match(i) for i in seen))
        if stamp is None or not valid_seen or not (last_id is None or (isinstance(last_id, str)
                                                                       and _ID.match(last_id))):
            raise BadCursor(f"salesforce: the saved cursor {text[:80]!r} is damaged; run a full sync")
        return cls(stamp, last_id, None if seen is None else frozenset(seen))

    def advance(self, delivered: Sequence[tuple[dt.datetime, str]]) -> ModstampCursor:
        """The position after ``delivered`` (``(stamp, id)`` in query order, which is ascending)."""
        if not delivered:
            return self
        stamp, last_id = delivered[-1]
        at_stamp = {record_id for moment, record_id in delivered if moment == stamp}
        seen: frozenset[str] | None = frozenset(at_stamp)
        if stamp == self.stamp:
            seen = None if self.seen is None else self.seen | at_stamp
        if seen is not None and len(seen) > MAX_SEEN:
            seen = None
        return ModstampCursor(stamp, last_id, seen)

    def repeats(self, stamp: dt.datetime, record_id: str) -> bool:
        """Whether a returned record is plainly one already delivered (a safety net only).

        The query does the real skipping; Id order is Salesforce's, so this never compares
        two different ids: it drops only remembered ids at the stamp, the cursor's own
        record, and anything before the stamp.
        """
        if self.stamp is None:
            return False
        if stamp != self.stamp:
            return stamp < self.stamp
        return record_id == self.last_id or (self.seen is not None and record_id in self.seen)

    def where(self) -> str | None:
        if self.stamp is None:
            return None
        literal = soql_datetime(self.stamp)
        if self.seen:
            return f"SystemModstamp >= {literal} AND Id NOT IN {soql_in(sorted(self.seen))}"
        if self.seen is None and self.last_id is not None:
            return (f"SystemModstamp >= {literal} AND (SystemModstamp > {literal} "
                    f"OR Id > {soql_string(self.last_id)})")
        return f"SystemModstamp >= {literal}"


def incremental_query(sobject: str, fields: Sequence[str], cursor: ModstampCursor) -> str:
    """``SELECT fields FROM sobject [WHERE after cursor] ORDER BY SystemModstamp, Id``."""
    selected = list(dict.fromkeys([*(soql_name(f) for f in fields), "Id", "SystemModstamp"]))
    # Names pass soql_name(); the cursor's values are formatted as literals: no caller text goes in.
    query = f"SELECT {', '.join(selected)} FROM {soql_name(sobject)}"  # noqa: S608
    where = cursor.where()
    if where:
        query += f" WHERE {where}"
    return query + " ORDER BY SystemModstamp, Id"


def ids_query(sobject: str, fields: Sequence[str], ids: Sequence[str]) -> str:
    """``SELECT fields FROM sobject WHERE Id IN (...)`` with every id checked and quoted."""
    for value in ids:
        if not _ID.match(value):
            raise ValueError(f"not a Salesforce id: {value!r}")
    return (f"SELECT {', '.join(soql_name(f) for f in fields)} FROM {soql_name(sobject)} "  # noqa: S608
            f"WHERE Id IN {soql_in(ids)}")
