"""The Salesforce adapter against the real-org behaviours of the emulator (each on by default there),
through the real simple-salesforce over TLS: field-level security, whole-second stamps, the recycle
bin and merges, concurrency refusals, the OFFSET cap and allOrNone."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest

from integrations.base import FieldUpdate, Removal
from integrations.errors import AuthError, FatalError
from integrations.salesforce.access import PERMISSION_SET
from sandbox.salesforce import SalesforceEmulator, make_id
from sandbox.salesforce.emulator import DEFAULT_USER_ID
from sync.push import HEALTH_FIELDS
from tests.integrations import test_salesforce_adapter as base
from tests.integrations.test_salesforce_adapter import VALUES, Box, ids_of, walk

tls = base.tls
make_box = base.make_box
sqlite_store = base.sqlite_store

COLLECTION = base.COLLECTION
QUERY_ALL = "/services/data/v<version>/queryAll"
QUERY_ALL_MORE = "/services/data/v<version>/queryAll/<locator>"
TOOLING_FIELD = "/services/data/v<version>/tooling/sobjects/CustomField"
FIELD_NAMES = ("Canary_Health_Score__c", "Canary_Health_Band__c", "Canary_Health_Trend__c",
               "Canary_Health_Reasons__c", "Canary_Scored_At__c")
USER = f"integration@canary.sandbox ({DEFAULT_USER_ID})"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def refusing(method: str, path_end: str, status: int,
             body: list[dict[str, Any]]) -> Callable[[SalesforceEmulator], WSGIApp]:
    """The emulator behind a gate that refuses one kind of request as an org without the right would."""
    def wrap(emulator: SalesforceEmulator) -> WSGIApp:
        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if environ["REQUEST_METHOD"] == method and environ["PATH_INFO"].rstrip("/").endswith(path_end):
                start_response(f"{status} Refused", [("Content-Type", "application/json")])
                return [json.dumps(body).encode()]
            return emulator.wsgi_app(environ, start_response)
        return app
    return wrap


def recording(seen: list[tuple[str, str, str]]) -> Callable[[SalesforceEmulator], WSGIApp]:
    """The emulator with every request's method, path and body (or ``q``) written down."""
    def wrap(emulator: SalesforceEmulator) -> WSGIApp:
        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(length) if length else b""
            query = parse_qs(environ.get("QUERY_STRING", "")).get("q", [""])[0]
            seen.append((environ["REQUEST_METHOD"], environ["PATH_INFO"], query or raw.decode()))
            environ["wsgi.input"] = io.BytesIO(raw)
            return emulator.wsgi_app(environ, start_response)
        return app
    return wrap


def grants(box: Box) -> dict[str, tuple[bool, bool]]:
    """Field → (read, edit) in the permission set assigned to the integration user."""
    sets = [r for r in box.emulator.records("PermissionSet") if r["Name"] == PERMISSION_SET]
    assert len(sets) == 1
    assigned = [r for r in box.emulator.records("PermissionSetAssignment") if r["PermissionSetId"] == sets[0]["Id"]]
    assert [r["AssigneeId"] for r in assigned] == [DEFAULT_USER_ID]
    return {r["Field"]: (r["PermissionsRead"], r["PermissionsEdit"])
            for r in box.emulator.records("FieldPermissions") if r["ParentId"] == sets[0]["Id"]}


def writable(box: Box) -> dict[str, bool]:
    describe = box.adapter().connection.sf.restful("sobjects/Account/describe")
    return {f["name"]: f["updateable"] for f in describe["fields"] if f["name"] in FIELD_NAMES}


def add_snapshots(store: Any, tenant_id: int) -> None:
    """A health snapshot for every account: something to push."""
    from datetime import UTC, date, datetime

    from sqlalchemy import select

    from store.models import Account, HealthSnapshot

    with store.session(tenant_id) as s:
        accounts = list(s.scalars(select(Account)))
        assert accounts
        s.add_all(HealthSnapshot(tenant_id=tenant_id, account_id=a.id, day=date(2026, 1, 31), score=64.4,
                                 band="average", trend=-1.25, reasons=[{"text": "Usage fell 30 %"}],
                                 computed_at=datetime(2026, 1, 31, 10, tzinfo=UTC)) for a in accounts)


