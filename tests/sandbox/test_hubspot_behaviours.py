"""Real-portal behaviours of the HubSpot emulator through the real ``hubspot-api-client``: search
indexing lag (an option, off by default), archived records, merged companies."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from hubspot.crm.companies import ApiException, PublicMergeInput, SimplePublicObjectInput

from tests.sandbox import test_hubspot as hs
from tests.sandbox.test_hubspot import T0, Portal, _ms, _search

loopback = hs.loopback
make_portal = hs.make_portal
MakePortal = Callable[..., Portal]
SINCE_DAY_3 = [{"property_name": "hs_lastmodifieddate", "operator": "GTE", "value": _ms(3 * 24 * 60)}]


def rename(portal: Portal, company_id: str, name: str) -> None:
    portal.client.crm.companies.basic_api.update(company_id, SimplePublicObjectInput(properties={"name": name}))


@pytest.mark.parametrize("lag", [5.0, 0.0])
def test_a_write_reaches_search_only_after_the_lag(make_portal: MakePortal, lag: float) -> None:
    portal = make_portal(search_lag_seconds=lag)
    portal.clock[0] = T0 + timedelta(days=3)
    rename(portal, "1001", "Renamed Co")
    assert portal.client.crm.companies.basic_api.get_by_id("1001").properties["name"] == "Renamed Co"
    seen = _search(portal.client, SINCE_DAY_3)
    by_name = _search(portal.client, [{"property_name": "name", "operator": "EQ", "value": "Company 1"}])
    if lag:
        assert seen.results == [] and [r.id for r in by_name.results] == ["1001"]  # the old version still
        portal.clock[0] += timedelta(seconds=lag)
        seen = _search(portal.client, SINCE_DAY_3)
    assert [(r.id, r.properties["name"]) for r in seen.results] == [("1001", "Renamed Co")]


def test_freshly_indexed_results_come_out_of_order_then_settle(make_portal: MakePortal) -> None:
    portal = make_portal(search_lag_seconds=5)
    ids = [str(1001 + i) for i in range(10)]
    portal.clock[0] = T0 + timedelta(days=3)
    for company_id in ids:
        portal.clock[0] += timedelta(milliseconds=100)
        rename(portal, company_id, f"New {company_id}")
    portal.clock[0] += timedelta(seconds=5)
    fresh = [r.id for r in _search(portal.client, SINCE_DAY_3).results]
    assert sorted(fresh) == ids and fresh != ids
    again = [r.id for r in _search(portal.client, SINCE_DAY_3).results]
    assert again == fresh  # the same answer for the same moment
    portal.clock[0] += timedelta(seconds=5)
    assert [r.id for r in _search(portal.client, SINCE_DAY_3).results] == ids


def test_archived_records_answer_404_and_list_only_with_archived(make_portal: MakePortal) -> None:
    portal = make_portal()
    assert portal.emulator.delete("companies", ["1003", "404404"]) == ["1003"]
    api = portal.client.crm.companies.basic_api
    with pytest.raises(ApiException) as missing:
        api.get_by_id("1003")
    assert missing.value.status == 404
    assert "1003" not in {c.id for c in api.get_page(limit=100).results}
    portal.clock[0] += timedelta(seconds=portal.emulator.search_lag_seconds)  # search drops it after the lag
    archived = api.get_page(limit=100, archived=True).results
    assert [(c.id, c.archived) for c in archived] == [("1003", True)]
    assert api.get_by_id("1003", archived=True).archived_at is not None
    everyone = _search(portal.client, [{"property_name": "hs_object_id", "operator": "HAS_PROPERTY"}])
    assert "1003" not in {r.id for r in everyone.results}
    assert portal.emulator.deleted_ids("companies") == ["1003"]


def test_merged_company_resolves_to_the_primary(make_portal: MakePortal) -> None:
    portal = make_portal()
    api = portal.client.crm.companies.basic_api
    merged = api.merge(public_merge_input=PublicMergeInput(primary_object_id="1001", object_id_to_merge="1002"))
    assert merged.id == "1001" and merged.properties["hs_merged_object_ids"] == "1002"
    resolved = api.get_by_id("1002", properties=["name", "hs_merged_object_ids"])
    assert (resolved.id, resolved.properties["hs_merged_object_ids"]) == ("1001", "1002")
    assert "1002" not in {c.id for c in api.get_page(limit=100).results}
    assert set(portal.emulator.associations("companies", "1001", "contacts")) == {"50010", "50011", "50020", "50021"}
    assert portal.emulator.merged_ids("companies") == {"1002": "1001"}
    contacts = {r["id"]: r["properties"].get("associatedcompanyid") for r in portal.emulator.records("contacts")}
    assert (contacts["50020"], contacts["50021"]) == ("1001", "1001")  # HubSpot recalculates the primary company
    assert portal.emulator.deleted_ids("companies") == []
    with pytest.raises(ApiException) as twice:
        api.merge(public_merge_input=PublicMergeInput(primary_object_id="1001", object_id_to_merge="1001"))
    assert twice.value.status == 404
    portal.emulator.delete("companies", ["1001"])
    contacts = {r["id"]: r["properties"].get("associatedcompanyid") for r in portal.emulator.records("contacts")}
    assert [contacts[i] for i in ("50010", "50011", "50020", "50021")] == [None] * 4
