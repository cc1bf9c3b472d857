"""Store pulled pages: upsert canonical records, place accounts by identity resolution.

Every function works inside the caller's tenant-scoped session, so a page's records and
its cursor commit together: a crash loses at most the page in flight, and the next run
pulls it again (upserts make that harmless).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from sqlalchemy import String, bindparam, delete, func, insert, or_, select, text, update
from sqlalchemy import column as sql_column
from sqlalchemy.orm import Session

from integrations.base import (
    AccountRecord,
    ContactRecord,
    DealRecord,
    ObjectName,
    Page,
    Record,
    Removal,
    SatisfactionRecord,
    TaskRecord,
    TicketRecord,
)
from store import portfolio_keys
from store.bulk import insert_rows
from store.models import (
    Account,
    Alert,
    Contact,
    ProductUser,
    PushLedger,
    SourceLink,
    Subscription,
    SubscriptionMovement,
    SubscriptionVersion,
    SurveyResponse,
    SyncCursor,
    Ticket,
)
from store.panel_views import mark, touches
from store.queries import live_accounts
from store.scoping import current_tenant
from store.types import utcnow
from store.upsert import upsert_rows
from sync import revenue
from sync.identity import KnownLink, parent_index, resolve
from sync.normalise import normalise_domain
from sync.own_writes import ACCOUNT_FIELDS, STAMP_KEYS, OwnWrites, account_values, is_own_write

log = logging.getLogger("canary.sync")
_encode = msgspec.json.Encoder().encode

ROLE_RANK = {"executive_sponsor": 3, "champion": 2, "admin": 1, "user": 0}
NAME_PREFERENCE = ("salesforce", "hubspot", "zendesk", "product")

# What a pulled record sets on its row (`PageWriter`): compared with the stored row, written when one differs.
LINK_FIELDS = ACCOUNT_FIELDS
CONTACT_FIELDS = ("account_id", "name", "title", "role", "source_ids", "last_active_at")
DEAL_FIELDS = ("account_id", "name", "arr", "mrr", "start_date", "renewal_date", "seats_purchased", "product_tier",
               "status")
TICKET_FIELDS = ("account_id", "subject", "priority", "status", "escalated", "created_at", "solved_at",
                 "satisfaction")
RATING_FIELDS = ("account_id", "kind", "score", "comment", "submitted_at", "ticket_ref")


@dataclass
class WriteCounts:
    pulled: int = 0
    changed: int = 0
    skipped: int = 0
    removed: int = 0


@dataclass
class IdentityCounts:
    accounts_created: int = 0
    records_linked: int = 0
    accounts_merged: int = 0
    by_method: dict[str, int] = field(default_factory=dict)


def load_cursor(session: Session, system: str, obj: str) -> str | None:
    return session.scalar(select(SyncCursor.value).where(SyncCursor.system == system, SyncCursor.object == obj))


def save_cursor(session: Session, system: str, obj: str, value: str | None) -> None:
    """One ``INSERT … ON CONFLICT`` statement, no read first: a read here used to autoflush the whole page."""
    if value is None:
        return
    tenant_id = current_tenant(session)
    if tenant_id is None:
        raise ValueError("a sync cursor is saved in a tenant-scoped session (store.session(tenant_id))")
    upsert_rows(session, SyncCursor.__table__, [{"tenant_id": tenant_id, "system": system, "object": obj,
                                                 "value": value, "updated_at": utcnow()}],
                ("tenant_id", "system", "object"))


def load_own_writes(session: Session, system: str) -> OwnWrites:
    """What the pull of ``system``'s accounts needs to tell Canary's own writes on a raw page: the stored copy
    and the ledger's written values of every record the push ledger says Canary wrote to (two queries)."""
    written: dict[str, dict[str, str | None]] = {}
    for external_id, key, value in session.execute(select(PushLedger.external_id, PushLedger.field, PushLedger.value)
                                                   .where(PushLedger.system == system,
                                                          PushLedger.written_at.is_not(None))):
        written.setdefault(external_id, {})[key] = value
    if not written:
        return OwnWrites({})
    ids = select(PushLedger.external_id).where(PushLedger.system == system, PushLedger.written_at.is_not(None))
    picked = [getattr(SourceLink, c) for c in LINK_FIELDS]
    known: dict[str, tuple[dict[str, Any], dict[str, str | None]]] = {}
    for row in session.execute(select(SourceLink.external_id, *picked).where(
            SourceLink.system == system, SourceLink.external_id.in_(ids))):
        known[row[0]] = (dict(zip(LINK_FIELDS, row[1:], strict=True)), written.get(row[0], {}))
    return OwnWrites(known)


def refresh_derived(session: Session, account_ids: Iterable[int]) -> None:
    """The term ends, movements and portfolio keys of ``account_ids`` recomputed (what `PageWriter` deferred),
    and the store's mark of a pending refresh removed, in the caller's transaction."""
    ids = set(account_ids)
    if ids:
        revenue.refresh(session, ids)  # term ends first: the keys count terms in force
        portfolio_keys.refresh(session, ids)
    session.execute(delete(SyncCursor).where(SyncCursor.system == DERIVED_MARK[0],
                                             SyncCursor.object == DERIVED_MARK[1]))


