"""`ZendeskEmulator`: the Zendesk Support API v2 on loopback, for the real ``zenpy`` client.

Point zenpy at it (verified by ``tests/sandbox/test_zendesk.py``)::

    server = LoopbackServer(emulator.wsgi_app).start()
    session = LoopbackRedirect("canary-sandbox.zendesk.com", server.url).mount_on(requests.Session())
    zenpy = Zenpy(subdomain="canary-sandbox", session=session, **emulator.zenpy_credentials)  # email + token
    zenpy = Zenpy(subdomain="canary-sandbox", session=session, oauth_token=emulator.credentials["oauth_token"])

The session (`sandbox.server.LoopbackRedirect`) sends the vendor host, on either scheme, to the
emulator and keeps ``Host`` the vendor's, so the links the emulator builds (``https://`` by
default, see ``https_links``) lead back to it. Paths are served with and without ``.json``.
What zenpy sends, and so what is served:

* ``zenpy.organizations()`` / ``.users()`` / ``.tickets()`` / ``.satisfaction_ratings()``: cursor
  pagination, ``?page[size]=100`` then ``links.next`` while ``meta.has_more``. Without ``page[...]``
  parameters the lists fall back to offset pagination (``page``, ``per_page``, ``next_page``,
  ``count``), as the real API does.
* ``zenpy.tickets.incremental(start_time=...)`` / ``.users.incremental(...)``: cursor exports
  ``/incremental/<type>/cursor.json?start_time=`` then ``?cursor=`` from ``after_url`` until
  ``end_of_stream``. ``paginate_by_time=True`` and ``zenpy.organizations.incremental(...)`` use the
  time-based exports (``next_page``/``end_time``; boundary repeats are described in `pages`).
* ``zenpy.tickets(ids=[...])`` / ``zenpy.users(ids=[...])`` / ``zenpy.organizations(ids=[...])``:
  ``GET /tickets/show_many.json?ids=``, ``/users/show_many.json?ids=`` and
  ``/organizations/show_many.json?ids=`` (at most 100 ids); ``GET /satisfaction_ratings/{id}.json``.
* ``zenpy.users.me()``: ``GET /users/me.json``, the API user (`API_USER_ID`, whose changes the ticket
  trigger names as ``{{current_user.id}}``).
* ``zenpy.tickets.update(ticket)``: ``PUT /tickets/{id}.json`` (status, priority, subject, type, assignee,
  tags); the install's ticket trigger fires, ``{{current_user.id}}`` naming whoever authenticated.
* A second, human credential: ``person_email`` + ``person_token`` in `credentials` (the first active
  seeded agent, ``person_user_id``); its calls act as that agent (``users/me``, ticket trigger bodies).
* ``zenpy.organizations.update([...])``: ``PUT /organizations/update_many.json`` answering a queued
  ``job_status``; ``zenpy.job_status(id=...)`` polls it, ``zenpy.job_status(ids=[...])`` polls up to 100
  at once (``GET /job_statuses/show_many.json?ids=a,b``: ``{"job_statuses": [...]}``, each as the single
  poll answers it, unknown ids left out, more than 100 refused with ``TooManyValues``). Writes are applied
  at once; a job reports ``completed`` on its first poll (or after ``job_polls_before_completed`` polls
  answered ``working``; ``slow_jobs`` sets that per job, by the job's number from 1). Each appearance of a
  job in a show_many answer counts as one poll of it.
* ``zenpy.tickets.create(Ticket(...))``: ``POST /tickets.json`` makes one ticket (a person reporting a
  problem through the API, e.g. a ``canary demo --live`` script); 201 with the ticket and its audit.

Limits: the plan's requests per minute (``X-Rate-Limit``, ``X-Rate-Limit-Remaining``,
``ratelimit-reset``; 429 with ``Retry-After`` past it) and 10 incremental export requests per
minute, both in windows of the ``clock``. zenpy sleeps out a 429's ``Retry-After`` itself; pass
``ratelimit_budget`` to make it raise instead. Unknown keys in ``organization_fields`` on update
are ignored, as Zendesk ignores them.

Real-account behaviours, each on by default as a real account behaves (`ZendeskAdapter`
handles them all); turn one off for the sandbox's old behaviour:

* ``export_deleted`` (on): `delete` keeps deleted tickets in the exports with status ``deleted``
  (left out with ``exclude_deleted=true``) and deleted organizations in the organization export
  with ``deleted_at``; both leave the lists and shows. Off, a deleted row simply disappears.
* ``satisfaction_organization_id`` (off): the documented rating (``ticket_id``,
  ``requester_id``, ``assignee_id``, ``group_id``, no ``organization_id``), so a rating reaches
  its account only through its ticket; on adds the ``organization_id`` the sandbox used to send.
* ``type_check_fields`` (on): organization field values are checked against the field's type
  (decimal, integer, checkbox, date, dropdown); a bad value fails that organization in the job
  results (``OrganizationUpdateFailed``) and a single update with 422 ``RecordInvalid``.
* ``https_links`` (on): every ``url``, ``next_page``, ``links`` and ``after_url`` is ``https://``
  (the request's host, so a client that sends the vendor host through `LoopbackRedirect`, or
  rewrites every request to the emulator as `ZendeskAdapter` does, follows them; zenpy under
  ``ZENPY_FORCE_NETLOC``/``ZENPY_FORCE_SCHEME=http`` does not: it follows links as they are).
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import hmac
import itertools
import json
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlencode

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sandbox.core import CallStats, Emulator
from sandbox.webhooks import Webhooks, acting_person, as_api, as_person, by_api
from sandbox.world import Presence, Ticket, World
from sandbox.zendesk import errors
from sandbox.zendesk.fields import field_problem
from sandbox.zendesk.hooks import ADMIN_TICKET_BODY, EVENT_TYPES, TICKET_EVENTS, HookError, ZendeskHooks
from sandbox.zendesk.limits import INCREMENTAL_LIMIT, PLAN_LIMITS, MinuteWindow
from sandbox.zendesk.pages import (
    BadCursor,
    Key,
    decode_id_cursor,
    export_cursor_page,
    list_page,
    time_export_page,
)
from sandbox.zendesk.seed import HUBSPOT_FIELD_KEY, OWNER_FIELD_KEY, iso, project, stamp, ticket_row
from sandbox.zendesk.store import Table

if TYPE_CHECKING:
    pass

LIST_PAGE_MAX = 100
EXPORT_PAGE_MAX = 1000
EXPORT_LAG_SECONDS = 60
"""Exports leave out records changed within the last minute, and refuse a younger start_time."""
UPDATE_MANY_MAX = 100
API_USER_ID = "1"
"""The user the API credentials act as (the sandbox admin `users/me` answers for)."""
AGENT_USER_ID = "2"
"""Who edits a ticket in-process when it names no assignee."""
PERSON_TOKEN = "zd-sandbox-person-api-token"  # noqa: S105 - public sandbox credential
"""The API token of the second, human credential (an agent's own scripts)."""
TICKET_UPDATABLE = ("status", "priority", "subject", "type", "assignee_id", "tags")
SHOW_MANY_MAX = 100
PRIORITIES: dict[str, Literal["low", "normal", "high", "urgent"]] = {
    "low": "low", "normal": "normal", "high": "high", "urgent": "urgent"}
FIELD_TYPES = frozenset(
    [
        *("text", "textarea", "checkbox", "date", "integer", "decimal"),
        *("regexp", "dropdown", "lookup", "multiselect"),
    ]
)
OBJECT_TYPES = ("organizations", "users", "tickets", "satisfaction_ratings", "organization_fields")
_UPDATABLE_ORG_FIELDS = (
    "name",
    "details",
    "notes",
    "tags",
    "domain_names",
    "external_id",
    "group_id",
    "shared_tickets",
    "shared_comments",
)

# (rule, endpoint, methods); the route pattern counted in stats is derived from the rule.
_ROUTES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("/api/v2/organizations", "list_organizations", ("GET",)),
    ("/api/v2/organizations/update_many", "update_many_organizations", ("PUT",)),
    ("/api/v2/organizations/show_many", "show_many_organizations", ("GET",)),
    ("/api/v2/organizations/<int:record_id>", "organization", ("GET", "PUT")),
    ("/api/v2/users", "list_users", ("GET",)),
    ("/api/v2/users/show_many", "show_many_users", ("GET",)),
    ("/api/v2/users/me", "users_me", ("GET",)),
    ("/api/v2/users/<int:record_id>", "user", ("GET",)),
    ("/api/v2/tickets", "list_tickets", ("GET",)),
    ("/api/v2/tickets/show_many", "show_many_tickets", ("GET",)),
    ("/api/v2/tickets/<int:record_id>", "ticket", ("GET", "PUT")),
    ("/api/v2/satisfaction_ratings", "list_satisfaction_ratings", ("GET",)),
    ("/api/v2/satisfaction_ratings/<int:record_id>", "satisfaction_rating", ("GET",)),
    ("/api/v2/organization_fields", "organization_fields", ("GET", "POST")),
    ("/api/v2/job_statuses/show_many", "show_many_job_statuses", ("GET",)),
    ("/api/v2/job_statuses/<job_id>", "job_status", ("GET",)),
    ("/api/v2/webhooks", "webhooks", ("GET", "POST")),
    ("/api/v2/webhooks/<webhook_id>", "webhook", ("GET", "PATCH", "PUT", "DELETE")),
    ("/api/v2/webhooks/<webhook_id>/signing_secret", "webhook_secret", ("GET",)),
    ("/api/v2/triggers", "triggers", ("GET", "POST")),
    ("/api/v2/triggers/<int:trigger_id>", "trigger", ("GET", "PUT")),
    ("/api/v2/incremental/tickets/cursor", "export_tickets_cursor", ("GET",)),
    ("/api/v2/incremental/users/cursor", "export_users_cursor", ("GET",)),
    ("/api/v2/incremental/organizations", "export_organizations", ("GET",)),
    ("/api/v2/incremental/tickets", "export_tickets", ("GET",)),
    ("/api/v2/incremental/users", "export_users", ("GET",)),
    ("/api/v2/tickets", "create_ticket", ("POST",)),
)


