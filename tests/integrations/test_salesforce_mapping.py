"""Pure Salesforce mapping and SOQL building: tables of cases, plus the real recorded payloads."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from integrations import values
from integrations.base import AccountRecord, ContactRecord, DealRecord, FieldSpec, TicketRecord, VendorUser
from integrations.errors import BadCursor
from integrations.salesforce import fields, records, wire
from integrations.salesforce.cursor import MAX_SEEN, ModstampCursor
from integrations.salesforce.soql import (
    ids_query,
    incremental_query,
    soql_datetime,
    soql_name,
    soql_string,
)
from sync.push import HEALTH_FIELDS
from tests.shared import vendor_payloads

PAYLOADS = vendor_payloads("salesforce")
UTC = dt.UTC


def _load(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())




# ------------------------------------------------------------------ enumerations


@pytest.mark.parametrize(("value", "role"), [
    ("Executive Sponsor", "executive_sponsor"), ("executive sponsor", "executive_sponsor"),
    ("Champion", "champion"), ("Admin", "admin"), ("User", "user"), (None, "user"), ("", "user"),
    ("Economic Buyer", "executive_sponsor"), ("Something Else", "user"),
])  # fmt: skip
def test_roles(value: Any, role: str) -> None:
    assert values.canonical_role(value) == role


@pytest.mark.parametrize(("value", "priority"), [
    ("Low", "low"), ("Medium", "normal"), ("High", "high"), ("Critical", "urgent"), ("Urgent", "urgent"),
    (None, "normal"), ("Whatever", "normal"),
])  # fmt: skip
def test_priorities(value: Any, priority: str) -> None:
    assert records.priority_of(value) == priority


@pytest.mark.parametrize(("stage", "status"), [
    ("Closed Won", "active"), ("Closed Lost", "churned"), ("Negotiation/Review", "pending"),
    ("Prospecting", "pending"), (None, "pending"), ("closed won", "active"),
])  # fmt: skip
def test_deal_status(stage: Any, status: str) -> None:
    assert records.deal_status_of(stage) == status


@pytest.mark.parametrize(("status", "closed", "expected"), [
    ("New", False, "new"), ("Working", False, "open"), ("Escalated", False, "open"), ("Closed", True, "closed"),
    ("Closed", None, "closed"), ("Waiting on Customer", False, "pending"), ("Solved-ish", True, "closed"),
])  # fmt: skip
def test_ticket_status(status: str, closed: Any, expected: str) -> None:
    assert records.ticket_status_of(status, closed) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-01-31T01:00:00.000+0000", dt.datetime(2026, 1, 31, 1, tzinfo=UTC)),
    ("2026-01-31T01:00:00Z", dt.datetime(2026, 1, 31, 1, tzinfo=UTC)),
    ("2026-01-31T03:00:00.000+0200", dt.datetime(2026, 1, 31, 1, tzinfo=UTC)),
    ("2026-01-31T01:00:00.250+00:00", dt.datetime(2026, 1, 31, 1, 0, 0, 250000, tzinfo=UTC)),
    ("garbage", None), (None, None), ("", None),
])  # fmt: skip
def test_parse_datetime(text: Any, expected: dt.datetime | None) -> None:
    assert values.iso_datetime(text) == expected


@pytest.mark.parametrize(("header", "usage"), [
    ("api-usage=18/5000", (18, 5000)),
    ("api-usage=25/5000; per-app-api-usage=17/250(appName=sample-app)", (25, 5000)),
    ("per-app-api-usage=17/250(appName=x)", None), ("", None), (None, None),
])  # fmt: skip
def test_api_usage(header: str | None, usage: tuple[int, int] | None) -> None:
    assert wire.api_usage(header) == usage


# ------------------------------------------------------------------ records


def test_account_mapping_full_record() -> None:
    payload = {
        "attributes": {"type": "Account", "url": "/services/data/v60.0/sobjects/Account/0015g00000AAAAAAA1"},
        "Id": "0015g00000AAAAAAA1", "Name": " Acme Corp ", "Website": "www.acme.example",
        "ParentId": "0015g00000PARENTAA2", "Industry": "Software", "NumberOfEmployees": 250, "Type": "Customer",
        "OwnerId": "0055g00000OWNERAAA", "Zendesk_Organization_Id__c": "360000000001",
        "HubSpot_Company_Id__c": None, "SystemModstamp": "2026-01-31T01:00:00.000+0000",
    }  # fmt: skip
    owner = VendorUser("0055g00000OWNERAAA", "csm@canary.test", "Casey Csm", active=False)
    record = records.account_from_payload(payload, {"0055g00000OWNERAAA": owner})
    assert record == AccountRecord(
        system="salesforce", external_id="0015g00000AAAAAAA1", name="Acme Corp",
        updated_at=dt.datetime(2026, 1, 31, 1, tzinfo=UTC), domain="www.acme.example",
        parent_external_id="0015g00000PARENTAA2", cross_refs={"zendesk": "360000000001"},
        industry="Software", employees=250, owner="csm@canary.test", owner_ref="0055g00000OWNERAAA",
        owner_active=False,
    )  # fmt: skip
    unresolved = records.account_from_payload(payload)
    assert (unresolved.owner, unresolved.owner_ref, unresolved.owner_active) == (
        "0055g00000OWNERAAA", "0055g00000OWNERAAA", None)


def test_contact_deal_ticket_mapping() -> None:
    stamp = "2026-02-01T00:00:00.000+0000"
    contact = records.contact_from_payload({
        "Id": "003A", "AccountId": "001A", "Name": "Ada Lovelace", "Email": "ada@acme.example", "Title": "CTO",
        "Customer_Role__c": "Champion", "SystemModstamp": stamp})  # fmt: skip
    assert contact == ContactRecord("salesforce", "003A", "ada@acme.example", dt.datetime(2026, 2, 1, tzinfo=UTC),
                                    "001A", "Ada Lovelace", "CTO", "champion")
    deal = records.deal_from_payload({
        "Id": "006A", "AccountId": "001A", "Name": "Renewal", "StageName": "Closed Won", "Amount": 12000.5,
        "CloseDate": "2025-06-01", "Seats__c": 25.0, "Product_Tier__c": "Enterprise",
        "Renewal_Date__c": "2026-06-01", "SystemModstamp": stamp})  # fmt: skip
    assert deal == DealRecord("salesforce", "006A", dt.datetime(2026, 2, 1, tzinfo=UTC), "001A", "Renewal",
                              Decimal("12000.5"), 25, "enterprise", dt.date(2025, 6, 1), dt.date(2026, 6, 1), "active")
    ticket = records.ticket_from_payload({
        "Id": "500A", "AccountId": "001A", "ContactId": "003A", "Subject": "Login broken", "Priority": "Critical",
        "Status": "Closed", "IsEscalated": True, "IsClosed": True, "CreatedDate": "2026-01-01T00:00:00.000+0000",
        "ClosedDate": "2026-01-02T00:00:00.000+0000", "SystemModstamp": stamp})  # fmt: skip
    assert ticket == TicketRecord("salesforce", "500A", dt.datetime(2026, 2, 1, tzinfo=UTC),
                                  dt.datetime(2026, 1, 1, tzinfo=UTC), "001A", "Login broken", "urgent", "closed", True,
                                  dt.datetime(2026, 1, 2, tzinfo=UTC), None, "003A")


def test_open_ticket_has_no_solved_time_and_missing_fields_are_none() -> None:
    ticket = records.ticket_from_payload({"Id": "500B", "Status": "Working", "IsClosed": False,
                                          "ClosedDate": None, "SystemModstamp": "2026-02-01T00:00:00.000+0000"})
    assert (ticket.status, ticket.solved_at, ticket.priority, ticket.escalated) == ("open", None, "normal", False)
    assert ticket.created_at == ticket.updated_at
    deal = records.deal_from_payload({"Id": "006B", "Amount": None, "Seats__c": None, "StageName": "Closed Lost"})
    assert (deal.arr, deal.seats, deal.status, deal.updated_at) == (None, None, "churned", records.UNKNOWN_TIME)


# ------------------------------------------------------------------ real payloads


@pytest.mark.parametrize("name", [
    "query_final_page.json", "query_page_not_done.json", "query_page_first_restforce.json",
    "query_page_last_restforce.json", "query_record_with_attributes_and_relationships_restforce.json",
])  # fmt: skip
def test_every_mapping_accepts_the_real_query_pages(name: str) -> None:
    page = _load(name)
    assert isinstance(page["done"], bool) and page["records"]
    for payload in page["records"]:
        expected_id = payload["attributes"]["url"].rsplit("/", 1)[-1]
        for mapper in (records.account_from_payload, records.contact_from_payload, records.deal_from_payload,
                       records.ticket_from_payload):
            record = mapper(payload)
            assert record.external_id == expected_id
            assert record.system == "salesforce"


def test_real_account_and_contact_pages_map_their_names() -> None:
    accounts = [records.account_from_payload(p) for p in _load("query_final_page.json")["records"]]
    assert [(a.external_id, a.name) for a in accounts] == [("001D000000IRFmaIAH", "Test 1"),
                                                           ("001D000000IomazIAB", "Test 2")]
    [contact] = [records.contact_from_payload(p) for p in _load("query_page_not_done.json")["records"]]
    assert (contact.external_id, contact.name, contact.role) == ("003RO0000035WQgYAM", "John Smith", "user")


def test_real_composite_results() -> None:
    ids = ["001RM000003oCprYAE", "001xx000003DGb2999"]
    succeeded, failed = wire.collection_outcomes(ids, _load("composite_sobjects_patch_partial_failure.json"))
    assert succeeded == ["001RM000003oCprYAE"]
    assert failed == {"001xx000003DGb2999": "MALFORMED_ID: Contact ID: id value of incorrect type: "
                                            "001xx000003DGb2999 (Id)"}
    succeeded, failed = wire.collection_outcomes(ids, _load("composite_sobjects_patch_all_or_none_rolled_back.json"))
    assert succeeded == [] and failed[ids[0]].startswith("ALL_OR_NONE_OPERATION_ROLLED_BACK: ")


@pytest.mark.parametrize(("name", "code", "text"), [
    ("error_request_limit_exceeded.json", "REQUEST_LIMIT_EXCEEDED",
     "REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded."),
    ("error_invalid_session_id_restforce.json", "INVALID_SESSION_ID",
     "INVALID_SESSION_ID: Session expired or invalid"),
    ("error_malformed_query.json", "MALFORMED_QUERY", "MALFORMED_QUERY: unexpected token: invalid"),
    ("error_invalid_email_with_fields.json", "INVALID_EMAIL_ADDRESS",
     "INVALID_EMAIL_ADDRESS: Email: invalid email address: not an email (Email)"),
    ("bulk2_error_job_not_found.json", "NOT_FOUND", "NOT_FOUND: The requested resource does not exist"),
])  # fmt: skip
def test_real_error_bodies(name: str, code: str, text: str) -> None:
    body = _load(name)
    assert wire.error_code(body) == code
    assert wire.error_text(body) == text


def test_real_limit_header_and_describe() -> None:
    examples = _load("sforce_limit_info_header.json")["examples"]
    assert examples
    for example in examples:
        usage = wire.api_usage(example["value"])
        assert usage is not None and usage[1] == 5000
        if "parsed" in example:
            assert usage == (example["parsed"]["api-usage"]["used"], example["parsed"]["api-usage"]["total"])
    names = wire.describe_field_names(_load("describe_custom_object_excerpt_restforce.json"))
    assert "Id" in names and "ParentWhizbang__c" in names and len(names) == 4


# ------------------------------------------------------------------ push values


def test_salesforce_values_convert_and_clear() -> None:
    values = fields.salesforce_values({"score": "72", "band": "good", "trend": "-0.5", "reasons": None,
                                        "scored_at": "2026-01-31T10:00:00Z"})
    assert values == {"Canary_Health_Score__c": 72.0, "Canary_Health_Band__c": "good",
                      "Canary_Health_Trend__c": -0.5, "Canary_Health_Reasons__c": None,
                      "Canary_Scored_At__c": "2026-01-31T10:00:00.000Z"}


@pytest.mark.parametrize("values", [{"score": "high"}, {"trend": "n/a"}, {"scored_at": "yesterday"}])
def test_salesforce_values_refuse_bad_values(values: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=next(iter(values))):
        fields.salesforce_values(values)


def test_bulk_csv_marks_cleared_fields_and_leaves_missing_ones_empty() -> None:
    text = wire.bulk_csv([("001A", {"Canary_Health_Score__c": 72.0, "Canary_Health_Reasons__c": None}),
                             ("001B", {"Canary_Health_Score__c": 40.5, "Canary_Health_Band__c": 'say "hi", ok'})])
    assert text.splitlines() == [
        "Id,Canary_Health_Score__c,Canary_Health_Reasons__c,Canary_Health_Band__c",
        "001A,72,#N/A,",
        '001B,40.5,,"say ""hi"", ok"',
    ]


@pytest.mark.parametrize(("raw", "text"), [
    ("FIELD_CUSTOM_VALIDATION_EXCEPTION:Record is locked: --", "FIELD_CUSTOM_VALIDATION_EXCEPTION: Record is locked"),
    ("INVALID_TYPE_ON_FIELD_IN_RECORD:Score: bad:Canary_Health_Score__c --",
     "INVALID_TYPE_ON_FIELD_IN_RECORD: Score: bad (Canary_Health_Score__c)"),
    ("", "rejected by the Bulk API job"),
])  # fmt: skip
def test_bulk_error_text(raw: str, text: str) -> None:
    assert wire.bulk_error_text(raw) == text


@pytest.mark.parametrize(("key", "kind", "metadata"), [
    ("score", "number", {"type": "Number", "precision": 5, "scale": 1}),
    ("trend", "number", {"type": "Number", "precision": 6, "scale": 2}),
    ("band", "text", {"type": "Picklist", "valueSet": {"restricted": True, "valueSetDefinition": {
        "sorted": False, "value": [{"fullName": "good", "default": False, "label": "Good"},
                                   {"fullName": "average", "default": False, "label": "Average"},
                                   {"fullName": "poor", "default": False, "label": "Poor"}]}}}),
    ("reasons", "long_text", {"type": "LongTextArea", "length": 4000, "visibleLines": 3}),
    ("scored_at", "datetime", {"type": "DateTime"}),
])  # fmt: skip
def test_custom_field_metadata(key: str, kind: str, metadata: dict[str, Any]) -> None:
    spec = next(s for s in HEALTH_FIELDS if s.key == key)
    assert spec.kind == kind
    body = fields.custom_field_metadata(spec)
    assert body["FullName"] == f"Account.{fields.field_name(key)}"
    assert metadata.items() <= body["Metadata"].items()
    assert body["Metadata"]["label"] == spec.label and body["Metadata"]["inlineHelpText"] == spec.help


PACKAGE_FIELDS = (Path(__file__).resolve().parents[2]
                  / "manifests/salesforce/force-app/main/default/objects/Account/fields")


@pytest.mark.parametrize("spec", HEALTH_FIELDS, ids=lambda s: s.key)
def test_tooling_fields_match_the_package_definition(spec: FieldSpec) -> None:
    """An org without the package gets the same field types from Canary's Tooling fallback."""
    ns = {"m": "http://soap.sforce.com/2006/04/metadata"}
    name = fields.field_name(spec.key)
    root = ElementTree.parse(PACKAGE_FIELDS / f"{name}.field-meta.xml").getroot()
    metadata = fields.custom_field_metadata(spec)["Metadata"]
    assert root.findtext("m:label", namespaces=ns) == metadata["label"] == spec.label
    assert root.findtext("m:type", namespaces=ns) == metadata["type"]
    for key in ("precision", "scale", "length", "visibleLines"):
        assert root.findtext(f"m:{key}", namespaces=ns) == (str(metadata[key]) if key in metadata else None), key
    package_values = [v.findtext("m:fullName", namespaces=ns)
                      for v in root.findall("m:valueSet/m:valueSetDefinition/m:value", ns)]
    tooling_values = [v["fullName"] for v in metadata.get("valueSet", {}).get("valueSetDefinition", {}).get(
        "value", [])]
    assert package_values == tooling_values
    assert (root.findtext("m:valueSet/m:restricted", namespaces=ns) == "true") == bool(
        metadata.get("valueSet", {}).get("restricted"))


