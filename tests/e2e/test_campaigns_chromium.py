"""Real Chromium on the campaign console (issue 17 D): the audience editor's count follows what is typed (the
page's own script, no CDN), the draft editor adds a step and saves, and an active campaign's dashboard draws a
non-empty cumulative chart — at 1280 and 390 px, screenshots in ``tests/e2e/artifacts/campaign-*.png``.

The workspace is the console tests' seeded one plus the campaign tests' segment (`tests.campaigns.conftest`);
one campaign has run at `WORLD_NOW` and its two e-mails went through a real SMTP server, one person
unsubscribed with the one-click POST.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import select

from campaigns.runner import run_due
from extensions import canary_store
from mail.outbox import deliver
from store.models import Campaign, OutboxMessage
from tests.campaigns.conftest import MAIL, STEP_ONE, STEP_TWO, active_campaign, seed_segment, smtp
from tests.console.conftest import PASSWORD
from tests.e2e.served import served_workspace
from tests.e2e.test_console_chromium import ARTIFACTS, browser
from tests.shared import WORLD_NOW, pinned_clock
from tests.smtp_server import smtp_server

pytestmark = pytest.mark.e2e
__all__ = ["browser"]

WIDTHS = (1280, 390)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with pinned_clock(), served_workspace(tmp_path_factory.mktemp("campaigns"), "campaigns") as served:
        store = canary_store(served["app"])
        tenant_id = served["ws"].tenant_id
        seed_segment(store, tenant_id)
        campaign_id = active_campaign(store, tenant_id, [STEP_ONE, {"kind": "wait", "days": 1}, STEP_TWO],
                                      audience={"tiers": ["enterprise"]})
        with smtp_server() as (inbox, port):
            run_due(store, tenant_id, WORLD_NOW, mail=MAIL, queue_message=None)
            assert deliver(store, tenant_id, smtp(port)).sent == 2 and inbox.count == 2
        with store.session(tenant_id) as s:
            token = s.scalars(select(OutboxMessage.unsubscribe_token).where(
                OutboxMessage.to_address == "bob@acme.test")).one()
        assert requests.post(f"{served['url']}/u/{token}", data={"List-Unsubscribe": "One-Click"},
                             timeout=10).status_code == 200
        # The next day: the wait is over and step 3 goes to Ann only (Bob unsubscribed): a second point per line.
        assert run_due(store, tenant_id, WORLD_NOW + dt.timedelta(days=1, hours=1), mail=MAIL,
                       queue_message=None).sent == 1
        yield {**served, "campaign_id": campaign_id}


def _shoot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(100)
        page.screenshot(path=str(ARTIFACTS / f"campaign-{name}-{width}.png"), full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} scrolls sideways by {overflow} px at {width} px"
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})


def test_audience_editor_draft_editor_and_dashboard_in_chromium(browser: Any, workspace: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    ws, app = workspace["ws"], workspace["app"]
    with pinned_clock(WORLD_NOW + dt.timedelta(days=1, hours=2)):  # the day after the campaign started
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        try:
            page = context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))  # the page's script never throws
            page.goto(f"{workspace['url']}/audiences/new")
            page.fill('input[name="email"]', ws.emails["manager"])
            page.fill('input[name="password"]', PASSWORD)
            page.click('button[type="submit"]')
            page.wait_for_selector('[data-testid="audience-form"]')
            page.fill('[data-testid="tiers"]', "enterprise")  # the live count follows (server-side count)
            expect(page.locator("#audience-count")).to_have_text("2")
            page.fill('[data-testid="used"]', "report_created")
            expect(page.locator("#audience-count")).to_have_text("1")
            assert page.locator('[data-testid="audience-people"] tbody tr').count() == 1
            assert "ann@acme.test" in page.locator('[data-testid="audience-people"]').inner_text()
            page.fill('[data-testid="active-within"]', "soon")
            page.wait_for_selector('[data-testid="audience-live-error"]:not([hidden])')
            assert "must be a whole number" in page.locator('[data-testid="audience-live-error"]').inner_text()
            page.fill('[data-testid="active-within"]', "")
            page.fill('[data-testid="audience-name"]', "Report makers")
            page.click('[data-testid="save-audience"]')
            page.wait_for_selector('[data-testid="message"]')
            assert page.locator('[data-testid="message"]').inner_text() == "Audience saved"
            _shoot(page, "audience")

            page.goto(f"{workspace['url']}/campaigns")
            page.click('[data-testid="new-campaign"]')
            page.wait_for_selector('[data-testid="campaign-form"]')
            page.fill('[data-testid="campaign-name-input"]', "Report makers welcome")
            page.select_option('[data-testid="campaign-audience-choice"]', label="Report makers")
            page.click('[data-testid="add-wait"]')
            page.wait_for_selector('[data-testid="step-2"][data-kind="wait"]')
            assert page.locator('[data-testid="note"]').inner_text() == "Wait added as step 2 (not saved yet)"
            assert page.locator('[data-testid="campaign-name-input"]').input_value() == "Report makers welcome"
            _shoot(page, "editor")
            page.click('[data-testid="save-campaign"]')
            page.wait_for_selector('[data-testid="message"]')
            assert page.locator('[data-testid="message"]').inner_text().startswith("Draft saved (")
            assert page.locator('[data-testid="campaign-audience"]').inner_text() == \
                "used report_created in the last 30 days · plan tier: enterprise"
            with canary_store(app).session(ws.tenant_id) as s:
                made = s.scalars(select(Campaign).where(Campaign.name == "Report makers welcome")).one()
                assert [st.kind for st in made.steps] == ["send_email", "wait"]

            page.goto(f"{workspace['url']}/campaigns/{workspace['campaign_id']}")
            chart = page.locator('[data-testid="chart-campaign-progress"] svg')
            chart.wait_for()
            assert page.locator('[data-testid="figure-sent"] .figure-value').inner_text() == "3"
            assert page.locator('[data-testid="figure-unsubscribed"] .figure-value').inner_text() == "1"
            box = chart.bounding_box()
            assert box is not None and box["width"] > 200 and box["height"] > 100
            drawn = page.locator('[data-testid="chart-campaign-progress"] svg circle, '
                                 '[data-testid="chart-campaign-progress"] svg path, '
                                 '[data-testid="chart-campaign-progress"] svg polyline').count()
            assert drawn > 0
            assert "No data" not in chart.inner_html()
            _shoot(page, "dashboard")
            assert errors == []
        finally:
            context.close()
