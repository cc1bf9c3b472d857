"""`HubSpotAdapter`: pulls companies, contacts, deals and tickets; writes Canary health onto companies.

Pull rule (``cursor`` None = first sync, or an incremental search finding more than
``walk_threshold`` changed records):

1. one search sorted by the modification stamp, descending, limit 1, fixes the *mark*:
   the newest stamp before the walk starts;
2. a list walk (``GET /crm/v3/objects/{type}``, 100 per page, ``after`` paging) reads every
   record with its company associations inline (one call per 100 records, associations
   included, and none of the ~5/s search allowance);
3. the incremental search then takes over from the mark, so nothing changed during the walk
   is lost.

Search is eventually consistent: a write reaches it seconds later, and recent results come back
out of stamp order. So an incremental pull starts with one search, newest first and unfiltered
(its ``total`` counts the live records), and keeps what lies within the look-back window before
the cursor (``look_back_seconds``; no further back than what has *settled*, i.e. was re-read once
the window had passed since the cursor moved). Records the cursor remembers delivering at the
same stamp are skipped, so a quiet pull is that one call and nothing is delivered twice. When the
window does not fit on that page, the pull pages forward from the window's start:

Incremental paging is keyset searches, never offset paging: ``stamp GT ts`` sorted ascending.
When a page is full, the records at its last stamp are held back and asked again from the
previous stamp (so a page never splits a group of equal stamps); when a whole page shares
one stamp, that group is read in id order (``stamp EQ ts AND hs_object_id GT last``). No
query ever pages past offset 0, so the 10,000-result cap of search cannot be hit, and no
record is lost, repeated or looped on however many share one stamp. Company links of
searched records come from one v4 association batch read per page.

Removals: when the live count is not what the last pull's count plus the records new to the index
make it (or after a walk, or a change bigger than one page), the archived list
(``archived=true``, 100 a call, ``archivedAt``) is read at the end of the pull; records archived
since the cursor come back as `Removal`, a merged company as ``Removal(id, merged_into=primary)``
from the primary's ``hs_merged_object_ids`` (read in the same pull) or, failing that, from a batch
read that resolves the merged id to its primary. Search answers still showing a removed record
are ignored.

Fetch (records named by id, e.g. by a webhook): ``POST /crm/v3/objects/{type}/batch/read``, 100 ids a
call, plus the pull's company-association batch read and owner listing; batch read is consistent, so a
change is there at once where search lags. A merged id comes back as its primary (``Removal`` with
``merged_into``), a missing one as a ``Removal``. No cursor moves.

Owners: a company's ``hubspot_owner_id`` is an owner id; the first page naming one not known lists
the portal's owners (``GET /crm/v3/owners``, then ``archived=true`` for deactivated users' owners),
one call per page of owners, once per run (`HubSpotAdapter._learn_owners`).

Canary's own writes: a push restamps every company it writes, and search cannot leave them out (its filters
compare a property with a value; none says who made the last change). Given the sync's `OwnWrites`
(`expect_own_writes`), a pull of companies tells them on the raw page, before any lookup: a company that
differs from the stored copy only by its stamp while holding what Canary wrote is named in `Page.own_writes`
and costs no association read or owner listing (`sync.own_writes`).

Push: ``POST /crm/v3/objects/companies/batch/update``, 100 inputs per call; values are checked
against the property definitions first, so a bad record is reported without costing a call.
If HubSpot still fails a batch with a 400 (it fails the whole batch for one bad value), the
inputs whose values it names are marked failed and the rest are sent again; an unattributable
400 splits the batch in halves. Unknown ids come back in a 207 and are marked failed.

Tasks: ``POST /crm/v3/objects/tasks/batch/create``, 100 inputs a call, each with its company
association (type 192) and Canary's key in ``canary_task_key``; results are matched to inputs by
that key (HubSpot does not promise their order). A create is tried once at a time: after a 5xx,
timeout or dropped connection the keys are looked up — the companies' task associations (v4 batch
read, 1,000 companies a call) and a batch read of those tasks (100 a call), both consistent where
search is not — and only the tasks not found are sent again. ``batch/update`` keeps status, due
date and owner in step. The pull of ``tasks`` searches only tasks with a key (``HAS_PROPERTY``),
from the start on the first pull (never a walk of every task in the portal).

E-mail consent (`write_email_opt_outs`): communication preferences v3, what hubspot-api-client 12 wraps
(``communication_preferences.status_api``; v4's batch endpoints are not in it). The subscription type of a
Canary category is the one ``subscription_types`` names, else the portal's default type of that purpose
(``GET /communication-preferences/v3/definitions``, once per adapter: customer-success mail → "Customer
Service Communication", marketing → "Marketing Information"); then one ``POST
/communication-preferences/v3/unsubscribe`` (``emailAddress``, ``subscriptionId``) per address — v3 has no
batch. HubSpot refuses to unsubscribe an address twice (a 400 saying it is already unsubscribed): that
address counts as written.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import requests
from hubspot.communication_preferences import PublicUpdateSubscriptionStatusRequest
from hubspot.crm.associations.v4 import (
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.companies import BatchInputSimplePublicObjectBatchInput, SimplePublicObjectBatchInput
from hubspot.crm.objects import (
    AssociationSpec,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchReadInputSimplePublicObjectId,
    Filter,
    FilterGroup,
    PublicAssociationsForObject,
    PublicObjectId,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectId,
)
from hubspot.crm.objects import BatchInputSimplePublicObjectBatchInput as ObjectsBatchInput
from hubspot.crm.objects import SimplePublicObjectBatchInput as ObjectsBatchItem
from hubspot.crm.properties import OptionInput, PropertyCreate, PropertyGroupCreate

from integrations.base import (
    AccountRecord,
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
from integrations.errors import AuthError, FatalError, RetriableError, VendorRefused
from integrations.http import QuotaGuard, RetryPolicy
from integrations.hubspot.cursor import PullCursor
from integrations.hubspot.fields import (
    DEFAULT_SHAPES,
    GROUP_LABEL,
    GROUP_NAME,
    PropertyShape,
    property_name,
    shape_of,
)
from integrations.hubspot.records import (
    MAPPERS,
    MODIFIED_PROPERTY,
    PROPERTIES,
    TASK_KEY_PROPERTY,
    TASK_TO_COMPANY_TYPE_ID,
    archived_millis,
    batch_associations,
    company_to_account,
    created_millis,
    linked_company,
    merged_ids,
    modified_millis,
    needs_lookup,
    owner_from_payload,
    task_create_properties,
    task_update_properties,
)
from integrations.hubspot.wire import (
    Answer,
    HubSpotConnection,
    RateLimitPacer,
    batch_outcome,
    error_message,
    invalid_values,
)
from integrations.values import to_epoch_millis

log = logging.getLogger("canary.hubspot")

OBJECT_TYPES: dict[str, str] = {
    "accounts": "companies",
    "contacts": "contacts",
    "deals": "deals",
    "tickets": "tickets",
    "tasks": "tasks",
}
SCOPES: dict[str, list[dict[str, str]]] = {
    "tasks": [{"property_name": TASK_KEY_PROPERTY, "operator": "HAS_PROPERTY"}],
}
"""A fixed condition of every search of an object type: only Canary's tasks are pulled."""


