"""`HubSpotEmulator`: a local HubSpot CRM portal that the real ``hubspot-api-client`` talks to.

Point the SDK at it with the client's ``host`` setting (it is copied onto every API
package's ``Configuration``)::

    emu = HubSpotEmulator()
    emu.seed(world)
    with LoopbackServer(emu.wsgi_app) as server:
        client = HubSpot(access_token=emu.access_token, host=server.url)
        client.crm.companies.basic_api.get_page(limit=100)

What it serves (one method per route, ``_on_<endpoint>``): CRM v3 objects (companies,
contacts, deals, tickets, tasks) list/get/create/update/archive, search with the 10,000-result
cap and a per-second limit, batch read/update/create (at most 100 inputs), v4 associations
(list, batch read, default create; company parent/child types 13/14), properties and property
groups, communication preferences v3 (`sandbox.hubspot.consent`: definitions, unsubscribe, status), and
the owners (``/crm/v3/owners``: the world's team, the CSM who left archived). Every
call is counted (route pattern, not URL), checked for ``Authorization: Bearer``, then against the
daily allocation and the rolling 10-second limit (search has its own
per-second limit and, like HubSpot, carries only the daily headers). Limits:
``requests_per_10s`` (rolling window, default 100 like the recorded
``X-HubSpot-RateLimit-Max``), ``daily_api_limit`` (default 250,000),
``search_requests_per_second`` (default 5).

Batch semantics chosen from the vendor's docs and recorded traffic:
batch read answers 207 with an ``OBJECT_NOT_FOUND`` error listing missing ids; batch update
validates every input first and fails the *whole* batch with a 400 ``VALIDATION_ERROR``
("Property values were not valid: …") on any bad property or value, while unknown ids give
a 207 with the others applied; duplicate ids are a 400.

Archived (deleted) records leave lists and search, answer 404 on GET and are listed with
``archived=true``; `archive` deletes in-process. ``POST /crm/v3/objects/{type}/merge``
(``primaryObjectId``, ``objectIdToMerge``; `merge` in-process) archives the merged record, which
then resolves to the primary on GET, and lists it in the primary's ``hs_merged_object_ids``.

``search_lag_seconds`` (default 5, HubSpot's "a few seconds"; 0: search sees every write at once):
a write becomes visible to ``/search`` only that many seconds (of the emulator ``clock``) after it
was made, until then search sees the record as it was before (or not at all), and records indexed
within the last lag come back out of ``hs_lastmodifieddate`` order, as HubSpot's eventually
consistent index does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sandbox.core import CallStats, Emulator
from sandbox.hubspot import render
from sandbox.hubspot.consent import Preferences, default_definitions
from sandbox.hubspot.developer import AppWebhooks
from sandbox.hubspot.errors import AUTH_MESSAGE, HubSpotError, correlation_id, not_found, validation_error
from sandbox.hubspot.limits import DailyAllowance, RollingLimit
from sandbox.hubspot.schema import KIND_BY_TYPE_ID, SINGULAR
from sandbox.hubspot.seed import seed_world
from sandbox.hubspot.store import HubSpotRecord, HubSpotStore, iso_ms, object_label
from sandbox.webhooks import Webhooks, acting_person, as_api, as_person, by_api
from sandbox.world import World

if TYPE_CHECKING:
    pass

_log = logging.getLogger(__name__)

DEFAULT_TOKEN = "sandbox-hubspot-private-app-token"  # noqa: S105 - a fixed sandbox credential
PERSON_TOKEN = "sandbox-hubspot-person-private-app-token"  # noqa: S105 - a fixed sandbox credential
"""A second private app's access token: a person's own scripts, another integration than Canary's app."""
PERSON_APP_ID = 2_345_678
DEVELOPER_API_KEY = "sandbox-hubspot-developer-api-key"
"""The developer account's API key (``?hapikey=``) for the app's webhook settings and subscriptions."""
DEVELOPER_PREFIX = "/webhooks/v3/"
ASSOCIATION_BATCH_MAX_INPUTS = 1000
LIST_MAX_LIMIT = 100
ASSOCIATION_PAGE_MAX = 500
OWNERS_MAX_LIMIT = 500
WEBHOOK_OBJECTS = {"companies": ("company", "0-2"), "contacts": ("contact", "0-1"), "deals": ("deal", "0-3"),
                   "tickets": ("ticket", "0-5"), "tasks": ("", "0-27")}
"""Object type -> (legacy subscription noun, or "" for ``object.*`` events; objectTypeId)."""

