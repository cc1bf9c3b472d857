"""A sync right after a push: Canary's own writes are not changes (issue 18, part 5).

Salesforce leaves them out of the incremental query (``LastModifiedById`` is the integration user);
HubSpot and Zendesk return them, and `sync.own_writes` recognises them. Counted at the emulators.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from integrations.base import AccountRecord
from integrations.zendesk.records import OWNER_FIELD_KEY, owner_field_value
from sandbox.server import Sandbox
from store.db import Store
from store.models import SourceLink
from sync.own_writes import OwnWrites, comparable, is_own_write
from sync.push import HEALTH_FIELDS, _spec_version, push
from sync.runner import sync
from sync.writer import save_cursor
from tests.shared import WORLD_AS_OF, pinned_clock
from tests.sync.test_sandbox_pipeline import LIMITS, Clock, adapters, new_store, score_everything

NATIVE = {"salesforce": "Account", "zendesk": "organizations", "hubspot": "companies"}


def push_everything(box: Sandbox, store: Store, tenant: int) -> dict[str, int]:
    """Push every linked record's score to each system (fields created first); records pushed per system."""
    counts: dict[str, int] = {}
    for system, adapter in adapters(box).items():
        adapter.ensure_fields(HEALTH_FIELDS)
        with store.session(tenant) as s:
            save_cursor(s, system, "fields", _spec_version())
        result = push(store, tenant, system, adapter)
        assert result.pushed > 0 and not result.failed, (system, result.as_dict())
        counts[system] = result.pushed
    return counts


@pytest.fixture
def pushed(tmp_path: Path) -> Iterator[tuple[Sandbox, Clock, Store, int, dict[str, int]]]:
    """A full sync of 40 companies, every linked record scored and pushed; the clock then moves two minutes
    on (Zendesk's exports show the last minute's writes from then, HubSpot's search has settled)."""
    clock = Clock()
    with pinned_clock(), Sandbox(accounts=40, seed=21, as_of=WORLD_AS_OF, clock=clock, **LIMITS) as box:
        store, tenant = new_store(tmp_path / "own.db")
        first = sync(store, tenant, adapters(box))
        assert all(s.stopped is None for s in first.systems.values()), first.as_dict()
        score_everything(store, tenant, 42.0, "average")
        clock.advance(5)
        counts = push_everything(box, store, tenant)
        clock.advance(120)
        yield box, clock, store, tenant, counts


LIST_CALLS = {"salesforce": ("/services/data/v<version>/queryAll",),
              "zendesk": ("/api/v2/incremental/organizations.json", "/api/v2/incremental/users/cursor.json",
                          "/api/v2/incremental/tickets/cursor.json", "/api/v2/satisfaction_ratings.json"),
              "hubspot": ("/crm/v3/objects/<object_type>/search",)}
"""The calls that read an object's changes (Salesforce's queryMore would be a page more: none here)."""
LOOKUPS = {"salesforce": 0, "zendesk": 0, "hubspot": 0}
"""What a run spends besides: nothing. The records read back are told as Canary's own on the raw page, before
the owners they name (Zendesk ``users/show_many``; HubSpot the owners and archived owners lists) or a searched
company's parent (HubSpot's v4 association batch read) would be looked up (`sync.own_writes.OwnWrites`)."""


def test_a_sync_right_after_a_push_spends_one_call_per_object_and_changes_nothing(
        pushed: tuple[Sandbox, Clock, Store, int, dict[str, int]]) -> None:
    box, _clock, store, tenant, counts = pushed
    live = adapters(box)
    for emulator in box.emulators.values():
        emulator.stats.reset()
    summary = sync(store, tenant, live)
    for system, adapter in live.items():
        stats = box.emulators[system].stats
        listed = sum(stats.calls("GET" if system != "hubspot" else "POST", e) for e in LIST_CALLS[system])
        assert listed == len(adapter.objects), (system, stats.snapshot())  # one per object, no second page
        assert stats.calls() == summary.systems[system].calls == listed + LOOKUPS[system], (system, stats.snapshot())
        objects = summary.systems[system].objects
        assert sum(o.changed for o in objects.values()) == 0, (system, summary.as_dict())
        accounts = objects.get("accounts")
        if system == "salesforce":  # left out by the query: nothing comes back
            assert accounts is None or accounts.pulled == 0
        else:  # read back, recognised as Canary's own, not a change
            assert accounts is not None and accounts.pulled == accounts.skipped == counts[system], system


