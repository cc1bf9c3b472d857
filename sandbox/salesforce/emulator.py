"""The Salesforce REST emulator: a WSGI app over an in-memory store of native records."""

from __future__ import annotations

import itertools
import json
import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sandbox.core import CallStats, Emulator
from sandbox.webhooks import Webhooks, acting_person, as_api, as_person, by_api
from sandbox.world import World

from . import soql
from .bulk import DELIMITERS, LINE_ENDINGS, OPERATIONS, IngestJob, RowResult, csv_value
from .errors import ApiError, FieldValueError, not_found
from .ids import KEY_PREFIXES, format_datetime, is_well_formed, make_id, to_18
from .schema import (
    CLOSED_CASE_STATUSES,
    CLOSED_STAGES,
    ObjectSpec,
    custom_field_from_metadata,
    master_record_field,
    security_objects,
    standard_objects,
)
from .security import SECURITY_OBJECTS, FieldSecurity

Record = dict[str, Any]
WSGIApplication = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_log = logging.getLogger(__name__)

DEFAULT_SESSION_ID = "00D5g000004CanaryAAA!sandbox.session.token"
DEFAULT_USER_ID = make_id("005", 1)
ORG_ID = "00D5g000004CnryEAC"
EDITOR_USER_ID = make_id("005", 99)
"""Who edits in-process (a person in the org) when the record's owner is the integration user."""
PERSON_SESSION_ID = "00D5g000004CanaryAAA!sandbox.person.session"
"""A second session, of a person in the org (the first active seeded User, `person_user_id`): what that
person's scripts write is stamped with their Id, not the integration user's."""
OUTBOUND_OBJECTS = ("Account", "Contact", "Opportunity", "Case", "Task")
"""The objects the install's flows send outbound messages for (on create and update)."""
OUTBOUND_FIELDS = ("Id", "LastModifiedById", "SystemModstamp")
MIN_API_VERSION = 52.0
LATEST_API_VERSION = "62.0"
DEFAULT_BATCH_SIZE = 2000
MAX_OPEN_CURSORS = 256
MAX_COLLECTION_SIZE = 200
CONCURRENT_LIMIT_MESSAGE = "ConcurrentPerOrgLongTxn Limit exceeded."
"""The concurrency refusal: same code and status as the daily limit, told apart by its message."""
DAILY_LIMIT_MESSAGE = "TotalRequests Limit exceeded."
MERGE_CHILDREN: dict[str, tuple[tuple[str, str], ...]] = {
    "Account": (("Account", "ParentId"), ("Contact", "AccountId"), ("Opportunity", "AccountId"),
                ("Case", "AccountId"), ("Task", "WhatId")),
    "Contact": (("Case", "ContactId"), ("Task", "WhoId")),
}  # fmt: skip
"""What a merge re-parents from each loser to the master record."""
ROLLED_BACK_ERROR = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was using AllOrNone header",
    "fields": [],
}
SYSTEM_FIELDS = frozenset(
    {
        "Id",
        "IsDeleted",
        "CreatedDate",
        "CreatedById",
        "LastModifiedDate",
        "LastModifiedById",
        "SystemModstamp",
    }
)

_V = "/services/data/v<version>"
_RULES = [
    Rule("/services/data/", endpoint="versions", methods=["GET"]),
    Rule(f"{_V}/", endpoint="resources", methods=["GET"]),
    Rule(f"{_V}/limits/", endpoint="limits", methods=["GET"]),
    Rule(f"{_V}/sobjects/", endpoint="describe_global", methods=["GET"]),
    Rule(f"{_V}/sobjects/<sobject>/", endpoint="sobject_root", methods=["GET", "POST"]),
    Rule(f"{_V}/sobjects/<sobject>/describe/", endpoint="describe", methods=["GET"]),
    Rule(f"{_V}/sobjects/<sobject>/<record_id>/", endpoint="record", methods=["GET", "PATCH", "DELETE"]),
    Rule(f"{_V}/query/", endpoint="query", methods=["GET"]),
    Rule(f"{_V}/queryAll/", endpoint="query", methods=["GET"]),
    Rule(f"{_V}/query/<locator>/", endpoint="query_more", methods=["GET"]),
    Rule(f"{_V}/queryAll/<locator>/", endpoint="query_more", methods=["GET"]),
    Rule(f"{_V}/composite/sobjects/", endpoint="collection", methods=["PATCH", "POST"]),
    Rule(f"{_V}/tooling/sobjects/CustomField/", endpoint="custom_field", methods=["POST"]),
    Rule(f"{_V}/jobs/ingest/", endpoint="jobs", methods=["GET", "POST"]),
    Rule(f"{_V}/jobs/ingest/<job_id>/", endpoint="job", methods=["GET", "PATCH", "DELETE"]),
    Rule(f"{_V}/jobs/ingest/<job_id>/batches/", endpoint="job_batches", methods=["PUT"]),
    Rule(f"{_V}/jobs/ingest/<job_id>/<results>/", endpoint="job_results", methods=["GET"]),
]


@dataclass
class _Cursor:
    sobject: str
    fields: tuple[str, ...]
    rows: list[Record]
    batch_size: int


_Outcome = tuple[str | None, str | None, dict[str, Any] | FieldValueError]
"""(sobject, record id, coerced values or the reason refused) for one record of a collection."""


def _rolled_back(record_id: str | None) -> dict[str, Any]:
    return {"id": record_id, "success": False, "errors": [dict(ROLLED_BACK_ERROR)]}


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status=status, mimetype="application/json")