_OBJ = "/crm/v3/objects/<object_type>"
_PROP = "/crm/v3/properties/<object_type>"
# (rule, endpoint, method): the rule is also the pattern counted in stats.
_ROUTES: tuple[tuple[str, str, str], ...] = (
    (_OBJ, "list_objects", "GET"),
    (_OBJ, "create_object", "POST"),
    (f"{_OBJ}/<record_id>", "get_object", "GET"),
    (f"{_OBJ}/<record_id>", "update_object", "PATCH"),
    (f"{_OBJ}/<record_id>", "archive_object", "DELETE"),
    (f"{_OBJ}/search", "search_objects", "POST"),
    (f"{_OBJ}/batch/read", "batch_read", "POST"),
    (f"{_OBJ}/batch/update", "batch_update", "POST"),
    (f"{_OBJ}/batch/create", "batch_create", "POST"),
    (f"{_OBJ}/merge", "merge_objects", "POST"),
    ("/crm/v4/objects/<from_type>/<from_id>/associations/<to_type>", "list_associations", "GET"),
    (
        "/crm/v4/objects/<from_type>/<from_id>/associations/default/<to_type>/<to_id>",
        "associate_default",
        "PUT",
    ),
    ("/crm/v4/associations/<from_type>/<to_type>/batch/read", "batch_read_associations", "POST"),
    (_PROP, "list_properties", "GET"),
    (_PROP, "create_property", "POST"),
    (f"{_PROP}/<name>", "get_property", "GET"),
    (f"{_PROP}/<name>", "update_property", "PATCH"),
    (f"{_PROP}/groups", "list_groups", "GET"),
    (f"{_PROP}/groups", "create_group", "POST"),
    (f"{_PROP}/groups/<name>", "get_group", "GET"),
    ("/crm/v3/owners", "list_owners", "GET"),
    ("/crm/v3/owners/", "list_owners", "GET"),  # the SDK's path: HubSpot answers both
    ("/crm/v3/owners/<owner_id>", "get_owner", "GET"),
    ("/communication-preferences/v3/definitions", "list_subscription_definitions", "GET"),
    ("/communication-preferences/v3/unsubscribe", "unsubscribe_email", "POST"),
    ("/communication-preferences/v3/status/email/<email>", "email_status", "GET"),
)


@dataclass
class _Admission:
    """What the limits said about one admitted request (the answer's rate headers)."""

    is_search: bool
    remaining: int = 0
    secondly_remaining: int = 0