def test_a_persons_edit_after_the_push_is_a_change(pushed: tuple[Sandbox, Clock, Store, int, dict[str, int]]) -> None:
    box, clock, store, tenant, _counts = pushed
    sync(store, tenant, adapters(box))  # the push's writes are behind the cursors
    edited: dict[str, str] = {}
    for system, native in NATIVE.items():
        emulator = box.emulators[system]
        row = emulator.records(native)[0]
        record_id = row["Id"] if system == "salesforce" else str(row["id"])
        renamed = {"salesforce": {"Name": "Renamed Inc"}, "zendesk": {"name": "Renamed Inc"},
                   "hubspot": {"name": "Renamed Inc"}}[system]
        emulator.update(native, record_id if system != "zendesk" else int(record_id), renamed)
        edited[system] = record_id
    clock.advance(120)
    summary = sync(store, tenant, adapters(box))
    with store.session(tenant) as s:
        names = {(system, ext): name for system, ext, name in s.execute(
            select(SourceLink.system, SourceLink.external_id, SourceLink.name))}
    for system, record_id in edited.items():
        assert summary.systems[system].objects["accounts"].changed == 1, (system, summary.as_dict())
        assert names[(system, record_id)] == "Renamed Inc"


def test_a_persons_edit_of_canarys_own_field_is_a_change(
        pushed: tuple[Sandbox, Clock, Store, int, dict[str, int]]) -> None:
    """HubSpot and Zendesk: the record holds a score Canary did not write, so it is not Canary's write."""
    box, clock, store, tenant, _counts = pushed
    sync(store, tenant, adapters(box))
    hubspot_id = str(box.emulators["hubspot"].records("companies")[0]["id"])
    box.emulators["hubspot"].update("companies", hubspot_id, {"canary_health_score": "99"})
    zendesk_id = int(box.emulators["zendesk"].records("organizations")[0]["id"])
    box.emulators["zendesk"].update("organizations", zendesk_id, {"organization_fields": {"canary_health_score": 99}})
    clock.advance(120)
    summary = sync(store, tenant, adapters(box), objects=("accounts",))
    assert summary.systems["hubspot"].objects["accounts"].changed == 1
    assert summary.systems["zendesk"].objects["accounts"].changed == 1


ASSOCIATION_READ = ("POST", "/crm/v4/associations/<from_type>/<to_type>/batch/read")


def test_a_persons_edit_before_the_push_is_a_change_and_only_it_costs_lookups(tmp_path: Path) -> None:
    """HubSpot and Zendesk: a record renamed between the last pull and the push comes back with the push's
    stamp and Canary's values, but a name the store does not have: a change, looked up and stored; the other
    records read back are Canary's own and cost no lookup."""
    clock = Clock()
    with pinned_clock(), Sandbox(accounts=40, seed=21, as_of=WORLD_AS_OF, clock=clock, **LIMITS) as box:
        store, tenant = new_store(tmp_path / "own.db")
        sync(store, tenant, adapters(box))
        score_everything(store, tenant, 42.0, "average")
        clock.advance(5)
        edited: dict[str, str] = {}
        owner_named = owner_field_value(box.emulators["zendesk"].records("organizations")[0], OWNER_FIELD_KEY)[0]
        for system in ("hubspot", "zendesk"):
            emulator = box.emulators[system]
            record_id = str(emulator.records(NATIVE[system])[0]["id"])
            emulator.update(NATIVE[system], record_id if system == "hubspot" else int(record_id),
                            {"name": "Renamed Before The Push"})
            edited[system] = record_id
        clock.advance(5)
        counts = push_everything(box, store, tenant)
        clock.advance(120)
        for emulator in box.emulators.values():
            emulator.stats.reset()
        summary = sync(store, tenant, adapters(box))
        with store.session(tenant) as s:
            names = {(system, ext): name for system, ext, name in s.execute(
                select(SourceLink.system, SourceLink.external_id, SourceLink.name))}
        for system, record_id in edited.items():
            accounts = summary.systems[system].objects["accounts"]
            assert (accounts.pulled, accounts.changed, accounts.skipped) == (counts[system], 1, counts[system] - 1)
            assert names[(system, record_id)] == "Renamed Before The Push"
        hubspot = box.emulators["hubspot"].stats
        assert hubspot.calls(*ASSOCIATION_READ) == 1, hubspot.snapshot()  # the renamed company's parent alone
        zendesk = box.emulators["zendesk"].stats
        assert zendesk.calls("GET", "/api/v2/users/show_many.json") == (1 if owner_named else 0), zendesk.snapshot()