SUBSCRIPTION_TYPE_NAMES = {"customer_success": "Customer Service Communication", "marketing": "Marketing Information"}
"""A Canary mail category -> the name of HubSpot's default subscription type for it."""
ALREADY_UNSUBSCRIBED = "already unsubscribed"


WEBHOOK_NOUNS = {"companies": "company", "contacts": "contact", "deals": "deal", "tickets": "ticket"}
WEBHOOK_ACTIONS = ("creation", "deletion", "merge", "restore", "associationChange")
UNWATCHED = frozenset({"hs_lastmodifieddate", "lastmodifieddate", "hs_merged_object_ids"})


def webhook_subscriptions() -> list[dict[str, str]]:
    """Canary's app subscriptions: creations, deletions, merges, restores and association changes of
    companies, contacts, deals and tickets, changes of the properties Canary reads (`PROPERTIES`), and tasks'
    (``object.*``, objectTypeId 0-27) creations, deletions and property changes."""
    out: list[dict[str, str]] = []
    for plural, noun in WEBHOOK_NOUNS.items():
        out += [{"eventType": f"{noun}.{action}"} for action in WEBHOOK_ACTIONS]
        out += [{"eventType": f"{noun}.propertyChange", "propertyName": name}
                for name in PROPERTIES[plural] if name not in UNWATCHED]
    out += [{"eventType": f"object.{action}", "objectTypeId": "0-27"} for action in ("creation", "deletion")]
    out += [{"eventType": "object.propertyChange", "objectTypeId": "0-27", "propertyName": name}
            for name in PROPERTIES["tasks"] if name not in UNWATCHED]
    return out


def webhooks_json(target: str, subscriptions: list[dict[str, str]]) -> dict[str, Any]:
    """The project app's ``webhooks.json`` for the same subscriptions (HubSpot's documented shape)."""
    legacy, objects = [], []
    for sub in subscriptions:
        noun, _, action = sub["eventType"].partition(".")
        if noun == "object":
            objects.append({"subscriptionType": f"object.{action}", "objectName": "task", "active": True,
                            **({"propertyName": sub["propertyName"]} if "propertyName" in sub else {})})
        else:
            legacy.append({"subscriptionType": sub["eventType"], "active": True,
                           **({"propertyName": sub["propertyName"]} if "propertyName" in sub else {})})
    return {"settings": {"targetUrl": target, "maxConcurrentRequests": 10},
            "subscriptions": {"crmObjects": objects, "legacyCrmObjects": legacy}}


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


Batch = list[tuple[str, dict[str, str]]]

LOOK_BACK_SECONDS = 120.0
"""How far before its cursor an incremental pull searches again. HubSpot's search index trails
writes by "a few seconds" (the search guide), more under load; peers re-read 30 s (NiFi's
GetHubSpot incremental delay) to minutes (Airbyte's lookback window). Two minutes covers the
usual delay many times over while the re-read of a quiet portal stays one search page."""


@dataclass
class _Pull:
    """What one pull learns as it goes (kept in memory only: a resumed pull starts it afresh)."""

    check_gone: bool = False
    """Read the archived list at the end (after a walk, a big change, or an unexplained count)."""
    merged: dict[str, str] = field(default_factory=dict)
    """merged id -> primary, from ``hs_merged_object_ids`` of the records read."""
    count: int | None = None
    idx: tuple[str, ...] = ()
    own: OwnWriteCheck | None = None
    """The sync's own-write check (`HubSpotAdapter.expect_own_writes`), for a pull of companies."""
    recognised: list[str] = field(default_factory=list)
    """Ids recognised as Canary's own writes since the last page was yielded (`Page.own_writes`)."""

    def take_recognised(self) -> list[str]:
        taken, self.recognised = self.recognised, []
        return taken


