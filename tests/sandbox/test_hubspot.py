"""The HubSpot emulator driven by the real ``hubspot-api-client`` over loopback HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.associations.v4 import (
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.companies import (
    BatchInputSimplePublicObjectBatchInput,
    BatchReadInputSimplePublicObjectId,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectId,
)
from hubspot.crm.companies.exceptions import ApiException
from hubspot.crm.properties import PropertyCreate, PropertyGroupCreate
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException

from sandbox.core import LoopbackServer
from sandbox.hubspot import HubSpotEmulator
from sandbox.world import Deal, Person, Presence, World
from tests.sandbox.worlds import company, ticket

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
BIG = 10_050  # more companies than one search query may return
SMALL = 30


def make_world(n_companies: int) -> World:
    """Companies share hs_lastmodifieddate in blocks of 100; a few have people, deals, tickets."""
    companies, people, deals, tickets = [], [], [], []
    for i in range(n_companies):
        refs = {}
        if i % 2 == 0:
            refs["salesforce"] = f"001{i:015d}"
        if i % 3 == 0:
            refs["zendesk"] = str(360_000 + i)
        companies.append(
            company(
                key=f"C{i:06d}",
                name=f"Company {i}",
                domain=f"company{i}.example",
                industry="Software",
                employees=10 + i,
                tier="growth",
                csm_owner="csm@canary.example",
                parent_key="C000000" if i in (1, 2) else None,
                presence={
                    "hubspot": Presence(
                        external_id=str(1_000 + i),
                        cross_refs=refs,
                        created_at=T0,
                        updated_at=T0 + timedelta(minutes=i // 100),
                    )
                },
            )
        )
    for i in range(min(n_companies, 10)):
        for j in range(2):
            people.append(
                Person(
                    key=f"P{i}-{j}",
                    company_key=f"C{i:06d}",
                    first_name=f"Ada{j}",
                    last_name=f"Lovelace{i}",
                    email=f"ada{j}@company{i}.example",
                    role="champion" if j == 0 else "user",
                    title="Head of Ops",
                    presence={"hubspot": Presence(external_id=str(50_000 + i * 10 + j), created_at=T0)},
                )
            )
        deals.append(
            Deal(
                key=f"D{i}",
                company_key=f"C{i:06d}",
                name=f"Company {i} renewal",
                arr=12_000.0 + i,
                seats=25,
                tier="growth",
                start_date=date(2026, 1, 1),
                renewal_date=date(2027, 1, 1),
                status="active",
                presence={"hubspot": Presence(external_id=str(70_000 + i), created_at=T0)},
            )
        )
        tickets.append(
            ticket(
                key=f"T{i}",
                company_key=f"C{i:06d}",
                requester_key=f"P{i}-0",
                subject=f"Export broken {i}",
                priority="urgent" if i == 0 else "normal",
                status="open",
                escalated=i == 0,
                created_at=T0,
                updated_at=T0,
                solved_at=None,
                presence={"hubspot": Presence(external_id=str(90_000 + i))},
            )
        )
    as_of = date(2026, 11, 20)
    return World(seed=7, as_of=as_of, companies=companies, people=people, deals=deals, tickets=tickets, surveys=[])


@dataclass
class Portal:
    emulator: HubSpotEmulator
    server: LoopbackServer
    client: HubSpot
    clock: list[datetime]


def _client(emu: HubSpotEmulator, server: LoopbackServer, token: str | None = None) -> HubSpot:
    return HubSpot(access_token=token or emu.access_token, host=server.url)


@pytest.fixture(scope="module")
def big() -> Iterator[Portal]:
    """10,050 companies, limits lifted; tests on it only read."""
    emu = HubSpotEmulator(requests_per_10s=100_000, search_requests_per_second=100_000)
    emu.seed(make_world(BIG))
    with LoopbackServer(emu.wsgi_app) as server:
        yield Portal(emu, server, _client(emu, server), [])


class Dispatch:
    """One loopback server for the module; each test points it at its own fresh emulator."""

    def __init__(self) -> None:
        self.app: Any = None

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.app(environ, start_response)


@pytest.fixture(scope="module")
def loopback() -> Iterator[tuple[Dispatch, LoopbackServer]]:
    dispatch = Dispatch()
    with LoopbackServer(dispatch) as server:
        yield dispatch, server


@pytest.fixture
def make_portal(loopback: tuple[Dispatch, LoopbackServer]) -> Callable[..., Portal]:
    dispatch, server = loopback

    def build(**limits: Any) -> Portal:
        clock = [T0 + timedelta(days=1)]
        limits.setdefault("requests_per_10s", 10_000)
        limits.setdefault("search_requests_per_second", 10_000)
        emu = HubSpotEmulator(clock=lambda: clock[0], **limits)
        emu.seed(make_world(SMALL))
        dispatch.app = emu.wsgi_app
        return Portal(emu, server, _client(emu, server), clock)

    return build


def _search(
    client: HubSpot,
    filters: list[dict[str, Any]],
    *,
    after: str | None = None,
    limit: int = 200,
    sorts: list[Any] | None = None,
    properties: list[str] | None = None,
) -> Any:
    request = PublicObjectSearchRequest(
        filter_groups=[FilterGroup(filters=[Filter(**f) for f in filters])],
        sorts=sorts if sorts is not None else [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
        limit=limit,
        after=after,
        properties=properties or ["name", "hs_lastmodifieddate"],
    )
    return client.crm.companies.search_api.do_search(public_object_search_request=request)


def _error_body(exc: ApiException | PropertiesApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.body)
    return body


# --- paging --------------------------------------------------------------------------------


def test_get_page_walks_all_companies_once_in_id_order(big: Portal) -> None:
    before = big.emulator.stats.calls("GET", "/crm/v3/objects/<object_type>")
    seen: list[str] = []
    after = None
    while True:
        page = big.client.crm.companies.basic_api.get_page(limit=100, after=after, properties=["name"])
        seen.extend(r.id for r in page.results)
        if page.paging is None:
            break
        after = page.paging.next.after
    assert len(seen) == BIG
    assert len(set(seen)) == BIG
    assert [int(i) for i in seen] == sorted(int(i) for i in seen)
    assert big.emulator.stats.calls("GET", "/crm/v3/objects/<object_type>") - before == 101


def test_page_carries_requested_properties_and_associations(big: Portal) -> None:
    page = big.client.crm.companies.basic_api.get_page(
        limit=3, properties=["name", "salesforceaccountid", "zendesk_organization_id"], associations=["contacts"]
    )
    first = page.results[0]
    assert first.id == "1000"
    assert first.properties == {
        "name": "Company 0",
        "salesforceaccountid": "001000000000000000",
        "zendesk_organization_id": "360000",
    }
    assert page.results[1].properties["salesforceaccountid"] is None
    assert sorted(a.id for a in first.associations["contacts"].results) == ["50000", "50001"]
    assert page.paging.next.after == "1003"


@pytest.mark.parametrize("limit", [0, 101])
def test_list_limit_outside_1_to_100_is_a_400(big: Portal, limit: int) -> None:
    with pytest.raises(ApiException) as info:
        big.client.crm.companies.basic_api.get_page(limit=limit)
    assert info.value.status == 400
    assert _error_body(info.value)["category"] == "VALIDATION_ERROR"


def test_get_by_id_and_unknown_id(big: Portal) -> None:
    company = big.client.crm.companies.basic_api.get_by_id("1005", properties=["numberofemployees"])
    assert company.properties == {"numberofemployees": "15"}
    with pytest.raises(ApiException) as info:
        big.client.crm.companies.basic_api.get_by_id("999")
    assert info.value.status == 404
    assert _error_body(info.value)["category"] == "OBJECT_NOT_FOUND"


# --- search --------------------------------------------------------------------------------


def test_incremental_search_on_hs_lastmodifieddate(big: Portal) -> None:
    since = T0 + timedelta(minutes=50)
    since_ms = str(int(since.timestamp() * 1000))
    filters = [{"property_name": "hs_lastmodifieddate", "operator": "GTE", "value": since_ms}]
    ids: list[str] = []
    stamps: list[str] = []
    after = None
    while True:
        page = _search(big.client, filters, after=after)
        assert page.total == BIG - 5_000
        ids.extend(r.id for r in page.results)
        stamps.extend(r.properties["hs_lastmodifieddate"] for r in page.results)
        if page.paging is None:
            break
        after = page.paging.next.after
    assert len(ids) == len(set(ids)) == BIG - 5_000
    assert set(ids) == {str(1_000 + i) for i in range(5_000, BIG)}
    assert stamps == sorted(stamps)
    assert stamps[0] == "2026-11-01T08:50:00.000Z"


def test_search_stops_at_10000_results_with_the_vendor_400(big: Portal) -> None:
    filters = [{"property_name": "hs_lastmodifieddate", "operator": "HAS_PROPERTY"}]
    last_page = _search(big.client, filters, after="9800")
    assert last_page.total == BIG
    assert len(last_page.results) == 200
    assert last_page.paging.next.after == "10000"
    with pytest.raises(ApiException) as info:
        _search(big.client, filters, after="10000")
    assert info.value.status == 400
    body = _error_body(info.value)
    assert body["status"] == "error"
    assert body["category"] == "VALIDATION_ERROR"
    assert "10000" in body["message"]


def _ms(minutes: int) -> str:
    return str(int((T0 + timedelta(minutes=minutes)).timestamp() * 1000))


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ({"property_name": "name", "operator": "EQ", "value": "company 7"}, {"1007"}),
        ({"property_name": "numberofemployees", "operator": "LT", "value": "13"}, {"1000", "1001", "1002"}),
        ({"property_name": "numberofemployees", "operator": "GTE", "value": "38"}, {"1028", "1029"}),
        (
            {"property_name": "numberofemployees", "operator": "BETWEEN", "value": "20", "high_value": "21"},
            {"1010", "1011"},
        ),
        ({"property_name": "hs_object_id", "operator": "IN", "values": ["1003", "1004", "77"]}, {"1003", "1004"}),
        (
            {"property_name": "zendesk_organization_id", "operator": "HAS_PROPERTY"},
            {str(1_000 + i) for i in range(0, SMALL, 3)},
        ),
        (
            {"property_name": "salesforceaccountid", "operator": "NOT_HAS_PROPERTY"},
            {str(1_000 + i) for i in range(1, SMALL, 2)},
        ),
        ({"property_name": "hs_lastmodifieddate", "operator": "GT", "value": _ms(0)}, set()),
        (
            {"property_name": "hs_lastmodifieddate", "operator": "LTE", "value": "2026-11-01T08:00:00Z"},
            {str(1_000 + i) for i in range(SMALL)},
        ),
    ],
)
def test_search_filter_operators(
    make_portal: Callable[..., Portal], filter_: dict[str, Any], expected: set[str]
) -> None:
    portal = make_portal()
    page = _search(portal.client, [filter_], limit=100)
    assert {r.id for r in page.results} == expected
    assert page.total == len(expected)


def test_search_sorts_descending_and_pages_by_offset(make_portal: Callable[..., Portal]) -> None:
    portal = make_portal()
    filters = [{"property_name": "numberofemployees", "operator": "GTE", "value": "0"}]
    sorts = [{"propertyName": "numberofemployees", "direction": "DESCENDING"}]
    first = _search(portal.client, filters, limit=4, sorts=sorts)
    assert [r.id for r in first.results] == ["1029", "1028", "1027", "1026"]
    assert first.paging.next.after == "4"
    second = _search(portal.client, filters, limit=4, sorts=sorts, after="4")
    assert [r.id for r in second.results] == ["1025", "1024", "1023", "1022"]


def test_touched_records_are_found_again_by_incremental_search(make_portal: Callable[..., Portal]) -> None:
    portal = make_portal()
    portal.clock[0] = T0 + timedelta(days=3)
    assert portal.emulator.touch("companies", ["1001", "1002", "1003", "1004", "1005", "404404"]) == 5
    portal.clock[0] += timedelta(seconds=2 * portal.emulator.search_lag_seconds)  # indexed, and settled in order
    filters = [{"property_name": "hs_lastmodifieddate", "operator": "GTE", "value": _ms(3 * 24 * 60)}]
    page = _search(portal.client, filters)
    assert [r.id for r in page.results] == ["1001", "1002", "1003", "1004", "1005"]
    assert {r.properties["hs_lastmodifieddate"] for r in page.results} == {"2026-11-04T08:00:00.000Z"}


# --- batch ---------------------------------------------------------------------------------


def _update_inputs(ids: list[str], properties: dict[str, str]) -> BatchInputSimplePublicObjectBatchInput:
    return BatchInputSimplePublicObjectBatchInput(
        inputs=[SimplePublicObjectBatchInput(id=i, properties=properties) for i in ids]
    )


def test_batch_update_of_100_writes_every_record_and_bumps_its_stamp(make_portal: Callable[..., Portal]) -> None:
    portal = make_portal()
    portal.emulator.seed(make_world(120))  # ids 1000..1119; the first 30 are re-seeded as is
    portal.clock[0] = T0 + timedelta(days=2, minutes=5)
    ids = [str(1_000 + i) for i in range(100)]
    answer = portal.client.crm.companies.batch_api.update(_update_inputs(ids, {"industry": "Fintech"}))
    assert answer.status == "COMPLETE"
    assert sorted(r.id for r in answer.results) == ids
    stored = {r["id"]: r for r in portal.emulator.records("companies")}
    for rid in ids:
        assert stored[rid]["properties"]["industry"] == "Fintech"
        assert stored[rid]["properties"]["hs_lastmodifieddate"] == "2026-11-03T08:05:00.000Z"
        assert stored[rid]["updatedAt"] == "2026-11-03T08:05:00.000Z"
    assert stored["1100"]["properties"]["industry"] == "Software"
    assert portal.emulator.stats.snapshot()["records_written"] == 100


def test_batch_update_of_101_is_the_vendor_400(make_portal: Callable[..., Portal]) -> None:
    portal = make_portal()
    with pytest.raises(ApiException) as info:
        portal.client.crm.companies.batch_api.update(_update_inputs([str(i) for i in range(101)], {"name": "x"}))
    assert info.value.status == 400
    body = _error_body(info.value)
    assert body["message"] == (
        "The maximum number of inputs supported in a batch is 100. Please reduce the number of items and try again"
    )
    assert body["category"] == "VALIDATION_ERROR"
    assert portal.emulator.stats.snapshot()["records_written"] == 0


@pytest.mark.parametrize(
    ("properties", "code"),
    [
        ({"numberofemployees": "many"}, "INVALID_FLOAT"),
        ({"lifecyclestage": "fan"}, "INVALID_OPTION"),
        ({"no_such_property": "1"}, "PROPERTY_DOESNT_EXIST"),
        ({"hs_lastmodifieddate": "2026-01-01T00:00:00Z"}, "READ_ONLY_VALUE"),
    ],
)
def test_one_invalid_value_fails_the_whole_batch(
    make_portal: Callable[..., Portal], properties: dict[str, str], code: str
) -> None:
    portal = make_portal()
    batch = BatchInputSimplePublicObjectBatchInput(
        inputs=[
            SimplePublicObjectBatchInput(id="1001", properties={"name": "Renamed"}),
            SimplePublicObjectBatchInput(id="1002", properties=properties),
        ]
    )
    with pytest.raises(ApiException) as info:
        portal.client.crm.companies.batch_api.update(batch)
    assert info.value.status == 400
    body = _error_body(info.value)
    assert body["category"] == "VALIDATION_ERROR"
    assert body["message"].startswith("Property values were not valid")
    assert [e["code"] for e in body["errors"]] == [code]
    names = {r["id"]: r["properties"]["name"] for r in portal.emulator.records("companies")}
    assert names["1001"] == "Company 1"


def test_batch_update_with_an_unknown_id_is_207_and_applies_the_rest(make_portal: Callable[..., Portal]) -> None:
    portal = make_portal()
    answer = portal.client.crm.companies.batch_api.update(_update_inputs(["1001", "424242"], {"city": "Lyon"}))
    assert [r.id for r in answer.results] == ["1001"]
    assert answer.num_errors == 1
    assert answer.errors[0].category == "OBJECT_NOT_FOUND"
    assert answer.errors[0].context == {"ids": ["424242"]}
    assert portal.emulator.records("companies")[1]["properties"]["city"] == "Lyon"


def test_batch_update_with_duplicate_ids_is_a_400(make_portal: Callable[..., Portal]) -> None:
    portal = make_portal()
    with pytest.raises(ApiException) as info:
        portal.client.crm.companies.batch_api.update(_update_inputs(["1001", "1001"], {"city": "Lyon"}))
    assert info.value.status == 400
    assert "Duplicate IDs" in _error_body(info.value)["message"]


def test_batch_read_returns_found_records_and_a_207_for_missing(make_portal: Callable[..., Portal]) -> None:
    portal = make_portal()
    request = BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=i) for i in ("1003", "1004", "31337")],
        properties=["name", "salesforceaccountid"],
        properties_with_history=[],
    )
    answer = portal.client.crm.companies.batch_api.read(request)
    assert {r.id: r.properties["name"] for r in answer.results} == {"1003": "Company 3", "1004": "Company 4"}
    assert answer.results[1].properties["salesforceaccountid"] == "001000000000000004"
    assert answer.errors[0].context == {"ids": ["31337"]}
    complete = portal.client.crm.companies.batch_api.read(
        BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id="1003")], properties=["name"], properties_with_history=[]
        )
    )
    assert type(complete).__name__ == "BatchResponseSimplePublicObject"


# --- associations --------------------------------------------------------------------------


def test_v4_association_list_for_a_company(make_portal: Callable[..., Portal]) -> None:
    portal = make_portal()
    page = portal.client.crm.associations.v4.basic_api.get_page("companies", "1000", "contacts", limit=500)
    assert [r.to_object_id for r in page.results] == ["50000", "50001"]  # SDK types it str
    assert [(t.category, t.type_id, t.label) for t in page.results[0].association_types] == [
        ("HUBSPOT_DEFINED", 280, None)
    ]
    deal_side = portal.client.crm.associations.v4.basic_api.get_page("deals", "70003", "companies")
    assert [r.to_object_id for r in deal_side.results] == ["1003"]
    assert {t.type_id for t in deal_side.results[0].association_types} == {341, 5}


def test_v4_batch_read_parent_and_child_companies(make_portal: Callable[..., Portal]) -> None:
    portal = make_portal()
    batch = BatchInputPublicFetchAssociationsBatchRequest(
        inputs=[PublicFetchAssociationsBatchRequest(id=i) for i in ("1000", "1001", "1007")]
    )
    answer = portal.client.crm.associations.v4.batch_api.get_page("companies", "companies", batch)
    by_from = {r._from.id: r.to for r in answer.results}
    assert sorted(t.to_object_id for t in by_from["1000"]) == ["1001", "1002"]
    assert by_from["1000"][0].association_types[0].type_id == 13
    assert [(t.to_object_id, t.association_types[0].type_id) for t in by_from["1001"]] == [("1000", 14)]
    assert answer.errors[0].context == {"fromObjectId": ["1007"]}


def test_ticket_associations_reach_company_and_requester(make_portal: Callable[..., Portal]) -> None:
    portal = make_portal()
    assert portal.emulator.associations("tickets", "90002", "companies") == ["1002"]
    assert portal.emulator.associations("tickets", "90002", "contacts") == ["50020"]


# --- properties ----------------------------------------------------------------------------


def test_property_group_and_property_creation_then_write_and_read_back(make_portal: Callable[..., Portal]) -> None:
    portal = make_portal()
    props = portal.client.crm.properties
    update = _update_inputs(["1004"], {"canary_health_score": "87"})
    with pytest.raises(ApiException) as before:
        portal.client.crm.companies.batch_api.update(update)
    assert before.value.status == 400

    group = props.groups_api.create("companies", PropertyGroupCreate(name="canary_health", label="Canary health"))
    assert (group.name, group.label, group.archived) == ("canary_health", "Canary health", False)
    with pytest.raises(PropertiesApiException) as dup:
        props.groups_api.create("companies", PropertyGroupCreate(name="canary_health", label="Again"))
    assert dup.value.status == 409
    assert _error_body(dup.value)["category"] == "OBJECT_ALREADY_EXISTS"

    created = props.core_api.create(
        "companies",
        PropertyCreate(
            name="canary_health_score",
            label="Canary health score",
            type="number",
            field_type="number",
            group_name="canary_health",
        ),
    )
    assert (created.name, created.type, created.group_name) == ("canary_health_score", "number", "canary_health")
    assert created.modification_metadata.archivable is True
    band = props.core_api.create(
        "companies",
        PropertyCreate(
            name="canary_health_band",
            label="Canary health band",
            type="enumeration",
            field_type="select",
            group_name="canary_health",
            options=[{"label": "Green", "value": "green"}, {"label": "Red", "value": "red"}],
        ),
    )
    assert [o.value for o in band.options] == ["green", "red"]
    listed = {p.name for p in props.core_api.get_all("companies").results}
    assert {"canary_health_score", "canary_health_band", "name"} <= listed
    assert "canary_health" in {g.name for g in props.groups_api.get_all("companies").results}

    portal.client.crm.companies.batch_api.update(
        _update_inputs(["1004"], {"canary_health_score": "87", "canary_health_band": "green"})
    )
    company = portal.client.crm.companies.basic_api.get_by_id(
        "1004", properties=["canary_health_score", "canary_health_band"]
    )
    assert company.properties == {"canary_health_score": "87", "canary_health_band": "green"}
    with pytest.raises(ApiException) as bad:
        portal.client.crm.companies.batch_api.update(_update_inputs(["1004"], {"canary_health_band": "amber"}))
    assert _error_body(bad.value)["errors"][0]["code"] == "INVALID_OPTION"


def test_duplicate_property_is_a_409(make_portal: Callable[..., Portal]) -> None:
    portal = make_portal()
    spec = PropertyCreate(name="name", label="Name", type="string", field_type="text", group_name="companyinformation")
    with pytest.raises(PropertiesApiException) as info:
        portal.client.crm.properties.core_api.create("companies", spec)
    assert info.value.status == 409


# --- limits, auth, faults ------------------------------------------------------------------


def test_rolling_10s_limit_answers_429_with_headers(make_portal: Callable[..., Portal]) -> None:
    portal = make_portal(requests_per_10s=3, monotonic=lambda: 100.0)
    api = portal.client.crm.companies.basic_api
    remaining = []
    for _ in range(3):
        _, status, headers = api.get_page_with_http_info(limit=1)
        assert status == 200
        remaining.append(headers["X-HubSpot-RateLimit-Remaining"])
        assert headers["X-HubSpot-RateLimit-Max"] == "3"
        assert headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert remaining == ["2", "1", "0"]
    with pytest.raises(ApiException) as info:
        api.get_page(limit=1)
    assert info.value.status == 429
    body = _error_body(info.value)
    assert body["category"] == "RATE_LIMITS"
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert "Retry-After" not in info.value.headers  # like HubSpot; urllib3 under the SDK would sleep on it


def test_search_has_its_own_per_second_limit(make_portal: Callable[..., Portal]) -> None:
    portal = make_portal(search_requests_per_second=2, monotonic=lambda: 5.0)
    filters = [{"property_name": "name", "operator": "HAS_PROPERTY"}]
    _search(portal.client, filters)
    _search(portal.client, filters)
    with pytest.raises(ApiException) as info:
        _search(portal.client, filters)
    assert info.value.status == 429
    body = _error_body(info.value)
    assert (body["message"], body["category"]) == ("You have reached your secondly limit.", "RATE_LIMITS")
    assert "X-HubSpot-RateLimit-Daily" in info.value.headers
    assert portal.client.crm.companies.basic_api.get_page(limit=1).results[0].id == "1000"


def test_daily_allocation_runs_out(make_portal: Callable[..., Portal]) -> None:
    portal = make_portal(daily_api_limit=2)
    api = portal.client.crm.companies.basic_api
    _, _, headers = api.get_page_with_http_info(limit=1)
    assert (headers["X-HubSpot-RateLimit-Daily"], headers["X-HubSpot-RateLimit-Daily-Remaining"]) == ("2", "1")
    api.get_page(limit=1)
    with pytest.raises(ApiException) as info:
        api.get_page(limit=1)
    assert info.value.status == 429
    assert _error_body(info.value)["policyName"] == "DAILY"
    portal.clock[0] += timedelta(days=1)
    assert len(api.get_page(limit=1).results) == 1


@pytest.mark.parametrize("token", ["wrong-token", ""])
def test_wrong_token_gets_the_vendor_401(make_portal: Callable[..., Portal], token: str) -> None:
    portal = make_portal()
    client = HubSpot(access_token=token or None, host=portal.server.url)
    with pytest.raises(ApiException) as info:
        client.crm.companies.basic_api.get_page(limit=1)
    assert info.value.status == 401
    body = _error_body(info.value)
    assert body["category"] == "INVALID_AUTHENTICATION"
    assert body["message"].startswith("Authentication credentials not found.")
    assert portal.emulator.stats.calls("GET", "/crm/v3/objects/<object_type>") == 1


@pytest.mark.parametrize(
    ("kind", "status", "category"),
    [
        ("429", 429, "RATE_LIMITS"),
        ("500", 500, "INTERNAL_ERROR"),
        ("503", 503, "SERVICE_UNAVAILABLE"),
    ],
)
def test_fault_response_in_hubspot_shape(kind: str, status: int, category: str) -> None:
    response = HubSpotEmulator().fault_response(kind, retry_after=7)
    body = json.loads(response.get_data())
    assert response.status_code == status
    assert {"status", "message", "correlationId", "category"} <= set(body)
    assert body["category"] == category
    assert response.headers.get("Retry-After") == (None if kind == "500" else "7")


def test_fault_response_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        HubSpotEmulator().fault_response("418", retry_after=1)


def test_bad_json_and_unknown_object_type_answer_in_vendor_shape(make_portal: Callable[..., Portal]) -> None:
    import requests

    portal = make_portal()
    headers = {"Authorization": f"Bearer {portal.emulator.access_token}", "Content-Type": "application/json"}
    bad = requests.post(
        f"{portal.server.url}/crm/v3/objects/companies/search", data="{nope", headers=headers, timeout=5
    )
    assert bad.status_code == 400
    assert bad.json()["message"].startswith("Invalid input JSON on line 1")
    unknown = requests.get(f"{portal.server.url}/crm/v3/objects/widgets", headers=headers, timeout=5)
    assert unknown.status_code == 400
    assert unknown.json()["message"] == "Unable to infer object type from: widgets"
    stats = requests.get(f"{portal.server.url}/_sandbox/stats", timeout=5).json()
    assert stats["calls_total"] == 2
