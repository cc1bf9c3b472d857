"""A first or full pull writes every system's contacts once (`sync.writer.ContactMerge`): the same rows, cursors and
counts as the system-after-system writes, which incremental pulls keep (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import random
import threading
from typing import Any

import pytest
from sqlalchemy import select

from integrations.base import AccountRecord, ContactRecord, Removal
from store.db import Store
from store.models import Account, Contact, SyncCursor
from store.tenants import create_tenant
from sync import runner
from sync.runner import SyncSummary, sync
from tests.shared import WORLD_NOW
from tests.sync.memory_adapter import MemoryAdapter
from tests.sync.test_page_writes import statements

SYSTEMS = ("salesforce", "hubspot", "zendesk")
ROLES = ("user", "admin", "champion", "executive_sponsor")


def _tenant(store: Store, slug: str) -> int:
    with store.session() as s:
        return create_tenant(s, slug, slug.title())[0].id


def _accounts(system: str) -> list[AccountRecord]:
    return [AccountRecord(system, f"{system[:2]}-a{i}", f"Customer {i}", WORLD_NOW - dt.timedelta(days=9),
                          domain=f"c{i}.example.org") for i in range(6)]


def _contacts(system: str, seed: int, *, people: int = 40, repeats: bool = True) -> list[ContactRecord]:
    """The same people in every system, most of them in more than one: names, titles, roles, accounts and last
    activity disagreeing between systems; e-mails spelled with other cases and spaces; records without an
    e-mail; with ``repeats``, a person twice in one system."""
    rng = random.Random(f"{system}-{seed}")
    out: list[ContactRecord] = []
    for person in range(people):
        if rng.random() < 0.25:
            continue  # not in this system
        email = f"person{person}@c{person % 6}.example.org"
        email = rng.choice((email, email.upper(), f"  {email} ", email.title()))
        times = 2 if repeats and rng.random() < 0.1 else 1
        for n in range(times):
            out.append(ContactRecord(
                system, f"{system[:2]}-p{person}-{n}", email,
                WORLD_NOW - dt.timedelta(hours=rng.randrange(200)),
                account_external_id=rng.choice((f"{system[:2]}-a{person % 6}", f"{system[:2]}-a{(person + 1) % 6}",
                                                None, f"{system[:2]}-unknown")),
                name=rng.choice((None, f"Person {person}", f"P. {person}")),
                title=rng.choice((None, "CTO", "Head of Ops", "")),
                role=rng.choice(ROLES),
                last_active_at=rng.choice((None, WORLD_NOW - dt.timedelta(days=rng.randrange(60),
                                                                          microseconds=rng.randrange(10**6))))))
    out.append(ContactRecord(system, f"{system[:2]}-noemail", None, WORLD_NOW))
    out.append(ContactRecord(system, f"{system[:2]}-bad", "not-an-address", WORLD_NOW))
    return out


def _adapters(seed: int, page_size: int, **kw: Any) -> dict[str, MemoryAdapter]:
    return {system: MemoryAdapter(system, {"accounts": _accounts(system), "contacts": _contacts(system, seed, **kw)},
                                  page_size=page_size, objects=("accounts", "contacts"))
            for system in SYSTEMS}


def _rows(store: Store, tenant: int) -> list[tuple[Any, ...]]:
    """Every contact of the workspace as stored, its account by name (ids differ between workspaces)."""
    with store.session(tenant) as s:
        names = dict(s.execute(select(Account.id, Account.name)).all())
        return [(email, names.get(account), name, title, role, source_ids, last)
                for email, account, name, title, role, source_ids, last in s.execute(
                    select(Contact.email, Contact.account_id, Contact.name, Contact.title, Contact.role,
                           Contact.source_ids, Contact.last_active_at).order_by(Contact.email))]


def _cursors(store: Store, tenant: int) -> dict[tuple[str, str], str]:
    with store.session(tenant) as s:
        return {(c.system, c.object): c.value for c in s.scalars(select(SyncCursor))}


def _counts(summary: SyncSummary) -> dict[str, Any]:
    return {system: {o: vars(v) for o, v in s.objects.items()} | {"calls": s.calls, "stopped": s.stopped}
            for system, s in summary.systems.items()}


def _pull(store: Store, tenant: int, adapters: dict[str, MemoryAdapter], merged: bool,
          monkeypatch: pytest.MonkeyPatch, **kw: Any) -> SyncSummary:
    monkeypatch.setattr(runner, "MERGED_CONTACTS", merged)
    return sync(store, tenant, adapters, **kw)


@pytest.mark.parametrize("page_size", [100, 3])
def test_a_first_pull_writes_the_same_contacts_as_system_after_system(
        store: Store, monkeypatch: pytest.MonkeyPatch, page_size: int) -> None:
    # One page per system (whole pages: a person twice in one system counts as the passes count it), or pages of
    # three grouped however the reader happens to run ahead (no person twice in one system, so the counts do not
    # depend on the grouping).
    repeats = page_size == 100
    one, merged = _tenant(store, "passes"), _tenant(store, "merged")
    before = _pull(store, one, _adapters(1, page_size, repeats=repeats), False, monkeypatch)
    with statements(store) as seen:
        after = _pull(store, merged, _adapters(1, page_size, repeats=repeats), True, monkeypatch)
    rows = _rows(store, one)
    assert _rows(store, merged) == rows
    assert _cursors(store, merged) == _cursors(store, one)
    assert _counts(after) == _counts(before)
    assert len([s for s in seen if s.startswith("INSERT INTO CONTACTS")]) == 1  # every system's rows at once
    # Not a trivial match: people named by all three systems, with their ids from each, and counted changed in each.
    assert len(rows) == 40 and sum(len(r[5]) == 3 for r in rows) >= 10
    assert all(after.systems[s].objects["contacts"].changed >= 20 for s in SYSTEMS)
    assert sum(r[1] is not None for r in rows) >= 30 and {r[4] for r in rows} >= {"champion", "executive_sponsor"}


def test_a_full_pull_over_stored_contacts_with_removals_matches_the_passes(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--full`` over a workspace pulled before: the stored rows are read, not assumed new; a page with removals
    stores what the merge holds first, then is written as usual; the rows after it are merged again."""
    results = []
    for slug, merged in (("passes", False), ("merged", True)):
        tenant = _tenant(store, slug)
        _pull(store, tenant, _adapters(1, 100), merged, monkeypatch)
        again = _adapters(2, 100)  # the same people, other values
        again["hubspot"].removed["contacts"] = [Removal("hu-p3-0"), Removal("hu-p5-0"), Removal("hu-p8-0")]
        summary = _pull(store, tenant, again, merged, monkeypatch, full=True)
        results.append((_rows(store, tenant), _cursors(store, tenant), _counts(summary)))
    assert results[1] == results[0]
    rows = results[0][0]
    assert sum(r[5].get("hubspot", "").endswith("-1") for r in rows) >= 1  # the second pull's ids
    assert results[0][2]["hubspot"]["contacts"]["removed"] == 3