def test_own_writes_told_before_lookups_follow_the_one_rule() -> None:
    """`OwnWrites.recognised`: the stored copy and the ledger against a record mapped before any lookup."""
    stamp = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
    stored = {"name": "Acme", "domain": "acme.com", "parent_external_id": "7", "cross_refs": {}, "segment": None,
              "source_updated_at": stamp, "owner": "ann@acme.test", "owner_ref": "11", "owner_active": True,
              "tier": None, "employees": 40}
    written = {"score": "42", "band": "average"}
    health = {"score": 42, "band": "average"}

    def record(**changes: Any) -> AccountRecord:
        base = AccountRecord(system="hubspot", external_id="1", name="Acme", domain="acme.com",
                             parent_external_id="7", updated_at=stamp + dt.timedelta(seconds=5), employees=40,
                             owner="11", owner_ref="11", health=health)
        return replace(base, **changes)

    def own() -> OwnWrites:
        return OwnWrites({"1": (stored, written)})

    assert own().recognised(record()) is True  # owner named by its id: compared by that id alone
    assert own().recognised(record(parent_external_id=None), ("parent_external_id",)) is True  # to be looked up
    assert own().recognised(record(parent_external_id=None)) is False  # the page says: no parent any more
    assert own().recognised(record(owner_ref="12", owner="12")) is False  # another owner
    assert own().recognised(record(owner_ref=None, owner="bob@acme.test")) is False  # named by e-mail
    assert own().recognised(record(name="Acme Corp")) is False  # a person's edit
    assert own().recognised(record(health={"score": 41, "band": "average"})) is False  # not what Canary wrote
    assert own().recognised(record(health=None)) is False  # Canary's fields not read
    assert own().recognised(record(external_id="2")) is False  # Canary never wrote to it
    assert own().recognised(record(updated_at=stamp)) is False  # nothing changed at all: not skipped here
    check = own()
    assert check.recognised(record(name="Acme Corp")) is False
    assert check.recognised(record()) is False and len(check) == 0  # delivered as a change: judged by the writer


@pytest.mark.parametrize(("ours", "theirs"), [
    ("42", 42), ("42", "42.0"), ("-0.5", -0.5), ("1.5", Decimal("1.50")), ("average", "average"),
    ("2026-11-20T10:00:00Z", "2026-11-20T10:00:00.000Z"), ("2026-11-20T10:00:00Z", "2026-11-20T11:00:00+01:00"),
    (None, ""), ("Usage fell 30 %: 3 tickets", "Usage fell 30 %: 3 tickets"),
])  # fmt: skip
def test_values_as_written_and_as_the_vendor_answers_compare_equal(ours: Any, theirs: Any) -> None:
    assert comparable(ours) == comparable(theirs)


@pytest.mark.parametrize(("ours", "theirs"), [
    ("42", 43), ("42", None), ("average", "good"), ("2026-11-20T10:00:00Z", "2026-11-20T10:00:01Z"),
    ("1.5", "1.51"),
])  # fmt: skip
def test_different_values_stay_different(ours: Any, theirs: Any) -> None:
    assert comparable(ours) != comparable(theirs)


def test_the_rule_needs_only_the_stamp_changed_and_every_written_value_held() -> None:
    written = {"score": "42", "band": "average"}
    held = {"score": 42, "band": "average", "trend": None}
    stamp = {"source_updated_at"}
    assert is_own_write(stamp, held, written) is True
    assert is_own_write(stamp | {"name"}, held, written) is False  # a person changed the name too
    assert is_own_write(stamp, {**held, "score": 41}, written) is False  # not what Canary wrote
    assert is_own_write(stamp, None, written) is False  # the pull did not read Canary's fields
    assert is_own_write(stamp, held, {}) is False  # Canary never wrote to it
    assert is_own_write(set(), held, written) is False  # nothing changed at all: nothing to skip