def recover_derived(session: Session) -> bool:
    """When a pull stopped between deferring a refresh and doing it (`DERIVED_MARK` left): every account's term
    ends, movements and portfolio keys recomputed, the mark removed. True when there was one."""
    if load_cursor(session, *DERIVED_MARK) is None:
        return False
    ids = {a for a in session.scalars(select(Subscription.account_id).distinct()) if a is not None}
    ids.update(session.scalars(select(SubscriptionMovement.account_id).distinct()))
    revenue.refresh(session, ids)
    portfolio_keys.refresh(session)
    refresh_derived(session, ())
    return True


def clear_cursors(session: Session, system: str) -> None:
    for row in session.scalars(select(SyncCursor).where(SyncCursor.system == system)):
        session.delete(row)


_JSON_IDS = {"sqlite": "SELECT value FROM json_each(:json_ids)",
             "postgresql": "SELECT jsonb_array_elements_text(CAST(:json_ids AS jsonb))"}


def keyed_rows(session: Session, model: Any, key: Any, values: Iterable[str], *columns: Any,
               where: Sequence[Any] = ()) -> Sequence[Any]:
    """The rows (``key``, ``*columns``) of the session's tenant's ``model`` whose text ``key`` is one of
    ``values``, in one statement: the values go as one JSON array parameter (``json_each`` on SQLite,
    ``jsonb_array_elements_text`` on PostgreSQL), so the SQL is the same whatever their number (compiled once; an
    ``IN`` of 500 bound values was coerced and rendered afresh each time), and it runs on the connection (no ORM
    row loading) with the tenant named here, as the session's scoping would add it."""
    wanted = list(dict.fromkeys(values))
    if not wanted:
        return []
    tenant_id = current_tenant(session)
    if tenant_id is None:
        raise ValueError("rows are read by key in a tenant-scoped session (store.session(tenant_id))")
    ids = text(_JSON_IDS[session.get_bind().dialect.name]).bindparams(json_ids=_encode(wanted).decode())
    return session.connection().execute(select(key, *columns).where(  # all at once: the driver's fetchall
        model.tenant_id == tenant_id, key.in_(ids.columns(sql_column("value", String))), *where)).all()


def _set(obj: Any, values: dict[str, Any]) -> bool:
    changed = False
    for key, value in values.items():
        if getattr(obj, key) != value:
            setattr(obj, key, value)
            changed = True
    return changed


_MISSING = object()

DERIVED_MARK = ("canary", "derived")
"""The `SyncCursor` key (system, object) of a deferred refresh of derived rows (`PageWriter` with ``derived``):
written with the first page that defers one, deleted by `refresh_derived`; found at the start of a sync, it
means a pull stopped before its refresh, and every account's derived rows are recomputed (`recover_derived`)."""


class ContactMerge:
    """Every system's contacts of one full or first pull, written once (`PageWriter` with ``contacts``).

    Each system's contact pages are still decided one after the other, in the same order and by the same rules as
    when each group is written (`PageWriter._contacts`: every name, title, role, account, last activity and
    ``source_ids`` entry set as then, the same counts), but against the rows as they stand here, in memory, not as
    stored: a person a later system names again is compared with what the earlier one left, not read back. The
    rows any system changed are written by `flush` in one statement, with each system's last cursor, in one
    transaction: each e-mail's row once instead of once per system (the later systems' passes updated rows spread
    over the whole table, each e-mail's ``source_ids`` again). Nothing is stored until then; a pull stopped before
    it starts again from the first page (no cursor was saved)."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        """Each e-mail's row as the pages so far left it (read from the store the first time a page names it)."""
        self.written: dict[str, None] = {}
        """The e-mails some page changed, in the order first changed (the order the passes inserted new rows)."""
        self.cursors: dict[str, str] = {}
        """Each system's last cursor of the pages decided and not yet stored."""

    def flush(self, session: Session) -> int:
        """The rows changed and each system's cursor stored in the caller's transaction; returns the rows written.
        The rows stay known, as now stored."""
        if self.written:
            tenant_id, now = current_tenant(session), utcnow()
            if tenant_id is None:
                raise ValueError("contacts are written in a tenant-scoped session (store.session(tenant_id))")
            upsert_rows(session, Contact.__table__,
                        [{"tenant_id": tenant_id, "email": email, **self.rows[email], "updated_at": now}
                         for email in self.written], ("tenant_id", "email"))
        for system, cursor in self.cursors.items():
            save_cursor(session, system, "contacts", cursor)
        written = len(self.written)
        self.written.clear()
        self.cursors.clear()
        return written


