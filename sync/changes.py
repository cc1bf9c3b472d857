"""A change a vendor (or the collector) tells Canary about: the unit of real-time work.

Webhook receivers (`webhooks/`) turn each vendor's verified delivery into `Change`s and hand them to
`jobs.submit_changes`, which processes them inline or on a worker (`sync.realtime.process_changes`:
fetch the changed records by id, upsert, rescore only the accounts they touch, push what changed).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

CHANGE_KINDS = ("upsert", "delete", "merge", "gap")
"""upsert: created or changed (fetch it); delete: gone; merge: merged into ``merged_into``; gap: the
vendor lost the details (fetch it by id, as for an upsert)."""
CHANGE_OBJECTS = ("accounts", "contacts", "deals", "tickets", "satisfaction", "tasks", "usage")


@dataclass(frozen=True, slots=True)
class Change:
    system: str
    """salesforce | zendesk | hubspot | product."""
    object: str
    """One of `CHANGE_OBJECTS`, in Canary's words (a Zendesk organization is ``accounts``)."""
    external_id: str
    """The record's id in that system."""
    kind: str = "upsert"
    event_id: str | None = None
    """The vendor's id of the event (for de-duplication of at-least-once deliveries)."""
    occurred_at: dt.datetime | None = None
    merged_into: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in CHANGE_KINDS:
            raise ValueError(f"change kind must be one of {', '.join(CHANGE_KINDS)}, not {self.kind!r}")
        if self.object not in CHANGE_OBJECTS:
            raise ValueError(f"change object must be one of {', '.join(CHANGE_OBJECTS)}, not {self.object!r}")
        if not self.external_id:
            raise ValueError("a change names the record's id")

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["occurred_at"] = self.occurred_at.isoformat() if self.occurred_at else None
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Change:
        stamp = data.get("occurred_at")
        return cls(system=data["system"], object=data["object"], external_id=str(data["external_id"]),
                   kind=data.get("kind", "upsert"), event_id=data.get("event_id"),
                   occurred_at=dt.datetime.fromisoformat(stamp) if stamp else None,
                   merged_into=data.get("merged_into"))