def create_hidden_fields(box: Box) -> None:
    """The five fields made through the Tooling API by an earlier run or an admin: hidden from the API user."""
    from integrations.salesforce.fields import custom_field_metadata

    sf = box.adapter().connection.sf
    for spec in HEALTH_FIELDS:
        assert sf.toolingexecute("sobjects/CustomField/", method="POST", data=custom_field_metadata(spec))["success"]
    assert writable(box) == {}


# ------------------------------------------------------------------ field-level security


def test_ensure_fields_grants_read_and_edit_through_the_permission_set_and_the_push_lands(
        make_box: Callable[..., Box]) -> None:
    box = make_box(3)
    adapter = box.adapter()
    assert adapter.ensure_fields(HEALTH_FIELDS) == ["score", "band", "trend", "reasons", "scored_at"]
    assert grants(box) == {f"Account.{name}": (True, True) for name in FIELD_NAMES}
    assert writable(box) == dict.fromkeys(FIELD_NAMES, True)
    ids = [make_id("001", 1), make_id("001", 2)]
    result = adapter.push_fields([FieldUpdate(i, VALUES) for i in ids])
    assert (sorted(result.succeeded), result.failed, result.calls) == (sorted(ids), {}, 1)
    assert box.emulator.record("Account", ids[0])["Canary_Health_Score__c"] == 72.0  # type: ignore[index]
    before = adapter.calls
    assert adapter.ensure_fields(HEALTH_FIELDS) == []
    assert adapter.calls - before == 1  # all there and writable: one describe


def test_fields_that_exist_hidden_are_granted_and_a_read_only_grant_is_widened(make_box: Callable[..., Box]) -> None:
    box = make_box(3)
    create_hidden_fields(box)
    sf = box.adapter().connection.sf  # an admin made the permission set, read-only on the score, unassigned
    ps = sf.PermissionSet.create({"Name": PERMISSION_SET, "Label": "Canary Health Sync"})["id"]
    sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": [
        {"attributes": {"type": "FieldPermissions"}, "ParentId": ps, "SobjectType": "Account",
         "Field": "Account.Canary_Health_Score__c", "PermissionsRead": True, "PermissionsEdit": False}]})
    adapter = box.adapter()
    before_creates = box.calls("POST", TOOLING_FIELD)
    assert adapter.ensure_fields(HEALTH_FIELDS) == []  # none created: DUPLICATE_DEVELOPER_NAME means "exists"
    assert box.calls("POST", TOOLING_FIELD) - before_creates == 5
    # describe, 5 refused creates, describe, identity, set found, assignment read + create,
    # field permissions read, 4 created and 1 widened, describe
    assert adapter.calls == 1 + 5 + 1 + 1 + 1 + 2 + 1 + 2 + 1
    assert [r["Id"] for r in box.emulator.records("PermissionSet")] == [ps]
    assert grants(box) == {f"Account.{name}": (True, True) for name in FIELD_NAMES}
    result = adapter.push_fields([FieldUpdate(make_id("001", 1), VALUES)])
    assert (result.succeeded, result.failed) == ([make_id("001", 1)], {})


@pytest.mark.parametrize(("path_end", "status", "code"), [
    ("sobjects/PermissionSet", 400, "INSUFFICIENT_ACCESS_OR_READONLY"),
    ("sobjects/PermissionSetAssignment", 403, "INSUFFICIENT_ACCESS"),
])
def test_when_canary_may_not_grant_access_ensure_fields_stops_naming_the_set_and_the_user(
        make_box: Callable[..., Box], path_end: str, status: int, code: str) -> None:
    refusal = [{"errorCode": code, "message": "insufficient access rights on object id"}]
    box = make_box(3, wrap=refusing("POST", path_end, status, refusal))
    adapter = box.adapter()
    with pytest.raises(FatalError) as stopped:
        adapter.ensure_fields(HEALTH_FIELDS)
    assert not isinstance(stopped.value, AuthError)
    message = str(stopped.value)
    assert f"assign the permission set {PERMISSION_SET}" in message
    assert f"to the user {USER}" in message
    assert "Account.Canary_Health_Score__c" in message and "Account.Canary_Scored_At__c" in message
    assert code in message and box.slept == []


