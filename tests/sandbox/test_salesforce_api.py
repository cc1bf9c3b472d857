"""The Salesforce emulator driven by the real, unmodified ``simple_salesforce`` over TLS."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from sandbox.core import LoopbackServer, TLSMaterial, make_self_signed_cert
from sandbox.salesforce import SalesforceEmulator, make_id
from sandbox.world import Company, Deal, Person, Presence, Ticket, World
from tests.sandbox.worlds import company, ticket

BASE = datetime(2026, 1, 1, tzinfo=UTC)


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def make_world(n_accounts: int, *, shared_stamp_every: int = 100) -> World:
    """Companies with Salesforce presence; ``shared_stamp_every`` rows share a SystemModstamp."""
    companies: list[Company] = []
    people: list[Person] = []
    deals: list[Deal] = []
    tickets: list[Ticket] = []
    for i in range(n_accounts):
        key = f"C{i:06d}"
        refs = {"zendesk": str(9000 + i)} if i % 2 == 0 else {}
        if i % 3 == 0:
            refs["hubspot"] = str(5000 + i)
        companies.append(
            company(
                key=key,
                name=f"Company {i}",
                domain=f"company{i}.example",
                industry="Software" if i % 2 else "Retail",
                employees=10 + i,
                tier="growth",
                csm_owner=f"csm{i % 3}@canary.test",
                onboarding_start=date(2025, 1, 1),
                parent_key="C000000" if i in (1, 2) else None,
                presence={
                    "salesforce": Presence(
                        external_id=make_id("001", i + 1),
                        name=f"Company {i} Inc." if i == 1 else None,
                        domain=f"www.company{i}.example" if i % 4 else None,
                        cross_refs=refs,
                        created_at=BASE,
                        updated_at=BASE + timedelta(minutes=i // shared_stamp_every),
                    )
                },
            )
        )
    for i in range(min(n_accounts, 5)):
        people.append(
            Person(
                key=f"P{i}",
                company_key=f"C{i:06d}",
                first_name="Ada",
                last_name=f"Lovelace{i}",
                email=f"ada{i}@company{i}.example",
                role="executive_sponsor" if i == 0 else "champion",
                title="CTO",
                presence={"salesforce": Presence(external_id=make_id("003", i + 1), updated_at=BASE)},
            )
        )
        deals.append(
            Deal(
                key=f"D{i}",
                company_key=f"C{i:06d}",
                name=f"Company {i} renewal",
                arr=12000.0 + i,
                seats=25,
                tier="enterprise",
                start_date=date(2025, 6, 1),
                renewal_date=date(2026, 6, 1),
                status="active",
                presence={"salesforce": Presence(external_id=make_id("006", i + 1), updated_at=BASE)},
            )
        )
        tickets.append(
            ticket(
                key=f"T{i}",
                company_key=f"C{i:06d}",
                requester_key=f"P{i}",
                subject=f"Login broken {i}",
                priority="urgent" if i == 0 else "normal",
                status="solved" if i == 1 else "open",
                escalated=i == 0,
                created_at=BASE - timedelta(days=3),
                updated_at=BASE - timedelta(days=1),
                solved_at=BASE - timedelta(days=1) if i == 1 else None,
                presence={"salesforce": Presence(external_id=make_id("500", i + 1))},
            )
        )
    return World(seed=7, as_of=date(2026, 1, 1), companies=companies, people=people, deals=deals,
                 tickets=tickets, surveys=[])  # fmt: skip


@pytest.fixture(scope="module")
def tls() -> TLSMaterial:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    return make_self_signed_cert()


def connect(server: LoopbackServer, tls: TLSMaterial, token: str) -> Salesforce:
    session = requests.Session()
    session.verify = tls.cert_path
    session.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would override .verify
    return Salesforce(instance_url=server.url, session_id=token, session=session)


class Sandbox:
    def __init__(self, emulator: SalesforceEmulator, server: LoopbackServer, sf: Salesforce) -> None:
        self.emulator, self.server, self.sf = emulator, server, sf


@pytest.fixture
def make_sandbox(tls: TLSMaterial) -> Iterator[Any]:
    servers: list[LoopbackServer] = []

    def build(n_accounts: int = 30, **kwargs: Any) -> Sandbox:
        emulator = SalesforceEmulator(clock=FakeClock(BASE + timedelta(days=30)), **kwargs)
        emulator.seed(make_world(n_accounts))
        server = LoopbackServer(emulator.wsgi_app, tls=tls).start()
        servers.append(server)
        return Sandbox(emulator, server, connect(server, tls, emulator.credentials["session_id"]))

    yield build
    for server in servers:
        server.stop()


@pytest.fixture
def box(make_sandbox: Any) -> Sandbox:
    return make_sandbox()


# ------------------------------------------------------------------ query


def test_query_all_walks_every_batch_once_in_cursor_order(make_sandbox: Any) -> None:
    sb = make_sandbox(2500)
    result = sb.sf.query_all(
        "SELECT Id, Name, SystemModstamp FROM Account ORDER BY SystemModstamp, Id",
        headers={"Sforce-Query-Options": "batchSize=200"},
    )
    records = result["records"]
    ids = [r["Id"] for r in records]
    assert len(records) == 2500
    assert len(set(ids)) == 2500
    keys = [(r["SystemModstamp"], r["Id"]) for r in records]
    assert keys == sorted(keys)
    assert sb.emulator.stats.calls("GET", "/services/data/v<version>/query") == 1
    assert sb.emulator.stats.calls("GET", "/services/data/v<version>/query/<locator>") == 12
    assert sb.emulator.stats.snapshot()["records_returned"] == 2500


@pytest.mark.parametrize(
    ("header", "first_page"),
    [(None, 2000), ("batchSize=100", 200), ("batchSize=500", 500), ("batchSize=5000", 2000), ("junk", 2000)],
)
def test_batch_size_header(make_sandbox: Any, header: str | None, first_page: int) -> None:
    sb = make_sandbox(2100)
    headers = {"Sforce-Query-Options": header} if header else {}
    page = sb.sf.query("SELECT Id FROM Account", headers=headers)
    assert page["totalSize"] == 2100
    assert len(page["records"]) == first_page
    assert page["done"] is False
    assert page["nextRecordsUrl"].endswith(f"-{first_page}")
    more = sb.sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)
    assert len(more["records"]) == min(first_page, 2100 - first_page)


def test_expired_query_locator_is_invalid(box: Sandbox) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        box.sf.query_more("01gNOPE-200")
    assert caught.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


@pytest.mark.parametrize(
    ("where_tail", "expected_numbers"),
    [
        ("WHERE NumberOfEmployees IN (10, 12, 99) ORDER BY Id", [1, 3]),
        ("WHERE Industry = 'retail' AND NumberOfEmployees < 16 ORDER BY NumberOfEmployees DESC", [5, 3, 1]),
        ("WHERE Zendesk_Organization_Id__c != null AND HubSpot_Company_Id__c != null ORDER BY Id LIMIT 3", [1, 7, 13]),
        ("WHERE ParentId = '{parent}' ORDER BY Name DESC", [3, 2]),
        ("WHERE SystemModstamp > 2026-01-01T00:00:00Z ORDER BY Id", []),
        ("WHERE SystemModstamp >= 2026-01-01T00:00:00.000+0000 ORDER BY Id DESC LIMIT 2", [30, 29]),
        ("WHERE CreatedDate = LAST_N_DAYS:31 AND Name LIKE 'Company 2%' ORDER BY Name LIMIT 3", [3, 21, 22]),
        ("WHERE CreatedDate = LAST_N_DAYS:29 ORDER BY Id", []),
    ],
)
def test_query_filters_through_the_sdk(box: Sandbox, where_tail: str, expected_numbers: list[int]) -> None:
    parent = make_id("001", 1)
    soql = f"SELECT Id FROM Account {where_tail.format(parent=parent)}"
    ids = [r["Id"] for r in box.sf.query_all(soql)["records"]]
    assert ids == [make_id("001", n) for n in expected_numbers]


def test_count_query(box: Sandbox) -> None:
    result = box.sf.query("SELECT COUNT() FROM Account WHERE Industry = 'Software'")
    assert result == {"totalSize": 15, "done": True, "records": []}


def test_touched_records_are_pulled_again(box: Sandbox) -> None:
    """The sync contract: change 5 records, an incremental pull returns exactly those 5."""
    emulator, sf = box.emulator, box.sf
    first = sf.query_all("SELECT Id, SystemModstamp FROM Account ORDER BY SystemModstamp, Id")["records"]
    cursor = first[-1]["SystemModstamp"]
    assert isinstance(emulator.clock, FakeClock)
    emulator.clock.now += timedelta(hours=1)
    changed = [r["Id"] for r in first[3:8]]
    emulator.touch("Account", changed)
    again = sf.query_all(
        f"SELECT Id, SystemModstamp FROM Account WHERE SystemModstamp > {cursor} ORDER BY SystemModstamp, Id"
    )["records"]
    assert sorted(r["Id"] for r in again) == sorted(changed)
    assert {r["SystemModstamp"] for r in again} == {"2026-01-31T01:00:00.000+0000"}


# ------------------------------------------------------------------ records


def test_get_update_and_not_found(box: Sandbox) -> None:
    sf, emulator = box.sf, box.emulator
    account_id = make_id("001", 2)
    record = sf.Account.get(account_id)
    assert record["attributes"] == {"type": "Account", "url": f"/services/data/v59.0/sobjects/Account/{account_id}"}
    assert record["Name"] == "Company 1 Inc."
    assert record["ParentId"] == make_id("001", 1)
    assert record["Website"] == "www.company1.example"
    narrow = sf.Account.get(account_id, params={"fields": "Name,NumberOfEmployees"})
    assert set(narrow) == {"attributes", "Name", "NumberOfEmployees"}
    assert isinstance(emulator.clock, FakeClock)
    emulator.clock.now = BASE + timedelta(days=40)
    assert sf.Account.update(account_id, {"NumberOfEmployees": "77", "Industry": "Media"}) == 204
    stored = emulator.record("Account", account_id)
    assert stored is not None
    assert (stored["NumberOfEmployees"], stored["Industry"]) == (77, "Media")
    assert stored["SystemModstamp"] == "2026-02-10T00:00:00.000+0000"
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sf.Account.get(make_id("001", 9999))
    assert caught.value.content == [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
    with pytest.raises(SalesforceMalformedRequest) as bad:
        sf.Account.update(account_id, {"NumberOfEmployees": "lots"})
    assert bad.value.content[0]["errorCode"] == "INVALID_TYPE_ON_FIELD_IN_RECORD"
    assert bad.value.content[0]["fields"] == ["NumberOfEmployees"]


def test_create_task_and_read_it_back(box: Sandbox) -> None:
    created = box.sf.Task.create({"Subject": "Call the champion", "WhatId": make_id("001", 1)})
    assert created["success"] is True and created["id"].startswith("00T")
    task = box.sf.Task.get(created["id"])
    assert (task["Status"], task["Priority"], task["IsClosed"]) == ("Not Started", "Normal", False)


def test_seed_projects_world_into_native_records(box: Sandbox) -> None:
    em = box.emulator
    first = em.record("Account", make_id("001", 1))
    assert first is not None
    assert first["Zendesk_Organization_Id__c"] == "9000" and first["HubSpot_Company_Id__c"] == "5000"
    assert first["Website"] is None and first["Type"] == "Customer"
    contact = em.record("Contact", make_id("003", 1))
    assert contact is not None
    assert (contact["Customer_Role__c"], contact["Name"], contact["AccountId"]) == (
        "Executive Sponsor", "Ada Lovelace0", make_id("001", 1),
    )  # fmt: skip
    opp = em.record("Opportunity", make_id("006", 1))
    assert opp is not None
    assert (opp["Amount"], opp["StageName"], opp["IsWon"], opp["Seats__c"], opp["Renewal_Date__c"]) == (
        12000.0, "Closed Won", True, 25.0, "2026-06-01",
    )  # fmt: skip
    urgent, solved = em.record("Case", make_id("500", 1)), em.record("Case", make_id("500", 2))
    assert urgent is not None and solved is not None
    assert (urgent["Priority"], urgent["Status"], urgent["IsEscalated"]) == ("Critical", "Escalated", True)
    assert (solved["Status"], solved["IsClosed"], solved["ClosedDate"]) == (
        "Closed", True, "2025-12-31T00:00:00.000+0000",
    )  # fmt: skip
    owners = {u["Email"] for u in em.records("User")}
    assert {"csm0@canary.test", "csm1@canary.test", "csm2@canary.test"} <= owners


# ------------------------------------------------------------------ composite


def test_composite_update_partial_failure(box: Sandbox) -> None:
    sf, em = box.sf, box.emulator
    ids = [make_id("001", n) for n in (1, 2, 3, 4, 5)]
    em.fail_writes([ids[3]], "Health score is locked")
    body = {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": "Account"}, "id": ids[0], "NumberOfEmployees": 101},
            {"attributes": {"type": "Account"}, "id": ids[1], "NumberOfEmployees": "not a number"},
            {"attributes": {"type": "Account"}, "id": "001xx000003DGb2999", "Name": "x"},
            {"attributes": {"type": "Account"}, "id": ids[3], "Name": "Locked"},
            {"attributes": {"type": "Account"}, "id": ids[4], "Industry": "Media"},
        ],
    }
    results = sf.restful("composite/sobjects", method="PATCH", json=body)
    assert [r["success"] for r in results] == [True, False, False, False, True]
    assert results[0] == {"id": ids[0], "success": True, "errors": []}
    assert results[1]["id"] == ids[1]
    assert results[1]["errors"] == [
        {"statusCode": "INVALID_TYPE_ON_FIELD_IN_RECORD",
         "message": "Employees: value not of required type: not a number", "fields": ["NumberOfEmployees"]}
    ]  # fmt: skip
    assert "id" not in results[2] and results[2]["errors"][0]["statusCode"] == "MALFORMED_ID"
    assert results[3]["errors"][0]["statusCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    stored = {i: em.record("Account", i) for i in ids}
    assert stored[ids[0]]["NumberOfEmployees"] == 101  # type: ignore[index]
    assert stored[ids[1]]["NumberOfEmployees"] == 11  # type: ignore[index]
    assert stored[ids[3]]["Name"] == "Company 3"  # type: ignore[index]
    assert stored[ids[4]]["Industry"] == "Media"  # type: ignore[index]
    assert em.stats.snapshot()["records_written"] == 2


def test_composite_all_or_none_rolls_back(box: Sandbox) -> None:
    ids = [make_id("001", n) for n in (1, 2)]
    body = {
        "allOrNone": True,
        "records": [
            {"attributes": {"type": "Account"}, "id": ids[0], "Industry": "Media"},
            {"attributes": {"type": "Account"}, "id": ids[1], "SystemModstamp": "2030-01-01T00:00:00Z"},
        ],
    }
    results = box.sf.restful("composite/sobjects", method="PATCH", json=body)
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[1]["errors"][0]["statusCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert box.emulator.record("Account", ids[0])["Industry"] == "Retail"  # type: ignore[index]


def test_composite_rejects_more_than_200(box: Sandbox) -> None:
    records = [{"attributes": {"type": "Account"}, "id": make_id("001", 1), "Industry": "X"}] * 201
    with pytest.raises(SalesforceMalformedRequest) as caught:
        box.sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": False, "records": records})
    assert caught.value.content == [
        {"message": "record limit reached. cannot submit more than 200 records into this call",
         "errorCode": "EXCEEDED_ID_LIMIT"}
    ]  # fmt: skip
    assert box.emulator.stats.snapshot()["records_written"] == 0


# ------------------------------------------------------------------ Bulk API 2.0


def test_bulk2_update_with_a_failing_row(box: Sandbox) -> None:
    sf, em = box.sf, box.emulator
    rows = [{"Id": make_id("001", n), "NumberOfEmployees": str(1000 + n)} for n in range(1, 6)]
    rows[2]["NumberOfEmployees"] = "many"
    calls_before = em.api_usage
    [result] = sf.bulk2.Account.update(records=rows, wait=0)
    assert result["numberRecordsProcessed"] == 5
    assert result["numberRecordsFailed"] == 1
    assert em.record("Account", make_id("001", 1))["NumberOfEmployees"] == 1001  # type: ignore[index]
    assert em.record("Account", make_id("001", 3))["NumberOfEmployees"] == 12  # type: ignore[index]
    failed = sf.bulk2.Account.get_failed_records(result["job_id"])
    header, line = failed.strip().split("\n")
    assert header.startswith("sf__Id,sf__Error,")
    assert sorted(header.split(",")[2:]) == ["Id", "NumberOfEmployees"]
    assert line.startswith(f"{make_id('001', 3)},INVALID_TYPE_ON_FIELD_IN_RECORD:")
    succeeded = sf.bulk2.Account.get_successful_records(result["job_id"]).strip().split("\n")
    assert succeeded[0].startswith("sf__Id,sf__Created,") and len(succeeded) == 5
    assert succeeded[1].startswith(f"{make_id('001', 1)},false,")
    # create, upload, close, poll, get-info: each a call; the 5 records spend nothing more.
    assert em.api_usage - calls_before == 5 + 2


def test_bulk2_job_with_processing_delay_reports_in_progress(make_sandbox: Any) -> None:
    sb = make_sandbox(10, bulk_processing_seconds=0.3)
    job = sb.sf.restful(
        "jobs/ingest", method="POST", json={"object": "Account", "operation": "update", "lineEnding": "LF"}
    )
    assert job["state"] == "Open" and job["contentUrl"].endswith(f"/jobs/ingest/{job['id']}/batches")
    upload = sb.sf.session.put(
        f"{sb.server.url}/{job['contentUrl']}",
        data=f"Id,Industry\n{make_id('001', 1)},Media\n",
        headers={**sb.sf.headers, "Content-Type": "text/csv"},
    )
    assert upload.status_code == 201
    closed = sb.sf.restful(f"jobs/ingest/{job['id']}", method="PATCH", json={"state": "UploadComplete"})
    assert closed["state"] == "UploadComplete"
    assert sb.sf.restful(f"jobs/ingest/{job['id']}")["state"] == "InProgress"
    assert sb.emulator.record("Account", make_id("001", 1))["Industry"] == "Retail"  # type: ignore[index]
    time.sleep(0.35)
    info = sb.sf.restful(f"jobs/ingest/{job['id']}")
    assert (info["state"], info["numberRecordsProcessed"], info["numberRecordsFailed"]) == ("JobComplete", 1, 0)
    assert sb.emulator.record("Account", make_id("001", 1))["Industry"] == "Media"  # type: ignore[index]


def test_bulk2_unknown_job_is_not_found(box: Sandbox) -> None:
    with pytest.raises(SalesforceResourceNotFound) as caught:
        box.sf.restful("jobs/ingest/750NOPE")
    assert caught.value.content == [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]


# ------------------------------------------------------------------ describe and tooling


def test_tooling_custom_field_becomes_queryable_and_updatable(make_sandbox: Any) -> None:
    sf = make_sandbox(field_level_security=False).sf  # with it (the default), see test_salesforce_behaviours
    before = {f["name"]: f for f in sf.Account.describe()["fields"]}
    assert before["Zendesk_Organization_Id__c"]["custom"] is True
    assert before["Name"]["custom"] is False
    assert "Canary_Health_Score__c" not in before
    with pytest.raises(SalesforceMalformedRequest) as unknown:
        sf.query("SELECT Canary_Health_Score__c FROM Account")
    assert unknown.value.content[0]["errorCode"] == "INVALID_FIELD"
    spec = {
        "FullName": "Account.Canary_Health_Score__c",
        "Metadata": {"label": "Canary Health Score", "type": "Number", "precision": 5, "scale": 1,
                     "inlineHelpText": "0-100, computed by Canary"},
    }  # fmt: skip
    created = sf.toolingexecute("sobjects/CustomField/", method="POST", data=spec)
    assert created["success"] is True and created["id"].startswith("00N") and created["errors"] == []
    fields = {f["name"]: f for f in sf.Account.describe()["fields"]}
    score = fields["Canary_Health_Score__c"]
    assert (score["type"], score["custom"], score["precision"], score["scale"]) == ("double", True, 5, 1)
    assert score["inlineHelpText"] == "0-100, computed by Canary"
    account_id = make_id("001", 1)
    assert sf.Account.update(account_id, {"Canary_Health_Score__c": 71.26}) == 204
    rows = sf.query("SELECT Id, Canary_Health_Score__c FROM Account WHERE Canary_Health_Score__c > 70")["records"]
    assert [(r["Id"], r["Canary_Health_Score__c"]) for r in rows] == [(account_id, 71.3)]
    with pytest.raises(SalesforceMalformedRequest) as dup:
        sf.toolingexecute("sobjects/CustomField/", method="POST", data=spec)
    assert dup.value.content[0]["errorCode"] == "DUPLICATE_DEVELOPER_NAME"
    with pytest.raises(SalesforceMalformedRequest) as too_big:
        sf.Account.update(account_id, {"Canary_Health_Score__c": 12345})
    assert too_big.value.content[0]["errorCode"] == "NUMBER_OUTSIDE_VALID_RANGE"


def test_describe_global_and_limits(box: Sandbox) -> None:
    names = {o["name"] for o in box.sf.describe()["sobjects"]}
    assert {"Account", "Contact", "Opportunity", "Case", "Task", "User"} <= names
    limits = box.sf.limits()
    assert limits["DailyApiRequests"]["Max"] == 100_000
    assert limits["DailyApiRequests"]["Remaining"] == 100_000 - 2


# ------------------------------------------------------------------ auth and allocation


def test_allocation_exhaustion_and_reset(make_sandbox: Any) -> None:
    sb = make_sandbox(5, daily_api_limit=3)
    for _ in range(3):
        sb.sf.query("SELECT Id FROM Account LIMIT 1")
    assert sb.sf.api_usage["api-usage"].used == 3
    with pytest.raises(SalesforceRefusedRequest) as caught:
        sb.sf.query("SELECT Id FROM Account LIMIT 1")
    assert caught.value.status == 403
    assert caught.value.content == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    raw = sb.sf.session.get(f"{sb.sf.base_url}limits/", headers=sb.sf.headers)
    assert raw.headers["Sforce-Limit-Info"] == "api-usage=3/3"
    sb.emulator.reset_allocation()
    assert sb.sf.query("SELECT COUNT() FROM Account")["totalSize"] == 5


@pytest.mark.parametrize("token", ["wrong-token", ""])
def test_wrong_token_is_invalid_session(box: Sandbox, tls: TLSMaterial, token: str) -> None:
    sf = connect(box.server, tls, token)
    with pytest.raises(SalesforceExpiredSession) as caught:
        sf.query("SELECT Id FROM Account")
    assert caught.value.status == 401
    assert caught.value.content == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    assert box.emulator.api_usage == 0


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("invalid", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE Name =", "MALFORMED_QUERY"),
        ("SELECT Nope__c FROM Account", "INVALID_FIELD"),
        ("SELECT Id FROM Account WHERE SystemModstamp > 2026-01-01", "INVALID_QUERY_FILTER_OPERATOR"),
    ],
)
def test_bad_soql_is_a_400_in_the_vendor_shape(box: Sandbox, soql: str, code: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        box.sf.query(soql)
    assert caught.value.status == 400
    [error] = caught.value.content
    assert set(error) == {"message", "errorCode"} and error["errorCode"] == code


@pytest.mark.parametrize(("kind", "status", "code"), [("429", 429, "TOO_MANY_REQUESTS"),
                                                      ("500", 500, "UNKNOWN_EXCEPTION"),
                                                      ("503", 503, "SERVER_UNAVAILABLE")])  # fmt: skip
def test_fault_responses(kind: str, status: int, code: str) -> None:
    response = SalesforceEmulator().fault_response(kind, 17)
    assert response.status_code == status
    assert response.json[0]["errorCode"] == code  # type: ignore[index]
    assert response.headers.get("Retry-After") == (None if kind == "500" else "17")
    assert response.headers["Sforce-Limit-Info"] == "api-usage=0/100000"


def test_stats_endpoint_is_not_counted(box: Sandbox) -> None:
    box.sf.query("SELECT Id FROM Account LIMIT 1")
    stats = box.sf.session.get(f"{box.server.url}/_sandbox/stats").json()
    assert stats["calls_total"] == 1 and stats["records_returned"] == 1
    assert box.emulator.stats.calls() == 1


def test_old_api_version_is_not_found(box: Sandbox) -> None:
    response = box.sf.session.get(f"{box.server.url}/services/data/v40.0/limits/", headers=box.sf.headers)
    assert response.status_code == 404
    assert response.json()[0]["errorCode"] == "NOT_FOUND"


def test_internal_error_answers_in_vendor_shape(box: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(box.emulator, "_on_limits", broken)
    response = box.sf.session.get(f"{box.sf.base_url}limits/", headers=box.sf.headers)
    assert response.status_code == 500
    assert response.json()[0]["errorCode"] == "UNKNOWN_EXCEPTION"
