"""The collector app on each database (SQLite and a throwaway PostgreSQL) and request helpers."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest

import jobs
from app import create_app
from extensions import canary_store
from store.models import Account, SourceLink
from store.tenants import create_tenant
from tests.conftest import TEST_SECRET
from tests.shared import WORLD_NOW, pinned_clock

WRITE_KEY = "wk_test_0123456789abcdef"
OTHER_KEY = "wk_other_key_000000"


@pytest.fixture
def collector_app(migrated_url: str) -> Any:
    app = create_app({"TESTING": True, "SECRET_KEY": TEST_SECRET, "DATABASE_URL": migrated_url})
    store = canary_store(app)
    with store.session() as s:
        tenant, _ = create_tenant(s, "acme", "Acme CS", write_key=WRITE_KEY)
        other, _ = create_tenant(s, "other", "Other CS", write_key=OTHER_KEY)
        app.config["TEST_TENANT"] = tenant.id
        app.config["OTHER_TENANT"] = other.id
    with store.session(tenant.id) as s:
        globex = Account(name="Globex Corporation", domain="globex.com")
        s.add(globex)
        s.flush()
        s.add(SourceLink(account_id=globex.id, system="salesforce", external_id="0015g00000Globex", method="new",
                         reason="synced", name="Globex Corporation", domain="https://www.globex.com/"))
    yield app
    store.dispose()


def auth(key: str = WRITE_KEY) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def post(client: Any, path: str, body: Any, key: str = WRITE_KEY, *, drain: bool = True) -> Any:
    """POST ``body``; then (``drain``) wait for the jobs it queued — the collector's fold — so what follows reads
    the usage as folded (`collector.inbox`: the answer comes before the fold)."""
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    answer = client.post(path, data=data, headers={**auth(key), "Content-Type": "application/json"})
    if drain:
        jobs.queue_of(client.application).drain()
    return answer


@pytest.fixture(autouse=True)
def _pinned_clock() -> Iterator[None]:
    """The collector stamps what it receives with the clock: every collector test runs on `WORLD_NOW`."""
    with pinned_clock():
        yield


def ts(days_ago: int = 1, hour: int = 10) -> str:
    midnight = WORLD_NOW.replace(hour=hour)
    day = midnight - dt.timedelta(days=days_ago)
    return day.isoformat().replace("+00:00", "Z")


def group(gid: str, user: str, **traits: Any) -> dict[str, Any]:
    return {"type": "group", "messageId": f"g-{gid}-{user}", "userId": user, "groupId": gid,
            "traits": traits, "timestamp": ts(2)}


def track(mid: str, user: str, event: str, gid: str | None = None, **props: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {"type": "track", "messageId": mid, "userId": user, "event": event,
                           "properties": props, "timestamp": ts(1)}
    if gid:
        msg["context"] = {"groupId": gid}
    return msg