def test_unknown_field_key_gets_a_canary_name() -> None:
    body = fields.custom_field_metadata(FieldSpec("next step", "Next Step", "text", "What to do next."))
    assert body["FullName"] == "Account.Canary_Next_Step__c"


# ------------------------------------------------------------------ SOQL and cursor


@pytest.mark.parametrize(("value", "literal"), [
    ("plain", "'plain'"), ("O'Brien", "'O\\'Brien'"), ("back\\slash", "'back\\\\slash'"),
    ("a\nb", "'a\\nb'"), ("' OR Name != '", "'\\' OR Name != \\''"),
])  # fmt: skip
def test_soql_string_escapes(value: str, literal: str) -> None:
    assert soql_string(value) == literal


@pytest.mark.parametrize(("moment", "literal"), [
    (dt.datetime(2026, 1, 31, 1, 2, 3, tzinfo=UTC), "2026-01-31T01:02:03Z"),
    (dt.datetime(2026, 1, 31, 1, 2, 3, 250000, tzinfo=UTC), "2026-01-31T01:02:03.250Z"),
    (dt.datetime(2026, 1, 31, 3, 2, 3, tzinfo=dt.timezone(dt.timedelta(hours=2))), "2026-01-31T01:02:03Z"),
])  # fmt: skip
def test_soql_datetime(moment: dt.datetime, literal: str) -> None:
    assert soql_datetime(moment) == literal