class PageWriter:
    """Writes pages of one system into the store; caches the system's account links.

    ``derived``, when given, collects the accounts whose subscriptions a page wrote, deleted, unplaced or
    merged, instead of refreshing their term ends, movements and portfolio keys with every page: the caller
    refreshes them once (`refresh_derived`) when the pull of the object ends. Each page then marks the store
    (`DERIVED_MARK`, in the page's own transaction), so a pull killed before that refresh is caught up by the
    next sync (`recover_derived`).

    ``links``: see `_links`. ``contacts``, when given, takes the contacts pages' rows and cursor instead of the
    store (`ContactMerge`, stored by its `flush`); a page with removals first stores what it holds and is then
    written as usual."""

    def __init__(self, session: Session, system: str, derived: set[int] | None = None,
                 contacts: ContactMerge | None = None, links: dict[str, int | None] | None = None) -> None:
        self.session = session
        self.system = system
        self._derived = derived
        self._merge = contacts
        self._links: dict[str, int | None] | None = links
        """The system's account links read so far (external id -> account; None: no such link). ``links``: a dict
        the caller keeps across the page groups of one pull of contacts, deals, tickets or ratings, whose pages
        move no link (`sync.runner._pull_object`), filled here."""
        self._ledger: dict[str, dict[str, str | None]] | None = None
        """The push ledger's written values of the page's accounts, read once a record needs them."""
        self._subscribers: set[int] = set()
        """Accounts whose subscriptions this page changed: their portfolio keys are refreshed with it."""

    def account_id(self, external_id: str | None) -> int | None:
        if external_id is None:
            return None
        if self._links is None:
            self._links = {}
        if external_id not in self._links:
            self._links[external_id] = self.session.scalar(select(SourceLink.account_id).where(
                SourceLink.system == self.system, SourceLink.external_id == external_id))
        return self._links[external_id]

    def _learn_links(self, records: Sequence[Record]) -> None:
        """The accounts of the records' account references, read in one indexed query per 500 (not every link of
        the system: a page names a few hundred of them at most)."""
        links = self._links if self._links is not None else {}
        wanted = sorted({ref for r in records if (ref := getattr(r, "account_external_id", None)) is not None
                         and ref not in links})
        if not wanted:
            self._links = links
            return
        links.update(dict.fromkeys(wanted))
        links.update({ext: account for ext, account in keyed_rows(
            self.session, SourceLink, SourceLink.external_id, wanted, SourceLink.account_id,
            where=[SourceLink.system == self.system])})
        self._links = links

    def write(self, page: Page) -> WriteCounts:
        # Records the adapter recognised as Canary's own write-back (`sync.own_writes`): read, not a change.
        counts = WriteCounts(pulled=len(page.records) + len(page.own_writes), skipped=len(page.own_writes))
        writers = {
            "accounts": self._accounts,
            "contacts": self._contacts,
            "deals": self._deals,
            "tickets": self._tickets,
            "satisfaction": self._satisfaction,
            "tasks": self._tasks,
        }
        self._learn_links(page.records)
        merge = self._merge if page.object == "contacts" else None
        if merge is not None and page.removed:
            # Removals read and change the stored rows: what the merge holds is stored first, and forgotten.
            merge.flush(self.session)
            merge.rows.clear()
            merge = None
        if merge is not None:
            self._contacts(page.records, counts, merge)
            if page.cursor is not None:
                merge.cursors[self.system] = page.cursor
            return counts
        writers[page.object](page.records, counts)
        if page.removed:
            self._remove(page.object, page.removed, counts)
        if self._subscribers and self._derived is not None:
            save_cursor(self.session, *DERIVED_MARK, "pending")  # commits with the page
            self._derived.update(self._subscribers)
            self._subscribers.clear()
        elif self._subscribers:
            revenue.refresh(self.session, self._subscribers)  # term ends first: the keys count terms in force
            portfolio_keys.refresh(self.session, self._subscribers)
            self._subscribers.clear()
        save_cursor(self.session, self.system, page.object, page.cursor)
        return counts

    # ---------------------------------------------------------------- deletions and merges

    def _remove(self, obj: ObjectName, removals: Sequence[Removal], counts: WriteCounts) -> None:
        """Records deleted or merged away in the vendor: their rows go, and nothing is pushed to them again."""
        ids = [r.external_id for r in removals]
        if obj == "tasks":
            from sync.tasks import remove_task_records

            counts.removed += remove_task_records(self.session, self.system, removals)
            return
        if obj == "accounts":
            self._remove_accounts(removals)
        elif obj == "contacts":
            self._remove_contacts(ids)
        else:
            model: Any = {"deals": Subscription, "tickets": Ticket}.get(obj)
            if model is Subscription:
                self._subscribers.update(a for a in self.session.scalars(select(Subscription.account_id).where(
                    Subscription.system == self.system, Subscription.external_id.in_(ids))) if a is not None)
            if model is not None:
                # Deleted deals change their accounts' panels (gathered just above); tickets are in none.
                self.session.execute(delete(model).where(model.system == self.system, model.external_id.in_(ids)),
                                     execution_options=touches(self._subscribers if model is Subscription else ()))
            else:  # satisfaction ratings
                self.session.execute(delete(SurveyResponse).where(SurveyResponse.source == self.system,
                                                                  SurveyResponse.source_ref.in_(ids)))
            if obj == "tickets":  # a deleted ticket's rating no longer counts for the customer
                self.session.execute(update(SurveyResponse).where(
                    SurveyResponse.source == self.system, SurveyResponse.ticket_ref.in_(ids)).values(account_id=None))
        self.session.execute(delete(PushLedger).where(PushLedger.system == self.system,
                                                      PushLedger.external_id.in_(ids)))
        counts.removed += len(removals)

    def _remove_accounts(self, removals: Sequence[Removal]) -> None:
        ids = [r.external_id for r in removals] + [r.merged_into for r in removals if r.merged_into]
        links = self._by_external_id(SourceLink, ids)
        touched: set[int] = set()
        for removal in removals:
            loser = links.get(removal.external_id)
            if loser is None:
                continue
            winner = links.get(removal.merged_into) if removal.merged_into else None
            if winner is not None and winner.account_id and loser.account_id and winner.account_id != loser.account_id:
                # The vendor says the two are one customer: so are their Canary accounts.
                _merge_accounts(self.session, into=winner.account_id, merged=loser.account_id)
            elif loser.account_id is not None:
                touched.add(loser.account_id)
                self._unplace(loser.account_id)
            self.session.delete(loser)
        self._links = None
        self.session.flush()
        _retire_orphans(self.session, touched)

    def _unplace(self, account_id: int) -> None:
        """This system's deals, tickets and ratings were placed on the account through the record just
        deleted (a customer has one record per system): they stand for no known customer any more."""
        self._subscribers.add(account_id)
        for model, column in ((Subscription, Subscription.system), (Ticket, Ticket.system),
                              (SurveyResponse, SurveyResponse.source)):
            self.session.execute(update(model).where(column == self.system, model.account_id == account_id)
                                 .values(account_id=None),
                                 execution_options={"synchronize_session": False, **touches([account_id])})

    def _remove_contacts(self, ids: Sequence[str]) -> None:
        gone = set(ids)
        for contact in self.session.scalars(select(Contact).where(Contact.source_ids.is_not(None))):
            if contact.source_ids.get(self.system) not in gone:
                continue
            remaining = {k: v for k, v in contact.source_ids.items() if k != self.system}
            if remaining:
                contact.source_ids = remaining
            else:
                self.session.delete(contact)

    def _by_external_id(self, model: Any, ids: Sequence[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            found.update({row.external_id: row for row in self.session.scalars(
                select(model).where(model.system == self.system, model.external_id.in_(chunk)))})
        return found

    def _current(self, model: Any, ids: Sequence[str], columns: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The stored values of ``columns`` of this system's rows of ``model`` named by ``ids``, by external id:
        plain rows (one indexed query per 500 ids), no ORM objects."""
        return {row[0]: dict(zip(columns, row[1:], strict=True)) for row in keyed_rows(
            self.session, model, model.external_id, ids, *(getattr(model, c) for c in columns),
            where=[model.system == self.system])}

    def _tenant(self) -> int:
        tenant_id = current_tenant(self.session)
        if tenant_id is None:
            raise ValueError("sync writes pages in a tenant-scoped session (store.session(tenant_id))")
        return tenant_id

    def _accounts(self, records: Sequence[Record], counts: WriteCounts) -> None:
        self._ledger = None
        existing = self._current(SourceLink, [r.external_id for r in records], LINK_FIELDS)
        written: dict[str, dict[str, Any]] = {}
        for r in records:
            assert isinstance(r, AccountRecord)
            values = account_values(r)
            current = existing.get(r.external_id)
            if current is None:
                existing[r.external_id] = written[r.external_id] = dict(values)
                counts.changed += 1
                continue
            changed = {key for key, value in values.items() if current[key] != value}
            if not changed:
                continue
            if r.health is not None and changed <= STAMP_KEYS and is_own_write(
                    changed, r.health, self._written(r.external_id, records)):
                counts.skipped += 1  # Canary's own write-back coming back: not a change (`sync.own_writes`)
                continue
            current.update(values)
            written[r.external_id] = current
            counts.changed += 1
        if written:
            # A new record waits for identity resolution; a known one keeps its account, method and reason.
            tenant_id, now = self._tenant(), utcnow()
            upsert_rows(self.session, SourceLink.__table__, [
                {"tenant_id": tenant_id, "system": self.system, "external_id": ext, **row, "account_id": None,
                 "method": "pending", "reason": "waiting for identity resolution", "manual": False, "created_at": now}
                for ext, row in written.items()], ("tenant_id", "system", "external_id"), update=LINK_FIELDS)

    def _written(self, external_id: str, records: Sequence[Record]) -> dict[str, str | None]:
        """What the push ledger says Canary last wrote to this record of the page (one query per page)."""
        if self._ledger is None:
            ids = [r.external_id for r in records]
            self._ledger = {}
            for start in range(0, len(ids), 500):
                for row in self.session.scalars(select(PushLedger).where(
                        PushLedger.system == self.system, PushLedger.external_id.in_(ids[start : start + 500]),
                        PushLedger.written_at.is_not(None))):
                    self._ledger.setdefault(row.external_id, {})[row.field] = row.value
        return self._ledger.get(external_id, {})

    def _contacts(self, records: Sequence[Record], counts: WriteCounts, merge: ContactMerge | None = None) -> None:
        emails = sorted({r.email.strip().lower() for r in records
                         if isinstance(r, ContactRecord) and r.email and "@" in r.email})
        if merge is not None:  # the rows as the pages before left them; those not named before, as stored
            existing = merge.rows
            emails = [email for email in emails if email not in existing]
        else:
            existing = {}
        existing.update({row[0]: dict(zip(CONTACT_FIELDS, row[1:], strict=True)) for row in keyed_rows(
            self.session, Contact, Contact.email, emails, *(getattr(Contact, c) for c in CONTACT_FIELDS))})
        fresh: set[str] = set()
        written: dict[str, dict[str, Any]] = {}
        system, links, rank = self.system, self._links or {}, ROLE_RANK.get
        # Each value compared with the stored one as it is set (no dict of new values made and compared again).
        for r in records:
            assert isinstance(r, ContactRecord)
            raw = r.email
            if not raw or "@" not in raw:
                counts.skipped += 1
                continue
            email = raw.strip().lower()
            contact = existing.get(email)
            if contact is None:
                contact = existing[email] = {"account_id": None, "name": None, "title": None, "role": r.role,
                                             "source_ids": {}, "last_active_at": None}
                fresh.add(email)
            changed = email in fresh  # a contact new in this page counts each time the page names it
            if r.name and r.name != contact["name"]:
                contact["name"], changed = r.name, True
            if r.title and r.title != contact["title"]:
                contact["title"], changed = r.title, True
            held = contact["role"]
            if r.role != held and rank(r.role, 0) >= rank(held or "user", 0):
                contact["role"], changed = r.role, True
            ids = contact["source_ids"]
            if ids is None or ids.get(system, _MISSING) != r.external_id:
                contact["source_ids"], changed = {**(ids or {}), system: r.external_id}, True
            ref = r.account_external_id
            account_id = links[ref] if ref in links else self.account_id(ref)
            if account_id is not None and account_id != contact["account_id"]:
                contact["account_id"], changed = account_id, True
            last = r.last_active_at
            if last and (contact["last_active_at"] is None or last > contact["last_active_at"]):
                contact["last_active_at"], changed = last, True
            if changed:
                written[email] = contact
                counts.changed += 1
        if merge is not None:
            merge.written.update(dict.fromkeys(written))
            return
        if written:
            tenant_id, now = self._tenant(), utcnow()
            upsert_rows(self.session, Contact.__table__,
                        [{"tenant_id": tenant_id, "email": email, **row, "updated_at": now}
                         for email, row in written.items()], ("tenant_id", "email"))

    def _deals(self, records: Sequence[Record], counts: WriteCounts) -> None:
        existing = self._current(Subscription, [r.external_id for r in records], ("id", *DEAL_FIELDS))
        written: dict[str, dict[str, Any]] = {}
        versions: list[dict[str, Any]] = []
        touched: set[int] = set()
        for r in records:
            assert isinstance(r, DealRecord)
            account_id = self.account_id(r.account_external_id)
            values = {"account_id": account_id, "name": r.name, "arr": r.arr,
                      "mrr": (r.arr / 12).quantize(r.arr) if r.arr is not None else None,
                      "start_date": r.start_date, "renewal_date": r.renewal_date, "seats_purchased": r.seats,
                      "product_tier": r.tier, "status": r.status}
            row = existing.get(r.external_id)
            accounts: set[int] = {a for a in (account_id, row["account_id"] if row else None) if a is not None}
            self._subscribers.update(accounts)
            if row is None:
                existing[r.external_id] = written[r.external_id] = {"id": None, **values}
                touched.update(accounts)
                counts.changed += 1
                continue
            before = (row["arr"], row["status"], row["renewal_date"])
            if not any(row[key] != value for key, value in values.items()):
                continue
            row.update(values)
            written[r.external_id] = row
            touched.update(accounts)
            counts.changed += 1
            if row["id"] is not None and before != (row["arr"], row["status"], row["renewal_date"]):
                # Changed in place (no new deal): keep what it was, dated when the vendor says it changed,
                # so the account's ARR history and its movements stay true (`sync.revenue`).
                versions.append({"subscription_id": row["id"], "seen_on": r.updated_at.date(),
                                 "arr_before": before[0], "arr_after": row["arr"], "status_before": before[1],
                                 "status_after": row["status"], "renewal_before": before[2],
                                 "renewal_after": row["renewal_date"]})
        if not written:
            return
        tenant_id, now = self._tenant(), utcnow()
        upsert_rows(self.session, Subscription.__table__, [
            {"tenant_id": tenant_id, "system": self.system, "external_id": ext,
             **{k: row[k] for k in DEAL_FIELDS}, "updated_at": now} for ext, row in written.items()],
            ("tenant_id", "system", "external_id"), options=touches(touched))
        if versions:
            versions_table: Any = SubscriptionVersion.__table__
            self.session.execute(insert(versions_table), [
                {"tenant_id": tenant_id, **version} for version in versions])

    def _tickets(self, records: Sequence[Record], counts: WriteCounts) -> None:
        existing = self._current(Ticket, [r.external_id for r in records], TICKET_FIELDS)
        written: dict[str, dict[str, Any]] = {}
        inserted: list[str] = []
        for r in records:
            assert isinstance(r, TicketRecord)
            row = existing.get(r.external_id)
            values: dict[str, Any] = {
                "account_id": self.account_id(r.account_external_id), "subject": r.subject,
                "priority": r.priority, "status": r.status, "escalated": r.escalated,
                "created_at": r.created_at, "solved_at": r.solved_at,
                "satisfaction": r.satisfaction if r.satisfaction is not None else row and row["satisfaction"],
            }
            if row is None:
                existing[r.external_id] = written[r.external_id] = values
                inserted.append(r.external_id)
                counts.changed += 1
            elif any(row[key] != value for key, value in values.items()):
                row.update(values)
                written[r.external_id] = row
                counts.changed += 1
        if inserted:
            self._rated_before({ext: written[ext] for ext in inserted})
        if written:
            tenant_id, now = self._tenant(), utcnow()
            upsert_rows(self.session, Ticket.__table__, [
                {"tenant_id": tenant_id, "system": self.system, "external_id": ext, **row, "updated_at": now}
                for ext, row in written.items()], ("tenant_id", "system", "external_id"))

    def _rated_before(self, tickets: dict[str, dict[str, Any]]) -> None:
        """The system's ratings stored before their ticket (rated after the tickets pull, or fetched by id first),
        which `_satisfaction` left without an account, placed on the account of their ticket now first written
        (``tickets``: its new rows by external id, changed here): the one rule, a rating's account is its stored
        ticket's. A new ticket whose record carries no score takes its latest rating's, as `_satisfaction` would
        have given it; one that carries a score keeps it (read after the rating, it is Zendesk's current one).

        One indexed existence check first: a first pull, whose tickets come before any rating, and a store with no
        unplaced rating of the system do no per-ticket work; else one look-up of the tickets' ratings
        (``ix_survey_responses_unplaced_ticket``, a partial index of the unplaced ones)."""
        tenant_id = self._tenant()
        unplaced = (SurveyResponse.source == self.system, SurveyResponse.account_id.is_(None))
        if self.session.connection().execute(select(SurveyResponse.id).where(
                SurveyResponse.tenant_id == tenant_id, *unplaced).limit(1)).first() is None:
            return
        placed: list[dict[str, Any]] = []
        latest: dict[str, int] = {}
        for ref, rating_id, score, _submitted in sorted(keyed_rows(
                self.session, SurveyResponse, SurveyResponse.ticket_ref, list(tickets), SurveyResponse.id,
                SurveyResponse.score, SurveyResponse.submitted_at, where=unplaced), key=lambda row: (row[3], row[1])):
            account_id = tickets[ref]["account_id"]
            if account_id is not None:
                placed.append({"row_id": rating_id, "new_account_id": account_id})
            latest[ref] = score  # in submission order: a ticket's latest rating last
        for ref, score in latest.items():
            if tickets[ref]["satisfaction"] is None:
                tickets[ref]["satisfaction"] = "good" if score == 1 else "bad"
        if placed:
            table: Any = SurveyResponse.__table__
            self.session.execute(
                update(table).where(table.c.id == bindparam("row_id"), table.c.tenant_id == tenant_id)
                .values(account_id=bindparam("new_account_id")), placed)

    def _tasks(self, records: Sequence[Record], counts: WriteCounts) -> None:
        """Canary's tasks as the CRM holds them (`sync.tasks.write_task_records`)."""
        from sync.tasks import write_task_records

        written = write_task_records(self.session, self.system, [r for r in records if isinstance(r, TaskRecord)])
        counts.changed += written.changed
        counts.skipped += written.skipped

    def _satisfaction(self, records: Sequence[Record], counts: WriteCounts) -> None:
        """Ratings stored by their source reference. A rating's account is its record's account reference, else its
        stored ticket's (Zendesk's ratings name no organization: always the ticket's); one whose ticket is not stored
        yet has none until the ticket's first write (`_rated_before`). A stored ticket takes the rating's score."""
        tickets = self._current(Ticket, [r.ticket_external_id for r in records
                                         if isinstance(r, SatisfactionRecord) and r.ticket_external_id],
                                ("id", "account_id", "satisfaction"))
        refs = list(dict.fromkeys(r.external_id for r in records))
        existing = {found[0]: dict(zip(("id", *RATING_FIELDS), found[1:], strict=True)) for found in keyed_rows(
            self.session, SurveyResponse, SurveyResponse.source_ref, refs,
            *(getattr(SurveyResponse, c) for c in ("id", *RATING_FIELDS)),
            where=[SurveyResponse.source == self.system])}
        rated: dict[int, str] = {}
        new: dict[str, dict[str, Any]] = {}
        changed: dict[int, dict[str, Any]] = {}
        for r in records:
            assert isinstance(r, SatisfactionRecord)
            ticket = tickets.get(r.ticket_external_id or "")
            account_id = self.account_id(r.account_external_id) or (ticket["account_id"] if ticket else None)
            if ticket is not None and ticket["satisfaction"] != r.score:
                ticket["satisfaction"] = rated[ticket["id"]] = r.score
            values = {"account_id": account_id, "kind": "csat", "score": 1 if r.score == "good" else 0,
                      "comment": r.comment, "submitted_at": r.updated_at, "ticket_ref": r.ticket_external_id}
            row = existing.get(r.external_id)
            if row is None:
                existing[r.external_id] = new[r.external_id] = {"id": None, **values}
                counts.changed += 1
            elif any(row[key] != value for key, value in values.items()):
                row.update(values)
                if row["id"] is None:
                    new[r.external_id] = row
                else:
                    changed[row["id"]] = row
                counts.changed += 1
        tenant_id, now = self._tenant(), utcnow()
        table: Any = SurveyResponse.__table__
        ticket_table: Any = Ticket.__table__
        if new:  # ratings have no unique key to conflict on: new ones are inserted, known ones updated by id
            self.session.execute(insert(table), [
                {"tenant_id": tenant_id, "source": self.system, "source_ref": ref,
                 **{k: row[k] for k in RATING_FIELDS}} for ref, row in new.items()])
        if changed:
            self.session.execute(
                update(table).where(table.c.id == bindparam("row_id"), table.c.tenant_id == tenant_id)
                .values({k: bindparam(f"new_{k}") for k in RATING_FIELDS}),
                [{"row_id": i, **{f"new_{k}": row[k] for k in RATING_FIELDS}} for i, row in changed.items()])
        if rated:
            self.session.execute(
                update(ticket_table).where(ticket_table.c.id == bindparam("row_id"),
                                           ticket_table.c.tenant_id == tenant_id)
                .values(satisfaction=bindparam("new_satisfaction"), updated_at=now),
                [{"row_id": i, "new_satisfaction": score} for i, score in rated.items()])


SEGMENT_BY_EMPLOYEES: tuple[tuple[int, str], ...] = ((200, "smb"), (2000, "mid_market"))
"""Employee counts below each bound; at or above the last: ``enterprise`` (the usual SMB / mid-market /
enterprise split by company size)."""


def segment_for_employees(employees: int | None) -> str | None:
    if employees is None or employees < 0:
        return None
    return next((name for bound, name in SEGMENT_BY_EMPLOYEES if employees < bound), "enterprise")


def account_attributes(links: Iterable[Any]) -> dict[str, Any]:
    """What an account takes from its records, in `NAME_PREFERENCE` order (the CRM first): the segment a
    record names, else the one its employee count falls in; the tier a record names. The owner is chosen
    among the records by `sync.owners`. A value no record gives any more is kept, not cleared."""
    ordered = sorted(links, key=lambda link: NAME_PREFERENCE.index(link.system))
    found: dict[str, Any] = {}
    segment = next((link.segment for link in ordered if link.segment), None) or next(
        (segment_for_employees(link.employees) for link in ordered if link.employees is not None), None)
    tier = next((link.tier for link in ordered if link.tier), None)
    if segment is not None:
        found["segment"] = segment
    if tier is not None:
        found["tier"] = tier
    return found


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _record_of(link: Any) -> AccountRecord:
    """The vendor (or product) record a link (a `SourceLink` or a row of its columns) stands for, as identity
    resolution reads it."""
    return AccountRecord(system=link.system, external_id=link.external_id, name=link.name or "",
                         updated_at=link.source_updated_at or _EPOCH, domain=link.domain,
                         parent_external_id=link.parent_external_id, cross_refs=link.cross_refs or {})


def _known_links(links: Iterable[Any]) -> dict[tuple[str, str], KnownLink]:
    return {(link.system, link.external_id): KnownLink(link.account_id, link.manual, link.method, link.reason)
            for link in links if link.account_id is not None}


def known_customer(session: Session, group_id: str, name: str | None, domain: str | None
                   ) -> tuple[int, str, str] | None:
    """The existing account a new product account (the usage collector's ``groupId``) is, if the
    identity rules can tell now: ``(account id, method, reason)``, or None for a new customer.

    Only accounts that share the normalised domain or the name are read, with all their records, so
    the same refusals apply as in a full `apply_identity` (a subsidiary on its parent's domain stays
    apart); the next sync's full pass links what a name spelled differently hides here.
    """
    if not name and not domain:
        return None
    match = []
    if domain:
        match.append(Account.domain == domain)
    if name:
        match.append(func.lower(Account.name) == name.lower())
    candidates = select(Account.id).where(or_(*match), live_accounts())
    links = list(session.scalars(select(SourceLink).where(SourceLink.account_id.in_(candidates))))
    if not links:
        return None
    me = AccountRecord(system="product", external_id=group_id, name=name or "", updated_at=_EPOCH, domain=domain)
    for cluster in resolve([*(_record_of(link) for link in links), me], _known_links(links)):
        if ("product", group_id) in cluster.keys and cluster.account_id is not None:
            decision = cluster.decisions[("product", group_id)]
            return cluster.account_id, decision.method, decision.reason
    return None


IDENTITY_COLUMNS = ("id", "system", "external_id", "account_id", "manual", "method", "reason", "name", "domain",
                    "parent_external_id", "cross_refs", "source_updated_at", "segment", "tier", "employees")
"""What identity resolution reads of every link (`apply_identity`), as plain rows."""


def apply_identity(session: Session) -> IdentityCounts:
    """Run identity resolution over every vendor record and place each on a canonical account.

    Set-wise: the links are read as plain rows, new accounts inserted by one statement (their ids returned),
    links moved and accounts' parents and attributes updated by one statement each; the accounts concerned
    are marked for their panels (`store.panel_views`). Merges go through `_merge_accounts`."""
    counts = IdentityCounts()
    tenant_id = current_tenant(session)
    if tenant_id is None:
        raise ValueError("identity resolution runs in a tenant-scoped session (store.session(tenant_id))")
    # Product accounts (made by the usage collector) take part like any system's records.
    links = session.execute(select(*(getattr(SourceLink, c) for c in IDENTITY_COLUMNS))).all()
    if not links:
        return counts
    by_key = {(link.system, link.external_id): link for link in links}
    clusters = resolve([_record_of(link) for link in links], _known_links(links))
    # Pass 1: which account each cluster is; new accounts are created together, with one statement.
    chosen: list[int | None] = []
    created: list[dict[str, Any]] = []
    for cluster in clusters:
        preferred = sorted((by_key[k] for k in cluster.keys), key=lambda link: NAME_PREFERENCE.index(link.system))
        chosen.append(cluster.account_id)
        if cluster.account_id is not None:
            continue
        domain = next((d for d in (normalise_domain(m.domain) for m in preferred) if d), None)
        found = account_attributes(preferred)  # made with them: no UPDATE of every new account after (pass 2)
        created.append({"tenant_id": tenant_id, "name": preferred[0].name or preferred[0].external_id,
                        "domain": domain, "lifecycle_stage": "customer", "segment": found.get("segment"),
                        "tier": found.get("tier")})
    accounts_table: Any = Account.__table__
    if created:
        # One INSERT … SELECT of every new account, the rows sent as one JSON parameter (`store.bulk.insert_rows`:
        # the same SQL whatever their number, compiled once; a multi-row VALUES was compiled afresh for each
        # batch). RETURNING promises no order, so each id goes back by the values it was made with: new accounts
        # alike in name, domain, segment and tier are alike in every column, and either may take either cluster.
        made: dict[tuple[str, str | None, str | None, str | None], list[int]] = defaultdict(list)
        columns = ("tenant_id", "name", "domain", "lifecycle_stage", "segment", "tier")
        for new_id, name, domain, segment, tier in session.execute(
                insert_rows(session, accounts_table, columns, [[row[c] for c in columns] for row in created])
                .returning(accounts_table.c.id, accounts_table.c.name, accounts_table.c.domain,
                           accounts_table.c.segment, accounts_table.c.tier),
                execution_options=touches(())):
            made[(name, domain, segment, tier)].append(new_id)
        mark(session, (i for ids in made.values() for i in ids))  # as a flush of new accounts marks them
        fresh = iter(made[(row["name"], row["domain"], row["segment"], row["tier"])].pop() for row in created)
        chosen = [account_id if account_id is not None else next(fresh) for account_id in chosen]
    counts.accounts_created = len(created)
    # Pass 2: place every record, merge what new evidence joined, set parents.
    placed_on = {link.id: link.account_id for link in links}
    moves: list[dict[str, Any]] = []
    links_table: Any = SourceLink.__table__
    move = (update(links_table).where(links_table.c.id == bindparam("b_id"), links_table.c.tenant_id == tenant_id)
            .values(account_id=bindparam("b_account"), method=bindparam("b_method"), reason=bindparam("b_reason")))
    account_of: dict[int, int] = {}
    for index, cluster in enumerate(clusters):
        account_id = chosen[index]
        assert account_id is not None
        for merged in cluster.merged_account_ids:
            if moves:  # the merge moves every link of the merged account, those placed just now included
                session.execute(move, moves)
                moves = []
            _merge_accounts(session, into=account_id, merged=merged)
            placed_on = {link_id: account_id if placed == merged else placed for link_id, placed in placed_on.items()}
            counts.accounts_merged += 1
        for key in cluster.keys:
            link = by_key[key]
            decision = cluster.decisions[key]
            if placed_on[link.id] != account_id or link.method != decision.method:
                moves.append({"b_id": link.id, "b_account": account_id, "b_method": decision.method,
                              "b_reason": decision.reason})
                placed_on[link.id] = account_id
                counts.records_linked += 1
            counts.by_method[decision.method] = counts.by_method.get(decision.method, 0) + 1
        account_of[index] = account_id
    if moves:
        session.execute(move, moves)
    parents = parent_index(clusters)
    targets = sorted(set(account_of.values()))
    stored: dict[int, Any] = {}
    for start in range(0, len(targets), 500):
        stored.update({row.id: row for row in session.execute(select(
            Account.id, Account.parent_id, Account.segment, Account.tier).where(
                Account.id.in_(targets[start : start + 500])))})
    changes: list[dict[str, Any]] = []
    for index, account_id in account_of.items():
        placed = stored.get(account_id)
        if placed is None:
            continue
        found = account_attributes(by_key[key] for key in clusters[index].keys)
        values = {"parent_id": account_of.get(parents[index]) if index in parents else None,
                  "segment": found.get("segment", placed.segment), "tier": found.get("tier", placed.tier)}
        if (placed.parent_id, placed.segment, placed.tier) != (values["parent_id"], values["segment"], values["tier"]):
            changes.append({"b_id": account_id, **{f"b_{k}": v for k, v in values.items()}})
    if changes:
        session.execute(
            update(accounts_table).where(accounts_table.c.id == bindparam("b_id"),
                                         accounts_table.c.tenant_id == tenant_id)
            .values(parent_id=bindparam("b_parent_id"), segment=bindparam("b_segment"), tier=bindparam("b_tier"),
                    updated_at=utcnow()),
            changes, execution_options=touches(change["b_id"] for change in changes))
    session.flush()
    return counts


def _retire_orphans(session: Session, account_ids: Iterable[int]) -> None:
    """Accounts left with no record in any system (nor the product) are retired, their open alerts closed."""
    for account in session.scalars(select(Account).where(Account.id.in_(set(account_ids)))):
        if session.scalar(select(func.count()).select_from(SourceLink).where(SourceLink.account_id == account.id)):
            continue
        account.lifecycle_stage = "retired"
        _close_alerts(session, account.id, "the customer's last record was deleted in its system")


def _close_alerts(session: Session, account_id: int, why: str) -> None:
    session.execute(update(Alert).where(Alert.account_id == account_id, Alert.status == "open")
                    .values(status="resolved", resolved_at=dt.datetime.now(dt.UTC)),
                    execution_options={"synchronize_session": False, **touches([account_id])})
    log.info("account %s: open alerts resolved (%s)", account_id, why)


def _merge_accounts(session: Session, *, into: int, merged: int) -> None:
    """New evidence shows two accounts are one customer: move what is theirs onto one."""
    for model in (SourceLink, Contact, Subscription, Ticket, SurveyResponse, ProductUser):
        session.execute(update(model).where(model.account_id == merged).values(account_id=into),
                        execution_options={"synchronize_session": "fetch", **touches([into, merged])})
    session.execute(update(Account).where(Account.parent_id == merged).values(parent_id=into),
                    execution_options={"synchronize_session": "fetch", **touches(())})  # no panel shows parents
    old = session.get(Account, merged)
    if old is not None:
        old.lifecycle_stage = "merged"
        old.parent_id = into
    _close_alerts(session, merged, f"merged into account {into}")
    portfolio_keys.refresh(session, (into, merged))
