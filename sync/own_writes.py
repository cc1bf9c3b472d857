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

The rule is applied twice, the same way. The sync hands the adapter an `OwnWrites` before it pulls accounts
(`Adapter.expect_own_writes`, see `sync.runner`): the stored copy and the ledger of every record Canary wrote.
The adapter asks it about each record of a raw page as mapped *before* anything is looked up (owners, a
HubSpot company's parent association) and leaves the recognised ones out of its lookups and its records
(`Page.own_writes` names them), so such a record costs nothing beyond the page that returned it. What the
adapter could not know yet (`unresolved`: the owner's e-mail and activity behind an owner id, a link it
would have to look up) is left out of the comparison; a link change alone does not restamp the record
(HubSpot: association changes leave ``hs_lastmodifieddate``), so the pull's stamp never promised to see
it, and the webhooks (`associationChange`) fetch it. Every other record goes on to the writer, which
applies the rule again on the fully mapped record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from integrations.base import AccountRecord
from integrations.values import iso_datetime

STAMP_KEYS = frozenset({"source_updated_at"})
"""What a write restamps on the stored copy of a record: the vendor's modification time."""

ACCOUNT_FIELDS = ("name", "domain", "parent_external_id", "cross_refs", "source_updated_at", "owner", "owner_ref",
                  "owner_active", "segment", "tier", "employees")
"""What a pulled account record sets on its stored row (`SourceLink`), compared with that row."""

OWNER_DETAILS = frozenset({"owner", "owner_active"})
"""What the adapter learns of a record's owner by a further call (the user behind the owner id)."""


def account_values(r: AccountRecord) -> dict[str, Any]:
    """The stored row's values (`ACCOUNT_FIELDS`) a pulled account record gives."""
    return {"name": r.name, "domain": r.domain, "parent_external_id": r.parent_external_id,
            "cross_refs": dict(r.cross_refs), "source_updated_at": r.updated_at, "owner": r.owner,
            "owner_ref": r.owner_ref, "owner_active": r.owner_active, "segment": r.segment, "tier": r.tier,
            "employees": r.employees}


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


class OwnWrites:
    """The stored copy (`ACCOUNT_FIELDS`) and the ledger's last written values of each record Canary wrote
    to, by external id: what an adapter needs to tell Canary's own write-back on a raw page (the module doc).

    Read once before the pull (`sync.writer.load_own_writes`). A record the adapter delivers as a change is
    forgotten here: the writer may store something new for it, so a later copy in the same pull is judged by
    the writer, never against this snapshot."""

    def __init__(self, known: Mapping[str, tuple[Mapping[str, Any], Mapping[str, str | None]]]) -> None:
        self._known = dict(known)

    def __len__(self) -> int:
        return len(self._known)

    def recognised(self, record: AccountRecord, unresolved: Iterable[str] = ()) -> bool:
        """Whether ``record``, mapped before any lookup, is only Canary's own write coming back. ``unresolved``:
        fields the adapter would still look up (e.g. ``parent_external_id``); an owner named by its id
        (``owner_ref``) is compared by that id alone. False forgets the record (see the class doc)."""
        entry = self._known.get(record.external_id)
        if entry is None:
            return False
        stored, written = entry
        skip = set(unresolved) | (OWNER_DETAILS if record.owner_ref is not None else set())
        changed = {key for key, value in account_values(record).items()
                   if key not in skip and stored.get(key) != value}
        if is_own_write(changed, record.health, written):
            return True
        del self._known[record.external_id]
        return False