class HubSpotAdapter(PullState):
    """The HubSpot adapter (see the module docstring for the pull and push rules)."""

    PULL_STATE = ("connection.calls", "connection.daily_remaining", "guard", "pacer", "_owners", "_owners_listed",
                  "resolve_owners", "shapes", "subscription_types", "_own_writes")
    """What a pull changes here (`integrations.base.PullState`)."""

    system = "hubspot"
    objects: tuple[ObjectName, ...] = ("accounts", "contacts", "deals", "tickets", "tasks")

    def __init__(
        self,
        access_token: str,
        *,
        base_url: str | None = None,
        ca_cert: str | None = None,
        policy: RetryPolicy | None = None,
        run_share: float = 0.25,
        daily_ceiling: float = 0.80,
        list_limit: int = 100,
        search_limit: int = 200,
        push_batch_size: int = 100,
        association_batch_size: int = 1000,
        walk_threshold: int = 10_000,
        look_back_seconds: float = LOOK_BACK_SECONDS,
        wall_clock: Callable[[], float] = time.time,
        search_per_second: float = 4.0,
        resolve_owners: bool = True,
        timeout: tuple[float, float] = (10.0, 60.0),
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        subscription_types: Mapping[str, str] | None = None,
    ) -> None:
        for name, value, top in (
            ("list_limit", list_limit, 100),
            ("search_limit", search_limit, 200),
            ("push_batch_size", push_batch_size, 100),
            ("association_batch_size", association_batch_size, 1000),
        ):
            if not 1 <= value <= top:
                raise ValueError(f"{name} must be between 1 and {top} (HubSpot's limit), got {value}")
        self.policy = policy or RetryPolicy(sleep=sleep)
        self.guard = QuotaGuard("hubspot", run_share=run_share, daily_ceiling=daily_ceiling)
        self.pacer = RateLimitPacer(search_per_second=search_per_second, sleep=sleep, monotonic=monotonic)
        self._ca_cert = ca_cert
        self.connection = HubSpotConnection(
            access_token,
            base_url=base_url,
            ca_cert=ca_cert,
            policy=self.policy,
            guard=self.guard,
            pacer=self.pacer,
            timeout=timeout,
        )
        self.list_limit = list_limit
        self.search_limit = search_limit
        self.push_batch_size = push_batch_size
        self.association_batch_size = association_batch_size
        self.walk_threshold = walk_threshold
        if look_back_seconds < 0:
            raise ValueError(f"look_back_seconds cannot be negative, got {look_back_seconds}")
        self.look_back_ms = int(look_back_seconds * 1000)
        self.wall_clock = wall_clock
        self.shapes: dict[str, PropertyShape] = dict(DEFAULT_SHAPES)
        self.resolve_owners = resolve_owners
        self._owners: dict[str, VendorUser] = {}
        """The portal's owners, by owner id, once listed this run (archived ones included)."""
        self._owners_listed = False
        self._own_writes: OwnWriteCheck | None = None
        """Handed over by the sync for the next pull of companies (`expect_own_writes`)."""
        self.subscription_types: dict[str, str] = dict(subscription_types or {})
        """Canary category -> HubSpot subscription type id (given, or found by name on first use)."""

    @classmethod
    def from_credentials(cls, credentials: Mapping[str, Any], base_url: str | None = None,
                         **options: Any) -> HubSpotAdapter:
        """For a stored connection (private-app or OAuth access token)."""
        return cls(credentials["access_token"], base_url=base_url, ca_cert=credentials.get("cert_path"), **options)

    @classmethod
    def from_sandbox(cls, base_url: str, access_token: str, **options: Any) -> HubSpotAdapter:
        """An adapter on the sandbox emulator served at ``base_url`` (`sandbox.hubspot.HubSpotEmulator`)."""
        return cls(access_token, base_url=base_url, **options)

    @property
    def calls(self) -> int:
        return self.connection.calls

    def quota_left(self) -> int | None:
        return self.connection.daily_remaining

    # --- webhooks -------------------------------------------------------------------------

    def subscribe_webhooks(self, target_base_url: str, app_config: Mapping[str, Any] | None = None) -> Subscribed:
        """HubSpot's subscriptions belong to the app, not the portal: with ``HUBSPOT_APP_ID`` and
        ``HUBSPOT_DEVELOPER_API_KEY`` in ``app_config``, the app's v3 settings (``PUT /webhooks/v3/{appId}/
        settings``: ``targetUrl`` ``<target>/webhooks/hubspot``, when it differs) and one active subscription per
        `webhook_subscriptions` entry (``POST``, or ``PATCH`` an inactive one) are made with the developer key as
        ``hapikey``; found ones are kept (1 settings read + 1 list when nothing is missing). Without them: the
        app's ``webhooks.json`` as the manual step."""
        target = f"{target_base_url.rstrip('/')}/webhooks/hubspot"
        config = app_config or {}
        app_id, key = str(config.get("HUBSPOT_APP_ID") or ""), str(config.get("HUBSPOT_DEVELOPER_API_KEY") or "")
        wanted = webhook_subscriptions()
        if not (app_id.isdigit() and key):
            return Subscribed(manual_steps=[
                "HubSpot subscriptions belong to Canary's app: set HUBSPOT_APP_ID and HUBSPOT_DEVELOPER_API_KEY "
                "and connect again, or give the app this webhooks.json (project apps) and deploy it: "
                + json.dumps(webhooks_json(target, wanted), separators=(",", ":"))])
        base = f"{self.connection.host}/webhooks/v3/{app_id}"
        session = requests.Session()
        session.trust_env = False
        session.verify = self._ca_cert or True
        made = 0
        settings = self._developer(session, "GET", f"{base}/settings", key, missing_ok=True)
        if settings is None or settings.get("targetUrl") != target:
            self._developer(session, "PUT", f"{base}/settings", key,
                            {"targetUrl": target, "throttling": {"maxConcurrentRequests": 10, "period": "SECONDLY"}})
            made += 1
        existing = (self._developer(session, "GET", f"{base}/subscriptions", key) or {}).get("results") or []
        by_key = {(r.get("eventType"), r.get("propertyName"), r.get("objectTypeId")): r
                  for r in existing if isinstance(r, dict)}
        for sub in wanted:
            found = by_key.get((sub["eventType"], sub.get("propertyName"), sub.get("objectTypeId")))
            if found is None:
                self._developer(session, "POST", f"{base}/subscriptions", key, {**sub, "active": True})
                made += 1
            elif not found.get("active"):
                self._developer(session, "PATCH", f"{base}/subscriptions/{found['id']}", key, {"active": True})
                made += 1
        return Subscribed(registered=[f"app {app_id} settings: target {target}",
                                      f"app {app_id}: {len(wanted)} active subscriptions"],
                          credentials={"app_id": app_id}, created=made)

    def _developer(self, session: requests.Session, method: str, url: str, key: str,
                   body: Mapping[str, Any] | None = None, *, missing_ok: bool = False) -> dict[str, Any] | None:
        """One developer-API call (``hapikey``; never logged: the key is in the query)."""
        what = f"{method} {url.split('/webhooks/v3/', 1)[-1].split('/', 1)[-1]}"

        def call() -> dict[str, Any] | None:
            try:
                response = session.request(method, url, params={"hapikey": key}, json=body, timeout=(10, 30))
            except requests.RequestException as exc:
                raise RetriableError(f"hubspot: webhook settings {what}: {type(exc).__name__}") from None
            if response.status_code == 404 and missing_ok:
                return None
            if response.status_code in (429,) or response.status_code >= 500:
                raise RetriableError(f"hubspot: webhook settings {what}: {response.status_code}",
                                     status=response.status_code)
            if response.status_code in (401, 403):
                raise AuthError(f"hubspot: the developer API key was refused ({response.status_code}) for "
                                f"webhook settings {what}; check HUBSPOT_DEVELOPER_API_KEY and HUBSPOT_APP_ID")
            if response.status_code >= 400:
                raise VendorRefused(f"hubspot: webhook settings {what} refused ({response.status_code})",
                                    status=response.status_code)
            answer = response.json() if response.content else {}
            return answer if isinstance(answer, dict) else {}

        return self.policy.run(call, what=f"hubspot webhook settings {what}")

    def check_connection(self) -> None:
        self.connection.call(
            "check connection",
            self.connection.objects.get_page,
            "companies",
            limit=1,
            properties=["hs_object_id"],
        )

    def connected_user(self) -> str | None:
        """None, without a call: HubSpot's webhook events name the app that made a change (``sourceId``),
        not a user, so the loop guard needs Canary's app id (``app_id``), not the token's user."""
        return None

    # --- pull -----------------------------------------------------------------------------

    def expect_own_writes(self, own: OwnWriteCheck | None) -> None:
        """The next pull of companies tells Canary's own writes by ``own`` before any association or owner
        lookup (`integrations.base.OwnWriteAware`)."""
        self._own_writes = own

    def pull(self, object: ObjectName, cursor: str | None) -> Iterator[Page]:
        object_type = OBJECT_TYPES.get(object)
        if object_type is None:
            raise ValueError(f"hubspot has no {object}; it has {', '.join(self.objects)}")
        state = PullCursor.load(cursor)
        own = None
        if object == "accounts":
            own, self._own_writes = self._own_writes, None
        if object_type in SCOPES:
            return self._scoped_pull(object, object_type, state)
        return self._pull(object, object_type, state, own)

    def fetch(self, object: ObjectName, ids: Sequence[str]) -> Page:
        """The records of ``ids`` now: ``POST /crm/v3/objects/{type}/batch/read``, 100 ids a call, read from
        the records themselves (consistent, unlike search: a change made a moment ago is there), mapped as
        `pull` maps them (company links by one v4 association batch read, owners from the owners API).

        A merged id resolves to its primary, whose ``hs_merged_object_ids`` names it: the primary comes back
        as a record and the id as ``Removal(id, merged_into=primary)``. An id the read does not find is
        archived (deleted) or was never there: a `Removal` either way, so no ``archived=true`` read is needed
        to tell them apart. Tasks without Canary's key are not Canary's: removed too."""
        object_type = OBJECT_TYPES.get(object)
        if object_type is None:
            raise ValueError(f"hubspot has no {object}; it has {', '.join(self.objects)}")
        wanted = distinct_ids(ids)
        results: dict[str, Mapping[str, Any]] = {}
        for chunk in _chunks([i for i in wanted if i.isdigit()], 100):
            request = BatchReadInputSimplePublicObjectId(
                inputs=[SimplePublicObjectId(id=i) for i in chunk], properties=list(PROPERTIES[object_type]),
                properties_with_history=[],
            )
            answer = self.connection.call(f"read {object_type}", self.connection.batch.read, object_type, request)
            results.update({str(r["id"]): r for r in answer.body.get("results") or ()
                            if isinstance(r, Mapping) and r.get("id") is not None})
        pull = _Pull()
        records = self._records(object_type, list(results.values()), pull)
        found = {r.external_id for r in records}
        removed = [Removal(i, merged_into=pull.merged.get(i)) for i in wanted if i not in found]
        return Page(object, records, None, removed)

    def _scoped_pull(self, obj: ObjectName, object_type: str, state: PullCursor | None) -> Iterator[Page]:
        """Canary's tasks: before the key property exists (no push yet) there is none to read."""
        try:
            yield from self._pull(obj, object_type, state)
        except VendorRefused as exc:
            if exc.status != 400 or TASK_KEY_PROPERTY not in str(exc):
                raise
            log.info("hubspot: no %s property on %s yet; no Canary task to read", TASK_KEY_PROPERTY, object_type)

    def _pull(self, obj: ObjectName, object_type: str, state: PullCursor | None,
              own: OwnWriteCheck | None = None) -> Iterator[Page]:
        pull = _Pull(check_gone=state is None or state.phase == "walk", own=own)
        decided = state is None
        if state is None and object_type in SCOPES:
            state = PullCursor("forward")  # search from the start: a walk would list every task in the portal
        elif state is None:
            state = PullCursor("walk", mark=self._newest_stamp(object_type))
        loaded, fresh = state, True
        settles = state.at is not None and self.wall_clock_ms() - state.at >= self.look_back_ms
        while True:
            before = state
            if state.phase == "walk":
                records, state, more = self._walk_page(object_type, state, pull)
                decided = True
            elif state.phase == "tie":
                records, state, more = self._tie_page(object_type, state, pull)
                decided = True
            elif fresh:
                fresh = False
                records, state, more = self._newest_page(object_type, state, pull)
            else:
                answer = self._search(
                    object_type, self._forward_filters(object_type, state.ts), MODIFIED_PROPERTY[object_type]
                )
                # what the look-back re-reads (delivered before) is not a change
                low = state.ts if state.ts is not None else -1
                total = int(answer.body.get("total") or 0) - sum(1 for s in state.seen.values() if s > low)
                if not decided and total > self.walk_threshold:
                    log.info(
                        "hubspot %s: %d changed since the cursor, more than %d: walking the list instead",
                        object_type,
                        total,
                        self.walk_threshold,
                    )
                    state = state.moved("walk", mark=self._newest_stamp(object_type))
                    decided = pull.check_gone = True
                    continue
                records, state, more = self._forward_page(object_type, state, answer, pull)
                decided = True
            mine = pull.take_recognised()
            if records or mine or (state != before and (state.phase == "walk" or (state.ts or 0) > (loaded.ts or 0))):
                yield Page(obj, records, replace(state, count=None, idx=()).dump(), own_writes=mine)
            if not more:
                break
        removed, final = self._finish(object_type, state, pull)
        if loaded.phase == "forward" and loaded.ts is not None:
            final = replace(final, ts=max(final.ts or loaded.ts, loaded.ts))  # a re-read never moves it back
            if settles:
                final = replace(final, settled=max(loaded.ts, loaded.settled or loaded.ts))
        if final.ts != loaded.ts:
            final = replace(final, at=self.wall_clock_ms())
        if removed or final != loaded:
            yield Page(obj, [], final.dump(), removed)

    def wall_clock_ms(self) -> int:
        return int(self.wall_clock() * 1000)

    def _low(self, state: PullCursor) -> int | None:
        """Where an incremental pull starts reading: the look-back window before the cursor, never
        before what is settled."""
        if state.ts is None:
            return None
        window = state.ts - self.look_back_ms
        return window if state.settled is None else max(window, state.settled)

    def _forward_filters(self, object_type: str, ts: int | None) -> list[dict[str, str]]:
        if ts is None:
            return []
        return [{"property_name": MODIFIED_PROPERTY[object_type], "operator": "GT", "value": str(ts)}]

    def _search(
        self,
        object_type: str,
        filters: list[dict[str, str]],
        sort_by: str,
        *,
        descending: bool = False,
        limit: int | None = None,
    ) -> Answer:
        filters = [*SCOPES.get(object_type, []), *filters]
        request = PublicObjectSearchRequest(
            filter_groups=[FilterGroup(filters=[Filter(**f) for f in filters])] if filters else [],
            sorts=[{"propertyName": sort_by, "direction": "DESCENDING" if descending else "ASCENDING"}],
            limit=limit or self.search_limit,
            properties=list(PROPERTIES[object_type]),
        )
        return self.connection.call(
            f"search {object_type}", self.connection.search.do_search, object_type, request, search=True
        )

    def _newest_stamp(self, object_type: str) -> int | None:
        modified = MODIFIED_PROPERTY[object_type]
        answer = self._search(object_type, [], modified, descending=True, limit=1)
        results = answer.body.get("results") or []
        return modified_millis(results[0], object_type) if results else None

    @staticmethod
    def _next_after(body: Mapping[str, Any]) -> str | None:
        after = ((body.get("paging") or {}).get("next") or {}).get("after")
        return None if after in (None, "") else str(after)

    def _walk_page(
        self, object_type: str, state: PullCursor, pull: _Pull
    ) -> tuple[list[Record], PullCursor, bool]:
        options: dict[str, Any] = {
            "limit": self.list_limit,
            "properties": list(PROPERTIES[object_type]),
            "associations": ["companies"],
        }
        if state.after:
            options["after"] = state.after
        answer = self.connection.call(
            f"list {object_type}", self.connection.objects.get_page, object_type, **options
        )
        results = answer.body.get("results") or []
        records = self._records(object_type, results, pull, lookup=False)
        # What the search after the walk re-reads inside its look-back window is not delivered again.
        floor = None if state.mark is None else state.mark - self.look_back_ms
        # A mapped record's ``updated_at`` is its stamp (`modified_at`), parsed once; the others (Canary's own
        # writes, tasks without Canary's key) are read from the payload.
        mapped = {r.external_id: r.updated_at for r in records}
        stamps: dict[str, int] = {}
        for r in results:
            at = mapped.get(key := str(r["id"]))
            stamps[key] = to_epoch_millis(at) if at is not None else modified_millis(r, object_type)
        seen = {**state.seen, **{i: s for i, s in stamps.items() if floor is None or s > floor}}
        state = replace(state, seen=seen)
        after = self._next_after(answer.body)
        if after is not None:
            return records, state.moved("walk", after=after, mark=state.mark), True
        return records, state.moved("forward", ts=state.mark), True

    def _newest_page(
        self, object_type: str, state: PullCursor, pull: _Pull
    ) -> tuple[list[Record], PullCursor, bool]:
        """The first search of an incremental pull: newest first, no filter, so its ``total`` counts every
        live record; when the look-back window fits on the page this one call is the whole pull."""
        answer = self._search(object_type, [], MODIFIED_PROPERTY[object_type], descending=True)
        results = answer.body.get("results") or []
        stamps = [modified_millis(r, object_type) for r in results]
        low = self._low(state)
        if len(results) >= self.search_limit and (low is None or min(stamps) > low):
            pull.check_gone = True  # more changed than one page holds: page forward, and look for removals
            return [], state.moved("forward", ts=low), True
        newest = max([*stamps, *([state.ts] if state.ts is not None else [])], default=None)
        floor = None if newest is None else newest - self.look_back_ms
        window = [r for r, stamp in zip(results, stamps, strict=True) if low is None or stamp > low]
        created = {str(r["id"]): created_millis(r) for r in window}
        pull.count = int(answer.body.get("total") or 0)
        pull.idx = tuple(sorted(i for i, c in created.items() if floor is None or (c or 0) > floor))
        entered = sum(1 for i, c in created.items()
                      if (low is None or (c or 0) > low) and i not in set(state.idx))  # fmt: skip
        if state.count is None or pull.count != state.count + entered:
            pull.check_gone = True
        fresh = sorted(self._unseen(object_type, window, state), key=lambda r: modified_millis(r, object_type))
        records = self._records(object_type, fresh, pull)
        return records, self._remember(object_type, state.moved("forward", ts=newest), fresh), False

    def _unseen(
        self, object_type: str, results: Sequence[Mapping[str, Any]], state: PullCursor
    ) -> list[Mapping[str, Any]]:
        """Results not delivered before at the same stamp, nor reported removed (a stale index answer)."""
        return [
            r for r in results
            if state.seen.get(str(r["id"])) != modified_millis(r, object_type) and str(r["id"]) not in state.gone
        ]  # fmt: skip

    def _remember(
        self, object_type: str, state: PullCursor, delivered: Sequence[Mapping[str, Any]]
    ) -> PullCursor:
        seen = {**state.seen, **{str(r["id"]): modified_millis(r, object_type) for r in delivered}}
        return replace(state, seen=seen)

    def _forward_page(
        self, object_type: str, state: PullCursor, answer: Answer, pull: _Pull
    ) -> tuple[list[Record], PullCursor, bool]:
        results = answer.body.get("results") or []
        if not results:
            return [], state, False
        stamps = [modified_millis(r, object_type) for r in results]
        if self._next_after(answer.body) is None:
            fresh = self._unseen(object_type, results, state)
            records = self._records(object_type, fresh, pull)
            return records, self._remember(object_type, state.moved("forward", ts=max(stamps)), fresh), False
        last = stamps[-1]
        keep = [r for r, stamp in zip(results, stamps, strict=True) if stamp < last]
        if not keep:
            return [], state.moved("tie", ts=last), True
        newest = max(stamp for stamp in stamps if stamp < last)
        fresh = self._unseen(object_type, keep, state)
        records = self._records(object_type, fresh, pull)
        return records, self._remember(object_type, state.moved("forward", ts=newest), fresh), True

    def _tie_page(
        self, object_type: str, state: PullCursor, pull: _Pull
    ) -> tuple[list[Record], PullCursor, bool]:
        assert state.ts is not None
        filters = [
            {"property_name": MODIFIED_PROPERTY[object_type], "operator": "EQ", "value": str(state.ts)}
        ]
        if state.after:
            filters.append({"property_name": "hs_object_id", "operator": "GT", "value": state.after})
        answer = self._search(object_type, filters, "hs_object_id")
        results = answer.body.get("results") or []
        fresh = self._unseen(object_type, results, state)
        records = self._records(object_type, fresh, pull)
        state = self._remember(object_type, state, fresh)
        if results and self._next_after(answer.body) is not None:
            last_id = max((str(r["id"]) for r in results), key=int)
            return records, state.moved("tie", ts=state.ts, after=last_id), True
        return records, state.moved("forward", ts=state.ts), True

    def _records(
        self, object_type: str, results: Sequence[Mapping[str, Any]], pull: _Pull, *, lookup: bool = True
    ) -> list[Record]:
        if object_type in SCOPES:  # a walk lists every task; only Canary's (with a key) are records
            results = [r for r in results if (r.get("properties") or {}).get(TASK_KEY_PROPERTY)]
        for r in results:
            pull.merged.update({merged: str(r["id"]) for merged in merged_ids(r)})
        if pull.own is not None and object_type == "companies":
            results = self._not_own(results, pull, lookup=lookup)
        looked_up: dict[str, list[Mapping[str, Any]]] = {}
        wanted = [str(r["id"]) for r in results if needs_lookup(r, object_type)] if lookup else []
        for chunk in _chunks(wanted, self.association_batch_size):
            request = BatchInputPublicFetchAssociationsBatchRequest(
                inputs=[PublicFetchAssociationsBatchRequest(id=i) for i in chunk]
            )
            answer = self.connection.call(
                f"read {object_type} company associations",
                self.connection.associations.get_page,
                object_type,
                "companies",
                request,
            )
            looked_up.update(batch_associations(answer.body))
        mapper = MAPPERS[object_type]
        records = [
            mapper(r, linked_company(r, object_type, looked_up.get(str(r["id"]), []) if lookup else None))
            for r in results
        ]
        return self._with_owners(records) if object_type == "companies" else records

    @staticmethod
    def _not_own(results: Sequence[Mapping[str, Any]], pull: _Pull, *, lookup: bool) -> list[Mapping[str, Any]]:
        """The companies that are not only Canary's own write coming back: each mapped as the page carries it
        (its parent as the page names it, its owner by id) and asked of ``pull.own``, the parent left out of the
        comparison when it would be looked up; the recognised ones go to ``pull.recognised`` and cost no
        association or owner call (`sync.own_writes`)."""
        assert pull.own is not None
        rest: list[Mapping[str, Any]] = []
        for r in results:
            unresolved = ("parent_external_id",) if lookup and needs_lookup(r, "companies") else ()
            carried = linked_company(r, "companies", None)
            if pull.own.recognised(company_to_account(r, carried), unresolved):
                pull.recognised.append(str(r["id"]))
            else:
                rest.append(r)
        return rest

    # --- owners ---------------------------------------------------------------------------

    def _with_owners(self, records: list[Record]) -> list[Record]:
        """Companies with their owner read from the owners API (``hubspot_owner_id`` is an owner id)."""
        owner_ids = {r.owner_ref for r in records if isinstance(r, AccountRecord) and r.owner_ref}
        if self.resolve_owners:
            self._learn_owners(owner_ids)
        return [r.with_owner(self._owners.get(r.owner_ref)) if isinstance(r, AccountRecord) and r.owner_ref else r
                for r in records]

    def _learn_owners(self, owner_ids: set[str]) -> None:
        """The portal's owners, the first time this run that a company names one not known: every page of
        ``GET /crm/v3/owners`` (``list_limit`` a page), then of ``archived=true`` (the owners of
        deactivated users, whose companies still name them; HubSpot lists those only when asked).
        One call per page of owners, once per run, however many companies there are."""
        if self._owners_listed or owner_ids <= set(self._owners):
            return
        self._owners_listed = True
        for archived in (False, True):
            after: str | None = None
            while True:
                options: dict[str, Any] = {"limit": self.list_limit, "archived": archived}
                if after:
                    options["after"] = after
                try:
                    answer = self.connection.call("list owners", self.connection.owners.get_page, **options)
                except (AuthError, VendorRefused) as exc:
                    log.warning("hubspot: cannot read the owners (%s); companies keep their owner ids", exc)
                    self.resolve_owners = False
                    return
                for row in answer.body.get("results") or []:
                    owner = owner_from_payload(row)
                    self._owners[owner.external_id] = owner
                after = self._next_after(answer.body)
                if after is None:
                    break

    # --- removals -------------------------------------------------------------------------

    def _finish(self, object_type: str, state: PullCursor, pull: _Pull) -> tuple[list[Removal], PullCursor]:
        """The end of a pull: removals when the count says something left (or after a walk), and the
        count kept for the next pull's comparison."""
        removed: list[Removal] = []
        if pull.check_gone:
            removed, state = self._removals(object_type, state, pull)
        state = replace(state, count=pull.count, idx=pull.idx if pull.count is not None else ())
        return removed, state.pruned(self.look_back_ms)

    def _archived(self, object_type: str) -> list[Mapping[str, Any]]:
        """Every archived record (HubSpot keeps them 90 days), 100 a call, with ``archivedAt``."""
        found: list[Mapping[str, Any]] = []
        after: str | None = None
        while True:
            options: dict[str, Any] = {"limit": self.list_limit, "archived": True, "properties": ["hs_object_id"]}
            if after:
                options["after"] = after
            answer = self.connection.call(
                f"list archived {object_type}", self.connection.objects.get_page, object_type, **options
            )
            found.extend(r for r in answer.body.get("results") or () if isinstance(r, Mapping))
            after = self._next_after(answer.body)
            if after is None:
                return found

    def _removals(self, object_type: str, state: PullCursor, pull: _Pull) -> tuple[list[Removal], PullCursor]:
        floor = None if state.gone_ts is None else state.gone_ts - self.look_back_ms
        new = {
            str(r["id"]): archived_millis(r)
            for r in self._archived(object_type)
            if str(r["id"]) not in state.gone and (floor is None or archived_millis(r) > floor)
        }
        if not new:
            return [], state
        merged = dict(pull.merged)
        if object_type == "companies":
            merged.update(self._merged_into(object_type, [i for i in new if i not in merged]))
        removed = [Removal(i, merged_into=merged.get(i)) for i in sorted(new, key=lambda i: (new[i], i))]
        gone_ts = max([*new.values(), *([state.gone_ts] if state.gone_ts is not None else [])])
        return removed, replace(state, gone={**state.gone, **new}, gone_ts=gone_ts)

    def _merged_into(self, object_type: str, ids: Sequence[str]) -> dict[str, str]:
        """Archived ids that a merge took: a batch read resolves a merged id to its primary, whose
        ``hs_merged_object_ids`` names it; a deleted id is simply not found."""
        merged: dict[str, str] = {}
        for chunk in _chunks(list(ids), 100):
            request = BatchReadInputSimplePublicObjectId(
                inputs=[SimplePublicObjectId(id=i) for i in chunk], properties=["hs_merged_object_ids"],
                properties_with_history=[],
            )
            answer = self.connection.call(
                f"read archived {object_type}", self.connection.batch.read, object_type, request
            )
            for result in answer.body.get("results") or ():
                merged.update({m: str(result["id"]) for m in merged_ids(result) if m in chunk})
        return merged

    # --- fields ---------------------------------------------------------------------------

    def ensure_fields(self, specs: Sequence[FieldSpec]) -> list[str]:
        """Create the ``canary_health`` group and any missing company property; returns the keys created."""
        conn = self.connection
        answer = conn.call("list company properties", conn.properties.get_all, "companies")
        existing = {p["name"]: p for p in answer.body.get("results") or [] if isinstance(p, Mapping)}
        for name, prop in existing.items():
            if name in self.shapes or name.startswith("canary_"):
                options = tuple(str(o.get("value")) for o in prop.get("options") or [])
                self.shapes[name] = PropertyShape(str(prop.get("type")), str(prop.get("fieldType")), options)
        missing = [s for s in specs if property_name(s.key) not in existing]
        if not missing:
            return []
        try:
            conn.call(
                "create the Canary property group",
                conn.groups.create,
                "companies",
                PropertyGroupCreate(name=GROUP_NAME, label=GROUP_LABEL, display_order=-1),
            )
        except VendorRefused as exc:
            if exc.status != 409:
                raise
        created: list[str] = []
        for spec in missing:
            shape = shape_of(spec)
            name = property_name(spec.key)
            create = PropertyCreate(
                name=name,
                label=spec.label,
                type=shape.type,
                field_type=shape.field_type,
                group_name=GROUP_NAME,
                description=spec.help,
                display_order=-1,
                form_field=False,
                options=[
                    OptionInput(label=o.capitalize(), value=o, display_order=i, hidden=False)
                    for i, o in enumerate(shape.options)
                ],
            )
            try:
                conn.call(f"create property {name}", conn.properties.create, "companies", create)
            except VendorRefused as exc:
                if exc.status != 409:
                    raise
                continue
            self.shapes[name] = shape
            created.append(spec.key)
        return created

    # --- push -----------------------------------------------------------------------------

    def push_fields(self, updates: Sequence[FieldUpdate]) -> PushResult:
        result = PushResult()
        calls_before = self.calls
        merged: dict[str, dict[str, str]] = {}
        for update in updates:
            values = {property_name(k): "" if v is None else str(v) for k, v in update.values.items()}
            merged.setdefault(str(update.external_id), {}).update(values)
        ready: Batch = []
        for external_id, values in merged.items():
            problem = None if external_id.isdigit() else f"{external_id!r} is not a HubSpot company id"
            for name, value in values.items():
                shape = self.shapes.get(name)
                found = shape.problem(value) if shape else None
                if problem is None and found:
                    problem = f"{name}: {found}"
            if problem:
                result.failed[external_id] = problem
            else:
                ready.append((external_id, values))
        chunks = list(_chunks(ready, self.push_batch_size))
        for index, chunk in enumerate(chunks):
            try:
                self._write(list(chunk), result)
            except FatalError as exc:
                if not result.succeeded:
                    raise
                for external_id, _ in [item for rest in chunks[index:] for item in rest]:
                    if external_id not in result.succeeded:
                        result.failed.setdefault(external_id, f"not sent: {exc}")
                log.warning("hubspot push stopped after %d records: %s", len(result.succeeded), exc)
                break
        result.calls = self.calls - calls_before
        return result

    def _write(self, chunk: Batch, result: PushResult) -> None:
        """Send one batch; on a 400 drop the inputs HubSpot names (or halve the batch) and send the rest."""
        queue: deque[Batch] = deque([chunk])
        while queue:
            batch = queue.popleft()
            request = BatchInputSimplePublicObjectBatchInput(
                inputs=[SimplePublicObjectBatchInput(id=i, properties=values) for i, values in batch]
            )
            try:
                answer = self.connection.call(
                    "update companies", self.connection.companies_batch.update, request
                )
            except VendorRefused as exc:
                message = error_message(exc.body, exc.status)
                if exc.status != 400:
                    for external_id, _ in batch:
                        result.failed[external_id] = f"HTTP {exc.status} {message}"
                    continue
                culprits = self._culprits(batch, exc.body)
                if culprits:
                    result.failed.update(culprits)
                    rest = [item for item in batch if item[0] not in culprits]
                    if rest:
                        queue.appendleft(rest)
                elif len(batch) == 1:
                    result.failed[batch[0][0]] = message
                else:
                    half = len(batch) // 2
                    queue.appendleft(batch[half:])
                    queue.appendleft(batch[:half])
                continue
            succeeded, failed = batch_outcome(answer.body, [i for i, _ in batch])
            result.succeeded.extend(succeeded)
            result.failed.update(failed)

    @staticmethod
    def _culprits(batch: Batch, body: Any) -> dict[str, str]:
        problems = invalid_values(body)
        culprits: dict[str, str] = {}
        for external_id, values in batch:
            for problem in problems:
                if problem.property in values and problem.value in (None, values[problem.property]):
                    culprits[external_id] = f"{problem.property}: {problem.message}"
                    break
        return culprits

    # --- e-mail consent --------------------------------------------------------------------

    def subscription_type(self, category: str) -> str:
        """The id of the subscription type an unsubscribe from ``category`` mail opts out of (see the module
        docstring); `FatalError` naming the type when the portal has no active one of that name."""
        if category in self.subscription_types:
            return self.subscription_types[category]
        name = SUBSCRIPTION_TYPE_NAMES.get(category)
        if name is None:
            raise ValueError(f"category must be one of {', '.join(SUBSCRIPTION_TYPE_NAMES)}, not {category!r}")
        conn = self.connection
        answer = conn.call("list subscription types", conn.subscription_types.get_page)
        for row in answer.body.get("subscriptionDefinitions") or ():
            if isinstance(row, Mapping) and row.get("name") == name and row.get("isActive") is not False:
                self.subscription_types[category] = str(row["id"])
                return self.subscription_types[category]
        raise FatalError(f"hubspot: the portal has no active subscription type named {name!r} to record "
                         f"{category.replace('_', '-')} unsubscribes in")

    def write_email_opt_outs(self, addresses: Sequence[str], category: str) -> OptOutResult:
        """One v3 unsubscribe per address from the category's subscription type (module docstring)."""
        result = OptOutResult()
        before = self.calls
        try:
            subscription_id = self.subscription_type(category)
            for address in sorted({a.strip().lower() for a in addresses if a and a.strip()}):
                request = PublicUpdateSubscriptionStatusRequest(email_address=address, subscription_id=subscription_id)
                try:
                    self.connection.call("unsubscribe an address", self.connection.consent.unsubscribe, request)
                except VendorRefused as exc:
                    message = error_message(exc.body, exc.status)
                    if exc.status == 400 and ALREADY_UNSUBSCRIBED in message:
                        result.written.append(address)
                    else:
                        result.failed[address] = message
                    continue
                result.written.append(address)
        finally:
            result.calls = self.calls - before
        return result

    # --- tasks ----------------------------------------------------------------------------

    def ensure_task_fields(self) -> bool:
        """The ``canary_task_key`` task property (in the ``canary_health`` group); True when created now."""
        conn = self.connection
        answer = conn.call("list task properties", conn.properties.get_all, "tasks")
        names = {p.get("name") for p in answer.body.get("results") or [] if isinstance(p, Mapping)}
        if TASK_KEY_PROPERTY in names:
            return False
        try:
            conn.call("create the Canary task property group", conn.groups.create, "tasks",
                      PropertyGroupCreate(name=GROUP_NAME, label=GROUP_LABEL, display_order=-1))
        except VendorRefused as exc:
            if exc.status != 409:
                raise
        create = PropertyCreate(name=TASK_KEY_PROPERTY, label="Canary task key", type="string", field_type="text",
                                group_name=GROUP_NAME, description="Written by Canary: the key of the Canary task "
                                "this task is.", display_order=-1, form_field=False)
        try:
            conn.call(f"create property {TASK_KEY_PROPERTY}", conn.properties.create, "tasks", create)
        except VendorRefused as exc:
            if exc.status != 409:
                raise
            return False
        return True

    def push_tasks(self, creates: Sequence[TaskWrite], updates: Sequence[TaskWrite]) -> TaskPushResult:
        """Creates, then updates, 100 a call (see the module docstring)."""
        result = TaskPushResult()
        before = self.calls
        try:
            for chunk in _chunks(list(creates), self.push_batch_size):
                self._create_tasks(list(chunk), result)
            for chunk in _chunks(list(updates), self.push_batch_size):
                self._update_tasks(list(chunk), result)
        finally:
            result.calls = self.calls - before
        return result

    def _create_tasks(self, chunk: list[TaskWrite], result: TaskPushResult) -> None:
        queue: deque[list[TaskWrite]] = deque([chunk])
        while queue:
            batch = queue.popleft()
            try:
                body = self._send_creates(batch, result)
            except VendorRefused as exc:
                if exc.status != 400:
                    result.failed.update({w.key: f"HTTP {exc.status} {error_message(exc.body, exc.status)}"
                                          for w in batch})
                    continue
                problems = {w.key: f"{p.property}: {p.message}" for w in batch for p in invalid_values(exc.body)
                            if p.value is not None and task_create_properties(w, 0).get(p.property) == p.value}
                if problems:
                    result.failed.update(problems)
                    rest = [w for w in batch if w.key not in problems]
                    if rest:
                        queue.appendleft(rest)
                elif len(batch) == 1:
                    result.failed[batch[0].key] = error_message(exc.body, exc.status)
                else:
                    half = len(batch) // 2
                    queue.appendleft(batch[half:])
                    queue.appendleft(batch[:half])
                continue
            if body is None:
                continue
            by_key = {str((r.get("properties") or {}).get(TASK_KEY_PROPERTY)): str(r["id"])
                      for r in body.get("results") or () if isinstance(r, Mapping) and r.get("id")}
            for write in batch:
                if write.key in by_key:
                    result.created[write.key] = by_key[write.key]
                elif write.key not in result.created:
                    result.failed[write.key] = "HubSpot reported no result for this task"

    def _send_creates(self, batch: list[TaskWrite], result: TaskPushResult) -> Any:
        """One batch create under `RetryPolicy.run_unsure`; the answer's body, or None when a lost answer's
        tasks were all found already."""
        pending = list(batch)

        def attempt() -> Any:
            result.create_calls += 1
            now = self.wall_clock_ms()
            request = BatchInputSimplePublicObjectBatchInputForCreate(inputs=[
                SimplePublicObjectBatchInputForCreate(
                    properties=task_create_properties(w, now),
                    associations=[PublicAssociationsForObject(
                        to=PublicObjectId(id=w.account_external_id),
                        types=[AssociationSpec(association_category="HUBSPOT_DEFINED",
                                               association_type_id=TASK_TO_COMPANY_TYPE_ID)])])
                for w in pending])
            return self.connection.once("create tasks", self.connection.batch.create, "tasks", request).body

        def recover() -> bool:
            before = self.calls
            found = self.find_tasks(pending)
            result.lookups += self.calls - before
            result.created.update(found)
            pending[:] = [w for w in pending if w.key not in found]
            return bool(pending)

        return self.policy.run_unsure(attempt, recover, what="hubspot create tasks")

    def _update_tasks(self, chunk: list[TaskWrite], result: TaskPushResult) -> None:
        request = ObjectsBatchInput(inputs=[ObjectsBatchItem(id=w.external_id, properties=task_update_properties(w))
                                            for w in chunk])
        result.update_calls += 1
        try:
            answer = self.connection.call("update tasks", self.connection.batch.update, "tasks", request)
        except VendorRefused as exc:
            result.failed.update({w.key: f"HTTP {exc.status} {error_message(exc.body, exc.status)}" for w in chunk})
            return
        by_id = {str(w.external_id): w for w in chunk}
        succeeded, failed = batch_outcome(answer.body, list(by_id))
        result.updated.extend(by_id[i].key for i in succeeded)
        for task_id, message in failed.items():
            if message.startswith("OBJECT_NOT_FOUND"):
                result.gone.append(by_id[task_id].key)  # archived in HubSpot since the last pull
            else:
                result.failed[by_id[task_id].key] = message

    def find_tasks(self, writes: Sequence[TaskWrite]) -> dict[str, str]:
        """key -> task id of the tasks carrying these keys, read consistently: the companies' task
        associations (1,000 companies a call), then those tasks' keys (100 a call)."""
        wanted = {w.key for w in writes}
        companies = sorted({w.account_external_id for w in writes})
        task_ids: set[str] = set()
        for chunk in _chunks(companies, self.association_batch_size):
            request = BatchInputPublicFetchAssociationsBatchRequest(
                inputs=[PublicFetchAssociationsBatchRequest(id=i) for i in chunk])
            answer = self.connection.call("read company tasks", self.connection.associations.get_page,
                                          "companies", "tasks", request)
            for rows in batch_associations(answer.body).values():
                task_ids.update(str(r.get("toObjectId")) for r in rows if r.get("toObjectId") is not None)
        found: dict[str, str] = {}
        for chunk in _chunks(sorted(task_ids, key=int), 100):
            read = BatchReadInputSimplePublicObjectId(inputs=[SimplePublicObjectId(id=i) for i in chunk],
                                                      properties=[TASK_KEY_PROPERTY], properties_with_history=[])
            answer = self.connection.call("read tasks", self.connection.batch.read, "tasks", read)
            for row in answer.body.get("results") or ():
                key = (row.get("properties") or {}).get(TASK_KEY_PROPERTY)
                if key in wanted:
                    found.setdefault(str(key), str(row["id"]))
        return found