def _pattern(rule: str) -> str:
    for name in ("<int:record_id>", "<job_id>", "<webhook_id>", "<int:trigger_id>"):
        rule = rule.replace(name, "{id}")
    return rule + ".json"


class _BadRequest(Exception):
    """Carries the vendor-shaped response for a request we refuse."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


class ZendeskEmulator(Emulator):
    """An in-memory Zendesk account served over WSGI; see the module docstring."""

    name = "zendesk"

    def __init__(
        self,
        *,
        stats: CallStats | None = None,
        clock: Callable[[], datetime] | None = None,
        plan: str = "enterprise",
        requests_per_minute: int | None = None,
        incremental_requests_per_minute: int | None = INCREMENTAL_LIMIT,
        job_polls_before_completed: int = 0,
        slow_jobs: Mapping[int, int] | None = None,
        subdomain: str = "canary-sandbox",
        email: str = "sandbox-admin@canary.test",
        token: str = "zd-sandbox-api-token",  # noqa: S107 - public sandbox credential
        oauth_token: str = "zd-sandbox-oauth-token",  # noqa: S107 - public sandbox credential
        export_deleted: bool = True,
        satisfaction_organization_id: bool = False,
        type_check_fields: bool = True,
        https_links: bool = True,
        webhook_url: str | None = None,
        webhook_options: Mapping[str, Any] | None = None,
        webhook_secret: str = "zd-sandbox-webhook-signing-secret",  # noqa: S107 - public sandbox credential
        account_id: int = 10_973_248,
        person_token: str = PERSON_TOKEN,
    ) -> None:
        if plan not in PLAN_LIMITS:
            raise ValueError(f"unknown Zendesk plan {plan!r}; one of {sorted(PLAN_LIMITS)}")
        super().__init__(stats, clock)
        self.plan = plan
        self.export_deleted = export_deleted
        self.satisfaction_organization_id = satisfaction_organization_id
        self.type_check_fields = type_check_fields
        self.https_links = https_links
        self._deleted: dict[str, set[int]] = {"organizations": set(), "tickets": set()}
        self._tombstones: dict[str, set[int]] = {"organizations": set(), "tickets": set()}
        self.credentials: dict[str, str] = {
            "subdomain": subdomain,
            "email": email,
            "token": token,
            "oauth_token": oauth_token,
            "webhook_secret": webhook_secret,
            "api_user_id": API_USER_ID,
            "person_email": "agent@canary-sandbox.test",
            "person_token": person_token,
            "person_user_id": AGENT_USER_ID,
        }
        self.account_id = account_id
        self._event_ids = itertools.count(1)
        self.webhooks = Webhooks()
        self.webhooks.start(None, self._render_webhook, webhook_options)
        self.hooks = ZendeskHooks(self.now)
        """The account's webhooks and triggers (`sandbox.zendesk.hooks`): what is sent, and where."""
        self._limit = MinuteWindow(requests_per_minute or PLAN_LIMITS[plan])
        self._export_limit = MinuteWindow(incremental_requests_per_minute) if incremental_requests_per_minute else None
        self._job_polls_before_completed = job_polls_before_completed
        self._slow_jobs = dict(slow_jobs or {})
        self._working_polls: dict[str, int] = {}
        """Polls each job answers ``working`` before ``completed``."""
        self._lock = threading.RLock()
        self._tables: dict[str, Table] = {name: Table() for name in OBJECT_TYPES}
        self._jobs: dict[str, dict[str, Any]] = {}
        self._job_polls: dict[str, int] = {}
        self._job_counter = itertools.count(1)
        self._field_ids = itertools.count(360_000_000_001)
        self._org_names: dict[str, set[int]] = {}
        self._map = Map(
            [Rule(rule, endpoint=endpoint, methods=list(methods)) for rule, endpoint, methods in _ROUTES],
            strict_slashes=False,
        )
        self._patterns = {endpoint: _pattern(rule) for rule, endpoint, _ in _ROUTES}
        self._define_field(HUBSPOT_FIELD_KEY, "text", "HubSpot Company ID")
        owner_field = self._define_field(OWNER_FIELD_KEY, "lookup", "Success Manager",
                                         "The agent who owns this customer")
        owner_field.update({"relationship_target_type": "zen:user",
                            "relationship_filter": {"all": [{"field": "role", "operator": "is", "value": "Agent"}]}})
        if webhook_url:
            self.admin_subscribe(webhook_url)

    def admin_subscribe(self, endpoint: str) -> None:
        """An admin's setup by hand, as Canary's README says: one webhook to ``endpoint`` subscribed to every
        organization and user event, a trigger-connected one, and a trigger posting `ADMIN_TICKET_BODY` on each
        ticket create or update; both webhooks sign with the emulator's ``webhook_secret``."""
        secret = self.credentials["webhook_secret"]
        with self._lock:
            self.hooks.create_webhook({"webhook": {"name": "Canary events", "endpoint": endpoint,
                                                   "subscriptions": list(EVENT_TYPES)}}, secret=secret)
            tickets = self.hooks.create_webhook({"webhook": {"name": "Canary tickets", "endpoint": endpoint,
                                                             "subscriptions": [TICKET_EVENTS]}}, secret=secret)
            self.hooks.create_trigger({"trigger": {"title": "Canary: ticket activity", "actions": [
                {"field": "notification_webhook", "value": [tickets["id"], ADMIN_TICKET_BODY]}]}})
            self.webhooks.point(endpoint)

    # ------------------------------------------------------------------ in-process helpers

    @property
    def zenpy_credentials(self) -> dict[str, str]:
        """Keyword arguments for ``Zenpy(...)`` token auth (besides ``subdomain``)."""
        return {"email": self.credentials["email"], "token": self.credentials["token"]}

    def now(self) -> datetime:
        moment = self.clock()
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

    def seed(self, world: World) -> None:
        """Replace organizations, users, tickets and satisfaction ratings with ``world``'s."""
        native = project(world, self.now())
        with self._lock, self.webhooks.silenced():
            self._deleted = {plural: set() for plural in self._deleted}
            self._tombstones = {plural: set() for plural in self._tombstones}
            for name, rows, stamp_field in (
                ("organizations", native.organizations, "updated_at"),
                ("users", native.users, "updated_at"),
                ("tickets", native.tickets, "updated_at"),
                ("satisfaction_ratings", native.satisfaction_ratings, "updated_at"),
            ):
                table = self._tables[name]
                table.clear()
                for row in rows.values():
                    table.put(row, _stamp_of(row[stamp_field]))
            keys = [f["key"] for f in self._tables["organization_fields"].rows.values()]
            for row in native.organizations.values():
                for key in keys:
                    row["organization_fields"].setdefault(key, None)
            self._org_names = {}
            for row in native.organizations.values():
                self._org_names.setdefault(row["name"].casefold(), set()).add(row["id"])
            agents = [r for r in native.users.values()
                      if r.get("role") == "agent" and r.get("active") and not r.get("suspended") and r.get("email")]
            if agents:
                person = min(agents, key=lambda r: int(r["id"]))
                self.credentials.update(person_email=str(person["email"]), person_user_id=str(person["id"]))

    def records(self, object_type: str) -> list[dict[str, Any]]:
        """A copy of the native rows of one type (``organizations``, ``users``, ...), in id order."""
        table = self._table(object_type)
        with self._lock:
            return [copy.deepcopy(table.rows[i]) for i in table.ids()]

    def touch(self, object_type: str, ids: Iterable[int | str], at: datetime | None = None) -> None:
        """Mark rows modified at ``at`` (default: the clock's now), as an agent's edit would."""
        table = self._table(object_type)
        moment = at or self.now()
        with self._lock:
            for raw_id in ids:
                record_id = int(raw_id)
                if record_id not in table:
                    raise KeyError(f"no {object_type} with id {record_id}")
                self._restamp(table, table.rows[record_id], moment)

    def delete(self, object_type: str, ids: Iterable[int | str]) -> list[int]:
        """Delete tickets or organizations as an agent would; the ids deleted.

        With ``export_deleted`` they stay in the exports (see the module docstring), else they vanish.
        """
        plural = self._table_name(object_type)
        if plural not in self._deleted:
            raise KeyError(f"only tickets and organizations can be deleted, not {object_type!r}")
        table, done = self._tables[plural], []
        with self._lock:
            for record_id in (int(i) for i in ids):
                if record_id not in table or record_id in self._deleted[plural]:
                    continue
                done.append(record_id)
                self._tombstones[plural].add(record_id)
                if plural == "organizations":
                    self._event("organization.deleted", "organization", record_id, {})
                if not self.export_deleted:
                    table.remove(record_id)
                    continue
                self._deleted[plural].add(record_id)
                row, moment = table.rows[record_id], self.now()
                if plural == "tickets":
                    row["status"] = "deleted"
                else:
                    row["deleted_at"] = iso(moment)
                self._restamp(table, row, moment)
        return done

    def deleted_ids(self, object_type: str) -> list[int]:
        """Every ticket or organization deleted since seeding (in the exports or gone), in id order."""
        with self._lock:
            return sorted(self._tombstones[self._table_name(object_type)])

    def update(self, object_type: str, record_id: int | str, changes: dict[str, Any]) -> None:
        """Change a row in-process as an agent would; organizations are checked like an API update."""
        plural = self._table_name(object_type)
        table, rid = self._tables[plural], int(record_id)
        with self._lock:
            if rid not in table or rid in self._deleted.get(plural, ()):
                raise KeyError(f"no {object_type} with id {rid}")
            if plural == "organizations":
                problem = self._update_organization(rid, changes)
                if problem is not None:
                    raise ValueError(problem[1])
                return
            row = table.rows[rid]
            row.update({k: v for k, v in changes.items() if k in row and k not in ("id", "url")})
            self._restamp(table, row, self.now())
            if plural == "tickets":
                self._ticket_trigger(row)

    # ------------------------------------------------------------------ webhooks

    def _event(self, kind: str, noun: str, record_id: int, event: dict[str, Any]) -> None:
        """An event subscription's payload, as Zendesk sends it (no actor: Zendesk's events carry none), to each
        active webhook subscribed to its type."""
        targets = self.hooks.event_targets(f"zen:event-type:{kind}")
        if not self.webhooks.on or not targets:
            return
        table = self._tables["organizations" if noun == "organization" else "users"]
        row = table.rows.get(record_id, {})
        detail = {k: (str(v) if k in ("id", "group_id") and v is not None else v) for k, v in row.items()
                  if k in ("created_at", "external_id", "group_id", "id", "name", "shared_comments",
                           "shared_tickets", "updated_at")}
        event_id = str(uuid.UUID(int=next(self._event_ids)))
        body = json.dumps({"type": f"zen:event-type:{kind}", "account_id": self.account_id, "id": event_id,
                           "time": iso(self.now()), "zendesk_event_version": "2022-06-20",
                           "subject": f"zen:{noun}:{record_id}", "detail": detail, "event": event}).encode()
        for webhook_id, endpoint, secret in targets:
            self.webhooks.emit((webhook_id, endpoint, secret, body))

    def _ticket_trigger(self, row: dict[str, Any]) -> None:
        """The active triggers' webhook notifications: each body as its trigger defines it, placeholders filled."""
        if not self.webhooks.on:
            return
        actor = API_USER_ID if by_api() else acting_person() or str(row.get("assignee_id") or AGENT_USER_ID)
        placeholders = {"ticket.id": str(row["id"]), "ticket.organization.id": str(row.get("organization_id") or ""),
                        "ticket.updated_at_with_timestamp": str(row["updated_at"]), "current_user.id": actor}
        for webhook_id, endpoint, secret, body in self.hooks.ticket_targets(placeholders):
            self.webhooks.emit((webhook_id, endpoint, secret, body))

    def _render_webhook(self, batch: list[tuple[str, str, str, bytes]]) -> tuple[bytes, dict[str, str], str]:
        """One request: the body, signed with its webhook's secret, to its webhook's endpoint."""
        webhook_id, endpoint, secret, body = batch[0]
        stamp = iso(self.now())
        signature = base64.b64encode(hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()).decode()
        return body, {"Content-Type": "application/json", "User-Agent": "Zendesk Webhook",
                      "X-Zendesk-Webhook-Id": webhook_id, "X-Zendesk-Webhook-Signature": signature,
                      "X-Zendesk-Webhook-Signature-Timestamp": stamp}, endpoint

    def create_organization(self, name: str, domain: str | None = None, external_id: str | None = None) -> int:
        """A new organization, as an admin adding one would make it (names are unique, as in Zendesk);
        ``external_id`` holds the Salesforce Account id where the account keeps one. Returns its id."""
        moment = self.now()
        table = self._tables["organizations"]
        with self._lock:
            if self._org_names.get(name.casefold()):
                raise ValueError(f"Name:  {name} has already been taken")
            org_id = max([*table.ids(), *self._tombstones["organizations"]], default=0) + 1
            keys = [f["key"] for f in self._tables["organization_fields"].rows.values()]
            row = {"id": org_id, "name": name, "shared_tickets": False, "shared_comments": False,
                   "external_id": external_id, "created_at": iso(moment), "updated_at": iso(moment),
                   "domain_names": [domain] if domain else [], "details": None, "notes": None, "group_id": None,
                   "tags": [], "organization_fields": dict.fromkeys([HUBSPOT_FIELD_KEY, OWNER_FIELD_KEY, *keys])}
            table.put(row, stamp(moment))
            self._org_names.setdefault(name.casefold(), set()).add(org_id)
        return org_id

    def create_ticket(self, organization_id: int | str | None, requester_id: int | str | None, subject: str,
                      priority: Literal["low", "normal", "high", "urgent"] = "normal") -> int:
        """A new ticket, as an end user submitting one would make it (status ``new``, stamped by the clock);
        returns its id."""
        moment = self.now()
        table = self._tables["tickets"]
        with self._lock:
            ticket_id = max([*table.ids(), *self._tombstones["tickets"]], default=0) + 1
            ticket = Ticket(key=f"ticket-{ticket_id}", company_key="", requester_key="", subject=subject,
                            priority=priority, status="new", escalated=False,
                            created_at=moment, updated_at=moment, solved_at=None, satisfaction=None,
                            satisfaction_comment=None)
            row = ticket_row(ticket, Presence(str(ticket_id), created_at=moment, updated_at=moment),
                             int(organization_id) if organization_id is not None else None,
                             int(requester_id) if requester_id is not None else None)
            table.put(row, stamp(moment))
        self._ticket_trigger(row)  # the install's ticket trigger fires, as for any new ticket
        return ticket_id

    def is_deleted(self, object_type: str, record_id: int | str) -> bool:
        return int(record_id) in self._deleted.get(self._table_name(object_type), set())

    def job(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._jobs[job_id])

    def job_polls(self) -> dict[str, int]:
        """How many times each job's status was read (single polls and show_many answers), by job id."""
        with self._lock:
            return dict(self._job_polls)

    def fault_response(self, kind: str, retry_after: int) -> Response:
        """Zendesk's own answer for an injected fault: ``"429"``, ``"500"`` or ``"503"``."""
        if kind == "429":
            return errors.rate_limited(retry_after, errors.RECORDED_429_TEXT)
        if kind == "500":
            return errors.server_error()
        if kind == "503":
            return errors.service_unavailable(retry_after)
        raise ValueError(f"unknown fault kind {kind!r}")

    # ------------------------------------------------------------------ WSGI

    def _respond(self, request: Request) -> Response:
        path = request.path
        if path.endswith(".json"):
            path = path[: -len(".json")]
        try:
            endpoint, args = self._map.bind("zendesk.sandbox").match(path, method=request.method)
        except NotFound:
            self.stats.record_call(request.method, "unmatched")
            return errors.invalid_endpoint()
        except MethodNotAllowed:
            self.stats.record_call(request.method, "unmatched")
            return errors.error(405, "MethodNotAllowed", f"{request.method} is not allowed here")
        self.stats.record_call(request.method, self._patterns[str(endpoint)])
        user = self._authorized(request)
        if user is None:
            return errors.unauthorized()
        with self._lock:
            now = self.now().timestamp()
            allowance = self._limit.take(now)
            headers = {
                "X-Rate-Limit": str(allowance.limit),
                "X-Rate-Limit-Remaining": str(allowance.remaining),
                "rate-limit": str(allowance.limit),
                "rate-limit-remaining": str(allowance.remaining),
                "rate-limit-reset": str(allowance.reset),
                "ratelimit-reset": str(allowance.reset),
            }
            if not allowance.allowed:
                response = errors.rate_limited(allowance.reset)
            elif self._export_limit is not None and str(endpoint).startswith("export_"):
                export_allowance = self._export_limit.take(now)
                response = (
                    self._dispatch(str(endpoint), request, args, user)
                    if export_allowance.allowed
                    else errors.rate_limited(export_allowance.reset, errors.INCREMENTAL_RATE_LIMITED_TEXT)
                )
            else:
                response = self._dispatch(str(endpoint), request, args, user)
        response.headers.update(headers)
        return response

    def _dispatch(self, endpoint: str, request: Request, args: Mapping[str, Any], user: str) -> Response:
        # what the API does is the doing of the user whose credential authenticated: the API user (Canary) or
        # the person's
        with as_api() if user == API_USER_ID else as_person(user):
            return self._dispatch_as_api(endpoint, request, args)

    def _dispatch_as_api(self, endpoint: str, request: Request, args: Mapping[str, Any]) -> Response:
        handler: Callable[..., Response] = getattr(self, f"_on_{endpoint}")
        try:
            return handler(request, **args)
        except _BadRequest as refused:
            return refused.response
        except HookError as refused:
            return errors.error(refused.status, refused.error, refused.description)

    # ------------------------------------------------------------------ handlers: webhooks and triggers

    def _on_webhooks(self, request: Request) -> Response:
        if request.method == "POST":
            row = self.hooks.create_webhook(_json_body(request), by=acting_person() or API_USER_ID)
            self.webhooks.point(row["endpoint"])  # the sender starts with the first webhook
            return errors.json_response({"webhook": row}, 201)
        rows = self.hooks.list_webhooks(request.args.get("filter[name_contains]"))
        self.stats.add_returned(len(rows))
        return errors.json_response({"webhooks": rows, "meta": {"has_more": False, "after_cursor": None,
                                                                 "before_cursor": None},
                                     "links": {"next": None, "prev": None}})

    def _on_webhook(self, request: Request, webhook_id: str) -> Response:
        if request.method in ("PATCH", "PUT"):
            self.hooks.update_webhook(webhook_id, _json_body(request), by=acting_person() or API_USER_ID)
            return Response(status=204)
        if request.method == "DELETE":
            self.hooks.delete_webhook(webhook_id)
            return Response(status=204)
        return errors.json_response({"webhook": dict(self.hooks.webhook(webhook_id))})

    def _on_webhook_secret(self, request: Request, webhook_id: str) -> Response:
        self.hooks.webhook(webhook_id)
        return errors.json_response({"signing_secret": {"algorithm": "SHA256",
                                                        "secret": self.hooks.secrets[webhook_id]}})

    def _on_triggers(self, request: Request) -> Response:
        if request.method == "POST":
            return errors.json_response({"trigger": self.hooks.create_trigger(_json_body(request))}, 201)
        rows = [dict(t) for t in sorted(self.hooks.triggers.values(), key=lambda t: t["position"])]
        self.stats.add_returned(len(rows))
        return errors.json_response({"triggers": rows, "next_page": None, "previous_page": None,
                                     "count": len(rows)})

    def _on_trigger(self, request: Request, trigger_id: int) -> Response:
        if request.method == "PUT":
            return errors.json_response({"trigger": self.hooks.update_trigger(trigger_id, _json_body(request))})
        return errors.json_response({"trigger": dict(self.hooks.trigger(trigger_id))})

    def _authorized(self, request: Request) -> str | None:
        """The id of the user whose credential the request carries (the API user's or the person's), else None."""
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            return API_USER_ID if hmac.compare_digest(value.strip(), self.credentials["oauth_token"]) else None
        if scheme.lower() != "basic":
            return None
        try:
            user, _, secret = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        for email, token, user_id in ((self.credentials["email"], self.credentials["token"], API_USER_ID),
                                      (self.credentials["person_email"], self.credentials["person_token"],
                                       self.credentials["person_user_id"])):
            if hmac.compare_digest(user, f"{email}/token") and hmac.compare_digest(secret, token):
                return user_id
        return None

    # ------------------------------------------------------------------ handlers: lists and shows

    def _live_ids(self, plural: str) -> list[int]:
        ids = self._tables[plural].ids()
        deleted = self._deleted.get(plural)
        return [i for i in ids if i not in deleted] if deleted else ids

    def _on_list_organizations(self, request: Request) -> Response:
        return self._list(request, "organizations", self._live_ids("organizations"))

    def _on_list_users(self, request: Request) -> Response:
        return self._list(request, "users", self._tables["users"].ids())

    def _on_list_tickets(self, request: Request) -> Response:
        return self._list(request, "tickets", self._live_ids("tickets"))

    def _on_list_satisfaction_ratings(self, request: Request) -> Response:
        table = self._tables["satisfaction_ratings"]
        ids = table.ids()
        score = request.args.get("score")
        if score:
            wanted = {"received": {"good", "bad"}}.get(score, {score})
            ids = [i for i in ids if table.rows[i]["score"] in wanted]
        return self._list(request, "satisfaction_ratings", ids)

    def _on_organization(self, request: Request, record_id: int) -> Response:
        if request.method == "PUT":
            return self._put_organization(request, record_id)
        return self._show(request, "organizations", "organization", record_id)

    def _on_users_me(self, request: Request) -> Response:
        """``GET /api/v2/users/me``: the user the API credentials act as (`API_USER_ID`, the account's admin),
        the one whose id the ticket trigger's ``{{current_user.id}}`` names for changes through the API; with
        the person's credential, that agent's own row."""
        person = acting_person()
        if person is not None and int(person) in self._tables["users"]:
            row = self._render(request, "users", self._tables["users"].rows[int(person)])
            self.stats.add_returned(1)
            return errors.json_response({"user": row})
        user = {"id": int(API_USER_ID), "url": f"{self._base(request)}/users/{API_USER_ID}.json",
                "name": "Sandbox Admin", "email": self.credentials["email"], "role": "admin", "role_type": None,
                "custom_role_id": None, "verified": True, "active": True, "suspended": False, "shared": False,
                "shared_agent": False, "moderator": True, "restricted_agent": False, "ticket_restriction": None,
                "only_private_comments": False, "organization_id": None, "default_group_id": None,
                "time_zone": "America/New_York", "iana_time_zone": "America/New_York", "locale": "en-US",
                "locale_id": 1, "created_at": "2025-01-06T09:00:00Z", "updated_at": "2026-01-05T09:00:00Z",
                "last_login_at": None, "external_id": None, "tags": [], "user_fields": {}, "phone": None,
                "photo": None, "details": None, "notes": None, "signature": None, "alias": None}
        self.stats.add_returned(1)
        return errors.json_response({"user": user})

    def _on_user(self, request: Request, record_id: int) -> Response:
        return self._show(request, "users", "user", record_id)

    def _on_create_ticket(self, request: Request) -> Response:
        """``POST /api/v2/tickets``: ``{"ticket": {subject, priority, organization_id, requester_id, comment}}``
        makes one ticket (`create_ticket`: status ``new``, the install's trigger fires) and answers 201 with the
        ticket and its audit, as Zendesk does."""
        given = _json_body(request).get("ticket")
        if not isinstance(given, dict):
            raise _BadRequest(errors.invalid_value("ticket: a ticket object is required"))
        priority = given.get("priority") or "normal"
        if priority not in PRIORITIES:
            raise _BadRequest(errors.invalid_value(f"priority: {priority!r} is not low, normal, high or urgent"))
        org = given.get("organization_id")
        if org is not None and (isinstance(org, bool) or not str(org).isdigit()
                                or int(org) not in self._live_ids("organizations")):
            raise _BadRequest(errors.invalid_value(f"organization_id: no organization {org!r}"))
        comment = given.get("comment")
        text = comment.get("body") if isinstance(comment, dict) else given.get("description")
        subject = str(given.get("subject") or text or "")[:150] or "(no subject)"
        requester = given.get("requester_id")
        ticket_id = self.create_ticket(org, requester if str(requester or "").isdigit() else None, subject,
                                       PRIORITIES[priority])
        row = self._tables["tickets"].rows[ticket_id]
        self.stats.add_written(1)
        author = int(API_USER_ID if by_api() else acting_person() or AGENT_USER_ID)
        audit = {"id": ticket_id * 1000 + 1, "ticket_id": ticket_id, "created_at": row["created_at"],
                 "author_id": author, "metadata": {"system": {}, "custom": {}},
                 "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}},
                 "events": [{"id": ticket_id * 1000 + 2, "type": "Create", "field_name": "priority",
                             "value": priority}]}
        return errors.json_response({"ticket": self._render(request, "tickets", row), "audit": audit}, status=201)

    def _on_ticket(self, request: Request, record_id: int) -> Response:
        if request.method == "PUT":
            return self._put_ticket(request, record_id)
        return self._show(request, "tickets", "ticket", record_id)

    def _put_ticket(self, request: Request, record_id: int) -> Response:
        """``PUT /tickets/{id}``: the fields of `TICKET_UPDATABLE` given in ``{"ticket": {...}}`` (others are
        ignored here); the ticket is restamped and the install's trigger fires."""
        changes = _json_body(request).get("ticket")
        if not isinstance(changes, dict):
            return errors.invalid_value("The request must carry a 'ticket' object", 400)
        table = self._tables["tickets"]
        if record_id not in table or record_id in self._deleted["tickets"]:
            return errors.record_not_found()
        row = table.rows[record_id]
        row.update({k: changes[k] for k in TICKET_UPDATABLE if k in changes and k in row})
        self._restamp(table, row, self.now())
        self.stats.add_written(1)
        self._ticket_trigger(row)
        return errors.json_response({"ticket": self._render(request, "tickets", row)})

    def _on_show_many_tickets(self, request: Request) -> Response:
        """``?ids=1,2,3`` (at most 100): the tickets that exist, in id order; unknown or deleted ids are left out."""
        return self._show_many(request, "tickets")

    def _on_show_many_organizations(self, request: Request) -> Response:
        """``?ids=1,2,3`` (at most 100): the organizations that exist, in id order; unknown or deleted ids are
        left out."""
        return self._show_many(request, "organizations")

    def _on_satisfaction_rating(self, request: Request, record_id: int) -> Response:
        """``GET /satisfaction_ratings/{id}``: one rating (Zendesk has no show_many for ratings)."""
        return self._show(request, "satisfaction_ratings", "satisfaction_rating", record_id)

    def _on_show_many_users(self, request: Request) -> Response:
        """``?ids=1,2,3`` (at most 100): the users that exist (suspended ones too), in id order."""
        return self._show_many(request, "users")

    def _show_many(self, request: Request, plural: str) -> Response:
        raw = [part for part in request.args.get("ids", "").split(",") if part.strip()]
        if len(raw) > SHOW_MANY_MAX:
            return errors.too_many_values(SHOW_MANY_MAX)
        table, deleted = self._tables[plural], self._deleted.get(plural, set())
        wanted = {i for i in (_maybe_int(part) for part in raw) if i is not None}
        rows = [self._render(request, plural, table.rows[i]) for i in sorted(wanted)
                if i in table and i not in deleted]
        self.stats.add_returned(len(rows))
        return errors.json_response({plural: rows, "next_page": None, "previous_page": None, "count": len(rows)})

    def _show(self, request: Request, plural: str, singular: str, record_id: int) -> Response:
        table = self._tables[plural]
        if record_id not in table or record_id in self._deleted.get(plural, ()):
            return errors.record_not_found()
        self.stats.add_returned(1)
        return errors.json_response({singular: self._render(request, plural, table.rows[record_id])})

    def _list(self, request: Request, plural: str, ids: list[int]) -> Response:
        table = self._tables[plural]
        args = request.args
        base = f"{self._base(request)}/{plural}.json"
        cursor_keys = ("page[size]", "page[after]", "page[before]")
        if any(k in args for k in cursor_keys):
            size = _int_arg(args.get("page[size]"), LIST_PAGE_MAX, "page[size]", 1, LIST_PAGE_MAX)
            try:
                after = decode_id_cursor(args["page[after]"]) if args.get("page[after]") else None
                before = decode_id_cursor(args["page[before]"]) if args.get("page[before]") else None
            except BadCursor:
                return errors.invalid_pagination("page[after] or page[before] is not a valid cursor")
            page = list_page(ids, size, after=after, before=before)
            rows = [self._render(request, plural, table.rows[i]) for i in page.ids]
            keep = [(k, v) for k, v in args.items(multi=True) if k not in cursor_keys]

            def link(direction: str, cursor: str | None) -> str | None:
                if cursor is None:
                    return None
                return f"{base}?{urlencode([*keep, (f'page[{direction}]', cursor), ('page[size]', size)])}"

            body: dict[str, Any] = {
                plural: rows,
                "meta": {
                    "has_more": page.has_more,
                    "after_cursor": page.after_cursor,
                    "before_cursor": page.before_cursor,
                },
                "links": {
                    "prev": link("before", page.before_cursor),
                    "next": link("after", page.after_cursor),
                },
            }
        else:
            number = _int_arg(args.get("page"), 1, "page", 1, None)
            per_page = _int_arg(args.get("per_page"), LIST_PAGE_MAX, "per_page", 1, LIST_PAGE_MAX)
            chunk = ids[(number - 1) * per_page : number * per_page]
            rows = [self._render(request, plural, table.rows[i]) for i in chunk]

            def offset_link(target: int) -> str:
                return f"{base}?{urlencode({'page': target, 'per_page': per_page})}"

            body = {
                plural: rows,
                "next_page": offset_link(number + 1) if number * per_page < len(ids) else None,
                "previous_page": offset_link(number - 1) if number > 1 else None,
                "count": len(ids),
            }
        self.stats.add_returned(len(rows))
        return errors.json_response(body)

    # ------------------------------------------------------------------ handlers: writes

    def _put_organization(self, request: Request, record_id: int) -> Response:
        body = _json_body(request)
        changes = body.get("organization")
        if not isinstance(changes, dict):
            return errors.invalid_value("The request must carry an 'organization' object", 400)
        table = self._tables["organizations"]
        if record_id not in table or record_id in self._deleted["organizations"]:
            return errors.record_not_found()
        problem = self._update_organization(record_id, changes)
        if problem is not None:
            code = "DuplicateValue" if problem[0] == "name" else "InvalidValue"
            return errors.record_invalid(problem[0], problem[1], code)
        self.stats.add_written(1)
        return errors.json_response({"organization": self._render(request, "organizations", table.rows[record_id])})

    def _on_update_many_organizations(self, request: Request) -> Response:
        body = _json_body(request)
        items = body.get("organizations")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            return errors.invalid_value("The request must carry an 'organizations' array", 400)
        if len(items) > UPDATE_MANY_MAX:
            return errors.too_many_values(UPDATE_MANY_MAX)
        results: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            raw_id = item.get("id")
            record_id = raw_id if isinstance(raw_id, int) else _maybe_int(raw_id)
            if (
                record_id is None
                or record_id not in self._tables["organizations"]
                or record_id in self._deleted["organizations"]
            ):
                results.append(
                    {
                        "index": index,
                        "error": "OrganizationUpdateFailed",
                        "id": raw_id,
                        "details": "Not found",
                    }
                )
                continue
            problem = self._update_organization(record_id, {k: v for k, v in item.items() if k != "id"})
            if problem is not None:
                results.append(
                    {
                        "index": index,
                        "error": "OrganizationUpdateFailed",
                        "id": record_id,
                        "details": problem[1],
                    }
                )
            else:
                results.append({"action": "update", "id": record_id, "status": "Updated", "success": True})
        written = sum(1 for r in results if r.get("success"))
        self.stats.add_written(written)
        seq = next(self._job_counter)
        job_id = "V3-" + hashlib.sha256(f"canary-zendesk-job-{seq}".encode()).hexdigest()[:32]
        finished = self.now()
        self._jobs[job_id] = {
            "id": job_id,
            "total": len(items),
            "progress": len(items),
            "status": "completed",
            "message": f"Completed at {finished.strftime('%Y-%m-%d %H:%M:%S +0000')}",
            "results": results,
        }
        self._job_polls[job_id] = 0
        self._working_polls[job_id] = self._slow_jobs.get(seq, self._job_polls_before_completed)
        queued = {"id": job_id, "url": self._job_url(request, job_id), "total": len(items)}
        queued |= {"progress": None, "status": "queued", "message": None, "results": None}
        return errors.json_response({"job_status": queued})

    def _on_job_status(self, request: Request, job_id: str) -> Response:
        if job_id not in self._jobs:
            return errors.record_not_found()
        return errors.json_response({"job_status": self._poll_job(request, job_id)})

    def _on_show_many_job_statuses(self, request: Request) -> Response:
        """``?ids=a,b`` (at most 100): the statuses of the jobs still known, in the order asked; an unknown id
        is left out. Each job shown counts as one poll of it."""
        raw = list(dict.fromkeys(part.strip() for part in request.args.get("ids", "").split(",") if part.strip()))
        if len(raw) > SHOW_MANY_MAX:
            return errors.too_many_values(SHOW_MANY_MAX)
        shown = [self._poll_job(request, job_id) for job_id in raw if job_id in self._jobs]
        self.stats.add_returned(len(shown))
        return errors.json_response({"job_statuses": shown})

    def _poll_job(self, request: Request, job_id: str) -> dict[str, Any]:
        self._job_polls[job_id] += 1
        body = {"url": self._job_url(request, job_id), **copy.deepcopy(self._jobs[job_id])}
        if self._job_polls[job_id] <= self._working_polls.get(job_id, 0):
            body |= {"status": "working", "progress": 0, "message": None, "results": None}
        return body

    def _update_organization(self, record_id: int, changes: dict[str, Any]) -> tuple[str, str] | None:
        """Apply ``changes`` to one organization; returns ``(field, problem)`` when refused."""
        table = self._tables["organizations"]
        row = table.rows[record_id]
        values = changes.get("organization_fields")
        fields = {f["key"]: f for f in self._tables["organization_fields"].rows.values()}
        if isinstance(values, dict) and self.type_check_fields:
            for key, value in values.items():
                problem = field_problem(fields[key], value) if key in fields else None
                if problem is not None:
                    return "organization_fields", problem
        new_name = changes.get("name")
        if isinstance(new_name, str) and new_name.casefold() != row["name"].casefold():
            if self._org_names.get(new_name.casefold(), set()) - {record_id}:
                return "name", f"Name:  {new_name} has already been taken"
            self._org_names.get(row["name"].casefold(), set()).discard(record_id)
            self._org_names.setdefault(new_name.casefold(), set()).add(record_id)
        before = {key: row.get(key) for key in ("name", "external_id", "tags")}
        before_fields = dict(row["organization_fields"])
        for key in _UPDATABLE_ORG_FIELDS:
            if key in changes:
                row[key] = changes[key]
        if isinstance(values, dict):
            row["organization_fields"].update({k: v for k, v in values.items() if k in fields})
        self._restamp(table, row, self.now())
        for key, event_type in (("name", "name_changed"), ("external_id", "external_id_changed"),
                                ("tags", "tags_changed")):
            if row.get(key) != before[key]:
                self._event(f"organization.{event_type}", "organization", record_id,
                            {"current": row.get(key), "previous": before[key]})
        for key, value in row["organization_fields"].items():
            if value != before_fields.get(key):
                field = fields[key]
                self._event("organization.custom_field_changed", "organization", record_id, {
                    "current": value, "previous": before_fields.get(key),
                    "custom_field": {"id": str(field["id"]), "key": key, "title": field.get("title"),
                                     "field_type": field.get("type")}})
        return None

    def _restamp(self, table: Table, row: dict[str, Any], moment: datetime) -> None:
        row["updated_at"] = iso(moment)
        if "generated_timestamp" in row:
            row["generated_timestamp"] = stamp(moment)
        table.restamp(row["id"], stamp(moment))

    # ------------------------------------------------------------------ handlers: organization fields

    def _on_organization_fields(self, request: Request) -> Response:
        table = self._tables["organization_fields"]
        if request.method == "GET":
            rows = [self._render(request, "organization_fields", table.rows[i]) for i in table.ids()]
            self.stats.add_returned(len(rows))
            return errors.json_response(
                {"organization_fields": rows, "next_page": None, "previous_page": None, "count": len(rows)}
            )
        spec = _json_body(request).get("organization_field")
        if not isinstance(spec, dict):
            return errors.invalid_value("The request must carry an 'organization_field' object", 400)
        key, kind, title = spec.get("key"), spec.get("type"), spec.get("title")
        if not isinstance(key, str) or not key:
            return errors.record_invalid("key", "Key: cannot be blank", "BlankValue")
        if any(f["key"] == key for f in table.rows.values()):
            return errors.record_invalid("key", f"Key: {key} has already been taken", "DuplicateValue")
        if kind not in FIELD_TYPES:
            return errors.record_invalid("type", f"Type: {kind} is not a valid field type", "InvalidValue")
        if not isinstance(title, str) or not title:
            return errors.record_invalid("title", "Title: cannot be blank", "BlankValue")
        row = self._define_field(key, kind, title, spec.get("description") or "")
        if kind == "dropdown" and isinstance(spec.get("custom_field_options"), list):
            row["custom_field_options"] = [dict(o) for o in spec["custom_field_options"] if isinstance(o, dict)]
        self.stats.add_written(1)
        return errors.json_response({"organization_field": self._render(request, "organization_fields", row)}, 201)

    def _define_field(self, key: str, kind: str, title: str, description: str = "") -> dict[str, Any]:
        moment = self.now()
        table = self._tables["organization_fields"]
        row = {
            "id": next(self._field_ids),
            "type": kind,
            "key": key,
            "title": title,
            "description": description,
            "raw_title": title,
            "raw_description": description,
            "position": len(table),
            "active": True,
            "system": False,
            "regexp_for_validation": None,
            "created_at": iso(moment),
            "updated_at": iso(moment),
        }
        table.put(row, stamp(moment))
        for org in self._tables["organizations"].rows.values():
            org["organization_fields"].setdefault(key, None)
        return row

    # ------------------------------------------------------------------ handlers: incremental exports

    def _on_export_tickets_cursor(self, request: Request) -> Response:
        return self._export_cursor(request, "tickets")

    def _on_export_users_cursor(self, request: Request) -> Response:
        return self._export_cursor(request, "users")

    def _on_export_organizations(self, request: Request) -> Response:
        return self._export_by_time(request, "organizations")

    def _on_export_tickets(self, request: Request) -> Response:
        return self._export_by_time(request, "tickets")

    def _on_export_users(self, request: Request) -> Response:
        return self._export_by_time(request, "users")

    def _export_cursor(self, request: Request, plural: str) -> Response:
        args = request.args
        cursor = args.get("cursor")
        has_start = args.get("start_time") is not None
        if (cursor is None) == (not has_start):
            return errors.invalid_value("Provide either start_time or cursor, not both", 400)
        per_page = _int_arg(args.get("per_page"), EXPORT_PAGE_MAX, "per_page", 1, EXPORT_PAGE_MAX)
        newest = int(self.now().timestamp()) - EXPORT_LAG_SECONDS
        try:
            page = export_cursor_page(
                self._export_keys(request, plural),
                newest,
                per_page,
                start_time=self._start_time(args.get("start_time")) if has_start else None,
                cursor=cursor,
            )
        except BadCursor:
            return errors.invalid_value("The cursor is not valid", 400)
        rows = self._rows_at(request, plural, page.keys)
        base = f"{self._base(request)}/incremental/{plural}/cursor.json"
        extra = [("per_page", str(per_page))] if "per_page" in args else []

        def url(value: str | None) -> str | None:
            return None if value is None else f"{base}?{urlencode([('cursor', value), *extra])}"

        self.stats.add_returned(len(rows))
        return errors.json_response(
            {
                plural: rows,
                "after_url": url(page.after_cursor),
                "before_url": url(page.before_cursor),
                "after_cursor": page.after_cursor,
                "before_cursor": page.before_cursor,
                "end_of_stream": page.end_of_stream,
            }
        )

    def _export_by_time(self, request: Request, plural: str) -> Response:
        args = request.args
        if args.get("start_time") is None:
            return errors.invalid_value("start_time is required", 400)
        start_time = self._start_time(args["start_time"])
        per_page = _int_arg(args.get("per_page"), EXPORT_PAGE_MAX, "per_page", 1, EXPORT_PAGE_MAX)
        newest = int(self.now().timestamp()) - EXPORT_LAG_SECONDS
        page = time_export_page(self._export_keys(request, plural), newest, per_page, start_time)
        rows = self._rows_at(request, plural, page.keys)
        query = [("start_time", str(page.end_time))]
        if "per_page" in args:
            query.append(("per_page", str(per_page)))
        self.stats.add_returned(len(rows))
        return errors.json_response(
            {
                plural: rows,
                "count": len(rows),
                "end_of_stream": page.end_of_stream,
                "end_time": page.end_time,
                "next_page": f"{self._base(request)}/incremental/{plural}.json?{urlencode(query)}",
            }
        )

    def _export_keys(self, request: Request, plural: str) -> list[Key]:
        """The export order of a table; deleted tickets left out when ``exclude_deleted=true``."""
        keys = self._tables[plural].keys()
        deleted = self._deleted.get(plural)
        if plural == "tickets" and deleted and request.args.get("exclude_deleted", "").lower() == "true":
            return [k for k in keys if k[1] not in deleted]
        return keys

    def _start_time(self, raw: str | None) -> int:
        value = _int_arg(raw, 0, "start_time", 0, None)
        if value > int(self.now().timestamp()) - EXPORT_LAG_SECONDS:
            raise _BadRequest(errors.invalid_value("Too recent start_time. Use a start_time older than 1 minute"))
        return value

    # ------------------------------------------------------------------ rendering

    def _rows_at(self, request: Request, plural: str, keys: list[Key]) -> list[dict[str, Any]]:
        rows = self._tables[plural].rows
        return [self._render(request, plural, rows[record_id]) for _, record_id in keys]

    def _render(self, request: Request, plural: str, row: dict[str, Any]) -> dict[str, Any]:
        out = {"url": f"{self._base(request)}/{plural}/{row['id']}.json", **row}
        if plural == "satisfaction_ratings" and not self.satisfaction_organization_id:
            out.pop("organization_id", None)
        return out

    def _base(self, request: Request) -> str:
        host = request.host_url.rstrip("/")
        if self.https_links and host.startswith("http://"):
            host = "https://" + host[len("http://") :]
        return f"{host}/api/v2"

    def _job_url(self, request: Request, job_id: str) -> str:
        return f"{self._base(request)}/job_statuses/{quote(job_id)}.json"

    def _table(self, object_type: str) -> Table:
        return self._tables[self._table_name(object_type)]

    def _table_name(self, object_type: str) -> str:
        name = object_type if object_type.endswith("s") else f"{object_type}s"
        if name not in self._tables:
            raise KeyError(f"unknown Zendesk object type {object_type!r}; one of {OBJECT_TYPES}")
        return name


def _stamp_of(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def _maybe_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _int_arg(raw: str | None, default: int, name: str, low: int, high: int | None) -> int:
    if raw is None or raw == "":
        return default
    value = _maybe_int(raw)
    if value is None or value < low or (high is not None and value > high):
        limit = f" and at most {high}" if high is not None else ""
        message = f"{name} must be an integer of at least {low}{limit}"
        if name.startswith("page"):
            raise _BadRequest(errors.invalid_pagination(message))
        raise _BadRequest(errors.invalid_value(message, 400))
    return value


def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.get_data(as_text=True) or "{}")
    except ValueError as exc:
        raise _BadRequest(errors.invalid_value("The request body is not valid JSON", 400)) from exc
    if not isinstance(body, dict):
        raise _BadRequest(errors.invalid_value("The request body must be a JSON object", 400))
    return body