class HubSpotEmulator(Emulator):
    """One emulated HubSpot portal: a real store behind HubSpot's CRM API shapes."""

    name = "hubspot"

    def __init__(
        self,
        *,
        stats: CallStats | None = None,
        clock: Callable[[], datetime] | None = None,
        access_token: str = DEFAULT_TOKEN,
        portal_id: int = 24_681_357,
        requests_per_10s: int = 100,
        daily_api_limit: int = 250_000,
        search_requests_per_second: int = 5,
        monotonic: Callable[[], float] = time.monotonic,
        search_lag_seconds: float = 5.0,
        webhook_url: str | None = None,
        webhook_options: Mapping[str, Any] | None = None,
        app_id: int = 1_234_567,
        client_secret: str = "hubspot-sandbox-client-secret",  # noqa: S107 - public sandbox credential
        person_access_token: str = PERSON_TOKEN,
        person_app_id: int = PERSON_APP_ID,
        developer_api_key: str = DEVELOPER_API_KEY,
    ) -> None:
        super().__init__(stats, clock)
        self.developer_api_key = developer_api_key
        self.app = AppWebhooks(app_id, self.clock)
        """Canary's app's webhook settings and subscriptions: which events are sent, and where."""
        self.person_access_token = person_access_token
        self.person_app_id = person_app_id
        self.app_id = app_id
        self.client_secret = client_secret
        self._event_ids = itertools.count(100_000_001)
        self.access_token = access_token
        self.portal_id = portal_id
        self.requests_per_10s = requests_per_10s
        self.daily_api_limit = daily_api_limit
        self.search_requests_per_second = search_requests_per_second
        self.monotonic = monotonic
        self.search_lag_seconds = search_lag_seconds
        self.store = HubSpotStore(self.clock, search_lag_seconds)
        self.preferences = Preferences(default_definitions(iso_ms(self.clock())))
        """Communication preferences v3: subscription types and who opted out of which (`sandbox.hubspot.consent`)."""
        self._ten_second = RollingLimit(requests_per_10s, 10.0, monotonic)
        self._per_second = RollingLimit(max(1, requests_per_10s // 10), 1.0, monotonic)
        self._search_limit = RollingLimit(search_requests_per_second, 1.0, monotonic)
        self._daily = DailyAllowance(daily_api_limit, self.clock)
        self._map = Map([Rule(rule, endpoint=endpoint, methods=[method]) for rule, endpoint, method in _ROUTES])
        self.webhooks = Webhooks()
        self.webhooks.start(None, self._render_webhook, webhook_options, batch_size=100,
                            no_retry=(400, 401, 403, 404, 405))
        self.store.listener = self._on_store_change
        if webhook_url:
            self.admin_subscribe(webhook_url)

    def admin_subscribe(self, target_url: str) -> None:
        """The app's ``webhooks.json`` set by hand: ``target_url``, every event of every object."""
        with self.store.lock:
            self.app.put_settings({"targetUrl": target_url})
            self.app.every_event = True
            self.webhooks.point(target_url)

    # --- in-process helpers for tests and the sync suite -------------------------------------

    @property
    def credentials(self) -> dict[str, str]:
        return {"access_token": self.access_token, "portal_id": str(self.portal_id),
                "client_secret": self.client_secret, "app_id": str(self.app_id),
                "person_access_token": self.person_access_token, "person_app_id": str(self.person_app_id),
                "developer_api_key": self.developer_api_key}

    def seed(self, world: World) -> None:
        with self.webhooks.silenced():
            seed_world(self.store, world)

    # --- webhooks: HubSpot's batched events, v3-signed ------------------------------------------

    def _on_store_change(self, action: str, object_type: str, record_id: str, details: dict[str, Any]) -> None:
        if not self.webhooks.on or object_type not in WEBHOOK_OBJECTS:
            return
        noun, type_id = WEBHOOK_OBJECTS[object_type]
        subscription = self.app.match(noun, type_id, action, details.get("propertyName"))
        if subscription is None:  # no active subscription lets this event out
            return
        # HubSpot names the integration whose token made a change (changeSource INTEGRATION, sourceId its app
        # id): Canary's app, or the person's private app; a change in HubSpot's own UI is CRM_UI.
        source = str(self.app_id) if by_api() else acting_person()
        event: dict[str, Any] = {
            "eventId": next(self._event_ids), "subscriptionId": subscription, "portalId": self.portal_id,
            "appId": self.app_id,
            "occurredAt": int(self.clock().timestamp() * 1000),
            "subscriptionType": f"{noun}.{action}" if noun else f"object.{action}",
            "attemptNumber": 0, "objectId": int(record_id),
            "changeSource": "INTEGRATION" if source else "CRM_UI",
            "sourceId": source or "userId:1",
        }
        if not noun:
            event["objectTypeId"] = type_id
        if action == "propertyChange":
            event.update(details)
        elif action == "merge":
            event.update({"primaryObjectId": int(record_id),
                          "mergedObjectIds": [int(i) for i in details["mergedObjectIds"]]})
        elif action in ("creation", "deletion"):
            event["changeFlag"] = "CREATED" if action == "creation" else "DELETED"
        self.webhooks.emit(event)

    def _render_webhook(self, batch: list[dict[str, Any]]) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(batch).encode()
        assert self.webhooks.sender is not None
        stamp = str(int(self.clock().timestamp() * 1000))  # a string of milliseconds, as HubSpot sends it
        signed = b"POST" + self.webhooks.sender.url.encode() + body + stamp.encode()
        signature = base64.b64encode(hmac.new(self.client_secret.encode(), signed, hashlib.sha256).digest()).decode()
        return body, {"Content-Type": "application/json", "X-HubSpot-Request-Timestamp": stamp,
                      "X-HubSpot-Signature-v3": signature, "X-HubSpot-Signature-Version": "v3",
                      "User-Agent": "HubSpot Connect 2.0 (sandbox)"}

    def touch(self, object_type: str, ids: Iterable[str]) -> int:
        """Mark records modified "now" (by ``clock``); returns how many existed."""
        return self.store.touch(object_type, [str(i) for i in ids])

    def records(self, object_type: str) -> list[dict[str, Any]]:
        """The native store of one object type, in id order, as the API would show every property."""
        table = self.store.table(object_type)
        with self.store.lock:
            out = []
            for rid in table.sorted_ids:
                r = table.records[str(rid)]
                out.append(
                    {
                        "id": r.id,
                        "properties": dict(r.properties),
                        "createdAt": iso_ms(r.created_at),
                        "updatedAt": iso_ms(r.updated_at),
                        "archived": r.archived,
                    }
                )
            return out

    def create(self, object_type: str, properties: dict[str, str | None], record_id: str | None = None) -> str:
        """Add one record directly (values validated like the API's); returns its id."""
        values = self.store.validate(object_type, properties)
        return self.store.insert(object_type, values, record_id=record_id).id

    def update(self, object_type: str, record_id: str, properties: dict[str, str | None]) -> None:
        """Change a record in-process, validated like an API update (raises `HubSpotError`)."""
        table = self.store.table(object_type)
        with self.store.lock:
            record = self.store.get(table.object_type, str(record_id))
            if record is None:
                raise not_found(f"no {object_type} {record_id}")
            self.store.apply(record, table.object_type, self.store.validate(table.object_type, properties))

    def deleted_ids(self, object_type: str) -> list[str]:
        """Records archived by a delete (not by a merge), in id order."""
        table = self.store.table(object_type)
        with self.store.lock:
            merged = {mid for (t, mid) in self.store.merged_into if t == table.object_type}
            return [str(i) for i in table.sorted_ids if table.records[str(i)].archived and str(i) not in merged]

    def delete(self, object_type: str, ids: Iterable[str]) -> list[str]:
        """Delete (archive) records as a user would; returns the ids archived."""
        table = self.store.table(object_type)
        return [str(i) for i in ids if self.store.archive(table.object_type, str(i))]

    def merge(self, object_type: str, primary_id: str, merged_id: str) -> str:
        """Merge one record into another as the API does; returns the primary's id."""
        return self.store.merge(object_type, str(primary_id), str(merged_id)).id

    def merged_ids(self, object_type: str) -> dict[str, str]:
        """Each merged id of one type and the primary it resolves to."""
        table = self.store.table(object_type)
        with self.store.lock:
            merged = [mid for (t, mid) in self.store.merged_into if t == table.object_type]
            return {mid: self._resolve(table.object_type, mid) for mid in merged}

    def _resolve(self, object_type: str, record_id: str) -> str:
        while (object_type, record_id) in self.store.merged_into:
            record_id = self.store.merged_into[(object_type, record_id)]
        return record_id

    def associations(self, from_type: str, from_id: str, to_type: str) -> list[str]:
        return [tid for tid, _ in self.store.associations_of(from_type, str(from_id), to_type)]

    def fault_response(self, kind: str, retry_after: int) -> Response:
        """HubSpot's own answer for an injected 429/500/503."""
        if kind == "429":
            err = HubSpotError(
                429,
                "RATE_LIMITS",
                "You have reached your ten_secondly_rolling limit.",
                errorType="RATE_LIMIT",
                policyName="TEN_SECONDLY_ROLLING",
                groupName=f"api-calls:{self.portal_id}",
            )
            return render.error_response(err, {"Retry-After": str(retry_after)})
        if kind == "500":
            return render.error_response(HubSpotError(500, "INTERNAL_ERROR", "internal error"))
        if kind == "503":
            err = HubSpotError(503, "SERVICE_UNAVAILABLE", "Service Unavailable: please try again later.")
            return render.error_response(err, {"Retry-After": str(retry_after)})
        raise ValueError(f"unknown fault kind {kind!r}; expected '429', '500' or '503'")

    # --- WSGI ---------------------------------------------------------------------------------

    def _respond(self, request: Request) -> Response:
        # what the API does is the doing of the app whose token authenticated: Canary's, or the person's
        if request.path.startswith(DEVELOPER_PREFIX):
            return self._developer_api(request)
        person = request.headers.get("Authorization", "") == f"Bearer {self.person_access_token}"
        with as_person(str(self.person_app_id)) if person else as_api():
            return self._respond_as_api(request)

    def _developer_api(self, request: Request) -> Response:
        """``/webhooks/v3/{appId}/settings`` and ``/subscriptions[/{id}]`` with the developer API key."""
        parts = request.path[len(DEVELOPER_PREFIX):].strip("/").split("/")
        pattern = DEVELOPER_PREFIX + "{appId}/" + "/".join(p if not p.isdigit() else "{id}" for p in parts[1:])
        self.stats.record_call(request.method, pattern)
        try:
            if request.args.get("hapikey") != self.developer_api_key:
                raise HubSpotError(401, "INVALID_AUTHENTICATION",
                                   "The API key provided is invalid. View or manage your API key here: "
                                   "https://app.hubspot.com/l/api-key/")
            if not parts[0].isdigit() or int(parts[0]) != self.app_id or len(parts) < 2:
                raise not_found("no such app")
            body = render.json_body(request) if request.method in ("PUT", "POST", "PATCH") else {}
            with self.store.lock:
                return self._developer_call(request.method, parts[1:], body)
        except HubSpotError as err:
            return render.error_response(err)

    def _developer_call(self, method: str, path: list[str], body: Any) -> Response:
        app = self.app
        if path == ["settings"]:
            if method == "PUT":
                settings = app.put_settings(body)
                self.webhooks.point(settings["targetUrl"])
                return render.json_response(settings, 200)
            if method == "DELETE":
                app.settings = None
                return Response(status=204)
            if method == "GET":
                return render.json_response(app.get_settings(), 200)
        if path == ["subscriptions"]:
            if method == "POST":
                return render.json_response(app.add(body), 201)
            if method == "GET":
                return render.json_response({"results": [dict(r) for r in app.subscriptions.values()]}, 200)
        if len(path) == 2 and path[0] == "subscriptions" and path[1].isdigit():
            if method == "PATCH":
                return render.json_response(app.patch(int(path[1]), body), 200)
            if method == "DELETE":
                app.subscription(int(path[1]))
                del app.subscriptions[int(path[1])]
                return Response(status=204)
            if method == "GET":
                return render.json_response(dict(app.subscription(int(path[1]))), 200)
        raise HubSpotError(405 if path and path[0] in ("settings", "subscriptions") else 404,
                           "VALIDATION_ERROR", f"{method} is not supported here")

    def _respond_as_api(self, request: Request) -> Response:
        adapter = self._map.bind_to_environ(request.environ)
        routing_error: HTTPException | None = None
        try:
            rule, args = adapter.match(return_rule=True)
            pattern, endpoint = rule.rule, str(rule.endpoint)
        except HTTPException as exc:
            pattern, endpoint, args, routing_error = "<unknown>", "", {}, exc
        self.stats.record_call(request.method, pattern)
        admission = self._admit(request, pattern)
        if isinstance(admission, Response):
            return admission
        try:
            if routing_error is not None:
                raise routing_error
            handler: Callable[..., Response] = getattr(self, f"_on_{endpoint}")
            response = handler(request, **args)
        except HubSpotError as err:
            response = render.error_response(err)
        except HTTPException as err:
            status = err.code or 500
            category = {404: "OBJECT_NOT_FOUND", 405: "VALIDATION_ERROR"}.get(status, "VALIDATION_ERROR")
            response = render.error_response(HubSpotError(status, category, err.description or err.name))
        except Exception:
            _log.exception("HubSpot emulator failed on %s %s", request.method, request.path)
            response = render.error_response(HubSpotError(500, "INTERNAL_ERROR", "internal error"))
        return self._with_rate_headers(response, admission)

    def _admit(self, request: Request, pattern: str) -> _Admission | Response:
        """Authentication, then the search, rolling and daily limits; a refusal is the answer."""
        if request.headers.get("Authorization", "") not in (f"Bearer {self.access_token}",
                                                            f"Bearer {self.person_access_token}"):
            return render.error_response(HubSpotError(401, "INVALID_AUTHENTICATION", AUTH_MESSAGE))
        admission = _Admission(is_search=pattern.endswith("/search"))
        daily_headers = self._daily_headers()
        if admission.is_search:
            if not self._search_limit.admit()[0]:
                return self._rate_limited("You have reached your secondly limit.", None, daily_headers)
        else:
            ok, admission.remaining = self._ten_second.admit()
            if not ok:
                return self._rate_limited(
                    "You have reached your ten_secondly_rolling limit.",
                    "TEN_SECONDLY_ROLLING",
                    {**daily_headers, **self._interval_headers(0, 0)},
                )
            _, admission.secondly_remaining = self._per_second.admit()
        if not self._daily.admit()[0]:
            return self._rate_limited("You have reached your daily limit.", "DAILY", daily_headers)
        return admission

    def _daily_headers(self) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Daily": str(self.daily_api_limit),
            "X-HubSpot-RateLimit-Daily-Remaining": str(self._daily.remaining()),
        }

    def _interval_headers(self, remaining: int, secondly_remaining: int) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            "X-HubSpot-RateLimit-Max": str(self.requests_per_10s),
            "X-HubSpot-RateLimit-Remaining": str(remaining),
            "X-HubSpot-RateLimit-Secondly": str(max(1, self.requests_per_10s // 10)),
            "X-HubSpot-RateLimit-Secondly-Remaining": str(secondly_remaining),
        }

    def _rate_limited(self, message: str, policy: str | None, headers: dict[str, str]) -> Response:
        # No Retry-After: HubSpot's recorded 429s carry none (and urllib3, under the SDK, would sleep on it).
        extra: dict[str, Any] = {}
        if policy is not None:
            extra = {"errorType": "RATE_LIMIT", "policyName": policy, "groupName": f"api-calls:{self.portal_id}"}
        return render.error_response(HubSpotError(429, "RATE_LIMITS", message, **extra), headers)

    def _with_rate_headers(self, response: Response, admission: _Admission) -> Response:
        if "X-HubSpot-RateLimit-Daily" in response.headers:
            return response
        response.headers.update(self._daily_headers())
        if not admission.is_search:
            response.headers.update(self._interval_headers(admission.remaining, admission.secondly_remaining))
        response.headers.setdefault("X-HubSpot-Correlation-Id", correlation_id())
        return response

    # --- objects ------------------------------------------------------------------------------

    def _record_json(
        self, object_type: str, record: HubSpotRecord, names: list[str], associations: list[str] | None = None
    ) -> dict[str, Any]:
        out = record.as_json(names, self.store.tables[object_type].properties)
        found: dict[str, Any] = {}
        for to in associations or []:
            to_type = self.store.table(to).object_type
            rows = [
                {"id": tid, "type": kind.v3_name}
                for tid, kinds in self.store.associations_of(object_type, record.id, to_type)
                for kind in kinds
            ]
            if rows:
                found[to_type] = {"results": rows}
        if found:
            out["associations"] = found
        return out

    def _read_shape(self, request: Request, object_type: str) -> tuple[list[str], list[str] | None]:
        """The ``properties`` and ``associations`` asked for in the query string."""
        names = render.names(request.args.getlist("properties") or None, object_type)
        if not request.args.get("associations"):
            return names, None
        return names, render.names(request.args.getlist("associations"), object_type)

    def _on_list_objects(self, request: Request, object_type: str) -> Response:
        table = self.store.table(object_type)
        limit = render.limit(request.args.get("limit"), 10, LIST_MAX_LIMIT)
        names, assoc = self._read_shape(request, table.object_type)
        archived = render.flag(request, "archived")
        records, after = self.store.page(table.object_type, request.args.get("after"), limit, archived=archived)
        body: dict[str, Any] = {"results": [self._record_json(table.object_type, r, names, assoc) for r in records]}
        if after is not None:
            query = {k: v for k, v in request.args.items(multi=True) if k != "after"}
            query_items = [*query.items(), ("after", after)]
            link = f"{request.host_url}crm/v3/objects/{object_type}?{urlencode(query_items)}"
            body["paging"] = {"next": {"after": after, "link": link}}
        self.stats.add_returned(len(records))
        return render.json_response(body)

    # --- owners -------------------------------------------------------------------------------

    def _on_list_owners(self, request: Request) -> Response:
        """``GET /crm/v3/owners``: ``limit`` (default 100, at most 500), ``after``, ``email``; ``archived=true``
        lists only the archived owners, as HubSpot does (the default lists only the others)."""
        limit = render.limit(request.args.get("limit"), 100, OWNERS_MAX_LIMIT)
        archived = render.flag(request, "archived")
        email = (request.args.get("email") or "").strip().lower()
        rows = [o for o in self.store.owners.values()
                if o["archived"] == archived and (not email or o["email"] == email)]
        start = 0
        if request.args.get("after"):
            try:
                start = int(request.args["after"])
            except ValueError:
                raise validation_error(f"after must be a paging cursor, got {request.args['after']!r}") from None
        page = rows[start : start + limit]
        body: dict[str, Any] = {"results": [dict(o, teams=[dict(t) for t in o["teams"]]) for o in page]}
        if start + limit < len(rows):
            after = str(start + limit)
            query = [*((k, v) for k, v in request.args.items(multi=True) if k != "after"), ("after", after)]
            body["paging"] = {"next": {"after": after, "link": f"{request.host_url}crm/v3/owners?{urlencode(query)}"}}
        self.stats.add_returned(len(page))
        return render.json_response(body)

    def _on_get_owner(self, request: Request, owner_id: str) -> Response:
        """``GET /crm/v3/owners/{ownerId}`` (``idProperty=id|userId``, ``archived``): 404 when not found."""
        id_property = request.args.get("idProperty") or "id"
        if id_property not in ("id", "userId"):
            raise validation_error(f"idProperty must be one of id, userId, got {id_property!r}")
        archived = render.flag(request, "archived")
        for owner in self.store.owners.values():
            key = str(owner["id"] if id_property == "id" else owner["userIdIncludingInactive"])
            if key == owner_id and owner["archived"] == archived:
                self.stats.add_returned(1)
                return render.json_response(dict(owner, teams=[dict(t) for t in owner["teams"]]))
        raise not_found(f"No owner found with {id_property} {owner_id}")

    def _on_list_subscription_definitions(self, request: Request) -> Response:
        with self.store.lock:
            return render.json_response({"subscriptionDefinitions": [dict(d) for d in self.preferences.definitions]})

    def _on_unsubscribe_email(self, request: Request) -> Response:
        body = render.json_body(request)
        with self.store.lock:
            return render.json_response(self.preferences.unsubscribe(body))

    def _on_email_status(self, request: Request, email: str) -> Response:
        with self.store.lock:
            return render.json_response(self.preferences.statuses(email))

    def _on_get_object(self, request: Request, object_type: str, record_id: str) -> Response:
        table = self.store.table(object_type)
        names, assoc = self._read_shape(request, table.object_type)
        record = self.store.get(
            table.object_type,
            record_id,
            id_property=request.args.get("idProperty"),
            archived=render.flag(request, "archived"),
        )
        if record is None:
            raise not_found("Object not found.  objectId are usually numeric.", context={"id": [record_id]})
        self.stats.add_returned(1)
        return render.json_response(self._record_json(table.object_type, record, names, assoc))

    def _on_create_object(self, request: Request, object_type: str) -> Response:
        table = self.store.table(object_type)
        record = self._create_one(table.object_type, render.json_body(request))
        self.stats.add_written(1)
        return render.json_response(self._record_json(table.object_type, record, list(record.properties)), 201)

    def _create_one(self, object_type: str, body: dict[str, Any]) -> HubSpotRecord:
        values = self._creatable(object_type, body.get("properties") or {})
        links = body.get("associations") or []
        for link in links:
            self._check_link(object_type, link)
        record = self.store.insert(object_type, values)
        for link in links:
            self._apply_link(object_type, record.id, link)
        return record

    def _creatable(self, object_type: str, properties: Any) -> dict[str, str | None]:
        """A create's values, validated; a task needs ``hs_timestamp`` (its due date), as HubSpot requires."""
        values = self.store.validate(object_type, properties)
        if self.store.table(object_type).object_type == "tasks" and not values.get("hs_timestamp"):
            raise validation_error("Property values were not valid: "
                                   '[{"isValid":false,"message":"hs_timestamp is required","error":"REQUIRED_FIELD",'
                                   '"name":"hs_timestamp"}]',
                                   errors=[{"message": "hs_timestamp is required", "code": "REQUIRED_FIELD",
                                            "context": {"propertyName": ["hs_timestamp"]}}])
        return values

    def _check_link(self, object_type: str, link: Any) -> None:
        try:
            to_id = str(link["to"]["id"])
            ids = [int(t["associationTypeId"]) for t in link["types"]]
        except (KeyError, TypeError, ValueError):
            raise validation_error("Each association needs `to.id` and `types[].associationTypeId`.") from None
        for type_id in ids:
            kind = KIND_BY_TYPE_ID.get(type_id)
            if kind is None or kind[0] != object_type:
                raise validation_error(f"{type_id} is not a valid association type id for {object_type}.")
            if self.store.get(kind[1], to_id) is None:
                raise validation_error(f"{SINGULAR[kind[1]]} {to_id} does not exist.")

    def _apply_link(self, object_type: str, record_id: str, link: dict[str, Any]) -> None:
        for t in link["types"]:
            _, to_type, kind = KIND_BY_TYPE_ID[int(t["associationTypeId"])]
            primary = kind.label == "Primary"
            self.store.associate(object_type, record_id, to_type, str(link["to"]["id"]), primary=primary)

    def _on_update_object(self, request: Request, object_type: str, record_id: str) -> Response:
        table = self.store.table(object_type)
        body = render.json_body(request)
        record = self.store.get(table.object_type, record_id, id_property=request.args.get("idProperty"))
        if record is None:
            raise not_found("Object not found.  objectId are usually numeric.", context={"id": [record_id]})
        values = self.store.validate(table.object_type, body.get("properties") or {})
        self.store.apply(record, table.object_type, values)
        self.stats.add_written(1)
        return render.json_response(self._record_json(table.object_type, record, list(record.properties)))

    def _on_archive_object(self, request: Request, object_type: str, record_id: str) -> Response:
        table = self.store.table(object_type)
        self.store.archive(table.object_type, record_id)
        return Response(status=204, mimetype="text/html")

    def _on_search_objects(self, request: Request, object_type: str) -> Response:
        table = self.store.table(object_type)
        body = render.json_body(request)
        total, records, next_offset = self.store.search(table.object_type, body)
        names = render.names(body.get("properties") or None, table.object_type)
        out: dict[str, Any] = {"total": total, "results": [r.as_json(names, table.properties) for r in records]}
        if next_offset is not None:
            out["paging"] = {"next": {"after": str(next_offset)}}
        self.stats.add_returned(len(records))
        return render.json_response(out)

    def _on_merge_objects(self, request: Request, object_type: str) -> Response:
        table = self.store.table(object_type)
        body = render.json_body(request)
        primary, merged = body.get("primaryObjectId"), body.get("objectIdToMerge")
        if not primary or not merged:
            raise validation_error("Both `primaryObjectId` and `objectIdToMerge` are required.")
        record = self.store.merge(table.object_type, str(primary), str(merged))
        self.stats.add_written(2)
        return render.json_response(self._record_json(table.object_type, record, list(record.properties)))

    # --- batches ------------------------------------------------------------------------------

    def _batch(self, results: list[dict[str, Any]], errors: list[dict[str, Any]], started: str) -> Response:
        body: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if errors:
            body["numErrors"] = len(errors)
            body["errors"] = errors
        body["startedAt"] = started
        body["completedAt"] = iso_ms(self.clock())
        return render.json_response(body, 207 if errors else 200)

    @staticmethod
    def _missing(object_type: str, ids: list[str]) -> list[dict[str, Any]]:
        if not ids:
            return []
        message = (
            f"Could not get some {object_label(object_type)} objects, they may be deleted or not exist. "
            "Check that ids are valid."
        )
        return [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": message,
                "context": {"ids": ids},
                "links": {},
                "errors": [],
            }
        ]

    def _on_batch_read(self, request: Request, object_type: str) -> Response:
        started = iso_ms(self.clock())
        table = self.store.table(object_type)
        body = render.json_body(request)
        items = render.inputs(body)
        names = render.names(body.get("properties") or None, table.object_type)
        id_property = body.get("idProperty")
        archived = render.flag(request, "archived")
        results, missing = [], []
        for item in items:
            rid = str(item.get("id", ""))
            record = self.store.get(table.object_type, rid, id_property=id_property, archived=archived)
            if record is None:
                missing.append(rid)
            else:
                results.append(record.as_json(names, table.properties))
        self.stats.add_returned(len(results))
        return self._batch(results, self._missing(table.object_type, missing), started)

    def _on_batch_update(self, request: Request, object_type: str) -> Response:
        started = iso_ms(self.clock())
        table = self.store.table(object_type)
        items = render.inputs(render.json_body(request))
        ids = [str(item.get("id", "")) for item in items]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise validation_error(
                f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique",
                context={"ids": duplicates},
            )
        # Validation is all-or-nothing: one bad value fails the whole batch with a 400.
        planned: list[tuple[HubSpotRecord | None, str, dict[str, str | None]]] = []
        with self.store.lock:
            for item, rid in zip(items, ids, strict=True):
                values = self.store.validate(table.object_type, item.get("properties") or {})
                record = self.store.get(table.object_type, rid, id_property=item.get("idProperty"))
                planned.append((record, rid, values))
            results, missing = [], []
            for record, rid, values in planned:
                if record is None:
                    missing.append(rid)
                    continue
                self.store.apply(record, table.object_type, values)
                results.append(self._record_json(table.object_type, record, list(record.properties)))
        self.stats.add_written(len(results))
        return self._batch(results, self._missing(table.object_type, missing), started)

    def _on_batch_create(self, request: Request, object_type: str) -> Response:
        started = iso_ms(self.clock())
        table = self.store.table(object_type)
        items = render.inputs(render.json_body(request))
        with self.store.lock:
            for item in items:
                self._creatable(table.object_type, item.get("properties") or {})
                for link in item.get("associations") or []:
                    self._check_link(table.object_type, link)
            created = [self._create_one(table.object_type, item) for item in items]
        self.stats.add_written(len(created))
        results = [self._record_json(table.object_type, r, list(r.properties)) for r in created]
        response = self._batch(results, [], started)
        response.status_code = 201
        return response

    # --- v4 associations ----------------------------------------------------------------------

    def _assoc_rows(self, from_type: str, from_id: str, to_type: str) -> list[dict[str, Any]]:
        return [
            {"toObjectId": int(tid), "associationTypes": [k.as_v4() for k in kinds]}
            for tid, kinds in self.store.associations_of(from_type, from_id, to_type)
        ]

    def _on_list_associations(self, request: Request, from_type: str, from_id: str, to_type: str) -> Response:
        f, t = self.store.table(from_type).object_type, self.store.table(to_type).object_type
        limit = render.limit(request.args.get("limit"), ASSOCIATION_PAGE_MAX, ASSOCIATION_PAGE_MAX)
        after = request.args.get("after") or "0"
        if not after.isdigit():
            raise validation_error(f"Invalid 'after' value: {after}")
        rows = self._assoc_rows(f, from_id, t)
        start = int(after)
        body: dict[str, Any] = {"results": rows[start : start + limit]}
        if start + limit < len(rows):
            nxt = str(start + limit)
            link = (
                f"{request.host_url}crm/v4/objects/{from_type}/{from_id}/associations/{to_type}"
                f"?{urlencode({'limit': limit, 'after': nxt})}"
            )
            body["paging"] = {"next": {"after": nxt, "link": link}}
        return render.json_response(body)

    def _on_associate_default(
        self, request: Request, from_type: str, from_id: str, to_type: str, to_id: str
    ) -> Response:
        f, t = self.store.table(from_type).object_type, self.store.table(to_type).object_type
        if self.store.get(f, from_id) is None or self.store.get(t, to_id) is None:
            raise not_found(f"Could not find {SINGULAR[f]} {from_id} or {SINGULAR[t]} {to_id}.")
        self.store.associate(f, from_id, t, to_id)
        self.stats.add_written(1)
        kinds = self.store.associations_of(f, from_id, t)
        spec = next(k for tid, ks in kinds if tid == to_id for k in ks)
        result = {
            "from": {"id": from_id},
            "to": {"id": to_id},
            "associationSpec": {"associationCategory": spec.category, "associationTypeId": spec.type_id},
        }
        now = iso_ms(self.clock())
        return render.json_response({"status": "COMPLETE", "results": [result], "startedAt": now, "completedAt": now})

    def _on_batch_read_associations(self, request: Request, from_type: str, to_type: str) -> Response:
        started = iso_ms(self.clock())
        f, t = self.store.table(from_type).object_type, self.store.table(to_type).object_type
        items = render.inputs(render.json_body(request), ASSOCIATION_BATCH_MAX_INPUTS)
        results, errors = [], []
        for item in items:
            fid = str(item.get("id", ""))
            rows = self._assoc_rows(f, fid, t)
            if rows:
                results.append({"from": {"id": fid}, "to": rows})
                continue
            errors.append(
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                    "message": f"No {SINGULAR[t]} is associated with {SINGULAR[f]} {fid}.",
                    "context": {"fromObjectId": [fid]},
                    "links": {},
                    "errors": [],
                }
            )
        return self._batch(results, errors, started)

    # --- properties ---------------------------------------------------------------------------

    def _on_list_properties(self, request: Request, object_type: str) -> Response:
        table = self.store.table(object_type)
        with self.store.lock:
            body = {"results": [render.property_json(p) for p in table.properties.values()]}
        return render.json_response(body)

    def _on_create_property(self, request: Request, object_type: str) -> Response:
        prop = self.store.create_property(object_type, render.json_body(request))
        return render.json_response(render.property_json(prop), 201)

    def _on_get_property(self, request: Request, object_type: str, name: str) -> Response:
        prop = self.store.table(object_type).properties.get(name)
        if prop is None:
            raise not_found(f"Unable to find property {name} for object type {object_type}")
        return render.json_response(render.property_json(prop))

    def _on_update_property(self, request: Request, object_type: str, name: str) -> Response:
        prop = self.store.update_property(object_type, name, render.json_body(request))
        return render.json_response(render.property_json(prop))

    def _on_list_groups(self, request: Request, object_type: str) -> Response:
        table = self.store.table(object_type)
        with self.store.lock:
            body = {"results": [render.group_json(gr) for gr in table.groups.values()]}
        return render.json_response(body)

    def _on_create_group(self, request: Request, object_type: str) -> Response:
        group = self.store.create_group(object_type, render.json_body(request))
        return render.json_response(render.group_json(group), 201)

    def _on_get_group(self, request: Request, object_type: str, name: str) -> Response:
        group = self.store.table(object_type).groups.get(name)
        if group is None:
            raise not_found(f"Unable to find property group {name} for object type {object_type}")
        return render.json_response(render.group_json(group))
