"""A two-step campaign to a segment of the embedded sandbox's world (the demo's product users, built by the
collector from the sandbox's usage), against a real SMTP server on loopback: exactly one e-mail per person per step,
each with both unsubscribe headers and a plain-text part, and a one-click unsubscribe stops that person's second."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select

from app import create_app
from campaigns.audience import people
from campaigns.manage import save_campaign_settings
from cli.demo import run_demo
from extensions import canary_store
from mail.outbox import deliver
from sandbox.server import Sandbox
from store.models import PortfolioListMember
from tests.campaigns.conftest import MAIL, STEP_ONE, STEP_TWO, active_campaign, per_address, smtp
from tests.console.conftest import CHEAP_ARGON2
from tests.dbtemplate import migrate_new
from tests.shared import WORLD_AS_OF, WORLD_NOW, pinned_clock
from tests.smtp_server import smtp_server

COMPANIES = 12
SEED = 17
LIMITS = {"hubspot": {"requests_per_10s": 100_000}, "zendesk": {"incremental_requests_per_minute": None}}
T0 = WORLD_NOW + dt.timedelta(hours=4)
DAY = dt.timedelta(days=1)


def _a_list_with_members(session: Any) -> int:
    """A portfolio list the demo's scoring filled (the shipped lists), holding at least one account."""
    found = session.scalars(select(PortfolioListMember.list_id)
                            .group_by(PortfolioListMember.list_id)
                            .order_by(func.count().desc(), PortfolioListMember.list_id)).first()
    assert found is not None, "the demo's lists hold accounts"
    return int(found)


def test_a_two_step_campaign_to_a_sandbox_segment_sends_one_e_mail_per_person_per_step(tmp_path: Path) -> None:
    from campaigns.runner import run_due

    url = f"sqlite:///{tmp_path / 'world.db'}"
    migrate_new(url)
    app = create_app({"TESTING": True, "SECRET_KEY": "campaign-world-secret-key-0123456789", "DATABASE_URL": url,
                      "PASSWORD_HASH": CHEAP_ARGON2,
                      "PUBLIC_URL": "https://canary.alpha.example"})
    with pinned_clock(), Sandbox(accounts=COMPANIES, seed=SEED, as_of=WORLD_AS_OF, **LIMITS) as box:
        result = run_demo(app, accounts=COMPANIES, seed=SEED, sandbox=box)
    store, t = canary_store(app), result.tenant_id
    with store.session(t) as s:
        audience = {"active_within_days": 7, "lists": [_a_list_with_members(s)]}
        segment = people(s, audience, T0)
        save_campaign_settings(s, weekly_cap=5, quiet_start=22 * 60, quiet_end=6 * 60, time_zone="UTC")
    addresses = sorted(p.email for p in segment)
    assert len(addresses) >= 3 and len(addresses) == len(set(addresses))  # a real segment, one row per person
    campaign_id = active_campaign(store, t, [STEP_ONE, {"kind": "wait", "days": 2}, STEP_TWO], audience=audience)
    assert campaign_id > 0

    with smtp_server() as (inbox, port):
        first = run_due(store, t, T0, mail=MAIL, queue_message=None)
        assert (first.enrolled, first.sent) == (len(addresses), len(addresses))
        assert run_due(store, t, T0, mail=MAIL, queue_message=None).sent == 0  # the same moment: nothing twice
        assert deliver(store, t, smtp(port), clock=lambda: T0).sent == len(addresses)
        assert per_address(inbox) == dict.fromkeys(addresses, 1)
        for message in inbox.messages():
            assert message["List-Unsubscribe"].startswith("<https://canary.alpha.example/u/")
            assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            assert {p.get_content_type() for p in message.iter_parts()} == {"text/plain", "text/html"}

        leaver = addresses[0]
        link = next(m for m in inbox.messages() if m["To"] == leaver)["List-Unsubscribe"].split(">")[0].lstrip("<")
        posted = app.test_client().post(urlsplit(link).path, data="List-Unsubscribe=One-Click",
                                        content_type="application/x-www-form-urlencoded")
        assert posted.status_code == 200

        second = run_due(store, t, T0 + 2 * DAY, mail=MAIL, queue_message=None)
        assert (second.sent, second.unsubscribed) == (len(addresses) - 1, 1)
        assert deliver(store, t, smtp(port), clock=lambda: T0 + 2 * DAY).sent == len(addresses) - 1
        assert per_address(inbox) == {a: 1 if a == leaver else 2 for a in addresses}
