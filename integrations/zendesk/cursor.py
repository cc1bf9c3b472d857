"""The adapter's own cursors: small JSON strings the runner stores after each page.

* `TimeCursor` walks the time-based organization export. A page starts at ``start_time``
  inclusive and its ``end_time`` is the stamp of its last item, so the items at that stamp
  come again on the next page. The cursor remembers their ids (``seen``) and `TimeCursor.take`
  drops them when they come back: nothing is lost (the next page starts *at* the boundary,
  not after it), nothing is duplicated, and a walk whose boundary never moves is detected.
* `AfterCursor` holds the vendor's opaque cursor of a cursor-based export (tickets, users)
  or a cursor-paginated list (satisfaction ratings); those never repeat an item.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from integrations.errors import BadCursor

T = TypeVar("T")


@dataclass(frozen=True)
class TimeCursor:
    start_time: int = 0
    seen: frozenset[int] = frozenset()
    """Ids already delivered whose stamp equals ``start_time``."""

    def dump(self) -> str:
        return json.dumps({"kind": "time", "start_time": self.start_time, "seen": sorted(self.seen)})

    @classmethod
    def load(cls, text: str | None) -> TimeCursor:
        if text is None:
            return cls()
        data = _load(text, "time")
        start, seen = data.get("start_time"), data.get("seen", [])
        if not isinstance(start, int) or not isinstance(seen, list) or not all(isinstance(i, int) for i in seen):
            raise BadCursor(f"zendesk: the saved cursor {text[:80]!r} is damaged; run a full sync")
        return cls(start, frozenset(seen))

    def take(self, items: Sequence[tuple[int, int, T]], end_time: int) -> tuple[list[T], TimeCursor]:
        """New items of one page (``(stamp, id, item)`` in export order) and the cursor after it."""
        fresh = [item for stamp, item_id, item in items if not (stamp == self.start_time and item_id in self.seen)]
        at_end = {item_id for stamp, item_id, _ in items if stamp == end_time}
        if end_time == self.start_time:
            at_end |= self.seen
        return fresh, TimeCursor(max(end_time, self.start_time), frozenset(at_end))


@dataclass(frozen=True)
class AfterCursor:
    after: str | None = None

    def dump(self) -> str:
        return json.dumps({"kind": "after", "after": self.after})

    @classmethod
    def load(cls, text: str | None) -> AfterCursor:
        if text is None:
            return cls()
        after = _load(text, "after").get("after")
        if after is not None and not isinstance(after, str):
            raise BadCursor(f"zendesk: the saved cursor {text[:80]!r} is damaged; run a full sync")
        return cls(after)


def _load(text: str, kind: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("kind") != kind:
        raise BadCursor(f"zendesk: the saved cursor {text[:80]!r} was not written by this adapter; run a full sync")
    return data