@pytest.mark.parametrize("name", ["Account; DELETE", "Name,Id", "", "1Field", "Owner.Email"])
def test_soql_name_refuses_anything_but_identifiers(name: str) -> None:
    with pytest.raises(ValueError):
        soql_name(name)


STAMP = dt.datetime(2026, 1, 31, 1, tzinfo=UTC)


@pytest.mark.parametrize(("cursor", "where"), [
    (ModstampCursor(), ""),
    (ModstampCursor(STAMP, "0015g0000004DU4AAM", frozenset({"0015g0000004DU4AAM", "0015g0000004AAAAAA"})),
     " WHERE SystemModstamp >= 2026-01-31T01:00:00Z AND (SystemModstamp > 2026-01-31T01:00:00Z "
     "OR Id NOT IN ('0015g0000004AAAAAA', '0015g0000004DU4AAM'))"),
    (ModstampCursor(STAMP, "0015g0000004DU4AAM", None),
     " WHERE SystemModstamp >= 2026-01-31T01:00:00Z AND (SystemModstamp > 2026-01-31T01:00:00Z "
     "OR Id > '0015g0000004DU4AAM')"),
])  # fmt: skip
def test_incremental_query(cursor: ModstampCursor, where: str) -> None:
    assert incremental_query("Account", ("Id", "Name"), cursor) == (
        f"SELECT Id, Name, SystemModstamp FROM Account{where} ORDER BY SystemModstamp, Id")


