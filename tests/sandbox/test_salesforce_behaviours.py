"""Real-org behaviours of the Salesforce emulator, each behind an option: on, the behaviour through
the real ``simple_salesforce``; on by default as in a real org (``concurrency_refusals`` at 0), and
each can be switched off for the simpler emulator of before."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceRefusedRequest

from sandbox.salesforce import make_id
from sandbox.salesforce.emulator import DEFAULT_USER_ID
from tests.sandbox import test_salesforce_api as api
from tests.sandbox.test_salesforce_api import BASE, FakeClock, Sandbox

tls = api.tls
make_sandbox = api.make_sandbox

FIELD = {
    "FullName": "Account.Canary_Health_Score__c",
    "Metadata": {"label": "Canary Health Score", "type": "Number", "precision": 5, "scale": 1},
}
ACCOUNT = make_id("001", 1)


def create_field(sb: Sandbox) -> dict[str, Any]:
    result: dict[str, Any] = sb.sf.toolingexecute("sobjects/CustomField/", method="POST", data=FIELD)
    return result


def grant(sb: Sandbox, *, edit: bool, assign: bool = True) -> str:
    """A permission set granting the field, through sObject and composite creates; its Id."""
    ps = sb.sf.PermissionSet.create({"Name": "Canary_Integration", "Label": "Canary Integration"})["id"]
    body = {"allOrNone": True, "records": [{"attributes": {"type": "FieldPermissions"}, "ParentId": ps,
            "SobjectType": "Account", "Field": "Account.Canary_Health_Score__c", "PermissionsRead": True,
            "PermissionsEdit": edit}]}  # fmt: skip
    assert sb.sf.restful("composite/sobjects", method="POST", json=body)[0]["success"] is True
    if assign:
        user = sb.sf.query("SELECT Id FROM User WHERE Username = 'integration@canary.sandbox'")["records"][0]["Id"]
        sb.sf.PermissionSetAssignment.create({"PermissionSetId": ps, "AssigneeId": user})
    return str(ps)


def account_fields(sb: Sandbox) -> set[str]:
    return {f["name"] for f in sb.sf.Account.describe()["fields"]}


# ------------------------------------------------------------------ field-level security


def test_new_field_is_invisible_until_a_permission_set_grants_it(make_sandbox: Any) -> None:
    sb = make_sandbox(field_level_security=True)
    assert create_field(sb)["success"] is True
    assert "Canary_Health_Score__c" not in account_fields(sb)
    with pytest.raises(SalesforceMalformedRequest) as query:
        sb.sf.query("SELECT Id, Canary_Health_Score__c FROM Account")
    assert query.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as update:
        sb.sf.Account.update(ACCOUNT, {"Canary_Health_Score__c": 50})
    assert update.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as again:
        create_field(sb)
    assert again.value.content[0]["errorCode"] == "DUPLICATE_DEVELOPER_NAME"

    grant(sb, edit=True)
    assert "Canary_Health_Score__c" in account_fields(sb)
    assert sb.sf.Account.update(ACCOUNT, {"Canary_Health_Score__c": 50}) == 204
    rows = sb.sf.query("SELECT Id, Canary_Health_Score__c FROM Account WHERE Canary_Health_Score__c = 50")
    assert [r["Id"] for r in rows["records"]] == [ACCOUNT]


def test_an_unassigned_permission_set_grants_nothing_and_read_only_refuses_writes(make_sandbox: Any) -> None:
    sb = make_sandbox(field_level_security=True)
    create_field(sb)
    ps = grant(sb, edit=False, assign=False)
    assert "Canary_Health_Score__c" not in account_fields(sb)
    sb.sf.PermissionSetAssignment.create({"PermissionSetId": ps, "AssigneeId": DEFAULT_USER_ID})
    described = {f["name"]: f for f in sb.sf.Account.describe()["fields"]}
    assert described["Canary_Health_Score__c"]["updateable"] is False
    assert sb.sf.query("SELECT Canary_Health_Score__c FROM Account LIMIT 1")["totalSize"] == 1
    with pytest.raises(SalesforceMalformedRequest) as update:
        sb.sf.Account.update(ACCOUNT, {"Canary_Health_Score__c": 50})
    assert update.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    grants = sb.sf.query("SELECT Field, PermissionsRead, PermissionsEdit FROM FieldPermissions")["records"]
    assert [(g["Field"], g["PermissionsRead"], g["PermissionsEdit"]) for g in grants] == [
        ("Account.Canary_Health_Score__c", True, False)
    ]


def test_without_field_level_security_a_new_field_is_usable_at_once(make_sandbox: Any) -> None:
    sb = make_sandbox(field_level_security=False)
    create_field(sb)
    assert "Canary_Health_Score__c" in account_fields(sb)
    assert sb.sf.Account.update(ACCOUNT, {"Canary_Health_Score__c": 50}) == 204
    assert "PermissionSet" not in {o["name"] for o in sb.sf.describe()["sobjects"]}


# ------------------------------------------------------------------ whole-second stamps


@pytest.mark.parametrize(("whole", "stamps"), [(True, 1), (False, 5)])
def test_whole_second_stamps_make_ties(make_sandbox: Any, whole: bool, stamps: int) -> None:
    sb = make_sandbox(whole_second_timestamps=whole)
    clock: FakeClock = sb.emulator.clock
    clock.now = BASE + timedelta(days=31, microseconds=1000)
    for n in range(1, 6):
        clock.now += timedelta(milliseconds=7)
        sb.sf.Account.update(make_id("001", n), {"Industry": "Media"})
    rows = sb.sf.query("SELECT Id, SystemModstamp, LastModifiedDate FROM Account WHERE Industry = 'Media'")["records"]
    assert len(rows) == 5
    assert len({r["SystemModstamp"] for r in rows}) == stamps
    if whole:
        assert {r["SystemModstamp"] for r in rows} == {"2026-02-01T00:00:00.000+0000"}
        assert all(r["LastModifiedDate"] == r["SystemModstamp"] for r in rows)


# ------------------------------------------------------------------ recycle bin and merges


def test_deleted_and_merged_accounts_stay_in_the_recycle_bin_for_query_all(make_sandbox: Any) -> None:
    sb = make_sandbox(recycle_bin=True)
    winner, loser, gone = make_id("001", 1), make_id("001", 2), make_id("001", 3)
    assert sb.sf.Account.delete(gone) == 204
    sb.emulator.merge("Account", winner, loser)
    live = {r["Id"] for r in sb.sf.query_all("SELECT Id FROM Account")["records"]}
    assert gone not in live and loser not in live and winner in live
    rows = sb.sf.query_all(
        "SELECT Id, IsDeleted, MasterRecordId FROM Account WHERE IsDeleted = true", include_deleted=True
    )["records"]
    assert {(r["Id"], r["IsDeleted"], r["MasterRecordId"]) for r in rows} == {(gone, True, None), (loser, True, winner)}
    children = sb.sf.query_all(f"SELECT Id FROM Contact WHERE AccountId = '{winner}'")["records"]
    assert {r["Id"] for r in children} == {make_id("003", 1), make_id("003", 2)}
    assert sb.emulator.merged_ids("Account") == {loser: winner}
    assert gone in sb.emulator.deleted_ids("Account")


def test_without_a_recycle_bin_deleted_records_vanish_even_from_query_all(make_sandbox: Any) -> None:
    sb = make_sandbox(recycle_bin=False)
    gone = make_id("001", 3)
    sb.sf.Account.delete(gone)
    rows = sb.sf.query_all("SELECT Id FROM Account", include_deleted=True)["records"]
    assert len(rows) == 29 and gone not in {r["Id"] for r in rows}
    assert "MasterRecordId" not in account_fields(sb)


def test_deleting_an_account_in_process_deletes_its_children(make_sandbox: Any) -> None:
    sb = make_sandbox(recycle_bin=True)
    assert sb.emulator.delete("Account", [make_id("001", 1)]) == [make_id("001", 1)]
    deleted = sb.sf.query_all("SELECT Id FROM Contact WHERE IsDeleted = true", include_deleted=True)["records"]
    assert [r["Id"] for r in deleted] == [make_id("003", 1)]


# ------------------------------------------------------------------ concurrency limit


def test_concurrency_refusal_is_told_apart_from_the_daily_limit(make_sandbox: Any) -> None:
    sb = make_sandbox(daily_api_limit=3)
    sb.emulator.refuse_concurrent(1)
    with pytest.raises(SalesforceRefusedRequest) as concurrent:
        sb.sf.query("SELECT Id FROM Account LIMIT 1")
    assert concurrent.value.content == [
        {"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "ConcurrentPerOrgLongTxn Limit exceeded."}
    ]
    assert sb.emulator.api_usage == 0
    for _ in range(3):
        sb.sf.query("SELECT Id FROM Account LIMIT 1")
    with pytest.raises(SalesforceRefusedRequest) as daily:
        sb.sf.query("SELECT Id FROM Account LIMIT 1")
    assert daily.value.content[0]["message"] == "TotalRequests Limit exceeded."


@pytest.mark.parametrize(("share", "refused"), [(0.0, 0), (0.5, 12)])
def test_concurrency_refusals_by_share_are_seeded(make_sandbox: Any, share: float, refused: int) -> None:
    outcomes = []
    for _ in range(2):
        sb = make_sandbox(concurrency_refusals=share, refusal_seed=4)
        run = []
        for _ in range(20):
            try:
                sb.sf.query("SELECT Id FROM Account LIMIT 1")
                run.append(True)
            except SalesforceRefusedRequest:
                run.append(False)
        outcomes.append(run)
    assert outcomes[0] == outcomes[1]
    assert outcomes[0].count(False) == refused


# ------------------------------------------------------------------ OFFSET and allOrNone


@pytest.mark.parametrize(("limit", "refused"), [(2000, True), (None, False)])
def test_offset_above_2000(make_sandbox: Any, limit: int | None, refused: bool) -> None:
    sb = make_sandbox(max_soql_offset=limit)
    assert sb.sf.query("SELECT Id FROM Account ORDER BY Id LIMIT 5 OFFSET 2000")["totalSize"] == 0
    if not refused:
        assert sb.sf.query("SELECT Id FROM Account LIMIT 5 OFFSET 2001")["totalSize"] == 0
        return
    with pytest.raises(SalesforceMalformedRequest) as error:
        sb.sf.query("SELECT Id FROM Account LIMIT 5 OFFSET 2001")
    assert error.value.content == [
        {"errorCode": "NUMBER_OUTSIDE_VALID_RANGE", "message": "Maximum SOQL offset allowed is 2000"}
    ]


@pytest.mark.parametrize("rollback", [True, False])
def test_all_or_none_create_failing_late_rolls_back_what_it_created(make_sandbox: Any, rollback: bool) -> None:
    sb = make_sandbox(all_or_none_rollback=rollback)
    body = {"allOrNone": True, "records": [
        {"attributes": {"type": "Account"}, "Name": "Created first"},
        {"attributes": {"type": "Opportunity"}, "Name": "No stage", "CloseDate": "2026-03-01"},
    ]}  # fmt: skip
    results = sb.sf.restful("composite/sobjects", method="POST", json=body)
    assert results[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    kept = sb.sf.query("SELECT Id FROM Account WHERE Name = 'Created first'")["totalSize"]
    if rollback:
        assert results[0] == {"id": None, "success": False, "errors": [
            {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK", "message": "Record rolled back because not all "
             "records were valid and the request was using AllOrNone header", "fields": []}]}  # fmt: skip
        assert kept == 0
    else:
        assert results[0]["success"] is True
        assert kept == 1


# ------------------------------------------------------------------ defaults


def test_the_defaults_are_a_real_org(make_sandbox: Any) -> None:
    """Every behaviour the adapter handles is on unless switched off; concurrency refusals stay at 0."""
    sb = make_sandbox()
    emulator = sb.emulator
    assert (emulator.whole_second_timestamps, emulator.recycle_bin, emulator.all_or_none_rollback) == (True, True, True)
    assert (emulator.max_soql_offset, emulator.concurrency_refusals) == (2000, 0.0)
    assert create_field(sb)["success"] is True
    assert "Canary_Health_Score__c" not in account_fields(sb)  # field-level security
    assert "MasterRecordId" in account_fields(sb)
    with pytest.raises(SalesforceMalformedRequest) as offset:
        sb.sf.query("SELECT Id FROM Account LIMIT 5 OFFSET 2001")
    assert offset.value.content[0]["errorCode"] == "NUMBER_OUTSIDE_VALID_RANGE"
    resources = sb.sf.restful("")
    assert resources["identity"].endswith(f"/id/00D5g000004CnryEAC/{DEFAULT_USER_ID}")
