"""`ZendeskAdapter`: pull organizations, users, tickets and satisfaction; write health to organizations.

Everything goes through zenpy; the two requests zenpy cannot make — a cursor list resumed at a
saved ``page[after]``, and an export page smaller than the default 1,000 after the first (zenpy
drops ``per_page`` next to ``cursor``) — go through zenpy's own session with ``requests``. Reads (pulls and
fetches) ask zenpy for the raw answer (`ZendeskAdapter._raw`: zenpy's endpoint, URL and ``_get``), so records
stay the JSON dicts the mapping reads and no zenpy object is built for them. Each SDK call runs
under `RetryPolicy.run`; see `integrations.zendesk.wire` for how responses are counted,
sorted into errors and sent to this adapter's instance.

Pulls, one request per page, ascending:

* accounts = organizations, time-based export ``/incremental/organizations`` (the only
  export Zendesk has for them). Items at a page's ``end_time`` come again on the next page;
  `TimeCursor` keeps their ids and drops the repeats. The walk follows ``end_of_stream``
  itself, so zenpy's rule of stopping a time-based walk 5 minutes before its wall clock never
  cuts a pull short.
  Deleted organizations stay in this export with ``deleted_at``: each comes as a `Removal`.
  An organization's owner is the agent its owner field names (``owner_field``, by default the lookup
  relationship field ``success_manager``): agents not seen before this run are read with one
  ``GET /users/show_many?ids=`` per 100 (`ZendeskAdapter._learn_owners`). Not the organization's
  ``group_id``: a group is a team of agents, not the one person who owns the customer.
  Canary's own writes come back in this export (it has no filter but ``start_time``); given the sync's
  `OwnWrites` (`expect_own_writes`) they are told on the raw page and cost no owner lookup (`Page.own_writes`).
* contacts = users and tickets: cursor-based exports (``after_cursor`` until
  ``end_of_stream``); staff users (agents, admins) are not contacts and are skipped. Deleted
  tickets stay in the ticket export with status ``deleted`` (zenpy's ``incremental()`` cannot
  ask ``exclude_deleted``, and Canary wants them): each comes as a `Removal`, never as a ticket.
* satisfaction = received ratings (``score=received``), cursor list in id order. A rating
  changed later is not listed again, but its ticket is re-exported with the new score.
  A rating names its ticket, not its organization, and no ticket is read for it: its record carries the
  ticket's id and no account, and the store places it on its ticket's account (`sync.writer.PageWriter`:
  tickets are pulled before ratings, and a ticket stored after its rating — rated in the last minute, not
  exported yet, while its rating is listed — gives the rating its account when it arrives).

Fetch (records named by id, e.g. by a webhook): organizations, users and tickets with one
``GET /{organizations|users|tickets}/show_many?ids=`` per 100 ids; satisfaction ratings with one
``GET /satisfaction_ratings/{id}`` each (there is no show_many for them), their tickets not read, as in the pull.
Mapped and owned as the pull maps them; what Zendesk does not show is removed.
A fetch reads no export, so the last-minute rule below does not delay it.

Exports leave out the last minute of changes: a change younger than that arrives with the
next run (the cursor is a position, so nothing is skipped), and a ``start_time`` younger
than a minute, which Zendesk refuses, counts as "nothing new". A run with nothing new
spends one request per object.

Rate limits. Zendesk counts requests per account per minute (``X-Rate-Limit``,
``X-Rate-Limit-Remaining``, ``ratelimit-reset``), shared by every app of the account. They
feed a `QuotaGuard` that starts afresh with each minute window: once this run has spent
``run_share`` of what was left in the window, or the account has used ``daily_ceiling`` of
the window (the guard's names; here both are per minute), the adapter *pauses* until the
window resets, by raising `RetriableError(retry_after=ratelimit-reset)` so `RetryPolicy` is
the one place that waits. After ``max_quota_pauses`` pauses in one run it stops with
`QuotaExhausted`; the next run resumes from the saved cursors.

Links. Every request goes to this adapter's own base URL (`ZendeskSession`), whatever scheme
and host a ``next_page`` / ``after_url`` / ``links.next`` carries: Zendesk's are ``https://``,
the sandbox's may be either.

Write-back: ``PUT /organizations/update_many`` with at most 100 organizations per request, every
batch submitted first; then the jobs still queued or working are polled together,
``GET /job_statuses/show_many?ids=`` with up to 100 job ids a request, round after round
(``poll_interval`` apart, injectable ``sleep``, at most ``max_polls`` rounds) asking only for the
jobs not finished yet. N records in J = ``ceil(N/100)`` jobs cost J updates plus ``ceil(J/100)``
polls when every job is done at the first round (each later round: one request per 100 jobs still
running), plus one ``GET /organization_fields`` per adapter
when `ensure_fields` has not listed them already: each value is sent in the type of its field
(`integrations.zendesk.fields.typed_value`), and an organization the job reports failed
(Zendesk's type check, a deleted organization) is that organization's failure, with Zendesk's reason.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

import requests
from zenpy import Zenpy
from zenpy.lib.api_objects import Organization, OrganizationField
from zenpy.lib.exception import APIException, ZenpyException

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
    VendorUser,
    distinct_ids,
)
from integrations.errors import CanaryIntegrationError, FatalError, RecordError, RetriableError, VendorRefused
from integrations.http import QuotaExhausted, QuotaGuard, RetryPolicy
from integrations.json_body import response_json
from integrations.zendesk.cursor import AfterCursor, TimeCursor
from integrations.zendesk.fields import FIELD_TYPES, field_options, typed_value, vendor_key
from integrations.zendesk.records import (
    OWNER_FIELD_KEY,
    SYSTEM,
    agent_to_owner,
    is_customer,
    is_deleted,
    organization_to_account,
    owner_field_value,
    rating_to_satisfaction,
    removal,
    stamp_of,
    ticket_to_ticket,
    user_to_contact,
)
from integrations.zendesk.webhooks import SUBSCRIPTIONS, TICKET_BODY
from integrations.zendesk.wire import ZendeskSession, error_text, header_int

log = logging.getLogger("canary.zendesk")
T = TypeVar("T")

UPDATE_MANY_MAX = 100
EXPORT_PAGE_MAX = 1000
LIST_PAGE_MAX = 100
DEFAULT_WINDOW_RESET = 60
JOB_SHOW_MANY_MAX = 100
"""Job statuses one ``GET /job_statuses/show_many?ids=`` reads."""
UNFINISHED = ("queued", "working")
MISSING = "missing"
"""Canary's mark for a job a show_many answer left out (Zendesk keeps job statuses for a day)."""