def test_incremental_query_leaves_out_the_integration_users_changes() -> None:
    cursor = ModstampCursor(STAMP, "0015g0000004DU4AAM", None)
    assert incremental_query("Task", ("Id",), cursor, scope="Canary_Task_Key__c != null",
                             not_modified_by="005000000000001AAA") == (
        "SELECT Id, SystemModstamp FROM Task WHERE (Canary_Task_Key__c != null) AND (SystemModstamp >= "
        "2026-01-31T01:00:00Z AND (SystemModstamp > 2026-01-31T01:00:00Z OR Id > '0015g0000004DU4AAM')) AND "
        "(LastModifiedById != '005000000000001AAA') ORDER BY SystemModstamp, Id")
    assert incremental_query("Account", ("Id",), ModstampCursor(), not_modified_by="005000000000001") == (
        "SELECT Id, SystemModstamp FROM Account WHERE LastModifiedById != '005000000000001' "
        "ORDER BY SystemModstamp, Id")
    with pytest.raises(ValueError, match="not a Salesforce id"):
        incremental_query("Account", ("Id",), cursor, not_modified_by="x' OR Name != '")


def test_cursor_advance_remembers_boundary_ids_then_falls_back_to_the_last_id() -> None:
    later = STAMP + dt.timedelta(seconds=1)
    start = ModstampCursor().advance([(STAMP, "001A00000000001"), (later, "001A00000000002"),
                                      (later, "001A00000000003")])
    assert start == ModstampCursor(later, "001A00000000003", frozenset({"001A00000000002", "001A00000000003"}))
    same = start.advance([(later, "001A00000000004")])
    assert same.seen == frozenset({"001A00000000002", "001A00000000003", "001A00000000004"})
    crowd = same.advance([(later, f"001A0000000{n:04d}") for n in range(10, 10 + MAX_SEEN)])
    assert (crowd.seen, crowd.last_id) == (None, f"001A0000000{9 + MAX_SEEN:04d}")
    assert crowd.advance([(later, "001A00000009999")]).seen is None
    moved = crowd.advance([(later + dt.timedelta(seconds=1), "001A00000000005")])
    assert moved.seen == frozenset({"001A00000000005"})
    assert ModstampCursor.load(crowd.dump()) == crowd and ModstampCursor.load(moved.dump()) == moved


