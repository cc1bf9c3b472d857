"""Pure HubSpot mapping: table tests, and every mapping run over the recorded vendor payloads."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest

from integrations.errors import BadCursor
from integrations.http import retry_after_seconds
from integrations.hubspot.cursor import PullCursor
from integrations.hubspot.records import (
    MAPPERS,
    batch_associations,
    company_to_account,
    contact_to_record,
    deal_to_record,
    inline_associations,
    linked_company,
    needs_lookup,
    parse_instant,
    primary_company,
    ticket_to_record,
)
from integrations.hubspot.wire import (
    InvalidValue,
    batch_outcome,
    error_message,
    invalid_values,
    rate_limit_headers,
)
from tests.shared import vendor_payloads

PAYLOADS = vendor_payloads("hubspot")
UTC = dt.UTC


def _payload(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())  # a missing recording fails loudly


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-20T10:15:00.000Z", dt.datetime(2026, 11, 20, 10, 15, tzinfo=UTC)),
        ("2026-11-20T10:15:00+01:00", dt.datetime(2026, 11, 20, 9, 15, tzinfo=UTC)),
        ("1572480000000", dt.datetime(2019, 10, 31, tzinfo=UTC)),
        (1572480000000, dt.datetime(2019, 10, 31, tzinfo=UTC)),
        ("2027-01-01", dt.datetime(2027, 1, 1, tzinfo=UTC)),
        ("", None),
        (None, None),
        ("soon", None),
    ],
)
def test_parse_instant(value: Any, expected: dt.datetime | None) -> None:
    assert parse_instant(value) == expected


def _company(**props: Any) -> dict[str, Any]:
    return {
        "id": "512",
        "properties": {"hs_lastmodifieddate": "2026-11-02T03:04:05.678Z", **props},
        "createdAt": "2026-01-01T00:00:00.000Z",
        "updatedAt": "2026-11-02T03:04:05.678Z",
        "archived": False,
    }


@pytest.mark.parametrize(
    ("props", "field", "expected"),
    [
        ({"name": " Acme Corp "}, "name", "Acme Corp"),
        ({"name": None}, "name", ""),
        ({"domain": "www.acme.com"}, "domain", "www.acme.com"),
        ({"domain": ""}, "domain", None),
        ({"numberofemployees": "250"}, "employees", 250),
        ({"numberofemployees": "12.0"}, "employees", 12),
        ({"numberofemployees": "lots"}, "employees", None),
        ({"industry": "Software"}, "industry", "Software"),
        (
            {"salesforceaccountid": "001000000000000AAA", "zendesk_organization_id": "360001"},
            "cross_refs",
            {"salesforce": "001000000000000AAA", "zendesk": "360001"},
        ),
        ({"salesforceaccountid": "  ", "zendesk_organization_id": None}, "cross_refs", {}),
    ],
)
def test_company_to_account(props: dict[str, Any], field: str, expected: Any) -> None:
    record = company_to_account(_company(**props), parent_id="77")
    assert getattr(record, field) == expected
    assert (record.system, record.external_id, record.parent_external_id) == ("hubspot", "512", "77")
    assert record.updated_at == dt.datetime(2026, 11, 2, 3, 4, 5, 678000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("executive_sponsor", "executive_sponsor"),
        ("Executive Sponsor", "executive_sponsor"),
        ("champion", "champion"),
        ("ADMIN", "admin"),
        ("user", "user"),
        ("", "user"),
        (None, "user"),
        ("decision-maker", "user"),
    ],
)
def test_contact_roles(role: str | None, expected: str) -> None:
    obj = {
        "id": "9",
        "properties": {
            "email": "a@b.co",
            "firstname": "Ada",
            "lastname": None,
            "customer_role": role,
            "lastmodifieddate": "2026-11-01T00:00:00Z",
        },
    }
    record = contact_to_record(obj, "5")
    assert (record.role, record.name, record.email, record.account_external_id) == (
        expected,
        "Ada",
        "a@b.co",
        "5",
    )
    assert record.updated_at == dt.datetime(2026, 11, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("stage", "status"),
    [("closedwon", "active"), ("closedlost", "churned"), ("contractsent", "pending"), (None, "pending")],
)
def test_deal_status_and_values(stage: str | None, status: str) -> None:
    obj = {
        "id": "70",
        "properties": {
            "dealname": "Renewal",
            "amount": "12000.50",
            "dealstage": stage,
            "seats": "25",
            "product_tier": "growth",
            "closedate": "2026-01-01T00:00:00.000Z",
            "renewal_date": "2027-01-01",
            "hs_lastmodifieddate": "1795031177000",
        },
    }
    record = deal_to_record(obj, "5")
    assert record.status == status
    assert (record.arr, record.seats, record.tier) == (Decimal("12000.50"), 25, "growth")
    assert (record.start_date, record.renewal_date) == (dt.date(2026, 1, 1), dt.date(2027, 1, 1))


@pytest.mark.parametrize(
    ("priority", "stage", "expected_priority", "expected_status"),
    [
        ("LOW", "1", "low", "new"),
        ("MEDIUM", "2", "normal", "pending"),
        ("HIGH", "3", "high", "open"),
        ("URGENT", "4", "urgent", "closed"),
        (None, None, "normal", "open"),
        ("urgent", "9", "urgent", "open"),
    ],
)
def test_ticket_priority_and_status(
    priority: str | None, stage: str | None, expected_priority: str, expected_status: str
) -> None:
    obj = {
        "id": "90",
        "properties": {
            "subject": "Export broken",
            "hs_ticket_priority": priority,
            "hs_pipeline_stage": stage,
            "createdate": "2026-11-01T08:00:00.000Z",
            "closed_date": "2026-11-03T08:00:00.000Z",
            "hs_lastmodifieddate": "2026-11-03T08:00:00.000Z",
        },
    }
    record = ticket_to_record(obj, None)
    assert (record.priority, record.status) == (expected_priority, expected_status)
    assert record.created_at == dt.datetime(2026, 11, 1, 8, tzinfo=UTC)
    assert record.solved_at == (
        dt.datetime(2026, 11, 3, 8, tzinfo=UTC) if expected_status == "closed" else None
    )


@pytest.mark.parametrize(
    ("obj", "object_type", "looked_up", "expected", "lookup"),
    [
        ({"properties": {"associatedcompanyid": "42"}}, "contacts", None, "42", False),
        (
            {"properties": {"associatedcompanyid": None}},
            "contacts",
            [{"toObjectId": 7, "associationTypes": []}],
            "7",
            True,
        ),
        (
            {
                "properties": {},
                "associations": {
                    "companies": {
                        "results": [
                            {"id": "8", "type": "deal_to_company_unlabeled"},
                            {"id": "9", "type": "deal_to_company"},
                        ]
                    }
                },
            },
            "deals",
            None,
            "9",
            False,
        ),
        (
            {
                "properties": {},
                "associations": {
                    "companies": {
                        "results": [
                            {"id": "3", "type": "parent_to_child_company"},
                            {"id": "4", "type": "child_to_parent_company"},
                        ]
                    }
                },
            },
            "companies",
            None,
            "4",
            False,
        ),
        (
            {"properties": {}},
            "companies",
            [
                {"toObjectId": 3, "associationTypes": [{"typeId": 13}]},
                {"toObjectId": 4, "associationTypes": [{"typeId": 14}]},
            ],
            "4",
            True,
        ),
        (
            {"properties": {}},
            "companies",
            [{"toObjectId": 3, "associationTypes": [{"typeId": 13}]}],
            None,
            True,
        ),
        ({"properties": {}}, "tickets", [], None, True),
        ({"properties": {}}, "tickets", None, None, True),
    ],
)
def test_linked_company(
    obj: dict[str, Any], object_type: str, looked_up: Any, expected: str | None, lookup: bool
) -> None:
    assert linked_company(obj, object_type, looked_up) == expected
    assert needs_lookup(obj, object_type) is lookup


def test_rate_limit_headers_from_the_recorded_batch_update() -> None:
    recorded = _payload("response_headers_rate_limit_batch_update.json")["headers"]
    limits = rate_limit_headers(recorded)
    assert (limits.remaining, limits.maximum, limits.interval_seconds) == (99, 100, 10.0)
    assert (limits.daily, limits.daily_remaining, limits.daily_used) == (250000, 248697, 1303)
    search_429 = rate_limit_headers(_payload("error_429_secondly_limit_search_headers.json")["headers"])
    assert (search_429.remaining, search_429.daily_remaining) == (None, 248684)
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds(recorded) is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "error_401_invalid_authentication.json",
            "INVALID_AUTHENTICATION: Authentication credentials not found.",
        ),
        ("error_429_secondly_limit_search.json", "RATE_LIMITS: You have reached your secondly limit."),
        ("error_400_batch_over_100_inputs.json", "VALIDATION_ERROR: The maximum number of inputs"),
        ("error_spec_example.json", "VALIDATION_ERROR: Invalid input"),
        ("error_validation_docs_example.json", "VALIDATION_ERROR: This will be a human readable message"),
    ],
)
def test_error_message_of_recorded_errors(name: str, expected: str) -> None:
    assert error_message(_payload(name)).startswith(expected)


def test_error_message_of_non_json_body() -> None:
    assert error_message(b"<html>Bad gateway</html>", 502) == "HTTP 502: <html>Bad gateway</html>"


def test_invalid_values_from_errors_and_from_the_message() -> None:
    emulator_style = {
        "status": "error",
        "category": "VALIDATION_ERROR",
        "message": "Property values were not valid",
        "errors": [
            {
                "message": "many was not a valid number.",
                "code": "INVALID_FLOAT",
                "context": {"propertyName": ["canary_health_score"]},
            },
            {
                "message": 'Property "x" does not exist',
                "code": "PROPERTY_DOESNT_EXIST",
                "context": {"propertyName": ["x"]},
            },
        ],
    }
    assert invalid_values(emulator_style) == [
        InvalidValue("canary_health_score", "many", "many was not a valid number.", "INVALID_FLOAT"),
        InvalidValue("x", None, 'Property "x" does not exist', "PROPERTY_DOESNT_EXIST"),
    ]
    detail = [
        {
            "isValid": False,
            "message": "amber was not one of the allowed options: [good, poor]",
            "error": "INVALID_OPTION",
            "name": "canary_health_band",
        }
    ]
    hubspot_style = {
        "status": "error",
        "category": "VALIDATION_ERROR",
        "message": "Property values were not valid: " + json.dumps(detail),
    }
    assert invalid_values(hubspot_style) == [
        InvalidValue("canary_health_band", "amber", str(detail[0]["message"]), "INVALID_OPTION")
    ]
    assert invalid_values(_payload("error_validation_docs_example.json"))[0].property == "name"
    assert invalid_values(_payload("error_400_batch_over_100_inputs.json")) == []


def test_batch_outcome_of_recorded_answers() -> None:
    ok, failed = batch_outcome(_payload("companies_batch_update_response.json"), ["7945143592"])
    assert (ok, failed) == (["7945143592"], {})
    body = {
        "status": "COMPLETE",
        "results": [{"id": "1"}],
        "numErrors": 1,
        "errors": [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": "Could not get some COMPANY objects",
                "context": {"ids": ["404"]},
            }
        ],
    }
    ok, failed = batch_outcome(body, ["1", "404", "2"])
    assert ok == ["1"]
    assert failed == {
        "404": "OBJECT_NOT_FOUND: Could not get some COMPANY objects",
        "2": "HubSpot reported no result for this record",
    }
    template_ok, template_failed = batch_outcome(
        _payload("companies_batch_update_207_template.json"), ["<string>"]
    )
    assert (template_ok, template_failed) == (["<string>"], {})  # errors without ids blame no record


def test_associations_of_recorded_batch_reads() -> None:
    v4 = batch_associations(_payload("associations_v4_batch_read.json"))
    assert primary_company(v4["33451"]) == "5790939450"
    assert primary_company(v4["29851"]) == "5790939450"
    v3 = batch_associations(_payload("associations_v3_batch_read_real.json"))
    assert [r["id"] for r in v3["6465999056"]] == ["6101", "6102", "7502"]
    listed = _payload("associations_v4_list.json")["results"]
    assert primary_company(listed) == "5790939450"  # no primary: the first


@pytest.mark.parametrize(
    "name",
    [
        "companies_search_response.json",
        "companies_batch_update_response.json",
        "companies_batch_create_response.json",
        "companies_page_spec_examples.json",
    ],
)
@pytest.mark.parametrize("object_type", ["companies", "contacts", "deals", "tickets"])
def test_every_mapping_accepts_the_recorded_object_payloads(name: str, object_type: str) -> None:
    results = _payload(name)["results"]
    assert results, f"the recording {name} holds no {object_type}"
    for obj in results:
        record = MAPPERS[object_type](obj, linked_company(obj, object_type, None))
        assert record.external_id == obj["id"]
        assert record.updated_at == parse_instant(obj["updatedAt"])
        assert record.system == "hubspot"
    assert inline_associations({"id": "1"}, "companies") is None


@pytest.mark.parametrize(
    "cursor",
    [
        PullCursor("walk", after="1003", mark=1795031177000),
        PullCursor("forward", ts=5),
        PullCursor("forward"),
        PullCursor("tie", ts=9, after="42"),
    ],
)
def test_cursor_round_trip(cursor: PullCursor) -> None:
    assert PullCursor.load(cursor.dump()) == cursor


@pytest.mark.parametrize(
    "text",
    [
        "4",
        "{}",
        '{"v":1,"phase":"sideways"}',
        '{"v":1,"phase":"tie"}',
        "not json",
        '{"v":1,"phase":"forward","ts":[1]}',
    ],
)
def test_foreign_cursor_is_a_clear_fatal_error(text: str) -> None:
    with pytest.raises(BadCursor, match="full sync"):
        PullCursor.load(text)
