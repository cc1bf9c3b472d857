"""Page arithmetic for the three kinds of Zendesk paging, as pure functions over sorted keys.

* **Cursor pagination** of lists (``page[size]``, ``page[after]``, ``page[before]``): records in id
  order; cursors are opaque base64 strings that carry the id at the page edge.
* **Cursor-based incremental export** (tickets, users): records in ``(stamp, id)`` order; a cursor
  names one position in that order, so no record is ever repeated or skipped.
* **Time-based incremental export** (organizations; tickets and users too): a page starts at
  ``start_time`` inclusive and ``end_time`` is the stamp of its last record, which the next page
  uses as its ``start_time``. Records sharing that boundary stamp therefore come again on the next
  page, exactly the duplicates the real API documents; clients de-duplicate by ``id``. When a
  full page holds one single stamp, the page is widened to every record with that stamp and
  ``end_time`` moves one second past it, so a walk always makes progress.

Keys are ``(stamp, id)`` with ``stamp`` in whole Unix seconds, like Zendesk's own timestamps.
"""

from __future__ import annotations

import base64
import binascii
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

Key = tuple[int, int]
_MAX_ID = 2**63


class BadCursor(ValueError):
    """A cursor this emulator did not hand out."""


def encode_id_cursor(record_id: int) -> str:
    return base64.b64encode(f'{{"o":"id","v":{record_id}}}'.encode()).decode()


def decode_id_cursor(cursor: str) -> int:
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
        prefix = '{"o":"id","v":'
        if not text.startswith(prefix) or not text.endswith("}"):
            raise BadCursor(cursor)
        return int(text[len(prefix) : -1])
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadCursor(cursor) from exc


def encode_export_cursor(key: Key, backwards: bool = False) -> str:
    """Same look as Zendesk's (``base64("1695052663.0||28|")``); ``b`` marks a backwards cursor."""
    text = f"{key[0]}.0||{key[1]}|{'b' if backwards else ''}"
    return base64.b64encode(text.encode()).decode()


def decode_export_cursor(cursor: str) -> tuple[Key, bool]:
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
        stamp, _, record_id, direction = text.split("|")
        if direction not in ("", "b") or not stamp.endswith(".0"):
            raise BadCursor(cursor)
        return (int(stamp[:-2]), int(record_id)), direction == "b"
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadCursor(cursor) from exc


@dataclass(frozen=True)
class ListPage:
    ids: list[int]
    has_more: bool
    after_cursor: str | None
    before_cursor: str | None


def list_page(sorted_ids: list[int], size: int, after: int | None = None, before: int | None = None) -> ListPage:
    """One page of an id-ordered list; ``before`` pages backwards."""
    if before is not None:
        end = bisect_left(sorted_ids, before)
        start = max(0, end - size)
        has_more = start > 0
    else:
        start = 0 if after is None else bisect_right(sorted_ids, after)
        end = min(len(sorted_ids), start + size)
        has_more = end < len(sorted_ids)
    ids = sorted_ids[start:end]
    if not ids:
        return ListPage([], False, None, None)
    return ListPage(ids, has_more, encode_id_cursor(ids[-1]), encode_id_cursor(ids[0]))


@dataclass(frozen=True)
class ExportPage:
    keys: list[Key]
    after_cursor: str
    before_cursor: str | None
    end_of_stream: bool


def export_cursor_page(
    keys: list[Key],
    newest_stamp: int,
    per_page: int,
    *,
    start_time: int | None = None,
    cursor: str | None = None,
) -> ExportPage:
    """One page of a cursor-based export over ``keys`` (sorted), up to ``newest_stamp`` inclusive."""
    limit = bisect_right(keys, (newest_stamp, _MAX_ID))
    if cursor is not None:
        position, backwards = decode_export_cursor(cursor)
        if backwards:
            end = min(bisect_left(keys, position), limit)
            start = max(0, end - per_page)
            page = keys[start:end]
            before = encode_export_cursor(page[0], backwards=True) if page and start > 0 else None
            after = encode_export_cursor(page[-1]) if page else encode_export_cursor(position)
            return ExportPage(page, after, before, False)
        start = bisect_right(keys, position)
        resume_from = position
    else:
        since = start_time or 0
        start = bisect_left(keys, (since, -1))
        resume_from = (since - 1, _MAX_ID)
    end = min(limit, start + per_page)
    page = keys[start:end] if start < end else []
    after = encode_export_cursor(page[-1] if page else resume_from)
    before = encode_export_cursor(page[0], backwards=True) if page and cursor is not None else None
    return ExportPage(page, after, before, end >= limit)


@dataclass(frozen=True)
class TimePage:
    keys: list[Key]
    end_time: int
    end_of_stream: bool


def time_export_page(keys: list[Key], newest_stamp: int, per_page: int, start_time: int) -> TimePage:
    """One page of a time-based export; see the module docstring for the boundary rule."""
    limit = bisect_right(keys, (newest_stamp, _MAX_ID))
    start = bisect_left(keys, (start_time, -1))
    end = min(limit, start + per_page)
    page = keys[start:end] if start < end else []
    if not page:
        return TimePage([], start_time, True)
    if len(page) == per_page and page[0][0] == page[-1][0]:
        stamp = page[0][0]
        end = min(limit, bisect_right(keys, (stamp, _MAX_ID)))
        page = keys[start:end]
        return TimePage(page, stamp + 1, end >= limit)
    return TimePage(page, page[-1][0], len(page) < per_page)
