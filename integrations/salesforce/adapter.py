"""The Salesforce adapter: incremental pulls over SystemModstamp, health fields written back.

* Pull: one SOQL ``queryAll`` per object and run, ``ORDER BY SystemModstamp, Id`` from the saved
  cursor (see `integrations.salesforce.soql`); then ``queryMore`` page by page (never ``OFFSET``, which
  Salesforce caps at 2,000); each page of up to ``query_batch_size`` records
  (``Sforce-Query-Options: batchSize``) is yielded with the cursor after its last record.
  Records deleted since the cursor (the recycle bin, ``IsDeleted``) come back as the page's
  ``removed``, a merged Account's loser with the winner (``MasterRecordId``). Nothing new costs
  exactly one call per object.
  Canary's own writes: after the first pull, the objects Canary writes (Account, Task) are queried with
  ``LastModifiedById != '<integration user>'`` when the connection knows that user (``integration_user_id``,
  from `connected_user`), so a push's records do not come back. A person's later edit restamps the record
  with that person; an edit made between the last pull and Canary's write to the same record is hidden until
  the record's next change, and so is any change made while logged in as the integration user (connect
  Canary with a dedicated integration user).
  Account owners are looked up in ``User`` (``Id, Email, Name, IsActive``) once per run and owner,
  200 per query, only for pages that name an owner not seen before.
* Fetch (records named by id, e.g. by a change notification): one ``queryAll`` ``WHERE Id IN (...)``
  per 200 ids, the pull's fields, mapping and owner lookup; deleted and merged rows come back from the
  recycle bin as the page's ``removed``, and so does an id Salesforce does not return. No cursor moves.
* Fields: one ``describe`` of Account, then a Tooling API ``CustomField`` create per
  missing field, and the permission set that lets the connected user read and write them
  (`integrations.salesforce.access`); a push refused by field-level security stops the run
  saying which permission set to assign to whom.
* Push: ``PATCH composite/sobjects`` with up to 200 records per call and ``allOrNone:
  false`` (per-record results); above ``bulk_threshold`` records, one Bulk API 2.0 ingest
  job instead (create, upload CSV, ``UploadComplete``, poll, failed results).
* Tasks: ``POST composite/sobjects`` creates up to 200 ``Task`` records a call (``WhatId`` the
  Account, Canary's key in ``Canary_Task_Key__c``), ``PATCH`` keeps status, due date and owner in
  step. A create is tried once at a time: after a 5xx, timeout or dropped connection the keys are
  looked up (``SELECT Id, Canary_Task_Key__c FROM Task WHERE Canary_Task_Key__c IN (...)``, consistent,
  200 keys a query) and only the tasks not found are sent again. The pull of ``tasks`` reads only
  Canary's tasks (``Canary_Task_Key__c != null``), incrementally like every other object; before the
  key field exists there is nothing to read.
* E-mail consent (`write_email_opt_outs`): the people with an unsubscribed address, ``SELECT Id, Email,
  HasOptedOutOfEmail FROM Contact|Lead WHERE Email IN (...)`` (200 addresses a query, one per object),
  then ``PATCH composite/sobjects`` ``HasOptedOutOfEmail = true`` on those not opted out yet, 200 a call.
  Salesforce has one opt-out flag per person, not one per category: either category sets it.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from simple_salesforce.bulk2 import Operation

from integrations.base import (
    FieldSpec,
    FieldUpdate,
    ObjectName,
    OptOutResult,
    OwnWriteCheck,
    Page,
    PullState,
    PushResult,
    Record,
    Removal,
    Subscribed,
    TaskPushResult,
    TaskWrite,
    VendorUser,
    distinct_ids,
)
from integrations.errors import AuthError, FatalError, VendorRefused
from integrations.http import QuotaGuard, RetryPolicy
from integrations.salesforce import fields, records, webhooks, wire
from integrations.salesforce.access import FieldAccess
from integrations.salesforce.cursor import ModstampCursor
from integrations.salesforce.soql import ID_PATTERN, ids_query, incremental_query, values_query
from integrations.salesforce.wire import DEFAULT_API_VERSION, SalesforceConnection
from integrations.values import iso_datetime

log = logging.getLogger("canary.salesforce")

COLLECTION_LIMIT = 200
OPT_OUT_OBJECTS = ("Contact", "Lead")
"""The people whose ``HasOptedOutOfEmail`` an unsubscribe sets."""
"""sObject Collections take at most 200 records per call."""
TERMINAL_JOB_STATES = frozenset({"JobComplete", "Failed", "Aborted"})
OUTBOUND_OBJECTS = ("Account", "Contact", "Opportunity", "Case", "Task")
"""The objects whose outbound messages Canary receives (`integrations.salesforce.webhooks.OBJECTS`)."""
OUTBOUND_FIELDS = ("Id", "LastModifiedById", "SystemModstamp")


@dataclass(frozen=True)
class PulledObject:
    sobject: str
    fields: tuple[str, ...]
    to_record: Callable[[Mapping[str, Any]], Record]
    scope: str | None = None
    """A fixed condition of the pull (tasks: only Canary's)."""
    written: bool = False
    """Canary writes these records (health fields, tasks): the pull leaves out the integration user's changes."""


PULLED: dict[str, PulledObject] = {
    "accounts": PulledObject("Account", records.ACCOUNT_FIELDS, records.account_from_payload, written=True),
    "contacts": PulledObject("Contact", records.CONTACT_FIELDS, records.contact_from_payload),
    "deals": PulledObject("Opportunity", records.DEAL_FIELDS, records.deal_from_payload),
    "tickets": PulledObject("Case", records.TICKET_FIELDS, records.ticket_from_payload),
    "tasks": PulledObject("Task", records.TASK_FIELDS, records.task_from_payload,
                          scope=f"{fields.TASK_KEY_FIELD} != null", written=True),
}


class SalesforceAdapter(PullState):

    PULL_STATE = ("connection.calls", "connection.usage", "guard", "_owners", "resolve_owners", "_own_writes",
                  "access._user_id")
    """What a pull changes here (`integrations.base.PullState`)."""
    system = "salesforce"
    objects: tuple[ObjectName, ...] = ("accounts", "contacts", "deals", "tickets", "tasks")

    def __init__(
        self,
        *,
        instance_url: str,
        access_token: str,
        ca_cert: str | None = None,
        api_version: str = DEFAULT_API_VERSION,
        policy: RetryPolicy | None = None,
        run_share: float = 0.25,
        daily_ceiling: float = 0.80,
        query_batch_size: int = 2000,
        batch_size: int = COLLECTION_LIMIT,
        bulk_threshold: int = 2000,
        bulk_poll_interval: float = 2.0,
        bulk_max_wait: float = 600.0,
        resolve_owners: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        timeout: tuple[float, float] = (10.0, 120.0),
        integration_user_id: str | None = None,
    ) -> None:
        """``integration_user_id``: the User the credentials act as (`connected_user`, stored with the
        connection); when known, pulls of Accounts and Tasks leave out records that user modified last. A value
        that is not a User Id is not used (logged): the pulls then read every change, Canary's own included."""
        if integration_user_id is not None and not ID_PATTERN.match(integration_user_id):
            log.warning("salesforce: the stored integration_user_id is not a User Id; Canary's own writes will "
                        "come back in pulls until `canary connect salesforce` stores it again")
            integration_user_id = None
        if not 200 <= query_batch_size <= 2000:
            raise ValueError("query_batch_size must be between 200 and 2000 (Sforce-Query-Options)")
        if not 1 <= batch_size <= COLLECTION_LIMIT:
            raise ValueError(f"batch_size must be between 1 and {COLLECTION_LIMIT} (sObject Collections)")
        self.policy = policy or RetryPolicy(sleep=sleep)
        self.guard = QuotaGuard("salesforce", run_share=run_share, daily_ceiling=daily_ceiling)
        self.connection = SalesforceConnection(instance_url=instance_url, access_token=access_token,
                                               policy=self.policy, guard=self.guard, ca_cert=ca_cert,
                                               api_version=api_version, timeout=timeout)
        self.access = FieldAccess(self.connection)
        self.query_options = {"Sforce-Query-Options": f"batchSize={query_batch_size}"}
        self.batch_size = batch_size
        self.bulk_threshold = bulk_threshold
        self.bulk_poll_interval = bulk_poll_interval
        self.bulk_max_wait = bulk_max_wait
        self.resolve_owners = resolve_owners
        self.sleep = sleep
        self.integration_user_id = integration_user_id
        self._owners: dict[str, VendorUser] = {}
        """Account owners read this run, by User Id (a run asks for each owner once)."""
        self._own_writes: OwnWriteCheck | None = None
        """Handed over by the sync for the next pull of accounts (`expect_own_writes`)."""

    @classmethod
    def from_credentials(cls, credentials: Mapping[str, Any], base_url: str | None = None,
                         **options: Any) -> SalesforceAdapter:
        """For a stored connection; the instance URL is a credential (it comes with the token), not ``base_url``."""
        options.setdefault("integration_user_id", credentials.get(webhooks.USER_KEY) or None)
        return cls(instance_url=credentials["instance_url"], access_token=credentials["access_token"],
                   ca_cert=credentials.get("cert_path"), **options)

    @classmethod
    def from_sandbox(cls, credentials: Mapping[str, str], **options: Any) -> SalesforceAdapter:
        """Connect to the sandbox emulator (``Sandbox.credentials["salesforce"]``)."""
        options.setdefault("integration_user_id", credentials.get(webhooks.USER_KEY) or None)
        return cls(instance_url=credentials["instance_url"], access_token=credentials["session_id"],
                   ca_cert=credentials.get("cert_path"), **options)

    # ------------------------------------------------------------------ accounting

    @property
    def calls(self) -> int:
        """HTTP requests made to Salesforce so far (every page, retry and poll)."""
        return self.connection.calls

    def quota_left(self) -> int | None:
        """Requests left in the org's rolling 24-hour allocation, as last reported."""
        return self.guard.remaining

    # ------------------------------------------------------------------ connection

    def check_connection(self) -> None:
        """One cheap call (``limits``): raises `AuthError` with a clear message on bad credentials."""
        self.connection.call("check connection", lambda: self.connection.sf.limits())

    def connected_user(self) -> str | None:
        """The User the session acts as: the last segment of the ``identity`` URL in the Resources by Version
        answer (``GET /services/data/vXX.X/``), one call. Works with the ``api`` scope alone (UserInfo needs
        ``openid``/``id``), and names the user Salesforce stamps on Canary's writes (``LastModifiedById``)."""
        return self.access.read_user_id()

    # ------------------------------------------------------------------ webhooks

    def subscribe_webhooks(self, target_base_url: str, app_config: Mapping[str, Any] | None = None) -> Subscribed:
        """Outbound Messages cannot be created through the REST API: nothing is registered, and the answer is
        what the admin sets up (objects, fields, the endpoint with the connection's token, the integration user
        whose changes Canary drops, when this adapter asked already: no call)."""
        endpoint = f"{target_base_url.rstrip('/')}/webhooks/salesforce?token=<the connection's webhook token>"
        known = self.access.known_user_id()
        user = known or "Canary connects as (stored as the connection's integration_user_id)"
        objects = ", ".join(OUTBOUND_OBJECTS)
        return Subscribed(manual_steps=[
            f"Salesforce Setup > Outbound Messages > New, once per object ({objects}): fields "
            f"{', '.join(OUTBOUND_FIELDS)}; Endpoint URL {endpoint}; send as any active user.",
            "Setup > Flows: a record-triggered flow per object (a record is created or updated) whose action is "
            "that outbound message.",
            f"Canary drops the changes of its integration user {user} (LastModifiedById): people should not edit "
            "records as that user.",
        ])

    # ------------------------------------------------------------------ pull

    def expect_own_writes(self, own: OwnWriteCheck | None) -> None:
        """The next pull of accounts tells Canary's own writes by ``own`` before any owner lookup
        (`integrations.base.OwnWriteAware`), the same shape as the other vendors. The query leaves them out
        already when ``integration_user_id`` is known; without it they come back, but the pull does not select
        Canary's fields (they may not exist before the first push, and SOQL refuses an unknown field), so
        `AccountRecord.health` is None and neither this nor the writer can tell them (they count as changed)."""
        self._own_writes = own

    def pull(self, object: ObjectName, cursor: str | None) -> Iterator[Page]:
        spec = PULLED.get(object)
        if spec is None:
            raise ValueError(f"salesforce has no {object!r}; it has {', '.join(self.objects)}")
        own = None
        if object == "accounts":
            own, self._own_writes = self._own_writes, None
        return self._pull(object, spec, ModstampCursor.load(cursor), own)

    def _pull(self, object: ObjectName, spec: PulledObject, position: ModstampCursor,
              own: OwnWriteCheck | None) -> Iterator[Page]:
        try:
            answer = self._query(spec, position)
        except VendorRefused as exc:
            if spec.scope is None or exc.code not in wire.FIELD_ACCESS_CODES:
                raise
            log.info("salesforce: no Canary task key field on Task yet; no Canary task to read")
            return
        while True:
            keyed = [(self._position_of(spec, p), p) for p in answer.get("records") or []]
            fresh = [(key, p) for key, p in keyed if not position.repeats(*key)]
            if fresh:
                live = [p for _, p in fresh if not records.is_deleted(p)]
                removed = [records.removal_from_payload(p) for _, p in fresh if records.is_deleted(p)]
                position = position.advance([key for key, _ in fresh])
                mine: list[str] = []
                if own is not None:  # Canary's own writes, told before the owner lookup (`sync.own_writes`)
                    told = [(p, own.recognised(records.account_from_payload(p))) for p in live]
                    mine = [records.record_id(p) for p, recognised in told if recognised]
                    live = [p for p, recognised in told if not recognised]
                yield Page(object, self._map(object, spec, live), position.dump(), removed, mine)
            next_url = answer.get("nextRecordsUrl")
            if answer.get("done", True) or not next_url:
                return
            answer = self._query_more(spec, next_url, position)

    def fetch(self, object: ObjectName, ids: Sequence[str]) -> Page:
        """The records of ``ids`` now: one ``queryAll`` ``WHERE Id IN (...)`` per 200 ids (the recycle bin's
        rows come back with ``IsDeleted``, a merged Account's loser with ``MasterRecordId``), mapped as `pull`
        maps them; an id Salesforce does not return (purged, never there, not an id) is a `Removal`."""
        spec = PULLED.get(object)
        if spec is None:
            raise ValueError(f"salesforce has no {object!r}; it has {', '.join(self.objects)}")
        wanted = distinct_ids(ids)
        valid = [i for i in wanted if ID_PATTERN.match(i)]
        rows: list[Mapping[str, Any]] = []
        try:
            for start in range(0, len(valid), COLLECTION_LIMIT):
                rows.extend(self._query_ids(spec, valid[start : start + COLLECTION_LIMIT]))
        except VendorRefused as exc:
            if spec.scope is None or exc.code not in wire.FIELD_ACCESS_CODES:
                raise
            log.info("salesforce: no Canary task key field on Task yet; no Canary task to read")
            rows = []
        live = [p for p in rows if not records.is_deleted(p)]
        removed = [records.removal_from_payload(p) for p in rows if records.is_deleted(p)]
        found = {records.record_id(p)[:15] for p in rows}  # an id asked in its 15-character form is found too
        removed += [Removal(i) for i in wanted if i[:15] not in found]
        return Page(object, self._map(object, spec, live), None, removed)

    def _query_ids(self, spec: PulledObject, chunk: Sequence[str]) -> list[Mapping[str, Any]]:
        sf = self.connection.sf
        selected = list(dict.fromkeys([*spec.fields, "Id", "SystemModstamp"]))
        query = ids_query(spec.sobject, selected, chunk, scope=spec.scope)
        answer = self.connection.call(f"queryAll {spec.sobject} by Id", lambda: sf.query(
            query, include_deleted=True, headers=self.query_options))
        rows = list(answer.get("records") or [])
        while not answer.get("done", True) and answer.get("nextRecordsUrl"):
            answer = self.connection.call(f"queryMore {spec.sobject}", partial(
                sf.query_more, str(answer["nextRecordsUrl"]), identifier_is_url=True, headers=self.query_options))
            rows.extend(answer.get("records") or [])
        return rows

    def _query(self, spec: PulledObject, position: ModstampCursor) -> Any:
        """``queryAll`` from the position: the recycle bin's rows (``IsDeleted``) come back with the live ones."""
        sf = self.connection.sf
        query = incremental_query(spec.sobject, spec.fields, position, scope=spec.scope,
                                  not_modified_by=self._own_user(spec, position))
        return self.connection.call(f"queryAll {spec.sobject}", lambda: sf.query(
            query, include_deleted=True, headers=self.query_options))

    def _own_user(self, spec: PulledObject, position: ModstampCursor) -> str | None:
        """The user whose changes an incremental pull of ``spec`` leaves out: the integration user, for what
        Canary writes, once there is a position (the first pull reads every record, whoever changed it last)."""
        return self.integration_user_id if spec.written and position.stamp is not None else None

    def _query_more(self, spec: PulledObject, next_url: str, position: ModstampCursor) -> Any:
        sf = self.connection.sf
        try:
            return self.connection.call(f"queryMore {spec.sobject}", lambda: sf.query_more(
                next_url, identifier_is_url=True, headers=self.query_options))
        except VendorRefused as exc:
            if exc.code != "INVALID_QUERY_LOCATOR":
                raise
        # The locator expired (Salesforce keeps them ~15 minutes): query again from the position.
        log.info("salesforce: query locator of %s expired; querying again from the cursor", spec.sobject)
        return self._query(spec, position)

    @staticmethod
    def _position_of(spec: PulledObject, payload: Mapping[str, Any]) -> tuple[dt.datetime, str]:
        record_id = records.record_id(payload)
        stamp = iso_datetime(payload.get("SystemModstamp"))
        if stamp is None:
            raise FatalError(f"salesforce: {spec.sobject} {record_id} came without a SystemModstamp; "
                             "cannot keep the cursor")
        return stamp, record_id

    def _map(self, object: ObjectName, spec: PulledObject, payloads: list[Mapping[str, Any]]) -> list[Record]:
        if object != "accounts":
            return [spec.to_record(p) for p in payloads]
        if self.resolve_owners:
            self._learn_owners({str(p["OwnerId"]) for p in payloads if p.get("OwnerId")})
        return [records.account_from_payload(p, self._owners) for p in payloads]

    def _learn_owners(self, owner_ids: set[str]) -> None:
        """Owners not seen before this run (e-mail, name, ``IsActive``): one ``User`` query per 200 of them.

        A deactivated user is read like any other: their accounts stay theirs until someone reassigns
        them, and Canary shows such accounts as having no active CSM."""
        missing = sorted(owner_ids - set(self._owners))
        sf = self.connection.sf
        for start in range(0, len(missing), COLLECTION_LIMIT):
            chunk = missing[start : start + COLLECTION_LIMIT]
            query = ids_query("User", records.USER_FIELDS, chunk)
            try:
                answer = self.connection.call("query User", partial(sf.query, query))
            except VendorRefused as exc:
                log.warning("salesforce: cannot read account owners (%s); keeping their user ids", exc)
                self.resolve_owners = False
                return
            for row in answer.get("records") or []:
                user = records.user_from_payload(row)
                self._owners[user.external_id] = user
            for owner_id in chunk:
                self._owners.setdefault(owner_id, VendorUser(owner_id))

    # ------------------------------------------------------------------ fields

    def ensure_fields(self, specs: Sequence[FieldSpec]) -> list[str]:
        """Create the missing Canary fields on Account and make them readable and writable by the
        connected user (`integrations.salesforce.access`); the keys of the fields created.

        One describe when every field is there and writable; otherwise a Tooling create per field
        the describe does not show (``DUPLICATE_DEVELOPER_NAME``: it exists, hidden by field-level
        security), a describe, and, for any field still hidden or read-only, the permission set's
        grant and a last describe that must show every field writable.
        """
        names = [fields.field_name(spec.key) for spec in specs]
        usable = self._account_fields()
        created = [spec.key for spec, name in zip(specs, names, strict=True)
                   if name not in usable and self._create_field(fields.custom_field_metadata(spec))]
        if all(usable.get(name) for name in names):
            return created
        usable = self._account_fields()
        if not all(usable.get(name) for name in names):
            self.access.grant(names)
            usable = self._account_fields()
            missing = [name for name in names if not usable.get(name)]
            if missing:
                raise FatalError(self.access.instruction(missing, "the fields are still hidden or read-only "
                                                                  "after granting access"))
        return created

    def _account_fields(self, sobject: str = "Account") -> dict[str, bool]:
        """Fields of ``sobject`` the connected user can read → whether it can also write them."""
        sf = self.connection.sf
        describe = self.connection.call(f"describe {sobject}", lambda: sf.restful(f"sobjects/{sobject}/describe"))
        return wire.describe_fields(describe or {})

    def _create_field(self, body: dict[str, Any]) -> bool:
        """One Tooling ``CustomField`` create; False when the field exists already (hidden from this user)."""
        sf = self.connection.sf
        try:
            self.connection.call(f"create field {body['FullName']}", partial(
                sf.toolingexecute, "sobjects/CustomField/", method="POST", data=body))
        except VendorRefused as exc:
            if exc.code != "DUPLICATE_DEVELOPER_NAME":
                raise
            log.info("salesforce: %s exists but the connected user cannot see it; granting access", body["FullName"])
            return False
        return True

    # ------------------------------------------------------------------ push

    def push_fields(self, updates: Sequence[FieldUpdate]) -> PushResult:
        result = PushResult()
        before = self.calls
        rows: list[tuple[str, dict[str, Any]]] = []
        for update in updates:
            try:
                rows.append((update.external_id, fields.salesforce_values(update.values)))
            except ValueError as exc:
                result.failed[update.external_id] = f"not sent: {exc}"
        try:
            if len(rows) > self.bulk_threshold:
                self._push_bulk(rows, result)
            else:
                self._push_collections(rows, result)
        finally:
            result.calls = self.calls - before
        return result

    def _push_collections(self, rows: list[tuple[str, dict[str, Any]]], result: PushResult) -> None:
        sf = self.connection.sf
        for start in range(0, len(rows), self.batch_size):
            chunk = rows[start : start + self.batch_size]
            body = {"allOrNone": False, "records": wire.collection_records(chunk)}
            ids = [account_id for account_id, _ in chunk]
            try:
                answer = self.connection.call("update Accounts", partial(
                    sf.restful, "composite/sobjects", method="PATCH", json=body))
            except VendorRefused as exc:
                if exc.code in wire.FIELD_ACCESS_CODES:
                    raise self._field_access_stop(wire.refused_fields(exc.body), chunk, str(exc)) from None
                for account_id in ids:  # the request as a whole was refused: this batch only
                    result.failed[account_id] = str(exc)
                continue
            except (FatalError, AuthError) as exc:
                if not result.succeeded:
                    raise
                for account_id, _ in rows[start:]:  # keep what was written; the rest goes next run
                    result.failed[account_id] = f"not sent: {exc}"
                return
            refused = wire.refused_fields(answer)
            if refused is not None:  # every later batch would fail the same way: stop, saying what fixes it
                raise self._field_access_stop(refused, chunk, "INVALID_FIELD")
            succeeded, failed = wire.collection_outcomes(ids, answer)
            result.succeeded.extend(succeeded)
            result.failed.update(failed)

    def _field_access_stop(self, refused: Sequence[str] | None, chunk: Sequence[tuple[str, Mapping[str, Any]]],
                           cause: str) -> FatalError:
        """A push met field-level security: the fields are not (or no longer) readable and writable."""
        sent = list(dict.fromkeys(name for _, values in chunk for name in values))
        named = f" ({', '.join(refused)})" if refused else ""
        return FatalError(self.access.instruction(sent, f"the push was refused: {cause}{named}"))

    def _push_bulk(self, rows: list[tuple[str, dict[str, Any]]], result: PushResult) -> None:
        """One Bulk API 2.0 update job for all rows; outcomes from the job's counts and failed results."""
        bulk = self.connection.bulk
        ids = [account_id for account_id, _ in rows]
        job = self.connection.call("create Bulk job", lambda: bulk.create_job(Operation.update))
        job_id = str(job["id"])
        data = wire.bulk_csv(rows)
        self.connection.call("upload Bulk data", lambda: bulk.upload_job_data(job_id, data))
        info = self.connection.call("close Bulk job", lambda: bulk.close_job(job_id))
        waited, delay = 0.0, self.bulk_poll_interval
        while info.get("state") not in TERMINAL_JOB_STATES:
            if waited >= self.bulk_max_wait:
                for account_id in ids:
                    result.failed[account_id] = (f"Bulk job {job_id} still {info.get('state')} after {waited:.0f} s; "
                                                 "its outcome is unknown, the record is sent again next push")
                return
            self.sleep(delay)
            waited += delay
            delay = min(delay * 2, 30.0)
            info = self.connection.call("poll Bulk job", lambda: bulk.get_job(job_id, False))
        if info.get("state") != "JobComplete":
            reason = info.get("errorMessage") or info.get("state")
            for account_id in ids:
                result.failed[account_id] = f"Bulk job {job_id} ended {info.get('state')}: {reason}"
            return
        failed: dict[str, str] = {}
        if int(info.get("numberRecordsFailed") or 0) > 0:
            text = self.connection.call("read Bulk failures",
                                        lambda: bulk.get_ingest_results(job_id, "failedResults"))
            failed = wire.bulk_failures(text)
            if any(wire.error_code_of(message) in wire.FIELD_ACCESS_CODES for message in failed.values()):
                raise self._field_access_stop(None, rows, "INVALID_FIELD in the Bulk API job")
        processed = int(info.get("numberRecordsProcessed") or 0)
        if processed >= len(ids):
            done = set(ids)
        else:
            text = self.connection.call("read Bulk successes",
                                        lambda: bulk.get_ingest_results(job_id, "successfulResults"))
            done = set(wire.bulk_ids(text)) | set(failed)
        for account_id in ids:
            if account_id in failed:
                result.failed[account_id] = failed[account_id]
            elif account_id in done:
                result.succeeded.append(account_id)
            else:
                result.failed[account_id] = f"Bulk job {job_id} did not process this record"

    # ------------------------------------------------------------------ tasks

    def ensure_task_fields(self) -> bool:
        """The task key field on Task, readable and writable (created on Activity, granted like the Account
        fields); one describe when it is there. True when it was created now."""
        name = fields.TASK_KEY_FIELD
        usable = self._account_fields("Task")
        if usable.get(name):
            return False
        created = name not in usable and self._create_field(fields.task_key_metadata())
        usable = self._account_fields("Task")
        if not usable.get(name):
            self.access.grant([name], sobject="Task")
            usable = self._account_fields("Task")
            if not usable.get(name):
                raise FatalError(self.access.instruction([name], "the task key field is still hidden or read-only "
                                                                 "after granting access", sobject="Task"))
        return created

    def push_tasks(self, creates: Sequence[TaskWrite], updates: Sequence[TaskWrite]) -> TaskPushResult:
        """Creates, then updates, 200 a call (see the module docstring)."""
        result = TaskPushResult()
        before = self.calls
        try:
            for start in range(0, len(creates), self.batch_size):
                self._create_tasks(list(creates[start : start + self.batch_size]), result)
            for start in range(0, len(updates), self.batch_size):
                self._update_tasks(list(updates[start : start + self.batch_size]), result)
        finally:
            result.calls = self.calls - before
        return result

    def _create_tasks(self, chunk: list[TaskWrite], result: TaskPushResult) -> None:
        sf = self.connection.sf
        pending = list(chunk)

        def attempt() -> Any:
            result.create_calls += 1
            body = {"allOrNone": False, "records": wire.task_records(
                [(None, records.task_create_values(w)) for w in pending])}
            return self.connection.once("create Tasks", partial(sf.restful, "composite/sobjects", method="POST",
                                                                json=body))

        def recover() -> bool:
            before = self.calls
            found = self.find_tasks(pending)
            result.lookups += self.calls - before
            result.created.update(found)
            pending[:] = [w for w in pending if w.key not in found]
            return bool(pending)

        try:
            answer = self.policy.run_unsure(attempt, recover, what="salesforce create Tasks")
        except VendorRefused as exc:
            if exc.code in wire.FIELD_ACCESS_CODES:
                raise FatalError(self.access.instruction([fields.TASK_KEY_FIELD], str(exc), sobject="Task")) from None
            result.failed.update({w.key: str(exc) for w in pending})
            return
        if answer is None:
            return
        answers = answer if isinstance(answer, list) else []
        for index, write in enumerate(pending):
            item = answers[index] if index < len(answers) else None
            if isinstance(item, Mapping) and item.get("success") is True and item.get("id"):
                result.created[write.key] = str(item["id"])
            else:
                errors = item.get("errors") if isinstance(item, Mapping) else None
                result.failed[write.key] = wire.error_text(errors or []) if errors else \
                    "salesforce reported no result for this task"

    def _update_tasks(self, chunk: list[TaskWrite], result: TaskPushResult) -> None:
        sf = self.connection.sf
        rows = [(w.external_id, records.task_update_values(w)) for w in chunk]
        body = {"allOrNone": False, "records": wire.task_records(rows)}
        result.update_calls += 1
        try:
            answer = self.connection.call("update Tasks", partial(sf.restful, "composite/sobjects", method="PATCH",
                                                                  json=body))
        except VendorRefused as exc:
            result.failed.update({w.key: str(exc) for w in chunk})
            return
        answers = answer if isinstance(answer, list) else []
        for index, write in enumerate(chunk):
            item = answers[index] if index < len(answers) else None
            if isinstance(item, Mapping) and item.get("success") is True:
                result.updated.append(write.key)
                continue
            errors = item.get("errors") if isinstance(item, Mapping) else None
            codes = {str(e.get("statusCode") or e.get("errorCode")) for e in errors or [] if isinstance(e, Mapping)}
            if "ENTITY_IS_DELETED" in codes:  # deleted in Salesforce since the last pull
                result.gone.append(write.key)
            else:
                result.failed[write.key] = wire.error_text(errors or []) if errors else \
                    "salesforce reported no result for this task"

    # ------------------------------------------------------------------ e-mail consent

    def write_email_opt_outs(self, addresses: Sequence[str], category: str) -> OptOutResult:
        """``HasOptedOutOfEmail = true`` on every Contact and Lead with one of ``addresses`` (see the module
        docstring); an address is written when each of its people is opted out, not found when it has none."""
        result = OptOutResult()
        before = self.calls
        wanted = sorted({a.strip().lower() for a in addresses if a and a.strip()})
        sf = self.connection.sf
        people: dict[str, list[tuple[str, str, bool]]] = {a: [] for a in wanted}
        try:
            for sobject in OPT_OUT_OBJECTS:
                for start in range(0, len(wanted), COLLECTION_LIMIT):
                    query = values_query(sobject, ("Id", "Email", "HasOptedOutOfEmail"), "Email",
                                         wanted[start : start + COLLECTION_LIMIT])
                    answer = self.connection.call(f"query {sobject}s by e-mail", partial(sf.query, query))
                    for row in answer.get("records") or []:
                        email = str(row.get("Email") or "").lower()
                        if email in people:
                            people[email].append((sobject, records.record_id(row),
                                                  row.get("HasOptedOutOfEmail") is True))
            pending = [(sobject, record_id, email) for email, found in people.items()
                       for sobject, record_id, opted_out in found if not opted_out]
            refused: dict[str, str] = {}
            for start in range(0, len(pending), self.batch_size):
                chunk = pending[start : start + self.batch_size]
                body = {"allOrNone": False, "records": [
                    {"attributes": {"type": sobject}, "id": record_id, "HasOptedOutOfEmail": True}
                    for sobject, record_id, _ in chunk]}
                answer = self.connection.call("opt Contacts and Leads out of e-mail", partial(
                    sf.restful, "composite/sobjects", method="PATCH", json=body))
                _, failed = wire.collection_outcomes([record_id for _, record_id, _ in chunk], answer)
                for _, record_id, email in chunk:
                    if record_id in failed:
                        refused.setdefault(email, f"{record_id}: {failed[record_id]}")
        finally:
            result.calls = self.calls - before
        for email, found in people.items():
            if not found:
                result.not_found.append(email)
            elif email in refused:
                result.failed[email] = refused[email]
            else:
                result.written.append(email)
        return result

    def find_tasks(self, writes: Sequence[TaskWrite]) -> dict[str, str]:
        """key -> Task Id of the tasks carrying these keys: one query per 200 keys (queries are consistent,
        so a task created a moment ago is found)."""
        sf = self.connection.sf
        keys = sorted({w.key for w in writes})
        found: dict[str, str] = {}
        for start in range(0, len(keys), COLLECTION_LIMIT):
            query = values_query("Task", ("Id", fields.TASK_KEY_FIELD), fields.TASK_KEY_FIELD,
                                 keys[start : start + COLLECTION_LIMIT])
            answer = self.connection.call("query Tasks by key", partial(sf.query, query))
            for row in answer.get("records") or []:
                key = row.get(fields.TASK_KEY_FIELD)
                if isinstance(key, str) and key:
                    found.setdefault(key, records.record_id(row))
        return found


def minimum_push_calls(records: int, *, batch_size: int = COLLECTION_LIMIT, bulk_threshold: int = 2000) -> int:
    """The documented cost of a push without failures or retries (composite calls, or one Bulk job)."""
    if records > bulk_threshold:
        return 4  # create, upload, UploadComplete, one poll
    return math.ceil(records / batch_size)
