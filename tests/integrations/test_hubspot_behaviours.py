"""`HubSpotAdapter` against real-portal behaviours of the emulator, through hubspot-api-client:
search that indexes late and out of order, archived (deleted) records, merged companies."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from integrations.base import AccountRecord, ObjectName, Page, Removal
from integrations.hubspot import HubSpotAdapter
from integrations.hubspot.adapter import LOOK_BACK_SECONDS, OBJECT_TYPES
from tests.integrations.test_hubspot_adapter import OBJECTS, SEARCH, Portal, drain, ids_of, loopback, make_portal

__all__ = ["loopback", "make_portal"]  # fixtures shared with the adapter tests

MakePortal = Callable[..., Portal]
LAG = 5.0


def lagging(make: MakePortal, n: int = 30, **options: Any) -> tuple[Portal, HubSpotAdapter]:
    """A portal whose search trails writes by ``LAG`` seconds, and an adapter on the portal's clock."""
    portal = make(n, search_lag_seconds=LAG)
    options.setdefault("wall_clock", lambda: portal.clock[0].timestamp())
    return portal, portal.adapter(**options)


def removed_of(pages: list[Page]) -> list[Removal]:
    return [r for p in pages for r in p.removed]


def _writes(portal: Portal, rng: random.Random, ids: list[str], round_no: int) -> None:
    """Fifteen renames 50-700 ms apart, then a sync moment 1-6 s later: some are not yet searchable."""
    for k in range(15):
        portal.advance(milliseconds=rng.randint(50, 700))
        company = rng.choice(ids)
        portal.emulator.update("companies", company, {"name": f"Round {round_no}.{k} of {company}"})
    portal.advance(milliseconds=rng.randint(1_000, 6_000))


def test_with_search_lag_every_change_arrives_once(make_portal: MakePortal) -> None:
    portal, adapter = lagging(make_portal, 120, search_limit=10)
    cursor = drain(adapter, "accounts")[-1].cursor
    rng = random.Random(12)
    ids = sorted(portal.ids("companies"), key=int)
    delivered: list[tuple[str, datetime]] = []
    names: dict[str, str] = {}
    for round_no in range(8):
        _writes(portal, rng, ids, round_no)
        for page in adapter.pull("accounts", cursor):
            records = [r for r in page.records if isinstance(r, AccountRecord)]
            delivered.extend((r.external_id, r.updated_at) for r in records)
            names.update({r.external_id: r.name for r in records})
            cursor = page.cursor
    portal.advance(seconds=2 * LAG)
    pages = drain(adapter, "accounts", cursor)
    delivered.extend((r.external_id, r.updated_at) for p in pages for r in p.records)
    names.update({r.external_id: r.name for p in pages for r in p.records if isinstance(r, AccountRecord)})
    renamed = {r["id"]: r["properties"]["name"] for r in portal.emulator.records("companies")
               if r["properties"]["name"].startswith("Round")}  # fmt: skip
    assert len(renamed) >= 60
    assert {i: names.get(i) for i in renamed} == renamed  # every last change arrived
    assert len(delivered) == len(set(delivered))  # and none twice
    cursor = pages[-1].cursor if pages else cursor
    portal.advance(seconds=LOOK_BACK_SECONDS)
    settling = drain(adapter, "accounts", cursor)  # the window re-read once more, now settled
    assert ids_of(settling) == [] and removed_of(settling) == []
    counted = drain(adapter, "accounts", settling[-1].cursor)  # one newest-first page holds what is left
    assert ids_of(counted) == [] and removed_of(counted) == []
    before, searches = adapter.calls, portal.calls("POST", SEARCH)
    assert drain(adapter, "accounts", counted[-1].cursor if counted else settling[-1].cursor) == []
    assert adapter.calls - before == portal.calls("POST", SEARCH) - searches == 1


