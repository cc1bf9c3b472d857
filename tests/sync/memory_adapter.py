"""An in-memory adapter for testing the sync orchestration (not a vendor fake: it has no wire format).

The vendor adapters are tested against the sandbox emulators with the real SDKs; this one
only lets the runner and push be tested for cursors, crash-resume, batching and ledger logic.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from integrations.base import FieldSpec, FieldUpdate, ObjectName, Page, PushResult, Record, Removal
from integrations.errors import AuthError


@dataclass
class MemoryAdapter:
    system: str
    data: dict[str, list[Record]] = field(default_factory=dict)
    page_size: int = 2
    objects: tuple[ObjectName, ...] = ("accounts", "contacts", "deals", "tickets")
    fail_ids: set[str] = field(default_factory=set)
    crash_after_pages: int | None = None
    refuse_after_calls: int | None = None
    """Answer 401 (an expired token) from this many calls on, as a vendor does."""
    calls: int = 0
    pushed: dict[str, dict[str, object]] = field(default_factory=dict)
    batch_size: int = 100
    fields: list[str] = field(default_factory=list)
    removed: dict[str, list[Removal]] = field(default_factory=dict)
    """Deletions and merges served once, on a page of their own after the records (as a vendor's
    incremental read reports what went since the cursor)."""

    def check_connection(self) -> None:
        self.calls += 1

    def pull(self, object: ObjectName, cursor: str | None) -> Iterator[Page]:
        rows = sorted(self.data.get(object, []), key=lambda r: (r.updated_at, r.external_id))
        start = int(cursor) if cursor else 0
        for served, i in enumerate(range(start, len(rows), self.page_size)):
            if self.crash_after_pages is not None and served >= self.crash_after_pages:
                raise KeyboardInterrupt("simulated crash")
            self._call()
            chunk = rows[i : i + self.page_size]
            yield Page(object, chunk, str(i + len(chunk)))
        gone = self.removed.pop(object, [])
        if gone:
            self._call()
            yield Page(object, [], str(max(start, len(rows))), removed=gone)
        elif start >= len(rows):
            self._call()  # the 'anything new?' call

    def _call(self) -> None:
        if self.refuse_after_calls is not None and self.calls >= self.refuse_after_calls:
            raise AuthError(f"{self.system}: 401 the access token expired")
        self.calls += 1

    def ensure_fields(self, specs: Sequence[FieldSpec]) -> list[str]:
        self._call()
        created = [s.key for s in specs if s.key not in self.fields]
        self.fields.extend(created)
        return created

    def push_fields(self, updates: Sequence[FieldUpdate]) -> PushResult:
        result = PushResult()
        for start in range(0, len(updates), self.batch_size):
            self._call()
            result.calls += 1
            for u in updates[start : start + self.batch_size]:
                if u.external_id in self.fail_ids:
                    result.failed[u.external_id] = "INVALID_FIELD: rejected by the vendor"
                else:
                    self.pushed[u.external_id] = dict(u.values)
                    result.succeeded.append(u.external_id)
        return result
