"""The emulator's native store: one `Table` of JSON-ready rows per Zendesk resource."""

from __future__ import annotations

from typing import Any

from sandbox.zendesk.pages import Key


class Table:
    """Rows by id, each with a modification stamp; sorted views are cached until the next write.

    ``stamp_of`` names the row field that moves with each write (``updated_at``); the stamp itself
    is kept as Unix seconds beside the row so exports never parse timestamps.
    """

    def __init__(self) -> None:
        self.rows: dict[int, dict[str, Any]] = {}
        self.stamps: dict[int, int] = {}
        self._ids: list[int] | None = None
        self._keys: list[Key] | None = None

    def put(self, row: dict[str, Any], stamp: int) -> None:
        row_id = int(row["id"])
        if row_id not in self.rows:
            self._ids = None
        self.rows[row_id] = row
        self.stamps[row_id] = stamp
        self._keys = None

    def restamp(self, row_id: int, stamp: int) -> None:
        self.stamps[row_id] = stamp
        self._keys = None

    def remove(self, row_id: int) -> None:
        del self.rows[row_id]
        del self.stamps[row_id]
        self._ids = None
        self._keys = None

    def clear(self) -> None:
        self.rows.clear()
        self.stamps.clear()
        self._ids = None
        self._keys = None

    def ids(self) -> list[int]:
        if self._ids is None:
            self._ids = sorted(self.rows)
        return self._ids

    def keys(self) -> list[Key]:
        """``(stamp, id)`` of every row, ascending: the order of incremental exports."""
        if self._keys is None:
            self._keys = sorted((s, i) for i, s in self.stamps.items())
        return self._keys

    def __len__(self) -> int:
        return len(self.rows)

    def __contains__(self, row_id: object) -> bool:
        return row_id in self.rows
