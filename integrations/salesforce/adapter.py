"""The Salesforce adapter: incremental pulls over SystemModstamp, health fields written back.

* Pull: one SOQL query per object and run, ``ORDER BY SystemModstamp, Id`` from the saved
  cursor (see `integrations.salesforce.soql`), then ``queryMore`` page by page; each page
  of up to ``query_batch_size`` records (``Sforce-Query-Options: batchSize``) is yielded
  with the cursor after its last record. Nothing new costs exactly one call per object.
  Account owners are looked up in ``User`` once per new owner (e-mail), only for pages that
  name an owner not seen before.
* Fields: one ``describe`` of Account, then a Tooling API ``CustomField`` create per
  missing field.
* Push: ``PATCH composite/sobjects`` with up to 200 records per call and ``allOrNone:
  false`` (per-record results); above ``bulk_threshold`` records, one Bulk API 2.0 ingest
  job instead (create, upload CSV, ``UploadComplete``, poll, failed results).
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

from integrations.base import FieldSpec, FieldUpdate, ObjectName, Page, PushResult, Record
from integrations.errors import AuthError, FatalError, VendorRefused
from integrations.http import QuotaGuard, RetryPolicy
from integrations.salesforce import fields, records, wire
from integrations.salesforce.cursor import ModstampCursor
from integrations.salesforce.soql import ids_query, incremental_query
from integrations.salesforce.wire import DEFAULT_API_VERSION, SalesforceConnection
from integrations.values import iso_datetime, text_or_none

log = logging.getLogger("canary.salesforce")

COLLECTION_LIMIT = 200
"""sObject Collections take at most 200 records per call."""
TERMINAL_JOB_STATES = frozenset({"JobComplete", "Failed", "Aborted"})


@dataclass(frozen=True)
class PulledObject:
    sobject: str
    fields: tuple[str, ...]
    to_record: Callable[[Mapping[str, Any]], Record]


PULLED: dict[str, PulledObject] = {
    "accounts": PulledObject("Account", records.ACCOUNT_FIELDS, records.account_from_payload),
    "contacts": PulledObject("Contact", records.CONTACT_FIELDS, records.contact_from_payload),
    "deals": PulledObject("Opportunity", records.DEAL_FIELDS, records.deal_from_payload),
    "tickets": PulledObject("Case", records.TICKET_FIELDS, records.ticket_from_payload),
}


class SalesforceAdapter:
    system = "salesforce"
    objects: tuple[ObjectName, ...] = ("accounts", "contacts", "deals", "tickets")

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
    ) -> None:
        if not 200 <= query_batch_size <= 2000:
            raise ValueError("query_batch_size must be between 200 and 2000 (Sforce-Query-Options)")
        if not 1 <= batch_size <= COLLECTION_LIMIT:
            raise ValueError(f"batch_size must be between 1 and {COLLECTION_LIMIT} (sObject Collections)")
        self.policy = policy or RetryPolicy(sleep=sleep)
        self.guard = QuotaGuard("salesforce", run_share=run_share, daily_ceiling=daily_ceiling)
        self.connection = SalesforceConnection(instance_url=instance_url, access_token=access_token,
                                               policy=self.policy, guard=self.guard, ca_cert=ca_cert,
                                               api_version=api_version, timeout=timeout)
        self.query_options = {"Sforce-Query-Options": f"batchSize={query_batch_size}"}
        self.batch_size = batch_size
        self.bulk_threshold = bulk_threshold
        self.bulk_poll_interval = bulk_poll_interval
        self.bulk_max_wait = bulk_max_wait
        self.resolve_owners = resolve_owners
        self.sleep = sleep
        self._owners: dict[str, str] = {}

    @classmethod
    def from_credentials(cls, credentials: Mapping[str, Any], base_url: str | None = None,
                         **options: Any) -> SalesforceAdapter:
        """For a stored connection; the instance URL is a credential (it comes with the token), not ``base_url``."""
        return cls(instance_url=credentials["instance_url"], access_token=credentials["access_token"],
                   ca_cert=credentials.get("cert_path"), **options)

    @classmethod
    def from_sandbox(cls, credentials: Mapping[str, str], **options: Any) -> SalesforceAdapter:
        """Connect to the sandbox emulator (``Sandbox.credentials["salesforce"]``)."""
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

    # ------------------------------------------------------------------ pull

    def pull(self, object: ObjectName, cursor: str | None) -> Iterator[Page]:
        spec = PULLED.get(object)
        if spec is None:
            raise ValueError(f"salesforce has no {object!r}; it has {', '.join(self.objects)}")
        position = ModstampCursor.load(cursor)
        sf = self.connection.sf
        query = incremental_query(spec.sobject, spec.fields, position)
        answer = self.connection.call(f"query {spec.sobject}", lambda: sf.query(query, headers=self.query_options))
        while True:
            keyed = [(self._position_of(spec, p), p) for p in answer.get("records") or []]
            fresh = [(key, p) for key, p in keyed if not position.repeats(*key)]
            if fresh:
                records = self._map(object, spec, [p for _, p in fresh])
                position = position.advance([key for key, _ in fresh])
                yield Page(object, records, position.dump())
            next_url = answer.get("nextRecordsUrl")
            if answer.get("done", True) or not next_url:
                return
            answer = self._query_more(spec, next_url, position)

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
        query = incremental_query(spec.sobject, spec.fields, position)
        return self.connection.call(f"query {spec.sobject}", lambda: sf.query(query, headers=self.query_options))

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
        """E-mails of owners not seen before: one ``User`` query per 200 new owners."""
        missing = sorted(owner_ids - set(self._owners))
        sf = self.connection.sf
        for start in range(0, len(missing), COLLECTION_LIMIT):
            chunk = missing[start : start + COLLECTION_LIMIT]
            query = ids_query("User", ("Id", "Email", "Name"), chunk)
            try:
                answer = self.connection.call("query User", partial(sf.query, query))
            except VendorRefused as exc:
                log.warning("salesforce: cannot read account owners (%s); keeping their user ids", exc)
                self.resolve_owners = False
                return
            for user in answer.get("records") or []:
                label = text_or_none(user.get("Email")) or text_or_none(user.get("Name"))
                if label:
                    self._owners[records.record_id(user)] = label
            for owner_id in chunk:
                self._owners.setdefault(owner_id, owner_id)

    # ------------------------------------------------------------------ fields

    def ensure_fields(self, specs: Sequence[FieldSpec]) -> list[str]:
        """Create the missing Canary fields on Account (one describe, one Tooling create each)."""
        sf = self.connection.sf
        describe = self.connection.call("describe Account", lambda: sf.restful("sobjects/Account/describe"))
        existing = wire.describe_field_names(describe or {})
        created: list[str] = []
        for spec in specs:
            body = fields.custom_field_metadata(spec)
            if fields.field_name(spec.key) in existing:
                continue
            try:
                self.connection.call(f"create field {body['FullName']}", partial(
                    sf.toolingexecute, "sobjects/CustomField/", method="POST", data=body))
            except VendorRefused as exc:
                if exc.code == "DUPLICATE_DEVELOPER_NAME":
                    continue  # created meanwhile (another run, or an admin): it exists, which is the goal
                raise
            created.append(spec.key)
        return created

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
                for account_id in ids:  # the request as a whole was refused: this batch only
                    result.failed[account_id] = str(exc)
                continue
            except (FatalError, AuthError) as exc:
                if not result.succeeded:
                    raise
                for account_id, _ in rows[start:]:  # keep what was written; the rest goes next run
                    result.failed[account_id] = f"not sent: {exc}"
                return
            succeeded, failed = wire.collection_outcomes(ids, answer)
            result.succeeded.extend(succeeded)
            result.failed.update(failed)

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


def minimum_push_calls(records: int, *, batch_size: int = COLLECTION_LIMIT, bulk_threshold: int = 2000) -> int:
    """The documented cost of a push without failures or retries (composite calls, or one Bulk job)."""
    if records > bulk_threshold:
        return 4  # create, upload, UploadComplete, one poll
    return math.ceil(records / batch_size)