def test_a_push_that_meets_invalid_field_stops_with_the_instruction_after_one_call(
        make_box: Callable[..., Box]) -> None:
    box = make_box(450)
    create_hidden_fields(box)
    adapter = box.adapter()
    ids = [make_id("001", i + 1) for i in range(450)]
    with pytest.raises(FatalError) as stopped:
        adapter.push_fields([FieldUpdate(i, VALUES) for i in ids])
    message = str(stopped.value)
    assert f"assign the permission set {PERMISSION_SET}" in message and f"to the user {USER}" in message
    assert "INVALID_FIELD (Canary_Health_Score__c)" in message
    assert f"Read and Edit on {', '.join(f'Account.{n}' for n in FIELD_NAMES)})" in message
    assert box.calls("PATCH", COLLECTION) == 1  # not the two later batches, and no retry
    assert adapter.calls == 3 and box.slept == []  # the batch, the identity and the user's name


def test_a_bulk_push_that_meets_invalid_field_stops_with_the_instruction(make_box: Callable[..., Box]) -> None:
    box = make_box(20)
    create_hidden_fields(box)
    adapter = box.adapter(bulk_threshold=5)
    with pytest.raises(FatalError) as stopped:
        adapter.push_fields([FieldUpdate(make_id("001", i + 1), VALUES) for i in range(20)])
    message = str(stopped.value)
    assert "INVALID_FIELD in the Bulk API job" in message
    assert f"assign the permission set {PERMISSION_SET}" in message and f"to the user {USER}" in message
    assert box.calls("POST", base.JOBS) == 1 and box.calls("PATCH", COLLECTION) == 0


def test_push_through_sync_reports_the_instruction_as_the_stop(make_box: Callable[..., Box], sqlite_store: Any) -> None:
    from store.tenants import create_tenant
    from sync.push import push
    from sync.runner import sync

    box = make_box(5, wrap=refusing("POST", "sobjects/PermissionSetAssignment", 403,
                                    [{"errorCode": "INSUFFICIENT_ACCESS", "message": "no Assign Permission Sets"}]))
    with sqlite_store.session() as s:
        tenant_id = create_tenant(s, "acme", "Acme CS")[0].id
    sync(sqlite_store, tenant_id, {"salesforce": box.adapter()})
    add_snapshots(sqlite_store, tenant_id)
    summary = push(sqlite_store, tenant_id, "salesforce", box.adapter())
    assert summary.stopped is not None and f"{PERMISSION_SET}" in summary.stopped and USER in summary.stopped
    assert (summary.pushed, box.calls("PATCH", COLLECTION)) == (0, 0)


# ------------------------------------------------------------------ whole-second stamps


def test_a_tie_of_whole_second_stamps_across_a_page_boundary_loses_and_repeats_nothing(
        make_box: Callable[..., Box]) -> None:
    box = make_box(600)
    adapter = box.adapter(query_batch_size=200, resolve_owners=False)
    _, cursor = walk(adapter, "accounts", None)
    box.clock.now = base.BASE + timedelta(days=40, milliseconds=120)
    tied = [make_id("001", n) for n in range(101, 551)]
    for record_id in tied:  # 450 edits a millisecond apart, all within one second
        box.clock.now += timedelta(milliseconds=1)
        box.emulator.touch("Account", [record_id])
    assert {box.emulator.record("Account", i)["SystemModstamp"] for i in tied} == {  # type: ignore[index]
        "2026-02-10T00:00:00.000+0000"}
    walking = adapter.pull("accounts", cursor)
    first = next(walking)  # the run stops after one page, inside the tie
    del walking
    assert ids_of([first]) == tied[:200]
    late = [make_id("001", 7), make_id("001", 580)]  # later in the same second: a lower and a higher Id
    box.emulator.touch("Account", late)
    rest, final = walk(adapter, "accounts", first.cursor)
    assert [len(p.records) for p in rest] == [200, 52]
    assert sorted(ids_of(rest)) == sorted([*tied[200:], *late])
    before = adapter.calls
    assert walk(adapter, "accounts", final)[0] == []
    assert adapter.calls - before == 1