@pytest.mark.parametrize("obj", OBJECTS)
def test_deleted_records_come_back_as_removals(make_portal: MakePortal, obj: ObjectName) -> None:
    portal, adapter = lagging(make_portal)
    cursor = drain(adapter, obj)[-1].cursor
    object_type = OBJECT_TYPES[obj]
    victims = sorted(portal.ids(object_type), key=int)[1:3]
    portal.advance(minutes=1)
    assert portal.emulator.delete(object_type, victims) == victims
    portal.advance(seconds=LAG)
    before = adapter.calls
    pages = drain(adapter, obj, cursor)
    assert ids_of(pages) == []
    assert removed_of(pages) == [Removal(v) for v in victims]
    # one search (its count fell), one page of archived records; companies: one batch read telling
    # a deleted company from a merged one
    assert adapter.calls - before == (3 if obj == "accounts" else 2)
    before = adapter.calls
    assert drain(adapter, obj, pages[-1].cursor) == []  # reported once; quiet again
    assert adapter.calls - before == 1


def test_a_deletion_search_has_not_indexed_yet_is_reported_by_a_later_pull(make_portal: MakePortal) -> None:
    portal, adapter = lagging(make_portal)
    cursor = drain(adapter, "tickets")[-1].cursor
    portal.advance(minutes=1)
    portal.emulator.delete("tickets", ["90004"])
    assert drain(adapter, "tickets", cursor) == []  # search still counts it
    portal.advance(seconds=LAG)
    pages = drain(adapter, "tickets", cursor)
    assert removed_of(pages) == [Removal("90004")]


def test_a_merged_company_comes_back_merged_into_the_primary(make_portal: MakePortal) -> None:
    portal, adapter = lagging(make_portal)
    cursor = drain(adapter, "accounts")[-1].cursor
    portal.advance(minutes=1)
    assert portal.emulator.merge("companies", "1003", "1004") == "1003"
    portal.advance(seconds=LAG)
    before = adapter.calls
    pages = drain(adapter, "accounts", cursor)
    assert ids_of(pages) == ["1003"]  # the primary, changed by the merge
    assert removed_of(pages) == [Removal("1004", merged_into="1003")]
    # one search, the primary's company associations, one page of archived records (no batch read:
    # the primary's hs_merged_object_ids explains the archived id)
    assert adapter.calls - before == 3
    assert portal.calls("POST", "/crm/v3/objects/<object_type>/batch/read") == 0
    assert drain(adapter, "accounts", pages[-1].cursor) == []


def test_a_merge_is_resolved_when_the_primary_was_read_by_an_interrupted_pull(make_portal: MakePortal) -> None:
    portal, adapter = lagging(make_portal)
    cursor = drain(adapter, "accounts")[-1].cursor
    portal.advance(minutes=1)
    portal.emulator.merge("companies", "1005", "1006")
    portal.emulator.delete("companies", ["1007"])
    portal.advance(seconds=LAG)
    stream: Any = adapter.pull("accounts", cursor)
    first = next(stream)
    stream.close()  # killed after storing the primary's page
    assert ids_of([first]) == ["1005"] and removed_of([first]) == []
    before = adapter.calls
    pages = drain(adapter, "accounts", first.cursor)
    assert ids_of(pages) == []  # the primary is not delivered again
    assert removed_of(pages) == [Removal("1006", merged_into="1005"), Removal("1007")]
    # one search, one page of archived records, one batch read resolving the two archived companies
    assert adapter.calls - before == 3
    assert portal.calls("POST", "/crm/v3/objects/<object_type>/batch/read") == 1


def test_a_cursor_from_before_the_look_back_is_read_and_catches_up_on_removals(make_portal: MakePortal) -> None:
    portal, adapter = lagging(make_portal)
    drain(adapter, "deals")
    newest = max(r.updated_at for p in drain(portal.adapter(), "deals") for r in p.records)
    old = json.dumps({"phase": "forward", "ts": int(newest.timestamp() * 1000), "v": 1})
    portal.emulator.delete("deals", ["70002"])
    portal.advance(seconds=LAG)
    pages = drain(adapter, "deals", old)
    assert ids_of(pages) == ["70000", "70001", "70003", "70004", "70005", "70006", "70007", "70008", "70009"]
    assert removed_of(pages) == [Removal("70002")]  # the count was unknown: the archived list is read
