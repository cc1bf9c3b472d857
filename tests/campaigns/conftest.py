"""A sandbox segment for campaign tests: two accounts, product users with e-mails (one address at both
accounts), contacts lending roles and titles, usage, and an account list; campaigns made through
`campaigns.manage` and run by `campaigns.runner.run_due` at pinned moments."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from campaigns.manage import create_campaign, set_status
from campaigns.runner import MailContext, RunSummary, run_due
from mail.smtp import SmtpSettings
from store.models import (
    Account,
    Contact,
    PortfolioList,
    PortfolioListMember,
    ProductUser,
    UsageDaily,
)
from tests.conftest import TEST_SECRET
from tests.shared import WORLD_NOW, pinned_clock

PUBLIC_URL = "https://canary.alpha.example"
SENDER = "success@alpha.example"
WRITE_KEY = "wk_campaigns_0123456789abcdef"
MAIL = MailContext(SENDER, PUBLIC_URL, TEST_SECRET)
STEP_ONE = {"kind": "send_email", "subject": "Welcome, {{ user.name }}",
            "html": '<p>Hi {{ user.name }} of {{ account.name }}</p><p><a href="https://docs.example/start?a=1&amp;b=2">'
                    'Start here</a></p><p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'}
STEP_TWO = {"kind": "send_email", "subject": "Next steps for {{ account.name }}", "html": "<p>Try reports.</p>"}


@pytest.fixture(autouse=True)
def _pinned() -> Iterator[None]:
    with pinned_clock():
        yield


@dataclass
class Segment:
    tenant_id: int
    acme: int
    globex: int
    starters: int
    """An account list holding Globex."""


def seed_segment(store: Any, tenant_id: int) -> Segment:
    """ann@acme.test (Acme, active, champion, VP, used report_created, Amsterdam), the same address Ann@Acme.test
    under another user key at Globex, bob@acme.test (Acme, inactive 40 days, joined long ago), cy@globex.test
    (Globex, starter tier, joined 5 days ago, New York), and an anonymous user without an e-mail."""
    now = WORLD_NOW
    with store.session(tenant_id) as s:
        acme = Account(name="Acme", tier="enterprise")
        globex = Account(name="Globex", tier="starter")
        s.add_all([acme, globex])
        s.flush()
        s.add_all([
            ProductUser(user_key="u-ann", account_id=acme.id, email="ann@acme.test", name="Ann",
                        first_seen=now - dt.timedelta(days=60), last_seen=now - dt.timedelta(days=2),
                        time_zone="Europe/Amsterdam"),
            ProductUser(user_key="u-ann-2", account_id=globex.id, email="Ann@Acme.test", name="Ann",
                        first_seen=now - dt.timedelta(days=50), last_seen=now - dt.timedelta(days=3)),
            ProductUser(user_key="u-bob", account_id=acme.id, email="bob@acme.test", name="Bob",
                        first_seen=now - dt.timedelta(days=100), last_seen=now - dt.timedelta(days=40)),
            ProductUser(user_key="u-cy", account_id=globex.id, email="cy@globex.test", name="Cy",
                        first_seen=now - dt.timedelta(days=5), last_seen=now - dt.timedelta(days=1),
                        time_zone="America/New_York"),
            ProductUser(user_key="anon:x1", account_id=globex.id, email=None, first_seen=now,
                        last_seen=now),
            Contact(account_id=acme.id, email="ann@acme.test", name="Ann Archer", title="VP Customer Success",
                    role="champion"),
            Contact(account_id=acme.id, email="bob@acme.test", name="Bob Baker", title="Engineer", role="user"),
            UsageDaily(account_id=acme.id, user_key="u-ann", event="report_created", day=now.date()
                       - dt.timedelta(days=3), count=2),
            UsageDaily(account_id=globex.id, user_key="u-cy", event="export", day=now.date() - dt.timedelta(days=1),
                       count=1),
        ])
        starters = PortfolioList(name="Starters", description="")
        s.add(starters)
        s.flush()
        s.add(PortfolioListMember(list_id=starters.id, account_id=globex.id, entered_on=now.date(), reasons=[],
                                  version=1))
        return Segment(tenant_id, acme.id, globex.id, starters.id)


def active_campaign(store: Any, tenant_id: int, steps: list[dict[str, Any]], audience: dict[str, Any] | None = None,
                    **kwargs: Any) -> int:
    with store.session(tenant_id) as s:
        campaign = create_campaign(s, name="Onboarding", audience=audience or {}, steps=steps, **kwargs)
        set_status(campaign, "active", WORLD_NOW)
        return int(campaign.id)


def run(store: Any, tenant_id: int, at: dt.datetime = WORLD_NOW) -> RunSummary:
    return run_due(store, tenant_id, at, mail=MAIL, queue_message=None)


def smtp(port: int) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, starttls=False, from_address=SENDER, timeout=10)


def per_address(inbox: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, rcpts, _ in inbox.accepted:
        for r in rcpts:
            counts[r] = counts.get(r, 0) + 1
    return counts


@pytest.fixture
def world(app_factory: Any) -> Iterator[tuple[Any, Any, Segment]]:
    """The app (unsubscribe, tracking and collector routes) on a migrated SQLite file, one workspace seeded."""
    from extensions import canary_store
    from store.tenants import create_tenant

    app = app_factory(PUBLIC_URL=PUBLIC_URL)
    store = canary_store(app)
    with store.session() as s:
        tenant, _ = create_tenant(s, "alpha", "Alpha", write_key=WRITE_KEY)
    yield app, store, seed_segment(store, tenant.id)
    store.dispose()
