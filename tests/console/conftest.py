"""Two workspaces with a team each (admin, manager, two CSMs, a viewer), accounts with 180 days of
history (one band change with its reasons), renewals, alerts, tasks, links and product users.

Everything is dated from `tests.shared.WORLD_AS_OF`; passwords hash with cheap argon2id parameters.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient

from console.auth import passwords
from console.people import add_user
from extensions import canary_store
from store.models import (
    Account,
    Alert,
    Connection,
    Contact,
    HealthSnapshot,
    ProductUser,
    SourceLink,
    Subscription,
    Task,
    UsageDaily,
)
from store.tenants import create_tenant
from tests.dbtemplate import Templates
from tests.shared import WORLD_AS_OF

PASSWORD = "correct horse battery staple"
CHEAP_ARGON2 = {"time_cost": 1, "memory_kib": 1024, "parallelism": 1}
HISTORY = 180


@dataclass
class Workspace:
    tenant_id: int
    slug: str
    users: dict[str, int] = field(default_factory=dict)
    """role label → user id: admin, manager, csm, csm2, viewer."""
    emails: dict[str, str] = field(default_factory=dict)
    accounts: dict[str, int] = field(default_factory=dict)
    tasks: list[int] = field(default_factory=list)
    product_users: list[int] = field(default_factory=list)
    external_ids: dict[str, str] = field(default_factory=dict)


def _history(account_id: int, first_band_day: int, scores: tuple[float, float], bands: tuple[str, str]
             ) -> list[HealthSnapshot]:
    """180 daily snapshots; the band changes once, `first_band_day` days before the end, with a reason."""
    out = []
    for back in range(HISTORY - 1, -1, -1):
        day = WORLD_AS_OF - dt.timedelta(days=back)
        late = back < first_band_day
        score, band = (scores[1], bands[1]) if late else (scores[0], bands[0])
        reasons = [{"text": "Weekly active users fell from 12 to 3", "measure": "weekly_active_users",
                    "impact": 20.0, "kind": "change"}] if late else []
        out.append(HealthSnapshot(account_id=account_id, day=day, score=score - back * 0.01, band=band,
                                  trend=-0.5 if late and scores[1] < scores[0] else 0.05, reasons=reasons,
                                  parts={"parts": {"weekly_active_users": {
                                      "signal": "weekly_active_users", "dimension": "engagement",
                                      "label": "Weekly active users", "value": 3.0 if late else 12.0,
                                      "status": "poor" if late else "good", "points": 20.0, "weight": 1.0}},
                                      "benchmarks": {"weekly_active_users": {"segment_percentile": 12.0,
                                                                             "base_percentile": 15.0}}}))
    return out


def seed_workspace(app: Any, slug: str, prefix: str) -> Workspace:
    store = canary_store(app)
    hasher = passwords(app)
    with store.session() as s:
        tenant, _ = create_tenant(s, slug, slug.title())
    ws = Workspace(tenant.id, slug)
    with store.session(tenant.id) as s:
        admin = add_user(s, f"admin@{slug}.example", "admin", name=f"{prefix} Admin", password=PASSWORD, hasher=hasher)
        manager = add_user(s, f"manager@{slug}.example", "manager", name=f"{prefix} Manager", password=PASSWORD,
                           hasher=hasher)
        csm = add_user(s, f"csm@{slug}.example", "csm", name=f"{prefix} Csm", manager=manager, password=PASSWORD,
                       hasher=hasher)
        csm2 = add_user(s, f"csm2@{slug}.example", "csm", name=f"{prefix} Othercsm", password=PASSWORD,
                        hasher=hasher)
        viewer = add_user(s, f"viewer@{slug}.example", "viewer", name=f"{prefix} Viewer", password=PASSWORD,
                          hasher=hasher)
        for label, user in (("admin", admin), ("manager", manager), ("csm", csm), ("csm2", csm2), ("viewer", viewer)):
            ws.users[label], ws.emails[label] = user.id, user.email
        s.add(Connection(system="hubspot", account_ref=f"77{tenant.id}", credentials_encrypted=b"x"))
        specs = [  # name, owner, (scores), (bands), renewal in days, arr
            (f"{prefix} Poor Renewing", csm.email, (62.0, 30.0), ("average", "poor"), 45, 50000),
            (f"{prefix} Poor Later", csm.email, (35.0, 32.0), ("poor", "poor"), 200, 20000),
            (f"{prefix} Good Steady", csm.email, (80.0, 81.0), ("good", "good"), 60, 90000),
            (f"{prefix} Other Poor", csm2.email, (55.0, 25.0), ("average", "poor"), 30, 10000),
            (f"{prefix} Unowned", None, (70.0, 72.0), ("good", "good"), None, None),
        ]
        for i, (name, owner, scores, bands, renewal, arr) in enumerate(specs):
            account = Account(name=name, domain=f"{prefix.lower()}{i}.example", owner=owner, segment="mid-market",
                              tier="gold" if i % 2 else "silver", lifecycle_stage="adopting")
            s.add(account)
            s.flush()
            ws.accounts[name] = account.id
            s.add_all(_history(account.id, 20, scores, bands))
            external = f"{prefix.lower()}-hs-{i}"
            ws.external_ids[name] = external
            s.add(SourceLink(account_id=account.id, system="hubspot", external_id=external, method="domain",
                             reason=f"HubSpot company {external} has the domain {account.domain}", name=name))
            if renewal is not None:
                s.add(Subscription(account_id=account.id, system="hubspot", external_id=f"{external}-deal",
                                   name="Annual plan", arr=Decimal(arr), status="active",
                                   renewal_date=WORLD_AS_OF + dt.timedelta(days=renewal)))
            alert = Alert(account_id=account.id, rule="usage_drop", dedupe_key=f"usage_drop:{account.id}",
                          title=f"Usage dropped at {name}", severity="high",
                          raised_at=dt.datetime.combine(WORLD_AS_OF, dt.time(), dt.UTC))
            s.add(alert)
            s.flush()
            task = Task(account_id=account.id, alert_id=alert.id, title=f"Call {name}", owner=owner,
                        due_date=WORLD_AS_OF + dt.timedelta(days=3))
            s.add(task)
            s.add(Contact(account_id=account.id, email=f"champion{i}@{prefix.lower()}{i}.example",
                          name=f"{prefix} Champion {i}", role="champion"))
            user = ProductUser(user_key=f"{prefix.lower()}-u{i}", account_id=account.id,
                               email=f"champion{i}@{prefix.lower()}{i}.example", name=f"{prefix} Champion {i}",
                               last_seen=dt.datetime.combine(WORLD_AS_OF, dt.time(), dt.UTC))
            s.add(user)
            s.flush()
            ws.tasks.append(task.id)
            ws.product_users.append(user.id)
            s.add(UsageDaily(account_id=account.id, user_key=user.user_key, event="Report Created",
                             day=WORLD_AS_OF - dt.timedelta(days=2), count=4))
        from console.people import assign_csms
        from store import portfolio_keys

        assign_csms(s)
        # Snapshots and subscriptions were written here, not by a score run or a sync: refresh as they do.
        portfolio_keys.refresh(s)
    return ws


@pytest.fixture
def console_app(app_factory: Any) -> Any:
    return app_factory(PASSWORD_HASH=CHEAP_ARGON2, COOKIE_SECURE=False)


def seeded_workspaces(app: Any, templates: Templates, *specs: tuple[str, str]) -> tuple[Workspace, ...]:
    """``seed_workspace(app, slug, prefix)`` for each (slug, prefix), in order, on the app's database, which
    must hold no rows yet: the seeded database is built once per session (on an app with the same secret key
    and password hashing) and copied for each test, with its own copy of the `Workspace` records."""
    store = canary_store(app)
    settings = {"SECRET_KEY": app.config["SECRET_KEY"], "PASSWORD_HASH": app.config.get("PASSWORD_HASH")}
    key = hashlib.sha256(json.dumps([settings, specs], sort_keys=True).encode()).hexdigest()[:12]

    def build(url: str) -> tuple[Workspace, ...]:
        from app import create_app

        builder = create_app({"TESTING": True, "DATABASE_URL": url, **settings})
        try:
            return tuple(seed_workspace(builder, slug, prefix) for slug, prefix in specs)
        finally:
            canary_store(builder).dispose()

    store.engine.dispose()  # nothing of the app holds the database while it is replaced
    return templates.seeded(f"console_{key}", store.url, build)


@pytest.fixture
def two_workspaces(console_app: Any, db_templates: Templates) -> tuple[Workspace, Workspace]:
    alpha, bravo = seeded_workspaces(console_app, db_templates, ("alpha", "Alpha"), ("bravo", "Bravo"))
    return alpha, bravo


def csrf_of(client: FlaskClient) -> str:
    with client.session_transaction() as session:
        token = session.get("csrf")
    if not token:
        client.get("/sign-in")
        with client.session_transaction() as session:
            token = session["csrf"]
    return str(token)


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD, workspace: str = "") -> Any:
    return client.post("/sign-in", data={"email": email, "password": password, "workspace": workspace,
                                         "csrf_token": csrf_of(client)})


def signed_in_client(app: Any, email: str) -> FlaskClient:
    client = app.test_client()
    answer = sign_in(client, email)
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return client
