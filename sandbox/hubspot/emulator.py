"""`HubSpotEmulator`: a local HubSpot CRM portal that the real ``hubspot-api-client`` talks to.

Point the SDK at it with the client's ``host`` setting (it is copied onto every API
package's ``Configuration``)::

    emu = HubSpotEmulator()
    emu.seed(world)
    with LoopbackServer(emu.wsgi_app) as server:
        client = HubSpot(access_token=emu.access_token, host=server.url)
        client.crm.companies.basic_api.get_page(limit=100)

What it serves (see `sandbox.hubspot.api`): CRM v3 objects (companies, contacts, deals,
tickets, tasks) list/get/create/update/archive, search with the 10,000-result cap and a
per-second limit, batch read/update/create (at most 100 inputs), v4 associations (list,
batch read, default create; company parent/child types 13/14), properties and property
groups. Limits: ``requests_per_10s`` (rolling window, default 100 like the recorded
``X-HubSpot-RateLimit-Max``), ``daily_api_limit`` (default 250,000),
``search_requests_per_second`` (default 5).

Batch semantics chosen from the vendor's docs and recorded traffic:
batch read answers 207 with an ``OBJECT_NOT_FOUND`` error listing missing ids; batch update
validates every input first and fails the *whole* batch with a 400 ``VALIDATION_ERROR``
("Property values were not valid: …") on any bad property or value, while unknown ids give
a 207 with the others applied; duplicate ids are a 400.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

from sandbox.core import CallStats
from sandbox.hubspot.api import build_app, error_response
from sandbox.hubspot.errors import HubSpotError
from sandbox.hubspot.seed import seed_world
from sandbox.hubspot.store import HubSpotStore, iso_ms
from sandbox.world import World

if TYPE_CHECKING:
    from flask import Flask

DEFAULT_TOKEN = "sandbox-hubspot-private-app-token"  # noqa: S105 - a fixed sandbox credential


def _utc_now() -> datetime:
    return datetime.now(UTC)


class HubSpotEmulator:
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
    ) -> None:
        self.stats = stats or CallStats()
        self.clock: Callable[[], datetime] = clock or _utc_now
        self.access_token = access_token
        self.portal_id = portal_id
        self.requests_per_10s = requests_per_10s
        self.daily_api_limit = daily_api_limit
        self.search_requests_per_second = search_requests_per_second
        self.monotonic = monotonic
        self.store = HubSpotStore(self.clock)
        self._app: Flask | None = None

    @property
    def credentials(self) -> dict[str, str]:
        return {"access_token": self.access_token, "portal_id": str(self.portal_id)}

    def seed(self, world: World) -> None:
        seed_world(self.store, world)

    @property
    def wsgi_app(self) -> Flask:
        if self._app is None:
            self._app = build_app(self)
        return self._app

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
            return error_response(err, {"Retry-After": str(retry_after)})
        if kind == "500":
            return error_response(HubSpotError(500, "INTERNAL_ERROR", "internal error"))
        if kind == "503":
            err = HubSpotError(503, "SERVICE_UNAVAILABLE", "Service Unavailable: please try again later.")
            return error_response(err, {"Retry-After": str(retry_after)})
        raise ValueError(f"unknown fault kind {kind!r}; expected '429', '500' or '503'")

    # --- in-process helpers for tests and the sync suite -------------------------------------

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

    def associations(self, from_type: str, from_id: str, to_type: str) -> list[str]:
        return [tid for tid, _ in self.store.associations_of(from_type, str(from_id), to_type)]