def test_ids_query_refuses_a_non_id() -> None:
    assert ids_query("User", ("Id", "Email"), ["0055g0000004AAAAAA"]) == (
        "SELECT Id, Email FROM User WHERE Id IN ('0055g0000004AAAAAA')")
    with pytest.raises(ValueError):
        ids_query("User", ("Id",), ["005' OR Id != '"])


def test_cursor_round_trip_and_repeats() -> None:
    cursor = ModstampCursor(STAMP, "0015g0000004DU4AAM", frozenset({"0015g0000004DU4AAM", "0015g0000004CCCAAM"}))
    text = cursor.dump()
    assert text is not None and ModstampCursor.load(text) == cursor
    assert ModstampCursor.load(None) == ModstampCursor() and ModstampCursor().dump() is None
    stamp = dt.datetime(2026, 1, 31, 1, tzinfo=UTC)
    assert cursor.repeats(stamp, "0015g0000004DU4AAM") and cursor.repeats(stamp, "0015g0000004CCCAAM")
    assert cursor.repeats(stamp - dt.timedelta(seconds=1), "0015g0000004ZZZAAM")
    assert not cursor.repeats(stamp, "0015g0000004DU5AAM")
    assert not cursor.repeats(stamp + dt.timedelta(seconds=1), "0015g0000004AAAAAM")


@pytest.mark.parametrize("text", ["17", "not json", '{"v": 2}', '{"v": 1, "stamp": "nope", "last_id": null}',
                                  '{"v": 1, "stamp": "2026-01-01T00:00:00Z", "last_id": "x\' OR 1=1"}'])
def test_foreign_or_damaged_cursor_is_refused_clearly(text: str) -> None:
    with pytest.raises(BadCursor, match="full sync"):
        ModstampCursor.load(text)