# ------------------------------------------------------------------ recycle bin and merges


def test_deletions_and_merges_since_the_cursor_come_back_as_removals(make_box: Callable[..., Box]) -> None:
    box = make_box(30)
    adapter = box.adapter(resolve_owners=False)
    cursors = {obj: walk(adapter, obj, None)[1] for obj in ("accounts", "contacts")}
    winner, loser, gone = make_id("001", 1), make_id("001", 2), make_id("001", 3)
    box.clock.now += timedelta(hours=1)
    box.emulator.delete("Account", [gone])  # its contact goes with it
    box.emulator.merge("Account", winner, loser)  # the loser's contact moves to the winner
    before, before_query_all = box.calls(), box.calls("GET", QUERY_ALL)
    accounts, account_cursor = walk(adapter, "accounts", cursors["accounts"])
    contacts, contact_cursor = walk(adapter, "contacts", cursors["contacts"])
    assert box.calls() - before == 2 == box.calls("GET", QUERY_ALL) - before_query_all
    assert box.calls("GET", base.QUERY) == 0
    assert ids_of(accounts) == [winner]
    removed = [r for p in accounts for r in p.removed]
    assert len(removed) == 2 and set(removed) == {Removal(gone), Removal(loser, merged_into=winner)}
    assert [(r.external_id, r.account_external_id) for p in contacts for r in p.records] == [  # type: ignore[union-attr]
        (make_id("003", 2), winner)]
    assert [r for p in contacts for r in p.removed] == [Removal(make_id("003", 3))]
    before = box.calls()
    assert walk(adapter, "accounts", account_cursor)[0] == walk(adapter, "contacts", contact_cursor)[0] == []
    assert box.calls() - before == 2


def test_a_removal_page_walks_past_a_page_boundary_with_query_more(make_box: Callable[..., Box]) -> None:
    box = make_box(450)
    adapter = box.adapter(query_batch_size=200, resolve_owners=False)
    _, cursor = walk(adapter, "accounts", None)
    box.clock.now += timedelta(hours=1)
    deleted = box.emulator.delete("Account", [make_id("001", n) for n in range(1, 301)])
    before = box.calls("GET", QUERY_ALL_MORE)
    pages, _ = walk(adapter, "accounts", cursor)
    assert [(len(p.records), len(p.removed)) for p in pages] == [(0, 200), (0, 100)]
    assert sorted(r.external_id for p in pages for r in p.removed) == sorted(deleted)
    assert box.calls("GET", QUERY_ALL_MORE) - before == 1


def test_sync_retires_a_deleted_account_and_merges_a_merged_one(make_box: Callable[..., Box],
                                                               sqlite_store: Any) -> None:
    from sqlalchemy import select

    from store.models import Account, SourceLink
    from store.tenants import create_tenant
    from sync.runner import sync

    box = make_box(30)
    with sqlite_store.session() as s:
        tenant_id = create_tenant(s, "acme", "Acme CS")[0].id
    sync(sqlite_store, tenant_id, {"salesforce": box.adapter()})
    winner, loser, gone = make_id("001", 1), make_id("001", 2), make_id("001", 3)
    box.clock.now += timedelta(hours=1)
    box.emulator.delete("Account", [gone])
    box.emulator.merge("Account", winner, loser)
    summary = sync(sqlite_store, tenant_id, {"salesforce": box.adapter()})
    assert summary.systems["salesforce"].objects["accounts"].removed == 2
    with sqlite_store.session(tenant_id) as s:
        links = set(s.scalars(select(SourceLink.external_id).where(SourceLink.system == "salesforce")))
        assert {winner, loser, gone} & links == {winner}
        assert len(links) == 28
        assert s.scalar(select(Account.lifecycle_stage).where(Account.name == "Company 2")) == "retired"