NO_CONSENT_FIELD = ("Zendesk keeps no e-mail consent on its users (it sends no campaign mail): an unsubscribe is "
                    "not written there")


class ZendeskAdapter(PullState):
    PULL_STATE = ("_session.calls", "_remaining", "_reset_seconds", "_guard", "_window_over", "quota_pauses",
                  "resolve_owners", "_owners", "_fields", "_own_writes")
    """What a pull changes here (`integrations.base.PullState`)."""

    system = SYSTEM
    objects: tuple[ObjectName, ...] = ("accounts", "contacts", "tickets", "satisfaction")

    def __init__(
        self,
        *,
        subdomain: str,
        email: str | None = None,
        token: str | None = None,
        oauth_token: str | None = None,
        url: str | None = None,
        verify: bool | str = True,
        timeout: float = 60.0,
        policy: RetryPolicy | None = None,
        run_share: float = 0.25,
        daily_ceiling: float = 0.80,
        export_page_size: int = EXPORT_PAGE_MAX,
        list_page_size: int = LIST_PAGE_MAX,
        batch_size: int = UPDATE_MANY_MAX,
        poll_interval: float = 1.0,
        max_polls: int = 30,
        max_quota_pauses: int = 3,
        owner_field: str | None = OWNER_FIELD_KEY,
        resolve_owners: bool = True,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``url`` points at another host than ``https://<subdomain>.zendesk.com`` (the sandbox);
        ``verify`` is a CA bundle path for a sandbox served over TLS with a test certificate;
        ``owner_field`` is the organization field naming the owner (None: the help desk names none)."""
        if not subdomain:
            raise ValueError("zendesk: a subdomain is required")
        if not oauth_token and not (email and token):
            raise ValueError("zendesk: give an agent e-mail with an API token, or an OAuth token")
        if not 1 <= batch_size <= UPDATE_MANY_MAX:
            raise ValueError(f"zendesk: batch_size must be 1..{UPDATE_MANY_MAX}")
        if not 1 <= export_page_size <= EXPORT_PAGE_MAX or not 1 <= list_page_size <= LIST_PAGE_MAX:
            raise ValueError(f"zendesk: page sizes are 1..{EXPORT_PAGE_MAX} (exports), 1..{LIST_PAGE_MAX} (lists)")
        self.subdomain = subdomain
        self.policy = policy or RetryPolicy(sleep=sleep)
        self.export_page_size = export_page_size
        self.list_page_size = list_page_size
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.max_polls = max_polls
        self.max_quota_pauses = max_quota_pauses
        self.quota_pauses = 0
        self._sleep = sleep
        self._timeout = timeout
        self._run_share, self._daily_ceiling = run_share, daily_ceiling
        self._guard = self._new_guard()
        self._window_over = False
        self.owner_field = owner_field
        self.resolve_owners = resolve_owners
        self._owners: dict[str, VendorUser] = {}
        """Agents named as owners, read this run, by user id (a run asks for each once)."""
        self._own_writes: OwnWriteCheck | None = None
        """Handed over by the sync for the next pull of organizations (`expect_own_writes`)."""
        self._fields: dict[str, dict[str, Any]] | None = None
        """The account's organization fields by key, once listed (their types shape the values pushed)."""
        self._remaining: int | None = None
        self._reset_seconds = DEFAULT_WINDOW_RESET
        self._session = ZendeskSession(subdomain=subdomain, before_request=self._before_request,
                                       on_response=self._observe, base_url=url)
        self._base = f"{self._session.scheme}://{self._session.netloc}/api/v2"
        self._session.verify = verify
        credentials: dict[str, Any] = {"oauth_token": oauth_token} if oauth_token else {"email": email,
                                                                                       "token": token}
        # No proactive_ratelimit: zenpy would sleep on its own. Its 429 loop never sees a 429 (the
        # session raises first), and the cache is off so every poll really asks.
        self._zenpy = Zenpy(subdomain=subdomain, session=self._session, timeout=timeout, disable_cache=True,
                            **credentials)

    @classmethod
    def from_credentials(cls, credentials: Mapping[str, Any], base_url: str | None = None,
                         **options: Any) -> ZendeskAdapter:
        """For a stored connection: API token or OAuth token; ``base_url`` for another host than Zendesk's."""
        return cls(subdomain=credentials["subdomain"], email=credentials.get("email"),
                   token=credentials.get("token"), oauth_token=credentials.get("oauth_token"),
                   url=base_url, verify=credentials.get("cert_path") or True, **options)

    @classmethod
    def from_sandbox(cls, url: str, credentials: Mapping[str, str], **options: Any) -> ZendeskAdapter:
        """An adapter for the sandbox emulator at ``url`` (``emulator.credentials``: subdomain, email, token)."""
        return cls(subdomain=credentials["subdomain"], email=credentials["email"], token=credentials["token"],
                   url=url, **options)

    # ------------------------------------------------------------------ accounting

    @property
    def calls(self) -> int:
        """HTTP requests sent to Zendesk so far: every page, retry and poll."""
        return self._session.calls

    def quota_left(self) -> int | None:
        """Requests left in the account's current rate-limit minute (``X-Rate-Limit-Remaining``)."""
        return self._remaining

    def _new_guard(self) -> QuotaGuard:
        return QuotaGuard(SYSTEM, run_share=self._run_share, daily_ceiling=self._daily_ceiling)

    def _observe(self, response: requests.Response) -> None:
        if response.status_code == 429:
            self._window_over = True  # the Retry-After wait outlasts this window's counts
        reset = header_int(response, "ratelimit-reset", "rate-limit-reset")
        if reset is not None:
            self._reset_seconds = max(1, reset)
        limit = header_int(response, "X-Rate-Limit", "rate-limit", "ratelimit-limit")
        remaining = header_int(response, "X-Rate-Limit-Remaining", "rate-limit-remaining", "ratelimit-remaining")
        if not limit or remaining is None:
            return
        used = max(0, limit - remaining)
        if self._guard.used is not None and used < self._guard.used:
            self._guard = self._new_guard()  # a new minute window began
        self._guard.observe(used, limit)
        self._remaining = remaining

    def _before_request(self) -> None:
        if self._window_over:
            self._guard, self._window_over = self._new_guard(), False
        try:
            self._guard.check()
        except QuotaExhausted:
            guard = self._guard
            why = (f"{guard.used} of the account's {guard.limit} requests of this minute are used, "
                   f"{guard.spent} of them by this run (its share is {self._run_share:.0%} of what was left, "
                   f"the ceiling {self._daily_ceiling:.0%} of the limit)")
            if self.quota_pauses >= self.max_quota_pauses:
                raise QuotaExhausted(
                    f"zendesk: {why}; paused {self.quota_pauses} times already this run, so stopping to leave "
                    "the account's other apps their rate limit. The next run resumes where this one stopped."
                ) from None
            self.quota_pauses += 1
            self._window_over = True
            raise RetriableError(f"zendesk: {why}; pausing until the next minute window",
                                 retry_after=self._reset_seconds) from None

    # ------------------------------------------------------------------ one SDK call

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one SDK call, pointed at this instance, through the retry policy, with errors sorted."""

        def attempt() -> T:
            try:
                return fn()
            except CanaryIntegrationError:
                raise
            except APIException as exc:
                raise self._refused(what, exc.response) from exc
            except requests.HTTPError as exc:
                raise self._refused(what, exc.response) from exc
            except requests.RequestException as exc:
                raise RetriableError(f"zendesk: {what}: {type(exc).__name__}") from exc
            except ZenpyException as exc:
                raise FatalError(f"zendesk: {what}: {exc}") from exc

        return self.policy.run(attempt, what=f"zendesk {what}")

    def _fetch(self, what: str, fn: Callable[[], object]) -> dict[str, Any]:
        """The JSON body zenpy received for a one-request SDK call (zenpy objects are not needed)."""

        def call() -> dict[str, Any]:
            fn()
            return self._last_json(what)

        return self._call(what, call)

    def _raw(self, what: str, api: Any, endpoint: Callable[..., Any], **params: Any) -> dict[str, Any]:
        """One GET zenpy builds and sends, answered as the JSON body: the URL from zenpy's own ``endpoint``,
        sent by ``api._get(..., raw_response=True)`` (zenpy's ``_call_api``: this session, its auth, zenpy's
        response checks), but no zenpy objects built. A pull reads thousands of records a page and keeps
        dicts: zenpy's model deserialisation (``object_from_json``) cost more than the whole walk."""

        def call() -> dict[str, Any]:
            api._get(api._build_url(endpoint(**params)), raw_response=True)
            return self._last_json(what)

        return self._call(what, call)

    def _get_json(self, what: str, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """A GET zenpy has no call for, through zenpy's session (same counting, auth and errors)."""

        def call() -> dict[str, Any]:
            response = self._session.get(f"{self._base}/{path}", params=params, timeout=self._timeout)
            if response.status_code >= 400:
                raise self._refused(what, response)
            return self._last_json(what)

        return self._call(what, call)

    def _last_json(self, what: str) -> dict[str, Any]:
        response = self._session.last_response
        body = response_json(response) if response is not None else None
        if not isinstance(body, dict):
            raise FatalError(f"zendesk: {what}: the answer is not a JSON object")
        return body

    @staticmethod
    def _refused(what: str, response: requests.Response | None) -> VendorRefused:
        if response is None:
            return VendorRefused(f"zendesk: {what} was refused", status=None)
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text[:500]
        return VendorRefused(f"zendesk: {what} refused ({response.status_code} {error_text(body)})",
                              status=response.status_code, body=body)

    # ------------------------------------------------------------------ connection

    def check_connection(self) -> None:
        """One cheap authenticated request: the organization fields (needed for write-back anyway)."""
        self._call("check connection", lambda: self._zenpy.organization_fields())

    def connected_user(self) -> str | None:
        """The user the API credentials act as: ``GET /api/v2/users/me`` (zenpy ``users.me()``), its ``id``;
        one call. Zendesk names that user as ``{{current_user.id}}`` in the ticket trigger's bodies."""
        me = self._call("read users/me", lambda: self._zenpy.users.me())
        user_id = getattr(me, "id", None)
        return str(user_id) if isinstance(user_id, int) and user_id > 0 else None

    # ------------------------------------------------------------------ webhooks

    def subscribe_webhooks(self, target_base_url: str, app_config: Mapping[str, Any] | None = None) -> Subscribed:
        """Canary's webhooks at this account, found by name or made (``POST /webhooks``; a found one whose
        endpoint, subscriptions or status differ is fixed with ``PATCH``): `EVENTS_WEBHOOK` subscribed to the
        organization and user events, `TICKETS_WEBHOOK` connected to triggers, and the trigger `TRIGGER_TITLE`
        (``POST``/``PUT /triggers``) whose ``notification_webhook`` posts `TICKET_BODY` on every ticket create or
        update. Each webhook's signing secret (``GET /webhooks/{id}/signing_secret``) comes back as
        ``webhook_secret`` and ``ticket_webhook_secret``. Calls: 1 list + 1-2 per webhook + 2 for the trigger."""
        endpoint = f"{target_base_url.rstrip('/')}/webhooks/zendesk/{self.subdomain}"
        found = _rows(self._send("list webhooks", "GET", "webhooks", params={"filter[name_contains]": "Canary"}),
                      "webhooks")
        made = 0
        ids: dict[str, str] = {}
        for name, subscriptions in ((EVENTS_WEBHOOK, list(SUBSCRIPTIONS)), (TICKETS_WEBHOOK, [TICKET_EVENTS])):
            wanted = {"name": name, "status": "active", "endpoint": endpoint, "http_method": "POST",
                      "request_format": "json", "subscriptions": subscriptions}
            mine = next((w for w in found if w.get("name") == name
                         and (TICKET_EVENTS in (w.get("subscriptions") or [])) == (name == TICKETS_WEBHOOK)), None)
            if mine is None:
                created = self._send(f"create webhook {name!r}", "POST", "webhooks", {"webhook": wanted})
                ids[name] = str(_dict(created.get("webhook")).get("id") or "")
                made += 1
            else:
                ids[name] = str(mine["id"])
                if any(mine.get(k) != v for k, v in wanted.items()):
                    self._send(f"update webhook {name!r}", "PATCH", f"webhooks/{ids[name]}", {"webhook": wanted})
                    made += 1
            if not ids[name]:
                raise FatalError(f"zendesk: creating the webhook {name!r} answered no id")
        secrets = {key: str(_dict(self._send(f"read the signing secret of {name!r}", "GET",
                                             f"webhooks/{ids[name]}/signing_secret").get("signing_secret"))
                            .get("secret") or "")
                   for key, name in (("webhook_secret", EVENTS_WEBHOOK), ("ticket_webhook_secret", TICKETS_WEBHOOK))}
        if not all(secrets.values()):
            raise FatalError("zendesk: a webhook's signing secret could not be read")
        trigger = {"title": TRIGGER_TITLE, "active": True, "conditions": TRIGGER_CONDITIONS,
                   "actions": [{"field": "notification_webhook", "value": [ids[TICKETS_WEBHOOK], TICKET_BODY]}]}
        triggers = _rows(self._send("list triggers", "GET", "triggers"), "triggers")
        existing = next((t for t in triggers if t.get("title") == TRIGGER_TITLE), None)
        if existing is None:
            existing = _dict(self._send("create the ticket trigger", "POST", "triggers", {"trigger": trigger})
                             .get("trigger"))
            made += 1
        elif any(existing.get(k) != v for k, v in trigger.items()):
            self._send("update the ticket trigger", "PUT", f"triggers/{existing['id']}", {"trigger": trigger})
            made += 1
        return Subscribed(
            registered=[f"webhook {ids[EVENTS_WEBHOOK]} ({EVENTS_WEBHOOK}: organization and user events)",
                        f"webhook {ids[TICKETS_WEBHOOK]} ({TICKETS_WEBHOOK}: connected to triggers)",
                        f"trigger {existing.get('id')} ({TRIGGER_TITLE}: ticket created or updated)"],
            credentials=secrets, created=made)

    def _send(self, what: str, method: str, path: str, body: Mapping[str, Any] | None = None,
              params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A JSON request zenpy has no call for, through zenpy's session (same counting, auth and errors)."""

        def call() -> dict[str, Any]:
            response = self._session.request(method, f"{self._base}/{path}", json=body, params=params,
                                             timeout=self._timeout)
            if response.status_code >= 400:
                raise self._refused(what, response)
            if not response.content:
                return {}
            answer = response.json()
            if not isinstance(answer, dict):
                raise FatalError(f"zendesk: {what}: the answer is not a JSON object")
            return answer

        return self._call(what, call)

    # ------------------------------------------------------------------ pulls

    def pull(self, object: ObjectName, cursor: str | None) -> Iterator[Page]:
        if object == "accounts":
            return self._pull_organizations(cursor)
        if object == "contacts":
            return self._pull_export("contacts", "users", cursor)
        if object == "tickets":
            return self._pull_export("tickets", "tickets", cursor)
        if object == "satisfaction":
            return self._pull_satisfaction(cursor)
        raise ValueError(f"zendesk has no {object}; it has {', '.join(self.objects)}")

    def fetch(self, object: ObjectName, ids: Sequence[str]) -> Page:
        """The records of ``ids`` now, mapped as `pull` maps them (owners read the same way): organizations,
        users and tickets with one ``show_many?ids=`` per 100 ids; satisfaction ratings one
        ``GET /satisfaction_ratings/{id}`` each (Zendesk has no show_many for them), with their ticket's id and no
        account, as the pull maps them: the store places a rating on its ticket's account, now if the ticket is
        stored, else when it arrives (`sync.writer.PageWriter`). An id Zendesk does not show (deleted, never there,
        not an id) is a `Removal`; a staff user is neither (never a contact)."""
        if object not in self.objects:
            raise ValueError(f"zendesk has no {object}; it has {', '.join(self.objects)}")
        wanted = distinct_ids(ids)
        numeric = [int(i) for i in wanted if i.isdigit()]
        records: list[Record] = []
        removed: list[Removal] = []
        if object == "satisfaction":
            rows = [row for rating_id in numeric if (row := self._show_rating(rating_id)) is not None]
            records = _mapped(rows, rating_to_satisfaction)
        else:
            plural = {"accounts": "organizations", "contacts": "users", "tickets": "tickets"}[object]
            rows = []
            for start in range(0, len(numeric), LIST_PAGE_MAX):
                chunk = numeric[start : start + LIST_PAGE_MAX]
                api = getattr(self._zenpy, plural)
                body = self._raw(f"show {len(chunk)} {plural}", api, api.endpoint, ids=chunk)
                rows.extend(_rows(body, plural))
            if object == "accounts":
                records, removed = _split(rows, self._organization_mapper(rows))
            elif object == "contacts":
                records = _mapped([r for r in rows if is_customer(r)], user_to_contact)
            else:
                records, removed = _split(rows, ticket_to_ticket)
        shown = {str(r.get("id")) for r in rows}
        removed += [Removal(i) for i in wanted if i not in shown]
        return Page(object, records, None, removed)

    def _show_rating(self, rating_id: int) -> dict[str, Any] | None:
        """One satisfaction rating (``GET /satisfaction_ratings/{id}``, which zenpy has no call for); None when
        Zendesk answers 404."""
        try:
            body = self._get_json("show satisfaction rating", f"satisfaction_ratings/{rating_id}.json", {})
        except VendorRefused as exc:
            if exc.status == 404:
                return None
            raise
        rating = body.get("satisfaction_rating")
        return rating if isinstance(rating, dict) else None

    def expect_own_writes(self, own: OwnWriteCheck | None) -> None:
        """The next pull of organizations tells Canary's own writes by ``own`` before any owner lookup
        (`integrations.base.OwnWriteAware`)."""
        self._own_writes = own

    def _pull_organizations(self, cursor: str | None) -> Iterator[Page]:
        own, self._own_writes = self._own_writes, None
        state = TimeCursor.load(cursor)
        while True:
            try:
                body = self._export_organizations(state.start_time)
            except VendorRefused as exc:
                if _too_recent(exc):
                    return  # the export's last minute is not served yet: nothing new
                raise
            rows = _rows(body, "organizations")
            end_time = _int(body.get("end_time"), state.start_time)
            fresh, after = state.take(_stamped(rows), end_time)
            end = bool(body.get("end_of_stream", True)) or not rows
            if not fresh and after == state and not end:
                raise FatalError(
                    f"zendesk: the organization export does not move past {state.start_time}: more organizations "
                    "share that second than one page holds; try a larger export_page_size"
                )
            mine: list[str] = []
            if own is not None:
                fresh, mine = self._not_own(fresh, own)
            records, removed = _split(fresh, self._organization_mapper(fresh))
            if records or removed or mine or after != state:
                yield Page("accounts", records, after.dump(), removed, mine)
            state = after
            if end:
                return

    def _not_own(self, rows: Sequence[dict[str, Any]], own: OwnWriteCheck) -> tuple[list[dict[str, Any]], list[str]]:
        """The organizations that are not only Canary's own write coming back, and the ids of those that are:
        each live one mapped as the export carries it (its owner by user id) and asked of ``own``, so the
        recognised ones cost no owner lookup (`sync.own_writes`)."""
        rest: list[dict[str, Any]] = []
        mine: list[str] = []
        for row in rows:
            if not is_deleted(row):
                try:
                    record = organization_to_account(row, owner_field=self.owner_field)
                except RecordError:
                    record = None
                if record is not None and own.recognised(record):
                    mine.append(record.external_id)
                    continue
            rest.append(row)
        return rest, mine

    def _organization_mapper(self, rows: Sequence[Mapping[str, Any]]) -> Callable[[Mapping[str, Any]], Record]:
        """Maps a page's organizations, their owners read first (`_learn_owners`)."""
        if self.resolve_owners:
            self._learn_owners({ref for ref, _ in (owner_field_value(r, self.owner_field) for r in rows
                                                   if not is_deleted(r)) if ref})
        return partial(organization_to_account, owners=self._owners, owner_field=self.owner_field)

    def _learn_owners(self, user_ids: set[str]) -> None:
        """Agents named by the owner field and not read before this run: ``GET /users/show_many?ids=``, 100
        ids a request, so a page of organizations costs one request more only when it names someone new.
        Suspended agents and users downgraded to end users are read like the others (they own the
        organization still; Canary shows its CSM as gone)."""
        missing = sorted(user_ids - set(self._owners), key=int)
        for start in range(0, len(missing), LIST_PAGE_MAX):
            chunk = [int(i) for i in missing[start : start + LIST_PAGE_MAX]]
            try:
                users = self._zenpy.users
                body = self._raw(f"show {len(chunk)} users", users, users.endpoint, ids=chunk)
            except VendorRefused as exc:
                log.warning("zendesk: cannot read the organizations' owners (%s); keeping their user ids", exc)
                self.resolve_owners = False
                return
            for row in _rows(body, "users"):
                try:
                    owner = agent_to_owner(row)
                except RecordError:
                    continue
                self._owners[owner.external_id] = owner
            for user_id in chunk:
                self._owners.setdefault(str(user_id), VendorUser(str(user_id)))

    def _export_organizations(self, start_time: int) -> dict[str, Any]:
        api = self._zenpy.organizations
        return self._raw("export organizations", api, api.endpoint.incremental, start_time=start_time,
                         per_page=self.export_page_size)

    def _pull_export(self, obj: ObjectName, plural: str, cursor: str | None) -> Iterator[Page]:
        state = AfterCursor.load(cursor)
        while True:
            body = self._export_page(plural, state)
            rows = _rows(body, plural)
            after = AfterCursor(_text(body.get("after_cursor")) or state.after)
            removed: list[Removal] = []
            if plural == "users":
                records = _mapped([r for r in rows if is_customer(r)], user_to_contact)
            else:
                records, removed = _split(rows, ticket_to_ticket)
            if records or removed or after != state:
                yield Page(obj, records, after.dump(), removed)
            moved = after != state
            state = after
            if body.get("end_of_stream", True) or not (rows or moved):
                return

    def _export_page(self, plural: str, state: AfterCursor) -> dict[str, Any]:
        api = self._zenpy.users if plural == "users" else self._zenpy.tickets
        if state.after is None:
            return self._raw(f"export {plural}", api, api.endpoint.incremental.cursor_start, start_time=0,
                             per_page=self.export_page_size)
        if self.export_page_size == EXPORT_PAGE_MAX:
            return self._raw(f"export {plural}", api, api.endpoint.incremental.cursor, cursor=state.after)
        # zenpy drops per_page when given a cursor; Zendesk's own after_url carries it.
        return self._get_json(f"export {plural}", f"incremental/{plural}/cursor.json",
                              {"cursor": state.after, "per_page": self.export_page_size})

    def _pull_satisfaction(self, cursor: str | None) -> Iterator[Page]:
        state = AfterCursor.load(cursor)
        while True:
            if state.after is None:
                api = self._zenpy.satisfaction_ratings
                body = self._raw("list satisfaction ratings", api, api.endpoint, score="received",
                                 cursor_pagination=self.list_page_size)
            else:
                params = {"score": "received", "page[size]": self.list_page_size, "page[after]": state.after}
                body = self._get_json("list satisfaction ratings", "satisfaction_ratings.json", params)
            rows = _rows(body, "satisfaction_ratings")
            meta = _dict(body.get("meta"))
            after = AfterCursor(_text(meta.get("after_cursor")) or state.after)
            records = _mapped(rows, rating_to_satisfaction)
            if records or after != state:
                yield Page("satisfaction", records, after.dump())
            moved = after != state
            state = after
            if not meta.get("has_more") or not moved:
                return

    # ------------------------------------------------------------------ write-back

    def ensure_fields(self, specs: Sequence[FieldSpec]) -> list[str]:
        """Create the missing Canary organization fields; returns the canonical keys created."""
        existing = self._list_fields()
        created: list[str] = []
        for spec in specs:
            key = vendor_key(spec.key)
            if key in existing:
                continue
            kind = FIELD_TYPES.get(spec.kind, "text")
            field = OrganizationField(key=key, type=kind, title=spec.label, description=spec.help)
            try:
                self._create_field(key, field)
            except VendorRefused as exc:
                if exc.status == 422 and "taken" in str(exc):
                    self._fields = None  # created meanwhile by another run, perhaps of another type
                    continue
                raise
            existing[key] = {"key": key, "type": kind}
            created.append(spec.key)
        return created

    def _list_fields(self) -> dict[str, dict[str, Any]]:
        """The account's organization fields by key (one request), remembered for the pushes."""
        listed = self._call("list organization fields",
                            lambda: [f.to_dict() for f in self._zenpy.organization_fields()])
        self._fields = {str(f["key"]): f for f in listed if isinstance(f, dict) and f.get("key")}
        return self._fields

    def write_email_opt_outs(self, addresses: Sequence[str], category: str) -> OptOutResult:
        """Nothing to write, no call: a Zendesk user has no e-mail consent field (Zendesk sends no marketing or
        campaign mail; its notifications follow the account's triggers). Every address is skipped, saying so."""
        return OptOutResult(unsupported=NO_CONSENT_FIELD)

    def push_fields(self, updates: Sequence[FieldUpdate]) -> PushResult:
        """Every ``update_many`` job submitted first, then the unfinished ones polled together (`_finish_jobs`)."""
        result = PushResult()
        calls_before = self.calls
        ready: list[FieldUpdate] = []
        for update in updates:
            if not update.external_id.isdigit():
                result.failed[update.external_id] = f"{update.external_id!r} is not a Zendesk organization id"
            else:
                ready.append(update)
        fields = (self._fields if self._fields is not None else self._list_fields()) if ready else {}
        submitted: list[tuple[list[FieldUpdate], dict[str, Any]]] = []
        for start in range(0, len(ready), self.batch_size):
            batch = ready[start : start + self.batch_size]
            job = self._submit_batch(batch, fields, result)
            if job is not None:
                submitted.append((batch, job))
        finished = self._finish_jobs([job for _, job in submitted])
        for (batch, _), job in zip(submitted, finished, strict=True):
            self._record_job(batch, job, result)
        result.calls = self.calls - calls_before
        return result

    def minimum_push_calls(self, records: int) -> int:
        """The fewest requests for ``records`` organizations: ``ceil(N/batch_size)`` updates plus one show_many
        poll per 100 of those jobs (when each is done at its first poll; a job still running costs re-polls)."""
        jobs = math.ceil(records / self.batch_size)
        return jobs + math.ceil(jobs / JOB_SHOW_MANY_MAX)

    def _submit_batch(self, batch: list[FieldUpdate], fields: Mapping[str, Mapping[str, Any]],
                      result: PushResult) -> dict[str, Any] | None:
        """One ``update_many``: the queued job, or None when Zendesk refused the batch (each record failed)."""
        organizations = [Organization(id=int(u.external_id), organization_fields=_typed(u.values, fields))
                         for u in batch]
        try:
            body = self._fetch(f"update {len(batch)} organizations",
                               lambda: self._zenpy.organizations.update(organizations))
        except VendorRefused as exc:
            for u in batch:
                result.failed[u.external_id] = str(exc)
            return None
        job = _dict(body.get("job_status"))
        if job.get("status") in UNFINISHED and not job.get("id"):
            raise FatalError("zendesk: update_many answered a job status without an id")
        return job

    def _record_job(self, batch: list[FieldUpdate], job: Mapping[str, Any], result: PushResult) -> None:
        """Per-organization outcomes of one finished (or given up) job."""
        status = job.get("status")
        if status != "completed":
            if status in UNFINISHED:
                message = (f"zendesk: update job {job.get('id')} is still {status!r} after {self.max_polls} polls; "
                           "the next push retries")
            elif status == MISSING:
                message = f"zendesk: update job {job.get('id')} was not found when polled; the next push retries"
            else:
                message = f"zendesk: update job {job.get('id')} {status}: {job.get('message') or 'no message'}"
            for u in batch:
                result.failed[u.external_id] = message
            return
        outcomes: dict[str, str | None] = {}
        for item in job.get("results") or []:
            if not isinstance(item, dict):
                continue
            raw_id = item.get("id")
            external_id = str(raw_id) if isinstance(raw_id, int | str) and str(raw_id) else None
            index = item.get("index")
            if external_id is None and isinstance(index, int) and 0 <= index < len(batch):
                external_id = batch[index].external_id
            if external_id is None:
                continue
            ok = item.get("success") is True or (item.get("status") == "Updated" and "error" not in item)
            outcomes[external_id] = None if ok else ": ".join(
                str(p) for p in (item.get("error") or "UpdateFailed", item.get("details")) if p)
        for u in batch:
            if u.external_id not in outcomes:
                result.failed[u.external_id] = f"zendesk: update job {job.get('id')} reported nothing for it"
            elif outcomes[u.external_id] is None:
                result.succeeded.append(u.external_id)
            else:
                result.failed[u.external_id] = f"zendesk: {outcomes[u.external_id]}"

    def _finish_jobs(self, jobs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """The jobs' statuses once finished: rounds of ``GET /job_statuses/show_many?ids=`` (100 ids a request)
        over the jobs still queued or working, ``poll_interval`` apart, at most ``max_polls`` rounds. A job the
        answer leaves out comes back with status ``missing`` and is not asked again."""
        latest = list(jobs)
        for _ in range(self.max_polls):
            pending = [i for i, job in enumerate(latest) if job.get("status") in UNFINISHED]
            if not pending:
                break
            self._sleep(self.poll_interval)
            for start in range(0, len(pending), JOB_SHOW_MANY_MAX):
                chunk = pending[start : start + JOB_SHOW_MANY_MAX]
                ids = [str(latest[i]["id"]) for i in chunk]
                body = self._fetch(f"poll {len(ids)} job statuses", partial(self._zenpy.job_status, ids=ids))
                shown = {str(j.get("id")): j for j in _rows(body, "job_statuses")}
                for i, job_id in zip(chunk, ids, strict=True):
                    latest[i] = shown.get(job_id) or {"id": job_id, "status": MISSING}
        return latest

    def _create_field(self, key: str, field: Any) -> None:
        self._call(f"create organization field {key}", lambda: self._zenpy.organization_fields.create(field))


EVENTS_WEBHOOK = "Canary events"
TICKETS_WEBHOOK = "Canary tickets"
TICKET_EVENTS = "conditional_ticket_events"
TRIGGER_TITLE = "Canary: ticket activity"
TRIGGER_CONDITIONS = {"all": [], "any": [{"field": "update_type", "operator": "is", "value": "Create"},
                                         {"field": "update_type", "operator": "is", "value": "Change"}]}
"""Ticket is created, or ticket is updated."""


def _too_recent(exc: VendorRefused) -> bool:
    return exc.status in (400, 422) and "too recent" in str(exc).lower()


def _rows(body: Mapping[str, Any], plural: str) -> list[dict[str, Any]]:
    rows = body.get(plural)
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def _stamped(rows: list[dict[str, Any]]) -> list[tuple[int, int, dict[str, Any]]]:
    """``(stamp, id, row)`` of each row, skipping rows without a usable id or time."""
    out = []
    for row in rows:
        try:
            out.append((stamp_of(row), int(row["id"]), row))
        except (KeyError, TypeError, ValueError, RecordError) as exc:
            log.warning("zendesk: skipped an organization without a usable id or updated_at: %s", exc)
    return out


def _typed(values: Mapping[str, Any], fields: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Canonical values -> organization_fields, each value in its field's type."""
    out: dict[str, Any] = {}
    for canonical, value in values.items():
        key = vendor_key(canonical)
        field = fields.get(key) or {}
        kind = field.get("type")
        out[key] = typed_value(kind if isinstance(kind, str) else None, value, field_options(field))
    return out


def _split(rows: Sequence[Mapping[str, Any]], mapper: Callable[[Mapping[str, Any]], Record | None]
           ) -> tuple[list[Record], list[Removal]]:
    """Live rows mapped to records; deleted ones (ticket status ``deleted``, ``deleted_at``) as removals."""
    removed: list[Removal] = []
    for row in rows:
        if is_deleted(row):
            try:
                removed.append(removal(row))
            except RecordError as exc:
                log.warning("zendesk: skipped a deleted record: %s", exc)
    return _mapped([r for r in rows if not is_deleted(r)], mapper), removed


def _mapped(rows: Sequence[Mapping[str, Any]], mapper: Callable[[Mapping[str, Any]], Record | None]
            ) -> list[Record]:
    records: list[Record] = []
    for row in rows:
        try:
            record = mapper(row)
        except RecordError as exc:
            log.warning("zendesk: skipped a record: %s", exc)
            continue
        if record is not None:
            records.append(record)
    return records


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