def test_an_incremental_pull_writes_each_group_as_it_comes(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = _tenant(store, "incremental")
    adapters = _adapters(1, 100)
    sync(store, tenant, adapters)
    made: list[object] = []
    merge = runner.ContactMerge
    monkeypatch.setattr(runner, "ContactMerge", lambda: made.append(1) or merge())
    for system, adapter in adapters.items():
        adapter.data["contacts"] = [*adapter.data["contacts"], ContactRecord(
            system, f"{system[:2]}-late", "late@c1.example.org", WORLD_NOW + dt.timedelta(hours=1), name="Late")]
    summary = sync(store, tenant, adapters)
    assert made == []
    assert [summary.systems[s].objects["contacts"].changed for s in SYSTEMS] == [1, 1, 1]
    assert next(r for r in _rows(store, tenant) if r[0] == "late@c1.example.org")[5] == {
        "salesforce": "sa-late", "hubspot": "hu-late", "zendesk": "ze-late"}


def test_a_refused_token_mid_contacts_stores_what_was_decided_and_resumes_from_its_cursor(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    results = []
    for slug, merged in (("passes", False), ("merged", True)):
        tenant = _tenant(store, slug)
        adapters = _adapters(1, 3, repeats=False)
        adapters["hubspot"].refuse_after_calls = 2 + 4  # the two pages of accounts, then four of contacts
        fresh = _adapters(1, 3, repeats=False)["hubspot"]
        summary = _pull(store, tenant, adapters, merged, monkeypatch, reconnect=lambda _system, f=fresh: f)
        results.append((_rows(store, tenant), _cursors(store, tenant), _counts(summary), fresh.calls))
    assert results[1] == results[0]
    assert results[0][2]["hubspot"]["stopped"] is None
    pulled = results[0][2]["hubspot"]["contacts"]["pulled"]
    assert pulled == len(_contacts("hubspot", 1, repeats=False))  # none twice, none missed


@pytest.mark.parametrize("ahead", [True, False])
def test_the_next_objects_readers_fetch_while_identity_is_resolved(
        store: Store, monkeypatch: pytest.MonkeyPatch, ahead: bool) -> None:
    """`runner.PREFETCH_OBJECTS`: every system's contacts are being fetched by the time identity runs (without it,
    not yet); the stored rows, cursors and counts are the same either way."""
    monkeypatch.setattr(runner, "PREFETCH_OBJECTS", ahead)
    adapters = _adapters(1, 3)
    fetching = {system: threading.Event() for system in SYSTEMS}
    for system, adapter in adapters.items():
        def pull(obj: Any, cursor: str | None, inner: Any = adapter.pull, started: Any = fetching[system]) -> Any:
            for page in inner(obj, cursor):
                if obj == "contacts":
                    started.set()
                yield page
        adapter.pull = pull  # type: ignore[method-assign]
    seen: list[bool] = []
    identity = runner.apply_identity

    def apply_identity(session: Any) -> Any:
        seen.append(all(event.wait(10 if ahead else 0.3) for event in fetching.values()))
        return identity(session)

    monkeypatch.setattr(runner, "apply_identity", apply_identity)
    tenant = _tenant(store, "ahead")
    summary = sync(store, tenant, adapters)
    assert seen == [ahead]
    monkeypatch.setattr(runner, "PREFETCH_OBJECTS", not ahead)
    monkeypatch.setattr(runner, "apply_identity", identity)
    other = _tenant(store, "other")
    again = sync(store, other, _adapters(1, 3))
    assert (_rows(store, tenant), _cursors(store, tenant), _counts(summary)) == (
        _rows(store, other), _cursors(store, other), _counts(again))


def test_a_failure_after_the_next_objects_readers_started_stops_them(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    start = runner._open

    def _open(*args: Any) -> Any:
        opened.append(args[4])
        return start(*args)

    def apply_identity(session: Any) -> Any:
        raise RuntimeError("identity failed")

    monkeypatch.setattr(runner, "_open", _open)
    monkeypatch.setattr(runner, "apply_identity", apply_identity)
    with pytest.raises(RuntimeError, match="identity failed"):
        sync(store, _tenant(store, "fails"), _adapters(1, 3))
    assert opened == ["accounts"] * 3 + ["contacts"] * 3  # the contacts' readers had started
    assert not [t for t in threading.enumerate() if t.name == "sync-read-ahead"]  # and were stopped