# ------------------------------------------------------------------ concurrency limit


def test_a_concurrency_refusal_is_retried_with_backoff(make_box: Callable[..., Box]) -> None:
    box = make_box(5)
    adapter = box.adapter()
    box.emulator.refuse_concurrent(2)
    pages, _ = walk(adapter, "contacts", None)
    assert len(ids_of(pages)) == 5
    assert adapter.calls == 3 and box.emulator.api_usage == 1
    assert len(box.slept) == 2 and box.slept[0] <= 1.0 and box.slept[1] <= 2.0  # jittered backoff, no Retry-After
    assert adapter.policy.retries == 2


def test_a_seeded_share_of_concurrency_refusals_still_syncs_everything(make_box: Callable[..., Box]) -> None:
    box = make_box(450, concurrency_refusals=0.3, refusal_seed=3)
    adapter = box.adapter(query_batch_size=200)
    delivered = {obj: ids_of(walk(adapter, obj, None)[0]) for obj in base.SOBJECTS}
    assert {o: sorted(i) for o, i in delivered.items()} == {
        o: sorted(r["Id"] for r in box.emulator.records(s)) for o, s in base.SOBJECTS.items()}
    assert adapter.policy.retries > 0 and adapter.calls == box.emulator.api_usage + adapter.policy.retries


def test_the_daily_limit_still_stops_the_run_without_retrying(make_box: Callable[..., Box]) -> None:
    box = make_box(3, daily_api_limit=100)
    adapter = box.adapter(run_share=1.0, daily_ceiling=1.0)
    adapter.check_connection()
    box.emulator.api_usage = 100
    with pytest.raises(FatalError, match=r"daily API allocation is used up \(REQUEST_LIMIT_EXCEEDED: TotalRequests"):
        list(adapter.pull("contacts", None))
    assert adapter.calls == 2 and box.slept == [] and adapter.policy.retries == 0


# ------------------------------------------------------------------ OFFSET and allOrNone


def test_a_pull_past_2000_records_uses_query_more_never_offset(make_box: Callable[..., Box]) -> None:
    seen: list[tuple[str, str, str]] = []
    box = make_box(2500, wrap=recording(seen))
    assert box.emulator.max_soql_offset == 2000
    pages, _ = walk(box.adapter(query_batch_size=200, resolve_owners=False), "accounts", None)
    assert len(set(ids_of(pages))) == 2500
    queries = [q for method, path, q in seen if method == "GET" and "/queryAll" in path and q]
    assert len(queries) == 1 and "OFFSET" not in queries[0].upper()
    assert box.calls("GET", QUERY_ALL_MORE) == 12


def test_push_sends_all_or_none_false_so_a_failing_record_keeps_the_others(make_box: Callable[..., Box]) -> None:
    seen: list[tuple[str, str, str]] = []
    box = make_box(3, wrap=recording(seen))
    assert box.emulator.all_or_none_rollback is True
    adapter = box.adapter()
    adapter.ensure_fields(HEALTH_FIELDS)
    ids = [make_id("001", i) for i in (1, 2, 3)]
    box.emulator.fail_writes([ids[1]], "Record is locked")
    result = adapter.push_fields([FieldUpdate(i, VALUES) for i in ids])
    assert (result.succeeded, list(result.failed)) == ([ids[0], ids[2]], [ids[1]])
    bodies = [json.loads(body) for method, path, body in seen if method == "PATCH" and "composite/sobjects" in path]
    assert [b["allOrNone"] for b in bodies] == [False]
    assert [box.emulator.record("Account", i)["Canary_Health_Score__c"] for i in ids] == [72.0, None, 72.0]  # type: ignore[index]
