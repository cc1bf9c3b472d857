"""The Salesforce pull cursor: the position after the last delivered record.

How it is queried, and why nothing is lost or repeated: `integrations.salesforce.soql`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from integrations.errors import BadCursor
from integrations.salesforce.soql import ID_PATTERN, soql_datetime, soql_in, soql_string
from integrations.values import iso_datetime


def format_datetime(moment: dt.datetime) -> str:
    """An aware datetime in Salesforce's wire form (what SystemModstamp looks like)."""
    moment = moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


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
        stamp = iso_datetime(data.get("stamp"))
        last_id = data.get("last_id")
        seen = data.get("seen", [])
        valid_seen = seen is None or (isinstance(seen, list) and len(seen) <= MAX_SEEN
                                      and all(isinstance(i, str) and ID_PATTERN.match(i) for i in seen))
        if stamp is None or not valid_seen or not (last_id is None or (isinstance(last_id, str)
                                                                       and ID_PATTERN.match(last_id))):
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
            # A delivered id is skipped only at the boundary stamp: edited again later, it comes back.
            return (f"SystemModstamp >= {literal} AND (SystemModstamp > {literal} "
                    f"OR Id NOT IN {soql_in(sorted(self.seen))})")
        if self.seen is None and self.last_id is not None:
            return (f"SystemModstamp >= {literal} AND (SystemModstamp > {literal} "
                    f"OR Id > {soql_string(self.last_id)})")
        return f"SystemModstamp >= {literal}"