class SalesforceEmulator(Emulator):
    """Salesforce REST API v52+ on loopback, for the real ``simple_salesforce`` client.

    Point the SDK at it (TLS, since simple-salesforce only builds ``https://`` URLs)::

        tls = make_self_signed_cert()
        server = LoopbackServer(emulator.wsgi_app, tls=tls).start()
        session = requests.Session(); session.verify = tls.cert_path
        sf = Salesforce(instance_url=server.url,
                        session_id=emulator.credentials["session_id"], session=session)

    Daily allocation: every authenticated call (REST, Tooling and Bulk 2.0 job calls alike)
    spends one request, as in Salesforce; records processed by a Bulk job spend nothing.
    Once ``daily_api_limit`` is spent, calls get 403 ``REQUEST_LIMIT_EXCEEDED`` until
    `reset_allocation()`. Every answer carries ``Sforce-Limit-Info: api-usage=USED/LIMIT``.

    Real-org behaviours, each on by default as in a real org (``concurrency_refusals`` is 0 by
    default; switch any off to get the simpler emulator of before):

    * ``field_level_security``: a Tooling-made custom field stays out of describe, SOQL and
      writes (``INVALID_FIELD``) until a ``PermissionSet`` assigned to the API user
      (``PermissionSetAssignment``) grants it in a ``FieldPermissions`` record.
    * ``whole_second_timestamps``: ``SystemModstamp``/``LastModifiedDate`` written in whole
      seconds (``.000``), so records written together share one stamp.
    * ``recycle_bin``: deleted records (REST ``DELETE``, `delete`, `merge`) go to the recycle bin:
      ``queryAll`` returns them with ``IsDeleted = true``, merged losers carry ``MasterRecordId``.
    * ``concurrency_refusals``: the share of calls refused with 403 ``REQUEST_LIMIT_EXCEEDED``
      "ConcurrentPerOrgLongTxn Limit exceeded." (seeded by ``refusal_seed``; `refuse_concurrent`
      refuses the next calls on demand), unlike the daily "TotalRequests Limit exceeded.".
    * ``max_soql_offset``: ``OFFSET`` above it is refused with ``NUMBER_OUTSIDE_VALID_RANGE``
      (Salesforce's is 2,000; ``None`` accepts any).
    * ``all_or_none_rollback``: ``composite/sobjects`` with ``allOrNone: true`` undoes the records
      it already wrote when a later one fails while being written.
    """

    name = "salesforce"

    def __init__(
        self,
        *,
        stats: CallStats | None = None,
        clock: Callable[[], datetime] | None = None,
        daily_api_limit: int = 100_000,
        session_id: str = DEFAULT_SESSION_ID,
        bulk_processing_seconds: float = 0.0,
        field_level_security: bool = True,
        whole_second_timestamps: bool = True,
        recycle_bin: bool = True,
        concurrency_refusals: float = 0.0,
        refusal_seed: int = 0,
        max_soql_offset: int | None = 2000,
        all_or_none_rollback: bool = True,
        webhook_url: str | None = None,
        webhook_options: Mapping[str, Any] | None = None,
        webhook_token: str = "sf-sandbox-outbound-token",  # noqa: S107 - public sandbox credential
        person_session_id: str = PERSON_SESSION_ID,
    ) -> None:
        super().__init__(stats, clock)
        self.daily_api_limit = daily_api_limit
        self.credentials: dict[str, str] = {"session_id": session_id, "access_token": session_id,
                                            "webhook_token": webhook_token, "integration_user_id": DEFAULT_USER_ID,
                                            "person_session_id": person_session_id,
                                            "person_user_id": EDITOR_USER_ID}
        self._notification_ids = itertools.count(1)
        self.webhooks = Webhooks()
        self.webhooks.start(webhook_url, self._render_webhook, webhook_options, batch_size=100,
                            accepted=lambda response: response.status_code == 200
                            and b"<Ack>true</Ack>" in response.content)
        self.bulk_processing_seconds = bulk_processing_seconds
        self.api_usage = 0
        self._lock = threading.RLock()
        self.whole_second_timestamps = whole_second_timestamps
        self.recycle_bin = recycle_bin
        self.concurrency_refusals = concurrency_refusals
        self.max_soql_offset = max_soql_offset
        self.all_or_none_rollback = all_or_none_rollback
        self._refusals = random.Random(refusal_seed)
        self._refuse_next = 0
        self._objects: dict[str, ObjectSpec] = standard_objects()
        self._security: FieldSecurity | None = None
        if field_level_security:
            self._objects.update(security_objects())
            self._security = FieldSecurity(self._objects, DEFAULT_USER_ID)
        if recycle_bin:
            self._objects["Account"].add_field(master_record_field())
        self._deleted: dict[str, dict[str, Record]] = {name: {} for name in self._objects}
        self._tombstones: dict[str, dict[str, str | None]] = {name: {} for name in self._objects}
        self._store: dict[str, dict[str, Record]] = {name: {} for name in self._objects}
        self._ordered: dict[str, list[Record] | None] = {name: None for name in self._objects}
        self._cursors: OrderedDict[str, _Cursor] = OrderedDict()
        self._jobs: dict[str, IngestJob] = {}
        self._failing: dict[str, str] = {}
        self._counter = 1000
        self._case_number = 1000
        self._url_map = Map([rule.empty() for rule in _RULES], strict_slashes=False, merge_slashes=False)
        self._add_default_user()

    # ------------------------------------------------------------ in-process helpers

    def seed(self, world: World) -> None:
        """Load the world's Salesforce presences as Accounts, Contacts, Opportunities and Cases."""
        from .seed import project_world

        with self._lock, self.webhooks.silenced():
            for sobject, record in project_world(world, self._now_text()):
                self._put(sobject, record)
            people = [r["Id"] for r in self._sorted("User") if r.get("IsActive") and r["Id"] != DEFAULT_USER_ID]
            self.credentials["person_user_id"] = str(people[0]) if people else EDITOR_USER_ID

    def records(self, sobject: str) -> list[Record]:
        """Copies of the stored records of one object type, in Id order."""
        with self._lock:
            return [dict(r) for r in self._sorted(sobject)]

    def record(self, sobject: str, record_id: str) -> Record | None:
        with self._lock:
            found = self._store[sobject].get(to_18(record_id))
            return dict(found) if found is not None else None

    def touch(self, sobject: str, ids: Iterable[str]) -> None:
        """Mark records modified "now" (by ``clock``), as an edit in the Salesforce UI would: by a person of the
        org (`_actor`), so ``LastModifiedById`` is not the integration user."""
        now = self._now_text()
        with self._lock:
            for record_id in ids:
                rec = self._store[sobject][to_18(record_id)]
                rec["LastModifiedDate"] = rec["SystemModstamp"] = now
                rec["LastModifiedById"] = self._actor(rec)

    def fail_writes(
        self, ids: Iterable[str], message: str = "Record is locked by an approval process"
    ) -> None:
        """Make later writes to these records fail, like a validation rule would."""
        with self._lock:
            for record_id in ids:
                self._failing[to_18(record_id)] = message

    def refuse_concurrent(self, calls: int) -> None:
        """Refuse the next ``calls`` authenticated calls as over the concurrency limit."""
        with self._lock:
            self._refuse_next = calls

    def delete(self, sobject: str, ids: Iterable[str]) -> list[str]:
        """Delete records as a user would (to the recycle bin with ``recycle_bin``); the ids deleted.

        Deleting an Account deletes its Contacts, Opportunities and Cases too, as Salesforce does.
        """
        with self._lock:
            name = self._spec(sobject).name
            done = [to_18(i) for i in ids if self._remove(name, to_18(i))]
            if name == "Account" and done:
                gone = set(done)
                for child in ("Contact", "Opportunity", "Case"):
                    children = [r["Id"] for r in self._store[child].values() if r.get("AccountId") in gone]
                    for child_id in children:
                        self._remove(child, child_id)
            return done

    def merge(self, sobject: str, master_id: str, loser_id: str) -> str:
        """Merge the loser into the master as the UI does: children re-parented, the loser deleted
        (with ``recycle_bin`` it stays in the recycle bin with ``MasterRecordId``); the master's Id."""
        master, loser = to_18(master_id), to_18(loser_id)
        with self._lock:
            store = self._store[self._spec(sobject).name]
            if master not in store or loser not in store or master == loser:
                raise KeyError(f"no {sobject} pair {master_id}, {loser_id}")
            now = self._now_text()
            for child_type, field_name in MERGE_CHILDREN[sobject]:
                for record in self._store[child_type].values():
                    if record.get(field_name) == loser:
                        record[field_name] = master
                        record["LastModifiedDate"] = record["SystemModstamp"] = now
                        record["LastModifiedById"] = self._actor(record)
            self._remove(sobject, loser, master=master)
            store[master]["LastModifiedDate"] = store[master]["SystemModstamp"] = now
            store[master]["LastModifiedById"] = self._actor(store[master])
            return master

    def deleted_records(self, sobject: str) -> list[Record]:
        """Copies of the recycle bin's records of one type, in Id order."""
        with self._lock:
            return [dict(self._deleted[sobject][k]) for k in sorted(self._deleted[sobject])]

    def reset_allocation(self) -> None:
        """Start a new 24-hour allocation window."""
        with self._lock:
            self.api_usage = 0

    def update(self, sobject: str, record_id: str, fields: dict[str, Any]) -> None:
        """Change a record in-process, validated like an API update (raises `FieldValueError`)."""
        with self._lock:
            spec = self._spec(sobject)
            self._apply(spec.name, record_id, self._check_update(spec, record_id, fields))

    def deleted_ids(self, sobject: str) -> list[str]:
        """Records of one type deleted since seeding, not by a merge, in Id order."""
        with self._lock:
            return sorted(i for i, m in self._tombstones[self._spec(sobject).name].items() if m is None)

    def merged_ids(self, sobject: str) -> dict[str, str]:
        """Each record of one type merged away since seeding, and the master it was merged into."""
        with self._lock:
            return {i: m for i, m in sorted(self._tombstones[self._spec(sobject).name].items()) if m is not None}

    def insert(self, sobject: str, fields: dict[str, Any]) -> str:
        """Create a record in-process (validated like an API create); returns its Id."""
        with self._lock:
            return self._create(sobject, fields)

    # ------------------------------------------------------------ outbound messages

    def configure_outbound(self, endpoint: str) -> None:
        """An admin's setup (Outbound Messages cannot be made through the REST API): one outbound message per
        object of `OUTBOUND_OBJECTS` sending `OUTBOUND_FIELDS` to ``endpoint``, and a record-triggered flow on
        create and update that sends it. Until then no message is sent."""
        self.webhooks.point(endpoint)

    def _actor(self, record: Record) -> str:
        """The user whose session made an API write (the integration user's, or the person's second
        session); in-process, a person of the org (the record's owner)."""
        if by_api():
            return DEFAULT_USER_ID
        person = acting_person()
        if person is not None:
            return person
        owner = record.get("OwnerId")
        return str(owner) if owner and owner != DEFAULT_USER_ID else EDITOR_USER_ID

    def _outbound(self, sobject: str, record: Record) -> None:
        if self.webhooks.on and sobject in OUTBOUND_OBJECTS:
            notification = make_id("04l", next(self._notification_ids))
            self.webhooks.emit((notification, sobject, {f: record.get(f) for f in OUTBOUND_FIELDS}))

    def _render_webhook(self, batch: list[tuple[str, str, dict[str, Any]]]) -> tuple[bytes, dict[str, str]]:
        """A SOAP ``notifications`` message as Salesforce sends it (no signature: the URL holds a token)."""
        soap, outbound = "http://schemas.xmlsoap.org/soap/envelope/", "http://soap.sforce.com/2005/09/outbound"
        sobject_ns, xsi = "urn:sobject.enterprise.soap.sforce.com", "http://www.w3.org/2001/XMLSchema-instance"
        parts = [f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{soap}" '
                 f'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="{xsi}"><soapenv:Body>'
                 f'<notifications xmlns="{outbound}"><OrganizationId>{ORG_ID}</OrganizationId>'
                 f'<ActionId>{make_id("04k", 1)}</ActionId><SessionId xsi:nil="true"/>'
                 "<EnterpriseUrl>https://sandbox.my.salesforce.com/services/Soap/c/62.0/00D5g000004Cnry</EnterpriseUrl>"
                 "<PartnerUrl>https://sandbox.my.salesforce.com/services/Soap/u/62.0/00D5g000004Cnry</PartnerUrl>"]
        for notification, sobject, fields in batch:
            values = "".join(f"<sf:{k}>{escape(str(v))}</sf:{k}>" for k, v in fields.items() if v is not None)
            parts.append(f'<Notification><Id>{notification}</Id><sObject xsi:type="sf:{sobject}" '
                         f'xmlns:sf="{sobject_ns}">{values}</sObject></Notification>')
        parts.append("</notifications></soapenv:Body></soapenv:Envelope>")
        return "".join(parts).encode(), {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""',
                                         "User-Agent": "Salesforce Outbound Messaging"}

    def fault_response(self, kind: str, retry_after: int) -> Response:
        """Salesforce-shaped answers for injected faults (429 / 500 / 503)."""
        if kind == "429":
            # Salesforce's REST API seldom sends 429; this code is the sandbox's own, so that
            # it is never mistaken for the daily allocation's REQUEST_LIMIT_EXCEEDED (403).
            error = ApiError(
                429, "TOO_MANY_REQUESTS", f"Too many requests. Retry after {retry_after} seconds."
            )
        elif kind == "503":
            error = ApiError(503, "SERVER_UNAVAILABLE", "Server temporarily unavailable. Please try again.")
        elif kind == "500":
            error = ApiError(
                500,
                "UNKNOWN_EXCEPTION",
                "An unexpected error occurred. Please include this ErrorId if you contact support: "
                "1395017151-61436 (-1183178158)",
            )
        else:
            raise ValueError(f"unknown fault kind {kind!r}")
        response = _json(error.body(), error.status)
        if kind in ("429", "503"):
            response.headers["Retry-After"] = str(retry_after)
        response.headers["Sforce-Limit-Info"] = self._limit_info()
        return response

    # ------------------------------------------------------------ WSGI

    def _respond(self, request: Request) -> Response:
        with as_api():  # what the API does is the integration user's (Canary's) doing
            response = self._handle(request)
        response.headers["Sforce-Limit-Info"] = self._limit_info()
        return response

    def _handle(self, request: Request) -> Response:
        adapter = self._url_map.bind_to_environ(request.environ)
        try:
            rule, args = adapter.match(return_rule=True)
        except MethodNotAllowed:
            self.stats.record_call(request.method, request.path)
            return _json(
                [
                    {
                        "errorCode": "METHOD_NOT_ALLOWED",
                        "message": f"HTTP Method '{request.method}' not allowed.",
                    }
                ],
                405,
            )
        except (NotFound, HTTPException):
            self.stats.record_call(request.method, "<unknown>")
            return _json(not_found().body(), 404)
        self.stats.record_call(request.method, rule.rule.rstrip("/"))
        try:
            if rule.endpoint == "versions":
                return _json(self._versions())
            args = dict(args)
            version = args.pop("version")
            if not self._supported(version):
                raise not_found()
            user = self._authorize(request)
            handler = getattr(self, f"_on_{rule.endpoint}")
            with as_api() if user == DEFAULT_USER_ID else as_person(user):
                result: Response = handler(request, version, **args)
            return result
        except ApiError as error:
            return _json(error.body(), error.status)
        except Exception:
            # A bug in the emulator must still answer in Salesforce's shape, not a traceback page.
            _log.exception("salesforce emulator failed on %s %s", request.method, rule.rule)
            return self.fault_response("500", 0)

    def _authorize(self, request: Request) -> str:
        """The Id of the User whose session the request carries (the integration user's or the person's)."""
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        sessions = {self.credentials["session_id"]: DEFAULT_USER_ID,
                    self.credentials["person_session_id"]: self.credentials["person_user_id"]}
        user = sessions.get(token.strip()) if scheme.lower() in ("bearer", "oauth") else None
        if user is None:
            raise ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")
        with self._lock:
            if self._refuse_next > 0 or (
                self.concurrency_refusals > 0 and self._refusals.random() < self.concurrency_refusals
            ):
                self._refuse_next = max(0, self._refuse_next - 1)
                raise ApiError(403, "REQUEST_LIMIT_EXCEEDED", CONCURRENT_LIMIT_MESSAGE)
            if self.api_usage >= self.daily_api_limit:
                raise ApiError(403, "REQUEST_LIMIT_EXCEEDED", DAILY_LIMIT_MESSAGE)
            self.api_usage += 1
        return user

    def _limit_info(self) -> str:
        return f"api-usage={self.api_usage}/{self.daily_api_limit}"

    @staticmethod
    def _supported(version: str) -> bool:
        try:
            return float(version) >= MIN_API_VERSION
        except ValueError:
            return False

    @staticmethod
    def _versions() -> list[dict[str, str]]:
        return [
            {"label": f"Release {v}", "url": f"/services/data/v{v}", "version": v}
            for v in ("58.0", "59.0", "60.0", "61.0", LATEST_API_VERSION)
        ]

    # ------------------------------------------------------------ store internals

    def _now_text(self) -> str:
        moment = self.clock()
        if self.whole_second_timestamps:
            moment = moment.replace(microsecond=0)
        return format_datetime(moment)

    def _next_id(self, sobject: str) -> str:
        self._counter += 1
        return make_id(KEY_PREFIXES[sobject], self._counter, pod="9s")

    def _add_default_user(self) -> None:
        now = self._now_text()
        self._put(
            "User",
            {
                "Id": DEFAULT_USER_ID,
                "Username": "integration@canary.sandbox",
                "Name": "Canary Integration",
                "Email": "integration@canary.sandbox",
                "IsActive": True,
                "CreatedDate": now,
                "LastModifiedDate": now,
                "SystemModstamp": now,
            },
        )

    def _put(self, sobject: str, record: Record) -> None:
        """Store a complete native record (seed and create), filling system fields."""
        spec = self._objects[sobject]
        record.setdefault("CreatedDate", self._now_text())
        record.setdefault("LastModifiedDate", record["CreatedDate"])
        record.setdefault("SystemModstamp", record["LastModifiedDate"])
        record.setdefault("CreatedById", DEFAULT_USER_ID)
        record.setdefault("LastModifiedById", DEFAULT_USER_ID)
        if "OwnerId" in spec.fields:
            record.setdefault("OwnerId", DEFAULT_USER_ID)
        if "IsDeleted" in spec.fields:
            record.setdefault("IsDeleted", False)
        if sobject == "Case" and not record.get("CaseNumber"):
            self._case_number += 1
            record["CaseNumber"] = f"{self._case_number:08d}"
        self._derive(sobject, record)
        record["Id"] = to_18(record["Id"])
        self._store[sobject][record["Id"]] = record
        self._ordered[sobject] = None
        self._security_changed(sobject)

    def _security_changed(self, sobject: str) -> None:
        if self._security is not None and sobject in SECURITY_OBJECTS:
            self._security.refresh(self._store)

    def _remove(self, sobject: str, record_id: str, master: str | None = None) -> bool:
        """Take a record out of the store: to the recycle bin with ``recycle_bin``, else gone."""
        record = self._store[sobject].pop(record_id, None)
        if record is None:
            return False
        self._ordered[sobject] = None
        self._tombstones[sobject][record_id] = master
        if self.recycle_bin:
            now = self._now_text()
            record.update({"IsDeleted": True, "LastModifiedDate": now, "SystemModstamp": now,
                           "LastModifiedById": self._actor(record)})  # who deleted it
            if master is not None:
                record["MasterRecordId"] = master
            self._deleted[sobject][record_id] = record
        self._security_changed(sobject)
        return True

    def _rows(self, sobject: str, include_deleted: bool) -> list[Record]:
        """Live records in Id order, with the recycle bin's among them for ``queryAll``."""
        if not include_deleted or not self._deleted[sobject]:
            return self._sorted(sobject)
        merged = {**self._store[sobject], **self._deleted[sobject]}
        return [merged[k] for k in sorted(merged)]

    def _sorted(self, sobject: str) -> list[Record]:
        ordered = self._ordered[sobject]
        if ordered is None:
            store = self._store[sobject]
            ordered = [store[k] for k in sorted(store)]
            self._ordered[sobject] = ordered
        return ordered

    def _spec(self, sobject: str) -> ObjectSpec:
        spec = self._objects.get(sobject)
        if spec is None:
            spec = next((o for o in self._objects.values() if o.name.lower() == sobject.lower()), None)
        if spec is None:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return spec

    def _derive(self, sobject: str, record: Record) -> None:
        """Keep formula-like standard fields consistent with what was written."""
        if sobject in ("Contact", "Lead"):
            record["Name"] = " ".join(p for p in (record.get("FirstName"), record.get("LastName")) if p)
            record["HasOptedOutOfEmail"] = bool(record.get("HasOptedOutOfEmail"))
            if sobject == "Lead":
                record["IsConverted"] = bool(record.get("IsConverted"))
                record["Status"] = record.get("Status") or "Open - Not Contacted"
        elif sobject == "Opportunity":
            stage = record.get("StageName")
            record["IsClosed"] = stage in CLOSED_STAGES
            record["IsWon"] = stage == "Closed Won"
        elif sobject == "Case":
            closed = record.get("Status") in CLOSED_CASE_STATUSES
            if closed and not record.get("IsClosed") and not record.get("ClosedDate"):
                record["ClosedDate"] = record.get("LastModifiedDate") or self._now_text()
            elif not closed:
                record["ClosedDate"] = None
            record["IsClosed"] = closed
            record.setdefault("IsEscalated", False)
        elif sobject == "Task":
            closed = record.get("Status") == "Completed"
            if closed and not record.get("IsClosed"):
                record["CompletedDateTime"] = record.get("LastModifiedDate") or self._now_text()
            elif not closed:
                record["CompletedDateTime"] = None
            record["IsClosed"] = closed

    def _prepare(self, spec: ObjectSpec, changes: dict[str, Any], *, creating: bool) -> dict[str, Any]:
        """Validate and coerce one record's field values (raises `FieldValueError`)."""
        out: dict[str, Any] = {}
        for key, value in changes.items():
            if key in ("attributes", "id") or (key == "Id" and not creating):
                continue
            fspec = spec.field(key)
            if fspec is None:
                raise FieldValueError(
                    "INVALID_FIELD", f"No such column '{key}' on sobject of type {spec.name}", [key]
                )
            if not (fspec.createable if creating else fspec.updateable):
                raise FieldValueError(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {fspec.name}. Please check the security settings "
                    "of this field and verify that it is read/write for your profile or permission set.",
                    [fspec.name],
                )
            out[fspec.name] = fspec.coerce(value)
        return out

    def _check_update(self, spec: ObjectSpec, record_id: Any, changes: dict[str, Any]) -> dict[str, Any]:
        if not record_id:
            raise FieldValueError("MISSING_ARGUMENT", "Id not specified in an update call", [])
        if (
            not isinstance(record_id, str)
            or not is_well_formed(record_id)
            or not record_id.startswith(spec.key_prefix)
        ):
            raise FieldValueError(
                "MALFORMED_ID", f"{spec.label} ID: id value of incorrect type: {record_id}", ["Id"]
            )
        record_id = to_18(record_id)
        if record_id not in self._store[spec.name]:
            raise FieldValueError("ENTITY_IS_DELETED", "entity is deleted", [])
        coerced = self._prepare(spec, changes, creating=False)
        self._check_references(spec.name, coerced)
        if record_id in self._failing:
            raise FieldValueError("FIELD_CUSTOM_VALIDATION_EXCEPTION", self._failing[record_id], [])
        return coerced

    def _check_references(self, sobject: str, coerced: dict[str, Any]) -> None:
        """A Task's ``WhatId`` must name a live record and its ``OwnerId`` an active User, as in an org."""
        if sobject != "Task":
            return
        what = coerced.get("WhatId")
        if what and not any(what in self._store[t] for t in ("Account", "Opportunity", "Case")):
            raise FieldValueError("INVALID_CROSS_REFERENCE_KEY",
                                  "invalid cross reference id", ["WhatId"])
        owner = coerced.get("OwnerId")
        if owner:
            user = self._store["User"].get(owner)
            if user is None:
                raise FieldValueError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["OwnerId"])
            if user.get("IsActive") is not True:
                raise FieldValueError("INACTIVE_OWNER_OR_USER", "operation performed with inactive user "
                                      f"[{owner}] as owner of task", [])

    def _apply(self, sobject: str, record_id: str, coerced: dict[str, Any]) -> None:
        record = self._store[sobject][to_18(record_id)]
        record.update(coerced)
        now = self._now_text()
        record["LastModifiedDate"] = record["SystemModstamp"] = now
        record["LastModifiedById"] = self._actor(record)
        self._derive(sobject, record)
        self._security_changed(sobject)
        self.stats.add_written(1)
        self._outbound(sobject, record)

    def _create(self, sobject: str, fields: dict[str, Any]) -> str:
        spec = self._spec(sobject)
        coerced = self._prepare(spec, fields, creating=True)
        self._check_references(spec.name, coerced)
        record: Record = dict.fromkeys(spec.fields)
        record.update({k: v for k, v in coerced.items() if v is not None})
        if spec.name == "Task":
            record["Status"] = record["Status"] or "Not Started"
            record["Priority"] = record["Priority"] or "Normal"
        if spec.name == "Case":
            record["IsEscalated"] = bool(record["IsEscalated"])
        if "OwnerId" in spec.fields and record["OwnerId"] is None:
            record["OwnerId"] = DEFAULT_USER_ID
        for fspec in spec.fields.values():
            if not fspec.nillable and fspec.createable and record.get(fspec.name) is None:
                if fspec.type == "boolean":
                    record[fspec.name] = False
                    continue
                raise FieldValueError(
                    "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{fspec.name}]", [fspec.name]
                )
        now = self._now_text()
        record.update({"Id": self._next_id(spec.name), "CreatedDate": now, "LastModifiedDate": now})
        record["SystemModstamp"] = now
        record["CreatedById"] = record["LastModifiedById"] = self._actor(record)
        self._put(spec.name, record)
        self.stats.add_written(1)
        self._outbound(spec.name, record)
        return str(record["Id"])

    def _render(self, spec: ObjectSpec, record: Record, fields: Iterable[str], version: str) -> Record:
        out: Record = {
            "attributes": {
                "type": spec.name,
                "url": f"/services/data/v{version}/sobjects/{spec.name}/{record['Id']}",
            }
        }
        for name in fields:
            out[name] = record.get(name)
        return out

    # ------------------------------------------------------------ endpoints: discovery

    def _on_resources(self, request: Request, version: str) -> Response:
        base = f"/services/data/v{version}"
        names = ("sobjects", "query", "queryAll", "limits", "composite", "tooling", "jobs")
        resources = {name: f"{base}/{name}" for name in names}
        # As Salesforce does, the identity URL of the connected user: .../id/<org id>/<user id>.
        user = acting_person() or DEFAULT_USER_ID
        resources["identity"] = f"{request.host_url.rstrip('/')}/id/{ORG_ID}/{user}"
        return _json(resources)

    def _on_limits(self, request: Request, version: str) -> Response:
        return _json(
            {
                "DailyApiRequests": {
                    "Max": self.daily_api_limit,
                    "Remaining": self.daily_api_limit - self.api_usage,
                },
                "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
                "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
                "DataStorageMB": {"Max": 5120, "Remaining": 5120},
            }
        )

    def _on_describe_global(self, request: Request, version: str) -> Response:
        with self._lock:
            sobjects = [spec.summary(version) for spec in self._objects.values()]
        return _json({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": sobjects})

    def _on_describe(self, request: Request, version: str, sobject: str) -> Response:
        with self._lock:
            return _json(self._spec(sobject).describe(version))

    def _on_sobject_root(self, request: Request, version: str, sobject: str) -> Response:
        spec = self._spec(sobject)
        if request.method == "GET":
            return _json({"objectDescribe": spec.summary(version), "recentItems": []})
        body = self._json_body(request)
        if not isinstance(body, dict):
            raise ApiError(
                400, "JSON_PARSER_ERROR", "Cannot deserialize instance of sObject from array value"
            )
        with self._lock:
            try:
                new_id = self._create(spec.name, body)
            except FieldValueError as err:
                raise ApiError(400, err.status_code, err.message, err.fields) from None
        return _json({"id": new_id, "success": True, "errors": []}, 201)

    # ------------------------------------------------------------ endpoints: records

    def _on_record(self, request: Request, version: str, sobject: str, record_id: str) -> Response:
        spec = self._spec(sobject)
        if request.method == "DELETE":
            with self._lock:
                if not self._remove(spec.name, to_18(record_id)):
                    raise not_found()
            return Response(status=204)
        if request.method == "PATCH":
            body = self._json_body(request)
            if not isinstance(body, dict):
                raise ApiError(
                    400, "JSON_PARSER_ERROR", "Cannot deserialize instance of sObject from array value"
                )
            with self._lock:
                if to_18(record_id) not in self._store[spec.name]:
                    raise not_found()
                try:
                    coerced = self._check_update(spec, record_id, body)
                except FieldValueError as err:
                    raise ApiError(400, err.status_code, err.message, err.fields) from None
                self._apply(spec.name, record_id, coerced)
            return Response(status=204)
        with self._lock:
            record = self._store[spec.name].get(to_18(record_id))
            if record is None:
                raise not_found()
            wanted = request.args.get("fields")
            if wanted:
                names = []
                for raw in wanted.split(","):
                    fspec = spec.field(raw.strip())
                    if fspec is None:
                        raise ApiError(
                            400,
                            "INVALID_FIELD",
                            f"No such column '{raw.strip()}' on sobject of type {spec.name}",
                        )
                    names.append(fspec.name)
            else:
                names = list(spec.fields)
            self.stats.add_returned(1)
            return _json(self._render(spec, record, names, version))

    def _on_collection(self, request: Request, version: str) -> Response:
        body = self._json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise ApiError(400, "JSON_PARSER_ERROR", "The request body must hold a records array")
        items: list[Any] = body["records"]
        if len(items) > MAX_COLLECTION_SIZE:
            raise ApiError(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            )
        all_or_none = bool(body.get("allOrNone", False))
        creating = request.method == "POST"
        with self._lock:
            outcomes = [self._collection_item(item, creating) for item in items]
            failed = any(isinstance(o[2], FieldValueError) for o in outcomes)
            saved = self._saved(outcomes) if all_or_none and self.all_or_none_rollback else None
            results, created = self._write_collection(outcomes, creating, rolled_back=all_or_none and failed)
            if saved is not None and any(not r["success"] for r in results):
                self._restore(saved, created)
                results = [_rolled_back(None if creating else r["id"]) if r["success"] else r for r in results]
        return _json(results)

    def _write_collection(
        self, outcomes: list[_Outcome], creating: bool, rolled_back: bool
    ) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
        """One result per record (and the records created), or each refused when ``rolled_back``."""
        results: list[dict[str, Any]] = []
        created: list[tuple[str, str]] = []
        for sobject, record_id, outcome in outcomes:
            if isinstance(outcome, FieldValueError):
                result: dict[str, Any] = {"success": False, "errors": [outcome.as_result_error()]}
                if record_id and sobject and to_18(record_id) in self._store[sobject]:
                    result = {"id": to_18(record_id), **result}
                results.append(result)
            elif rolled_back:
                results.append(_rolled_back(record_id))
            elif creating:
                assert sobject is not None
                try:
                    new_id = self._create(sobject, outcome)
                except FieldValueError as err:
                    results.append({"success": False, "errors": [err.as_result_error()]})
                    continue
                created.append((sobject, new_id))
                results.append({"id": new_id, "success": True, "errors": []})
            else:
                assert sobject is not None and record_id is not None
                self._apply(sobject, record_id, outcome)
                results.append({"id": to_18(record_id), "success": True, "errors": []})
        return results, created

    def _saved(self, outcomes: list[_Outcome]) -> dict[tuple[str, str], Record]:
        """Copies of the records an update is about to change, to put back on a rollback."""
        saved: dict[tuple[str, str], Record] = {}
        for sobject, record_id, _ in outcomes:
            if sobject and record_id and to_18(record_id) in self._store[sobject]:
                saved[(sobject, to_18(record_id))] = dict(self._store[sobject][to_18(record_id)])
        return saved

    def _restore(self, saved: dict[tuple[str, str], Record], created: list[tuple[str, str]]) -> None:
        for sobject, record_id in created:
            self._store[sobject].pop(record_id, None)
            self._ordered[sobject] = None
        for (sobject, record_id), record in saved.items():
            self._store[sobject][record_id] = record
            self._ordered[sobject] = None

    def _collection_item(self, item: Any, creating: bool) -> _Outcome:
        if not isinstance(item, dict):
            return None, None, FieldValueError("JSON_PARSER_ERROR", "Each record must be an object", [])
        sobject = (
            (item.get("attributes") or {}).get("type") if isinstance(item.get("attributes"), dict) else None
        )
        spec = self._objects.get(sobject) if isinstance(sobject, str) else None
        if spec is None:
            return (
                None,
                None,
                FieldValueError("INVALID_TYPE", f"sObject type '{sobject}' is not supported.", []),
            )
        if creating:
            try:
                return spec.name, None, self._prepare(spec, item, creating=True)
            except FieldValueError as err:
                return spec.name, None, err
        record_id = item.get("id") or item.get("Id")
        try:
            return spec.name, record_id, self._check_update(spec, record_id, item)
        except FieldValueError as err:
            return spec.name, record_id if isinstance(record_id, str) else None, err

    @staticmethod
    def _json_body(request: Request) -> Any:
        try:
            return json.loads(request.get_data(as_text=True) or "null")
        except ValueError:
            raise ApiError(400, "JSON_PARSER_ERROR", "Unexpected character in the request body") from None

    # ------------------------------------------------------------ endpoints: query

    def _on_query(self, request: Request, version: str) -> Response:
        source = request.args.get("q")
        if not source:
            raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
        batch_size = self._batch_size(request)
        compiled = soql.compile_query(soql.parse(source), self._objects, self.clock())
        if self.max_soql_offset is not None and (compiled.offset or 0) > self.max_soql_offset:
            raise ApiError(
                400, "NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {self.max_soql_offset}"
            )
        include_deleted = self.recycle_bin and "/queryAll" in request.path
        with self._lock:
            rows = compiled.run(self._rows(compiled.sobject.name, include_deleted))
            if compiled.count:
                return _json({"totalSize": len(rows), "done": True, "records": []})
            cursor = _Cursor(compiled.sobject.name, compiled.fields, rows, batch_size)
            locator = None
            if len(rows) > batch_size:
                self._counter += 1
                locator = make_id("01g", self._counter)
                self._cursors[locator] = cursor
                while len(self._cursors) > MAX_OPEN_CURSORS:
                    self._cursors.popitem(last=False)
            return self._page(cursor, locator, 0, version, request.path)

    def _on_query_more(self, request: Request, version: str, locator: str) -> Response:
        cursor_id, _, offset_text = locator.rpartition("-")
        with self._lock:
            cursor = self._cursors.get(cursor_id)
            if cursor is None or not offset_text.isdigit():
                raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
            self._cursors.move_to_end(cursor_id)
            return self._page(cursor, cursor_id, int(offset_text), version, request.path)

    def _page(self, cursor: _Cursor, locator: str | None, offset: int, version: str, path: str) -> Response:
        spec = self._objects[cursor.sobject]
        end = offset + cursor.batch_size
        chunk = cursor.rows[offset:end]
        url_base = f"/services/data/v{version}/sobjects/{spec.name}/"
        fields = cursor.fields
        records = [
            {"attributes": {"type": spec.name, "url": url_base + r["Id"]}, **{f: r.get(f) for f in fields}}
            for r in chunk
        ]
        body: dict[str, Any] = {"totalSize": len(cursor.rows), "done": end >= len(cursor.rows)}
        if not body["done"]:
            endpoint = "queryAll" if "/queryAll" in path else "query"
            body["nextRecordsUrl"] = f"/services/data/v{version}/{endpoint}/{locator}-{end}"
        body["records"] = records
        self.stats.add_returned(len(records))
        return _json(body)

    @staticmethod
    def _batch_size(request: Request) -> int:
        options = request.headers.get("Sforce-Query-Options", "")
        for part in options.split(","):
            key, _, value = part.partition("=")
            if key.strip().lower() == "batchsize" and value.strip().isdigit():
                return max(200, min(2000, int(value.strip())))
        return DEFAULT_BATCH_SIZE

    # ------------------------------------------------------------ endpoints: tooling

    def _on_custom_field(self, request: Request, version: str) -> Response:
        body = self._json_body(request)
        if not isinstance(body, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be a CustomField object")
        full_name = body.get("FullName")
        metadata = body.get("Metadata")
        if not isinstance(full_name, str) or "." not in full_name or not isinstance(metadata, dict):
            raise ApiError(400, "INVALID_INPUT", "FullName (Object.Field__c) and Metadata are required", [])
        object_name, _, field_name = full_name.partition(".")
        if object_name == "Activity":  # Task and Event fields are defined on Activity; this org has Task
            object_name = "Task"
        with self._lock:
            spec = self._objects.get(object_name)
            if spec is None:
                raise ApiError(400, "INVALID_INPUT", f"Cannot find entity: {object_name}", ["FullName"])
            if not field_name.endswith("__c") or not field_name[:-3].replace("_", "").isalnum():
                raise ApiError(400, "INVALID_FIELD", f"Invalid custom field name: {field_name}", ["FullName"])
            if spec.field(field_name) is not None or (
                self._security is not None and self._security.knows(spec.name, field_name)
            ):
                raise ApiError(
                    400,
                    "DUPLICATE_DEVELOPER_NAME",
                    f"There is already a field named {field_name[:-3]} on {spec.name}.",
                    [],
                )
            try:
                field_spec = custom_field_from_metadata(field_name, metadata)
            except (ValueError, TypeError) as err:
                raise ApiError(400, "FIELD_INTEGRITY_EXCEPTION", str(err), ["Metadata"]) from None
            if self._security is not None:
                self._security.add(spec.name, field_spec)
            else:
                spec.add_field(field_spec)
            for record in self._store[spec.name].values():
                record.setdefault(field_name, None)
            self._counter += 1
            field_id = make_id("00N", self._counter)
        self.stats.add_written(1)
        return _json({"id": field_id, "success": True, "errors": [], "warnings": [], "infos": []}, 201)

    # ------------------------------------------------------------ endpoints: Bulk API 2.0

    def _on_jobs(self, request: Request, version: str) -> Response:
        if request.method == "GET":
            with self._lock:
                jobs = [job.info() for job in self._jobs.values()]
            return _json({"done": True, "records": jobs, "nextRecordsUrl": None})
        body = self._json_body(request)
        if not isinstance(body, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be a job object")
        operation = body.get("operation")
        if operation not in OPERATIONS:
            raise ApiError(400, "API_ERROR", f"Operation {operation!r} is not supported by the sandbox")
        spec = self._spec(str(body.get("object", "")))
        delimiter = body.get("columnDelimiter", "COMMA")
        line_ending = body.get("lineEnding", "LF")
        if (
            body.get("contentType", "CSV") != "CSV"
            or delimiter not in DELIMITERS
            or line_ending not in LINE_ENDINGS
        ):
            raise ApiError(400, "INVALIDJOB", "Invalid contentType, columnDelimiter or lineEnding")
        now = self._now_text()
        with self._lock:
            self._counter += 1
            job = IngestJob(
                id=make_id("750", self._counter),
                object=spec.name,
                operation=operation,
                api_version=float(version),
                created_by=DEFAULT_USER_ID,
                created_date=now,
                system_modstamp=now,
                line_ending=line_ending,
                column_delimiter=delimiter,
                external_id_field=body.get("externalIdFieldName"),
            )
            self._jobs[job.id] = job
        return _json(job.info(created=True))

    def _job(self, job_id: str) -> IngestJob:
        job = self._jobs.get(job_id)
        if job is None:
            raise not_found()
        return job

    def _on_job(self, request: Request, version: str, job_id: str) -> Response:
        with self._lock:
            job = self._job(job_id)
            if request.method == "DELETE":
                if job.state not in ("UploadComplete", "JobComplete", "Aborted", "Failed"):
                    raise ApiError(400, "INVALIDJOBSTATE", f"Cannot delete a job in state {job.state}")
                del self._jobs[job_id]
                return Response(status=204)
            if request.method == "PATCH":
                body = self._json_body(request)
                state = body.get("state") if isinstance(body, dict) else None
                if state == "UploadComplete" and job.state == "Open":
                    if job.data is None:
                        job.state = "Failed"
                        job.error_message = "InvalidBatch : No data uploaded"
                    else:
                        job.state = "UploadComplete"
                        job.ready_at = time.monotonic() + self.bulk_processing_seconds
                elif state == "Aborted" and job.state in ("Open", "UploadComplete", "InProgress"):
                    job.state = "Aborted"
                else:
                    raise ApiError(
                        400, "INVALIDJOBSTATE", f"Cannot change the state of a {job.state} job to {state}"
                    )
                job.system_modstamp = self._now_text()
                answer = job.info()
                if self.bulk_processing_seconds <= 0 and job.state == "UploadComplete":
                    self._run_job(job)
                return _json(answer)
            self._advance(job)
            return _json(job.info())

    def _on_job_batches(self, request: Request, version: str, job_id: str) -> Response:
        with self._lock:
            job = self._job(job_id)
            if job.state != "Open" or job.data is not None:
                raise ApiError(
                    409, "INVALIDJOBSTATE", "Data can be uploaded only once, and only while the job is Open"
                )
            job.data = request.get_data(as_text=True)
        return Response(status=201)

    def _on_job_results(self, request: Request, version: str, job_id: str, results: str) -> Response:
        if results not in ("successfulResults", "failedResults", "unprocessedrecords", "unprocessedRecords"):
            raise not_found()
        with self._lock:
            job = self._job(job_id)
            self._advance(job)
            if job.state not in ("JobComplete", "Failed", "Aborted"):
                raise ApiError(400, "INVALIDJOBSTATE", "Results are available once the job is complete")
            text = job.results_csv(results if results.startswith(("s", "f")) else "unprocessedrecords")
        return Response(text, mimetype="text/csv")

    def _advance(self, job: IngestJob) -> None:
        if job.state == "UploadComplete" and job.ready_at is not None:
            if time.monotonic() >= job.ready_at:
                self._run_job(job)
            else:
                job.state = "InProgress"
        elif job.state == "InProgress" and job.ready_at is not None and time.monotonic() >= job.ready_at:
            self._run_job(job)

    def _run_job(self, job: IngestJob) -> None:
        started = time.monotonic()
        spec = self._objects[job.object]
        try:
            rows = job.rows()
        except ValueError as err:
            job.state, job.error_message = "Failed", str(err)
            return
        if job.operation == "update" and not any(c.lower() == "id" for c in job.columns):
            job.state, job.error_message = "Failed", "InvalidBatch : Field name not found : Id"
            return
        for row in rows:
            changes = {k: csv_value(v) for k, v in row.items() if v != ""}
            raw_id = next((v for k, v in row.items() if k.lower() == "id"), "")
            try:
                if job.operation == "update":
                    coerced = self._check_update(spec, raw_id, changes)
                    self._apply(spec.name, raw_id, coerced)
                    job.results.append(RowResult(row, to_18(raw_id)))
                else:
                    new_id = self._create(spec.name, changes)
                    job.results.append(RowResult(row, new_id, created=True))
            except FieldValueError as err:
                fields = ",".join(err.fields)
                job.results.append(
                    RowResult(
                        row,
                        raw_id if job.operation == "update" else "",
                        f"{err.status_code}:{err.message}:{fields} --",
                    )
                )
        job.state = "JobComplete"
        job.system_modstamp = self._now_text()
        job.processing_ms = int((time.monotonic() - started) * 1000)
